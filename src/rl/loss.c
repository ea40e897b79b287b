/* KL estimators (k1, k2, k3), the clipped policy loss (clip-higher, dual
 * clip, KL in the loss) and the clipped value loss, each returning the loss,
 * its exact gradient per token and the step's metrics. Advantages and the
 * batch layout check live in advantage.c. Per-token math is in double. */
#include <math.h>
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/rl.h"

#define K3_CLAMP 10.0

/* ---- KL estimators ---------------------------------------------------- */

static const char *const KL_NAMES[KL_COUNT] = {"k1", "k2", "k3"};

int kl_parse(const char *name) {
    if (!name) return -1;
    for (int k = 0; k < KL_COUNT; k++)
        if (!strcmp(name, KL_NAMES[k])) return k;
    return -1;
}

const char *kl_name(KlKind k) { return (k >= 0 && k < KL_COUNT) ? KL_NAMES[k] : "unknown"; }

double kl_value(KlKind k, double logp, double ref_logp) {
    double x = ref_logp - logp;
    switch (k) {
    case KL_K1: return -x;
    case KL_K2: return 0.5 * x * x;
    case KL_K3:
        x = x < -K3_CLAMP ? -K3_CLAMP : (x > K3_CLAMP ? K3_CLAMP : x);
        return expm1(x) - x; /* exp(x) - x - 1 without cancellation near 0 */
    default: TR_ASSERT(!"unknown KL kind"); return 0;
    }
}

double kl_grad(KlKind k, double logp, double ref_logp) {
    double x = ref_logp - logp;
    switch (k) {
    case KL_K1: return 1.0;
    case KL_K2: return -x;
    case KL_K3: return (x < -K3_CLAMP || x > K3_CLAMP) ? 0.0 : -expm1(x);
    default: TR_ASSERT(!"unknown KL kind"); return 0;
    }
}

int kl_tokens(KlKind k, const RlBatch *b, const float *logp, const float *ref_logp, float scale,
              float *out, double *mean) {
    TR_ASSERT(b && logp && ref_logp && out);
    int rc = rl_batch_check(b);
    if (rc) return tr_err_ctx(rc, "kl");
    if ((int)k < 0 || k >= KL_COUNT) return tr_err(TR_EINVAL, "kl: unknown estimator %d", (int)k);
    if (!isfinite(scale)) return tr_err(TR_EINVAL, "kl: scale %g is not finite", (double)scale);
    if ((rc = rl_check_finite(b, logp, "logp")) || (rc = rl_check_finite(b, ref_logp, "ref_logp")))
        return tr_err_ctx(rc, "kl");
    memset(out, 0, (size_t)b->n_tok * sizeof *out);
    double s = 0;
    int64_t n = 0, run = 0;
    for (int i = 0; i < b->N; i++) {
        int64_t o = b->off ? b->off[i] : run;
        for (int t = 0; t < b->len[i]; t++) {
            double v = kl_value(k, logp[o + t], ref_logp[o + t]);
            s += v;
            out[o + t] = (float)(scale * v);
        }
        n += b->len[i];
        run = o + b->len[i];
    }
    if (mean) *mean = n ? s / (double)n : 0.0;
    return TR_OK;
}

/* ---- aggregation ------------------------------------------------------ */

static const char *const AGG_NAMES[AGG_COUNT] = {"token-mean", "seq-mean-token-mean",
                                                 "seq-mean-token-sum-norm"};

int loss_agg_parse(const char *name) {
    if (!name) return -1;
    for (int k = 0; k < AGG_COUNT; k++)
        if (!strcmp(name, AGG_NAMES[k])) return k;
    return -1;
}

const char *loss_agg_name(LossAgg a) { return (a >= 0 && a < AGG_COUNT) ? AGG_NAMES[a] : "unknown"; }

/* The weight of each token of response i in the aggregated loss:
 * loss = sum_i sum_t w_i L_it. */
typedef struct {
    LossAgg agg;
    double inv; /* 1 / (count divided by), times 1 / max_len for sum-norm */
} Agg;

