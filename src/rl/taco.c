/* TACO mechanics: the ads sampler, the rrs deferral queue, the n-gram loop
 * test and the spike detector (taco.h). */
#include "thinkrl/taco.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- ads ---- */

void ads_cfg_default(AdsCfg *c) {
    c->ema = 0.5;
    c->floor = 0.02;
    c->park_after = 2;
    c->retest = 25;
    c->unseen = 0.5;
}

int ads_init(Ads *a, int64_t n, const AdsCfg *cfg) {
    memset(a, 0, sizeof *a);
    if (!(cfg->ema > 0 && cfg->ema <= 1)) return tr_err(TR_EINVAL, "ads.ema: expected a number in (0, 1], got %g", cfg->ema);
    if (!(cfg->floor >= 0 && isfinite(cfg->floor)))
        return tr_err(TR_EINVAL, "ads.floor: expected a number >= 0, got %g", cfg->floor);
    if (cfg->park_after < 1) return tr_err(TR_EINVAL, "ads.park_after: expected >= 1, got %d", cfg->park_after);
    if (cfg->retest < 1) return tr_err(TR_EINVAL, "ads.retest: expected >= 1, got %lld", (long long)cfg->retest);
    if (!(cfg->unseen >= 0 && cfg->unseen <= 1))
        return tr_err(TR_EINVAL, "ads.unseen: expected a number in [0, 1], got %g", cfg->unseen);
    if (n < 1) return tr_err(TR_EINVAL, "ads: no prompts to sample from");
    a->cfg = *cfg;
    a->n = n;
    a->p = malloc((size_t)n * sizeof *a->p);
    a->visits = calloc((size_t)n, sizeof *a->visits);
    a->streak = calloc((size_t)n, sizeof *a->streak);
    a->parked_at = malloc((size_t)n * sizeof *a->parked_at);
    if (!a->p || !a->visits || !a->streak || !a->parked_at) {
        ads_free(a);
        return tr_err(TR_ENOMEM, "out of memory for the ads state of %lld prompts", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        a->p[i] = NAN;
        a->parked_at[i] = -1;
    }
    return TR_OK;
}

void ads_free(Ads *a) {
    free(a->p);
    free(a->visits);
    free(a->streak);
    free(a->parked_at);
    memset(a, 0, sizeof *a);
}

double ads_weight(const Ads *a, int64_t i) {
    if (a->parked_at[i] >= 0) return 0;
    double p = isnan(a->p[i]) ? a->cfg.unseen : a->p[i];
    return p * (1 - p) + a->cfg.floor;
}

/* Parked prompts not skipped and not taken, due at `step` (or any when
 * due_only is 0): the one parked longest ago (lowest index on ties). */
static int64_t oldest_parked(const Ads *a, int64_t step, const uint8_t *skip, const uint8_t *taken, int due_only) {
    int64_t best = -1;
    for (int64_t i = 0; i < a->n; i++) {
        if (a->parked_at[i] < 0 || (skip && skip[i]) || taken[i]) continue;
        if (due_only && a->parked_at[i] + a->cfg.retest > step) continue;
        if (best < 0 || a->parked_at[i] < a->parked_at[best]) best = i;
    }
    return best;
}

int64_t ads_draw(Ads *a, int64_t step, Rng *rng, int64_t k, const uint8_t *skip, int64_t *out) {
    uint8_t *taken = calloc((size_t)a->n, 1);
    double *w = malloc((size_t)a->n * sizeof *w);
    if (!taken || !w) {
        free(taken);
        free(w);
        return tr_err(TR_ENOMEM, "out of memory");
    }
    int64_t m = 0, cap = k / 4 > 1 ? k / 4 : 1;
    while (m < k && m < cap) {
        int64_t i = oldest_parked(a, step, skip, taken, 1);
        if (i < 0) break;
        taken[i] = 1;
        out[m++] = i;
        a->retests++;
    }
    double total = 0;
    for (int64_t i = 0; i < a->n; i++) {
        w[i] = (skip && skip[i]) || taken[i] ? 0 : ads_weight(a, i);
        total += w[i];
    }
    while (m < k && total > 0) {
        double u = rng_uniform_d(rng) * total, acc = 0;
        int64_t pick = -1;
        for (int64_t i = 0; i < a->n; i++) {
            if (w[i] <= 0) continue;
            pick = i; /* the last positive weight catches rounding at the end */
            acc += w[i];
            if (u < acc) break;
        }
        taken[pick] = 1;
        out[m++] = pick;
        total -= w[pick];
        w[pick] = 0;
        if (total < 1e-12) { /* recompute: drift from repeated subtraction */
            total = 0;
            for (int64_t i = 0; i < a->n; i++) total += w[i];
        }
    }
    while (m < k) { /* everything left is parked: re-test it early */
        int64_t i = oldest_parked(a, step, skip, taken, 0);
        if (i < 0) break;
        taken[i] = 1;
        out[m++] = i;
        a->retests++;
    }
    free(taken);
    free(w);
    return m;
}

void ads_observe(Ads *a, int64_t i, double r, int64_t step) {
    if (isnan(a->p[i])) {
        a->p[i] = r;
        a->n_visited++;
    } else {
        a->p[i] = (1 - a->cfg.ema) * a->p[i] + a->cfg.ema * r;
    }
    a->visits[i]++;
    int32_t s = a->streak[i];
    if (r >= 1) s = s > 0 ? s + 1 : 1;
    else if (r <= 0) s = s < 0 ? s - 1 : -1;
    else s = 0;
    a->streak[i] = s;
    if (a->parked_at[i] >= 0) { /* a re-test */
        if (s != 0) {
            a->parked_at[i] = step;
        } else {
            a->parked_at[i] = -1;
            a->n_parked--;
            a->unparks++;
        }
    } else if (abs(s) >= a->cfg.park_after) {
        a->parked_at[i] = step;
        a->n_parked++;
        a->parks++;
    }
}

void ads_hist(const Ads *a, int nbins, int64_t *counts) {
    memset(counts, 0, (size_t)nbins * sizeof *counts);
    for (int64_t i = 0; i < a->n; i++) {
        if (isnan(a->p[i])) continue;
        int b = (int)(a->p[i] * nbins);
        if (b >= nbins) b = nbins - 1;
        if (b < 0) b = 0;
        counts[b]++;
    }
}

double ads_mean(const Ads *a) {
    double s = 0;
    int64_t n = 0;
    for (int64_t i = 0; i < a->n; i++)
        if (!isnan(a->p[i])) {
            s += a->p[i];
            n++;
        }
    return n ? s / (double)n : NAN;
}

cJSON *ads_to_json(const Ads *a) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", (double)a->n);
    cJSON *v = cJSON_AddArrayToObject(o, "visited");
    for (int64_t i = 0; i < a->n; i++) {
        if (isnan(a->p[i])) continue;
        cJSON *e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateNumber((double)i));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(a->p[i]));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(a->visits[i]));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(a->streak[i]));
        cJSON_AddItemToArray(e, cJSON_CreateNumber((double)a->parked_at[i]));
        cJSON_AddItemToArray(v, e);
    }
    cJSON_AddNumberToObject(o, "parks", (double)a->parks);
    cJSON_AddNumberToObject(o, "unparks", (double)a->unparks);
    cJSON_AddNumberToObject(o, "retests", (double)a->retests);
    return o;
}

