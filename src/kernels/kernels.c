/* Fast CPU kernels of the decoder: OpenMP over rows or heads, `omp simd`
 * reductions (vectorised without -ffast-math), OpenBLAS sgemm for matrix
 * products. The naive twins live in kernels_ref.c. */
#include "thinkrl/kernels.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "thinkrl/core.h"

static inline float dotf(const float *a, const float *b, int n) {
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

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

/* ---- matmul through sgemm; W is (OUT, IN) as in HF checkpoints ---- */

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
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OUT, IN, 1.0f, inp, IN, W, IN, beta,
                out, OUT);
}

void matmul_backward(float *dinp, float *dW, float *dbias, const float *dout, const float *inp,
                     const float *W, int N, int IN, int OUT, int accumulate) {
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IN, OUT, 1.0f, dout, OUT, W, IN,
                    accumulate ? 1.0f : 0.0f, dinp, IN);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, N, 1.0f, dout, OUT, inp, IN,
                1.0f, dW, IN);
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
        for (int i = 0; i < F; i++) o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

void swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F, *d = dh + (size_t)n * F;
        float *dg = dgu + (size_t)n * 2 * F, *du = dg + F;
        for (int i = 0; i < F; i++) {
            float sg = 1.0f / (1.0f + expf(-g[i]));
            float silu = g[i] * sg;
            du[i] = d[i] * silu;
            dg[i] = d[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
        }
    }
}

/* ---- attention ---- */

static inline int attn_visible(const AttnShape *s, int b, int t, int k) {
    const int32_t *seg = s->seg ? s->seg + (size_t)b * s->T : NULL;
    if (seg && seg[k] < 0) return 0;
    if (s->mask) return s->mask[((size_t)b * s->T + t) * s->T + k] != 0;
    if (k > t) return 0;
    return !seg || seg[k] == seg[t];
}

/* Range of keys to scan for query t: [lo, hi). */
static inline void attn_range(const AttnShape *s, int b, int t, int *lo, int *hi) {
    if (s->mask) {
        *lo = 0;
        *hi = s->T;
        return;
    }
    *hi = t + 1;
    *lo = 0;
    if (s->seg) {
        const int32_t *seg = s->seg + (size_t)b * s->T;
        if (seg[t] < 0) {
            *hi = 0;
            return;
        }
        int l = t;
        while (l > 0 && seg[l - 1] == seg[t]) l--;
        *lo = l;
    }
}

void attention_forward(float *out, float *lse, const float *qkv, const AttnShape *s) {
    const int B = s->B, T = s->T, NH = s->NH, KVH = s->KVH, HS = s->HS;
    const int QKV = (NH + 2 * KVH) * HS, G = NH / KVH;
    const float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel
    {
        float *sc = tr_alloc((size_t)T * sizeof(float));
        TR_ASSERT(sc != NULL);
#pragma omp for schedule(dynamic, 1) collapse(2)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                const int kh = h / G;
                const float *base = qkv + (size_t)b * T * QKV;
                for (int t = 0; t < T; t++) {
                    const float *q = base + (size_t)t * QKV + h * HS;
                    float *o = out + ((size_t)b * T + t) * NH * HS + h * HS;
                    float *l = lse + ((size_t)b * NH + h) * T + t;
                    int lo, hi;
                    attn_range(s, b, t, &lo, &hi);
                    float mx = -INFINITY;
                    for (int k = lo; k < hi; k++) {
                        if (!attn_visible(s, b, t, k)) {
                            sc[k] = -INFINITY;
                            continue;
                        }
                        const float *kk = base + (size_t)k * QKV + (NH + kh) * HS;
                        sc[k] = dotf(q, kk, HS) * scale;
                        if (sc[k] > mx) mx = sc[k];
                    }
                    memset(o, 0, (size_t)HS * sizeof(float));
                    if (mx == -INFINITY) {
                        *l = -INFINITY;
                        continue;
                    }
                    float sum = 0.0f;
                    for (int k = lo; k < hi; k++) {
                        if (sc[k] == -INFINITY) continue;
                        float p = expf(sc[k] - mx);
                        sum += p;
                        axpyf(o, p, base + (size_t)k * QKV + (NH + KVH + kh) * HS, HS);
                    }
                    float inv = 1.0f / sum;
#pragma omp simd
                    for (int i = 0; i < HS; i++) o[i] *= inv;
                    *l = mx + logf(sum);
                }
            }
        }
        tr_free(sc);
    }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, const AttnShape *s) {
    const int B = s->B, T = s->T, NH = s->NH, KVH = s->KVH, HS = s->HS;
    const int QKV = (NH + 2 * KVH) * HS, G = NH / KVH;
    const float scale = 1.0f / sqrtf((float)HS);
    /* One task per (b, kv head): it owns dk, dv of that head and dq of its
     * G query heads, so no two threads write the same gradient. */
#pragma omp parallel for schedule(dynamic, 1) collapse(2)
    for (int b = 0; b < B; b++) {
        for (int kh = 0; kh < KVH; kh++) {
            const float *base = qkv + (size_t)b * T * QKV;
            float *dbase = dqkv + (size_t)b * T * QKV;
            for (int t = 0; t < T; t++) {
                for (int h = kh * G; h < (kh + 1) * G; h++)
                    memset(dbase + (size_t)t * QKV + h * HS, 0, (size_t)HS * sizeof(float));
                memset(dbase + (size_t)t * QKV + (NH + kh) * HS, 0, (size_t)HS * sizeof(float));
                memset(dbase + (size_t)t * QKV + (NH + KVH + kh) * HS, 0, (size_t)HS * sizeof(float));
            }
            for (int h = kh * G; h < (kh + 1) * G; h++) {
                for (int t = 0; t < T; t++) {
                    float l = lse[((size_t)b * NH + h) * T + t];
                    if (l == -INFINITY) continue;
                    const float *q = base + (size_t)t * QKV + h * HS;
                    const float *g = dout + ((size_t)b * T + t) * NH * HS + h * HS;
                    const float *o = out + ((size_t)b * T + t) * NH * HS + h * HS;
                    float *dq = dbase + (size_t)t * QKV + h * HS;
                    float D = dotf(g, o, HS);
                    int lo, hi;
                    attn_range(s, b, t, &lo, &hi);
                    for (int k = lo; k < hi; k++) {
                        if (!attn_visible(s, b, t, k)) continue;
                        const float *kk = base + (size_t)k * QKV + (NH + kh) * HS;
                        const float *vv = base + (size_t)k * QKV + (NH + KVH + kh) * HS;
                        float p = expf(dotf(q, kk, HS) * scale - l);
                        float dp = dotf(g, vv, HS);
                        float ds = p * (dp - D) * scale;
                        axpyf(dq, ds, kk, HS);
                        axpyf(dbase + (size_t)k * QKV + (NH + kh) * HS, ds, q, HS);
                        axpyf(dbase + (size_t)k * QKV + (NH + KVH + kh) * HS, p, g, HS);
                    }
                }
            }
        }
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
            float e = expf(zr[i] - mx);
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
            float p = expf(lp);
            zr[i] = -a * p - e * p * (lp + H);
        }
        if (a != 0.0f) zr[targets[r]] += a;
    }
}
