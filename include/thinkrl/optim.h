/* AdamW with decoupled weight decay and bias correction, global grad-norm
 * clipping and learning-rate schedules, over one flat parameter buffer. */
#ifndef THINKRL_OPTIM_H
#define THINKRL_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    size_t n;
    float *m, *v;   /* first and second moments, (n) each */
    int64_t t;      /* steps taken */
} AdamW;

int adamw_init(AdamW *o, size_t n, float lr, float beta1, float beta2, float eps, float wd);
void adamw_free(AdamW *o);
/* One step at learning rate lr (the schedule's value). `decay_mask` (n bytes,
 * may be NULL = decay everything) selects parameters that get weight decay. */
void adamw_step(AdamW *o, float *params, const float *grads, float lr, const uint8_t *decay_mask);

/* L2 norm of all gradients (double accumulation). */
double grad_norm(const float *g, size_t n);
/* Scales g so its norm is at most max_norm (torch's clip_grad_norm_ rule:
 * coef = max_norm / (norm + 1e-6), applied when < 1). Returns the norm
 * before clipping. max_norm <= 0 disables clipping. */
double grad_clip(float *g, size_t n, double max_norm);
/* grad_clip over the two buffers as one vector (a model and its value
 * head); n2 may be 0. */
double grad_clip2(float *g1, size_t n1, float *g2, size_t n2, double max_norm);

typedef enum { SCHED_CONSTANT = 0, SCHED_LINEAR, SCHED_COSINE } SchedKind;
typedef struct {
    SchedKind kind;
    float lr;           /* peak */
    int64_t warmup;     /* linear warmup steps from 0 */
    int64_t total;      /* total steps (linear / cosine decay end) */
    float min_lr;       /* floor of the decay */
} Sched;

/* Learning rate at step (0-based). */
float sched_lr(const Sched *s, int64_t step);
/* "constant" | "linear" | "cosine" -> kind; -1 if unknown. */
int sched_parse(const char *name);

#ifdef __cplusplus
}
#endif
#endif
