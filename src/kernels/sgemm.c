/* Single-threaded fp32 matrix product for AVX-512, the training path's
 * products (see tr_sgemm in kernels.h).
 *
 * Why thinkrl has its own: OpenBLAS chooses its kernels by CPU model when it
 * loads, and where it does not know the CPU (or has to be told a safe older
 * core through OPENBLAS_CORETYPE) it runs its 256-bit kernels, half the
 * arithmetic of a 512-bit unit. This product needs only the compiler's
 * target, so it runs at the width the build was made for.
 *
 * Layout (the classic blocked scheme): C is cut into column blocks of NC,
 * K into blocks of KC and rows into blocks of MC. For each (column, K)
 * block the B slice is packed into micro-panels of NR columns, each
 * (KC, NR) with the NR values of one k adjacent; for each row block the A
 * slice is packed into micro-panels of MR rows, each (KC, MR). The micro
 * kernel keeps an MR x NR tile of C in 24 vector registers and reads both
 * panels front to back: per k, NR/16 vector loads of B, MR broadcasts of A
 * and MR * NR/16 fused multiply-adds. Every output is summed over k in
 * one fixed order (K blocks in turn, k within a block in turn), whatever
 * the caller splits, so splitting rows or columns over threads never
 * changes a bit.
 *
 * alpha scales A while it is packed; beta is applied on the first K block.
 * Tiles at the edges are computed whole on zero-padded panels and only
 * their valid part is written. */
#include <stdlib.h>
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#ifndef MR
#define MR 6
#endif
#define NR 64
#ifndef KC
#define KC 256
#endif
#ifndef MC
#define MC 48
#endif
#ifndef NC
#define NC 1024
#endif

/* A (rows i0.., k0..) of op(A) into MR-row panels: dst[p][k][i]. */
static void pack_a(float *dst, int transA, const float *A, int lda, int i0, int mc, int k0, int kc,
                   float alpha) {
    for (int p = 0; p < mc; p += MR) {
        const int mr = mc - p < MR ? mc - p : MR;
        float *d = dst + (size_t)p * kc;
        if (!transA) {
            for (int i = 0; i < MR; i++) {
                if (i < mr) {
                    const float *s = A + (size_t)(i0 + p + i) * lda + k0;
                    for (int k = 0; k < kc; k++) d[(size_t)k * MR + i] = alpha * s[k];
                } else {
                    for (int k = 0; k < kc; k++) d[(size_t)k * MR + i] = 0.0f;
                }
            }
        } else {
            for (int k = 0; k < kc; k++) {
                const float *s = A + (size_t)(k0 + k) * lda + i0 + p;
                int i = 0;
                for (; i < mr; i++) d[(size_t)k * MR + i] = alpha * s[i];
                for (; i < MR; i++) d[(size_t)k * MR + i] = 0.0f;
            }
        }
    }
}

/* B (k0.., columns j0..) of op(B) into NR-column panels: dst[p][k][j]. */
static void pack_b(float *dst, int transB, const float *B, int ldb, int j0, int nc, int k0, int kc) {
    for (int p = 0; p < nc; p += NR) {
        const int nr = nc - p < NR ? nc - p : NR;
        float *d = dst + (size_t)p * kc;
        if (!transB) {
            for (int k = 0; k < kc; k++) {
                const float *s = B + (size_t)(k0 + k) * ldb + j0 + p;
                float *o = d + (size_t)k * NR;
                if (nr == NR) {
                    memcpy(o, s, NR * sizeof(float));
                } else {
                    memcpy(o, s, (size_t)nr * sizeof(float));
                    memset(o + nr, 0, (size_t)(NR - nr) * sizeof(float));
                }
            }
        } else {
            /* columns of op(B) are rows of B: read each row along k */
            for (int j = 0; j < NR; j++) {
                if (j < nr) {
                    const float *s = B + (size_t)(j0 + p + j) * ldb + k0;
                    for (int k = 0; k < kc; k++) d[(size_t)k * NR + j] = s[k];
                } else {
                    for (int k = 0; k < kc; k++) d[(size_t)k * NR + j] = 0.0f;
                }
            }
        }
    }
}

/* The MR x NR tile: c (stride ldc) = beta_c * c + a_panel . b_panel over kc,
 * where beta_c is beta on the first K block and 1 after it; only mr x nr
 * of it is valid. */
static void kernel(int kc, const float *a, const float *b, float *c, int ldc, int mr, int nr, float beta_c) {
    __m512 acc[MR][4];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), b2 = _mm512_loadu_ps(b + 32),
                     b3 = _mm512_loadu_ps(b + 48);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
            acc[i][3] = _mm512_fmadd_ps(ai, b3, acc[i][3]);
        }
        a += MR;
        b += NR;
    }
    const __m512 vb = _mm512_set1_ps(beta_c);
    for (int i = 0; i < mr; i++) {
        float *o = c + (size_t)i * ldc;
        for (int j = 0; j < 4; j++) {
            const int left = nr - 16 * j;
            if (left <= 0) break;
            const __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
            __m512 r = acc[i][j];
            /* beta 0 must not read C: it may hold NaN or garbage */
            if (beta_c != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, o + 16 * j), r);
            _mm512_mask_storeu_ps(o + 16 * j, m, r);
        }
    }
}

static float *buf_alloc(size_t n) {
    return aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
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
    const int kcb = K < KC ? K : KC;
    const int ncb = N < NC ? (N + NR - 1) / NR * NR : NC;
    const int mcb = M < MC ? (M + MR - 1) / MR * MR : MC;
    float *bp = buf_alloc((size_t)kcb * ncb), *ap = buf_alloc((size_t)kcb * mcb);
    if (!bp || !ap) {
        free(bp);
        free(ap);
        return -1;
    }
    for (int j0 = 0; j0 < N; j0 += NC) {
        const int nc = N - j0 < NC ? N - j0 : NC;
        for (int k0 = 0; k0 < K; k0 += KC) {
            const int kc = K - k0 < KC ? K - k0 : KC;
            const float bc = k0 == 0 ? beta : 1.0f;
            pack_b(bp, transB, B, ldb, j0, nc, k0, kc);
            for (int i0 = 0; i0 < M; i0 += MC) {
                const int mc = M - i0 < MC ? M - i0 : MC;
                pack_a(ap, transA, A, lda, i0, mc, k0, kc, alpha);
                for (int jr = 0; jr < nc; jr += NR) {
                    const int nr = nc - jr < NR ? nc - jr : NR;
                    for (int ir = 0; ir < mc; ir += MR) {
                        const int mr = mc - ir < MR ? mc - ir : MR;
                        kernel(kc, ap + (size_t)ir * kc, bp + (size_t)jr * kc,
                               C + (size_t)(i0 + ir) * ldc + j0 + jr, ldc, mr, nr, bc);
                    }
                }
            }
        }
    }
    free(bp);
    free(ap);
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
