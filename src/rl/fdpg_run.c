/* The f-DPG state of an RL run (fdpg_run.h). */
#include "rl/fdpg_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "thinkrl/ckpt.h"
#include "thinkrl/core.h"

static int target_parse(const char *s) {
    return !strcmp(s, "pointwise") ? FDPG_POINTWISE : !strcmp(s, "distributional") ? FDPG_DISTRIBUTIONAL
                                                  : !strcmp(s, "tilt")           ? FDPG_TILT
                                                                                 : -1;
}

int fdpg_config_check(const RlConfig *c) {
    if (c->temperature != 1 || c->top_p != 1 || c->top_k != 0)
        return tr_err(TR_EINVAL, "rollout.temperature/top_p/top_k: f-DPG weighs samples by their probability under the "
                                 "policy, so it samples the policy itself (temperature 1, top_p 1, top_k 0)");
    if (c->ppo_epochs != 1)
        return tr_err(TR_EINVAL, "train.ppo_epochs: f-DPG makes one pass over each batch (the pseudo-rewards hold for "
                                 "the policy that sampled it)");
    if (strcmp(c->sampler, "uniform"))
        return tr_err(TR_EINVAL, "sampler.kind: f-DPG needs the uniform sampler (%s reweights the prompts the target is "
                                 "defined over)", c->sampler);
    if (c->rrs_groups)
        return tr_err(TR_EINVAL, "rrs.groups: f-DPG keeps every sample (dropping groups biases the estimate of Z)");
    switch (target_parse(c->fdpg_target)) {
    case FDPG_POINTWISE:
        if (!c->fdpg_constraint || !*c->fdpg_constraint)
            return tr_err(TR_EINVAL, "fdpg.constraint: the pointwise target needs b(x), e.g. contains(words=chess)");
        break;
    case FDPG_DISTRIBUTIONAL:
        if (!c->fdpg_features || !*c->fdpg_features)
            return tr_err(TR_EINVAL, "fdpg.features: the distributional target needs features with their moments, "
                                     "e.g. contains(words='She|her'):0.5");
        break;
    case FDPG_TILT:
        /* r / beta is carried in log space next to log Z: below 1e-9 their
         * sum loses the digits that tell samples apart */
        if (!(c->fdpg_beta >= 1e-9))
            return tr_err(TR_EINVAL, "fdpg.beta: tilting by exp(r / beta) needs beta >= 1e-9 (got %g)", c->fdpg_beta);
        break;
    default: return tr_err(TR_EINVAL, "fdpg.target: '%s' is not pointwise, distributional or tilt", c->fdpg_target);
    }
    return TR_OK;
}

int fdpg_run_init(FdpgRun *f, const RlConfig *c, int64_t n_records) {
    memset(f, 0, sizeof *f);
    reward_set_init(&f->cons);
    reward_set_init(&f->feat);
    int rc = fdpg_config_check(c);
    if (rc) return rc;
    f->cfg.div = (FdpgDiv)fdpg_div_parse(c->fdpg_div);
    f->cfg.clip_logt = c->fdpg_clip_logt > 0 ? c->fdpg_clip_logt : f->cfg.div == FDPG_CHI2 ? 3 : 10;
    f->target = (FdpgTarget)target_parse(c->fdpg_target);
    f->beta = c->fdpg_beta;
    f->offline = c->fdpg_offline;
    f->q_every = c->fdpg_q_every;
    if (f->target == FDPG_POINTWISE && (rc = reward_set_parse(&f->cons, c->fdpg_constraint)))
        return tr_err_ctx(rc, "fdpg.constraint");
    if (f->target == FDPG_DISTRIBUTIONAL) {
        if ((rc = reward_set_parse(&f->feat, c->fdpg_features))) return tr_err_ctx(rc, "fdpg.features");
        if (f->feat.n > FDPG_MAX_FEATURES)
            return tr_err(TR_EINVAL, "fdpg.features: %d features, at most %d", f->feat.n, FDPG_MAX_FEATURES);
        f->k = f->feat.n;
        for (int j = 0; j < f->k; j++) f->mu[j] = f->feat.term[j].weight;
    }
    if (!(f->z = malloc((size_t)(n_records > 0 ? n_records : 1) * sizeof *f->z))) return tr_err(TR_ENOMEM, "out of memory");
    f->nz = n_records;
    for (int64_t i = 0; i < n_records; i++) fdpg_z_init(&f->z[i]);
    if (c->fdpg_baseline > 0 && (rc = fdpg_baseline_init(&f->base, (int)c->fdpg_baseline))) return rc;
    return TR_OK;
}

void fdpg_run_free(FdpgRun *f) {
    reward_set_free(&f->cons);
    reward_set_free(&f->feat);
    free(f->z);
    fdpg_baseline_free(&f->base);
    memset(f, 0, sizeof *f);
}

