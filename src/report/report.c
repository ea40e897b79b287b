/* The run report: metrics.jsonl -> one self-contained report.html with inline
 * SVG line charts (nice ticks, grid, legend, a moving average over long series), a header
 * with final values and pattern-share shifts, the f-DPG section, the ADS prompt-difficulty
 * histogram, the last samples and the config; and the comparison page that overlays runs.
 * It does not run JavaScript, fetch anything or read checkpoints. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <yaml.h>

#include "thinkrl/core.h"
#include "thinkrl/report.h"

/* ---------------------------------------------------------------- buffer */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} Buf;

static void buf_reserve(Buf *b, size_t extra) {
    if (b->oom || b->n + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->n + extra + 1) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->oom = 1;
        return;
    }
    b->p = np;
    b->cap = cap;
}

static void buf_put(Buf *b, const char *s, size_t n) {
    buf_reserve(b, n);
    if (b->oom) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void buf_puts(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(Buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k < sizeof tmp) {
        buf_put(b, tmp, (size_t)k);
        return;
    }
    buf_reserve(b, (size_t)k);
    if (b->oom) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

/* HTML-escapes s[0..n) for text and attribute values alike. C0 controls other
 * than tab / newline / CR are not allowed in HTML and become '?'. */
static void buf_esc_n(Buf *b, const char *s, size_t n) {
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        if (c == '&') rep = "&amp;";
        else if (c == '<') rep = "&lt;";
        else if (c == '>') rep = "&gt;";
        else if (c == '"') rep = "&quot;";
        else if (c == '\'') rep = "&#39;";
        else if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) rep = "?";
        if (!rep) continue;
        buf_put(b, s + run, i - run);
        buf_puts(b, rep);
        run = i + 1;
    }
    buf_put(b, s + run, n - run);
}

static void buf_esc(Buf *b, const char *s) { buf_esc_n(b, s, strlen(s)); }

/* --------------------------------------------------------------- metrics */

typedef struct {
    double x, y;
    size_t seq; /* insertion order: ties on x keep the later line */
} Pt;

typedef struct {
    char *key;
    Pt *pts;
    size_t n, cap;
    int used; /* drawn in a main chart */
} Series;

#define MAX_BAD_KEPT 10

/* One "ads/hist" array: counts of prompts per success-rate bin at step x. */
#define HIST_MAX_BINS 64
typedef struct {
    double x;
    size_t seq; /* insertion order: ties on x keep the later line */
    int nb;     /* bins, 1..HIST_MAX_BINS */
    double c[HIST_MAX_BINS];
} Hist;

/* An event line ({"step":K,"event":"NAME",...}: a rollback, an f-DPG
 * proposal update): something that happened at a step, not a step's values.
 * Its top-level numbers are kept with it (the first EVENT_MAX_VALS). */
#define EVENT_MAX_VALS 8
typedef struct {
    double x;
    size_t seq; /* insertion order: a repeated (step, name) keeps the later line */
    char name[48];
    int nv;
    char vk[EVENT_MAX_VALS][32];
    double vv[EVENT_MAX_VALS];
} Event;

typedef struct {
    Series *s; /* first-appearance order */
    size_t n, cap;
    size_t *tab; /* open addressing: series index + 1, 0 = empty */
    size_t tcap;
    double *steps; /* the step of every valid line */
    size_t nsteps, capsteps;
    Hist *hist; /* the ADS difficulty histograms, sorted by step after load */
    size_t nhist, caphist;
    Event *ev; /* event lines, sorted by step after load */
    size_t nev, capev;
    size_t nseq;
    int64_t n_lines; /* non-empty lines */
    int64_t n_bad;
    int64_t bad_line[MAX_BAD_KEPT];
    const char *bad_why[MAX_BAD_KEPT];
} Metrics;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static Series *metrics_find(const Metrics *m, const char *key) {
    if (!m->tcap) return NULL;
    for (size_t i = hash_str(key) & (m->tcap - 1);; i = (i + 1) & (m->tcap - 1)) {
        if (!m->tab[i]) return NULL;
        Series *s = &m->s[m->tab[i] - 1];
        if (!strcmp(s->key, key)) return s;
    }
}

static int metrics_rehash(Metrics *m, size_t tcap) {
    size_t *t = calloc(tcap, sizeof *t);
    if (!t) return tr_err(TR_ENOMEM, "out of memory");
    for (size_t k = 0; k < m->n; k++) {
        size_t i = hash_str(m->s[k].key) & (tcap - 1);
        while (t[i]) i = (i + 1) & (tcap - 1);
        t[i] = k + 1;
    }
    free(m->tab);
    m->tab = t;
    m->tcap = tcap;
    return TR_OK;
}

static int metrics_add(Metrics *m, const char *key, double x, double y) {
    Series *s = metrics_find(m, key);
    if (!s) {
        if (m->n == m->cap) {
            size_t cap = m->cap ? m->cap * 2 : 32;
            Series *ns = realloc(m->s, cap * sizeof *ns);
            if (!ns) return tr_err(TR_ENOMEM, "out of memory");
            m->s = ns;
            m->cap = cap;
        }
        s = &m->s[m->n];
        memset(s, 0, sizeof *s);
        if (!(s->key = strdup(key))) return tr_err(TR_ENOMEM, "out of memory");
        m->n++;
        if (2 * m->n > m->tcap) {
            int rc = metrics_rehash(m, m->tcap ? m->tcap * 2 : 64);
            if (rc) return rc;
        } else {
            size_t i = hash_str(key) & (m->tcap - 1);
            while (m->tab[i]) i = (i + 1) & (m->tcap - 1);
            m->tab[i] = m->n;
        }
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        Pt *np = realloc(s->pts, cap * sizeof *np);
        if (!np) return tr_err(TR_ENOMEM, "out of memory");
        s->pts = np;
        s->cap = cap;
    }
    s->pts[s->n++] = (Pt){x, y, m->nseq++};
    return TR_OK;
}

static void metrics_free(Metrics *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->s[i].key);
        free(m->s[i].pts);
    }
    free(m->s);
    free(m->tab);
    free(m->steps);
    free(m->hist);
    free(m->ev);
}

/* Copies line[0..n) to out, replacing bare NaN / Infinity / inf / nan tokens
 * (any case, optional sign) outside strings with null: Python's json.dumps
 * and C's printf write them, cJSON rejects them. out needs 2n + 1 bytes. */
static size_t json_denan(const char *line, size_t n, char *out) {
    size_t o = 0;
    int in_str = 0;
    for (size_t i = 0; i < n;) {
        char c = line[i];
        if (in_str) {
            out[o++] = c;
            i++;
            if (c == '\\' && i < n) out[o++] = line[i++];
            else if (c == '"') in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
            out[o++] = c;
            i++;
            continue;
        }
        int prev_word = i > 0 && (isalnum((unsigned char)line[i - 1]) || line[i - 1] == '.');
        if (!prev_word && (c == '-' || c == '+' || isalpha((unsigned char)c))) {
            size_t j = i + (c == '-' || c == '+');
            size_t w = 0;
            while (j + w < n && isalpha((unsigned char)line[j + w])) w++;
            static const char *const words[] = {"nan", "inf", "infinity"};
            for (int k = 0; k < 3; k++) {
                if (w == strlen(words[k]) && !strncasecmp(line + j, words[k], w)) {
                    memcpy(out + o, "null", 4);
                    o += 4;
                    i = j + w;
                    goto next;
                }
            }
        }
        out[o++] = c;
        i++;
    next:;
    }
    out[o] = 0;
    return o;
}

/* Keeps an "ads/hist" array when it has 1..HIST_MAX_BINS finite,
 * non-negative numbers; anything else is not a histogram and is ignored. */
static int metrics_hist(Metrics *m, const cJSON *arr, double x) {
    int nb = cJSON_GetArraySize(arr);
    if (nb < 1 || nb > HIST_MAX_BINS) return TR_OK;
    Hist h = {.x = x, .seq = m->nseq++, .nb = nb};
    int k = 0;
    for (const cJSON *e = arr->child; e && k < nb; e = e->next, k++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || e->valuedouble < 0) return TR_OK;
        h.c[k] = e->valuedouble;
    }
    if (m->nhist == m->caphist) {
        size_t cap = m->caphist ? m->caphist * 2 : 64;
        Hist *nh = realloc(m->hist, cap * sizeof *nh);
        if (!nh) return tr_err(TR_ENOMEM, "out of memory");
        m->hist = nh;
        m->caphist = cap;
    }
    m->hist[m->nhist++] = h;
    return TR_OK;
}

/* Adds every finite number under obj as a point at step x, keys joined by '/'.
 * Arrays are never curves: "ads/hist" goes to metrics_hist, others are
 * skipped whole (their elements have no key of their own). */
static int metrics_walk(Metrics *m, const cJSON *obj, char *path, size_t plen, size_t cap, double x,
                        int top) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        if (!it->string) continue;
        if (top && !strcmp(it->string, "step")) continue;
        size_t kl = strlen(it->string);
        if (plen + kl + 2 > cap) continue;
        size_t nl = plen;
        if (plen) path[nl++] = '/';
        memcpy(path + nl, it->string, kl + 1);
        nl += kl;
        int rc = TR_OK;
        if (cJSON_IsNumber(it) && isfinite(it->valuedouble)) rc = metrics_add(m, path, x, it->valuedouble);
        else if (cJSON_IsObject(it)) rc = metrics_walk(m, it, path, nl, cap, x, 0);
        else if (cJSON_IsArray(it) && !strcmp(path, "ads/hist")) rc = metrics_hist(m, it, x);
        path[plen] = 0;
        if (rc) return rc;
    }
    return TR_OK;
}

static int cmp_pt(const void *a, const void *b) {
    const Pt *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return p->seq < q->seq ? -1 : p->seq > q->seq;
}

static int cmp_event(const void *a, const void *b) {
    const Event *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return p->seq < q->seq ? -1 : p->seq > q->seq;
}

/* Keeps an event line: its name and top-level finite numbers (not "step"). */
static int metrics_event(Metrics *m, const cJSON *j, const char *name, double x) {
    if (m->nev == m->capev) {
        size_t cap = m->capev ? m->capev * 2 : 16;
        Event *ne = realloc(m->ev, cap * sizeof *ne);
        if (!ne) return tr_err(TR_ENOMEM, "out of memory");
        m->ev = ne;
        m->capev = cap;
    }
    Event *e = &m->ev[m->nev++];
    memset(e, 0, sizeof *e);
    e->x = x;
    e->seq = m->nseq++;
    snprintf(e->name, sizeof e->name, "%s", name);
    for (const cJSON *it = j->child; it && e->nv < EVENT_MAX_VALS; it = it->next) {
        if (!it->string || !strcmp(it->string, "step") || !cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
            strlen(it->string) >= sizeof e->vk[0])
            continue;
        memcpy(e->vk[e->nv], it->string, strlen(it->string) + 1);
        e->vv[e->nv++] = it->valuedouble;
    }
    return TR_OK;
}

/* The number key of event e, NAN when it has none. */
static double event_value(const Event *e, const char *key) {
    for (int i = 0; i < e->nv; i++)
        if (!strcmp(e->vk[i], key)) return e->vv[i];
    return NAN;
}

static int cmp_hist(const void *a, const void *b) {
    const Hist *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return p->seq < q->seq ? -1 : p->seq > q->seq;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void metrics_bad(Metrics *m, const char *path, int64_t line, const char *why) {
    if (m->n_bad < MAX_BAD_KEPT) {
        m->bad_line[m->n_bad] = line;
        m->bad_why[m->n_bad] = why;
        fprintf(stderr, "%s:%lld: warning: %s, line skipped\n", path, (long long)line, why);
    } else if (m->n_bad == MAX_BAD_KEPT) {
        fprintf(stderr, "%s: warning: more bad lines skipped (not listed)\n", path);
    }
    m->n_bad++;
}

static int metrics_load(Metrics *m, const char *path) {
    size_t len;
    char *text = tr_read_file(path, &len);
    if (!text) return TR_EIO;
    char *scratch = NULL, keybuf[1024];
    size_t scap = 0;
    int rc = TR_OK;
    double prev_step = -1;
    int64_t lineno = 0;
    for (char *line = text, *end = text + len; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t ll = nl ? (size_t)(nl - line) : (size_t)(end - line);
        char *next = nl ? nl + 1 : end;
        lineno++;
        size_t a = 0;
        while (a < ll && isspace((unsigned char)line[a])) a++;
        if (a == ll) {
            line = next;
            continue;
        }
        m->n_lines++;
        if (2 * ll + 1 > scap) {
            scap = 2 * ll + 1;
            char *ns = realloc(scratch, scap);
            if (!ns) {
                rc = tr_err(TR_ENOMEM, "out of memory");
                goto cleanup;
            }
            scratch = ns;
        }
        size_t sl = json_denan(line, ll, scratch);
        cJSON *j = cJSON_ParseWithLength(scratch, sl);
        if (!cJSON_IsObject(j)) {
            metrics_bad(m, path, lineno,
                        !nl ? "unparsable last line without a newline (truncated write?)"
                        : j ? "not a JSON object"
                            : "not valid JSON");
            cJSON_Delete(j);
            line = next;
            continue;
        }
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "step");
        const cJSON *evn = cJSON_GetObjectItemCaseSensitive(j, "event");
        int has_step = cJSON_IsNumber(st) && isfinite(st->valuedouble);
        if (cJSON_IsString(evn)) {
            /* An event is no step: its numbers are no curves (kl_p_pi of an
             * f-DPG proposal update is not a metric of its own), it neither
             * counts as a step nor moves the implicit step of the next line.
             * Without a step of its own it belongs to the previous line's. */
            rc = metrics_event(m, j, evn->valuestring, has_step ? st->valuedouble : prev_step < 0 ? 0 : prev_step);
            cJSON_Delete(j);
            if (rc) goto cleanup;
            line = next;
            continue;
        }
        double x = has_step ? st->valuedouble : prev_step + 1;
        prev_step = x;
        keybuf[0] = 0;
        rc = metrics_walk(m, j, keybuf, 0, sizeof keybuf, x, 1);
        cJSON_Delete(j);
        if (rc) goto cleanup;
        if (m->nsteps == m->capsteps) {
            size_t cap = m->capsteps ? m->capsteps * 2 : 256;
            double *ns = realloc(m->steps, cap * sizeof *ns);
            if (!ns) {
                rc = tr_err(TR_ENOMEM, "out of memory");
                goto cleanup;
            }
            m->steps = ns;
            m->capsteps = cap;
        }
        m->steps[m->nsteps++] = x;
        line = next;
    }
    if (!m->nsteps) {
        rc = tr_err(TR_EFORMAT, "%s: no valid metrics line (%lld lines, %lld bad)", path,
                    (long long)m->n_lines, (long long)m->n_bad);
        goto cleanup;
    }
    /* Sort each series by step; a repeated step keeps the later line. */
    for (size_t k = 0; k < m->n; k++) {
        Series *s = &m->s[k];
        int sorted = 1;
        for (size_t i = 1; i < s->n && sorted; i++) sorted = s->pts[i].x > s->pts[i - 1].x;
        if (sorted) continue;
        qsort(s->pts, s->n, sizeof *s->pts, cmp_pt);
        size_t o = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (o && s->pts[o - 1].x == s->pts[i].x) s->pts[o - 1] = s->pts[i];
            else s->pts[o++] = s->pts[i];
        }
        s->n = o;
    }
    if (m->nhist) {
        qsort(m->hist, m->nhist, sizeof *m->hist, cmp_hist);
        size_t o = 0;
        for (size_t i = 0; i < m->nhist; i++) {
            if (o && m->hist[o - 1].x == m->hist[i].x) m->hist[o - 1] = m->hist[i];
            else m->hist[o++] = m->hist[i];
        }
        m->nhist = o;
    }
    if (m->nev) {
        qsort(m->ev, m->nev, sizeof *m->ev, cmp_event);
        size_t o = 0;
        for (size_t i = 0; i < m->nev; i++) {
            if (o && m->ev[o - 1].x == m->ev[i].x && !strcmp(m->ev[o - 1].name, m->ev[i].name)) m->ev[o - 1] = m->ev[i];
            else m->ev[o++] = m->ev[i];
        }
        m->nev = o;
    }
    qsort(m->steps, m->nsteps, sizeof *m->steps, cmp_double);
    size_t u = 0;
    for (size_t i = 0; i < m->nsteps; i++)
        if (!u || m->steps[u - 1] != m->steps[i]) m->steps[u++] = m->steps[i];
    m->nsteps = u;
