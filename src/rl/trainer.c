/* The RL trainer: one process holds the policy, the frozen reference (only
 * when a KL term is on) and the critic (gae: a separate copy of the model by
 * default, or a value head on the policy's trunk). One step (ALGORITHMS 1):
 * draw prompts, generate G responses each, score them, compute advantages,
 * reference log-probs and old values, then ppo_epochs x minibatches of
 * updates, log, checkpoint. Everything random draws from one Rng that is
 * part of the checkpoint, so a resumed run repeats a straight one bit for
 * bit (same thread count). */
#include <cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "thinkrl/ckpt.h"
#include "thinkrl/eval.h"
#include "thinkrl/generate.h"
#include "thinkrl/memplan.h"
#include "thinkrl/model.h"
#include "thinkrl/optim.h"
#include "thinkrl/reward.h"
#include "thinkrl/rl.h"
#include "thinkrl/rl_train.h"
#include "thinkrl/safetensors.h"
#include "thinkrl/taco.h"
#include "thinkrl/task.h"
#include "thinkrl/tokenizer.h"
#include "thinkrl/verify.h"
#include "rl/fdpg_run.h"
#include "train/run_util.h"

/* debug.fault: "nan@K" -> FAULT_NAN, "spike@K" -> FAULT_SPIKE, "nan_weight@K"
 * -> FAULT_NAN_WEIGHT (*step = K); "" -> FAULT_NONE; anything else -> -1. */
enum { FAULT_NONE = 0, FAULT_NAN, FAULT_SPIKE, FAULT_NAN_WEIGHT };
enum { GUARD_SKIP = 0, GUARD_ROLLBACK, GUARD_STOP };
static int fault_parse(const char *s, int64_t *step) {
    *step = 0;
    if (!s || !*s) return FAULT_NONE;
    int kind = !strncmp(s, "nan@", 4)          ? FAULT_NAN
               : !strncmp(s, "spike@", 6)      ? FAULT_SPIKE
               : !strncmp(s, "nan_weight@", 11) ? FAULT_NAN_WEIGHT
                                               : -1;
    if (kind < 0) return -1;
    const char *n = strchr(s, '@') + 1;
    char *end;
    long long k = strtoll(n, &end, 10);
    if (end == n || *end || k < 1) return -1;
    *step = k;
    return kind;
}

#define FLD(k, t, f, d, h, c) {k, t, offsetof(RlConfig, f), d, h, c}
static const ConfField RL_FIELDS[] = {
    FLD("model.path", CONF_STR, model_path, "", "HF model directory of the starting policy (also the KL reference)", NULL),
    FLD("tokenizer.path", CONF_STR, tokenizer, "", "tokenizer.json or its directory (empty: model.path's)", NULL),
    FLD("data.train", CONF_STR, data_train, "", "prompt records (JSONL with answers); empty: generate them from data.task", NULL),
    FLD("data.eval", CONF_STR, data_eval, "", "held-out records for eval/acc (empty: data.n_eval task records)", NULL),
    FLD("data.task", CONF_STR, data_task, "", "built-in task of the prompts (arith, countdown, word); also the verifier of records without meta.task", NULL),
    FLD("data.task_options", CONF_STR, data_task_options, "", "task options, space separated key=value", NULL),
    FLD("data.n_train", CONF_INT, data_n_train, "20000", "task prompts to draw from", "1.."),
    FLD("data.n_eval", CONF_INT, data_n_eval, "100", "task prompts held out for eval/acc (the indices after the training ones)", "0.."),
    FLD("data.seed", CONF_INT, data_seed, "7", "seed of the task generator", NULL),
    FLD("data.skip_bad", CONF_BOOL, data_skip_bad, "false", "skip malformed JSONL lines instead of failing", NULL),
    FLD("rollout.prompts", CONF_INT, prompts, "16", "prompts per step", "1..1000000"),
    FLD("rollout.n", CONF_INT, group, "8", "responses per prompt (G)", "1..256"),
    FLD("rollout.max_new_tokens", CONF_INT, max_new_tokens, "64", "generation limit per response", "1..1048576"),
    FLD("rollout.temperature", CONF_FLOAT, temperature, "1.0", "sampling temperature (log-probs for the loss are always at 1)", "0.."),
    FLD("rollout.top_p", CONF_FLOAT, top_p, "1.0", "nucleus sampling (1: off)", "0<..1"),
    FLD("rollout.top_k", CONF_INT, top_k, "0", "top-k sampling (0: off)", "0..1000000"),
    FLD("rollout.slots", CONF_INT, slots, "0", "sequences decoded together (0: min(responses, 64)); fewer need a smaller KV cache and decode slower", "0..65536"),
    FLD("rollout.pack", CONF_BOOL, rollout_pack, "true", "pack the policy's weights once per rollout for the decode products (faster; one more copy of the weights while generating)", NULL),
    FLD("rollout.ignore_eos", CONF_BOOL, ignore_eos, "false", "generate every response to rollout.max_new_tokens (benchmarks)", NULL),
    FLD("sampler.kind", CONF_ENUM, sampler, "uniform", "prompt sampler: shuffled epochs; DAPO dynamic sampling (drop groups whose rewards are all equal, draw again); TACO adaptive difficulty (weights p(1-p) + floor on each prompt's success estimate)", "uniform|dynamic|ads"),
    FLD("sampler.max_gen_batches", CONF_INT, max_gen_batches, "3", "dynamic: most generation rounds per step", "1..1000"),
    FLD("ads.ema", CONF_FLOAT, ads_ema, "0.5", "ads: weight of a new visit in a prompt's success estimate", "0..1"),
    FLD("ads.floor", CONF_FLOAT, ads_floor, "0.02", "ads: w_floor added to every active prompt's weight p(1-p)", "0.."),
    FLD("ads.park_after", CONF_INT, ads_park_after, "2", "ads: visits in a row all solved (or all failed) that park a prompt", "1..1000000"),
    FLD("ads.retest", CONF_INT, ads_retest, "25", "ads: steps between re-tests of a parked prompt", "1.."),
    FLD("ads.unseen", CONF_FLOAT, ads_unseen, "0.5", "ads: the success estimate an unvisited prompt is weighed with", "0..1"),
    FLD("rrs.groups", CONF_BOOL, rrs_groups, "false", "rrs: take problematic groups (zero advantage, mostly truncated or looping, KL or |log ratio| too high) out of the update and draw their prompts again rrs.delay steps later", NULL),
    FLD("rrs.delay", CONF_INT, rrs_delay, "10", "rrs: steps before a deferred prompt is drawn again", "1..1000000"),
    FLD("rrs.max_defers", CONF_INT, rrs_max_defers, "3", "rrs: deferrals in a row after which a prompt is dropped from the queue", "1..1000000"),
    FLD("rrs.trunc_frac", CONF_FLOAT, rrs_trunc_frac, "0.5", "rrs: a group with more than this share of responses truncated or looping is problematic", "0..1"),
    FLD("rrs.loop_ngram", CONF_INT, rrs_loop_ngram, "8", "rrs: a response loops when some run of this many tokens ...", "1..4096"),
    FLD("rrs.loop_reps", CONF_INT, rrs_loop_reps, "4", "rrs: ... occurs this many times", "2..4096"),
    FLD("rrs.kl_max", CONF_FLOAT, rrs_kl_max, "0", "rrs: a group whose mean per-token KL to the reference exceeds this is problematic (0: off)", "0.."),
    FLD("rrs.logratio_max", CONF_FLOAT, rrs_logratio_max, "0", "rrs: a group whose mean |log pi/pi_rollout| exceeds this is problematic (0: off; costs one more forward)", "0.."),
    FLD("rrs.rollback", CONF_BOOL, rrs_rollback, "false", "rrs: when a step's watched values spike past rrs.spike x their running median (or a NaN/Inf appears, see guard.nonfinite), restore the weights and optimiser of the last good step and resample", NULL),
    FLD("rrs.spike", CONF_FLOAT, rrs_spike, "5", "rrs: spike factor over the running median", "1.."),
    FLD("rrs.watch", CONF_STR, rrs_watch, "kl:0.01,loss:0.05,grad_norm:0.1", "rrs: watched values with a floor under their median (kl, loss, grad_norm, entropy)", NULL),
    FLD("rrs.window", CONF_INT, rrs_window, "20", "rrs: accepted steps in the running median", "1..256"),
    FLD("rrs.min_history", CONF_INT, rrs_min_history, "5", "rrs: accepted steps before spikes are judged (NaN/Inf always are)", "1..256"),
    FLD("rrs.max_retries", CONF_INT, rrs_max_retries, "3", "rrs: rollbacks in a row before the run stops with an error", "1..1000"),
    FLD("guard.nonfinite", CONF_ENUM, guard_nonfinite, "auto", "a NaN/Inf in a loss, a gradient or the weights: skip that optimiser step (weights and moments stay as they were; a NaN in the weights themselves stops the run), roll back to the last good step and resample (keeps a copy of weights and optimiser), or stop with an error; auto: rollback with rrs.rollback, else skip. A checkpoint never holds a NaN", "auto|skip|rollback|stop"),
    FLD("guard.max_skips", CONF_INT, guard_max_skips, "3", "guard: steps in a row with a skipped non-finite update before the run stops with an error", "1.."),
    FLD("debug.fault", CONF_STR, debug_fault, "", "fault injection for tests: nan@K (NaN gradient), spike@K (loss and gradient x 1000) or nan_weight@K (a NaN weight after the update) in the first try of step K", NULL),
    FLD("debug.dump_rollback", CONF_BOOL, debug_dump_rollback, "false", "write the state each rollback restores as RUN/rollback/ckpt/step-N (tests)", NULL),
    FLD("algo.adv", CONF_ENUM, adv, "grpo", "advantage estimator", "grpo|dr_grpo|rloo|reinforce_pp|reinforce_pp_baseline|remax|gae|fdpg"),
    FLD("algo.gamma", CONF_FLOAT, gamma, "1.0", "discount (reinforce_pp*, gae)", "0..1"),
    FLD("algo.lambda_actor", CONF_FLOAT, lambda_actor, "0.95", "gae: lambda of the advantages", "0..1"),
    FLD("algo.lambda_critic", CONF_FLOAT, lambda_critic, "1.0", "gae: lambda of the critic targets", "0..1"),
    FLD("algo.vapo_alpha", CONF_FLOAT, vapo_alpha, "0", "gae: length-adaptive lambda_actor = 1 - 1/(alpha len) (VAPO 0.05; 0: off)", "0.."),
    FLD("algo.std_population", CONF_BOOL, std_population, "false", "grpo std and whitening divide by n (not n - 1)", NULL),
    FLD("loss.eps_low", CONF_FLOAT, eps_low, "0.2", "clip range below 1", "0..<1"),
    FLD("loss.eps_high", CONF_FLOAT, eps_high, "0.2", "clip range above 1 (DAPO clip-higher: 0.28)", "0.."),
    FLD("loss.dual_clip", CONF_FLOAT, dual_clip, "0", "dual-clip bound c for negative advantages (0: off; else > 1, 3 typical)", "0.."),
    FLD("loss.agg", CONF_ENUM, loss_agg, "seq-mean-token-mean", "loss aggregation", "token-mean|seq-mean-token-mean|seq-mean-token-sum-norm"),
    FLD("loss.max_len", CONF_INT, loss_max_len, "0", "seq-mean-token-sum-norm constant (0: rollout.max_new_tokens)", "0..1048576"),
    FLD("loss.entropy_coef", CONF_FLOAT, entropy_coef, "0", "entropy bonus (token mean, subtracted from the loss)", NULL),
    FLD("kl.beta", CONF_FLOAT, kl_beta, "0.04", "KL coefficient; 0 switches the reference model off", "0.."),
    FLD("kl.estimator", CONF_ENUM, kl_estimator, "k3", "per-token KL estimator", "k1|k2|k3"),
    FLD("kl.placement", CONF_ENUM, kl_placement, "loss", "KL in the loss (GRPO) or subtracted from the token reward (PPO, REINFORCE++)", "loss|reward"),
    FLD("reward.spec", CONF_STR, reward, "accuracy:1,format:0.1", "weighted reward functions, e.g. accuracy:1,format:0.1,length(max=64,cache=16)", NULL),
    FLD("fdpg.divergence", CONF_ENUM, fdpg_div, "js", "fdpg: the f-divergence D_f(pi || p) minimised: forward KL (DPG), reverse KL (RL with a KL penalty), Jensen-Shannon, total variation, chi-square", "fkl|rkl|js|tv|chi2"),
    FLD("fdpg.target", CONF_ENUM, fdpg_target, "pointwise", "fdpg: P(x) = a(x) b(x) (pointwise), a(x) exp(lambda . phi(x)) (distributional) or a(x) exp(r(x) / beta) (tilt); a = model.path", "pointwise|distributional|tilt"),
    FLD("fdpg.constraint", CONF_STR, fdpg_constraint, "", "fdpg pointwise: reward functions as b(x) (1 when each is >= 0.5), e.g. contains(words=chess)", NULL),
    FLD("fdpg.features", CONF_STR, fdpg_features, "", "fdpg distributional: reward functions as features phi, each weight the requested moment, e.g. contains(words='She|her'):0.5", NULL),
    FLD("fdpg.beta", CONF_FLOAT, fdpg_beta, "1", "fdpg tilt: P = a exp(r / beta), r = reward.spec", "0.."),
    FLD("fdpg.baseline", CONF_INT, fdpg_baseline, "1024", "fdpg: samples in the moving-average baseline of the pseudo-reward (0: none)", "0..16777216"),
    FLD("fdpg.clip_logt", CONF_FLOAT, fdpg_clip_logt, "0", "fdpg: |log pi/p| is clamped to this before f' (a sample outside the support sits at +bound; 0: 10, and 3 for chi2)", "0.."),
    FLD("fdpg.offline", CONF_BOOL, fdpg_offline, "false", "fdpg: sample a proposal q (a frozen copy of the policy), weight by pi/q, replace q by pi when the importance-sampled KL(p||pi) beats KL(p||q)", NULL),
    FLD("fdpg.q_every", CONF_INT, fdpg_q_every, "10", "fdpg offline: steps between proposal checks", "1.."),
    FLD("fdpg.fit_samples", CONF_INT, fdpg_fit_samples, "1024", "fdpg distributional: samples of the base that lambda is fitted on", "16..16777216"),
    FLD("fdpg.fit_tol", CONF_FLOAT, fdpg_fit_tol, "1e-3", "fdpg distributional: largest moment error the lambda fit accepts", "0.."),
    FLD("fdpg.fit_iters", CONF_INT, fdpg_fit_iters, "100", "fdpg distributional: Newton iterations of the lambda fit", "1..100000"),
    FLD("critic.mode", CONF_ENUM, critic_mode, "separate", "gae: the critic is a separate copy of the model, or a value head on the policy trunk", "separate|shared"),
    FLD("critic.lr", CONF_FLOAT, critic_lr, "1e-3", "critic learning rate (separate) / value head learning rate (shared)", "0.."),
    FLD("critic.eps_v", CONF_FLOAT, critic_eps_v, "0.2", "value clipping range (0: off)", "0.."),
    FLD("critic.coef", CONF_FLOAT, critic_coef, "0.5", "shared trunk: weight of the value loss", "0.."),
    FLD("critic.warmup", CONF_INT, critic_warmup, "0", "steps that train only the critic before the policy moves", "0.."),
    FLD("train.steps", CONF_INT, steps, "100", "RL steps", "1.."),
    FLD("train.stop_after", CONF_INT, stop_after, "0", "end this invocation after N steps with a checkpoint; --resume goes on (0: run to the end)", "0.."),
    FLD("train.ppo_epochs", CONF_INT, ppo_epochs, "1", "passes over each batch of rollouts", "1..1000"),
    FLD("train.minibatches", CONF_INT, minibatches, "1", "optimiser steps per pass (the batch is split)", "1..1000000"),
    FLD("train.micro_batch", CONF_INT, micro_batch, "32", "sequences per forward/backward", "1..1000000"),
    FLD("train.grad_clip", CONF_FLOAT, grad_clip, "1.0", "max global gradient norm (0: off)", "0.."),
    FLD("train.seed", CONF_INT, seed, "1", "seed of the run (prompt order, sampling, minibatch order)", NULL),
    FLD("optim.lr", CONF_FLOAT, lr, "1e-4", "policy learning rate (real models: ~1e-6)", "0.."),
    FLD("optim.beta1", CONF_FLOAT, beta1, "0.9", "AdamW beta1", "0..<1"),
    FLD("optim.beta2", CONF_FLOAT, beta2, "0.99", "AdamW beta2", "0..<1"),
    FLD("optim.eps", CONF_FLOAT, eps, "1e-8", "AdamW epsilon", "0<.."),
    FLD("optim.weight_decay", CONF_FLOAT, weight_decay, "0", "decoupled weight decay (matrices only)", "0.."),
    FLD("optim.schedule", CONF_ENUM, schedule, "constant", "learning-rate schedule after warmup", "constant|linear|cosine"),
    FLD("optim.warmup", CONF_INT, warmup, "0", "linear warmup steps", "0.."),
    FLD("optim.min_lr_ratio", CONF_FLOAT, min_lr_ratio, "0.1", "final learning rate as a share of the peak (linear, cosine)", "0..1"),
    FLD("eval.every", CONF_INT, eval_every, "0", "eval/acc on the held-out prompts every N steps (0: off)", "0.."),
    FLD("eval.prompts", CONF_INT, eval_prompts, "100", "held-out prompts used (0: all)", "0..1000000"),
    FLD("eval.n", CONF_INT, eval_n, "4", "samples per held-out prompt", "1..64"),
    FLD("eval.temperature", CONF_FLOAT, eval_temperature, "1.0", "held-out sampling temperature", "0.."),
    FLD("ckpt.every", CONF_INT, ckpt_every, "50", "checkpoint every N steps (0: only at the end)", "0.."),
    FLD("ckpt.keep", CONF_INT, ckpt_keep, "2", "checkpoints kept (0: all)", "0.."),
    FLD("log.every", CONF_INT, log_every, "1", "progress line every N steps (metrics.jsonl gets every step)", "1.."),
    FLD("log.samples", CONF_INT, log_samples, "4", "responses per step written to samples.jsonl", "0..1000000"),
    FLD("max_memory", CONF_STR, max_memory, "0", "memory the run may use, e.g. 16G or 512M (0: what the machine has available; off: no check); the memory plan printed at the start must fit in it", NULL),
    FLD("threads", CONF_INT, threads, "0", "compute threads (0: OpenMP default)", "0..4096"),
};
#undef FLD
const ConfSchema RL_SCHEMA = {RL_FIELDS, (int)(sizeof RL_FIELDS / sizeof RL_FIELDS[0]), "rl config"};

