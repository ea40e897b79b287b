/* The f-DPG state of an RL run (algo.adv=fdpg): the target P(x) from the
 * config (pointwise constraints, distributional constraints with their
 * fitted lambda, or reward tilting), one running Z per prompt, the baseline
 * window, and the offline proposal's bookkeeping. Saved in the checkpoint
 * so a resumed run repeats a straight one. Private to src/rl. */
#ifndef THINKRL_RL_FDPG_RUN_H
#define THINKRL_RL_FDPG_RUN_H

#include <cJSON.h>

#include "thinkrl/fdpg.h"
#include "thinkrl/reward.h"
#include "thinkrl/rl_train.h"

typedef enum { FDPG_POINTWISE = 0, FDPG_DISTRIBUTIONAL, FDPG_TILT } FdpgTarget;

typedef struct {
    FdpgCfg cfg;
    FdpgTarget target;
    RewardSet cons;            /* pointwise: b(x) = 1 when every term's value is >= 0.5 */
    RewardSet feat;            /* distributional: phi = the terms' values, weights = requested moments */
    int k;                     /* features */
    double mu[FDPG_MAX_FEATURES], lambda[FDPG_MAX_FEATURES];
    int fitted;                /* lambda is fitted (or restored) */
    FdpgFit fit;
    double beta;               /* tilt: P = a exp(r / beta) */
    FdpgZ *z;                  /* per training record */
    int64_t nz;
    FdpgBaseline base;
    int offline;
    int64_t q_every, q_updates;
    double acc_pi, acc_q;      /* KL(p||pi), KL(p||q) estimates summed since the last proposal check */
    int64_t acc_n;
} FdpgRun;

int fdpg_run_init(FdpgRun *f, const RlConfig *c, int64_t n_records);
void fdpg_run_free(FdpgRun *f);
/* Checks the fdpg.* keys of c (and their fit with the rest of the config). */
int fdpg_config_check(const RlConfig *c);

/* Values of the target's terms for n responses: pointwise b (n), features
 * phi (n x k), tilt nothing (the run's reward is r). */
int fdpg_run_values(FdpgRun *f, const RewardCtx *ctx, int n, double *val);
/* log P(x_i) from log a (la), the values above and the run's rewards. */
void fdpg_run_logP(const FdpgRun *f, int n, const double *la, const double *val, const double *reward, double *lP);
/* Entries per response in the values array (1 or k). */
int fdpg_run_width(const FdpgRun *f);

cJSON *fdpg_run_to_json(const FdpgRun *f);
int fdpg_run_from_json(FdpgRun *f, const cJSON *j);
/* RUN/fdpg_fit.json: the lambda fit, written atomically. */
int fdpg_run_write_fit(const FdpgRun *f, const char *run_dir, int samples);

#endif
