/* The Jinja interpreter for chat templates, with the runtime semantics of
 * @huggingface/jinja (the engine transformers.js uses): JavaScript
 * truthiness and loose ==, UTF-16 string lengths and indexing, the string
 * methods, filters and tests it implements, one scope per for loop,
 * break/continue dropping the iteration's output, dynamic scope for macros.
 * Where it differs from Python Jinja we follow it, e.g. s.strip('\n')
 * ignores its argument and strips all whitespace. Not supported: call
 * blocks, filter blocks, varargs/kwargs in macros, Unicode case mapping
 * beyond ASCII. The parser is in jinja_parse.c. */
#include <cJSON.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/jinja.h"

/* ---- runtime values ------------------------------------------------------------------------ */

enum { J_UNDEF, J_NULL, J_BOOL, J_INT, J_FLOAT, J_STR, J_ARR, J_OBJ, J_NS, J_KW, J_FUNC };

typedef struct JV JV;
typedef struct {
    JV **v;
    int n;
} JArr;
typedef struct {
    const char **k;
    size_t *kl;
    JV **v;
    int n, cap;
} JObj;
typedef struct Env Env;
struct JV {
    int t;
    int tuple;
    union {
        int b;
        double num;
        struct {
            const char *s;
            size_t n;
        } s;
        JArr *a;
        JObj *o;
        struct {
            int id;
            JV *self;
            Node *macro;
            Env *closure;
        } f;
    } u;
};

struct Env {
    Env *parent;
    const char **names;
    size_t *nl;
    JV **vals;
    int n, cap;
};

static JV V_UNDEF = {J_UNDEF, 0, {0}}, V_NULL = {J_NULL, 0, {0}};

static JV *mkv(Ctx *c, int t) {
    JV *v = jalloc(c, sizeof *v);
    v->t = t;
    return v;
}
static JV *mkbool(Ctx *c, int b) {
    JV *v = mkv(c, J_BOOL);
    v->u.b = b != 0;
    return v;
}
static JV *mknum(Ctx *c, int t, double d) {
    JV *v = mkv(c, t);
    v->u.num = d;
    return v;
}
/* A JavaScript number as a C integer for indexes, counts and widths:
 * saturated at +-1e15, far past any string or array length (the value may
 * be 1e300, whose plain conversion is undefined behaviour). NaN gives 0. */
static long num_long(double d) {
    if (!(d == d)) return 0;
    return d > 1e15 ? 1000000000000000L : d < -1e15 ? -1000000000000000L : (long)d;
}
static int num_int(double d) {
    long v = num_long(d);
    return v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
}

static JV *mkstr(Ctx *c, const char *s, size_t n) {
    JV *v = mkv(c, J_STR);
    v->u.s.s = jstrdup(c, s, n);
    v->u.s.n = n;
    return v;
}
static JV *mkstr_ref(Ctx *c, const char *s, size_t n) { /* s must live in the arena or the AST */
    JV *v = mkv(c, J_STR);
    v->u.s.s = s;
    v->u.s.n = n;
    return v;
}
static JV *mkarr(Ctx *c, int n) {
    JV *v = mkv(c, J_ARR);
    v->u.a = jalloc(c, sizeof(JArr));
    v->u.a->v = jalloc(c, (size_t)(n ? n : 1) * sizeof(JV *));
    v->u.a->n = n;
    return v;
}
static JV *mkobj(Ctx *c, int t) {
    JV *v = mkv(c, t);
    v->u.o = jalloc(c, sizeof(JObj));
    return v;
}
static JV *mkfunc(Ctx *c, int id, JV *self) {
    JV *v = mkv(c, J_FUNC);
    v->u.f.id = id;
    v->u.f.self = self;
    return v;
}

static JV *obj_get(const JV *o, const char *k, size_t kl) {
    const JObj *ob = o->u.o;
    for (int i = 0; i < ob->n; i++)
        if (ob->kl[i] == kl && !memcmp(ob->k[i], k, kl)) return ob->v[i];
    return NULL;
}

static void obj_set(Ctx *c, JV *o, const char *k, size_t kl, JV *v) {
    JObj *ob = o->u.o;
    for (int i = 0; i < ob->n; i++)
        if (ob->kl[i] == kl && !memcmp(ob->k[i], k, kl)) {
            ob->v[i] = v;
            return;
        }
    if (ob->n == ob->cap) {
        int nc = ob->cap ? ob->cap * 2 : 8;
        const char **nk = jalloc(c, (size_t)nc * sizeof *nk);
        size_t *nkl = jalloc(c, (size_t)nc * sizeof *nkl);
        JV **nv = jalloc(c, (size_t)nc * sizeof *nv);
        if (ob->n) {
            memcpy(nk, ob->k, (size_t)ob->n * sizeof *nk);
            memcpy(nkl, ob->kl, (size_t)ob->n * sizeof *nkl);
            memcpy(nv, ob->v, (size_t)ob->n * sizeof *nv);
        }
        ob->k = nk;
        ob->kl = nkl;
        ob->v = nv;
        ob->cap = nc;
    }
    ob->k[ob->n] = jstrdup(c, k, kl);
    ob->kl[ob->n] = kl;
    ob->v[ob->n] = v;
    ob->n++;
}

static Env *env_new(Ctx *c, Env *parent) {
    Env *e = jalloc(c, sizeof *e);
    e->parent = parent;
    return e;
}

static void env_set(Ctx *c, Env *e, const char *name, size_t nl, JV *v) {
    for (int i = 0; i < e->n; i++)
        if (e->nl[i] == nl && !memcmp(e->names[i], name, nl)) {
            e->vals[i] = v;
            return;
        }
    if (e->n == e->cap) {
        int nc = e->cap ? e->cap * 2 : 8;
        const char **nn = jalloc(c, (size_t)nc * sizeof *nn);
        size_t *nnl = jalloc(c, (size_t)nc * sizeof *nnl);
        JV **nv = jalloc(c, (size_t)nc * sizeof *nv);
        if (e->n) {
            memcpy(nn, e->names, (size_t)e->n * sizeof *nn);
            memcpy(nnl, e->nl, (size_t)e->n * sizeof *nnl);
            memcpy(nv, e->vals, (size_t)e->n * sizeof *nv);
        }
        e->names = nn;
        e->nl = nnl;
        e->vals = nv;
        e->cap = nc;
    }
    e->names[e->n] = jstrdup(c, name, nl);
    e->nl[e->n] = nl;
    e->vals[e->n] = v;
    e->n++;
}

static JV *env_get(Env *e, const char *name, size_t nl) {
    for (; e; e = e->parent)
        for (int i = 0; i < e->n; i++)
            if (e->nl[i] == nl && !memcmp(e->names[i], name, nl)) return e->vals[i];
    return &V_UNDEF;
}

static const char *type_name(const JV *v) {
    static const char *names[] = {"UndefinedValue", "NullValue", "BooleanValue", "IntegerValue",
                                  "FloatValue",     "StringValue", "ArrayValue", "ObjectValue",
                                  "NamespaceValue", "KeywordArgumentsValue", "FunctionValue"};
    if (v->t == J_ARR && v->tuple) return "TupleValue";
    return names[v->t];
}

static int is_objlike(const JV *v) { return v->t == J_OBJ || v->t == J_KW; }
static int is_container(const JV *v) { return v->t == J_OBJ || v->t == J_KW || v->t == J_NS; }
static int is_num(const JV *v) { return v->t == J_INT || v->t == J_FLOAT; }

static int truthy(const JV *v) {
    switch (v->t) {
    case J_UNDEF:
    case J_NULL: return 0;
    case J_BOOL: return v->u.b;
    case J_INT:
    case J_FLOAT: return v->u.num != 0 && v->u.num == v->u.num;
    case J_STR: return v->u.s.n > 0;
    case J_ARR: return v->u.a->n > 0;
    case J_OBJ:
    case J_KW: return v->u.o->n > 0;
    default: return 1; /* namespace (a JavaScript Map), function */
    }
}

/* ---- JavaScript number and string formatting ---------------------------------------------- */

/* Number.prototype.toString() */
static void js_num(Ctx *c, SBuf *o, double d) {
    char buf[64];
    if (d != d) { bputs(c, o, "NaN"); return; }
    if (isinf(d)) { bputs(c, o, d < 0 ? "-Infinity" : "Infinity"); return; }
    if (d == 0) { bputs(c, o, "0"); return; }
    if (d < 0) {
        bputs(c, o, "-");
        d = -d;
    }
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d) break;
    }
    /* buf = d[.ddd]e±XX */
    char digits[32];
    int k = 0;
    const char *q = buf;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[k++] = *q;
    digits[k] = 0;
    int e10 = atoi(q + 1);
    int n = e10 + 1; /* value = 0.digits * 10^n */
    if (k <= n && n <= 21) {
        bput(c, o, digits, (size_t)k);
        for (int i = k; i < n; i++) bputs(c, o, "0");
    } else if (0 < n && n <= 21) {
        bput(c, o, digits, (size_t)n);
        bputs(c, o, ".");
        bput(c, o, digits + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) {
        bputs(c, o, "0.");
        for (int i = 0; i < -n; i++) bputs(c, o, "0");
        bput(c, o, digits, (size_t)k);
    } else {
        bput(c, o, digits, 1);
        if (k > 1) {
            bputs(c, o, ".");
            bput(c, o, digits + 1, (size_t)(k - 1));
        }
        snprintf(buf, sizeof buf, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
        bputs(c, o, buf);
    }
}

/* JSON.stringify of a string */
static void json_str(Ctx *c, SBuf *o, const char *s, size_t n, int ascii) {
    bputs(c, o, "\"");
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        char buf[16];
        if (ch == '"') bputs(c, o, "\\\"");
        else if (ch == '\\') bputs(c, o, "\\\\");
        else if (ch == '\b') bputs(c, o, "\\b");
        else if (ch == '\f') bputs(c, o, "\\f");
        else if (ch == '\n') bputs(c, o, "\\n");
        else if (ch == '\r') bputs(c, o, "\\r");
        else if (ch == '\t') bputs(c, o, "\\t");
        else if (ch < 0x20) {
            snprintf(buf, sizeof buf, "\\u%04x", ch);
            bputs(c, o, buf);
        } else if (ch < 0x7F) bput(c, o, s + i, 1);
        else if (ascii) { /* ensure_ascii: every UTF-16 unit >= 0x7F as \uXXXX */
            int len;
            uint32_t cp = ch == 0x7F ? 0x7F : uni_decode((const uint8_t *)s + i, n - i, &len);
            if (ch == 0x7F) len = 1;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else
                snprintf(buf, sizeof buf, "\\u%04x", cp);
            bputs(c, o, buf);
            i += (size_t)len;
            continue;
        } else {
            bput(c, o, s + i, 1);
        }
        i++;
    }
    bputs(c, o, "\"");
}

