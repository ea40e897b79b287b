/* f-DPG math (fdpg.h): the f' of each divergence, the running estimate of
 * Z, the baseline, per-sample coefficients and estimates, the loss, the
 * lambda fit of distributional constraints, distinct-n. */
#include "thinkrl/fdpg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "thinkrl/core.h"

#define LN2 0.69314718055994530942

static const char *const DIV_NAME[FDPG_COUNT] = {"fkl", "rkl", "js", "tv", "chi2"};

int fdpg_div_parse(const char *name) {
    for (int d = 0; name && d < FDPG_COUNT; d++)
        if (!strcmp(name, DIV_NAME[d])) return d;
    return -1;
}

const char *fdpg_div_name(FdpgDiv d) { return d >= 0 && d < FDPG_COUNT ? DIV_NAME[d] : "?"; }

/* log(1 + e^x) without overflow either way. */
static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

double fdpg_f(FdpgDiv d, double lt) {
    switch (d) {
    case FDPG_FKL: return -lt;
    case FDPG_RKL: return exp(lt) * lt;
    case FDPG_JS: { /* t log(2t / (1+t)) + log(2 / (1+t)), log(1+t) = softplus(log t) */
        double l1t = softplus(lt);
        return exp(lt) * (LN2 + lt - l1t) + LN2 - l1t;
    }
    case FDPG_TV: return 0.5 * fabs(expm1(lt));
    case FDPG_CHI2: {
        double e = expm1(lt);
        return e * e;
    }
    default: return NAN;
    }
}

double fdpg_fprime(FdpgDiv d, double lt) {
    switch (d) {
    case FDPG_FKL: return -exp(-lt);
    case FDPG_RKL: return lt + 1;
    case FDPG_JS: return LN2 - softplus(-lt);
    case FDPG_TV: return lt > 0 ? 0.5 : lt < 0 ? -0.5 : 0.0;
    case FDPG_CHI2: return 2 * expm1(lt);
    default: return NAN;
    }
}

/* ---- Z ---- */

void fdpg_z_init(FdpgZ *z) {
    z->log_sum = -INFINITY;
    z->n = 0;
}

int fdpg_z_add(FdpgZ *z, double l) {
    if (isnan(l) || l == INFINITY) return tr_err(TR_EINVAL, "f-DPG Z: log P/q is %g", l);
    z->n++;
    if (l == -INFINITY) return TR_OK;
    double m = l > z->log_sum ? l : z->log_sum;
    z->log_sum = m + log(exp(z->log_sum - m) + exp(l - m));
    return TR_OK;
}

double fdpg_z_log(const FdpgZ *z) { return z->n > 0 ? z->log_sum - log((double)z->n) : -INFINITY; }

/* ---- baseline ---- */

int fdpg_baseline_init(FdpgBaseline *b, int cap) {
    memset(b, 0, sizeof *b);
    if (cap < 1) return tr_err(TR_EINVAL, "fdpg baseline: window %d must be >= 1", cap);
    b->v = calloc((size_t)cap, sizeof(double));
    if (!b->v) return tr_err(TR_ENOMEM, "out of memory");
    b->cap = cap;
    return TR_OK;
}

void fdpg_baseline_free(FdpgBaseline *b) {
    free(b->v);
    memset(b, 0, sizeof *b);
}

void fdpg_baseline_push(FdpgBaseline *b, double r) {
    b->v[b->head] = r;
    b->head = (b->head + 1) % b->cap;
    if (b->n < b->cap) b->n++;
}

double fdpg_baseline_mean(const FdpgBaseline *b) {
    double s = 0;
    for (int i = 0; i < b->n; i++) s += b->v[i];
    return b->n ? s / b->n : 0.0;
}

/* ---- coefficients and estimates ---- */

int fdpg_coefs(const FdpgCfg *c, const FdpgSamples *s, double baseline, double *R, double *coef, FdpgStats *st) {
    FdpgStats z = {0};
    double sw = 0, sw2 = 0;
    for (int i = 0; i < s->n; i++) {
        double lpi = s->lpi[i], lq = s->lq[i], lP = s->lP[i], lz = s->lz[i];
        const char *bad = !isfinite(lpi) ? "log pi" : !isfinite(lq) ? "log q" : s->la && !isfinite(s->la[i]) ? "log a"
                          : isnan(lP) || lP == INFINITY                                 ? "log P"
                          : (lP != -INFINITY && !isfinite(lz))                          ? "log Z"
                                                                                        : NULL;
        if (bad) return tr_err(TR_EINVAL, "f-DPG sample %d: %s is not finite", i, bad);
        int in = lP != -INFINITY;
        double lt = in ? lpi - lP + lz : c->clip_logt;
        if (lt > c->clip_logt) lt = c->clip_logt;
        if (lt < -c->clip_logt) lt = -c->clip_logt;
        double r = -fdpg_fprime(c->div, lt), w = exp(lpi - lq);
        if (R) R[i] = r;
        if (coef) coef[i] = w * (r - baseline);
        double pq = in ? exp(lP - lz - lq) : 0.0;
        if (in) {
            z.kl_p_pi += pq * (lP - lz - lpi);
            z.kl_p_q += pq * (lP - lz - lq);
            z.support++;
        }
        z.tv_p_pi += fabs(pq - w);
        if (s->la) z.kl_pi_a += w * (lpi - s->la[i]);
        z.r_mean += r;
        sw += w;
        sw2 += w * w;
        if (w > z.w_max) z.w_max = w;
    }
    if (s->n > 0) {
        double n = s->n;
        z.kl_p_pi /= n;
        z.kl_p_q /= n;
        z.tv_p_pi *= 0.5 / n;
        z.kl_pi_a /= n;
        z.r_mean /= n;
        z.w_mean = sw / n;
        z.ess = sw2 > 0 ? sw * sw / (n * sw2) : 0;
        z.support /= n;
    }
    if (z.support == 0) /* no sample where p lives: KL(p || .) cannot be estimated from these */
        z.kl_p_pi = z.kl_p_q = NAN;
    if (st) *st = z;
    return TR_OK;
}

