/* word: GSM8K-like templated word problems (shopping, fruit in bags,
 * distance, sharing, ages, savings, baking, reading), each a chain of 1-3
 * operations with small positive integers and exact divisions. Traces:
 * stepwise (the equations only), verbose (a sentence per step with the
 * equation in it) or direct (the number). Scoring compares numerically. */
#include <string.h>

#include "data/task_internal.h"
#include "thinkrl/verify.h"

static const char *const word_pattern_names[] = {"stepwise", "verbose", "direct"};
/* stepwise: equations only; verbose: letters and an equation; direct: the
 * number alone. */
static const char *const word_rule_names[] = {"stepwise", "verbose", "direct"};
static const char *const word_rule_regex[] = {
    "^\\d+[-+*/]\\d+=\\d+(,\\d+[-+*/]\\d+=\\d+)*$",
    "(?s)^(?=.*[A-Za-z]).*\\d[-+*/]\\d+=\\d",
    "^\\s*\\d+\\s*$",
};
enum { WORD_STEPWISE = 0, WORD_VERBOSE = 1, WORD_DIRECT = 2 };

static const TaskParam word_params[] = {
    {"steps", "1-3", "operations per problem (N or N-M, 1-3)"},
    {"mix", "stepwise:0.5,verbose:0.3,direct:0.2", "trace styles and their weights"},
};

/* ---- drawing numbers, or taking them from a preset ---- */

typedef struct {
    Rng *rng;
    const long *preset;
    int n_preset, used;
    int short_preset;    /* the preset ran out */
} WCtx;

static long wv(WCtx *c, long lo, long hi) {
    if (c->preset) {
        if (c->used < c->n_preset) return c->preset[c->used++];
        c->short_preset = 1;
        return lo;
    }
    return tk_randint(c->rng, lo, hi);
}

typedef struct {
    const char *name;
    int female;
} Person;

static const Person people[] = {
    {"Mia", 1}, {"Liam", 0}, {"Ava", 1}, {"Noah", 0}, {"Emma", 1}, {"Leo", 0},
    {"Zoe", 1}, {"Sam", 0},  {"Lily", 1}, {"Ben", 0}, {"Ella", 1}, {"Max", 0},
};
#define N_PEOPLE ((long)(sizeof people / sizeof people[0]))

#define HE(p) ((p)->female ? "she" : "he")
#define HE_C(p) ((p)->female ? "She" : "He")
#define HIS(p) ((p)->female ? "her" : "his")
#define HIS_C(p) ((p)->female ? "Her" : "His")
#define SELF(p) ((p)->female ? "herself" : "himself")

/* Appends "a op b=c" to the stepwise trace, writes it to eq (for the
 * verbose sentence) and returns c. */
static long step(WordProb *w, long a, char op, long b, char eq[64]) {
    long c = op == '+' ? a + b : op == '-' ? a - b : op == '*' ? a * b : a / b;
    TR_ASSERT(op != '/' || (b != 0 && a % b == 0));
    snprintf(eq, 64, "%ld%c%ld=%ld", a, op, b, c);
    tkbuf_printf(&w->stepwise, "%s%s", w->stepwise.n ? "," : "", eq);
    return c;
}

#define Q(...) tkbuf_printf(&w->question, __VA_ARGS__)
#define V(...) tkbuf_printf(&w->verbose, __VA_ARGS__)

/* Each template draws its numbers in a fixed order (the preset order). */

