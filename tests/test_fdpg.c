/* f-DPG (ALGORITHMS 10, fdpg.h) without PyTorch: every f and f' against
 * closed forms and finite differences, the Z estimator on toy distributions
 * with a known Z, the baseline ring, coefficients and estimates (exact on an
 * enumerated distribution), the loss, the lambda fit, distinct-n, and the
 * end-to-end claim: training a tiny real model with each f moves it toward
 * a target p that is enumerated exactly (64 sequences). The loss gradient
 * against autograd is check_fdpg_torch's job. */
#include <string.h>

#include <cJSON.h>

#include "rl/fdpg_run.h"
#include "testutil.h"
#include "thinkrl/conf.h"
#include "thinkrl/fdpg.h"
#include "thinkrl/model.h"
#include "thinkrl/optim.h"

#define LN2 0.69314718055994530942

static int close_rel(double a, double b, double rtol, double atol) {
    return fabs(a - b) <= atol + rtol * fabs(b);
}

/* ---- a. f and f' ------------------------------------------------------- */

/* The test's own f(t), written from the definitions, in t (not log t). */
static double f_ref(FdpgDiv d, double t) {
    switch (d) {
    case FDPG_FKL: return -log(t);
    case FDPG_RKL: return t * log(t);
    case FDPG_JS: return t * log(2 * t / (1 + t)) + log(2 / (1 + t));
    case FDPG_TV: return fabs(t - 1) / 2;
    case FDPG_CHI2: return (t - 1) * (t - 1);
    default: return NAN;
    }
}

/* The f' table of ALGORITHMS 10 (and fdpg.h for chi2). */
static double fprime_table(FdpgDiv d, double t) {
    switch (d) {
    case FDPG_FKL: return -1 / t;
    case FDPG_RKL: return log(t) + 1;
    case FDPG_JS: return LN2 - log(1 + 1 / t);
    case FDPG_TV: return t > 1 ? 0.5 : t < 1 ? -0.5 : 0.0;
    case FDPG_CHI2: return 2 * (t - 1);
    default: return NAN;
    }
}

static void test_f(void) {
    int nfd = 0;
    double worst_fd = 0, worst_f = 0, worst_tab = 0;
    for (int d = 0; d < FDPG_COUNT; d++) {
        for (int k = 0; k <= 120; k++) {
            double lt = log(1e-3) + k * (log(1e3) - log(1e-3)) / 120 + 1e-3; /* avoids t == 1 exactly */
            double t = exp(lt);
            if (d == FDPG_TV && fabs(t - 1) < 1e-2) continue;
            double h = 1e-6 * t;
            double fd = (f_ref(d, t + h) - f_ref(d, t - h)) / (2 * h);
            double fp = fdpg_fprime(d, lt);
            double e = fabs(fp - fd) / (1e-6 * (1 + fabs(fd)));
            if (e > worst_fd) worst_fd = e;
            CHECK(e <= 1, "%s: f'(t=%g) = %.12g, finite difference %.12g", fdpg_div_name(d), t, fp, fd);
            double ef = fabs(fdpg_f(d, lt) - f_ref(d, t)) / (1e-12 * (1 + t + fabs(f_ref(d, t))));
            if (ef > worst_f) worst_f = ef;
            CHECK(ef <= 1, "%s: f(t=%g) = %.15g, closed form %.15g", fdpg_div_name(d), t, fdpg_f(d, lt), f_ref(d, t));
            double et = fabs(fp - fprime_table(d, t)) / (1e-12 * (1 + fabs(fprime_table(d, t))));
            if (et > worst_tab) worst_tab = et;
            CHECK(et <= 1, "%s: f'(t=%g) = %.15g, table %.15g", fdpg_div_name(d), t, fp, fprime_table(d, t));
            nfd++;
        }
        /* f(1) = 0 for every f: D_f(p || p) = 0 */
        CHECK(fabs(fdpg_f(d, 0.0)) < 1e-15, "%s: f(1) = %g", fdpg_div_name(d), fdpg_f(d, 0.0));
    }
    CHECK(fdpg_fprime(FDPG_TV, 0.0) == 0.0, "tv: f'(1) = %g, want sign(0)/2 = 0", fdpg_fprime(FDPG_TV, 0.0));
    printf("  f' vs central differences at %d points: worst ratio %.3f; f vs closed form %.3f; f' vs table %.3f\n",
           nfd, worst_fd, worst_f, worst_tab);

    /* |log t| = 600 and 700: finite, and the right asymptotics */
    for (int d = 0; d < FDPG_COUNT; d++)
        for (int s = -1; s <= 1; s += 2)
            for (int m = 600; m <= 700; m += 100) {
                double lt = s * m, fp = fdpg_fprime(d, lt), f = fdpg_f(d, lt);
                CHECK(isfinite(fp), "%s: f'(log t = %g) = %g is not finite", fdpg_div_name(d), lt, fp);
                /* chi2's f = (t - 1)^2 is e^1200 at log t = 600: beyond double */
                if (d == FDPG_CHI2 && s > 0) CHECK(f == INFINITY, "chi2: f(log t = %g) = %g", lt, f);
                else CHECK(isfinite(f), "%s: f(log t = %g) = %g is not finite", fdpg_div_name(d), lt, f);
            }
    CHECK(close_rel(fdpg_fprime(FDPG_FKL, -600), -exp(600.0), 1e-14, 0), "fkl f'(-600)");
    CHECK(close_rel(fdpg_fprime(FDPG_FKL, 600), -exp(-600.0), 1e-14, 0), "fkl f'(600)");
    CHECK(close_rel(fdpg_fprime(FDPG_RKL, 600), 601, 1e-15, 0), "rkl f'(600)");
    CHECK(close_rel(fdpg_f(FDPG_RKL, 600), 600 * exp(600.0), 1e-14, 0), "rkl f(600)");
    CHECK(close_rel(fdpg_fprime(FDPG_JS, 600), LN2, 1e-15, 0), "js f'(600) = %.17g", fdpg_fprime(FDPG_JS, 600));
    CHECK(close_rel(fdpg_fprime(FDPG_JS, -600), LN2 - 600, 1e-15, 0), "js f'(-600) = %.17g",
          fdpg_fprime(FDPG_JS, -600));
    CHECK(close_rel(fdpg_f(FDPG_JS, 600), LN2 * exp(600.0), 1e-13, 0), "js f(600) = %g", fdpg_f(FDPG_JS, 600));
    CHECK(close_rel(fdpg_f(FDPG_JS, -600), LN2, 1e-15, 0), "js f(-600) = %.17g", fdpg_f(FDPG_JS, -600));
    CHECK(close_rel(fdpg_f(FDPG_TV, 600), 0.5 * exp(600.0), 1e-14, 0), "tv f(600)");
    CHECK(close_rel(fdpg_f(FDPG_TV, -600), 0.5, 1e-15, 0), "tv f(-600)");
    CHECK(close_rel(fdpg_f(FDPG_CHI2, 300), exp(600.0), 1e-13, 0), "chi2 f(300) = %g", fdpg_f(FDPG_CHI2, 300));
    CHECK(close_rel(fdpg_fprime(FDPG_CHI2, 600), 2 * exp(600.0), 1e-14, 0), "chi2 f'(600)");
    CHECK(close_rel(fdpg_f(FDPG_CHI2, -600), 1, 1e-15, 0), "chi2 f(-600)");

    /* names */
    const char *names[FDPG_COUNT] = {"fkl", "rkl", "js", "tv", "chi2"};
    for (int d = 0; d < FDPG_COUNT; d++) {
        CHECK(fdpg_div_parse(names[d]) == d, "parse %s -> %d", names[d], fdpg_div_parse(names[d]));
        CHECK(!strcmp(fdpg_div_name(d), names[d]), "name %d -> %s", d, fdpg_div_name(d));
        CHECK(fdpg_div_parse(fdpg_div_name(d)) == d, "round trip %d", d);
    }
    CHECK(fdpg_div_parse("kl") == -1 && fdpg_div_parse("") == -1 && fdpg_div_parse("FKL") == -1 &&
              fdpg_div_parse("chi") == -1 && fdpg_div_parse(NULL) == -1,
          "unknown names parse to -1");
    CHECK(isnan(fdpg_f(FDPG_COUNT, 0.3)) && isnan(fdpg_fprime(FDPG_COUNT, 0.3)), "unknown divergence gives NaN");
}

