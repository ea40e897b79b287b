/* Tests of the built-in tasks (arith, countdown, word, bio): hand-checked
 * traces, determinism across chunking, and thousands of generated records
 * checked independently (every equation in a trace re-evaluated by a
 * separate parser here, answers recomputed, numbers counted; bios split into
 * words here and their pronouns checked), pattern labels, mixture and
 * gender/hobby frequencies and option errors. */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/task_internal.h"
#include "testutil.h"
#include "thinkrl/task.h"
#include "thinkrl/verify.h"

/* ---- an independent integer evaluator for [0-9+-*()/] text ---- */

typedef struct {
    const char *s;
    size_t n, i;
    int bad;      /* syntax error, inexact division or division by zero */
    int count;    /* numbers seen */
    long nums[64];
} Ev;

static long ev_sum(Ev *e);

static long ev_atom(Ev *e) {
    if (e->i < e->n && e->s[e->i] == '(') {
        e->i++;
        long v = ev_sum(e);
        if (e->i < e->n && e->s[e->i] == ')')
            e->i++;
        else
            e->bad = 1;
        return v;
    }
    if (e->i >= e->n || !isdigit((unsigned char)e->s[e->i])) {
        e->bad = 1;
        return 0;
    }
    long v = 0;
    while (e->i < e->n && isdigit((unsigned char)e->s[e->i])) v = v * 10 + (e->s[e->i++] - '0');
    if (e->count < 64) e->nums[e->count] = v;
    e->count++;
    return v;
}

static long ev_prod(Ev *e) {
    long v = ev_atom(e);
    while (!e->bad && e->i < e->n && (e->s[e->i] == '*' || e->s[e->i] == '/')) {
        char op = e->s[e->i++];
        long r = ev_atom(e);
        if (op == '*')
            v *= r;
        else if (r == 0 || v % r)
            e->bad = 1;
        else
            v /= r;
    }
    return v;
}

static long ev_sum(Ev *e) {
    long v = ev_prod(e);
    while (!e->bad && e->i < e->n && (e->s[e->i] == '+' || e->s[e->i] == '-')) {
        char op = e->s[e->i++];
        long r = ev_prod(e);
        v = op == '+' ? v + r : v - r;
    }
    return v;
}

/* Evaluates s[0..n) completely; returns 1 and *v, 0 on any problem. */
static int ev_full(const char *s, size_t n, long *v, Ev *out) {
    Ev e = {s, n, 0, 0, 0, {0}};
    *v = ev_sum(&e);
    if (out) *out = e;
    return !e.bad && e.i == n && n > 0;
}

static int is_expr_char(char c) { return isdigit((unsigned char)c) || strchr("+-*/()", c); }

/* Checks every "lhs=rhs" in text (the maximal expression runs on both
 * sides of each '='): both sides evaluate and agree. Returns the number
 * of equations, -1 (with a message) at the first false one; *last gets
 * the value of the last equation's right side. */
static int check_equations(const char *text, long *last) {
    int n = 0;
    for (const char *p = strchr(text, '='); p; p = strchr(p + 1, '=')) {
        const char *a = p;
        while (a > text && is_expr_char(a[-1])) a--;
        const char *b = p + 1;
        while (*b && is_expr_char(*b)) b++;
        long lv, rv;
        if (!ev_full(a, (size_t)(p - a), &lv, NULL) || !ev_full(p + 1, (size_t)(b - p - 1), &rv, NULL) ||
            lv != rv) {
            fprintf(stderr, "  false or unparsable equation '%.*s' in '%s'\n", (int)(b - a), a, text);
            return -1;
        }
        if (last) *last = rv;
        n++;
    }
    return n;
}

/* ---- helpers ---- */

static int opts(TaskOpts *o, const char *task, const char *a, const char *b, const char *c) {
    char *kv[3];
    int n = 0;
    if (a) kv[n++] = (char *)a;
    if (b) kv[n++] = (char *)b;
    if (c) kv[n++] = (char *)c;
    return task_opts_init(o, task_find(task), kv, n);
}

static char *trace_of(char op, long long a, long long b, int style) {
    static char buf[512];
    TkBuf t = {0};
    arith_trace(&t, op, a, b, style);
    snprintf(buf, sizeof buf, "%s", tkbuf_str(&t));
    tkbuf_free(&t);
    return buf;
}

static const char *classify(PatternSet *ps, const char *text) {
    return pattern_name(ps, pattern_classify(ps, text, strlen(text)));
}

/* ---- hand-checked traces ---- */

