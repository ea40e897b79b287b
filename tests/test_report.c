/* report_write on synthetic run directories (RL with shifting pattern shares,
 * missing keys, null / NaN / Infinity values, a bad line and a truncated last
 * line; SFT resumed with repeated steps; a long run), checked by parsing the
 * HTML: tag balance, charts and series counts, path geometry against the
 * grid lines, nice ticks, legends, escaping, no network references; the ADS
 * difficulty histogram (bars and their counts, arrays that make no curves);
 * report_compare on three runs (summary values, config differences, one
 * overlaid path per run in a fixed colour, label disambiguation, errors);
 * the f-DPG section (event lines that are no steps, proposal updates marked,
 * moment targets from fdpg_fit.json, the lambda fit table) and the f-DPG
 * comparison of four runs, one per divergence. */
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "thinkrl/core.h"
#include "thinkrl/report.h"

static void write_text(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *dir, const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *s = tr_read_file(p, NULL);
    if (!s) fprintf(stderr, "cannot read %s: %s\n", p, tr_errmsg());
    return s;
}

static size_t count_in(const char *a, const char *z, const char *needle) {
    size_t n = 0, nl = strlen(needle);
    for (const char *p = a; (p = strstr(p, needle)) && p + nl <= z; p += nl) n++;
    return n;
}

/* The value of attribute name="..." inside the tag [tag, tag_end). */
static int attr(const char *tag, const char *tag_end, const char *name, char *out, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, " %s=\"", name);
    const char *p = strstr(tag, pat);
    if (!p || p >= tag_end) return 0;
    p += strlen(pat);
    const char *q = strchr(p, '"');
    if (!q || q > tag_end || (size_t)(q - p) >= cap) return 0;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = 0;
    return 1;
}

/* Tag balance: every opened element is closed in order; void elements and
 * self-closed tags excepted. Returns the number of problems. */
static int tag_balance(const char *html) {
    const char *stack[512];
    size_t lens[512];
    int sp = 0, bad = 0;
    static const char *const voids[] = {"meta", "br", "hr", "img", "input", "link", "wbr"};
    for (const char *p = html; (p = strchr(p, '<'));) {
        const char *e = strchr(p, '>');
        if (!e) return bad + 1;
        if (p[1] == '!') {
            p = e + 1;
            continue;
        }
        int closing = p[1] == '/';
        const char *n0 = p + 1 + closing, *n1 = n0;
        while (isalnum((unsigned char)*n1)) n1++;
        size_t nl = (size_t)(n1 - n0);
        if (!nl) {
            fprintf(stderr, "stray '<' at offset %ld\n", (long)(p - html));
            bad++;
        } else if (closing) {
            if (!sp || lens[sp - 1] != nl || strncmp(stack[sp - 1], n0, nl)) {
                fprintf(stderr, "unbalanced </%.*s> at offset %ld\n", (int)nl, n0, (long)(p - html));
                bad++;
            } else {
                sp--;
            }
        } else if (e[-1] != '/') {
            int v = 0;
            for (size_t i = 0; i < sizeof voids / sizeof *voids; i++)
                v |= strlen(voids[i]) == nl && !strncmp(voids[i], n0, nl);
            if (!v && sp < 512) {
                stack[sp] = n0;
                lens[sp++] = nl;
            }
        }
        p = e + 1;
    }
    if (sp) fprintf(stderr, "%d unclosed elements, innermost <%.*s>\n", sp, (int)lens[sp - 1], stack[sp - 1]);
    return bad + sp;
}

typedef struct {
    const char *a, *z; /* the <svg ...> ... </svg> text */
    double W, H;
} Svg;

static int find_chart(const char *html, const char *id, Svg *out) {
    char want[256];
    snprintf(want, sizeof want, " data-metric=\"%s\"", id);
    for (const char *p = html; (p = strstr(p, "<svg ")); p++) {
        const char *e = strchr(p, '>');
        const char *m = strstr(p, want);
        if (!m || m > e) continue;
        out->a = p;
        out->z = strstr(p, "</svg>");
        char vb[128];
        if (!out->z || !attr(p, e, "viewBox", vb, sizeof vb)) return 0;
        double x0, y0;
        if (sscanf(vb, "%lf %lf %lf %lf", &x0, &y0, &out->W, &out->H) != 4 || x0 != 0 || y0 != 0) return 0;
        out->z += 6;
        return 1;
    }
    return 0;
}

#define MAXV 20000

/* Parses the path d="M x,y L x,y ..." of the element with class cls and
 * data-series key inside svg; returns the number of vertices (-1: absent). */
static int series_path(const Svg *s, const char *cls, const char *key, double *xs, double *ys) {
    char want[256];
    snprintf(want, sizeof want, "<path class=\"%s\" data-series=\"%s\"", cls, key);
    const char *p = strstr(s->a, want);
    if (!p || p > s->z) return -1;
    const char *e = strchr(p, '>');
    static char d[MAXV * 24];
    if (!attr(p, e, "d", d, sizeof d)) return -1;
    int n = 0;
    const char *q = d;
    while (*q && n < MAXV) {
        while (*q && (isalpha((unsigned char)*q) || *q == ' ' || *q == ',')) q++;
        if (!*q) break;
        char *end;
        xs[n] = strtod(q, &end);
        if (end == q) return -2;
        q = end;
        while (*q == ',' || *q == ' ') q++;
        ys[n] = strtod(q, &end);
        if (end == q) return -2;
        q = end;
        n++;
    }
    return n;
}

/* Checks a chart: present, n_series series paths with finite, in-viewBox,
 * non-decreasing-x vertices; y ticks nice and evenly spaced. */
static void check_chart(const char *html, const char *id, int n_series) {
    Svg s;
    if (!find_chart(html, id, &s)) {
        CHECK(0, "chart %s missing", id);
        return;
    }
    int got = (int)count_in(s.a, s.z, "<path class=\"series\"");
    CHECK(got == n_series, "chart %s: %d series, expected %d", id, got, n_series);
    CHECK(count_in(s.a, s.z, "class=\"legend-item\"") == (size_t)n_series, "chart %s: legend items", id);
    CHECK(count_in(s.a, s.z, "<text class=\"title\"") == 1, "chart %s: title", id);
    static double xs[MAXV], ys[MAXV];
    for (const char *p = s.a; (p = strstr(p, "<path class=\"series\" data-series=\"")) && p < s.z; p++) {
        char key[256];
        const char *e = strchr(p, '>');
        if (!attr(p, e, "data-series", key, sizeof key)) continue;
        int n = series_path(&s, "series", key, xs, ys);
        CHECK(n >= 1, "chart %s series %s: path unreadable (%d)", id, key, n);
        for (int i = 0; i < n; i++) {
            CHECK(isfinite(xs[i]) && isfinite(ys[i]) && xs[i] >= 0 && xs[i] <= s.W && ys[i] >= 0 && ys[i] <= s.H,
                  "chart %s series %s: vertex %d (%g, %g) outside 0 0 %g %g", id, key, i, xs[i], ys[i], s.W, s.H);
            if (i) CHECK(xs[i] >= xs[i - 1], "chart %s series %s: x goes back at %d", id, key, i);
        }
    }
    /* y ticks: evenly spaced multiples of 1, 2, 2.5 or 5 x 10^k */
    double tv[64];
    int nt = 0;
    for (const char *p = s.a; (p = strstr(p, "data-axis=\"y\" data-value=\"")) && p < s.z && nt < 64; p++)
        tv[nt++] = atof(p + strlen("data-axis=\"y\" data-value=\""));
    CHECK(nt >= 2 && nt <= 12, "chart %s: %d y ticks", id, nt);
    CHECK(count_in(s.a, s.z, "<text class=\"tick\" data-axis=\"y\"") == (size_t)nt, "chart %s: y tick labels", id);
    CHECK(count_in(s.a, s.z, "<text class=\"tick\" data-axis=\"x\"") >= 2, "chart %s: x tick labels", id);
    if (nt >= 2) {
        double st = tv[1] - tv[0];
        double mag = pow(10, floor(log10(st) + 1e-9)), mant = st / mag;
        int nice = fabs(mant - 1) < 1e-6 || fabs(mant - 2) < 1e-6 || fabs(mant - 2.5) < 1e-6 || fabs(mant - 5) < 1e-6;
        CHECK(nice, "chart %s: y tick step %g not nice", id, st);
        for (int i = 0; i < nt; i++) {
            double k = tv[i] / st;
            CHECK(fabs(k - round(k)) < 1e-6, "chart %s: tick %g not a multiple of %g", id, tv[i], st);
            if (i) CHECK(fabs(tv[i] - tv[i - 1] - st) < 1e-9 * fmax(1, fabs(st)) + 1e-12, "chart %s: uneven ticks", id);
        }
    }
}

/* Vertex count of a series in a chart. */
static int n_vertices(const char *html, const char *id, const char *key) {
    Svg s;
    static double xs[MAXV], ys[MAXV];
    if (!find_chart(html, id, &s)) return -1;
    return series_path(&s, "series", key, xs, ys);
}