static long t_shop(WCtx *c, const Person *p, int s, WordProb *w) {
    static const char *const items[] = {"pens", "pencils", "notebooks", "rulers", "markers"};
    static const char *const extras[] = {"a bag", "a book", "a lunch box", "a cap"};
    const char *it = items[wv(c, 0, 4)];
    long n = wv(c, 2, 6), pr = wv(c, 2, 9);
    char e1[64], e2[64], e3[64];
    Q("%s buys %ld %s for %ld dollars each.", p->name, n, it, pr);
    long tot = step(w, n, '*', pr, e1);
    V("%ld %s at %ld dollars each cost %s dollars.", n, it, pr, e1);
    if (s == 1) {
        Q(" How many dollars does %s spend?", HE(p));
        return tot;
    }
    if (s == 3) {
        const char *ex = extras[wv(c, 0, 3)];
        long q = wv(c, 3, 15);
        Q(" %s also buys %s for %ld dollars.", HE_C(p), ex, q);
        long t2 = step(w, tot, '+', q, e2);
        V(" With %s %s spends %s dollars.", ex, HE(p), e2);
        tot = t2;
    }
    long bill = 10;
    while (bill <= tot) bill = bill == 10 ? 20 : bill == 20 ? 50 : 100;
    Q(" %s pays with a %ld dollar bill. How many dollars of change does %s get?", HE_C(p), bill, HE(p));
    long chg = step(w, bill, '-', tot, e3);
    V(" The change is %s dollars.", e3);
    return chg;
}

static long t_fruit(WCtx *c, const Person *p, int s, WordProb *w) {
    static const char *const fruit[] = {"apples", "oranges", "pears", "plums"};
    const char *f = fruit[wv(c, 0, 3)];
    char e1[64], e2[64], e3[64];
    if (s == 1) {
        long b = wv(c, 2, 6), k = wv(c, 3, 9);
        Q("%s buys %ld bags with %ld %s in each bag. How many %s does %s buy?", p->name, b, k, f, f, HE(p));
        long t = step(w, b, '*', k, e1);
        V("%ld bags of %ld %s is %s %s.", b, k, f, e1, f);
        return t;
    }
    long h = wv(c, 5, 20), b = wv(c, 2, 6), k = wv(c, 3, 9);
    Q("%s has %ld %s. %s buys %ld bags with %ld %s in each bag.", p->name, h, f, HE_C(p), b, k, f);
    long t = step(w, b, '*', k, e1);
    long u = step(w, h, '+', t, e2);
    V("%ld bags of %ld %s is %s %s. %s %s in total.", b, k, f, e1, f, e2, f);
    if (s == 2) {
        Q(" How many %s does %s have now?", f, HE(p));
        return u;
    }
    long e = wv(c, 2, 9);
    Q(" Then %s eats %ld %s. How many %s does %s have now?", HE(p), e, f, f, HE(p));
    long r = step(w, u, '-', e, e3);
    V(" After eating %ld, %s has %s %s.", e, HE(p), e3, f);
    return r;
}

static long t_travel(WCtx *c, const Person *p, int s, WordProb *w) {
    char e1[64], e2[64], e3[64];
    if (s == 3) {
        long v = wv(c, 5, 15), h = wv(c, 2, 4), u = wv(c, 5, 15), g = wv(c, 2, 4);
        Q("%s rides %s bike at %ld km per hour for %ld hours and then at %ld km per hour for %ld "
          "hours. How many km does %s ride in total?",
          p->name, HIS(p), v, h, u, g, HE(p));
        long d1 = step(w, v, '*', h, e1), d2 = step(w, u, '*', g, e2);
        long d = step(w, d1, '+', d2, e3);
        V("First %s rides %s km. Then %s rides %s km. In total that is %s km.", HE(p), e1, HE(p), e2, e3);
        return d;
    }
    long v = wv(c, 6, 20), h = wv(c, 2, 5);
    Q("%s rides %s bike at %ld km per hour for %ld hours.", p->name, HIS(p), v, h);
    long d = step(w, v, '*', h, e1);
    V("At %ld km per hour for %ld hours %s rides %s km.", v, h, HE(p), e1);
    if (s == 1) {
        Q(" How many km does %s ride?", HE(p));
        return d;
    }
    long len = d + wv(c, 5, 40);
    Q(" The trail is %ld km long. How many km of the trail are left?", len);
    long r = step(w, len, '-', d, e2);
    V(" %s km are left.", e2);
    return r;
}