typedef struct {
    int indent; /* -1: none */
    int ascii, sort;
    const char *isep, *ksep;
} JsonOpt;

static int key_cmp_locale(const char *a, size_t al, const char *b, size_t bl);

/* n spaces, 64 at a time (a width may be huge: MAX_BYTES stops it) */
static void bspaces(Ctx *c, SBuf *b, size_t n) {
    static const char sp[65] = "                                                                ";
    for (size_t k; n; n -= k) {
        k = n < 64 ? n : 64;
        bput(c, b, sp, k);
    }
}

static void to_json(Ctx *c, SBuf *o, const JV *v, const JsonOpt *opt, int depth, int undef_null) {
    switch (v->t) {
    case J_NULL: bputs(c, o, "null"); return;
    case J_UNDEF: bputs(c, o, undef_null ? "null" : "undefined"); return;
    case J_BOOL: bputs(c, o, v->u.b ? "true" : "false"); return;
    case J_INT:
    case J_FLOAT:
        if (v->u.num != v->u.num || isinf(v->u.num)) bputs(c, o, "null");
        else js_num(c, o, v->u.num);
        return;
    case J_STR: json_str(c, o, v->u.s.s, v->u.s.n, opt->ascii); return;
    case J_FUNC: jfail(c, "Cannot convert to JSON: FunctionValue");
    default: break;
    }
    if (v->t == J_ARR && v->tuple) jfail(c, "Cannot convert to JSON: TupleValue");
    int ind = opt->indent > 0;
    const char *isep = opt->isep ? opt->isep : ind ? "," : ", ";
    const char *ksep = opt->ksep ? opt->ksep : ": ";
    SBuf pad = {0};
    bputs(c, &pad, "\n");
    if (ind) bspaces(c, &pad, (size_t)depth * (size_t)opt->indent); /* int product could overflow */
    size_t base = pad.n;
    if (ind) bspaces(c, &pad, (size_t)opt->indent);
    if (v->t == J_ARR) {
        int n = v->u.a->n;
        bputs(c, o, "[");
        for (int i = 0; i < n; i++) {
            if (i) bputs(c, o, isep);
            if (ind) bput(c, o, pad.p, pad.n);
            to_json(c, o, v->u.a->v[i], opt, depth + 1, undef_null);
        }
        if (ind && n) bput(c, o, pad.p, base);
        bputs(c, o, "]");
    } else {
        const JObj *ob = v->u.o;
        int *order = jalloc(c, (size_t)(ob->n + 1) * sizeof *order);
        for (int i = 0; i < ob->n; i++) order[i] = i;
        if (opt->sort)
            for (int i = 1; i < ob->n; i++) { /* stable insertion sort */
                int x = order[i], j = i - 1;
                while (j >= 0 && key_cmp_locale(ob->k[order[j]], ob->kl[order[j]], ob->k[x], ob->kl[x]) > 0) {
                    order[j + 1] = order[j];
                    j--;
                }
                order[j + 1] = x;
            }
        bputs(c, o, "{");
        for (int i = 0; i < ob->n; i++) {
            int k = order[i];
            if (i) bputs(c, o, isep);
            if (ind) bput(c, o, pad.p, pad.n);
            json_str(c, o, ob->k[k], ob->kl[k], opt->ascii);
            bputs(c, o, ksep);
            to_json(c, o, ob->v[k], opt, depth + 1, undef_null);
        }
        if (ind && ob->n) bput(c, o, pad.p, base);
        bputs(c, o, "}");
    }
    bdrop(&pad);
}

/* String.prototype.localeCompare approximated: case-insensitive first, then
 * lowercase before uppercase (the root collation order for ASCII keys). */
static int key_cmp_locale(const char *a, size_t al, const char *b, size_t bl) {
    size_t n = al < bl ? al : bl;
    for (size_t i = 0; i < n; i++) {
        int x = (unsigned char)a[i], y = (unsigned char)b[i];
        int lx = x >= 'A' && x <= 'Z' ? x + 32 : x, ly = y >= 'A' && y <= 'Z' ? y + 32 : y;
        if (lx != ly) return lx < ly ? -1 : 1;
    }
    if (al != bl) return al < bl ? -1 : 1;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return a[i] > b[i] ? -1 : 1;
    return 0;
}

/* RuntimeValue.toString(): what {{ }} prints */
static void to_str(Ctx *c, SBuf *o, const JV *v) {
    switch (v->t) {
    case J_UNDEF: bputs(c, o, "undefined"); return;
    case J_NULL: bputs(c, o, "null"); return;
    case J_BOOL: bputs(c, o, v->u.b ? "true" : "false"); return;
    case J_INT: js_num(c, o, v->u.num); return;
    case J_FLOAT: {
        double d = v->u.num;
        if (d == 0 && signbit(d)) bputs(c, o, "-0.0");
        else if (d == floor(d) && !isinf(d) && fabs(d) < 1e21) {
            js_num(c, o, d);
            bputs(c, o, ".0");
        } else js_num(c, o, d);
        return;
    }
    case J_STR: bput(c, o, v->u.s.s, v->u.s.n); return;
    case J_FUNC: bputs(c, o, "[function]"); return;
    default: {
        JsonOpt opt = {-1, 0, 0, NULL, NULL};
        to_json(c, o, v, &opt, 0, 0);
    }
    }
}

/* value.toString() of the underlying JavaScript value (used by + and ~) */
static void raw_str(Ctx *c, SBuf *o, const JV *v) {
    if (v->t == J_FLOAT) js_num(c, o, v->u.num);
    else if (v->t == J_ARR) { /* Array.prototype.toString over RuntimeValue.toString() */
        for (int i = 0; i < v->u.a->n; i++) {
            if (i) bputs(c, o, ",");
            to_str(c, o, v->u.a->v[i]);
        }
    } else if (is_container(v)) bputs(c, o, "[object Map]");
    else to_str(c, o, v);
}

static JV *sbuf_val(Ctx *c, SBuf *b) {
    JV *v = mkstr(c, b->p ? b->p : "", b->n);
    bdrop(b);
    return v;
}

/* ---- UTF-16 views of UTF-8 strings ---------------------------------------------------------- */

static size_t u16_len(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        int l;
        uint32_t cp = uni_decode((const uint8_t *)s + i, n - i, &l);
        k += cp >= 0x10000 ? 2 : 1;
        i += (size_t)l;
    }
    return k;
}

/* the UTF-16 unit at index idx as a string (a lone surrogate prints as U+FFFD) */
static JV *u16_at(Ctx *c, const char *s, size_t n, long idx) {
    long len = (long)u16_len(s, n);
    if (idx < 0) idx += len;
    if (idx < 0 || idx >= len) return &V_UNDEF;
    long k = 0;
    for (size_t i = 0; i < n;) {
        int l;
        uint32_t cp = uni_decode((const uint8_t *)s + i, n - i, &l);
        int w = cp >= 0x10000 ? 2 : 1;
        if (idx < k + w) return w == 2 ? mkstr(c, "\xEF\xBF\xBD", 3) : mkstr(c, s + i, (size_t)l);
        k += w;
        i += (size_t)l;
    }
    return &V_UNDEF;
}

/* ---- interpreter ---------------------------------------------------------------------------------- */

enum { CTL_NONE, CTL_BREAK, CTL_CONTINUE };

enum {
    F_NAMESPACE = 1, F_RAISE, F_RANGE, F_STRFTIME, F_MACRO,
    F_S_UPPER, F_S_LOWER, F_S_STRIP, F_S_TITLE, F_S_CAPITALIZE, F_S_RSTRIP, F_S_LSTRIP, F_S_STARTSWITH,
    F_S_ENDSWITH, F_S_SPLIT, F_S_REPLACE,
    F_O_GET, F_O_ITEMS, F_O_KEYS, F_O_VALUES, F_O_DICTSORT
};

static JV *eval(Ctx *c, Node *n, Env *e);
static int eval_block(Ctx *c, NodeList *l, Env *e, SBuf *out);

static JV *str_builtin(Ctx *c, JV *s, const char *name, size_t nl) {
    static const struct {
        const char *n;
        int id;
    } T[] = {{"upper", F_S_UPPER},       {"lower", F_S_LOWER},       {"strip", F_S_STRIP},
             {"title", F_S_TITLE},       {"capitalize", F_S_CAPITALIZE}, {"rstrip", F_S_RSTRIP},
             {"lstrip", F_S_LSTRIP},     {"startswith", F_S_STARTSWITH}, {"endswith", F_S_ENDSWITH},
             {"split", F_S_SPLIT},       {"replace", F_S_REPLACE}};
    if (nl == 6 && !memcmp(name, "length", 6)) return mknum(c, J_INT, (double)u16_len(s->u.s.s, s->u.s.n));
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (strlen(T[i].n) == nl && !memcmp(T[i].n, name, nl)) return mkfunc(c, T[i].id, s);
    return NULL;
}

static JV *obj_builtin(Ctx *c, JV *o, const char *name, size_t nl) {
    static const struct {
        const char *n;
        int id;
    } T[] = {{"get", F_O_GET}, {"items", F_O_ITEMS}, {"keys", F_O_KEYS}, {"values", F_O_VALUES},
             {"dictsort", F_O_DICTSORT}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (strlen(T[i].n) == nl && !memcmp(T[i].n, name, nl)) return mkfunc(c, T[i].id, o);
    return NULL;
}

static JV *ascii_case(Ctx *c, const JV *s, int upper) {
    char *p = jstrdup(c, s->u.s.s, s->u.s.n);
    for (size_t i = 0; i < s->u.s.n; i++) {
        if (upper && p[i] >= 'a' && p[i] <= 'z') p[i] = (char)(p[i] - 32);
        if (!upper && p[i] >= 'A' && p[i] <= 'Z') p[i] = (char)(p[i] + 32);
    }
    return mkstr_ref(c, p, s->u.s.n);
}

static JV *js_trim(Ctx *c, const JV *s, int start, int end) {
    const uint8_t *p = (const uint8_t *)s->u.s.s;
    size_t a = start ? uni_js_ws_prefix(p, s->u.s.n) : 0;
    size_t b = end ? uni_js_ws_suffix(p + a, s->u.s.n - a) : 0;
    return mkstr_ref(c, s->u.s.s + a, s->u.s.n - a - b);
}

static JV *title_case(Ctx *c, const JV *s) { /* /\b\w/g -> upper: ASCII word boundaries */
    char *p = jstrdup(c, s->u.s.s, s->u.s.n);
    for (size_t i = 0; i < s->u.s.n; i++)
        if (is_word(p[i]) && (i == 0 || !is_word(p[i - 1])) && p[i] >= 'a' && p[i] <= 'z') p[i] = (char)(p[i] - 32);
    return mkstr_ref(c, p, s->u.s.n);
}

static int starts_with(const JV *s, const char *p, size_t n) { return s->u.s.n >= n && !memcmp(s->u.s.s, p, n); }
static int ends_with(const JV *s, const char *p, size_t n) {
    return s->u.s.n >= n && !memcmp(s->u.s.s + s->u.s.n - n, p, n);
}

static const char *find_sub(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0) return h;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == nd[0] && !memcmp(h + i, nd, nn)) return h + i;
    return NULL;
}