cleanup:
    free(scratch);
    free(text);
    return rc;
}

/* ------------------------------------------------------------ formatting */

/* Tick step of about range/target rounded to 1, 2, 2.5 or 5 x 10^k (no 2.5
 * on an integer axis); *mant gets the mantissa. */
static double nice_step(double range, int target, int integer, double *mant) {
    double raw = range / target;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag, nice;
    if (f <= 1) nice = 1;
    else if (f <= 2) nice = 2;
    else if (f <= 2.5 && !(integer && mag < 10)) nice = 2.5;
    else if (f <= 5) nice = 5;
    else nice = 10;
    if (nice == 10) {
        nice = 1;
        mag *= 10;
    }
    double st = nice * mag;
    if (integer && st < 1) {
        st = 1;
        nice = 1;
    }
    if (mant) *mant = nice;
    return st;
}

/* A tick label: fixed decimals from the step, exponent form for tiny steps,
 * k/M/G for large values. */
static void fmt_tick(char *out, size_t cap, double v, double step, double mant, double amax) {
    if (fabs(v) < step * 1e-6) {
        snprintf(out, cap, "0");
        return;
    }
    if (amax >= 1e5) {
        double sc = amax >= 1e9 ? 1e9 : amax >= 1e6 ? 1e6 : 1e3;
        const char *suf = sc == 1e9 ? "G" : sc == 1e6 ? "M" : "k";
        double s = step / sc;
        int d = s >= 1 ? 0 : (int)ceil(-log10(s) - 1e-9) + (mant == 2.5);
        if (d > 6) d = 6;
        snprintf(out, cap, "%.*f%s", d, v / sc, suf);
    } else if (step < 1e-3) {
        int p = (int)floor(log10(fabs(v)) + 1e-9) - (int)floor(log10(step) + 1e-9) + 1 + (mant == 2.5);
        if (p < 1) p = 1;
        if (p > 6) p = 6;
        snprintf(out, cap, "%.*g", p, v);
    } else {
        int d = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9) + (mant == 2.5);
        if (d > 6) d = 6;
        snprintf(out, cap, "%.*f", d, v);
    }
}

/* A value in a table: 4 significant digits, no exponent in the usual range. */
static void fmt_val(char *out, size_t cap, double v) {
    double a = fabs(v);
    if (a != 0 && (a < 1e-3 || a >= 1e6)) snprintf(out, cap, "%.3e", v);
    else snprintf(out, cap, "%.4g", v);
}

static void fmt_step(char *out, size_t cap, double x) { snprintf(out, cap, "%.10g", x); }

/* ---------------------------------------------------------------- charts */

