/* conf tests: defaults, YAML loading (nesting, dotted keys, lists, nulls),
 * command-line overrides, every error message with its file:line and key,
 * write -> load round trips (tricky strings and floats), help text, and a
 * fuzz of the loader with random bytes, truncations and mutations. Expected
 * values are written out by hand, never produced by the code under test. */
#include "thinkrl/conf.h"
#include "thinkrl/core.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int64_t seed;
    char *name;
    double optim_lr;
    char *data_train;
    double optim_adam_beta1;
    double optim_wd;
    int verbose;
    int64_t data_max_len;
    double optim_adam_eps;
    char *optim_sched;
    int64_t optim_warmup;
    char *data_eval;
    int data_shuffle;
    char *algo;
} Cfg;

/* Interleaved on purpose: the writer must still group optim.* and data.*. */
static const ConfField fields[] = {
    {"seed", CONF_INT, offsetof(Cfg, seed), "1234", "random seed", NULL},
    {"name", CONF_STR, offsetof(Cfg, name), "run", "run name", NULL},
    {"optim.lr", CONF_FLOAT, offsetof(Cfg, optim_lr), "1e-3", "learning rate", "0.."},
    {"data.train", CONF_STR, offsetof(Cfg, data_train), "train.jsonl", "training data", NULL},
    {"optim.adam.beta1", CONF_FLOAT, offsetof(Cfg, optim_adam_beta1), "0.9", "Adam beta1",
     "0..1"},
    {"optim.wd", CONF_FLOAT, offsetof(Cfg, optim_wd), "0.0", "weight decay", NULL},
    {"verbose", CONF_BOOL, offsetof(Cfg, verbose), "false", "print more", NULL},
    {"data.max_len", CONF_INT, offsetof(Cfg, data_max_len), "512", "max tokens", "1..65536"},
    {"optim.adam.eps", CONF_FLOAT, offsetof(Cfg, optim_adam_eps), "1e-8", "Adam epsilon",
     "1e-12..1"},
    {"optim.sched", CONF_ENUM, offsetof(Cfg, optim_sched), "cosine", "LR schedule",
     "cosine|linear|constant"},
    {"optim.warmup", CONF_INT, offsetof(Cfg, optim_warmup), "0", "warmup steps", "0.."},
    {"data.eval", CONF_STR, offsetof(Cfg, data_eval), "", "eval data (optional)", NULL},
    {"data.shuffle", CONF_BOOL, offsetof(Cfg, data_shuffle), "yes", "shuffle", NULL},
    {"algo", CONF_ENUM, offsetof(Cfg, algo), "grpo", "algorithm", "grpo|ppo|rloo"},
};
static const ConfSchema schema = {fields, (int)(sizeof fields / sizeof *fields), "test config"};

static int contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

static int str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* Loads text over fresh defaults; returns the status, message in tr_errmsg. */
static int load(Cfg *c, const char *text) {
    memset(c, 0, sizeof *c);
    int rc = conf_defaults(&schema, c);
    if (rc) return rc;
    tr_err_clear();
    return conf_load_yaml_text(&schema, c, text, strlen(text), "run.yaml");
}

static void expect_err(const char *text, const char *msg1, const char *msg2, int line) {
    Cfg c;
    int rc = load(&c, text);
    CHECK(rc < 0, "line %d: expected an error for:\n%s", line, text);
    CHECK(contains(tr_errmsg(), msg1), "line %d: message '%s' lacks '%s'", line, tr_errmsg(),
          msg1);
    if (msg2)
        CHECK(contains(tr_errmsg(), msg2), "line %d: message '%s' lacks '%s'", line,
              tr_errmsg(), msg2);
    conf_free(&schema, &c);
}

static void test_defaults(void) {
    Cfg c;
    memset(&c, 0, sizeof c);
    CHECK(conf_defaults(&schema, &c) == TR_OK, "defaults: %s", tr_errmsg());
    CHECK(c.seed == 1234, "seed %lld", (long long)c.seed);
    CHECK(str_eq(c.name, "run"), "name");
    CHECK(c.optim_lr == 1e-3, "lr %g", c.optim_lr);
    CHECK(c.optim_adam_beta1 == 0.9, "beta1");
    CHECK(c.optim_wd == 0.0, "wd");
    CHECK(c.verbose == 0, "verbose");
    CHECK(c.data_max_len == 512, "max_len");
    CHECK(c.optim_adam_eps == 1e-8, "eps");
    CHECK(str_eq(c.optim_sched, "cosine"), "sched");
    CHECK(c.optim_warmup == 0, "warmup");
    CHECK(str_eq(c.data_eval, ""), "eval default is an empty string, not NULL");
    CHECK(c.data_shuffle == 1, "shuffle");
    CHECK(str_eq(c.algo, "grpo"), "algo");
    /* Calling it again on a filled struct frees the old strings (LSan). */
    CHECK(conf_set(&schema, &c, "name", "other") == TR_OK, "set");
    CHECK(conf_defaults(&schema, &c) == TR_OK, "defaults again");
    CHECK(str_eq(c.name, "run"), "name reset");
    CHECK(conf_field(&schema, "optim.adam.eps") == &fields[8], "conf_field");
    CHECK(conf_field(&schema, "optim.adam") == NULL, "a section is not a field");
    CHECK(conf_field(&schema, "nope") == NULL, "unknown field");
    conf_free(&schema, &c);
    CHECK(c.name == NULL && c.data_train == NULL && c.optim_sched == NULL && c.algo == NULL &&
              c.data_eval == NULL,
          "conf_free sets strings to NULL");
    conf_free(&schema, &c); /* twice is fine */
    Cfg z;
    memset(&z, 0, sizeof z);
    conf_free(&schema, &z); /* zeroed is fine */
}

