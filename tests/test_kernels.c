/* Kernel tests: every backward against central finite differences of its
 * forward, and every fast kernel against its naive reference, on random
 * inputs. The loss is L = sum(out * R) with fixed random R, so dL/dout = R. */
#include <string.h>

#include "testutil.h"
#include "thinkrl/core.h"
#include "thinkrl/kernels.h"

/* Finite differences are taken through the naive double-accumulating
 * forward; step h and the tolerance suit fp32 outputs of O(1). */
#define FD_H 1e-2
#define FD_ATOL 2e-3
#define FD_RTOL 2e-2

typedef double (*LossFn)(void *ctx);

static double dotd(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Checks analytic[i] against (L(x+h) - L(x-h)) / 2h on up to `samples`
 * coordinates of x. */
static void fd_check(const char *what, LossFn f, void *ctx, float *x, size_t n, const float *analytic,
                     int samples, Rng *r) {
    double worst = 0, wfd = 0, wan = 0;
    for (int s = 0; s < samples && s < (int)n; s++) {
        size_t i = (samples >= (int)n) ? (size_t)s : (size_t)(rng_u64(r) % n);
        float old = x[i];
        x[i] = old + (float)FD_H;
        double lp = f(ctx);
        x[i] = old - (float)FD_H;
        double lm = f(ctx);
        x[i] = old;
        double fd = (lp - lm) / (2 * FD_H);
        double e = fabs(fd - analytic[i]) / (FD_ATOL + FD_RTOL * fabs(fd));
        if (e > worst) {
            worst = e;
            wfd = fd;
            wan = analytic[i];
        }
    }
    printf("  fd %-28s worst error ratio %.3f (fd %.6g vs analytic %.6g)\n", what, worst, wfd, wan);
    CHECK(worst <= 1.0, "%s: finite differences disagree (fd %.6g, analytic %.6g)", what, wfd, wan);
}

static void cmp(const char *what, const float *fast, const float *ref, size_t n, double atol, double rtol) {
    double ma = 0, e = tu_maxerr(fast, ref, n, atol, rtol, &ma);
    printf("  ref %-27s max |diff| %.3g\n", what, ma);
    CHECK(e <= 1.0, "%s: fast and reference kernels differ (max |diff| %.3g)", what, ma);
}

/* ---- rmsnorm ---- */
typedef struct {
    int N, C;
    float *x, *w, *R, *out, *rstd;
} NormCtx;
static double norm_loss(void *p) {
    NormCtx *c = p;
    rmsnorm_forward_ref(c->out, c->rstd, c->x, c->w, c->N, c->C, 1e-5f);
    return dotd(c->out, c->R, (size_t)c->N * c->C);
}
static void test_rmsnorm(Rng *r) {
    int N = 7, C = 24;
    NormCtx c = {N, C, tu_randn(r, N * C, 1), tu_randn(r, C, 1), tu_randn(r, N * C, 1),
                 malloc(N * C * 4), malloc(N * 4)};
    float *out2 = malloc(N * C * 4), *rstd2 = malloc(N * 4);
    float *dx = calloc(N * C, 4), *dw = calloc(C, 4), *dx2 = calloc(N * C, 4), *dw2 = calloc(C, 4);
    rmsnorm_forward(out2, rstd2, c.x, c.w, N, C, 1e-5f);
    norm_loss(&c);
    cmp("rmsnorm forward", out2, c.out, N * C, 1e-6, 1e-5);
    rmsnorm_backward(dx, dw, c.R, c.x, c.w, c.rstd, N, C, 0);
    rmsnorm_backward_ref(dx2, dw2, c.R, c.x, c.w, c.rstd, N, C, 0);
    cmp("rmsnorm backward dx", dx, dx2, N * C, 1e-6, 1e-4);
    cmp("rmsnorm backward dw", dw, dw2, C, 1e-6, 1e-4);
    fd_check("rmsnorm dx", norm_loss, &c, c.x, N * C, dx, N * C, r);
    fd_check("rmsnorm dw", norm_loss, &c, c.w, C, dw, C, r);
    free(c.x); free(c.w); free(c.R); free(c.out); free(c.rstd); free(out2); free(rstd2);
    free(dx); free(dw); free(dx2); free(dw2);
}

/* ---- matmul ---- */
typedef struct {
    int N, IN, OUT;
    float *x, *W, *b, *R, *out;
} MmCtx;
static double mm_loss(void *p) {
    MmCtx *c = p;
    matmul_forward_ref(c->out, c->x, c->W, c->b, c->N, c->IN, c->OUT, 0);
    return dotd(c->out, c->R, (size_t)c->N * c->OUT);
}
static void test_matmul(Rng *r) {
    int N = 9, IN = 13, OUT = 11;
    MmCtx c = {N, IN, OUT, tu_randn(r, N * IN, 1), tu_randn(r, OUT * IN, 0.5), tu_randn(r, OUT, 1),
               tu_randn(r, N * OUT, 1), malloc(N * OUT * 4)};
    float *out2 = malloc(N * OUT * 4);
    matmul_forward(out2, c.x, c.W, c.b, N, IN, OUT, 0);
    mm_loss(&c);
    cmp("matmul forward", out2, c.out, N * OUT, 1e-5, 1e-5);
    float *dx = calloc(N * IN, 4), *dW = calloc(OUT * IN, 4), *db = calloc(OUT, 4);
    float *dx2 = calloc(N * IN, 4), *dW2 = calloc(OUT * IN, 4), *db2 = calloc(OUT, 4);
    matmul_backward(dx, dW, db, c.R, c.x, c.W, N, IN, OUT, 0);
    matmul_backward_ref(dx2, dW2, db2, c.R, c.x, c.W, N, IN, OUT, 0);
    cmp("matmul backward dx", dx, dx2, N * IN, 1e-5, 1e-5);
    cmp("matmul backward dW", dW, dW2, OUT * IN, 1e-5, 1e-5);
    cmp("matmul backward db", db, db2, OUT, 1e-5, 1e-5);
    fd_check("matmul dx", mm_loss, &c, c.x, N * IN, dx, 40, r);
    fd_check("matmul dW", mm_loss, &c, c.W, OUT * IN, dW, 40, r);
    fd_check("matmul db", mm_loss, &c, c.b, OUT, db, OUT, r);
    /* accumulate mode adds to what is there */
    float *acc = malloc(N * OUT * 4);
    mm_loss(&c); /* fd_check left c.out at a perturbed point */
    memcpy(acc, c.R, N * OUT * 4);
    matmul_forward(acc, c.x, c.W, c.b, N, IN, OUT, 1);
    for (int i = 0; i < N * OUT; i++) out2[i] = c.out[i] + c.R[i];
    cmp("matmul forward accumulate", acc, out2, N * OUT, 1e-5, 1e-5);
    free(c.x); free(c.W); free(c.b); free(c.R); free(c.out); free(out2); free(acc);
    free(dx); free(dW); free(db); free(dx2); free(dW2); free(db2);
}

/* packed weights: every tail of the register tile (N 1-13, 23, 29), a last
 * panel cut short (OUT not a multiple of WP_NR), bias, accumulate; the
 * result does not depend on the thread count (bit for bit) */
static void test_matmul_packed(Rng *r) {
    const int Ns[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 23, 29}, OUTs[] = {11, 32, 70}, IN = 37;
    for (size_t a = 0; a < sizeof Ns / sizeof Ns[0]; a++)
        for (size_t b = 0; b < sizeof OUTs / sizeof OUTs[0]; b++) {
            const int N = Ns[a], OUT = OUTs[b];
            float *x = tu_randn(r, N * IN, 1), *W = tu_randn(r, OUT * IN, 0.5), *bias = tu_randn(r, OUT, 1);
            float *wp = malloc(wpack_floats(OUT, IN) * sizeof(float));
            float *ref = malloc((size_t)N * OUT * 4), *got = malloc((size_t)N * OUT * 4), *one = malloc((size_t)N * OUT * 4);
            wpack(wp, W, OUT, IN);
            char what[96];
            for (int mode = 0; mode < 3; mode++) { /* 0: bias, 1: no bias, 2: bias + accumulate */
                const float *bb = mode == 1 ? NULL : bias;
                float *start = tu_randn(r, N * OUT, 1);
                memcpy(ref, start, (size_t)N * OUT * 4);
                memcpy(got, start, (size_t)N * OUT * 4);
                memcpy(one, start, (size_t)N * OUT * 4);
                matmul_forward_ref(ref, x, W, bb, N, IN, OUT, mode == 2);
                matmul_packed(got, x, wp, bb, N, IN, OUT, mode == 2);
                snprintf(what, sizeof what, "matmul_packed N %d OUT %d mode %d", N, OUT, mode);
                cmp(what, got, ref, (size_t)N * OUT, 1e-5, 1e-5);
                int nt = tr_threads();
                tr_set_threads(1);
                matmul_packed(one, x, wp, bb, N, IN, OUT, mode == 2);
                tr_set_threads(nt);
                CHECK(memcmp(one, got, (size_t)N * OUT * 4) == 0, "%s: 1 thread and %d differ", what, nt);
                free(start);
            }
            free(x); free(W); free(bias); free(wp); free(ref); free(got); free(one);
        }
}

/* ---- tr_sgemm (the AVX-512 product behind matmul) ----
 * Against a double-accumulating product: every transpose pair, shapes that
 * cross the register tile (6 x 64) and the K (256), row (48) and column
 * (1024) blocks with short tails, the half-width panels of products at
 * most 32 wide (12 x 32 tiles), strides wider than the matrix, alpha,
 * beta 0 over a C full of NaN (C must not be read), beta 1 and 0.5; each
 * output within 1e-6 of the sum of its terms' magnitudes (the scale of
 * fp32 rounding in a K-term sum; a wrong term is off by O(1)). Then
 * the property the thread split relies on: computing the rows or the
 * columns in two parts gives the same bits as one call. */
static void sgemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc, double *mag) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, m = 0;
            for (int k = 0; k < K; k++) {
                double t = (double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                           (tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
                s += t;
                m += fabs(t);
            }
            float *c = C + (size_t)i * ldc + j;
            double cb = beta == 0.0f ? 0.0 : (double)beta * *c;
            *c = (float)(alpha * s + cb);
            mag[(size_t)i * N + j] = fabs(alpha) * m + fabs(cb);
        }
}

