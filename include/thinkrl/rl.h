/* thinkrl RL math core: advantage estimators (GRPO family, REINFORCE++,
 * ReMax, GAE), KL estimators, the clipped policy loss and the clipped value
 * loss, each with its exact gradient. Plain functions over packed per-token
 * arrays; no model, no allocation. Equations: ALGORITHMS.md sections 2-3. */
#ifndef THINKRL_RL_H
#define THINKRL_RL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Batch layout
 *
 * N responses in N/G consecutive groups of G (one group per prompt). Response
 * i owns the packed token positions [off[i], off[i] + len[i]) of every
 * per-token array (n_tok entries each). Ranges must lie in [0, n_tok), in
 * order and disjoint (off[i] >= off[i-1] + len[i-1]); positions no response
 * owns (prompt tokens, padding) are never read and every per-token output
 * there is set to 0. off == NULL means the responses are packed back to back
 * from 0, and then n_tok must equal the sum of len. len[i] == 0 (an empty
 * response) is allowed: its scalar reward still takes part in its group's
 * statistics, it owns no tokens and so adds nothing to losses.
 * ------------------------------------------------------------------------- */
typedef struct {
    int N, G;
    const int64_t *off; /* (N) first token of each response, or NULL */
    const int *len;     /* (N) tokens of each response */
    int64_t n_tok;      /* length of every per-token array */
} RlBatch;

/* TR_OK, or TR_EINVAL with a message naming the offending response. */
int rl_batch_check(const RlBatch *b);
/* TR_OK when x is finite on every response token, else TR_EINVAL naming
 * `what`, the token index and its response and position. */
int rl_check_finite(const RlBatch *b, const float *x, const char *what);

/* Mean, population std, min and max of x over the tokens of the responses
 * (metrics: advantage mean/std, ...). All zero when there are no tokens. */
typedef struct {
    double mean, std, min, max;
    int64_t n;
} RlTokStats;
int rl_tok_stats(const RlBatch *b, const float *x, RlTokStats *st);

/* In place x <- (x - mean) / sqrt(var + 1e-8) over the tokens of the
 * responses (verl / OpenRLHF masked_whiten). var is the unbiased variance
 * (divides by n - 1; taken as 0 when n < 2) unless `population` (divides by
 * n). Other positions are left as they are. */
int rl_whiten(const RlBatch *b, float *x, int population);

/* ---------------------------------------------------------------------------
 * Advantage estimators (ALGORITHMS 2)
 *
 * grpo                 A_i = (r_i - mean_G r) / (std_G r + 1e-6), std unbiased
 *                      (n - 1: torch.std, as TRL's GRPOTrainer) unless
 *                      std_population; needs G >= 2 when unbiased.
 * dr_grpo              A_i = r_i - mean_G r.
 * rloo                 A_i = r_i - (1/(G-1)) sum_{j != i} r_j; needs G >= 2.
 * remax                A_i = r_i - baseline_i (baseline: the reward of the
 *                      greedy response to the same prompt, repeated across the
 *                      group: N entries).
 *   These four broadcast A_i to every token of response i. A group whose
 *   rewards are all equal gets exactly 0 from grpo, dr_grpo, rloo and the
 *   baseline of reinforce_pp_baseline.
 * reinforce_pp         per-token reward r_t = tok_reward_t, plus r_i on the
 *                      last token; G_t = sum_{s >= t} gamma^(s-t) r_s; then
 *                      whitened over all tokens of the batch (rl_whiten).
 * reinforce_pp_baseline  the same with r_i replaced by r_i - mean_G r.
 * gae (alias "ppo")    r_t as for reinforce_pp; V_t = values_t, V after the
 *                      last token = 0; delta_t = r_t + gamma V_{t+1} - V_t;
 *                      A_t = sum_l (gamma lambda)^l delta_{t+l}. The advantage
 *                      uses lambda_actor and is whitened over the batch; the
 *                      critic target returns_t = A_t(lambda_critic) + V_t
 *                      (decoupled lambdas, VC-PPO), not whitened. With
 *                      vapo_alpha > 0, lambda_actor is per response
 *                      max(0, 1 - 1/(vapo_alpha * len_i)) (VAPO, alpha 0.05;
 *                      the floor at 0 is our choice, for len < 1/alpha).
 *
 * tok_reward (n_tok, e.g. -beta * KL when the KL is placed in the reward, see
 * kl_tokens) is allowed only for reinforce_pp, reinforce_pp_baseline and gae
 * (may be NULL there); baseline only and always for remax; values only and
 * always for gae. Passing one where it has no meaning is an error, so a KL
 * penalty is never dropped silently.
 * ------------------------------------------------------------------------- */
