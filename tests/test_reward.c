/* Tests for the reward functions (reward.h): hand-checked cases for every
 * built-in, weighted sums, the spec parser and its errors, a caller-defined
 * per-token function, and the exec protocol against the Python verifiers in
 * tests/verifiers/ (run with the python3 on PATH): correct rewards, batches
 * large enough to need pipelining, and each failure mode (crash, hang,
 * garbage, non-finite reward, missing program) giving its error quickly and
 * leaving no child process behind. The verifiers are found next to this
 * file: the directory of __FILE__ (absolute under CMake; relative to the
 * working directory when compiled by hand from the repository root), or
 * $THINKRL_TEST_VERIFIERS. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "thinkrl/core.h"
#include "thinkrl/data.h"
#include "thinkrl/reward.h"

/* ------------------------------------------------------------- helpers -- */

static Record mkrec(const char *json) {
    Record r;
    int rc = record_parse(json, strlen(json), 1, &r);
    if (rc != TR_OK) {
        fprintf(stderr, "test record does not parse: %s\n%s\n", tr_errmsg(), json);
        exit(2);
    }
    return r;
}

static RewardCtx ctx_of(const char *resp, const Record *r) {
    RewardCtx c;
    memset(&c, 0, sizeof c);
    c.response = resp;
    c.response_len = strlen(resp);
    c.rec = r;
    return c;
}

/* Scores resp against the record in json with the set built from spec;
 * returns the total (NAN when building or scoring failed, with the message
 * printed). */
static double score_spec(int line, const char *spec, const char *resp, const char *json) {
    RewardSet s;
    reward_set_init(&s);
    if (reward_set_parse(&s, spec) != TR_OK) {
        fprintf(stderr, "line %d: spec '%s': %s\n", line, spec, tr_errmsg());
        return NAN;
    }
    Record r = mkrec(json);
    RewardCtx c = ctx_of(resp, &r);
    double total = NAN;
    if (reward_score(&s, &c, &total, NULL, NULL) != TR_OK) {
        fprintf(stderr, "line %d: scoring failed: %s\n", line, tr_errmsg());
        total = NAN;
    }
    record_free(&r);
    reward_set_free(&s);
    return total;
}

#define SCORE(spec, resp, json, want)                                                        \
    do {                                                                                     \
        double got_ = score_spec(__LINE__, spec, resp, json);                                \
        CHECK(fabs(got_ - (want)) <= 1e-12, "%s on \"%s\" (record %s): got %.17g want %.17g", \
              spec, resp, json, got_, (double)(want));                                       \
    } while (0)

/* Scoring must fail with a message containing `has`. */
static void score_err(int line, const char *spec, const char *resp, const char *json,
                      const char *has) {
    RewardSet s;
    reward_set_init(&s);
    int rc = reward_set_parse(&s, spec);
    CHECK(rc == TR_OK, "line %d: spec '%s': %s", line, spec, tr_errmsg());
    if (rc) return;
    Record r = mkrec(json);
    RewardCtx c = ctx_of(resp, &r);
    double total = 0;
    rc = reward_score(&s, &c, &total, NULL, NULL);
    CHECK(rc != TR_OK, "line %d: %s on \"%s\" should fail, got %g", line, spec, resp, total);
    if (rc != TR_OK)
        CHECK(strstr(tr_errmsg(), has) != NULL, "line %d: error \"%s\" lacks \"%s\"", line,
              tr_errmsg(), has);
    record_free(&r);
    reward_set_free(&s);
}
#define SCORE_ERR(spec, resp, json, has) score_err(__LINE__, spec, resp, json, has)

/* Parsing must fail with a message containing every one of has[]; the set
 * keeps what it had. */
static void parse_err(int line, const char *spec, const char *has1, const char *has2) {
    RewardSet s;
    reward_set_init(&s);
    int rc0 = reward_set_parse(&s, "format:0.5");
    CHECK(rc0 == TR_OK, "line %d: %s", line, tr_errmsg());
    int rc = reward_set_parse(&s, spec);
    CHECK(rc != TR_OK, "line %d: spec '%s' should not parse", line, spec);
    if (rc != TR_OK) {
        CHECK(strstr(tr_errmsg(), has1) != NULL, "line %d: error \"%s\" lacks \"%s\"", line,
              tr_errmsg(), has1);
        if (has2)
            CHECK(strstr(tr_errmsg(), has2) != NULL, "line %d: error \"%s\" lacks \"%s\"", line,
                  tr_errmsg(), has2);
    }
    CHECK(s.n == 1 && s.term[0].weight == 0.5, "line %d: set changed by a failed parse (n=%d)",
          line, s.n);
    reward_set_free(&s);
}
#define PARSE_ERR(spec, has1, has2) parse_err(__LINE__, spec, has1, has2)

/* ----------------------------------------------------------- built-ins -- */

static const char *R36 = "{\"prompt\":\"q\",\"answer\":\"36\"}";

static void test_format(void) {
    SCORE("format", "<think>a</think><answer>b</answer>", R36, 1);
    SCORE("format", "  <think>a</think>\n<answer>b</answer>\n", R36, 1);
    SCORE("format", "<think>a</think><answer>b</answer> tail", R36, 0);
    SCORE("format", "<think>a</think><answer>b</answer><answer>c</answer>", R36, 0);
    SCORE("format", "<answer>b</answer>", R36, 0);
    SCORE("format", "", R36, 0);
    SCORE("format(think=reasoning,answer=final)", "<reasoning>a</reasoning><final>b</final>",
          R36, 1);
    SCORE("format(think=reasoning,answer=final)", "<think>a</think><answer>b</answer>", R36, 0);
}

static void test_accuracy(void) {
    SCORE("accuracy", "<think>x</think><answer>36</answer>", R36, 1);
    SCORE("accuracy", "<think>x</think><answer> 36. </answer>", R36, 1);
    SCORE("accuracy", "<think>x</think><answer>35</answer>", R36, 0);
    SCORE("accuracy", "<think>36</think>", R36, 0); /* no answer part */
    /* no <think> needed: accuracy looks at the answer part only */
    SCORE("accuracy", "so <answer>36</answer>", R36, 1);
    const char *thousand = "{\"prompt\":\"q\",\"answer\":\"1000\"}";
    SCORE("accuracy", "<answer>1,000</answer>", thousand, 1);
    SCORE("accuracy", "<answer>1e3</answer>", thousand, 1);
    SCORE("accuracy", "<answer>1001</answer>", thousand, 0);
    SCORE("accuracy", "<answer>3/4</answer>", "{\"prompt\":\"q\",\"answer\":\"0.75\"}", 1);
    SCORE("accuracy", "<answer>  New   york </answer>", "{\"prompt\":\"q\",\"answer\":\"New York\"}", 1);
    /* multiple choice: the letter in its usual wrappings, or the text of
     * the right option when meta.choices lists them */
    const char *mc = "{\"prompt\":\"q\",\"answer\":\"B\",\"meta\":{\"choices\":[\"cat\",\"dog\",\"cow\"]}}";
    SCORE("accuracy", "<answer>(B)</answer>", mc, 1);
    SCORE("accuracy", "<answer>b) dog</answer>", mc, 0); /* "b) dog" is not a wrapping */
    SCORE("accuracy", "<answer>B: dog</answer>", mc, 1);
    SCORE("accuracy", "<answer>Dog</answer>", mc, 1);
    SCORE("accuracy", "<answer>cat</answer>", mc, 0);
    SCORE("accuracy", "<answer>C</answer>", mc, 0);
    /* custom tags */
    SCORE("accuracy(answer=final)", "<final>36</final>", R36, 1);
    SCORE("accuracy(answer=final)", "<answer>36</answer>", R36, 0);
    /* a record that names a task is scored by the task: countdown here,
     * whose answer is an expression, not the reference text */
    const char *cd = "{\"prompt\":\"q\",\"answer\":\"3*4\",\"meta\":{\"task\":\"countdown\","
                     "\"numbers\":[3,4,5],\"target\":12}}";
    SCORE("accuracy", "<answer>4*3</answer>", cd, 1);
    SCORE("accuracy", "<answer>12</answer>", cd, 0);
    SCORE("accuracy", "<answer>5+4+3</answer>", cd, 1);
    SCORE("accuracy", "<answer>5+4+3+3</answer>", cd, 0);
    /* option task= applies to records that name none */
    const char *cd_plain = "{\"prompt\":\"q\",\"meta\":{\"numbers\":[3,4,5],\"target\":12}}";
    SCORE("accuracy(task=countdown)", "<answer>4*3</answer>", cd_plain, 1);
    SCORE_ERR("accuracy", "<answer>4*3</answer>", cd_plain, "has no answer and names no task");
    SCORE_ERR("accuracy", "<answer>1</answer>",
              "{\"prompt\":\"q\",\"answer\":\"1\",\"meta\":{\"task\":\"nosuch\"}}",
              "unknown task 'nosuch'");
    PARSE_ERR("accuracy(task=nosuch)", "unknown task 'nosuch'", "countdown");
}

