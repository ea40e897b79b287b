/* Verifiers behind the format / accuracy / equation rewards: tag splitting,
 * answer normalisation, and a recursive-descent arithmetic parser for
 * countdown answers. Pure functions: no allocation, no globals, no eval. It
 * does not know about tasks or records; the task scorers call in here. */
#include "thinkrl/verify.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_ws(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Trims ASCII whitespace from both ends of [*b, *e). */
static void trim(const char *s, size_t *b, size_t *e) {
    while (*b < *e && is_ws((unsigned char)s[*b])) (*b)++;
    while (*e > *b && is_ws((unsigned char)s[*e - 1])) (*e)--;
}

/* ---------------------------------------------------------------- tags -- */

enum { TAG_THINK_OPEN, TAG_THINK_CLOSE, TAG_ANS_OPEN, TAG_ANS_CLOSE, TAG_NONE };

typedef struct {
    const char *name[2]; /* think, answer */
    size_t len[2];
} TagNames;

/* Length of the tag `<name>` (closing: `</name>`) at s[i], 0 if not there. */
static size_t tag_at(const char *s, size_t n, size_t i, const char *name, size_t nl, int closing) {
    size_t need = nl + 2 + (closing ? 1 : 0);
    if (n - i < need || s[i] != '<') return 0;
    size_t j = i + 1;
    if (closing && s[j++] != '/') return 0;
    if (memcmp(s + j, name, nl) != 0) return 0;
    if (s[j + nl] != '>') return 0;
    return need;
}

/* Which of the four tags starts at s[i] (TAG_NONE if none); *tl its length. */
static int which_tag(const char *s, size_t n, size_t i, const TagNames *t, size_t *tl) {
    for (int k = 0; k < 4; k++) {
        size_t l = tag_at(s, n, i, t->name[k / 2], t->len[k / 2], k & 1);
        if (l) {
            *tl = l;
            return k;
        }
    }
    return TAG_NONE;
}

/* First position >= from where any of the four tags starts; n if none. */
static size_t next_tag(const char *s, size_t n, size_t from, const TagNames *t, int *kind,
                       size_t *tl) {
    for (size_t i = from; i < n; i++) {
        const char *p = memchr(s + i, '<', n - i);
        if (!p) break;
        i = (size_t)(p - s);
        int k = which_tag(s, n, i, t, tl);
        if (k != TAG_NONE) {
            *kind = k;
            return i;
        }
    }
    *kind = TAG_NONE;
    *tl = 0;
    return n;
}

/* Whether the text is exactly ws <think>X</think> ws <answer>Y</answer> ws
 * with no tag inside X or Y. */
static int format_check(const char *s, size_t n, const TagNames *t) {
    static const int expect[4] = {TAG_THINK_OPEN, TAG_THINK_CLOSE, TAG_ANS_OPEN, TAG_ANS_CLOSE};
    size_t i = 0;
    for (int step = 0; step < 4; step++) {
        if (step % 2 == 0) { /* an opening tag: only whitespace before it */
            while (i < n && is_ws((unsigned char)s[i])) i++;
            size_t tl = 0;
            if (i >= n || which_tag(s, n, i, t, &tl) != expect[step]) return 0;
            i += tl;
        } else { /* the next tag of any kind must be the matching close */
            int kind;
            size_t tl = 0;
            size_t at = next_tag(s, n, i, t, &kind, &tl);
            if (kind != expect[step]) return 0;
            i = at + tl;
        }
    }
    while (i < n && is_ws((unsigned char)s[i])) i++;
    return i == n;
}

