/* Single-threaded fp32 matrix product for AVX-512, the training path's
 * products (see tr_sgemm in kernels.h).
 *
 * Why thinkrl has its own: OpenBLAS chooses its kernels by CPU model when it
 * loads, and where it does not know the CPU (or has to be told a safe older
 * core through OPENBLAS_CORETYPE) it runs its 256-bit kernels, half the
 * arithmetic of a 512-bit unit. This product needs only the compiler's
 * target, so it runs at the width the build was made for.
 *
 * Layout (a blocked scheme): C is cut into column blocks of NC, K into
 * blocks of KC and rows into blocks of MC. For each (column, K) block the B
 * slice is packed into panels of NR columns, each (KC, NR) with the NR
 * values of one k adjacent (rows of B are copied, columns of a transposed B
 * go through 16 x 16 register transposes). A is read where it lies: its
 * values are broadcast one at a time, so it needs no copy in either
 * orientation, and the small products of small models (dimensions of a
 * few hundred) do not pay for one. The register tile is MR x NR of C in
 * 24 vector registers: per k, NR/16 vector loads of B, MR broadcasts of A
 * and MR * NR/16 fused multiply-adds; products at most NR/2 wide use
 * 2 MR x NR/2 tiles on half-width panels. Every output is summed over k in one
 * fixed order (K blocks in turn, k within a block in turn), whatever the
 * caller splits, so splitting rows or columns over threads never changes a
 * bit.
 *
 * beta is applied on the first K block and alpha as each tile is stored;
 * B panels are zero past the last column, and only valid outputs are
 * written. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>

/* Tile rows, panel width, and the K, row and column blocks. KC and MC were
 * swept on the micro training step (KC 128-512, MC 24-144): these were
 * best. MC must be a multiple of 2 MR (the half-width tiles). */
#define MR 6
#define NR 64
#define KC 256
#define MC 48
#define NC 1024

/* 16 rows of 16 floats (r[j] holds columns 0..15 of row j) turned into 16
 * rows of the transpose, in registers: pairs of rows interleaved by
 * element, then by element pair, then 128-bit lanes gathered across the
 * four groups. */
