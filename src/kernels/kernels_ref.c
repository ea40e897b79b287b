/* Naive reference kernels: straight loops in double accumulation, no
 * threads, no BLAS. The tests compare the fast kernels against these. */
#include <math.h>
#include <string.h>

#include "thinkrl/kernels.h"

void rmsnorm_forward_ref(float *out, float *rstd, const float *x, const float *w, int N, int C,
                         float eps) {
    for (int n = 0; n < N; n++) {
        double ss = 0;
        for (int i = 0; i < C; i++) ss += (double)x[n * C + i] * x[n * C + i];
        double r = 1.0 / sqrt(ss / C + eps);
        rstd[n] = (float)r;
        for (int i = 0; i < C; i++) out[n * C + i] = (float)(x[n * C + i] * r * w[i]);
    }
}

void rmsnorm_backward_ref(float *dx, float *dw, const float *dout, const float *x, const float *w,
                          const float *rstd, int N, int C, int accumulate) {
    for (int n = 0; n < N; n++) {
        double r = rstd[n], acc = 0;
        for (int i = 0; i < C; i++) acc += (double)dout[n * C + i] * w[i] * x[n * C + i];
        for (int i = 0; i < C; i++) {
            double d = dout[n * C + i] * w[i] * r - acc * r * r * r / C * x[n * C + i];
            dx[n * C + i] = (float)(accumulate ? dx[n * C + i] + d : d);
            dw[i] += (float)(dout[n * C + i] * x[n * C + i] * r);
        }
    }
}

void matmul_forward_ref(float *out, const float *inp, const float *W, const float *bias, int N,
                        int IN, int OUT, int accumulate) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int i = 0; i < IN; i++) acc += (double)inp[(size_t)n * IN + i] * W[(size_t)o * IN + i];
            out[(size_t)n * OUT + o] = (float)(accumulate ? out[(size_t)n * OUT + o] + acc : acc);
        }
}

void matmul_backward_ref(float *dinp, float *dW, float *dbias, const float *dout, const float *inp,
                         const float *W, int N, int IN, int OUT, int accumulate) {
    if (dinp)
        for (int n = 0; n < N; n++)
            for (int i = 0; i < IN; i++) {
                double acc = 0;
                for (int o = 0; o < OUT; o++) acc += (double)dout[(size_t)n * OUT + o] * W[(size_t)o * IN + i];
                dinp[(size_t)n * IN + i] = (float)(accumulate ? dinp[(size_t)n * IN + i] + acc : acc);
            }
    for (int o = 0; o < OUT; o++)
        for (int i = 0; i < IN; i++) {
            double acc = 0;
            for (int n = 0; n < N; n++) acc += (double)dout[(size_t)n * OUT + o] * inp[(size_t)n * IN + i];
            dW[(size_t)o * IN + i] += (float)acc;
        }
    if (dbias)
        for (int o = 0; o < OUT; o++) {
            double acc = 0;
            for (int n = 0; n < N; n++) acc += dout[(size_t)n * OUT + o];
            dbias[o] += (float)acc;
        }
}

static int visible_ref(const AttnShape *s, int b, int t, int k) {
    if (s->seg && s->seg[b * s->T + k] < 0) return 0;
    if (s->mask) return s->mask[((size_t)b * s->T + t) * s->T + k] != 0;
    if (k > t) return 0;
    if (s->seg && s->seg[b * s->T + k] != s->seg[b * s->T + t]) return 0;
    return 1;
}

void attention_forward_ref(float *out, float *lse, const float *qkv, const AttnShape *s) {
    int B = s->B, T = s->T, NH = s->NH, KVH = s->KVH, HS = s->HS;
    int QKV = (NH + 2 * KVH) * HS, G = NH / KVH;
    double scale = 1.0 / sqrt((double)HS);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * QKV + h * HS;
                float *o = out + ((size_t)b * T + t) * NH * HS + h * HS;
                double mx = -INFINITY, sc[4096];
                for (int k = 0; k < T; k++) {
                    sc[k] = -INFINITY;
                    if (!visible_ref(s, b, t, k)) continue;
                    const float *kk = qkv + ((size_t)b * T + k) * QKV + (NH + h / G) * HS;
                    double d = 0;
                    for (int i = 0; i < HS; i++) d += (double)q[i] * kk[i];
                    sc[k] = d * scale;
                    if (sc[k] > mx) mx = sc[k];
                }
                for (int i = 0; i < HS; i++) o[i] = 0;
                if (mx == -INFINITY) {
                    lse[((size_t)b * NH + h) * T + t] = -INFINITY;
                    continue;
                }
                double sum = 0, acc[512] = {0};
                for (int k = 0; k < T; k++) {
                    if (sc[k] == -INFINITY) continue;
                    double p = exp(sc[k] - mx);
                    sum += p;
                    const float *vv = qkv + ((size_t)b * T + k) * QKV + (NH + KVH + h / G) * HS;
                    for (int i = 0; i < HS; i++) acc[i] += p * vv[i];
                }
                for (int i = 0; i < HS; i++) o[i] = (float)(acc[i] / sum);
                lse[((size_t)b * NH + h) * T + t] = (float)(mx + log(sum));
            }
}

void attention_backward_ref(float *dqkv, const float *dout, const float *qkv, const float *out,
                            const float *lse, const AttnShape *s) {
    int B = s->B, T = s->T, NH = s->NH, KVH = s->KVH, HS = s->HS;
    int QKV = (NH + 2 * KVH) * HS, G = NH / KVH;
    double scale = 1.0 / sqrt((double)HS);
    memset(dqkv, 0, (size_t)B * T * QKV * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                double l = lse[((size_t)b * NH + h) * T + t];
                if (l == -INFINITY) continue;
                const float *q = qkv + ((size_t)b * T + t) * QKV + h * HS;
                const float *g = dout + ((size_t)b * T + t) * NH * HS + h * HS;
                const float *o = out + ((size_t)b * T + t) * NH * HS + h * HS;
                double D = 0;
                for (int i = 0; i < HS; i++) D += (double)g[i] * o[i];
                for (int k = 0; k < T; k++) {
                    if (!visible_ref(s, b, t, k)) continue;
                    const float *kk = qkv + ((size_t)b * T + k) * QKV + (NH + h / G) * HS;
                    const float *vv = qkv + ((size_t)b * T + k) * QKV + (NH + KVH + h / G) * HS;
                    double d = 0, dp = 0;
                    for (int i = 0; i < HS; i++) {
                        d += (double)q[i] * kk[i];
                        dp += (double)g[i] * vv[i];
                    }
                    double p = exp(d * scale - l), ds = p * (dp - D) * scale;
                    float *dq = dqkv + ((size_t)b * T + t) * QKV + h * HS;
                    float *dk = dqkv + ((size_t)b * T + k) * QKV + (NH + h / G) * HS;
                    float *dv = dqkv + ((size_t)b * T + k) * QKV + (NH + KVH + h / G) * HS;
                    for (int i = 0; i < HS; i++) {
                        dq[i] += (float)(ds * kk[i]);
                        dk[i] += (float)(ds * q[i]);
                        dv[i] += (float)(p * g[i]);
                    }
                }
            }
}