void verify_parse(const char *resp, size_t len, const VerifyTags *tags, VerifyParts *out) {
    out->think = NULL;
    out->think_len = 0;
    out->answer = NULL;
    out->answer_len = 0;
    out->format_ok = 0;
    if (!resp) return;

    TagNames t;
    t.name[0] = (tags && tags->think && tags->think[0]) ? tags->think : "think";
    t.name[1] = (tags && tags->answer && tags->answer[0]) ? tags->answer : "answer";
    t.len[0] = strlen(t.name[0]);
    t.len[1] = strlen(t.name[1]);
    const char *s = resp;
    size_t n = len;

    /* think: first open, then the first close after it */
    for (size_t i = 0; i < n; i++) {
        const char *p = memchr(s + i, '<', n - i);
        if (!p) break;
        i = (size_t)(p - s);
        size_t ol = tag_at(s, n, i, t.name[0], t.len[0], 0);
        if (!ol) continue;
        size_t b = i + ol;
        for (size_t j = b; j < n; j++) {
            const char *q = memchr(s + j, '<', n - j);
            if (!q) break;
            j = (size_t)(q - s);
            if (tag_at(s, n, j, t.name[0], t.len[0], 1)) {
                out->think = s + b;
                out->think_len = j - b;
                break;
            }
        }
        break;
    }

    /* answer: the last open tag that has a close after it, up to the first
     * close after it (so the content holds neither tag) */
    size_t cl = t.len[1] + 3, ol = t.len[1] + 2;
    if (n >= cl + ol) {
        size_t last_close = n;
        for (size_t j = n - cl + 1; j-- > ol;) {
            if (s[j] == '<' && tag_at(s, n, j, t.name[1], t.len[1], 1)) {
                last_close = j;
                break;
            }
        }
        if (last_close < n) {
            size_t open = n;
            for (size_t i = last_close - ol + 1; i-- > 0;) {
                if (s[i] == '<' && tag_at(s, n, i, t.name[1], t.len[1], 0)) {
                    open = i;
                    break;
                }
            }
            if (open < n) {
                size_t b = open + ol;
                for (size_t j = b; j <= last_close; j++) {
                    if (s[j] == '<' && tag_at(s, n, j, t.name[1], t.len[1], 1)) {
                        out->answer = s + b;
                        out->answer_len = j - b;
                        break;
                    }
                }
            }
        }
    }

    out->format_ok = format_check(s, n, &t);
}

/* ------------------------------------------------------------- numbers -- */

/* Longest number text we convert (digits, sign, point, exponent). Longer
 * answers are not numbers people write. */
#define NUM_MAX 400

/* Scans an unsigned integer [i, n) into buf (appending); returns digits. */
static size_t scan_digits(const char *s, size_t n, size_t *i, char *buf, size_t *bl) {
    size_t d = 0;
    while (*i < n && is_digit((unsigned char)s[*i])) {
        if (*bl < NUM_MAX) buf[(*bl)++] = s[*i];
        (*i)++;
        d++;
    }
    return d;
}

int verify_number(const char *s, size_t n, double *out) {
    if (!s) return 0;
    size_t i = 0, e = n;
    trim(s, &i, &e);
    if (i >= e) return 0;
    if (e - i > NUM_MAX - 8) return 0;

    char buf[NUM_MAX + 8];
    size_t bl = 0;
    int neg = 0, have_sign = 0, have_dollar = 0;
    /* sign and '$' in either order: "-$5", "$-5", "+5" */
    while (i < e) {
        if (!have_sign && (s[i] == '-' || s[i] == '+')) {
            neg = s[i] == '-';
            have_sign = 1;
            i++;
        } else if (!have_dollar && s[i] == '$') {
            have_dollar = 1;
            i++;
        } else {
            break;
        }
    }
    if (neg) buf[bl++] = '-';

    /* integer part, with proper thousands groups if it has any comma */
    size_t int_start = i;
    size_t int_digits = scan_digits(s, e, &i, buf, &bl);
    int commas = 0;
    if (int_digits > 0 && i < e && s[i] == ',') {
        if (int_digits > 3 || s[int_start] == '0') return 0;
        while (i < e && s[i] == ',') {
            i++;
            size_t g = scan_digits(s, e, &i, buf, &bl);
            if (g != 3) return 0;
            commas++;
        }
    }

    /* simple fraction: integer '/' integer, no commas, no point */
    if (i < e && s[i] == '/') {
        if (int_digits == 0 || commas) return 0;
        buf[bl] = '\0';
        i++;
        char den[NUM_MAX + 8];
        size_t dl = 0;
        size_t dd = scan_digits(s, e, &i, den, &dl);
        if (dd == 0 || i != e) return 0;
        den[dl] = '\0';
        double p = strtod(buf, NULL), q = strtod(den, NULL);
        if (q == 0.0) return 0;
        double v = p / q;
        if (!isfinite(v)) return 0;
        if (out) *out = v;
        return 1;
    }

    size_t frac_digits = 0;
    if (i < e && s[i] == '.') {
        buf[bl++] = '.';
        i++;
        frac_digits = scan_digits(s, e, &i, buf, &bl);
    }
    if (int_digits + frac_digits == 0) return 0;

    if (i < e && (s[i] == 'e' || s[i] == 'E')) {
        buf[bl++] = 'e';
        i++;
        if (i < e && (s[i] == '-' || s[i] == '+')) buf[bl++] = s[i++];
        if (scan_digits(s, e, &i, buf, &bl) == 0) return 0;
    }
    if (i != e) return 0;
    buf[bl] = '\0';
    double v = strtod(buf, NULL);
    if (!isfinite(v)) return 0;
    if (out) *out = v;
    return 1;
}