static inline void transpose16(__m512 r[16]) {
    __m512 a[16], b[16];
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* b[4g + m], lane L: column 4L + m of rows 4g..4g+3 */
    for (int g = 0; g < 4; g++) {
        const __m512d a0 = _mm512_castps_pd(a[4 * g]), a1 = _mm512_castps_pd(a[4 * g + 1]),
                      a2 = _mm512_castps_pd(a[4 * g + 2]), a3 = _mm512_castps_pd(a[4 * g + 3]);
        b[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        b[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        b[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        b[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    for (int m = 0; m < 4; m++) {
        const __m512 u = _mm512_shuffle_f32x4(b[m], b[4 + m], 0x44), v = _mm512_shuffle_f32x4(b[m], b[4 + m], 0xEE);
        const __m512 w = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], 0x44),
                     z = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], 0xEE);
        r[m] = _mm512_shuffle_f32x4(u, w, 0x88);
        r[4 + m] = _mm512_shuffle_f32x4(u, w, 0xDD);
        r[8 + m] = _mm512_shuffle_f32x4(v, z, 0x88);
        r[12 + m] = _mm512_shuffle_f32x4(v, z, 0xDD);
    }
}

/* B (k0.., columns j0..) of op(B) into panels of w (NR or NR/2) columns:
 * dst[p][k][j], zero past column nc. */
static void pack_b(float *dst, int w, int transB, const float *B, int ldb, int j0, int nc, int k0, int kc) {
    for (int p = 0; p < nc; p += w) {
        const int nr = nc - p < w ? nc - p : w;
        float *d = dst + (size_t)p * kc;
        if (!transB) {
            for (int k = 0; k < kc; k++) {
                const float *s = B + (size_t)(k0 + k) * ldb + j0 + p;
                float *o = d + (size_t)k * w;
                memcpy(o, s, (size_t)nr * sizeof(float));
                if (nr < w) memset(o + nr, 0, (size_t)(w - nr) * sizeof(float));
            }
            continue;
        }
        /* columns of op(B) are rows of B: 16 x 16 blocks read along k and
         * transposed in registers */
        for (int kk = 0; kk < kc; kk += 16) {
            const int kr = kc - kk < 16 ? kc - kk : 16;
            const __mmask16 km = kr == 16 ? (__mmask16)0xffff : (__mmask16)((1u << kr) - 1u);
            for (int jb = 0; jb < w; jb += 16) {
                __m512 r[16];
                for (int j = 0; j < 16; j++)
                    r[j] = jb + j < nr ? _mm512_maskz_loadu_ps(km, B + (size_t)(j0 + p + jb + j) * ldb + k0 + kk)
                                       : _mm512_setzero_ps();
                transpose16(r);
                for (int c = 0; c < kr; c++) _mm512_storeu_ps(d + (size_t)(kk + c) * w + jb, r[c]);
            }
        }
    }
}

/* One tile of mr rows x 16 nv columns (mr and nv constants at each call:
 * 6 x 4 or 12 x 2 vectors, 24 accumulators either way): acc = the product
 * over kc of A, read where it lies (element (i, k) at a[i * rs + k * cs]),
 * and the packed B panel (16 nv floats per k); then
 * c = alpha acc + beta_c c on the nr valid columns, where beta_c is beta on
 * the first K block and 1 after it. */
static inline __attribute__((always_inline)) void tile(const int mr, const int nv, int kc, const float *a, size_t rs,
                                                       size_t cs, const float *b, float *c, int ldc, int nr,
                                                       float alpha, float beta_c) {
    __m512 acc[2 * MR][4];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nv; j++) acc[i][j] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 bv[4];
        for (int j = 0; j < nv; j++) bv[j] = _mm512_loadu_ps(b + 16 * j);
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            const __m512 ai = _mm512_set1_ps(a[(size_t)i * rs]);
            for (int j = 0; j < nv; j++) acc[i][j] = _mm512_fmadd_ps(ai, bv[j], acc[i][j]);
        }
        a += cs;
        b += 16 * nv;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta_c);
    for (int i = 0; i < mr; i++) {
        float *o = c + (size_t)i * ldc;
        for (int j = 0; j < nv; j++) {
            const int left = nr - 16 * j;
            if (left <= 0) break;
            const __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
            __m512 r = alpha == 1.0f ? acc[i][j] : _mm512_mul_ps(va, acc[i][j]);
            /* beta 0 must not read C: it may hold NaN or garbage */
            if (beta_c != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, o + 16 * j), r);
            _mm512_mask_storeu_ps(o + 16 * j, m, r);
        }
    }
}

/* Rows [0, mc) of A (from a, strides rs / cs) against one B panel of
 * 16 nv columns, full tiles then the tail. */
#define TAIL_(r, nv) \
    case r: tile(r, nv, kc, ai, rs, cs, b, ci, ldc, nr, alpha, beta_c); break;
static void panel4(int mc, int kc, const float *a, size_t rs, size_t cs, const float *b, float *c, int ldc, int nr,
                   float alpha, float beta_c) {
    int i = 0;
    for (; i + MR <= mc; i += MR)
        tile(MR, 4, kc, a + (size_t)i * rs, rs, cs, b, c + (size_t)i * ldc, ldc, nr, alpha, beta_c);
    const float *ai = a + (size_t)i * rs;
    float *ci = c + (size_t)i * ldc;
    switch (mc - i) {
        TAIL_(5, 4) TAIL_(4, 4) TAIL_(3, 4) TAIL_(2, 4) TAIL_(1, 4)
    default: break;
    }
}