/* The number at j[key], or an error naming `what`.key. */
static int json_num(const cJSON *j, const char *key, const char *what, double *out) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(x)) return tr_err(TR_EFORMAT, "%s.%s: missing or not a number", what, key);
    *out = x->valuedouble;
    return TR_OK;
}

/* 1 when x is a whole number in [lo, hi] (so the cast to an integer is
 * defined); counters and steps of a state are checked with it. */
#define STATE_MAX 4.0e18
static int whole(double x, double lo, double hi) { return x >= lo && x <= hi && x == floor(x); }

/* json_num of a whole counter in [0, STATE_MAX]. */
static int json_count(const cJSON *j, const char *key, const char *what, double *out) {
    int rc = json_num(j, key, what, out);
    if (!rc && !whole(*out, 0, STATE_MAX))
        return tr_err(TR_EFORMAT, "%s.%s: expected a whole number >= 0, got %g", what, key, *out);
    return rc;
}

/* 1 when e is an array of exactly n numbers (into x), else 0. */
static int json_row(const cJSON *e, int n, double *x) {
    if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != n) return 0;
    for (int q = 0; q < n; q++) {
        const cJSON *it = cJSON_GetArrayItem(e, q);
        if (!cJSON_IsNumber(it)) return 0;
        x[q] = it->valuedouble;
    }
    return 1;
}