/* ------------------------------------------------------------- answers -- */

static int num_equal(double a, double b) {
    double d = fabs(a - b);
    double m = fmax(fabs(a), fabs(b));
    return d <= 1e-12 || d <= 1e-9 * m;
}

/* Normalised text range: trimmed, one trailing '.' dropped, trimmed again. */
static void text_range(const char *s, size_t n, size_t *b, size_t *e) {
    *b = 0;
    *e = n;
    trim(s, b, e);
    if (*e > *b && s[*e - 1] == '.') {
        (*e)--;
        trim(s, b, e);
    }
}

/* Compares two trimmed ranges case-folded, each whitespace run as one space. */
static int text_equal(const char *a, size_t ab, size_t ae, const char *b, size_t bb, size_t be) {
    size_t i = ab, j = bb;
    while (i < ae && j < be) {
        unsigned char ca = (unsigned char)a[i], cb = (unsigned char)b[j];
        if (is_ws(ca) || is_ws(cb)) {
            if (!is_ws(ca) || !is_ws(cb)) return 0;
            while (i < ae && is_ws((unsigned char)a[i])) i++;
            while (j < be && is_ws((unsigned char)b[j])) j++;
            continue;
        }
        if (lower(ca) != lower(cb)) return 0;
        i++;
        j++;
    }
    return i == ae && j == be;
}

/* Multiple choice: got (trimmed) is "B", "(B)", "B)", "B." or "B:..." */
static int choice_match(const char *g, size_t b, size_t e, unsigned char letter) {
    size_t len = e - b;
    if (len == 0) return 0;
    const char *p = g + b;
    if (p[0] == '(') {
        return len == 3 && lower((unsigned char)p[1]) == letter && p[2] == ')';
    }
    if (lower((unsigned char)p[0]) != letter) return 0;
    if (len == 1) return 1;
    if (p[1] == ':') return 1;
    return len == 2 && (p[1] == ')' || p[1] == '.');
}

/* A plain integer (optional sign or '$', digits with optional thousands
 * commas) as its canonical digits: "-" for negatives, no leading zeros,
 * "0" for zero. Returns 0 for anything else, or when it does not fit. */
static int int_digits(const char *s, size_t n, char *out, size_t cap) {
    size_t i = 0, o = 0;
    int neg = 0;
    while (i < n && (s[i] == '+' || s[i] == '-' || s[i] == '$')) neg ^= s[i++] == '-';
    if (i == n) return 0;
    int any = 0;
    for (; i < n; i++) {
        if (s[i] == ',') continue;
        if (s[i] < '0' || s[i] > '9') return 0;
        any = 1;
        if (o == 0 && s[i] == '0') continue;
        if (o + 3 >= cap) return 0;
        if (o == 0 && neg) out[o++] = '-';
        out[o++] = s[i];
    }
    if (!any) return 0;
    if (o == 0) out[o++] = '0';
    out[o] = 0;
    return 1;
}

int verify_answer(const char *got, size_t n, const char *ref) {
    if (!got || !ref) return 0;
    size_t rn = strlen(ref);

    size_t rb = 0, re = rn;
    trim(ref, &rb, &re);
    if (re - rb == 1) {
        unsigned char c = lower((unsigned char)ref[rb]);
        if (c >= 'a' && c <= 'z') {
            size_t gb = 0, ge = n;
            trim(got, &gb, &ge);
            if (choice_match(got, gb, ge, c)) return 1;
        }
    }

    /* numbers see the same range as text, so "1/2." is a number too */
    size_t gb, ge;
    text_range(got, n, &gb, &ge);
    text_range(ref, rn, &rb, &re);
    double a, b;
    if (verify_number(got + gb, ge - gb, &a) && verify_number(ref + rb, re - rb, &b)) {
        /* two integers compare digit for digit: a double tolerance would let
         * a long answer that is off by one pass */
        size_t ca = ge - gb + 3, cb = re - rb + 3; /* any length: "-", the digits, NUL */
        char *da = malloc(ca), *db = malloc(cb);
        int ints = da && db && int_digits(got + gb, ge - gb, da, ca) && int_digits(ref + rb, re - rb, db, cb);
        int eq = ints ? strcmp(da, db) == 0 : num_equal(a, b);
        free(da);
        free(db);
        return eq;
    }
    return text_equal(got, gb, ge, ref, rb, re);
}