/* Checks that a series vertex maps back to (step, value) through the grid. */
static void check_point_cls(const char *html, const char *cls, const char *id, const char *key, int idx, double step,
                            double value) {
    Svg s;
    static double xs[MAXV], ys[MAXV];
    if (!find_chart(html, id, &s)) {
        CHECK(0, "chart %s missing", id);
        return;
    }
    int n = series_path(&s, cls, key, xs, ys);
    if (idx < 0) idx += n;
    CHECK(n > idx && idx >= 0, "%s %s: no vertex %d", id, key, idx);
    if (n <= idx || idx < 0) return;
    double yv[64], yp[64], xv[64], xp[64];
    int ny = 0, nx = 0;
    for (const char *p = s.a; (p = strstr(p, "<line class=\"grid\"")) && p < s.z; p++) {
        const char *e = strchr(p, '>');
        char ax[8], v[64], c[64];
        if (!attr(p, e, "data-axis", ax, sizeof ax) || !attr(p, e, "data-value", v, sizeof v)) continue;
        if (ax[0] == 'y' && ny < 64 && attr(p, e, "y1", c, sizeof c)) yv[ny] = atof(v), yp[ny++] = atof(c);
        if (ax[0] == 'x' && nx < 64 && attr(p, e, "x1", c, sizeof c)) xv[nx] = atof(v), xp[nx++] = atof(c);
    }
    CHECK(ny >= 2 && nx >= 2, "%s: grid lines missing", id);
    if (ny < 2 || nx < 2) return;
    double ey = yp[0] + (value - yv[0]) * (yp[ny - 1] - yp[0]) / (yv[ny - 1] - yv[0]);
    double ex = xp[0] + (step - xv[0]) * (xp[nx - 1] - xp[0]) / (xv[nx - 1] - xv[0]);
    CHECK(fabs(ys[idx] - ey) < 0.15 && fabs(xs[idx] - ex) < 0.15,
          "%s %s vertex %d at (%g, %g), expected (%g, %g) for step %g value %g", id, key, idx, xs[idx], ys[idx], ex,
          ey, step, value);
}

static void check_point(const char *html, const char *id, const char *key, int idx, double step, double value) {
    check_point_cls(html, "series", id, key, idx, step, value);
}

static void check_common(const char *html) {
    CHECK(!strncmp(html, "<!DOCTYPE html>", 15), "doctype");
    CHECK(tag_balance(html) == 0, "tags unbalanced");
    size_t nsvg = count_in(html, html + strlen(html), "<svg ");
    CHECK(nsvg == count_in(html, html + strlen(html), "</svg>"), "svg open/close");
    size_t http = count_in(html, html + strlen(html), "http");
    size_t xmlns = count_in(html, html + strlen(html), "xmlns=\"http://www.w3.org/2000/svg\"");
    CHECK(http == xmlns, "%zu 'http' references, %zu of them SVG xmlns", http, xmlns);
    static const char *const banned[] = {"<script", "<img", "<link", "<iframe", "url(", "@import", "src="};
    for (size_t i = 0; i < sizeof banned / sizeof *banned; i++)
        CHECK(!strstr(html, banned[i]), "report contains '%s'", banned[i]);
    CHECK(!strstr(html, ">nan") && !strstr(html, ">-nan") && !strstr(html, ">inf") && !strstr(html, ">-inf"),
          "non-finite number printed");
}

static const char *row(const char *html, const char *attrname, const char *val, char *out, size_t cap) {
    char want[256];
    snprintf(want, sizeof want, "<tr %s=\"%s\">", attrname, val);
    const char *p = strstr(html, want);
    if (!p) return NULL;
    const char *e = strstr(p, "</tr>");
    snprintf(out, cap, "%.*s", (int)(e - p), p);
    return out;
}

static void test_rl(const char *dir) {
    FILE *f;
    char p[512];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    if (!(f = fopen(p, "wb"))) exit(2);
    for (int s = 1; s <= 30; s++) {
        double t = (s - 1) / 29.0;
        fprintf(f, "{\"step\":%d,\"reward/mean\":%.4f,\"reward/accuracy\":%.4f,\"reward/format\":0.9,\"acc\":%.4f", s,
                0.2 + 0.02 * s, 0.1 + 0.02 * s, 0.1 + 0.02 * s);
        if (s == 11) fputs(",\"kl\":NaN", f);
        else if (s != 5) fprintf(f, ",\"kl\":%.4f", 0.001 * s);
        if (s == 7) fputs(",\"entropy\":null", f);
        else fprintf(f, ",\"entropy\":%.3f", 1.0 - 0.01 * s);
        fprintf(f, ",\"clip_frac\":0.05,\"len/mean\":%d,\"len/max\":%d,\"len/trunc_frac\":0.01,\"lr\":1e-05", 40 + s,
                100 + 2 * s);
        if (s == 9) fputs(",\"grad_norm\":\"NaN\"", f);
        else if (s == 13) fputs(",\"grad_norm\":-Infinity", f);
        else fprintf(f, ",\"grad_norm\":%.2f", 1.0 + 0.1 * s);
        fprintf(f, ",\"pattern/direct/freq\":%.4f,\"pattern/direct/acc\":0.3", 0.6 - 0.5 * t);
        fprintf(f, ",\"pattern/column/freq\":%.4f,\"pattern/column/acc\":0.8", 0.1 + 0.6 * t);
        fprintf(f, ",\"pattern/split/freq\":0.2,\"pattern/split/acc\":0.5");
        fprintf(f, ",\"pattern/other/freq\":%.4f", 0.1 - 0.1 * t);
        if (s != 20) fputs(",\"pattern/other/acc\":0.2", f);
        fprintf(f, ",\"perf/step_s\":%.2f,\"odd<key>&\\\"\":%d", 2.0 + 0.1 * s, s);
        if (s % 10 == 0) fprintf(f, ",\"eval/acc\":%.2f", 0.05 * s / 10 + 0.3);
        fputs("}\n", f);
        if (s == 14) fputs("this is not json\n", f);
    }
    fputs("{\"step\":31,\"reward/mean\":0.", f); /* crash mid-write */
    fclose(f);
    write_text(dir, "config.yaml",
               "# run config\nname: \"<script>alert('x')</script> & <b>bold</b>\"\nmodel: nano\nlr: 1.0e-5\n");
    snprintf(p, sizeof p, "%s/samples.jsonl", dir);
    if (!(f = fopen(p, "wb"))) exit(2);
    for (int k = 0; k < 2; k++)
        fprintf(f, "{\"step\":10,\"prompt\":\"q\",\"response\":\"resp-10-%d\",\"reward\":0}\n", k);
    for (int k = 0; k < 6; k++)
        fprintf(f, "{\"step\":30,\"prompt\":\"12+34=\",\"response\":\"resp-30-%d <think>a<b & c</think>\",\"reward\":1,"
                   "\"pattern\":\"column\"}\n", k);
    fclose(f);

    tr_err_clear();
    int rc = report_write(dir, NULL);
    CHECK(rc == TR_OK, "report_write: %d %s", rc, tr_errmsg());
    char *html = slurp(dir, "report.html");
    if (!html) {
        CHECK(0, "no report.html");
        return;
    }
    check_common(html);

    /* charts and their series counts */
    static const struct {
        const char *id;
        int n;
    } CH[] = {{"reward", 3},       {"accuracy", 2},       {"kl", 1},          {"entropy", 1},
              {"length", 2},       {"len/trunc_frac", 1}, {"clip_frac", 1},   {"lr", 1},
              {"pattern/freq", 4}, {"pattern/acc", 4},    {"grad_norm", 1},   {"perf/step_s", 1},
              {"odd&lt;key&gt;&amp;&quot;", 1}};
    for (size_t i = 0; i < sizeof CH / sizeof *CH; i++) check_chart(html, CH[i].id, CH[i].n);
    size_t nsvg = count_in(html, html + strlen(html), "<svg ");
    CHECK(nsvg == sizeof CH / sizeof *CH, "%zu charts, expected %zu", nsvg, sizeof CH / sizeof *CH);
    Svg s;
    CHECK(!find_chart(html, "loss", &s), "an RL run has no loss chart");

    /* skipped points: missing, null, NaN token, "NaN" string, -Infinity */
    CHECK(n_vertices(html, "kl", "kl") == 28, "kl vertices %d, expected 28", n_vertices(html, "kl", "kl"));
    CHECK(n_vertices(html, "entropy", "entropy") == 29, "entropy vertices");
    CHECK(n_vertices(html, "grad_norm", "grad_norm") == 28, "grad_norm vertices");
    CHECK(n_vertices(html, "pattern/acc", "pattern/other/acc") == 29, "pattern/other/acc vertices");
    CHECK(n_vertices(html, "accuracy", "eval/acc") == 3, "eval/acc vertices");
    CHECK(n_vertices(html, "reward", "reward/mean") == 30, "reward/mean vertices (the truncated line adds none)");

    /* geometry: vertices sit where the grid says the values are */
    check_point(html, "pattern/freq", "pattern/direct/freq", 0, 1, 0.6);
    check_point(html, "pattern/freq", "pattern/column/freq", -1, 30, 0.7);
    check_point(html, "pattern/freq", "pattern/split/freq", 10, 11, 0.2);
    check_point(html, "accuracy", "eval/acc", 1, 20, 0.4);
    check_point(html, "length", "len/max", -1, 30, 160);
    check_point(html, "kl", "kl", 4, 6, 0.006); /* step 5 is missing */

    /* legends carry the pattern names */
    static const char *const PN[] = {"direct", "column", "split", "other"};
    for (int k = 0; k < 2; k++) {
        CHECK(find_chart(html, k ? "pattern/acc" : "pattern/freq", &s), "pattern chart");
        const char *lg = strstr(s.a, "<g class=\"legend\">");
        CHECK(lg && lg < s.z, "pattern legend");
        for (int i = 0; i < 4 && lg; i++) {
            char want[64];
            snprintf(want, sizeof want, ">%s</text>", PN[i]);
            CHECK(count_in(lg, s.z, want) == 1, "legend lacks %s", PN[i]);
        }
    }

    /* header: steps, final values, pattern shifts, skipped lines */
    char r[2048];
    CHECK(strstr(html, "data-steps=\"30\""), "30 steps");
    CHECK(row(html, "data-metric", "acc", r, sizeof r) && strstr(r, "<b>0.7</b>"), "final acc 0.7");
    CHECK(row(html, "data-metric", "reward/format", r, sizeof r), "reward/format row");
    CHECK(row(html, "data-metric", "eval/acc", r, sizeof r) && strstr(r, "<b>0.45</b>") && strstr(r, "@30"),
          "final eval/acc");
    CHECK(row(html, "data-pattern", "column", r, sizeof r) && strstr(r, "10.0% &rarr; 70.0%") &&
              strstr(r, "+60.0 pp"),
          "column share change: %s", r);
    CHECK(row(html, "data-pattern", "direct", r, sizeof r) && strstr(r, "-50.0 pp"), "direct share change");
    CHECK(row(html, "data-pattern", "split", r, sizeof r) && strstr(r, "+0.0 pp"), "split share unchanged");
    CHECK(strstr(html, "Largest share shift: <b>column</b>"), "largest shift");
    CHECK(strstr(html, "data-bad-lines=\"2\"") && strstr(html, "line 15 (") && strstr(html, "line 32 (unparsable last"),
          "skipped lines listed");

    /* escaping: config, samples, keys */
    CHECK(strstr(html, "name: &quot;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;&quot;"),
          "config.yaml escaped");
    CHECK(strstr(html, "<details>") && strstr(html, "<summary>config.yaml</summary>"), "config in <details>");
    CHECK(!strstr(html, "<b>bold"), "raw config markup");
    CHECK(strstr(html, "resp-30-5 &lt;think&gt;a&lt;b &amp; c&lt;/think&gt;"), "last sample escaped");
    CHECK(strstr(html, "resp-30-2") && !strstr(html, "resp-30-1 ") && !strstr(html, "resp-10-"),
          "the last 4 samples of the last step");
    CHECK(count_in(html, html + strlen(html), "<div class=\"sample\"") == 4, "4 samples shown");
    CHECK(!strstr(html, "id=\"fdpg\"") && !strstr(html, "f-DPG"), "a run without fdpg metrics has no f-DPG section");
    free(html);

    /* explicit output path, no temp file left behind */
    char out[600];
    snprintf(out, sizeof out, "%s/custom.html", dir);
    CHECK(report_write(dir, out) == TR_OK, "report_write out: %s", tr_errmsg());
    CHECK(access(out, R_OK) == 0, "custom.html written");
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) CHECK(!strstr(de->d_name, ".tmp"), "temp file left: %s", de->d_name);
    if (d) closedir(d);
}