int ads_from_json(Ads *a, const cJSON *j) {
    double n = 0, parks = 0, unparks = 0, retests = 0;
    int rc = json_count(j, "n", "ads", &n);
    if (!rc) rc = json_count(j, "parks", "ads", &parks);
    if (!rc) rc = json_count(j, "unparks", "ads", &unparks);
    if (!rc) rc = json_count(j, "retests", "ads", &retests);
    if (rc) return rc;
    if (n != (double)a->n)
        return tr_err(TR_EFORMAT, "ads: the state is over %lld prompts, the data has %lld", (long long)n, (long long)a->n);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "visited");
    if (!cJSON_IsArray(v)) return tr_err(TR_EFORMAT, "ads.visited: missing or not an array");
    for (int64_t i = 0; i < a->n; i++) {
        a->p[i] = NAN;
        a->visits[i] = 0;
        a->streak[i] = 0;
        a->parked_at[i] = -1;
    }
    a->n_visited = a->n_parked = 0;
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        double x[5];
        int ok = json_row(e, 5, x);
        if (!ok || !whole(x[0], 0, (double)a->n - 1) || !(x[1] >= 0 && x[1] <= 1) || !whole(x[2], 1, INT32_MAX) ||
            !whole(x[3], -INT32_MAX, INT32_MAX) || !whole(x[4], -1, STATE_MAX) || !isnan(a->p[(int64_t)x[0]]))
            return tr_err(TR_EFORMAT, "ads.visited[%d]: expected [index < %lld not listed before, p in [0, 1], "
                                      "visits >= 1, streak, parked_at >= -1], whole numbers but p",
                          k, (long long)a->n);
        int64_t i = (int64_t)x[0];
        a->p[i] = x[1];
        a->visits[i] = (int32_t)x[2];
        a->streak[i] = (int32_t)x[3];
        a->parked_at[i] = (int64_t)x[4];
        a->n_visited++;
        if (a->parked_at[i] >= 0) a->n_parked++;
        k++;
    }
    a->parks = (int64_t)parks;
    a->unparks = (int64_t)unparks;
    a->retests = (int64_t)retests;
    return TR_OK;
}

/* ---- rrs: the deferral queue ---- */

void rrs_queue_init(RrsQueue *q, int64_t delay, int32_t max_defers) {
    memset(q, 0, sizeof *q);
    q->delay = delay;
    q->max_defers = max_defers;
}

void rrs_queue_free(RrsQueue *q) {
    free(q->q);
    memset(q, 0, sizeof *q);
}

static int queue_push(RrsQueue *q, RrsEntry e) {
    if (q->n == q->cap) {
        int64_t cap = q->cap ? 2 * q->cap : 16;
        RrsEntry *nq = realloc(q->q, (size_t)cap * sizeof *nq);
        if (!nq) return tr_err(TR_ENOMEM, "out of memory for the rrs queue");
        q->q = nq;
        q->cap = cap;
    }
    q->q[q->n++] = e;
    return TR_OK;
}

int rrs_defer(RrsQueue *q, int64_t rec, int32_t times, int64_t step) {
    if (times + 1 > q->max_defers) {
        q->dropped++;
        return 0;
    }
    int rc = queue_push(q, (RrsEntry){rec, step + q->delay, times + 1});
    if (rc) return rc;
    q->deferred++;
    return 1;
}

int64_t rrs_take_due(RrsQueue *q, int64_t step, int64_t k, RrsEntry *out) {
    int64_t cap = k / 2 > 1 ? k / 2 : 1, m = 0, w = 0;
    for (int64_t i = 0; i < q->n; i++) {
        if (m < cap && m < k && q->q[i].due <= step) out[m++] = q->q[i];
        else q->q[w++] = q->q[i];
    }
    q->n = w;
    q->reintroduced += m;
    return m;
}

cJSON *rrs_queue_to_json(const RrsQueue *q) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "delay", (double)q->delay);
    cJSON_AddNumberToObject(o, "max_defers", q->max_defers);
    cJSON *a = cJSON_AddArrayToObject(o, "queue");
    for (int64_t i = 0; i < q->n; i++) {
        cJSON *e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateNumber((double)q->q[i].rec));
        cJSON_AddItemToArray(e, cJSON_CreateNumber((double)q->q[i].due));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(q->q[i].times));
        cJSON_AddItemToArray(a, e);
    }
    cJSON_AddNumberToObject(o, "deferred", (double)q->deferred);
    cJSON_AddNumberToObject(o, "reintroduced", (double)q->reintroduced);
    cJSON_AddNumberToObject(o, "dropped", (double)q->dropped);
    return o;
}