/* --------------------------------------------------------- expressions -- */

#define EXPR_DEPTH_MAX 64
#define EXPR_NUMBERS_MAX 32

typedef struct {
    const char *s;
    size_t n, i;
    int depth;
    VerifyExpr *out;
    int failed;
} Parser;

enum { OP_NONE, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_LPAREN, OP_RPAREN, OP_NUM, OP_END, OP_BAD };

__attribute__((format(printf, 2, 3))) static void p_fail(Parser *p, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->out->error, sizeof p->out->error, fmt, ap);
    va_end(ap);
}

static void p_skip_ws(Parser *p) {
    while (p->i < p->n && is_ws((unsigned char)p->s[p->i])) p->i++;
}

/* Classifies the token at p->i (after whitespace) without consuming it;
 * *len gets its byte length (operators may be multi-byte UTF-8). */
static int p_peek(Parser *p, size_t *len) {
    p_skip_ws(p);
    *len = 1;
    if (p->i >= p->n) {
        *len = 0;
        return OP_END;
    }
    const unsigned char *c = (const unsigned char *)p->s + p->i;
    size_t left = p->n - p->i;
    switch (c[0]) {
    case '+': return OP_ADD;
    case '-': return OP_SUB;
    case '*': return OP_MUL;
    case '/': return OP_DIV;
    case '(': return OP_LPAREN;
    case ')': return OP_RPAREN;
    default: break;
    }
    if (is_digit(c[0]) || (c[0] == '.' && left > 1 && is_digit(c[1]))) return OP_NUM;
    if (left >= 2 && c[0] == 0xC3 && c[1] == 0x97) { /* U+00D7 multiplication sign */
        *len = 2;
        return OP_MUL;
    }
    if (left >= 2 && c[0] == 0xC3 && c[1] == 0xB7) { /* U+00F7 division sign */
        *len = 2;
        return OP_DIV;
    }
    if (left >= 3 && c[0] == 0xE2 && c[1] == 0x88 && c[2] == 0x92) { /* U+2212 minus */
        *len = 3;
        return OP_SUB;
    }
    return OP_BAD;
}

/* "unexpected ')' at 4", "unexpected end at 5", "unexpected byte 0xC3 at 2" */
static void p_unexpected(Parser *p) {
    size_t len;
    int k = p_peek(p, &len);
    if (k == OP_END) {
        p_fail(p, "unexpected end at %zu", p->i);
        return;
    }
    unsigned char c = (unsigned char)p->s[p->i];
    if (len == 1 && c > 32 && c < 127)
        p_fail(p, "unexpected '%c' at %zu", c, p->i);
    else if (len > 1)
        p_fail(p, "unexpected operator '%.*s' at %zu", (int)len, p->s + p->i, p->i);
    else
        p_fail(p, "unexpected byte 0x%02X at %zu", c, p->i);
}

static double p_number(Parser *p) {
    size_t start = p->i;
    char buf[NUM_MAX + 8];
    size_t bl = 0;
    while (p->i < p->n && is_digit((unsigned char)p->s[p->i])) {
        if (bl < NUM_MAX) buf[bl++] = p->s[p->i];
        p->i++;
    }
    if (p->i < p->n && p->s[p->i] == '.') {
        if (bl < NUM_MAX) buf[bl++] = '.';
        p->i++;
        while (p->i < p->n && is_digit((unsigned char)p->s[p->i])) {
            if (bl < NUM_MAX) buf[bl++] = p->s[p->i];
            p->i++;
        }
    }
    if (p->i - start > NUM_MAX) {
        p_fail(p, "number too long at %zu", start);
        return 0;
    }
    buf[bl] = '\0';
    double v = strtod(buf, NULL);
    if (!isfinite(v)) {
        p_fail(p, "number overflow at %zu", start);
        return 0;
    }
    VerifyExpr *o = p->out;
    if (o->n_numbers >= EXPR_NUMBERS_MAX) {
        p_fail(p, "more than %d numbers at %zu", EXPR_NUMBERS_MAX, start);
        return 0;
    }
    o->numbers[o->n_numbers++] = v;
    return v;
}

static double p_expr(Parser *p);