static void test_sft(const char *dir) {
    FILE *f;
    char p[512];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    if (!(f = fopen(p, "wb"))) exit(2);
    for (int s = 1; s <= 40; s++) {
        if (s == 3) fprintf(f, "{\"step\":3,\"loss\":-nan,\"lr\":1e-4");
        else fprintf(f, "{\"step\":%d,\"loss\":%.6f,\"lr\":%.6g", s, 3.0 / s, 1e-4 * (s < 10 ? s / 10.0 : 1.0));
        fprintf(f, ",\"grad_norm\":%.4f,\"tokens\":%d,\"tok_s\":%.1f", 1.0 / s, 4096 * s, 12000.0 + s);
        if (s % 10 == 0) fprintf(f, ",\"eval_loss\":%.6f", 3.5 / s);
        fputs("}\n", f);
    }
    /* resumed from step 34: steps 35..40 again; the later lines win */
    for (int s = 35; s <= 40; s++)
        fprintf(f, "{\"step\":%d,\"loss\":%.6f,\"lr\":1e-4,\"grad_norm\":0.5,\"tokens\":%d,\"tok_s\":9000}\n", s,
                s == 40 ? 0.123 : 0.2, 4096 * s);
    fclose(f);
    int rc = report_write(dir, NULL);
    CHECK(rc == TR_OK, "sft report_write: %d %s", rc, tr_errmsg());
    char *html = slurp(dir, "report.html");
    if (!html) return;
    check_common(html);
    check_chart(html, "loss", 2);
    check_chart(html, "lr", 1);
    check_chart(html, "grad_norm", 1);
    check_chart(html, "tok_s", 1);
    check_chart(html, "tokens", 1);
    Svg s;
    CHECK(!find_chart(html, "reward", &s) && !find_chart(html, "pattern/freq", &s), "SFT run has no RL charts");
    CHECK(count_in(html, html + strlen(html), "<svg ") == 5, "5 SFT charts");
    CHECK(strstr(html, "SFT run"), "SFT run named");
    CHECK(strstr(html, "data-steps=\"40\""), "40 distinct steps");
    CHECK(n_vertices(html, "loss", "loss") == 39, "loss vertices %d (step 3 is -nan)", n_vertices(html, "loss", "loss"));
    CHECK(n_vertices(html, "loss", "eval_loss") == 4, "eval_loss vertices");
    char r[1024];
    CHECK(row(html, "data-metric", "loss", r, sizeof r) && strstr(r, "<b>0.123</b>"), "final loss from the resumed lines");
    check_point(html, "loss", "loss", -1, 40, 0.123);
    check_point(html, "lr", "lr", 0, 1, 1e-5);
    CHECK(strstr(html, "no config.yaml"), "missing config noted");
    CHECK(!strstr(html, "id=\"samples\""), "no samples section without samples.jsonl");
    free(html);
}

static void test_long(const char *dir) {
    FILE *f;
    char p[512];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    if (!(f = fopen(p, "wb"))) exit(2);
    Rng r;
    rng_seed(&r, 7);
    int N = 3000;
    for (int s = 0; s < N; s++)
        fprintf(f, "{\"step\":%d,\"reward/mean\":%.5f,\"pattern\":{\"a\":{\"freq\":%.4f},\"b\":{\"freq\":%.4f}}}\n", s,
                0.5 + 0.3 * s / N + 0.1 * rng_normal(&r), 0.9 - 0.8 * s / N, 0.1 + 0.8 * s / N);
    fclose(f);
    CHECK(report_write(dir, NULL) == TR_OK, "long report_write: %s", tr_errmsg());
    char *html = slurp(dir, "report.html");
    if (!html) return;
    check_common(html);
    check_chart(html, "reward", 1);
    check_chart(html, "pattern/freq", 2); /* nested objects flatten to pattern/a/freq */
    Svg s;
    CHECK(find_chart(html, "reward", &s) && count_in(s.a, s.z, "<path class=\"smooth\"") == 1, "smoothed line");
    CHECK(find_chart(html, "pattern/freq", &s) && count_in(s.a, s.z, "<path class=\"smooth\"") == 2, "smoothed lines");
    /* the smoothed line of a straight trend does not lag: ends and middle on it */
    check_point_cls(html, "smooth", "pattern/freq", "pattern/a/freq", 0, 0, 0.9);
    check_point_cls(html, "smooth", "pattern/freq", "pattern/b/freq", -1, N - 1, 0.1 + 0.8 * (N - 1) / N);
    CHECK(!strstr(html, "class=\"marker\""), "no markers on long series");
    int nv = n_vertices(html, "reward", "reward/mean");
    CHECK(nv > 500 && nv < 2500, "thinned path has %d vertices", nv);
    CHECK(strlen(html) < 400000, "report size %zu", strlen(html));
    free(html);
}

static void test_errors(const char *dir) {
    CHECK(report_write(NULL, NULL) == TR_EINVAL, "NULL run dir");
    char p[600];
    snprintf(p, sizeof p, "%s/none", dir);
    int rc = report_write(p, NULL);
    CHECK(rc == TR_EIO && strstr(tr_errmsg(), "metrics.jsonl"), "missing metrics: %d %s", rc, tr_errmsg());
    write_text(dir, "metrics.jsonl", "garbage\n[1,2]\n\n{\"step\":");
    rc = report_write(dir, NULL);
    CHECK(rc == TR_EFORMAT && strstr(tr_errmsg(), "no valid metrics line"), "only bad lines: %d %s", rc, tr_errmsg());
    snprintf(p, sizeof p, "%s/report.html", dir);
    CHECK(access(p, F_OK) != 0, "no report written on error");
}

/* The bars of the histogram step `step`: counts from data-count, and each
 * bar's top mapped back to a value through the y grid lines. Returns the
 * number of bars (-1: no such step). */