static const char *const PALETTE[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define N_PALETTE 10
static const char *const DASHES[] = {"", "6 3", "2 2", "8 3 2 3"};

typedef struct {
    const Series *s;
    const char *label;
    int colour;     /* index into PALETTE x DASHES */
    const char *id; /* data-series of its path and legend item; NULL: the key
                       (a comparison overlays one key from several runs) */
} SeriesRef;

enum { CHART_UNIT = 1, CHART_SMALL = 2 };

/* A reference drawn over a chart's series: a dashed horizontal target line
 * at y = v (an f-DPG moment's requested value) or a dotted vertical event
 * line at step x = v (a proposal update). */
typedef struct {
    double v;
    int colour;        /* index into PALETTE x DASHES; -1: grey */
    const char *id;    /* a target's data-target, an event's data-event */
    const char *label; /* a target's legend text, an event's tooltip */
} Mark;

typedef struct {
    const Mark *target;
    int ntarget;
    const Mark *event;
    int nevent;
    const char *event_legend; /* one legend entry for all event lines; NULL: none */
} Marks;

/* Target lines that get a legend entry (all are drawn). */
#define MARK_LEGEND_MAX 16

/* Smoothing kicks in at this many points; the raw line stays, faded. */
#define SMOOTH_MIN_POINTS 50

typedef struct {
    double W, H, L, T, PW, PH;
    double x0, x1, y0, y1;
} Frame;

static double fx(const Frame *f, double x) { return f->L + (x - f->x0) / (f->x1 - f->x0) * f->PW; }
static double fy(const Frame *f, double y) { return f->T + f->PH - (y - f->y0) / (f->y1 - f->y0) * f->PH; }

/* Emits "M x,y L x,y ..." for ys[0..n) at the series' steps. Past two points
 * per pixel column it keeps each column's first, last, min and max point
 * (in order), which draws the same picture with bounded size. */
static void path_d(Buf *b, const Frame *f, const Pt *p, const double *ys, size_t n) {
    int thin = n > (size_t)(2 * f->PW);
    size_t i = 0;
    int first = 1;
    while (i < n) {
        size_t j = i + 1;
        if (thin) {
            long col = lround(floor(fx(f, p[i].x)));
            while (j < n && lround(floor(fx(f, p[j].x))) == col) j++;
        }
        size_t lo = i, hi = i;
        for (size_t k = i; k < j; k++) {
            if (ys[k] < ys[lo]) lo = k;
            if (ys[k] > ys[hi]) hi = k;
        }
        size_t pick[4] = {i, lo < hi ? lo : hi, lo < hi ? hi : lo, j - 1};
        for (int q = 0; q < 4; q++) {
            if (q && pick[q] == pick[q - 1]) continue;
            size_t k = pick[q];
            buf_printf(b, "%s%.1f,%.1f", first ? "M" : " L", fx(f, p[k].x), fy(f, ys[k]));
            first = 0;
        }
        i = j;
    }
}

static void stroke_attrs(Buf *b, int colour, double width) {
    buf_printf(b, " fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" stroke-linejoin=\"round\"",
               PALETTE[colour % N_PALETTE], width);
    const char *dash = DASHES[(colour / N_PALETTE) % 4];
    if (*dash) buf_printf(b, " stroke-dasharray=\"%s\"", dash);
}

/* Legend entries of widths w[0..n) flowed left to right from the plot's
 * left edge, wrapping before the right margin R: their positions into lx,
 * ly; returns the number of rows. */
static int legend_layout(const Frame *f, double R, double fs, double title_h, const double *w, int n, double *lx,
                         double *ly) {
    double cx = f->L;
    int row = 0;
    for (int i = 0; i < n; i++) {
        if (cx > f->L && cx + w[i] > f->W - R) {
            cx = f->L;
            row++;
        }
        lx[i] = cx;
        ly[i] = title_h + 8 + row * (fs + 5);
        cx += w[i];
    }
    return row + 1;
}

static const char *mark_colour(int colour) { return colour < 0 ? "#888" : PALETTE[colour % N_PALETTE]; }

/* One chart: <svg class="chart" data-metric=ID> with title, legend, grid,
 * axes with tick labels, and one <path class="series" data-series=KEY> per
 * series, KEY being the ref's id when it has one (plus <path class="smooth">
 * when long, <circle class="marker"> when sparse). Series without points are
 * left out; nothing is written if none has any. mk (NULL: none) adds
 * <line class="target" data-target data-value> lines, each with a
 * <g class="legend-target"> entry, and <line class="event" data-event
 * data-step> lines with one <g class="legend-event"> entry; both widen the
 * axes to show them. */
static void chart_svg_marks(Buf *b, const char *id, const char *title, const SeriesRef *sr, int ns,
                            unsigned flags, const Marks *mk) {
    int small = (flags & CHART_SMALL) != 0;
    SeriesRef list[64];
    int n = 0;
    size_t max_pts = 0;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < ns && n < 64; i++) {
        if (!sr[i].s || !sr[i].s->n) continue;
        list[n++] = sr[i];
        const Series *s = sr[i].s;
        if (s->n > max_pts) max_pts = s->n;
        for (size_t k = 0; k < s->n; k++) {
            xmin = fmin(xmin, s->pts[k].x);
            xmax = fmax(xmax, s->pts[k].x);
            ymin = fmin(ymin, s->pts[k].y);
            ymax = fmax(ymax, s->pts[k].y);
        }
    }
    if (!n) return;
    int ntg = 0, nevm = 0; /* the finite marks, drawn */
    Mark tg[64], evm[256];
    for (int i = 0; mk && i < mk->ntarget && ntg < 64; i++)
        if (isfinite(mk->target[i].v)) {
            tg[ntg++] = mk->target[i];
            ymin = fmin(ymin, mk->target[i].v);
            ymax = fmax(ymax, mk->target[i].v);
        }
    for (int i = 0; mk && i < mk->nevent && nevm < 256; i++)
        if (isfinite(mk->event[i].v)) {
            evm[nevm++] = mk->event[i];
            xmin = fmin(xmin, mk->event[i].v);
            xmax = fmax(xmax, mk->event[i].v);
        }
    int nlt = ntg < MARK_LEGEND_MAX ? ntg : MARK_LEGEND_MAX;
    int nle = nevm && mk->event_legend ? 1 : 0;

    /* Legend layout first: it sets the top margin. */
    Frame f;
    f.W = small ? 320 : 600;
    f.L = small ? 48 : 58;
    double R = small ? 10 : 16, fs = small ? 10 : 11, cw = fs * 0.62;
    f.PW = f.W - f.L - R;
    double lx[64 + MARK_LEGEND_MAX + 1], ly[64 + MARK_LEGEND_MAX + 1], lw[64 + MARK_LEGEND_MAX + 1];
    double title_h = small ? 18 : 22;
    for (int i = 0; i < n; i++) lw[i] = 18 + cw * (double)strlen(list[i].label) + 12;
    for (int i = 0; i < nlt; i++) lw[n + i] = 18 + cw * (double)strlen(tg[i].label ? tg[i].label : "") + 12;
    if (nle) lw[n + nlt] = 18 + cw * (double)strlen(mk->event_legend) + 12;
    int rows = legend_layout(&f, R, fs, title_h, lw, n + nlt + nle, lx, ly);
    f.T = title_h + 14 + rows * (fs + 5);
    f.PH = small ? 110 : 210;
    f.H = f.T + f.PH + (small ? 32 : 36);

    /* Domains: x is the data's step range; y rounds out to nice ticks. */
    if (xmax == xmin) {
        xmin -= 1;
        xmax += 1;
    }
    f.x0 = xmin;
    f.x1 = xmax;
    double ymant, ystep;
    if ((flags & CHART_UNIT) && ymin >= 0 && ymax <= 1) {
        f.y0 = 0;
        f.y1 = 1;
        ystep = small ? 0.5 : 0.2;
        ymant = small ? 5 : 2;
    } else {
        if (ymax == ymin) { /* a constant: centre it */
            double d = ymin == 0 ? 1 : fabs(ymin) * 0.1;
            ymin -= d;
            ymax += d;
        }
        ystep = nice_step(ymax - ymin, small ? 3 : 5, 0, &ymant);
        f.y0 = floor(ymin / ystep + 1e-9) * ystep;
        f.y1 = ceil(ymax / ystep - 1e-9) * ystep;
    }

    buf_puts(b, "<svg class=\"chart");
    if (small) buf_puts(b, " small");
    buf_puts(b, "\" data-metric=\"");
    buf_esc(b, id);
    buf_printf(b, "\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"",
               f.W, f.H, f.W, f.H);
    buf_esc(b, title);
    buf_puts(b, "\">\n<text class=\"title\" x=\"");
    buf_printf(b, "%.0f\" y=\"%.0f\">", f.L, title_h - 6);
    buf_esc(b, title);
    buf_puts(b, "</text>\n");

    /* grid and y ticks */
    double yamax = fmax(fabs(f.y0), fabs(f.y1));
    long ky0 = lround(f.y0 / ystep), ky1 = lround(f.y1 / ystep);
    char lab[64];
    for (long k = ky0; k <= ky1; k++) {
        double v = k * ystep, py = fy(&f, v);
        fmt_tick(lab, sizeof lab, v, ystep, ymant, yamax);
        buf_printf(b, "<line class=\"grid\" data-axis=\"y\" data-value=\"%.10g\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                   v, f.L, py, f.L + f.PW, py);
        buf_printf(b, "<text class=\"tick\" data-axis=\"y\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                   f.L - 5, py + fs * 0.35, lab);
    }
    double xmant, xstep = nice_step(f.x1 - f.x0, small ? 4 : 6, 1, &xmant);
    double xamax = fmax(fabs(f.x0), fabs(f.x1));
    for (long k = (long)ceil(f.x0 / xstep - 1e-9); k * xstep <= f.x1 + xstep * 1e-9; k++) {
        double v = k * xstep, px = fx(&f, v);
        fmt_tick(lab, sizeof lab, v, xstep, xmant, xamax);
        buf_printf(b, "<line class=\"grid\" data-axis=\"x\" data-value=\"%.10g\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                   v, px, f.T, px, f.T + f.PH);
        buf_printf(b, "<text class=\"tick\" data-axis=\"x\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                   px, f.T + f.PH + fs + 4, lab);
    }
    buf_printf(b, "<path class=\"axis\" d=\"M%.1f,%.1f L%.1f,%.1f L%.1f,%.1f\" fill=\"none\"/>\n", f.L, f.T,
               f.L, f.T + f.PH, f.L + f.PW, f.T + f.PH);
    buf_printf(b, "<text class=\"axis-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">step</text>\n",
               f.L + f.PW, f.H - 4);

    /* events and targets under the series */
    for (int i = 0; i < nevm; i++) {
        double px = fx(&f, evm[i].v);
        char st[32];
        fmt_step(st, sizeof st, evm[i].v);
        buf_puts(b, "<line class=\"event\" data-event=\"");
        buf_esc(b, evm[i].id ? evm[i].id : "");
        buf_printf(b, "\" data-step=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.2\" "
                      "stroke-dasharray=\"2 3\"><title>",
                   st, px, f.T, px, f.T + f.PH, mark_colour(evm[i].colour));
        buf_esc(b, evm[i].label ? evm[i].label : evm[i].id ? evm[i].id : "");
        buf_puts(b, "</title></line>\n");
    }
    for (int i = 0; i < ntg; i++) {
        double py = fy(&f, tg[i].v);
        buf_puts(b, "<line class=\"target\" data-target=\"");
        buf_esc(b, tg[i].id ? tg[i].id : "");
        buf_printf(b, "\" data-value=\"%.10g\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                      "stroke-width=\"1.5\" stroke-dasharray=\"6 4\"><title>",
                   tg[i].v, f.L, py, f.L + f.PW, py, mark_colour(tg[i].colour));
        buf_esc(b, tg[i].label ? tg[i].label : "");
        buf_puts(b, "</title></line>\n");
    }

    /* series */
    double *ys = NULL, *sm = NULL, *ps = NULL; /* values, smoothed, prefix sums */
    for (int i = 0; i < n; i++) {
        const Series *s = list[i].s;
        const char *sid = list[i].id ? list[i].id : s->key;
        double *ny = realloc(ys, s->n * sizeof *ys);
        if (ny) ys = ny;
        double *ns = ny ? realloc(sm, s->n * sizeof *sm) : NULL;
        if (ns) sm = ns;
        double *np = ns ? realloc(ps, (s->n + 1) * sizeof *ps) : NULL;
        if (!np) {
            b->oom = 1;
            break;
        }
        ps = np;
        for (size_t k = 0; k < s->n; k++) ys[k] = s->pts[k].y;
        int smooth = s->n >= SMOOTH_MIN_POINTS;
        const Pt *last = &s->pts[s->n - 1];
        char lv[32], ls[32];
        fmt_val(lv, sizeof lv, last->y);
        fmt_step(ls, sizeof ls, last->x);

        buf_puts(b, "<path class=\"series\" data-series=\"");
        buf_esc(b, sid);
        buf_puts(b, "\" d=\"");
        path_d(b, &f, s->pts, ys, s->n);
        buf_puts(b, "\"");
        stroke_attrs(b, list[i].colour, smooth ? 1.0 : 1.8);
        if (smooth) buf_puts(b, " stroke-opacity=\"0.3\"");
        buf_puts(b, "><title>");
        buf_esc(b, sid);
        buf_printf(b, ": %s at step %s (%zu points)</title></path>\n", lv, ls, s->n);

        if (smooth) {
            /* Centred moving average over 2h+1 points (h about n/40), the
             * window shrinking symmetrically at the ends. Not an EMA: an EMA
             * lags a trend by its time constant (a warmup or a shifting
             * pattern share would look late); a symmetric window has no lag
             * and keeps straight lines straight. */
            size_t h = s->n / 40 ? s->n / 40 : 1;
            ps[0] = 0;
            for (size_t k = 0; k < s->n; k++) ps[k + 1] = ps[k] + ys[k];
            for (size_t k = 0; k < s->n; k++) {
                size_t hh = h;
                if (hh > k) hh = k;
                if (hh > s->n - 1 - k) hh = s->n - 1 - k;
                sm[k] = (ps[k + hh + 1] - ps[k - hh]) / (double)(2 * hh + 1);
            }
            buf_puts(b, "<path class=\"smooth\" data-series=\"");
            buf_esc(b, sid);
            buf_puts(b, "\" d=\"");
            path_d(b, &f, s->pts, sm, s->n);
            buf_puts(b, "\"");
            stroke_attrs(b, list[i].colour, 2.0);
            buf_puts(b, "/>\n");
        }
        if (s->n <= 20 || s->n * 3 <= max_pts) {
            for (size_t k = 0; k < s->n; k++) {
                buf_puts(b, "<circle class=\"marker\" data-series=\"");
                buf_esc(b, sid);
                buf_printf(b, "\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>", fx(&f, s->pts[k].x),
                           fy(&f, ys[k]), small ? 2.0 : 2.5, PALETTE[list[i].colour % N_PALETTE]);
            }
            buf_puts(b, "\n");
        }
    }
    free(ys);
    free(sm);
    free(ps);

    /* legend */
    buf_puts(b, "<g class=\"legend\">");
    for (int i = 0; i < n; i++) {
        buf_puts(b, "<g class=\"legend-item\" data-series=\"");
        buf_esc(b, list[i].id ? list[i].id : list[i].s->key);
        buf_printf(b, "\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"", lx[i], ly[i] - fs * 0.35,
                   lx[i] + 14, ly[i] - fs * 0.35);
        stroke_attrs(b, list[i].colour, 2.5);
        buf_printf(b, "/><text x=\"%.1f\" y=\"%.1f\">", lx[i] + 18, ly[i]);
        buf_esc(b, list[i].label);
        buf_puts(b, "</text></g>");
    }
    for (int i = 0; i < nlt; i++) {
        double x = lx[n + i], y = ly[n + i] - fs * 0.35;
        buf_puts(b, "<g class=\"legend-target\" data-target=\"");
        buf_esc(b, tg[i].id ? tg[i].id : "");
        buf_printf(b, "\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.5\" "
                      "stroke-dasharray=\"4 2\"/><text x=\"%.1f\" y=\"%.1f\">",
                   x, y, x + 14, y, mark_colour(tg[i].colour), x + 18, ly[n + i]);
        buf_esc(b, tg[i].label ? tg[i].label : "");
        buf_puts(b, "</text></g>");
    }
    if (nle) {
        double x = lx[n + nlt] + 7, y = ly[n + nlt];
        buf_printf(b, "<g class=\"legend-event\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" "
                      "stroke-width=\"1.2\" stroke-dasharray=\"2 2\"/><text x=\"%.1f\" y=\"%.1f\">",
                   x, y - fs, x, y + 2, lx[n + nlt] + 18, y);
        buf_esc(b, mk->event_legend);
        buf_puts(b, "</text></g>");
    }
    buf_puts(b, "</g>\n</svg>\n");
}

static void chart_svg(Buf *b, const char *id, const char *title, const SeriesRef *sr, int ns, unsigned flags) {
    chart_svg_marks(b, id, title, sr, ns, flags, NULL);
}

/* ------------------------------------------------------------- histogram */

/* Histograms drawn: the first and last, and up to 3 evenly spaced between. */
#define HIST_SHOWN 5

/* "0.3-0.4": the edges of bin k of nb over [0, 1], with as few decimals as
 * show them exactly (up to 3). */
static void fmt_bin(char *out, size_t cap, int k, int nb) {
    int d = 3;
    for (int t = 1, p = 10; t <= 3; t++, p *= 10)
        if (p % nb == 0) {
            d = t;
            break;
        }
    if (d == 3 && nb <= 20) d = 2;
    snprintf(out, cap, "%.*f-%.*f", d, (double)k / nb, d, (double)(k + 1) / nb);
}

/* A grouped bar chart of G histograms with nb bins: <svg class="chart hist"
 * data-metric=ID data-bins=NB>, per histogram a <g class="hist-step"
 * data-step data-counts="c0,c1,..."> of <rect class="bar" data-bin
 * data-count> (zero counts too, with no height), y grid lines as in
 * chart_svg (data-axis="y" data-value), bin labels on x, a "step N" legend. */
static void hist_svg(Buf *b, const char *id, const char *title, const Hist *const *h, int G, int nb) {
    Frame f;
    double R = 16, fs = 11, cw = fs * 0.62, title_h = 22;
    f.W = 600;
    f.L = 58;
    /* bars of 3 px at least; up to 20 bins, room for every bin label */
    char lab[64];
    fmt_bin(lab, sizeof lab, 0, nb);
    double labw = fs * 0.58 * (double)strlen(lab) + 6; /* digits are narrower than average text */
    double need = fmax(nb * (G * 3.0 + 4), nb <= 20 ? nb * labw : 0);
    if (need > f.W - f.L - R) f.W = ceil(f.L + R + need);
    f.PW = f.W - f.L - R;
    TR_ASSERT(G >= 1 && G <= HIST_SHOWN && nb >= 1 && nb <= HIST_MAX_BINS);
    double lx[HIST_SHOWN], ly[HIST_SHOWN], lw[HIST_SHOWN];
    for (int g = 0; g < G; g++) {
        char st[32];
        fmt_step(st, sizeof st, h[g]->x);
        lw[g] = 16 + cw * (5 + (double)strlen(st)) + 12;
    }
    int rows = legend_layout(&f, R, fs, title_h, lw, G, lx, ly);
    f.T = title_h + 14 + rows * (fs + 5);
    f.PH = 210;
    f.H = f.T + f.PH + 40;

    double ymax = 0;
    int integer = 1;
    for (int g = 0; g < G; g++)
        for (int k = 0; k < nb; k++) {
            ymax = fmax(ymax, h[g]->c[k]);
            integer &= h[g]->c[k] == floor(h[g]->c[k]);
        }
    if (ymax <= 0) ymax = 1;
    double ymant, ystep = nice_step(ymax, 5, integer, &ymant);
    f.x0 = 0;
    f.x1 = nb;
    f.y0 = 0;
    f.y1 = ceil(ymax / ystep - 1e-9) * ystep;

    buf_puts(b, "<svg class=\"chart hist\" data-metric=\"");
    buf_esc(b, id);
    buf_printf(b, "\" data-bins=\"%d\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" "
                  "height=\"%.0f\" role=\"img\" aria-label=\"",
               nb, f.W, f.H, f.W, f.H);
    buf_esc(b, title);
    buf_printf(b, "\">\n<text class=\"title\" x=\"%.0f\" y=\"%.0f\">", f.L, title_h - 6);
    buf_esc(b, title);
    buf_puts(b, "</text>\n");

    long ky1 = lround(f.y1 / ystep);
    for (long k = 0; k <= ky1; k++) {
        double v = k * ystep, py = fy(&f, v);
        fmt_tick(lab, sizeof lab, v, ystep, ymant, f.y1);
        buf_printf(b, "<line class=\"grid\" data-axis=\"y\" data-value=\"%.10g\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                   v, f.L, py, f.L + f.PW, py);
        buf_printf(b, "<text class=\"tick\" data-axis=\"y\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                   f.L - 5, py + fs * 0.35, lab);
    }
    /* bin labels, thinned so that they do not overlap */
    double gw = f.PW / nb;
    fmt_bin(lab, sizeof lab, 0, nb);
    int every = (int)ceil(labw / gw - 1e-9);
    if (every < 1) every = 1;
    for (int k = 0; k < nb; k += every) {
        fmt_bin(lab, sizeof lab, k, nb);
        buf_printf(b, "<text class=\"tick\" data-axis=\"x\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                   f.L + (k + 0.5) * gw, f.T + f.PH + fs + 4, lab);
    }
    buf_printf(b, "\n<path class=\"axis\" d=\"M%.1f,%.1f L%.1f,%.1f L%.1f,%.1f\" fill=\"none\"/>\n", f.L, f.T, f.L,
               f.T + f.PH, f.L + f.PW, f.T + f.PH);
    buf_printf(b, "<text class=\"axis-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">success-rate estimate p"
                  " (prompts per bin)</text>\n",
               f.L + f.PW, f.H - 4);

    double bw = 0.8 * gw / G;
    for (int g = 0; g < G; g++) {
        char st[32];
        fmt_step(st, sizeof st, h[g]->x);
        buf_printf(b, "<g class=\"hist-step\" data-step=\"%s\" data-counts=\"", st);
        for (int k = 0; k < nb; k++) buf_printf(b, "%s%.10g", k ? "," : "", h[g]->c[k]);
        buf_printf(b, "\" fill=\"%s\">\n", PALETTE[g % N_PALETTE]);
        for (int k = 0; k < nb; k++) {
            double y = fy(&f, h[g]->c[k]);
            char cv[32];
            fmt_bin(lab, sizeof lab, k, nb);
            fmt_val(cv, sizeof cv, h[g]->c[k]);
            buf_printf(b, "<rect class=\"bar\" data-bin=\"%d\" data-count=\"%.10g\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\""
                          " height=\"%.2f\"><title>step %s, p %s: %s</title></rect>",
                       k, h[g]->c[k], f.L + k * gw + 0.1 * gw + g * bw, y, bw, f.T + f.PH - y, st, lab, cv);
        }
        buf_puts(b, "\n</g>\n");
    }

    buf_puts(b, "<g class=\"legend\">");
    for (int g = 0; g < G; g++) {
        char st[32];
        fmt_step(st, sizeof st, h[g]->x);
        buf_printf(b, "<g class=\"legend-item\" data-step=\"%s\"><rect x=\"%.1f\" y=\"%.1f\" width=\"11\" height=\"%.1f\" "
                      "fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">step %s</text></g>",
                   st, lx[g], ly[g] - fs * 0.8, fs * 0.8, PALETTE[g % N_PALETTE], lx[g] + 16, ly[g], st);
    }
    buf_puts(b, "</g>\n</svg>\n");
}

/* The "Prompt difficulty (ADS)" section: the adaptive prompt sampler's
 * histogram of per-prompt success-rate estimates at a few steps. Only the
 * histograms with the last one's bin count are drawn (a run that changed its
 * binning keeps its latest). Nothing is written without histograms. */
static void report_ads(Buf *b, const Metrics *m) {
    if (!m->nhist) return;
    int nb = m->hist[m->nhist - 1].nb;
    size_t ne = 0;
    for (size_t i = 0; i < m->nhist; i++) ne += m->hist[i].nb == nb;
    const Hist *sel[HIST_SHOWN];
    int G = 0;
    size_t want[HIST_SHOWN], nw = ne < HIST_SHOWN ? ne : HIST_SHOWN;
    for (size_t g = 0; g < nw; g++)
        want[g] = nw == ne ? g : (size_t)llround((double)g * (double)(ne - 1) / (double)(HIST_SHOWN - 1));
    for (size_t i = 0, e = 0; i < m->nhist && (size_t)G < nw; i++) {
        if (m->hist[i].nb != nb) continue;
        if (e == want[G]) sel[G++] = &m->hist[i];
        e++;
    }
    buf_printf(b, "<section id=\"ads\"><h2>Prompt difficulty (ADS)</h2>\n<p class=\"meta\" data-hist-steps=\"%zu\">"
                  "Prompts of the adaptive sampler by their success-rate estimate p; %zu step%s logged a histogram",
               ne, ne, ne == 1 ? "" : "s");
    if (ne > (size_t)G) buf_printf(b, ", %d shown (the first, the last and evenly spaced ones between)", G);
    buf_puts(b, ".</p>\n<div class=\"charts\">\n");
    hist_svg(b, "ads/hist", "Prompts per success-rate bin", sel, G, nb);
    buf_puts(b, "</div>\n</section>\n");
}

/* --------------------------------------------------------------- samples */

/* Up to this many samples of the last sampled step are shown. */
#define N_SAMPLES 4
#define SAMPLE_TEXT_MAX 4000

/* Escapes at most max bytes of s (cut at a UTF-8 boundary) and says how much
 * was left out. */
static void buf_esc_cut(Buf *b, const char *s, size_t max) {
    size_t n = strlen(s);
    if (n <= max) {
        buf_esc_n(b, s, n);
        return;
    }
    size_t c = max;
    while (c > 0 && ((unsigned char)s[c] & 0xC0) == 0x80) c--;
    buf_esc_n(b, s, c);
    buf_printf(b, "\n<span class=\"cut\">[... %zu more bytes]</span>", n - c);
}

static void report_samples(Buf *b, const char *path) {
    size_t len;
    char *text = tr_read_file(path, &len);
    if (!text) {
        tr_err_clear();
        return; /* optional file */
    }
    /* Offsets of the last N_SAMPLES lines at the highest step (ring). */
    size_t off[N_SAMPLES], lens[N_SAMPLES], cnt = 0, total = 0;
    double best = -INFINITY;
    int64_t bad = 0;
    for (char *line = text, *end = text + len; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t ll = nl ? (size_t)(nl - line) : (size_t)(end - line);
        char *next = nl ? nl + 1 : end;
        cJSON *j = cJSON_ParseWithLength(line, ll);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "step");
        if (cJSON_IsObject(j) && cJSON_IsNumber(st)) {
            double x = st->valuedouble;
            if (x > best) {
                best = x;
                cnt = total = 0;
            }
            if (x == best) {
                off[cnt % N_SAMPLES] = (size_t)(line - text);
                lens[cnt % N_SAMPLES] = ll;
                cnt++;
                total++;
            }
        } else if (ll > 0) {
            bad++;
        }
        cJSON_Delete(j);
        line = next;
    }
    if (!total) {
        free(text);
        return;
    }
    char sb[32];
    fmt_step(sb, sizeof sb, best);
    size_t shown = total < N_SAMPLES ? total : N_SAMPLES;
    buf_printf(b, "<section id=\"samples\"><h2>Samples</h2>\n<p class=\"meta\">step %s: the last %zu of %zu samples", sb,
               shown, total);
    if (bad) buf_printf(b, " (%lld unreadable lines in samples.jsonl skipped)", (long long)bad);
    buf_puts(b, "</p>\n");
    for (size_t q = cnt - shown; q < cnt; q++) {
        size_t r = q % N_SAMPLES;
        cJSON *j = cJSON_ParseWithLength(text + off[r], lens[r]);
        if (!j) continue;
        buf_printf(b, "<div class=\"sample\" data-step=\"%s\"><div class=\"sample-meta\">", sb);
        int firstf = 1;
        for (const cJSON *it = j->child; it; it = it->next) {
            if (!it->string || !strcmp(it->string, "prompt") || !strcmp(it->string, "response")) continue;
            char v[64];
            if (cJSON_IsNumber(it)) fmt_val(v, sizeof v, it->valuedouble);
            else if (cJSON_IsBool(it)) snprintf(v, sizeof v, "%s", cJSON_IsTrue(it) ? "true" : "false");
            else if (!cJSON_IsString(it)) continue;
            buf_puts(b, firstf ? "" : " &middot; ");
            firstf = 0;
            buf_puts(b, "<b>");
            buf_esc(b, it->string);
            buf_puts(b, "</b> ");
            if (cJSON_IsString(it)) buf_esc_cut(b, it->valuestring, 200);
            else buf_esc(b, v);
        }
        buf_puts(b, "</div>\n");
        static const char *const parts[] = {"prompt", "response"};
        for (int k = 0; k < 2; k++) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, parts[k]);
            if (!cJSON_IsString(t)) continue;
            buf_printf(b, "<div class=\"label\">%s</div><pre class=\"%s\">", parts[k], parts[k]);
            buf_esc_cut(b, t->valuestring, SAMPLE_TEXT_MAX);
            buf_puts(b, "</pre>\n");
        }
        buf_puts(b, "</div>\n");
        cJSON_Delete(j);
    }
    buf_puts(b, "</section>\n");
    free(text);
}

/* ---------------------------------------------------------------- report */

static const char CSS[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    "color:#222;margin:24px auto;max-width:1260px;padding:0 16px}\n"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}\n"
    ".meta{color:#666;margin:4px 0}.warn{background:#fff4e0;border:1px solid #f0c070;padding:6px 10px;"
    "margin:8px 0}\n"
    "table{border-collapse:collapse;margin:8px 16px 8px 0;font-variant-numeric:tabular-nums}"
    "td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:right}"
    "td:first-child,th:first-child{text-align:left}\n"
    ".up{color:#2a7d2a}.down{color:#b03030}.sw{display:inline-block;width:10px;height:10px;"
    "margin-right:6px;border-radius:2px}\n"
    ".tables{display:flex;flex-wrap:wrap;align-items:flex-start}\n"
    ".charts{display:flex;flex-wrap:wrap;gap:12px}\n"
    "svg.chart{max-width:100%;height:auto;background:#fff;border:1px solid #eee}\n"
    "svg.chart text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    "font-size:11px;fill:#444}\n"
    "svg.chart.small text{font-size:10px}\n"
    "svg.chart text.title{font-size:13px;font-weight:600;fill:#222}svg.chart.small text.title{font-size:11px}\n"
    "svg.chart .grid{stroke:#ececec;stroke-width:1}svg.chart .axis{stroke:#999;stroke-width:1}\n"
    "pre{background:#f7f7f7;padding:8px;white-space:pre-wrap;word-break:break-word;margin:2px 0 8px}\n"
    ".sample{border:1px solid #e4e4e4;padding:6px 10px;margin:8px 0}.sample-meta{color:#555}"
    ".label{font-size:12px;color:#888;margin-top:4px}.cut{color:#999}\n"
    "details summary{cursor:pointer}\n"
    ".none{color:#aaa}td.best{font-weight:600}svg.key{vertical-align:middle;margin-right:6px}"
    "td.path{font-family:ui-monospace,monospace;font-size:12px;color:#555}.warn-inline{color:#a06000}\n";

/* The last point of a series (its final value). */
static const Pt *series_last(const Series *s) { return s && s->n ? &s->pts[s->n - 1] : NULL; }

static void row_metric(Buf *b, const Series *s) {
    if (!s || !s->n) return;
    double mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < s->n; i++) {
        mn = fmin(mn, s->pts[i].y);
        mx = fmax(mx, s->pts[i].y);
    }
    char a[32], z[32], zs[32], lo[32], hi[32];
    fmt_val(a, sizeof a, s->pts[0].y);
    fmt_val(z, sizeof z, series_last(s)->y);
    fmt_step(zs, sizeof zs, series_last(s)->x);
    fmt_val(lo, sizeof lo, mn);
    fmt_val(hi, sizeof hi, mx);
    buf_puts(b, "<tr data-metric=\"");
    buf_esc(b, s->key);
    buf_puts(b, "\"><td>");
    buf_esc(b, s->key);
    buf_printf(b, "</td><td>%s</td><td><b>%s</b> <small>@%s</small></td><td>%s</td><td>%s</td></tr>\n", a, z, zs,
               lo, hi);
}

#define MAX_PATTERNS 64

typedef struct {
    char name[128];
    Series *freq, *acc;
} Pattern;

/* pattern/NAME/freq and pattern/NAME/acc, in order of first appearance. */
static int collect_patterns(Metrics *m, Pattern *p) {
    int np = 0;
    for (size_t i = 0; i < m->n && np < MAX_PATTERNS; i++) {
        const char *k = m->s[i].key;
        if (strncmp(k, "pattern/", 8)) continue;
        const char *slash = strrchr(k, '/');
        if (slash == k + 7 || (strcmp(slash, "/freq") && strcmp(slash, "/acc"))) continue;
        size_t nl = (size_t)(slash - (k + 8));
        if (nl >= sizeof p[0].name) continue;
        int j;
        for (j = 0; j < np; j++)
            if (strlen(p[j].name) == nl && !strncmp(p[j].name, k + 8, nl)) break;
        if (j == np) {
            memcpy(p[np].name, k + 8, nl);
            p[np].name[nl] = 0;
            p[np].freq = p[np].acc = NULL;
            np++;
        }
        if (!strcmp(slash, "/freq")) p[j].freq = &m->s[i];
        else p[j].acc = &m->s[i];
    }
    return np;
}

static void fmt_share(char *out, size_t cap, double v, int pct) {
    if (pct) snprintf(out, cap, "%.1f%%", 100 * v);
    else fmt_val(out, cap, v);
}

static void report_patterns_table(Buf *b, const Pattern *p, int np) {
    int pct = 1;
    for (int i = 0; i < np; i++)
        for (size_t k = 0; p[i].freq && k < p[i].freq->n; k++)
            if (p[i].freq->pts[k].y < 0 || p[i].freq->pts[k].y > 1) pct = 0;
    int any = 0;
    for (int i = 0; i < np; i++) any |= p[i].freq || p[i].acc;
    if (!any) return;
    buf_puts(b, "<table class=\"patterns\"><tr><th>pattern</th><th>share first &rarr; last</th><th>change</th>"
                "<th>success first &rarr; last</th></tr>\n");
    int best = -1;
    double best_d = 0;
    for (int i = 0; i < np; i++) {
        buf_puts(b, "<tr data-pattern=\"");
        buf_esc(b, p[i].name);
        buf_printf(b, "\"><td><span class=\"sw\" style=\"background:%s\"></span>", PALETTE[i % N_PALETTE]);
        buf_esc(b, p[i].name);
        buf_puts(b, "</td>");
        char a[32], z[32];
        if (p[i].freq && p[i].freq->n) {
            double f0 = p[i].freq->pts[0].y, f1 = series_last(p[i].freq)->y, d = f1 - f0;
            fmt_share(a, sizeof a, f0, pct);
            fmt_share(z, sizeof z, f1, pct);
            buf_printf(b, "<td>%s &rarr; %s</td>", a, z);
            if (pct) buf_printf(b, "<td class=\"%s\">%+.1f pp</td>", d > 0 ? "up" : d < 0 ? "down" : "", 100 * d);
            else buf_printf(b, "<td class=\"%s\">%+.4g</td>", d > 0 ? "up" : d < 0 ? "down" : "", d);
            if (best < 0 || fabs(d) > fabs(best_d)) {
                best = i;
                best_d = d;
            }
        } else {
            buf_puts(b, "<td>&ndash;</td><td></td>");
        }
        if (p[i].acc && p[i].acc->n) {
            fmt_share(a, sizeof a, p[i].acc->pts[0].y, 1);
            fmt_share(z, sizeof z, series_last(p[i].acc)->y, 1);
            buf_printf(b, "<td>%s &rarr; %s</td></tr>\n", a, z);
        } else {
            buf_puts(b, "<td>&ndash;</td></tr>\n");
        }
    }
    buf_puts(b, "</table>\n");
    if (best >= 0 && best_d != 0) {
        buf_puts(b, "<p class=\"meta shift\">Largest share shift: <b>");
        buf_esc(b, p[best].name);
        if (pct) buf_printf(b, "</b> %+.1f pp", 100 * best_d);
        else buf_printf(b, "</b> %+.4g", best_d);
        buf_puts(b, "</p>\n");
    }
}

static int is_stat_suffix(const char *k) {
    const char *slash = strrchr(k, '/');
    return slash && (!strcmp(slash, "/std") || !strcmp(slash, "/min") || !strcmp(slash, "/max"));
}

static int cmp_series_key(const void *a, const void *b) {
    return strcmp((*(Series *const *)a)->key, (*(Series *const *)b)->key);
}

/* Draws a main chart from fixed keys (with marks, or NULL); marks them used. */
static void chart_keys_marks(Buf *b, Metrics *m, const char *id, const char *title, const char *const *keys, int nk,
                             unsigned flags, const Marks *mk) {
    SeriesRef sr[8];
    int n = 0;
    for (int i = 0; i < nk && n < 8; i++) {
        Series *s = metrics_find(m, keys[i]);
        if (!s) continue;
        s->used = 1;
        sr[n] = (SeriesRef){s, s->key, n, NULL};
        n++;
    }
    chart_svg_marks(b, id, title, sr, n, flags, mk);
}

static void chart_keys(Buf *b, Metrics *m, const char *id, const char *title, const char *const *keys, int nk,
                       unsigned flags) {
    chart_keys_marks(b, m, id, title, keys, nk, flags, NULL);
}

/* ----------------------------------------------------------------- f-DPG */

/* The f-DPG trainer logs fdpg/ metrics per step (KL(p||pi), TV(p, pi), KL(pi||a),
 * the constraint's E_pi[b] or the moments E_pi[phi], diversity, and its
 * estimator's state), "fdpg_q_update" events (offline: the proposal q was
 * replaced by pi) and, for distributional targets, RUN/fdpg_fit.json (the
 * lambda fit of the exponential family: requested, base and achieved
 * moment per feature). */

#define FDPG_MOMENT "fdpg/moment/"
#define FDPG_Q_UPDATE "fdpg_q_update"
#define FIT_MAX_FEATURES 64

typedef struct {
    char name[128];
    double requested, base, achieved, lambda; /* NAN when absent */
} FitFeature;

enum { FIT_NONE, FIT_OK, FIT_BAD };

/* RUN/fdpg_fit.json. */
typedef struct {
    int state; /* FIT_NONE (no file), FIT_OK, FIT_BAD (why says) */
    char why[200];
    double samples, iters, ess; /* NAN when absent */
    int converged;              /* 1, 0; -1 when absent */
    int nf, nf_file;            /* features kept, in the file */
    FitFeature f[FIT_MAX_FEATURES];
} Fit;

static double json_num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : NAN;
}

/* The text of dir/name (*len bytes), or NULL when it cannot be read (the
 * error cleared: such files are optional to the report); *oom set when
 * memory ran out, which is an error. */
static char *read_optional(const char *dir, const char *name, size_t *len, int *oom) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    *oom = !path;
    if (!path) return NULL;
    snprintf(path, n, "%s/%s", dir, name);
    char *text = tr_read_file(path, len);
    free(path);
    if (!text) tr_err_clear();
    return text;
}

/* Reads dir/fdpg_fit.json into ft. A missing or unreadable file is not an
 * error of the report (ft->state says which); only out of memory is. */
static int fit_read(Fit *ft, const char *dir) {
    memset(ft, 0, sizeof *ft);
    ft->converged = -1;
    ft->samples = ft->iters = ft->ess = NAN;
    size_t len;
    int oom;
    char *text = read_optional(dir, "fdpg_fit.json", &len, &oom);
    if (oom) return tr_err(TR_ENOMEM, "out of memory");
    if (!text) return TR_OK;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(j, "features");
    if (!cJSON_IsObject(j) || !cJSON_IsArray(fs)) {
        ft->state = FIT_BAD;
        snprintf(ft->why, sizeof ft->why, "%s", !j ? "not valid JSON" : !cJSON_IsObject(j) ? "not a JSON object"
                                                                       : "no \"features\" array");
        cJSON_Delete(j);
        return TR_OK;
    }
    ft->state = FIT_OK;
    ft->samples = json_num(j, "samples");
    ft->iters = json_num(j, "iters");
    ft->ess = json_num(j, "ess");
    const cJSON *cv = cJSON_GetObjectItemCaseSensitive(j, "converged");
    if (cJSON_IsBool(cv)) ft->converged = cJSON_IsTrue(cv);
    for (const cJSON *e = fs->child; e; e = e->next) {
        ft->nf_file++;
        if (!cJSON_IsObject(e) || ft->nf == FIT_MAX_FEATURES) continue;
        FitFeature *f = &ft->f[ft->nf++];
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (cJSON_IsString(nm)) snprintf(f->name, sizeof f->name, "%s", nm->valuestring);
        else snprintf(f->name, sizeof f->name, "#%d", ft->nf_file);
        f->requested = json_num(e, "requested");
        f->base = json_num(e, "base");
        f->achieved = json_num(e, "achieved");
        f->lambda = json_num(e, "lambda");
    }
    cJSON_Delete(j);
    return TR_OK;
}

/* The requested value of feature name, NAN when the fit lacks it. */
static double fit_requested(const Fit *ft, const char *name) {
    if (!ft || ft->state != FIT_OK) return NAN;
    for (int i = 0; i < ft->nf; i++)
        if (!strcmp(ft->f[i].name, name)) return ft->f[i].requested;
    return NAN;
}

/* Whether the run logged f-DPG: an fdpg/ metric (events alone do not make
 * a section; they come with metrics). */
static int fdpg_present(const Metrics *m) {
    for (size_t i = 0; i < m->n; i++)
        if (!strncmp(m->s[i].key, "fdpg/", 5)) return 1;
    return 0;
}

/* The fdpg/moment/NAME series of m, first-appearance order, at most max. */
static int fdpg_moments(const Metrics *m, Series **out, int max) {
    int k = 0;
    for (size_t i = 0; i < m->n && k < max; i++)
        if (!strncmp(m->s[i].key, FDPG_MOMENT, strlen(FDPG_MOMENT)) && m->s[i].key[strlen(FDPG_MOMENT)])
            out[k++] = &m->s[i];
    return k;
}

static void td_val(Buf *b, const char *col, double v) {
    if (isnan(v)) {
        buf_printf(b, "<td data-col=\"%s\" class=\"none\">-</td>", col);
        return;
    }
    char t[32];
    fmt_val(t, sizeof t, v);
    buf_printf(b, "<td data-col=\"%s\" data-value=\"%.10g\">%s</td>", col, v, t);
}

/* The lambda fit of the distributional target, as a table. */
static void fdpg_fit_table(Buf *b, const Fit *ft) {
    if (ft->state == FIT_BAD) {
        buf_puts(b, "<p class=\"warn fdpg-fit-bad\">fdpg_fit.json unreadable (");
        buf_esc(b, ft->why);
        buf_puts(b, "): no lambda fit shown</p>\n");
    }
    if (ft->state != FIT_OK) return;
    buf_puts(b, "<div class=\"fdpg-fit\"><table class=\"fdpg-fit\"><caption>lambda fit: requested / base / achieved "
                "moment, lambda</caption>\n<tr><th>feature</th><th>requested</th><th title=\"E_a[phi], the base model\">"
                "base</th><th title=\"E[phi] under the fitted target p\">achieved</th><th>lambda</th></tr>\n");
    for (int i = 0; i < ft->nf; i++) {
        const FitFeature *f = &ft->f[i];
        buf_puts(b, "<tr data-feature=\"");
        buf_esc(b, f->name);
        buf_puts(b, "\"><td>");
        buf_esc(b, f->name);
        buf_puts(b, "</td>");
        td_val(b, "requested", f->requested);
        td_val(b, "base", f->base);
        td_val(b, "achieved", f->achieved);
        td_val(b, "lambda", f->lambda);
        buf_puts(b, "</tr>\n");
    }
    buf_puts(b, "</table>\n<p class=\"meta fit-meta\">");
    int any = 0;
    char t[32];
    if (!isnan(ft->samples)) {
        fmt_val(t, sizeof t, ft->samples);
        buf_printf(b, "%s samples", t);
        any = 1;
    }
    if (!isnan(ft->iters)) {
        fmt_val(t, sizeof t, ft->iters);
        buf_printf(b, "%s%s iterations", any ? ", " : "", t);
        any = 1;
    }
    if (ft->converged >= 0) {
        buf_printf(b, "%s%s", any ? ", " : "",
                   ft->converged ? "converged" : "<span class=\"warn-inline\" data-converged=\"false\">not converged</span>");
        any = 1;
    }
    if (!isnan(ft->ess)) {
        fmt_val(t, sizeof t, ft->ess);
        buf_printf(b, "%sESS %s", any ? ", " : "", t);
        any = 1;
    }
    if (ft->nf_file > ft->nf) buf_printf(b, "%s%d features not shown", any ? ", " : "", ft->nf_file - ft->nf);
    buf_puts(b, "</p></div>\n");
}

/* Proposal updates listed in the table; the chart marks up to 256. */
#define FDPG_EVENTS_LISTED 50

/* The "f-DPG" section of a run with fdpg/ metrics: final values, the lambda
 * fit, the proposal updates, the alignment / constraint / diversity charts
 * (targets dashed, proposal updates dotted) and small charts of the
 * estimator's state. Marks what it draws used. */
static void report_fdpg(Buf *b, Metrics *m, const Fit *ft) {
    if (!fdpg_present(m)) return;
    Series *mom[64];
    int nm = fdpg_moments(m, mom, 64);
    size_t nq = 0;
    for (size_t i = 0; i < m->nev; i++) nq += !strcmp(m->ev[i].name, FDPG_Q_UPDATE);

    buf_printf(b, "<section id=\"fdpg\"><h2>f-DPG</h2>\n<p class=\"meta\" data-q-updates=\"%zu\">The policy pi "
                  "trained towards the target distribution p: KL(p||pi) and TV(p, pi) measure the alignment (lower is "
                  "better), KL(pi||a) the distance from the base model a.",
               nq);
    if (nq)
        buf_printf(b, " Offline mode: the proposal q was replaced by pi %zu time%s (dotted lines on the KL chart).", nq,
                   nq == 1 ? "" : "s");
    buf_puts(b, "</p>\n<div class=\"tables\">\n");

    static const char *const FINAL[] = {"fdpg/kl_p_pi", "fdpg/kl_p_q", "fdpg/tv_p_pi", "fdpg/kl_pi_a",
                                        "fdpg/b_rate",  "fdpg/reward", "fdpg/distinct_2"};
    int any = 0;
    for (size_t i = 0; i < sizeof FINAL / sizeof *FINAL; i++) any |= metrics_find(m, FINAL[i]) != NULL;
    if (any || nm) {
        buf_puts(b, "<table class=\"final fdpg-final\"><tr><th>metric</th><th>first</th><th>final</th><th>min</th>"
                    "<th>max</th></tr>\n");
        for (size_t i = 0; i < sizeof FINAL / sizeof *FINAL; i++) {
            row_metric(b, metrics_find(m, FINAL[i]));
            if (i == 4)
                for (int k = 0; k < nm; k++) row_metric(b, mom[k]);
        }
        buf_puts(b, "</table>\n");
    }
    fdpg_fit_table(b, ft);
    if (nq) {
        buf_printf(b, "<table class=\"fdpg-q-updates\"><caption>proposal updates (q &larr; pi)</caption>\n<tr><th>step</th>"
                      "<th>KL(p||pi)</th><th>KL(p||q)</th></tr>\n");
        size_t shown = 0;
        for (size_t i = 0; i < m->nev && shown < FDPG_EVENTS_LISTED; i++) {
            const Event *e = &m->ev[i];
            if (strcmp(e->name, FDPG_Q_UPDATE)) continue;
            char st[32];
            fmt_step(st, sizeof st, e->x);
            buf_printf(b, "<tr data-event-step=\"%s\"><td>%s</td>", st, st);
            td_val(b, "kl_p_pi", event_value(e, "kl_p_pi"));
            td_val(b, "kl_p_q", event_value(e, "kl_p_q"));
            buf_puts(b, "</tr>\n");
            shown++;
        }
        buf_puts(b, "</table>\n");
        if (nq > shown) buf_printf(b, "<p class=\"meta\">%zu more proposal updates not listed</p>\n", nq - shown);
    }
    buf_puts(b, "</div>\n<div class=\"charts\">\n");

    Mark ev[256];
    int ne = 0;
    char evlab[256][112];
    for (size_t i = 0; i < m->nev && ne < 256; i++) {
        const Event *e = &m->ev[i];
        if (strcmp(e->name, FDPG_Q_UPDATE)) continue;
        char st[32], a[32] = "-", c[32] = "-";
        fmt_step(st, sizeof st, e->x);
        double kp = event_value(e, "kl_p_pi"), kq = event_value(e, "kl_p_q");
        if (!isnan(kp)) fmt_val(a, sizeof a, kp);
        if (!isnan(kq)) fmt_val(c, sizeof c, kq);
        snprintf(evlab[ne], sizeof evlab[ne], "q updated at step %s: KL(p||pi) %s, KL(p||q) %s", st, a, c);
        ev[ne] = (Mark){e->x, -1, FDPG_Q_UPDATE, evlab[ne]};
        ne++;
    }
    Marks kmk = {NULL, 0, ev, ne, "proposal update"};
    static const char *const K_KL[] = {"fdpg/kl_p_pi", "fdpg/kl_p_q"}, *const K_TV[] = {"fdpg/tv_p_pi"},
                             *const K_KLA[] = {"fdpg/kl_pi_a"}, *const K_B[] = {"fdpg/b_rate"},
                             *const K_R[] = {"fdpg/reward"},
                             *const K_D[] = {"fdpg/distinct_1", "fdpg/distinct_2", "fdpg/distinct_3"};
    chart_keys_marks(b, m, "fdpg/kl_p_pi", "KL(p||pi) to the target (lower is better)", K_KL, 2, 0, &kmk);
    chart_keys(b, m, "fdpg/tv_p_pi", "TV(p, pi) to the target (lower is better)", K_TV, 1, CHART_UNIT);
    chart_keys(b, m, "fdpg/kl_pi_a", "KL(pi||a) from the base model", K_KLA, 1, 0);
    chart_keys(b, m, "fdpg/b_rate", "Constraint satisfied: E_pi[b]", K_B, 1, CHART_UNIT);
    for (int k = 0; k < nm; k++) {
        const char *name = mom[k]->key + strlen(FDPG_MOMENT);
        double req = fit_requested(ft, name);
        char title[300], lab[64];
        char rv[32];
        fmt_val(rv, sizeof rv, req);
        snprintf(title, sizeof title, "Moment %s: E_pi[phi]", name);
        snprintf(lab, sizeof lab, "requested %s", rv);
        Mark tg = {req, -1, name, lab};
        Marks mk = {&tg, 1, NULL, 0, NULL};
        const char *key = mom[k]->key;
        chart_keys_marks(b, m, key, title, &key, 1, CHART_UNIT, isnan(req) ? NULL : &mk);
    }
    chart_keys(b, m, "fdpg/reward", "Reward: E_pi[r]", K_R, 1, 0);
    chart_keys(b, m, "fdpg/distinct", "Diversity: distinct-1, -2, -3", K_D, 3, CHART_UNIT);
    buf_puts(b, "</div>\n");

    static const struct {
        const char *key, *title;
    } SMALL[] = {{"fdpg/log_z", "fdpg/log_z: log of the running Z estimate"},
                 {"fdpg/pseudo_reward", "fdpg/pseudo_reward"},
                 {"fdpg/baseline", "fdpg/baseline"},
                 {"fdpg/ess", "fdpg/ess: effective sample size"},
                 {"fdpg/q_updates", "fdpg/q_updates: proposal updates"}};
    int nsmall = 0;
    for (size_t i = 0; i < sizeof SMALL / sizeof *SMALL; i++) nsmall += metrics_find(m, SMALL[i].key) != NULL;
    if (nsmall) {
        buf_puts(b, "<div class=\"charts fdpg-estimator\">\n");
        for (size_t i = 0; i < sizeof SMALL / sizeof *SMALL; i++)
            chart_keys(b, m, SMALL[i].key, SMALL[i].title, &SMALL[i].key, 1, CHART_SMALL);
        buf_puts(b, "</div>\n");
    }
    buf_puts(b, "</section>\n");
}

static void report_build(Buf *b, Metrics *m, const char *run_dir, const Fit *ft) {
    /* run name: the last path component */
    char name[512];
    size_t rl = strlen(run_dir);
    while (rl > 1 && run_dir[rl - 1] == '/') rl--;
    size_t rs = rl;
    while (rs > 0 && run_dir[rs - 1] != '/') rs--;
    snprintf(name, sizeof name, "%.*s", (int)(rl - rs), run_dir + rs);

    Pattern pat[MAX_PATTERNS];
    int np = collect_patterns(m, pat);
    int fdpg = fdpg_present(m);
    int rl_run = metrics_find(m, "reward/mean") || metrics_find(m, "reward") || np > 0 || fdpg;
    int sft_run = !rl_run && metrics_find(m, "loss");

    buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>thinkrl report: ");
    buf_esc(b, name);
    buf_printf(b, "</title>\n<style>\n%s</style>\n</head><body>\n<header>\n<h1>", CSS);
    buf_esc(b, name);
    buf_puts(b, "</h1>\n<p class=\"meta\">");
    buf_esc(b, run_dir);
    char s0[32], s1[32];
    fmt_step(s0, sizeof s0, m->steps[0]);
    fmt_step(s1, sizeof s1, m->steps[m->nsteps - 1]);
    buf_printf(b, " &middot; %s run &middot; <span class=\"steps\" data-steps=\"%zu\">%zu steps</span> (step %s to %s)"
                  " &middot; %zu metrics</p>\n",
               fdpg ? "RL (f-DPG)" : rl_run ? "RL" : sft_run ? "SFT" : "unknown", m->nsteps, m->nsteps, s0, s1, m->n);
    if (m->n_bad) {
        buf_printf(b, "<div class=\"warn\" data-bad-lines=\"%lld\">metrics.jsonl: %lld line%s skipped:", (long long)m->n_bad,
                   (long long)m->n_bad, m->n_bad > 1 ? "s" : "");
        for (int64_t i = 0; i < m->n_bad && i < MAX_BAD_KEPT; i++)
            buf_printf(b, "%s line %lld (%s)", i ? ";" : "", (long long)m->bad_line[i], m->bad_why[i]);
        if (m->n_bad > MAX_BAD_KEPT) buf_puts(b, "; ...");
        buf_puts(b, "</div>\n");
    }

    /* key metrics: the named ones, then each reward function */
    static const char *const KEY_METRICS[] = {"reward/mean", "reward", "acc", "eval/acc", "kl", "entropy",
                                              "clip_frac", "len/mean", "len/trunc_frac", "loss", "eval_loss", "lr"};
    buf_puts(b, "<div class=\"tables\">\n<table class=\"final\"><tr><th>metric</th><th>first</th><th>final</th>"
                "<th>min</th><th>max</th></tr>\n");
    for (size_t i = 0; i < sizeof KEY_METRICS / sizeof *KEY_METRICS; i++) {
        row_metric(b, metrics_find(m, KEY_METRICS[i]));
        if (i == 1)
            for (size_t k = 0; k < m->n; k++)
                if (!strncmp(m->s[k].key, "reward/", 7) && strcmp(m->s[k].key, "reward/mean") &&
                    !strchr(m->s[k].key + 7, '/') && !is_stat_suffix(m->s[k].key))
                    row_metric(b, &m->s[k]);
    }
    buf_puts(b, "</table>\n");
    report_patterns_table(b, pat, np);
    buf_puts(b, "</div>\n</header>\n");

    /* main charts */
    buf_puts(b, "<section id=\"training\"><h2>Training</h2>\n<div class=\"charts\">\n");
    {
        SeriesRef sr[64];
        int n = 0;
        static const char *const first[] = {"reward/mean", "reward"};
        for (int i = 0; i < 2; i++) {
            Series *s = metrics_find(m, first[i]);
            if (s) {
                sr[n] = (SeriesRef){s, s->key, n, NULL};
                n++;
            }
        }
        for (size_t k = 0; k < m->n && n < 64; k++) {
            Series *s = &m->s[k];
            if (!strncmp(s->key, "reward/", 7) && strcmp(s->key, "reward/mean") && !strchr(s->key + 7, '/') &&
                !is_stat_suffix(s->key)) {
                sr[n] = (SeriesRef){s, s->key, n, NULL};
                n++;
            }
        }
        for (int i = 0; i < n; i++) ((Series *)sr[i].s)->used = 1;
        chart_svg(b, "reward", "Reward", sr, n, 0);
    }
    static const char *const K_ACC[] = {"acc", "eval/acc"}, *const K_KL[] = {"kl"}, *const K_ENT[] = {"entropy"},
                             *const K_LEN[] = {"len/mean", "len/max"}, *const K_TRUNC[] = {"len/trunc_frac"},
                             *const K_CLIP[] = {"clip_frac"}, *const K_LOSS[] = {"loss", "eval_loss"},
                             *const K_LR[] = {"lr"};
    chart_keys(b, m, "accuracy", "Accuracy (train acc, eval acc)", K_ACC, 2, CHART_UNIT);
    chart_keys(b, m, "loss", "Loss (train, eval)", K_LOSS, 2, 0);
    chart_keys(b, m, "kl", "KL to reference", K_KL, 1, 0);
    chart_keys(b, m, "entropy", "Entropy", K_ENT, 1, 0);
    chart_keys(b, m, "length", "Response length (tokens)", K_LEN, 2, 0);
    chart_keys(b, m, "len/trunc_frac", "Truncated responses (fraction)", K_TRUNC, 1, 0);
    chart_keys(b, m, "clip_frac", "Clip fraction", K_CLIP, 1, 0);
    chart_keys(b, m, "lr", "Learning rate", K_LR, 1, 0);
    buf_puts(b, "</div>\n</section>\n");
    report_fdpg(b, m, ft);

    if (np) {
        SeriesRef fr[MAX_PATTERNS], ar[MAX_PATTERNS];
        for (int i = 0; i < np; i++) {
            fr[i] = (SeriesRef){pat[i].freq, pat[i].name, i, NULL};
            ar[i] = (SeriesRef){pat[i].acc, pat[i].name, i, NULL};
            if (pat[i].freq) pat[i].freq->used = 1;
            if (pat[i].acc) pat[i].acc->used = 1;
        }
        buf_puts(b, "<section id=\"patterns\"><h2>Reasoning patterns</h2>\n<div class=\"charts\">\n");
        chart_svg(b, "pattern/freq", "Pattern share of rollouts", fr, np, CHART_UNIT);
        chart_svg(b, "pattern/acc", "Pattern success rate", ar, np, CHART_UNIT);
        buf_puts(b, "</div>\n</section>\n");
    }
    report_ads(b, m);

    /* everything else, one small chart per key, sorted by name */
    Series **rest = malloc((m->n ? m->n : 1) * sizeof *rest);
    if (!rest) {
        b->oom = 1;
        return;
    }
    size_t nr = 0;
    for (size_t k = 0; k < m->n; k++)
        if (!m->s[k].used) rest[nr++] = &m->s[k];
    qsort(rest, nr, sizeof *rest, cmp_series_key);
    if (nr) {
        buf_puts(b, "<section id=\"other\"><h2>Other metrics</h2>\n<div class=\"charts\">\n");
        for (size_t k = 0; k < nr; k++) {
            SeriesRef sr = {rest[k], rest[k]->key, 0, NULL};
            chart_svg(b, rest[k]->key, rest[k]->key, &sr, 1, CHART_SMALL);
        }
        buf_puts(b, "</div>\n</section>\n");
    }
    free(rest);
}

int report_write(const char *run_dir, const char *out_path) {
    if (!run_dir || !*run_dir) return tr_err(TR_EINVAL, "report: no run directory given");
    size_t dl = strlen(run_dir);
    char *path = malloc(dl + 32), *outp = NULL;
    Metrics m;
    memset(&m, 0, sizeof m);
    Fit fit;
    Buf b = {0};
    int rc = TR_OK;
    if (!path) return tr_err(TR_ENOMEM, "out of memory");
    snprintf(path, dl + 32, "%s/metrics.jsonl", run_dir);
    if ((rc = metrics_load(&m, path))) goto cleanup;
    if ((rc = fit_read(&fit, run_dir))) goto cleanup;

    report_build(&b, &m, run_dir, &fit);
    snprintf(path, dl + 32, "%s/samples.jsonl", run_dir);
    report_samples(&b, path);

    snprintf(path, dl + 32, "%s/config.yaml", run_dir);
    size_t cl;
    char *cfg = tr_read_file(path, &cl);
    buf_puts(&b, "<section id=\"config\"><h2>Config</h2>\n");
    if (cfg) {
        buf_puts(&b, "<details><summary>config.yaml</summary>\n<pre class=\"config\">");
        buf_esc_n(&b, cfg, cl);
        buf_puts(&b, "</pre></details>\n");
        free(cfg);
    } else {
        tr_err_clear();
        buf_puts(&b, "<p class=\"meta\">no config.yaml in the run directory</p>\n");
    }
    buf_puts(&b, "</section>\n<footer class=\"meta\">written by thinkrl report</footer>\n</body></html>\n");
    if (b.oom) {
        rc = tr_err(TR_ENOMEM, "report: out of memory");
        goto cleanup;
    }
    if (!out_path) {
        if (!(outp = malloc(dl + 16))) {
            rc = tr_err(TR_ENOMEM, "out of memory");
            goto cleanup;
        }
        snprintf(outp, dl + 16, "%s/report.html", run_dir);
        out_path = outp;
    }
    rc = tr_write_file_atomic(out_path, b.p, b.n);
cleanup:
    free(b.p);
    free(outp);
    free(path);
    metrics_free(&m);
    return rc;
}

/* ------------------------------------------------------------ comparison */

#define REPORT_MAX_RUNS 64
#define CONF_MAX_KEYS 4096
#define CONF_MAX_DEPTH 32

/* config.yaml flattened to dotted keys, in file order. */
typedef struct {
    char **key, **val;
    size_t n, cap;
    int state; /* CONF_OK, CONF_MISSING, CONF_BAD */
    char why[200];
} Conf;

enum { CONF_OK, CONF_MISSING, CONF_BAD };

typedef struct {
    const char *dir;
    char *label;
    Metrics m;
    Conf conf;
    Fit fit;
} Run;

static void conf_kv_free(Conf *c) {
    for (size_t i = 0; i < c->n; i++) {
        free(c->key[i]);
        free(c->val[i]);
    }
    free(c->key);
    free(c->val);
}

static int conf_kv_add(Conf *c, const char *key, const char *val, size_t vl) {
    if (c->n >= CONF_MAX_KEYS) return tr_err(TR_EFORMAT, "more than %d keys", CONF_MAX_KEYS);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        char **nk = realloc(c->key, cap * sizeof *nk);
        if (!nk) return tr_err(TR_ENOMEM, "out of memory");
        c->key = nk;
        char **nv = realloc(c->val, cap * sizeof *nv);
        if (!nv) return tr_err(TR_ENOMEM, "out of memory");
        c->val = nv;
        c->cap = cap;
    }
    char *k = strdup(*key ? key : "(document)"), *v = strndup(val, vl);
    if (!k || !v) {
        free(k);
        free(v);
        return tr_err(TR_ENOMEM, "out of memory");
    }
    c->key[c->n] = k;
    c->val[c->n++] = v;
    return TR_OK;
}