int rl_config_check(const RlConfig *c) {
    if (!c->model_path || !*c->model_path) return tr_err(TR_EINVAL, "model.path: the starting policy is required");
    if ((!c->data_train || !*c->data_train) && (!c->data_task || !*c->data_task))
        return tr_err(TR_EINVAL, "data.train: set a prompt file, or data.task");
    AdvKind k = (AdvKind)adv_parse(c->adv);
    /* a baseline from the group itself: with one response the advantage is 0 */
    if ((k == ADV_GRPO || k == ADV_DR_GRPO || k == ADV_RLOO || k == ADV_REINFORCE_PP_BASELINE) && c->group < 2)
        return tr_err(TR_EINVAL, "rollout.n: %s needs at least 2 responses per prompt", c->adv);
    if (k == ADV_REINFORCE_PP && c->prompts * c->group < 2)
        return tr_err(TR_EINVAL, "rollout.prompts x rollout.n: reinforce_pp whitens the advantages over the batch, "
                                 "which needs at least 2 responses");
    if (c->critic_warmup > 0 && k != ADV_GAE)
        return tr_err(TR_EINVAL, "critic.warmup: there is no critic to warm up with algo.adv=%s (only gae has one)",
                      c->adv);
    if (c->rrs_kl_max > 0 && !(c->kl_beta > 0) && strcmp(c->adv, "fdpg")) /* f-DPG keeps its base as reference */
        return tr_err(TR_EINVAL, "rrs.kl_max: kl.beta = 0 computes no KL to the reference (set kl.beta > 0, or "
                                 "rrs.kl_max=0)");
    if (!strcmp(c->sampler, "dynamic") && c->group < 2)
        return tr_err(TR_EINVAL, "sampler.kind: dynamic sampling needs rollout.n >= 2");
    if (c->dual_clip != 0 && c->dual_clip <= 1) return tr_err(TR_EINVAL, "loss.dual_clip: must be 0 (off) or > 1, got %g", c->dual_clip);
    if (!strcmp(c->kl_placement, "reward") && c->kl_beta > 0 && k != ADV_REINFORCE_PP &&
        k != ADV_REINFORCE_PP_BASELINE && k != ADV_GAE)
        return tr_err(TR_EINVAL, "kl.placement: 'reward' works with reinforce_pp, reinforce_pp_baseline and gae, not %s "
                                 "(use kl.placement=loss)", c->adv);
    int64_t n = c->prompts * c->group;
    if (c->minibatches > n) return tr_err(TR_EINVAL, "train.minibatches %lld exceeds the %lld responses of a step",
                                          (long long)c->minibatches, (long long)n);
    if (!strcmp(c->adv, "fdpg")) {
        int rc = fdpg_config_check(c);
        if (rc) return rc;
    }
    int64_t fk;
    if (c->debug_fault && *c->debug_fault && fault_parse(c->debug_fault, &fk) < 0)
        return tr_err(TR_EINVAL, "debug.fault: expected nan@K, spike@K or nan_weight@K with K >= 1, got '%s'", c->debug_fault);
    if (c->rrs_rollback) {
        SpikeDet sd;
        int rc = spike_init(&sd, c->rrs_watch, c->rrs_spike, (int)c->rrs_window, (int)c->rrs_min_history);
        if (rc) return rc;
        for (int j = 0; j < sd.n; j++)
            if (strcmp(sd.name[j], "kl") && strcmp(sd.name[j], "loss") && strcmp(sd.name[j], "grad_norm") &&
                strcmp(sd.name[j], "entropy"))
                return tr_err(TR_EINVAL, "rrs.watch: '%s' is not one of kl, loss, grad_norm, entropy", sd.name[j]);
    }
    double mm;
    if (strcmp(c->max_memory, "off") && memplan_parse_size(c->max_memory, &mm))
        return tr_err(TR_EINVAL, "max_memory: expected a size such as 16G, 512M or 0 (the memory available), or off; "
                                 "got '%s'", c->max_memory);
    if (c->loss_max_len && c->loss_max_len < c->max_new_tokens)
        return tr_err(TR_EINVAL, "loss.max_len %lld is below rollout.max_new_tokens %lld", (long long)c->loss_max_len,
                      (long long)c->max_new_tokens);
    return TR_OK;
}

/* ---- value head: V = h . w + b (w: C, then b) ---- */

typedef struct {
    int C;
    float *w, *g;
    AdamW opt;
} VHead;

static int vhead_init(VHead *h, int C, const RlConfig *c) {
    h->C = C;
    h->w = calloc((size_t)C + 1, sizeof(float));
    h->g = calloc((size_t)C + 1, sizeof(float));
    if (!h->w || !h->g) return tr_err(TR_ENOMEM, "out of memory");
    return adamw_init(&h->opt, (size_t)C + 1, (float)c->critic_lr, (float)c->beta1, (float)c->beta2, (float)c->eps, 0.0f);
}

static void vhead_free(VHead *h) {
    free(h->w);
    free(h->g);
    adamw_free(&h->opt);
}

/* ---- the run ---- */

typedef struct {
    const RlConfig *c;
    FILE *log;
    Tokenizer tok;
    char tok_dir[4096];
    Model pol, ref, crit;
    int has_ref, has_crit, shared;
    AdamW opt, copt;
    VHead vh;
    uint8_t *decay, *cdecay;
    Dataset train, ev;
    TokIds *pids;          /* prompt ids per training record (lazily) */
    const TaskDef *task;   /* verifier fallback and pattern rules */
    PatternSet ps;
    RewardSet rs;
    AdvCfg ac;
    PolicyLossCfg pc;
    ValueLossCfg vc;
    KlKind kl;
    int kl_in_reward, dynamic;
    int64_t epoch, cursor, *perm;
    Rng rng;
    int64_t step;
    /* TACO (taco.h) */
    int use_ads, use_queue;    /* ads sampler; the rrs queue (rrs.groups or rrs.rollback) */
    Ads ads;
    RrsQueue rq;
    SpikeDet sd;
    int64_t rollbacks;         /* total since the start of the run */
    int fault, fault_kind;     /* fault: armed for this try; kind and step from debug.fault */
    int64_t fault_step;
    int fault_fired;
    int guard;                 /* GUARD_*: what a NaN/Inf does (guard.nonfinite) */
    int snap_on;               /* a snapshot of the last good step is kept (rrs.rollback, guard rollback) */
    int64_t skips, skips_row;  /* skipped non-finite updates: total, in a row */
    double plan_bytes;         /* the memory plan's total */
    uint8_t *skip;             /* train.n scratch flags for ads draws */
    /* f-DPG (algo.adv=fdpg) */
    int fdpg;
    FdpgRun fd;
    Model prop;                /* offline: the proposal q (a frozen copy of the policy) */
    Model *gen;                /* the model that samples: &pol, or &prop offline */
    FdpgStats fst;             /* this step's estimates */
    double fd_val_mean[FDPG_MAX_FEATURES], fd_baseline, fd_log_z, fd_distinct[3], fd_unique;
} Run;

/* Responses of one step: n of them in groups of G (rec: record index). */
typedef struct {
    int n, cap, G;
    int *rec;
    int *times;    /* deferrals in a row of the prompt before this draw (rrs) */
    Rollout *ro;
    char **text;
    size_t *tlen;
    double *reward, *rvals, *baseline;
    uint8_t *correct, *fmt, *cons;
    int *pat;
} Roll;

static void roll_free(Roll *r) {
    for (int i = 0; i < r->n; i++) free(r->text[i]);
    rollout_free(r->ro, r->n);
    free(r->rec);
    free(r->times);
    free(r->ro);
    free(r->text);
    free(r->tlen);
    free(r->reward);
    free(r->rvals);
    free(r->baseline);
    free(r->correct);
    free(r->fmt);
    free(r->cons);
    free(r->pat);
    memset(r, 0, sizeof *r);
}

static int roll_reserve(Roll *r, int n, int nterms) {
    if (n <= r->cap) return TR_OK;
#define GROW(p, sz)                                                        \
    do {                                                                   \
        void *q_ = realloc(r->p, (size_t)n * (sz));                        \
        if (!q_) return tr_err(TR_ENOMEM, "out of memory for rollouts");   \
        r->p = q_;                                                         \
    } while (0)
    GROW(rec, sizeof(int));
    GROW(times, sizeof(int));
    GROW(ro, sizeof(Rollout));
    GROW(text, sizeof(char *));
    GROW(tlen, sizeof(size_t));
    GROW(reward, sizeof(double));
    GROW(rvals, sizeof(double) * (nterms > 0 ? nterms : 1));
    GROW(baseline, sizeof(double));
    GROW(correct, 1);
    GROW(fmt, 1);
    GROW(cons, 1);
    GROW(pat, sizeof(int));
#undef GROW
    r->cap = n;
    return TR_OK;
}

/* Moves response i of src to the end of dst (src's slot is emptied). */
static void roll_move(Roll *dst, Roll *src, int i, int nterms) {
    int j = dst->n++;
    dst->rec[j] = src->rec[i];
    dst->times[j] = src->times[i];
    dst->ro[j] = src->ro[i];
    memset(&src->ro[i], 0, sizeof src->ro[i]);
    dst->text[j] = src->text[i];
    src->text[i] = NULL;
    dst->tlen[j] = src->tlen[i];
    dst->reward[j] = src->reward[i];
    memcpy(dst->rvals + (size_t)j * nterms, src->rvals + (size_t)i * nterms, (size_t)nterms * sizeof(double));
    dst->baseline[j] = src->baseline[i];
    dst->correct[j] = src->correct[i];
    dst->fmt[j] = src->fmt[i];
    dst->cons[j] = src->cons[i];
    dst->pat[j] = src->pat[i];
}

/* What the step saw of the policy: every generated response (also the
 * groups dynamic sampling drops). */
typedef struct {
    int64_t n, correct, fmt, cons, trunc, tokens, len_max;
    double reward, reward2;
    double rterm[REWARD_MAX_TERMS];
    int64_t pat_n[PATTERN_MAX + 1], pat_ok[PATTERN_MAX + 1];
    int64_t groups, groups_kept, gen_rounds;
    double gen_s, score_s;
} GenStats;

static void sampler_order(Run *r) {
    int64_t n = r->train.n;
    for (int64_t i = 0; i < n; i++) r->perm[i] = i;
    Rng g;
    rng_seed(&g, run_mix64((uint64_t)r->c->seed) ^ run_mix64((uint64_t)r->epoch + 0x5eed));
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(rng_u64(&g) % (uint64_t)(i + 1));
        int64_t t = r->perm[i];
        r->perm[i] = r->perm[j];
        r->perm[j] = t;
    }
}

static int64_t sampler_next(Run *r) {
    if (r->cursor == r->train.n) {
        r->epoch++;
        r->cursor = 0;
        sampler_order(r);
    }
    return r->perm[r->cursor++];
}

/* The prompts of one generation round: due deferred prompts first (rrs),
 * then the sampler's draws (ads, or the shuffled epochs). times[p] = the
 * prompt's deferrals in a row so far (0 for a fresh draw). */
static int draw_prompts(Run *r, int P, int64_t *rec, int *times) {
    int64_t step = r->step + 1, m = 0;
    if (r->use_queue) {
        RrsEntry *e = malloc((size_t)P * sizeof *e);
        if (!e) return tr_err(TR_ENOMEM, "out of memory");
        int64_t k = rrs_take_due(&r->rq, step, P, e);
        for (int64_t i = 0; i < k; i++) {
            rec[m] = e[i].rec;
            times[m++] = e[i].times;
        }
        free(e);
    }
    if (r->use_ads && m < P) {
        memset(r->skip, 0, (size_t)r->train.n);
        for (int64_t i = 0; i < m; i++) r->skip[rec[i]] = 1;
        for (int64_t i = 0; i < r->rq.n; i++) r->skip[r->rq.q[i].rec] = 1; /* still waiting */
        int64_t got = ads_draw(&r->ads, step, &r->rng, P - m, r->skip, rec + m);
        if (got < 0) return (int)got;
        for (int64_t i = m; i < m + got; i++) times[i] = 0;
        m += got;
    }
    for (; m < P; m++) { /* uniform, or what ads could not fill */
        rec[m] = sampler_next(r);
        times[m] = 0;
    }
    return TR_OK;
}

static int prompt_ids(Run *r, int64_t rec, Prompt *p) {
    TokIds *t = &r->pids[rec];
    if (!t->ids) {
        int rc = data_prompt_ids(&r->tok, &r->train.rec[rec], t);
        if (rc) return tr_err_ctx(rc, "prompt %s", r->train.rec[rec].id);
        if (t->n == 0) return tr_err(TR_EINVAL, "prompt %s: empty after tokenization", r->train.rec[rec].id);
    }
    p->ids = t->ids;
    p->len = (int)t->n;
    return TR_OK;
}

static void rollout_setup(const Run *r, RolloutConfig *rc, int n, float temperature, uint64_t seed) {
    rollout_config_init(rc, &r->pol.cfg);
    rc->sampler.temperature = temperature;
    rc->sampler.top_p = (float)r->c->top_p;
    rc->sampler.top_k = (int)r->c->top_k;
    rc->n = n;
    rc->slots = (int)r->c->slots;
    rc->no_pack = !r->c->rollout_pack;
    rc->max_new_tokens = (int)r->c->max_new_tokens;
    rc->seed = seed;
    if (r->c->ignore_eos) {
        rc->n_eos = 0;
        return;
    }
    if (r->tok.eos_id >= 0 && rc->n_eos < ROLLOUT_MAX_EOS) {
        int seen = 0;
        for (int i = 0; i < rc->n_eos; i++) seen |= rc->eos[i] == r->tok.eos_id;
        if (!seen) rc->eos[rc->n_eos++] = r->tok.eos_id;
    }
}

/* Scores responses [0, n) of ro (prompt records rec[]): texts, rewards,
 * correctness, format, pattern. */
static int score(Run *r, Roll *g, int from, int n) {
    int rc = TR_OK;
    RewardCtx *ctx = calloc((size_t)n, sizeof *ctx);
    if (!ctx) return tr_err(TR_ENOMEM, "out of memory");
    for (int k = 0; k < n && !rc; k++) {
        int i = from + k;
        rc = data_response_text(&r->tok, &g->ro[i], &g->text[i], &g->tlen[i]);
        const Record *rec = &r->train.rec[g->rec[i]];
        ctx[k] = (RewardCtx){g->text[i], g->tlen[i], g->ro[i].n, (int)r->c->max_new_tokens,
                             g->ro[i].finish == FINISH_LENGTH, rec, NULL};
    }
    if (!rc) rc = reward_score_batch(&r->rs, ctx, n, g->reward + from, g->rvals + (size_t)from * r->rs.n, NULL);
    for (int k = 0; k < n && !rc; k++) {
        int i = from + k, fmt = 0;
        int ok = task_score_response(&r->train.rec[g->rec[i]], r->task, g->text[i], g->tlen[i], &fmt);
        if (ok < 0) {
            rc = ok;
            break;
        }
        VerifyParts parts;
        verify_parse(g->text[i], g->tlen[i], NULL, &parts);
        int cons = 0;
        if ((rc = reward_consistent(g->text[i], g->tlen[i], NULL, &cons))) break;
        g->cons[i] = (uint8_t)cons;
        g->correct[i] = (uint8_t)ok;
        g->fmt[i] = (uint8_t)fmt;
        g->pat[i] = pattern_classify(&r->ps, parts.think, parts.think_len);
        g->baseline[i] = 0;
    }
    free(ctx);
    return rc;
}

/* ReMax: the reward of the greedy response to each prompt of the round. */
static int remax_baseline(Run *r, Roll *g, const Prompt *pr, int P) {
    Roll b = {0};
    int rc = roll_reserve(&b, P, r->rs.n);
    if (rc) return rc;
    RolloutConfig rcfg;
    rollout_setup(r, &rcfg, 1, 0.0f, 0);
    memset(b.ro, 0, (size_t)P * sizeof *b.ro);
    memset(b.text, 0, (size_t)P * sizeof *b.text);
    b.n = P;
    for (int p = 0; p < P; p++) b.rec[p] = g->rec[p * g->G];
    if ((rc = rollout_generate(&r->pol, pr, P, &rcfg, b.ro, NULL)) == TR_OK && (rc = score(r, &b, 0, P)) == TR_OK)
        for (int i = 0; i < g->n; i++) g->baseline[i] = b.reward[i / g->G];
    roll_free(&b);
    return rc;
}