static void test_bad_schema(void) {
    Cfg c;
    static const ConfField bad_def[] = {
        {"a.b", CONF_INT, offsetof(Cfg, seed), "0", "x", "1..10"},
    };
    static const ConfField bad_enum[] = {
        {"a", CONF_ENUM, offsetof(Cfg, algo), "x", "x", "x||y"},
    };
    static const ConfField key_and_section[] = {
        {"a", CONF_INT, offsetof(Cfg, seed), "0", "x", NULL},
        {"a.b", CONF_INT, offsetof(Cfg, data_max_len), "0", "x", NULL},
    };
    static const ConfField dup[] = {
        {"a", CONF_INT, offsetof(Cfg, seed), "0", "x", NULL},
        {"a", CONF_INT, offsetof(Cfg, data_max_len), "0", "x", NULL},
    };
    static const ConfField bad_range[] = {
        {"a", CONF_FLOAT, offsetof(Cfg, optim_lr), "0", "x", "1..0"},
    };
    static const ConfField bad_open[] = {
        {"a", CONF_FLOAT, offsetof(Cfg, optim_lr), "0", "x", "<..1"},
    };
    static const ConfField open_def[] = {
        {"a", CONF_FLOAT, offsetof(Cfg, optim_lr), "1", "x", "0..<1"},
    };
    struct {
        ConfSchema s;
        const char *msg;
    } cases[] = {
        {{bad_def, 1, "s"}, "a.b: 0 is out of range 1..10"},
        {{bad_enum, 1, "s"}, "bad choices"},
        {{key_and_section, 2, "s"}, "cannot also be a section"},
        {{dup, 2, "s"}, "duplicate key a"},
        {{bad_range, 1, "s"}, "bad range '1..0'"},
        {{bad_open, 1, "s"}, "bad range '<..1'"},
        {{open_def, 1, "s"}, "a: 1 is out of range 0..<1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memset(&c, 0, sizeof c);
        int rc = conf_defaults(&cases[i].s, &c);
        CHECK(rc < 0, "bad schema %zu accepted", i);
        CHECK(contains(tr_errmsg(), cases[i].msg), "schema %zu: '%s' lacks '%s'", i, tr_errmsg(),
              cases[i].msg);
        conf_free(&cases[i].s, &c);
    }
}

static void test_set(void) {
    Cfg c;
    memset(&c, 0, sizeof c);
    CHECK(conf_defaults(&schema, &c) == TR_OK, "defaults");
    /* Integers: plain, signed, exact float literals. */
    CHECK(conf_set(&schema, &c, "seed", "-42") == TR_OK && c.seed == -42, "int -42");
    CHECK(conf_set(&schema, &c, "seed", "+7") == TR_OK && c.seed == 7, "int +7");
    CHECK(conf_set(&schema, &c, "seed", "1e6") == TR_OK && c.seed == 1000000, "int 1e6");
    CHECK(conf_set(&schema, &c, "seed", "2.0") == TR_OK && c.seed == 2, "int 2.0");
    CHECK(conf_set(&schema, &c, "seed", "9223372036854775807") == TR_OK &&
              c.seed == INT64_MAX,
          "int max");
    CHECK(conf_set(&schema, &c, "seed", " 5 ") == TR_OK && c.seed == 5, "int with blanks");
    const char *bad_ints[] = {"1.5", "abc", "", "0x10", "1_000", "9223372036854775808",
                              "1e300", "12abc", "inf", "1e"};
    for (size_t i = 0; i < sizeof bad_ints / sizeof *bad_ints; i++) {
        CHECK(conf_set(&schema, &c, "seed", bad_ints[i]) == TR_EINVAL, "int '%s' accepted",
              bad_ints[i]);
        CHECK(contains(tr_errmsg(), "seed: expected an integer, got '"), "msg %s", tr_errmsg());
        CHECK(c.seed == 5, "failed set changed the value");
    }
    /* Floats. */
    CHECK(conf_set(&schema, &c, "optim.lr", "3e-4") == TR_OK && c.optim_lr == 3e-4, "3e-4");
    CHECK(conf_set(&schema, &c, "optim.lr", ".5") == TR_OK && c.optim_lr == 0.5, ".5");
    CHECK(conf_set(&schema, &c, "optim.lr", "2") == TR_OK && c.optim_lr == 2.0, "2");
    const char *bad_floats[] = {"abc", ".inf", "nan", "inf", "1e999", "0x1p3", "1.0.0", ""};
    for (size_t i = 0; i < sizeof bad_floats / sizeof *bad_floats; i++) {
        CHECK(conf_set(&schema, &c, "optim.lr", bad_floats[i]) == TR_EINVAL,
              "float '%s' accepted", bad_floats[i]);
        CHECK(c.optim_lr == 2.0, "failed float set changed the value");
    }
    CHECK(conf_set(&schema, &c, "optim.lr", "abc") < 0 &&
              str_eq(tr_errmsg(), "optim.lr: expected a number, got 'abc'"),
          "float msg: %s", tr_errmsg());
    /* Ranges, inclusive on both sides. */
    CHECK(conf_set(&schema, &c, "optim.adam.beta1", "1") == TR_OK, "beta1 1 inclusive");
    CHECK(conf_set(&schema, &c, "optim.adam.beta1", "0") == TR_OK, "beta1 0 inclusive");
    CHECK(conf_set(&schema, &c, "optim.adam.beta1", "1.0000001") == TR_EINVAL, "beta1 > 1");
    CHECK(str_eq(tr_errmsg(), "optim.adam.beta1: 1.0000001 is out of range 0..1"), "msg %s",
          tr_errmsg());
    CHECK(conf_set(&schema, &c, "optim.lr", "-1e-9") == TR_EINVAL &&
              contains(tr_errmsg(), "out of range 0.."),
          "lr < 0: %s", tr_errmsg());
    CHECK(conf_set(&schema, &c, "optim.adam.eps", "1e-13") == TR_EINVAL &&
              contains(tr_errmsg(), "out of range 1e-12..1"),
          "eps: %s", tr_errmsg());
    CHECK(conf_set(&schema, &c, "optim.adam.eps", "1e-12") == TR_OK, "eps lo");
    CHECK(conf_set(&schema, &c, "data.max_len", "0") == TR_EINVAL &&
              contains(tr_errmsg(), "data.max_len: 0 is out of range 1..65536"),
          "max_len: %s", tr_errmsg());
    CHECK(conf_set(&schema, &c, "data.max_len", "65537") == TR_EINVAL, "max_len hi");
    /* Open ends: "lo<.." and "..<hi" leave the bound out. */
    {
        static const ConfField ofl[] = {
            {"p", CONF_FLOAT, offsetof(Cfg, optim_lr), "0.5", "x", "0<..<1"},
            {"n", CONF_INT, offsetof(Cfg, seed), "3", "x", "2<..<5"},
        };
        ConfSchema os = {ofl, 2, "open"};
        Cfg o;
        memset(&o, 0, sizeof o);
        CHECK(conf_defaults(&os, &o) == TR_OK, "open-range defaults: %s", tr_errmsg());
        static const char *const fbad[] = {"0", "1", "-0.0", "nan"};
        for (int i = 0; i < 4; i++)
            CHECK(conf_set(&os, &o, "p", fbad[i]) == TR_EINVAL && o.optim_lr == 0.5, "p = %s accepted", fbad[i]);
        CHECK(str_eq(tr_errmsg(), "p: nan is out of range 0<..<1") || contains(tr_errmsg(), "expected a number"),
              "msg %s", tr_errmsg());
        CHECK(conf_set(&os, &o, "p", "1e-300") == TR_OK && conf_set(&os, &o, "p", "0.9999999") == TR_OK, "p inside");
        CHECK(conf_set(&os, &o, "n", "2") == TR_EINVAL && str_eq(tr_errmsg(), "n: 2 is out of range 2<..<5"),
              "n = 2: %s", tr_errmsg());
        CHECK(conf_set(&os, &o, "n", "5") == TR_EINVAL, "n = 5 accepted");
        CHECK(conf_set(&os, &o, "n", "3") == TR_OK && conf_set(&os, &o, "n", "4") == TR_OK && o.seed == 4,
              "n inside");
        conf_free(&os, &o);
    }
    CHECK(conf_set(&schema, &c, "data.max_len", "65536") == TR_OK && c.data_max_len == 65536,
          "max_len hi inclusive");
    CHECK(conf_set(&schema, &c, "optim.warmup", "-1") == TR_EINVAL, "warmup < 0");
    /* Booleans. */
    const char *truthy[] = {"true", "TRUE", "Yes", "on", "1"};
    const char *falsy[] = {"false", "False", "NO", "off", "0"};
    for (int i = 0; i < 5; i++) {
        c.verbose = 0;
        CHECK(conf_set(&schema, &c, "verbose", truthy[i]) == TR_OK && c.verbose == 1, "%s",
              truthy[i]);
        CHECK(conf_set(&schema, &c, "verbose", falsy[i]) == TR_OK && c.verbose == 0, "%s",
              falsy[i]);
    }
    CHECK(conf_set(&schema, &c, "verbose", "maybe") == TR_EINVAL &&
              contains(tr_errmsg(), "verbose: expected true or false"),
          "bool: %s", tr_errmsg());
    CHECK(conf_set(&schema, &c, "verbose", "2") == TR_EINVAL, "bool 2");
    /* Enums. */
    CHECK(conf_set(&schema, &c, "optim.sched", "linear") == TR_OK &&
              str_eq(c.optim_sched, "linear"),
          "enum");
    CHECK(conf_set(&schema, &c, "optim.sched", "cos") == TR_EINVAL, "enum prefix");
    CHECK(str_eq(tr_errmsg(), "optim.sched: expected one of cosine|linear|constant, got 'cos'"),
          "enum msg %s", tr_errmsg());
    CHECK(conf_set(&schema, &c, "optim.sched", "Linear") == TR_EINVAL, "enum case");
    CHECK(str_eq(c.optim_sched, "linear"), "failed enum set kept value");
    /* Strings. */
    CHECK(conf_set(&schema, &c, "name", "") == TR_OK && str_eq(c.name, ""), "empty str");
    CHECK(conf_set(&schema, &c, "name", "a=b") == TR_OK && str_eq(c.name, "a=b"), "str a=b");
    CHECK(conf_set(&schema, &c, "name", "\xff\xfe") == TR_EINVAL, "bad UTF-8");
    CHECK(conf_set(&schema, &c, "name", "\xc0\xaf") == TR_EINVAL, "overlong UTF-8");
    CHECK(conf_set(&schema, &c, "name", "\xed\xa0\x80") == TR_EINVAL, "surrogate");
    CHECK(str_eq(c.name, "a=b"), "bad string kept old value");
    /* Unknown keys and suggestions. */
    CHECK(conf_set(&schema, &c, "optim.lrr", "1") == TR_EINVAL, "unknown");
    CHECK(str_eq(tr_errmsg(), "optim.lrr: unknown key (did you mean 'optim.lr'?)"), "msg %s",
          tr_errmsg());
    CHECK(conf_set(&schema, &c, "lr", "1") == TR_EINVAL &&
              contains(tr_errmsg(), "did you mean 'optim.lr'"),
          "lr: %s", tr_errmsg());
    CHECK(conf_set(&schema, &c, "data.max_length", "1") == TR_EINVAL &&
              contains(tr_errmsg(), "did you mean 'data.max_len'"),
          "max_length: %s", tr_errmsg());
    CHECK(conf_set(&schema, &c, "optim.adam.beta", "1") == TR_EINVAL &&
              contains(tr_errmsg(), "did you mean 'optim.adam.beta1'"),
          "beta: %s", tr_errmsg());
    CHECK(conf_set(&schema, &c, "Optim.LR", "1") == TR_EINVAL &&
              contains(tr_errmsg(), "did you mean 'optim.lr'"),
          "case: %s", tr_errmsg());
    CHECK(conf_set(&schema, &c, "zzzzzzzz", "1") == TR_EINVAL &&
              contains(tr_errmsg(),
                       "top-level keys of test config: seed, name, optim.*, data.*, verbose, "
                       "algo"),
          "far: %s", tr_errmsg());
    CHECK(conf_set(&schema, &c, "optim.zzzzzzzzzz", "1") == TR_EINVAL &&
              contains(tr_errmsg(), "keys under optim: lr, adam.*, wd, sched, warmup"),
          "far in section: %s", tr_errmsg());
    CHECK(conf_set(&schema, &c, "optim.adam", "1") == TR_EINVAL &&
              contains(tr_errmsg(), "optim.adam: is a section, not a key (its keys: beta1, eps)"),
          "section: %s", tr_errmsg());
    /* Overrides. */
    CHECK(conf_override(&schema, &c, "optim.lr=0.25") == TR_OK && c.optim_lr == 0.25, "ovr");
    CHECK(conf_override(&schema, &c, "name=x=y") == TR_OK && str_eq(c.name, "x=y"),
          "first = splits");
    CHECK(conf_override(&schema, &c, "data.eval=") == TR_OK && str_eq(c.data_eval, ""),
          "empty value");
    CHECK(conf_override(&schema, &c, "optim.lr") == TR_EINVAL &&
              contains(tr_errmsg(), "expected key=value"),
          "no =: %s", tr_errmsg());
    CHECK(conf_override(&schema, &c, "=3") == TR_EINVAL, "empty key");
    CHECK(conf_override(&schema, &c, "optim.lrr=3") == TR_EINVAL &&
              contains(tr_errmsg(), "did you mean 'optim.lr'"),
          "override suggestion: %s", tr_errmsg());
    conf_free(&schema, &c);
}

static void test_load(void) {
    Cfg c;
    const char *text = "# a run\n"
                       "seed: 7\n"
                       "optim:\n"
                       "  lr: 2.5e-4     # comment\n"
                       "  adam:\n"
                       "    beta1: 0.95\n"
                       "  sched: linear\n"
                       "optim.adam.eps: 1e-10\n"
                       "data: {train: [a.jsonl, 'b c.jsonl', \"d\"], max_len: 1e3}\n"
                       "data.eval: ~\n"
                       "verbose: on\n"
                       "name: 'null'\n"
                       "algo: \"ppo\"\n"
                       "optim.warmup: 100\n";
    int rc = load(&c, text);
    CHECK(rc == TR_OK, "load: %s", tr_errmsg());
    CHECK(c.seed == 7, "seed");
    CHECK(c.optim_lr == 2.5e-4, "lr %g", c.optim_lr);
    CHECK(c.optim_adam_beta1 == 0.95, "beta1");
    CHECK(c.optim_adam_eps == 1e-10, "dotted key in YAML");
    CHECK(str_eq(c.optim_sched, "linear"), "sched");
    CHECK(str_eq(c.data_train, "a.jsonl,b c.jsonl,d"), "list joined: %s", c.data_train);
    CHECK(c.data_max_len == 1000, "max_len 1e3");
    CHECK(str_eq(c.data_eval, ""), "null string");
    CHECK(c.verbose == 1, "verbose");
    CHECK(str_eq(c.name, "null"), "quoted null is a string: %s", c.name);
    CHECK(str_eq(c.algo, "ppo"), "algo");
    CHECK(c.optim_warmup == 100, "warmup");
    CHECK(c.optim_wd == 0.0 && c.data_shuffle == 1, "untouched keys keep defaults");
    /* Overrides applied after the file win. */
    CHECK(conf_override(&schema, &c, "optim.lr=1e-5") == TR_OK, "ovr");
    CHECK(conf_override(&schema, &c, "data.train=x.jsonl") == TR_OK, "ovr");
    CHECK(conf_override(&schema, &c, "verbose=false") == TR_OK, "ovr");
    CHECK(c.optim_lr == 1e-5 && str_eq(c.data_train, "x.jsonl") && c.verbose == 0,
          "overrides win");
    CHECK(c.seed == 7, "other keys stay from the file");
    conf_free(&schema, &c);

    /* Empty files, comments only, an empty document, an empty section. */
    const char *empties[] = {"", "# only a comment\n\n", "---\n", "---\n...\n",
                             "optim:\n  # lr: 1\n", "{}"};
    for (size_t i = 0; i < sizeof empties / sizeof *empties; i++) {
        rc = load(&c, empties[i]);
        CHECK(rc == TR_OK, "empty %zu: %s", i, tr_errmsg());
        CHECK(c.seed == 1234 && c.optim_lr == 1e-3, "empty %zu kept defaults", i);
        conf_free(&schema, &c);
    }
    rc = load(&c, "data:\n  train:\n    - a\n    - ~\n    - c\n  eval: []\n");
    CHECK(rc == TR_OK && str_eq(c.data_train, "a,,c") && str_eq(c.data_eval, ""),
          "block list: %s", rc ? tr_errmsg() : c.data_train);
    conf_free(&schema, &c);
    rc = load(&c, "name: \"tab\\there \\u00e9\"\n");
    CHECK(rc == TR_OK && str_eq(c.name, "tab\there \xc3\xa9"), "escapes");
    conf_free(&schema, &c);
    rc = load(&c, "\xef\xbb\xbfseed: 3\r\nname: r\r\n");
    CHECK(rc == TR_OK && c.seed == 3 && str_eq(c.name, "r"), "BOM and CRLF: %s", tr_errmsg());
    conf_free(&schema, &c);
}

static void test_load_errors(void) {
    expect_err("seed: 1\noptim:\n  lrr: 1\n", "run.yaml:3: optim.lrr: unknown key", 
               "did you mean 'optim.lr'?", __LINE__);
    expect_err("seed: 1\nlr: 0.1\n", "run.yaml:2: lr: unknown key (did you mean 'optim.lr'?)",
               NULL, __LINE__);
    expect_err("optm:\n  lr: 1\n", "run.yaml:1: optm: unknown key (did you mean 'optim'?)", NULL,
               __LINE__);
    expect_err("\n\nqwertyuiop: 1\n", "run.yaml:3: qwertyuiop: unknown key (top-level keys",
               "optim.*", __LINE__);
    expect_err("seed: 1\noptim:\n  lr: abc\n",
               "run.yaml:3: optim.lr: expected a number, got 'abc'", NULL, __LINE__);
    expect_err("data:\n  max_len: 1.5\n",
               "run.yaml:2: data.max_len: expected an integer, got '1.5'", NULL, __LINE__);
    expect_err("optim:\n  adam: {beta1: 1.5}\n",
               "run.yaml:2: optim.adam.beta1: 1.5 is out of range 0..1", NULL, __LINE__);
    expect_err("seed: 1\n\noptim.sched: cosin\n",
               "run.yaml:3: optim.sched: expected one of cosine|linear|constant, got 'cosin'",
               NULL, __LINE__);
    expect_err("seed: 1\noptim:\n  lr: 1\nname: x\noptim.lr: 2\n",
               "run.yaml:5: optim.lr: duplicate key (first at line 3)", NULL, __LINE__);
    expect_err("seed: 1\nseed: 2\n", "run.yaml:2: seed: duplicate key (first at line 1)", NULL,
               __LINE__);
    expect_err("optim:\n  lr: 1\noptim:\n  wd: 1\n",
               "run.yaml:3: optim: duplicate key (first at line 1)", NULL, __LINE__);
    expect_err("name: a\nseed: [1, 2]\n",
               "run.yaml:2: seed: expected an integer, got a list", NULL, __LINE__);
    expect_err("algo:\n  - grpo\n", "run.yaml:2: algo: expected one of grpo|ppo|rloo, got a list",
               NULL, __LINE__);
    expect_err("data:\n  train: [[a]]\n", "run.yaml:2: data.train: list items must be scalars",
               NULL, __LINE__);
    expect_err("data:\n  train: [{a: 1}]\n", "data.train: list items must be scalars", NULL,
               __LINE__);
    expect_err("- a\n- b\n", "run.yaml:1: the top level must be a mapping of keys, got a list",
               NULL, __LINE__);
    expect_err("42\n", "run.yaml:1: the top level must be a mapping", NULL, __LINE__);
    expect_err("seed: 1\nname: x\noptim: {lr: 1\n",
               "run.yaml:4: invalid YAML: did not find expected ',' or '}'",
               "(while parsing a flow mapping at line 3)", __LINE__);
    expect_err("seed: 1\nname: a: b\n", "run.yaml:2: invalid YAML: mapping values are not allowed",
               NULL, __LINE__);
    expect_err("seed: 1\n\tname: x\n", "run.yaml:2: invalid YAML: found a tab character", NULL,
               __LINE__);
    expect_err("seed: 1\nname: \"abc\n", "run.yaml:3: invalid YAML: found unexpected end",
               "quoted scalar at line 2", __LINE__);
    expect_err("seed:\n", "run.yaml:1: seed: expected an integer, got null", NULL, __LINE__);
    expect_err("optim:\n  lr: ~\n", "run.yaml:2: optim.lr: expected a number, got null", NULL,
               __LINE__);
    expect_err("optim:\n  lr:\n    x: 1\n", "run.yaml:3: optim.lr: expected a number, got a mapping",
               NULL, __LINE__);
    expect_err("optim: 3\n", "run.yaml:1: optim: is a section, expected a mapping", NULL,
               __LINE__);
    expect_err("optim: [1]\n", "run.yaml:1: optim: is a section", "got a list", __LINE__);
    expect_err("seed: &s 1\nname: *s\n", "run.yaml:2: aliases (*s) are not supported", NULL,
               __LINE__);
    expect_err("seed: 1\n---\nseed: 2\n", "run.yaml:2: only one YAML document", NULL, __LINE__);
    expect_err("? [a, b]\n: 1\n", "run.yaml:1: keys must be scalars", NULL, __LINE__);
    expect_err("verbose: maybe\n", "run.yaml:1: verbose: expected true or false", NULL,
               __LINE__);
    expect_err("optim:\n  lr: .inf\n", "run.yaml:2: optim.lr: expected a number, got '.inf'",
               NULL, __LINE__);
    expect_err("optim:\n  lr: .nan\n", "optim.lr: expected a number, got '.nan'", NULL,
               __LINE__);
    expect_err("seed: 1\n\"se\\0ed\": 2\n", "run.yaml:2: NUL character", NULL, __LINE__);
    expect_err("seed: 1\nname: \"\\0\"\n", "run.yaml:2: NUL character", NULL, __LINE__);
    expect_err("seed: 1\nname: \xff\n", "run.yaml:2: invalid YAML", NULL, __LINE__);

    /* A file on disk: the message names the path; a missing file is EIO. */
    char dir[] = "/tmp/test_conf_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/bad.yaml", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "fopen");
    if (f) {
        fputs("seed: 1\noptim:\n  lr: 1e-3\n  lrr: 2\n", f);
        fclose(f);
    }
    Cfg c;
    memset(&c, 0, sizeof c);
    CHECK(conf_defaults(&schema, &c) == TR_OK, "defaults");
    CHECK(conf_load_yaml(&schema, &c, path) == TR_EINVAL, "bad file");
    char want[320];
    snprintf(want, sizeof want, "%s:4: optim.lrr: unknown key (did you mean 'optim.lr'?)", path);
    CHECK(str_eq(tr_errmsg(), want), "file msg '%s'", tr_errmsg());
    unlink(path);
    CHECK(conf_load_yaml(&schema, &c, path) == TR_EIO && contains(tr_errmsg(), "bad.yaml"),
          "missing file: %s", tr_errmsg());
    rmdir(dir);
    conf_free(&schema, &c);
}

