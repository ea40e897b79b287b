/* Advantage estimators of ALGORITHMS 2 (grpo, dr_grpo, rloo, reinforce_pp,
 * reinforce_pp_baseline, remax, gae), the batch layout check, whitening and
 * token statistics. Losses and KL live in loss.c. Everything accumulates in
 * double, and whitened quantities are recomputed in double on each pass
 * rather than rounded to float before the batch mean is taken. */
#include <math.h>
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/rl.h"

#define GRPO_STD_EPS 1e-6
#define WHITEN_EPS 1e-8

static const char *const ADV_NAMES[ADV_COUNT] = {
    "grpo", "dr_grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline", "remax", "gae",
};

int adv_parse(const char *name) {
    if (!name) return -1;
    for (int k = 0; k < ADV_COUNT; k++)
        if (!strcmp(name, ADV_NAMES[k])) return k;
    if (!strcmp(name, "ppo")) return ADV_GAE;
    return -1;
}

const char *adv_name(AdvKind kind) {
    return (kind >= 0 && kind < ADV_COUNT) ? ADV_NAMES[kind] : "unknown";
}

AdvCfg adv_cfg_default(AdvKind kind) {
    AdvCfg c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.gamma = 1.0f;
    c.lambda_actor = 0.95f;
    c.lambda_critic = 1.0f;
    return c;
}

/* First token of response i; `run` is the end of the previous response when
 * the batch has no offsets. */
static inline int64_t tok_off(const RlBatch *b, int i, int64_t run) {
    return b->off ? b->off[i] : run;
}

int rl_batch_check(const RlBatch *b) {
    TR_ASSERT(b);
    if (b->N < 0 || b->G < 1 || b->n_tok < 0)
        return tr_err(TR_EINVAL, "rl batch: N %d, G %d, n_tok %lld must be >= 0, >= 1, >= 0", b->N,
                      b->G, (long long)b->n_tok);
    if (b->N % b->G)
        return tr_err(TR_EINVAL, "rl batch: N = %d responses is not a multiple of the group size G = %d",
                      b->N, b->G);
    if (b->N > 0 && !b->len) return tr_err(TR_EINVAL, "rl batch: no lengths");
    int64_t run = 0;
    for (int i = 0; i < b->N; i++) {
        int64_t o = tok_off(b, i, run), n = b->len[i];
        if (n < 0) return tr_err(TR_EINVAL, "rl batch: response %d has length %lld", i, (long long)n);
        if (o < run || o > b->n_tok - n)
            return tr_err(TR_EINVAL,
                          "rl batch: response %d at tokens [%lld, %lld) overlaps the previous one "
                          "(ends at %lld) or leaves [0, n_tok = %lld)",
                          i, (long long)o, (long long)(o + n), (long long)run, (long long)b->n_tok);
        run = o + n;
    }
    if (!b->off && run != b->n_tok)
        return tr_err(TR_EINVAL, "rl batch: packed responses hold %lld tokens but n_tok = %lld",
                      (long long)run, (long long)b->n_tok);
    return TR_OK;
}

int rl_check_finite(const RlBatch *b, const float *x, const char *what) {
    TR_ASSERT(x && what);
    int rc = rl_batch_check(b);
    if (rc) return rc;
    int64_t run = 0;
    for (int i = 0; i < b->N; i++) {
        int64_t o = tok_off(b, i, run);
        for (int t = 0; t < b->len[i]; t++)
            if (!isfinite(x[o + t]))
                return tr_err(TR_EINVAL, "%s[%lld] = %g is not finite (response %d, position %d)", what,
                              (long long)(o + t), (double)x[o + t], i, t);
        run = o + b->len[i];
    }
    return TR_OK;
}

static int check_finite_n(const float *x, int n, const char *what) {
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i])) return tr_err(TR_EINVAL, "%s[%d] = %g is not finite", what, i, (double)x[i]);
    return TR_OK;
}