static void gen_stats_add(GenStats *s, const Roll *g, int nterms) {
    for (int i = 0; i < g->n; i++) {
        s->n++;
        s->correct += g->correct[i];
        s->fmt += g->fmt[i];
        s->cons += g->cons[i];
        s->trunc += g->ro[i].finish == FINISH_LENGTH;
        s->tokens += g->ro[i].n;
        if (g->ro[i].n > s->len_max) s->len_max = g->ro[i].n;
        s->reward += g->reward[i];
        s->reward2 += g->reward[i] * g->reward[i];
        for (int j = 0; j < nterms; j++) s->rterm[j] += g->rvals[(size_t)i * nterms + j];
        int p = g->pat[i] < 0 ? PATTERN_MAX : g->pat[i];
        s->pat_n[p]++;
        s->pat_ok[p] += g->correct[i];
    }
}

/* Generates and scores the responses of one step into out: one round
 * (uniform) or rounds until `prompts` groups with unequal rewards are found
 * (dynamic, at most max_gen_batches rounds). */
static int generate_step(Run *r, Roll *out, GenStats *gs) {
    const RlConfig *c = r->c;
    int P = (int)c->prompts, G = (int)c->group, nt = r->rs.n, rc = TR_OK;
    Prompt *pr = calloc((size_t)P, sizeof *pr);
    int64_t *recs = malloc((size_t)P * sizeof *recs);
    int *times = malloc((size_t)P * sizeof *times);
    Roll g = {0};
    if (!pr || !recs || !times) {
        free(pr);
        free(recs);
        free(times);
        return tr_err(TR_ENOMEM, "out of memory");
    }
    out->G = g.G = G;
    for (int round = 0; round < (r->dynamic ? c->max_gen_batches : 1); round++) {
        if ((rc = roll_reserve(&g, P * G, nt))) break;
        memset(g.ro, 0, (size_t)P * G * sizeof *g.ro);
        memset(g.text, 0, (size_t)P * G * sizeof *g.text);
        g.n = P * G;
        if ((rc = draw_prompts(r, P, recs, times))) break;
        for (int p = 0; p < P && !rc; p++) {
            for (int s = 0; s < G; s++) {
                g.rec[p * G + s] = (int)recs[p];
                g.times[p * G + s] = times[p];
            }
            rc = prompt_ids(r, recs[p], &pr[p]);
        }
        if (rc) break;
        RolloutConfig rcfg;
        rollout_setup(r, &rcfg, G, (float)c->temperature, rng_u64(&r->rng));
        double t0 = tr_time();
        if ((rc = rollout_generate(r->gen, pr, P, &rcfg, g.ro, NULL))) break;
        double t1 = tr_time();
        gs->gen_s += t1 - t0;
        if ((rc = score(r, &g, 0, P * G))) break;
        if (adv_parse(c->adv) == ADV_REMAX && (rc = remax_baseline(r, &g, pr, P))) break;
        gs->score_s += tr_time() - t1;
        gs->gen_rounds++;
        gen_stats_add(gs, &g, nt);
        for (int p = 0; p < P && r->use_ads; p++) { /* every visit informs the estimate */
            int ok = 0;
            for (int s = 0; s < G; s++) ok += g.correct[p * G + s];
            ads_observe(&r->ads, g.rec[p * G], (double)ok / G, r->step + 1);
        }
        if ((rc = roll_reserve(out, out->n + P * G, nt))) break;
        for (int p = 0; p < P; p++) {
            gs->groups++;
            int keep = !r->dynamic;
            for (int s = 1; s < G && !keep; s++) keep = g.reward[p * G + s] != g.reward[p * G];
            if (keep && out->n < P * G) {
                gs->groups_kept++;
                for (int s = 0; s < G; s++) roll_move(out, &g, p * G + s, nt);
            }
        }
        roll_free(&g);
        g.G = G;
        if (out->n >= P * G) break;
    }
    roll_free(&g);
    free(pr);
    free(recs);
    free(times);
    return rc;
}

/* ---- training sequences: prompt + response, the last token dropped ---- */

typedef struct {
    int B, T;
    size_t cap;
    int32_t *ids, *pos, *seg, *tgt;
    float *lp, *ent, *dlp, *dent, *dhid, *val;
    int cap_rows;
    int *row_np;   /* prompt tokens of each row */
} Micro;

static void micro_free(Micro *m) {
    free(m->ids);
    free(m->pos);
    free(m->seg);
    free(m->tgt);
    free(m->lp);
    free(m->ent);
    free(m->dlp);
    free(m->dent);
    free(m->dhid);
    free(m->val);
    free(m->row_np);
    memset(m, 0, sizeof *m);
}

/* Rows = responses idx[0..n) (each with >= 1 token). */
static int micro_build(Run *r, const Roll *g, const int *idx, int n, Micro *m) {
    int T = 1;
    for (int k = 0; k < n; k++) {
        int np = (int)r->pids[g->rec[idx[k]]].n, L = g->ro[idx[k]].n;
        if (np + L - 1 > T) T = np + L - 1;
    }
    size_t N = (size_t)n * T, C = (size_t)r->pol.cfg.C;
    if (N > m->cap) {
        micro_free(m);
        m->ids = malloc(N * sizeof(int32_t));
        m->pos = malloc(N * sizeof(int32_t));
        m->seg = malloc(N * sizeof(int32_t));
        m->tgt = malloc(N * sizeof(int32_t));
        m->lp = malloc(N * sizeof(float));
        m->ent = malloc(N * sizeof(float));
        m->dlp = malloc(N * sizeof(float));
        m->dent = malloc(N * sizeof(float));
        m->dhid = malloc(N * C * sizeof(float));
        m->val = malloc(N * sizeof(float));
        if (!m->ids || !m->pos || !m->seg || !m->tgt || !m->lp || !m->ent || !m->dlp || !m->dent || !m->dhid || !m->val)
            return tr_err(TR_ENOMEM, "out of memory for a micro-batch of %zu tokens", N);
        m->cap = N;
    }
    if (n > m->cap_rows) {
        free(m->row_np);
        m->row_np = malloc((size_t)n * sizeof(int));
        if (!m->row_np) return tr_err(TR_ENOMEM, "out of memory");
        m->cap_rows = n;
    }
    m->B = n;
    m->T = T;
    for (int k = 0; k < n; k++) {
        const TokIds *p = &r->pids[g->rec[idx[k]]];
        const Rollout *ro = &g->ro[idx[k]];
        int np = (int)p->n, L = ro->n, len = np + L - 1;
        int32_t *ids = m->ids + (size_t)k * T, *pos = m->pos + (size_t)k * T, *seg = m->seg + (size_t)k * T,
                *tgt = m->tgt + (size_t)k * T;
        m->row_np[k] = np;
        for (int j = 0; j < T; j++) {
            if (j < len) {
                ids[j] = j < np ? p->ids[j] : ro->tokens[j - np];
                pos[j] = j;
                seg[j] = 0;
                tgt[j] = j >= np - 1 ? ro->tokens[j - np + 1] : -1;
            } else {
                ids[j] = 0;
                pos[j] = 0;
                seg[j] = -1;
                tgt[j] = -1;
            }
        }
    }
    return TR_OK;
}

static ModelBatch micro_batch(const Micro *m) {
    ModelBatch b = {m->B, m->T, m->ids, m->pos, m->seg, NULL};
    return b;
}

/* Per-token arrays of the step, packed response after response. */
typedef struct {
    RlBatch b;
    int64_t *off;
    int *len;
    float *old, *ref, *adv, *ret, *val, *tokr, *reward, *baseline;
    float *cur;    /* the policy's log-probs before the update (rrs.logratio_max, fdpg offline) */
    double *coef;  /* fdpg: the loss coefficient of each response (N) */
} Packed;

static void packed_free(Packed *p) {
    free(p->off);
    free(p->len);
    free(p->old);
    free(p->ref);
    free(p->adv);
    free(p->ret);
    free(p->val);
    free(p->tokr);
    free(p->cur);
    free(p->coef);
    free(p->reward);
    free(p->baseline);
    memset(p, 0, sizeof *p);
}

static int packed_init(Packed *p, const Roll *g) {
    memset(p, 0, sizeof *p);
    int N = g->n;
    size_t NN = (size_t)(N > 0 ? N : 1);
    p->off = malloc(NN * sizeof *p->off);
    p->len = malloc(NN * sizeof *p->len);
    p->reward = malloc(NN * sizeof(float));
    p->baseline = malloc(NN * sizeof(float));
    p->coef = calloc(NN, sizeof(double));
    if (!p->off || !p->len || !p->reward || !p->baseline || !p->coef) return tr_err(TR_ENOMEM, "out of memory");
    int64_t n = 0;
    for (int i = 0; i < N; i++) {
        p->off[i] = n;
        p->len[i] = g->ro[i].n;
        n += g->ro[i].n;
        p->reward[i] = (float)g->reward[i];
        p->baseline[i] = (float)g->baseline[i];
    }
    size_t nt = (size_t)(n > 0 ? n : 1);
    p->old = calloc(nt, sizeof(float));
    p->ref = calloc(nt, sizeof(float));
    p->adv = calloc(nt, sizeof(float));
    p->ret = calloc(nt, sizeof(float));
    p->val = calloc(nt, sizeof(float));
    p->tokr = calloc(nt, sizeof(float));
    p->cur = calloc(nt, sizeof(float));
    if (!p->old || !p->ref || !p->adv || !p->ret || !p->val || !p->tokr || !p->cur)
        return tr_err(TR_ENOMEM, "out of memory");
    for (int i = 0; i < N; i++) memcpy(p->old + p->off[i], g->ro[i].logp, (size_t)g->ro[i].n * sizeof(float));
    p->b = (RlBatch){N, g->G, p->off, p->len, n};
    return TR_OK;
}

/* Value of response token j of row k: the hidden state that predicts it. */
static void values_of(const VHead *h, const float *hid, const Micro *m, int k, int L, float *v) {
    int C = h->C;
    for (int j = 0; j < L; j++) {
        const float *x = hid + ((size_t)k * m->T + m->row_np[k] - 1 + j) * C;
        double s = h->w[C];
        for (int c = 0; c < C; c++) s += (double)x[c] * h->w[c];
        v[j] = (float)s;
    }
}

/* The responses with tokens, in micro-batches of train.micro_batch. */
static int nonempty(const Roll *g, const int *order, int n, int *out) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (g->ro[order[i]].n > 0) out[k++] = order[i];
    return k;
}

/* Reference log-probs and old values, before any update (and the policy's
 * own log-probs when rrs.logratio_max watches the rollout mismatch). */
static int prepare(Run *r, const Roll *g, Packed *pk, Micro *m, double *ref_s) {
    int N = g->n, mb = (int)r->c->micro_batch, rc = TR_OK;
    int *idx = malloc((size_t)N * sizeof *idx), *all = malloc((size_t)N * sizeof *all);
    if (!idx || !all) {
        free(idx);
        free(all);
        return tr_err(TR_ENOMEM, "out of memory");
    }
    for (int i = 0; i < N; i++) all[i] = i;
    int ne = nonempty(g, all, N, idx);
    double t0 = tr_time();
    for (int s = 0; s < ne && !rc; s += mb) {
        int n = ne - s < mb ? ne - s : mb;
        if ((rc = micro_build(r, g, idx + s, n, m))) break;
        ModelBatch b = micro_batch(m);
        if (r->has_ref) {
            if ((rc = model_forward(&r->ref, &b, m->tgt, m->lp, NULL))) break;
            for (int k = 0; k < n; k++) {
                int i = idx[s + k];
                memcpy(pk->ref + pk->off[i], m->lp + (size_t)k * m->T + m->row_np[k] - 1,
                       (size_t)g->ro[i].n * sizeof(float));
            }
        }
        if ((r->c->rrs_groups && r->c->rrs_logratio_max > 0) || (r->fdpg && r->fd.offline)) {
            if ((rc = model_forward(&r->pol, &b, m->tgt, m->lp, NULL))) break;
            for (int k = 0; k < n; k++) {
                int i = idx[s + k];
                memcpy(pk->cur + pk->off[i], m->lp + (size_t)k * m->T + m->row_np[k] - 1,
                       (size_t)g->ro[i].n * sizeof(float));
            }
        }
        if (r->has_crit) {
            Model *cm = r->shared ? &r->pol : &r->crit;
            if ((rc = model_forward_hidden(cm, &b))) break;
            const float *hid = model_hidden(cm);
            for (int k = 0; k < n; k++) {
                int i = idx[s + k];
                values_of(&r->vh, hid, m, k, g->ro[i].n, pk->val + pk->off[i]);
            }
        }
    }
    *ref_s = tr_time() - t0;
    free(idx);
    free(all);
    return rc;
}

/* Accumulated over the updates of a step. */
typedef struct {
    double loss, pg_loss, kl_loss, clip_frac, clip_high, clip_low, dual_frac, ratio_mean, ratio_max, logratio;
    double vloss, vclip, explained_var, v_mean, ret_mean;
    double entropy, ent_tokens;
    double gnorm, cgnorm, gnorm_max;
    int64_t tokens, updates, vtokens;
    int nonfinite;   /* a loss, gradient or weight was NaN/Inf: the update stopped there */
    const char *nf_what; /* which: "the loss", "the policy gradient", ... */
    double update_s;
} UpdStats;

static void shuffle(Rng *g, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_u64(g) % (uint64_t)(i + 1));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Norm counts of a minibatch so micro-batch losses sum to its loss. */
static double norm_count(LossAgg agg, const Roll *g, const int *idx, int n) {
    double c = 0;
    for (int k = 0; k < n; k++) {
        int L = g->ro[idx[k]].n;
        if (agg == AGG_TOKEN_MEAN) c += L;
        else if (agg == AGG_SEQ_MEAN_TOKEN_MEAN) c += L > 0;
        else c += 1;
    }
    return c;
}

/* Gathers a micro-batch's per-token arrays (responses idx) into dst. */
static void gather(const Packed *pk, const int *idx, int n, const float *src, float *dst) {
    int64_t o = 0;
    for (int k = 0; k < n; k++) {
        int i = idx[k];
        memcpy(dst + o, src + pk->off[i], (size_t)pk->len[i] * sizeof(float));
        o += pk->len[i];
    }
}

typedef struct {
    float *lp, *old, *ref, *adv, *ret, *val, *v, *d, *dv;
    int *len;
    double *coef;
    size_t cap;
    int cap_rows;
} Scratch;

static void scratch_free(Scratch *s) {
    free(s->lp);
    free(s->old);
    free(s->ref);
    free(s->adv);
    free(s->ret);
    free(s->val);
    free(s->v);
    free(s->d);
    free(s->dv);
    free(s->len);
    free(s->coef);
    memset(s, 0, sizeof *s);
}

static int scratch_reserve(Scratch *s, size_t ntok, int rows) {
    if (ntok <= s->cap && rows <= s->cap_rows && s->len) return TR_OK;
    scratch_free(s);
    size_t n = ntok > 1 ? ntok : 1;
    s->lp = malloc(n * sizeof(float));
    s->old = malloc(n * sizeof(float));
    s->ref = malloc(n * sizeof(float));
    s->adv = malloc(n * sizeof(float));
    s->ret = malloc(n * sizeof(float));
    s->val = malloc(n * sizeof(float));
    s->v = malloc(n * sizeof(float));
    s->d = malloc(n * sizeof(float));
    s->dv = malloc(n * sizeof(float));
    s->len = malloc((size_t)(rows > 0 ? rows : 1) * sizeof(int));
    s->coef = malloc((size_t)(rows > 0 ? rows : 1) * sizeof(double));
    if (!s->lp || !s->old || !s->ref || !s->adv || !s->ret || !s->val || !s->v || !s->d || !s->dv || !s->len || !s->coef)
        return tr_err(TR_ENOMEM, "out of memory");
    s->cap = n;
    s->cap_rows = rows > 0 ? rows : 1;
    return TR_OK;
}

