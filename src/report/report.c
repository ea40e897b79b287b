/* The run report: metrics.jsonl -> one self-contained report.html with inline
 * SVG line charts (nice ticks, grid, legend, a moving average over long series), a header
 * with final values and pattern-share shifts, the last samples and the config.
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

typedef struct {
    Series *s; /* first-appearance order */
    size_t n, cap;
    size_t *tab; /* open addressing: series index + 1, 0 = empty */
    size_t tcap;
    double *steps; /* the step of every valid line */
    size_t nsteps, capsteps;
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

/* Adds every finite number under obj as a point at step x, keys joined by '/'. */
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
        double x = cJSON_IsNumber(st) && isfinite(st->valuedouble) ? st->valuedouble : prev_step + 1;
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
    int colour; /* index into PALETTE x DASHES */
} SeriesRef;

enum { CHART_UNIT = 1, CHART_SMALL = 2 };

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

/* One chart: <svg class="chart" data-metric=ID> with title, legend, grid,
 * axes with tick labels, and one <path class="series" data-series=KEY> per
 * series (plus <path class="smooth"> when long, <circle class="marker"> when
 * sparse). Series without points are left out; nothing is written if none
 * has any. */
static void chart_svg(Buf *b, const char *id, const char *title, const SeriesRef *sr, int ns,
                      unsigned flags) {
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

    /* Legend layout first: it sets the top margin. */
    Frame f;
    f.W = small ? 320 : 600;
    f.L = small ? 48 : 58;
    double R = small ? 10 : 16, fs = small ? 10 : 11, cw = fs * 0.62;
    f.PW = f.W - f.L - R;
    double lx[64], ly[64], cx = f.L, row = 0, title_h = small ? 18 : 22;
    for (int i = 0; i < n; i++) {
        double w = 18 + cw * (double)strlen(list[i].label) + 12;
        if (cx > f.L && cx + w > f.W - R) {
            cx = f.L;
            row++;
        }
        lx[i] = cx;
        ly[i] = title_h + 8 + row * (fs + 5);
        cx += w;
    }
    f.T = title_h + 14 + (row + 1) * (fs + 5);
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

    /* series */
    double *ys = NULL, *sm = NULL, *ps = NULL; /* values, smoothed, prefix sums */
    for (int i = 0; i < n; i++) {
        const Series *s = list[i].s;
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
        buf_esc(b, s->key);
        buf_puts(b, "\" d=\"");
        path_d(b, &f, s->pts, ys, s->n);
        buf_puts(b, "\"");
        stroke_attrs(b, list[i].colour, smooth ? 1.0 : 1.8);
        if (smooth) buf_puts(b, " stroke-opacity=\"0.3\"");
        buf_puts(b, "><title>");
        buf_esc(b, s->key);
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
            buf_esc(b, s->key);
            buf_puts(b, "\" d=\"");
            path_d(b, &f, s->pts, sm, s->n);
            buf_puts(b, "\"");
            stroke_attrs(b, list[i].colour, 2.0);
            buf_puts(b, "/>\n");
        }
        if (s->n <= 20 || s->n * 3 <= max_pts) {
            for (size_t k = 0; k < s->n; k++) {
                buf_puts(b, "<circle class=\"marker\" data-series=\"");
                buf_esc(b, s->key);
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
        buf_esc(b, list[i].s->key);
        buf_printf(b, "\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"", lx[i], ly[i] - fs * 0.35,
                   lx[i] + 14, ly[i] - fs * 0.35);
        stroke_attrs(b, list[i].colour, 2.5);
        buf_printf(b, "/><text x=\"%.1f\" y=\"%.1f\">", lx[i] + 18, ly[i]);
        buf_esc(b, list[i].label);
        buf_puts(b, "</text></g>");
    }
    buf_puts(b, "</g>\n</svg>\n");
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
    "details summary{cursor:pointer}\n";

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

/* Draws a main chart from fixed keys; marks them used. */
static void chart_keys(Buf *b, Metrics *m, const char *id, const char *title, const char *const *keys, int nk,
                       unsigned flags) {
    SeriesRef sr[8];
    int n = 0;
    for (int i = 0; i < nk && n < 8; i++) {
        Series *s = metrics_find(m, keys[i]);
        if (!s) continue;
        s->used = 1;
        sr[n] = (SeriesRef){s, s->key, n};
        n++;
    }
    chart_svg(b, id, title, sr, n, flags);
}

static void report_build(Buf *b, Metrics *m, const char *run_dir) {
    /* run name: the last path component */
    char name[512];
    size_t rl = strlen(run_dir);
    while (rl > 1 && run_dir[rl - 1] == '/') rl--;
    size_t rs = rl;
    while (rs > 0 && run_dir[rs - 1] != '/') rs--;
    snprintf(name, sizeof name, "%.*s", (int)(rl - rs), run_dir + rs);

    Pattern pat[MAX_PATTERNS];
    int np = collect_patterns(m, pat);
    int rl_run = metrics_find(m, "reward/mean") || metrics_find(m, "reward") || np > 0;
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
               rl_run ? "RL" : sft_run ? "SFT" : "unknown", m->nsteps, m->nsteps, s0, s1, m->n);
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
                sr[n] = (SeriesRef){s, s->key, n};
                n++;
            }
        }
        for (size_t k = 0; k < m->n && n < 64; k++) {
            Series *s = &m->s[k];
            if (!strncmp(s->key, "reward/", 7) && strcmp(s->key, "reward/mean") && !strchr(s->key + 7, '/') &&
                !is_stat_suffix(s->key)) {
                sr[n] = (SeriesRef){s, s->key, n};
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

    if (np) {
        SeriesRef fr[MAX_PATTERNS], ar[MAX_PATTERNS];
        for (int i = 0; i < np; i++) {
            fr[i] = (SeriesRef){pat[i].freq, pat[i].name, i};
            ar[i] = (SeriesRef){pat[i].acc, pat[i].name, i};
            if (pat[i].freq) pat[i].freq->used = 1;
            if (pat[i].acc) pat[i].acc->used = 1;
        }
        buf_puts(b, "<section id=\"patterns\"><h2>Reasoning patterns</h2>\n<div class=\"charts\">\n");
        chart_svg(b, "pattern/freq", "Pattern share of rollouts", fr, np, CHART_UNIT);
        chart_svg(b, "pattern/acc", "Pattern success rate", ar, np, CHART_UNIT);
        buf_puts(b, "</div>\n</section>\n");
    }

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
            SeriesRef sr = {rest[k], rest[k]->key, 0};
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
    Buf b = {0};
    int rc = TR_OK;
    if (!path) return tr_err(TR_ENOMEM, "out of memory");
    snprintf(path, dl + 32, "%s/metrics.jsonl", run_dir);
    if ((rc = metrics_load(&m, path))) goto cleanup;

    report_build(&b, &m, run_dir);
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
