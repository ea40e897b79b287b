/* Memory plans: what a run will hold (weights, gradients, optimiser
 * moments, activations, KV cache, reference and critic copies, ...), term
 * by term, computed from the config before anything large is allocated,
 * printed, and checked against `max_memory` or the memory available. The
 * trainers build the terms; this module sums, prints and judges them. */
#ifndef THINKRL_MEMPLAN_H
#define THINKRL_MEMPLAN_H
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MEMPLAN_MAX 24

typedef struct {
    char name[48];    /* "policy weights" */
    char detail[112]; /* how it is counted: "1.54M params x 4 B" */
    double bytes;
    char knob[48];    /* the setting that shrinks it ("" : none) */
} MemTerm;

typedef struct {
    MemTerm t[MEMPLAN_MAX];
    int n;
} MemPlan;

/* Appends a term (dropped past MEMPLAN_MAX; bytes <= 0: skipped). knob may
 * be NULL; detail is printf-style. */
void memplan_add(MemPlan *p, const char *name, double bytes, const char *knob, const char *detail, ...)
    __attribute__((format(printf, 5, 6)));
double memplan_total(const MemPlan *p);
/* The largest term (NULL for an empty plan). */
const MemTerm *memplan_largest(const MemPlan *p);
/* One line per term, largest first, then the total and the limit it is
 * judged against (limit <= 0: not shown). Lines start with prefix. */
void memplan_print(const MemPlan *p, FILE *f, const char *prefix, double limit, const char *limit_what);
/* "0", "512M", "8G", "1.5GiB", "2e9" -> bytes (K, M, G, T are binary; a
 * bare number is bytes). Returns 0 or -1 for anything else. */
int memplan_parse_size(const char *s, double *bytes);
/* This process's resident memory now, in bytes (0 when unknown). */
double memplan_rss(void);
/* The kernel's MemAvailable in bytes (0 when unknown). */
double memplan_available(void);
/* "1.23 GiB" / "456.0 MiB" / "12.0 KiB" into buf. */
const char *memplan_fmt(double bytes, char *buf, size_t cap);
/* The limit a plan is judged against: max_memory when set (> 0), else the
 * memory available. *what names it for messages. Returns 0 when neither
 * is known (no check). */
double memplan_limit(double max_memory, const char **what);

#ifdef __cplusplus
}
#endif
#endif