int rl_tok_stats(const RlBatch *b, const float *x, RlTokStats *st) {
    TR_ASSERT(x && st);
    memset(st, 0, sizeof *st);
    int rc = rl_batch_check(b);
    if (rc) return rc;
    double s = 0, lo = INFINITY, hi = -INFINITY;
    int64_t n = 0, run = 0;
    for (int i = 0; i < b->N; i++) {
        int64_t o = tok_off(b, i, run);
        for (int t = 0; t < b->len[i]; t++) {
            double v = x[o + t];
            s += v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        n += b->len[i];
        run = o + b->len[i];
    }
    if (!n) return TR_OK;
    double m = s / (double)n, q = 0;
    run = 0;
    for (int i = 0; i < b->N; i++) {
        int64_t o = tok_off(b, i, run);
        for (int t = 0; t < b->len[i]; t++) q += (x[o + t] - m) * (x[o + t] - m);
        run = o + b->len[i];
    }
    st->mean = m;
    st->std = sqrt(q / (double)n);
    st->min = lo;
    st->max = hi;
    st->n = n;
    return TR_OK;
}

/* ---- per-token sequences recomputed in double on every pass ---------------
 * A Sink receives the values of one pass: SUM and SQDEV gather the batch mean
 * and variance, WRITE stores (v - mean) * inv (+ addv[pos]) as float. */
typedef enum { SINK_SUM, SINK_SQDEV, SINK_WRITE } SinkOp;
typedef struct {
    SinkOp op;
    double sum, sq, mean, inv;
    float *out;
    const float *addv;
} Sink;

static inline void sink_put(Sink *k, int64_t pos, double v) {
    switch (k->op) {
    case SINK_SUM: k->sum += v; break;
    case SINK_SQDEV: k->sq += (v - k->mean) * (v - k->mean); break;
    case SINK_WRITE: k->out[pos] = (float)((v - k->mean) * k->inv + (k->addv ? k->addv[pos] : 0.0)); break;
    }
}

/* What one pass over the batch computes. */
typedef struct {
    const AdvCfg *c;
    const RlBatch *b;
    const float *reward, *tok_reward, *values;
    double lambda;        /* gae: this pass's lambda (ignored with vapo for the actor) */
    int vapo;             /* gae actor with the length-adaptive lambda */
} Seq;

/* Whether the rewards of response i's group are all equal: such a group
 * gets advantage exactly 0 from the group baselines (the mean of equal
 * floats need not round back to them). */
static int group_flat(const float *reward, int G, int i) {
    const int g0 = i - i % G;
    for (int j = 1; j < G; j++)
        if (reward[g0 + j] != reward[g0]) return 0;
    return 1;
}

/* Scalar reward of response i as placed on its last token. */
static double seq_scalar(const Seq *q, int i) {
    double r = q->reward[i];
    if (q->c->kind == ADV_REINFORCE_PP_BASELINE) {
        if (group_flat(q->reward, q->b->G, i)) return 0.0;
        int g0 = i - i % q->b->G;
        double m = 0;
        for (int j = 0; j < q->b->G; j++) m += q->reward[g0 + j];
        r -= m / q->b->G;
    }
    return r;
}

/* Runs one pass: reinforce_pp returns G_t or gae advantages A_t into k. */
static void seq_pass(const Seq *q, Sink *k) {
    const RlBatch *b = q->b;
    const double gamma = q->c->gamma;
    const int gae = q->c->kind == ADV_GAE;
    int64_t run = 0;
    for (int i = 0; i < b->N; i++) {
        int64_t o = tok_off(b, i, run);
        int n = b->len[i];
        run = o + n;
        if (!n) continue;
        double s = seq_scalar(q, i), acc = 0, vnext = 0, lam = q->lambda;
        if (q->vapo) {
            lam = 1.0 - 1.0 / ((double)q->c->vapo_alpha * n);
            if (lam < 0) lam = 0;
        }
        for (int t = n - 1; t >= 0; t--) {
            double r = (q->tok_reward ? q->tok_reward[o + t] : 0.0) + (t == n - 1 ? s : 0.0);
            if (gae) {
                double v = q->values[o + t];
                acc = r + gamma * vnext - v + gamma * lam * acc;
                vnext = v;
            } else {
                acc = r + gamma * acc;
            }
            sink_put(k, o + t, acc);
        }
    }
}

/* Writes the pass's values to out, whitened over the batch unless `raw`. */
static void seq_emit(const Seq *q, float *out, const float *addv, int raw, int population) {
    Sink k = {.op = SINK_WRITE, .mean = 0, .inv = 1, .out = out, .addv = addv};
    if (!raw) {
        int64_t n = 0;
        for (int i = 0; i < q->b->N; i++) n += q->b->len[i];
        Sink a = {.op = SINK_SUM};
        seq_pass(q, &a);
        a.mean = n ? a.sum / (double)n : 0.0;
        a.op = SINK_SQDEV;
        seq_pass(q, &a);
        double var = population ? (n ? a.sq / (double)n : 0.0) : (n > 1 ? a.sq / (double)(n - 1) : 0.0);
        k.mean = a.mean;
        k.inv = 1.0 / sqrt(var + WHITEN_EPS);
    }
    seq_pass(q, &k);
}

int rl_whiten(const RlBatch *b, float *x, int population) {
    TR_ASSERT(x);
    int rc = rl_batch_check(b);
    if (rc) return rc;
    double s = 0, q = 0;
    int64_t n = 0, run = 0;
    for (int i = 0; i < b->N; i++) {
        int64_t o = tok_off(b, i, run);
        for (int t = 0; t < b->len[i]; t++) s += x[o + t];
        n += b->len[i];
        run = o + b->len[i];
    }
    if (!n) return TR_OK;
    double m = s / (double)n;
    run = 0;
    for (int i = 0; i < b->N; i++) {
        int64_t o = tok_off(b, i, run);
        for (int t = 0; t < b->len[i]; t++) q += (x[o + t] - m) * (x[o + t] - m);
        run = o + b->len[i];
    }
    double var = population ? q / (double)n : (n > 1 ? q / (double)(n - 1) : 0.0);
    double inv = 1.0 / sqrt(var + WHITEN_EPS);
    run = 0;
    for (int i = 0; i < b->N; i++) {
        int64_t o = tok_off(b, i, run);
        for (int t = 0; t < b->len[i]; t++) x[o + t] = (float)((x[o + t] - m) * inv);
        run = o + b->len[i];
    }
    return TR_OK;
}

/* Scalar advantage of every response for the broadcast estimators. */
static double group_adv(const AdvCfg *c, const RlBatch *b, const float *reward, const float *baseline,
                        int i) {
    const int G = b->G, g0 = i - i % G;
    double m = 0;
    switch (c->kind) {
    case ADV_REMAX: return (double)reward[i] - baseline[i];
    case ADV_RLOO: {
        if (group_flat(reward, G, i)) return 0.0;
        double s = 0;
        for (int j = 0; j < G; j++)
            if (g0 + j != i) s += reward[g0 + j];
        return reward[i] - s / (G - 1);
    }
    default: break;
    }
    if (group_flat(reward, G, i)) return 0.0;
    for (int j = 0; j < G; j++) m += reward[g0 + j];
    m /= G;
    if (c->kind == ADV_DR_GRPO) return reward[i] - m;
    double q = 0;
    for (int j = 0; j < G; j++) q += (reward[g0 + j] - m) * (reward[g0 + j] - m);
    double sd = sqrt(c->std_population ? q / G : q / (G - 1));
    return (reward[i] - m) / (sd + GRPO_STD_EPS);
}

static int cfg_check(const AdvCfg *c) {
    if ((int)c->kind < 0 || c->kind >= ADV_COUNT)
        return tr_err(TR_EINVAL, "adv: unknown estimator %d", (int)c->kind);
    if (!(c->gamma >= 0 && c->gamma <= 1))
        return tr_err(TR_EINVAL, "adv: gamma = %g must lie in [0, 1]", (double)c->gamma);
    if (c->kind == ADV_GAE) {
        if (!(c->lambda_actor >= 0 && c->lambda_actor <= 1) || !(c->lambda_critic >= 0 && c->lambda_critic <= 1))
            return tr_err(TR_EINVAL, "adv: gae lambdas (actor %g, critic %g) must lie in [0, 1]",
                          (double)c->lambda_actor, (double)c->lambda_critic);
        if (!(c->vapo_alpha >= 0 && isfinite(c->vapo_alpha)))
            return tr_err(TR_EINVAL, "adv: vapo_alpha = %g must be >= 0", (double)c->vapo_alpha);
    }
    return TR_OK;
}

int adv_compute(const AdvCfg *c, const RlBatch *b, const float *reward, const float *tok_reward,
                const float *baseline, const float *values, float *adv, float *returns) {
    TR_ASSERT(c && b && adv);
    int rc = rl_batch_check(b);
    if (rc) return tr_err_ctx(rc, "adv");
    if ((rc = cfg_check(c))) return rc;
    TR_ASSERT(reward || b->N == 0);
    const AdvKind k = c->kind;
    const char *name = adv_name(k);
    const int seq = k == ADV_REINFORCE_PP || k == ADV_REINFORCE_PP_BASELINE || k == ADV_GAE;
    if (tok_reward && !seq)
        return tr_err(TR_EINVAL,
                      "adv: %s takes no per-token reward (a KL in the reward needs reinforce_pp, "
                      "reinforce_pp_baseline or gae)", name);
    if ((k == ADV_REMAX) != (baseline != NULL))
        return tr_err(TR_EINVAL, "adv: %s", k == ADV_REMAX ? "remax needs the greedy-response rewards (baseline)"
                                                           : "a baseline is only used by remax");
    if ((k == ADV_GAE) != (values != NULL))
        return tr_err(TR_EINVAL, "adv: %s", k == ADV_GAE ? "gae needs the critic's values" : "values are only used by gae");
    if (k == ADV_GAE && !returns) return tr_err(TR_EINVAL, "adv: gae needs an output for the returns");
    if (b->G < 2 && (k == ADV_RLOO || (k == ADV_GRPO && !c->std_population)))
        return tr_err(TR_EINVAL, "adv: %s needs groups of G >= 2 responses, got G = %d%s", name, b->G,
                      k == ADV_GRPO ? " (the unbiased std of one reward is undefined)" : "");
    if ((rc = check_finite_n(reward, b->N, "reward"))) return tr_err_ctx(rc, "adv");
    if (baseline && (rc = check_finite_n(baseline, b->N, "baseline"))) return tr_err_ctx(rc, "adv");
    if (tok_reward && (rc = rl_check_finite(b, tok_reward, "tok_reward"))) return tr_err_ctx(rc, "adv");
    if (values && (rc = rl_check_finite(b, values, "values"))) return tr_err_ctx(rc, "adv");

    memset(adv, 0, (size_t)b->n_tok * sizeof *adv);
    if (returns) memset(returns, 0, (size_t)b->n_tok * sizeof *returns);
    if (!seq) {
        int64_t run = 0;
        for (int i = 0; i < b->N; i++) {
            int64_t o = tok_off(b, i, run);
            float a = (float)group_adv(c, b, reward, baseline, i);
            for (int t = 0; t < b->len[i]; t++) adv[o + t] = a;
            if (returns)
                for (int t = 0; t < b->len[i]; t++) returns[o + t] = a;
            run = o + b->len[i];
        }
        return TR_OK;
    }
    Seq q = {.c = c, .b = b, .reward = reward, .tok_reward = tok_reward, .values = values};
    if (k == ADV_GAE) {
        q.lambda = c->lambda_critic;
        seq_emit(&q, returns, values, 1, 0);
        q.lambda = c->lambda_actor;
        q.vapo = c->vapo_alpha > 0;
    } else if (returns) {
        seq_emit(&q, returns, NULL, 1, 0);
    }
    seq_emit(&q, adv, NULL, c->no_whiten, c->std_population);
    return TR_OK;
}