/* The value of key (the last one when a mapping repeats it), or NULL. */
static const char *conf_kv_get(const Conf *c, const char *key) {
    for (size_t i = c->n; i-- > 0;)
        if (!strcmp(c->key[i], key)) return c->val[i];
    return NULL;
}

/* Nested mappings become dotted keys (as conf_load_yaml reads them); a list
 * of scalars is one value "[a, b]", a list holding mappings or lists numbers
 * its items (key.0, key.1). Depth and key count are bounded (aliases can
 * nest a document exponentially). */
static int conf_flatten(Conf *c, yaml_document_t *d, yaml_node_t *nd, char *path, size_t plen, size_t cap,
                        int depth) {
    if (!nd) return TR_OK;
    if (depth > CONF_MAX_DEPTH) return tr_err(TR_EFORMAT, "nested deeper than %d", CONF_MAX_DEPTH);
    int rc = TR_OK;
    if (nd->type == YAML_SCALAR_NODE)
        return conf_kv_add(c, path, (const char *)nd->data.scalar.value, nd->data.scalar.length);
    if (nd->type == YAML_MAPPING_NODE) {
        if (nd->data.mapping.pairs.start == nd->data.mapping.pairs.top) return conf_kv_add(c, path, "{}", 2);
        for (yaml_node_pair_t *p = nd->data.mapping.pairs.start; p < nd->data.mapping.pairs.top && !rc; p++) {
            yaml_node_t *k = yaml_document_get_node(d, p->key);
            if (!k || k->type != YAML_SCALAR_NODE) continue; /* complex keys: not a config */
            size_t kl = k->data.scalar.length;
            if (plen + kl + 2 > cap) continue;
            size_t nl = plen;
            if (plen) path[nl++] = '.';
            memcpy(path + nl, k->data.scalar.value, kl);
            path[nl + kl] = 0;
            rc = conf_flatten(c, d, yaml_document_get_node(d, p->value), path, nl + kl, cap, depth + 1);
            path[plen] = 0;
        }
        return rc;
    }
    if (nd->type == YAML_SEQUENCE_NODE) {
        int scalars = 1;
        for (yaml_node_item_t *it = nd->data.sequence.items.start; it < nd->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(d, *it);
            scalars &= e && e->type == YAML_SCALAR_NODE;
        }
        if (scalars) {
            Buf v = {0};
            buf_puts(&v, "[");
            for (yaml_node_item_t *it = nd->data.sequence.items.start; it < nd->data.sequence.items.top; it++) {
                yaml_node_t *e = yaml_document_get_node(d, *it);
                if (it > nd->data.sequence.items.start) buf_puts(&v, ", ");
                buf_put(&v, (const char *)e->data.scalar.value, e->data.scalar.length);
            }
            buf_puts(&v, "]");
            rc = v.oom ? tr_err(TR_ENOMEM, "out of memory") : conf_kv_add(c, path, v.p, v.n);
            free(v.p);
            return rc;
        }
        int i = 0;
        for (yaml_node_item_t *it = nd->data.sequence.items.start; it < nd->data.sequence.items.top && !rc;
             it++, i++) {
            char ix[16];
            int il = snprintf(ix, sizeof ix, "%s%d", plen ? "." : "", i);
            if (plen + (size_t)il + 1 > cap) continue;
            memcpy(path + plen, ix, (size_t)il + 1);
            rc = conf_flatten(c, d, yaml_document_get_node(d, *it), path, plen + (size_t)il, cap, depth + 1);
            path[plen] = 0;
        }
    }
    return rc;
}