/* Field-by-field equality of two configs. */
static int cfg_equal(const Cfg *a, const Cfg *b, char *why, size_t cap) {
#define NUM(x)                                                                                  \
    if (a->x != b->x) return snprintf(why, cap, #x), 0
#define STR(x)                                                                                  \
    if (!str_eq(a->x, b->x)) return snprintf(why, cap, #x " '%s' vs '%s'", a->x, b->x), 0
    NUM(seed);
    NUM(optim_lr);
    NUM(optim_adam_beta1);
    NUM(optim_wd);
    NUM(verbose);
    NUM(data_max_len);
    NUM(optim_adam_eps);
    NUM(optim_warmup);
    NUM(data_shuffle);
    STR(name);
    STR(data_train);
    STR(optim_sched);
    STR(data_eval);
    STR(algo);
#undef NUM
#undef STR
    return 1;
}

static char *write_mem(const Cfg *c) {
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    if (!f) return NULL;
    int rc = conf_write_yaml(&schema, c, f);
    fclose(f);
    if (rc) {
        free(mem);
        return NULL;
    }
    return mem;
}

static void roundtrip(const Cfg *c, const char *what) {
    char *text = write_mem(c);
    CHECK(text != NULL, "%s: write failed: %s", what, tr_errmsg());
    if (!text) return;
    Cfg d;
    int rc = load(&d, text);
    char why[256] = "";
    CHECK(rc == TR_OK, "%s: reload failed: %s\n%s", what, tr_errmsg(), text);
    CHECK(rc == TR_OK && cfg_equal(c, &d, why, sizeof why), "%s: differs in %s\n%s", what, why,
          text);
    conf_free(&schema, &d);
    free(text);
}

static void test_roundtrip(void) {
    Cfg c;
    memset(&c, 0, sizeof c);
    CHECK(conf_defaults(&schema, &c) == TR_OK, "defaults");
    roundtrip(&c, "defaults");

    /* The written text itself: grouped sections, quoted strings, comments. */
    char *text = write_mem(&c);
    CHECK(text != NULL, "write");
    if (text) {
        const char *want = "seed: 1234";
        CHECK(contains(text, want), "lacks %s:\n%s", want, text);
        CHECK(contains(text, "\noptim:\n  lr: 0.001"), "optim group:\n%s", text);
        CHECK(contains(text, "\n  adam:\n    beta1: 0.9"), "adam group:\n%s", text);
        CHECK(contains(text, "    eps: 1.0e-08"), "eps float form:\n%s", text);
        CHECK(contains(text, "  wd: 0.0"), "wd 0.0:\n%s", text);
        CHECK(contains(text, "  eval: \"\""), "empty string quoted:\n%s", text);
        CHECK(contains(text, "# learning rate\n"), "help comment:\n%s", text);
        const char *o1 = strstr(text, "optim:"), *d1 = strstr(text, "data:");
        CHECK(o1 && !strstr(o1 + 1, "optim:"), "optim opened once");
        CHECK(d1 && !strstr(d1 + 1, "data:"), "data opened once");
        CHECK(o1 && d1 && o1 < d1, "sections in first-appearance order");
        free(text);
    }

    const char *tricky[] = {"yes", "No", "1e3", "0x10", "a: b", "#x", "", " lead", "trail ",
                            "tab\t", "quote\"", "back\\slash", "caf\xc3\xa9 \xe2\x82\xac",
                            "null", "~", "-", "- item", "[a]", "{b}", "&anchor", "*alias",
                            "!tag", "|", ">", "'single'", "%dir", "@at", "`tick", "x #y",
                            "ends:", "line\nbreak", "cr\rx", "\x01\x7f", "nel\xc2\x85x",
                            "ls\xe2\x80\xa8x", "bom\xef\xbb\xbfx", "true", "ON", ".inf",
                            ".5", "+1", "1:30", "2024-01-01", "a,b", "plain text", "?", ":",
                            "...", "---", "=", "<<", "emoji \xf0\x9f\x98\x80", "\xc2\xa0nbsp"};
    for (size_t i = 0; i < sizeof tricky / sizeof *tricky; i++) {
        CHECK(conf_set(&schema, &c, "name", tricky[i]) == TR_OK, "set '%s'", tricky[i]);
        CHECK(conf_set(&schema, &c, "data.train", tricky[i]) == TR_OK, "set");
        char what[64];
        snprintf(what, sizeof what, "string %zu", i);
        roundtrip(&c, what);
    }
    double floats[] = {0.1, 1.0 / 3.0, 1e-300, 5e-324, 1.7976931348623157e308, 123456789.125,
                       2.0, 0.0, 1e21, 3e-4, 0.30000000000000004};
    for (size_t i = 0; i < sizeof floats / sizeof *floats; i++) {
        c.optim_lr = floats[i];
        c.optim_wd = -floats[i];
        char what[64];
        snprintf(what, sizeof what, "float %.17g", floats[i]);
        roundtrip(&c, what);
    }
    int64_t ints[] = {INT64_MIN, INT64_MAX, 0, -1, 9007199254740993LL};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        c.seed = ints[i];
        roundtrip(&c, "int");
    }
    c.verbose = 1;
    c.data_shuffle = 0;
    CHECK(conf_set(&schema, &c, "optim.sched", "constant") == TR_OK, "enum");
    CHECK(conf_set(&schema, &c, "algo", "rloo") == TR_OK, "enum");
    roundtrip(&c, "bools and enums");
    /* A NULL string field is written as "" and reads back as "". */
    free(c.data_eval);
    c.data_eval = NULL;
    text = write_mem(&c);
    CHECK(text && contains(text, "eval: \"\""), "NULL string");
    free(text);

    /* conf_save_yaml + conf_load_yaml through a file. */
    char dir[] = "/tmp/test_conf_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/effective.yaml", dir);
    CHECK(conf_set(&schema, &c, "name", "saved run") == TR_OK, "set");
    CHECK(conf_save_yaml(&schema, &c, path) == TR_OK, "save: %s", tr_errmsg());
    Cfg d;
    memset(&d, 0, sizeof d);
    CHECK(conf_defaults(&schema, &d) == TR_OK, "defaults");
    CHECK(conf_load_yaml(&schema, &d, path) == TR_OK, "load saved: %s", tr_errmsg());
    char why[256] = "";
    CHECK(str_eq(d.data_eval, ""), "NULL eval read back as empty");
    free(c.data_eval);
    c.data_eval = strdup("");
    CHECK(cfg_equal(&c, &d, why, sizeof why), "saved file differs in %s", why);
    unlink(path);
    CHECK(rmdir(dir) == 0, "temp dir left with files");
    conf_free(&schema, &d);
    conf_free(&schema, &c);
}