/* ---- b. Z ---------------------------------------------------------------- */

static int draw(Rng *r, const double *cdf, int K) {
    double u = rng_uniform_d(r) * cdf[K - 1];
    int lo = 0, hi = K - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cdf[mid] > u) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

static void test_z(void) {
    enum { K = 50, NS = 200000 };
    double P[K], q[K], cdf[K], sumP = 0, sq = 0;
    for (int i = 0; i < K; i++) {
        P[i] = i % 7 == 3 ? 0.0 : 0.2 + 0.13 * (i % 5) + 0.01 * i;
        q[i] = 1.0 + 0.1 * i + (i % 3 ? 0.0 : 2.0);
        sumP += P[i];
        sq += q[i];
    }
    for (int i = 0; i < K; i++) {
        q[i] /= sq;
        cdf[i] = (i ? cdf[i - 1] : 0) + q[i];
    }
    /* shift: log P around -500 / -1000 (exp underflows at -745), or +800 */
    const double shift[4] = {0, -500, -1000, 800};
    FdpgZ z[4];
    for (int s = 0; s < 4; s++) fdpg_z_init(&z[s]);
    Rng r;
    rng_seed(&r, 77);
    for (int n = 0; n < NS; n++) {
        int i = draw(&r, cdf, K);
        for (int s = 0; s < 4; s++) fdpg_z_add(&z[s], (P[i] > 0 ? log(P[i]) + shift[s] : -INFINITY) - log(q[i]));
    }
    double zh = exp(fdpg_z_log(&z[0]));
    printf("  Z estimator: %d samples, Z_hat %.5f, Z %.5f (rel err %.2e)\n", NS, zh, sumP, fabs(zh / sumP - 1));
    CHECK(fabs(zh / sumP - 1) < 0.01, "Z_hat %g vs Z %g", zh, sumP);
    CHECK(z[0].n == NS, "n = %lld", (long long)z[0].n);
    for (int s = 1; s < 4; s++) {
        double lz = fdpg_z_log(&z[s]), want = log(sumP) + shift[s];
        CHECK(isfinite(lz) && fabs(lz - want) < 0.01, "shift %g: log Z_hat %.6f, log Z %.6f", shift[s], lz, want);
        CHECK(fabs((lz - shift[s]) - fdpg_z_log(&z[0])) < 1e-9, "shift %g changes log Z_hat - shift by %g", shift[s],
              (lz - shift[s]) - fdpg_z_log(&z[0]));
    }
    /* exact small case: log of the mean */
    FdpgZ e;
    fdpg_z_init(&e);
    CHECK(fdpg_z_log(&e) == -INFINITY, "n == 0 gives %g", fdpg_z_log(&e));
    fdpg_z_add(&e, log(3.0));
    fdpg_z_add(&e, -INFINITY);
    fdpg_z_add(&e, log(5.0));
    CHECK(close_rel(fdpg_z_log(&e), log(8.0 / 3), 1e-14, 0), "log mean(3, 0, 5) = %.17g", fdpg_z_log(&e));
    CHECK(fdpg_z_add(&e, NAN) == TR_EINVAL && fdpg_z_add(&e, INFINITY) == TR_EINVAL && e.n == 3,
          "NaN / +inf must be refused and leave Z as it was (n %lld)", (long long)e.n);
    FdpgZ o;
    fdpg_z_init(&o);
    for (int i = 0; i < 5; i++) fdpg_z_add(&o, -INFINITY);
    CHECK(fdpg_z_log(&o) == -INFINITY && o.n == 5, "all outside the support: %g (n %lld)", fdpg_z_log(&o),
          (long long)o.n);
}

/* ---- c. baseline ---------------------------------------------------------- */

static void test_baseline(void) {
    FdpgBaseline b;
    CHECK(fdpg_baseline_init(&b, 0) == TR_EINVAL, "window 0 accepted");
    CHECK(fdpg_baseline_init(&b, 3) == TR_OK, "init");
    CHECK(fdpg_baseline_mean(&b) == 0, "empty mean %g", fdpg_baseline_mean(&b));
    fdpg_baseline_push(&b, 1);
    fdpg_baseline_push(&b, 2);
    CHECK(fdpg_baseline_mean(&b) == 1.5, "mean(1, 2) = %g", fdpg_baseline_mean(&b));
    fdpg_baseline_push(&b, 3);
    CHECK(fdpg_baseline_mean(&b) == 2, "mean(1, 2, 3) = %g", fdpg_baseline_mean(&b));
    fdpg_baseline_push(&b, 4);
    CHECK(fdpg_baseline_mean(&b) == 3, "wrap: mean(2, 3, 4) = %g", fdpg_baseline_mean(&b));
    fdpg_baseline_push(&b, 10);
    fdpg_baseline_push(&b, -7);
    CHECK(close_rel(fdpg_baseline_mean(&b), 7.0 / 3, 1e-15, 0), "wrap: mean(4, 10, -7) = %g", fdpg_baseline_mean(&b));
    /* long run against a direct mean of the last cap values */
    fdpg_baseline_free(&b);
    CHECK(fdpg_baseline_init(&b, 17) == TR_OK, "init 17");
    double hist[200];
    Rng r;
    rng_seed(&r, 5);
    int bad = 0;
    for (int i = 0; i < 200; i++) {
        hist[i] = rng_normal(&r);
        fdpg_baseline_push(&b, hist[i]);
        double s = 0;
        int n = i + 1 < 17 ? i + 1 : 17;
        for (int j = i + 1 - n; j <= i; j++) s += hist[j];
        if (!close_rel(fdpg_baseline_mean(&b), s / n, 1e-12, 1e-14)) bad++;
    }
    CHECK(bad == 0, "baseline mean differs from the mean of the last 17 values at %d of 200 pushes", bad);
    fdpg_baseline_free(&b);
    CHECK(fdpg_baseline_init(&b, 1) == TR_OK, "init 1");
    fdpg_baseline_push(&b, 4);
    fdpg_baseline_push(&b, 9);
    CHECK(fdpg_baseline_mean(&b) == 9, "cap 1: %g", fdpg_baseline_mean(&b));
    fdpg_baseline_free(&b);
}

/* ---- d. coefficients and estimates ---------------------------------------- */

static int one(FdpgDiv d, double lpi, double lq, double lP, double lz, double base, double *R, double *coef) {
    FdpgCfg c = {d, 10.0};
    FdpgSamples s = {1, &lpi, &lq, &lP, &lz, NULL};
    FdpgStats st;
    return fdpg_coefs(&c, &s, base, R, coef, &st);
}

