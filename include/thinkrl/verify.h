/* Verifiers: the checks behind the verifiable rewards and the task scorers.
 * Splitting a response into its <think> and <answer> parts, comparing an
 * answer with a reference after normalisation, and a real arithmetic
 * expression parser for countdown-style equations (no eval of code).
 * Everything here is pure: text in, verdict out. */
#ifndef THINKRL_VERIFY_H
#define THINKRL_VERIFY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Tag names without brackets; defaults "think" and "answer". */
typedef struct {
    const char *think;
    const char *answer;
} VerifyTags;

/* The parts of a response. Pointers point into the response text. */
typedef struct {
    const char *think;   /* inside the first <think>...</think>, NULL if none */
    size_t think_len;
    const char *answer;  /* inside the LAST <answer>...</answer>, NULL if none */
    size_t answer_len;
    int format_ok;       /* exactly "<think>X</think><answer>Y</answer>" once each,
                            nothing outside but whitespace, no nested or
                            stray tags inside X or Y */
} VerifyParts;
/* tags NULL: the defaults. Never fails: a response without tags gives
 * NULL parts and format_ok = 0. */
void verify_parse(const char *resp, size_t len, const VerifyTags *tags, VerifyParts *out);

/* Parses a number the way people write answers: optional sign, digits with
 * optional thousands commas ("1,000"), decimals, exponent ("1e3"), a
 * simple fraction ("3/4", "-1/2"), a trailing '%' is NOT accepted, a
 * leading '$' is allowed; surrounding whitespace is allowed, anything else
 * is not. Returns 1 and *out on success, 0 if the text is not a number. */
int verify_number(const char *s, size_t n, double *out);

/* 1 if answer `got` matches `ref` after normalisation, else 0:
 * - both are plain integers (sign, digits, thousands commas): the same
 *   digits exactly ("1,000" = "1000" = "+01000");
 * - both parse as numbers (verify_number): equal within 1e-9 relative
 *   (1e-12 absolute);
 * - otherwise both are compared as text: trimmed, case-folded (ASCII),
 *   inner runs of whitespace collapsed to one space, a trailing '.'
 *   dropped;
 * - multiple choice: when ref is a single letter A-Z, got matches when it
 *   is that letter alone or wrapped as "(B)", "B)", "B." or "B: text",
 *   case-insensitively. */
int verify_answer(const char *got, size_t n, const char *ref);

/* Arithmetic expressions: integers and decimals, + - * /, unary minus,
 * parentheses; usual precedence, left associative. Division is exact
 * (double); division by zero is an error. */
typedef struct {
    double value;
    int n_numbers;       /* numbers the expression uses, in order of appearance */
    double numbers[32];  /* the first 32 of them */
    char error[96];      /* why parsing failed ("" on success) */
} VerifyExpr;
/* Returns 1 on success (out->value set), 0 on a syntax error, a number
 * overflow, division by zero or more than 32 numbers (out->error says
 * which and where: "unexpected ')' at 4"). Nesting deeper than 64 is an
 * error, not a stack overflow. */
int verify_expr(const char *s, size_t n, VerifyExpr *out);

/* Countdown check: expr is a valid expression that uses each of the
 * numbers[0..n) at most once (as a multiset: two 5s available allow two
 * 5s; numbers not in the list are not allowed) and evaluates to target
 * within 1e-6. Returns 1 if so, else 0 with why (may be NULL, len >= 64)
 * explaining ("uses 7, which is not available"). */
int verify_equation(const char *expr, size_t n, const double *numbers, int n_numbers,
                    double target, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif
#endif