/* Reads dir/config.yaml into c. A missing or unreadable file is not an
 * error of the comparison: c->state and c->why say what happened. */
static int conf_read(Conf *c, const char *dir) {
    size_t len;
    int oom;
    char *text = read_optional(dir, "config.yaml", &len, &oom);
    if (oom) return tr_err(TR_ENOMEM, "out of memory");
    if (!text) {
        c->state = CONF_MISSING;
        return TR_OK;
    }
    yaml_parser_t p;
    yaml_document_t d;
    int rc = TR_OK;
    if (!yaml_parser_initialize(&p)) {
        free(text);
        return tr_err(TR_ENOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &d)) {
        c->state = CONF_BAD;
        snprintf(c->why, sizeof c->why, "line %lu: %s", (unsigned long)p.problem_mark.line + 1,
                 p.problem ? p.problem : "YAML error");
    } else {
        char keybuf[1024] = "";
        rc = conf_flatten(c, &d, yaml_document_get_root_node(&d), keybuf, 0, sizeof keybuf, 0);
        if (rc == TR_EFORMAT) {
            c->state = CONF_BAD;
            snprintf(c->why, sizeof c->why, "%s", tr_errmsg());
            tr_err_clear();
            rc = TR_OK;
        }
        yaml_document_delete(&d);
    }
    yaml_parser_delete(&p);
    free(text);
    return rc;
}