static void test_arith_traces(void) {
    static const struct {
        char op;
        long long a, b;
        int style;
        const char *want, *pattern;
    } cases[] = {
        {'+', 347, 85, ARITH_DIRECT, "347+85=432", "direct"},
        {'+', 347, 85, ARITH_COLUMN, "7+5=12,4+8+1=13,3+0+1=4,432", "column"},
        {'+', 347, 85, ARITH_SPLIT, "347+80=427,427+5=432", "split"},
        {'+', 95, 17, ARITH_COLUMN, "5+7=12,9+1+1=11,112", "column"},
        {'+', 85, 347, ARITH_COLUMN, "5+7=12,8+4+1=13,0+3+1=4,432", "column"},
        {'+', 999, 1, ARITH_COLUMN, "9+1=10,9+0+1=10,9+0+1=10,1000", "column"},
        {'+', 1, 999, ARITH_COLUMN, "1+9=10,0+9+1=10,0+9+1=10,1000", "column"},
        {'+', 7, 5, ARITH_COLUMN, "7+5=12,12", "column"},
        {'+', 7, 5, ARITH_DIRECT, "7+5=12", "direct"},
        {'+', 300, 200, ARITH_COLUMN, "0+0=0,0+0=0,3+2=5,500", "column"},
        {'+', 347, 805, ARITH_SPLIT, "347+800=1147,1147+5=1152", "split"},
        {'+', 5, 87, ARITH_SPLIT, "5+80=85,85+7=92", "split"},
        {'*', 47, 36, ARITH_DIRECT, "47*36=1692", "direct"},
        {'*', 47, 36, ARITH_COLUMN, "6*7=42,6*4+4=28:282;3*7=21,3*4+2=14:1410;282+1410=1692", "column"},
        {'*', 47, 36, ARITH_SPLIT, "47*30=1410,47*6=282,1410+282=1692", "split"},
        {'*', 47, 6, ARITH_COLUMN, "6*7=42,6*4+4=28:282", "column"},
        {'*', 47, 30, ARITH_COLUMN, "3*7=21,3*4+2=14:1410", "column"},
        {'*', 7, 6, ARITH_COLUMN, "6*7=42:42", "column"},
        {'*', 7, 36, ARITH_COLUMN, "6*7=42:42;3*7=21:210;42+210=252", "column"},
        {'*', 123, 405, ARITH_COLUMN, "5*3=15,5*2+1=11,5*1+1=6:615;4*3=12,4*2+1=9,4*1=4:49200;615+49200=49815",
         "column"},
        {'*', 12, 345, ARITH_SPLIT, "12*300=3600,12*40=480,12*5=60,3600+480=4080,4080+60=4140", "split"},
        {'*', 5, 36, ARITH_SPLIT, "5*30=150,5*6=30,150+30=180", "split"},
        {'*', 407, 6, ARITH_COLUMN, "6*7=42,6*0+4=4,6*4=24:2442", "column"},
    };
    PatternSet ps;
    CHECK(task_patterns(task_find("arith"), &ps) == TR_OK, "arith patterns: %s", tr_errmsg());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = trace_of(cases[i].op, cases[i].a, cases[i].b, cases[i].style);
        CHECK(strcmp(got, cases[i].want) == 0, "%lld%c%lld style %d: got '%s', want '%s'", cases[i].a,
              cases[i].op, cases[i].b, cases[i].style, got, cases[i].want);
        const char *lab = classify(&ps, cases[i].want);
        CHECK(strcmp(lab, cases[i].pattern) == 0, "'%s' classified %s, want %s", cases[i].want, lab,
              cases[i].pattern);
    }
    /* model-like outputs */
    CHECK(strcmp(classify(&ps, "347+80=427"), "direct") == 0, "single place value is direct");
    CHECK(strcmp(classify(&ps, "I think 432"), "other") == 0, "prose is other");
    CHECK(pattern_classify(&ps, NULL, 0) == -1, "no think text is other");
    pattern_free(&ps);
}

static void test_countdown_traces(void) {
    struct {
        CdNode nd[8];
        int n;
        const char *fwd, *bwd, *expr;
    } cases[] = {
        {{{0, -1, -1, 25}, {0, -1, -1, 3}, {0, -1, -1, 2}, {'+', 0, 1, 28}, {'*', 3, 2, 56}},
         5, "25+3=28,28*2=56", "56=28*2,28=25+3", "(25+3)*2"},
        {{{0, -1, -1, 100}, {0, -1, -1, 7}, {0, -1, -1, 3}, {'+', 1, 2, 10}, {'-', 0, 3, 90}},
         5, "7+3=10,100-10=90", "90=100-10,10=7+3", "100-(7+3)"},
        {{{0, -1, -1, 6}, {0, -1, -1, 8}, {0, -1, -1, 4}, {'/', 1, 2, 2}, {'*', 0, 3, 12}},
         5, "8/4=2,6*2=12", "12=6*2,2=8/4", "6*8/4"},
        {{{0, -1, -1, 2}, {0, -1, -1, 3}, {0, -1, -1, 10}, {0, -1, -1, 4}, {'+', 0, 1, 5}, {'-', 2, 3, 6},
          {'*', 4, 5, 30}},
         7, "2+3=5,10-4=6,5*6=30", "30=5*6,6=10-4,5=2+3", "(2+3)*(10-4)"},
        {{{0, -1, -1, 9}, {0, -1, -1, 3}, {0, -1, -1, 2}, {'*', 1, 2, 6}, {'+', 0, 3, 15}},
         5, "3*2=6,9+6=15", "15=9+6,6=3*2", "9+3*2"},
        {{{0, -1, -1, 24}, {0, -1, -1, 6}, {0, -1, -1, 2}, {'/', 1, 2, 3}, {'/', 0, 3, 8}},
         5, "6/2=3,24/3=8", "8=24/3,3=6/2", "24/(6/2)"},
    };
    PatternSet ps;
    CHECK(task_patterns(task_find("countdown"), &ps) == TR_OK, "countdown patterns: %s", tr_errmsg());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TkBuf f = {0}, b = {0}, e = {0};
        countdown_format(cases[i].nd, cases[i].n, cases[i].n - 1, &f, &b, &e);
        CHECK(strcmp(tkbuf_str(&f), cases[i].fwd) == 0, "forward '%s' want '%s'", tkbuf_str(&f), cases[i].fwd);
        CHECK(strcmp(tkbuf_str(&b), cases[i].bwd) == 0, "backward '%s' want '%s'", tkbuf_str(&b),
              cases[i].bwd);
        CHECK(strcmp(tkbuf_str(&e), cases[i].expr) == 0, "expr '%s' want '%s'", tkbuf_str(&e), cases[i].expr);
        char direct[128];
        snprintf(direct, sizeof direct, "%s=%ld", cases[i].expr, cases[i].nd[cases[i].n - 1].v);
        CHECK(strcmp(classify(&ps, cases[i].fwd), "forward") == 0, "'%s' not forward", cases[i].fwd);
        CHECK(strcmp(classify(&ps, cases[i].bwd), "backward") == 0, "'%s' not backward", cases[i].bwd);
        CHECK(strcmp(classify(&ps, direct), "direct") == 0, "'%s' not direct", direct);
        tkbuf_free(&f);
        tkbuf_free(&b);
        tkbuf_free(&e);
    }
    pattern_free(&ps);
}

