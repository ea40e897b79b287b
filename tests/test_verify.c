/* Tests for the verifiers (verify.h): hand-checked cases for each function,
 * a property test that prints random expression trees two ways and compares
 * the parser with a direct evaluation of the tree, a token-level model of
 * the response format checked against verify_parse, and random bytes fed to
 * every function. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "testutil.h"
#include "thinkrl/core.h"
#include "thinkrl/verify.h"

/* ------------------------------------------------------------- helpers -- */

static int span_is(const char *p, size_t n, const char *want) {
    if (!want) return p == NULL;
    return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

static void parse_case(int line, const char *resp, const VerifyTags *tags, const char *think,
                       const char *answer, int fmt) {
    VerifyParts v;
    verify_parse(resp, strlen(resp), tags, &v);
    CHECK(span_is(v.think, v.think_len, think), "line %d: think of \"%s\": got \"%.*s\"%s want %s",
          line, resp, (int)v.think_len, v.think ? v.think : "", v.think ? "" : " (NULL)",
          think ? think : "NULL");
    CHECK(span_is(v.answer, v.answer_len, answer),
          "line %d: answer of \"%s\": got \"%.*s\"%s want %s", line, resp, (int)v.answer_len,
          v.answer ? v.answer : "", v.answer ? "" : " (NULL)", answer ? answer : "NULL");
    CHECK(v.format_ok == fmt, "line %d: format_ok of \"%s\": got %d want %d", line, resp,
          v.format_ok, fmt);
}
#define PARSE(resp, think, answer, fmt) parse_case(__LINE__, resp, NULL, think, answer, fmt)

static void num_case(int line, const char *s, int ok, double want) {
    double v = -12345.678;
    int r = verify_number(s, strlen(s), &v);
    CHECK(r == ok, "line %d: verify_number(\"%s\") = %d, want %d", line, s, r, ok);
    if (ok && r) CHECK(v == want, "line %d: verify_number(\"%s\") value %.17g, want %.17g", line, s,
                       v, want);
}
#define NUM(s, want) num_case(__LINE__, s, 1, want)
#define NOTNUM(s) num_case(__LINE__, s, 0, 0)

#define ANS(got, ref, want)                                                                    \
    do {                                                                                       \
        int r_ = verify_answer(got, strlen(got), ref);                                         \
        CHECK(r_ == (want), "verify_answer(\"%s\", \"%s\") = %d, want %d", got, ref, r_, want); \
    } while (0)

/* Checks a successful parse: value and the numbers in order. */
static void expr_ok(int line, const char *s, double value, int n, const double *nums) {
    VerifyExpr e;
    int r = verify_expr(s, strlen(s), &e);
    CHECK(r == 1, "line %d: verify_expr(\"%s\") failed: %s", line, s, e.error);
    if (r != 1) return;
    CHECK(e.value == value, "line %d: verify_expr(\"%s\") = %.17g, want %.17g", line, s, e.value,
          value);
    CHECK(e.error[0] == '\0', "line %d: error set on success: %s", line, e.error);
    CHECK(e.n_numbers == n, "line %d: \"%s\" n_numbers %d, want %d", line, s, e.n_numbers, n);
    for (int i = 0; i < n && i < e.n_numbers; i++)
        CHECK(e.numbers[i] == nums[i], "line %d: \"%s\" number %d is %g, want %g", line, s, i,
              e.numbers[i], nums[i]);
}
#define EXPR(s, value, ...)                                                               \
    do {                                                                                  \
        const double nums_[] = {__VA_ARGS__};                                             \
        expr_ok(__LINE__, s, value, (int)(sizeof nums_ / sizeof nums_[0]), nums_);        \
    } while (0)

/* Checks a failed parse whose message is exactly `msg`. */
static void expr_err(int line, const char *s, size_t n, const char *msg) {
    VerifyExpr e;
    int r = verify_expr(s, n, &e);
    CHECK(r == 0, "line %d: verify_expr(\"%.*s\") succeeded (%g), want error \"%s\"", line, (int)n,
          s, e.value, msg);
    CHECK(strcmp(e.error, msg) == 0, "line %d: verify_expr(\"%.*s\") error \"%s\", want \"%s\"",
          line, (int)n, s, e.error, msg);
}
#define EXPR_ERR(s, msg) expr_err(__LINE__, s, strlen(s), msg)

static void eq_case(int line, const char *expr, const double *nums, int n, double target, int want,
                    const char *why_want) {
    char why[128];
    memset(why, 'Z', sizeof why);
    int r = verify_equation(expr, strlen(expr), nums, n, target, why, sizeof why);
    CHECK(r == want, "line %d: verify_equation(\"%s\", target %g) = %d, want %d (why: %s)", line,
          expr, target, r, want, why);
    if (why_want)
        CHECK(strcmp(why, why_want) == 0, "line %d: verify_equation(\"%s\") why \"%s\", want \"%s\"",
              line, expr, why, why_want);
    if (want == 1) CHECK(why[0] == '\0', "line %d: why not empty on success: %s", line, why);
}
#define EQ(expr, target, want, why, ...)                                                     \
    do {                                                                                     \
        const double nums_[] = {__VA_ARGS__};                                                \
        eq_case(__LINE__, expr, nums_, (int)(sizeof nums_ / sizeof nums_[0]), target, want, \
                why);                                                                        \
    } while (0)

/* --------------------------------------------------------- hand cases -- */

static void test_parse(void) {
    PARSE("<think>a</think><answer>b</answer>", "a", "b", 1);
    PARSE("  \n<think>\nstep 1\n</think>\n\n<answer> 42 </answer>\n", "\nstep 1\n", " 42 ", 1);
    PARSE("<think></think><answer></answer>", "", "", 1);
    PARSE("<think>x < y > z</think><answer>x<y</answer>", "x < y > z", "x<y", 1);
    PARSE("<think>see <b>bold</b></think> <answer>1</answer>", "see <b>bold</b>", "1", 1);
    /* text outside */
    PARSE("hi <think>a</think><answer>b</answer>", "a", "b", 0);
    PARSE("<think>a</think><answer>b</answer>.", "a", "b", 0);
    PARSE("<think>a</think> so <answer>b</answer>", "a", "b", 0);
    /* missing parts */
    PARSE("", NULL, NULL, 0);
    PARSE("just text", NULL, NULL, 0);
    PARSE("<answer>b</answer>", NULL, "b", 0);
    PARSE("<think>a</think>", "a", NULL, 0);
    PARSE("<think>a<answer>b</answer>", NULL, "b", 0);
    PARSE("<think>a</think><answer>b", "a", NULL, 0);
    PARSE("<think>a</think>b</answer>", "a", NULL, 0);
    /* order */
    PARSE("<answer>b</answer><think>a</think>", "a", "b", 0);
    /* multiple answers: the last pair counts */
    PARSE("<think>a</think><answer>1</answer><answer>2</answer>", "a", "2", 0);
    PARSE("<think>a</think><answer>1</answer><answer>2", "a", "1", 0);
    PARSE("<think>a</think><answer>1</answer> </answer>", "a", "1", 0);
    PARSE("<think>I'll answer <answer>3</answer></think><answer>4</answer>",
          "I'll answer <answer>3</answer>", "4", 0);
    /* nested or stray tags inside */
    PARSE("<think>a<think>b</think></think><answer>c</answer>", "a<think>b", "c", 0);
    PARSE("<think>a</think></think><answer>c</answer>", "a", "c", 0);
    PARSE("<think>a</think><answer>c<think>d</answer>", "a", "c<think>d", 0);
    PARSE("<think>a</think><answer>c</think></answer>", "a", "c</think>", 0);
    PARSE("<think>a</think><answer><answer>c</answer>", "a", "c", 0);
    PARSE("<think>a</think><think>b</think><answer>c</answer>", "a", "c", 0);
    /* near-miss tags are plain text */
    PARSE("<think >a</think><answer>b</answer>", NULL, "b", 0);
    PARSE("<Think>a</Think><answer>b</answer>", NULL, "b", 0);
    PARSE("<think>a</thinking></think><answer>b</answer>", "a</thinking>", "b", 1);
    PARSE("<think>a</think><answer>b</answer", "a", NULL, 0);

    /* custom tag names, of any length, and defaults for NULL fields */
    VerifyTags t = {"reasoning", "final_answer_is_here"};
    parse_case(__LINE__, "<reasoning>r</reasoning>\n<final_answer_is_here>7</final_answer_is_here>",
               &t, "r", "7", 1);
    parse_case(__LINE__, "<think>a</think><answer>b</answer>", &t, NULL, NULL, 0);
    parse_case(__LINE__, "<reasoning>r<think></think></reasoning><final_answer_is_here>7</final_answer_is_here>",
               &t, "r<think></think>", "7", 1);
    VerifyTags half = {NULL, "a"};
    parse_case(__LINE__, "<think>x</think><a>y</a>", &half, "x", "y", 1);
    VerifyTags empty = {0};
    parse_case(__LINE__, "<think>x</think><answer>y</answer>", &empty, "x", "y", 1);

    /* length is respected: the text after len is not looked at */
    const char *s = "<think>a</think><answer>b</answer>trailing";
    VerifyParts v;
    verify_parse(s, strlen(s) - 8, NULL, &v);
    CHECK(v.format_ok == 1 && span_is(v.answer, v.answer_len, "b"), "len not respected");
    verify_parse(s, 20, NULL, &v);
    CHECK(v.format_ok == 0 && v.answer == NULL && span_is(v.think, v.think_len, "a"),
          "truncated response");
    verify_parse(NULL, 10, NULL, &v);
    CHECK(v.think == NULL && v.answer == NULL && v.format_ok == 0, "NULL response");
}

static void test_number(void) {
    NUM("42", 42);
    NUM("  -7 ", -7);
    NUM("+3", 3);
    NUM("0", 0);
    NUM("1,000", 1000);
    NUM("12,345,678", 12345678);
    NUM("-1,234.5", -1234.5);
    NUM("3.25", 3.25);
    NUM(".5", 0.5);
    NUM("5.", 5);
    NUM("-.25", -0.25);
    NUM("1e3", 1000);
    NUM("2.5E-2", 0.025);
    NUM("1e+2", 100);
    NUM("3/4", 0.75);
    NUM("-3/4", -0.75);
    NUM("+1/2", 0.5);
    NUM("10/4", 2.5);
    NUM("$5", 5);
    NUM("$1,250.50", 1250.5);
    NUM("-$3", -3);
    NUM("$-3", -3);
    NUM("\t\n 8 \n", 8);
    NUM("007", 7);
    NOTNUM("");
    NOTNUM("   ");
    NOTNUM("1,00");
    NOTNUM("1,0000");
    NOTNUM("1234,567");
    NOTNUM(",123");
    NOTNUM("1,");
    NOTNUM("0,123");
    NOTNUM("1,000/2");
    NOTNUM("1/0");
    NOTNUM("1/");
    NOTNUM("/2");
    NOTNUM("1/2/3");
    NOTNUM("1.5/2");
    NOTNUM("1 / 2");
    NOTNUM("50%");
    NOTNUM("0x10");
    NOTNUM("inf");
    NOTNUM("-inf");
    NOTNUM("nan");
    NOTNUM("1e999");
    NOTNUM("1e");
    NOTNUM("e3");
    NOTNUM(".");
    NOTNUM("-");
    NOTNUM("+-1");
    NOTNUM("--1");
    NOTNUM("$$1");
    NOTNUM("1 000");
    NOTNUM("1.2.3");
    NOTNUM("12abc");
    NOTNUM("five");
    NOTNUM("- 5");
    NOTNUM("5$");
    double v = 9;
    CHECK(verify_number(NULL, 3, &v) == 0 && v == 9, "NULL text");
    CHECK(verify_number("12345", 2, &v) == 1 && v == 12, "length respected: %g", v);
    CHECK(verify_number("7", 1, NULL) == 1, "NULL out allowed");
}

static void test_answer(void) {
    ANS("42", "42", 1);
    ANS(" 1,000 ", "1000", 1);
    ANS("1e3", "1,000", 1);
    ANS("0.5", "1/2", 1);
    /* integers compare exactly, however long */
    ANS("12345678901", "12345678902", 0);
    ANS("12,345,678,901", "12345678901", 1);
    ANS("+0012345678901", "12345678901", 1);
    ANS("-5", "5", 0);
    ANS("-0", "0", 1);
    ANS("$1,000", "1000", 1);
    ANS("-0.75", "-3/4", 1);
    ANS("$5", "5", 1);
    ANS("5.0", "5", 1);
    ANS("1/2.", "0.5", 1);
    ANS("42.", "42", 1);
    ANS("0.30000000000000004", "0.3", 1);
    ANS("1000000001", "1000000000", 0);   /* integers: exact */
    ANS("1000000001.0", "1000000000", 1); /* decimals: within 1e-9 relative */
    ANS("1000000002", "1000000000", 0);
    ANS("0.333", "1/3", 0);
    ANS("43", "42", 0);
    ANS("-42", "42", 0);
    ANS("0", "-0", 1);
    ANS("1e-13", "0", 1);                 /* 1e-12 absolute */
    ANS("1e-11", "0", 0);
    ANS("Paris.", "paris", 1);
    ANS("  The   Eiffel\n Tower ", "the eiffel tower", 1);
    ANS("Paris", "London", 0);
    ANS("Paris", "Pari", 0);
    ANS("", "Paris", 0);
    ANS("5%", "5%", 1);                   /* not numbers: text */
    ANS("5%", "5", 0);
    ANS("x=5", "5", 0);
    ANS("", "", 1);
    /* multiple choice */
    ANS("B", "B", 1);
    ANS("b", "B", 1);
    ANS("(B)", "B", 1);
    ANS("(b)", "B", 1);
    ANS(" B) ", "B", 1);
    ANS("B.", "B", 1);
    ANS("B: 42 apples", "B", 1);
    ANS("B", "b", 1);
    ANS("(C)", "B", 0);
    ANS("C", "B", 0);
    ANS("(B", "B", 0);
    ANS("Bob", "B", 0);
    ANS("B) Paris", "B", 0);
    ANS("(B)", "(B)", 1);                 /* not a single letter: text comparison */
    CHECK(verify_answer(NULL, 3, "x") == 0, "NULL got");
    CHECK(verify_answer("x", 1, NULL) == 0, "NULL ref");
    CHECK(verify_answer("1000abc", 4, "1,000") == 1, "length respected");
    { /* integers compare digit for digit at any length (70 digits here) */
        char a[80], b[80];
        for (int i = 0; i < 70; i++) a[i] = (char)('0' + (i + 1) % 10);
        a[70] = 0;
        memcpy(b, a, sizeof a);
        b[69] = (char)(b[69] + 1);
        CHECK(verify_answer(a, strlen(a), b) == 0, "70-digit integers one apart compare equal");
        CHECK(verify_answer(a, strlen(a), a) == 1, "a 70-digit integer against itself");
    }
}

static void test_expr(void) {
    EXPR("1+2*3", 7, 1, 2, 3);
    EXPR("(1+2)*3", 9, 1, 2, 3);
    EXPR("8-3-2", 3, 8, 3, 2);
    EXPR("8/4/2", 1, 8, 4, 2);
    EXPR("8-(3-2)", 7, 8, 3, 2);
    EXPR("8/(4/2)", 4, 8, 4, 2);
    EXPR("2*3+4*5", 26, 2, 3, 4, 5);
    EXPR("2+3*4-6/2", 11, 2, 3, 4, 6, 2);
    EXPR("-3+5", 2, 3, 5);
    EXPR("-(3+5)", -8, 3, 5);
    EXPR("--3", 3, 3);
    EXPR("5--3", 8, 5, 3);
    EXPR("2*-3", -6, 2, 3);
    EXPR("-2*3", -6, 2, 3);
    EXPR("-2-3", -5, 2, 3);
    EXPR("1/3", 1.0 / 3, 1, 3);
    EXPR("7/2", 3.5, 7, 2);
    EXPR("0.5+.25+2.", 2.75, 0.5, 0.25, 2);
    EXPR("  ( 1 +\t2 )\n* 3  ", 9, 1, 2, 3);
    EXPR("((((7))))", 7, 7);
    EXPR("42", 42, 42);
    EXPR("007", 7, 7);
    EXPR("6\xC3\x97" "7", 42, 6, 7);          /* × */
    EXPR("8 \xC3\xB7 2", 4, 8, 2);            /* ÷ */
    EXPR("9\xE2\x88\x92" "4", 5, 9, 4);       /* − */
    EXPR("\xE2\x88\x92" "4", -4, 4);
    EXPR("0/5", 0, 0, 5);

    EXPR_ERR("", "unexpected end at 0");
    EXPR_ERR("   ", "unexpected end at 3");
    EXPR_ERR("1+", "unexpected end at 2");
    EXPR_ERR("(1+2", "unexpected end at 4");
    EXPR_ERR("1+2)", "unexpected ')' at 3");
    EXPR_ERR("(1+2))", "unexpected ')' at 5");
    EXPR_ERR(")", "unexpected ')' at 0");
    EXPR_ERR("()", "unexpected ')' at 1");
    EXPR_ERR("1 2", "unexpected '2' at 2");
    EXPR_ERR("1**2", "unexpected '*' at 2");
    EXPR_ERR("+1", "unexpected '+' at 0");
    EXPR_ERR("2(3)", "unexpected '(' at 1");
    EXPR_ERR("1x2", "unexpected 'x' at 1");
    EXPR_ERR("1e3", "unexpected 'e' at 1");
    EXPR_ERR("1.2.3", "unexpected '.' at 3");
    EXPR_ERR("1,000", "unexpected ',' at 1");
    EXPR_ERR("3 = 3", "unexpected '=' at 2");
    EXPR_ERR("1/0", "division by zero at 1");
    EXPR_ERR("4 + 1/(2-2)", "division by zero at 5");
    EXPR_ERR("1/-0", "division by zero at 1");
    EXPR_ERR("1+\xC3\x97" "2", "unexpected operator '\xC3\x97' at 2");
    EXPR_ERR("1\xFF", "unexpected byte 0xFF at 1");
    EXPR_ERR("1\xC3", "unexpected byte 0xC3 at 1");
    expr_err(__LINE__, "1+2\0" "3", 5, "unexpected byte 0x00 at 3");

    /* 64 levels of nesting parse, 65 do not */
    char deep[400];
    int k = 0;
    for (int i = 0; i < 64; i++) deep[k++] = '(';
    deep[k++] = '1';
    for (int i = 0; i < 64; i++) deep[k++] = ')';
    deep[k] = '\0';
    EXPR(deep, 1, 1);
    k = 0;
    for (int i = 0; i < 65; i++) deep[k++] = '(';
    deep[k++] = '1';
    for (int i = 0; i < 65; i++) deep[k++] = ')';
    deep[k] = '\0';
    EXPR_ERR(deep, "nesting deeper than 64 at 64");
    k = 0;
    for (int i = 0; i < 65; i++) deep[k++] = '-';
    deep[k++] = '1';
    deep[k] = '\0';
    EXPR_ERR(deep, "nesting deeper than 64 at 64");
    /* a long chain is not deep */
    char chain[400];
    k = 0;
    for (int i = 0; i < 32; i++) {
        if (i) chain[k++] = '+';
        chain[k++] = '1';
    }
    chain[k] = '\0';
    EXPR(chain, 32, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
         1, 1, 1, 1, 1, 1);
    chain[k++] = '+';
    chain[k++] = '1';
    chain[k] = '\0';
    EXPR_ERR(chain, "more than 32 numbers at 64");
    /* deep recursion bombs fail cleanly instead of overflowing the stack */
    size_t big = 1 << 20;
    char *bomb = malloc(big);
    memset(bomb, '(', big);
    expr_err(__LINE__, bomb, big, "nesting deeper than 64 at 64");
    memset(bomb, '-', big);
    expr_err(__LINE__, bomb, big, "nesting deeper than 64 at 64");
    free(bomb);

    /* overflow and long numbers */
    char num[600];
    memset(num, '9', 320);
    num[320] = '\0';
    EXPR_ERR(num, "number overflow at 0");
    memset(num, '9', 500);
    num[500] = '\0';
    EXPR_ERR(num, "number too long at 0");
    char prod[400];
    memset(prod, '9', 200);
    prod[200] = '*';
    memset(prod + 201, '9', 150);
    prod[200 + 1 + 150] = '\0';
    EXPR_ERR(prod, "overflow at 200");

    VerifyExpr e;
    CHECK(verify_expr(NULL, 0, &e) == 0 && e.error[0], "NULL expression");
    CHECK(verify_expr("1+2*3garbage", 5, &e) == 1 && e.value == 7, "length respected");
}

static void test_equation(void) {
    EQ("(6+4)*2", 20, 1, "", 2, 4, 6);
    EQ("6 * 4", 24, 1, "", 2, 4, 6);            /* not all numbers need be used */
    EQ("100-(75/25)*3", 91, 1, "", 3, 25, 75, 100);
    EQ("1/3*3", 1, 1, "", 1, 3, 3);             /* within 1e-6 */
    EQ("5+5", 10, 1, "", 5, 5, 1);              /* two 5s available */
    EQ("5+5", 10, 0, "uses 5 2 times, but it is available 1 time", 5, 1, 2);
    EQ("5+5+5", 15, 0, "uses 5 3 times, but it is available 2 times", 5, 5, 1);
    EQ("2*7", 14, 0, "uses 7, which is not available", 2, 3);
    EQ("2*7+9", 23, 0, "uses 7, which is not available", 2, 3, 9);
    EQ("2+3", 6, 0, "evaluates to 5, not 6", 2, 3);
    EQ("2+", 2, 0, "invalid expression: unexpected end at 2", 2);
    EQ("4/(2-2)", 0, 0, "invalid expression: division by zero at 1", 2, 2, 4);
    EQ("0.5*4", 2, 1, "", 4, 0.5);
    EQ("1.5+1", 2.5, 0, "uses 1.5, which is not available", 1, 5);
    EQ("10/4", 2.5, 1, "", 4, 10);
    EQ("-3+10", 7, 1, "", 3, 10);              /* unary minus uses the 3 */
    EQ("25 \xC3\x97 4", 100, 1, "", 4, 25);

    /* NULL why and an empty number list are fine */
    CHECK(verify_equation("1+1", 3, NULL, 0, 2, NULL, 0) == 0, "no numbers available");
    double one[1] = {1};
    CHECK(verify_equation("1", 1, one, 1, 1, NULL, 0) == 1, "NULL why");
    char why[64];
    CHECK(verify_equation("1", 1, one, 1, NAN, why, sizeof why) == 0, "NaN target accepted");
    /* a short why buffer is truncated, not overrun (checked by ASan) */
    char tiny[8];
    CHECK(verify_equation("2*7", 3, one, 1, 14, tiny, sizeof tiny) == 0 && strlen(tiny) == 7,
          "short why");
}

/* --------------------------------------------- property: random trees -- */

enum { N_LEAF, N_NEG, N_ADD, N_SUB, N_MUL, N_DIV };
typedef struct {
    int kind, l, r;
    double v;
} Node;
typedef struct {
    Node n[256];
    int count;
    double leaves[64];
    int n_leaves;
    int div0;
} Tree;

static int tree_gen(Tree *t, Rng *r, int depth) {
    int id = t->count++;
    Node *nd = &t->n[id];
    uint64_t u = rng_u64(r) % 100;
    if (depth == 0 || u < 25) {
        nd->kind = N_LEAF;
        uint64_t w = rng_u64(r) % 100;
        if (w < 80) nd->v = (double)(rng_u64(r) % 13);       /* 0..12, zeros divide by zero */
        else if (w < 95) nd->v = (double)(rng_u64(r) % 200);
        else nd->v = (double)(rng_u64(r) % 40) / 4.0;         /* x.25, x.5, x.75: decimals */
        return id;
    }
    if (u < 35) {
        nd->kind = N_NEG;
        int c = tree_gen(t, r, depth - 1);
        t->n[id].l = c;
        return id;
    }
    int kind = N_ADD + (int)(rng_u64(r) % 4);
    int l = tree_gen(t, r, depth - 1);
    int rr = tree_gen(t, r, depth - 1);
    t->n[id].kind = kind;
    t->n[id].l = l;
    t->n[id].r = rr;
    return id;
}

/* Direct evaluation; records leaves in order and any division by zero. */
static double tree_eval(Tree *t, int id) {
    Node *nd = &t->n[id];
    switch (nd->kind) {
    case N_LEAF: t->leaves[t->n_leaves++] = nd->v; return nd->v;
    case N_NEG: return -tree_eval(t, nd->l);
    default: break;
    }
    double a = tree_eval(t, nd->l);
    double b = tree_eval(t, nd->r);
    switch (nd->kind) {
    case N_ADD: return a + b;
    case N_SUB: return a - b;
    case N_MUL: return a * b;
    default:
        if (b == 0.0) t->div0 = 1;
        return a / b;
    }
}

static int prec(int kind) {
    switch (kind) {
    case N_ADD: case N_SUB: return 1;
    case N_MUL: case N_DIV: return 2;
    case N_NEG: return 3;
    default: return 4;
    }
}

typedef struct {
    char s[4096];
    size_t n;
    Rng *r;        /* NULL: plain ASCII, no spaces; else random spacing and signs */
} Out;

static void out_put(Out *o, const char *s) {
    size_t l = strlen(s);
    if (o->n + l + 1 < sizeof o->s) {
        memcpy(o->s + o->n, s, l);
        o->n += l;
        o->s[o->n] = '\0';
    }
}
static void out_space(Out *o) {
    if (!o->r) return;
    uint64_t u = rng_u64(o->r) % 8;
    if (u == 0) out_put(o, " ");
    else if (u == 1) out_put(o, "  ");
    else if (u == 2) out_put(o, "\t");
}
static void out_op(Out *o, int kind) {
    int fancy = o->r && rng_u64(o->r) % 4 == 0;
    switch (kind) {
    case N_ADD: out_put(o, "+"); break;
    case N_SUB: case N_NEG: out_put(o, fancy ? "\xE2\x88\x92" : "-"); break;
    case N_MUL: out_put(o, fancy ? "\xC3\x97" : "*"); break;
    default: out_put(o, fancy ? "\xC3\xB7" : "/"); break;
    }
}
static void out_num(Out *o, double v) {
    char b[64];
    if (v > 0 && v < 1 && o->r && rng_u64(o->r) % 2) {
        snprintf(b, sizeof b, "%g", v);
        out_put(o, b + 1); /* ".25" */
    } else {
        snprintf(b, sizeof b, "%g", v);
        out_put(o, b);
    }
}

/* full = 1: every operator node in parentheses; else only where needed to
 * keep the tree's own structure (left-assoc parse, precedence). */
static void tree_print(const Tree *t, int id, int full, Out *o) {
    const Node *nd = &t->n[id];
    out_space(o);
    if (nd->kind == N_LEAF) {
        out_num(o, nd->v);
        out_space(o);
        return;
    }
    if (full) out_put(o, "(");
    if (nd->kind == N_NEG) {
        out_op(o, N_NEG);
        int paren = !full && prec(t->n[nd->l].kind) < 3;
        if (paren) out_put(o, "(");
        tree_print(t, nd->l, full, o);
        if (paren) out_put(o, ")");
    } else {
        int p = prec(nd->kind);
        int pl = !full && prec(t->n[nd->l].kind) < p;
        int pr = !full && prec(t->n[nd->r].kind) <= p;
        if (pl) out_put(o, "(");
        tree_print(t, nd->l, full, o);
        if (pl) out_put(o, ")");
        out_op(o, nd->kind);
        if (pr) out_put(o, "(");
        tree_print(t, nd->r, full, o);
        if (pr) out_put(o, ")");
    }
    if (full) out_put(o, ")");
    out_space(o);
}

static void test_property(void) {
    Rng r, rs;
    rng_seed(&r, 20250607);
    rng_seed(&rs, 99);
    int trees = 5000, ok_trees = 0, div0_trees = 0, fails = 0;
    size_t longest = 0;
    for (int it = 0; it < trees && fails < 10; it++) {
        Tree t;
        t.count = 0;
        t.n_leaves = 0;
        t.div0 = 0;
        int root = tree_gen(&t, &r, 5);
        double want = tree_eval(&t, root);
        Out o[3];
        o[0].n = o[1].n = o[2].n = 0;
        o[0].s[0] = o[1].s[0] = o[2].s[0] = '\0';
        o[0].r = NULL;
        o[1].r = NULL;
        o[2].r = &rs;
        tree_print(&t, root, 1, &o[0]);
        tree_print(&t, root, 0, &o[1]);
        tree_print(&t, root, it % 2, &o[2]);
        if (o[1].n > longest) longest = o[1].n;
        if (t.div0) div0_trees++;
        else ok_trees++;
        for (int k = 0; k < 3; k++) {
            VerifyExpr e;
            int got = verify_expr(o[k].s, o[k].n, &e);
            int bad = 0;
            if (t.div0) {
                bad = got != 0 || strncmp(e.error, "division by zero at ", 20) != 0;
            } else {
                bad = got != 1 || !(fabs(e.value - want) <= 1e-9 * fmax(1.0, fabs(want)));
                if (!bad) {
                    bad = e.n_numbers != t.n_leaves;
                    for (int i = 0; !bad && i < t.n_leaves; i++) bad = e.numbers[i] != t.leaves[i];
                }
            }
            CHECK(!bad, "tree %d printing %d \"%s\": got %d value %.17g (%s), want %s %.17g", it, k,
                  o[k].s, got, e.value, e.error, t.div0 ? "division by zero" : "value", want);
            fails += bad;
        }
        if (t.div0) continue;
        /* the tree's own leaves, shuffled, and its value make a valid equation */
        double avail[64];
        int na = t.n_leaves;
        memcpy(avail, t.leaves, sizeof(double) * (size_t)na);
        for (int i = na - 1; i > 0; i--) {
            int j = (int)(rng_u64(&r) % (uint64_t)(i + 1));
            double x = avail[i];
            avail[i] = avail[j];
            avail[j] = x;
        }
        char why[128];
        int acc = verify_equation(o[2].s, o[2].n, avail, na, want, why, sizeof why);
        CHECK(acc == 1, "tree %d: equation \"%s\" = %.17g rejected: %s", it, o[2].s, want, why);
        fails += acc != 1;
        /* one leaf fewer available: always rejected as a number problem */
        int acc2 = verify_equation(o[1].s, o[1].n, avail, na - 1, want, why, sizeof why);
        CHECK(acc2 == 0 && strncmp(why, "uses ", 5) == 0,
              "tree %d: equation \"%s\" accepted with leaf %g missing (%s)", it, o[1].s,
              avail[na - 1], why);
        fails += acc2 != 0;
        /* a different target: rejected for its value */
        acc2 = verify_equation(o[1].s, o[1].n, avail, na, want + 1, why, sizeof why);
        CHECK(acc2 == 0 && strncmp(why, "evaluates to ", 13) == 0,
              "tree %d: equation \"%s\" accepted for target %g (%s)", it, o[1].s, want + 1, why);
        fails += acc2 != 0;
    }
    CHECK(ok_trees > trees / 2 && div0_trees > 50, "tree mix: %d ok, %d with division by zero",
          ok_trees, div0_trees);
    printf("property: %d trees (%d evaluate, %d divide by zero), longest minimal printing %zu bytes\n",
           trees, ok_trees, div0_trees, longest);
}

/* ------------------------------- property: response format token model -- */

static void test_format_model(void) {
    /* tokens chosen so that no concatenation forms a tag: the token-level
     * grammar below is then the text-level one */
    static const char *tok[] = {"<think>", "</think>", "<answer>", "</answer>", " ", "\n",
                                "x", "<b>", "think", "answer", "</"};
    enum { T_O, T_C, A_O, A_C, WS1, WS2 };
    Rng r;
    rng_seed(&r, 7);
    int agree = 0, formatted = 0;
    for (int it = 0; it < 20000; it++) {
        int seq[12], len = (int)(rng_u64(&r) % 12);
        size_t off[13];
        char buf[256];
        size_t n = 0;
        /* half the time start from a well-formed skeleton and perturb it */
        if (it % 2 == 0) {
            static const int skel[] = {WS1, T_O, 6, T_C, WS2, A_O, 6, A_C, WS1};
            len = 9;
            for (int i = 0; i < len; i++) seq[i] = skel[i];
            int edits = (int)(rng_u64(&r) % 3);
            for (int e = 0; e < edits; e++) seq[rng_u64(&r) % (uint64_t)len] = (int)(rng_u64(&r) % 11);
        } else {
            for (int i = 0; i < len; i++) seq[i] = (int)(rng_u64(&r) % 11);
        }
        for (int i = 0; i < len; i++) {
            off[i] = n;
            size_t l = strlen(tok[seq[i]]);
            memcpy(buf + n, tok[seq[i]], l);
            n += l;
        }
        off[len] = n;

        /* expected, from tokens */
        int a = 0, b = len;
        while (a < b && (seq[a] == WS1 || seq[a] == WS2)) a++;
        while (b > a && (seq[b - 1] == WS1 || seq[b - 1] == WS2)) b--;
        int fmt = 0;
        if (a < b && seq[a] == T_O) {
            int i = a + 1;
            while (i < b && seq[i] > A_C) i++;
            if (i < b && seq[i] == T_C) {
                i++;
                while (i < b && (seq[i] == WS1 || seq[i] == WS2)) i++;
                if (i < b && seq[i] == A_O) {
                    i++;
                    while (i < b && seq[i] > A_C) i++;
                    fmt = i == b - 1 && seq[i] == A_C;
                }
            }
        }
        int th_b = -1, th_e = -1, an_b = -1, an_e = -1;
        for (int i = 0; i < len && th_b < 0; i++)
            if (seq[i] == T_O) {
                for (int j = i + 1; j < len; j++)
                    if (seq[j] == T_C) {
                        th_b = i + 1;
                        th_e = j;
                        break;
                    }
                break;
            }
        for (int i = len - 1; i >= 0 && an_b < 0; i--)
            if (seq[i] == A_O)
                for (int j = i + 1; j < len; j++)
                    if (seq[j] == A_C) {
                        an_b = i + 1;
                        an_e = j;
                        break;
                    }

        char *exact = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
        memcpy(exact, buf, n);
        VerifyParts v;
        verify_parse(exact, n, NULL, &v);
        int ok = v.format_ok == fmt;
        if (th_b < 0) ok &= v.think == NULL;
        else ok &= v.think == exact + off[th_b] && v.think_len == off[th_e] - off[th_b];
        if (an_b < 0) ok &= v.answer == NULL;
        else ok &= v.answer == exact + off[an_b] && v.answer_len == off[an_e] - off[an_b];
        CHECK(ok, "format model: \"%.*s\": format %d want %d, think %s, answer %s", (int)n, buf,
              v.format_ok, fmt, v.think ? "set" : "NULL", v.answer ? "set" : "NULL");
        agree += ok;
        formatted += fmt;
        free(exact);
    }
    CHECK(formatted > 1000, "too few well-formed samples: %d", formatted);
    printf("format model: %d responses agree, %d well formed\n", agree, formatted);
}

/* ------------------------------------------------------- random bytes -- */

static void test_fuzz(void) {
    static const char *frag[] = {"<think>", "</think>", "<answer>", "</answer>", "0", "1", "7",
                                 "+", "-", "*", "/", "(", ")", ".", ",", " ", "e", "$", "B", "(B)",
                                 "\xC3\x97", "\xE2\x88\x92", "\xC3", "\xFF", "\n", ",000", "<"};
    const int nfrag = (int)(sizeof frag / sizeof frag[0]);
    Rng r;
    rng_seed(&r, 12345);
    int parsed = 0, numbers = 0, exprs = 0;
    for (int it = 0; it < 30000; it++) {
        char buf[512];
        size_t n = 0;
        int parts = (int)(rng_u64(&r) % 24);
        int raw = it % 3 == 0;
        for (int p = 0; p < parts; p++) {
            if (raw) {
                buf[n++] = (char)(rng_u64(&r) & 0xFF);
            } else {
                const char *f = frag[rng_u64(&r) % (uint64_t)nfrag];
                size_t l = strlen(f);
                memcpy(buf + n, f, l);
                n += l;
            }
        }
        char *s = malloc(n ? n : 1);
        memcpy(s, buf, n);

        VerifyParts v;
        verify_parse(s, n, NULL, &v);
        int sane = (!v.think || (v.think >= s && v.think + v.think_len <= s + n)) &&
                   (!v.answer || (v.answer >= s && v.answer + v.answer_len <= s + n)) &&
                   (!v.format_ok || (v.think && v.answer));
        CHECK(sane, "verify_parse on fuzz %d", it);
        parsed += v.format_ok;

        double d;
        if (verify_number(s, n, &d)) {
            numbers++;
            CHECK(isfinite(d), "verify_number fuzz %d gave %g", it, d);
        }

        VerifyExpr e;
        int ok = verify_expr(s, n, &e);
        size_t el = strnlen(e.error, sizeof e.error);
        if (ok) {
            exprs++;
            CHECK(el == 0 && isfinite(e.value) && e.n_numbers >= 1 && e.n_numbers <= 32,
                  "verify_expr fuzz %d: value %g n %d error '%s'", it, e.value, e.n_numbers,
                  e.error);
        } else {
            CHECK(el > 0 && el < sizeof e.error && strstr(e.error, " at ") != NULL,
                  "verify_expr fuzz %d: error '%.96s'", it, e.error);
        }

        double avail[4] = {0, 1, 7, 1000};
        char why[64];
        int eq = verify_equation(s, n, avail, 4, 7, why, sizeof why);
        CHECK((eq == 1 && why[0] == '\0') || (eq == 0 && why[0] != '\0' && strlen(why) < 64),
              "verify_equation fuzz %d: %d '%s'", it, eq, why);

        /* every text matches itself; a NUL-free copy serves as the reference */
        char ref[520];
        for (size_t i = 0; i < n; i++) ref[i] = buf[i] ? buf[i] : 'x';
        ref[n] = '\0';
        CHECK(verify_answer(ref, n, ref) == 1, "verify_answer(s, s) fuzz %d: \"%s\"", it, ref);
        int a1 = verify_answer(s, n, "7");
        CHECK(a1 == 0 || a1 == 1, "verify_answer fuzz");
        free(s);
    }
    printf("fuzz: 30000 inputs (%d formatted, %d numbers, %d expressions)\n", parsed, numbers,
           exprs);
}

int main(void) {
    test_parse();
    test_number();
    test_answer();
    test_expr();
    test_equation();
    test_property();
    test_format_model();
    test_fuzz();
    return tu_summary("test_verify");
}
