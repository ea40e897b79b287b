/* AdamW (decoupled weight decay, bias-corrected moments, torch.optim.AdamW's
 * update order), global grad-norm clipping, and learning-rate schedules. */
#include <math.h>
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/optim.h"

int adamw_init(AdamW *o, size_t n, float lr, float beta1, float beta2, float eps, float wd) {
    memset(o, 0, sizeof *o);
    if (!(lr >= 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0) || !(wd >= 0))
        return tr_err(TR_EINVAL, "adamw: invalid settings (lr %g, betas %g %g, eps %g, weight_decay %g)",
                      lr, beta1, beta2, eps, wd);
    o->m = tr_calloc(n * sizeof(float));
    o->v = tr_calloc(n * sizeof(float));
    if (!o->m || !o->v) {
        adamw_free(o);
        return tr_err(TR_ENOMEM, "adamw: out of memory for %zu parameters", n);
    }
    o->n = n;
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = wd;
    return TR_OK;
}

void adamw_free(AdamW *o) {
    tr_free(o->m);
    tr_free(o->v);
    memset(o, 0, sizeof *o);
}

void adamw_step(AdamW *o, float *p, const float *g, float lr, const uint8_t *decay_mask) {
    o->t++;
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps, wd = o->weight_decay;
    const double bc1 = 1.0 - pow(b1, (double)o->t), bc2 = 1.0 - pow(b2, (double)o->t);
    const float step = (float)(lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
    float *m = o->m, *v = o->v;
    const size_t n = o->n;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float pi = p[i];
        if (!decay_mask || decay_mask[i]) pi -= lr * wd * pi;
        p[i] = pi - step * mi / (sqrtf(vi) * rbc2 + eps);
    }
}

double grad_norm(const float *g, size_t n) {
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

static void scale(float *g, size_t n, float cf) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) g[i] *= cf;
}

double grad_clip2(float *g1, size_t n1, float *g2, size_t n2, double max_norm) {
    double a = grad_norm(g1, n1), b = n2 ? grad_norm(g2, n2) : 0.0;
    double norm = n2 ? sqrt(a * a + b * b) : a;
    if (max_norm > 0) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0) {
            scale(g1, n1, (float)coef);
            if (n2) scale(g2, n2, (float)coef);
        }
    }
    return norm;
}

double grad_clip(float *g, size_t n, double max_norm) { return grad_clip2(g, n, NULL, 0, max_norm); }

float sched_lr(const Sched *s, int64_t step) {
    if (s->warmup > 0 && step < s->warmup) return s->lr * (float)(step + 1) / (float)s->warmup;
    if (s->kind == SCHED_CONSTANT || s->total <= s->warmup) return s->lr;
    double frac = (double)(step - s->warmup) / (double)(s->total - s->warmup);
    if (frac > 1) frac = 1;
    double k = s->kind == SCHED_LINEAR ? 1.0 - frac : 0.5 * (1.0 + cos(M_PI * frac));
    return (float)(s->min_lr + (s->lr - s->min_lr) * k);
}

int sched_parse(const char *name) {
    if (!strcmp(name, "constant")) return SCHED_CONSTANT;
    if (!strcmp(name, "linear")) return SCHED_LINEAR;
    if (!strcmp(name, "cosine")) return SCHED_COSINE;
    return -1;
}