static int template_index(const char *name) {
    for (int i = 0; i < word_template_count(); i++)
        if (strcmp(word_template_name(i), name) == 0) return i;
    return -1;
}

static void test_word_examples(void) {
    static const struct {
        const char *tpl;
        int steps;
        long preset[8];
        int n;
        const char *question, *stepwise, *verbose;
        long answer;
    } cases[] = {
        {"fruit", 2, {0, 0, 12, 3, 4}, 5,
         "Mia has 12 apples. She buys 3 bags with 4 apples in each bag. How many apples does she have now?",
         "3*4=12,12+12=24", "3 bags of 4 apples is 3*4=12 apples. 12+12=24 apples in total.", 24},
        {"share", 3, {1, 0, 4, 5, 3, 0}, 6,
         "Liam has 3 packs of 7 stickers. He keeps 1 for himself and shares the rest equally among 4 "
         "friends. How many stickers does each friend get?",
         "3*7=21,21-1=20,20/4=5",
         "3 packs of 7 is 3*7=21 stickers. After keeping 1, 21-1=20 are left. Each friend gets 20/4=5 "
         "stickers.",
         5},
        {"shop", 3, {2, 0, 3, 4, 1, 7}, 6,
         "Ava buys 3 pens for 4 dollars each. She also buys a book for 7 dollars. She pays with a 20 "
         "dollar bill. How many dollars of change does she get?",
         "3*4=12,12+7=19,20-19=1",
         "3 pens at 4 dollars each cost 3*4=12 dollars. With a book she spends 12+7=19 dollars. The "
         "change is 20-19=1 dollars.",
         1},
        {"travel", 1, {3, 12, 3}, 3, "Noah rides his bike at 12 km per hour for 3 hours. How many km does he ride?",
         "12*3=36", "At 12 km per hour for 3 hours he rides 12*3=36 km.", 36},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        WordProb w;
        int t = template_index(cases[i].tpl);
        CHECK(t >= 0, "no template %s", cases[i].tpl);
        int rc = word_make(t, cases[i].steps, NULL, cases[i].preset, cases[i].n, &w);
        CHECK(rc == TR_OK, "word_make %s: %s", cases[i].tpl, tr_errmsg());
        if (rc) continue;
        CHECK(strcmp(tkbuf_str(&w.question), cases[i].question) == 0, "question '%s'", tkbuf_str(&w.question));
        CHECK(strcmp(tkbuf_str(&w.stepwise), cases[i].stepwise) == 0, "stepwise '%s'", tkbuf_str(&w.stepwise));
        CHECK(strcmp(tkbuf_str(&w.verbose), cases[i].verbose) == 0, "verbose '%s'", tkbuf_str(&w.verbose));
        CHECK(w.answer == cases[i].answer, "answer %ld want %ld", w.answer, cases[i].answer);
        word_prob_free(&w);
    }
    /* a preset too short is an error, not a read past the end */
    WordProb w;
    long pre[2] = {0, 0};
    CHECK(word_make(template_index("fruit"), 2, NULL, pre, 2, &w) != TR_OK, "short preset accepted");
    CHECK(word_template_count() >= 8, "only %d templates", word_template_count());
}

/* ---- generated records ---- */

typedef struct {
    const char *task;
    const char *kv[3];
    int n;
} Config;

/* Independent checks per task on one record; returns 1 if all pass. */
static int check_arith(const Record *r) {
    double a = record_meta_num(r, "a", -1), b = record_meta_num(r, "b", -1), t[16];
    const char *op = record_meta_str(r, "op");
    if (a < 1 || b < 1 || !op) return 0;
    int nt = record_meta_nums(r, "terms", t, 16);
    if (nt > 0) { /* three or more operands: meta.terms holds them all */
        char want[64], prompt[256];
        long long res = 0;
        size_t pn = 0;
        if (nt < 3 || strcmp(op, "add") || t[0] != a || t[1] != b) return 0;
        for (int i = 0; i < nt; i++) {
            res += (long long)t[i];
            pn += (size_t)snprintf(prompt + pn, sizeof prompt - pn, "%s%lld", i ? "+" : "", (long long)t[i]);
        }
        snprintf(prompt + pn, sizeof prompt - pn, "=");
        snprintf(want, sizeof want, "%lld", res);
        return strcmp(r->answer, want) == 0 && strcmp(r->prompt, prompt) == 0;
    }
    long long A = (long long)a, B = (long long)b, res = strcmp(op, "add") == 0 ? A + B : A * B;
    char want[64], prompt[64];
    snprintf(want, sizeof want, "%lld", res);
    snprintf(prompt, sizeof prompt, "%lld%c%lld=", A, strcmp(op, "add") == 0 ? '+' : '*', B);
    return strcmp(r->answer, want) == 0 && strcmp(r->prompt, prompt) == 0;
}

