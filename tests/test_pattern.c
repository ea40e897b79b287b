/* Tests for the reasoning-pattern classifier (pattern_* in task.h): rule
 * order, "other", spec parsing, error messages, invalid UTF-8 text, and a
 * catastrophic-backtracking rule that must give up (no match) quickly. */
#include <string.h>

#include "testutil.h"
#include "thinkrl/core.h"
#include "thinkrl/task.h"

static int classify(PatternSet *ps, const char *text) {
    return pattern_classify(ps, text, text ? strlen(text) : 0);
}

#define CLASS(ps, text, want)                                                           \
    do {                                                                                \
        int got_ = classify(ps, text);                                                  \
        CHECK(got_ == (want), "classify(\"%s\") = %d (%s), want %d (%s)", text, got_,    \
              pattern_name(ps, got_), want, pattern_name(ps, want));                    \
    } while (0)

/* init must fail with a message containing every one of the given parts */
static void init_fails(int line, const char *spec, const char *part1, const char *part2) {
    PatternSet ps;
    memset(&ps, 0x5A, sizeof ps); /* garbage in: init must not read it */
    int rc = pattern_init_spec(&ps, spec);
    CHECK(rc < 0, "line %d: spec \"%s\" accepted", line, spec ? spec : "(null)");
    const char *m = tr_errmsg();
    CHECK(m && strstr(m, part1), "line %d: spec \"%s\": message \"%s\" lacks \"%s\"", line,
          spec ? spec : "(null)", m ? m : "", part1);
    if (part2)
        CHECK(m && strstr(m, part2), "line %d: spec \"%s\": message \"%s\" lacks \"%s\"", line,
              spec ? spec : "(null)", m ? m : "", part2);
    CHECK(ps.n == 0 && ps.match == NULL && ps.code[0] == NULL && ps.name[0] == NULL,
          "line %d: failed init left state behind", line);
    pattern_free(&ps);
}

static void test_rules(void) {
    const char *names[] = {"verify", "backtrack", "plan"};
    const char *rx[] = {"(?i)\\bwait\\b|let me check", "(?i)go back|start over", "^Step 1"};
    PatternSet ps;
    int rc = pattern_init(&ps, names, rx, 3);
    CHECK(rc == TR_OK, "pattern_init: %s", tr_errmsg());
    if (rc != TR_OK) return;
    CHECK(ps.n == 3, "n = %d", ps.n);
    CHECK(strcmp(pattern_name(&ps, 0), "verify") == 0 && strcmp(pattern_name(&ps, 2), "plan") == 0,
          "names");
    CHECK(strcmp(pattern_name(&ps, -1), "other") == 0, "name of -1");
    CHECK(strcmp(pattern_name(&ps, 3), "other") == 0, "name out of range");
    CHECK(ps.regex[1] != rx[1] && strcmp(ps.regex[1], rx[1]) == 0, "regex copied");
    CHECK(ps.name[1] != names[1], "name copied");

    CLASS(&ps, "Hmm, WAIT. 3+4 is 7.", 0);
    CLASS(&ps, "so x = 5; let me check: 5+2 = 7", 0);
    CLASS(&ps, "await the result", -1);          /* \b keeps 'await' out */
    CLASS(&ps, "this fails, go back to the start", 1);
    CLASS(&ps, "Go back. Wait, no.", 0);          /* both match: the first rule wins */
    CLASS(&ps, "Step 1: add. Step 2: check", 2);
    CLASS(&ps, "first\nStep 1: add", -1);         /* ^ without multiline: start only */
    CLASS(&ps, "step 1: add", -1);                /* case-sensitive rule */
    CLASS(&ps, "Step 1: add, then start over", 1);
    CLASS(&ps, "", -1);
    CLASS(&ps, "7", -1);
    CHECK(pattern_classify(&ps, NULL, 10) == -1, "NULL text");
    /* length is respected */
    CHECK(pattern_classify(&ps, "no... wait", 5) == -1, "length ignored");
    CHECK(pattern_classify(&ps, "no... wait", 10) == 0, "length");
    pattern_free(&ps);
    CHECK(ps.n == 0 && ps.match == NULL, "free zeroes");
    pattern_free(&ps); /* twice is fine */

    /* reversed order: the other rule wins */
    const char *names2[] = {"backtrack", "verify"};
    const char *rx2[] = {rx[1], rx[0]};
    rc = pattern_init(&ps, names2, rx2, 2);
    CHECK(rc == TR_OK, "pattern_init: %s", tr_errmsg());
    CLASS(&ps, "Go back. Wait, no.", 0);
    CHECK(strcmp(pattern_name(&ps, classify(&ps, "Go back. Wait, no.")), "backtrack") == 0,
          "reversed order name");
    pattern_free(&ps);

    /* zero rules: everything is other */
    rc = pattern_init(&ps, NULL, NULL, 0);
    CHECK(rc == TR_OK, "zero rules: %s", tr_errmsg());
    CLASS(&ps, "anything", -1);
    pattern_free(&ps);

    PatternSet z;
    memset(&z, 0, sizeof z);
    pattern_free(&z);
    CHECK(pattern_classify(&z, "x", 1) == -1, "zeroed set classifies as other");
}