static JV *kwarg(JV **args, int nargs, const char *name) {
    if (nargs && args[nargs - 1]->t == J_KW) return obj_get(args[nargs - 1], name, strlen(name));
    return NULL;
}
static int npos(JV **args, int nargs) { return nargs && args[nargs - 1]->t == J_KW ? nargs - 1 : nargs; }

static int js_loose_eq(const JV *a, const JV *b);
static int cmp_values(Ctx *c, const JV *a, const JV *b, int case_sensitive);

static JV *call_func(Ctx *c, JV *f, JV **args, int nargs, Env *e) {
    JV *self = f->u.f.self;
    int np = npos(args, nargs);
    switch (f->u.f.id) {
    case F_NAMESPACE: {
        JV *ns = mkobj(c, J_NS);
        if (np > 1) jfail(c, "namespace expected at most 1 argument, got %d", np);
        if (np == 1) {
            JV *src = args[0];
            if (is_objlike(src)) {
                for (int i = 0; i < src->u.o->n; i++) obj_set(c, ns, src->u.o->k[i], src->u.o->kl[i], src->u.o->v[i]);
            } else if (src->t == J_ARR) {
                for (int i = 0; i < src->u.a->n; i++) {
                    JV *pr = src->u.a->v[i];
                    if (pr->t != J_ARR || pr->u.a->n != 2 || pr->u.a->v[0]->t != J_STR)
                        jfail(c, "namespace expected an object or an iterable of [key, value] pairs");
                    obj_set(c, ns, pr->u.a->v[0]->u.s.s, pr->u.a->v[0]->u.s.n, pr->u.a->v[1]);
                }
            } else
                jfail(c, "'%s' object is not iterable", type_name(src));
        }
        if (nargs > np)
            for (int i = 0; i < args[np]->u.o->n; i++)
                obj_set(c, ns, args[np]->u.o->k[i], args[np]->u.o->kl[i], args[np]->u.o->v[i]);
        return ns;
    }
    case F_RAISE: {
        SBuf m = {0};
        if (nargs > 0) raw_str(c, &m, args[0]);
        snprintf(c->msg, sizeof c->msg, "%s", m.p ? m.p : "");
        bdrop(&m);
        longjmp(c->jb, 1);
    }
    case F_RANGE: {
        double st = 0, sp, step = 1;
        if (np < 1) jfail(c, "range expects at least 1 argument");
        for (int i = 0; i < np; i++)
            if (!is_num(args[i]) && args[i]->t != J_BOOL) jfail(c, "range expects numbers");
#define NUMV(x) ((x)->t == J_BOOL ? (double)(x)->u.b : (x)->u.num)
        if (np == 1) sp = NUMV(args[0]);
        else {
            st = NUMV(args[0]);
            sp = NUMV(args[1]);
            if (np > 2) step = NUMV(args[2]);
        }
#undef NUMV
        if (step == 0) jfail(c, "range() step must not be zero");
        int cnt = 0;
        /* counted with a limit: range(1e18) would loop for ages, and at 1e17 i += 1 stays put */
        for (double i = st; step > 0 ? i < sp : i > sp; i += step)
            if (++cnt > 1000000) jfail(c, "range too large");
        JV *a = mkarr(c, cnt);
        int k = 0;
        for (double i = st; step > 0 ? i < sp : i > sp; i += step) a->u.a->v[k++] = mknum(c, J_INT, i);
        return a;
    }
    case F_STRFTIME: {
        if (np < 1 || args[0]->t != J_STR) jfail(c, "strftime_now expects a format string");
        static const char *MS[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        static const char *ML[] = {"January", "February", "March",     "April",   "May",      "June",
                                   "July",    "August",   "September", "October", "November", "December"};
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        SBuf o = {0};
        const char *s = args[0]->u.s.s;
        size_t n = args[0]->u.s.n;
        char buf[32];
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '%' && i + 1 < n && strchr("YmdbBHM%", s[i + 1])) {
                char k = s[++i];
                if (k == 'Y') snprintf(buf, sizeof buf, "%d", tm.tm_year + 1900);
                else if (k == 'm') snprintf(buf, sizeof buf, "%02d", tm.tm_mon + 1);
                else if (k == 'd') snprintf(buf, sizeof buf, "%02d", tm.tm_mday);
                else if (k == 'b') snprintf(buf, sizeof buf, "%s", MS[tm.tm_mon]);
                else if (k == 'B') snprintf(buf, sizeof buf, "%s", ML[tm.tm_mon]);
                else if (k == 'H') snprintf(buf, sizeof buf, "%02d", tm.tm_hour);
                else if (k == 'M') snprintf(buf, sizeof buf, "%02d", tm.tm_min);
                else snprintf(buf, sizeof buf, "%%");
                bputs(c, &o, buf);
            } else
                bput(c, &o, s + i, 1);
        }
        return sbuf_val(c, &o);
    }
    case F_MACRO: {
        Node *m = f->u.f.macro;
        if (++c->depth > 4 * MAX_DEPTH) jfail(c, "Maximum call stack size exceeded");
        Env *me = env_new(c, e);
        int used_kw = 0;
        JV *kw = nargs > np ? args[np] : NULL;
        if (np > m->l1.n) jfail(c, "macro '%.*s' takes not more than %d argument(s)", (int)m->sn, m->s, m->l1.n);
        for (int i = 0; i < m->l1.n; i++) {
            Node *pn = m->l1.v[i];
            JV *v = i < np ? args[i] : NULL;
            if (!v && kw) {
                v = obj_get(kw, pn->s, pn->sn);
                if (v) used_kw++;
            }
            if (!v && pn->kind == N_KWARG) v = eval(c, pn->a, me);
            env_set(c, me, pn->s, pn->sn, v ? v : &V_UNDEF);
        }
        if (kw && used_kw < kw->u.o->n) jfail(c, "macro '%.*s' got an unexpected keyword argument", (int)m->sn, m->s);
        SBuf o = {0};
        eval_block(c, &m->l2, me, &o);
        c->depth--;
        return sbuf_val(c, &o);
    }
    case F_S_UPPER: return ascii_case(c, self, 1);
    case F_S_LOWER: return ascii_case(c, self, 0);
    case F_S_STRIP: return js_trim(c, self, 1, 1);
    case F_S_RSTRIP: return js_trim(c, self, 0, 1);
    case F_S_LSTRIP: return js_trim(c, self, 1, 0);
    case F_S_TITLE: return title_case(c, self);
    case F_S_CAPITALIZE: {
        JV *r = mkstr(c, self->u.s.s, self->u.s.n);
        char *p = (char *)r->u.s.s;
        if (r->u.s.n && p[0] >= 'a' && p[0] <= 'z') p[0] = (char)(p[0] - 32);
        return r;
    }
    case F_S_STARTSWITH:
    case F_S_ENDSWITH: {
        int sw = f->u.f.id == F_S_STARTSWITH;
        if (nargs == 0) jfail(c, "%s() requires at least one argument", sw ? "startswith" : "endswith");
        JV *pat = args[0];
        if (pat->t == J_STR)
            return mkbool(c, sw ? starts_with(self, pat->u.s.s, pat->u.s.n) : ends_with(self, pat->u.s.s, pat->u.s.n));
        if (pat->t == J_ARR) {
            for (int i = 0; i < pat->u.a->n; i++) {
                JV *it = pat->u.a->v[i];
                if (it->t != J_STR) jfail(c, "%s() tuple elements must be strings", sw ? "startswith" : "endswith");
                if (sw ? starts_with(self, it->u.s.s, it->u.s.n) : ends_with(self, it->u.s.s, it->u.s.n))
                    return mkbool(c, 1);
            }
            return mkbool(c, 0);
        }
        jfail(c, "%s() argument must be a string or tuple of strings", sw ? "startswith" : "endswith");
    }
    case F_S_SPLIT: {
        JV *sep = nargs > 0 ? args[0] : &V_NULL;
        if (sep->t != J_STR && sep->t != J_NULL) jfail(c, "sep argument must be a string or null");
        JV *ms = nargs > 1 ? args[1] : NULL;
        if (ms && ms->t != J_INT) jfail(c, "maxsplit argument must be a number");
        long maxsplit = ms ? num_long(ms->u.num) : -1;
        int cap = 16, np2 = 0;
        JV **pv = jalloc(c, (size_t)cap * sizeof *pv);
        const char *s = self->u.s.s;
        size_t n = self->u.s.n;
#define PUSHP(v)                                                                     \
    do {                                                                             \
        if (np2 == cap) {                                                            \
            JV **nv = jalloc(c, (size_t)cap * 2 * sizeof *nv);                        \
            memcpy(nv, pv, (size_t)cap * sizeof *nv);                                 \
            pv = nv;                                                                 \
            cap *= 2;                                                                \
        }                                                                            \
        pv[np2++] = (v);                                                             \
    } while (0)
        if (sep->t == J_NULL) {
            size_t i = uni_js_ws_prefix((const uint8_t *)s, n);
            while (i < n) {
                size_t st = i;
                int l;
                while (i < n && !js_ws_at(s, n, i, &l)) {
                    uni_decode((const uint8_t *)s + i, n - i, &l);
                    i += (size_t)l;
                }
                if (maxsplit != -1 && np2 >= maxsplit) {
                    PUSHP(mkstr_ref(c, s + st, n - st));
                    break;
                }
                PUSHP(mkstr_ref(c, s + st, i - st));
                while (i < n && js_ws_at(s, n, i, &l)) i += (size_t)l;
            }
        } else {
            if (sep->u.s.n == 0) jfail(c, "empty separator");
            size_t i = 0;
            for (;;) {
                const char *h = find_sub(s + i, n - i, sep->u.s.s, sep->u.s.n);
                if (!h) {
                    PUSHP(mkstr_ref(c, s + i, n - i));
                    break;
                }
                PUSHP(mkstr_ref(c, s + i, (size_t)(h - (s + i))));
                i = (size_t)(h - s) + sep->u.s.n;
            }
            if (maxsplit != -1 && np2 > maxsplit) { /* rejoin the tail */
                /* result.splice(maxsplit): a negative start counts from the end */
                int from = maxsplit >= 0 ? (int)maxsplit : np2 + maxsplit > 0 ? (int)(np2 + maxsplit) : 0;
                SBuf t = {0};
                for (int k = from; k < np2; k++) {
                    if (k > from) bput(c, &t, sep->u.s.s, sep->u.s.n);
                    bput(c, &t, pv[k]->u.s.s, pv[k]->u.s.n);
                }
                np2 = from;
                PUSHP(sbuf_val(c, &t));
            }
        }
#undef PUSHP
        JV *a = mkarr(c, np2);
        memcpy(a->u.a->v, pv, (size_t)np2 * sizeof *pv);
        return a;
    }
    case F_S_REPLACE: {
        if (np < 2) jfail(c, "replace() requires at least two arguments");
        JV *ov = args[0], *nv = args[1];
        if (ov->t != J_STR || nv->t != J_STR) jfail(c, "replace() arguments must be strings");
        JV *cnt = np > 2 ? args[2] : kwarg(args, nargs, "count");
        if (cnt && cnt->t != J_INT && cnt->t != J_NULL) jfail(c, "replace() count argument must be a number or null");
        double count = cnt && cnt->t == J_INT ? cnt->u.num : -1;
        if (count == 0) return self;
        double remaining = count < 0 ? 1e300 : count;
        SBuf o = {0};
        const char *s = self->u.s.s;
        size_t n = self->u.s.n, i = 0;
        if (ov->u.s.n == 0) { /* /(?=)/gu: before every code point and at the end */
            while (i <= n) {
                if (remaining > 0) {
                    bput(c, &o, nv->u.s.s, nv->u.s.n);
                    remaining--;
                }
                if (i == n) break;
                int l;
                uni_decode((const uint8_t *)s + i, n - i, &l);
                bput(c, &o, s + i, (size_t)l);
                i += (size_t)l;
            }
        } else {
            while (i < n) {
                const char *h = remaining > 0 ? find_sub(s + i, n - i, ov->u.s.s, ov->u.s.n) : NULL;
                if (!h) {
                    bput(c, &o, s + i, n - i);
                    break;
                }
                bput(c, &o, s + i, (size_t)(h - (s + i)));
                bput(c, &o, nv->u.s.s, nv->u.s.n);
                remaining--;
                i = (size_t)(h - s) + ov->u.s.n;
            }
        }
        return sbuf_val(c, &o);
    }
    case F_O_GET: {
        if (nargs < 1 || args[0]->t != J_STR)
            jfail(c, "Object key must be a string: got %s", nargs ? type_name(args[0]) : "UndefinedValue");
        JV *v = obj_get(self, args[0]->u.s.s, args[0]->u.s.n);
        return v ? v : nargs > 1 ? args[1] : &V_NULL;
    }
    case F_O_ITEMS:
    case F_O_KEYS:
    case F_O_VALUES: {
        JV *a = mkarr(c, self->u.o->n);
        for (int i = 0; i < self->u.o->n; i++) {
            JV *k = mkstr_ref(c, self->u.o->k[i], self->u.o->kl[i]);
            if (f->u.f.id == F_O_KEYS) a->u.a->v[i] = k;
            else if (f->u.f.id == F_O_VALUES) a->u.a->v[i] = self->u.o->v[i];
            else {
                JV *pr = mkarr(c, 2);
                pr->u.a->v[0] = k;
                pr->u.a->v[1] = self->u.o->v[i];
                a->u.a->v[i] = pr;
            }
        }
        return a;
    }
    case F_O_DICTSORT: {
        JV *cs = np > 0 ? args[0] : kwarg(args, nargs, "case_sensitive");
        JV *by = np > 1 ? args[1] : kwarg(args, nargs, "by");
        JV *rev = np > 2 ? args[2] : kwarg(args, nargs, "reverse");
        if (cs && cs->t != J_BOOL) jfail(c, "case_sensitive must be a boolean");
        if (by && (by->t != J_STR || (strcmp(by->u.s.s, "key") && strcmp(by->u.s.s, "value"))))
            jfail(c, "by must be either 'key' or 'value'");
        if (rev && rev->t != J_BOOL) jfail(c, "reverse must be a boolean");
        int idx = by && !strcmp(by->u.s.s, "value") ? 1 : 0;
        JV *items = mkarr(c, self->u.o->n);
        for (int i = 0; i < self->u.o->n; i++) {
            JV *pr = mkarr(c, 2);
            pr->u.a->v[0] = mkstr_ref(c, self->u.o->k[i], self->u.o->kl[i]);
            pr->u.a->v[1] = self->u.o->v[i];
            items->u.a->v[i] = pr;
        }
        JV **v = items->u.a->v;
        for (int i = 1; i < items->u.a->n; i++) {
            JV *x = v[i];
            int j = i - 1;
            while (j >= 0) {
                int r = cmp_values(c, v[j]->u.a->v[idx], x->u.a->v[idx], cs && cs->u.b);
                if (rev && rev->u.b) r = -r;
                if (r <= 0) break;
                v[j + 1] = v[j];
                j--;
            }
            v[j + 1] = x;
        }
        return items;
    }
    }
    jfail(c, "Cannot call something that is not a function");
}