/* One micro-batch: forward, losses, backward (gradients accumulate). */
static int micro_step(Run *r, const Roll *g, const Packed *pk, const int *idx, int n, double pol_norm,
                      double val_norm, double ent_norm, int train_policy, int first_epoch, Micro *m, Scratch *sc,
                      UpdStats *us) {
    const RlConfig *c = r->c;
    int rc = micro_build(r, g, idx, n, m);
    if (rc) return rc;
    ModelBatch b = micro_batch(m);
    int64_t nt = 0;
    for (int k = 0; k < n; k++) nt += pk->len[idx[k]];
    if ((rc = scratch_reserve(sc, (size_t)nt, n))) return rc;
    for (int k = 0; k < n; k++) sc->len[k] = pk->len[idx[k]];
    RlBatch mb = {n, 1, NULL, sc->len, nt};
    size_t NT = (size_t)m->B * m->T, C = (size_t)r->pol.cfg.C;
    int need_policy = train_policy || first_epoch || (r->has_crit && r->shared);
    if (need_policy) {
        if ((rc = model_forward(&r->pol, &b, m->tgt, m->lp, m->ent))) return rc;
        int64_t o = 0;
        for (int k = 0; k < n; k++) {
            const float *src = m->lp + (size_t)k * m->T + m->row_np[k] - 1;
            memcpy(sc->lp + o, src, (size_t)sc->len[k] * sizeof(float));
            const float *e = m->ent + (size_t)k * m->T + m->row_np[k] - 1;
            if (first_epoch)
                for (int j = 0; j < sc->len[k]; j++) us->entropy += e[j];
            o += sc->len[k];
        }
        if (first_epoch) us->ent_tokens += (double)nt;
    }
    memset(m->dlp, 0, NT * sizeof(float));
    memset(m->dent, 0, NT * sizeof(float));
    const float *dlp = NULL, *dent = NULL, *dhid = NULL;
    if (train_policy || first_epoch) {
        gather(pk, idx, n, pk->old, sc->old);
        gather(pk, idx, n, pk->adv, sc->adv);
        if (r->has_ref) gather(pk, idx, n, pk->ref, sc->ref);
        PolicyLossCfg pc = r->pc;
        pc.norm_count = pol_norm;
        PolicyLossStats ps;
        if ((rc = policy_loss(&pc, &mb, sc->lp, sc->old, r->has_ref ? sc->ref : NULL, sc->adv, r->fdpg ? NULL : sc->d,
                              &ps)))
            return rc;
        if (r->fdpg) { /* the f-DPG loss and gradient; policy_loss gave the ratio and KL statistics */
            double fl;
            for (int k = 0; k < n; k++) sc->coef[k] = pk->coef[idx[k]];
            if ((rc = fdpg_loss(&mb, sc->lp, sc->coef, pol_norm, sc->d, &fl))) return rc;
            ps.loss = ps.pg_loss = fl;
        }
        if (r->fault && r->fault_kind != FAULT_NAN_WEIGHT) { /* debug.fault: a NaN, or a loss and gradient 1000x too large */
            double f = r->fault_kind == FAULT_NAN ? NAN : 1000.0;
            for (int64_t t = 0; t < nt; t++) sc->d[t] = (float)(sc->d[t] * f);
            ps.loss *= f;
            ps.pg_loss *= f;
        }
        us->loss += ps.loss;
        us->pg_loss += ps.pg_loss;
        us->kl_loss += ps.kl_loss;
        us->clip_frac += ps.clip_frac * nt;
        us->clip_high += ps.clip_frac_high * nt;
        us->clip_low += ps.clip_frac_low * nt;
        us->dual_frac += ps.dual_clip_frac * nt;
        us->ratio_mean += ps.ratio_mean * nt;
        us->logratio += ps.logratio_abs_mean * nt;
        if (ps.ratio_max > us->ratio_max) us->ratio_max = ps.ratio_max;
        us->tokens += nt;
        if (train_policy) {
            int64_t o = 0;
            for (int k = 0; k < n; k++) {
                float *dst = m->dlp + (size_t)k * m->T + m->row_np[k] - 1;
                float *de = m->dent + (size_t)k * m->T + m->row_np[k] - 1;
                memcpy(dst, sc->d + o, (size_t)sc->len[k] * sizeof(float));
                if (c->entropy_coef != 0)
                    for (int j = 0; j < sc->len[k]; j++) de[j] = (float)(-c->entropy_coef / ent_norm);
                o += sc->len[k];
            }
            dlp = m->dlp;
            dent = c->entropy_coef != 0 ? m->dent : NULL;
        }
    }
    if (r->has_crit) {
        Model *cm = r->shared ? &r->pol : &r->crit;
        if (!r->shared && (rc = model_forward_hidden(cm, &b))) return rc;
        const float *hid = model_hidden(cm);
        int64_t o = 0;
        for (int k = 0; k < n; k++) {
            values_of(&r->vh, hid, m, k, sc->len[k], sc->v + o);
            o += sc->len[k];
        }
        gather(pk, idx, n, pk->val, sc->val);
        gather(pk, idx, n, pk->ret, sc->ret);
        ValueLossCfg vc = r->vc;
        vc.norm_count = val_norm;
        ValueLossStats vs;
        if ((rc = value_loss(&vc, &mb, sc->v, sc->val, sc->ret, sc->dv, &vs))) return rc;
        us->vloss += vs.loss;
        us->vclip += vs.clip_frac * nt;
        us->explained_var += vs.explained_var * nt;
        us->v_mean += vs.v_mean * nt;
        us->ret_mean += vs.ret_mean * nt;
        us->vtokens += nt;
        /* d/dw, d/db and d/dh of the (weighted) value loss */
        float scale = r->shared ? (float)c->critic_coef : 1.0f;
        memset(m->dhid, 0, NT * C * sizeof(float));
        o = 0;
        for (int k = 0; k < n; k++) {
            for (int j = 0; j < sc->len[k]; j++) {
                size_t row = (size_t)k * m->T + m->row_np[k] - 1 + j;
                const float *x = hid + row * C;
                float dv = scale * sc->dv[o + j], *dh = m->dhid + row * C;
                for (size_t q = 0; q < C; q++) {
                    r->vh.g[q] += dv * x[q];
                    dh[q] = dv * r->vh.w[q];
                }
                r->vh.g[C] += dv;
            }
            o += sc->len[k];
        }
        dhid = m->dhid;
        if (!r->shared) {
            if ((rc = model_backward_hidden(cm, &b, NULL, NULL, NULL, dhid))) return rc;
            dhid = NULL;
        }
    }
    if (dlp || dhid) rc = model_backward_hidden(&r->pol, &b, m->tgt, dlp, dent, dhid);
    return rc;
}

static int update(Run *r, const Roll *g, const Packed *pk, Micro *m, double lr, UpdStats *us) {
    const RlConfig *c = r->c;
    int N = g->n, rc = TR_OK, E = (int)c->ppo_epochs, MB = (int)c->minibatches;
    int train_policy = r->step >= c->critic_warmup;
    int *order = malloc((size_t)(N > 0 ? N : 1) * sizeof *order), *idx = malloc((size_t)(N > 0 ? N : 1) * sizeof *idx);
    Scratch sc = {0};
    if (!order || !idx) {
        rc = tr_err(TR_ENOMEM, "out of memory");
        goto out;
    }
    double t0 = tr_time();
    for (int e = 0; e < E && !rc && !us->nonfinite; e++) {
        for (int i = 0; i < N; i++) order[i] = i;
        if (MB > 1) shuffle(&r->rng, order, N);
        for (int q = 0; q < MB && !rc; q++) {
            int lo = (int)((int64_t)N * q / MB), hi = (int)((int64_t)N * (q + 1) / MB);
            int ne = nonempty(g, order + lo, hi - lo, idx);
            if (ne == 0) continue;
            double pn = norm_count(r->pc.agg, g, order + lo, hi - lo);
            double vn = norm_count(r->vc.agg, g, order + lo, hi - lo);
            double en = 0;
            for (int k = 0; k < ne; k++) en += g->ro[idx[k]].n;
            model_zero_grads(&r->pol);
            if (r->has_crit) {
                memset(r->vh.g, 0, ((size_t)r->vh.C + 1) * sizeof(float));
                if (!r->shared) model_zero_grads(&r->crit);
            }
            double loss0 = us->loss + us->vloss;
            for (int s = 0; s < ne && !rc; s += (int)c->micro_batch) {
                int n = ne - s < (int)c->micro_batch ? ne - s : (int)c->micro_batch;
                rc = micro_step(r, g, pk, idx + s, n, pn, vn, en, train_policy, e == 0, m, &sc, us);
            }
            if (rc) break;
            /* guard: no optimiser moves on a non-finite loss or gradient;
             * rl_step decides (skip, roll back, stop) */
            double gn = 0, cg = 0;
            /* the value head is clipped (and its norm counted) with the
             * model it sits on: the policy trunk when shared, else the critic */
            const size_t nv = r->has_crit ? (size_t)r->vh.C + 1 : 0;
            if (!isfinite(us->loss + us->vloss - loss0)) us->nf_what = "the loss";
            if (!us->nf_what && nv && tr_first_nonfinite(r->vh.g, nv) < nv) us->nf_what = "the value head gradient";
            if (!us->nf_what && (train_policy || (r->has_crit && r->shared)) &&
                !isfinite(gn = grad_clip2(r->pol.grads, r->pol.n_params, r->shared ? r->vh.g : NULL,
                                          r->shared ? nv : 0, c->grad_clip)))
                us->nf_what = "the policy gradient";
            if (!us->nf_what && r->has_crit && !r->shared &&
                !isfinite(cg = grad_clip2(r->crit.grads, r->crit.n_params, r->vh.g, nv, c->grad_clip)))
                us->nf_what = "the critic gradient";
            if (us->nf_what) {
                us->nonfinite = 1;
                if (!isfinite(gn)) us->gnorm = us->gnorm_max = gn;
                break;
            }
            if (train_policy || (r->has_crit && r->shared)) {
                us->gnorm += gn;
                if (gn > us->gnorm_max) us->gnorm_max = gn;
                adamw_step(&r->opt, r->pol.params, r->pol.grads, (float)lr, r->decay);
            }
            if (r->has_crit) {
                if (!r->shared) {
                    us->cgnorm += cg;
                    adamw_step(&r->copt, r->crit.params, r->crit.grads, (float)c->critic_lr, r->cdecay);
                }
                adamw_step(&r->vh.opt, r->vh.w, r->vh.g, (float)c->critic_lr, NULL);
            }
            us->updates++;
        }
    }
    if (!rc && r->fault && r->fault_kind == FAULT_NAN_WEIGHT) r->pol.params[r->pol.n_params / 2] = NAN;
    if (!rc && !us->nonfinite) { /* finite gradients can still overflow AdamW's moments */
        if (tr_first_nonfinite(r->pol.params, r->pol.n_params) < r->pol.n_params) us->nf_what = "the policy weights";
        else if (r->has_crit && !r->shared && tr_first_nonfinite(r->crit.params, r->crit.n_params) < r->crit.n_params)
            us->nf_what = "the critic weights";
        else if (r->has_crit && tr_first_nonfinite(r->vh.w, (size_t)r->vh.C + 1) <= (size_t)r->vh.C)
            us->nf_what = "the value head weights";
        us->nonfinite = us->nf_what ? 2 : 0;
    }
    us->update_s = tr_time() - t0;
out:
    scratch_free(&sc);
    free(order);
    free(idx);
    return rc;
}

/* ---- rrs: problematic groups, snapshots for rollbacks ---- */

/* KL to the reference (in the reward, or logged) and the advantages of the
 * packed batch. */
static int advantages(Run *r, Packed *pk, double *kl) {
    int rc = TR_OK;
    *kl = 0;
    if (r->has_ref) {
        double km;
        rc = kl_tokens(r->kl, &pk->b, pk->old, pk->ref, r->kl_in_reward ? (float)-r->c->kl_beta : 0.0f, pk->tokr, &km);
        *kl = km;
    }
    AdvKind k = r->ac.kind;
    int tokr = r->kl_in_reward && r->has_ref && (k == ADV_REINFORCE_PP || k == ADV_REINFORCE_PP_BASELINE || k == ADV_GAE);
    if (!rc)
        rc = adv_compute(&r->ac, &pk->b, pk->reward, tokr ? pk->tokr : NULL, k == ADV_REMAX ? pk->baseline : NULL,
                         k == ADV_GAE ? pk->val : NULL, pk->adv, pk->ret);
    return rc;
}

/* ---- f-DPG ---- */

static void reward_ctx(const Run *r, const Roll *g, int i, RewardCtx *x) {
    *x = (RewardCtx){g->text[i], g->tlen[i], g->ro[i].n, (int)r->c->max_new_tokens, g->ro[i].finish == FINISH_LENGTH,
                     &r->train.rec[g->rec[i]], NULL};
}

/* f-DPG in place of the advantages: sequence log-probs under q, pi and the
 * base a, the target log P, the per-prompt Z, pseudo-rewards, the loss
 * coefficients (pk->coef; broadcast into pk->adv for the adv metrics) and
 * the step's estimates (r->fst and friends). */
static int fdpg_prepare(Run *r, const Roll *g, Packed *pk, double *kl) {
    FdpgRun *f = &r->fd;
    int N = g->n, W = fdpg_run_width(f), rc;
    size_t NN = (size_t)(N > 0 ? N : 1);
    double *buf = malloc(NN * (7 + (size_t)W) * sizeof(double));
    RewardCtx *ctx = malloc(NN * sizeof *ctx);
    const int32_t **seq = malloc(NN * sizeof *seq);
    int *len = malloc(NN * sizeof *len);
    if (!buf || !ctx || !seq || !len) {
        rc = tr_err(TR_ENOMEM, "out of memory");
        goto out;
    }
    double *lq = buf, *lpi = lq + NN, *la = lpi + NN, *lP = la + NN, *lz = lP + NN, *R = lz + NN, *rew = R + NN,
           *val = rew + NN;
    for (int i = 0; i < N; i++) {
        double sq = 0, sp = 0, sa = 0;
        for (int64_t t = pk->off[i]; t < pk->off[i] + pk->len[i]; t++) {
            sq += pk->old[t];
            sp += pk->cur[t];
            sa += pk->ref[t];
        }
        lq[i] = sq;
        lpi[i] = f->offline ? sp : sq;
        la[i] = sa;
        rew[i] = g->reward[i];
        reward_ctx(r, g, i, &ctx[i]);
        seq[i] = g->ro[i].tokens;
        len[i] = g->ro[i].n;
    }
    if ((rc = fdpg_run_values(f, ctx, N, val))) goto out;
    fdpg_run_logP(f, N, la, val, rew, lP);
    for (int i = 0; i < N && !rc; i++) rc = fdpg_z_add(&f->z[g->rec[i]], lP[i] == -INFINITY ? -INFINITY : lP[i] - lq[i]);
    if (rc) goto out;
    double zs = 0;
    int zn = 0;
    for (int i = 0; i < N; i++) {
        lz[i] = fdpg_z_log(&f->z[g->rec[i]]);
        if (isfinite(lz[i])) {
            zs += lz[i];
            zn++;
        }
    }
    FdpgSamples smp = {N, lpi, lq, lP, lz, la};
    if ((rc = fdpg_coefs(&f->cfg, &smp, 0, R, NULL, &r->fst))) goto out;
    /* the baseline of the samples before this batch (this batch's own mean at the start) */
    double b = !f->base.cap ? 0 : f->base.n ? fdpg_baseline_mean(&f->base) : r->fst.r_mean;
    if ((rc = fdpg_coefs(&f->cfg, &smp, b, NULL, pk->coef, &r->fst))) goto out;
    for (int i = 0; i < N && f->base.cap; i++) fdpg_baseline_push(&f->base, R[i]);
    for (int i = 0; i < N; i++)
        for (int64_t t = pk->off[i]; t < pk->off[i] + pk->len[i]; t++) pk->adv[t] = (float)pk->coef[i];
    /* what pi does (importance-weighted when q is not pi) */
    int nv = f->target == FDPG_TILT ? 1 : W;
    for (int j = 0; j < nv; j++) {
        double sv = 0;
        for (int i = 0; i < N; i++) sv += exp(lpi[i] - lq[i]) * (f->target == FDPG_TILT ? rew[i] : val[(size_t)i * W + j]);
        r->fd_val_mean[j] = N ? sv / N : 0;
    }
    r->fd_baseline = b;
    r->fd_log_z = zn ? zs / zn : -INFINITY;
    for (int n = 1; n <= 3; n++) r->fd_distinct[n - 1] = fdpg_distinct(seq, len, N, n);
    r->fd_unique = fdpg_unique(seq, len, N);
    double km = 0;
    rc = kl_tokens(r->kl, &pk->b, pk->old, pk->ref, 0.0f, pk->tokr, &km);
    *kl = km;
out:
    free(buf);
    free(ctx);
    free(seq);
    free(len);
    return rc;
}

/* Distributional targets: lambda from fdpg.fit_samples samples of the base
 * a (the reference model) on prompts drawn uniformly, with a stream of
 * their own so the run's draws stay as they are; RUN/fdpg_fit.json. */
static int fdpg_fit(Run *r, const char *run_dir) {
    const RlConfig *c = r->c;
    FdpgRun *f = &r->fd;
    int n = (int)c->fdpg_fit_samples, P = (int)c->prompts, G = (int)c->group, k = f->k, rc = TR_OK;
    double *phi = malloc((size_t)n * k * sizeof *phi);
    Prompt *pr = calloc((size_t)P, sizeof *pr);
    RewardCtx *ctx = malloc((size_t)P * G * sizeof *ctx);
    if (!phi || !pr || !ctx) {
        rc = tr_err(TR_ENOMEM, "out of memory");
        goto out;
    }
    Rng fr;
    rng_seed(&fr, run_mix64((uint64_t)c->seed) ^ 0xfd90f17ull);
    double t0 = tr_time();
    for (int got = 0; got < n && !rc;) {
        Roll g = {0};
        if ((rc = roll_reserve(&g, P * G, r->rs.n))) break;
        memset(g.ro, 0, (size_t)P * G * sizeof *g.ro);
        memset(g.text, 0, (size_t)P * G * sizeof *g.text);
        g.n = P * G;
        g.G = G;
        for (int p = 0; p < P && !rc; p++) {
            int64_t rec = (int64_t)(rng_u64(&fr) % (uint64_t)r->train.n);
            for (int s = 0; s < G; s++) g.rec[p * G + s] = (int)rec;
            rc = prompt_ids(r, rec, &pr[p]);
        }
        RolloutConfig rcfg;
        rollout_setup(r, &rcfg, G, 1.0f, rng_u64(&fr));
        if (!rc) rc = rollout_generate(&r->ref, pr, P, &rcfg, g.ro, NULL);
        int m = n - got < P * G ? n - got : P * G;
        for (int i = 0; i < m && !rc; i++) {
            rc = data_response_text(&r->tok, &g.ro[i], &g.text[i], &g.tlen[i]);
            reward_ctx(r, &g, i, &ctx[i]);
        }
        if (!rc) rc = fdpg_run_values(f, ctx, m, phi + (size_t)got * k);
        got += m;
        roll_free(&g);
    }
    const char *names[FDPG_MAX_FEATURES];
    for (int j = 0; j < k; j++) names[j] = reward_set_name(&f->feat, j);
    if (!rc) rc = fdpg_fit_lambda(phi, n, k, f->mu, names, c->fdpg_fit_tol, (int)c->fdpg_fit_iters, f->lambda, &f->fit);
    if (!rc && !f->fit.converged)
        rc = tr_err(TR_EINVAL, "fdpg.features: the lambda fit stopped after %d iterations %g away from the moments "
                               "(raise fdpg.fit_iters or fdpg.fit_samples)", f->fit.iters, f->fit.max_err);
    if (!rc) rc = fdpg_run_write_fit(f, run_dir, n);
    if (!rc) f->fitted = 1;
    if (!rc && r->log) {
        fprintf(r->log, "rl: fdpg lambda fit on %d samples of the base (%.1fs, %d Newton steps, ESS %.2f):", n,
                tr_time() - t0, f->fit.iters, f->fit.ess);
        for (int j = 0; j < k; j++)
            fprintf(r->log, " %s %.3f -> %.3f (requested %.3f, lambda %.3f);", names[j], f->fit.base[j], f->fit.achieved[j],
                    f->mu[j], f->lambda[j]);
        fprintf(r->log, "\n");
    }
out:
    free(phi);
    free(pr);
    free(ctx);
    return rc;
}