int fdpg_loss(const RlBatch *b, const float *logp, const double *coef, double norm, float *dlogp, double *loss) {
    int rc = rl_batch_check(b);
    if (rc) return rc;
    if (norm <= 0) norm = b->N;
    if (dlogp) memset(dlogp, 0, (size_t)b->n_tok * sizeof(float));
    double total = 0;
    int64_t o = 0;
    for (int i = 0; i < b->N; i++) {
        if (!isfinite(coef[i])) return tr_err(TR_EINVAL, "f-DPG loss: coefficient of response %d is not finite", i);
        int64_t off = b->off ? b->off[i] : o;
        double s = 0;
        for (int t = 0; t < b->len[i]; t++) {
            s += logp[off + t];
            if (dlogp) dlogp[off + t] = (float)(-coef[i] / norm);
        }
        total += -coef[i] * s;
        o = off + b->len[i];
    }
    if (loss) *loss = total / norm;
    return TR_OK;
}

/* ---- lambda ---- */

/* Weights exp(lambda . phi_i - max), their sum, E[phi] (over the features
 * in use) and the dual log mean exp(lambda . phi) - lambda . mu. */
static double weigh(const double *phi, int n, int k, const double *lam, const double *mu, double *w, double *E) {
    double m = -INFINITY;
    for (int i = 0; i < n; i++) {
        double u = 0;
        for (int j = 0; j < k; j++) u += lam[j] * phi[(size_t)i * k + j];
        w[i] = u;
        if (u > m) m = u;
    }
    double W = 0;
    for (int j = 0; j < k; j++) E[j] = 0;
    for (int i = 0; i < n; i++) {
        w[i] = exp(w[i] - m);
        W += w[i];
        for (int j = 0; j < k; j++) E[j] += w[i] * phi[(size_t)i * k + j];
    }
    for (int j = 0; j < k; j++) E[j] /= W;
    double dual = m + log(W / n);
    for (int j = 0; j < k; j++) dual -= lam[j] * mu[j];
    return dual;
}

/* Solves H x = g in place (g becomes x) by Cholesky; H is k x k SPD. */
static int cholesky_solve(double *H, double *g, int k) {
    for (int j = 0; j < k; j++) {
        double d = H[j * k + j];
        for (int p = 0; p < j; p++) d -= H[j * k + p] * H[j * k + p];
        if (d <= 0) return -1;
        H[j * k + j] = sqrt(d);
        for (int i = j + 1; i < k; i++) {
            double s = H[i * k + j];
            for (int p = 0; p < j; p++) s -= H[i * k + p] * H[j * k + p];
            H[i * k + j] = s / H[j * k + j];
        }
    }
    for (int i = 0; i < k; i++) {
        for (int p = 0; p < i; p++) g[i] -= H[i * k + p] * g[p];
        g[i] /= H[i * k + i];
    }
    for (int i = k - 1; i >= 0; i--) {
        for (int p = i + 1; p < k; p++) g[i] -= H[p * k + i] * g[p];
        g[i] /= H[i * k + i];
    }
    return 0;
}