static int check_countdown(const Record *r, long *bad_count) {
    double nums[32];
    int n = record_meta_nums(r, "numbers", nums, 32);
    double target = record_meta_num(r, "target", -1), lvl = record_meta_num(r, "difficulty", -1);
    static const int count[3] = {3, 4, 5}, maxv[3] = {10, 25, 50};
    if (lvl < 1 || lvl > 3 || target < 1 || target > 999 || target != floor(target)) return 0;
    int L = (int)lvl - 1;
    if (n != count[L]) return 0;
    int big = 0;
    for (int i = 0; i < n; i++) {
        if (nums[i] >= 1 && nums[i] <= maxv[L]) continue;
        if (L == 2 && (nums[i] == 75 || nums[i] == 100)) {
            big++;
            continue;
        }
        return 0;
    }
    if (big > 1) return 0;
    /* the answer evaluates to the target and uses each number at most once */
    long v;
    Ev e;
    if (!ev_full(r->answer, strlen(r->answer), &v, &e) || v != (long)target) return 0;
    int used[32] = {0};
    for (int k = 0; k < e.count; k++) {
        int found = 0;
        for (int i = 0; i < n && !found; i++)
            if (!used[i] && nums[i] == (double)e.nums[k]) used[i] = found = 1;
        if (!found) {
            (*bad_count)++;
            return 0;
        }
    }
    return e.count >= 3;
}

static void test_generated(void) {
    static const Config cfgs[] = {
        {"arith", {NULL}, 0},
        {"arith", {"ops=add,mul", "digits=1-4", "mul_digits=1-3"}, 3},
        {"arith", {"ops=mul", "digits=1-2", "mul_digits=1"}, 3},
        {"arith", {"ops=add", "digits=1"}, 2},
        {"arith", {"ops=mul,add", "digits=1-9", "mul_digits=1-9"}, 3},
        {"arith", {"ops=add", "digits=3", "terms=3"}, 3},
        {"arith", {"ops=add,mul", "digits=2-4", "terms=2-5"}, 3},
        {"countdown", {NULL}, 0},
        {"countdown", {"level=1"}, 1},
        {"countdown", {"level=3"}, 1},
        {"word", {NULL}, 0},
        {"word", {"steps=1"}, 1},
        {"word", {"steps=3"}, 1},
    };
    const int N = 3000;
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        const TaskDef *t = task_find(cfgs[c].task);
        TaskOpts o;
        int rc = task_opts_init(&o, t, (char *const *)cfgs[c].kv, cfgs[c].n);
        CHECK(rc == TR_OK, "%s opts: %s", cfgs[c].task, tr_errmsg());
        if (rc) continue;
        PatternSet ps;
        CHECK(task_patterns(t, &ps) == TR_OK, "patterns: %s", tr_errmsg());
        long fails[10] = {0}, bad_nums = 0;
        for (int i = 0; i < N; i++) {
            Record r;
            rc = task_record(t, &o, 1234 + c, i, 1, &r);
            if (rc) {
                CHECK(0, "%s record %d: %s", cfgs[c].task, i, tr_errmsg());
                break;
            }
            const char *pat = record_meta_str(&r, "pattern");
            const char *tname = record_meta_str(&r, "task");
            char id[64];
            snprintf(id, sizeof id, "%s-%d", t->name, i);
            if (!pat || !tname || strcmp(tname, t->name) || strcmp(r.id, id) || !r.answer || !r.prompt ||
                !r.completion)
                fails[0]++;
            else {
                /* own answer right, answer+1 (or a changed expression) wrong */
                if (t->score(&r, r.answer, strlen(r.answer), NULL, 0) != 1) fails[1]++;
                char wrong[256];
                if (strcmp(t->name, "countdown") == 0)
                    snprintf(wrong, sizeof wrong, "(%s)*2", r.answer);
                else
                    snprintf(wrong, sizeof wrong, "%ld", atol(r.answer) + 1);
                char why[128] = "";
                if (t->score(&r, wrong, strlen(wrong), why, sizeof why) != 0) fails[2]++;
                /* the completion is well formed and scores */
                VerifyParts vp;
                verify_parse(r.completion, strlen(r.completion), NULL, &vp);
                int fmt = 0;
                if (!vp.format_ok || !vp.think) fails[3]++;
                if (task_score_response(&r, NULL, r.completion, strlen(r.completion), &fmt) != 1 || !fmt)
                    fails[4]++;
                /* every equation in the think text is true */
                if (vp.think) {
                    char think[2048];
                    snprintf(think, sizeof think, "%.*s", (int)vp.think_len, vp.think);
                    long last = -1;
                    int ne = check_equations(think, &last);
                    int direct_word = strcmp(t->name, "word") == 0 && strcmp(pat, "direct") == 0;
                    if (ne < 0 || (ne == 0 && !direct_word)) fails[5]++;
                    /* the trace ends at the answer */
                    long ans = atol(r.answer);
                    if (strcmp(t->name, "countdown") == 0) {
                        ans = (long)record_meta_num(&r, "target", -1);
                        if (strcmp(pat, "backward") == 0) {
                            if (atol(think) != ans) fails[5]++;
                        } else if (last != ans)
                            fails[5]++;
                    } else {
                        const char *end = think + strlen(think);
                        while (end > think && isdigit((unsigned char)end[-1])) end--;
                        int tail_ok = (strcmp(pat, "verbose") == 0) ? last == ans : atol(end) == ans;
                        if (!tail_ok) fails[5]++;
                    }
                    /* the classifier labels it with its own pattern */
                    const char *lab = pattern_name(&ps, pattern_classify(&ps, vp.think, vp.think_len));
                    if (strcmp(lab, pat) != 0) {
                        if (fails[6] < 5) fprintf(stderr, "  '%s' labelled %s, drawn %s\n", think, lab, pat);
                        fails[6]++;
                    }
                }
                /* task-specific independent checks */
                if (strcmp(t->name, "arith") == 0 && !check_arith(&r)) fails[7]++;
                if (strcmp(t->name, "countdown") == 0 && !check_countdown(&r, &bad_nums)) fails[7]++;
                if (strcmp(t->name, "word") == 0) {
                    long a = atol(r.answer), st = (long)record_meta_num(&r, "steps", 0);
                    if (a < 1 || st < 1 || st > 3 || !strchr(r.prompt, '?')) fails[7]++;
                }
            }
            record_free(&r);
        }
        char cfg[128];
        snprintf(cfg, sizeof cfg, "%s %s %s %s", cfgs[c].task, cfgs[c].n > 0 ? cfgs[c].kv[0] : "",
                 cfgs[c].n > 1 ? cfgs[c].kv[1] : "", cfgs[c].n > 2 ? cfgs[c].kv[2] : "");
        static const char *what[] = {"record shape",     "own answer", "wrong answer",  "format",
                                     "score_response",   "equations",  "pattern label", "task checks"};
        for (int k = 0; k < 8; k++) CHECK(fails[k] == 0, "%s: %ld of %d records fail '%s'", cfg, fails[k], N, what[k]);
        CHECK(bad_nums == 0, "%s: %ld answers use unavailable numbers", cfg, bad_nums);
        pattern_free(&ps);
        task_opts_free(&o);
    }
}