/* Offline: every fdpg.q_every steps, the proposal becomes the policy when
 * the policy is closer to p (KL(p||.) estimated on the samples since the
 * last check); an event line records the decision taken. */
/* Writes one event line ({"step":K,"event":NAME,...}) to metrics.jsonl and
 * flushes it; takes ev. */
static int write_event(FILE *mf, cJSON *ev) {
    int rc = run_json_line(mf, ev, "metrics.jsonl");
    fflush(mf);
    if (rc) return rc;
    return ferror(mf) ? tr_err(TR_EIO, "metrics.jsonl: write failed") : TR_OK;
}

static int fdpg_check_proposal(Run *r, FILE *mf) {
    FdpgRun *f = &r->fd;
    if (isfinite(r->fst.kl_p_pi) && isfinite(r->fst.kl_p_q)) { /* NaN: no sample in p's support this step */
        f->acc_pi += r->fst.kl_p_pi;
        f->acc_q += r->fst.kl_p_q;
        f->acc_n++;
    }
    if (r->step % f->q_every) return TR_OK;
    int better = f->acc_n > 0 && f->acc_pi < f->acc_q;
    if (better) {
        memcpy(r->prop.params, r->pol.params, r->pol.n_params * sizeof(float));
        f->q_updates++;
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddNumberToObject(ev, "step", (double)r->step);
        cJSON_AddStringToObject(ev, "event", "fdpg_q_update");
        cJSON_AddNumberToObject(ev, "kl_p_pi", f->acc_pi / f->acc_n);
        cJSON_AddNumberToObject(ev, "kl_p_q", f->acc_q / f->acc_n);
        int rc = write_event(mf, ev);
        if (rc) return rc;
        if (r->log)
            fprintf(r->log, "rl: step %lld: the proposal is now the policy (KL(p||pi) %.4f < KL(p||q) %.4f)\n",
                    (long long)r->step, f->acc_pi / f->acc_n, f->acc_q / f->acc_n);
    }
    f->acc_pi = f->acc_q = 0;
    f->acc_n = 0;
    return TR_OK;
}

/* Groups taken out of this step's update, by reason (a group counts once,
 * under its first reason in this order). */
enum { WHY_ZERO_ADV, WHY_TRUNC, WHY_LOOP, WHY_KL, WHY_LOGRATIO, WHY_COUNT };
static const char *const WHY_NAME[WHY_COUNT] = {"zero_adv", "truncated", "loop", "kl", "logratio"};
typedef struct {
    int64_t n[WHY_COUNT];
    int64_t groups;   /* groups looked at */
} GroupFlags;

/* Why group q of g is problematic (-1: it is not). */
static int group_problem(const Run *r, const Roll *g, const Packed *pk, int q) {
    const RlConfig *c = r->c;
    int G = g->G, zero = 1, trunc = 0, loop = 0, either = 0;
    double kl = 0, lr = 0;
    int64_t ntok = 0;
    for (int s = 0; s < G; s++) {
        int i = q * G + s;
        const Rollout *ro = &g->ro[i];
        const float *a = pk->adv + pk->off[i];
        for (int t = 0; t < ro->n && zero; t++) zero = fabsf(a[t]) <= 1e-7f;
        int is_t = ro->finish == FINISH_LENGTH;
        int is_l = rrs_ngram_loop(ro->tokens, ro->n, (int)c->rrs_loop_ngram, (int)c->rrs_loop_reps);
        trunc += is_t;
        loop += is_l;
        either += is_t || is_l;
        for (int t = 0; t < ro->n; t++) {
            size_t o = (size_t)pk->off[i] + (size_t)t;
            if (r->has_ref) kl += kl_value(r->kl, pk->old[o], pk->ref[o]);
            lr += fabs((double)pk->cur[o] - pk->old[o]);
        }
        ntok += ro->n;
    }
    if (zero) return WHY_ZERO_ADV;
    double lim = c->rrs_trunc_frac * G;
    if (either > lim) return loop > trunc ? WHY_LOOP : WHY_TRUNC;
    if (ntok > 0 && r->has_ref && c->rrs_kl_max > 0 && kl / (double)ntok > c->rrs_kl_max) return WHY_KL;
    if (ntok > 0 && c->rrs_logratio_max > 0 && lr / (double)ntok > c->rrs_logratio_max) return WHY_LOGRATIO;
    return -1;
}

/* rrs.groups: takes problematic groups out of g (their prompts go to the
 * queue, due rrs.delay steps later), repacks what is left and recomputes the
 * advantages of the rest. With the ads sampler a group that is only
 * zero-advantage (all solved or all failed) is not queued: its estimate
 * already moved to the edge, where ads draws it rarely or parks it. */
static int defer_groups(Run *r, Roll *g, Packed *pk, double *kl, GroupFlags *gf) {
    int G = g->G, ng = g->n / G, nbad = 0, rc = TR_OK;
    int *why = malloc((size_t)(ng > 0 ? ng : 1) * sizeof *why);
    if (!why) return tr_err(TR_ENOMEM, "out of memory");
    for (int q = 0; q < ng; q++) {
        why[q] = group_problem(r, g, pk, q);
        gf->groups++;
        if (why[q] < 0) continue;
        gf->n[why[q]]++;
        nbad++;
        if (why[q] == WHY_ZERO_ADV && r->use_ads) continue; /* ads re-weighs or parks it by itself */
        int d = rrs_defer(&r->rq, g->rec[q * G], g->times[q * G], r->step + 1);
        if (d < 0) rc = d;
    }
    if (nbad == 0 || rc) {
        free(why);
        return rc;
    }
    Roll k = {0};
    Packed kp = {0};
    k.G = G;
    int *from = malloc((size_t)g->n * sizeof *from);
    if (!from || (rc = roll_reserve(&k, g->n, r->rs.n))) {
        free(from);
        free(why);
        roll_free(&k);
        return rc ? rc : tr_err(TR_ENOMEM, "out of memory");
    }
    for (int q = 0; q < ng; q++)
        if (why[q] < 0)
            for (int s = 0; s < G; s++) {
                from[k.n] = q * G + s;
                roll_move(&k, g, q * G + s, r->rs.n);
            }
    if (!(rc = packed_init(&kp, &k))) {
        for (int i = 0; i < k.n; i++) {
            size_t n = (size_t)k.ro[i].n * sizeof(float), a = (size_t)kp.off[i], b = (size_t)pk->off[from[i]];
            memcpy(kp.ref + a, pk->ref + b, n);
            memcpy(kp.val + a, pk->val + b, n);
            memcpy(kp.cur + a, pk->cur + b, n);
        }
        if (k.n > 0) rc = advantages(r, &kp, kl);
    }
    roll_free(g);
    packed_free(pk);
    *g = k;
    *pk = kp;
    free(from);
    free(why);
    return rc;
}

/* What a rollback restores: the policy, its AdamW state, the critic (or the
 * value head) and theirs, as of the end of the last good step. */
#define SNAP_MAX 10
typedef struct {
    int n;
    float *live[SNAP_MAX], *copy[SNAP_MAX];
    size_t len[SNAP_MAX];
    int64_t *tlive[4], tcopy[4];
    int nt;
} Snap;

static void snap_free(Snap *s) {
    for (int i = 0; i < s->n; i++) free(s->copy[i]);
    memset(s, 0, sizeof *s);
}

static int snap_add(Snap *s, float *live, size_t len) {
    TR_ASSERT(s->n < SNAP_MAX);
    s->live[s->n] = live;
    s->len[s->n] = len;
    if (!(s->copy[s->n] = malloc((len ? len : 1) * sizeof(float))))
        return tr_err(TR_ENOMEM, "out of memory for the rollback snapshot (%zu floats; rrs.rollback=false avoids it)", len);
    s->n++;
    return TR_OK;
}

static int snap_init(Snap *s, Run *r) {
    memset(s, 0, sizeof *s);
    int rc = snap_add(s, r->pol.params, r->pol.n_params);
    if (!rc) rc = snap_add(s, r->opt.m, r->opt.n);
    if (!rc) rc = snap_add(s, r->opt.v, r->opt.n);
    s->tlive[s->nt++] = &r->opt.t;
    if (!rc && r->has_crit) {
        size_t C1 = (size_t)r->vh.C + 1;
        rc = snap_add(s, r->vh.w, C1);
        if (!rc) rc = snap_add(s, r->vh.opt.m, C1);
        if (!rc) rc = snap_add(s, r->vh.opt.v, C1);
        s->tlive[s->nt++] = &r->vh.opt.t;
        if (!rc && !r->shared) {
            rc = snap_add(s, r->crit.params, r->crit.n_params);
            if (!rc) rc = snap_add(s, r->copt.m, r->copt.n);
            if (!rc) rc = snap_add(s, r->copt.v, r->copt.n);
            s->tlive[s->nt++] = &r->copt.t;
        }
    }
    if (rc) snap_free(s);
    return rc;
}

static void snap_take(Snap *s) {
    for (int i = 0; i < s->n; i++) memcpy(s->copy[i], s->live[i], s->len[i] * sizeof(float));
    for (int i = 0; i < s->nt; i++) s->tcopy[i] = *s->tlive[i];
}

static void snap_restore(const Snap *s) {
    for (int i = 0; i < s->n; i++) memcpy(s->live[i], s->copy[i], s->len[i] * sizeof(float));
    for (int i = 0; i < s->nt; i++) *s->tlive[i] = s->tcopy[i];
}

/* ---- checkpoints ---- */

/* The checkpoint's files beside the policy: critic.safetensors (gae) and
 * proposal.safetensors (fdpg offline). */
static int save_critic(void *ctx, const char *dir) {
    Run *r = ctx;
    char p[4400];
    int rc = TR_OK;
    if (r->fdpg && r->fd.offline) rc = ckpt_check_finite(&r->prop, NULL, "fdpg proposal");
    if (!rc && r->has_crit && !r->shared) rc = ckpt_check_finite(&r->crit, &r->copt, "critic");
    if (!rc && r->has_crit && (tr_first_nonfinite(r->vh.w, (size_t)r->vh.C + 1) <= (size_t)r->vh.C ||
                               tr_first_nonfinite(r->vh.opt.m, r->vh.opt.n) < r->vh.opt.n ||
                               tr_first_nonfinite(r->vh.opt.v, r->vh.opt.n) < r->vh.opt.n))
        rc = tr_err(TR_EINVAL, "value head: a weight or AdamW moment is not finite");
    if (rc) return tr_err_ctx(rc, "checkpoint of step %lld not written (the previous one is intact)", (long long)r->step);
    if (r->fdpg && r->fd.offline) {
        StWrite w = {"proposal", ST_F32, r->prop.params, 1, {(int64_t)r->prop.n_params}};
        snprintf(p, sizeof p, "%s/proposal.safetensors", dir);
        rc = st_write(p, &w, 1, NULL, 0);
        if (rc) return rc;
    }
    if (!r->has_crit) return TR_OK;
    size_t C1 = (size_t)r->vh.C + 1;
    StWrite w[6];
    int n = 0;
    w[n++] = (StWrite){"v_head", ST_F32, r->vh.w, 1, {(int64_t)C1}};
    w[n++] = (StWrite){"v_head.adamw.m", ST_F32, r->vh.opt.m, 1, {(int64_t)C1}};
    w[n++] = (StWrite){"v_head.adamw.v", ST_F32, r->vh.opt.v, 1, {(int64_t)C1}};
    if (!r->shared) {
        w[n++] = (StWrite){"critic", ST_F32, r->crit.params, 1, {(int64_t)r->crit.n_params}};
        w[n++] = (StWrite){"critic.adamw.m", ST_F32, r->copt.m, 1, {(int64_t)r->copt.n}};
        w[n++] = (StWrite){"critic.adamw.v", ST_F32, r->copt.v, 1, {(int64_t)r->copt.n}};
    }
    snprintf(p, sizeof p, "%s/critic.safetensors", dir);
    return st_write(p, w, n, NULL, 0);
}

static int read_vec(const StFile *f, const char *name, float *dst, size_t n) {
    const StTensor *t = st_find(f, name);
    if (!t) return tr_err(TR_EFORMAT, "critic.safetensors: tensor '%s' missing", name);
    return st_read_f32(f, t, dst, n);
}

static int load_critic(Run *r, const char *ck, const cJSON *state) {
    char p[4400];
    snprintf(p, sizeof p, "%s/critic.safetensors", ck);
    StFile f;
    if (access(p, F_OK) != 0)
        return tr_err(TR_EFORMAT, "%s: no critic in the checkpoint (the run was not started with algo.adv=gae)", ck);
    int rc = st_open(&f, p);
    if (rc) return rc;
    size_t C1 = (size_t)r->vh.C + 1;
    rc = read_vec(&f, "v_head", r->vh.w, C1);
    if (!rc) rc = read_vec(&f, "v_head.adamw.m", r->vh.opt.m, C1);
    if (!rc) rc = read_vec(&f, "v_head.adamw.v", r->vh.opt.v, C1);
    if (!rc && !r->shared) {
        rc = read_vec(&f, "critic", r->crit.params, r->crit.n_params);
        if (!rc) rc = read_vec(&f, "critic.adamw.m", r->copt.m, r->copt.n);
        if (!rc) rc = read_vec(&f, "critic.adamw.v", r->copt.v, r->copt.n);
    }
    st_close(&f);
    const cJSON *cj = cJSON_GetObjectItemCaseSensitive(state, "critic");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cj, "critic_t");
    char what[4500];
    snprintf(what, sizeof what, "%s: state.critic.v_head_t", ck);
    if (!rc) rc = ckpt_state_count(cj, "v_head_t", 0, CKPT_COUNT_MAX, what, &r->vh.opt.t);
    snprintf(what, sizeof what, "%s: state.critic.critic_t", ck);
    if (!rc && !r->shared) {
        r->copt.t = 0;
        if (ct) rc = ckpt_state_count(cj, "critic_t", 0, CKPT_COUNT_MAX, what, &r->copt.t);
    }
    return rc ? tr_err_ctx(rc, "%s", p) : TR_OK;
}

static int save_ckpt(Run *r, const char *run_dir) {
    cJSON *s = cJSON_CreateObject();
    cJSON *sj = cJSON_AddObjectToObject(s, "sampler");
    cJSON_AddNumberToObject(sj, "epoch", (double)r->epoch);
    cJSON_AddNumberToObject(sj, "cursor", (double)r->cursor);
    cJSON_AddNumberToObject(sj, "records", (double)r->train.n);
    cJSON_AddItemToObject(s, "rng", ckpt_rng_json(&r->rng));
    if (r->use_ads) cJSON_AddItemToObject(s, "ads", ads_to_json(&r->ads));
    if (r->use_queue) {
        cJSON *q = rrs_queue_to_json(&r->rq);
        cJSON_AddNumberToObject(q, "rollbacks", (double)r->rollbacks);
        if (r->c->rrs_rollback) cJSON_AddItemToObject(q, "spikes", spike_to_json(&r->sd));
        cJSON_AddItemToObject(s, "rrs", q);
    }
    if (r->fdpg) cJSON_AddItemToObject(s, "fdpg", fdpg_run_to_json(&r->fd));
    cJSON *gj = cJSON_AddObjectToObject(s, "guard");
    cJSON_AddNumberToObject(gj, "skips", (double)r->skips);
    cJSON_AddNumberToObject(gj, "skips_row", (double)r->skips_row);
    if (r->has_crit) {
        cJSON *cj = cJSON_AddObjectToObject(s, "critic");
        cJSON_AddNumberToObject(cj, "v_head_t", (double)r->vh.opt.t);
        if (!r->shared) cJSON_AddNumberToObject(cj, "critic_t", (double)r->copt.t);
    }
    int rc = ckpt_save_ex(run_dir, r->step, &r->pol, &r->opt, s, r->tok_dir, (int)r->c->ckpt_keep, save_critic, r);
    cJSON_Delete(s);
    return rc;
}

/* ---- setup ---- */