typedef enum {
    ADV_GRPO = 0,
    ADV_DR_GRPO,
    ADV_RLOO,
    ADV_REINFORCE_PP,
    ADV_REINFORCE_PP_BASELINE,
    ADV_REMAX,
    ADV_GAE,
    ADV_COUNT
} AdvKind;

typedef struct {
    AdvKind kind;
    float gamma;         /* discount: reinforce_pp*, gae (default 1) */
    float lambda_actor;  /* gae: lambda of the advantages (default 0.95) */
    float lambda_critic; /* gae: lambda of the returns (default 1) */
    float vapo_alpha;    /* gae: > 0 turns on length-adaptive lambda_actor (0 = off) */
    int std_population;  /* grpo std and whitening variance divide by n, not n - 1 */
    int no_whiten;       /* reinforce_pp*, gae: skip the batch whitening */
} AdvCfg;

/* The defaults above for `kind`. */
AdvCfg adv_cfg_default(AdvKind kind);
/* "grpo" | "dr_grpo" | "rloo" | "reinforce_pp" | "reinforce_pp_baseline" |
 * "remax" | "gae" (or "ppo") -> kind; -1 if unknown. */
int adv_parse(const char *name);
const char *adv_name(AdvKind kind);

/* reward (N) scalar rewards. Writes adv (n_tok). returns (n_tok, may be NULL
 * except for gae) receives: gae, the critic targets; reinforce_pp*, the
 * discounted returns G_t before whitening; the broadcast estimators, a copy of
 * adv. Every input value read must be finite (else TR_EINVAL naming the array
 * and index). Double accumulation throughout. */
int adv_compute(const AdvCfg *c, const RlBatch *b, const float *reward, const float *tok_reward,
                const float *baseline, const float *values, float *adv, float *returns);

/* ---------------------------------------------------------------------------
 * KL estimators (ALGORITHMS 3.2), x = ref_logp - logp:
 *   k1 = -x, k2 = x^2 / 2, k3 = exp(xc) - xc - 1 with xc = clamp(x, -10, 10).
 * The clamp applies to k3 only, on its input x (not on the value); kl_grad is
 * the derivative d k / d logp, which for k3 is 1 - exp(x) for -10 <= x <= 10
 * and 0 outside (torch.clamp's gradient: inclusive bounds).
 * ------------------------------------------------------------------------- */
typedef enum { KL_K1 = 0, KL_K2, KL_K3, KL_COUNT } KlKind;

double kl_value(KlKind k, double logp, double ref_logp);
double kl_grad(KlKind k, double logp, double ref_logp);
/* "k1" | "k2" | "k3" -> kind; -1 if unknown. */
int kl_parse(const char *name);
const char *kl_name(KlKind k);

/* out[t] = scale * k(logp_t, ref_logp_t) on response tokens, 0 elsewhere;
 * scale = -beta gives the per-token reward of the kl_in_reward placement (with
 * logp from the sampling policy). *mean (may be NULL) gets the token mean of k
 * (unscaled). */
int kl_tokens(KlKind k, const RlBatch *b, const float *logp, const float *ref_logp, float scale,
              float *out, double *mean);

/* ---------------------------------------------------------------------------
 * Loss aggregation (ALGORITHMS 3.1), over per-token losses L_t:
 *   token-mean               sum_t L_t / n_tokens                    (DAPO)
 *   seq-mean-token-mean      mean over non-empty responses of their token
 *                            mean (empty responses are not counted)  (GRPO)
 *   seq-mean-token-sum-norm  sum_i (sum_t L_t / max_len) / N: every response
 *                            counts, so the normaliser N * max_len is a
 *                            constant                                (Dr. GRPO)
 * norm_count > 0 replaces the count divided by (n_tokens for token-mean, the
 * number of responses for the seq-mean modes), so that micro-batches or ranks
 * whose losses are summed reproduce the loss of the whole batch; 0 = this
 * batch's own count.
 * ------------------------------------------------------------------------- */
typedef enum { AGG_TOKEN_MEAN = 0, AGG_SEQ_MEAN_TOKEN_MEAN, AGG_SEQ_MEAN_TOKEN_SUM_NORM, AGG_COUNT } LossAgg;