static long t_share(WCtx *c, const Person *p, int s, WordProb *w) {
    static const char *const items[] = {"stickers", "cards", "marbles", "candies"};
    const char *it = items[wv(c, 0, 3)];
    char e1[64], e2[64], e3[64];
    if (s == 1) {
        long f = wv(c, 2, 6), q = wv(c, 2, 9), tot = f * q;
        Q("%s has %ld %s. %s shares them equally among %ld friends. How many %s does each friend get?",
          p->name, tot, it, HE_C(p), f, it);
        long r = step(w, tot, '/', f, e1);
        V("%ld %s shared by %ld friends is %s %s each.", tot, it, f, e1, it);
        return r;
    }
    if (s == 2) {
        long packs = wv(c, 2, 5), f = wv(c, 2, 5), m = wv(c, 1, 4), per = f * m;
        Q("%s has %ld packs of %ld %s. %s shares them equally among %ld friends. How many %s does each "
          "friend get?",
          p->name, packs, per, it, HE_C(p), f, it);
        long tot = step(w, packs, '*', per, e1);
        long r = step(w, tot, '/', f, e2);
        V("%ld packs of %ld is %s %s. Each friend gets %s %s.", packs, per, e1, it, e2, it);
        return r;
    }
    long f = wv(c, 2, 5), q = wv(c, 2, 6), packs = wv(c, 2, 4), extra = wv(c, 0, 2);
    long rest = f * q, per = rest / packs + 1 + extra, keep = packs * per - rest;
    Q("%s has %ld packs of %ld %s. %s keeps %ld for %s and shares the rest equally among %ld "
      "friends. How many %s does each friend get?",
      p->name, packs, per, it, HE_C(p), keep, SELF(p), f, it);
    long tot = step(w, packs, '*', per, e1);
    long left = step(w, tot, '-', keep, e2);
    long r = step(w, left, '/', f, e3);
    V("%ld packs of %ld is %s %s. After keeping %ld, %s are left. Each friend gets %s %s.", packs, per,
      e1, it, keep, e2, e3, it);
    return r;
}

static long t_ages(WCtx *c, const Person *p, int s, WordProb *w) {
    const char *sib = wv(c, 0, 1) ? "brother" : "sister";
    const char *rel = wv(c, 0, 1) ? "uncle" : "aunt";
    long a = wv(c, 4, 9), d = wv(c, 2, 6);
    char e1[64], e2[64], e3[64];
    Q("%s is %ld years old. %s %s is %ld years older.", p->name, a, HIS_C(p), sib, d);
    long s1 = step(w, a, '+', d, e1);
    V("The %s is %s years old.", sib, e1);
    if (s == 1) {
        Q(" How old is %s %s?", HIS(p), sib);
        return s1;
    }
    long k = wv(c, 3, 4);
    Q(" %s %s is %ld times as old as %s %s.", HIS_C(p), rel, k, HIS(p), sib);
    long s2 = step(w, k, '*', s1, e2);
    V(" The %s is %s years old.", rel, e2);
    if (s == 2) {
        Q(" How old is %s %s?", HIS(p), rel);
        return s2;
    }
    long y = wv(c, 2, 9);
    Q(" How old will %s %s be in %ld years?", HIS(p), rel, y);
    long s3 = step(w, s2, '+', y, e3);
    V(" In %ld years the %s will be %s years old.", y, rel, e3);
    return s3;
}

static long t_savings(WCtx *c, const Person *p, int s, WordProb *w) {
    static const char *const toys[] = {"game", "ball", "kite", "puzzle"};
    char e1[64], e2[64], e3[64];
    if (s == 1) {
        long per = wv(c, 3, 12), n = wv(c, 2, 6);
        Q("%s saves %ld dollars each week. How many dollars does %s save in %ld weeks?", p->name, per,
          HE(p), n);
        long t = step(w, per, '*', n, e1);
        V("In %ld weeks %s saves %s dollars.", n, HE(p), e1);
        return t;
    }
    long h = wv(c, 5, 30), per = wv(c, 3, 12), n = wv(c, 2, 6);
    Q("%s has %ld dollars. %s saves %ld dollars each week.", p->name, h, HE_C(p), per);
    long t = step(w, per, '*', n, e1);
    long tot = step(w, h, '+', t, e2);
    V("In %ld weeks %s saves %s dollars. %s has %s dollars in total.", n, HE(p), e1, HE_C(p), e2);
    if (s == 2) {
        Q(" How many dollars does %s have after %ld weeks?", HE(p), n);
        return tot;
    }
    const char *toy = toys[wv(c, 0, 3)];
    long cost = wv(c, 5, tot - 1 < 40 ? tot - 1 : 40);
    Q(" After %ld weeks %s buys a %s for %ld dollars. How many dollars does %s have left?", n, HE(p), toy,
      cost, HE(p));
    long r = step(w, tot, '-', cost, e3);
    V(" After the %s %s has %s dollars left.", toy, HE(p), e3);
    return r;
}

