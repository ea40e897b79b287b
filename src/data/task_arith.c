/* arith: "A+B=" and "A*B=" (and, with terms > 2, "A+B+C=") with three
 * trace styles of very different reliability for a small byte-level model:
 * direct (the result "in its head"), column (one digit at a time with
 * carries) and split (place value by place value; with 3+ operands, one
 * operand at a time). Scoring compares the answer numerically. */
#include <string.h>

#include "data/task_internal.h"
#include "thinkrl/verify.h"

static const char *const arith_pattern_names[] = {"direct", "column", "split"};
/* First match wins, checked in this order. column: a single-digit first
 * term followed by more (',' or ':' in long multiplication); split: two
 * equations in a row (a split always has 2+ place values or 3+ terms, see
 * arith_gen); direct: one equation alone (of any number of terms). */
static const char *const arith_rule_names[] = {"column", "split", "direct"};
static const char *const arith_rule_regex[] = {
    "^\\d[+*]\\d(\\+\\d)*=\\d+[,:]",
    "^\\d+[+*]\\d+=\\d+,\\d+[+*]\\d+=",
    "^\\d+([+*]\\d+)+=\\d+$",
};

static const TaskParam arith_params[] = {
    {"digits", "2-3", "digit count of each operand (N or N-M, 1-9)"},
    {"ops", "add", "operations: add, mul or add,mul (mixed evenly)"},
    {"mix", "direct:0.6,column:0.2,split:0.2", "trace styles and their weights"},
    {"mul_digits", "1-2", "digit count of the second operand of a multiplication (1-9)"},
    {"terms", "2", "operand count of an addition (N or N-M, 2-9)"},
};

#define ARITH_MAX_TERMS 9

typedef struct {
    long dlo, dhi, mlo, mhi, tlo, thi;
    char ops[2];
    int n_ops;
    double w[3];
} ArithConf;

static int count_places(long long b) {
    int k = 0;
    for (; b > 0; b /= 10) k += b % 10 != 0;
    return k;
}

/* Style weights for op: a two-operand split needs a second operand with
 * two non-zero place values (one place value would read like direct), so
 * it is dropped when the second operand can only have one digit (and an
 * addition can only have two operands). Returns 0 if nothing is left. */
static int arith_weights(const ArithConf *c, char op, double *w) {
    long bhi = op == '+' ? c->dhi : c->mhi;
    memcpy(w, c->w, sizeof c->w);
    if (bhi < 2 && (op == '*' || c->thi < 3)) w[ARITH_SPLIT] = 0;
    return w[0] + w[1] + w[2] > 0;
}

static int arith_conf(const TaskOpts *o, ArithConf *c) {
    int rc;
    if ((rc = task_opt_range(o, "digits", &c->dlo, &c->dhi))) return rc;
    if (c->dlo < 1 || c->dhi > 9)
        return tr_err(TR_EINVAL, "option 'digits': digit counts must lie in 1-9, got '%s'",
                      task_opt(o, "digits"));
    if ((rc = task_opt_range(o, "mul_digits", &c->mlo, &c->mhi))) return rc;
    if (c->mlo < 1 || c->mhi > 9)
        return tr_err(TR_EINVAL, "option 'mul_digits': digit counts must lie in 1-9, got '%s'",
                      task_opt(o, "mul_digits"));
    if ((rc = task_opt_range(o, "terms", &c->tlo, &c->thi))) return rc;
    if (c->tlo < 2 || c->thi > ARITH_MAX_TERMS)
        return tr_err(TR_EINVAL, "option 'terms': operand counts must lie in 2-%d, got '%s'",
                      ARITH_MAX_TERMS, task_opt(o, "terms"));
    if ((rc = task_opt_mix(o, "mix", arith_pattern_names, 3, c->w))) return rc;
    const char *ops = task_opt(o, "ops");
    c->n_ops = 0;
    for (const char *p = ops;;) {
        size_t n = strcspn(p, ",");
        char op = 0;
        if (n == 3 && strncmp(p, "add", 3) == 0) op = '+';
        if (n == 3 && strncmp(p, "mul", 3) == 0) op = '*';
        if (!op) return tr_err(TR_EINVAL, "option 'ops': unknown op '%.*s' (add, mul)", (int)n, p);
        if (!memchr(c->ops, op, (size_t)c->n_ops)) c->ops[c->n_ops++] = op;
        if (!p[n]) break;
        p += n + 1;
    }
    for (int i = 0; i < c->n_ops; i++) {
        double w[3];
        if (!arith_weights(c, c->ops[i], w))
            return tr_err(TR_EINVAL,
                          "option 'mix': only 'split' has weight, but %s has single-digit second "
                          "operands ('%s')",
                          c->ops[i] == '+' ? "add" : "mul",
                          c->ops[i] == '+' ? "digits" : "mul_digits");
    }
    return TR_OK;
}