static int task_records(const RlConfig *c, const TaskDef *t, int64_t first, int64_t n, Dataset *d) {
    char *store = NULL, **kv = NULL;
    int nkv = 0;
    TaskOpts o = {0};
    memset(d, 0, sizeof *d);
    int rc = run_split_opts(c->data_task_options, &store, &kv, &nkv);
    if (!rc) rc = task_opts_init(&o, t, kv, nkv);
    if (rc) rc = tr_err_ctx(rc, "data.task_options");
    if (!rc && !(d->rec = calloc((size_t)(n > 0 ? n : 1), sizeof *d->rec))) rc = tr_err(TR_ENOMEM, "out of memory");
    for (int64_t i = 0; i < n && !rc; i++) {
        rc = task_record(t, &o, (uint64_t)c->data_seed, first + i, 0, &d->rec[i]);
        if (!rc) d->n++;
    }
    task_opts_free(&o);
    free(store);
    free(kv);
    return rc;
}

static int load_data(Run *r) {
    const RlConfig *c = r->c;
    int rc;
    const char *tn = c->data_task && *c->data_task ? c->data_task : NULL;
    if (tn && !(r->task = task_find(tn))) return tr_err(TR_EINVAL, "data.task: unknown task '%s'", tn);
    if (c->data_train && *c->data_train) {
        if ((rc = dataset_load(&r->train, c->data_train, c->data_skip_bad, r->log))) return rc;
        for (int64_t i = 0; i < r->train.n; i++)
            if (!r->train.rec[i].answer && !record_meta_str(&r->train.rec[i], "target"))
                return tr_err(TR_EINVAL, "%s: record %s has no answer to verify against", c->data_train,
                              r->train.rec[i].id);
        if (!r->task) {
            const char *mt = record_meta_str(&r->train.rec[0], "task");
            r->task = task_find(mt ? mt : "arith");
            if (!r->task) r->task = task_find("arith");
        }
        if (c->data_eval && *c->data_eval) rc = dataset_load(&r->ev, c->data_eval, c->data_skip_bad, r->log);
    } else {
        if ((rc = task_records(c, r->task, 0, c->data_n_train, &r->train))) return rc;
        if (c->data_eval && *c->data_eval) rc = dataset_load(&r->ev, c->data_eval, c->data_skip_bad, r->log);
        else if (c->data_n_eval > 0) rc = task_records(c, r->task, c->data_n_train, c->data_n_eval, &r->ev);
    }
    if (rc) return rc;
    if (c->eval_prompts > 0 && r->ev.n > c->eval_prompts) {
        for (int64_t i = c->eval_prompts; i < r->ev.n; i++) record_free(&r->ev.rec[i]);
        r->ev.n = c->eval_prompts;
    }
    r->pids = calloc((size_t)r->train.n, sizeof *r->pids);
    r->perm = malloc((size_t)r->train.n * sizeof *r->perm);
    if (!r->pids || !r->perm) return tr_err(TR_ENOMEM, "out of memory");
    return task_patterns(r->task, &r->ps);
}

static int setup_algo(Run *r) {
    const RlConfig *c = r->c;
    AdvKind k = (AdvKind)adv_parse(c->adv);
    r->ac = adv_cfg_default(k);
    r->ac.gamma = (float)c->gamma;
    r->ac.lambda_actor = (float)c->lambda_actor;
    r->ac.lambda_critic = (float)c->lambda_critic;
    r->ac.vapo_alpha = (float)c->vapo_alpha;
    r->ac.std_population = c->std_population;
    r->kl = (KlKind)kl_parse(c->kl_estimator);
    r->kl_in_reward = !strcmp(c->kl_placement, "reward");
    r->pc = policy_loss_cfg_default();
    r->pc.eps_low = (float)c->eps_low;
    r->pc.eps_high = (float)c->eps_high;
    r->pc.dual_clip_c = (float)c->dual_clip;
    r->pc.agg = (LossAgg)loss_agg_parse(c->loss_agg);
    r->pc.max_len = (int)(c->loss_max_len ? c->loss_max_len : c->max_new_tokens);
    r->pc.beta = (float)c->kl_beta;
    r->pc.kl = r->kl;
    r->pc.kl_in_loss = !r->kl_in_reward && c->kl_beta > 0;
    r->vc = (ValueLossCfg){(float)c->critic_eps_v, r->pc.agg, r->pc.max_len, 0};
    r->has_ref = c->kl_beta > 0;
    r->fdpg = !strcmp(c->adv, "fdpg");
    if (r->fdpg) { /* the base a(x) is the reference; no KL term: it is in the target */
        r->ac = adv_cfg_default(ADV_GRPO);
        r->has_ref = 1;
        r->pc.beta = 0;
        r->pc.kl_in_loss = 0;
        r->pc.agg = AGG_SEQ_MEAN_TOKEN_SUM_NORM; /* norm_count: every response counts once */
        r->vc.agg = r->pc.agg;
    }
    r->has_crit = k == ADV_GAE;
    r->shared = r->has_crit && !strcmp(c->critic_mode, "shared");
    r->dynamic = !strcmp(c->sampler, "dynamic");
    r->guard = !strcmp(c->guard_nonfinite, "skip")       ? GUARD_SKIP
               : !strcmp(c->guard_nonfinite, "rollback") ? GUARD_ROLLBACK
               : !strcmp(c->guard_nonfinite, "stop")     ? GUARD_STOP
               : c->rrs_rollback                         ? GUARD_ROLLBACK
                                                         : GUARD_SKIP;
    r->snap_on = c->rrs_rollback || r->guard == GUARD_ROLLBACK;
    reward_set_init(&r->rs);
    int rc = reward_set_parse(&r->rs, c->reward);
    if (rc) return tr_err_ctx(rc, "reward.spec");
    int any = r->fdpg; /* f-DPG's pointwise and distributional targets have their own specs */
    for (int i = 0; i < r->rs.n; i++) any |= r->rs.term[i].weight != 0;
    if (!any)
        return tr_err(TR_EINVAL, "reward.spec: every weight is 0, so every reward would be 0 and nothing would be "
                                 "learned");
    return TR_OK;
}