static void test_equation(void) {
    const char *r = "{\"prompt\":\"q\",\"meta\":{\"numbers\":[1,2,3,4],\"target\":10}}";
    SCORE("equation", "<think>t</think><answer>1+2+3+4</answer>", r, 1);
    SCORE("equation", "<answer>(1 + 4) * 2</answer>", r, 1);
    SCORE("equation", "<answer>4*3-2</answer>", r, 1);
    SCORE("equation", "<answer>4*3-1</answer>", r, 0);      /* 11 */
    SCORE("equation", "<answer>(1+4)*2*1</answer>", r, 0);  /* 1 used twice */
    SCORE("equation", "<answer>5+5</answer>", r, 0);        /* 5 not given */
    SCORE("equation", "<answer>import os</answer>", r, 0);
    SCORE("equation", "<answer>1/0+10</answer>", r, 0);
    SCORE("equation", "no tags 1+2+3+4", r, 0);
    SCORE_ERR("equation", "<answer>1</answer>", R36, "meta.numbers");
}

static void test_iou(void) {
    const char *r = "{\"prompt\":\"q\",\"answer\":\"[0,0,10,10]\"}";
    SCORE("iou", "<answer>[0, 0, 10, 10]</answer>", r, 1);
    SCORE("iou", "<answer>[5,0,15,10]</answer>", r, 50.0 / 150.0);
    SCORE("iou", "<answer>[0,0,10,8]</answer>", r, 0.8);
    SCORE("iou", "<answer> [ 0.0 , 0 , 1e1 , 10. ] </answer>", r, 1);
    SCORE("iou", "<answer>(2,2,4,4)</answer>", r, 4.0 / 100.0);
    SCORE("iou", "<answer>0 0 5 10</answer>", r, 0.5);       /* bare, space separated */
    SCORE("iou", "<answer>from [0,0,1,1] to [0,0,10,10]</answer>", r, 1); /* the last box */
    SCORE("iou", "<answer>[20,20,30,30]</answer>", r, 0);   /* disjoint */
    SCORE("iou", "<answer>[10,0,20,10]</answer>", r, 0);    /* touching */
    SCORE("iou", "<answer>[10,0,0,10]</answer>", r, 0);     /* x2 < x1: invalid */
    SCORE("iou", "<answer>[1,2,3]</answer>", r, 0);
    SCORE("iou", "<answer>[a,b,c,d]</answer>", r, 0);
    SCORE("iou", "<answer>no box</answer>", r, 0);
    SCORE("iou", "[0,0,10,10]", r, 0);                      /* no answer part */
    SCORE("iou(mode=hard)", "<answer>[0,0,10,8]</answer>", r, 1);
    SCORE("iou(mode=hard)", "<answer>[0,0,10,5]</answer>", r, 0); /* IoU 0.5 is not > 0.5 */
    SCORE("iou(mode=hard,threshold=0.85)", "<answer>[0,0,10,8]</answer>", r, 0);
    SCORE("iou:2(mode=hard, threshold=0.75)", "<answer>[0,0,10,8]</answer>", r, 2);
    /* the reference may come from meta.box */
    SCORE("iou", "<answer>[0,0,5,10]</answer>", "{\"prompt\":\"q\",\"meta\":{\"box\":[0,0,10,10]}}", 0.5);
    SCORE_ERR("iou", "<answer>[0,0,5,10]</answer>", R36, "no valid reference box");
    SCORE_ERR("iou", "<answer>[0,0,5,10]</answer>", "{\"prompt\":\"q\",\"answer\":\"[5,5,0,0]\"}",
              "no valid reference box");
    PARSE_ERR("iou(mode=medium)", "expected soft or hard", NULL);
    PARSE_ERR("iou(threshold=1.5)", "option 'threshold'", "[0, 1]");

    double b[4];
    CHECK(reward_parse_box("[1,2,3,4] then [5,6,7,8]", 24, 1, b) && b[0] == 1 && b[3] == 4,
          "first box");
    CHECK(reward_parse_box("[1,2,3,4] then [5,6,7,8]", 24, -1, b) && b[0] == 5 && b[3] == 8,
          "last box");
    CHECK(reward_parse_box("[-1.5e0, +2, 3.25, 4]", 21, -1, b) && b[0] == -1.5 && b[2] == 3.25,
          "signed and exponent");
    CHECK(!reward_parse_box("[1,2,3,4", 8, -1, b), "unclosed bracket");
    CHECK(!reward_parse_box("[1,2,3,4)", 9, -1, b), "mismatched bracket");
    CHECK(!reward_parse_box("[1,2,3,4,5]", 11, -1, b), "five numbers");
    CHECK(!reward_parse_box("[1,,2,3,4]", 10, -1, b), "empty field");
    CHECK(!reward_parse_box("[1,2,3,1e999]", 13, -1, b), "infinite");
    double a1[4] = {0, 0, 2, 2}, a2[4] = {1, 1, 3, 3}, z[4] = {1, 1, 1, 1};
    CHECK(fabs(reward_iou(a1, a2) - 1.0 / 7.0) < 1e-15, "iou 1/7: %g", reward_iou(a1, a2));
    CHECK(reward_iou(z, z) == 0, "empty union gives 0");
}