static void panel2(int mc, int kc, const float *a, size_t rs, size_t cs, const float *b, float *c, int ldc, int nr,
                   float alpha, float beta_c) {
    int i = 0;
    for (; i + 2 * MR <= mc; i += 2 * MR)
        tile(2 * MR, 2, kc, a + (size_t)i * rs, rs, cs, b, c + (size_t)i * ldc, ldc, nr, alpha, beta_c);
    const float *ai = a + (size_t)i * rs;
    float *ci = c + (size_t)i * ldc;
    switch (mc - i) {
        TAIL_(11, 2) TAIL_(10, 2) TAIL_(9, 2) TAIL_(8, 2) TAIL_(7, 2) TAIL_(6, 2)
        TAIL_(5, 2) TAIL_(4, 2) TAIL_(3, 2) TAIL_(2, 2) TAIL_(1, 2)
    default: break;
    }
}
#undef TAIL_

/* The B panels of one call live in a buffer of the calling thread, kept
 * between calls (at most KC x NC floats, 1 MiB), so the products of a
 * training step neither allocate nor fault pages in. It hangs on a
 * pthread key whose destructor frees it when the thread ends (OpenMP ends
 * threads when the thread count drops). */
typedef struct {
    float *p;
    size_t cap;
} PanelBuf;

static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;
static int buf_key_ok;

static void buf_drop(void *v) {
    PanelBuf *b = v;
    free(b->p);
    free(b);
}

static void buf_key_make(void) { buf_key_ok = pthread_key_create(&buf_key, buf_drop) == 0; }

static float *panel_buf(size_t n) {
    pthread_once(&buf_once, buf_key_make);
    if (!buf_key_ok) return NULL;
    PanelBuf *b = pthread_getspecific(buf_key);
    if (!b) {
        if (!(b = calloc(1, sizeof *b))) return NULL;
        if (pthread_setspecific(buf_key, b)) {
            free(b);
            return NULL;
        }
    }
    if (n <= b->cap) return b->p;
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p) return NULL;
    free(b->p);
    b->p = p;
    b->cap = n;
    return p;
}

int tr_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0 || alpha == 0.0f) {
        for (int i = 0; i < M; i++) {
            float *o = C + (size_t)i * ldc;
            for (int j = 0; j < N; j++) o[j] = beta == 0.0f ? 0.0f : beta * o[j];
        }
        return 0;
    }
    /* products at most NR/2 wide (attention with heads of 32) take
     * panels of half width and taller tiles instead of half-empty ones */
    const int w = N <= NR / 2 ? NR / 2 : NR;
    const int kcb = K < KC ? K : KC;
    const int ncb = N < NC ? (N + w - 1) / w * w : NC;
    float *bp = panel_buf((size_t)kcb * ncb);
    if (!bp) return -1;
    /* element (i, k) of op(A) at A[i * rs + k * cs] */
    const size_t rs = transA ? 1 : (size_t)lda, cs = transA ? (size_t)lda : 1;
    for (int j0 = 0; j0 < N; j0 += NC) {
        const int nc = N - j0 < NC ? N - j0 : NC;
        for (int k0 = 0; k0 < K; k0 += KC) {
            const int kc = K - k0 < KC ? K - k0 : KC;
            const float bc = k0 == 0 ? beta : 1.0f;
            pack_b(bp, w, transB, B, ldb, j0, nc, k0, kc);
            for (int i0 = 0; i0 < M; i0 += MC) {
                const int mc = M - i0 < MC ? M - i0 : MC;
                const float *a = A + (size_t)i0 * rs + (size_t)k0 * cs;
                for (int jr = 0; jr < nc; jr += w) {
                    const int nr = nc - jr < w ? nc - jr : w;
                    float *c = C + (size_t)i0 * ldc + j0 + jr;
                    if (w == NR) panel4(mc, kc, a, rs, cs, bp + (size_t)jr * kc, c, ldc, nr, alpha, bc);
                    else panel2(mc, kc, a, rs, cs, bp + (size_t)jr * kc, c, ldc, nr, alpha, bc);
                }
            }
        }
    }
    return 0;
}

int tr_sgemm_available(void) { return 1; }

#else

int tr_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc) {
    (void)transA, (void)transB, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda;
    (void)B, (void)ldb, (void)beta, (void)C, (void)ldc;
    return -1;
}

int tr_sgemm_available(void) { return 0; }

#endif
