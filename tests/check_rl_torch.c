/* Writes seeded random RL batches, and what the C advantage estimators, KL,
 * policy loss and value loss make of them, to DIR/rl_cases.json, then runs
 * tests/rl_torch_ref.py, which recomputes everything in float64 PyTorch
 * (autograd for the gradients) and compares.
 *   check_rl_torch PYTHON SCRIPT DIR
 * Exit status: the script's (0 pass, 1 mismatch, 77 no torch: skipped).
 * Positions that no response owns hold NaN in every input, so a read of one
 * shows up as a NaN in the outputs; their outputs must be 0. */
#include <string.h>

#include "testutil.h"
#include "thinkrl/rl.h"

#define NB 3

typedef struct {
    const char *name;
    int N, G, packed;
    int64_t off[16];
    int len[16];
    int64_t n_tok;
    float reward[16], baseline[16];
    float *old_logp, *logp, *ref_logp, *adv, *values, *values_old, *returns;
} Batch;

static RlBatch rl(const Batch *b) {
    return (RlBatch){.N = b->N, .G = b->G, .off = b->packed ? NULL : b->off, .len = b->len, .n_tok = b->n_tok};
}

static int owned(const Batch *b, int64_t p) {
    for (int i = 0; i < b->N; i++)
        if (p >= b->off[i] && p < b->off[i] + b->len[i]) return 1;
    return 0;
}

static void make_batch(Batch *b, const char *name, int N, int G, const int *len, int packed, Rng *r) {
    memset(b, 0, sizeof *b);
    b->name = name;
    b->N = N;
    b->G = G;
    b->packed = packed;
    int64_t o = 0;
    for (int i = 0; i < N; i++) {
        if (!packed) o += (int64_t)(rng_u64(r) % 3); /* gaps: prompt tokens, padding */
        b->off[i] = o;
        b->len[i] = len[i];
        o += len[i];
    }
    b->n_tok = o + (packed ? 0 : 2);
    for (int i = 0; i < N; i++) {
        int g = i / G;
        /* group 0 binary, group 1 continuous, group 2 all equal (zero std) */
        b->reward[i] = g % 3 == 0 ? (float)(rng_u64(r) % 2) : g % 3 == 1 ? rng_normal(r) : 0.5f;
    }
    for (int g = 0; g < N / G; g++) {
        float greedy = (float)(rng_u64(r) % 2) * 0.75f;
        for (int j = 0; j < G; j++) b->baseline[g * G + j] = greedy;
    }
    size_t n = (size_t)b->n_tok;
    float **arrs[7] = {&b->old_logp, &b->logp, &b->ref_logp, &b->adv, &b->values, &b->values_old, &b->returns};
    for (int k = 0; k < 7; k++) *arrs[k] = malloc((n + 1) * sizeof(float));
    for (size_t p = 0; p < n; p++) {
        if (!owned(b, (int64_t)p)) {
            for (int k = 0; k < 7; k++) (*arrs[k])[p] = NAN;
            continue;
        }
        float old = -1.5f * fabsf(rng_normal(r)) - 0.05f;
        float lp = old + 0.35f * rng_normal(r);
        if (p % 9 == 4) lp += 1.3f; /* ratio ~4: dual clip when A < 0 */
        if (p % 9 == 7) lp -= 1.0f; /* ratio ~0.4 */
        float ref = lp + 0.6f * rng_normal(r);
        if (p % 17 == 3) ref = lp + (p % 2 ? 11.5f : -11.5f); /* k3 clamp */
        b->old_logp[p] = old;
        b->logp[p] = lp;
        b->ref_logp[p] = ref;
        b->adv[p] = rng_normal(r);
        b->values[p] = 0.5f * rng_normal(r);
        b->values_old[p] = b->values[p] + 0.3f * rng_normal(r);
        b->returns[p] = rng_normal(r);
    }
}

static void batch_free(Batch *b) {
    free(b->old_logp), free(b->logp), free(b->ref_logp), free(b->adv), free(b->values), free(b->values_old),
        free(b->returns);
}

/* ---- JSON writing: floats with 9 significant digits (exact for float32),
 * doubles with 17; non-finite as NaN / Infinity (Python's json reads them). */

static void jnum(FILE *f, double v, int digits) {
    if (isnan(v)) fputs("NaN", f);
    else if (isinf(v)) fputs(v > 0 ? "Infinity" : "-Infinity", f);
    else fprintf(f, "%.*g", digits, v);
}