static long long pow10ll(int k) {
    long long p = 1;
    while (k-- > 0) p *= 10;
    return p;
}

static long long draw_operand(Rng *r, long lo, long hi) {
    int d = (int)tk_randint(r, lo, hi);
    return (long long)tk_randint(r, (long)pow10ll(d - 1), (long)(pow10ll(d) - 1));
}

void arith_trace(TkBuf *out, char op, long long a, long long b, int style) {
    long long res = op == '+' ? a + b : a * b;
    if (style == ARITH_DIRECT) {
        tkbuf_printf(out, "%lld%c%lld=%lld", a, op, b, res);
        return;
    }
    /* place values of b, highest first, zeros skipped */
    long long pv[20];
    int npv = 0;
    for (long long p = pow10ll(18); p >= 1; p /= 10) {
        long long d = b / p % 10;
        if (d) pv[npv++] = d * p;
    }
    if (style == ARITH_SPLIT && op == '+') {
        long long cur = a;
        for (int i = 0; i < npv; i++) {
            tkbuf_printf(out, "%s%lld+%lld=%lld", i ? "," : "", cur, pv[i], cur + pv[i]);
            cur += pv[i];
        }
        return;
    }
    if (style == ARITH_SPLIT) {
        for (int i = 0; i < npv; i++) tkbuf_printf(out, "%s%lld*%lld=%lld", i ? "," : "", a, pv[i], a * pv[i]);
        long long cur = a * pv[0];
        for (int i = 1; i < npv; i++) {
            tkbuf_printf(out, ",%lld+%lld=%lld", cur, a * pv[i], cur + a * pv[i]);
            cur += a * pv[i];
        }
        return;
    }
    if (op == '+') {
        /* column addition, right to left, then the result */
        int carry = 0;
        long long x = a, y = b;
        for (int i = 0; i == 0 || x > 0 || y > 0; i++) {
            int dx = (int)(x % 10), dy = (int)(y % 10), s = dx + dy + carry;
            tkbuf_printf(out, carry ? "%d+%d+1=%d," : "%d+%d=%d,", dx, dy, s);
            carry = s >= 10;
            x /= 10;
            y /= 10;
        }
        tkbuf_printf(out, "%lld", res);
        return;
    }
    /* long multiplication: one partial per non-zero digit of b, right to left */
    long long part[20];
    int np = 0;
    long long bb = b;
    for (int k = 0; bb > 0; k++, bb /= 10) {
        int d = (int)(bb % 10);
        if (!d) continue;
        if (np) tkbuf_putc(out, ';');
        int carry = 0;
        long long x = a;
        for (int i = 0; i == 0 || x > 0; i++, x /= 10) {
            int dx = (int)(x % 10), p = d * dx + carry;
            if (i) tkbuf_putc(out, ',');
            if (carry)
                tkbuf_printf(out, "%d*%d+%d=%d", d, dx, carry, p);
            else
                tkbuf_printf(out, "%d*%d=%d", d, dx, p);
            carry = p / 10;
        }
        part[np] = a * d * pow10ll(k);
        tkbuf_printf(out, ":%lld", part[np]);
        np++;
    }
    if (np > 1) {
        tkbuf_putc(out, ';');
        for (int i = 0; i < np; i++) tkbuf_printf(out, "%s%lld", i ? "+" : "", part[i]);
        tkbuf_printf(out, "=%lld", res);
    }
}

/* Trace of the sum of t[0..n) (n >= 3; two operands go to arith_trace).
 * direct: "347+85+219=651"; column: right to left, the digits of every
 * operand (0 past its end) plus the carry, then the result
 * "7+5+9=21,4+8+1+2=15,3+0+2+1=6,651"; split: the running sum, one
 * operand at a time "347+85=432,432+219=651". */
static void arith_trace_terms(TkBuf *out, const long long *t, int n, int style) {
    long long res = 0;
    for (int i = 0; i < n; i++) res += t[i];
    if (style == ARITH_DIRECT) {
        for (int i = 0; i < n; i++) tkbuf_printf(out, "%s%lld", i ? "+" : "", t[i]);
        tkbuf_printf(out, "=%lld", res);
        return;
    }
    if (style == ARITH_SPLIT) {
        long long cur = t[0];
        for (int i = 1; i < n; i++) {
            tkbuf_printf(out, "%s%lld+%lld=%lld", i > 1 ? "," : "", cur, t[i], cur + t[i]);
            cur += t[i];
        }
        return;
    }
    long long x[ARITH_MAX_TERMS];
    memcpy(x, t, (size_t)n * sizeof *x);
    int carry = 0, more = 1;
    for (int col = 0; col == 0 || more; col++) {
        int s = carry;
        more = 0;
        for (int i = 0; i < n; i++) {
            int d = (int)(x[i] % 10);
            tkbuf_printf(out, "%s%d", i ? "+" : "", d);
            s += d;
            x[i] /= 10;
            more |= x[i] > 0;
        }
        if (carry) tkbuf_printf(out, "+%d", carry);
        tkbuf_printf(out, "=%d,", s);
        carry = s / 10;
    }
    tkbuf_printf(out, "%lld", res);
}