/* ---- determinism ---- */

static char *gen_bytes(const TaskDef *t, const TaskOpts *o, uint64_t seed, const int64_t *cuts, int ncuts,
                       size_t *len) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    for (int i = 0; i + 1 < ncuts; i++) {
        int rc = task_generate(t, o, seed, cuts[i], cuts[i + 1] - cuts[i], 1, f);
        CHECK(rc == TR_OK, "task_generate: %s", tr_errmsg());
    }
    fclose(f);
    return buf;
}

static void test_determinism(void) {
    for (int k = 0; k < task_count(); k++) {
        const TaskDef *t = task_at(k);
        TaskOpts o;
        CHECK(task_opts_init(&o, t, NULL, 0) == TR_OK, "%s defaults: %s", t->name, tr_errmsg());
        int64_t whole[] = {0, 60}, pieces[] = {0, 1, 17, 18, 44, 60};
        size_t n1, n2, n3;
        char *a = gen_bytes(t, &o, 7, whole, 2, &n1);
        char *b = gen_bytes(t, &o, 7, pieces, 6, &n2);
        char *c = gen_bytes(t, &o, 8, whole, 2, &n3);
        CHECK(n1 > 0 && n1 == n2 && memcmp(a, b, n1) == 0, "%s: chunked output differs", t->name);
        CHECK(n1 != n3 || memcmp(a, c, n1) != 0, "%s: seeds 7 and 8 give the same output", t->name);
        int lines = 0;
        for (size_t i = 0; i < n1; i++) lines += a[i] == '\n';
        CHECK(lines == 60, "%s: %d lines", t->name, lines);
        /* task_record gives the same record as line 18 */
        Record r;
        CHECK(task_record(t, &o, 7, 17, 1, &r) == TR_OK, "task_record");
        char *line = NULL;
        size_t ll;
        FILE *f = open_memstream(&line, &ll);
        record_write(f, &r);
        fclose(f);
        const char *p = a;
        for (int i = 0; i < 17; i++) p = strchr(p, '\n') + 1;
        CHECK(strncmp(p, line, ll) == 0, "%s: task_record differs from task_generate", t->name);
        /* traces = 0: no completion, pattern still set */
        Record r0;
        CHECK(task_record(t, &o, 7, 17, 0, &r0) == TR_OK, "task_record traces=0");
        CHECK(!r0.completion && record_meta_str(&r0, "pattern") &&
                  strcmp(record_meta_str(&r0, "pattern"), record_meta_str(&r, "pattern")) == 0 &&
                  strcmp(r0.answer, r.answer) == 0,
              "%s: traces=0 record", t->name);
        record_free(&r0);
        record_free(&r);
        free(line);
        free(a);
        free(b);
        free(c);
        task_opts_free(&o);
    }
}

/* ---- mixture frequencies ---- */

static void check_mix(const char *task, const char *kv, const char *const *names, const double *w) {
    TaskOpts o;
    int rc = opts(&o, task, kv, NULL, NULL);
    CHECK(rc == TR_OK, "%s %s: %s", task, kv ? kv : "", tr_errmsg());
    if (rc) return;
    const int N = 6000;
    int cnt[3] = {0};
    for (int i = 0; i < N; i++) {
        Record r;
        if (task_record(task_find(task), &o, 99, i, 0, &r) != TR_OK) {
            CHECK(0, "record: %s", tr_errmsg());
            break;
        }
        const char *p = record_meta_str(&r, "pattern");
        for (int k = 0; k < 3; k++)
            if (p && strcmp(p, names[k]) == 0) cnt[k]++;
        record_free(&r);
    }
    for (int k = 0; k < 3; k++) {
        double f = (double)cnt[k] / N;
        CHECK(fabs(f - w[k]) <= 0.03, "%s %s: %s frequency %.3f, weight %.3f", task, kv ? kv : "", names[k], f,
              w[k]);
    }
    task_opts_free(&o);
}

