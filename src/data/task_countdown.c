/* countdown: reach a target from a few numbers with + - * /, each number
 * used at most once. The target comes from a random solution (positive
 * integer intermediates, exact divisions, no *1 or /1); the traces write
 * that solution forward, backward (from the target) or as one expression.
 * Scoring checks the answer expression with verify_equation. */
#include <string.h>

#include "data/task_internal.h"
#include "thinkrl/verify.h"

static const char *const cd_pattern_names[] = {"forward", "backward", "direct"};
/* backward starts "target=x op y", forward "x op y=z", direct is one
 * expression (2+ operations, or parentheses) "=target". */
static const char *const cd_rule_names[] = {"backward", "forward", "direct"};
static const char *const cd_rule_regex[] = {
    "^\\d+=\\d+[-+*/]\\d+",
    "^\\d+[-+*/]\\d+=\\d+",
    "^[-+*/()\\d]+=\\d+$",
};
enum { CD_FORWARD = 0, CD_BACKWARD = 1, CD_DIRECT = 2 };

static const TaskParam cd_params[] = {
    {"level", "1-3", "difficulty levels drawn (1: 3 numbers <= 10, 2: 4 <= 25, 3: 5 <= 50 + a big one)"},
    {"mix", "forward:0.5,backward:0.3,direct:0.2", "trace styles and their weights"},
};

#define CD_MAXN 6
#define CD_TARGET_MAX 999

static int prec(char op) { return op == '+' || op == '-' ? 1 : op ? 2 : 3; }

static void cd_expr(const CdNode *nd, int i, TkBuf *out) {
    const CdNode *x = &nd[i];
    if (!x->op) {
        tkbuf_printf(out, "%ld", x->v);
        return;
    }
    int pl = prec(nd[x->l].op), pr = prec(nd[x->r].op), p = prec(x->op);
    /* minimal parentheses: a lower-precedence child, or an equal-precedence
     * right child of - or / */
    int lpar = pl < p, rpar = pr < p || (pr == p && (x->op == '-' || x->op == '/'));
    if (lpar) tkbuf_putc(out, '(');
    cd_expr(nd, x->l, out);
    if (lpar) tkbuf_putc(out, ')');
    tkbuf_putc(out, x->op);
    if (rpar) tkbuf_putc(out, '(');
    cd_expr(nd, x->r, out);
    if (rpar) tkbuf_putc(out, ')');
}

void countdown_format(const CdNode *nodes, int n_nodes, int root, TkBuf *fwd, TkBuf *bwd,
                      TkBuf *expr) {
    int first = 1;
    for (int i = 0; fwd && i < n_nodes; i++) {
        const CdNode *x = &nodes[i];
        if (!x->op) continue;
        tkbuf_printf(fwd, "%s%ld%c%ld=%ld", first ? "" : ",", nodes[x->l].v, x->op, nodes[x->r].v, x->v);
        first = 0;
    }
    first = 1;
    for (int i = n_nodes - 1; bwd && i >= 0; i--) {
        const CdNode *x = &nodes[i];
        if (!x->op) continue;
        tkbuf_printf(bwd, "%s%ld=%ld%c%ld", first ? "" : ",", x->v, nodes[x->l].v, x->op, nodes[x->r].v);
        first = 0;
    }
    if (expr) cd_expr(nodes, root, expr);
}

/* One random solution over `use` of the numbers with k operations into
 * nodes (leaves first); returns the node count, or 0 when two values met
 * that no operation keeps in 1..999 (the caller draws again). */
static int cd_build(Rng *r, const long *nums, const int *use, int k, CdNode *nodes) {
    int pool[CD_MAXN], np = 0, nn = 0;
    for (int i = 0; i <= k; i++) {
        nodes[nn] = (CdNode){0, -1, -1, nums[use[i]]};
        pool[np++] = nn++;
    }
    while (np > 1) {
        int i = (int)tk_randint(r, 0, np - 1), j = (int)tk_randint(r, 0, np - 2);
        if (j >= i) j++;
        int hi = pool[i], lo = pool[j];
        if (nodes[hi].v < nodes[lo].v) hi = pool[j], lo = pool[i];
        long a = nodes[hi].v, b = nodes[lo].v;
        char ops[4];
        int no = 0;
        if (a + b <= CD_TARGET_MAX) ops[no++] = '+';
        if (a > b) ops[no++] = '-';
        if (b != 1 && a * b <= CD_TARGET_MAX) ops[no++] = '*';
        if (b != 1 && a != b && a % b == 0) ops[no++] = '/';
        if (!no) return 0;
        char op = ops[tk_randint(r, 0, no - 1)];
        CdNode x = {op, hi, lo, 0};
        if (op == '+' || op == '*') {
            /* commutative: keep the drawn order */
            x.l = pool[i];
            x.r = pool[j];
        }
        x.v = op == '+' ? a + b : op == '-' ? a - b : op == '*' ? a * b : a / b;
        nodes[nn] = x;
        /* replace i by the new node, drop j */
        pool[i] = nn++;
        pool[j] = pool[--np];
    }
    return nn;
}

