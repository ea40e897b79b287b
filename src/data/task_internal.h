/* Shared by the task modules (task.c, task_arith.c, task_countdown.c,
 * task_word.c, task_bio.c) and their test: a small growable text buffer,
 * the record builder, random draws, and the trace builders the test calls
 * directly. Not part of the public API. */
#ifndef THINKRL_TASK_INTERNAL_H
#define THINKRL_TASK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "thinkrl/core.h"
#include "thinkrl/data.h"
#include "thinkrl/task.h"

extern const TaskDef task_arith, task_countdown, task_word, task_bio;

/* Growable NUL-terminated text. Appends never fail loudly: an allocation
 * failure sets oom (and later appends do nothing); check it once at the
 * end. A zeroed TkBuf is an empty buffer. */
typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} TkBuf;
void tkbuf_printf(TkBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tkbuf_putc(TkBuf *b, char c);
const char *tkbuf_str(const TkBuf *b);   /* "" when empty */
void tkbuf_clear(TkBuf *b);              /* keeps the memory */
void tkbuf_free(TkBuf *b);

/* Uniform integer in [lo, hi] (lo <= hi). */
long tk_randint(Rng *r, long lo, long hi);
/* Index drawn with probability w[i] / sum(w); w has a positive entry. */
int tk_draw(Rng *r, const double *w, int n);

/* Fills *out (zeroed first): id "<task>-<index>", prompt, answer,
 * completion "<think>THINK</think><answer>ANSWER</answer>" when think is
 * not NULL, meta "task" and "pattern". The task adds its own meta fields
 * after. On failure *out is freed and the status returned. */
int tk_record(Record *out, const char *task, int64_t index, const char *prompt, const char *answer,
              const char *think, const char *pattern);

/* Convention: every gen parses all of its options before drawing anything,
 * so task_opts_check validates options by generating record 0. */

/* ---- arith ---- */
enum { ARITH_DIRECT = 0, ARITH_COLUMN = 1, ARITH_SPLIT = 2 };
/* Appends the trace of a op b (op '+' or '*', a, b >= 1) in the given style. */
void arith_trace(TkBuf *out, char op, long long a, long long b, int style);

/* ---- countdown ---- */
/* Expression tree in creation order: leaves have op 0 and value v; an
 * inner node combines nodes l and r (earlier indices) with op. */
typedef struct {
    char op;
    int l, r;
    long v;
} CdNode;
/* Formats the solution rooted at `root` (the last node): forward steps
 * "25+3=28,28*2=56", backward "56=28*2,28=25+3", the expression with
 * minimal parentheses "(25+3)*2". Any output may be NULL. */
void countdown_format(const CdNode *nodes, int n_nodes, int root, TkBuf *fwd, TkBuf *bwd,
                      TkBuf *expr);

/* ---- word ---- */
typedef struct {
    TkBuf question;   /* the problem text */
    TkBuf stepwise;   /* "3*4=12,12+12=24" */
    TkBuf verbose;    /* sentences with the same equations */
    long answer;
    int steps;
    const char *name; /* template name */
} WordProb;
int word_template_count(void);
const char *word_template_name(int i);
/* Builds template t with `steps` operations (1..3). The numbers (and name
 * and item choices) are drawn from rng in a fixed order, or, when preset is
 * not NULL, taken from preset[0..n_preset) in that same order (the test
 * builds hand-checked problems this way; a preset value out of its range
 * is used as given). Free with word_prob_free. */
int word_make(int t, int steps, Rng *rng, const long *preset, int n_preset, WordProb *out);
void word_prob_free(WordProb *w);

#endif