static void test_init_errors(void) {
    PatternSet ps;
    const char *n2[] = {"a", "a"}, *r2[] = {"x", "y"};
    CHECK(pattern_init(&ps, n2, r2, 2) < 0 && strstr(tr_errmsg(), "'a' appears twice"),
          "duplicate names: %s", tr_errmsg());
    const char *n3[] = {"other"};
    CHECK(pattern_init(&ps, n3, r2, 1) < 0 && strstr(tr_errmsg(), "'other'"), "other: %s",
          tr_errmsg());
    const char *n4[] = {""};
    CHECK(pattern_init(&ps, n4, r2, 1) < 0 && strstr(tr_errmsg(), "empty name"), "empty: %s",
          tr_errmsg());
    const char *n5[] = {"a", "b"}, *r5[] = {"x", "a(b"};
    CHECK(pattern_init(&ps, n5, r5, 2) < 0, "bad regex accepted");
    const char *m = tr_errmsg();
    CHECK(strstr(m, "rule 'b'") && strstr(m, "offset 3") &&
              strstr(m, "missing closing parenthesis"),
          "compile error message: %s", m);
    CHECK(ps.n == 0 && ps.code[0] == NULL && ps.name[0] == NULL, "failed init is zeroed");
    const char *r6[] = {"x", "[z-a]"};
    CHECK(pattern_init(&ps, n5, r6, 2) < 0 && strstr(tr_errmsg(), "rule 'b'") &&
              strstr(tr_errmsg(), "range out of order"),
          "range error: %s", tr_errmsg());
    const char *many[PATTERN_MAX + 1], *many_rx[PATTERN_MAX + 1];
    char nb[PATTERN_MAX + 1][16], rb[PATTERN_MAX + 1][24];
    for (int i = 0; i <= PATTERN_MAX; i++) {
        snprintf(nb[i], sizeof nb[i], "p%d", i);
        snprintf(rb[i], sizeof rb[i], "\\bp%d\\b", i);
        many[i] = nb[i];
        many_rx[i] = rb[i];
    }
    CHECK(pattern_init(&ps, many, many_rx, PATTERN_MAX + 1) < 0, "too many rules accepted");
    CHECK(pattern_init(&ps, many, many_rx, PATTERN_MAX) == TR_OK, "PATTERN_MAX rules: %s",
          tr_errmsg());
    CHECK(classify(&ps, "xx p15 yy") == 15 && classify(&ps, "p1") == 1, "16 rules classify");
    pattern_free(&ps);
}