static void test_mixture(void) {
    static const char *const an[] = {"direct", "column", "split"};
    static const char *const cn[] = {"forward", "backward", "direct"};
    static const char *const wn[] = {"stepwise", "verbose", "direct"};
    check_mix("arith", NULL, an, (const double[]){0.6, 0.2, 0.2});
    check_mix("arith", "mix=direct:1,column:6,split:3", an, (const double[]){0.1, 0.6, 0.3});
    check_mix("arith", "mix=column:1", an, (const double[]){0, 1, 0});
    check_mix("countdown", NULL, cn, (const double[]){0.5, 0.3, 0.2});
    check_mix("countdown", "mix=backward:0.5,direct:0.5", cn, (const double[]){0, 0.5, 0.5});
    check_mix("word", NULL, wn, (const double[]){0.5, 0.3, 0.2});
    check_mix("word", "mix=direct:0.7,verbose:0.3", wn, (const double[]){0, 0.3, 0.7});
}

/* ---- options and registry ---- */

static void expect_err(const char *task, const char *kv, const char *w1, const char *w2) {
    TaskOpts o;
    tr_err_clear();
    int rc = opts(&o, task, kv, NULL, NULL);
    CHECK(rc < 0, "%s '%s' accepted", task, kv);
    if (rc >= 0) {
        task_opts_free(&o);
        return;
    }
    const char *m = tr_errmsg();
    CHECK(strstr(m, w1) && (!w2 || strstr(m, w2)), "%s '%s': message '%s' lacks '%s'/'%s'", task, kv, m, w1,
          w2 ? w2 : "");
}

static void test_options(void) {
    CHECK(task_count() == 4, "%d tasks", task_count());
    CHECK(task_find("arith") == &task_arith && task_find("countdown") && task_find("word") &&
              task_find("bio") == &task_bio,
          "task_find");
    CHECK(task_find("nope") == NULL && task_find(NULL) == NULL && task_at(4) == NULL && task_at(-1) == NULL,
          "task_find misses");

    expect_err("arith", "digts=3", "digts", "mul_digits");
    expect_err("arith", "digits=3-2", "digits", NULL);
    expect_err("arith", "digits=x", "digits", "N-M");
    expect_err("arith", "digits=0-3", "digits", NULL);
    expect_err("arith", "digits=2-10", "digits", NULL);
    expect_err("arith", "digits", "digits", "key=value");
    expect_err("arith", "mix=direct:1,colum:1", "colum", "column");
    expect_err("arith", "mix=direct:0,column:0,split:0", "mix", "zero");
    expect_err("arith", "mix=direct:-1,column:1", "mix", "direct");
    expect_err("arith", "mix=direct:nan", "mix", "direct");
    expect_err("arith", "mix=direct", "mix", NULL);
    expect_err("arith", "ops=sub", "ops", "sub");
    expect_err("arith", "ops=add,", "ops", NULL);
    expect_err("arith", "mul_digits=", "mul_digits", NULL);
    expect_err("arith", "terms=10", "terms", "2-9");
    expect_err("arith", "terms=1-3", "terms", NULL);
    expect_err("countdown", "level=4", "level", NULL);
    expect_err("countdown", "level=1-2-3", "level", NULL);
    expect_err("countdown", "mix=forward:1,sideways:1", "sideways", "backward");
    expect_err("word", "steps=0-2", "steps", NULL);
    expect_err("word", "size=3", "size", "steps");

    TaskOpts o;
    char *kv[] = {"digits=4", "ops=add,mul", "mul_digits=2-5"};
    CHECK(task_opts_init(&o, task_find("arith"), kv, 3) == TR_OK, "valid options: %s", tr_errmsg());
    long lo = 0, hi = 0, iv = 0;
    double fv = 0, w[3];
    CHECK(task_opt_range(&o, "digits", &lo, &hi) == TR_OK && lo == 4 && hi == 4, "range N");
    CHECK(task_opt_range(&o, "mul_digits", &lo, &hi) == TR_OK && lo == 2 && hi == 5, "range N-M");
    CHECK(task_opt_int(&o, "digits", &iv) == TR_OK && iv == 4, "int");
    CHECK(task_opt_float(&o, "digits", &fv) == TR_OK && fv == 4.0, "float");
    CHECK(task_opt_int(&o, "ops", &iv) < 0 && strstr(tr_errmsg(), "ops"), "int of text");
    CHECK(task_opt(&o, "ops") && strcmp(task_opt(&o, "ops"), "add,mul") == 0 && !task_opt(&o, "x"), "task_opt");
    static const char *const an[] = {"direct", "column", "split"};
    CHECK(task_opt_mix(&o, "mix", an, 3, w) == TR_OK && fabs(w[0] - 0.6) < 1e-12 && fabs(w[2] - 0.2) < 1e-12,
          "default mix");
    task_opts_free(&o);
}

static void test_split_infeasible(void) {
    /* with digits=1 and addition, split cannot be drawn: asking only for it
     * fails; with other weights it is renormalised away */
    TaskOpts o;
    char *kv1[] = {"digits=1", "mix=split:1"};
    CHECK(task_opts_init(&o, task_find("arith"), kv1, 2) < 0 && strstr(tr_errmsg(), "split"),
          "split-only with one digit accepted");
    char *kv2[] = {"mix=split:1"};
    CHECK(task_opts_init(&o, task_find("arith"), kv2, 1) == TR_OK, "split-only with defaults: %s", tr_errmsg());
    task_opts_free(&o);
}