int fdpg_run_width(const FdpgRun *f) { return f->target == FDPG_DISTRIBUTIONAL ? f->k : 1; }

int fdpg_run_values(FdpgRun *f, const RewardCtx *ctx, int n, double *val) {
    int rc = TR_OK;
    if (f->target == FDPG_TILT) {
        for (int i = 0; i < n; i++) val[i] = 0;
        return TR_OK;
    }
    RewardSet *s = f->target == FDPG_POINTWISE ? &f->cons : &f->feat;
    double *tot = malloc((size_t)(n > 0 ? n : 1) * sizeof *tot), *v = malloc((size_t)(n > 0 ? n : 1) * s->n * sizeof *v);
    if (!tot || !v) rc = tr_err(TR_ENOMEM, "out of memory");
    if (!rc) rc = reward_score_batch(s, ctx, n, tot, v, NULL);
    for (int i = 0; i < n && !rc; i++) {
        if (f->target == FDPG_POINTWISE) {
            int b = 1;
            for (int j = 0; j < s->n; j++) b &= v[(size_t)i * s->n + j] >= 0.5;
            val[i] = b;
        } else {
            memcpy(val + (size_t)i * f->k, v + (size_t)i * s->n, (size_t)f->k * sizeof *val);
        }
    }
    free(tot);
    free(v);
    return rc ? tr_err_ctx(rc, f->target == FDPG_POINTWISE ? "fdpg.constraint" : "fdpg.features") : TR_OK;
}

void fdpg_run_logP(const FdpgRun *f, int n, const double *la, const double *val, const double *reward, double *lP) {
    for (int i = 0; i < n; i++) {
        switch (f->target) {
        case FDPG_POINTWISE: lP[i] = val[i] > 0 ? la[i] : -INFINITY; break;
        case FDPG_DISTRIBUTIONAL: {
            double e = 0;
            for (int j = 0; j < f->k; j++) e += f->lambda[j] * val[(size_t)i * f->k + j];
            lP[i] = la[i] + e;
            break;
        }
        case FDPG_TILT: lP[i] = la[i] + reward[i] / f->beta; break;
        }
    }
}

/* ---- checkpoint state ---- */

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateString(v < 0 ? "-inf" : "inf"); }

static int get_num(const cJSON *o, const char *k, double *v) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNumber(x) && isfinite(x->valuedouble)) *v = x->valuedouble;
    else return tr_err(TR_EFORMAT, "checkpoint state: fdpg.%s missing or not a finite number", k);
    return TR_OK;
}

/* A count: an integer in [lo, 2^53] (a double holds it exactly). */
static int is_count(const cJSON *x, double lo) {
    return cJSON_IsNumber(x) && x->valuedouble >= lo && x->valuedouble <= (double)CKPT_COUNT_MAX &&
           x->valuedouble == floor(x->valuedouble);
}

cJSON *fdpg_run_to_json(const FdpgRun *f) {
    cJSON *o = cJSON_CreateObject();
    cJSON *lam = cJSON_AddArrayToObject(o, "lambda");
    for (int j = 0; j < f->k; j++) cJSON_AddItemToArray(lam, cJSON_CreateNumber(f->lambda[j]));
    cJSON *z = cJSON_AddArrayToObject(o, "z"); /* [record, log_sum, n] of the prompts seen */
    for (int64_t i = 0; i < f->nz; i++) {
        if (!f->z[i].n) continue;
        cJSON *e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateNumber((double)i));
        cJSON_AddItemToArray(e, num(f->z[i].log_sum));
        cJSON_AddItemToArray(e, cJSON_CreateNumber((double)f->z[i].n));
        cJSON_AddItemToArray(z, e);
    }
    cJSON *b = cJSON_AddArrayToObject(o, "baseline"); /* oldest first */
    for (int i = 0; i < f->base.n; i++) {
        int at = (f->base.head - f->base.n + i + f->base.cap) % f->base.cap;
        cJSON_AddItemToArray(b, cJSON_CreateNumber(f->base.v[at]));
    }
    cJSON_AddNumberToObject(o, "q_updates", (double)f->q_updates);
    cJSON_AddNumberToObject(o, "acc_pi", f->acc_pi);
    cJSON_AddNumberToObject(o, "acc_q", f->acc_q);
    cJSON_AddNumberToObject(o, "acc_n", (double)f->acc_n);
    return o;
}