/* "token-mean" | "seq-mean-token-mean" | "seq-mean-token-sum-norm" -> agg;
 * -1 if unknown. */
int loss_agg_parse(const char *name);
const char *loss_agg_name(LossAgg a);

/* ---------------------------------------------------------------------------
 * Policy loss (ALGORITHMS 3.1-3.2). Per token, with rho = exp(logp - old_logp)
 * (not clamped: an overflow shows as a non-finite loss for the step guard):
 *   L = max(-rho A, -clip(rho, 1 - eps_low, 1 + eps_high) A)
 *   dual clip (c > 0, for A < 0 only): L = min(L, -c A)
 *   kl_in_loss: L += beta * k(logp, ref_logp)
 * aggregated by `agg`. dlogp is exactly the autograd gradient of the loss:
 * zero on tokens where the clipped or dual-clip branch is strictly active.
 * ------------------------------------------------------------------------- */
typedef struct {
    float eps_low, eps_high; /* 0.2 / 0.2 (DAPO clip-higher: 0.2 / 0.28) */
    float dual_clip_c;       /* 0 = off; else > 1 (3 typical) */
    LossAgg agg;
    int max_len;             /* seq-mean-token-sum-norm: the constant (>= every len) */
    float beta;              /* KL coefficient (kl_in_loss) */
    KlKind kl;
    int kl_in_loss;          /* add beta * k to the token loss (needs ref_logp when beta > 0) */
    double norm_count;       /* see aggregation; 0 = this batch's count */
} PolicyLossCfg;

/* Token fractions and means are over this batch's response tokens. */
typedef struct {
    double loss;            /* aggregated total: pg_loss + beta * kl_loss when kl_in_loss */
    double pg_loss;         /* aggregated clipped surrogate alone */
    double kl_loss;         /* aggregated k (without beta); 0 without ref_logp */
    double kl_mean;         /* token mean of k; 0 without ref_logp */
    double clip_frac;       /* tokens where the clipped term strictly wins the max:
                             * clip_frac_high + clip_frac_low */
    double clip_frac_high;  /* A > 0 and rho > 1 + eps_high */
    double clip_frac_low;   /* A < 0 and rho < 1 - eps_low */
    double dual_clip_frac;  /* A < 0 and -c A < the clipped surrogate (bound active) */
    double ratio_mean, ratio_max, ratio_min;
    double logratio_abs_mean; /* mean |logp - old_logp| */
    int64_t n_tokens;
    int n_seqs;             /* non-empty responses */
} PolicyLossStats;

/* eps 0.2 / 0.2, no dual clip, token-mean, beta 0, k3, KL not in loss. */
PolicyLossCfg policy_loss_cfg_default(void);

/* logp (current policy), old_logp (sampling policy), adv: n_tok each;
 * ref_logp: n_tok, needed when kl_in_loss and beta > 0, else may be NULL (when
 * given, kl_mean and kl_loss are still reported). dlogp (n_tok, may be NULL):
 * d loss / d logp. st may be NULL. */
int policy_loss(const PolicyLossCfg *c, const RlBatch *b, const float *logp, const float *old_logp,
                const float *ref_logp, const float *adv, float *dlogp, PolicyLossStats *st);

/* ---------------------------------------------------------------------------
 * Value loss (ALGORITHMS 3.3), per token with R the returns:
 *   L = 0.5 * max((V - R)^2, (clip(V, V_old - eps_v, V_old + eps_v) - R)^2)
 * (eps_v <= 0: L = 0.5 (V - R)^2 and v_old may be NULL), aggregated as above.
 * ------------------------------------------------------------------------- */
typedef struct {
    float eps_v;          /* 0.2 typical; <= 0 turns clipping off */
    LossAgg agg;
    int max_len;
    double norm_count;
} ValueLossCfg;

typedef struct {
    double loss;
    double clip_frac;      /* tokens where the clipped term strictly wins the max */
    double explained_var;  /* 1 - Var(R - V) / Var(R) over tokens; 0 when Var(R) = 0 */
    double v_mean, ret_mean;
    int64_t n_tokens;
} ValueLossStats;

/* v (current values), v_old (values at rollout time), ret (targets): n_tok
 * each. dv (n_tok, may be NULL): d loss / d v. st may be NULL. */
int value_loss(const ValueLossCfg *c, const RlBatch *b, const float *v, const float *v_old,
               const float *ret, float *dv, ValueLossStats *st);

#ifdef __cplusplus
}
#endif
#endif
