/* f-DPG (ALGORITHMS 10): moving a policy pi toward a target distribution
 * p(x) = P(x) / Z by minimising an f-divergence D_f(pi || p). The target is
 * an energy-based model over whole responses x: the base model a(x) times a
 * pointwise constraint b(x) in {0, 1}, times exp(lambda . phi(x)) for
 * distributional constraints (lambda fitted here by moment matching), or
 * times exp(r(x) / beta) (reward tilting). Everything below works on
 * sequence-level log-probabilities (sums over a response's tokens) of samples
 * drawn from a proposal q (q = pi in online mode):
 *
 *   log t(x) = log pi(x) - log P(x) + log Z_hat     (t = pi / p)
 *   R(x)     = -f'(t(x))                            (the pseudo-reward)
 *   loss     = mean_x[ w(x) * -(R(x) - b) * log pi(x) ],  w = pi / q
 *
 * whose gradient is E_q[w (f'(t) + b) grad log pi] = grad D_f(pi || p) (the
 * baseline b only lowers the variance). Plain functions, no model; the RL
 * trainer (rl_train.h, algo.adv=fdpg) drives them. */
#ifndef THINKRL_FDPG_H
#define THINKRL_FDPG_H

#include <stdint.h>

#include "thinkrl/rl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* f and f' of each divergence, as functions of log t (t = pi / p):
 *   fkl  (forward KL, KL(p || pi): DPG / GDC)   f = -log t         f' = -1/t
 *   rkl  (reverse KL, KL(pi || p): RL + KL)     f = t log t        f' = log t + 1
 *   js   (Jensen-Shannon)  f = t log(2t/(1+t)) + log(2/(1+t))  f' = log 2 - log(1 + 1/t)
 *   tv   (total variation) f = |t - 1| / 2      f' = sign(log t) / 2
 *   chi2 (Pearson chi-square) f = (t - 1)^2     f' = 2 (t - 1) */
typedef enum { FDPG_FKL = 0, FDPG_RKL, FDPG_JS, FDPG_TV, FDPG_CHI2, FDPG_COUNT } FdpgDiv;

/* "fkl" | "rkl" | "js" | "tv" | "chi2" -> divergence; -1 if unknown. */
int fdpg_div_parse(const char *name);
const char *fdpg_div_name(FdpgDiv d);
/* f(t) and f'(t) at t = exp(log_t), computed stably for |log t| up to 700
 * (except chi2, whose f and f' overflow to +inf past log t ~ 355). */
double fdpg_f(FdpgDiv d, double log_t);
double fdpg_fprime(FdpgDiv d, double log_t);

/* ---- the partition function: a running importance-sampling mean ----
 * Z_hat = (1/n) sum_i P(x_i) / q(x_i) over every sample seen, kept as the
 * log of the sum so that sequence log-probs of -300 do not underflow. A
 * sample outside the target's support (log P = -inf) counts in n and adds
 * nothing. */
typedef struct {
    double log_sum;   /* log sum_i P/q (-inf: nothing in the support yet) */
    int64_t n;
} FdpgZ;

void fdpg_z_init(FdpgZ *z);
/* TR_EINVAL (Z unchanged) when log_p_over_q is NaN or +inf. */
int fdpg_z_add(FdpgZ *z, double log_p_over_q);
/* log Z_hat; -inf when no sample so far was in the support (or n == 0). */
double fdpg_z_log(const FdpgZ *z);

/* ---- the baseline: the mean pseudo-reward of the last `cap` samples ---- */
typedef struct {
    double *v;
    int cap, n, head;   /* ring buffer: n values, the next goes to head */
} FdpgBaseline;

int fdpg_baseline_init(FdpgBaseline *b, int cap);
void fdpg_baseline_free(FdpgBaseline *b);
void fdpg_baseline_push(FdpgBaseline *b, double r);
/* Mean of the values held; 0 when empty. */
double fdpg_baseline_mean(const FdpgBaseline *b);

/* ---- per-sample pseudo-rewards, loss coefficients and estimates ---- */
typedef struct {
    FdpgDiv div;
    double clip_logt;  /* |log t| is clamped to this before f' (a sample
                        * outside the support has log t = +clip_logt). The
                        * trainer's default is 10, and 3 for chi2, whose
                        * f' = 2(t - 1) at 10 is -44,000 for such a sample and
                        * swamps every other one (measured in test_fdpg) */
} FdpgCfg;