static void test_sgemm(Rng *r) {
    if (!tr_sgemm_available()) {
        printf("  tr_sgemm: not built for this target (OpenBLAS serves matmul)\n");
        return;
    }
    const int shapes[][3] = {{1, 1, 1},     {5, 17, 3},     {6, 64, 256},  {7, 65, 257}, {49, 130, 600},
                             {97, 63, 31},  {13, 1100, 40}, {50, 16, 513}, {2, 1030, 9},
                             {25, 32, 70},  {30, 33, 100}};
    const float params[][2] = {{1.0f, 0.0f}, {0.75f, 1.0f}, {-1.5f, 0.5f}};
    char what[128];
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int t = 0; t < 4; t++)
            for (int pi = 0; pi < 3; pi++) {
                const int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2], ta = t & 1, tb = t >> 1;
                const float alpha = params[pi][0], beta = params[pi][1];
                /* strides wider than the rows by 3 */
                const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 3, ldc = N + 3;
                float *A = tu_randn(r, (size_t)(ta ? K : M) * lda, 1), *B = tu_randn(r, (size_t)(tb ? N : K) * ldb, 1);
                float *C0 = tu_randn(r, (size_t)M * ldc, 1), *ref = malloc((size_t)M * ldc * 4),
                      *got = malloc((size_t)M * ldc * 4);
                double *mag = malloc((size_t)M * N * sizeof(double));
                if (beta == 0.0f)
                    for (size_t i = 0; i < (size_t)M * ldc; i++) C0[i] = NAN;
                memcpy(ref, C0, (size_t)M * ldc * 4);
                memcpy(got, C0, (size_t)M * ldc * 4);
                sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, ref, ldc, mag);
                CHECK(tr_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, got, ldc) == 0, "tr_sgemm failed");
                double worst = 0, ma = 0, pad_ok = 1;
                for (int i = 0; i < M; i++) {
                    for (int j = 0; j < N; j++) {
                        const double d = fabs((double)got[(size_t)i * ldc + j] - ref[(size_t)i * ldc + j]);
                        const double e = d / (1e-6 * mag[(size_t)i * N + j] + 1e-30);
                        if (!(e <= worst)) worst = e; /* NaN stays */
                        if (d > ma) ma = d;
                    }
                    /* the 3 padding columns of each C row are left alone */
                    for (int j = N; j < ldc; j++)
                        if (memcmp(&got[(size_t)i * ldc + j], &C0[(size_t)i * ldc + j], 4)) pad_ok = 0;
                }
                snprintf(what, sizeof what, "tr_sgemm %dx%dx%d t%d%d a %g b %g", M, N, K, ta, tb, alpha, beta);
                if (pi == 0) printf("  ref %-41s max |diff| %.3g\n", what, ma);
                CHECK(worst <= 1.0, "%s: differs from the double product (max |diff| %.3g, %.3g of the bound)",
                      what, ma, worst);
                CHECK(pad_ok, "%s: wrote outside the N columns of C", what);
                /* split rows at m2 and columns at n2: same bits */
                float *part = malloc((size_t)M * ldc * 4);
                const int m2 = M / 2, n2 = N / 3;
                memcpy(part, C0, (size_t)M * ldc * 4);
                tr_sgemm(ta, tb, m2, N, K, alpha, A, lda, B, ldb, beta, part, ldc);
                tr_sgemm(ta, tb, M - m2, N, K, alpha, ta ? A + m2 : A + (size_t)m2 * lda, lda, B, ldb, beta,
                         part + (size_t)m2 * ldc, ldc);
                CHECK(memcmp(part, got, (size_t)M * ldc * 4) == 0, "%s: a row split changes bits", what);
                memcpy(part, C0, (size_t)M * ldc * 4);
                tr_sgemm(ta, tb, M, n2, K, alpha, A, lda, B, ldb, beta, part, ldc);
                tr_sgemm(ta, tb, M, N - n2, K, alpha, A, lda, tb ? B + (size_t)n2 * ldb : B + n2, ldb, beta,
                         part + n2, ldc);
                CHECK(memcmp(part, got, (size_t)M * ldc * 4) == 0, "%s: a column split changes bits", what);
                free(A); free(B); free(C0); free(ref); free(got); free(part); free(mag);
            }
}