static void test_coefs(void) {
    double R, coef;
    /* fkl online: log t = -2 + 1.5 - 0.2 = -0.7, R = 1/t */
    CHECK(one(FDPG_FKL, -2, -2, -1.5, -0.2, 0.5, &R, &coef) == 0, "fkl");
    CHECK(close_rel(R, exp(0.7), 1e-14, 0) && close_rel(coef, exp(0.7) - 0.5, 1e-14, 0), "fkl: R %.17g coef %.17g",
          R, coef);
    /* rkl offline: log t = -1 + 2 + 0.3 = 1.3, R = -2.3, w = e^0.4 */
    CHECK(one(FDPG_RKL, -1, -1.4, -2, 0.3, -0.25, &R, &coef) == 0, "rkl");
    CHECK(close_rel(R, -2.3, 1e-14, 0) && close_rel(coef, exp(0.4) * (-2.3 + 0.25), 1e-14, 0),
          "rkl offline: R %.17g coef %.17g", R, coef);
    /* js outside the support (lz may be -inf there): log t = +clip */
    CHECK(one(FDPG_JS, -3, -3, -INFINITY, -INFINITY, 0, &R, &coef) == 0, "js outside: %s", tr_errmsg());
    CHECK(close_rel(R, -(LN2 - log1p(exp(-10.0))), 1e-14, 0) && coef == R, "js outside: R %.17g", R);
    CHECK(one(FDPG_RKL, -3, -3, -INFINITY, 0.7, 0, &R, &coef) == 0 && close_rel(R, -11, 1e-15, 0),
          "rkl outside: R %.17g (want -(clip + 1))", R);
    CHECK(one(FDPG_FKL, -3, -3, -INFINITY, 0.7, 0, &R, &coef) == 0 && close_rel(R, exp(-10.0), 1e-14, 0),
          "fkl outside: R %.17g", R);
    {   /* no sample in the support: KL(p || pi) is unknown, not 0 */
        double lpi[2] = {-1, -2}, lP[2] = {-INFINITY, -INFINITY}, lz[2] = {-INFINITY, -INFINITY};
        FdpgSamples sm = {2, lpi, lpi, lP, lz, NULL};
        FdpgCfg cf = {FDPG_JS, 10};
        FdpgStats st;
        CHECK(fdpg_coefs(&cf, &sm, 0, NULL, NULL, &st) == 0 && isnan(st.kl_p_pi) && isnan(st.kl_p_q) &&
                  st.support == 0 && st.tv_p_pi == 0.5,
              "all outside: kl_p_pi %g tv %g", st.kl_p_pi, st.tv_p_pi);
    }
    /* clipping both ways */
    CHECK(one(FDPG_TV, -1, -1, -16, 0, 0, &R, &coef) == 0 && R == -0.5, "tv log t 15: R %g", R);
    CHECK(one(FDPG_CHI2, -20, -20, -5, 0, 0, &R, &coef) == 0 && close_rel(R, -2 * expm1(-10.0), 1e-14, 0),
          "chi2 log t -15 clipped to -10: R %.17g", R);
    CHECK(one(FDPG_FKL, -20, -20, -5, 0, 0, &R, &coef) == 0 && close_rel(R, exp(10.0), 1e-14, 0),
          "fkl log t -15 clipped: R %.17g", R);
    CHECK(one(FDPG_RKL, -1, -1, -16, 0, 0, &R, &coef) == 0 && close_rel(R, -11, 1e-15, 0), "rkl clipped: R %g", R);

    /* estimates on an enumerable distribution, one sample per item under
     * q = 1/K: the importance-sampling sums are then exact */
    enum { K = 12 };
    double a[K], P[K], pi[K], sa = 0, spi = 0, Z = 0;
    Rng r;
    rng_seed(&r, 9);
    for (int i = 0; i < K; i++) {
        a[i] = 0.1 + rng_uniform_d(&r);
        pi[i] = 0.05 + rng_uniform_d(&r);
        sa += a[i];
        spi += pi[i];
    }
    for (int i = 0; i < K; i++) {
        a[i] /= sa;
        pi[i] /= spi;
        P[i] = i % 4 == 1 ? 0.0 : a[i] * (i % 3 ? 1.0 : 0.4); /* P = a b e^(phi) style, zeros outside */
        Z += P[i];
    }
    double lpi[K], lq[K], lP[K], lz[K], la[K];
    for (int i = 0; i < K; i++) {
        lpi[i] = log(pi[i]);
        lq[i] = -log((double)K);
        lP[i] = P[i] > 0 ? log(P[i]) : -INFINITY;
        lz[i] = log(Z);
        la[i] = log(a[i]);
    }
    double kl_p_pi = 0, kl_p_q = 0, tv = 0, kl_pi_a = 0, sup = 0, spi2 = 0, pmax = 0;
    for (int i = 0; i < K; i++) {
        double p = P[i] / Z;
        if (p > 0) {
            kl_p_pi += p * log(p / pi[i]);
            kl_p_q += p * log(p * K);
            sup += 1.0 / K;
        }
        tv += 0.5 * fabs(p - pi[i]);
        kl_pi_a += pi[i] * log(pi[i] / a[i]);
        spi2 += pi[i] * pi[i];
        if (pi[i] > pmax) pmax = pi[i];
    }
    FdpgSamples s = {K, lpi, lq, lP, lz, la};
    for (int d = 0; d < FDPG_COUNT; d++) {
        FdpgCfg c = {d, 10.0};
        FdpgStats st;
        double Rs[K], cs[K], rmean = 0;
        CHECK(fdpg_coefs(&c, &s, 0.3, Rs, cs, &st) == 0, "coefs: %s", tr_errmsg());
        int badR = 0;
        for (int i = 0; i < K; i++) {
            double t = P[i] > 0 ? pi[i] / (P[i] / Z) : exp(10.0);
            double want = -fprime_table(d, t);
            rmean += want / K;
            if (!close_rel(Rs[i], want, 1e-12, 1e-14)) badR++;
            if (!close_rel(cs[i], K * pi[i] * (want - 0.3), 1e-12, 1e-14)) badR++;
        }
        CHECK(badR == 0, "%s: %d pseudo-rewards or coefficients differ from the table", fdpg_div_name(d), badR);
        CHECK(close_rel(st.kl_p_pi, kl_p_pi, 1e-12, 1e-15), "kl_p_pi %.15g, exact %.15g", st.kl_p_pi, kl_p_pi);
        CHECK(close_rel(st.kl_p_q, kl_p_q, 1e-12, 1e-15), "kl_p_q %.15g, exact %.15g", st.kl_p_q, kl_p_q);
        CHECK(close_rel(st.tv_p_pi, tv, 1e-12, 1e-15), "tv_p_pi %.15g, exact %.15g", st.tv_p_pi, tv);
        CHECK(close_rel(st.kl_pi_a, kl_pi_a, 1e-12, 1e-15), "kl_pi_a %.15g, exact %.15g", st.kl_pi_a, kl_pi_a);
        CHECK(close_rel(st.r_mean, rmean, 1e-12, 1e-15), "r_mean %.15g, exact %.15g", st.r_mean, rmean);
        CHECK(close_rel(st.w_mean, 1, 1e-12, 0), "w_mean %.15g", st.w_mean);
        CHECK(close_rel(st.w_max, K * pmax, 1e-12, 0), "w_max %.15g, want %.15g", st.w_max, K * pmax);
        CHECK(close_rel(st.ess, 1 / (K * spi2), 1e-12, 0), "ess %.15g, want %.15g", st.ess, 1 / (K * spi2));
        CHECK(close_rel(st.support, sup, 1e-12, 0), "support %.15g, want %.15g", st.support, sup);
        if (d == 0)
            printf("  estimates on %d enumerated items: KL(p||pi) %.6f TV %.6f KL(pi||a) %.6f (exact %.6f %.6f %.6f)\n",
                   K, st.kl_p_pi, st.tv_p_pi, st.kl_pi_a, kl_p_pi, tv, kl_pi_a);
    }
    /* online: w = 1, ess = 1; no la: kl_pi_a = 0; NULL outputs allowed */
    {
        FdpgSamples so = {K, lpi, lpi, lP, lz, NULL};
        FdpgCfg c = {FDPG_JS, 10.0};
        FdpgStats st;
        CHECK(fdpg_coefs(&c, &so, 0, NULL, NULL, &st) == 0, "NULL R and coef");
        CHECK(st.w_mean == 1 && st.w_max == 1 && close_rel(st.ess, 1, 1e-15, 0) && st.kl_pi_a == 0,
              "online: w_mean %g w_max %g ess %g kl_pi_a %g", st.w_mean, st.w_max, st.ess, st.kl_pi_a);
        CHECK(fdpg_coefs(&c, &so, 0, NULL, NULL, NULL) == 0, "NULL stats");
        FdpgSamples s0 = {0, NULL, NULL, NULL, NULL, NULL};
        CHECK(fdpg_coefs(&c, &s0, 0, NULL, NULL, &st) == 0 && st.r_mean == 0 && st.ess == 0, "n = 0");
    }
    /* non-finite inputs: TR_EINVAL naming the array and the sample */
    {
        struct {
            int arr;
            double v;
            const char *name;
        } bad[] = {{0, NAN, "log pi"},     {0, INFINITY, "log pi"}, {0, -INFINITY, "log pi"}, {1, NAN, "log q"},
                   {1, -INFINITY, "log q"}, {2, NAN, "log P"},     {2, INFINITY, "log P"},   {3, NAN, "log Z"},
                   {3, -INFINITY, "log Z"}, {4, NAN, "log a"},     {4, INFINITY, "log a"}};
        for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
            double c_lpi[K], c_lq[K], c_lP[K], c_lz[K], c_la[K];
            memcpy(c_lpi, lpi, sizeof lpi), memcpy(c_lq, lq, sizeof lq), memcpy(c_lP, lP, sizeof lP);
            memcpy(c_lz, lz, sizeof lz), memcpy(c_la, la, sizeof la);
            double *arrs[5] = {c_lpi, c_lq, c_lP, c_lz, c_la};
            arrs[bad[k].arr][6] = bad[k].v; /* item 6: inside the support */
            FdpgSamples sb = {K, c_lpi, c_lq, c_lP, c_lz, c_la};
            FdpgCfg c = {FDPG_FKL, 10.0};
            double Rb[K], cb[K];
            int rc = fdpg_coefs(&c, &sb, 0, Rb, cb, NULL);
            CHECK(rc == TR_EINVAL && strstr(tr_errmsg(), bad[k].name) && strstr(tr_errmsg(), "sample 6"),
                  "%s = %g: rc %d, message '%s'", bad[k].name, bad[k].v, rc, tr_errmsg());
        }
    }
}