static void jf32(FILE *f, const char *key, const float *x, int64_t n) {
    fprintf(f, "\"%s\": [", key);
    for (int64_t i = 0; i < n; i++) {
        if (i) fputc(',', f);
        jnum(f, x[i], 9);
    }
    fputs("], ", f);
}

static void jint(FILE *f, const char *key, const int *x, int n) {
    fprintf(f, "\"%s\": [", key);
    for (int i = 0; i < n; i++) fprintf(f, "%s%d", i ? "," : "", x[i]);
    fputs("], ", f);
}

static void jd(FILE *f, const char *key, double v) {
    fprintf(f, "\"%s\": ", key);
    jnum(f, v, 17);
    fputs(", ", f);
}

static void write_batch(FILE *f, const Batch *b) {
    fprintf(f, "{\"name\": \"%s\", \"N\": %d, \"G\": %d, \"n_tok\": %lld, ", b->name, b->N, b->G,
            (long long)b->n_tok);
    if (b->packed) fputs("\"off\": null, ", f);
    else {
        fputs("\"off\": [", f);
        for (int i = 0; i < b->N; i++) fprintf(f, "%s%lld", i ? "," : "", (long long)b->off[i]);
        fputs("], ", f);
    }
    jint(f, "len", b->len, b->N);
    jf32(f, "reward", b->reward, b->N);
    jf32(f, "baseline", b->baseline, b->N);
    jf32(f, "old_logp", b->old_logp, b->n_tok);
    jf32(f, "logp", b->logp, b->n_tok);
    jf32(f, "ref_logp", b->ref_logp, b->n_tok);
    jf32(f, "adv", b->adv, b->n_tok);
    jf32(f, "values", b->values, b->n_tok);
    jf32(f, "values_old", b->values_old, b->n_tok);
    jf32(f, "returns", b->returns, b->n_tok);
    fputs("\"end\": 0}", f);
}

static int fail(const char *what) {
    fprintf(stderr, "check_rl_torch: %s: %s\n", what, tr_errmsg());
    return -1;
}

/* ---- cases ------------------------------------------------------------- */

typedef struct {
    AdvKind kind;
    float gamma, lambda_actor, lambda_critic, vapo_alpha;
    int std_population, no_whiten;
    int kl; /* -1: no KL in the reward, else its kind (beta KL_BETA) */
} AdvCase;

#define KL_BETA 0.05f