/* ---- rope ---- */
typedef struct {
    int N, stride, HS;
    float *x, *cs, *R, *tmp;
} RopeCtx;
static double rope_loss(void *p) {
    RopeCtx *c = p;
    memcpy(c->tmp, c->x, (size_t)c->N * c->stride * 4);
    rope_forward(c->tmp, c->N, c->stride, 4, 2, c->HS, c->cs);
    return dotd(c->tmp, c->R, (size_t)c->N * c->stride);
}
static void test_rope(Rng *r) {
    int N = 5, HS = 8, stride = 4 + 2 * HS + 3;
    int32_t pos[5] = {0, 3, 1, 17, 200};
    float inv[4];
    for (int i = 0; i < 4; i++) inv[i] = powf(10000.0f, -2.0f * i / HS);
    RopeCtx c = {N, stride, HS, tu_randn(r, N * stride, 1), malloc(N * HS * 4), tu_randn(r, N * stride, 1),
                 malloc(N * stride * 4)};
    rope_tables(c.cs, pos, N, inv, HS);
    /* analytic gradient: inverse rotation of R on the rotated columns */
    float *g = malloc(N * stride * 4);
    memcpy(g, c.R, N * stride * 4);
    rope_backward(g, N, stride, 4, 2, HS, c.cs);
    fd_check("rope dx", rope_loss, &c, c.x, N * stride, g, N * stride, r);
    /* a direct check of one rotation against the FORMATS.md formula */
    memcpy(c.tmp, c.x, N * stride * 4);
    rope_forward(c.tmp, N, stride, 4, 2, HS, c.cs);
    double worst = 0;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < HS; i++) {
            int j = i % (HS / 2);
            double a = pos[n] * (double)inv[j];
            double x = c.x[n * stride + 4 + i];
            double rot = i < HS / 2 ? -c.x[n * stride + 4 + i + HS / 2] : c.x[n * stride + 4 + i - HS / 2];
            double want = x * cos(a) + rot * sin(a);
            worst = fmax(worst, fabs(want - c.tmp[n * stride + 4 + i]));
        }
    printf("  rope vs rotate-half formula  max |diff| %.3g\n", worst);
    CHECK(worst < 2e-4, "rope formula mismatch %.3g", worst);
    free(c.x); free(c.cs); free(c.R); free(c.tmp); free(g);
}