static void test_score_response(void) {
    Record r;
    TaskOpts o;
    CHECK(task_opts_init(&o, &task_arith, NULL, 0) == TR_OK, "opts");
    CHECK(task_record(&task_arith, &o, 1, 0, 1, &r) == TR_OK, "record");
    char resp[256];
    int fmt = -1;
    snprintf(resp, sizeof resp, "<think>x</think><answer>%s</answer>", r.answer);
    CHECK(task_score_response(&r, NULL, resp, strlen(resp), &fmt) == 1 && fmt == 1, "right answer");
    snprintf(resp, sizeof resp, "<think>x</think><answer>%ld</answer>", atol(r.answer) + 1);
    CHECK(task_score_response(&r, NULL, resp, strlen(resp), &fmt) == 0 && fmt == 1, "wrong answer");
    snprintf(resp, sizeof resp, "the answer is %s", r.answer);
    CHECK(task_score_response(&r, NULL, resp, strlen(resp), &fmt) == 0 && fmt == 0, "no answer part");
    /* unknown task in meta */
    record_meta_set_str(&r, "task", "nope");
    CHECK(task_score_response(&r, &task_arith, resp, strlen(resp), NULL) < 0 && strstr(tr_errmsg(), "nope"),
          "unknown task accepted");
    /* no task in meta: the fallback scores */
    Record plain = {0};
    plain.id = "p";
    plain.answer = "42";
    const char *ok = "<think>6*7=42</think><answer>42</answer>";
    CHECK(task_score_response(&plain, &task_word, ok, strlen(ok), &fmt) == 1, "fallback");
    CHECK(task_score_response(&plain, NULL, ok, strlen(ok), &fmt) < 0, "no task, no fallback");
    /* long results are compared digit for digit (not within 1e-9) */
    Record big = {0};
    big.id = "big";
    big.answer = "1234567890123";
    static const struct {
        const char *got;
        int want;
    } bc[] = {{"1234567890123", 1}, {" 1,234,567,890,123 ", 1}, {"$1234567890123", 1},
              {"1234567890124", 0}, {"1234567890122", 0},          {"1234567890", 0}};
    for (size_t i = 0; i < sizeof bc / sizeof bc[0]; i++)
        CHECK(task_arith.score(&big, bc[i].got, strlen(bc[i].got), NULL, 0) == bc[i].want, "big answer '%s'",
              bc[i].got);
    record_free(&r);
    task_opts_free(&o);
}

/* ---- bio ---- */

/* Pronoun counts of a bio, read word by word here (not with the task's
 * regexes): fem = She/Her, masc = He/His. */
static void pronouns(const char *s, int *fem, int *masc) {
    *fem = *masc = 0;
    while (*s) {
        while (*s && !isalpha((unsigned char)*s)) s++;
        const char *b = s;
        while (isalpha((unsigned char)*s)) s++;
        size_t n = (size_t)(s - b);
        char w[32];
        if (n == 0 || n >= sizeof w) continue;
        for (size_t i = 0; i < n; i++) w[i] = (char)tolower((unsigned char)b[i]);
        w[n] = 0;
        *fem += !strcmp(w, "she") || !strcmp(w, "her");
        *masc += !strcmp(w, "he") || !strcmp(w, "his");
    }
}

/* Generates N bio records with the options and checks each one; returns
 * the female and rare-hobby shares. */
static void bio_run(const char *kv1, const char *kv2, const char *rare, double *female, double *rare_share) {
    TaskOpts o;
    int rc = opts(&o, "bio", kv1, kv2, NULL);
    CHECK(rc == TR_OK, "bio %s %s: %s", kv1 ? kv1 : "", kv2 ? kv2 : "", tr_errmsg());
    *female = *rare_share = -1;
    if (rc) return;
    PatternSet ps;
    CHECK(task_patterns(&task_bio, &ps) == TR_OK, "bio patterns: %s", tr_errmsg());
    const int N = 5000;
    long nf = 0, nr = 0, fails[6] = {0};
    /* first word (the name) -> gender seen: a name used for both is a bug */
    char names[64][16];
    int name_g[64], n_names = 0, clash = 0;
    for (int i = 0; i < N; i++) {
        Record r;
        if (task_record(&task_bio, &o, 2024, i, 1, &r) != TR_OK) {
            CHECK(0, "bio record %d: %s", i, tr_errmsg());
            break;
        }
        const char *g = record_meta_str(&r, "gender"), *h = record_meta_str(&r, "hobby");
        const char *pat = record_meta_str(&r, "pattern");
        char id[32];
        snprintf(id, sizeof id, "bio-%d", i);
        if (!g || !h || !pat || !r.answer || !r.completion || strcmp(r.id, id) || strcmp(r.answer, g) ||
            strcmp(pat, g) || (strcmp(g, "female") && strcmp(g, "male"))) {
            fails[0]++;
            record_free(&r);
            continue;
        }
        int is_f = strcmp(g, "female") == 0;
        nf += is_f;
        nr += strcmp(h, rare) == 0;
        if (strcmp(r.prompt, "Bio: ") != 0) fails[1]++;
        size_t len = strlen(r.completion);
        if (len < 40 || len > 70 || strchr(r.completion, '<') || r.completion[len - 1] != '.') fails[2]++;
        int fem, masc;
        pronouns(r.completion, &fem, &masc);
        if (is_f ? (fem != 1 || masc != 0) : (masc != 1 || fem != 0)) {
            if (fails[3] < 5) fprintf(stderr, "  %s bio '%s'\n", g, r.completion);
            fails[3]++;
        }
        /* the hobby ends the bio as a whole word */
        size_t hl = strlen(h);
        if (len < hl + 2 || strncmp(r.completion + len - 1 - hl, h, hl) || r.completion[len - 2 - hl] != ' ')
            fails[4]++;
        /* the classifier (run on the bio itself) and the scorer agree */
        if (strcmp(classify(&ps, r.completion), g) != 0) fails[5]++;
        if (task_bio.score(&r, g, strlen(g), NULL, 0) != 1 ||
            task_bio.score(&r, is_f ? "male" : "female", is_f ? 4 : 6, NULL, 0) != 0)
            fails[5]++;
        size_t nl = strcspn(r.completion, " ");
        char name[16];
        snprintf(name, sizeof name, "%.*s", (int)nl, r.completion);
        int k = 0;
        while (k < n_names && strcmp(names[k], name)) k++;
        if (k == n_names && n_names < 64) {
            snprintf(names[n_names], sizeof names[0], "%s", name);
            name_g[n_names++] = is_f;
        } else if (k < n_names && name_g[k] != is_f)
            clash++;
        record_free(&r);
    }
    static const char *what[] = {"record shape", "prompt", "bio text", "pronouns", "hobby", "label/score"};
    for (int k = 0; k < 6; k++)
        CHECK(fails[k] == 0, "bio %s %s: %ld of %d records fail '%s'", kv1 ? kv1 : "", kv2 ? kv2 : "",
              fails[k], N, what[k]);
    CHECK(clash == 0 && n_names >= 10, "bio: %d names used for both genders, %d names", clash, n_names);
    *female = (double)nf / N;
    *rare_share = (double)nr / N;
    pattern_free(&ps);
    task_opts_free(&o);
}