/* ---- e. loss -------------------------------------------------------------- */

static void test_loss(void) {
    /* packed: 3 responses of 2, 0, 3 tokens */
    int len[3] = {2, 0, 3};
    float logp[5] = {-0.5f, -1.25f, -2.0f, -0.125f, -3.5f};
    double coef[3] = {0.75, 4.0, -1.5};
    RlBatch b = {3, 1, NULL, len, 5};
    float dl[5];
    double loss;
    CHECK(fdpg_loss(&b, logp, coef, 0, dl, &loss) == 0, "loss: %s", tr_errmsg());
    double want = (-0.75 * (-1.75) + 1.5 * (-5.625)) / 3;
    CHECK(close_rel(loss, want, 1e-14, 0), "packed loss %.17g, want %.17g", loss, want);
    float wd[5] = {-0.25f, -0.25f, 0.5f, 0.5f, 0.5f};
    CHECK(!memcmp(dl, wd, sizeof wd), "packed dlogp %g %g %g %g %g", dl[0], dl[1], dl[2], dl[3], dl[4]);
    CHECK(fdpg_loss(&b, logp, coef, 2.5, dl, &loss) == 0 && close_rel(loss, want * 3 / 2.5, 1e-14, 0),
          "norm 2.5: loss %.17g", loss);
    CHECK(close_rel(dl[0], -0.75 / 2.5, 1e-7, 0) && close_rel(dl[4], 1.5 / 2.5, 1e-7, 0), "norm 2.5: dlogp %g %g",
          dl[0], dl[4]);
    CHECK(fdpg_loss(&b, logp, coef, -1, NULL, &loss) == 0 && close_rel(loss, want, 1e-14, 0), "norm < 0 -> N");
    CHECK(fdpg_loss(&b, logp, coef, 0, dl, NULL) == 0, "NULL loss");

    /* offsets with gaps holding NaN, which must never be read */
    int64_t off[3] = {1, 4, 5};
    float lg[9] = {NAN, -0.5f, -1.25f, NAN, NAN, -2.0f, -0.125f, -3.5f, NAN};
    RlBatch bo = {3, 1, off, len, 9};
    float dlo[9];
    for (int i = 0; i < 9; i++) dlo[i] = 123.0f;
    CHECK(fdpg_loss(&bo, lg, coef, 0, dlo, &loss) == 0 && close_rel(loss, want, 1e-14, 0), "offsets: loss %.17g",
          loss);
    float wdo[9] = {0, -0.25f, -0.25f, 0, 0, 0.5f, 0.5f, 0.5f, 0};
    CHECK(!memcmp(dlo, wdo, sizeof wdo), "offsets: dlogp %g %g %g %g %g %g %g %g %g", dlo[0], dlo[1], dlo[2], dlo[3],
          dlo[4], dlo[5], dlo[6], dlo[7], dlo[8]);
    /* groups: N = 4, G = 2 (the group size does not change the loss) */
    int len4[4] = {1, 1, 1, 1};
    float lp4[4] = {-1, -2, -3, -4};
    double c4[4] = {1, 2, 3, 4};
    RlBatch b4 = {4, 2, NULL, len4, 4};
    CHECK(fdpg_loss(&b4, lp4, c4, 0, NULL, &loss) == 0 && close_rel(loss, 30.0 / 4, 1e-15, 0), "G = 2: loss %g",
          loss);

    /* errors */
    double cn[3] = {0.75, NAN, -1.5};
    CHECK(fdpg_loss(&b, logp, cn, 0, dl, &loss) == TR_EINVAL && strstr(tr_errmsg(), "response 1"),
          "NaN coefficient: %s", tr_errmsg());
    cn[1] = INFINITY;
    CHECK(fdpg_loss(&b, logp, cn, 0, dl, &loss) == TR_EINVAL, "inf coefficient accepted");
    int64_t offbad[3] = {1, 2, 5}; /* response 1 at 2 overlaps response 0 ([1, 3)) */
    int lenb[3] = {2, 1, 3};
    RlBatch bb = {3, 1, offbad, lenb, 9};
    CHECK(fdpg_loss(&bb, lg, coef, 0, dlo, &loss) == TR_EINVAL, "overlapping responses accepted");
    RlBatch bs = {3, 1, NULL, len, 6};
    CHECK(fdpg_loss(&bs, lg, coef, 0, dlo, &loss) == TR_EINVAL, "packed n_tok mismatch accepted");
}

/* ---- f. lambda ------------------------------------------------------------ */

