/* TACO training mechanics (ALGORITHMS 5): the adaptive difficulty sampler
 * (ads), the rollback-resample pieces (rrs): the queue of deferred prompts,
 * the n-gram loop test that marks degenerate responses, and the spike
 * detector that decides when a step is rolled back. Pure state machines over
 * prompt indices and numbers: no model, no files. Each piece serialises to
 * JSON for the run checkpoint and reads back exactly. The RL trainer
 * (rl_train.h) drives them; the think-answer consistency reward lives with
 * the other rewards (reward.h). */
#ifndef THINKRL_TACO_H
#define THINKRL_TACO_H

#include <stddef.h>
#include <stdint.h>

#include "thinkrl/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

/* ---------------------------------------------------------------------------
 * ads: adaptive difficulty sampling.
 * Each prompt i keeps p_i, an estimate of the policy's success rate on it:
 * the rate of its first visited group, then an EMA p <- (1 - ema) p + ema r
 * of the success rate r of each later group. Prompts are drawn without
 * replacement with weight w(p) = p (1 - p) + floor (an unvisited prompt
 * counts as p = unseen), so compute goes to prompts of moderate
 * difficulty. A prompt whose last park_after visits all had r = 1 (or all
 * r = 0) is parked: never drawn by weight, but re-tested every `retest`
 * steps; a re-test with r in (0, 1) puts it back, an extreme one keeps it
 * parked for another `retest` steps. A draw spends at most a quarter of its
 * slots (at least one) on re-tests, the most overdue first.
 * ------------------------------------------------------------------------- */
typedef struct {
    double ema;       /* weight of a new visit [0.5], in (0, 1] */
    double floor;     /* w_floor [0.02], >= 0 */
    int park_after;   /* k [2]: visits in a row at 0 or at 1 that park, >= 1 */
    int64_t retest;   /* steps between re-tests of a parked prompt [25], >= 1 */
    double unseen;    /* the estimate an unvisited prompt is weighed with [0.5] */
} AdsCfg;

void ads_cfg_default(AdsCfg *c);

typedef struct {
    AdsCfg cfg;
    int64_t n;            /* prompts */
    double *p;            /* estimate; NaN: never visited */
    int32_t *visits;
    int32_t *streak;      /* +s: the last s visits had r = 1; -s: r = 0; 0: neither */
    int64_t *parked_at;   /* step it was parked or last re-tested; -1: active */
    int64_t n_visited, n_parked;
    int64_t parks, unparks, retests;   /* totals since the start of the run */
} Ads;

/* Errors: a config out of range (names the field), out of memory. */
int ads_init(Ads *a, int64_t n, const AdsCfg *cfg);
void ads_free(Ads *a);
/* The weight prompt i is drawn with now: 0 when parked. */
double ads_weight(const Ads *a, int64_t i);
/* Draws up to k distinct prompts for `step` into out (returns how many):
 * first the re-tests that are due (parked_at + retest <= step), at most
 * max(1, k / 4), oldest park first (ties: lower index); then weighted draws
 * among active prompts. skip (may be NULL; n flags) marks prompts the
 * caller already has: they are not drawn. When every active prompt is
 * skipped or weighs nothing, parked prompts fill the rest as re-tests, so
 * the draw returns min(k, n - skipped) prompts. */
int64_t ads_draw(Ads *a, int64_t step, Rng *rng, int64_t k, const uint8_t *skip, int64_t *out);
/* Records a visit of prompt i at `step` with success rate r in [0, 1]:
 * updates p, the streak, parks or un-parks. */
void ads_observe(Ads *a, int64_t i, double r, int64_t step);
/* Counts of visited prompts per estimate bin: bin b holds p in
 * [b / nbins, (b + 1) / nbins), the last one also p = 1. */
void ads_hist(const Ads *a, int nbins, int64_t *counts);
/* Mean estimate over visited prompts (NaN when none). */
double ads_mean(const Ads *a);
/* {"n", "visited": [[i, p, visits, streak, parked_at], ...], "parks",
 * "unparks", "retests"} (only visited prompts are listed). */
struct cJSON *ads_to_json(const Ads *a);
/* Restores a state written by ads_to_json into an initialised Ads of the
 * same n (an error names what does not fit). */
int ads_from_json(Ads *a, const struct cJSON *j);