int rrs_queue_from_json(RrsQueue *q, const cJSON *j, int64_t n_records) {
    double d = 0, r = 0, dr = 0;
    int rc = json_count(j, "deferred", "rrs", &d);
    if (!rc) rc = json_count(j, "reintroduced", "rrs", &r);
    if (!rc) rc = json_count(j, "dropped", "rrs", &dr);
    if (rc) return rc;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "queue");
    if (!cJSON_IsArray(a)) return tr_err(TR_EFORMAT, "rrs.queue: missing or not an array");
    q->n = 0;
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        double x[3];
        int ok = json_row(e, 3, x);
        if (!ok || !whole(x[0], 0, (double)n_records - 1) || !whole(x[1], -STATE_MAX, STATE_MAX) ||
            !whole(x[2], 1, INT32_MAX))
            return tr_err(TR_EFORMAT, "rrs.queue[%d]: expected [prompt < %lld, due step, times >= 1], whole numbers", k,
                          (long long)n_records);
        if ((rc = queue_push(q, (RrsEntry){(int64_t)x[0], (int64_t)x[1], (int32_t)x[2]}))) return rc;
        k++;
    }
    q->deferred = (int64_t)d;
    q->reintroduced = (int64_t)r;
    q->dropped = (int64_t)dr;
    return TR_OK;
}

/* ---- rrs: n-gram loops ---- */

int rrs_ngram_loop(const int32_t *ids, int n, int ngram, int reps) {
    if (ngram < 1 || reps < 2 || n < ngram) return 0;
    int m = n - ngram + 1;
    size_t cap = 16;
    while (cap < (size_t)m * 2) cap *= 2;
    /* open addressing: slot -> start of the first occurrence + 1, and a count */
    int32_t *first = calloc(cap, sizeof *first), *count = calloc(cap, sizeof *count);
    uint64_t *hash = malloc(cap * sizeof *hash);
    if (!first || !count || !hash) { /* no memory: no verdict rather than a wrong one */
        free(first);
        free(count);
        free(hash);
        return 0;
    }
    int loop = 0;
    for (int s = 0; s < m && !loop; s++) {
        uint64_t h = 1469598103934665603ull;
        for (int t = 0; t < ngram; t++) h = (h ^ (uint32_t)ids[s + t]) * 1099511628211ull;
        size_t slot = (size_t)(h ^ (h >> 29)) & (cap - 1);
        for (;;) {
            if (!first[slot]) {
                first[slot] = s + 1;
                count[slot] = 1;
                hash[slot] = h;
                break;
            }
            if (hash[slot] == h && !memcmp(ids + first[slot] - 1, ids + s, (size_t)ngram * sizeof *ids)) {
                if (++count[slot] >= reps) loop = 1;
                break;
            }
            slot = (slot + 1) & (cap - 1);
        }
    }
    free(first);
    free(count);
    free(hash);
    return loop;
}

/* ---- rrs: spikes ---- */

int spike_init(SpikeDet *s, const char *watch, double factor, int window, int min_hist) {
    memset(s, 0, sizeof *s);
    if (!(factor > 1) || !isfinite(factor)) return tr_err(TR_EINVAL, "rrs.spike: expected a factor > 1, got %g", factor);
    if (window < 1 || window > SPIKE_WINDOW_MAX)
        return tr_err(TR_EINVAL, "rrs.window: expected 1..%d steps, got %d", SPIKE_WINDOW_MAX, window);
    if (min_hist < 1 || min_hist > window)
        return tr_err(TR_EINVAL, "rrs.min_history: expected 1..%d (rrs.window), got %d", window, min_hist);
    const char *p = watch ? watch : "";
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        const char *e = p;
        while (*e && *e != ',' && *e != ':' && *e != ' ') e++;
        size_t nl = (size_t)(e - p);
        if (nl == 0 || nl >= sizeof s->name[0])
            return tr_err(TR_EINVAL, "rrs.watch: bad name at '%s' (expected name[:floor],...)", p);
        if (s->n == SPIKE_MAX) return tr_err(TR_EINVAL, "rrs.watch: at most %d values", SPIKE_MAX);
        memcpy(s->name[s->n], p, nl);
        s->name[s->n][nl] = 0;
        for (int j = 0; j < s->n; j++)
            if (!strcmp(s->name[j], s->name[s->n])) return tr_err(TR_EINVAL, "rrs.watch: '%s' listed twice", s->name[j]);
        double fl = 0;
        while (*e == ' ') e++;
        if (*e == ':') {
            char *end;
            fl = strtod(e + 1, &end);
            if (end == e + 1 || !(fl >= 0) || !isfinite(fl))
                return tr_err(TR_EINVAL, "rrs.watch: '%s': expected a floor >= 0 after ':'", s->name[s->n]);
            e = end;
        }
        while (*e == ' ') e++;
        if (*e && *e != ',') return tr_err(TR_EINVAL, "rrs.watch: unexpected '%c' after '%s'", *e, s->name[s->n]);
        s->floor[s->n++] = fl;
        p = e;
    }
    if (s->n == 0) return tr_err(TR_EINVAL, "rrs.watch: empty (expected e.g. \"kl:0.01,loss:0.1,grad_norm\")");
    s->factor = factor;
    s->window = window;
    s->min_hist = min_hist;
    return TR_OK;
}

