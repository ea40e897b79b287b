/* Internal interface between the Jinja parser (jinja_parse.c: lexer with
 * @huggingface/jinja's preprocessing, recursive-descent parser with its
 * precedence) and the interpreter (jinja.c). All memory of one render lives
 * in the context's arena; errors unwind to jinja_render with longjmp. */
#ifndef THINKRL_TOK_JINJA_H
#define THINKRL_TOK_JINJA_H

#include <setjmp.h>
#include <stddef.h>

#include "tokenizer/tok_internal.h"

typedef struct {
    Arena arena;
    jmp_buf jb;
    char msg[1024];
    int depth; /* parser and call recursion, bounded to keep the C stack safe */
    size_t bytes; /* taken from the arena so far, bounded by MAX_BYTES */
} Ctx;

enum { MAX_DEPTH = 1000 };
/* Memory one render may use. Every evaluation step allocates, so this also
 * ends runaway templates (huge ranges, loops in loops, exponential macro
 * recursion) with an error instead of exhausting memory. The Qwen3 and
 * Llama 3 templates render a 3 MB conversation (2000 messages) within it. */
#define MAX_BYTES ((size_t)64 << 20)

_Noreturn void jfail(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void *jalloc(Ctx *c, size_t n); /* zeroed, in the arena; fails the render past MAX_BYTES or on OOM */
char *jstrdup(Ctx *c, const char *s, size_t n);
void bput(Ctx *c, SBuf *b, const void *p, size_t n);
void bputs(Ctx *c, SBuf *b, const char *s);
/* Forgets a bput buffer (its storage is the arena's). */
static inline void bdrop(SBuf *b) { b->p = NULL, b->n = b->cap = 0; }
int js_ws_at(const char *s, size_t n, size_t i, int *len); /* JavaScript \s at s[i] */
int is_word(char ch);                                      /* JavaScript \w (ASCII) */
int is_digit(char ch);

enum {
    N_TEXT, N_IF, N_FOR, N_SET, N_MACRO, N_BREAK, N_CONTINUE, N_COMMENT, N_IDENT, N_INT, N_FLOAT, N_STR,
    N_ARRAY, N_TUPLE, N_OBJECT, N_MEMBER, N_CALL, N_BINARY, N_UNARY, N_FILTER, N_TEST, N_TERNARY, N_SELECT,
    N_SLICE, N_KWARG, N_SPREAD, N_KWSPREAD
};

typedef struct Node Node;
typedef struct {
    Node **v;
    int n, cap;
} NodeList;
/* One AST node; which fields are used depends on kind:
 *   If: a test, l1 body, l2 else      For: a target, b iterable, l1 body, l2 else
 *   Set: a target, b value or l1 body  Macro: s name, l1 params, l2 body
 *   Member: a object, b property, flag computed   Call: a callee, l1 args
 *   Binary: s op, a, b   Unary: s op, a   Filter: a operand, b Ident or Call
 *   Test: a operand, s name, flag negated   Ternary: a cond, b then, c else
 *   Select: a value, b cond   Slice: a b c (NULL when absent)   KwArg: s key, a value
 *   Int/Float: num   Str/Ident: s, sn   Array/Tuple: l1   Object: l1 keys, l2 values */
struct Node {
    int kind;
    Node *a, *b, *c;
    NodeList l1, l2;
    const char *s;
    size_t sn;
    double num;
    int flag;
};

/* Lexes and parses tmpl into prog (statements at the top level). */
void jinja_parse(Ctx *c, const char *tmpl, NodeList *prog);

#endif