static void test_consistency(void) {
    /* numbers: the last number in <think> against the numeric answer */
    SCORE("consistency", "<think>12*3 = 36</think><answer>36</answer>", R36, 1);
    SCORE("consistency", "<think>12*3 = 36</think><answer>35</answer>", R36, 0);
    SCORE("consistency", "<think>36, or rather 35</think><answer>36</answer>", R36, 0);
    SCORE("consistency", "<think>total 1,000 apples.</think><answer>1000</answer>", R36, 1);
    SCORE("consistency", "<think>so x = -5</think><answer>-5</answer>", R36, 1);
    SCORE("consistency", "<think>7-5 is 2</think><answer>2</answer>", R36, 1);
    SCORE("consistency", "<think>7-5</think><answer>-5</answer>", R36, 0);
    SCORE("consistency", "<think>half of 3/2 is 3/4</think><answer>0.75</answer>", R36, 1);
    SCORE("consistency", "<think>about 2.5e3 m</think><answer>2500</answer>", R36, 1);
    SCORE("consistency", "<think>I count 3eggs</think><answer>3</answer>", R36, 1);
    SCORE("consistency", "<think>no digits here</think><answer>3</answer>", R36, 0);
    /* multiple choice: the last option mentioned */
    SCORE("consistency", "<think>Option (B) looks right, but the answer is C</think><answer>C</answer>", R36, 1);
    SCORE("consistency", "<think>Option (B) looks right, but the answer is C</think><answer>B</answer>", R36, 0);
    SCORE("consistency", "<think>A quick check shows B) is right</think><answer>(B)</answer>", R36, 1);
    SCORE("consistency", "<think>I think a cat (b) fits</think><answer>B.</answer>", R36, 1);
    SCORE("consistency", "<think>Answer: D</think><answer>D: 42</answer>", R36, 1);
    SCORE("consistency", "<think>A cat. I am sure.</think><answer>A</answer>", R36, 0);
    /* boxes: the last box in <think>, equal numbers or IoU >= box_iou */
    SCORE("consistency", "<think>box [1,2,3,4]</think><answer>[1, 2, 3, 4]</answer>", R36, 1);
    SCORE("consistency", "<think>box [1,2,3,4]</think><answer>[1,2,3,5]</answer>", R36, 0);
    SCORE("consistency(box_iou=0.6)", "<think>box [1,2,3,4]</think><answer>[1,2,3,5]</answer>", R36, 1);
    SCORE("consistency(box_iou=0.7)", "<think>box [1,2,3,4]</think><answer>[1,2,3,5]</answer>", R36, 0);
    SCORE("consistency", "<think>near 1,2</think><answer>[1,2,3,4]</answer>", R36, 0);
    /* text: the answer mentioned as whole words */
    SCORE("consistency", "<think>The capital is Paris.</think><answer>paris</answer>", R36, 1);
    SCORE("consistency", "<think>The capital is Paris.</think><answer>Par</answer>", R36, 0);
    SCORE("consistency", "<think>It is New\n York</think><answer>new york.</answer>", R36, 1);
    /* missing parts */
    SCORE("consistency", "<answer>36</answer>", R36, 0);
    SCORE("consistency", "<think>36</think>", R36, 0);
    SCORE("consistency", "<think></think><answer>36</answer>", R36, 0);
    SCORE("consistency", "<think>36</think><answer></answer>", R36, 0);
}

static void test_taco(void) {
    /* acc + fmt + w_tac * 1[consistent AND correct] */
    SCORE("taco", "<think>12*3 = 36</think><answer>36</answer>", R36, 3);
    SCORE("taco", "<think>12*3 = 35</think><answer>36</answer>", R36, 2);   /* inconsistent */
    SCORE("taco", "<think>12*3 = 35</think><answer>35</answer>", R36, 1);   /* wrong */
    SCORE("taco", "<think>36</think><answer>36</answer> extra", R36, 2);    /* bad format */
    SCORE("taco(w_tac=0.5)", "<think>36</think><answer>36</answer>", R36, 2.5);
    SCORE("taco:2(w_tac=0.5)", "<think>36</think><answer>36</answer>", R36, 5);
    const char *box = "{\"prompt\":\"q\",\"answer\":\"[0,0,10,10]\"}";
    SCORE("taco(acc=iou)", "<think>[0,0,10,8]</think><answer>[0,0,10,8]</answer>", box, 0.8 + 1 + 1);
    SCORE("taco(acc=iou)", "<think>[5,0,15,10]</think><answer>[5,0,15,10]</answer>", box, 1.0 / 3 + 1);
    SCORE("taco(acc=iou,mode=hard)", "<think>[0,0,10,8]</think><answer>[0,0,10,8]</answer>", box, 3);
    SCORE("taco(acc=iou,threshold=0.9)", "<think>[0,0,10,8]</think><answer>[0,0,10,8]</answer>", box, 1.8);
    const char *cd = "{\"prompt\":\"q\",\"meta\":{\"numbers\":[3,4,5],\"target\":12}}";
    /* a countdown answer is an expression: the think part concludes with its
     * value, or writes it */
    SCORE("taco(acc=equation)", "<think>try 3*4</think><answer>3*4</answer>", cd, 3);
    SCORE("taco(acc=equation)", "<think>try 3*5</think><answer>3*4</answer>", cd, 2);
    SCORE("taco(acc=equation)", "<think>3*4=12</think><answer>3*4</answer>", cd, 3);
    SCORE("taco(acc=equation)", "<think>3*5=15</think><answer>3*4</answer>", cd, 2);
    SCORE("consistency", "<think>4+6=10,3*10=30</think><answer>3*(4+6)</answer>", R36, 1);
    SCORE("consistency", "<think>4+6=10,3*10=31</think><answer>3*(4+6)</answer>", R36, 0);
    SCORE("consistency", "<think>10/4=2.5</think><answer>10/4</answer>", R36, 1);
    SCORE("consistency", "<think>so 1+2</think><answer>(1+</answer>", R36, 0);
    /* the public verdict agrees with the built-in */
    int ok = -1;
    const char *r1 = "<think>4+6=10,3*10=30</think><answer>3*(4+6)</answer>", *r2 = "<t>5</t><a>5</a>";
    CHECK(reward_consistent(r1, strlen(r1), NULL, &ok) == TR_OK && ok == 1, "reward_consistent: expression");
    VerifyTags tg = {"t", "a"};
    CHECK(reward_consistent(r2, strlen(r2), &tg, &ok) == TR_OK && ok == 1, "reward_consistent: other tags");
    CHECK(reward_consistent(r2, strlen(r2), NULL, &ok) == TR_OK && ok == 0, "reward_consistent: no <think>");
    PARSE_ERR("taco(acc=vibes)", "expected accuracy, iou or equation", NULL);
}

static void length_case(int line, const char *spec, int n_tokens, int max_tokens, double want) {
    RewardSet s;
    reward_set_init(&s);
    int rc = reward_set_parse(&s, spec);
    CHECK(rc == TR_OK, "line %d: %s", line, tr_errmsg());
    RewardCtx c = ctx_of("x", NULL);
    c.n_tokens = n_tokens;
    c.max_tokens = max_tokens;
    double got = NAN;
    rc = reward_score(&s, &c, &got, NULL, NULL);
    CHECK(rc == TR_OK, "line %d: %s", line, tr_errmsg());
    CHECK(fabs(got - want) < 1e-12, "line %d: %s at %d tokens: got %.17g want %.17g", line, spec,
          n_tokens, got, want);
    reward_set_free(&s);
}
#define LEN(spec, n, max, want) length_case(__LINE__, spec, n, max, want)

