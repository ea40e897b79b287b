/* Built-in synthetic tasks (arith, countdown, word, bio) and the
 * reasoning-pattern classifier. Each task generates records with a checkable
 * answer and, for SFT, a reasoning trace "<think>...</think><answer>...
 * </answer>" in one of several styles (patterns) of different reliability
 * (bio instead: one fixed prompt "Bio: ", the completion a plain short
 * biography, the answer its gender; for distribution matching, f-DPG);
 * it scores a response's answer against its record, and names regex rules
 * that label a response's <think> text with its pattern (ALGORITHMS 7).
 * Generation is deterministic: record i depends only on (seed, i) and the
 * options. */
#ifndef THINKRL_TASK_H
#define THINKRL_TASK_H

#include <stdint.h>
#include <stdio.h>

#include "thinkrl/core.h"
#include "thinkrl/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- pattern classifier: ordered (name, PCRE2 regex) rules over the think
 * text; the first rule that matches names the pattern, none: "other". ---- */
#define PATTERN_MAX 16
typedef struct {
    int n;
    char *name[PATTERN_MAX];
    char *regex[PATTERN_MAX];
    void *code[PATTERN_MAX];     /* pcre2_code* */
    void *match;                 /* pcre2_match_data* (one thread at a time) */
} PatternSet;
/* Compiles n rules. Errors name the rule and the regex offset. Names must
 * be non-empty, distinct and not "other". */
int pattern_init(PatternSet *ps, const char *const *names, const char *const *regexes, int n);
/* Parses "name=regex;name=regex" (a ';' inside a regex is written ";;"). */
int pattern_init_spec(PatternSet *ps, const char *spec);
/* Index of the first matching rule, or -1 ("other"). text may be NULL
 * (no think part): -1. */
int pattern_classify(PatternSet *ps, const char *text, size_t len);
/* Name of index i; "other" for -1. */
const char *pattern_name(const PatternSet *ps, int i);
void pattern_free(PatternSet *ps);

/* ---- task options: key=value pairs checked against the task's table ---- */
typedef struct {
    const char *key;
    const char *def;    /* default value as text */
    const char *help;
} TaskParam;

#define TASK_MAX_PARAMS 16
typedef struct {
    int n;
    const char *key[TASK_MAX_PARAMS];   /* point into the task's table */
    char *val[TASK_MAX_PARAMS];         /* owned */
} TaskOpts;

typedef struct TaskDef TaskDef;
struct TaskDef {
    const char *name;
    const char *help;             /* one line */
    const TaskParam *params;      /* options with defaults */
    int n_params;
    const char *const *pattern_names;  /* default classifier rules */
    const char *const *pattern_regex;
    int n_patterns;
    /* Fills *out with record `index` (id "<task>-<index>", prompt, answer,
     * completion = a trace when traces != 0, meta: "task" = name, "pattern"
     * = the trace style drawn, plus task fields such as "numbers",
     * "target", "difficulty"). rng is seeded for this record only. */
    int (*gen)(const TaskOpts *o, Rng *rng, int64_t index, int traces, Record *out);
    /* 1 if the answer text (the <answer> content) solves the record, else 0.
     * why (may be NULL) gets a short reason when it is 0. */
    int (*score)(const Record *rec, const char *answer, size_t len, char *why, size_t why_len);
};

/* The registry. */
const TaskDef *task_find(const char *name);
int task_count(void);
const TaskDef *task_at(int i);

/* Fills o with the task's defaults, then applies kv[0..n) ("key=value");
 * an unknown key is an error listing the valid ones, and so is a value the
 * task cannot use (checked by task_opts_check). Free with task_opts_free. */
int task_opts_init(TaskOpts *o, const TaskDef *t, char *const *kv, int n);
void task_opts_free(TaskOpts *o);
const char *task_opt(const TaskOpts *o, const char *key);  /* NULL if not a key */
/* Typed getters; errors name the option ("option 'digits': expected N or
 * N-M, got 'x'"). */
int task_opt_int(const TaskOpts *o, const char *key, long *out);
int task_opt_float(const TaskOpts *o, const char *key, double *out);
int task_opt_range(const TaskOpts *o, const char *key, long *lo, long *hi); /* "N" or "N-M" */
/* "name:w,name:w,..." over the given names (weights >= 0, at least one > 0,
 * every name known; missing names get 0); normalised into w[0..n). */
int task_opt_mix(const TaskOpts *o, const char *key, const char *const *names, int n, double *w);
/* Checks every option of the task parses (called by task_opts_init). */
int task_opts_check(const TaskOpts *o, const TaskDef *t);

/* Writes records first..first+n-1 (record i seeded from (seed, i)) as JSONL
 * to f. */
int task_generate(const TaskDef *t, const TaskOpts *o, uint64_t seed, int64_t first, int64_t n,
                  int traces, FILE *f);
/* One record (the same one task_generate writes for index i). */
int task_record(const TaskDef *t, const TaskOpts *o, uint64_t seed, int64_t index, int traces,
                Record *out);

/* Scores a full response against a record using the record's meta "task"
 * (or `fallback` when the record names none): splits the response with
 * verify_parse (default tags), scores the answer part. *format_ok gets the
 * format verdict (may be NULL). Returns 1 correct, 0 wrong (no answer part
 * is wrong), negative when the record names an unknown task. */
int task_score_response(const Record *rec, const TaskDef *fallback, const char *resp, size_t len,
                        int *format_ok);

/* A task's default classifier. */
int task_patterns(const TaskDef *t, PatternSet *ps);

#ifdef __cplusplus
}
#endif
#endif