static long t_baking(WCtx *c, const Person *p, int s, WordProb *w) {
    static const char *const goods[] = {"cookies", "muffins", "cupcakes"};
    const char *g = goods[wv(c, 0, 2)];
    long trays = wv(c, 2, 5), per = wv(c, 4, 12), tot = trays * per;
    char e1[64], e2[64], e3[64];
    Q("%s bakes %ld trays of %s with %ld %s on each tray.", p->name, trays, g, per, g);
    step(w, trays, '*', per, e1);
    V("%ld trays of %ld is %s %s.", trays, per, e1, g);
    if (s == 1) {
        Q(" How many %s does %s bake?", g, HE(p));
        return tot;
    }
    if (s == 2) {
        long give = wv(c, 2, tot - 1 < 15 ? tot - 1 : 15);
        Q(" %s gives %ld %s to %s neighbours. How many %s are left?", HE_C(p), give, g, HIS(p), g);
        long r = step(w, tot, '-', give, e2);
        V(" After giving away %ld, %s %s are left.", give, e2, g);
        return r;
    }
    /* bags of b: the rest must divide, so draw the bag count and derive
     * how many are given away (1..15 when possible) */
    long b = wv(c, 2, 4), kmax = (tot - 1) / b, kmin = (tot - 15 + b - 1) / b;
    if (kmin < 1) kmin = 1;
    long k = wv(c, kmin, kmax), give = tot - b * k;
    Q(" %s gives away %ld %s and puts the rest in bags of %ld. How many bags does %s fill?", HE_C(p), give,
      g, b, HE(p));
    long left = step(w, tot, '-', give, e2);
    long r = step(w, left, '/', b, e3);
    V(" After giving away %ld, %s are left. That fills %s bags.", give, e2, e3);
    return r;
}

static long t_reading(WCtx *c, const Person *p, int s, WordProb *w) {
    char e1[64], e2[64], e3[64];
    long per = wv(c, 5, 15), n = wv(c, 2, 6), read = per * n;
    if (s == 1) {
        Q("%s reads %ld pages every day. How many pages does %s read in %ld days?", p->name, per, HE(p), n);
        step(w, per, '*', n, e1);
        V("In %ld days %s reads %s pages.", n, HE(p), e1);
        return read;
    }
    if (s == 2) {
        long book = read + wv(c, 5, 40);
        Q("%s's book has %ld pages. %s reads %ld pages every day. How many pages are left after %ld days?",
          p->name, book, HE_C(p), per, n);
        step(w, per, '*', n, e1);
        long r = step(w, book, '-', read, e2);
        V("In %ld days %s reads %s pages. %s pages are left.", n, HE(p), e1, e2);
        return r;
    }
    long first = wv(c, 3, 20), book = read + first + wv(c, 5, 40);
    Q("%s's book has %ld pages. On Monday %s reads %ld pages. Then %s reads %ld pages every day for %ld "
      "days. How many pages are left?",
      p->name, book, HE(p), first, HE(p), per, n);
    step(w, per, '*', n, e1);
    long done = step(w, first, '+', read, e2);
    long r = step(w, book, '-', done, e3);
    V("In %ld days %s reads %s pages. With Monday that is %s pages. %s pages are left.", n, HE(p), e1, e2,
      e3);
    return r;
}