static int hist_bars(const Svg *s, const char *step, double *count, double *mapped) {
    char want[64];
    snprintf(want, sizeof want, "<g class=\"hist-step\" data-step=\"%s\"", step);
    const char *g = strstr(s->a, want);
    if (!g || g > s->z) return -1;
    const char *ge = strstr(g, "</g>");
    double yv[64], yp[64];
    int ny = 0;
    for (const char *p = s->a; (p = strstr(p, "<line class=\"grid\" data-axis=\"y\"")) && p < s->z && ny < 64; p++) {
        const char *e = strchr(p, '>');
        char v[64], c[64];
        if (attr(p, e, "data-value", v, sizeof v) && attr(p, e, "y1", c, sizeof c)) yv[ny] = atof(v), yp[ny++] = atof(c);
    }
    int n = 0;
    for (const char *p = g; (p = strstr(p, "<rect class=\"bar\"")) && p < ge && n < 64; p++, n++) {
        const char *e = strchr(p, '>');
        char v[64], y[64], h[64];
        if (!attr(p, e, "data-count", v, sizeof v) || !attr(p, e, "y", y, sizeof y) || !attr(p, e, "height", h, sizeof h))
            return -2;
        count[n] = atof(v);
        mapped[n] = ny >= 2 ? yv[0] + (atof(y) - yp[0]) * (yv[ny - 1] - yv[0]) / (yp[ny - 1] - yp[0]) : NAN;
        if (fabs(atof(y) + atof(h) - yp[0]) > 0.05) mapped[n] = NAN; /* bars stand on the zero line */
    }
    return n;
}

/* ADS difficulty histograms ("ads/hist" arrays) and arrays that must not
 * become curves. */
static void test_ads(const char *dir) {
    FILE *f;
    char p[512];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    if (!(f = fopen(p, "wb"))) exit(2);
    for (int s = 1; s <= 30; s++) {
        fprintf(f, "{\"step\":%d,\"acc\":%.2f,\"arr\":[1,2,3],\"nested\":{\"list\":[0.5]},\"objs\":[{\"a\":1}],"
                   "\"empty\":[],\"nan_arr\":[NaN,1]",
                s, 0.01 * s);
        if (s % 2 == 0 && s < 30) { /* bin k holds s + k prompts */
            fputs(",\"ads/hist\":[", f);
            for (int k = 0; k < 10; k++) fprintf(f, "%s%d", k ? "," : "", s + k);
            fprintf(f, "],\"ads/parked\":%d,\"ads/visited\":%d", s / 2, 3 * s);
        }
        if (s == 3) fputs(",\"ads/hist\":[1,2,3,4,5]", f);       /* other bin count: not the last one's */
        if (s == 5) fputs(",\"ads/hist\":[1,\"x\",3]", f);       /* not numbers: ignored */
        if (s == 7) fputs(",\"ads/hist\":[1,-2,3]", f);          /* negative count: ignored */
        if (s == 30) fputs(",\"ads\":{\"hist\":[9,9,9,9,9,9,9,9,9,9],\"parked\":4}", f); /* replaced below */
        fputs("}\n", f);
    }
    /* step 30 again (a resume): the later histogram wins */
    fputs("{\"step\":30,\"acc\":0.3,\"ads\":{\"hist\":[0,1,2,3,4,5,6,7,8,100],\"parked\":5}}\n", f);
    fclose(f);
    int rc = report_write(dir, NULL);
    CHECK(rc == TR_OK, "ads report_write: %d %s", rc, tr_errmsg());
    char *html = slurp(dir, "report.html");
    if (!html) return;
    check_common(html);
    const char *end = html + strlen(html);

    /* arrays make no curves: the charts are accuracy, ads/parked, ads/visited
     * and the histogram */
    Svg s;
    static const char *const NOT[] = {"arr", "nested/list", "objs", "objs/a", "empty", "nan_arr"};
    for (size_t i = 0; i < sizeof NOT / sizeof *NOT; i++) {
        char want[64];
        snprintf(want, sizeof want, "\"%s\"", NOT[i]);
        CHECK(!strstr(html, want), "array key %s shows up in the report", NOT[i]);
    }
    CHECK(!strstr(html, "data-series=\"ads/hist\"") && !strstr(html, "data-metric=\"ads/hist\"><td"),
          "ads/hist drawn as a curve");
    CHECK(count_in(html, end, "<svg ") == 4, "%zu charts, expected 4", count_in(html, end, "<svg "));
    check_chart(html, "accuracy", 1);
    check_chart(html, "ads/parked", 1);
    CHECK(n_vertices(html, "ads/parked", "ads/parked") == 15, "ads/parked vertices (nested ads object too)");
    check_point(html, "ads/parked", "ads/parked", -1, 30, 5);

    /* the section and the grouped bar chart */
    CHECK(strstr(html, "<section id=\"ads\"><h2>Prompt difficulty (ADS)</h2>"), "ADS section");
    CHECK(strstr(html, "data-hist-steps=\"15\""), "15 steps with a 10-bin histogram");
    CHECK(find_chart(html, "ads/hist", &s), "histogram chart");
    if (!find_chart(html, "ads/hist", &s)) {
        free(html);
        return;
    }
    CHECK(strstr(s.a, "class=\"chart hist\"") == s.a + 5 && strstr(s.a, "data-bins=\"10\""), "histogram svg attrs");
    /* first, last and 3 evenly spaced between: indices 0, 3.5, 7, 10.5, 14 of
     * the 15 histograms (steps 2, 4, ..., 30) rounded half away from zero */
    static const char *const STEPS[] = {"2", "10", "16", "24", "30"};
    CHECK(count_in(s.a, s.z, "<g class=\"hist-step\"") == 5, "5 histograms drawn");
    CHECK(count_in(s.a, s.z, "<rect class=\"bar\"") == 50, "50 bars");
    double cnt[64], mapped[64];
    for (int g = 0; g < 5; g++) {
        int st = atoi(STEPS[g]);
        char want[256], counts[200] = "";
        for (int k = 0; k < 10; k++)
            snprintf(counts + strlen(counts), sizeof counts - strlen(counts), "%s%d", k ? "," : "",
                     st == 30 ? (k == 9 ? 100 : k) : st + k);
        snprintf(want, sizeof want, "<g class=\"hist-step\" data-step=\"%s\" data-counts=\"%s\"", STEPS[g], counts);
        CHECK(strstr(s.a, want) && strstr(s.a, want) < s.z, "histogram of step %s: want %s", STEPS[g], want);
        snprintf(want, sizeof want, "<g class=\"legend-item\" data-step=\"%s\">", STEPS[g]);
        const char *lg = strstr(s.a, want);
        snprintf(want, sizeof want, ">step %s</text>", STEPS[g]);
        CHECK(lg && lg < s.z && strstr(lg, want) && strstr(lg, want) < strstr(lg, "</g>"), "legend step %s", STEPS[g]);
        int nb = hist_bars(&s, STEPS[g], cnt, mapped);
        CHECK(nb == 10, "step %s: %d bars", STEPS[g], nb);
        for (int k = 0; k < nb && k < 10; k++) {
            double want_c = st == 30 ? (k == 9 ? 100 : k) : st + k;
            CHECK(cnt[k] == want_c, "step %s bin %d: count %g, expected %g", STEPS[g], k, cnt[k], want_c);
            CHECK(fabs(mapped[k] - want_c) < 0.5, "step %s bin %d: bar height reads %g, expected %g", STEPS[g], k,
                  mapped[k], want_c);
        }
    }
    CHECK(hist_bars(&s, "4", cnt, mapped) == -1, "step 4 not drawn");
    CHECK(!strstr(s.a, "data-counts=\"9,9,9"), "the replaced step-30 histogram is gone");
    CHECK(count_in(s.a, s.z, ">0.0-0.1</text>") == 1 && count_in(s.a, s.z, ">0.9-1.0</text>") == 1 &&
              count_in(s.a, s.z, ">0.4-0.5</text>") == 1,
          "bin labels");
    CHECK(count_in(s.a, s.z, "<text class=\"tick\" data-axis=\"x\"") == 10, "10 bin labels");
    free(html);

    /* a 4-bin histogram: quarter labels; only 65-element arrays: no section */
    write_text(dir, "metrics.jsonl",
               "{\"step\":1,\"acc\":0.1,\"ads/hist\":[4,0,0,0]}\n{\"step\":2,\"acc\":0.2,\"ads/hist\":[1,1,1,1]}\n");
    CHECK(report_write(dir, NULL) == TR_OK, "4-bin report: %s", tr_errmsg());
    if ((html = slurp(dir, "report.html"))) {
        check_common(html);
        CHECK(find_chart(html, "ads/hist", &s) && strstr(s.a, "data-bins=\"4\""), "4-bin histogram");
        CHECK(strstr(html, ">0.00-0.25</text>") && strstr(html, ">0.75-1.00</text>"), "quarter bin labels");
        CHECK(count_in(html, html + strlen(html), "<g class=\"hist-step\"") == 2, "both steps shown");
        CHECK(strstr(html, "data-step=\"1\" data-counts=\"4,0,0,0\""), "step 1 counts");
        free(html);
    }
    f = fopen(p, "wb");
    if (!f) exit(2);
    fputs("{\"step\":1,\"acc\":0.1,\"ads/hist\":[", f);
    for (int k = 0; k < 65; k++) fprintf(f, "%s1", k ? "," : "");
    fputs("]}\n", f);
    fclose(f);
    CHECK(report_write(dir, NULL) == TR_OK, "65-bin report: %s", tr_errmsg());
    if ((html = slurp(dir, "report.html"))) {
        CHECK(!strstr(html, "id=\"ads\"") && !find_chart(html, "ads/hist", &s), "65 bins: no histogram");
        CHECK(count_in(html, html + strlen(html), "<svg ") == 1, "65 bins: only the accuracy chart");
        free(html);
    }
}