static int agg_setup(const char *who, LossAgg agg, int max_len, double norm_count, const RlBatch *b,
                     Agg *a, int64_t *n_tok, int *n_seq) {
    if ((int)agg < 0 || agg >= AGG_COUNT) return tr_err(TR_EINVAL, "%s: unknown loss aggregation %d", who, (int)agg);
    if (!(norm_count >= 0 && isfinite(norm_count)))
        return tr_err(TR_EINVAL, "%s: norm_count = %g must be >= 0", who, norm_count);
    int64_t nt = 0;
    int ns = 0;
    for (int i = 0; i < b->N; i++) {
        nt += b->len[i];
        ns += b->len[i] > 0;
        if (agg == AGG_SEQ_MEAN_TOKEN_SUM_NORM && b->len[i] > max_len)
            return tr_err(TR_EINVAL, "%s: response %d has %d tokens, more than max_len = %d of %s", who, i,
                          b->len[i], max_len, AGG_NAMES[agg]);
    }
    if (agg == AGG_SEQ_MEAN_TOKEN_SUM_NORM && max_len <= 0)
        return tr_err(TR_EINVAL, "%s: %s needs max_len > 0", who, AGG_NAMES[agg]);
    double cnt = agg == AGG_TOKEN_MEAN ? (double)nt : agg == AGG_SEQ_MEAN_TOKEN_MEAN ? ns : b->N;
    if (norm_count > 0) cnt = norm_count;
    a->agg = agg;
    a->inv = cnt > 0 ? 1.0 / cnt : 0.0;
    if (agg == AGG_SEQ_MEAN_TOKEN_SUM_NORM) a->inv /= max_len;
    *n_tok = nt;
    *n_seq = ns;
    return TR_OK;
}

static inline double agg_weight(const Agg *a, int len) {
    return a->agg == AGG_SEQ_MEAN_TOKEN_MEAN ? a->inv / len : a->inv;
}

/* ---- policy loss ------------------------------------------------------ */

PolicyLossCfg policy_loss_cfg_default(void) {
    PolicyLossCfg c;
    memset(&c, 0, sizeof c);
    c.eps_low = 0.2f;
    c.eps_high = 0.2f;
    c.agg = AGG_TOKEN_MEAN;
    c.kl = KL_K3;
    return c;
}

int policy_loss(const PolicyLossCfg *c, const RlBatch *b, const float *logp, const float *old_logp,
                const float *ref_logp, const float *adv, float *dlogp, PolicyLossStats *st) {
    TR_ASSERT(c && b && logp && old_logp && adv);
    PolicyLossStats s;
    memset(&s, 0, sizeof s);
    if (st) *st = s;
    int rc = rl_batch_check(b);
    if (rc) return tr_err_ctx(rc, "policy_loss");
    if (!(c->eps_low >= 0 && c->eps_low < 1) || !(c->eps_high >= 0 && isfinite(c->eps_high)))
        return tr_err(TR_EINVAL, "policy_loss: clip range eps_low = %g, eps_high = %g (need 0 <= eps_low < 1, eps_high >= 0)",
                      (double)c->eps_low, (double)c->eps_high);
    if (!(c->dual_clip_c == 0 || (c->dual_clip_c > 1 && isfinite(c->dual_clip_c))))
        return tr_err(TR_EINVAL, "policy_loss: dual_clip_c = %g must be 0 (off) or > 1", (double)c->dual_clip_c);
    if (!(c->beta >= 0 && isfinite(c->beta)))
        return tr_err(TR_EINVAL, "policy_loss: beta = %g must be >= 0", (double)c->beta);
    if ((int)c->kl < 0 || c->kl >= KL_COUNT) return tr_err(TR_EINVAL, "policy_loss: unknown KL estimator %d", (int)c->kl);
    const int kl_on = c->kl_in_loss && c->beta > 0;
    if (kl_on && !ref_logp)
        return tr_err(TR_EINVAL, "policy_loss: the KL term (beta = %g) needs the reference log-probs", (double)c->beta);
    Agg ag;
    if ((rc = agg_setup("policy_loss", c->agg, c->max_len, c->norm_count, b, &ag, &s.n_tokens, &s.n_seqs)))
        return rc;
    if ((rc = rl_check_finite(b, logp, "logp")) || (rc = rl_check_finite(b, old_logp, "old_logp")) ||
        (rc = rl_check_finite(b, adv, "adv")) || (ref_logp && (rc = rl_check_finite(b, ref_logp, "ref_logp"))))
        return tr_err_ctx(rc, "policy_loss");

    if (dlogp) memset(dlogp, 0, (size_t)b->n_tok * sizeof *dlogp);
    const double lo = 1.0 - (double)c->eps_low, hi = 1.0 + (double)c->eps_high, dc = c->dual_clip_c;
    const double beta = c->beta;
    double pg = 0, klagg = 0, klsum = 0, rsum = 0, lrabs = 0, rmax = -INFINITY, rmin = INFINITY;
    int64_t n_hi = 0, n_lo = 0, n_dual = 0, run = 0;
    for (int i = 0; i < b->N; i++) {
        int64_t o = b->off ? b->off[i] : run;
        const int n = b->len[i];
        run = o + n;
        if (!n) continue;
        const double w = agg_weight(&ag, n);
        for (int64_t p = o; p < o + n; p++) {
            const double A = adv[p], lr = (double)logp[p] - old_logp[p], rho = exp(lr);
            const double rc_ = rho < lo ? lo : (rho > hi ? hi : rho);
            double L = -A * rho, g = -A * rho;
            if (-A * rc_ > L) { /* the clipped term wins: constant in logp */
                L = -A * rc_;
                g = 0;
                if (A > 0) n_hi++;
                else n_lo++;
            }
            if (dc > 0 && A < 0 && -dc * A < L) {
                L = -dc * A;
                g = 0;
                n_dual++;
            }
            pg += w * L;
            if (ref_logp) {
                double k = kl_value(c->kl, logp[p], ref_logp[p]);
                klsum += k;
                klagg += w * k;
                if (kl_on) g += beta * kl_grad(c->kl, logp[p], ref_logp[p]);
            }
            if (dlogp) dlogp[p] = (float)(w * g);
            rsum += rho;
            lrabs += fabs(lr);
            rmax = rho > rmax ? rho : rmax;
            rmin = rho < rmin ? rho : rmin;
        }
    }
    s.pg_loss = pg;
    s.kl_loss = klagg;
    s.loss = pg + (kl_on ? beta * klagg : 0.0);
    if (s.n_tokens) {
        const double nt = (double)s.n_tokens;
        s.kl_mean = klsum / nt;
        s.clip_frac_high = (double)n_hi / nt;
        s.clip_frac_low = (double)n_lo / nt;
        s.clip_frac = (double)(n_hi + n_lo) / nt;
        s.dual_clip_frac = (double)n_dual / nt;
        s.ratio_mean = rsum / nt;
        s.ratio_max = rmax;
        s.ratio_min = rmin;
        s.logratio_abs_mean = lrabs / nt;
    }
    if (st) *st = s;
    return TR_OK;
}