/* Whether two config values (NULL: absent) say the same: equal text, or
 * both numbers of equal value ("1e-4" and "0.0001"). */
static int conf_same(const char *a, const char *b) {
    if (!a || !b) return a == b;
    if (!strcmp(a, b)) return 1;
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    return ea != a && eb != b && !*ea && !*eb && isfinite(x) && x == y;
}

/* The last n path components of dir ("runs/a/" -> "a", n = 2:
 * "runs/a"); fewer when dir has fewer; "" for "/". */
static char *dir_tail(const char *dir, int n) {
    size_t e = strlen(dir);
    while (e > 1 && dir[e - 1] == '/') e--;
    size_t s = e;
    for (int k = 0; k < n; k++) {
        size_t t = s;
        while (t > 0 && dir[t - 1] == '/') t--; /* the separator before the part kept so far */
        if (k && t == 0) break;
        size_t u = t;
        while (u > 0 && dir[u - 1] != '/') u--;
        if (u == t) break;
        s = u;
    }
    return strndup(dir + s, e - s);
}

static int label_used(char *const *l, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (l[i] && !strcmp(l[i], s)) return 1;
    return 0;
}

/* Labels for the runs: the given ones (NULL or "" entries fall back), else
 * each directory's last component, or its last two when that collides.
 * Remaining duplicates become "x (1)", "x (2)", never equal to another
 * label. out[] gets malloc'ed strings. */