typedef long (*WordTemplate)(WCtx *c, const Person *p, int s, WordProb *w);
static const struct {
    const char *name;
    WordTemplate fn;
} templates[] = {
    {"shop", t_shop},       {"fruit", t_fruit},     {"travel", t_travel}, {"share", t_share},
    {"ages", t_ages},       {"savings", t_savings}, {"baking", t_baking}, {"reading", t_reading},
};
#define N_TEMPLATES ((int)(sizeof templates / sizeof templates[0]))

int word_template_count(void) { return N_TEMPLATES; }

const char *word_template_name(int i) { return i >= 0 && i < N_TEMPLATES ? templates[i].name : NULL; }

void word_prob_free(WordProb *w) {
    tkbuf_free(&w->question);
    tkbuf_free(&w->stepwise);
    tkbuf_free(&w->verbose);
    memset(w, 0, sizeof *w);
}

int word_make(int t, int steps, Rng *rng, const long *preset, int n_preset, WordProb *out) {
    memset(out, 0, sizeof *out);
    if (t < 0 || t >= N_TEMPLATES || steps < 1 || steps > 3)
        return tr_err(TR_EINVAL, "word: no template %d with %d steps", t, steps);
    WCtx c = {rng, preset, n_preset, 0, 0};
    long pi = wv(&c, 0, N_PEOPLE - 1);
    if (pi < 0 || pi >= N_PEOPLE) return tr_err(TR_EINVAL, "word: no person %ld", pi);
    out->answer = templates[t].fn(&c, &people[pi], steps, out);
    out->steps = steps;
    out->name = templates[t].name;
    if (c.short_preset) {
        word_prob_free(out);
        return tr_err(TR_EINVAL, "word: template '%s' needs more than %d preset values", templates[t].name,
                      n_preset);
    }
    if (out->question.oom || out->stepwise.oom || out->verbose.oom) {
        word_prob_free(out);
        return tr_err(TR_ENOMEM, "word: out of memory");
    }
    return TR_OK;
}

static int word_gen(const TaskOpts *o, Rng *r, int64_t index, int traces, Record *out) {
    long slo, shi;
    double w[3];
    int rc;
    if ((rc = task_opt_range(o, "steps", &slo, &shi))) return rc;
    if (slo < 1 || shi > 3)
        return tr_err(TR_EINVAL, "option 'steps': steps are 1-3, got '%s'", task_opt(o, "steps"));
    if ((rc = task_opt_mix(o, "mix", word_pattern_names, 3, w))) return rc;

    int style = tk_draw(r, w, 3);
    int steps = (int)tk_randint(r, slo, shi);
    int t = (int)tk_randint(r, 0, N_TEMPLATES - 1);
    WordProb wp;
    if ((rc = word_make(t, steps, r, NULL, 0, &wp))) return rc;
    char answer[32];
    snprintf(answer, sizeof answer, "%ld", wp.answer);
    const char *think = style == WORD_STEPWISE  ? tkbuf_str(&wp.stepwise)
                        : style == WORD_VERBOSE ? tkbuf_str(&wp.verbose)
                                                : answer;
    rc = tk_record(out, "word", index, tkbuf_str(&wp.question), answer, traces ? think : NULL,
                   word_pattern_names[style]);
    if (rc == TR_OK &&
        (record_meta_set_str(out, "template", wp.name) || record_meta_set_num(out, "steps", steps))) {
        record_free(out);
        rc = tr_err(TR_ENOMEM, "word: out of memory");
    }
    word_prob_free(&wp);
    return rc;
}

static int word_score(const Record *rec, const char *answer, size_t len, char *why, size_t why_len) {
    if (!rec->answer) {
        if (why) snprintf(why, why_len, "record has no answer");
        return 0;
    }
    if (verify_answer(answer, len, rec->answer)) return 1;
    if (why) snprintf(why, why_len, "expected %s", rec->answer);
    return 0;
}

const TaskDef task_word = {
    .name = "word",
    .help = "templated word problems (1-3 steps) with stepwise, verbose and direct traces",
    .params = word_params,
    .n_params = (int)(sizeof word_params / sizeof word_params[0]),
    .pattern_names = word_rule_names,
    .pattern_regex = word_rule_regex,
    .n_patterns = 3,
    .gen = word_gen,
    .score = word_score,
};