/* The value of cell col in the row of run label of the table that opens
 * with table_tag: 1 and *v when it has one, 0 when it shows "-", -1 when
 * the cell is absent. */
static int table_cell(const char *html, const char *table_tag, const char *label, const char *col, double *v) {
    char r[8192], want[128];
    if (!row(html, "data-run", label, r, sizeof r)) return -1;
    const char *sum = strstr(html, table_tag);
    if (!sum) return -1;
    char rowtag[300];
    snprintf(rowtag, sizeof rowtag, "<tr data-run=\"%s\">", label);
    const char *rp = strstr(sum, rowtag);
    if (!rp) return -1;
    snprintf(r, sizeof r, "%.*s", (int)(strstr(rp, "</tr>") - rp), rp);
    snprintf(want, sizeof want, "<td data-col=\"%s\"", col);
    const char *c = strstr(r, want);
    if (!c) return -1;
    const char *e = strchr(c, '>');
    char val[64];
    if (!attr(c, e, "data-value", val, sizeof val)) return strncmp(e, ">-</td>", 7) ? -1 : 0;
    *v = atof(val);
    return 1;
}

static int summary_cell(const char *html, const char *label, const char *col, double *v) {
    return table_cell(html, "<table class=\"summary\"", label, col, v);
}

/* The stroke colour of run label's path in chart id ("" when absent). */
static void series_stroke(const char *html, const char *id, const char *label, char *out, size_t cap) {
    Svg s;
    out[0] = 0;
    if (!find_chart(html, id, &s)) return;
    char want[256];
    snprintf(want, sizeof want, "<path class=\"series\" data-series=\"%s\"", label);
    const char *p = strstr(s.a, want);
    if (p && p < s.z) attr(p, strchr(p, '>'), "stroke", out, cap);
}

static void write_metrics(const char *dir, int steps, int which) {
    char p[600];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    FILE *f = fopen(p, "wb");
    if (!f) exit(2);
    static const double EVAL_A[] = {0.5, 0.6, 0.7, 0.8, 0.85}, EVAL_B[] = {0.4, 0.9, 0.7};
    for (int s = 1; s <= steps; s++) {
        fprintf(f, "{\"step\":%d,\"acc\":%.4f", s, 0.01 * s);
        if (which == 0) {
            fprintf(f, ",\"reward/mean\":%.3f,\"taco/consistency_rate\":%.3f,\"rrs\":{\"rollbacks\":%d,\"deferred\":%d}"
                       ",\"ads/parked\":%d,\"pattern/direct/freq\":0.3,\"pattern/column/freq\":0.7",
                    0.02 * s, 0.5 + 0.005 * s, s / 12, s % 3, 50 - s);
            if (s % 10 == 0) fprintf(f, ",\"eval/acc\":%.2f", EVAL_A[s / 10 - 1]);
        } else if (which == 1) {
            fprintf(f, ",\"reward/mean\":%.3f,\"pattern/split/freq\":0.4,\"ads/hist\":[1,2,3]", 0.01 * s);
            if (s % 10 == 0) fprintf(f, ",\"eval/acc\":%.2f", EVAL_B[s / 10 - 1]);
        } else {
            fprintf(f, ",\"kl\":%.4f", 0.001 * s);
        }
        fputs("}\n", f);
        if (which == 1 && s == 7) fputs("{broken\n", f);
    }
    fclose(f);
}

/* report_compare on three runs: header, summary values, config differences,
 * overlaid charts with one path per run in a fixed colour, labels, errors. */
static void test_compare(const char *root) {
    char a[600], b[600], c[600], out[700];
    snprintf(a, sizeof a, "%s/cmpA/seed1", root);
    snprintf(b, sizeof b, "%s/cmpB/seed1/", root); /* trailing slash: same label rules */
    snprintf(c, sizeof c, "%s/other", root);
    const char *dirs[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dirs[i]);
        if (system(cmd)) exit(2);
    }
    write_metrics(a, 50, 0);
    write_metrics(b, 30, 1);
    write_metrics(c, 20, 2);
    write_text(a, "config.yaml", "model:\n  path: m\noptim:\n  lr: 1e-4\n  wd: 0\nrollout:\n  n: 8\ntags: [x, y]\n");
    write_text(b, "config.yaml",
               "model:\n  path: m\noptim:\n  lr: 0.0001\n  wd: 0.1\nrollout:\n  n: 8\nads:\n  enabled: true\n"
               "tags: [x, z]\n");
    snprintf(out, sizeof out, "%s/compare.html", root);
    int rc = report_compare(dirs, NULL, 3, out);
    CHECK(rc == TR_OK, "report_compare: %d %s", rc, tr_errmsg());
    char *html = tr_read_file(out, NULL);
    if (!html) {
        CHECK(0, "no compare.html");
        return;
    }
    check_common(html);
    const char *end = html + strlen(html);
    static const char *const L[] = {"cmpA/seed1", "cmpB/seed1", "other"};

    /* header: one row per run with its directory and steps */
    char r[8192];
    CHECK(row(html, "data-run", L[0], r, sizeof r) && strstr(r, a) && strstr(r, "data-steps=\"50\""), "run A row");
    CHECK(row(html, "data-run", L[1], r, sizeof r) && strstr(r, "data-steps=\"30\"") && strstr(r, "data-bad-lines=\"1\""),
          "run B row");
    CHECK(row(html, "data-run", L[2], r, sizeof r) && strstr(r, "data-steps=\"20\""), "run C row");

    /* summary: values from the synthetic curves */
    static const struct {
        int run;
        const char *col;
        int has;
        double v;
    } SUM[] = {
        {0, "eval_final", 1, 0.85}, {0, "eval_best", 1, 0.85}, {0, "train_acc", 1, 0.455}, /* mean of 0.41..0.50 */
        {0, "taco", 1, 0.75},       {0, "rollbacks", 1, 4},    {0, "parked", 1, 0},
        {0, "target_step", 1, 40},  {1, "eval_final", 1, 0.7}, {1, "eval_best", 1, 0.9},
        {1, "train_acc", 1, 0.255}, {1, "taco", 0, 0},         {1, "rollbacks", 0, 0},
        {1, "parked", 0, 0},        {1, "target_step", 1, 20}, {2, "eval_final", 0, 0},
        {2, "eval_best", 0, 0},     {2, "train_acc", 1, 0.155}, {2, "target_step", 0, 0},
    };
    for (size_t i = 0; i < sizeof SUM / sizeof *SUM; i++) {
        double v = NAN;
        int got = summary_cell(html, L[SUM[i].run], SUM[i].col, &v);
        CHECK(got == SUM[i].has, "summary %s %s: %s", L[SUM[i].run], SUM[i].col, got < 0 ? "no cell" : got ? "a value" : "-");
        if (got == 1 && SUM[i].has)
            CHECK(fabs(v - SUM[i].v) < 1e-9, "summary %s %s = %g, expected %g", L[SUM[i].run], SUM[i].col, v, SUM[i].v);
    }
    CHECK(strstr(html, "steps to eval/acc &ge; 0.8</th>"), "target in the column header");

    /* config: optim.wd, ads.enabled and tags differ; lr is the same number */
    CHECK(strstr(html, "data-config-differ=\"3\""), "3 config keys differ");
    CHECK(row(html, "data-key", "optim.wd", r, sizeof r) && strstr(r, ">0</td>") && strstr(r, ">0.1</td>"), "optim.wd");
    CHECK(row(html, "data-key", "ads.enabled", r, sizeof r) && strstr(r, "class=\"none\">-</td>") &&
              strstr(r, ">true</td>"),
          "ads.enabled missing in A");
    CHECK(row(html, "data-key", "tags", r, sizeof r) && strstr(r, ">[x, y]</td>") && strstr(r, ">[x, z]</td>"), "tags");
    CHECK(!row(html, "data-key", "optim.lr", r, sizeof r) && !row(html, "data-key", "model.path", r, sizeof r) &&
              !row(html, "data-key", "rollout.n", r, sizeof r),
          "equal keys listed");
    CHECK(strstr(html, "<p class=\"meta conf-note\" data-run=\"other\">other: no config.yaml</p>"), "C has no config");

    /* overlaid charts, in order, one path per run that has the key */
    static const struct {
        const char *id;
        int n;
    } CH[] = {{"eval/acc", 2},      {"acc", 3},      {"reward/mean", 2},         {"taco/consistency_rate", 1},
              {"kl", 1},            {"rrs/rollbacks", 1}, {"rrs/deferred", 1},   {"ads/parked", 1},
              {"pattern/direct/freq", 1}, {"pattern/column/freq", 1}, {"pattern/split/freq", 1}};
    const char *prev = html;
    for (size_t i = 0; i < sizeof CH / sizeof *CH; i++) {
        check_chart(html, CH[i].id, CH[i].n);
        Svg s;
        if (find_chart(html, CH[i].id, &s)) {
            CHECK(s.a > prev, "chart %s out of order", CH[i].id);
            prev = s.a;
        }
    }
    size_t ncharts = count_in(html, end, "<svg class=\"chart\"");
    CHECK(ncharts == sizeof CH / sizeof *CH, "%zu charts, expected %zu", ncharts, sizeof CH / sizeof *CH);
    Svg s;
    CHECK(!find_chart(html, "entropy", &s) && !find_chart(html, "len/mean", &s) && !find_chart(html, "ads/hist", &s),
          "charts for keys no run has");
    CHECK(find_chart(html, "acc", &s), "acc chart");
    for (int i = 0; i < 3; i++) {
        char want[128];
        snprintf(want, sizeof want, "<path class=\"series\" data-series=\"%s\"", L[i]);
        CHECK(count_in(s.a, s.z, want) == 1, "acc chart: one path for %s", L[i]);
        snprintf(want, sizeof want, ">%s</text>", L[i]);
        CHECK(count_in(s.a, s.z, want) == 1, "acc legend: %s", L[i]);
    }
    check_point(html, "eval/acc", L[1], 1, 20, 0.9);
    check_point(html, "acc", L[0], -1, 50, 0.5);
    check_point(html, "acc", L[2], 0, 1, 0.01);
    /* a run keeps its colour: C is the third palette colour in acc and kl,
     * B the second in acc, eval/acc and its pattern chart */
    char c1[32], c2[32];
    series_stroke(html, "acc", L[2], c1, sizeof c1);
    series_stroke(html, "kl", L[2], c2, sizeof c2);
    CHECK(!strcmp(c1, "#2ca02c") && !strcmp(c2, "#2ca02c"), "run C colours %s %s", c1, c2);
    series_stroke(html, "pattern/split/freq", L[1], c1, sizeof c1);
    series_stroke(html, "eval/acc", L[1], c2, sizeof c2);
    CHECK(!strcmp(c1, "#ff7f0e") && !strcmp(c2, "#ff7f0e"), "run B colours %s %s", c1, c2);
    free(html);

    /* another target, given labels with duplicates */
    const char *lab[] = {"x", "x", NULL};
    rc = report_compare_target(dirs, lab, 3, 0.55, out);
    CHECK(rc == TR_OK, "report_compare_target: %s", tr_errmsg());
    if ((html = tr_read_file(out, NULL))) {
        double v = 0;
        CHECK(strstr(html, "<tr data-run=\"x (1)\">") && strstr(html, "<tr data-run=\"x (2)\">") &&
                  strstr(html, "<tr data-run=\"other\">"),
              "duplicate labels disambiguated");
        CHECK(summary_cell(html, "x (1)", "target_step", &v) == 1 && v == 20, "A reaches 0.55 at step 20 (%g)", v);
        CHECK(summary_cell(html, "x (2)", "target_step", &v) == 1 && v == 20, "B reaches 0.55 at step 20 (%g)", v);
        CHECK(strstr(html, "&ge; 0.55</th>"), "target 0.55 in the header");
        free(html);
    }
    /* the same directory twice: parent/name collides too, so numbered */
    const char *same[] = {a, a};
    CHECK(report_compare(same, NULL, 2, out) == TR_OK, "same dir twice: %s", tr_errmsg());
    if ((html = tr_read_file(out, NULL))) {
        CHECK(strstr(html, "<tr data-run=\"cmpA/seed1 (1)\">") && strstr(html, "<tr data-run=\"cmpA/seed1 (2)\">"),
              "same directory twice disambiguated");
        free(html);
    }
    /* a user label equal to a would-be suffix stays unique */
    const char *tricky[] = {"y", "y (1)", "y"};
    CHECK(report_compare(dirs, tricky, 3, out) == TR_OK, "tricky labels: %s", tr_errmsg());
    if ((html = tr_read_file(out, NULL))) {
        CHECK(count_in(html, html + strlen(html), "<tr data-run=\"y (1)\">") == 2, "label y (1) once per table");
        CHECK(count_in(html, html + strlen(html), "<tr data-run=\"y (2)\">") == 2 &&
                  count_in(html, html + strlen(html), "<tr data-run=\"y (3)\">") == 2,
              "the duplicated y numbered past the given y (1)");
        free(html);
    }

    /* errors: a run without metrics.jsonl (named), no output file, no runs */
    char missing[700], out2[700];
    snprintf(missing, sizeof missing, "%s/no_such_run", root);
    snprintf(out2, sizeof out2, "%s/compare_err.html", root);
    const char *bad[] = {a, missing};
    rc = report_compare(bad, NULL, 2, out2);
    CHECK(rc == TR_EIO && strstr(tr_errmsg(), missing) && strstr(tr_errmsg(), "metrics.jsonl") &&
              strstr(tr_errmsg(), "run 2 of 2"),
          "missing run: %d %s", rc, tr_errmsg());
    CHECK(access(out2, F_OK) != 0, "nothing written when a run is missing");
    CHECK(report_compare(dirs, NULL, 3, NULL) == TR_EINVAL && strstr(tr_errmsg(), "output"), "no out path");
    CHECK(report_compare(dirs, NULL, 0, out2) == TR_EINVAL, "no runs");
    CHECK(report_compare_target(dirs, NULL, 3, NAN, out2) == TR_EINVAL, "NaN target");
}