int fdpg_run_from_json(FdpgRun *f, const cJSON *o) {
    if (!cJSON_IsObject(o)) return tr_err(TR_EFORMAT, "checkpoint state: no fdpg state (was the run started with algo.adv=fdpg?)");
    const cJSON *lam = cJSON_GetObjectItemCaseSensitive(o, "lambda"), *z = cJSON_GetObjectItemCaseSensitive(o, "z"),
                *b = cJSON_GetObjectItemCaseSensitive(o, "baseline");
    if (!cJSON_IsArray(lam) || cJSON_GetArraySize(lam) != f->k)
        return tr_err(TR_EFORMAT, "checkpoint state: fdpg.lambda has %d entries, fdpg.features %d",
                      cJSON_IsArray(lam) ? cJSON_GetArraySize(lam) : -1, f->k);
    if (!cJSON_IsArray(z) || !cJSON_IsArray(b)) return tr_err(TR_EFORMAT, "checkpoint state: fdpg.z / baseline missing");
    /* everything is checked before anything is changed */
    const cJSON *e;
    int j = 0;
    cJSON_ArrayForEach(e, lam) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
            return tr_err(TR_EFORMAT, "checkpoint state: fdpg.lambda[%d] is not a finite number", j);
        j++;
    }
    j = 0;
    cJSON_ArrayForEach(e, z) {
        const cJSON *r = cJSON_GetArrayItem(e, 0), *l = cJSON_GetArrayItem(e, 1), *n = cJSON_GetArrayItem(e, 2);
        int l_ok = (cJSON_IsNumber(l) && isfinite(l->valuedouble)) || (cJSON_IsString(l) && !strcmp(l->valuestring, "-inf"));
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 3 || !is_count(r, 0) || !l_ok || !is_count(n, 1))
            return tr_err(TR_EFORMAT, "checkpoint state: fdpg.z[%d] is not [record, log_sum, n]", j);
        if (r->valuedouble >= (double)f->nz)
            return tr_err(TR_EFORMAT, "checkpoint state: fdpg.z[%d] names record %.0f of %lld (was the data changed?)", j,
                          r->valuedouble, (long long)f->nz);
        j++;
    }
    j = 0;
    cJSON_ArrayForEach(e, b) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
            return tr_err(TR_EFORMAT, "checkpoint state: fdpg.baseline[%d] is not a finite number", j);
        j++;
    }
    double acc_pi = 0, acc_q = 0;
    int64_t q_updates = 0, acc_n = 0;
    int rc = ckpt_state_count(o, "q_updates", 0, CKPT_COUNT_MAX, "checkpoint state: fdpg.q_updates", &q_updates);
    if (!rc) rc = get_num(o, "acc_pi", &acc_pi);
    if (!rc) rc = get_num(o, "acc_q", &acc_q);
    if (!rc) rc = ckpt_state_count(o, "acc_n", 0, CKPT_COUNT_MAX, "checkpoint state: fdpg.acc_n", &acc_n);
    if (rc) return rc;
    for (j = 0; j < f->k; j++) f->lambda[j] = cJSON_GetArrayItem(lam, j)->valuedouble;
    f->fitted = 1;
    cJSON_ArrayForEach(e, z) {
        const cJSON *l = cJSON_GetArrayItem(e, 1);
        FdpgZ *zz = &f->z[(int64_t)cJSON_GetArrayItem(e, 0)->valuedouble];
        zz->log_sum = cJSON_IsNumber(l) ? l->valuedouble : -INFINITY;
        zz->n = (int64_t)cJSON_GetArrayItem(e, 2)->valuedouble;
    }
    if (f->base.cap) {
        f->base.n = f->base.head = 0;
        cJSON_ArrayForEach(e, b) fdpg_baseline_push(&f->base, e->valuedouble);
    }
    f->q_updates = q_updates;
    f->acc_pi = acc_pi;
    f->acc_q = acc_q;
    f->acc_n = acc_n;
    return TR_OK;
}

int fdpg_run_write_fit(const FdpgRun *f, const char *run_dir, int samples) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "samples", samples);
    cJSON_AddNumberToObject(o, "iters", f->fit.iters);
    cJSON_AddBoolToObject(o, "converged", f->fit.converged);
    cJSON_AddNumberToObject(o, "max_err", f->fit.max_err);
    cJSON_AddNumberToObject(o, "ess", f->fit.ess);
    cJSON *fs = cJSON_AddArrayToObject(o, "features");
    for (int j = 0; j < f->k; j++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", reward_set_name(&f->feat, j));
        cJSON_AddNumberToObject(e, "requested", f->mu[j]);
        cJSON_AddNumberToObject(e, "base", f->fit.base[j]);
        cJSON_AddNumberToObject(e, "achieved", f->fit.achieved[j]);
        cJSON_AddNumberToObject(e, "lambda", f->lambda[j]);
        cJSON_AddItemToArray(fs, e);
    }
    char *s = tr_json_print(o, 1);
    cJSON_Delete(o);
    if (!s) return tr_err(TR_ENOMEM, "out of memory");
    char path[4400];
    snprintf(path, sizeof path, "%s/fdpg_fit.json", run_dir);
    size_t len = strlen(s);
    int rc = tr_write_file_atomic(path, s, len);
    free(s);
    return rc;
}
