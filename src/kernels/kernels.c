/* Fast CPU kernels of the decoder: OpenMP over rows or heads, `omp simd`
 * reductions (vectorised without -ffast-math), OpenBLAS sgemm for matrix
 * products. The naive twins live in kernels_ref.c. */
#include "thinkrl/kernels.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "thinkrl/core.h"
#include "kernels/vmath.h"

#define dotf vdotf

static inline void axpyf(float *y, float a, const float *x, int n) {
#pragma omp simd
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* ---- RMSNorm ---- */

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C,
                     float eps) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float ss = dotf(xr, xr, C);
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        rstd[n] = r;
#pragma omp simd
        for (int i = 0; i < C; i++) o[i] = xr[i] * r * w[i];
    }
}

void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, int N, int C, int accumulate) {
    int nt = tr_threads();
    /* dw is reduced through per-thread partial sums to stay deterministic
     * for a given thread count and free of races. */
    float *part = tr_calloc((size_t)nt * C * sizeof(float));
    TR_ASSERT(part != NULL);
#pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num();
        float *pw = part + (size_t)tid * C;
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *xr = x + (size_t)n * C, *g = dout + (size_t)n * C;
            float *d = dx + (size_t)n * C;
            float r = rstd[n];
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int i = 0; i < C; i++) acc += g[i] * w[i] * xr[i];
            float k = acc * r * r * r / (float)C;
            if (accumulate) {
#pragma omp simd
                for (int i = 0; i < C; i++) d[i] += g[i] * w[i] * r - k * xr[i];
            } else {
#pragma omp simd
                for (int i = 0; i < C; i++) d[i] = g[i] * w[i] * r - k * xr[i];
            }
#pragma omp simd
            for (int i = 0; i < C; i++) pw[i] += g[i] * xr[i] * r;
        }
    }
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < C; i++) dw[i] += part[(size_t)t * C + i];
    tr_free(part);
}

/* ---- matmul through sgemm; W is (OUT, IN) as in HF checkpoints ----
 * Each product runs single-threaded (OpenBLAS's OpenMP build does so inside
 * a parallel region); the threads split the output by rows or columns here,
 * which measured 2-4x faster than OpenBLAS's own threading on the skinny
 * products of small models. The product is thinkrl's own AVX-512 one
 * (sgemm.c) where the build targets AVX-512, OpenBLAS's otherwise or when
 * its buffers cannot be had. */

void sgemm_any(int transA, int transB, int M, int Nc, int K, float alpha, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc) {
    if (tr_sgemm(transA, transB, M, Nc, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0) return;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, Nc,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* C (M, Nc) = alpha op(A) op(B) + beta C, split over threads along M or Nc. */
static void gemm_split(int transA, int transB, int M, int Nc, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    int nt = tr_threads();
    double work = (double)M * Nc * K;
    if (nt > 1 && work < 32768.0 * 8) nt = 1;
    if (nt == 1) {
        sgemm_any(transA, transB, M, Nc, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int split_m = M >= Nc;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int D = split_m ? M : Nc;
        /* chunks rounded to 16 rows/columns to keep the kernel's tiles full */
        int per = ((D + n - 1) / n + 15) / 16 * 16;
        int d0 = t * per, d1 = d0 + per < D ? d0 + per : D;
        if (d0 < d1) {
            if (split_m) {
                const float *a = transA ? A + d0 : A + (size_t)d0 * lda;
                sgemm_any(transA, transB, d1 - d0, Nc, K, alpha, a, lda, B, ldb, beta, C + (size_t)d0 * ldc,
                          ldc);
            } else {
                const float *b = transB ? B + (size_t)d0 * ldb : B + d0;
                sgemm_any(transA, transB, M, d1 - d0, K, alpha, A, lda, b, ldb, beta, C + d0, ldc);
            }
        }
    }
}

void matmul_forward(float *out, const float *inp, const float *W, const float *bias, int N, int IN,
                    int OUT, int accumulate) {
    float beta = accumulate ? 1.0f : 0.0f;
    if (bias && !accumulate) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OUT, bias, (size_t)OUT * sizeof(float));
        beta = 1.0f;
    } else if (bias) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) axpyf(out + (size_t)n * OUT, 1.0f, bias, OUT);
    }
    gemm_split(0, 1, N, OUT, IN, 1.0f, inp, IN, W, IN, beta, out, OUT);
}