static int write_adv_cases(FILE *f, const Batch *bs, int *first) {
    const AdvCase cases[] = {
        {ADV_GRPO, 1, 0, 0, 0, 0, 0, -1},
        {ADV_GRPO, 1, 0, 0, 0, 1, 0, -1},
        {ADV_DR_GRPO, 1, 0, 0, 0, 0, 0, -1},
        {ADV_RLOO, 1, 0, 0, 0, 0, 0, -1},
        {ADV_REMAX, 1, 0, 0, 0, 0, 0, -1},
        {ADV_REINFORCE_PP, 1, 0, 0, 0, 0, 0, -1},
        {ADV_REINFORCE_PP, 1, 0, 0, 0, 0, 0, KL_K1},
        {ADV_REINFORCE_PP, 1, 0, 0, 0, 0, 0, KL_K2},
        {ADV_REINFORCE_PP, 1, 0, 0, 0, 0, 0, KL_K3},
        {ADV_REINFORCE_PP, 0.9f, 0, 0, 0, 0, 0, KL_K3},
        {ADV_REINFORCE_PP, 0.9f, 0, 0, 0, 0, 1, KL_K2},
        {ADV_REINFORCE_PP, 1, 0, 0, 0, 1, 0, KL_K1},
        {ADV_REINFORCE_PP_BASELINE, 1, 0, 0, 0, 0, 0, -1},
        {ADV_REINFORCE_PP_BASELINE, 0.95f, 0, 0, 0, 0, 0, KL_K3},
        {ADV_GAE, 1, 0.95f, 1, 0, 0, 0, -1},
        {ADV_GAE, 0.99f, 0.95f, 1, 0, 0, 0, KL_K1},
        {ADV_GAE, 0.99f, 0.95f, 1, 0, 0, 0, KL_K2},
        {ADV_GAE, 0.99f, 0.9f, 0.97f, 0, 0, 0, KL_K3},
        {ADV_GAE, 1, 0.95f, 1, 0.05f, 0, 0, KL_K3},
        {ADV_GAE, 1, 0.95f, 1, 0.3f, 0, 0, -1},
        {ADV_GAE, 0.9f, 0.8f, 1, 0, 0, 1, KL_K2},
        {ADV_GAE, 1, 1, 1, 0, 1, 0, KL_K1},
    };
    int n = 0;
    for (int bi = 0; bi < NB; bi++) {
        const Batch *b = &bs[bi];
        RlBatch rb = rl(b);
        size_t nt = (size_t)b->n_tok;
        float *adv = malloc((nt + 1) * sizeof(float)), *ret = malloc((nt + 1) * sizeof(float));
        float *tokr = malloc((nt + 1) * sizeof(float));
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            const AdvCase *a = &cases[k];
            AdvCfg c = adv_cfg_default(a->kind);
            c.gamma = a->gamma;
            if (a->kind == ADV_GAE) {
                c.lambda_actor = a->lambda_actor;
                c.lambda_critic = a->lambda_critic;
                c.vapo_alpha = a->vapo_alpha;
            }
            c.std_population = a->std_population;
            c.no_whiten = a->no_whiten;
            if (a->kl >= 0 && kl_tokens((KlKind)a->kl, &rb, b->old_logp, b->ref_logp, -KL_BETA, tokr, NULL))
                return fail("kl_tokens");
            int rc = adv_compute(&c, &rb, b->reward, a->kl >= 0 ? tokr : NULL,
                                 a->kind == ADV_REMAX ? b->baseline : NULL,
                                 a->kind == ADV_GAE ? b->values : NULL, adv, ret);
            if (rc) return fail(adv_name(a->kind));
            fprintf(f, "%s{\"batch\": %d, \"kind\": \"%s\", ", *first ? "" : ",\n", bi, adv_name(a->kind));
            *first = 0;
            jd(f, "gamma", c.gamma);
            jd(f, "lambda_actor", c.lambda_actor);
            jd(f, "lambda_critic", c.lambda_critic);
            jd(f, "vapo_alpha", c.vapo_alpha);
            fprintf(f, "\"std_population\": %d, \"no_whiten\": %d, ", c.std_population, c.no_whiten);
            if (a->kl >= 0) {
                fprintf(f, "\"kl\": \"%s\", ", kl_name((KlKind)a->kl));
                jd(f, "kl_beta", KL_BETA);
            } else {
                fputs("\"kl\": null, ", f);
            }
            jf32(f, "out_adv", adv, b->n_tok);
            jf32(f, "out_returns", ret, b->n_tok);
            fputs("\"end\": 0}", f);
            n++;
        }
        free(adv), free(ret), free(tokr);
    }
    return n;
}

static int write_policy_cases(FILE *f, const Batch *bs, int *first) {
    int n = 0;
    for (int bi = 0; bi < NB; bi++) {
        const Batch *b = &bs[bi];
        RlBatch rb = rl(b);
        float *g = malloc(((size_t)b->n_tok + 1) * sizeof(float));
        /* kl: -2 no reference, -1 reference reported only, else in the loss */
        for (int agg = 0; agg < AGG_COUNT; agg++)
            for (int dual = 0; dual < 2; dual++)
                for (int kl = -2; kl < KL_COUNT + 1; kl++) {
                    PolicyLossCfg c = policy_loss_cfg_default();
                    c.eps_low = 0.2f;
                    c.eps_high = 0.28f;
                    c.agg = (LossAgg)agg;
                    c.max_len = 20;
                    c.dual_clip_c = dual ? 3.0f : 0.0f;
                    c.kl = kl >= 0 && kl < KL_COUNT ? (KlKind)kl : KL_K3;
                    c.kl_in_loss = kl >= 0;
                    c.beta = kl >= 0 ? 0.04f : 0.0f;
                    if (kl == KL_COUNT) { /* micro-batch normaliser, k3 with a large beta */
                        c.kl = KL_K3;
                        c.beta = 0.5f;
                        c.norm_count = agg == AGG_TOKEN_MEAN ? 3.0 * b->n_tok : 2.5 * b->N;
                    }
                    PolicyLossStats st;
                    const float *ref = kl == -2 ? NULL : b->ref_logp;
                    if (policy_loss(&c, &rb, b->logp, b->old_logp, ref, b->adv, g, &st)) return fail("policy_loss");
                    fprintf(f, "%s{\"batch\": %d, \"agg\": \"%s\", ", *first ? "" : ",\n", bi, loss_agg_name(c.agg));
                    *first = 0;
                    jd(f, "eps_low", c.eps_low);
                    jd(f, "eps_high", c.eps_high);
                    jd(f, "dual_clip_c", c.dual_clip_c);
                    fprintf(f, "\"max_len\": %d, \"kl\": \"%s\", \"kl_in_loss\": %d, \"use_ref\": %d, ", c.max_len,
                            kl_name(c.kl), c.kl_in_loss, ref != NULL);
                    jd(f, "beta", c.beta);
                    jd(f, "norm_count", c.norm_count);
                    fputs("\"stats\": {", f);
                    jd(f, "loss", st.loss);
                    jd(f, "pg_loss", st.pg_loss);
                    jd(f, "kl_loss", st.kl_loss);
                    jd(f, "kl_mean", st.kl_mean);
                    jd(f, "clip_frac", st.clip_frac);
                    jd(f, "clip_frac_high", st.clip_frac_high);
                    jd(f, "clip_frac_low", st.clip_frac_low);
                    jd(f, "dual_clip_frac", st.dual_clip_frac);
                    jd(f, "ratio_mean", st.ratio_mean);
                    jd(f, "ratio_max", st.ratio_max);
                    jd(f, "ratio_min", st.ratio_min);
                    jd(f, "logratio_abs_mean", st.logratio_abs_mean);
                    jd(f, "n_tokens", (double)st.n_tokens);
                    fprintf(f, "\"n_seqs\": %d}, ", st.n_seqs);
                    jf32(f, "out_dlogp", g, b->n_tok);
                    fputs("\"end\": 0}", f);
                    n++;
                }
        free(g);
    }
    return n;
}