static void test_lambda(void) {
    /* one binary feature, base mean 0.2 -> 0.5: lambda = logit(0.5) - logit(0.2) = log 4 */
    double phi[10] = {0, 1, 0, 0, 0, 0, 1, 0, 0, 0}, mu = 0.5, lam = 99;
    const char *nm[2] = {"has_two", "length"};
    FdpgFit fit;
    CHECK(fdpg_fit_lambda(phi, 10, 1, &mu, nm, 1e-10, 50, &lam, &fit) == 0, "fit: %s", tr_errmsg());
    printf("  lambda fit (binary 0.2 -> 0.5): lambda %.12f (log 4 = %.12f), %d iterations, ess %.4f\n", lam, log(4.0),
           fit.iters, fit.ess);
    CHECK(fit.converged && fabs(fit.achieved[0] - 0.5) <= 1e-10 && fit.max_err <= 1e-10, "achieved %.15g err %g",
          fit.achieved[0], fit.max_err);
    CHECK(fabs(lam - log(4.0)) < 1e-8, "lambda %.15g, want log 4", lam);
    CHECK(fabs(fit.base[0] - 0.2) < 1e-15, "base %g", fit.base[0]);
    /* ess of weights 4 (x2) and 1 (x8): 16^2 / (10 * 40) */
    CHECK(close_rel(fit.ess, 256.0 / 400, 1e-7, 0), "ess %.10g, want 0.64", fit.ess);
    /* the iteration budget runs out on a step that reached the moment: judged after it */
    CHECK(fdpg_fit_lambda(phi, 10, 1, &mu, nm, 1e-3, 3, &lam, &fit) == 0 && fit.converged && fit.max_err <= 1e-3,
          "3 iterations: converged %d, err %g", fit.converged, fit.max_err);
    /* requested = base: lambda 0, no iteration needed */
    mu = 0.2;
    CHECK(fdpg_fit_lambda(phi, 10, 1, &mu, nm, 1e-10, 50, &lam, &fit) == 0 && fabs(lam) < 1e-12 && fit.converged,
          "mu = base: lambda %g", lam);

    /* two correlated features over 3000 samples */
    enum { N = 3000 };
    double *ph = malloc(2 * N * sizeof(double));
    Rng r;
    rng_seed(&r, 21);
    for (int i = 0; i < N; i++) {
        double u = rng_uniform_d(&r);
        ph[2 * i] = u < 0.3 ? 1.0 : 0.0;
        ph[2 * i + 1] = 5 + 2 * rng_normal(&r) + 3 * ph[2 * i]; /* lengths, correlated with the first */
    }
    double mu2[2] = {0.5, 5.2}, l2[2];
    CHECK(fdpg_fit_lambda(ph, N, 2, mu2, nm, 1e-9, 100, l2, &fit) == 0, "fit 2: %s", tr_errmsg());
    /* the moments under the returned lambda, recomputed here */
    double mx = -INFINITY, W = 0, E0 = 0, E1 = 0;
    for (int i = 0; i < N; i++) {
        double u = l2[0] * ph[2 * i] + l2[1] * ph[2 * i + 1];
        mx = u > mx ? u : mx;
    }
    for (int i = 0; i < N; i++) {
        double w = exp(l2[0] * ph[2 * i] + l2[1] * ph[2 * i + 1] - mx);
        W += w;
        E0 += w * ph[2 * i];
        E1 += w * ph[2 * i + 1];
    }
    E0 /= W, E1 /= W;
    printf("  lambda fit (2 features): base (%.4f, %.4f) -> (%.6f, %.6f) asked (%.2f, %.2f), lambda (%.4f, %.4f), "
           "%d iterations, ess %.3f\n",
           fit.base[0], fit.base[1], E0, E1, mu2[0], mu2[1], l2[0], l2[1], fit.iters, fit.ess);
    CHECK(fit.converged && fabs(E0 - mu2[0]) < 1e-8 && fabs(E1 - mu2[1]) < 1e-8, "2 features: achieved %.10g %.10g",
          E0, E1);
    CHECK(fabs(fit.achieved[0] - E0) < 1e-12 && fabs(fit.achieved[1] - E1) < 1e-12, "fit.achieved disagrees");
    CHECK(fit.ess > 0 && fit.ess <= 1, "ess %g", fit.ess);
    free(ph);

    /* unreachable moments name the feature */
    double zero[20] = {0}, m1 = 0.5, ltmp;
    CHECK(fdpg_fit_lambda(zero, 20, 1, &m1, nm, 1e-9, 50, &ltmp, &fit) == TR_EINVAL &&
              strstr(tr_errmsg(), "has_two"),
          "all-zero feature: '%s'", tr_errmsg());
    double two[6] = {0, 0, 1, 3, 0, 7}, m2[2] = {0.5, 7}, lt2[2]; /* second column max 7: 7 is not strictly inside */
    CHECK(fdpg_fit_lambda(two, 3, 2, m2, nm, 1e-9, 50, lt2, &fit) == TR_EINVAL && strstr(tr_errmsg(), "length"),
          "moment at the edge: '%s'", tr_errmsg());
    CHECK(fdpg_fit_lambda(zero, 20, 1, &m1, NULL, 1e-9, 50, &ltmp, &fit) == TR_EINVAL, "NULL names");
    CHECK(fdpg_fit_lambda(phi, 10, 0, &mu, nm, 1e-9, 50, &ltmp, &fit) == TR_EINVAL, "k = 0 accepted");
    CHECK(fdpg_fit_lambda(phi, 1, 1, &mu, nm, 1e-9, 50, &ltmp, &fit) == TR_EINVAL, "n = 1 accepted");
    phi[3] = NAN;
    CHECK(fdpg_fit_lambda(phi, 10, 1, &mu, nm, 1e-9, 50, &ltmp, &fit) == TR_EINVAL && strstr(tr_errmsg(), "has_two"),
          "NaN feature: '%s'", tr_errmsg());
}

/* ---- g. distinct-n ---------------------------------------------------------- */

static void test_distinct(void) {
    int32_t s1[4] = {5, 5, 5, 5}, s2[4] = {5, 5, 5, 5}, s3[3] = {5, 5, 5};
    const int32_t *same[3] = {s1, s2, s3};
    int lsame[3] = {4, 4, 3};
    CHECK(fabs(fdpg_distinct(same, lsame, 3, 1) - 1.0 / 11) < 1e-15, "all same, 1-grams: %g",
          fdpg_distinct(same, lsame, 3, 1));
    CHECK(fabs(fdpg_distinct(same, lsame, 3, 2) - 1.0 / 8) < 1e-15, "all same, 2-grams: %g",
          fdpg_distinct(same, lsame, 3, 2));
    /* unique: s1 == s2, s3 a prefix of them (a different sequence) */
    CHECK(fabs(fdpg_unique(same, lsame, 3) - 2.0 / 3) < 1e-15, "unique of s1 s2 s3: %g", fdpg_unique(same, lsame, 3));
    CHECK(fdpg_unique(same, lsame, 0) == 0 && fdpg_unique(same, lsame, 1) == 1, "unique of 0 / 1 sequences");
    {
        int32_t e0[1] = {0};
        const int32_t *many[40];
        int lm[40];
        for (int i = 0; i < 40; i++) {
            many[i] = i % 4 ? s1 : e0; /* 10 x [0], and 10 each of the first 2, 3 and 4 tokens of s1 */
            lm[i] = i % 4 ? 1 + i % 4 : 1;
        }
        CHECK(fabs(fdpg_unique(many, lm, 40) - 4.0 / 40) < 1e-15, "unique of 4 classes x 10: %g", fdpg_unique(many, lm, 40));
    }
    int32_t d1[3] = {1, 2, 3}, d2[4] = {4, 5, 6, 7};
    const int32_t *diff[2] = {d1, d2};
    int ldiff[2] = {3, 4};
    for (int g = 1; g <= 4; g++)
        CHECK(fdpg_distinct(diff, ldiff, 2, g) == 1.0, "all different, %d-grams: %g", g, fdpg_distinct(diff, ldiff, 2, g));
    /* 1 2 1 2 and 2 1 2: 2-grams 12 21 12 | 21 12 -> 2 of 5; 3-grams 121 212 | 212 -> 2 of 3 */
    int32_t m1[4] = {1, 2, 1, 2}, m2[3] = {2, 1, 2};
    const int32_t *mix[2] = {m1, m2};
    int lmix[2] = {4, 3};
    CHECK(fabs(fdpg_distinct(mix, lmix, 2, 2) - 2.0 / 5) < 1e-15, "mixed 2-grams: %g", fdpg_distinct(mix, lmix, 2, 2));
    CHECK(fabs(fdpg_distinct(mix, lmix, 2, 3) - 2.0 / 3) < 1e-15, "mixed 3-grams: %g", fdpg_distinct(mix, lmix, 2, 3));
    /* n-grams do not cross sequence boundaries: 1 | 2 has no 2-gram */
    int32_t a1[1] = {1}, a2[1] = {2};
    const int32_t *sh[2] = {a1, a2};
    int lsh[2] = {1, 1};
    CHECK(fdpg_distinct(sh, lsh, 2, 2) == 0, "no 2-grams: %g", fdpg_distinct(sh, lsh, 2, 2));
    CHECK(fdpg_distinct(sh, lsh, 0, 1) == 0, "no sequences");
    /* a longer case against a quadratic count */
    enum { NS = 40, LS = 30 };
    int32_t *buf = malloc(NS * LS * sizeof(int32_t));
    const int32_t *seqs[NS];
    int lens[NS];
    Rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < NS; i++) {
        lens[i] = (int)(rng_u64(&r) % LS);
        seqs[i] = buf + i * LS;
        for (int j = 0; j < LS; j++) buf[i * LS + j] = (int32_t)(rng_u64(&r) % 3);
    }
    for (int g = 1; g <= 4; g++) {
        int total = 0, distinct = 0;
        for (int i = 0; i < NS; i++)
            for (int p = 0; p + g <= lens[i]; p++) {
                total++;
                int seen = 0;
                for (int i2 = 0; i2 <= i && !seen; i2++)
                    for (int p2 = 0; p2 + g <= lens[i2] && !seen; p2++) {
                        if (i2 == i && p2 >= p) break;
                        if (!memcmp(seqs[i] + p, seqs[i2] + p2, (size_t)g * sizeof(int32_t))) seen = 1;
                    }
                distinct += !seen;
            }
        double got = fdpg_distinct(seqs, lens, NS, g);
        CHECK(fabs(got - (double)distinct / total) < 1e-15, "random %d-grams: %g, want %d / %d", g, got, distinct,
              total);
    }
    free(buf);
}

