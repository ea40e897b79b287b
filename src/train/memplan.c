/* Memory plans: sum, print and limits. What goes into a plan is the
 * trainer's business (rl_memplan in src/rl/trainer.c, sft_memplan in
 * src/train/sft.c). */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "thinkrl/memplan.h"

void memplan_add(MemPlan *p, const char *name, double bytes, const char *knob, const char *detail, ...) {
    if (!(bytes > 0) || p->n >= MEMPLAN_MAX) return;
    MemTerm *t = &p->t[p->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->knob, sizeof t->knob, "%s", knob ? knob : "");
    va_list ap;
    va_start(ap, detail);
    vsnprintf(t->detail, sizeof t->detail, detail, ap);
    va_end(ap);
    t->bytes = bytes;
}

double memplan_total(const MemPlan *p) {
    double s = 0;
    for (int i = 0; i < p->n; i++) s += p->t[i].bytes;
    return s;
}

const MemTerm *memplan_largest(const MemPlan *p) {
    const MemTerm *b = NULL;
    for (int i = 0; i < p->n; i++)
        if (!b || p->t[i].bytes > b->bytes) b = &p->t[i];
    return b;
}

const char *memplan_fmt(double bytes, char *buf, size_t cap) {
    static const char *const U[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.2f %s" : "%.0f %s", bytes, U[u]);
    return buf;
}

void memplan_print(const MemPlan *p, FILE *f, const char *prefix, double limit, const char *limit_what) {
    int ord[MEMPLAN_MAX];
    for (int i = 0; i < p->n; i++) ord[i] = i;
    for (int i = 1; i < p->n; i++) /* largest first; ties keep the order of the plan */
        for (int j = i; j > 0 && p->t[ord[j]].bytes > p->t[ord[j - 1]].bytes; j--) {
            int x = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = x;
        }
    char b[32];
    for (int i = 0; i < p->n; i++) {
        const MemTerm *t = &p->t[ord[i]];
        fprintf(f, "%s  %-26s %11s  %s\n", prefix, t->name, memplan_fmt(t->bytes, b, sizeof b), t->detail);
    }
    fprintf(f, "%s  %-26s %11s", prefix, "total", memplan_fmt(memplan_total(p), b, sizeof b));
    if (limit > 0) fprintf(f, "  of %s %s", memplan_fmt(limit, b, sizeof b), limit_what);
    fprintf(f, "\n");
}

int memplan_parse_size(const char *s, double *bytes) {
    if (!s) return -1;
    while (isspace((unsigned char)*s)) s++;
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0) return -1;
    while (isspace((unsigned char)*end)) end++;
    double mul = 1;
    char u = (char)toupper((unsigned char)*end);
    if (u) {
        const char *units = "KMGT";
        const char *q = strchr(units, u);
        if (!q) return -1;
        mul = pow(1024.0, (double)(q - units + 1));
        end++;
        if (*end == 'i' || *end == 'I') end++;
        if (*end == 'b' || *end == 'B') end++;
    }
    while (isspace((unsigned char)*end)) end++;
    if (*end) return -1;
    *bytes = v * mul;
    return 0;
}

double memplan_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    double kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "MemAvailable:", 13)) {
            kb = strtod(line + 13, NULL);
            break;
        }
    fclose(f);
    return kb * 1024;
}

double memplan_limit(double max_memory, const char **what) {
    if (max_memory > 0) {
        *what = "max_memory";
        return max_memory;
    }
    *what = "available (MemAvailable)";
    return memplan_available();
}

double memplan_rss(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    long long size = 0, res = 0;
    int n = fscanf(f, "%lld %lld", &size, &res);
    fclose(f);
    long psz = sysconf(_SC_PAGESIZE);
    return n == 2 && psz > 0 ? (double)res * (double)psz : 0;
}