static int compare_labels(const char *const *dirs, const char *const *given, int n, char **out) {
    char **base = calloc((size_t)n, sizeof *base);
    int rc = TR_OK;
    if (!base) return tr_err(TR_ENOMEM, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        int own = given && given[i] && *given[i];
        base[i] = own ? strdup(given[i]) : dir_tail(dirs[i], 1);
        if (base[i] && !*base[i]) {
            free(base[i]);
            base[i] = strdup(dirs[i]);
        }
        if (!base[i]) rc = tr_err(TR_ENOMEM, "out of memory");
    }
    /* a directory's own name that collides: add its parent (all collisions
     * are found before any label changes) */
    unsigned char *dup = calloc((size_t)n, 1);
    if (!dup && !rc) rc = tr_err(TR_ENOMEM, "out of memory");
    for (int i = 0; i < n && !rc; i++)
        for (int j = 0; j < n; j++) dup[i] |= j != i && !strcmp(base[i], base[j]);
    for (int i = 0; i < n && !rc; i++) {
        if (!dup[i] || (given && given[i] && *given[i])) continue;
        char *t = dir_tail(dirs[i], 2);
        if (!t) rc = tr_err(TR_ENOMEM, "out of memory");
        if (t && *t) {
            free(base[i]);
            base[i] = t;
        } else {
            free(t);
        }
    }
    for (int i = 0; i < n && !rc; i++) {
        int occ = 0, same = 0;
        for (int j = 0; j < n; j++) {
            if (j == i || strcmp(base[i], base[j])) continue;
            same = 1;
            occ += j < i;
        }
        if (!same && !label_used(out, i, base[i])) {
            out[i] = strdup(base[i]);
        } else {
            size_t cap = strlen(base[i]) + 24;
            char *l = malloc(cap);
            for (int k = occ + 1; l; k++) {
                snprintf(l, cap, "%s (%d)", base[i], k);
                if (!label_used(out, i, l) && !label_used(base, n, l)) break;
            }
            out[i] = l;
        }
        if (!out[i]) rc = tr_err(TR_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) free(base[i]);
    free(base);
    free(dup);
    return rc;
}

/* A short line in the run's style (colour and dash), as in the charts' legends. */
static void run_key(Buf *b, int colour) {
    buf_puts(b, "<svg class=\"key\" width=\"26\" height=\"10\" viewBox=\"0 0 26 10\"><line x1=\"1\" y1=\"5\" x2=\"25\" "
                "y2=\"5\"");
    stroke_attrs(b, colour, 3);
    buf_puts(b, "/></svg>");
}

/* The start of a summary row: <tr data-run=LABEL><td>key LABEL</td>. */
static void run_row_head(Buf *b, const char *label, int i) {
    buf_puts(b, "<tr data-run=\"");
    buf_esc(b, label);
    buf_puts(b, "\"><td>");
    run_key(b, i);
    buf_esc(b, label);
    buf_puts(b, "</td>");
}

/* One summary cell: class "best" on the best value of its column, judged
 * by score (NULL: the values themselves). */
static void cell(Buf *b, const char *col, const double *v, const double *score, int i, int n, int better) {
    if (isnan(v[i])) {
        buf_printf(b, "<td data-col=\"%s\" class=\"none\">-</td>", col);
        return;
    }
    const double *sc = score ? score : v;
    int best = better != 0, have = 0;
    for (int j = 0; j < n; j++) {
        if (isnan(sc[j])) continue;
        have++;
        if (better > 0 ? sc[j] > sc[i] : sc[j] < sc[i]) best = 0;
    }
    char t[32];
    if (!strcmp(col, "target_step")) fmt_step(t, sizeof t, v[i]);
    else fmt_val(t, sizeof t, v[i]);
    buf_printf(b, "<td data-col=\"%s\" data-value=\"%.10g\"%s>%s</td>", col, v[i],
               best && have > 1 ? " class=\"best\"" : "", t);
}

/* The mean of the last k points of s (one step's batch is noisy); NAN
 * without points. */
static double series_tail_mean(const Series *s, size_t k) {
    if (!s || !s->n) return NAN;
    size_t k0 = s->n > k ? s->n - k : 0;
    double sum = 0;
    for (size_t i = k0; i < s->n; i++) sum += s->pts[i].y;
    return sum / (double)(s->n - k0);
}

enum { COL_EVAL, COL_EVAL_BEST, COL_ACC, COL_TACO, COL_ROLLBACKS, COL_PARKED, COL_TARGET, N_COLS };

/* The headline numbers of a run; NAN where the run lacks the metric. */
static void run_summary(const Metrics *m, double target, double *v) {
    for (int c = 0; c < N_COLS; c++) v[c] = NAN;
    const Series *s = metrics_find(m, "eval/acc");
    if (s && s->n) {
        v[COL_EVAL] = s->pts[s->n - 1].y;
        v[COL_EVAL_BEST] = -INFINITY;
        for (size_t k = 0; k < s->n; k++) {
            v[COL_EVAL_BEST] = fmax(v[COL_EVAL_BEST], s->pts[k].y);
            if (isnan(v[COL_TARGET]) && s->pts[k].y >= target) v[COL_TARGET] = s->pts[k].x;
        }
    }
    v[COL_ACC] = series_tail_mean(metrics_find(m, "acc"), 10);
    static const struct {
        int col;
        const char *key;
    } LAST[] = {{COL_TACO, "taco/consistency_rate"}, {COL_ROLLBACKS, "rrs/rollbacks"}, {COL_PARKED, "ads/parked"}};
    for (size_t i = 0; i < sizeof LAST / sizeof *LAST; i++)
        if ((s = metrics_find(m, LAST[i].key)) && s->n) v[LAST[i].col] = s->pts[s->n - 1].y;
}

static void compare_summary(Buf *b, const Run *r, int n, double target) {
    double(*v)[N_COLS] = malloc((size_t)n * sizeof *v);
    if (!v) {
        b->oom = 1;
        return;
    }
    for (int i = 0; i < n; i++) run_summary(&r[i].m, target, v[i]);
    static const struct {
        const char *id;
        int better; /* +1 higher is better, -1 lower, 0 neither */
    } COLS[N_COLS] = {{"eval_final", 1}, {"eval_best", 1}, {"train_acc", 1}, {"taco", 1},
                      {"rollbacks", 0},  {"parked", 0},    {"target_step", -1}};
    char tg[32];
    snprintf(tg, sizeof tg, "%g", target);
    buf_printf(b, "<section id=\"summary\"><h2>Summary</h2>\n<table class=\"summary\" data-target=\"%s\"><tr><th>run</th>"
                  "<th>eval/acc final</th><th>eval/acc best</th><th title=\"mean of the last 10 steps of acc\">"
                  "train acc (last 10)</th><th>taco/consistency_rate</th><th title=\"cumulative: the last value\">"
                  "rrs/rollbacks</th><th>ads/parked</th><th>steps to eval/acc &ge; %s</th></tr>\n",
               tg, tg);
    for (int i = 0; i < n; i++) {
        run_row_head(b, r[i].label, i);
        for (int c = 0; c < N_COLS; c++) {
            double col[REPORT_MAX_RUNS];
            for (int j = 0; j < n; j++) col[j] = v[j][c];
            cell(b, COLS[c].id, col, NULL, i, n, COLS[c].better);
        }
        buf_puts(b, "</tr>\n");
    }
    buf_puts(b, "</table>\n</section>\n");
    free(v);
}

/* The requested value of moment name that the runs' fits agree on: NAN
 * when no run's fit has it, or when they differ (*differ set). */
static double compare_requested(const Run *r, int n, const char *name, int *differ) {
    double req = NAN;
    *differ = 0;
    for (int i = 0; i < n; i++) {
        double q = fit_requested(&r[i].fit, name);
        if (isnan(q)) continue;
        if (isnan(req)) req = q;
        else if (q != req) *differ = 1;
    }
    return *differ ? NAN : req;
}

/* The union of the runs' fdpg/moment/NAME keys, first-appearance order. */
static int compare_moments(const Run *r, int n, const char **out, int max) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        Series *mom[64];
        int nm = fdpg_moments(&r[i].m, mom, 64);
        for (int q = 0; q < nm && k < max; q++) {
            int seen = 0;
            for (int j = 0; j < k && !seen; j++) seen = !strcmp(out[j], mom[q]->key);
            if (!seen) out[k++] = mom[q]->key;
        }
    }
    return k;
}

/* The f-DPG summary when a run has fdpg/ metrics: per run the mean of the
 * last 10 steps of each main f-DPG metric some run has, one row
 * <tr data-run> each, cells <td data-col=KEY-without-"fdpg/"> as in the
 * summary. A moment's best cell is the one closest to the requested value
 * (when the fits agree on it). */
static void compare_fdpg_summary(Buf *b, const Run *r, int n) {
    int any = 0;
    for (int i = 0; i < n; i++) any |= fdpg_present(&r[i].m);
    if (!any) return;
    static const struct {
        const char *key, *head;
        int better;
    } FC[] = {{"fdpg/kl_p_pi", "KL(p||pi)", -1},   {"fdpg/tv_p_pi", "TV(p, pi)", -1},
              {"fdpg/kl_pi_a", "KL(pi||a)", 0},    {"fdpg/b_rate", "E_pi[b]", 1},
              {"fdpg/reward", "E_pi[r]", 1},       {"fdpg/distinct_2", "distinct-2", 1}};
    enum { NFC = sizeof FC / sizeof *FC };
    const char *mk[64];
    int nm = compare_moments(r, n, mk, 64);
    /* columns: the fixed ones some run has, then the moments */
    const char *ck[NFC + 64];
    int cb[NFC + 64], nc = 0;
    for (int c = 0; c < NFC; c++) {
        int has = 0;
        for (int i = 0; i < n && !has; i++) has = metrics_find(&r[i].m, FC[c].key) != NULL;
        if (has) {
            ck[nc] = FC[c].key;
            cb[nc++] = FC[c].better;
        }
    }
    for (int q = 0; q < nm; q++) {
        ck[nc] = mk[q];
        cb[nc++] = -2; /* closest to the requested value */
    }
    double *v = malloc((size_t)n * (size_t)(nc ? nc : 1) * sizeof *v);
    if (!v) {
        b->oom = 1;
        return;
    }
    for (int i = 0; i < n; i++)
        for (int c = 0; c < nc; c++) v[i * nc + c] = series_tail_mean(metrics_find(&r[i].m, ck[c]), 10);

    buf_puts(b, "<section id=\"fdpg-summary\"><h2>f-DPG summary</h2>\n<p class=\"meta\">Means of the last 10 steps; "
                "for a moment the best run is the closest to the requested value.</p>\n<table class=\"summary fdpg\">"
                "<tr><th>run</th>");
    for (int c = 0; c < nc; c++) {
        buf_puts(b, "<th title=\"mean of the last 10 steps\">");
        if (cb[c] == -2) {
            const char *name = ck[c] + strlen(FDPG_MOMENT);
            int differ;
            double req = compare_requested(r, n, name, &differ);
            buf_puts(b, "E_pi[phi] ");
            buf_esc(b, name);
            if (!isnan(req)) {
                char t[32];
                fmt_val(t, sizeof t, req);
                buf_printf(b, " <small>(requested %s)</small>", t);
            }
        } else {
            for (int f = 0; f < NFC; f++)
                if (!strcmp(FC[f].key, ck[c])) buf_esc(b, FC[f].head);
        }
        buf_puts(b, "</th>");
    }
    buf_puts(b, "</tr>\n");
    for (int i = 0; i < n; i++) {
        run_row_head(b, r[i].label, i);
        for (int c = 0; c < nc; c++) {
            double col[REPORT_MAX_RUNS], score[REPORT_MAX_RUNS];
            int better = cb[c];
            const double *sc = NULL;
            for (int j = 0; j < n; j++) col[j] = v[j * nc + c];
            if (better == -2) {
                int differ;
                double req = compare_requested(r, n, ck[c] + strlen(FDPG_MOMENT), &differ);
                better = isnan(req) ? 0 : -1;
                for (int j = 0; j < n; j++) score[j] = fabs(col[j] - req);
                sc = score;
            }
            char id[160];
            snprintf(id, sizeof id, "%s", ck[c] + 5); /* without "fdpg/" */
            Buf ce = {0}; /* the column id, escaped for the attribute */
            buf_esc(&ce, id);
            cell(b, ce.p ? ce.p : "", col, sc, i, n, better);
            if (ce.oom) b->oom = 1;
            free(ce.p);
        }
        buf_puts(b, "</tr>\n");
    }
    buf_puts(b, "</table>\n</section>\n");
    free(v);
}