/* ---- swiglu ---- */
typedef struct {
    int N, F;
    float *gu, *R, *h;
} SwCtx;
static double sw_loss(void *p) {
    SwCtx *c = p;
    swiglu_forward(c->h, c->gu, c->N, c->F);
    return dotd(c->h, c->R, (size_t)c->N * c->F);
}
static void test_swiglu(Rng *r) {
    int N = 4, F = 10;
    SwCtx c = {N, F, tu_randn(r, N * 2 * F, 2), tu_randn(r, N * F, 1), malloc(N * F * 4)};
    float *d = malloc(N * 2 * F * 4);
    swiglu_backward(d, c.R, c.gu, N, F);
    fd_check("swiglu dgu", sw_loss, &c, c.gu, N * 2 * F, d, N * 2 * F, r);
    free(c.gu); free(c.R); free(c.h); free(d);
}

/* ---- attention ---- */
typedef struct {
    AttnShape s;
    float *qkv, *R, *out, *lse;
} AttCtx;
static double att_loss(void *p) {
    AttCtx *c = p;
    attention_forward_ref(c->out, c->lse, c->qkv, &c->s);
    return dotd(c->out, c->R, (size_t)c->s.B * c->s.T * c->s.NH * c->s.HS);
}
static void test_attention_case(Rng *r, const char *name, AttnShape s) {
    int QKV = (s.NH + 2 * s.KVH) * s.HS;
    size_t N = (size_t)s.B * s.T, nout = N * s.NH * s.HS, nl = (size_t)s.B * s.NH * s.T;
    AttCtx c = {s, tu_randn(r, N * QKV, 1), tu_randn(r, nout, 1), malloc(nout * 4), malloc(nl * 4)};
    /* padding queries produce zeros and carry no gradient */
    if (s.seg)
        for (size_t n = 0; n < N; n++)
            if (s.seg[n] < 0)
                for (int i = 0; i < s.NH * s.HS; i++) c.R[n * s.NH * s.HS + i] = 0;
    float *o2 = malloc(nout * 4), *l2 = malloc(nl * 4);
    att_loss(&c);
    attention_forward(o2, l2, c.qkv, &s);
    char buf[96];
    snprintf(buf, sizeof buf, "attention fwd %s", name);
    cmp(buf, o2, c.out, nout, 1e-5, 1e-4);
    float *d = malloc(N * QKV * 4), *d2 = malloc(N * QKV * 4);
    attention_backward(d, c.R, c.qkv, c.out, c.lse, &s);
    attention_backward_ref(d2, c.R, c.qkv, c.out, c.lse, &s);
    snprintf(buf, sizeof buf, "attention bwd %s", name);
    cmp(buf, d, d2, N * QKV, 1e-5, 1e-4);
    snprintf(buf, sizeof buf, "attention %s", name);
    fd_check(buf, att_loss, &c, c.qkv, N * QKV, d, 150, r);
    free(c.qkv); free(c.R); free(c.out); free(c.lse); free(o2); free(l2); free(d); free(d2);
}
static void test_attention(Rng *r) {
    AttnShape causal = {2, 6, 4, 2, 8, NULL, NULL};
    test_attention_case(r, "causal gqa", causal);
    int32_t seg[2 * 7] = {-1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, -1};
    AttnShape segs = {2, 7, 2, 1, 4, seg, NULL};
    test_attention_case(r, "pad+packed", segs);
    int32_t seg2[1 * 70];
    for (int t = 0; t < 70; t++) seg2[t] = t < 3 ? -1 : (t == 40 || t == 66) ? -1 : t < 50 ? 0 : 1;
    AttnShape segs2 = {1, 70, 2, 2, 4, seg2, NULL};
    test_attention_case(r, "pads inside, 2 tiles", segs2);
    uint8_t mask[1 * 5 * 5];
    for (int t = 0; t < 5; t++)
        for (int k = 0; k < 5; k++) mask[t * 5 + k] = (k <= t && (k + t) % 3 != 1) || (t == 1 && k == 4);
    AttnShape msk = {1, 5, 2, 2, 4, NULL, mask};
    test_attention_case(r, "explicit mask", msk);
}