/* An addition of n >= 3 operands (see arith_trace_terms). */
static int arith_gen_terms(const ArithConf *c, Rng *r, int64_t index, int traces, int n, int style,
                           Record *out) {
    long long t[ARITH_MAX_TERMS], res = 0;
    double tv[ARITH_MAX_TERMS];
    char prompt[256], answer[32];
    size_t pn = 0;
    for (int i = 0; i < n; i++) {
        t[i] = draw_operand(r, c->dlo, c->dhi);
        tv[i] = (double)t[i];
        res += t[i];
        pn += (size_t)snprintf(prompt + pn, sizeof prompt - pn, "%s%lld", i ? "+" : "", t[i]);
    }
    snprintf(prompt + pn, sizeof prompt - pn, "=");
    snprintf(answer, sizeof answer, "%lld", res);
    TkBuf think = {0};
    if (traces) arith_trace_terms(&think, t, n, style);
    if (think.oom) {
        tkbuf_free(&think);
        return tr_err(TR_ENOMEM, "arith: out of memory");
    }
    int rc = tk_record(out, "arith", index, prompt, answer, traces ? tkbuf_str(&think) : NULL,
                       arith_pattern_names[style]);
    tkbuf_free(&think);
    if (rc) return rc;
    if (record_meta_set_str(out, "op", "add") || record_meta_set_num(out, "a", (double)t[0]) ||
        record_meta_set_num(out, "b", (double)t[1]) || record_meta_set_nums(out, "terms", tv, n)) {
        record_free(out);
        return tr_err(TR_ENOMEM, "arith: out of memory");
    }
    return TR_OK;
}

static int arith_gen(const TaskOpts *o, Rng *r, int64_t index, int traces, Record *out) {
    ArithConf c;
    int rc = arith_conf(o, &c);
    if (rc) return rc;
    char op = c.ops[c.n_ops == 1 ? 0 : tk_randint(r, 0, c.n_ops - 1)];
    double w[3];
    arith_weights(&c, op, w);
    int style = tk_draw(r, w, 3);
    if (op == '+' && c.thi > 2) {
        /* a two-operand split needs 2+ place values in b: impossible with
         * single-digit operands, so such a split gets 3+ operands */
        long tlo = style == ARITH_SPLIT && c.dhi < 2 && c.tlo < 3 ? 3 : c.tlo;
        int n = (int)(tlo < c.thi ? tk_randint(r, tlo, c.thi) : tlo);
        if (n > 2) return arith_gen_terms(&c, r, index, traces, n, style, out);
    }
    long blo = op == '+' ? c.dlo : c.mlo, bhi = op == '+' ? c.dhi : c.mhi;
    long long a = draw_operand(r, c.dlo, c.dhi), b;
    do {
        b = draw_operand(r, blo, bhi);
    } while (style == ARITH_SPLIT && count_places(b) < 2);
    long long res = op == '+' ? a + b : a * b;

    char prompt[64], answer[32];
    snprintf(prompt, sizeof prompt, "%lld%c%lld=", a, op, b);
    snprintf(answer, sizeof answer, "%lld", res);
    TkBuf think = {0};
    if (traces) arith_trace(&think, op, a, b, style);
    if (think.oom) {
        tkbuf_free(&think);
        return tr_err(TR_ENOMEM, "arith: out of memory");
    }
    rc = tk_record(out, "arith", index, prompt, answer, traces ? tkbuf_str(&think) : NULL,
                   arith_pattern_names[style]);
    tkbuf_free(&think);
    if (rc) return rc;
    if (record_meta_set_str(out, "op", op == '+' ? "add" : "mul") ||
        record_meta_set_num(out, "a", (double)a) || record_meta_set_num(out, "b", (double)b)) {
        record_free(out);
        return tr_err(TR_ENOMEM, "arith: out of memory");
    }
    return TR_OK;
}

static int arith_score(const Record *rec, const char *answer, size_t len, char *why, size_t why_len) {
    if (!rec->answer) {
        if (why) snprintf(why, why_len, "record has no answer");
        return 0;
    }
    if (verify_answer(answer, len, rec->answer))
        return 1;
    if (why) snprintf(why, why_len, "expected %s", rec->answer);
    return 0;
}

const TaskDef task_arith = {
    .name = "arith",
    .help = "addition / multiplication with direct, column and split traces",
    .params = arith_params,
    .n_params = (int)(sizeof arith_params / sizeof arith_params[0]),
    .pattern_names = arith_rule_names,
    .pattern_regex = arith_rule_regex,
    .n_patterns = 3,
    .gen = arith_gen,
    .score = arith_score,
};