void matmul_backward(float *dinp, float *dW, float *dbias, const float *dout, const float *inp,
                     const float *W, int N, int IN, int OUT, int accumulate) {
    if (dinp) gemm_split(0, 0, N, IN, OUT, 1.0f, dout, OUT, W, IN, accumulate ? 1.0f : 0.0f, dinp, IN);
    gemm_split(1, 0, OUT, IN, N, 1.0f, dout, OUT, inp, IN, 1.0f, dW, IN);
    if (dbias) {
#pragma omp parallel for schedule(static)
        for (int o0 = 0; o0 < OUT; o0 += 64) {
            int o1 = o0 + 64 < OUT ? o0 + 64 : OUT;
            for (int n = 0; n < N; n++) {
                const float *g = dout + (size_t)n * OUT;
                for (int o = o0; o < o1; o++) dbias[o] += g[o];
            }
        }
    }
}

/* ---- RoPE (rotate-half) ---- */

void rope_tables(float *cs, const int32_t *pos, int N, const float *inv_freq, int HS) {
    int h = HS / 2;
    float *sn = cs + (size_t)N * h;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float p = pos ? (float)pos[n] : (float)n;
        for (int i = 0; i < h; i++) {
            /* HF computes the angle in fp32 as pos * inv_freq. */
            float a = p * inv_freq[i];
            cs[(size_t)n * h + i] = cosf(a);
            sn[(size_t)n * h + i] = sinf(a);
        }
    }
}

static void rope_apply(float *x, int N, int stride, int col0, int nh, int HS, const float *cs,
                       float sign) {
    int h = HS / 2;
    const float *sn = cs + (size_t)N * h;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *c = cs + (size_t)n * h, *s = sn + (size_t)n * h;
        for (int k = 0; k < nh; k++) {
            float *v = x + (size_t)n * stride + col0 + (size_t)k * HS;
#pragma omp simd
            for (int i = 0; i < h; i++) {
                float x1 = v[i], x2 = v[i + h], si = sign * s[i];
                v[i] = x1 * c[i] - x2 * si;
                v[i + h] = x2 * c[i] + x1 * si;
            }
        }
    }
}

void rope_forward(float *x, int N, int stride, int col0, int nh, int HS, const float *cs) {
    rope_apply(x, N, stride, col0, nh, HS, cs, 1.0f);
}

void rope_backward(float *dx, int N, int stride, int col0, int nh, int HS, const float *cs) {
    rope_apply(dx, N, stride, col0, nh, HS, cs, -1.0f);
}

/* ---- SwiGLU ---- */

void swiglu_forward(float *h, const float *gu, int N, int F) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F;
        float *o = h + (size_t)n * F;
#pragma omp simd
        for (int i = 0; i < F; i++) o[i] = g[i] / (1.0f + vexpf(-g[i])) * u[i];
    }
}

void swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F, *d = dh + (size_t)n * F;
        float *dg = dgu + (size_t)n * 2 * F, *du = dg + F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float sg = 1.0f / (1.0f + vexpf(-g[i]));
            float silu = g[i] * sg;
            du[i] = d[i] * silu;
            dg[i] = d[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
        }
    }
}

/* ---- attention ----
 * Per (row, head), queries in tiles of ATT_QT: scores of the tile against
 * the keys it can reach come from one sgemm, are masked and soft-maxed in
 * place, and multiply V in a second sgemm. Backward recomputes the
 * probabilities from the saved log-sum-exp (nothing T x T is kept). */

#define ATT_QT 64

static inline int attn_visible(const AttnShape *s, int b, int t, int k) {
    const int32_t *seg = s->seg ? s->seg + (size_t)b * s->T : NULL;
    if (seg && seg[k] < 0) return 0;
    if (s->mask) return s->mask[((size_t)b * s->T + t) * s->T + k] != 0;
    if (k > t) return 0;
    return !seg || seg[k] == seg[t];
}

/* Keys that queries [t0, t1) may reach: [lo, hi). A query sees only keys of
 * its own segment, which need not be contiguous (padding inside a row), so
 * lo is the first key of any segment present in the tile. */
static void attn_tile_range(const AttnShape *s, int b, int t0, int t1, int *lo, int *hi) {
    *hi = s->mask ? s->T : t1;
    *lo = 0;
    if (s->mask || !s->seg) return;
    const int32_t *seg = s->seg + (size_t)b * s->T;
    int l = t1;
    for (int t = t0; t < t1; t++) {
        if (seg[t] < 0) continue;
        int k = 0;
        while (k < l && seg[k] != seg[t]) k++;
        if (k < l) l = k;
    }
    *lo = l < t1 ? l : t0;
}