/* ---- logits statistics ---- */
typedef struct {
    int R, V;
    float *z, *wl, *we;
    int32_t *tg;
} LgCtx;
static double lg_loss(void *p) {
    LgCtx *c = p;
    float lse[8], lp[8], ent[8];
    logits_stats(c->z, c->R, c->V, c->tg, lse, lp, ent);
    double s = 0;
    for (int i = 0; i < c->R; i++) s += (double)c->wl[i] * lp[i] + (double)c->we[i] * ent[i];
    return s;
}
static void test_logits(Rng *r) {
    int R = 4, V = 9;
    int32_t tg[4] = {3, -1, 0, 8};
    LgCtx c = {R, V, tu_randn(r, R * V, 2), tu_randn(r, R, 1), tu_randn(r, R, 1), tg};
    float lse[4], lp[4], ent[4];
    logits_stats(c.z, R, V, tg, lse, lp, ent);
    /* closed forms in double */
    double worst = 0;
    for (int i = 0; i < R; i++) {
        double m = -1e30, s = 0, h = 0;
        for (int v = 0; v < V; v++) m = fmax(m, c.z[i * V + v]);
        for (int v = 0; v < V; v++) s += exp(c.z[i * V + v] - m);
        double l = m + log(s);
        for (int v = 0; v < V; v++) {
            double pv = exp(c.z[i * V + v] - l);
            h -= pv * (c.z[i * V + v] - l);
        }
        worst = fmax(worst, fabs(l - lse[i]));
        worst = fmax(worst, fabs(h - ent[i]));
        if (tg[i] >= 0) worst = fmax(worst, fabs(c.z[i * V + tg[i]] - l - lp[i]));
    }
    printf("  logits stats vs closed form  max |diff| %.3g\n", worst);
    CHECK(worst < 1e-5, "logits stats %.3g", worst);
    float *dz = malloc(R * V * 4);
    memcpy(dz, c.z, R * V * 4);
    logits_backward(dz, R, V, tg, lse, ent, c.wl, c.we);
    fd_check("logits (logp + entropy)", lg_loss, &c, c.z, R * V, dz, R * V, r);
    free(c.z); free(c.wl); free(c.we); free(dz);
}

int main(void) {
    Rng r;
    rng_seed(&r, 1234);
    test_rmsnorm(&r);
    test_matmul(&r);
    test_matmul_packed(&r);
    test_sgemm(&r);
    test_rope(&r);
    test_swiglu(&r);
    test_attention(&r);
    test_logits(&r);
    return tu_summary("test_kernels");
}
