/* The RL trainer (ALGORITHMS 1-5, 7, 8): prompts from a JSONL file or a
 * built-in task -> G rollouts per prompt with the current weights (KV cache,
 * per-token log-probs) -> weighted verifiable rewards -> advantages (grpo,
 * dr_grpo, rloo, reinforce_pp(_baseline), remax, gae) -> reference log-probs
 * when a KL term is on -> ppo_epochs x minibatches of clipped policy-loss
 * updates (and a critic for gae) -> metrics.jsonl, samples.jsonl, atomic
 * checkpoints with exact resume. The TACO mechanics (taco.h) plug in: the
 * ads prompt sampler, deferral of problematic groups and rollback of
 * spiking steps (rrs). algo.adv=fdpg trains toward a target distribution
 * instead (fdpg.h): same rollouts, checkpoints and metrics. Policy, reference and critic live side by
 * side in one process; nothing is synchronised. */
#ifndef THINKRL_RL_TRAIN_H
#define THINKRL_RL_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "thinkrl/conf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    /* model and data */
    char *model_path;          /* HF directory of the starting policy (and the reference) */
    char *tokenizer;           /* "" = model_path's */
    char *data_train, *data_eval;
    char *data_task, *data_task_options;
    int64_t data_n_train, data_n_eval, data_seed;
    int data_skip_bad;
    /* rollouts */
    int64_t prompts;           /* prompts per step */
    int64_t group;             /* G: samples per prompt */
    int64_t max_new_tokens;
    double temperature, top_p;
    int64_t top_k;
    int ignore_eos;            /* every response runs to max_new_tokens */
    int rollout_pack;          /* pack the weights once per rollout (RolloutConfig.no_pack = !this) */
    /* prompt sampler */
    char *sampler;             /* uniform | dynamic | ads */
    int64_t max_gen_batches;   /* dynamic: most generation rounds per step */
    double ads_ema, ads_floor, ads_unseen;   /* ads (taco.h AdsCfg) */
    int64_t ads_park_after, ads_retest;
    /* rrs, sample level: problematic groups leave the update and come back later */
    int rrs_groups;
    int64_t rrs_delay, rrs_max_defers;
    double rrs_trunc_frac;     /* more than this share truncated or looping */
    int64_t rrs_loop_ngram, rrs_loop_reps;
    double rrs_kl_max, rrs_logratio_max;   /* group means past these (0: off) */
    /* rrs, step level: spikes and NaN roll the step back */
    int rrs_rollback;
    double rrs_spike;
    char *rrs_watch;           /* "kl:0.01,loss:0.05,grad_norm:0.1" */
    int64_t rrs_window, rrs_min_history, rrs_max_retries;
    /* fault injection for tests: "nan@K" | "spike@K" ("": none) */
    char *debug_fault;
    char *guard_nonfinite;   /* auto|skip|rollback|stop */
    char *max_memory;        /* "16G"; "0": the memory available; "off": no check */
    int64_t slots;           /* rollout: sequences decoded together (0: min(responses, 64)) */
    int64_t guard_max_skips;
    int debug_dump_rollback;   /* write the state rolled back to as RUN/rollback/ckpt/step-N */
    /* advantages and losses */
    char *adv;                 /* grpo | dr_grpo | rloo | reinforce_pp | reinforce_pp_baseline | remax | gae */
    double gamma, lambda_actor, lambda_critic, vapo_alpha;
    int std_population;
    double eps_low, eps_high, dual_clip;
    char *loss_agg;
    int64_t loss_max_len;      /* seq-mean-token-sum-norm constant (0: max_new_tokens) */
    double entropy_coef;
    double kl_beta;
    char *kl_estimator;        /* k1 | k2 | k3 */
    char *kl_placement;        /* loss | reward */
    char *reward;              /* reward spec (reward_set_parse) */
    /* f-DPG (algo.adv=fdpg; fdpg.h): the target and the divergence */
    char *fdpg_div;            /* fkl | rkl | js | tv | chi2 */
    char *fdpg_target;         /* pointwise | distributional | tilt */
    char *fdpg_constraint;     /* pointwise: reward spec of b(x) */
    char *fdpg_features;       /* distributional: reward spec of phi(x), weights = requested moments */
    double fdpg_beta;          /* tilt: P = a exp(r / beta) */
    double fdpg_clip_logt, fdpg_fit_tol;
    int64_t fdpg_baseline;     /* samples in the moving-average baseline (0: none) */
    int fdpg_offline;          /* sample from a proposal q, replaced by pi when it is closer to p */
    int64_t fdpg_q_every, fdpg_fit_samples, fdpg_fit_iters;
    /* critic (gae) */
    char *critic_mode;         /* separate | shared */
    double critic_lr, critic_eps_v, critic_coef;
    int64_t critic_warmup;     /* steps that train only the critic */
    /* optimisation */
    int64_t steps, stop_after, ppo_epochs, minibatches, micro_batch;
    double grad_clip;
    int64_t seed;
    double lr, beta1, beta2, eps, weight_decay, min_lr_ratio;
    char *schedule;
    int64_t warmup;
    /* evaluation, checkpoints, logging */
    int64_t eval_every, eval_prompts, eval_n;
    double eval_temperature;
    int64_t ckpt_every, ckpt_keep;
    int64_t log_every, log_samples;
    int64_t threads;
} RlConfig;

extern const ConfSchema RL_SCHEMA;

/* Checks the combination of settings (names the key at fault). */
int rl_config_check(const RlConfig *c);

/* Trains per cfg into run_dir (created): config.yaml, metrics.jsonl,
 * samples.jsonl, ckpt/, and at the end model/ (HF directory with the
 * tokenizer). resume != 0 continues from run_dir's latest checkpoint.
 * Progress goes to `log` (NULL: quiet). */
int rl_train(const RlConfig *cfg, const char *run_dir, int resume, FILE *log);

#ifdef __cplusplus
}
#endif
#endif