/* The pixel position of a grid-mapped value: axis 'x' or 'y' of chart s. */
static double grid_map(const Svg *s, char axis, double value) {
    double v[64], px[64];
    int n = 0;
    for (const char *p = s->a; (p = strstr(p, "<line class=\"grid\"")) && p < s->z && n < 64; p++) {
        const char *e = strchr(p, '>');
        char ax[8], dv[64], c[64];
        if (!attr(p, e, "data-axis", ax, sizeof ax) || ax[0] != axis || !attr(p, e, "data-value", dv, sizeof dv) ||
            !attr(p, e, axis == 'x' ? "x1" : "y1", c, sizeof c))
            continue;
        v[n] = atof(dv);
        px[n++] = atof(c);
    }
    if (n < 2) return NAN;
    return px[0] + (value - v[0]) * (px[n - 1] - px[0]) / (v[n - 1] - v[0]);
}

/* The first <line class=CLS ...> in chart s whose attribute attrname is
 * val: its attribute name into out. Returns 0 when there is no such line. */
static int mark_attr(const Svg *s, const char *cls, const char *attrname, const char *val, const char *name, char *out,
                     size_t cap) {
    char want[160];
    snprintf(want, sizeof want, "<line class=\"%s\"", cls);
    for (const char *p = s->a; (p = strstr(p, want)) && p < s->z; p++) {
        const char *e = strchr(p, '>');
        char v[64];
        if (attr(p, e, attrname, v, sizeof v) && !strcmp(v, val)) return attr(p, e, name, out, cap);
    }
    return 0;
}

/* An f-DPG run: metrics with fdpg/ keys, proposal-update events (one
 * without a step of its own), a rollback event past the last step, and
 * fdpg_fit.json. The reference values are the closed forms written below. */