/* ---- h. training a tiny model toward an enumerable target ------------------- */

#define HV 4               /* vocabulary */
#define HL 3               /* generated tokens */
#define HT (1 + HL)        /* prompt token + response */
#define NSEQ 64            /* HV^HL sequences */
#define HB 64              /* samples per step */
#define HSTEPS 200
#define HLR 3e-3f          /* 1e-2 is too much: Adam's normalised noisy steps walk pi away from p (KL(p||pi)
                            * rose for every f in 150 steps of 32) */
#define CHI2_CLIP 3.0      /* see test_train */
#define PROMPT_TOK 3

typedef struct {
    Model m;
    float *init;           /* the base a's parameters */
    double la[NSEQ];       /* log a(x) */
    double phi[NSEQ];      /* distributional feature: number of 2s */
    int32_t ids[NSEQ * HT], tg[NSEQ * HT];
} Toy;

static int tok(int x, int j) { /* token j of sequence x */
    int d = 1;
    for (int k = j + 1; k < HL; k++) d *= HV;
    return (x / d) % HV;
}

static void fill_rows(const int *xs, int n, int32_t *ids, int32_t *tg) {
    for (int i = 0; i < n; i++) {
        ids[i * HT] = PROMPT_TOK;
        for (int j = 0; j < HL; j++) {
            ids[i * HT + 1 + j] = tok(xs[i], j);
            tg[i * HT + j] = tok(xs[i], j);
        }
        tg[i * HT + HL] = -1;
    }
}

/* log pi(x) of the n sequences xs, from a forward of the model; keeps the
 * per-token logp (n * HT, target positions 0..HL-1) in lp if given. */
static void seq_logp(Model *m, const int *xs, int n, int32_t *ids, int32_t *tg, float *lp, double *out) {
    fill_rows(xs, n, ids, tg);
    ModelBatch b = {n, HT, ids, NULL, NULL, NULL};
    TR_ASSERT(model_forward(m, &b, tg, lp, NULL) == 0);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < HL; j++) s += lp[i * HT + j];
        out[i] = s;
    }
}

static void all_logp(Toy *t, double *lpi) {
    int xs[NSEQ];
    float lp[NSEQ * HT];
    for (int i = 0; i < NSEQ; i++) xs[i] = i;
    seq_logp(&t->m, xs, NSEQ, t->ids, t->tg, lp, lpi);
    /* normalise away float rounding (the sum is 1 up to ~1e-6) */
    double s = 0;
    for (int i = 0; i < NSEQ; i++) s += exp(lpi[i]);
    for (int i = 0; i < NSEQ; i++) lpi[i] -= log(s);
}

static int has_two(int x) {
    for (int j = 0; j < HL; j++)
        if (tok(x, j) == 2) return 1;
    return 0;
}

/* Exact quantities of pi against p = P / Z, P given by lP (log, -inf
 * outside the support). */
typedef struct {
    double kl_p_pi, tv, out_mass, df, moment;
} Exact;

static Exact exact(FdpgDiv d, const double *lpi, const double *lP, const double *phi) {
    double Z = 0;
    for (int x = 0; x < NSEQ; x++) Z += exp(lP[x]);
    Exact e = {0};
    /* lim_{t -> inf} f(t) / t: what pi's mass outside the support adds to D_f */
    const double tail[FDPG_COUNT] = {0, INFINITY, LN2, 0.5, INFINITY};
    for (int x = 0; x < NSEQ; x++) {
        double pi = exp(lpi[x]), p = exp(lP[x]) / Z;
        if (p > 0) {
            e.kl_p_pi += p * (log(p) - lpi[x]);
            e.df += p * f_ref(d, pi / p);
        } else {
            e.out_mass += pi;
            e.df += pi * tail[d];
        }
        e.tv += 0.5 * fabs(p - pi);
        if (phi) e.moment += pi * phi[x];
    }
    return e;
}

/* One f-DPG run from the base; lP is the target. Returns the final state
 * (log pi over the 64 sequences in lpi_end) and the final Z_hat. */