/* ---------------------------------------------------------------------------
 * rrs, sample level: the queue of deferred prompts. A problematic group's
 * prompt is deferred at step s and becomes due at s + delay; a due prompt is
 * reintroduced (drawn again before any fresh prompt), oldest first, at most
 * half a step's prompts (at least one) per step. A prompt deferred more than
 * max_defers times in a row is dropped from the queue (counted).
 * ------------------------------------------------------------------------- */
typedef struct {
    int64_t rec;     /* prompt index */
    int64_t due;     /* first step it may be drawn again */
    int32_t times;   /* deferrals in a row, >= 1 */
} RrsEntry;

typedef struct {
    int64_t delay;       /* [10], >= 1 */
    int32_t max_defers;  /* [3], >= 1 */
    RrsEntry *q;
    int64_t n, cap;
    int64_t deferred, reintroduced, dropped;   /* totals since the start of the run */
} RrsQueue;

void rrs_queue_init(RrsQueue *q, int64_t delay, int32_t max_defers);
void rrs_queue_free(RrsQueue *q);
/* Defers prompt rec at `step`; times = how often in a row it was deferred
 * before (0 for a fresh draw, the `times` rrs_take_due gave it otherwise).
 * Returns 1 when it was queued, 0 when it was dropped (times + 1 >
 * max_defers), or TR_ENOMEM. */
int rrs_defer(RrsQueue *q, int64_t rec, int32_t times, int64_t step);
/* Takes up to max(1, k / 2) due entries, in queue order, out of the queue
 * into out[]; returns how many. */
int64_t rrs_take_due(RrsQueue *q, int64_t step, int64_t k, RrsEntry *out);
/* {"delay", "max_defers", "queue": [[rec, due, times], ...], "deferred",
 * "reintroduced", "dropped"}. */
struct cJSON *rrs_queue_to_json(const RrsQueue *q);
/* Restores a queue; every rec must be < n_records. */
int rrs_queue_from_json(RrsQueue *q, const struct cJSON *j, int64_t n_records);

/* 1 when some run of `ngram` tokens occurs at least `reps` times in
 * ids[0..n) (occurrences may overlap): the response loops. 0 otherwise, and
 * when n < ngram. ngram >= 1, reps >= 2. */
int rrs_ngram_loop(const int32_t *ids, int n, int ngram, int reps);

/* ---------------------------------------------------------------------------
 * rrs, step level: the spike detector. Watches up to SPIKE_MAX per-step
 * values (KL, loss, grad norm). A step spikes when any value is NaN or Inf,
 * or, once min_hist accepted steps are in the window, when
 * |v_j| > factor * max(median of the last `window` accepted |v_j|, floor_j).
 * Only accepted steps enter the history.
 * ------------------------------------------------------------------------- */
#define SPIKE_MAX 4
#define SPIKE_WINDOW_MAX 256

typedef struct {
    int n;                       /* values watched */
    char name[SPIKE_MAX][24];
    double floor[SPIKE_MAX];
    double factor;
    int window, min_hist;
    double hist[SPIKE_MAX][SPIKE_WINDOW_MAX];   /* ring of |v| */
    int count, head;
} SpikeDet;

/* Parses a watch list "kl:0.01,loss:0.1,grad_norm" (name, optional
 * ':floor' >= 0, default 0) and sets the rest. Errors: an empty or too long
 * list, a bad floor, window outside [1, SPIKE_WINDOW_MAX], min_hist outside
 * [1, window], factor <= 1. */
int spike_init(SpikeDet *s, const char *watch, double factor, int window, int min_hist);
/* Index of a watched name, -1 if not watched. */
int spike_index(const SpikeDet *s, const char *name);
/* 0: no spike; 1 + j: value j spiked (the first one); -(1 + j): value j is
 * NaN or Inf. why (may be NULL) gets a sentence ("grad_norm 53.2 > 5 x
 * running median 1.04"). */
int spike_check(const SpikeDet *s, const double *v, char *why, size_t why_len);
/* Adds an accepted step's values to the history. */
void spike_push(SpikeDet *s, const double *v);
/* The running median of value j (0 when the window is empty). */
double spike_median(const SpikeDet *s, int j);
/* {"count", "head", "hist": [[...], ...]}: the history, not the settings. */
struct cJSON *spike_to_json(const SpikeDet *s);
/* Restores the history into a detector initialised with the same list. */
int spike_from_json(SpikeDet *s, const struct cJSON *j);

#ifdef __cplusplus
}
#endif
#endif