static void eval_args(Ctx *c, NodeList *l, Env *e, JV ***out, int *nout) {
    int cap = l->n + 1, n = 0;
    JV **a = jalloc(c, (size_t)cap * sizeof *a);
    JV *kw = NULL;
    for (int i = 0; i < l->n; i++) {
        Node *x = l->v[i];
        if (x->kind == N_SPREAD) {
            JV *v = eval(c, x->a, e);
            if (v->t != J_ARR) jfail(c, "Cannot unpack non-iterable type: %s", type_name(v));
            JV **na = jalloc(c, (size_t)(cap + v->u.a->n) * sizeof *na);
            memcpy(na, a, (size_t)n * sizeof *na);
            a = na;
            cap += v->u.a->n;
            for (int k = 0; k < v->u.a->n; k++) a[n++] = v->u.a->v[k];
        } else if (x->kind != N_KWARG && x->kind != N_KWSPREAD)
            a[n++] = eval(c, x, e);
    }
    for (int i = 0; i < l->n; i++) {
        Node *x = l->v[i];
        if (x->kind == N_KWARG) {
            if (!kw) kw = mkobj(c, J_KW);
            if (obj_get(kw, x->s, x->sn)) jfail(c, "Got multiple values for keyword argument '%.*s'", (int)x->sn, x->s);
            obj_set(c, kw, x->s, x->sn, eval(c, x->a, e));
        } else if (x->kind == N_KWSPREAD) {
            JV *v = eval(c, x->a, e);
            if (v->t != J_OBJ) jfail(c, "Argument after ** must be a mapping, not %s", type_name(v));
            if (!kw) kw = mkobj(c, J_KW);
            for (int k = 0; k < v->u.o->n; k++) {
                if (obj_get(kw, v->u.o->k[k], v->u.o->kl[k]))
                    jfail(c, "Got multiple values for keyword argument '%s'", v->u.o->k[k]);
                obj_set(c, kw, v->u.o->k[k], v->u.o->kl[k], v->u.o->v[k]);
            }
        }
    }
    if (kw) a[n++] = kw;
    *out = a;
    *nout = n;
}

/* JavaScript == on the underlying values */
static double js_to_number(const JV *v) {
    if (v->t == J_BOOL) return v->u.b;
    if (is_num(v)) return v->u.num;
    if (v->t == J_STR) {
        size_t a = uni_js_ws_prefix((const uint8_t *)v->u.s.s, v->u.s.n);
        size_t b = uni_js_ws_suffix((const uint8_t *)v->u.s.s + a, v->u.s.n - a);
        size_t n = v->u.s.n - a - b;
        if (n == 0) return 0;
        char buf[128];
        if (n >= sizeof buf) return NAN;
        memcpy(buf, v->u.s.s + a, n);
        buf[n] = 0;
        char *end;
        double d = strtod(buf, &end);
        if (*end || !strcmp(buf, "inf") || !strcmp(buf, "nan")) return NAN;
        return d;
    }
    return NAN;
}

static int js_loose_eq(const JV *a, const JV *b) {
    int an = a->t == J_UNDEF || a->t == J_NULL, bn = b->t == J_UNDEF || b->t == J_NULL;
    if (an || bn) return an && bn;
    if (a->t == J_STR && b->t == J_STR) return a->u.s.n == b->u.s.n && !memcmp(a->u.s.s, b->u.s.s, a->u.s.n);
    int ap = a->t == J_BOOL || is_num(a) || a->t == J_STR, bp = b->t == J_BOOL || is_num(b) || b->t == J_STR;
    if (ap && bp) return js_to_number(a) == js_to_number(b);
    if (ap != bp) return 0;
    if (a->t == J_ARR && b->t == J_ARR) return a->u.a == b->u.a;
    if (is_container(a) && is_container(b)) return a->u.o == b->u.o;
    return a == b;
}