static void test_length(void) {
    /* L_max 100, L_cache 20: L_exp = 80 */
    LEN("length(max=100,cache=20)", 0, 0, 0);
    LEN("length(max=100,cache=20)", 80, 0, 0);
    LEN("length(max=100,cache=20)", 81, 0, -0.05);
    LEN("length(max=100,cache=20)", 90, 0, -0.5);
    LEN("length(max=100,cache=20)", 99, 0, -0.95);
    LEN("length(max=100,cache=20)", 100, 0, -1);
    LEN("length(max=100,cache=20)", 101, 0, -1);
    LEN("length(max=100,cache=20)", 5000, 0, -1);
    /* L_max from the context, L_cache = L_max / 5 */
    LEN("length", 90, 100, -0.5);
    LEN("length(cache=50)", 75, 100, -0.5);
    LEN("length(max=100,cache=100)", 50, 0, -0.5);
    LEN("length:0.5(max=100,cache=20)", 90, 0, -0.25);
    CHECK(reward_overlong(20480 - 4096, 20480, 4096) == 0, "DAPO L_exp");
    CHECK(reward_overlong(20480 - 2048, 20480, 4096) == -0.5, "DAPO halfway");

    RewardSet s;
    reward_set_init(&s);
    CHECK(reward_set_parse(&s, "length") == TR_OK, "%s", tr_errmsg());
    RewardCtx c = ctx_of("x", NULL);
    c.n_tokens = 10;
    double t;
    CHECK(reward_score(&s, &c, &t, NULL, NULL) != TR_OK && strstr(tr_errmsg(), "L_max"),
          "length without max: %s", tr_errmsg());
    reward_set_free(&s);
    PARSE_ERR("length(max=10,cache=20)", "cache 20 exceeds max 10", NULL);
    PARSE_ERR("length(max=-1)", "option 'max'", "integer");
}

static void test_contains(void) {
    /* whole words: the neighbours must not be letters, digits or '_' */
    SCORE("contains(words='She|her')", "She likes chess.", R36, 1);
    SCORE("contains(words='She|her')", "Shell likes chess.", R36, 0);
    SCORE("contains(words='She|her')", "Ashe and Esher", R36, 0);
    SCORE("contains(words='She|her')", "she likes chess.", R36, 0); /* case-sensitive by default */
    SCORE("contains(words='She|her')", "He loves her.", R36, 1);
    SCORE("contains(words='She|her')", "(her)", R36, 1);
    SCORE("contains(words='She|her')", "her_", R36, 0);
    SCORE("contains(words='She|her')", "her2 2her", R36, 0);
    SCORE("contains(words='She|her')", "She", R36, 1);
    SCORE("contains(words='She|her')", "", R36, 0);
    SCORE("contains(words=chess)", "Shell; chesss; chess!", R36, 1);
    SCORE("contains(words='New York')", "He lives in New York.", R36, 1);
    SCORE("contains(words='New York')", "He lives in New Yorkshire.", R36, 0);
    SCORE("contains(words=' She | her ')", "She", R36, 1);
    /* modes */
    SCORE("contains(words='She|chess',mode=all)", "She likes chess.", R36, 1);
    SCORE("contains(words='She|chess',mode=all)", "She likes golf.", R36, 0);
    SCORE("contains(words='She|chess',mode=any)", "He likes golf.", R36, 0);
    SCORE("contains(words='She|chess',mode=none)", "He likes golf.", R36, 1);
    SCORE("contains(words='She|chess',mode=none)", "He likes chess.", R36, 0);
    SCORE("contains(words='She|chess',mode=none)", "Shell", R36, 1);
    /* case=false folds ASCII letters; boundaries still apply */
    SCORE("contains(words='She|her',case=false)", "she likes chess.", R36, 1);
    SCORE("contains(words='she',case=false)", "SHE", R36, 1);
    SCORE("contains(words='she',case=false)", "SHELL", R36, 0);
    SCORE("contains(words='SHE|HIS',case=false,mode=all)", "She and his", R36, 1);
    SCORE("contains(words='She|her',case=true)", "SHE", R36, 0);
    /* weighted, next to other terms; the response need not be NUL-terminated */
    SCORE("format:0.5,contains(words=chess):2", "<think>a</think><answer>chess</answer>", R36, 2.5);
    RewardSet s;
    reward_set_init(&s);
    CHECK(reward_set_parse(&s, "contains(words=her)") == TR_OK, "%s", tr_errmsg());
    RewardCtx c = ctx_of("her mother", NULL);
    c.response_len = 2; /* "he": not "her" */
    double v = -1;
    CHECK(reward_score(&s, &c, &v, NULL, NULL) == TR_OK && v == 0, "length-limited response: %g", v);
    c.response_len = 3;
    CHECK(reward_score(&s, &c, &v, NULL, NULL) == TR_OK && v == 1, "length-limited response: %g", v);
    reward_set_free(&s);
    /* errors at parse time name the reward and the option */
    PARSE_ERR("contains", "reward 'contains': option 'words' is empty", NULL);
    PARSE_ERR("contains(words='')", "option 'words' is empty", NULL);
    PARSE_ERR("contains(words='She||her')", "option 'words': word 2 of 3 is empty", NULL);
    PARSE_ERR("contains(words='She|')", "reward 'contains': option 'words'", "word 2 of 2");
    PARSE_ERR("contains(words=' | ')", "option 'words'", "empty");
    PARSE_ERR("contains(words=a,mode=some)", "reward 'contains': option 'mode'", "any, all or none");
    PARSE_ERR("contains(words=a,case=no)", "reward 'contains': option 'case'", "true");
    PARSE_ERR("contains(word=a)", "unknown option 'word'", "did you mean 'words'?");
    PARSE_ERR("contain(words=a)", "did you mean 'contains'?", NULL);
}

/* --------------------------------------------------------- combination -- */

static void test_weighted(void) {
    RewardSet s;
    reward_set_init(&s);
    int rc = reward_set_parse(&s, " accuracy : 1 , format:0.1,length(max=100, cache=20):1,consistency:0");
    CHECK(rc == TR_OK, "%s", tr_errmsg());
    CHECK(s.n == 4, "4 terms, got %d", s.n);
    CHECK(strcmp(reward_set_name(&s, 0), "accuracy") == 0 &&
              strcmp(reward_set_name(&s, 3), "consistency") == 0 && !reward_set_name(&s, 4),
          "names");
    Record r = mkrec(R36);
    RewardCtx c[3] = {
        ctx_of("<think>36</think><answer>36</answer>", &r),
        ctx_of("<think>35</think><answer>36</answer> trailing", &r),
        ctx_of("<answer>7</answer>", &r),
    };
    c[0].n_tokens = 50;
    c[1].n_tokens = 90;
    c[2].n_tokens = 200;
    double total[3], values[12];
    rc = reward_score_batch(&s, c, 3, total, values, NULL);
    CHECK(rc == TR_OK, "%s", tr_errmsg());
    const double want_v[12] = {1, 1, 0, 1, 1, 0, -0.5, 0, 0, 0, -1, 0};
    for (int k = 0; k < 12; k++)
        CHECK(values[k] == want_v[k], "value[%d][%s] = %g want %g", k / 4,
              reward_set_name(&s, k % 4), values[k], want_v[k]);
    const double want_t[3] = {1.1, 1 - 0.5, -1};
    for (int i = 0; i < 3; i++)
        CHECK(fabs(total[i] - want_t[i]) < 1e-12, "total[%d] = %.17g want %.17g", i, total[i],
              want_t[i]);
    double one, v1[4];
    rc = reward_score(&s, &c[1], &one, v1, NULL);
    CHECK(rc == TR_OK && one == total[1] && v1[2] == -0.5, "single = batch");

    /* the printed spec reads back to the same set */
    char buf[512] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    reward_set_print(&s, f);
    fclose(f);
    RewardSet s2;
    reward_set_init(&s2);
    rc = reward_set_parse(&s2, buf);
    CHECK(rc == TR_OK && s2.n == 4, "re-parse '%s': %s", buf, tr_errmsg());
    for (int j = 0; rc == TR_OK && j < 4; j++) {
        CHECK(s2.term[j].weight == s.term[j].weight, "weight %d after print", j);
        for (int k = 0; k < s.term[j].n_opts; k++)
            CHECK(strcmp(s2.term[j].val[k], s.term[j].val[k]) == 0, "opt %s after print",
                  s.term[j].key[k]);
    }
    CHECK(strstr(buf, "length(max=100,cache=20):1") != NULL, "printed: %s", buf);
    reward_set_free(&s2);
    record_free(&r);
    reward_set_free(&s);
}