static double train(Toy *t, FdpgDiv d, double clip, const double *lP, uint64_t seed, double *lpi_end) {
    Model *m = &t->m;
    memcpy(m->params, t->init, m->n_params * sizeof(float));
    AdamW opt;
    TR_ASSERT(adamw_init(&opt, m->n_params, HLR, 0.9f, 0.999f, 1e-8f, 0.0f) == 0);
    FdpgZ z;
    fdpg_z_init(&z);
    FdpgBaseline base;
    TR_ASSERT(fdpg_baseline_init(&base, 1024) == 0);
    FdpgCfg cfg = {d, clip};
    Rng r;
    rng_seed(&r, seed);
    int32_t ids[HB * HT], tg[HB * HT];
    float lp[HB * HT], dlp[HB * HT];
    int64_t off[HB];
    int len[HB];
    for (int i = 0; i < HB; i++) off[i] = (int64_t)i * HT, len[i] = HL;
    RlBatch rb = {HB, 1, off, len, HB * HT};
    ModelBatch mb = {HB, HT, ids, NULL, NULL, NULL};
    for (int step = 0; step < HSTEPS; step++) {
        double lpi_all[NSEQ], cdf[NSEQ];
        all_logp(t, lpi_all);
        for (int x = 0; x < NSEQ; x++) cdf[x] = (x ? cdf[x - 1] : 0) + exp(lpi_all[x]);
        int xs[HB];
        for (int i = 0; i < HB; i++) xs[i] = draw(&r, cdf, NSEQ);
        double lpi[HB], lPs[HB], lz[HB], R[HB], coef[HB];
        seq_logp(m, xs, HB, ids, tg, lp, lpi);
        for (int i = 0; i < HB; i++) {
            lPs[i] = lP[xs[i]];
            fdpg_z_add(&z, lPs[i] - lpi[i]); /* q = pi at sampling */
        }
        for (int i = 0; i < HB; i++) lz[i] = fdpg_z_log(&z);
        FdpgSamples s = {HB, lpi, lpi, lPs, lz, NULL};
        FdpgStats st;
        double b = fdpg_baseline_mean(&base);
        int rc = fdpg_coefs(&cfg, &s, b, R, coef, &st);
        CHECK(rc == 0, "%s step %d: coefs: %s", fdpg_div_name(d), step, tr_errmsg());
        if (rc) break;
        for (int i = 0; i < HB; i++) fdpg_baseline_push(&base, R[i]);
        double loss;
        rc = fdpg_loss(&rb, lp, coef, 0, dlp, &loss);
        CHECK(rc == 0, "%s step %d: loss: %s", fdpg_div_name(d), step, tr_errmsg());
        if (rc) break;
        model_zero_grads(m);
        TR_ASSERT(model_backward(m, &mb, tg, dlp, NULL) == 0);
        grad_clip(m->grads, m->n_params, 1.0);
        adamw_step(&opt, m->params, m->grads, HLR, NULL);
    }
    all_logp(t, lpi_end);
    double zl = fdpg_z_log(&z);
    adamw_free(&opt);
    fdpg_baseline_free(&base);
    return zl;
}

/* A 1-layer model over V = 4 with one prompt token and 3 response tokens:
 * all 64 responses are enumerable, so pi, p and every divergence are exact.
 * The base a is the initial model; each f trains a fresh copy with batches
 * of HB exact samples of pi and checks the exact KL(p||pi), TV(p, pi), pi's
 * mass outside the support and D_f(pi||p) (where finite) against the base.
 *
 * chi2 runs with clip_logt 3, not 10: a sample outside the support then has
 * R = -2(e^10 - 1) = -44050 against O(1) inside; those few samples dominate
 * the gradient and the 1024-sample baseline keeps their mean long after pi
 * left them, so every later in-support sample gets the same large positive
 * coefficient (plain sharpening). Seen: with clip 10, KL(p||pi) rose
 * (0.17 -> 0.35 .. 0.72) in 4 of 6 seeds; a 64-sample baseline window did
 * not help; clip 3 (R = -38) passed in 12 of 12 seeds. Runs at clip 10 are
 * printed below, not checked. */
static void test_train(void) {
    Toy *t = calloc(1, sizeof *t);
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.arch = ARCH_QWEN2;
    c.C = 24, c.F = 48, c.L = 1, c.NH = 2, c.KVH = 1, c.HS = 12, c.V = HV, c.max_pos = 8;
    c.eps = 1e-6f, c.rope_theta = 10000.0f, c.qkv_bias = 1, c.bos_id = -1;
    TR_ASSERT(model_create(&t->m, &c) == 0 && model_alloc_grads(&t->m) == 0);
    model_init_random(&t->m, 17, 0.4f);
    t->init = malloc(t->m.n_params * sizeof(float));
    memcpy(t->init, t->m.params, t->m.n_params * sizeof(float));
    all_logp(t, t->la);
    for (int x = 0; x < NSEQ; x++) {
        t->phi[x] = 0;
        for (int j = 0; j < HL; j++) t->phi[x] += tok(x, j) == 2;
    }

    /* pointwise: b(x) = 1 when x contains token 2 */
    double lP[NSEQ], Z = 0;
    for (int x = 0; x < NSEQ; x++) {
        lP[x] = has_two(x) ? t->la[x] : -INFINITY;
        Z += exp(lP[x]);
    }
    printf("  toy: %d sequences, %zu parameters; pointwise target 'contains token 2': Z = E_a[b] = %.4f\n", NSEQ,
           t->m.n_params, Z);
    for (int d = 0; d < FDPG_COUNT; d++) {
        double lend[NSEQ];
        double zl = train(t, d, d == FDPG_CHI2 ? CHI2_CLIP : 10.0, lP, 1000 + (uint64_t)d, lend);
        Exact b0 = exact(d, t->la, lP, NULL), b1 = exact(d, lend, lP, NULL);
        printf("  pointwise %-4s: KL(p||pi) %.4f -> %.4f  TV %.4f -> %.4f  mass outside %.4f -> %.4f  "
               "D_f(pi||p) %.4f -> %.4f  Z_hat %.4f\n",
               fdpg_div_name(d), b0.kl_p_pi, b1.kl_p_pi, b0.tv, b1.tv, b0.out_mass, b1.out_mass, b0.df, b1.df,
               exp(zl));
        CHECK(b1.kl_p_pi < 0.5 * b0.kl_p_pi, "%s: KL(p||pi) %.4f -> %.4f", fdpg_div_name(d), b0.kl_p_pi, b1.kl_p_pi);
        CHECK(b1.tv < 0.5 * b0.tv, "%s: TV %.4f -> %.4f", fdpg_div_name(d), b0.tv, b1.tv);
        CHECK(b1.out_mass < 0.5 * b0.out_mass, "%s: mass outside the support %.4f -> %.4f", fdpg_div_name(d),
              b0.out_mass, b1.out_mass);
        if (isfinite(b0.df)) CHECK(b1.df < 0.5 * b0.df, "%s: D_f %.4f -> %.4f", fdpg_div_name(d), b0.df, b1.df);
        CHECK(fabs(exp(zl) / Z - 1) < 0.1, "%s: Z_hat %.4f vs Z %.4f", fdpg_div_name(d), exp(zl), Z);
    }
    for (int k = 0; k < 4; k++) {
        const uint64_t seeds[4] = {1004, 1014, 1024, 1044};
        double lend[NSEQ];
        double zl = train(t, FDPG_CHI2, 10.0, lP, seeds[k], lend);
        Exact b0 = exact(FDPG_CHI2, t->la, lP, NULL), b1 = exact(FDPG_CHI2, lend, lP, NULL);
        printf("  (chi2 at clip_logt 10, seed %llu, not checked: KL(p||pi) %.4f -> %.4f  TV %.4f -> %.4f  mass outside "
               "%.4f -> %.4f  Z_hat %.4f)\n",
               (unsigned long long)seeds[k], b0.kl_p_pi, b1.kl_p_pi, b0.tv, b1.tv, b0.out_mass, b1.out_mass, exp(zl));
    }

    /* distributional: P = a exp(lambda phi), phi = the number of 2s, lambda
     * fitted on samples of a so that E_p[phi] = mu */
    enum { NFIT = 4000 };
    double cdf[NSEQ], Ea = 0, mu = 1.5, lam;
    for (int x = 0; x < NSEQ; x++) {
        cdf[x] = (x ? cdf[x - 1] : 0) + exp(t->la[x]);
        Ea += exp(t->la[x]) * t->phi[x];
    }
    double *ph = malloc(NFIT * sizeof(double));
    Rng r;
    rng_seed(&r, 99);
    for (int i = 0; i < NFIT; i++) ph[i] = t->phi[draw(&r, cdf, NSEQ)];
    const char *nm = "twos";
    FdpgFit fit;
    CHECK(fdpg_fit_lambda(ph, NFIT, 1, &mu, &nm, 1e-9, 50, &lam, &fit) == 0, "fit: %s", tr_errmsg());
    free(ph);
    double lP2[NSEQ], Z2 = 0, Ep = 0;
    for (int x = 0; x < NSEQ; x++) {
        lP2[x] = t->la[x] + lam * t->phi[x];
        Z2 += exp(lP2[x]);
    }
    for (int x = 0; x < NSEQ; x++) Ep += exp(lP2[x]) / Z2 * t->phi[x];
    printf("  distributional target E[#2s] = %.2f: E_a = %.4f, lambda = %.4f (%d samples), exact E_p = %.4f\n", mu, Ea,
           lam, NFIT, Ep);
    CHECK(fabs(Ep - mu) < 0.05, "the fitted lambda gives E_p[phi] = %.4f, asked %.2f", Ep, mu);
    for (int d = 0; d < FDPG_COUNT; d++) {
        double lend[NSEQ];
        double zl = train(t, d, d == FDPG_CHI2 ? CHI2_CLIP : 10.0, lP2, 2000 + (uint64_t)d, lend);
        Exact b0 = exact(d, t->la, lP2, t->phi), b1 = exact(d, lend, lP2, t->phi);
        printf("  distrib.  %-4s: KL(p||pi) %.4f -> %.4f  TV %.4f -> %.4f  D_f(pi||p) %.4f -> %.4f  "
               "E_pi[phi] %.4f -> %.4f  Z_hat/Z %.4f\n",
               fdpg_div_name(d), b0.kl_p_pi, b1.kl_p_pi, b0.tv, b1.tv, b0.df, b1.df, b0.moment, b1.moment,
               exp(zl) / Z2);
        CHECK(fabs(b1.moment - mu) < 0.5 * fabs(b0.moment - mu), "%s: E_pi[phi] %.4f -> %.4f, asked %.2f",
              fdpg_div_name(d), b0.moment, b1.moment, mu);
        CHECK(b1.kl_p_pi < 0.5 * b0.kl_p_pi, "%s: KL(p||pi) %.4f -> %.4f", fdpg_div_name(d), b0.kl_p_pi, b1.kl_p_pi);
        CHECK(b1.tv < 0.7 * b0.tv, "%s: TV %.4f -> %.4f", fdpg_div_name(d), b0.tv, b1.tv);
        CHECK(b1.df < 0.5 * b0.df, "%s: D_f %.4f -> %.4f", fdpg_div_name(d), b0.df, b1.df);
        CHECK(fabs(exp(zl) / Z2 - 1) < 0.1, "%s: Z_hat / Z = %.4f", fdpg_div_name(d), exp(zl) / Z2);
    }
    free(t->init);
    model_free(&t->m);
    free(t);
}