/* Array.includes-style strict equality on the underlying values */
static int js_strict_eq(const JV *a, const JV *b) {
    if (is_num(a) && is_num(b)) return a->u.num == b->u.num;
    if (a->t != b->t) return (a->t == J_OBJ || a->t == J_KW) && (b->t == J_OBJ || b->t == J_KW) && a->u.o == b->u.o;
    switch (a->t) {
    case J_UNDEF:
    case J_NULL: return 1;
    case J_BOOL: return a->u.b == b->u.b;
    case J_STR: return a->u.s.n == b->u.s.n && !memcmp(a->u.s.s, b->u.s.s, a->u.s.n);
    case J_ARR: return a->u.a == b->u.a;
    case J_FUNC: return a == b;
    default: return a->u.o == b->u.o;
    }
}

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn) {
    /* JavaScript compares UTF-16 units; UTF-8 byte order equals code point
     * order, which differs only between astral and U+E000..U+FFFF */
    size_t n = an < bn ? an : bn;
    int r = memcmp(a, b, n);
    if (r) return r < 0 ? -1 : 1;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

static int cmp_values(Ctx *c, const JV *a, const JV *b, int case_sensitive) {
    if (a->t == J_NULL && b->t == J_NULL) return 0;
    if (a->t == J_NULL || b->t == J_NULL) jfail(c, "Cannot compare %s with %s", type_name(a), type_name(b));
    if (a->t == J_UNDEF && b->t == J_UNDEF) return 0;
    if (a->t == J_UNDEF || b->t == J_UNDEF) jfail(c, "Cannot compare %s with %s", type_name(a), type_name(b));
    int an = is_num(a) || a->t == J_BOOL, bn = is_num(b) || b->t == J_BOOL;
    if (an && bn) {
        double x = a->t == J_BOOL ? a->u.b : a->u.num, y = b->t == J_BOOL ? b->u.b : b->u.num;
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a->t != b->t) jfail(c, "Cannot compare different types: %s and %s", type_name(a), type_name(b));
    if (a->t == J_STR) {
        if (case_sensitive) return bytes_cmp(a->u.s.s, a->u.s.n, b->u.s.s, b->u.s.n);
        JV *x = ascii_case(c, a, 0), *y = ascii_case(c, b, 0);
        return bytes_cmp(x->u.s.s, x->u.s.n, y->u.s.s, y->u.s.n);
    }
    jfail(c, "Cannot compare type: %s", type_name(a));
}

static JV *eval_binary(Ctx *c, Node *n, Env *e) {
    JV *l = eval(c, n->a, e);
    const char *op = n->s;
    size_t on = n->sn;
#define OP(x) (on == strlen(x) && !memcmp(op, x, on))
    if (OP("and")) return truthy(l) ? eval(c, n->b, e) : l;
    if (OP("or")) return truthy(l) ? l : eval(c, n->b, e);
    JV *r = eval(c, n->b, e);
    if (OP("==")) return mkbool(c, js_loose_eq(l, r));
    if (OP("!=")) return mkbool(c, !js_loose_eq(l, r));
    if (l->t == J_UNDEF || r->t == J_UNDEF) {
        if (r->t == J_UNDEF && (OP("in") || OP("not in"))) return mkbool(c, OP("not in"));
        jfail(c, "Cannot perform operation %.*s on undefined values", (int)on, op);
    }
    if (l->t == J_NULL || r->t == J_NULL) jfail(c, "Cannot perform operation on null values");
    if (OP("~")) {
        SBuf o = {0};
        raw_str(c, &o, l);
        raw_str(c, &o, r);
        return sbuf_val(c, &o);
    }
    int ln = is_num(l) || l->t == J_BOOL, rn = is_num(r) || r->t == J_BOOL;
    if (OP("**") && ln && rn) {
        double a = l->t == J_BOOL ? l->u.b : l->u.num, b = r->t == J_BOOL ? r->u.b : r->u.num;
        if (a == 0 && b < 0) jfail(c, "0.0 cannot be raised to a negative power");
        double res = pow(a, b);
        if (!isfinite(res)) jfail(c, "Exponentiation result is not a finite real number");
        return mknum(c, l->t == J_FLOAT || r->t == J_FLOAT || b < 0 ? J_FLOAT : J_INT, res);
    }
    if (is_num(l) && is_num(r)) {
        double a = l->u.num, b = r->u.num;
        int fl = l->t == J_FLOAT || r->t == J_FLOAT;
        if (OP("+")) return mknum(c, fl ? J_FLOAT : J_INT, a + b);
        if (OP("-")) return mknum(c, fl ? J_FLOAT : J_INT, a - b);
        if (OP("*")) return mknum(c, fl ? J_FLOAT : J_INT, a * b);
        if (OP("/")) return mknum(c, J_FLOAT, a / b);
        if (OP("//")) return mknum(c, fl ? J_FLOAT : J_INT, floor(a / b));
        if (OP("%")) return mknum(c, fl ? J_FLOAT : J_INT, fmod(a, b));
        if (OP("<")) return mkbool(c, a < b);
        if (OP(">")) return mkbool(c, a > b);
        if (OP(">=")) return mkbool(c, a >= b);
        if (OP("<=")) return mkbool(c, a <= b);
    } else if (l->t == J_ARR && r->t == J_ARR) {
        if (OP("+")) {
            JV *a = mkarr(c, l->u.a->n + r->u.a->n);
            memcpy(a->u.a->v, l->u.a->v, (size_t)l->u.a->n * sizeof(JV *));
            memcpy(a->u.a->v + l->u.a->n, r->u.a->v, (size_t)r->u.a->n * sizeof(JV *));
            return a;
        }
    } else if (r->t == J_ARR) {
        if (OP("in") || OP("not in")) {
            int mem = 0;
            for (int i = 0; i < r->u.a->n && !mem; i++) mem = js_strict_eq(r->u.a->v[i], l);
            return mkbool(c, OP("in") ? mem : !mem);
        }
    }
    if ((l->t == J_STR || r->t == J_STR) && OP("+")) {
        SBuf o = {0};
        raw_str(c, &o, l);
        raw_str(c, &o, r);
        return sbuf_val(c, &o);
    }
    if (l->t == J_STR && r->t == J_STR && (OP("in") || OP("not in"))) {
        int has = find_sub(r->u.s.s, r->u.s.n, l->u.s.s, l->u.s.n) != NULL;
        return mkbool(c, OP("in") ? has : !has);
    }
    if (l->t == J_STR && is_objlike(r) && (OP("in") || OP("not in"))) {
        int has = obj_get(r, l->u.s.s, l->u.s.n) != NULL;
        return mkbool(c, OP("in") ? has : !has);
    }
    jfail(c, "Unknown operator \"%.*s\" between %s and %s", (int)on, op, type_name(l), type_name(r));
#undef OP
}

static JV *slice_of(Ctx *c, JV *obj, Node *sl, Env *e) {
    if (obj->t != J_ARR && obj->t != J_STR) jfail(c, "Slice object must be an array or string");
    JV *sv[3] = {sl->a ? eval(c, sl->a, e) : &V_UNDEF, sl->b ? eval(c, sl->b, e) : &V_UNDEF,
                 sl->c ? eval(c, sl->c, e) : &V_UNDEF};
    for (int i = 0; i < 3; i++)
        if (sv[i]->t != J_INT && sv[i]->t != J_UNDEF) jfail(c, "Slice arguments must be integers or undefined");
    /* strings slice by code point (Array.from) */
    int n;
    JV **items;
    if (obj->t == J_ARR) {
        n = obj->u.a->n;
        items = obj->u.a->v;
    } else {
        n = 0;
        items = jalloc(c, (obj->u.s.n + 1) * sizeof *items);
        for (size_t i = 0; i < obj->u.s.n;) {
            int l;
            uni_decode((const uint8_t *)obj->u.s.s + i, obj->u.s.n - i, &l);
            items[n++] = mkstr_ref(c, obj->u.s.s + i, (size_t)l);
            i += (size_t)l;
        }
    }
    long step = sv[2]->t == J_INT ? num_long(sv[2]->u.num) : 1;
    if (step == 0) jfail(c, "slice step cannot be zero");
    long st, sp;
    if (step > 0) {
        st = sv[0]->t == J_INT ? num_long(sv[0]->u.num) : 0;
        sp = sv[1]->t == J_INT ? num_long(sv[1]->u.num) : n;
        st = st < 0 ? (n + st > 0 ? n + st : 0) : (st < n ? st : n);
        sp = sp < 0 ? (n + sp > 0 ? n + sp : 0) : (sp < n ? sp : n);
    } else {
        st = sv[0]->t == J_INT ? num_long(sv[0]->u.num) : n - 1;
        sp = sv[1]->t == J_INT ? num_long(sv[1]->u.num) : -1;
        st = st < 0 ? (n + st > -1 ? n + st : -1) : (st < n - 1 ? st : n - 1);
        sp = sp < -1 ? (n + sp > -1 ? n + sp : -1) : (sp < n - 1 ? sp : n - 1);
    }
    int cnt = 0;
    for (long i = st; step > 0 ? i < sp : i > sp; i += step) cnt++;
    JV *a = mkarr(c, cnt);
    int k = 0;
    for (long i = st; step > 0 ? i < sp : i > sp; i += step) a->u.a->v[k++] = items[i];
    if (obj->t == J_ARR) return a;
    SBuf o = {0};
    for (int i = 0; i < cnt; i++) bput(c, &o, a->u.a->v[i]->u.s.s, a->u.a->v[i]->u.s.n);
    return sbuf_val(c, &o);
}

static JV *eval_member(Ctx *c, Node *n, Env *e) {
    JV *obj = eval(c, n->a, e);
    JV *prop;
    if (n->flag) {
        if (n->b->kind == N_SLICE) return slice_of(c, obj, n->b, e);
        prop = eval(c, n->b, e);
    } else if (n->b->kind == N_INT)
        prop = mknum(c, J_INT, n->b->num);
    else
        prop = mkstr_ref(c, n->b->s, n->b->sn);
    JV *v = NULL;
    if (is_container(obj)) {
        if (prop->t != J_STR) jfail(c, "Cannot access property with non-string: got %s", type_name(prop));
        v = obj_get(obj, prop->u.s.s, prop->u.s.n);
        if (!v && obj->t != J_NS) v = obj_builtin(c, obj, prop->u.s.s, prop->u.s.n);
    } else if (obj->t == J_ARR || obj->t == J_STR) {
        if (prop->t == J_INT) {
            long i = num_long(prop->u.num);
            if (obj->t == J_STR) return u16_at(c, obj->u.s.s, obj->u.s.n, i);
            if (i < 0) i += obj->u.a->n;
            v = i >= 0 && i < obj->u.a->n ? obj->u.a->v[i] : NULL;
        } else if (prop->t == J_STR) {
            if (obj->t == J_STR) v = str_builtin(c, obj, prop->u.s.s, prop->u.s.n);
            else if (prop->u.s.n == 6 && !memcmp(prop->u.s.s, "length", 6)) v = mknum(c, J_INT, obj->u.a->n);
        } else
            jfail(c, "Cannot access property with non-string/non-number: got %s", type_name(prop));
    } else {
        if (prop->t != J_STR) jfail(c, "Cannot access property with non-string: got %s", type_name(prop));
    }
    return v ? v : &V_UNDEF;
}

static int test_value(Ctx *c, const char *name, size_t nl, JV *v) {
#define IS(x) (nl == strlen(x) && !memcmp(name, x, nl))
    if (IS("boolean")) return v->t == J_BOOL;
    if (IS("callable")) return v->t == J_FUNC;
    if (IS("odd") || IS("even")) {
        if (v->t != J_INT) jfail(c, "cannot %.*s on %s", (int)nl, name, type_name(v));
        double r = fmod(v->u.num, 2); /* JavaScript's %, also past 2^63 */
        return IS("odd") ? r != 0 : r == 0;
    }
    if (IS("false")) return v->t == J_BOOL && !v->u.b;
    if (IS("true")) return v->t == J_BOOL && v->u.b;
    if (IS("none")) return v->t == J_NULL;
    if (IS("string")) return v->t == J_STR;
    if (IS("number")) return is_num(v);
    if (IS("integer")) return v->t == J_INT;
    if (IS("iterable")) return v->t == J_ARR || v->t == J_STR;
    if (IS("mapping")) return is_objlike(v);
    if (IS("sequence")) return v->t == J_ARR || is_objlike(v) || v->t == J_STR;
    if (IS("lower") || IS("upper")) {
        if (v->t != J_STR) return 0;
        JV *x = ascii_case(c, v, IS("upper"));
        return !memcmp(x->u.s.s, v->u.s.s, v->u.s.n);
    }
    if (IS("defined")) return v->t != J_UNDEF;
    if (IS("undefined")) return v->t == J_UNDEF;
    if (IS("equalto") || IS("eq")) return v->t == J_UNDEF; /* called without an argument */
    jfail(c, "Unknown test: %.*s", (int)nl, name);
#undef IS
}

static JV *filter_value(Ctx *c, JV *v, Node *f, Env *e);

static JV *eval_node(Ctx *c, Node *n, Env *e);
static JV *eval(Ctx *c, Node *n, Env *e) {
    if (++c->depth > 4 * MAX_DEPTH) jfail(c, "Maximum call stack size exceeded");
    JV *v = eval_node(c, n, e);
    c->depth--;
    return v;
}

static JV *eval_node(Ctx *c, Node *n, Env *e) {
    switch (n->kind) {
    case N_STR: return mkstr_ref(c, n->s, n->sn);
    case N_INT: return mknum(c, J_INT, n->num);
    case N_FLOAT: return mknum(c, J_FLOAT, n->num);
    case N_IDENT: return env_get(e, n->s, n->sn);
    case N_COMMENT: return &V_NULL;
    case N_ARRAY:
    case N_TUPLE: {
        JV *a = mkarr(c, n->l1.n);
        for (int i = 0; i < n->l1.n; i++) a->u.a->v[i] = eval(c, n->l1.v[i], e);
        a->tuple = n->kind == N_TUPLE;
        return a;
    }
    case N_OBJECT: {
        JV *o = mkobj(c, J_OBJ);
        for (int i = 0; i < n->l1.n; i++) {
            JV *k = eval(c, n->l1.v[i], e);
            if (k->t != J_STR) jfail(c, "Object keys must be strings: got %s", type_name(k));
            obj_set(c, o, k->u.s.s, k->u.s.n, eval(c, n->l2.v[i], e));
        }
        return o;
    }
    case N_MEMBER: return eval_member(c, n, e);
    case N_CALL: {
        JV **args;
        int na;
        eval_args(c, &n->l1, e, &args, &na);
        JV *fn = eval(c, n->a, e);
        if (fn->t != J_FUNC) jfail(c, "Cannot call something that is not a function: got %s", type_name(fn));
        return call_func(c, fn, args, na, fn->u.f.closure ? fn->u.f.closure : e);
    }
    case N_BINARY: return eval_binary(c, n, e);
    case N_UNARY: {
        JV *a = eval(c, n->a, e);
        if (n->sn == 3) return mkbool(c, !truthy(a));
        int neg = n->s[0] == '-';
        if (is_num(a) || a->t == J_BOOL) {
            double x = a->t == J_BOOL ? a->u.b : a->u.num;
            return mknum(c, a->t == J_FLOAT ? J_FLOAT : J_INT, neg ? -x : x);
        }
        jfail(c, "Unknown operator \"%c\" for %s", n->s[0], type_name(a));
    }
    case N_FILTER: return filter_value(c, eval(c, n->a, e), n->b, e);
    case N_TEST: {
        JV *v = eval(c, n->a, e);
        int r = test_value(c, n->s, n->sn, v);
        return mkbool(c, n->flag ? !r : r);
    }
    case N_TERNARY: return truthy(eval(c, n->a, e)) ? eval(c, n->b, e) : eval(c, n->c, e);
    case N_SELECT: return truthy(eval(c, n->b, e)) ? eval(c, n->a, e) : &V_UNDEF;
    default: jfail(c, "Unknown node type in expression");
    }
}

/* ---- filters ----------------------------------------------------------------------------------------- */

static JV *num_from_js_parse(Ctx *c, const JV *s, int isint, JV *dflt) {
    /* parseInt(s, 10) / parseFloat(s) */
    const char *p = s->u.s.s;
    size_t n = s->u.s.n, i = uni_js_ws_prefix((const uint8_t *)p, n);
    char buf[128];
    size_t k = 0;
    if (i < n && (p[i] == '+' || p[i] == '-')) buf[k++] = p[i++];
    size_t digits = 0;
    while (i < n && k < 100 && is_digit(p[i])) { buf[k++] = p[i++]; digits++; }
    if (!isint && i < n && p[i] == '.') {
        buf[k++] = p[i++];
        while (i < n && k < 100 && is_digit(p[i])) { buf[k++] = p[i++]; digits++; }
        if (digits && i < n && (p[i] == 'e' || p[i] == 'E')) {
            size_t save = k, si = i;
            buf[k++] = p[i++];
            if (i < n && (p[i] == '+' || p[i] == '-')) buf[k++] = p[i++];
            size_t ed = 0;
            while (i < n && k < 120 && is_digit(p[i])) { buf[k++] = p[i++]; ed++; }
            if (!ed) { k = save; i = si; }
        }
    } else if (!isint && digits && i < n && (p[i] == 'e' || p[i] == 'E')) {
        size_t save = k;
        buf[k++] = p[i++];
        if (i < n && (p[i] == '+' || p[i] == '-')) buf[k++] = p[i++];
        size_t ed = 0;
        while (i < n && k < 120 && is_digit(p[i])) { buf[k++] = p[i++]; ed++; }
        if (!ed) k = save;
    }
    buf[k] = 0;
    if (!digits) {
        if (!isint && k < 1 && n - i >= 8 && !strncmp(p + i, "Infinity", 8)) return mknum(c, J_FLOAT, INFINITY);
        return dflt;
    }
    double d = strtod(buf, NULL);
    return mknum(c, isint ? J_INT : J_FLOAT, isint ? trunc(d) : d);
}

static JV *apply_sort(Ctx *c, JV *arr, int reverse, int cs, JV *attr) {
    int n = arr->u.a->n;
    JV *out = mkarr(c, n);
    memcpy(out->u.a->v, arr->u.a->v, (size_t)n * sizeof(JV *));
    JV **v = out->u.a->v;
    JV **keys = jalloc(c, (size_t)(n + 1) * sizeof *keys);
    for (int i = 0; i < n; i++) {
        JV *k = v[i];
        if (attr && attr->t != J_NULL) {
            SBuf path = {0};
            if (attr->t == J_INT) js_num(c, &path, attr->u.num);
            else bput(c, &path, attr->u.s.s, attr->u.s.n);
            char *ps = jstrdup(c, path.p ? path.p : "", path.n);
            bdrop(&path);
            for (char *part = ps, *next; part; part = next) {
                next = strchr(part, '.');
                if (next) *next++ = 0;
                if (is_container(k)) {
                    JV *x = obj_get(k, part, strlen(part));
                    k = x ? x : &V_UNDEF;
                } else if (k->t == J_ARR) {
                    char *end;
                    long idx = strtol(part, &end, 10);
                    k = end != part && idx >= 0 && idx < k->u.a->n ? k->u.a->v[idx] : &V_UNDEF;
                } else k = &V_UNDEF;
            }
        }
        keys[i] = k;
    }
    int *ord = jalloc(c, (size_t)(n + 1) * sizeof *ord);
    for (int i = 0; i < n; i++) ord[i] = i;
    for (int i = 1; i < n; i++) {
        int x = ord[i], j = i - 1;
        while (j >= 0) {
            int r = cmp_values(c, keys[ord[j]], keys[x], cs);
            if (reverse) r = -r;
            if (r <= 0) break;
            ord[j + 1] = ord[j];
            j--;
        }
        ord[j + 1] = x;
    }
    JV *res = mkarr(c, n);
    for (int i = 0; i < n; i++) res->u.a->v[i] = arr->u.a->v[ord[i]];
    return res;
}

static JV *indent_str(Ctx *c, JV *s, int width, int first, int blank) {
    SBuf o = {0};
    const char *p = s->u.s.s;
    size_t n = s->u.s.n, st = 0;
    int line = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '\n') continue;
        size_t len = i - st;
        if (line) bputs(c, &o, "\n");
        if (!((!first && line == 0) || (!blank && len == 0)))
            if (width > 0) bspaces(c, &o, (size_t)width);
        bput(c, &o, p + st, len);
        st = i + 1;
        line++;
    }
    return sbuf_val(c, &o);
}

