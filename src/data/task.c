/* The task registry and what every task shares: key=value options with
 * typed getters, per-record seeding, JSONL generation, response scoring and
 * the default pattern classifier. The tasks themselves (what a record holds,
 * its traces) live in task_arith.c, task_countdown.c, task_word.c and
 * task_bio.c. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "data/task_internal.h"
#include "thinkrl/verify.h"

static const TaskDef *const registry[] = {&task_arith, &task_countdown, &task_word, &task_bio};
#define N_TASKS ((int)(sizeof registry / sizeof registry[0]))

const TaskDef *task_find(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < N_TASKS; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

int task_count(void) { return N_TASKS; }

const TaskDef *task_at(int i) { return i >= 0 && i < N_TASKS ? registry[i] : NULL; }

/* ---- text buffer and draws shared by the tasks ---- */

static int tkbuf_reserve(TkBuf *b, size_t extra) {
    if (b->oom) return 0;
    if (b->n + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

void tkbuf_printf(TkBuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || !tkbuf_reserve(b, (size_t)k)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

void tkbuf_putc(TkBuf *b, char c) {
    if (!tkbuf_reserve(b, 1)) return;
    b->p[b->n++] = c;
    b->p[b->n] = 0;
}

const char *tkbuf_str(const TkBuf *b) { return b->p && !b->oom ? b->p : ""; }

void tkbuf_clear(TkBuf *b) {
    b->n = 0;
    if (b->p) b->p[0] = 0;
}

void tkbuf_free(TkBuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

long tk_randint(Rng *r, long lo, long hi) {
    TR_ASSERT(lo <= hi);
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (long)(rng_u64(r) % span);
}

int tk_draw(Rng *r, const double *w, int n) {
    double tot = 0;
    for (int i = 0; i < n; i++) tot += w[i];
    TR_ASSERT(tot > 0);
    double u = rng_uniform_d(r) * tot, acc = 0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (w[i] <= 0) continue;
        acc += w[i];
        last = i;
        if (u < acc) return i;
    }
    return last; /* rounding at the top end */
}

static char *dupstr(const char *s) {
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

int tk_record(Record *out, const char *task, int64_t index, const char *prompt, const char *answer,
              const char *think, const char *pattern) {
    memset(out, 0, sizeof *out);
    char id[96];
    snprintf(id, sizeof id, "%s-%lld", task, (long long)index);
    out->id = dupstr(id);
    out->prompt = dupstr(prompt);
    out->answer = dupstr(answer);
    if (!out->id || !out->prompt || !out->answer) goto oom;
    if (think) {
        size_t n = strlen(think) + strlen(answer) + 40;
        out->completion = malloc(n);
        if (!out->completion) goto oom;
        snprintf(out->completion, n, "<think>%s</think><answer>%s</answer>", think, answer);
    }
    if (record_meta_set_str(out, "task", task) != TR_OK) goto oom;
    if (record_meta_set_str(out, "pattern", pattern) != TR_OK) goto oom;
    return TR_OK;
oom:
    record_free(out);
    return tr_err(TR_ENOMEM, "task '%s': out of memory building record %lld", task, (long long)index);
}

/* ---- options ---- */

static int param_index(const TaskDef *t, const char *key, size_t len) {
    for (int i = 0; i < t->n_params; i++)
        if (strlen(t->params[i].key) == len && strncmp(t->params[i].key, key, len) == 0) return i;
    return -1;
}

static void param_list(const TaskDef *t, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < t->n_params && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", t->params[i].key);
}

int task_opts_init(TaskOpts *o, const TaskDef *t, char *const *kv, int n) {
    memset(o, 0, sizeof *o);
    TR_ASSERT(t->n_params <= TASK_MAX_PARAMS);
    for (int i = 0; i < t->n_params; i++) {
        o->key[i] = t->params[i].key;
        o->val[i] = dupstr(t->params[i].def);
        o->n = i + 1;
        if (!o->val[i]) {
            task_opts_free(o);
            return tr_err(TR_ENOMEM, "task '%s': out of memory", t->name);
        }
    }
    for (int j = 0; j < n; j++) {
        const char *eq = strchr(kv[j], '=');
        if (!eq) {
            task_opts_free(o);
            return tr_err(TR_EINVAL, "task '%s': option '%s' is not key=value", t->name, kv[j]);
        }
        int i = param_index(t, kv[j], (size_t)(eq - kv[j]));
        if (i < 0) {
            char list[512];
            param_list(t, list, sizeof list);
            int r = tr_err(TR_EINVAL, "task '%s': unknown option '%.*s' (options: %s)", t->name,
                           (int)(eq - kv[j]), kv[j], list);
            task_opts_free(o);
            return r;
        }
        char *v = dupstr(eq + 1);
        if (!v) {
            task_opts_free(o);
            return tr_err(TR_ENOMEM, "task '%s': out of memory", t->name);
        }
        free(o->val[i]);
        o->val[i] = v;
    }
    int rc = task_opts_check(o, t);
    if (rc != TR_OK) task_opts_free(o);
    return rc;
}

void task_opts_free(TaskOpts *o) {
    for (int i = 0; i < o->n; i++) free(o->val[i]);
    memset(o, 0, sizeof *o);
}

const char *task_opt(const TaskOpts *o, const char *key) {
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->key[i], key) == 0) return o->val[i];
    return NULL;
}

static int opt_get(const TaskOpts *o, const char *key, const char **val) {
    *val = task_opt(o, key);
    if (!*val) return tr_err(TR_EINVAL, "option '%s': not an option of this task", key);
    return TR_OK;
}

/* Parses a whole decimal integer (surrounding spaces allowed). */
static int parse_long(const char *s, size_t n, long *out) {
    char tmp[64];
    if (n == 0 || n >= sizeof tmp) return 0;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *end;
    errno = 0;
    long v = strtol(tmp, &end, 10);
    if (end == tmp || errno) return 0;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return 0;
    *out = v;
    return 1;
}

/* Reads spaces, digits, spaces at *p (advanced); 0 if no digits or too big. */
static int parse_digits(const char **p, long *out) {
    const char *s = *p;
    while (*s == ' ') s++;
    if (!isdigit((unsigned char)*s)) return 0;
    long v = 0;
    while (isdigit((unsigned char)*s)) {
        if (v > 100000000) return 0;
        v = v * 10 + (*s++ - '0');
    }
    while (*s == ' ') s++;
    *p = s;
    *out = v;
    return 1;
}

int task_opt_int(const TaskOpts *o, const char *key, long *out) {
    const char *v;
    int rc = opt_get(o, key, &v);
    if (rc) return rc;
    if (!parse_long(v, strlen(v), out))
        return tr_err(TR_EINVAL, "option '%s': expected an integer, got '%s'", key, v);
    return TR_OK;
}

int task_opt_float(const TaskOpts *o, const char *key, double *out) {
    const char *v;
    int rc = opt_get(o, key, &v);
    if (rc) return rc;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    while (isspace((unsigned char)*end)) end++;
    if (end == v || *end || errno || !isfinite(d))
        return tr_err(TR_EINVAL, "option '%s': expected a finite number, got '%s'", key, v);
    *out = d;
    return TR_OK;
}

int task_opt_range(const TaskOpts *o, const char *key, long *lo, long *hi) {
    const char *v;
    int rc = opt_get(o, key, &v);
    if (rc) return rc;
    /* Digits only: the '-' separates, so both ends are non-negative. */
    const char *p = v;
    int ok = parse_digits(&p, lo);
    *hi = *lo;
    if (ok && *p == '-') {
        p++;
        ok = parse_digits(&p, hi);
    }
    ok = ok && *p == 0;
    if (!ok) return tr_err(TR_EINVAL, "option '%s': expected N or N-M, got '%s'", key, v);
    if (*lo > *hi) return tr_err(TR_EINVAL, "option '%s': empty range '%s' (N > M)", key, v);
    return TR_OK;
}

int task_opt_mix(const TaskOpts *o, const char *key, const char *const *names, int n, double *w) {
    const char *v;
    int rc = opt_get(o, key, &v);
    if (rc) return rc;
    char list[512];
    size_t ln = 0;
    list[0] = 0;
    for (int i = 0; i < n && ln < sizeof list; i++)
        ln += (size_t)snprintf(list + ln, sizeof list - ln, "%s%s", i ? ", " : "", names[i]);
    int seen[64] = {0};
    TR_ASSERT(n <= 64);
    for (int i = 0; i < n; i++) w[i] = 0;
    const char *p = v;
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (!colon)
            return tr_err(TR_EINVAL, "option '%s': expected name:weight,... over (%s), got '%s'", key,
                          list, v);
        size_t nl = (size_t)(colon - p);
        while (nl && isspace((unsigned char)p[nl - 1])) nl--;
        int k = -1;
        for (int i = 0; i < n; i++)
            if (strlen(names[i]) == nl && strncmp(names[i], p, nl) == 0) k = i;
        if (k < 0)
            return tr_err(TR_EINVAL, "option '%s': unknown pattern '%.*s' (known: %s)", key, (int)nl,
                          p, list);
        if (seen[k]) return tr_err(TR_EINVAL, "option '%s': '%s' given twice", key, names[k]);
        seen[k] = 1;
        char num[64];
        size_t wl = (size_t)(end - colon - 1);
        if (wl == 0 || wl >= sizeof num)
            return tr_err(TR_EINVAL, "option '%s': bad weight for '%s'", key, names[k]);
        memcpy(num, colon + 1, wl);
        num[wl] = 0;
        char *e;
        double d = strtod(num, &e);
        while (isspace((unsigned char)*e)) e++;
        if (e == num || *e || !isfinite(d) || d < 0)
            return tr_err(TR_EINVAL, "option '%s': weight of '%s' must be a finite number >= 0, got '%s'",
                          key, names[k], num);
        w[k] = d;
        if (!*end) break;
        p = end + 1;
    }
    double tot = 0;
    for (int i = 0; i < n; i++) tot += w[i];
    if (!(tot > 0) || !isfinite(tot))
        return tr_err(TR_EINVAL, "option '%s': all weights are zero ('%s')", key, v);
    for (int i = 0; i < n; i++) w[i] /= tot;
    return TR_OK;
}

int task_opts_check(const TaskOpts *o, const TaskDef *t) {
    /* Each gen parses all of its options (typed getters, then the task's own
     * bounds) before drawing anything, so generating one record checks them
     * all. */
    Record rec;
    Rng r;
    rng_seed(&r, 0);
    int rc = t->gen(o, &r, 0, 1, &rec);
    if (rc != TR_OK) return tr_err_ctx(rc, "task '%s'", t->name);
    record_free(&rec);
    return TR_OK;
}

/* ---- generation ---- */

static uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int task_record(const TaskDef *t, const TaskOpts *o, uint64_t seed, int64_t index, int traces,
                Record *out) {
    Rng r;
    /* Record i depends on (seed, i) only: not on n, first, or chunking. */
    rng_seed(&r, mix64(mix64(seed) ^ ((uint64_t)index * 0x9E3779B97F4A7C15ull)));
    int rc = t->gen(o, &r, index, traces, out);
    if (rc != TR_OK) return tr_err_ctx(rc, "task '%s': record %lld", t->name, (long long)index);
    return TR_OK;
}

int task_generate(const TaskDef *t, const TaskOpts *o, uint64_t seed, int64_t first, int64_t n,
                  int traces, FILE *f) {
    for (int64_t i = first; i < first + n; i++) {
        Record rec;
        int rc = task_record(t, o, seed, i, traces, &rec);
        if (rc != TR_OK) return rc;
        rc = record_write(f, &rec);
        record_free(&rec);
        if (rc != TR_OK) return rc;
    }
    if (ferror(f)) return tr_err(TR_EIO, "task '%s': write error", t->name);
    return TR_OK;
}

/* ---- scoring and patterns ---- */

int task_score_response(const Record *rec, const TaskDef *fallback, const char *resp, size_t len,
                        int *format_ok) {
    const char *name = record_meta_str(rec, "task");
    const TaskDef *t = name ? task_find(name) : fallback;
    if (format_ok) *format_ok = 0;
    if (!t) {
        if (name)
            return tr_err(TR_EINVAL, "record '%s': unknown task '%s'", rec->id ? rec->id : "?", name);
        return tr_err(TR_EINVAL, "record '%s': names no task and none was given",
                      rec->id ? rec->id : "?");
    }
    VerifyParts parts;
    verify_parse(resp, len, NULL, &parts);
    if (format_ok) *format_ok = parts.format_ok;
    if (!parts.answer) return 0;
    return t->score(rec, parts.answer, parts.answer_len, NULL, 0) == 1 ? 1 : 0;
}

int task_patterns(const TaskDef *t, PatternSet *ps) {
    int rc = pattern_init(ps, t->pattern_names, t->pattern_regex, t->n_patterns);
    if (rc != TR_OK) return tr_err_ctx(rc, "task '%s'", t->name);
    return TR_OK;
}