static void test_spec_errors(void) {
    PARSE_ERR("acuracy:1,format:0.1", "unknown reward function 'acuracy'",
              "did you mean 'accuracy'?");
    PARSE_ERR("lenght", "did you mean 'length'?", "known: format, accuracy");
    PARSE_ERR("acc", "did you mean 'accuracy'?", NULL);
    PARSE_ERR("xyzzy", "unknown reward function 'xyzzy' (known: format,", NULL);
    PARSE_ERR("accuracy:1,formt:0.1", "did you mean 'format'?", "reward spec 'accuracy:1,formt:0.1'");
    PARSE_ERR("format:x", "weight 'x' is not a finite number", NULL);
    PARSE_ERR("format:", "weight '' is not a finite number", NULL);
    PARSE_ERR("format:inf", "not a finite number", NULL);
    PARSE_ERR("format:1 2", "not a finite number", NULL);
    PARSE_ERR("accuracy,accuracy:2", "listed twice", NULL);
    PARSE_ERR("format", "listed twice", NULL); /* the set already has format */
    PARSE_ERR("accuracy,", "trailing", NULL);
    PARSE_ERR("accuracy,,format", "empty item", NULL);
    PARSE_ERR("", "empty reward spec", NULL);
    PARSE_ERR("   ", "empty reward spec", NULL);
    PARSE_ERR("iou(thresh=0.3)", "unknown option 'thresh'", "did you mean 'threshold'?");
    PARSE_ERR("length(foo=1)", "unknown option 'foo'", "options: max, cache");
    PARSE_ERR("iou(mode=hard", "missing ')'", NULL);
    PARSE_ERR("iou(mode)", "expected key=value", NULL);
    PARSE_ERR("exec(cmd='python3 x.py)", "unbalanced '", NULL);
    PARSE_ERR("iou(mode=hard)(mode=soft)", "unexpected '('", NULL);
    PARSE_ERR("accuracy:1:2", "not a finite number", NULL);
    PARSE_ERR("accuracy;format", "unexpected ';'", NULL);
    PARSE_ERR("accuracy(think=a b)", "bad tag name", NULL);
    PARSE_ERR("consistency(think=answer)", "both 'answer'", NULL);
    PARSE_ERR("exec", "option 'cmd' is empty", NULL);
    PARSE_ERR("exec(cmd=x,timeout=0)", "option 'timeout'", NULL);

    /* API form */
    RewardSet s;
    reward_set_init(&s);
    const char *kv[] = {"mode=hard", "threshold=0.7"};
    CHECK(reward_set_add(&s, "iou", 2, kv, 2) == TR_OK, "%s", tr_errmsg());
    CHECK(s.n == 1 && strcmp(reward_opt(&s.term[0], "threshold"), "0.7") == 0 &&
              strcmp(reward_opt(&s.term[0], "think"), "think") == 0,
          "options stored with defaults");
    const char *bad[] = {"mode"};
    CHECK(reward_set_add(&s, "format", 1, bad, 1) != TR_OK && strstr(tr_errmsg(), "key=value"),
          "kv without '=': %s", tr_errmsg());
    CHECK(reward_set_add(&s, "format", NAN, NULL, 0) != TR_OK, "NaN weight");
    CHECK(reward_set_add(&s, "nope", 1, NULL, 0) != TR_OK &&
              strstr(tr_errmsg(), "unknown reward function 'nope'"),
          "unknown name via the API: %s", tr_errmsg());
    CHECK(s.n == 1, "failed adds leave the set as it was");
    reward_set_free(&s);
    CHECK(reward_find("exec") && reward_find("contains") && !reward_find("Exec") && reward_count() == 9,
          "registry");
    for (int i = 0; i < reward_count(); i++)
        CHECK(reward_find(reward_at(i)->name) == reward_at(i), "registry %d", i);
}

/* A caller-defined function with a per-token vector: token k gets k, the
 * scalar is 1. And one that returns NaN, which must be an error. */
static int tokpos_score(RewardTerm *t, const RewardCtx *c, double *out, float *tok) {
    *out = 1;
    if (tok)
        for (int k = 0; k < c->n_tokens; k++) tok[k] += (float)k;
    return TR_OK;
}
static int nan_score(RewardTerm *t, const RewardCtx *c, double *out, float *tok) {
    *out = NAN;
    return TR_OK;
}
static const RewardDef tokpos_def = {"tokpos", "test", NULL, 0, NULL, tokpos_score, NULL, NULL};
static const RewardDef nan_def = {"nanfn", "test", NULL, 0, NULL, nan_score, NULL, NULL};

static void test_custom(void) {
    RewardSet s;
    reward_set_init(&s);
    CHECK(reward_set_add_def(&s, &tokpos_def, 2, NULL, 0) == TR_OK, "%s", tr_errmsg());
    CHECK(reward_set_parse(&s, "length(max=4,cache=2):1") == TR_OK, "%s", tr_errmsg());
    RewardCtx c = ctx_of("abc", NULL);
    c.n_tokens = 3;
    float tok[3] = {9, 9, 9};
    double total;
    CHECK(reward_score(&s, &c, &total, NULL, tok) == TR_OK, "%s", tr_errmsg());
    /* 2 * 1 + length(3 of 4, L_exp 2) = 2 - 0.5 */
    CHECK(total == 1.5, "custom total %g", total);
    CHECK(tok[0] == 0 && tok[1] == 2 && tok[2] == 4, "per-token %g %g %g", tok[0], tok[1], tok[2]);
    const char *kv[] = {"x=1"};
    CHECK(reward_set_add_def(&s, &nan_def, 1, kv, 1) != TR_OK &&
              strstr(tr_errmsg(), "it takes no options"),
          "option to a function without options: %s", tr_errmsg());
    CHECK(reward_set_add_def(&s, &nan_def, 1, NULL, 0) == TR_OK, "%s", tr_errmsg());
    CHECK(reward_score(&s, &c, &total, NULL, NULL) != TR_OK &&
              strstr(tr_errmsg(), "reward 'nanfn' returned nan"),
          "NaN value: %s", tr_errmsg());
    reward_set_free(&s);
    /* finite values whose weighted sum leaves the float range the trainers use */
    reward_set_init(&s);
    CHECK(reward_set_parse(&s, "length(max=4,cache=2):1,format:1e39") == TR_OK, "%s", tr_errmsg());
    RewardCtx f = ctx_of("<think>a</think><answer>b</answer>", NULL);
    CHECK(reward_score(&s, &f, &total, NULL, NULL) != TR_OK &&
              strstr(tr_errmsg(), "reward 'format' (weight 1e+39) gave 1") && strstr(tr_errmsg(), "beyond the float range"),
          "huge weight: %s", tr_errmsg());
    reward_set_free(&s);
}