static JV *filter_value(Ctx *c, JV *v, Node *f, Env *e) {
    if (f->kind == N_IDENT) {
        const char *name = f->s;
        size_t nl = f->sn;
#define IS(x) (nl == strlen(x) && !memcmp(name, x, nl))
        if (IS("safe")) return v;
        if (IS("tojson")) {
            SBuf o = {0};
            JsonOpt opt = {-1, 0, 0, NULL, NULL};
            to_json(c, &o, v, &opt, 0, 1);
            return sbuf_val(c, &o);
        }
        if (v->t == J_ARR) {
            JArr *a = v->u.a;
            if (IS("list")) return v;
            if (IS("first")) return a->n ? a->v[0] : &V_UNDEF;
            if (IS("last")) return a->n ? a->v[a->n - 1] : &V_UNDEF;
            if (IS("length")) return mknum(c, J_INT, a->n);
            if (IS("reverse")) {
                JV *r = mkarr(c, a->n);
                for (int i = 0; i < a->n; i++) r->u.a->v[i] = a->v[a->n - 1 - i];
                return r;
            }
            if (IS("sort")) return apply_sort(c, v, 0, 0, NULL);
            if (IS("join")) {
                SBuf o = {0};
                for (int i = 0; i < a->n; i++)
                    if (a->v[i]->t != J_NULL && a->v[i]->t != J_UNDEF) raw_str(c, &o, a->v[i]);
                return sbuf_val(c, &o);
            }
            if (IS("string")) {
                SBuf o = {0};
                JsonOpt opt = {-1, 0, 0, NULL, NULL};
                to_json(c, &o, v, &opt, 0, 0);
                return sbuf_val(c, &o);
            }
            if (IS("unique")) {
                JV *r = mkarr(c, a->n);
                int k = 0;
                for (int i = 0; i < a->n; i++) {
                    int seen = 0;
                    for (int j = 0; j < k && !seen; j++) seen = js_strict_eq(r->u.a->v[j], a->v[i]);
                    if (!seen) r->u.a->v[k++] = a->v[i];
                }
                r->u.a->n = k;
                return r;
            }
            jfail(c, "Unknown ArrayValue filter: %.*s", (int)nl, name);
        } else if (v->t == J_STR) {
            if (IS("length")) return mknum(c, J_INT, (double)u16_len(v->u.s.s, v->u.s.n));
            if (IS("upper")) return ascii_case(c, v, 1);
            if (IS("lower")) return ascii_case(c, v, 0);
            if (IS("title")) return title_case(c, v);
            if (IS("capitalize")) {
                JV *r = mkstr(c, v->u.s.s, v->u.s.n);
                char *p = (char *)r->u.s.s;
                if (r->u.s.n && p[0] >= 'a' && p[0] <= 'z') p[0] = (char)(p[0] - 32);
                return r;
            }
            if (IS("trim")) return js_trim(c, v, 1, 1);
            if (IS("indent")) return indent_str(c, v, 4, 0, 0);
            if (IS("join") || IS("string")) return v;
            if (IS("int")) return num_from_js_parse(c, v, 1, mknum(c, J_INT, 0));
            if (IS("float")) return num_from_js_parse(c, v, 0, mknum(c, J_FLOAT, 0));
            jfail(c, "Unknown StringValue filter: %.*s", (int)nl, name);
        } else if (is_num(v)) {
            if (IS("abs")) return mknum(c, v->t, fabs(v->u.num));
            if (IS("int")) return mknum(c, J_INT, floor(v->u.num));
            if (IS("float")) return mknum(c, J_FLOAT, v->u.num);
            if (IS("string")) {
                SBuf o = {0};
                to_str(c, &o, v);
                return sbuf_val(c, &o);
            }
            jfail(c, "Unknown NumericValue filter: %.*s", (int)nl, name);
        } else if (is_objlike(v)) {
            if (IS("items")) return call_func(c, mkfunc(c, F_O_ITEMS, v), NULL, 0, e);
            if (IS("length")) return mknum(c, J_INT, v->u.o->n);
            JV *b = obj_builtin(c, v, name, nl);
            if (b) return call_func(c, b, NULL, 0, e);
            jfail(c, "Unknown ObjectValue filter: %.*s", (int)nl, name);
        } else if (v->t == J_BOOL) {
            if (IS("bool")) return mkbool(c, v->u.b);
            if (IS("int")) return mknum(c, J_INT, v->u.b);
            if (IS("float")) return mknum(c, J_FLOAT, v->u.b);
            if (IS("string")) return mkstr_ref(c, v->u.b ? "true" : "false", v->u.b ? 4 : 5);
            jfail(c, "Unknown BooleanValue filter: %.*s", (int)nl, name);
        }
        jfail(c, "Cannot apply filter \"%.*s\" to type: %s", (int)nl, name, type_name(v));
#undef IS
    }
    /* filter call: name(args) */
    if (f->kind != N_CALL || f->a->kind != N_IDENT) jfail(c, "Unknown filter");
    const char *name = f->a->s;
    size_t nl = f->a->sn;
    JV **args;
    int na;
#define IS(x) (nl == strlen(x) && !memcmp(name, x, nl))
    if (IS("selectattr") || IS("rejectattr")) {
        int sel = IS("selectattr");
        if (v->t != J_ARR) jfail(c, "Unknown filter %.*s for %s", (int)nl, name, type_name(v));
        for (int i = 0; i < v->u.a->n; i++)
            if (!is_container(v->u.a->v[i])) jfail(c, "`%.*s` can only be applied to array of objects", (int)nl, name);
        for (int i = 0; i < f->l1.n; i++)
            if (f->l1.v[i]->kind != N_STR) jfail(c, "arguments of `%.*s` must be strings", (int)nl, name);
        JV *attr = f->l1.n > 0 ? eval(c, f->l1.v[0], e) : &V_UNDEF;
        JV *tname = f->l1.n > 1 ? eval(c, f->l1.v[1], e) : NULL;
        JV *r = mkarr(c, v->u.a->n);
        int k = 0;
        for (int i = 0; i < v->u.a->n; i++) {
            JV *it = v->u.a->v[i];
            JV *a = attr->t == J_STR ? obj_get(it, attr->u.s.s, attr->u.s.n) : NULL;
            int res = 0;
            if (a) res = tname ? test_value(c, tname->u.s.s, tname->u.s.n, a) : truthy(a);
            if (sel ? res : !res) r->u.a->v[k++] = it;
        }
        r->u.a->n = k;
        return r;
    }
    eval_args(c, &f->l1, e, &args, &na);
    int np = npos(args, na);
    if (IS("tojson")) {
        JV *ind = kwarg(args, na, "indent"), *asc = kwarg(args, na, "ensure_ascii");
        JV *srt = kwarg(args, na, "sort_keys"), *seps = kwarg(args, na, "separators");
        if (ind && ind->t != J_INT && ind->t != J_NULL) jfail(c, "If set, indent must be a number");
        if (asc && asc->t != J_BOOL) jfail(c, "If set, ensure_ascii must be a boolean");
        if (srt && srt->t != J_BOOL) jfail(c, "If set, sort_keys must be a boolean");
        JsonOpt opt = {ind && ind->t == J_INT ? num_int(ind->u.num) : -1, asc && asc->u.b, srt && srt->u.b, NULL, NULL};
        if (seps && seps->t != J_NULL) {
            if (seps->t != J_ARR || seps->u.a->n != 2 || seps->u.a->v[0]->t != J_STR || seps->u.a->v[1]->t != J_STR)
                jfail(c, "separators must be a tuple of two strings");
            opt.isep = jstrdup(c, seps->u.a->v[0]->u.s.s, seps->u.a->v[0]->u.s.n);
            opt.ksep = jstrdup(c, seps->u.a->v[1]->u.s.s, seps->u.a->v[1]->u.s.n);
        }
        SBuf o = {0};
        to_json(c, &o, v, &opt, 0, 1);
        return sbuf_val(c, &o);
    }
    if (IS("join")) {
        JV *sep = np > 0 ? args[0] : kwarg(args, na, "separator");
        if (sep && sep->t != J_STR) jfail(c, "separator must be a string");
        SBuf o = {0};
        if (v->t == J_STR) {
            for (size_t i = 0; i < v->u.s.n;) {
                int l;
                uni_decode((const uint8_t *)v->u.s.s + i, v->u.s.n - i, &l);
                if (i && sep) bput(c, &o, sep->u.s.s, sep->u.s.n);
                bput(c, &o, v->u.s.s + i, (size_t)l);
                i += (size_t)l;
            }
        } else if (v->t == J_ARR) {
            for (int i = 0; i < v->u.a->n; i++) {
                if (i && sep) bput(c, &o, sep->u.s.s, sep->u.s.n);
                if (v->u.a->v[i]->t != J_NULL && v->u.a->v[i]->t != J_UNDEF) raw_str(c, &o, v->u.a->v[i]);
            }
        } else
            jfail(c, "Cannot apply filter \"join\" to type: %s", type_name(v));
        return sbuf_val(c, &o);
    }
    if (IS("int") || IS("float")) {
        int isint = IS("int");
        JV *d = np > 0 ? args[0] : kwarg(args, na, "default");
        if (!d) d = mknum(c, isint ? J_INT : J_FLOAT, 0);
        if (v->t == J_STR) return num_from_js_parse(c, v, isint, d);
        if (is_num(v)) return v;
        if (v->t == J_BOOL) return mknum(c, isint ? J_INT : J_FLOAT, v->u.b);
        jfail(c, "Cannot apply filter \"%s\" to type: %s", isint ? "int" : "float", type_name(v));
    }
    if (IS("default")) {
        JV *d = np > 0 ? args[0] : mkstr_ref(c, "", 0);
        JV *b = np > 1 ? args[1] : kwarg(args, na, "boolean");
        if (b && b->t != J_BOOL) jfail(c, "`default` filter flag must be a boolean");
        if (v->t == J_UNDEF || (b && b->u.b && !truthy(v))) return d;
        return v;
    }
    if (v->t == J_ARR) {
        if (IS("sort")) {
            JV *rev = np > 0 ? args[0] : kwarg(args, na, "reverse");
            JV *cs = np > 1 ? args[1] : kwarg(args, na, "case_sensitive");
            JV *at = np > 2 ? args[2] : kwarg(args, na, "attribute");
            if (rev && rev->t != J_BOOL) jfail(c, "reverse must be a boolean");
            if (cs && cs->t != J_BOOL) jfail(c, "case_sensitive must be a boolean");
            if (at && at->t != J_STR && at->t != J_INT && at->t != J_NULL)
                jfail(c, "attribute must be a string, integer, or null");
            return apply_sort(c, v, rev && rev->u.b, cs && cs->u.b, at);
        }
        if (IS("map")) {
            JV *at = kwarg(args, na, "attribute");
            if (!at) jfail(c, "`map` expressions without `attribute` set are not currently supported.");
            if (at->t != J_STR) jfail(c, "attribute must be a string");
            JV *d = kwarg(args, na, "default");
            JV *r = mkarr(c, v->u.a->n);
            for (int i = 0; i < v->u.a->n; i++) {
                JV *it = v->u.a->v[i];
                if (!is_container(it)) jfail(c, "items in map must be an object");
                JV *k = it;
                char *ps = jstrdup(c, at->u.s.s, at->u.s.n);
                for (char *part = ps, *next; part; part = next) {
                    next = strchr(part, '.');
                    if (next) *next++ = 0;
                    if (is_container(k)) {
                        JV *y = obj_get(k, part, strlen(part));
                        k = y ? y : &V_UNDEF;
                    } else if (k->t == J_ARR) {
                        char *end;
                        long idx = strtol(part, &end, 10);
                        k = end != part && idx >= 0 && idx < k->u.a->n ? k->u.a->v[idx] : &V_UNDEF;
                    } else
                        k = &V_UNDEF;
                }
                r->u.a->v[i] = k->t == J_UNDEF ? (d ? d : &V_UNDEF) : k;
            }
            return r;
        }
        jfail(c, "Unknown ArrayValue filter: %.*s", (int)nl, name);
    }
    if (v->t == J_STR) {
        if (IS("indent")) {
            JV *w = np > 0 ? args[0] : kwarg(args, na, "width");
            JV *fi = np > 1 ? args[1] : kwarg(args, na, "first");
            JV *bl = np > 2 ? args[2] : kwarg(args, na, "blank");
            if (w && w->t != J_INT) jfail(c, "width must be a number");
            return indent_str(c, v, w ? num_int(w->u.num) : 4, fi && truthy(fi), bl && truthy(bl));
        }
        if (IS("replace")) {
            return call_func(c, mkfunc(c, F_S_REPLACE, v), args, na, e);
        }
        jfail(c, "Unknown StringValue filter: %.*s", (int)nl, name);
    }
    if (is_objlike(v)) {
        JV *b = obj_builtin(c, v, name, nl);
        if (b) return call_func(c, b, args, na, e);
        jfail(c, "Unknown ObjectValue filter: %.*s", (int)nl, name);
    }
    jfail(c, "Cannot apply filter \"%.*s\" to type: %s", (int)nl, name, type_name(v));
#undef IS
}

