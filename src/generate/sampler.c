/* Token samplers: greedy, temperature, top-k, top-p, min-p over one row of
 * logits, drawing with the caller's Rng. No sort of the whole vocabulary
 * unless top-p needs most of it: top-k and the nucleus are found by
 * selection, then only the kept tokens are ordered. */
#include <math.h>
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/generate.h"
#include "kernels/vmath.h"

int sampler_check(const SamplerConfig *sc) {
    if (!(isfinite(sc->temperature) && sc->temperature >= 0.0f))
        return tr_err(TR_EINVAL, "sampler: temperature must be a finite number >= 0 (got %g)", sc->temperature);
    if (sc->top_k < 0) return tr_err(TR_EINVAL, "sampler: top_k must be >= 0 (got %d)", sc->top_k);
    if (!(sc->top_p > 0.0f && sc->top_p <= 1.0f))
        return tr_err(TR_EINVAL, "sampler: top_p must be in (0, 1] (got %g)", sc->top_p);
    if (!(sc->min_p >= 0.0f && sc->min_p < 1.0f))
        return tr_err(TR_EINVAL, "sampler: min_p must be in [0, 1) (got %g)", sc->min_p);
    return TR_OK;
}

int sampler_work_init(SamplerWork *w, int V) {
    memset(w, 0, sizeof *w);
    w->w = tr_alloc((size_t)V * sizeof(float));
    w->idx = tr_alloc((size_t)V * sizeof(int32_t));
    if (!w->w || !w->idx) {
        sampler_work_free(w);
        return tr_err(TR_ENOMEM, "sampler: out of memory for a vocabulary of %d", V);
    }
    w->V = V;
    return TR_OK;
}

void sampler_work_free(SamplerWork *w) {
    tr_free(w->w);
    tr_free(w->idx);
    memset(w, 0, sizeof *w);
}

/* The order of candidates: more probable first, the lower id on ties. */
static inline int before(const float *w, int32_t a, int32_t b) {
    return w[a] > w[b] || (w[a] == w[b] && a < b);
}

/* Rearranges idx[0..n) so that its k first entries are the k first in
 * `before` order (in no particular order among themselves). */
static void select_top(const float *w, int32_t *idx, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        /* median of three as pivot */
        int mid = lo + (hi - lo) / 2;
        int32_t a = idx[lo], b = idx[mid], c = idx[hi], p;
        if (before(w, a, b)) p = before(w, b, c) ? b : (before(w, a, c) ? c : a);
        else p = before(w, a, c) ? a : (before(w, b, c) ? c : b);
        int i = lo, j = hi;
        while (i <= j) {
            while (before(w, idx[i], p)) i++;
            while (before(w, p, idx[j])) j--;
            if (i <= j) {
                int32_t t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
                i++;
                j--;
            }
        }
        /* [lo, j] before-or-equal p, [i, hi] after-or-equal p */
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

/* Sorts idx[0..n) in `before` order (insertion sort for short runs, heap
 * sort otherwise: no recursion, no allocation). */
static void sift(const float *w, int32_t *a, int root, int n) {
    for (;;) {
        int c = 2 * root + 1;
        if (c >= n) return;
        /* max-heap in "after" order so that the result is in before order */
        if (c + 1 < n && before(w, a[c + 1], a[c])) c++;
        if (!before(w, a[c], a[root])) return;
        int32_t t = a[c];
        a[c] = a[root];
        a[root] = t;
        root = c;
    }
}

static void sort_before(const float *w, int32_t *a, int n) {
    if (n <= 32) {
        for (int i = 1; i < n; i++) {
            int32_t x = a[i];
            int j = i - 1;
            while (j >= 0 && before(w, x, a[j])) {
                a[j + 1] = a[j];
                j--;
            }
            a[j + 1] = x;
        }
        return;
    }
    /* heap whose root is the LAST in before order, then pop to the end */
    for (int i = n / 2 - 1; i >= 0; i--) sift(w, a, i, n);
    for (int end = n - 1; end > 0; end--) {
        int32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift(w, a, 0, end);
    }
    /* the pops put the FIRST-in-before-order elements last: reverse */
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

int32_t sampler_sample(const SamplerConfig *sc, const float *z, int V, Rng *rng, SamplerWork *wk,
                       float *lp_sample) {
    TR_ASSERT(wk->V >= V);
    int32_t best = 0;
    for (int i = 1; i < V; i++)
        if (z[i] > z[best]) best = i;
    /* greedy also when 1/T overflows (T below ~3e-39): exp((z - max) / T)
     * would be 0 * inf = NaN for the best token */
    if (sc->temperature <= 0.0f || sc->top_k == 1 || !isfinite(1.0f / sc->temperature)) {
        if (lp_sample) *lp_sample = 0.0f;
        return best;
    }
    const float mx = z[best], invT = 1.0f / sc->temperature;
    float *w = wk->w;
    int32_t *idx = wk->idx;
    /* unnormalised probabilities exp((z - max) / T); the best token has 1 */
#pragma omp simd
    for (int i = 0; i < V; i++) w[i] = vexpf((z[i] - mx) * invT);
    int n = V;
    for (int i = 0; i < V; i++) idx[i] = i;
    if (sc->top_k > 0 && sc->top_k < n) {
        select_top(w, idx, n, sc->top_k);
        n = sc->top_k;
    }
    if (sc->top_p < 1.0f) {
        double total = 0;
        for (int i = 0; i < n; i++) total += w[idx[i]];
        const double need = (double)sc->top_p * total;
        /* grow a sorted head until it holds top_p of the mass */
        int k = n < 64 ? n : 64;
        for (;;) {
            if (k < n) select_top(w, idx, n, k);
            sort_before(w, idx, k);
            double acc = 0;
            int keep = -1;
            for (int i = 0; i < k; i++) {
                acc += w[idx[i]];
                if (acc >= need) {
                    keep = i + 1;
                    break;
                }
            }
            if (keep > 0 || k == n) {
                n = keep > 0 ? keep : n;
                break;
            }
            k = k * 4 < n ? k * 4 : n;
        }
    }
    if (sc->min_p > 0.0f) {
        /* the best token (w = 1) is always kept, so the threshold is min_p */
        const float thr = sc->min_p;
        int m = 0;
        for (int i = 0; i < n; i++)
            if (w[idx[i]] >= thr) idx[m++] = idx[i];
        n = m;
    }
    /* The kept tokens are walked in the order the steps above left them
     * (id order, or the order selection and sorting produce), which depends
     * on z alone. */
    double total = 0;
    for (int i = 0; i < n; i++) total += w[idx[i]];
    double u = rng_uniform_d(rng) * total, acc = 0;
    int32_t tok = best;
    for (int i = 0; i < n; i++) {
        float wi = w[idx[i]];
        if (wi <= 0.0f) continue;
        tok = idx[i]; /* u rounding up to total ends on the last positive one */
        acc += wi;
        if (u < acc) break;
    }
    if (lp_sample) *lp_sample = (float)((double)(z[tok] - mx) * invT - log(total));
    return tok;
}