static int setup_tokenizer(Run *r) {
    const RlConfig *c = r->c;
    const char *p = c->tokenizer && *c->tokenizer ? c->tokenizer : c->model_path;
    struct stat sb;
    snprintf(r->tok_dir, sizeof r->tok_dir, "%s", p);
    if (stat(p, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
        char *sl = strrchr(r->tok_dir, '/');
        if (sl) *sl = 0;
        else snprintf(r->tok_dir, sizeof r->tok_dir, ".");
    }
    return tok_load(&r->tok, p);
}

/* ---- memory plan ---- */

/* What changes the plan: the config's sizes and which copies exist. */
typedef struct {
    int64_t micro_batch, slots;
    int has_ref, has_crit, shared, offline, snap_on, pack;
} PlanOpts;

/* The run's memory, term by term: what setup_models, the rollouts and the
 * updates will hold at their peak (the KV cache lives during generation,
 * the activations from the first update on; both are counted). maxp: the
 * longest prompt in tokens, maxe: the longest held-out one. */
static void rl_plan(const Run *r, const ModelConfig *mc, size_t n, int maxp, int maxe, const PlanOpts *o, MemPlan *p) {
    const RlConfig *c = r->c;
    double W = (double)n * sizeof(float), M = (double)n / 1e6;
    memset(p, 0, sizeof *p);
    memplan_add(p, "policy weights", W, NULL, "%.2fM parameters x 4 B (fp32)", M);
    memplan_add(p, "policy gradients", W, NULL, "fp32, one per parameter");
    memplan_add(p, "policy AdamW moments", 2 * W + (double)n, NULL, "m and v in fp32, a weight-decay mask byte");
    if (o->has_ref) memplan_add(p, "reference model", W, r->fdpg ? NULL : "kl.beta=0", "a frozen copy of model.path");
    if (o->has_crit && !o->shared)
        memplan_add(p, "critic", 4 * W + (double)n, "critic.mode=shared", "a separate model: weights, gradients, AdamW");
    if (o->offline) memplan_add(p, "f-DPG proposal", W, "fdpg.offline=false", "a frozen copy of the policy that samples");
    if (o->snap_on)
        memplan_add(p, "rollback snapshot", 3 * W * (o->has_crit && !o->shared ? 2 : 1),
                    c->rrs_rollback ? "rrs.rollback=false" : "guard.nonfinite=skip",
                    "weights and AdamW moments of the last good step");
    int64_t T = (int64_t)maxp + c->max_new_tokens - 1, nresp = c->prompts * c->group;
    if (T > mc->max_pos) T = mc->max_pos;
    int64_t rows = o->micro_batch < nresp ? o->micro_batch : nresp;
    size_t N = (size_t)(rows * T);
    double act = (double)model_acts_bytes(mc, N);
    memplan_add(p, "policy activations", act + (double)N * (8 * 4 + 4.0 * mc->C), "train.micro_batch",
                "%lld rows x %lld tokens, logits included", (long long)rows, (long long)T);
    if (o->has_ref) memplan_add(p, "reference activations", act, "train.micro_batch", "its forward over the same rows");
    if (o->has_crit && !o->shared) memplan_add(p, "critic activations", act, "train.micro_batch", "forward and backward over the same rows");
    double gen = (double)rollout_bytes(mc, (int)c->prompts, (int)c->group, (int)o->slots, maxp, (int)c->max_new_tokens);
    int64_t ne = r->ev.n;
    if (c->eval_every > 0 && ne > 0) {
        double ge = (double)rollout_bytes(mc, (int)ne, (int)c->eval_n, (int)o->slots, maxe, (int)c->max_new_tokens);
        if (ge > gen) gen = ge;
    }
    int64_t S = o->slots ? o->slots : ROLLOUT_DEFAULT_SLOTS;
    if (S > nresp) S = nresp;
    memplan_add(p, "KV cache and decoding", gen, "rollout.slots", "%lld slots x %lld positions x %d layers, logits, scratch",
                (long long)S, (long long)T, mc->L);
    if (o->pack)
        memplan_add(p, "packed weights", (double)kvcache_pack_bytes(mc), "rollout.pack",
                    "a copy of the policy's weights for the decode products");
    /* per response token: ids, log-probs (old, ref, current), advantages,
     * returns, values, masks... about a dozen 4-byte values */
    double nro = (double)nresp * (r->dynamic ? 2 : 1);
    memplan_add(p, "rollout buffers", nro * (double)T * 48, "rollout.prompts", "%lld responses x %lld tokens x ~12 values",
                (long long)nresp, (long long)T);
    memplan_add(p, "runtime, tokenizer, data", memplan_rss(), NULL, "resident before the models load (measured)");
}

static int plan_fits(const Run *r, const ModelConfig *mc, size_t n, int maxp, int maxe, const PlanOpts *o,
                     double limit) {
    MemPlan p;
    rl_plan(r, mc, n, maxp, maxe, o, &p);
    return memplan_total(&p) <= limit;
}

/* A setting that makes the plan fit in limit, into out ("" if none does):
 * the micro-batch or the decode slots halved alone, the guard's snapshot
 * dropped, then both numbers at 1. */
static void rl_plan_fit(const Run *r, const ModelConfig *mc, size_t n, int maxp, int maxe, const PlanOpts *o0,
                        double limit, char *out, size_t cap) {
    *out = 0;
    int64_t nresp = r->c->prompts * r->c->group;
    int64_t S0 = o0->slots ? o0->slots : ROLLOUT_DEFAULT_SLOTS;
    const struct {
        const char *key;
        size_t off;
        int64_t from;
    } K[] = {{"train.micro_batch", offsetof(PlanOpts, micro_batch), o0->micro_batch < nresp ? o0->micro_batch : nresp},
             {"rollout.slots", offsetof(PlanOpts, slots), S0 < nresp ? S0 : nresp}};
    for (size_t k = 0; k < sizeof K / sizeof K[0]; k++) {
        PlanOpts o = *o0;
        int64_t *f = (int64_t *)((char *)&o + K[k].off);
        for (int64_t v = K[k].from / 2; v >= 1; v /= 2) {
            *f = v;
            if (plan_fits(r, mc, n, maxp, maxe, &o, limit)) {
                snprintf(out, cap, "%s=%lld", K[k].key, (long long)v);
                return;
            }
        }
    }
    PlanOpts o = *o0;
    o.pack = 0;
    if (o0->pack && plan_fits(r, mc, n, maxp, maxe, &o, limit)) {
        snprintf(out, cap, "rollout.pack=false");
        return;
    }
    o = *o0;
    o.snap_on = r->c->rrs_rollback; /* rrs.rollback needs it; a guard rollback can be a skip */
    if (o0->snap_on && !o.snap_on && plan_fits(r, mc, n, maxp, maxe, &o, limit)) {
        snprintf(out, cap, "guard.nonfinite=skip");
        return;
    }
    o = *o0;
    o.micro_batch = o.slots = 1;
    o.pack = 0;
    if (plan_fits(r, mc, n, maxp, maxe, &o, limit))
        snprintf(out, cap, "train.micro_batch=1 rollout.slots=1%s", o0->pack ? " rollout.pack=false" : "");
}

/* Tokenizes every training prompt (the cache prompt_ids reads), checks
 * each fits in the context with rollout.max_new_tokens after it, then
 * prints the memory plan and refuses a run that would not fit. */
static int plan_memory(Run *r, int *maxp_out) {
    const RlConfig *c = r->c;
    char path[4200];
    ModelConfig mc;
    snprintf(path, sizeof path, "%s/config.json", c->model_path);
    int rc = config_load(&mc, path);
    if (rc) return tr_err_ctx(rc, "model.path");
    size_t n;
    if ((rc = model_count_params(&mc, &n))) return tr_err_ctx(rc, "%s", path);
    int maxp = 0, maxe = 0;
    int64_t too_long = 0, first = -1;
    for (int64_t i = 0; i < r->train.n; i++) {
        Prompt p = {0};
        if ((rc = prompt_ids(r, i, &p))) return rc;
        if (p.len > maxp) maxp = p.len;
        if (p.len + c->max_new_tokens > mc.max_pos && too_long++ == 0) first = i;
    }
    if (too_long) {
        char fix[96] = "";
        if (maxp < mc.max_pos) /* else some prompt alone fills the context */
            snprintf(fix, sizeof fix, ", or lower rollout.max_new_tokens to %lld", (long long)(mc.max_pos - maxp));
        return tr_err(TR_EINVAL, "%s: %lld prompt%s with rollout.max_new_tokens %lld after %s exceed%s the model's context "
                                 "of %d tokens (first: record %s, %d tokens); shorten or drop %s%s",
                      c->data_train && *c->data_train ? c->data_train : "data.task", (long long)too_long,
                      too_long > 1 ? "s" : "", (long long)c->max_new_tokens, too_long > 1 ? "them" : "it",
                      too_long > 1 ? "" : "s", mc.max_pos, r->train.rec[first].id, (int)r->pids[first].n,
                      too_long > 1 ? "them" : "it", fix);
    }
    for (int64_t i = 0; i < r->ev.n; i++) {
        TokIds t = {0};
        if ((rc = data_prompt_ids(&r->tok, &r->ev.rec[i], &t))) return tr_err_ctx(rc, "held-out prompt %s", r->ev.rec[i].id);
        int len = (int)t.n;
        tok_ids_free(&t);
        if (len + c->max_new_tokens > mc.max_pos)
            return tr_err(TR_EINVAL, "held-out prompt %s: %d tokens and rollout.max_new_tokens %lld exceed the model's "
                                     "context of %d", r->ev.rec[i].id, len, (long long)c->max_new_tokens, mc.max_pos);
        if (len > maxe) maxe = len;
    }
    *maxp_out = maxp;
    PlanOpts o = {c->micro_batch, c->slots, r->has_ref, r->has_crit, r->shared, r->fdpg && r->fd.offline, r->snap_on,
                  (int)c->rollout_pack};
    MemPlan p;
    rl_plan(r, &mc, n, maxp, maxe, &o, &p);
    const char *what = "";
    double limit = 0;
    int off = !strcmp(c->max_memory, "off");
    if (!off) {
        double mm = 0;
        memplan_parse_size(c->max_memory, &mm); /* checked by rl_config_check */
        limit = memplan_limit(mm, &what);
    }
    if (r->log) {
        fprintf(r->log, "rl: memory plan (longest prompt %d tokens):\n", maxp);
        memplan_print(&p, r->log, "rl:", limit, what);
    }
    double total = memplan_total(&p);
    if (limit > 0 && total > limit) {
        const MemTerm *big = memplan_largest(&p);
        char fit[96], a[32], b[32], d[32];
        rl_plan_fit(r, &mc, n, maxp, maxe, &o, limit, fit, sizeof fit);
        return tr_err(TR_ENOMEM, "memory plan: the run needs %s, more than the %s %s; the largest term is the %s (%s%s%s); "
                                 "%s%s (or max_memory=off to start anyway)",
                      memplan_fmt(total, a, sizeof a), memplan_fmt(limit, b, sizeof b), what, big->name,
                      memplan_fmt(big->bytes, d, sizeof d), big->knob[0] ? ", set by " : "", big->knob,
                      fit[0] ? fit : "no setting of train.micro_batch, rollout.slots, rollout.pack or guard.nonfinite fits: a smaller "
                                     "model or more memory is needed",
                      fit[0] ? " would fit" : "");
    }
    r->plan_bytes = total;
    return TR_OK;
}

static int setup_models(Run *r, const char *run_dir, int resume, cJSON **state) {
    const RlConfig *c = r->c;
    int rc;
    char ck[4200];
    if (resume) {
        int64_t st;
        rc = ckpt_latest(run_dir, ck, sizeof ck, &st);
        if (rc == 1) return tr_err(TR_EINVAL, "--resume %s: the run has no checkpoint yet", run_dir);
        if (rc) return rc;
        if ((rc = ckpt_load(ck, &r->pol, &r->opt, state, &r->step))) return rc;
        if (r->log) fprintf(r->log, "rl: resuming from %s (step %lld)\n", ck, (long long)r->step);
    } else {
        if ((rc = model_load(&r->pol, c->model_path))) return rc;
        if ((rc = adamw_init(&r->opt, r->pol.n_params, (float)c->lr, (float)c->beta1, (float)c->beta2, (float)c->eps,
                             (float)c->weight_decay)))
            return rc;
    }
    if (r->tok.vocab_size > r->pol.cfg.V)
        return tr_err(TR_EINVAL, "the tokenizer has %d ids but the model only %d embedding rows", r->tok.vocab_size,
                      r->pol.cfg.V);
    if ((rc = model_alloc_grads(&r->pol))) return rc;
    if (!(r->decay = malloc(r->pol.n_params))) return tr_err(TR_ENOMEM, "out of memory");
    run_decay_mask(&r->pol, r->decay);
    if (r->has_ref && (rc = model_load(&r->ref, c->model_path))) return tr_err_ctx(rc, "reference model");
    if (r->has_ref && r->ref.n_params != r->pol.n_params)
        return tr_err(TR_EINVAL, "model.path %s no longer matches the checkpoint's model", c->model_path);
    if (r->has_crit) {
        if ((rc = vhead_init(&r->vh, r->pol.cfg.C, c))) return rc;
        if (!r->shared) {
            if ((rc = model_load(&r->crit, c->model_path))) return tr_err_ctx(rc, "critic");
            if ((rc = model_alloc_grads(&r->crit))) return rc;
            if ((rc = adamw_init(&r->copt, r->crit.n_params, (float)c->critic_lr, (float)c->beta1, (float)c->beta2,
                                 (float)c->eps, (float)c->weight_decay)))
                return rc;
            if (!(r->cdecay = malloc(r->crit.n_params))) return tr_err(TR_ENOMEM, "out of memory");
            run_decay_mask(&r->crit, r->cdecay);
        }
        if (resume && (rc = load_critic(r, ck, *state))) return rc;
    }
    r->gen = &r->pol;
    if (r->fdpg && r->fd.offline) {
        if ((rc = model_load(&r->prop, c->model_path))) return tr_err_ctx(rc, "fdpg proposal");
        if (resume) {
            char p[4400];
            StFile f;
            snprintf(p, sizeof p, "%s/proposal.safetensors", ck);
            if ((rc = st_open(&f, p))) return rc;
            const StTensor *t = st_find(&f, "proposal");
            rc = t ? st_read_f32(&f, t, r->prop.params, r->prop.n_params)
                   : tr_err(TR_EFORMAT, "%s: tensor 'proposal' missing", p);
            st_close(&f);
            if (rc) return rc;
        }
        r->gen = &r->prop;
    }
    return TR_OK;
}

static int restore_state(Run *r, const cJSON *state) {
    const cJSON *sj = cJSON_GetObjectItemCaseSensitive(state, "sampler");
    int64_t nrec = 0;
    int rc = ckpt_state_count(sj, "records", 0, CKPT_COUNT_MAX, "checkpoint state: sampler.records", &nrec);
    if (!rc && nrec != r->train.n)
        return tr_err(TR_EFORMAT, "checkpoint state: the sampler was over %lld prompts, the data now has %lld (was it changed?)",
                      (long long)nrec, (long long)r->train.n);
    if (!rc) rc = ckpt_state_count(sj, "epoch", 0, CKPT_COUNT_MAX, "checkpoint state: sampler.epoch", &r->epoch);
    if (!rc) rc = ckpt_state_count(sj, "cursor", 0, r->train.n, "checkpoint state: sampler.cursor", &r->cursor);
    if (rc) return rc;
    const cJSON *aj = cJSON_GetObjectItemCaseSensitive(state, "ads"), *qj = cJSON_GetObjectItemCaseSensitive(state, "rrs");
    if (r->use_ads) {
        if (!aj) return tr_err(TR_EFORMAT, "checkpoint state: no ads estimates (the run was not started with sampler.kind=ads)");
        if ((rc = ads_from_json(&r->ads, aj))) return tr_err_ctx(rc, "checkpoint state");
    }
    if (r->use_queue) {
        if (!qj)
            return tr_err(TR_EFORMAT, "checkpoint state: no rrs queue (the run was started without rrs.groups / rrs.rollback)");
        if ((rc = ckpt_state_count(qj, "rollbacks", 0, CKPT_COUNT_MAX, "checkpoint state: rrs.rollbacks", &r->rollbacks)))
            return rc;
        if ((rc = rrs_queue_from_json(&r->rq, qj, r->train.n))) return tr_err_ctx(rc, "checkpoint state");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(qj, "spikes");
        if (r->c->rrs_rollback) {
            if (!sp) return tr_err(TR_EFORMAT, "checkpoint state: no spike history (the run was started without rrs.rollback)");
            if ((rc = spike_from_json(&r->sd, sp))) return tr_err_ctx(rc, "checkpoint state");
        }
    }
    const cJSON *gj = cJSON_GetObjectItemCaseSensitive(state, "guard"); /* absent before the guard existed */
    if (gj && ((rc = ckpt_state_count(gj, "skips", 0, CKPT_COUNT_MAX, "checkpoint state: guard.skips", &r->skips)) ||
               (rc = ckpt_state_count(gj, "skips_row", 0, CKPT_COUNT_MAX, "checkpoint state: guard.skips_row",
                                      &r->skips_row))))
        return rc;
    if (r->fdpg && (rc = fdpg_run_from_json(&r->fd, cJSON_GetObjectItemCaseSensitive(state, "fdpg"))))
        return tr_err_ctx(rc, "checkpoint state");
    return ckpt_rng_from_json(cJSON_GetObjectItemCaseSensitive(state, "rng"), &r->rng);
}

/* The TACO pieces the config switches on. The spike detector watches kl only
 * when a reference model computes it. */
static int setup_taco(Run *r) {
    const RlConfig *c = r->c;
    int rc;
    r->use_ads = !strcmp(c->sampler, "ads");
    r->use_queue = c->rrs_groups || r->snap_on;
    r->fault_kind = fault_parse(c->debug_fault, &r->fault_step);
    if (r->use_ads) {
        if (r->train.n < c->prompts)
            return tr_err(TR_EINVAL, "sampler.kind: ads draws %lld distinct prompts per step, the data has only %lld",
                          (long long)c->prompts, (long long)r->train.n);
        AdsCfg ac = {c->ads_ema, c->ads_floor, (int)c->ads_park_after, c->ads_retest, c->ads_unseen};
        if ((rc = ads_init(&r->ads, r->train.n, &ac))) return rc;
        if (!(r->skip = malloc((size_t)r->train.n))) return tr_err(TR_ENOMEM, "out of memory");
    }
    if (r->use_queue) rrs_queue_init(&r->rq, c->rrs_delay, (int32_t)c->rrs_max_defers);
    if (c->rrs_rollback) {
        char watch[256] = "", *p = watch;
        SpikeDet all;
        if ((rc = spike_init(&all, c->rrs_watch, c->rrs_spike, (int)c->rrs_window, (int)c->rrs_min_history))) return rc;
        for (int j = 0; j < all.n; j++) {
            if (!strcmp(all.name[j], "kl") && !r->has_ref) continue;
            p += snprintf(p, sizeof watch - (size_t)(p - watch), "%s%s:%.17g", p == watch ? "" : ",", all.name[j],
                          all.floor[j]);
        }
        if (!watch[0]) return tr_err(TR_EINVAL, "rrs.watch: only kl is watched, and kl.beta = 0 computes no KL");
        if ((rc = spike_init(&r->sd, watch, c->rrs_spike, (int)c->rrs_window, (int)c->rrs_min_history))) return rc;
    }
    return TR_OK;
}

/* ---- metrics ---- */

static int eval_now(Run *r, cJSON *mj, double *acc) {
    EvalConfig ec;
    eval_config_init(&ec);
    ec.n = (int)r->c->eval_n;
    ec.slots = (int)r->c->slots;
    ec.no_pack = !r->c->rollout_pack;
    ec.max_new_tokens = (int)r->c->max_new_tokens;
    ec.sampler.temperature = (float)r->c->eval_temperature;
    ec.seed = (uint64_t)r->c->seed + 1000003;
    ec.task = r->task->name;
    EvalResult er;
    int rc = eval_run(&r->pol, &r->tok, &r->ev, &ec, &er);
    if (rc) return tr_err_ctx(rc, "eval");
    *acc = er.sum.acc;
    run_add_num(mj, "eval/acc", er.sum.acc);
    run_add_num(mj, "eval/format_rate", er.sum.format_rate);
    for (int i = 0; i < er.sum.n_k; i++) {
        char k[32];
        snprintf(k, sizeof k, "eval/pass@%d", er.sum.k[i]);
        if (er.sum.k[i] > 1) run_add_num(mj, k, er.sum.pass_at[i]);
    }
    eval_result_free(&er);
    return TR_OK;
}

static void step_metrics(Run *r, cJSON *mj, const GenStats *gs, const UpdStats *us, const Packed *pk,
                         const GroupFlags *gf, double kl, double lr, double ref_s, double step_s) {
    const RlConfig *c = r->c;
    double n = gs->n > 0 ? (double)gs->n : 1;
    run_add_num(mj, "step", (double)r->step);
    double mean = gs->reward / n;
    run_add_num(mj, "reward/mean", mean);
    double var = gs->reward2 / n - mean * mean; /* below rounding noise: all rewards equal */
    run_add_num(mj, "reward/std", var > 1e-12 * (1 + mean * mean) ? sqrt(var) : 0);
    for (int j = 0; j < r->rs.n; j++) {
        char k[96];
        snprintf(k, sizeof k, "reward/%s", reward_set_name(&r->rs, j));
        run_add_num(mj, k, gs->rterm[j] / n);
    }
    run_add_num(mj, "acc", gs->correct / n);
    run_add_num(mj, "format_rate", gs->fmt / n);
    run_add_num(mj, "taco/consistency_rate", gs->cons / n);
    if (r->has_ref) run_add_num(mj, "kl", kl);
    run_add_num(mj, "entropy", us->ent_tokens > 0 ? us->entropy / us->ent_tokens : NAN);
    double tk = us->tokens > 0 ? (double)us->tokens : 1;
    run_add_num(mj, "loss/policy", us->updates ? us->pg_loss / us->updates : 0);
    run_add_num(mj, "loss/total", us->updates ? us->loss / us->updates : 0);
    run_add_num(mj, "clip_frac", us->clip_frac / tk);
    run_add_num(mj, "clip_frac/high", us->clip_high / tk);
    run_add_num(mj, "clip_frac/low", us->clip_low / tk);
    if (c->dual_clip > 0) run_add_num(mj, "clip_frac/dual", us->dual_frac / tk);
    run_add_num(mj, "ratio/mean", us->tokens ? us->ratio_mean / tk : 1);
    run_add_num(mj, "ratio/max", us->tokens ? us->ratio_max : 1);
    run_add_num(mj, "logratio/abs_mean", us->logratio / tk);
    RlTokStats as;
    rl_tok_stats(&pk->b, pk->adv, &as);
    run_add_num(mj, "adv/mean", as.mean);
    run_add_num(mj, "adv/std", as.std);
    run_add_num(mj, "grad_norm", us->updates ? us->gnorm / us->updates : 0);
    run_add_num(mj, "lr", lr);
    if (r->has_crit) {
        double vt = us->vtokens > 0 ? (double)us->vtokens : 1;
        run_add_num(mj, "loss/value", us->updates ? us->vloss / us->updates : 0);
        run_add_num(mj, "critic/clip_frac", us->vclip / vt);
        run_add_num(mj, "critic/explained_var", us->explained_var / vt);
        run_add_num(mj, "critic/v_mean", us->v_mean / vt);
        run_add_num(mj, "critic/ret_mean", us->ret_mean / vt);
        if (!r->shared) run_add_num(mj, "critic/grad_norm", us->updates ? us->cgnorm / us->updates : 0);
    }
    run_add_num(mj, "len/mean", gs->tokens / n);
    run_add_num(mj, "len/max", (double)gs->len_max);
    run_add_num(mj, "len/trunc_frac", gs->trunc / n);
    for (int p = 0; p <= r->ps.n; p++) {
        int slot = p == r->ps.n ? PATTERN_MAX : p;
        char k[160];
        const char *name = p == r->ps.n ? "other" : pattern_name(&r->ps, p);
        snprintf(k, sizeof k, "pattern/%s/freq", name);
        run_add_num(mj, k, gs->pat_n[slot] / n);
        snprintf(k, sizeof k, "pattern/%s/acc", name);
        run_add_num(mj, k, gs->pat_n[slot] ? (double)gs->pat_ok[slot] / gs->pat_n[slot] : NAN);
    }
    if (r->dynamic) {
        run_add_num(mj, "sampler/kept_frac", gs->groups ? (double)gs->groups_kept / gs->groups : 0);
        run_add_num(mj, "sampler/gen_rounds", (double)gs->gen_rounds);
    }
    if (r->use_ads) {
        const Ads *a = &r->ads;
        run_add_num(mj, "ads/parked", (double)a->n_parked);
        run_add_num(mj, "ads/visited", (double)a->n_visited);
        run_add_num(mj, "ads/p_mean", ads_mean(a));
        run_add_num(mj, "ads/retests", (double)a->retests);
        run_add_num(mj, "ads/unparks", (double)a->unparks);
        int64_t h[10];
        ads_hist(a, 10, h);
        cJSON *ha = cJSON_AddArrayToObject(mj, "ads/hist");
        for (int b = 0; b < 10; b++) cJSON_AddItemToArray(ha, cJSON_CreateNumber((double)h[b]));
    }
    run_add_num(mj, "guard/skips", (double)r->skips);
    if (r->use_queue) {
        run_add_num(mj, "rrs/deferred", (double)r->rq.deferred);
        run_add_num(mj, "rrs/reintroduced", (double)r->rq.reintroduced);
        run_add_num(mj, "rrs/dropped", (double)r->rq.dropped);
        run_add_num(mj, "rrs/queue", (double)r->rq.n);
        if (r->snap_on) run_add_num(mj, "rrs/rollbacks", (double)r->rollbacks);
        if (r->c->rrs_groups) {
            int64_t nd = 0;
            for (int w = 0; w < WHY_COUNT; w++) nd += gf->n[w];
            run_add_num(mj, "rrs/deferred_frac", gf->groups ? (double)nd / (double)gf->groups : 0);
            for (int w = 0; w < WHY_COUNT; w++) {
                char k[48];
                snprintf(k, sizeof k, "rrs/why/%s", WHY_NAME[w]);
                run_add_num(mj, k, (double)gf->n[w]);
            }
        }
    }
    if (r->fdpg) {
        const FdpgRun *f = &r->fd;
        const FdpgStats *fs = &r->fst;
        run_add_num(mj, "fdpg/kl_p_pi", fs->kl_p_pi);
        if (f->offline) run_add_num(mj, "fdpg/kl_p_q", fs->kl_p_q);
        run_add_num(mj, "fdpg/tv_p_pi", fs->tv_p_pi);
        run_add_num(mj, "fdpg/kl_pi_a", fs->kl_pi_a);
        if (f->target == FDPG_POINTWISE) run_add_num(mj, "fdpg/b_rate", r->fd_val_mean[0]);
        if (f->target == FDPG_TILT) run_add_num(mj, "fdpg/reward", r->fd_val_mean[0]);
        for (int j = 0; f->target == FDPG_DISTRIBUTIONAL && j < f->k; j++) {
            char k[96];
            snprintf(k, sizeof k, "fdpg/moment/%s", reward_set_name(&f->feat, j));
            run_add_num(mj, k, r->fd_val_mean[j]);
        }
        run_add_num(mj, "fdpg/distinct_1", r->fd_distinct[0]);
        run_add_num(mj, "fdpg/distinct_2", r->fd_distinct[1]);
        run_add_num(mj, "fdpg/distinct_3", r->fd_distinct[2]);
        run_add_num(mj, "fdpg/unique", r->fd_unique);
        run_add_num(mj, "fdpg/log_z", r->fd_log_z);
        run_add_num(mj, "fdpg/pseudo_reward", fs->r_mean);
        run_add_num(mj, "fdpg/baseline", r->fd_baseline);
        run_add_num(mj, "fdpg/ess", fs->ess);
        run_add_num(mj, "fdpg/support", fs->support);
        if (f->offline) run_add_num(mj, "fdpg/q_updates", (double)f->q_updates);
    }
    run_add_num(mj, "train/responses", pk->b.N);
    run_add_num(mj, "perf/rollout_tok_s", gs->gen_s > 0 ? gs->tokens / gs->gen_s : 0);
    run_add_num(mj, "perf/train_tok_s", us->update_s > 0 ? (double)pk->b.n_tok * c->ppo_epochs / us->update_s : 0);
    run_add_num(mj, "perf/gen_s", gs->gen_s);
    run_add_num(mj, "perf/score_s", gs->score_s);
    run_add_num(mj, "perf/ref_s", ref_s);
    run_add_num(mj, "perf/update_s", us->update_s);
    run_add_num(mj, "perf/step_s", step_s);
}

static int write_samples(Run *r, FILE *f, const Roll *g) {
    int n = (int)r->c->log_samples < g->n ? (int)r->c->log_samples : g->n;
    for (int i = 0; i < n; i++) {
        const Record *rec = &r->train.rec[g->rec[i]];
        const TokIds *p = &r->pids[g->rec[i]];
        char *ptxt = NULL;
        size_t plen = 0;
        if (tok_decode(&r->tok, p->ids, p->n, 0, &ptxt, &plen)) ptxt = NULL;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "step", (double)r->step);
        cJSON_AddStringToObject(o, "id", rec->id ? rec->id : "");
        cJSON_AddStringToObject(o, "prompt", ptxt ? ptxt : "");
        cJSON_AddStringToObject(o, "response", g->text[i] ? g->text[i] : "");
        cJSON_AddNumberToObject(o, "reward", g->reward[i]);
        cJSON_AddBoolToObject(o, "correct", g->correct[i]);
        cJSON_AddStringToObject(o, "pattern", g->pat[i] < 0 ? "other" : pattern_name(&r->ps, g->pat[i]));
        cJSON_AddStringToObject(o, "finish", finish_reason_name(g->ro[i].finish));
        cJSON_AddNumberToObject(o, "tokens", g->ro[i].n);
        free(ptxt);
        int rc = run_json_line(f, o, "samples.jsonl");
        if (rc) return rc;
    }
    fflush(f);
    return ferror(f) ? tr_err(TR_EIO, "samples.jsonl: write failed") : TR_OK;
}