static int cd_gen(const TaskOpts *o, Rng *r, int64_t index, int traces, Record *out) {
    long llo, lhi;
    double w[3];
    int rc;
    if ((rc = task_opt_range(o, "level", &llo, &lhi))) return rc;
    if (llo < 1 || lhi > 3)
        return tr_err(TR_EINVAL, "option 'level': levels are 1-3, got '%s'", task_opt(o, "level"));
    if ((rc = task_opt_mix(o, "mix", cd_pattern_names, 3, w))) return rc;

    int level = (int)tk_randint(r, llo, lhi);
    int style = tk_draw(r, w, 3);
    static const int count[3] = {3, 4, 5}, maxv[3] = {10, 25, 50}, klo[3] = {2, 2, 3}, khi[3] = {2, 3, 4};
    int n = count[level - 1];
    long nums[CD_MAXN];
    CdNode nodes[2 * CD_MAXN];
    int nn = 0;
    long target = 0;
    for (int ok = 0; !ok;) {
        for (int i = 0; i < n; i++) nums[i] = tk_randint(r, 1, maxv[level - 1]);
        if (level == 3 && tk_randint(r, 0, 1)) {
            static const long big[4] = {25, 50, 75, 100};
            nums[tk_randint(r, 0, n - 1)] = big[tk_randint(r, 0, 3)];
        }
        for (int attempt = 0; attempt < 50 && !ok; attempt++) {
            int k = (int)tk_randint(r, klo[level - 1], khi[level - 1]);
            int use[CD_MAXN];
            for (int i = 0; i < n; i++) use[i] = i;
            for (int i = n - 1; i > 0; i--) { /* Fisher-Yates: the first k+1 are used */
                int j = (int)tk_randint(r, 0, i), t = use[i];
                use[i] = use[j];
                use[j] = t;
            }
            nn = cd_build(r, nums, use, k, nodes);
            target = nn ? nodes[nn - 1].v : 0;
            ok = nn && target >= 1 && target <= CD_TARGET_MAX;
            for (int i = 0; i < n; i++) ok = ok && nums[i] != target; /* not a given number */
        }
    }

    TkBuf prompt = {0}, expr = {0}, think = {0};
    tkbuf_printf(&prompt, "Numbers:");
    for (int i = 0; i < n; i++) tkbuf_printf(&prompt, " %ld", nums[i]);
    tkbuf_printf(&prompt, ". Target: %ld.", target);
    countdown_format(nodes, nn, nn - 1, style == CD_FORWARD ? &think : NULL,
                     style == CD_BACKWARD ? &think : NULL, &expr);
    if (style == CD_DIRECT) tkbuf_printf(&think, "%s=%ld", tkbuf_str(&expr), target);
    if (prompt.oom || expr.oom || think.oom) {
        rc = tr_err(TR_ENOMEM, "countdown: out of memory");
        goto done;
    }
    rc = tk_record(out, "countdown", index, tkbuf_str(&prompt), tkbuf_str(&expr),
                   traces ? tkbuf_str(&think) : NULL, cd_pattern_names[style]);
    if (rc) goto done;
    double dn[CD_MAXN];
    for (int i = 0; i < n; i++) dn[i] = (double)nums[i];
    if (record_meta_set_nums(out, "numbers", dn, n) || record_meta_set_num(out, "target", (double)target) ||
        record_meta_set_num(out, "difficulty", level)) {
        record_free(out);
        rc = tr_err(TR_ENOMEM, "countdown: out of memory");
    }
done:
    tkbuf_free(&prompt);
    tkbuf_free(&expr);
    tkbuf_free(&think);
    return rc;
}

static int cd_score(const Record *rec, const char *answer, size_t len, char *why, size_t why_len) {
    double nums[32];
    int n = record_meta_nums(rec, "numbers", nums, 32);
    double target = record_meta_num(rec, "target", -1e300);
    if (n < 0 || n > 32 || target == -1e300) {
        if (why) snprintf(why, why_len, "record has no numbers or target");
        return 0;
    }
    return verify_equation(answer, len, nums, n, target, why, why_len) == 1;
}

const TaskDef task_countdown = {
    .name = "countdown",
    .help = "reach a target from given numbers with + - * / (forward, backward, direct traces)",
    .params = cd_params,
    .n_params = (int)(sizeof cd_params / sizeof cd_params[0]),
    .pattern_names = cd_rule_names,
    .pattern_regex = cd_rule_regex,
    .n_patterns = 3,
    .gen = cd_gen,
    .score = cd_score,
};