int spike_index(const SpikeDet *s, const char *name) {
    for (int j = 0; j < s->n; j++)
        if (!strcmp(s->name[j], name)) return j;
    return -1;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double spike_median(const SpikeDet *s, int j) {
    int n = s->count;
    if (n == 0) return 0;
    double v[SPIKE_WINDOW_MAX];
    memcpy(v, s->hist[j], (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int spike_check(const SpikeDet *s, const double *v, char *why, size_t why_len) {
    for (int j = 0; j < s->n; j++)
        if (!isfinite(v[j])) {
            if (why) snprintf(why, why_len, "%s is %s", s->name[j], isnan(v[j]) ? "NaN" : v[j] > 0 ? "+Inf" : "-Inf");
            return -(1 + j);
        }
    if (s->count < s->min_hist) return 0;
    for (int j = 0; j < s->n; j++) {
        double med = spike_median(s, j), ref = med > s->floor[j] ? med : s->floor[j];
        if (fabs(v[j]) > s->factor * ref) {
            if (why)
                snprintf(why, why_len, "%s %.4g > %g x %s %.4g", s->name[j], v[j], s->factor,
                         med > s->floor[j] ? "running median" : "floor", ref);
            return 1 + j;
        }
    }
    return 0;
}

void spike_push(SpikeDet *s, const double *v) {
    for (int j = 0; j < s->n; j++) s->hist[j][s->head] = fabs(v[j]);
    s->head = (s->head + 1) % s->window;
    if (s->count < s->window) s->count++;
}

cJSON *spike_to_json(const SpikeDet *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", s->count);
    cJSON_AddNumberToObject(o, "head", s->head);
    cJSON *h = cJSON_AddObjectToObject(o, "hist");
    for (int j = 0; j < s->n; j++) {
        cJSON *a = cJSON_AddArrayToObject(h, s->name[j]);
        for (int k = 0; k < s->count; k++) cJSON_AddItemToArray(a, cJSON_CreateNumber(s->hist[j][k]));
    }
    return o;
}

int spike_from_json(SpikeDet *s, const cJSON *j) {
    double count = 0, head = 0;
    int rc = json_count(j, "count", "rrs.spikes", &count);
    if (!rc) rc = json_count(j, "head", "rrs.spikes", &head);
    if (rc) return rc;
    if (count > s->window || head >= s->window || (count < s->window && head != count))
        return tr_err(TR_EFORMAT, "rrs.spikes: count %g / head %g do not fit a window of %d (was rrs.window changed?)",
                      count, head, s->window);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "hist");
    for (int q = 0; q < s->n; q++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(h, s->name[q]);
        if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != (int)count)
            return tr_err(TR_EFORMAT, "rrs.spikes.hist.%s: missing or not %d numbers (was rrs.watch changed?)", s->name[q],
                          (int)count);
        for (int k = 0; k < (int)count; k++) {
            const cJSON *it = cJSON_GetArrayItem(a, k);
            if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0) || !isfinite(it->valuedouble))
                return tr_err(TR_EFORMAT, "rrs.spikes.hist.%s[%d]: not a finite number >= 0", s->name[q], k);
            s->hist[q][k] = it->valuedouble;
        }
    }
    s->count = (int)count;
    s->head = (int)head;
    return TR_OK;
}