static int write_value_cases(FILE *f, const Batch *bs, int *first) {
    int n = 0;
    for (int bi = 0; bi < NB; bi++) {
        const Batch *b = &bs[bi];
        RlBatch rb = rl(b);
        float *g = malloc(((size_t)b->n_tok + 1) * sizeof(float));
        for (int agg = 0; agg < AGG_COUNT; agg++)
            for (int clip = 0; clip < 2; clip++) {
                ValueLossCfg c = {.eps_v = clip ? 0.2f : 0.0f, .agg = (LossAgg)agg, .max_len = 20};
                ValueLossStats st;
                if (value_loss(&c, &rb, b->values, clip ? b->values_old : NULL, b->returns, g, &st))
                    return fail("value_loss");
                fprintf(f, "%s{\"batch\": %d, \"agg\": \"%s\", \"max_len\": %d, ", *first ? "" : ",\n", bi,
                        loss_agg_name(c.agg), c.max_len);
                *first = 0;
                jd(f, "eps_v", c.eps_v);
                fputs("\"stats\": {", f);
                jd(f, "loss", st.loss);
                jd(f, "clip_frac", st.clip_frac);
                jd(f, "explained_var", st.explained_var);
                jd(f, "v_mean", st.v_mean);
                jd(f, "ret_mean", st.ret_mean);
                fprintf(f, "\"n_tokens\": %lld}, ", (long long)st.n_tokens);
                jf32(f, "out_dv", g, b->n_tok);
                fputs("\"end\": 0}", f);
                n++;
            }
        free(g);
    }
    return n;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: check_rl_torch PYTHON SCRIPT DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/rl_cases.json", argv[3]);
    Rng r;
    rng_seed(&r, 2024);
    Batch bs[NB];
    const int len0[12] = {9, 0, 14, 5, 11, 3, 17, 8, 1, 12, 6, 10};
    const int len1[6] = {4, 7, 0, 3, 6, 2};
    const int len2[9] = {15, 2, 8, 1, 0, 13, 7, 10, 4};
    make_batch(&bs[0], "gaps-G4", 12, 4, len0, 0, &r);
    make_batch(&bs[1], "packed-G2", 6, 2, len1, 1, &r);
    make_batch(&bs[2], "gaps-G3", 9, 3, len2, 0, &r);

    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 2;
    }
    fputs("{\"batches\": [\n", f);
    for (int i = 0; i < NB; i++) {
        if (i) fputs(",\n", f);
        write_batch(f, &bs[i]);
    }
    int first = 1, na, np, nv;
    fputs("],\n\"adv_cases\": [\n", f);
    if ((na = write_adv_cases(f, bs, &first)) < 0) return 1;
    first = 1;
    fputs("],\n\"policy_cases\": [\n", f);
    if ((np = write_policy_cases(f, bs, &first)) < 0) return 1;
    first = 1;
    fputs("],\n\"value_cases\": [\n", f);
    if ((nv = write_value_cases(f, bs, &first)) < 0) return 1;
    fputs("]}\n", f);
    if (fclose(f)) {
        perror(path);
        return 2;
    }
    for (int i = 0; i < NB; i++) batch_free(&bs[i]);
    printf("check_rl_torch: wrote %d advantage, %d policy-loss and %d value-loss cases to %s\n", na, np, nv, path);
    return tu_run_script(argv[1], argv[2], path);
}