/* ---- i. the checkpoint state: restored exactly, refused whole ---------- */

static void state_run(FdpgRun *f) {
    RlConfig c;
    memset(&c, 0, sizeof c);
    static const char *const kv[] = {"algo.adv=fdpg", "fdpg.target=distributional",
                                     "fdpg.features=contains(words=a):0.5,format:0.2", "fdpg.baseline=8"};
    TR_ASSERT(conf_defaults(&RL_SCHEMA, &c) == TR_OK);
    for (int i = 0; i < 4; i++) TR_ASSERT(conf_override(&RL_SCHEMA, &c, kv[i]) == TR_OK);
    TR_ASSERT(fdpg_run_init(f, &c, 16) == TR_OK);
    conf_free(&RL_SCHEMA, &c);
}

static void state_case(const char *json, const char *want) {
    FdpgRun f;
    state_run(&f);
    cJSON *j = cJSON_Parse(json);
    int rc = fdpg_run_from_json(&f, j);
    CHECK(rc == TR_EFORMAT && strstr(tr_errmsg(), want), "state %s: want '%s', got rc %d: %s", json, want, rc,
          tr_errmsg());
    CHECK(f.lambda[0] == 0 && f.lambda[1] == 0 && !f.fitted && f.z[3].n == 0 && f.base.n == 0 && f.acc_n == 0,
          "a refused state leaves the run as it was");
    cJSON_Delete(j);
    fdpg_run_free(&f);
}

static void test_state(void) {
    printf("checkpoint state\n");
    FdpgRun f;
    state_run(&f);
    cJSON *j = cJSON_Parse("{\"lambda\":[1.5,-0.25],\"z\":[[3,-1.25,3],[15,\"-inf\",2]],\"baseline\":[0.5,1,2],"
                           "\"q_updates\":2,\"acc_pi\":0.125,\"acc_q\":0.5,\"acc_n\":3}");
    CHECK(fdpg_run_from_json(&f, j) == TR_OK, "state loads: %s", tr_errmsg());
    CHECK(f.fitted && f.lambda[0] == 1.5 && f.lambda[1] == -0.25 && f.z[3].log_sum == -1.25 && f.z[3].n == 3 &&
              f.z[15].log_sum == -INFINITY && f.z[15].n == 2 && f.z[0].n == 0 && f.base.n == 3 &&
              fdpg_baseline_mean(&f.base) == 3.5 / 3 && f.q_updates == 2 && f.acc_pi == 0.125 && f.acc_q == 0.5 &&
              f.acc_n == 3,
          "state restored field by field");
    cJSON_Delete(j);
    fdpg_run_free(&f);
    const char *tail = ",\"baseline\":[],\"q_updates\":0,\"acc_pi\":0,\"acc_q\":0,\"acc_n\":0}";
    char b[512];
    static const struct {
        const char *head, *want;
    } C[] = {
        {"{\"lambda\":[1],\"z\":[]", "fdpg.lambda has 1 entries, fdpg.features 2"},
        {"{\"lambda\":[1,null],\"z\":[]", "fdpg.lambda[1] is not a finite number"},
        {"{\"lambda\":[1,2],\"z\":[[16,0,1]]", "fdpg.z[0] names record 16 of 16"},
        {"{\"lambda\":[1,2],\"z\":[[3,0,1],[2.5,0,1]]", "fdpg.z[1] is not [record, log_sum, n]"},
        {"{\"lambda\":[1,2],\"z\":[[3,0,0]]", "fdpg.z[0] is not"},
        {"{\"lambda\":[1,2],\"z\":[[3,\"inf\",1]]", "fdpg.z[0] is not"},
        {"{\"lambda\":[1,2],\"z\":[[3,0]]", "fdpg.z[0] is not"},
    };
    for (size_t i = 0; i < sizeof C / sizeof *C; i++) {
        snprintf(b, sizeof b, "%s%s", C[i].head, tail);
        state_case(b, C[i].want);
    }
    state_case("{\"lambda\":[1,2],\"z\":[],\"baseline\":[\"x\"],\"q_updates\":0,\"acc_pi\":0,\"acc_q\":0,\"acc_n\":0}",
               "fdpg.baseline[0] is not a finite number");
    state_case("{\"lambda\":[1,2],\"z\":[],\"baseline\":[],\"q_updates\":-1,\"acc_pi\":0,\"acc_q\":0,\"acc_n\":0}",
               "fdpg.q_updates: -1 is not an integer in [0, ");
    state_case("{\"lambda\":[1,2],\"z\":[],\"baseline\":[],\"q_updates\":0,\"acc_pi\":\"-inf\",\"acc_q\":0,\"acc_n\":0}",
               "fdpg.acc_pi missing or not a finite number");
    state_case("{\"lambda\":[1,2],\"z\":[],\"baseline\":[],\"q_updates\":0,\"acc_pi\":0,\"acc_q\":0,\"acc_n\":1e300}",
               "fdpg.acc_n: 1.0000000000000001e+300 is not an integer");
}

int main(void) {
    tr_set_threads(1);
    double t0 = tr_time();
    test_f();
    test_z();
    test_baseline();
    test_coefs();
    test_loss();
    test_lambda();
    test_distinct();
    test_train();
    test_state();
    printf("  %.2f s\n", tr_time() - t0);
    return tu_summary("test_fdpg");
}