/* Random responses glued from the pieces the parsers care about: every
 * built-in must succeed with a finite value in its range (run under the
 * sanitizers, this also checks the scanners stay in bounds). */
static void test_random(void) {
    static const char *pieces[] = {"<think>", "</think>", "<answer>", "</answer>", "[", "]", "(",
                                   ")", ",", " ", "-", ".", "e", "/", "1", "0", "36", "1,000",
                                   "B", "a", "is", "answer", "option", "\xff", "\xc3", "\n", ":"};
    const int np = (int)(sizeof pieces / sizeof pieces[0]);
    RewardSet s;
    reward_set_init(&s);
    int rc = reward_set_parse(&s, "format,accuracy,iou,consistency,taco(acc=iou),"
                                  "length(max=40,cache=10),equation:0");
    CHECK(rc == TR_OK, "%s", tr_errmsg());
    if (rc) return;
    Record r = mkrec("{\"prompt\":\"q\",\"answer\":\"[0,0,10,10]\",\"meta\":{\"numbers\":[1,0,36],"
                     "\"target\":37}}");
    Rng rng;
    rng_seed(&rng, 7);
    char buf[512];
    int bad = 0;
    for (int it = 0; it < 3000 && bad < 5; it++) {
        size_t n = 0;
        int k = (int)(rng_u64(&rng) % 24);
        for (int j = 0; j < k; j++) {
            const char *p = pieces[rng_u64(&rng) % (uint64_t)np];
            size_t l = strlen(p);
            if (n + l >= sizeof buf) break;
            memcpy(buf + n, p, l);
            n += l;
        }
        /* no terminating NUL: the functions must use the length */
        char *resp = malloc(n ? n : 1);
        memcpy(resp, buf, n);
        RewardCtx c;
        memset(&c, 0, sizeof c);
        c.response = resp;
        c.response_len = n;
        c.rec = &r;
        c.n_tokens = k * 2;
        double total, v[7];
        rc = reward_score(&s, &c, &total, v, NULL);
        int ok = rc == TR_OK && isfinite(total);
        for (int j = 0; ok && j < 7; j++) ok = isfinite(v[j]);
        ok = ok && (v[0] == 0 || v[0] == 1) && (v[1] == 0 || v[1] == 1) && v[2] >= 0 &&
             v[2] <= 1 && (v[3] == 0 || v[3] == 1) && v[4] >= 0 && v[4] <= 3 && v[5] >= -1 &&
             v[5] <= 0 && (v[6] == 0 || v[6] == 1);
        if (!ok) {
            bad++;
            CHECK(0, "random response \"%.*s\": rc %d (%s), values %g %g %g %g %g %g %g", (int)n,
                  buf, rc, rc ? tr_errmsg() : "", v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
        }
        free(resp);
    }
    CHECK(bad == 0, "%d random responses out of range", bad);
    record_free(&r);
    reward_set_free(&s);
}

/* ---------------------------------------------------------------- exec -- */

static char vdir[4096];

static int find_verifiers(void) {
    const char *env = getenv("THINKRL_TEST_VERIFIERS");
    if (env && env[0]) {
        snprintf(vdir, sizeof vdir, "%s", env);
    } else {
        const char *f = __FILE__, *slash = strrchr(f, '/');
        if (slash) snprintf(vdir, sizeof vdir, "%.*s/verifiers", (int)(slash - f), f);
        else snprintf(vdir, sizeof vdir, "verifiers");
    }
    char p[4200];
    snprintf(p, sizeof p, "%s/ok.py", vdir);
    struct stat st;
    return stat(p, &st) == 0;
}

/* "python3 '<vdir>/<script>' args" */
static const char *vcmd(const char *script_and_args) {
    static char buf[8192];
    snprintf(buf, sizeof buf, "cmd=python3 '%s/%s", vdir, script_and_args);
    char *sp = strchr(buf + strlen("cmd=python3 '") + strlen(vdir), ' ');
    if (sp) { /* close the quote before the arguments */
        memmove(sp + 1, sp, strlen(sp) + 1);
        *sp = '\'';
    } else {
        strcat(buf, "'");
    }
    return buf;
}

/* No child of ours is left, running or zombie. */
static int no_children(void) {
    int st;
    errno = 0;
    pid_t r = waitpid(-1, &st, WNOHANG);
    return r == -1 && errno == ECHILD;
}

/* Processes of process group pgid that are not zombies (Linux /proc). */
static int live_in_group(long pgid) {
    DIR *d = opendir("/proc");
    if (!d) return 0;
    int live = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* pid (comm) state ppid pgrp ...: comm may hold spaces, so parse
         * after the last ')' */
        char *rp = strrchr(buf, ')');
        char state;
        long ppid, pgrp;
        if (rp && sscanf(rp + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
            state != 'Z')
            live++;
    }
    closedir(d);
    return live;
}

static int exec_set(RewardSet *s, const char *script_and_args, const char *timeout) {
    reward_set_init(s);
    const char *kv[2] = {vcmd(script_and_args), timeout};
    return reward_set_add(s, "exec", 1, kv, timeout ? 2 : 1);
}

/* Scores one response with a failing verifier: the error must name the
 * verifier and contain `has`, arrive within `secs`, and leave no child. */
static void exec_fail(int line, const char *script, int n, const char *has1, const char *has2,
                      double secs) {
    RewardSet s;
    int rc = exec_set(&s, script, "timeout=1");
    CHECK(rc == TR_OK, "line %d: %s", line, tr_errmsg());
    if (rc) return;
    long pid = reward_exec_pid(&s, 0);
    CHECK(pid > 0, "line %d: verifier running", line);
    Record r = mkrec(R36);
    RewardCtx c[2] = {ctx_of("first 36", &r), ctx_of("second", &r)};
    double total[2];
    double t0 = tr_time();
    rc = reward_score_batch(&s, c, n, total, NULL, NULL);
    double dt = tr_time() - t0;
    CHECK(rc != TR_OK, "line %d: %s should fail", line, script);
    const char *m = tr_errmsg();
    CHECK(strstr(m, "reward 'exec': verifier 'python3 ") && strstr(m, script),
          "line %d: error names the verifier: %s", line, m);
    CHECK(strstr(m, has1), "line %d: error \"%s\" lacks \"%s\"", line, m, has1);
    if (has2) CHECK(strstr(m, has2), "line %d: error \"%s\" lacks \"%s\"", line, m, has2);
    CHECK(dt < secs, "line %d: error after %.2f s (want < %.1f)", line, dt, secs);
    CHECK(reward_exec_pid(&s, 0) == -1, "line %d: verifier forgotten after the error", line);
    CHECK(kill((pid_t)pid, 0) == -1 && errno == ESRCH, "line %d: process %ld still exists", line,
          pid);
    CHECK(no_children(), "line %d: a child (or zombie) is left", line);
    record_free(&r);
    reward_set_free(&s);
    CHECK(no_children(), "line %d: a child is left after free", line);
}
#define EXEC_FAIL(script, n, has1, has2, secs) exec_fail(__LINE__, script, n, has1, has2, secs)

static void test_exec_ok(void) {
    RewardSet s;
    int rc = exec_set(&s, "ok.py", NULL);
    CHECK(rc == TR_OK, "%s", tr_errmsg());
    if (rc) return;
    long pid = reward_exec_pid(&s, 0);
    CHECK(pid > 0, "verifier started at configuration");
    Record r = mkrec(R36);
    Record rt = mkrec("{\"prompt\":\"q\",\"meta\":{\"want\":\"tokens\"}}");
    Record rp = mkrec("{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
                      "{\"role\":\"user\",\"content\":\"what is 6*6?\"}],\"meta\":{\"want\":\"prompt\"}}");
    /* len(response) + 0.5 when the answer occurs in it; invalid UTF-8 is
     * sent as U+FFFD (one character); "é" is one character */
    RewardCtx c[6] = {ctx_of("it is 36", &r), ctx_of("no", &r), ctx_of("a\xff\xfe" "b\xc3\xa9", &r),
                      ctx_of("x", &rt), ctx_of("x", &rp), ctx_of("x", &rp)};
    c[3].n_tokens = 7;
    c[3].truncated = 1;
    c[5].prompt = "rendered prompt";
    double total[6], values[6];
    rc = reward_score_batch(&s, c, 6, total, values, NULL);
    CHECK(rc == TR_OK, "%s", tr_errmsg());
    const double want[6] = {8.5, 2, 5, 7.25, 12, 15};
    for (int i = 0; rc == TR_OK && i < 6; i++)
        CHECK(total[i] == want[i] && values[i] == want[i], "exec reward %d: %g want %g", i,
              total[i], want[i]);
    /* one at a time through the same process */
    double one;
    rc = reward_score(&s, &c[1], &one, NULL, NULL);
    CHECK(rc == TR_OK && one == 2, "single call: %g (%s)", one, rc ? tr_errmsg() : "ok");
    CHECK(reward_exec_pid(&s, 0) == pid, "the same process answers every call");
    CHECK(reward_set_restart(&s) == TR_OK, "restart: %s", tr_errmsg());
    long pid2 = reward_exec_pid(&s, 0);
    CHECK(pid2 > 0 && pid2 != pid && kill((pid_t)pid, 0) == -1 && errno == ESRCH,
          "restart gives a new process (%ld -> %ld), the old one reaped", pid, pid2);
    pid = pid2;
    rc = reward_score(&s, &c[0], &one, NULL, NULL);
    CHECK(rc == TR_OK && one == 8.5, "after restart: %g (%s)", one, rc ? tr_errmsg() : "ok");

    /* a verifier that does not echo ids is read in order as before */
    {
        RewardSet sn;
        rc = exec_set(&sn, "ok.py noid", NULL);
        CHECK(rc == TR_OK, "%s", tr_errmsg());
        double tn[6];
        rc = rc ? rc : reward_score_batch(&sn, c, 6, tn, NULL, NULL);
        CHECK(rc == TR_OK, "noid: %s", tr_errmsg());
        for (int i = 0; rc == TR_OK && i < 6; i++)
            CHECK(tn[i] == want[i], "noid: exec reward %d: %g want %g", i, tn[i], want[i]);
        reward_set_free(&sn);
    }

    /* a batch far larger than a pipe buffer each way: needs pipelining */
    enum { NB = 300, LEN = 8000 };
    char *big = malloc(LEN + 1);
    memset(big, 'z', LEN);
    big[LEN] = '\0';
    big[10] = '3';
    big[11] = '6';
    RewardCtx *cb = malloc(NB * sizeof *cb);
    double *tb = malloc(NB * sizeof *tb);
    for (int i = 0; i < NB; i++) {
        cb[i] = ctx_of(big, &r);
        cb[i].response_len = (size_t)(LEN - i); /* need not be NUL-terminated */
    }
    double t0 = tr_time();
    rc = reward_score_batch(&s, cb, NB, tb, NULL, NULL);
    double dt = tr_time() - t0;
    CHECK(rc == TR_OK, "big batch: %s", tr_errmsg());
    int bad = 0;
    for (int i = 0; rc == TR_OK && i < NB; i++) bad += tb[i] != (double)(LEN - i) + 0.5;
    CHECK(bad == 0, "big batch: %d wrong rewards", bad);
    printf("exec: %d requests of ~%d bytes in %.2f s\n", NB, LEN, dt);
    free(big);
    free(cb);
    free(tb);

    /* mixed with built-ins: weights apply to exec too */
    reward_set_free(&s);
    CHECK(no_children(), "ok.py reaped after free");
    CHECK(kill((pid_t)pid, 0) == -1 && errno == ESRCH, "ok.py gone after free");
    char spec[8400];
    /* in a spec the cmd value is quoted: it has spaces */
    snprintf(spec, sizeof spec, "format:0.5,exec(cmd=\"python3 %s/ok.py\", timeout=5):0.1", vdir);
    reward_set_init(&s);
    rc = reward_set_parse(&s, spec);
    CHECK(rc == TR_OK, "%s", tr_errmsg());
    RewardCtx cf = ctx_of("<think>a</think><answer>36</answer>", &r);
    rc = reward_score(&s, &cf, &one, NULL, NULL);
    CHECK(rc == TR_OK && fabs(one - (0.5 + 0.1 * (35 + 0.5))) < 1e-12, "format + exec: %g", one);
    reward_set_free(&s);
    CHECK(no_children(), "children left");
    record_free(&r);
    record_free(&rt);
    record_free(&rp);
}

static void test_exec_failures(void) {
    /* crash: answers the first request, exits 3 on the second */
    EXEC_FAIL("crash.py", 2, "exited with status 3 after 1 reply (no reply to request 2 of 2)",
              "stderr: crash.py: giving up on request 2", 4);
    EXEC_FAIL("crash.py signal", 2, "was killed by signal 15", NULL, 4);
    /* hang: timeout=1, so the error must come in well under 3 s */
    EXEC_FAIL("hang.py", 1, "timed out: no reply to request 1 of 1 within 1 s",
              "stderr: hang.py: thinking very hard", 3);
    EXEC_FAIL("garbage.py", 1, "reply 1 of 1 is not a JSON object: 'this is not json'", NULL, 3);
    EXEC_FAIL("garbage.py trailing", 1, "is not a JSON object: '{\"reward\": 1} and more'", NULL, 3);
    EXEC_FAIL("garbage.py array", 1, "is not a JSON object", NULL, 3);
    /* request ids: a verifier that echoes them is held to them, so a second
     * answer to one request is an error in the same batch, not the next
     * request's reward (it was taken as one before ids were sent) */
    EXEC_FAIL("garbage.py double_id", 2, "reply 2 of 2 has no \"id\" though its earlier replies echoed",
              "{\"reward\": 7}", 3);
    EXEC_FAIL("garbage.py wrong_id", 2, "reply 1 of 2 answers \"id\" 1, but the request it is read for has id 0",
              NULL, 3);
    EXEC_FAIL("garbage.py long", 1, "reply 1 of 1 is longer than 1048576 bytes", NULL, 3);
    EXEC_FAIL("nan.py nan", 1, "is not a JSON object: '{\"reward\": NaN}'", NULL, 3);
    EXEC_FAIL("nan.py inf", 1, "\"reward\" is not a finite number", NULL, 3);
    EXEC_FAIL("nan.py string", 1, "\"reward\" is not a finite number: '{\"reward\": \"0.5\"}'", NULL, 3);
    EXEC_FAIL("nan.py missing", 1, "has no \"reward\"", NULL, 3);
    EXEC_FAIL("nan.py error", 1, "reports an error for request 1 of 1: record lacks a solution",
              NULL, 3);

    /* a verifier that exits at once while we still have megabytes to send:
     * the writes fail with EPIPE and SIGPIPE must not kill this process */
    {
        RewardSet s;
        int rc = exec_set(&s, "crash.py early", "timeout=2");
        CHECK(rc == TR_OK, "%s", tr_errmsg());
        Record r = mkrec(R36);
        enum { NB = 64, LEN = 32768 };
        char *big = malloc(LEN + 1);
        memset(big, 'y', LEN);
        big[LEN] = '\0';
        RewardCtx cb[NB];
        double tb[NB];
        for (int i = 0; i < NB; i++) cb[i] = ctx_of(big, &r);
        double t0 = tr_time();
        rc = reward_score_batch(&s, cb, NB, tb, NULL, NULL);
        double dt = tr_time() - t0;
        CHECK(rc != TR_OK && strstr(tr_errmsg(), "exited with status 4 after 0 replies") &&
                  strstr(tr_errmsg(), "exiting before reading"),
              "early exit: %s", tr_errmsg());
        CHECK(dt < 3, "early exit reported after %.2f s", dt);
        sigset_t pend;
        sigpending(&pend);
        CHECK(!sigismember(&pend, SIGPIPE), "a SIGPIPE is left pending");
        CHECK(no_children(), "children left after early exit");
        free(big);
        record_free(&r);
        reward_set_free(&s);
    }

    /* restart: after a crash the next call starts a fresh verifier */
    {
        RewardSet s;
        int rc = exec_set(&s, "crash.py", "timeout=2");
        CHECK(rc == TR_OK, "%s", tr_errmsg());
        Record r = mkrec(R36);
        RewardCtx c = ctx_of("x", &r);
        double v = 0;
        long pid1 = reward_exec_pid(&s, 0);
        CHECK(reward_score(&s, &c, &v, NULL, NULL) == TR_OK && v == 1, "first answer");
        CHECK(reward_score(&s, &c, &v, NULL, NULL) != TR_OK, "second call fails");
        CHECK(no_children(), "crashed verifier reaped");
        CHECK(reward_score(&s, &c, &v, NULL, NULL) == TR_OK && v == 1, "restarted: %s",
              tr_errmsg());
        long pid2 = reward_exec_pid(&s, 0);
        CHECK(pid2 > 0 && pid2 != pid1, "a new process: %ld vs %ld", pid2, pid1);
        record_free(&r);
        reward_set_free(&s);
        CHECK(no_children(), "children left after restart test");
    }

    /* it dies while idle between calls: the next call says so before
     * sending anything */
    {
        RewardSet s;
        int rc = exec_set(&s, "crash.py idle", "timeout=2");
        CHECK(rc == TR_OK, "%s", tr_errmsg());
        Record r = mkrec(R36);
        RewardCtx c = ctx_of("x", &r);
        double v = 0;
        CHECK(reward_score(&s, &c, &v, NULL, NULL) == TR_OK && v == 1, "idle: first answer");
        usleep(300000);
        CHECK(reward_score(&s, &c, &v, NULL, NULL) != TR_OK &&
                  strstr(tr_errmsg(), "exited with status 5 after 1 reply (no reply to request 1 "
                                      "of 1)"),
              "idle exit: %s", tr_errmsg());
        CHECK(no_children(), "children left after idle exit");
        record_free(&r);
        reward_set_free(&s);
    }

    /* two replies per request: the extra one is an error, not a reward
     * for the next request */
    {
        RewardSet s;
        int rc = exec_set(&s, "garbage.py double", "timeout=2");
        CHECK(rc == TR_OK, "%s", tr_errmsg());
        Record r = mkrec(R36);
        RewardCtx c = ctx_of("x", &r);
        double v = 0;
        rc = reward_score(&s, &c, &v, NULL, NULL);
        if (rc == TR_OK) { /* the second line had not arrived yet */
            CHECK(v == 1, "double: first reply %g", v);
            usleep(300000);
            rc = reward_score(&s, &c, &v, NULL, NULL);
            CHECK(rc != TR_OK && strstr(tr_errmsg(), "wrote lines nobody asked for") &&
                      strstr(tr_errmsg(), "{\"reward\": 2}"),
                  "double, second call: %s", rc ? tr_errmsg() : "no error");
        } else {
            CHECK(strstr(tr_errmsg(), "sent more replies than requests"), "double: %s",
                  tr_errmsg());
        }
        CHECK(no_children(), "children left after double");
        record_free(&r);
        reward_set_free(&s);
    }

    /* a hung verifier's own children die with it (process group) */
    {
        RewardSet s;
        int rc = exec_set(&s, "hang.py child", "timeout=1");
        CHECK(rc == TR_OK, "%s", tr_errmsg());
        long pid = reward_exec_pid(&s, 0);
        Record r = mkrec(R36);
        RewardCtx c = ctx_of("x", &r);
        double v;
        CHECK(reward_score(&s, &c, &v, NULL, NULL) != TR_OK && strstr(tr_errmsg(), "timed out"),
              "hang with child: %s", tr_errmsg());
        /* the orphaned sleep dies at once (whether init reaps it soon is
         * not ours to test) */
        int live = 1;
        for (int k = 0; k < 100 && live; k++) {
            live = live_in_group(pid);
            if (live) usleep(10000);
        }
        CHECK(live == 0, "process group %ld still has %d live members", pid, live);
        record_free(&r);
        reward_set_free(&s);
    }

    /* a verifier that answered and exits at EOF: the child it left
     * running in its process group is killed with the group */
    {
        RewardSet s;
        int rc = exec_set(&s, "ok.py child", NULL);
        CHECK(rc == TR_OK, "%s", tr_errmsg());
        long pid = reward_exec_pid(&s, 0);
        Record r = mkrec(R36);
        RewardCtx c = ctx_of("x", &r);
        double v;
        CHECK(reward_score(&s, &c, &v, NULL, NULL) == TR_OK, "ok with child: %s", tr_errmsg());
        record_free(&r);
        reward_set_free(&s);
        int live = 1;
        for (int k = 0; k < 100 && live; k++) {
            live = live_in_group(pid);
            if (live) usleep(10000);
        }
        CHECK(live == 0, "orderly stop: process group %ld still has %d live members", pid, live);
    }

    /* a program that does not exist fails at configuration */
    {
        RewardSet s;
        reward_set_init(&s);
        const char *kv[] = {"cmd=thinkrl-no-such-verifier --flag"};
        int rc = reward_set_add(&s, "exec", 1, kv, 1);
        CHECK(rc != TR_OK && strstr(tr_errmsg(), "cannot start verifier "
                                                 "'thinkrl-no-such-verifier --flag'"),
              "missing program: %s", tr_errmsg());
        CHECK(s.n == 0 && no_children(), "nothing left after a failed start");
    }
    /* a script python cannot open: exits 2, its message in the error */
    EXEC_FAIL("no-such-script.py", 1, "exited with status 2", "can't open file", 4);
}

int main(void) {
    test_format();
    test_accuracy();
    test_equation();
    test_iou();
    test_consistency();
    test_taco();
    test_length();
    test_contains();
    test_weighted();
    test_spec_errors();
    test_custom();
    test_random();
    if (!find_verifiers()) {
        CHECK(0, "verifier scripts not found in '%s' (set THINKRL_TEST_VERIFIERS)", vdir);
    } else {
        test_exec_ok();
        test_exec_failures();
    }
    return tu_summary("test_reward");
}