/* unary := ('-' unary) | number | '(' expr ')' */
static double p_unary(Parser *p) {
    size_t len;
    int k = p_peek(p, &len);
    if (k == OP_SUB || k == OP_LPAREN) {
        size_t at = p->i;
        if (++p->depth > EXPR_DEPTH_MAX) {
            p_fail(p, "nesting deeper than %d at %zu", EXPR_DEPTH_MAX, at);
            return 0;
        }
        p->i += len;
        double v;
        if (k == OP_SUB) {
            v = -p_unary(p);
        } else {
            v = p_expr(p);
            if (p->failed) return 0;
            if (p_peek(p, &len) != OP_RPAREN) {
                p_unexpected(p);
                return 0;
            }
            p->i += len;
        }
        p->depth--;
        return v;
    }
    if (k == OP_NUM) return p_number(p);
    p_unexpected(p);
    return 0;
}

/* term := unary (('*' | '/') unary)* */
static double p_term(Parser *p) {
    double v = p_unary(p);
    while (!p->failed) {
        size_t len;
        int k = p_peek(p, &len);
        if (k != OP_MUL && k != OP_DIV) break;
        size_t at = p->i;
        p->i += len;
        double r = p_unary(p);
        if (p->failed) break;
        if (k == OP_DIV && r == 0.0) {
            p_fail(p, "division by zero at %zu", at);
            break;
        }
        v = k == OP_MUL ? v * r : v / r;
        if (!isfinite(v)) p_fail(p, "overflow at %zu", at);
    }
    return v;
}

/* expr := term (('+' | '-') term)* */
static double p_expr(Parser *p) {
    double v = p_term(p);
    while (!p->failed) {
        size_t len;
        int k = p_peek(p, &len);
        if (k != OP_ADD && k != OP_SUB) break;
        size_t at = p->i;
        p->i += len;
        double r = p_term(p);
        if (p->failed) break;
        v = k == OP_ADD ? v + r : v - r;
        if (!isfinite(v)) p_fail(p, "overflow at %zu", at);
    }
    return v;
}

int verify_expr(const char *s, size_t n, VerifyExpr *out) {
    if (!out) return 0;
    memset(out, 0, sizeof *out);
    if (!s) {
        snprintf(out->error, sizeof out->error, "no expression");
        return 0;
    }
    Parser p = {.s = s, .n = n, .i = 0, .depth = 0, .out = out, .failed = 0};
    double v = p_expr(&p);
    if (!p.failed) {
        size_t len;
        if (p_peek(&p, &len) != OP_END) p_unexpected(&p);
    }
    if (p.failed) {
        out->value = 0;
        return 0;
    }
    out->value = v;
    out->error[0] = '\0';
    return 1;
}

/* ----------------------------------------------------------- equations -- */

static int same_number(double a, double b) {
    return fabs(a - b) <= 1e-9 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

int verify_equation(const char *expr, size_t n, const double *numbers, int n_numbers,
                    double target, char *why, size_t why_len) {
    char dummy[8];
    if (!why || why_len == 0) {
        why = dummy;
        why_len = sizeof dummy;
    }
    why[0] = '\0';
    VerifyExpr e;
    if (!verify_expr(expr, n, &e)) {
        snprintf(why, why_len, "invalid expression: %s", e.error);
        return 0;
    }
    if (n_numbers < 0 || (n_numbers > 0 && !numbers)) n_numbers = 0;
    /* multiset inclusion: each used value no more often than available; the
     * first value (in order of use) that breaks it is the one reported */
    for (int u = 0; u < e.n_numbers; u++) {
        double v = e.numbers[u];
        int seen_before = 0;
        for (int k = 0; k < u; k++) seen_before |= same_number(e.numbers[k], v);
        if (seen_before) continue;
        int used = 0, avail = 0;
        for (int k = u; k < e.n_numbers; k++) used += same_number(e.numbers[k], v);
        for (int k = 0; k < n_numbers; k++) avail += same_number(numbers[k], v);
        if (avail == 0) {
            snprintf(why, why_len, "uses %.10g, which is not available", v);
            return 0;
        }
        if (used > avail) {
            snprintf(why, why_len, "uses %.10g %d times, but it is available %d time%s", v, used,
                     avail, avail == 1 ? "" : "s");
            return 0;
        }
    }
    if (!(fabs(e.value - target) <= 1e-6)) {
        snprintf(why, why_len, "evaluates to %.10g, not %.10g", e.value, target);
        return 0;
    }
    return 1;
}