static void test_spec(void) {
    PatternSet ps;
    int rc = pattern_init_spec(&ps, " a = x;;y ;b=z;  c\t=(?i)^hello$");
    CHECK(rc == TR_OK, "spec: %s", tr_errmsg());
    if (rc == TR_OK) {
        CHECK(ps.n == 3, "spec rules: %d", ps.n);
        CHECK(strcmp(ps.name[0], "a") == 0 && strcmp(ps.name[1], "b") == 0 &&
                  strcmp(ps.name[2], "c") == 0,
              "spec names: '%s' '%s' '%s'", ps.name[0], ps.name[1], ps.name[2]);
        CHECK(strcmp(ps.regex[0], " x;y ") == 0, "regex kept as written with ';': '%s'",
              ps.regex[0]);
        CHECK(strcmp(ps.regex[1], "z") == 0 && strcmp(ps.regex[2], "(?i)^hello$") == 0,
              "regexes: '%s' '%s'", ps.regex[1], ps.regex[2]);
        CLASS(&ps, "1 x;y 2", 0);
        CLASS(&ps, "x;y", -1);  /* the regex includes its spaces */
        CLASS(&ps, "fizz", 1);
        CLASS(&ps, "HELLO", 2);
        CLASS(&ps, "hello there", -1);
        pattern_free(&ps);
    }
    /* '=' inside a regex, ';;' at the end, a trailing ';' */
    rc = pattern_init_spec(&ps, "eq=a=b;semi=end;;;");
    CHECK(rc == TR_OK && ps.n == 2, "spec with '=' and ';;': %s", tr_errmsg());
    if (rc == TR_OK) {
        CHECK(strcmp(ps.regex[0], "a=b") == 0 && strcmp(ps.regex[1], "end;") == 0,
              "regexes '%s' '%s'", ps.regex[0], ps.regex[1]);
        CLASS(&ps, "the end;", 1);
        CLASS(&ps, "the end", -1);
        pattern_free(&ps);
    }
    rc = pattern_init_spec(&ps, "a=;;;;");
    CHECK(rc == TR_OK && ps.n == 1 && strcmp(ps.regex[0], ";;") == 0, "';;;;' is two ';': '%s'",
          rc == TR_OK ? ps.regex[0] : tr_errmsg());
    pattern_free(&ps);
    rc = pattern_init_spec(&ps, "any=");
    CHECK(rc == TR_OK && ps.n == 1 && classify(&ps, "") == 0, "empty regex matches all");
    pattern_free(&ps);

    init_fails(__LINE__, "", "empty spec", NULL);
    init_fails(__LINE__, "  \n ", "empty spec", NULL);
    init_fails(__LINE__, ";", "empty spec", NULL);
    init_fails(__LINE__, NULL, "no spec", NULL);
    init_fails(__LINE__, "a=x;noequals", "rule 2 'noequals'", "name=regex");
    init_fails(__LINE__, "=x", "empty name", NULL);
    init_fails(__LINE__, " other =x", "'other'", NULL);
    init_fails(__LINE__, "a=x;a=y", "'a' appears twice", NULL);
    init_fails(__LINE__, "a=x; b=(y", "rule 'b'", "missing closing parenthesis");
    init_fails(__LINE__, "a=x;b=y;c=\\", "rule 'c'", "offset 1");
    init_fails(__LINE__, "a=1;b=2;c=3;d=4;e=5;f=6;g=7;h=8;i=9;j=10;k=11;l=12;m=13;n=14;o=15;p=16;q=17",
               "more than 16 rules", NULL);
}

static void test_utf8(void) {
    PatternSet ps;
    int rc = pattern_init_spec(&ps, "wait=\\bwait\\b;accent=caf\xC3\xA9;dot=^.$;word=\\w+");
    CHECK(rc == TR_OK, "utf8 spec: %s", tr_errmsg());
    if (rc != TR_OK) return;
    /* invalid bytes around a match do not make matching fail */
    CLASS(&ps, "\xFF\xFE garbage \xC3 wait \x80\x80", 0);
    CLASS(&ps, "\xC3\x28 caf\xC3\xA9 \xF0\x28\x8C\x28", 1);
    CLASS(&ps, "\xE9", -1);          /* one invalid byte matches no character */
    CLASS(&ps, "\xC3\xA9", 2);       /* one two-byte character is one '.' */
    CLASS(&ps, "\xFF\xFF\xFF", -1);
    CLASS(&ps, "\xFF" "abc\xFF", 3);
    /* every byte string: no crash, a valid answer */
    Rng r;
    rng_seed(&r, 3);
    int counts[6] = {0};
    for (int it = 0; it < 5000; it++) {
        size_t n = rng_u64(&r) % 64;
        char *s = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++) s[i] = (char)(rng_u64(&r) & 0xFF);
        int c = pattern_classify(&ps, s, n);
        CHECK(c >= -1 && c < ps.n, "random bytes gave %d", c);
        if (c >= -1 && c < 4) counts[c + 1]++;
        free(s);
    }
    CHECK(counts[4] > 1000 && counts[0] > 100, "random bytes: %d other, %d word", counts[0],
          counts[4]);
    pattern_free(&ps);
}