/* Turns scores S (rows t0..t1-1, columns lo..hi-1, ld) into probabilities in
 * place given each row's log-sum-exp (backward) or computing it (forward). */
static void attn_softmax_rows(const AttnShape *s, int b, int t0, int t1, int lo, int hi, float *S,
                              int ld, float *lse, int compute) {
    const int causal = !s->seg && !s->mask; /* keys lo..t visible, the rest not */
    for (int t = t0; t < t1; t++) {
        float *row = S + (size_t)(t - t0) * ld;
        int n = hi - lo;
        if (causal) {
            /* the same numbers as masking the tail with -inf: its exps
             * are 0 in the sums */
            const int nv = t - lo + 1 < n ? t - lo + 1 : n;
            memset(row + nv, 0, (size_t)(n - nv) * sizeof(float));
            if (compute) {
                lse[t] = vsoftmax_row(row, nv);
            } else {
                const float l = lse[t];
#pragma omp simd
                for (int k = 0; k < nv; k++) row[k] = vexpf(row[k] - l);
            }
            continue;
        }
        for (int k = 0; k < n; k++)
            if (!attn_visible(s, b, t, lo + k)) row[k] = -INFINITY;
        float l;
        if (compute) {
            lse[t] = vsoftmax_row(row, n);
            continue;
        }
        l = lse[t];
        if (l == -INFINITY) {
            memset(row, 0, (size_t)n * sizeof(float));
            continue;
        }
#pragma omp simd
        for (int k = 0; k < n; k++) row[k] = vexpf(row[k] - l);
    }
}