static void test_fdpg(const char *root) {
    char dir[600], p[700];
    snprintf(dir, sizeof dir, "%s/fdpg_run", root);
    if (mkdir(dir, 0755)) {
        perror(dir);
        exit(2);
    }
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    FILE *f = fopen(p, "wb");
    if (!f) exit(2);
    int q = 0;
    for (int s = 1; s <= 40; s++) {
        if (s == 31) fputs("{", f); /* no step: the previous line's + 1 (the event between does not count) */
        else fprintf(f, "{\"step\":%d,", s);
        fprintf(f, "\"kl\":%.4f,\"perf/step_s\":2.5,\"fdpg\":{\"kl_p_pi\":%.4f,\"kl_p_q\":%.4f,\"tv_p_pi\":%.4f,"
                   "\"kl_pi_a\":%.4f,\"moment\":{\"contains\":%.4f,\"len_short\":%.4f},",
                0.001 * s, 2.0 - 0.04 * s, 2.5 - 0.03 * s, 0.8 - 0.015 * s, 0.01 * s, 0.21 + 0.007 * s,
                0.9 - 0.005 * s);
        fprintf(f, "\"distinct_1\":%.4f,\"distinct_2\":%.4f,\"distinct_3\":%.4f,\"log_z\":%.4f,\"pseudo_reward\":%.4f,"
                   "\"baseline\":%.4f,\"ess\":%.4f,\"q_updates\":%d}}\n",
                0.3 + 0.002 * s, 0.5 + 0.003 * s, 0.6 + 0.004 * s, -1.0 + 0.01 * s, 0.1 * s, 0.05 * s, 0.5, q);
        if (s == 10) fputs("{\"step\":10,\"event\":\"fdpg_q_update\",\"kl_p_pi\":1.6,\"kl_p_q\":2.2}\n", f), q++;
        if (s == 25) fputs("{\"step\":25,\"event\":\"fdpg_q_update\",\"kl_p_pi\":1.0,\"kl_p_q\":1.75}\n", f), q++;
        if (s == 30) fputs("{\"event\":\"fdpg_q_update\",\"kl_p_pi\":0.8}\n", f), q++;
    }
    fputs("{\"step\":41,\"event\":\"rollback\",\"why\":\"grad_norm 9 > 5 x running median 1\",\"try\":\"3 of 3\"}\n", f);
    fclose(f);
    write_text(dir, "fdpg_fit.json",
               "{\"samples\":1024,\"iters\":7,\"converged\":true,\"ess\":0.41,\"features\":[{\"name\":\"contains\","
               "\"requested\":0.5,\"base\":0.21,\"achieved\":0.5,\"lambda\":1.32},{\"name\":\"ends<dot>\","
               "\"requested\":0.25,\"base\":0.6,\"achieved\":0.2501,\"lambda\":-2.5}]}\n");
    int rc = report_write(dir, NULL);
    CHECK(rc == TR_OK, "fdpg report_write: %d %s", rc, tr_errmsg());
    char *html = slurp(dir, "report.html");
    if (!html) return;
    check_common(html);
    const char *end = html + strlen(html);

    /* events are no steps and no curves */
    CHECK(strstr(html, "data-steps=\"40\""), "40 steps: the event lines (one at step 41) are none");
    CHECK(strstr(html, "RL (f-DPG) run"), "run kind");
    Svg s;
    CHECK(!find_chart(html, "kl_p_pi", &s) && !find_chart(html, "kl_p_q", &s) && !find_chart(html, "event", &s) &&
              !strstr(html, "data-metric=\"kl_p_pi\"") && !strstr(html, "data-metric=\"try\""),
          "event numbers drawn as curves");

    /* the section and its charts */
    const char *sec = strstr(html, "<section id=\"fdpg\"><h2>f-DPG</h2>");
    CHECK(sec != NULL, "f-DPG section");
    const char *sec_end = sec ? strstr(sec, "</section>") : NULL;
    static const struct {
        const char *id;
        int n;
    } CH[] = {{"fdpg/kl_p_pi", 2},       {"fdpg/tv_p_pi", 1},       {"fdpg/kl_pi_a", 1},
              {"fdpg/moment/contains", 1}, {"fdpg/moment/len_short", 1}, {"fdpg/distinct", 3},
              {"fdpg/log_z", 1},         {"fdpg/pseudo_reward", 1}, {"fdpg/baseline", 1},
              {"fdpg/ess", 1},           {"fdpg/q_updates", 1}};
    for (size_t i = 0; i < sizeof CH / sizeof *CH; i++) {
        check_chart(html, CH[i].id, CH[i].n);
        CHECK(find_chart(html, CH[i].id, &s) && sec && s.a > sec && s.a < sec_end, "chart %s outside the section",
              CH[i].id);
        char want[128];
        snprintf(want, sizeof want, "data-metric=\"%s\"", CH[i].id);
        CHECK(count_in(html, end, want) <= 2, "%s drawn twice", CH[i].id); /* a chart and maybe a final-table row */
    }
    CHECK(!find_chart(html, "fdpg/b_rate", &s) && !find_chart(html, "fdpg/reward", &s), "charts for absent keys");
    const char *other = strstr(html, "<section id=\"other\">");
    CHECK(other && find_chart(other, "perf/step_s", &s) && !strstr(other, "data-metric=\"fdpg/"),
          "fdpg keys left in Other metrics");
    CHECK(n_vertices(html, "fdpg/kl_p_pi", "fdpg/kl_p_pi") == 40, "kl_p_pi vertices");
    check_point(html, "fdpg/kl_p_pi", "fdpg/kl_p_pi", -1, 40, 0.4);
    check_point(html, "fdpg/kl_p_pi", "fdpg/kl_p_q", 30, 31, 2.5 - 0.03 * 31); /* the step-less line is step 31 */
    check_point(html, "fdpg/distinct", "fdpg/distinct_3", 0, 1, 0.604);
    check_point(html, "fdpg/moment/contains", "fdpg/moment/contains", -1, 40, 0.49);

    /* proposal updates: dotted lines on the KL chart at their steps */
    CHECK(find_chart(html, "fdpg/kl_p_pi", &s), "kl chart");
    CHECK(count_in(s.a, s.z, "<line class=\"event\" data-event=\"fdpg_q_update\"") == 3, "3 proposal-update lines");
    CHECK(count_in(s.a, s.z, "<g class=\"legend-event\">") == 1 && strstr(s.a, ">proposal update</text>"),
          "proposal-update legend");
    static const double QS[] = {10, 25, 30};
    for (int i = 0; i < 3; i++) {
        char st[16], x1[32], x2[32];
        snprintf(st, sizeof st, "%g", QS[i]);
        CHECK(mark_attr(&s, "event", "data-step", st, "x1", x1, sizeof x1) &&
                  mark_attr(&s, "event", "data-step", st, "x2", x2, sizeof x2),
              "no event line at step %s", st);
        double want = grid_map(&s, 'x', QS[i]);
        CHECK(fabs(atof(x1) - want) < 0.15 && !strcmp(x1, x2), "event line at step %s: x %s, expected %g", st, x1, want);
    }
    CHECK(!strstr(html, "data-event=\"rollback\""), "rollback marked on the f-DPG chart");

    /* moment targets: dashed at the requested value; none without a fit entry */
    CHECK(find_chart(html, "fdpg/moment/contains", &s), "moment chart");
    char y1[32], y2[32];
    CHECK(count_in(s.a, s.z, "<line class=\"target\"") == 1 &&
              mark_attr(&s, "target", "data-target", "contains", "y1", y1, sizeof y1) &&
              mark_attr(&s, "target", "data-target", "contains", "y2", y2, sizeof y2) &&
              mark_attr(&s, "target", "data-target", "contains", "data-value", y2 + 16, sizeof y2 - 16),
          "target line of contains");
    CHECK(!strcmp(y2 + 16, "0.5"), "target value %s", y2 + 16);
    CHECK(fabs(atof(y1) - grid_map(&s, 'y', 0.5)) < 0.15, "target line at y %s, expected %g", y1, grid_map(&s, 'y', 0.5));
    CHECK(strstr(s.a, ">requested 0.5</text>") && strstr(s.a, ">requested 0.5</text>") < s.z, "target legend");
    CHECK(find_chart(html, "fdpg/moment/len_short", &s) && !count_in(s.a, s.z, "<line class=\"target\""),
          "a moment without a fit entry has no target");

    /* tables: final values, lambda fit, proposal updates */
    char r[4096];
    CHECK(row(html, "data-metric", "fdpg/kl_p_pi", r, sizeof r) && strstr(r, "<b>0.4</b>") && strstr(r, "@40"),
          "final kl_p_pi: %s", r);
    CHECK(row(html, "data-metric", "fdpg/moment/contains", r, sizeof r) && strstr(r, "<b>0.49</b>"), "final moment");
    CHECK(strstr(html, "<caption>lambda fit: requested / base / achieved moment, lambda</caption>"), "fit caption");
    CHECK(row(html, "data-feature", "contains", r, sizeof r) && strstr(r, "data-col=\"requested\" data-value=\"0.5\"") &&
              strstr(r, "data-col=\"base\" data-value=\"0.21\"") && strstr(r, "data-col=\"achieved\" data-value=\"0.5\"") &&
              strstr(r, "data-col=\"lambda\" data-value=\"1.32\""),
          "fit row contains: %s", r);
    CHECK(row(html, "data-feature", "ends&lt;dot&gt;", r, sizeof r) && strstr(r, "data-value=\"-2.5\""),
          "fit row of a feature without a metric, escaped");
    CHECK(strstr(html, "1024 samples, 7 iterations, converged, ESS 0.41"), "fit summary line");
    CHECK(strstr(html, "data-q-updates=\"3\""), "3 proposal updates counted");
    CHECK(row(html, "data-event-step", "10", r, sizeof r) && strstr(r, "data-col=\"kl_p_pi\" data-value=\"1.6\"") &&
              strstr(r, "data-col=\"kl_p_q\" data-value=\"2.2\""),
          "update at step 10: %s", r);
    CHECK(row(html, "data-event-step", "30", r, sizeof r) && strstr(r, "data-value=\"0.8\"") &&
              strstr(r, "<td data-col=\"kl_p_q\" class=\"none\">-</td>"),
          "update at step 30 (no step of its own, no kl_p_q): %s", r);
    CHECK(!row(html, "data-event-step", "41", r, sizeof r), "a rollback listed as a proposal update");
    free(html);

    /* an unreadable fit: a note, no target lines, still a report */
    write_text(dir, "fdpg_fit.json", "{\"features\":[{\"name\":\"contains\",");
    CHECK(report_write(dir, NULL) == TR_OK, "bad fit: %s", tr_errmsg());
    if ((html = slurp(dir, "report.html"))) {
        check_common(html);
        CHECK(strstr(html, "<p class=\"warn fdpg-fit-bad\">fdpg_fit.json unreadable (not valid JSON)"), "bad fit noted");
        CHECK(!strstr(html, "<line class=\"target\"") && !strstr(html, "<caption>lambda fit"), "no targets from a bad fit");
        CHECK(find_chart(html, "fdpg/moment/contains", &s), "moment chart without a fit");
        free(html);
    }

    /* fdpg_fit.json without fdpg metrics: no section */
    write_text(dir, "fdpg_fit.json", "{\"features\":[{\"name\":\"contains\",\"requested\":0.5}]}");
    write_text(dir, "metrics.jsonl", "{\"step\":1,\"reward/mean\":0.5,\"fdpgx\":1}\n{\"step\":2,\"reward/mean\":0.6}\n");
    CHECK(report_write(dir, NULL) == TR_OK, "no fdpg: %s", tr_errmsg());
    if ((html = slurp(dir, "report.html"))) {
        check_common(html);
        CHECK(!strstr(html, "id=\"fdpg\"") && !strstr(html, "lambda fit") && !strstr(html, "f-DPG"),
              "f-DPG section without fdpg metrics");
        CHECK(strstr(html, "RL run"), "plain RL run");
        free(html);
    }
}