/* ---- statements --------------------------------------------------------------------------------------- */

static void assign(Ctx *c, Node *target, JV *v, Env *e) {
    if (target->kind == N_IDENT) {
        env_set(c, e, target->s, target->sn, v);
    } else if (target->kind == N_TUPLE) {
        if (v->t != J_ARR) jfail(c, "Cannot unpack non-iterable type in set: %s", type_name(v));
        if (v->u.a->n != target->l1.n)
            jfail(c, "Too %s items to unpack in set", target->l1.n > v->u.a->n ? "few" : "many");
        for (int i = 0; i < target->l1.n; i++) {
            if (target->l1.v[i]->kind != N_IDENT) jfail(c, "Cannot unpack to non-identifier in set");
            env_set(c, e, target->l1.v[i]->s, target->l1.v[i]->sn, v->u.a->v[i]);
        }
    } else if (target->kind == N_MEMBER) {
        JV *obj = eval(c, target->a, e);
        if (obj->t != J_NS) jfail(c, "cannot assign attribute on non-namespace object");
        if (target->b->kind != N_IDENT) jfail(c, "Cannot assign to member with non-identifier property");
        obj_set(c, obj, target->b->s, target->b->sn, v);
    } else
        jfail(c, "Invalid LHS inside assignment expression");
}