static void test_catastrophic(void) {
    PatternSet bomb, ps;
    int rc = pattern_init_spec(&bomb, "bomb=(a+)+$");
    CHECK(rc == TR_OK, "bomb spec: %s", tr_errmsg());
    rc = pattern_init_spec(&ps, "bomb=(a+)+$;bee=b$");
    CHECK(rc == TR_OK, "bomb spec: %s", tr_errmsg());
    if (rc != TR_OK) return;
    size_t n = 100000;
    char *s = malloc(n + 1);
    memset(s, 'a', n);
    s[n - 1] = 'b';
    s[n] = '\0';
    /* 39 'a's then 'b': 2^39 ways to split the run without a limit */
    double t0 = tr_time();
    int c = pattern_classify(&bomb, s + n - 40, 40);
    double dt1 = tr_time() - t0;
    CHECK(c == -1, "bomb on 39 a's: %d", c);
    CHECK(dt1 < 2.0, "catastrophic regex on 40 bytes took %.3f s", dt1);
    t0 = tr_time();
    c = pattern_classify(&ps, s + n - 40, 40);
    double dt2 = tr_time() - t0;
    CHECK(c == 1, "bomb gives up, the next rule matches: %d", c);
    /* a long run: the work must be bounded per call, not per start position */
    t0 = tr_time();
    c = pattern_classify(&bomb, s, n);
    double dt3 = tr_time() - t0;
    CHECK(c == -1, "bomb on %zu bytes: %d", n, c);
    CHECK(dt3 < 2.0, "catastrophic regex on %zu bytes took %.3f s", n, dt3);
    /* many runs just short of the per-position limit: the total is bounded */
    size_t k = 0;
    while (k + 19 <= 20000) {
        memset(s + k, 'a', 18);
        k += 18;
        s[k++] = 'b';
    }
    t0 = tr_time();
    c = pattern_classify(&bomb, s, k);
    double dt4 = tr_time() - t0;
    CHECK(c == -1, "bomb on runs: %d", c);
    CHECK(dt4 < 2.0, "catastrophic regex on %zu bytes of runs took %.3f s", k, dt4);
    /* the limit leaves ordinary matches alone */
    CHECK(pattern_classify(&ps, "aaaa", 4) == 0, "bomb matches a plain run of a's");
    printf("catastrophic regex: %.1f ms (40 bytes), %.1f ms (then next rule), %.1f ms (%zu "
           "bytes), %.1f ms (%zu bytes of runs)\n",
           dt1 * 1e3, dt2 * 1e3, dt3 * 1e3, n, dt4 * 1e3, k);
    free(s);
    pattern_free(&ps);
    pattern_free(&bomb);

    /* a long think text with ordinary rules is classified quickly */
    rc = pattern_init_spec(&ps, "verify=(?i)let me (check|verify);plan=(?m)^step \\d+:");
    CHECK(rc == TR_OK, "spec: %s", tr_errmsg());
    size_t m = 200000;
    char *t = malloc(m);
    for (size_t i = 0; i < m; i++) t[i] = "let me think step 1 "[i % 20];
    memcpy(t + m - 14, "\nstep 12: done", 14);
    t0 = tr_time();
    c = pattern_classify(&ps, t, m);
    double dt = tr_time() - t0;
    CHECK(c == 1, "long text: %d", c);
    CHECK(dt < 1.0, "long text took %.3f s", dt);
    free(t);
    pattern_free(&ps);
}

int main(void) {
    test_rules();
    test_init_errors();
    test_spec();
    test_utf8();
    test_catastrophic();
    return tu_summary("test_pattern");
}