/* n samples; every array has n entries. lpi: log pi(x) under the current
 * policy; lq: log q(x) under the proposal (online: lpi); lP: log P(x), -inf
 * outside the support; lz: log Z_hat of the sample's context (prompt); la:
 * log a(x) under the base (may be NULL: no kl_pi_a). */
typedef struct {
    int n;
    const double *lpi, *lq, *lP, *lz, *la;
} FdpgSamples;

/* Estimates from the samples, importance-weighted by w = pi / q (the
 * target's share p / q = exp(lP - lz - lq)). They see only where q puts
 * mass: with no sample inside p's support the KL(p || .) estimates are NaN
 * (not 0), and TV reads 1/2 however far apart p and pi are. */
typedef struct {
    double kl_p_pi;    /* KL(p || pi) = E_q[p/q (log p - log pi)] */
    double kl_p_q;     /* KL(p || q) */
    double tv_p_pi;    /* TV(p, pi) = 1/2 E_q |p/q - pi/q| */
    double kl_pi_a;    /* KL(pi || a) = E_q[w (log pi - log a)] (0 without la) */
    double r_mean;     /* mean pseudo-reward */
    double w_mean, w_max;
    double ess;        /* (sum w)^2 / (n sum w^2): 1 online, lower as q drifts from pi */
    double support;    /* share of samples inside the support */
} FdpgStats;

/* R[i] = -f'(t_i) and coef[i] = w_i (R_i - baseline) (either may be NULL).
 * Every input must be finite except lP (may be -inf) and lz (-inf only where
 * lP is -inf); TR_EINVAL names the array and sample otherwise. */
int fdpg_coefs(const FdpgCfg *c, const FdpgSamples *s, double baseline, double *R, double *coef, FdpgStats *st);

/* coef must not be NULL. loss = (1/norm) sum_i -coef[i] * sum_t logp_{i,t} over the responses of b
 * (coef per response, N entries); dlogp[t] = -coef[i] / norm on response
 * i's tokens, 0 elsewhere (may be NULL). norm <= 0: b->N. */
int fdpg_loss(const RlBatch *b, const float *logp, const double *coef, double norm, float *dlogp, double *loss);

/* ---- distributional constraints: fitting lambda ----
 * Given phi (n x k, row-major) of samples from the base a and requested
 * moments mu (k), finds lambda with E_{p_lambda}[phi] = mu where p_lambda is
 * a reweighted by exp(lambda . phi): self-normalised weights over the
 * samples. Damped Newton on the convex dual log mean_i exp(lambda . phi_i) -
 * lambda . mu (gradient E_lambda[phi] - mu, Hessian Cov_lambda[phi]).
 * An unreachable moment (outside the range of phi over the samples) is an
 * error naming feature `names[j]` (names may be NULL). */
#define FDPG_MAX_FEATURES 8
typedef struct {
    int iters, converged;
    double max_err;                           /* max_j |E_lambda[phi_j] - mu_j| */
    double ess;                               /* of the final weights, in (0, 1] */
    double base[FDPG_MAX_FEATURES];           /* plain sample means */
    double achieved[FDPG_MAX_FEATURES];       /* E_lambda[phi] */
} FdpgFit;

int fdpg_fit_lambda(const double *phi, int n, int k, const double *mu, const char *const *names, double tol,
                    int max_iter, double *lambda, FdpgFit *fit);

/* ---- diversity ----
 * distinct-n: distinct n-grams / all n-grams over the token sequences
 * seq[0..n) (len[i] tokens each); 0 when there are none, NaN when out of
 * memory. */
double fdpg_distinct(const int32_t *const *seq, const int *len, int n, int ngram);
/* The share of distinct sequences among the n (1: all different; 1/n: one
 * sequence n times; 0 when n == 0, NaN when out of memory): the collapse
 * of a policy onto a few outputs, which distinct-n of short n-grams misses
 * on templated text. */
double fdpg_unique(const int32_t *const *seq, const int *len, int n);

#ifdef __cplusplus
}
#endif
#endif