static int eval_for(Ctx *c, Node *n, Env *e, SBuf *out) {
    Env *scope = env_new(c, e);
    Node *itn = n->b, *test = NULL;
    if (itn->kind == N_SELECT) {
        test = itn->b;
        itn = itn->a;
    }
    JV *it = eval(c, itn, scope);
    if (is_objlike(it)) it = call_func(c, mkfunc(c, F_O_KEYS, it), NULL, 0, scope);
    if (it->t != J_ARR) jfail(c, "Expected iterable or object type in for loop: got %s", type_name(it));
    int total = it->u.a->n, k = 0;
    JV **items = jalloc(c, (size_t)(total + 1) * sizeof *items);
    for (int i = 0; i < total; i++) {
        JV *cur = it->u.a->v[i];
        if (n->a->kind == N_TUPLE) {
            if (cur->t != J_ARR) jfail(c, "Cannot unpack non-iterable type: %s", type_name(cur));
            if (cur->u.a->n != n->a->l1.n)
                jfail(c, "Too %s items to unpack", n->a->l1.n > cur->u.a->n ? "few" : "many");
        }
        if (test) {
            Env *ls = env_new(c, scope);
            assign(c, n->a, cur, ls);
            if (!truthy(eval(c, test, ls))) continue;
        }
        items[k++] = cur;
    }
    int none = 1;
    SBuf body = {0}; /* one buffer for every iteration: it lives in the arena */
    for (int i = 0; i < k; i++) {
        JV *loop = mkobj(c, J_OBJ);
        obj_set(c, loop, "index", 5, mknum(c, J_INT, i + 1));
        obj_set(c, loop, "index0", 6, mknum(c, J_INT, i));
        obj_set(c, loop, "revindex", 8, mknum(c, J_INT, k - i));
        obj_set(c, loop, "revindex0", 9, mknum(c, J_INT, k - i - 1));
        obj_set(c, loop, "first", 5, mkbool(c, i == 0));
        obj_set(c, loop, "last", 4, mkbool(c, i == k - 1));
        obj_set(c, loop, "length", 6, mknum(c, J_INT, k));
        obj_set(c, loop, "previtem", 8, i > 0 ? items[i - 1] : &V_UNDEF);
        obj_set(c, loop, "nextitem", 8, i < k - 1 ? items[i + 1] : &V_UNDEF);
        env_set(c, scope, "loop", 4, loop);
        assign(c, n->a, items[i], scope);
        body.n = 0;
        int ctl = eval_block(c, &n->l1, scope, &body);
        if (ctl == CTL_CONTINUE) continue; /* the iteration's output is dropped, as in the reference */
        if (ctl == CTL_BREAK) break;
        bput(c, out, body.p ? body.p : "", body.n);
        none = 0;
    }
    if (none) {
        body.n = 0;
        int ctl = eval_block(c, &n->l2, scope, &body);
        bput(c, out, body.p ? body.p : "", body.n);
        return ctl;
    }
    return CTL_NONE;
}

/* Evaluates statements, appending their text to out; returns a break /
 * continue signal for the enclosing loop. */
static int eval_block(Ctx *c, NodeList *l, Env *e, SBuf *out) {
    for (int i = 0; i < l->n; i++) {
        Node *n = l->v[i];
        switch (n->kind) {
        case N_IF: {
            JV *t = eval(c, n->a, e);
            int ctl = eval_block(c, truthy(t) ? &n->l1 : &n->l2, e, out);
            if (ctl) return ctl;
            break;
        }
        case N_FOR: {
            int ctl = eval_for(c, n, e, out);
            if (ctl) return ctl;
            break;
        }
        case N_SET: {
            JV *v;
            if (n->b) v = eval(c, n->b, e);
            else {
                SBuf b = {0};
                eval_block(c, &n->l1, e, &b);
                v = sbuf_val(c, &b);
            }
            assign(c, n->a, v, e);
            break;
        }
        case N_MACRO: {
            JV *f = mkfunc(c, F_MACRO, NULL);
            f->u.f.macro = n;
            env_set(c, e, n->s, n->sn, f);
            break;
        }
        case N_BREAK: return CTL_BREAK;
        case N_CONTINUE: return CTL_CONTINUE;
        case N_COMMENT: break;
        default: {
            JV *v = eval(c, n, e);
            if (v->t != J_NULL && v->t != J_UNDEF) to_str(c, out, v);
        }
        }
    }
    return CTL_NONE;
}

/* ---- JSON -> runtime values ---------------------------------------------------------------------------- */

static int is_array_index(const char *k) {
    if (!k[0] || (k[0] == '0' && k[1])) return k[0] == '0' && !k[1];
    double v = 0;
    for (const char *p = k; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        v = v * 10 + (*p - '0');
    }
    return v < 4294967295.0;
}

static JV *from_json(Ctx *c, const cJSON *j) {
    if (cJSON_IsNull(j)) return &V_NULL;
    if (cJSON_IsBool(j)) return mkbool(c, cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        return mknum(c, d == floor(d) && isfinite(d) ? J_INT : J_FLOAT, d);
    }
    if (cJSON_IsString(j)) return mkstr(c, j->valuestring, strlen(j->valuestring));
    if (cJSON_IsArray(j)) {
        JV *a = mkarr(c, cJSON_GetArraySize(j));
        int i = 0;
        for (const cJSON *x = j->child; x; x = x->next) a->u.a->v[i++] = from_json(c, x);
        return a;
    }
    if (cJSON_IsObject(j)) {
        /* Object.entries order: integer-like keys ascending, then the rest in order */
        JV *o = mkobj(c, J_OBJ);
        int n = cJSON_GetArraySize(j), k = 0;
        const cJSON **idx = jalloc(c, (size_t)(n + 1) * sizeof *idx);
        for (const cJSON *x = j->child; x; x = x->next)
            if (is_array_index(x->string)) idx[k++] = x;
        for (int a = 1; a < k; a++) {
            const cJSON *x = idx[a];
            int b = a - 1;
            while (b >= 0 && strtod(idx[b]->string, NULL) > strtod(x->string, NULL)) {
                idx[b + 1] = idx[b];
                b--;
            }
            idx[b + 1] = x;
        }
        for (int a = 0; a < k; a++) obj_set(c, o, idx[a]->string, strlen(idx[a]->string), from_json(c, idx[a]));
        for (const cJSON *x = j->child; x; x = x->next)
            if (!is_array_index(x->string)) obj_set(c, o, x->string, strlen(x->string), from_json(c, x));
        return o;
    }
    return &V_UNDEF;
}

int jinja_render(const char *tmpl, const cJSON *vars, char **out) {
    *out = NULL;
    Ctx *c = calloc(1, sizeof *c);
    if (!c) return tr_err(TR_ENOMEM, "out of memory");
    SBuf res = {0};
    volatile int rc = 0;
    if (setjmp(c->jb)) {
        const char *m = strncmp(c->msg, "template: ", 10) ? c->msg : c->msg + 10;
        rc = tr_err(TR_EINVAL, "template: %s", m);
    } else {
        NodeList prog = {0};
        jinja_parse(c, tmpl, &prog);
        Env *g = env_new(c, NULL);
        env_set(c, g, "namespace", 9, mkfunc(c, F_NAMESPACE, NULL));
        env_set(c, g, "false", 5, mkbool(c, 0));
        env_set(c, g, "true", 4, mkbool(c, 1));
        env_set(c, g, "none", 4, &V_NULL);
        env_set(c, g, "raise_exception", 15, mkfunc(c, F_RAISE, NULL));
        env_set(c, g, "range", 5, mkfunc(c, F_RANGE, NULL));
        env_set(c, g, "strftime_now", 12, mkfunc(c, F_STRFTIME, NULL));
        env_set(c, g, "True", 4, mkbool(c, 1));
        env_set(c, g, "False", 5, mkbool(c, 0));
        env_set(c, g, "None", 4, &V_NULL);
        if (vars && cJSON_IsObject(vars)) {
            Env *u = env_new(c, g);
            for (const cJSON *x = vars->child; x; x = x->next) env_set(c, u, x->string, strlen(x->string), from_json(c, x));
            g = u;
        }
        eval_block(c, &prog, g, &res);
        rc = 0;
        /* the text leaves the arena */
        *out = malloc(res.n + 1);
        if (!*out) rc = tr_err(TR_ENOMEM, "out of memory");
        else {
            if (res.n) memcpy(*out, res.p, res.n);
            (*out)[res.n] = 0;
        }
    }
    arena_free(&c->arena);
    free(c);
    return rc;
}