void attention_forward(float *out, float *lse, const float *qkv, const AttnShape *s) {
    const int B = s->B, T = s->T, NH = s->NH, KVH = s->KVH, HS = s->HS;
    const int QKV = (NH + 2 * KVH) * HS, G = NH / KVH, A = NH * HS;
    const float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel
    {
        float *S = tr_alloc((size_t)ATT_QT * T * sizeof(float));
        TR_ASSERT(S != NULL);
#pragma omp for schedule(dynamic, 1) collapse(2)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                const int kh = h / G;
                const float *base = qkv + (size_t)b * T * QKV;
                const float *K = base + (NH + kh) * HS, *Vv = base + (NH + KVH + kh) * HS;
                float *l = lse + ((size_t)b * NH + h) * T;
                for (int t0 = 0; t0 < T; t0 += ATT_QT) {
                    int t1 = t0 + ATT_QT < T ? t0 + ATT_QT : T, lo, hi;
                    attn_tile_range(s, b, t0, t1, &lo, &hi);
                    int nq = t1 - t0, nk = hi - lo;
                    float *o = out + ((size_t)b * T + t0) * A + h * HS;
                    sgemm_any(0, 1, nq, nk, HS, scale, base + (size_t)t0 * QKV + h * HS, QKV,
                              K + (size_t)lo * QKV, QKV, 0.0f, S, nk);
                    attn_softmax_rows(s, b, t0, t1, lo, hi, S, nk, l, 1);
                    sgemm_any(0, 0, nq, HS, nk, 1.0f, S, nk, Vv + (size_t)lo * QKV, QKV, 0.0f, o, A);
                }
            }
        }
        tr_free(S);
    }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, const AttnShape *s) {
    const int B = s->B, T = s->T, NH = s->NH, KVH = s->KVH, HS = s->HS;
    const int QKV = (NH + 2 * KVH) * HS, G = NH / KVH, A = NH * HS;
    const float scale = 1.0f / sqrtf((float)HS);
    /* One task per (b, kv head): it owns dk, dv of that head and dq of its
     * G query heads, so no two threads write the same gradient. */
#pragma omp parallel
    {
        float *P = tr_alloc((size_t)ATT_QT * T * sizeof(float));
        float *dP = tr_alloc((size_t)ATT_QT * T * sizeof(float));
        float *D = tr_alloc((size_t)ATT_QT * sizeof(float));
        TR_ASSERT(P && dP && D);
#pragma omp for schedule(dynamic, 1) collapse(2)
        for (int b = 0; b < B; b++) {
            for (int kh = 0; kh < KVH; kh++) {
                const float *base = qkv + (size_t)b * T * QKV;
                float *dbase = dqkv + (size_t)b * T * QKV;
                const float *K = base + (NH + kh) * HS, *Vv = base + (NH + KVH + kh) * HS;
                float *dK = dbase + (NH + kh) * HS, *dV = dbase + (NH + KVH + kh) * HS;
                for (int t = 0; t < T; t++) {
                    memset(dK + (size_t)t * QKV, 0, (size_t)HS * sizeof(float));
                    memset(dV + (size_t)t * QKV, 0, (size_t)HS * sizeof(float));
                }
                for (int h = kh * G; h < (kh + 1) * G; h++) {
                    const float *l = lse + ((size_t)b * NH + h) * T;
                    for (int t0 = 0; t0 < T; t0 += ATT_QT) {
                        int t1 = t0 + ATT_QT < T ? t0 + ATT_QT : T, lo, hi;
                        attn_tile_range(s, b, t0, t1, &lo, &hi);
                        int nq = t1 - t0, nk = hi - lo;
                        const float *Q = base + (size_t)t0 * QKV + h * HS;
                        const float *dO = dout + ((size_t)b * T + t0) * A + h * HS;
                        const float *O = out + ((size_t)b * T + t0) * A + h * HS;
                        sgemm_any(0, 1, nq, nk, HS, scale, Q, QKV, K + (size_t)lo * QKV, QKV, 0.0f, P, nk);
                        attn_softmax_rows(s, b, t0, t1, lo, hi, P, nk, (float *)l, 0);
                        sgemm_any(0, 1, nq, nk, HS, 1.0f, dO, A, Vv + (size_t)lo * QKV, QKV, 0.0f, dP, nk);
                        for (int i = 0; i < nq; i++) D[i] = dotf(dO + (size_t)i * A, O + (size_t)i * A, HS);
                        /* dS = P (dP - D) scale, written over dP */
                        for (int i = 0; i < nq; i++) {
                            float *pr = P + (size_t)i * nk, *dr = dP + (size_t)i * nk;
                            float di = D[i];
#pragma omp simd
                            for (int k = 0; k < nk; k++) dr[k] = pr[k] * (dr[k] - di) * scale;
                        }
                        /* dQ = dS K ; dK += dS^T Q ; dV += P^T dO */
                        sgemm_any(0, 0, nq, HS, nk, 1.0f, dP, nk, K + (size_t)lo * QKV, QKV, 0.0f,
                                  dbase + (size_t)t0 * QKV + h * HS, QKV);
                        sgemm_any(1, 0, nk, HS, nq, 1.0f, dP, nk, Q, QKV, 1.0f, dK + (size_t)lo * QKV, QKV);
                        sgemm_any(1, 0, nk, HS, nq, 1.0f, P, nk, dO, A, 1.0f, dV + (size_t)lo * QKV, QKV);
                    }
                }
            }
        }
        tr_free(P);
        tr_free(dP);
        tr_free(D);
    }
}

/* ---- LM head statistics ---- */

void logits_stats(const float *z, int R, int V, const int32_t *targets, float *lse, float *logp,
                  float *entropy) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        const float *zr = z + (size_t)r * V;
        float mx = -INFINITY;
        for (int i = 0; i < V; i++) mx = zr[i] > mx ? zr[i] : mx;
        float sum = 0.0f, sz = 0.0f;
#pragma omp simd reduction(+ : sum, sz)
        for (int i = 0; i < V; i++) {
            float e = vexpf(zr[i] - mx);
            sum += e;
            sz += e * zr[i];
        }
        float l = mx + logf(sum);
        lse[r] = l;
        /* H = lse - sum p z */
        if (entropy) entropy[r] = l - sz / sum;
        if (logp) logp[r] = (targets && targets[r] >= 0) ? zr[targets[r]] - l : 0.0f;
    }
}

void logits_backward(float *z, int R, int V, const int32_t *targets, const float *lse,
                     const float *entropy, const float *dlp, const float *dent) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        float *zr = z + (size_t)r * V;
        float l = lse[r];
        float a = (targets && targets[r] >= 0 && dlp) ? dlp[r] : 0.0f;
        float e = dent ? dent[r] : 0.0f;
        float H = entropy ? entropy[r] : 0.0f;
        /* dz_i = a (onehot_i - p_i) - e p_i (log p_i + H) */
#pragma omp simd
        for (int i = 0; i < V; i++) {
            float lp = zr[i] - l;
            float p = vexpf(lp);
            zr[i] = -a * p - e * p * (lp + H);
        }
        if (a != 0.0f) zr[targets[r]] += a;
    }
}