/* Config keys whose values differ between the runs that have a readable
 * config.yaml, in first-appearance order; a key some of them lack counts. */
static void compare_config(Buf *b, const Run *r, int n) {
    buf_puts(b, "<section id=\"config-diff\"><h2>Config differences</h2>\n");
    int nc = 0;
    for (int i = 0; i < n; i++) {
        if (r[i].conf.state == CONF_OK) {
            nc++;
            continue;
        }
        buf_puts(b, "<p class=\"meta conf-note\" data-run=\"");
        buf_esc(b, r[i].label);
        buf_puts(b, "\">");
        buf_esc(b, r[i].label);
        if (r[i].conf.state == CONF_MISSING) {
            buf_puts(b, ": no config.yaml</p>\n");
        } else {
            buf_puts(b, ": config.yaml unreadable (");
            buf_esc(b, r[i].conf.why);
            buf_puts(b, "), left out</p>\n");
        }
    }
    if (nc < 2) {
        buf_puts(b, "<p class=\"meta\">fewer than two runs have a readable config.yaml: nothing to compare</p>\n"
                    "</section>\n");
        return;
    }
    size_t nkeys = 0, ndiff = 0;
    for (int i = 0; i < n; i++) {
        const Conf *c = &r[i].conf;
        if (c->state != CONF_OK) continue;
        for (size_t k = 0; k < c->n; k++) {
            const char *key = c->key[k];
            int seen = 0; /* by an earlier run, or earlier in this file */
            for (int j = 0; j < i && !seen; j++) seen = r[j].conf.state == CONF_OK && conf_kv_get(&r[j].conf, key);
            for (size_t q = 0; q < k && !seen; q++) seen = !strcmp(c->key[q], key);
            if (seen) continue;
            nkeys++;
            const char *v0 = conf_kv_get(c, key);
            int differ = 0;
            for (int j = 0; j < n; j++)
                if (r[j].conf.state == CONF_OK) differ |= !conf_same(v0, conf_kv_get(&r[j].conf, key));
            if (!differ) continue;
            if (!ndiff++) {
                buf_puts(b, "<table class=\"config-diff\"><tr><th>key</th>");
                for (int j = 0; j < n; j++) {
                    if (r[j].conf.state != CONF_OK) continue;
                    buf_puts(b, "<th>");
                    run_key(b, j);
                    buf_esc(b, r[j].label);
                    buf_puts(b, "</th>");
                }
                buf_puts(b, "</tr>\n");
            }
            buf_puts(b, "<tr data-key=\"");
            buf_esc(b, key);
            buf_puts(b, "\"><td>");
            buf_esc(b, key);
            buf_puts(b, "</td>");
            for (int j = 0; j < n; j++) {
                if (r[j].conf.state != CONF_OK) continue;
                const char *vj = conf_kv_get(&r[j].conf, key);
                buf_puts(b, "<td data-run=\"");
                buf_esc(b, r[j].label);
                buf_puts(b, vj ? "\">" : "\" class=\"none\">-");
                if (vj) buf_esc_cut(b, vj, 200);
                buf_puts(b, "</td>");
            }
            buf_puts(b, "</tr>\n");
        }
    }
    if (ndiff) buf_puts(b, "</table>\n");
    buf_printf(b, "<p class=\"meta\" data-config-keys=\"%zu\" data-config-differ=\"%zu\">%zu of %zu keys differ</p>\n",
               nkeys, ndiff, ndiff, nkeys);
    buf_puts(b, "</section>\n");
}

/* One overlaid chart: key from every run that has it, in the run's style. */
static void compare_chart_marks(Buf *b, const Run *r, int n, const char *key, const char *title, unsigned flags,
                                const Marks *mk) {
    SeriesRef sr[REPORT_MAX_RUNS];
    for (int i = 0; i < n; i++) sr[i] = (SeriesRef){metrics_find(&r[i].m, key), r[i].label, i, r[i].label};
    chart_svg_marks(b, key, title, sr, n, flags, mk);
}

static void compare_chart(Buf *b, const Run *r, int n, const char *key, const char *title, unsigned flags) {
    compare_chart_marks(b, r, n, key, title, flags, NULL);
}

/* The f-DPG curves of the runs (one per divergence, say) overlaid: KL(p||pi)
 * with each run's proposal updates dotted in its colour, TV(p, pi),
 * KL(pi||a), E_pi[b], every moment with its requested value dashed (one
 * grey line when the fits agree, else one per run in its colour), E_pi[r]
 * and distinct-2. Nothing without fdpg/ metrics. */
static void compare_fdpg(Buf *b, const Run *r, int n) {
    int any = 0;
    for (int i = 0; i < n; i++) any |= fdpg_present(&r[i].m);
    if (!any) return;
    buf_puts(b, "<section id=\"fdpg-curves\"><h2>f-DPG</h2>\n<div class=\"charts\">\n");
    Mark *ev = malloc(256 * sizeof *ev);
    char(*evlab)[96] = malloc(256 * sizeof *evlab);
    int ne = 0;
    if (!ev || !evlab) b->oom = 1;
    for (int i = 0; i < n && ev && evlab; i++)
        for (size_t k = 0; k < r[i].m.nev && ne < 256; k++) {
            const Event *e = &r[i].m.ev[k];
            if (strcmp(e->name, FDPG_Q_UPDATE)) continue;
            char st[32];
            fmt_step(st, sizeof st, e->x);
            snprintf(evlab[ne], sizeof evlab[ne], "%.60s: q updated at step %s", r[i].label, st);
            ev[ne] = (Mark){e->x, i, FDPG_Q_UPDATE, evlab[ne]};
            ne++;
        }
    Marks kmk = {NULL, 0, ev, ne, "proposal update"};
    compare_chart_marks(b, r, n, "fdpg/kl_p_pi", "KL(p||pi) to the target (fdpg/kl_p_pi, lower is better)", 0, &kmk);
    compare_chart(b, r, n, "fdpg/tv_p_pi", "TV(p, pi) to the target (fdpg/tv_p_pi, lower is better)", CHART_UNIT);
    compare_chart(b, r, n, "fdpg/kl_pi_a", "KL(pi||a) from the base model (fdpg/kl_pi_a)", 0);
    compare_chart(b, r, n, "fdpg/b_rate", "Constraint satisfied: E_pi[b] (fdpg/b_rate)", CHART_UNIT);
    free(ev);
    free(evlab);
    const char *mk[64];
    int nm = compare_moments(r, n, mk, 64);
    for (int q = 0; q < nm; q++) {
        const char *name = mk[q] + strlen(FDPG_MOMENT);
        int differ, nt = 0;
        double req = compare_requested(r, n, name, &differ);
        Mark tg[REPORT_MAX_RUNS];
        char lab[REPORT_MAX_RUNS][96], t[32];
        if (!isnan(req)) {
            fmt_val(t, sizeof t, req);
            snprintf(lab[0], sizeof lab[0], "requested %s", t);
            tg[nt++] = (Mark){req, -1, name, lab[0]};
        } else if (differ) {
            for (int i = 0; i < n; i++) {
                double qv = fit_requested(&r[i].fit, name);
                if (isnan(qv)) continue;
                fmt_val(t, sizeof t, qv);
                snprintf(lab[nt], sizeof lab[nt], "%.60s: requested %s", r[i].label, t);
                tg[nt] = (Mark){qv, i, name, lab[nt]};
                nt++;
            }
        }
        char title[300];
        snprintf(title, sizeof title, "Moment %s: E_pi[phi] (%s)", name, mk[q]);
        Marks mm = {tg, nt, NULL, 0, NULL};
        compare_chart_marks(b, r, n, mk[q], title, CHART_UNIT, &mm);
    }
    compare_chart(b, r, n, "fdpg/reward", "Reward: E_pi[r] (fdpg/reward)", 0);
    compare_chart(b, r, n, "fdpg/distinct_2", "Diversity: distinct-2 (fdpg/distinct_2)", CHART_UNIT);
    buf_puts(b, "</div>\n</section>\n");
}

static void compare_build(Buf *b, const Run *r, int n, double target) {
    buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>thinkrl comparison: ");
    for (int i = 0; i < n; i++) {
        if (i) buf_puts(b, " vs ");
        buf_esc(b, r[i].label);
    }
    buf_printf(b, "</title>\n<style>\n%s</style>\n</head><body>\n<header>\n<h1>Comparison of %d runs</h1>\n", CSS, n);
    buf_puts(b, "<table class=\"runs\"><tr><th>run</th><th>directory</th><th>steps</th></tr>\n");
    for (int i = 0; i < n; i++) {
        const Metrics *m = &r[i].m;
        char s0[32], s1[32];
        fmt_step(s0, sizeof s0, m->steps[0]);
        fmt_step(s1, sizeof s1, m->steps[m->nsteps - 1]);
        buf_puts(b, "<tr data-run=\"");
        buf_esc(b, r[i].label);
        buf_puts(b, "\"><td>");
        run_key(b, i);
        buf_esc(b, r[i].label);
        buf_puts(b, "</td><td class=\"path\">");
        buf_esc(b, r[i].dir);
        buf_printf(b, "</td><td data-steps=\"%zu\">%zu <small>(step %s to %s)</small>", m->nsteps, m->nsteps, s0, s1);
        if (m->n_bad)
            buf_printf(b, " <span class=\"warn-inline\" data-bad-lines=\"%lld\">%lld bad line%s skipped</span>",
                       (long long)m->n_bad, (long long)m->n_bad, m->n_bad > 1 ? "s" : "");
        buf_puts(b, "</td></tr>\n");
    }
    buf_puts(b, "</table>\n</header>\n");

    compare_summary(b, r, n, target);
    compare_fdpg_summary(b, r, n);
    compare_config(b, r, n);

    static const struct {
        const char *key, *title;
        unsigned flags;
    } CHARTS[] = {{"eval/acc", "Eval accuracy (eval/acc)", CHART_UNIT},
                  {"acc", "Train accuracy (acc)", CHART_UNIT},
                  {"reward/mean", "Mean reward (reward/mean)", 0},
                  {"taco/consistency_rate", "Consistency rate (taco/consistency_rate)", CHART_UNIT},
                  {"kl", "KL to reference (kl)", 0},
                  {"entropy", "Entropy", 0},
                  {"len/mean", "Response length (len/mean)", 0},
                  {"grad_norm", "Gradient norm (grad_norm)", 0},
                  {"rrs/rollbacks", "Rollbacks, cumulative (rrs/rollbacks)", 0},
                  {"rrs/deferred", "Deferred (rrs/deferred)", 0},
                  {"ads/parked", "Parked prompts (ads/parked)", 0}};
    buf_puts(b, "<section id=\"curves\"><h2>Curves</h2>\n<div class=\"charts\">\n");
    for (size_t c = 0; c < sizeof CHARTS / sizeof *CHARTS; c++)
        compare_chart(b, r, n, CHARTS[c].key, CHARTS[c].title, CHARTS[c].flags);
    /* pattern/NAME/freq of any run, in first-appearance order */
    const char *pk[MAX_PATTERNS];
    int np = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < r[i].m.n && np < MAX_PATTERNS; k++) {
            const char *key = r[i].m.s[k].key;
            size_t kl = strlen(key);
            if (kl <= 13 || strncmp(key, "pattern/", 8) || strcmp(key + kl - 5, "/freq")) continue;
            int seen = 0;
            for (int q = 0; q < np && !seen; q++) seen = !strcmp(pk[q], key);
            if (!seen) pk[np++] = key;
        }
    for (int q = 0; q < np; q++) {
        char title[300];
        snprintf(title, sizeof title, "Share of pattern %.*s (%s)", (int)(strlen(pk[q]) - 13), pk[q] + 8, pk[q]);
        compare_chart(b, r, n, pk[q], title, CHART_UNIT);
    }
    buf_puts(b, "</div>\n</section>\n");
    compare_fdpg(b, r, n);
    buf_puts(b, "<footer class=\"meta\">written by thinkrl report</footer>\n</body></html>\n");
}

int report_compare_target(const char *const *run_dirs, const char *const *labels, int n, double target,
                          const char *out_path) {
    if (!run_dirs || n < 1) return tr_err(TR_EINVAL, "report: no run directories given");
    if (n > REPORT_MAX_RUNS) return tr_err(TR_EINVAL, "report: %d runs, at most %d can be compared", n, REPORT_MAX_RUNS);
    if (!out_path || !*out_path) return tr_err(TR_EINVAL, "report: a comparison needs an output file (--out FILE)");
    if (!isfinite(target)) return tr_err(TR_EINVAL, "report: the eval/acc target must be a finite number");
    for (int i = 0; i < n; i++)
        if (!run_dirs[i] || !*run_dirs[i]) return tr_err(TR_EINVAL, "report: run %d: no directory given", i + 1);
    Run *r = calloc((size_t)n, sizeof *r);
    char **lab = calloc((size_t)n, sizeof *lab);
    char *path = NULL;
    Buf b = {0};
    int rc = TR_OK;
    if (!r || !lab) {
        rc = tr_err(TR_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = compare_labels(run_dirs, labels, n, lab))) goto cleanup;
    for (int i = 0; i < n; i++) {
        r[i].dir = run_dirs[i];
        r[i].label = lab[i];
        size_t dl = strlen(run_dirs[i]);
        free(path);
        if (!(path = malloc(dl + 32))) {
            rc = tr_err(TR_ENOMEM, "out of memory");
            goto cleanup;
        }
        snprintf(path, dl + 32, "%s/metrics.jsonl", run_dirs[i]);
        if ((rc = metrics_load(&r[i].m, path))) {
            tr_err_ctx(rc, "run %d of %d ('%s')", i + 1, n, run_dirs[i]);
            goto cleanup;
        }
        if ((rc = conf_read(&r[i].conf, run_dirs[i]))) goto cleanup;
        if ((rc = fit_read(&r[i].fit, run_dirs[i]))) goto cleanup;
    }
    compare_build(&b, r, n, target);
    if (b.oom) {
        rc = tr_err(TR_ENOMEM, "report: out of memory");
        goto cleanup;
    }
    rc = tr_write_file_atomic(out_path, b.p, b.n);
cleanup:
    if (r)
        for (int i = 0; i < n; i++) {
            metrics_free(&r[i].m);
            conf_kv_free(&r[i].conf);
        }
    if (lab)
        for (int i = 0; i < n; i++) free(lab[i]);
    free(lab);
    free(r);
    free(path);
    free(b.p);
    return rc;
}

int report_compare(const char *const *run_dirs, const char *const *labels, int n, const char *out_path) {
    return report_compare_target(run_dirs, labels, n, REPORT_TARGET_DEFAULT, out_path);
}