/* Four f-DPG runs, one per divergence: the overlaid f-DPG charts, the
 * requested moment dashed once, a run's proposal updates in its colour,
 * and the last-10-steps means of the f-DPG summary. */
static void test_fdpg_compare(const char *root) {
    static const char *const DIV[] = {"fkl", "rkl", "js", "tv"};
    static const double MOM[] = {0.3, 0.48, 0.55, 0.7};
    char dirs[4][600], out[700];
    const char *dp[4];
    for (int i = 0; i < 4; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/fdpg_cmp_%s", root, DIV[i]);
        if (mkdir(dirs[i], 0755)) {
            perror(dirs[i]);
            exit(2);
        }
        dp[i] = dirs[i];
        char p[700];
        snprintf(p, sizeof p, "%s/metrics.jsonl", dirs[i]);
        FILE *f = fopen(p, "wb");
        if (!f) exit(2);
        for (int s = 1; s <= 30; s++) {
            /* run i: kl_p_pi = (i+1)(1 - s/60), tv = (i+1)/10 (1 - s/60), distinct_2 = 0.5 + 0.1 i */
            fprintf(f, "{\"step\":%d,\"acc\":0.5,\"fdpg/kl_p_pi\":%.6f,\"fdpg/tv_p_pi\":%.6f,\"fdpg/kl_pi_a\":%.6f,"
                       "\"fdpg/moment/contains\":%.4f,\"fdpg/distinct_2\":%.2f}\n",
                    s, (i + 1) * (1 - s / 60.0), (i + 1) / 10.0 * (1 - s / 60.0), 0.01 * s, MOM[i], 0.5 + 0.1 * i);
            if (i == 1 && s == 15) fputs("{\"step\":15,\"event\":\"fdpg_q_update\",\"kl_p_pi\":1.5,\"kl_p_q\":2}\n", f);
        }
        fclose(f);
        if (i < 3)
            write_text(dirs[i], "fdpg_fit.json",
                       "{\"features\":[{\"name\":\"contains\",\"requested\":0.5,\"base\":0.2,\"achieved\":0.5,"
                       "\"lambda\":1.3}]}");
    }
    snprintf(out, sizeof out, "%s/fdpg_compare.html", root);
    const char *labels[] = {"fkl", "rkl", "js", "tv"};
    int rc = report_compare(dp, labels, 4, out);
    CHECK(rc == TR_OK, "fdpg report_compare: %d %s", rc, tr_errmsg());
    char *html = tr_read_file(out, NULL);
    if (!html) {
        CHECK(0, "no fdpg_compare.html");
        return;
    }
    check_common(html);
    const char *sec = strstr(html, "<section id=\"fdpg-curves\"><h2>f-DPG</h2>");
    CHECK(sec != NULL, "f-DPG curves section");
    static const char *const CH[] = {"fdpg/kl_p_pi", "fdpg/tv_p_pi", "fdpg/kl_pi_a", "fdpg/moment/contains",
                                     "fdpg/distinct_2"};
    Svg s;
    const char *prev = sec;
    for (int c = 0; c < 5; c++) {
        check_chart(html, CH[c], 4);
        CHECK(find_chart(html, CH[c], &s) && prev && s.a > prev, "chart %s missing or out of order", CH[c]);
        prev = s.a;
    }
    CHECK(!find_chart(html, "fdpg/b_rate", &s) && !find_chart(html, "fdpg/reward", &s), "charts no run has");
    check_point(html, "fdpg/kl_p_pi", "tv", -1, 30, 2.0);
    check_point(html, "fdpg/moment/contains", "js", 0, 1, 0.55);
    char c1[32], c2[32];
    series_stroke(html, "fdpg/distinct_2", "js", c1, sizeof c1);
    series_stroke(html, "acc", "js", c2, sizeof c2);
    CHECK(!strcmp(c1, "#2ca02c") && !strcmp(c2, "#2ca02c"), "run js colours %s %s", c1, c2);
    /* rkl's proposal update, in rkl's colour */
    CHECK(find_chart(html, "fdpg/kl_p_pi", &s), "kl chart");
    CHECK(count_in(s.a, s.z, "<line class=\"event\"") == 1 &&
              mark_attr(&s, "event", "data-step", "15", "stroke", c1, sizeof c1) && !strcmp(c1, "#ff7f0e"),
          "rkl's proposal update in its colour (%s)", c1);
    /* the fits agree on 0.5 (tv has none): one grey dashed line */
    CHECK(find_chart(html, "fdpg/moment/contains", &s), "moment chart");
    CHECK(count_in(s.a, s.z, "<line class=\"target\"") == 1 &&
              mark_attr(&s, "target", "data-target", "contains", "data-value", c1, sizeof c1) && !strcmp(c1, "0.5"),
          "one target line at 0.5");

    /* the f-DPG summary: means of the last 10 steps (21..30) */
    static const char *const T = "<table class=\"summary fdpg\"";
    for (int i = 0; i < 4; i++) {
        double v = NAN, want_kl = (i + 1) * (1 - 25.5 / 60.0);
        CHECK(table_cell(html, T, labels[i], "kl_p_pi", &v) == 1 && fabs(v - want_kl) < 1e-5,
              "%s kl_p_pi mean %g, expected %g", labels[i], v, want_kl);
        CHECK(table_cell(html, T, labels[i], "tv_p_pi", &v) == 1 && fabs(v - want_kl / 10) < 1e-5, "%s tv mean %g",
              labels[i], v);
        CHECK(table_cell(html, T, labels[i], "kl_pi_a", &v) == 1 && fabs(v - 0.255) < 1e-9, "%s kl_pi_a mean %g",
              labels[i], v);
        CHECK(table_cell(html, T, labels[i], "moment/contains", &v) == 1 && fabs(v - MOM[i]) < 1e-9,
              "%s moment mean %g", labels[i], v);
        CHECK(table_cell(html, T, labels[i], "distinct_2", &v) == 1 && fabs(v - (0.5 + 0.1 * i)) < 1e-9,
              "%s distinct_2 mean %g", labels[i], v);
        CHECK(table_cell(html, T, labels[i], "b_rate", &v) == -1, "b_rate column no run has");
    }
    /* best: the lowest KL (fkl), the moment closest to 0.5 (rkl), the most diverse (tv) */
    char r[8192];
    const char *tab = strstr(html, T), *rp;
    CHECK(tab && (rp = strstr(tab, "<tr data-run=\"fkl\">")) && row(rp, "data-run", "fkl", r, sizeof r) &&
              strstr(r, "<td data-col=\"kl_p_pi\" data-value=\"0.575\" class=\"best\">"),
          "fkl best KL: %s", r);
    CHECK(tab && (rp = strstr(tab, "<tr data-run=\"rkl\">")) && row(rp, "data-run", "rkl", r, sizeof r) &&
              strstr(r, "<td data-col=\"moment/contains\" data-value=\"0.48\" class=\"best\">"),
          "rkl closest moment: %s", r);
    CHECK(tab && (rp = strstr(tab, "<tr data-run=\"tv\">")) && row(rp, "data-run", "tv", r, sizeof r) &&
              strstr(r, "data-col=\"distinct_2\" data-value=\"0.8\" class=\"best\"") &&
              !strstr(r, "data-col=\"kl_pi_a\" data-value=\"0.255\" class=\"best\""),
          "tv most diverse, kl_pi_a not ranked: %s", r);
    CHECK(strstr(html, "(requested 0.5)</small>"), "requested value in the moment header");
    free(html);

    /* the earlier comparison (no fdpg metrics) has no f-DPG parts */
    char a[600], b2[600], c[600];
    snprintf(a, sizeof a, "%s/cmpA/seed1", root);
    snprintf(b2, sizeof b2, "%s/cmpB/seed1", root);
    snprintf(c, sizeof c, "%s/other", root);
    const char *plain[] = {a, b2, c};
    CHECK(report_compare(plain, NULL, 3, out) == TR_OK, "plain compare: %s", tr_errmsg());
    if ((html = tr_read_file(out, NULL))) {
        CHECK(!strstr(html, "fdpg") && !strstr(html, "f-DPG"), "f-DPG parts in a comparison without fdpg metrics");
        free(html);
    }
}

int main(void) {
    char root[] = "/tmp/thinkrl_test_report_XXXXXX";
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 2;
    }
    static const char *const subs[] = {"rl_run", "sft_run", "long_run", "bad_run", "ads_run"};
    char d[5][600];
    for (int i = 0; i < 5; i++) {
        snprintf(d[i], sizeof d[i], "%s/%s", root, subs[i]);
        if (mkdir(d[i], 0755)) {
            perror(d[i]);
            return 2;
        }
    }
    test_rl(d[0]);
    test_sft(d[1]);
    test_long(d[2]);
    test_errors(d[3]);
    test_ads(d[4]);
    test_compare(root);
    test_fdpg(root);
    test_fdpg_compare(root);
    if (!tu_fails) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    } else {
        fprintf(stderr, "outputs kept in %s\n", root);
    }
    return tu_summary("test_report");
}