static void test_help(void) {
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    CHECK(f != NULL, "memstream");
    if (!f) return;
    conf_print_help(&schema, f);
    fclose(f);
    for (int i = 0; i < schema.n; i++) {
        char want[128];
        snprintf(want, sizeof want, "  %s ", fields[i].key);
        CHECK(contains(mem, want), "help lacks %s:\n%s", fields[i].key, mem);
        CHECK(contains(mem, fields[i].help), "help lacks '%s'", fields[i].help);
    }
    CHECK(contains(mem, "(one of cosine|linear|constant, default cosine): LR schedule"),
          "enum help:\n%s", mem);
    CHECK(contains(mem, "(float in 0..1, default 0.9): Adam beta1"), "range help:\n%s", mem);
    CHECK(contains(mem, "(string, default \"\"): eval data"), "empty default:\n%s", mem);
    CHECK(contains(mem, "  seed              (int, default 1234): random seed\n"),
          "alignment:\n%s", mem);
    free(mem);
}

/* Whatever the input, the loader returns OK or an error with a message,
 * never crashes or leaks (ASan/LSan), and leaves a struct conf_free takes. */
static void test_fuzz(void) {
    const char *valid = "seed: 7\n"
                        "optim:\n"
                        "  lr: 2.5e-4  # c\n"
                        "  adam: {beta1: 0.95, eps: 1e-10}\n"
                        "  sched: linear\n"
                        "data:\n"
                        "  train: [a, 'b', \"c\"]\n"
                        "  eval: ~\n"
                        "name: \"x\\ty\"\n"
                        "verbose: on\n";
    size_t vl = strlen(valid);
    Rng r;
    rng_seed(&r, 12345);
    int ok = 0, bad = 0, silent = 0;
    Cfg c;
    for (size_t cut = 0; cut <= vl; cut++) {
        memset(&c, 0, sizeof c);
        conf_defaults(&schema, &c);
        tr_err_clear();
        int rc = conf_load_yaml_text(&schema, &c, valid, cut, "cut.yaml");
        rc == TR_OK ? ok++ : bad++;
        if (rc && !strcmp(tr_errmsg(), "no error")) silent++;
        conf_free(&schema, &c);
    }
    CHECK(ok > 0 && bad > 0, "truncations: %d ok %d bad", ok, bad);
    char buf[512];
    for (int it = 0; it < 4000; it++) {
        size_t n;
        if (it % 2 == 0) { /* mutate the valid text */
            n = vl;
            memcpy(buf, valid, n);
            int edits = 1 + (int)(rng_u64(&r) % 4);
            for (int e = 0; e < edits; e++) {
                size_t at = rng_u64(&r) % n;
                const char pool[] = ":-[]{}#&*!|>'\"%@`,?~ \n\t.\\0abc";
                buf[at] = (rng_u64(&r) % 4 == 0) ? (char)(rng_u64(&r) & 0xff)
                                                  : pool[rng_u64(&r) % (sizeof pool - 1)];
            }
        } else { /* random bytes, biased to YAML punctuation */
            n = rng_u64(&r) % sizeof buf;
            for (size_t i = 0; i < n; i++) {
                uint64_t x = rng_u64(&r);
                const char pool[] = "seedoptimlrdata.:- \n[]{},#'\"&*!|>?~1e";
                buf[i] = (x & 1) ? (char)(x >> 8) : pool[(x >> 8) % (sizeof pool - 1)];
            }
        }
        memset(&c, 0, sizeof c);
        conf_defaults(&schema, &c);
        tr_err_clear();
        int rc = conf_load_yaml_text(&schema, &c, buf, n, "fuzz.yaml");
        if (rc && !strcmp(tr_errmsg(), "no error")) silent++;
        /* Whatever loaded must still be writable and read back equal. */
        if (rc == TR_OK) roundtrip(&c, "fuzz");
        conf_free(&schema, &c);
    }
    CHECK(silent == 0, "%d errors without a message", silent);
}

int main(void) {
    test_defaults();
    test_bad_schema();
    test_set();
    test_load();
    test_load_errors();
    test_roundtrip();
    test_help();
    test_fuzz();
    return tu_summary("test_conf");
}