static void test_bio(void) {
    double f, r;
    /* tolerance 0.02 is ~3 sd at p = 0.2 over 5000 records; 0.01 ~3 sd at 0.05 */
    bio_run(NULL, NULL, "chess", &f, &r);
    CHECK(fabs(f - 0.2) <= 0.02, "default female share %.4f", f);
    CHECK(fabs(r - 0.05) <= 0.01, "default chess share %.4f", r);
    bio_run("female=0.5", NULL, "chess", &f, &r);
    CHECK(fabs(f - 0.5) <= 0.02, "female=0.5: share %.4f", f);
    bio_run("female=0", "rare_p=0", "chess", &f, &r);
    CHECK(f == 0 && r == 0, "female=0 rare_p=0: %.4f %.4f", f, r);
    bio_run("female=1", "rare_p=1", "chess", &f, &r);
    CHECK(f == 1 && r == 1, "female=1 rare_p=1: %.4f %.4f", f, r);
    /* another rare hobby: its share follows rare_p, chess drops to an
     * ordinary hobby's 0.7 / 9 */
    bio_run("rare=hiking", "rare_p=0.3", "hiking", &f, &r);
    CHECK(fabs(r - 0.3) <= 0.02, "rare=hiking rare_p=0.3: share %.4f", r);
    bio_run("rare=hiking", "rare_p=0.3", "chess", &f, &r);
    CHECK(fabs(r - 0.7 / 9) <= 0.015, "rare=hiking: chess share %.4f, want %.4f", r, 0.7 / 9);

    /* deterministic per (seed, index); the seed matters */
    TaskOpts o;
    CHECK(task_opts_init(&o, &task_bio, NULL, 0) == TR_OK, "bio defaults: %s", tr_errmsg());
    int same = 1, differ = 0;
    for (int i = 0; i < 50; i++) {
        Record a, b, c;
        task_record(&task_bio, &o, 5, i, 1, &a);
        task_record(&task_bio, &o, 5, i, 1, &b);
        task_record(&task_bio, &o, 6, i, 1, &c);
        same &= strcmp(a.completion, b.completion) == 0 && strcmp(a.answer, b.answer) == 0;
        differ += strcmp(a.completion, c.completion) != 0;
        record_free(&a);
        record_free(&b);
        record_free(&c);
    }
    CHECK(same && differ > 25, "bio determinism: same %d, %d of 50 differ across seeds", same, differ);

    /* scoring: case and surrounding space do not matter, other text does */
    Record rec;
    CHECK(task_record(&task_bio, &o, 1, 0, 1, &rec) == TR_OK, "bio record");
    char up[16], why[64] = "";
    snprintf(up, sizeof up, " %c%s\n", toupper((unsigned char)rec.answer[0]), rec.answer + 1);
    CHECK(task_bio.score(&rec, up, strlen(up), NULL, 0) == 1, "score '%s'", up);
    CHECK(task_bio.score(&rec, "females", 7, why, sizeof why) == 0 && strstr(why, rec.answer),
          "score 'females': %s", why);
    CHECK(task_bio.score(&rec, "", 0, NULL, 0) == 0, "score ''");
    char resp[128];
    snprintf(resp, sizeof resp, "<think>x</think><answer>%s</answer>", rec.answer);
    CHECK(task_score_response(&rec, NULL, resp, strlen(resp), NULL) == 1, "bio score_response");
    record_free(&rec);
    task_opts_free(&o);

    expect_err("bio", "female=1.5", "female", "[0, 1]");
    expect_err("bio", "female=-0.1", "female", NULL);
    expect_err("bio", "female=x", "female", "number");
    expect_err("bio", "rare_p=2", "rare_p", "[0, 1]");
    expect_err("bio", "rare_p=", "rare_p", NULL);
    expect_err("bio", "rare=golf", "golf", "chess");
    expect_err("bio", "rare=", "rare", "hobbies");
    expect_err("bio", "gender=0.5", "gender", "female, rare, rare_p");
}

int main(void) {
    test_arith_traces();
    test_countdown_traces();
    test_word_examples();
    test_options();
    test_split_infeasible();
    test_score_response();
    test_determinism();
    test_mixture();
    test_generated();
    test_bio();
    return tu_summary("test_task");
}