static FILE *open_log_file(const char *run_dir, const char *name, int resume, int64_t step, int *rc) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", run_dir, name);
    if (resume) {
        if ((*rc = run_metrics_truncate(path, step))) return NULL;
    } else {
        unlink(path);
    }
    FILE *f = fopen(path, "a");
    if (!f) *rc = tr_err(TR_EIO, "%s: cannot open for writing", path);
    return f;
}

/* ---- the loop ---- */

/* The value rrs.watch name stands for in a finished update. */
static double watched(const char *name, const UpdStats *us, double kl) {
    if (!strcmp(name, "kl")) return kl;
    if (!strcmp(name, "loss")) return us->updates ? us->loss / us->updates : 0;
    if (!strcmp(name, "grad_norm")) return us->nonfinite ? us->gnorm : us->gnorm_max;
    return us->ent_tokens > 0 ? us->entropy / us->ent_tokens : 0; /* entropy */
}

/* A rollback: the state of the last good step is back; the prompts of the
 * failed try are deferred; an event line goes to metrics.jsonl and the log. */
static int rollback(Run *r, const Snap *snap, const Roll *g, FILE *mf, const char *why, int try_no,
                    const char *run_dir) {
    const RlConfig *c = r->c;
    snap_restore(snap);
    r->rollbacks++;
    int rc = TR_OK;
    for (int q = 0; q < g->n / g->G && rc >= 0; q++) rc = rrs_defer(&r->rq, g->rec[q * g->G], g->times[q * g->G], r->step + 1);
    if (rc < 0) return rc;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddNumberToObject(ev, "step", (double)(r->step + 1));
    cJSON_AddStringToObject(ev, "event", "rollback");
    cJSON_AddStringToObject(ev, "why", why);
    char t[48];
    snprintf(t, sizeof t, "%d of %lld", try_no, (long long)c->rrs_max_retries);
    cJSON_AddStringToObject(ev, "try", t);
    if ((rc = write_event(mf, ev))) return rc;
    if (r->log)
        fprintf(r->log, "rl: step %lld: rolled back to step %lld (%s); resampling%s\n", (long long)r->step + 1,
                (long long)r->step, why, try_no < c->rrs_max_retries ? "" : ": no tries left");
    if (c->debug_dump_rollback) {
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/rollback", run_dir);
        cJSON *st = cJSON_CreateObject();
        rc = ckpt_mkdirs(dir);
        if (!rc) rc = ckpt_save_ex(dir, r->step, &r->pol, &r->opt, st, r->tok_dir, 0, save_critic, r);
        cJSON_Delete(st);
        if (rc) return tr_err_ctx(rc, "debug.dump_rollback");
    }
    if (try_no >= c->rrs_max_retries)
        return tr_err(TR_EINVAL, "%lld rollbacks in a row (last: %s); the run stops at step %lld, its last checkpoint is "
                                 "intact (lower optim.lr, or raise rrs.spike / rrs.max_retries)",
                      (long long)c->rrs_max_retries, why, (long long)r->step);
    return TR_OK;
}

/* guard.nonfinite skip / stop: the optimiser step with the NaN/Inf was not
 * taken (update stopped before it). A NaN already in the weights cannot be
 * skipped; too many skips in a row mean the run is not recovering. */
static int guard_skip(Run *r, FILE *mf, const UpdStats *us) {
    const RlConfig *c = r->c;
    long long k = (long long)r->step + 1;
    if (r->guard == GUARD_STOP)
        return tr_err(TR_EINVAL, "NaN/Inf in %s; the run stops (lower optim.lr, or set guard.nonfinite=skip or "
                                 "rollback)", us->nf_what);
    if (us->nonfinite == 2)
        return tr_err(TR_EINVAL, "NaN/Inf in %s after a finite update (lower optim.lr, raise optim.eps, set "
                                 "train.grad_clip, or guard.nonfinite=rollback to restore the last good step); the "
                                 "last checkpoint is intact", us->nf_what);
    r->skips++;
    r->skips_row++;
    int rc;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddNumberToObject(ev, "step", (double)k);
    cJSON_AddStringToObject(ev, "event", "nonfinite");
    cJSON_AddStringToObject(ev, "what", us->nf_what);
    cJSON_AddStringToObject(ev, "action", "skip");
    if ((rc = write_event(mf, ev))) return rc;
    if (r->log) fprintf(r->log, "rl: step %lld: NaN/Inf in %s; its optimiser step is skipped\n", k, us->nf_what);
    if (r->skips_row > c->guard_max_skips)
        return tr_err(TR_EINVAL, "%lld steps in a row had a non-finite update (last: %s); the run stops at step %lld, "
                                 "its last checkpoint is intact (lower optim.lr, or raise guard.max_skips)",
                      (long long)r->skips_row, us->nf_what, k);
    return TR_OK;
}

static int rl_step(Run *r, FILE *mf, FILE *sf, const Sched *sch, Snap *snap, const char *run_dir, double *acc_out,
                   double *reward_out, double *kl_out, double *tok_s) {
    const RlConfig *c = r->c;
    double t0 = tr_time(), lr = sched_lr(sch, r->step);
    int rc = TR_OK;
    for (int try_no = 1;; try_no++) {
        double ref_s = 0, kl = 0;
        Roll g = {0};
        GenStats gs = {0};
        UpdStats us = {0};
        Packed pk = {0};
        Micro m = {0};
        GroupFlags gf = {{0}, 0};
        int again = 0;
        r->fault = r->fault_kind != FAULT_NONE && !r->fault_fired && r->step + 1 == r->fault_step;
        rc = generate_step(r, &g, &gs);
        if (!rc) rc = packed_init(&pk, &g);
        if (!rc && g.n > 0) rc = prepare(r, &g, &pk, &m, &ref_s);
        if (!rc && g.n > 0) rc = r->fdpg ? fdpg_prepare(r, &g, &pk, &kl) : advantages(r, &pk, &kl);
        if (!rc && g.n > 0 && c->rrs_groups) rc = defer_groups(r, &g, &pk, &kl, &gf);
        if (!rc && g.n > 0) {
            if (r->snap_on) snap_take(snap);
            rc = update(r, &g, &pk, &m, lr, &us);
            if (r->fault) r->fault_fired = 1;
            r->fault = 0;
        }
        if (!rc && g.n > 0 && us.nonfinite) {
            if (r->guard == GUARD_ROLLBACK) {
                char why[96];
                snprintf(why, sizeof why, "NaN/Inf in %s", us.nf_what);
                rc = rollback(r, snap, &g, mf, why, try_no, run_dir);
                again = 1;
            } else {
                rc = guard_skip(r, mf, &us);
            }
        } else if (!rc && g.n > 0) {
            r->skips_row = 0;
            if (c->rrs_rollback) {
                double v[SPIKE_MAX];
                char why[192];
                for (int j = 0; j < r->sd.n; j++) v[j] = watched(r->sd.name[j], &us, kl);
                if (spike_check(&r->sd, v, why, sizeof why)) {
                    rc = rollback(r, snap, &g, mf, why, try_no, run_dir);
                    again = 1;
                } else {
                    spike_push(&r->sd, v);
                }
            }
        }
        if (!rc && !again) {
            r->step++;
            cJSON *mj = cJSON_CreateObject();
            step_metrics(r, mj, &gs, &us, &pk, &gf, kl, lr, ref_s, tr_time() - t0);
            double eacc = NAN;
            if (r->ev.n > 0 && c->eval_every > 0 && (r->step % c->eval_every == 0 || r->step == c->steps))
                rc = eval_now(r, mj, &eacc);
            if (!rc) rc = run_json_line(mf, mj, "metrics.jsonl");
            else cJSON_Delete(mj);
            fflush(mf);
            if (!rc && ferror(mf)) rc = tr_err(TR_EIO, "metrics.jsonl: write failed");
            if (!rc && sf) rc = write_samples(r, sf, &g);
            if (!rc && r->fdpg && r->fd.offline) rc = fdpg_check_proposal(r, mf);
            double n = gs.n ? (double)gs.n : 1;
            *acc_out = gs.correct / n;
            *reward_out = gs.reward / n;
            *kl_out = kl;
            *tok_s = gs.gen_s > 0 ? gs.tokens / gs.gen_s : 0;
        }
        micro_free(&m);
        packed_free(&pk);
        roll_free(&g);
        if (rc || !again) return rc;
    }
}

static void run_free(Run *r) {
    if (r->pids)
        for (int64_t i = 0; i < r->train.n; i++) tok_ids_free(&r->pids[i]);
    free(r->pids);
    free(r->perm);
    free(r->skip);
    ads_free(&r->ads);
    rrs_queue_free(&r->rq);
    free(r->decay);
    free(r->cdecay);
    dataset_free(&r->train);
    dataset_free(&r->ev);
    pattern_free(&r->ps);
    reward_set_free(&r->rs);
    vhead_free(&r->vh);
    adamw_free(&r->opt);
    adamw_free(&r->copt);
    model_free(&r->pol);
    model_free(&r->ref);
    model_free(&r->crit);
    model_free(&r->prop);
    fdpg_run_free(&r->fd);
    tok_free(&r->tok);
}

int rl_train(const RlConfig *c, const char *run_dir, int resume, FILE *log) {
    Run r;
    Snap snap;
    memset(&r, 0, sizeof r);
    memset(&snap, 0, sizeof snap);
    r.c = c;
    r.log = log;
    cJSON *state = NULL;
    FILE *mf = NULL, *sf = NULL;
    char path[4400];
    int rc = rl_config_check(c);
    if (rc) return rc;
    if (c->threads > 0) tr_set_threads((int)c->threads);
    if ((rc = ckpt_mkdirs(run_dir))) return rc;
    if ((rc = setup_algo(&r))) goto cleanup;
    if ((rc = setup_tokenizer(&r))) goto cleanup;
    if ((rc = load_data(&r))) goto cleanup;
    if (r.fdpg && (rc = fdpg_run_init(&r.fd, c, r.train.n))) goto cleanup;
    rng_seed(&r.rng, run_mix64((uint64_t)c->seed));
    int maxp;
    if ((rc = plan_memory(&r, &maxp))) goto cleanup;
    if ((rc = setup_models(&r, run_dir, resume, &state))) goto cleanup;
    if ((rc = setup_taco(&r))) goto cleanup;
    if (r.snap_on && (rc = snap_init(&snap, &r))) goto cleanup;
    if (resume && (rc = restore_state(&r, state))) goto cleanup;
    if (r.fdpg && r.fd.target == FDPG_DISTRIBUTIONAL && !r.fd.fitted && (rc = fdpg_fit(&r, run_dir))) goto cleanup;
    sampler_order(&r);
    snprintf(path, sizeof path, "%s/config.yaml", run_dir);
    if ((rc = conf_save_yaml(&RL_SCHEMA, c, path))) goto cleanup;
    if (!(mf = open_log_file(run_dir, "metrics.jsonl", resume, r.step, &rc))) goto cleanup;
    if (c->log_samples > 0 && !(sf = open_log_file(run_dir, "samples.jsonl", resume, r.step, &rc))) goto cleanup;

    Sched sch = {(SchedKind)sched_parse(c->schedule), (float)c->lr, c->warmup, c->steps, (float)(c->lr * c->min_lr_ratio)};
    if (log) {
        fprintf(log, "rl: %s on %lld prompts (%s), %lld steps of %lld prompts x %lld responses, up to %lld new tokens; "
                     "model %.2fM parameters%s%s\n",
                c->adv, (long long)r.train.n, r.task->name, (long long)c->steps, (long long)c->prompts,
                (long long)c->group, (long long)c->max_new_tokens, r.pol.n_params / 1e6,
                r.has_ref ? ", reference on" : "", r.has_crit ? (r.shared ? ", value head on the trunk" : ", separate critic") : "");
        fprintf(log, "rl: rewards ");
        reward_set_print(&r.rs, log);
        fprintf(log, "\n");
        if (r.fdpg) {
            static const char *const TN[] = {"pointwise", "distributional", "tilt"};
            fprintf(log, "rl: f-DPG minimising D_%s(pi || p), p a %s target: a(x) ", fdpg_div_name(r.fd.cfg.div),
                    TN[r.fd.target]);
            if (r.fd.target == FDPG_POINTWISE) reward_set_print(&r.fd.cons, log);
            if (r.fd.target == FDPG_DISTRIBUTIONAL) reward_set_print(&r.fd.feat, log);
            if (r.fd.target == FDPG_TILT) fprintf(log, "exp(r / %g)", r.fd.beta);
            fprintf(log, "; %s\n", r.fd.offline ? "offline (proposal q, replaced when pi is closer to p)" : "online (q = pi)");
        }
        if (r.use_ads || c->rrs_groups || c->rrs_rollback) { /* not for a queue kept only for guard rollbacks */
            fprintf(log, "rl: taco:");
            if (r.use_ads)
                fprintf(log, " ads sampler (ema %g, floor %g, park after %lld, re-test every %lld steps);", c->ads_ema,
                        c->ads_floor, (long long)c->ads_park_after, (long long)c->ads_retest);
            if (c->rrs_groups) fprintf(log, " problematic groups deferred %lld steps;", (long long)c->rrs_delay);
            if (c->rrs_rollback) {
                fprintf(log, " rollback on NaN/Inf or");
                for (int j = 0; j < r.sd.n; j++) fprintf(log, "%s %s", j ? "," : "", r.sd.name[j]);
                fprintf(log, " past %g x the running median", c->rrs_spike);
            }
            fprintf(log, "\n");
        }
    }
    if (c->eval_every > 0 && r.ev.n == 0)
        fprintf(log, "rl: note: eval.every is set, but there are no held-out prompts (data.eval, data.n_eval): "
                     "no eval\n");
    if (!resume && c->eval_every > 0 && r.ev.n > 0) { /* the starting point of the eval curve */
        cJSON *mj = cJSON_CreateObject();
        double acc;
        run_add_num(mj, "step", 0);
        rc = eval_now(&r, mj, &acc);
        if (!rc) rc = run_json_line(mf, mj, "metrics.jsonl");
        else cJSON_Delete(mj);
        if (rc) goto cleanup;
        if (log) fprintf(log, "rl: eval/acc %.1f%% at the start (%lld held-out prompts x %lld)\n", 100 * acc,
                         (long long)r.ev.n, (long long)c->eval_n);
    }
    int tty = log && isatty(fileno(log));
    double t_start = tr_time();
    int64_t start = r.step;
    int64_t stop_at = c->stop_after > 0 && start + c->stop_after < c->steps ? start + c->stop_after : c->steps;
    while (r.step < stop_at) {
        double acc = 0, rew = 0, kl = 0, tps = 0;
        if ((rc = rl_step(&r, mf, sf, &sch, &snap, run_dir, &acc, &rew, &kl, &tps))) {
            rc = tr_err_ctx(rc, "step %lld", (long long)r.step + 1);
            goto cleanup;
        }
        if (log && (r.step % c->log_every == 0 || r.step == stop_at)) {
            char eta[32];
            run_fmt_eta((tr_time() - t_start) / (double)(r.step - start) * (double)(c->steps - r.step), eta, sizeof eta);
            fprintf(log, "%sstep %lld/%lld | reward %.3f | acc %.1f%%", tty ? "\r\033[K" : "", (long long)r.step,
                    (long long)c->steps, rew, 100 * acc);
            if (r.has_ref) fprintf(log, " | kl %.4f", kl);
            fprintf(log, " | %.1fk tok/s | ETA %s%s", tps / 1000, eta, tty ? "" : "\n");
            if (tty && r.step == stop_at) fputc('\n', log);
            fflush(log);
        }
        if ((c->ckpt_every > 0 && r.step % c->ckpt_every == 0) || r.step == stop_at)
            if ((rc = save_ckpt(&r, run_dir))) goto cleanup;
    }
    if (r.step < c->steps) {
        if (log)
            fprintf(log, "rl: stopped after step %lld of %lld (train.stop_after); --resume %s goes on\n",
                    (long long)r.step, (long long)c->steps, run_dir);
        goto cleanup;
    }
    if ((rc = run_save_final(&r.pol, run_dir, r.tok_dir))) goto cleanup;
    if (log)
        fprintf(log, "rl: done, %lld steps in %.1fs; model in %s/model; peak resident memory %.1f MiB (plan %.1f MiB)\n",
                (long long)(r.step - start), tr_time() - t_start, run_dir, tr_peak_rss() / 1048576.0,
                r.plan_bytes / 1048576.0);
cleanup:
    if (mf) fclose(mf);
    if (sf) fclose(sf);
    cJSON_Delete(state);
    snap_free(&snap);
    run_free(&r);
    return rc;
}