int fdpg_fit_lambda(const double *phi, int n, int k, const double *mu, const char *const *names, double tol,
                    int max_iter, double *lambda, FdpgFit *fit) {
    if (k < 1 || k > FDPG_MAX_FEATURES) return tr_err(TR_EINVAL, "f-DPG fit: %d features (1..%d)", k, FDPG_MAX_FEATURES);
    if (n < 2) return tr_err(TR_EINVAL, "f-DPG fit: %d samples, need at least 2", n);
    memset(fit, 0, sizeof *fit);
    for (int j = 0; j < k; j++) {
        double lo = INFINITY, hi = -INFINITY, s = 0;
        for (int i = 0; i < n; i++) {
            double v = phi[(size_t)i * k + j];
            if (!isfinite(v)) return tr_err(TR_EINVAL, "f-DPG fit: feature %s of sample %d is not finite", names ? names[j] : "?", i);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            s += v;
        }
        fit->base[j] = s / n;
        lambda[j] = 0;
        if (!(mu[j] > lo && mu[j] < hi))
            return tr_err(TR_EINVAL,
                          "fdpg.features: moment %g of '%s' is out of reach: its values over %d samples of the base "
                          "lie in [%g, %g] (mean %g); ask for a moment strictly inside, or raise fdpg.fit_samples",
                          mu[j], names ? names[j] : "?", n, lo, hi, s / n);
    }
    double *w = malloc((size_t)n * sizeof *w);
    if (!w) return tr_err(TR_ENOMEM, "out of memory");
    double E[FDPG_MAX_FEATURES], H[FDPG_MAX_FEATURES * FDPG_MAX_FEATURES], d[FDPG_MAX_FEATURES],
        trial[FDPG_MAX_FEATURES], Et[FDPG_MAX_FEATURES];
    double dual = weigh(phi, n, k, lambda, mu, w, E);
    for (fit->iters = 0; fit->iters < max_iter; fit->iters++) {
        fit->max_err = 0;
        for (int j = 0; j < k; j++) {
            d[j] = E[j] - mu[j];
            if (fabs(d[j]) > fit->max_err) fit->max_err = fabs(d[j]);
        }
        if (fit->max_err <= tol) {
            fit->converged = 1;
            break;
        }
        double W = 0;
        for (int i = 0; i < n; i++) W += w[i];
        memset(H, 0, sizeof H);
        for (int i = 0; i < n; i++)
            for (int a = 0; a < k; a++)
                for (int b = 0; b <= a; b++)
                    H[a * k + b] += w[i] / W * (phi[(size_t)i * k + a] - E[a]) * (phi[(size_t)i * k + b] - E[b]);
        for (int a = 0; a < k; a++) {
            H[a * k + a] += 1e-10;
            for (int b = 0; b < a; b++) H[b * k + a] = H[a * k + b];
        }
        if (cholesky_solve(H, d, k)) /* flat: a gradient step instead */
            for (int j = 0; j < k; j++) d[j] = E[j] - mu[j];
        double s = 1, dt = dual;
        for (int ls = 0; ls < 40; ls++, s *= 0.5) {
            for (int j = 0; j < k; j++) trial[j] = lambda[j] - s * d[j];
            dt = weigh(phi, n, k, trial, mu, w, Et);
            if (dt <= dual) break;
        }
        memcpy(lambda, trial, (size_t)k * sizeof *lambda);
        memcpy(E, Et, sizeof E);
        dual = dt;
    }
    /* the loop tests at its top: the moments after the last step too */
    fit->max_err = 0;
    for (int j = 0; j < k; j++)
        if (fabs(E[j] - mu[j]) > fit->max_err) fit->max_err = fabs(E[j] - mu[j]);
    fit->converged = fit->max_err <= tol;
    double sw = 0, sw2 = 0;
    for (int i = 0; i < n; i++) {
        sw += w[i];
        sw2 += w[i] * w[i];
    }
    fit->ess = sw * sw / (n * sw2);
    for (int j = 0; j < k; j++) fit->achieved[j] = E[j];
    free(w);
    return TR_OK;
}

/* ---- distinct-n ---- */

static uint64_t gram_hash(const int32_t *t, int ngram) {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (int j = 0; j < ngram; j++) {
        h ^= (uint64_t)(uint32_t)t[j];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h;
}

double fdpg_distinct(const int32_t *const *seq, const int *len, int n, int ngram) {
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (len[i] >= ngram) total += (size_t)(len[i] - ngram + 1);
    if (total == 0 || ngram < 1) return 0;
    size_t cap = 16;
    while (cap < 2 * total) cap <<= 1;
    const int32_t **slot = calloc(cap, sizeof *slot); /* the first occurrence of each n-gram */
    if (!slot) return NAN;
    size_t distinct = 0;
    for (int i = 0; i < n; i++)
        for (int p = 0; p + ngram <= len[i]; p++) {
            const int32_t *g = seq[i] + p;
            size_t h = (size_t)gram_hash(g, ngram) & (cap - 1);
            while (slot[h] && memcmp(slot[h], g, (size_t)ngram * sizeof *g)) h = (h + 1) & (cap - 1);
            if (!slot[h]) {
                slot[h] = g;
                distinct++;
            }
        }
    free(slot);
    return (double)distinct / (double)total;
}

double fdpg_unique(const int32_t *const *seq, const int *len, int n) {
    if (n <= 0) return 0;
    size_t cap = 16;
    while (cap < 2 * (size_t)n) cap <<= 1;
    int *slot = malloc(cap * sizeof *slot); /* index + 1 of the first of each sequence */
    if (!slot) return NAN;
    memset(slot, 0, cap * sizeof *slot);
    int distinct = 0;
    for (int i = 0; i < n; i++) {
        size_t h = (size_t)(gram_hash(seq[i], len[i]) ^ (uint64_t)len[i]) & (cap - 1);
        for (;; h = (h + 1) & (cap - 1)) {
            int j = slot[h] - 1;
            if (j < 0) {
                slot[h] = i + 1;
                distinct++;
                break;
            }
            if (len[j] == len[i] && !memcmp(seq[j], seq[i], (size_t)len[i] * sizeof *seq[i])) break;
        }
    }
    free(slot);
    return (double)distinct / n;
}