/* ---- value loss ------------------------------------------------------- */

int value_loss(const ValueLossCfg *c, const RlBatch *b, const float *v, const float *v_old,
               const float *ret, float *dv, ValueLossStats *st) {
    TR_ASSERT(c && b && v && ret);
    ValueLossStats s;
    memset(&s, 0, sizeof s);
    if (st) *st = s;
    int rc = rl_batch_check(b);
    if (rc) return tr_err_ctx(rc, "value_loss");
    if (!isfinite(c->eps_v)) return tr_err(TR_EINVAL, "value_loss: eps_v is not finite");
    const int clip = c->eps_v > 0;
    if (clip && !v_old) return tr_err(TR_EINVAL, "value_loss: clipping (eps_v = %g) needs the old values", (double)c->eps_v);
    Agg ag;
    int n_seqs;
    if ((rc = agg_setup("value_loss", c->agg, c->max_len, c->norm_count, b, &ag, &s.n_tokens, &n_seqs)))
        return rc;
    if ((rc = rl_check_finite(b, v, "values")) || (rc = rl_check_finite(b, ret, "returns")) ||
        (clip && (rc = rl_check_finite(b, v_old, "old_values"))))
        return tr_err_ctx(rc, "value_loss");

    if (dv) memset(dv, 0, (size_t)b->n_tok * sizeof *dv);
    const double e = c->eps_v;
    double loss = 0, sv = 0, sr = 0;
    int64_t n_clip = 0, run = 0;
    for (int i = 0; i < b->N; i++) {
        int64_t o = b->off ? b->off[i] : run;
        const int n = b->len[i];
        run = o + n;
        if (!n) continue;
        const double w = agg_weight(&ag, n);
        for (int64_t p = o; p < o + n; p++) {
            const double V = v[p], R = ret[p];
            double L = 0.5 * (V - R) * (V - R), g = V - R;
            if (clip) {
                const double vo = v_old[p], vl = vo - e, vh = vo + e;
                const double vc = V < vl ? vl : (V > vh ? vh : V);
                const double Lc = 0.5 * (vc - R) * (vc - R);
                if (Lc > L) { /* only when V is outside the range: vc is constant */
                    L = Lc;
                    g = 0;
                    n_clip++;
                }
            }
            loss += w * L;
            if (dv) dv[p] = (float)(w * g);
            sv += V;
            sr += R;
        }
    }
    s.loss = loss;
    if (s.n_tokens) {
        const double nt = (double)s.n_tokens;
        s.clip_frac = (double)n_clip / nt;
        s.v_mean = sv / nt;
        s.ret_mean = sr / nt;
        /* explained variance: second pass for the centred sums */
        double res_m = s.ret_mean - s.v_mean, qr = 0, qe = 0;
        run = 0;
        for (int i = 0; i < b->N; i++) {
            int64_t o = b->off ? b->off[i] : run;
            run = o + b->len[i];
            for (int64_t p = o; p < run; p++) {
                double dr = ret[p] - s.ret_mean, de = (double)ret[p] - v[p] - res_m;
                qr += dr * dr;
                qe += de * de;
            }
        }
        s.explained_var = qr > 0 ? 1.0 - qe / qr : 0.0;
    }
    if (st) *st = s;
    return TR_OK;
}
