/* The Jinja lexer and parser, following @huggingface/jinja (0.5.x): the
 * template is preprocessed as its preprocess() does (trailing newline,
 * lstrip_blocks, trim_blocks, the {% generation %} tag), tokenised with its
 * rules (whitespace control, unary signs, string escapes, `}}` inside object
 * literals), and parsed with its precedence: ternary < or < and < not <
 * comparison/in < + - ~ < * / // % < ** < is-tests < filters < unary sign <
 * call/member < primary. The interpreter is in jinja.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/jinja.h"

/* ---- context ----------------------------------------------------------------- */

_Noreturn void jfail(Ctx *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    longjmp(c->jb, 1);
}

static void *jraw(Ctx *c, size_t n) {
    if (n > MAX_BYTES - c->bytes)
        jfail(c, "the render needs more than %zu MiB (a runaway loop or recursion?)", MAX_BYTES >> 20);
    c->bytes += n;
    void *p = arena_alloc(&c->arena, n);
    if (!p) jfail(c, "out of memory");
    return p;
}

void *jalloc(Ctx *c, size_t n) {
    void *p = jraw(c, n);
    memset(p, 0, n);
    return p;
}

char *jstrdup(Ctx *c, const char *s, size_t n) {
    char *p = jalloc(c, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* Growable byte buffer for building strings. Its storage lives in the
 * render's arena, like every other allocation of a render: an error that
 * longjmps out from any depth leaves nothing to free (malloc'ed buffers on
 * the unwound frames leaked). The old storage stays in the arena until the
 * render ends; doubling bounds that to the size of the final buffer. */
void bput(Ctx *c, SBuf *b, const void *p, size_t n) {
    if (n > SIZE_MAX / 4 || b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->n + n + 1) {
            if (nc > SIZE_MAX / 4) jfail(c, "out of memory");
            nc *= 2;
        }
        char *np = jraw(c, nc);
        if (b->n) memcpy(np, b->p, b->n);
        b->p = np;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
}
void bputs(Ctx *c, SBuf *b, const char *s) { bput(c, b, s, strlen(s)); }

/* ---- lexer ------------------------------------------------------------------------ */

enum {
    T_TEXT, T_NUM, T_STR, T_IDENT, T_EQUALS, T_LPAREN, T_RPAREN, T_OPEN_STMT, T_CLOSE_STMT, T_OPEN_EXPR,
    T_CLOSE_EXPR, T_LBRACKET, T_RBRACKET, T_LBRACE, T_RBRACE, T_COMMA, T_DOT, T_COLON, T_PIPE, T_ADD, T_MUL,
    T_POW, T_CMP, T_UNARY, T_COMMENT
};

typedef struct {
    int type;
    const char *s;
    size_t n;
} Tok;

typedef struct {
    Tok *v;
    int n, cap;
} TokVec;

static void tpush(Ctx *c, TokVec *t, int type, const char *s, size_t n) {
    if (t->n == t->cap) {
        int nc = t->cap ? t->cap * 2 : 256;
        Tok *nv = jalloc(c, (size_t)nc * sizeof *nv);
        if (t->n) memcpy(nv, t->v, (size_t)t->n * sizeof *nv);
        t->v = nv;
        t->cap = nc;
    }
    t->v[t->n++] = (Tok){type, s, n};
}

int js_ws_at(const char *s, size_t n, size_t i, int *len) {
    uint32_t cp = uni_decode((const uint8_t *)s + i, n - i, len);
    return (uni_flags(cp) & UNI_WS) != 0;
}
int is_word(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}
int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* lstrip_blocks, trim_blocks and the {% generation %} tag, as the reference's
 * preprocess() does with its regexes */
static char *preprocess(Ctx *c, const char *src, size_t *n_io) {
    size_t n = *n_io;
    if (n && src[n - 1] == '\n') n--;
    SBuf a = {0};
    /* lstrip_blocks: /^[ \t]*({[#%-])/gm -> $1 */
    for (size_t i = 0; i < n;) {
        int line_start = i == 0 || src[i - 1] == '\n' || src[i - 1] == '\r' ||
                         (i >= 3 && (unsigned char)src[i - 3] == 0xE2 && (unsigned char)src[i - 2] == 0x80 &&
                          ((unsigned char)src[i - 1] == 0xA8 || (unsigned char)src[i - 1] == 0xA9));
        if (line_start) {
            size_t j = i;
            while (j < n && (src[j] == ' ' || src[j] == '\t')) j++;
            if (j + 1 < n && src[j] == '{' && (src[j + 1] == '#' || src[j + 1] == '%' || src[j + 1] == '-')) {
                i = j;
                bput(c, &a, "{", 1);
                i++;
                continue;
            }
        }
        bput(c, &a, src + i, 1);
        i++;
    }
    /* trim_blocks: /([#%-]})\n/g -> $1 */
    SBuf b = {0};
    for (size_t i = 0; i < a.n; i++) {
        bput(c, &b, a.p + i, 1);
        if (a.p[i] == '}' && i >= 1 && (a.p[i - 1] == '#' || a.p[i - 1] == '%' || a.p[i - 1] == '-') &&
            i + 1 < a.n && a.p[i + 1] == '\n')
            i++;
    }
    bdrop(&a);
    /* /(\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)/gs */
    SBuf o = {0};
    size_t i = 0;
    while (i < b.n) {
        const char *hit = NULL;
        for (size_t k = i; k + 1 < b.n; k++)
            if (b.p[k] == '{' && b.p[k + 1] == '%') {
                size_t j = k + 2;
                if (j < b.n && b.p[j] == '-') j++;
                int l;
                while (j < b.n && js_ws_at(b.p, b.n, j, &l)) j += (size_t)l;
                if (b.n - j >= 3 && !strncmp(b.p + j, "end", 3)) j += 3;
                if (b.n - j >= 10 && !strncmp(b.p + j, "generation", 10)) {
                    j += 10;
                    while (j < b.n && js_ws_at(b.p, b.n, j, &l)) j += (size_t)l;
                    if (j < b.n && b.p[j] == '-') j++;
                    if (j + 1 < b.n && b.p[j] == '%' && b.p[j + 1] == '}') {
                        hit = b.p + k;
                        break;
                    }
                }
            }
        if (!hit) {
            bput(c, &o, b.p + i, b.n - i);
            break;
        }
        size_t k = (size_t)(hit - b.p);
        /* leading whitespace run before the tag (greedy \s* from the earliest point) */
        size_t ws = k;
        while (ws > i) {
            size_t st = ws - 1;
            while (st > i && ((unsigned char)b.p[st] & 0xC0) == 0x80) st--;
            int l;
            if (!js_ws_at(b.p, b.n, st, &l)) break;
            ws = st;
        }
        size_t j = k + 2;
        int lstrip = 0, rstrip = 0, l;
        if (b.p[j] == '-') { lstrip = 1; j++; }
        while (js_ws_at(b.p, b.n, j, &l)) j += (size_t)l;
        if (!strncmp(b.p + j, "end", 3)) j += 3;
        j += 10;
        while (js_ws_at(b.p, b.n, j, &l)) j += (size_t)l;
        if (b.p[j] == '-') { rstrip = 1; j++; }
        j += 2;
        size_t after = j;
        while (after < b.n && js_ws_at(b.p, b.n, after, &l)) after += (size_t)l;
        bput(c, &o, b.p + i, ws - i);
        if (!lstrip) bput(c, &o, b.p + ws, k - ws);
        if (!rstrip) bput(c, &o, b.p + j, after - j);
        i = after;
    }
    bdrop(&b);
    char *r = jstrdup(c, o.p ? o.p : "", o.n);
    *n_io = o.n;
    bdrop(&o);
    return r;
}

static const struct {
    const char *s;
    int type;
} MAPPING[] = {{"{%", T_OPEN_STMT}, {"%}", T_CLOSE_STMT}, {"{{", T_OPEN_EXPR}, {"}}", T_CLOSE_EXPR},
               {"(", T_LPAREN},     {")", T_RPAREN},      {"{", T_LBRACE},     {"}", T_RBRACE},
               {"[", T_LBRACKET},   {"]", T_RBRACKET},    {",", T_COMMA},      {".", T_DOT},
               {":", T_COLON},      {"|", T_PIPE},        {"<=", T_CMP},       {">=", T_CMP},
               {"==", T_CMP},       {"!=", T_CMP},        {"<", T_CMP},        {">", T_CMP},
               {"+", T_ADD},        {"-", T_ADD},         {"~", T_ADD},        {"**", T_POW},
               {"*", T_MUL},        {"//", T_MUL},        {"/", T_MUL},        {"%", T_MUL},
               {"=", T_EQUALS}};

static void lex(Ctx *c, const char *tmpl, TokVec *out) {
    size_t n = strlen(tmpl);
    const char *src = preprocess(c, tmpl, &n);
    size_t cur = 0;
    int depth = 0;
#define LAST (out->n ? out->v[out->n - 1].type : -1)
    while (cur < n) {
        int lt = LAST;
        if (lt == -1 || lt == T_CLOSE_STMT || lt == T_CLOSE_EXPR || lt == T_COMMENT) {
            size_t st = cur;
            while (cur < n && !(src[cur] == '{' && cur + 1 < n &&
                                (src[cur + 1] == '%' || src[cur + 1] == '{' || src[cur + 1] == '#')))
                cur++;
            if (cur > st) {
                tpush(c, out, T_TEXT, src + st, cur - st);
                continue;
            }
        }
        if (src[cur] == '{' && cur + 1 < n && src[cur + 1] == '#') {
            cur += 2;
            int strip_before = cur < n && src[cur] == '-';
            if (strip_before) cur++;
            size_t st = cur;
            while (!(cur + 1 < n && src[cur] == '#' && src[cur + 1] == '}')) {
                if (cur + 2 >= n) jfail(c, "template: missing end of comment tag");
                cur++;
            }
            size_t cl = cur - st;
            int strip_after = cl > 0 && src[st + cl - 1] == '-';
            if (strip_after) cl--;
            if (strip_before && out->n && out->v[out->n - 1].type == T_TEXT) {
                Tok *t = &out->v[out->n - 1];
                t->n -= uni_js_ws_suffix((const uint8_t *)t->s, t->n);
                if (!t->n) out->n--;
            }
            tpush(c, out, T_COMMENT, src + st, cl);
            cur += 2;
            if (strip_after) {
                int l;
                while (cur < n && js_ws_at(src, n, cur, &l)) cur += (size_t)l;
            }
            continue;
        }
        if (n - cur >= 3 && (!strncmp(src + cur, "{%-", 3) || !strncmp(src + cur, "{{-", 3))) {
            if (out->n && out->v[out->n - 1].type == T_TEXT) {
                Tok *t = &out->v[out->n - 1];
                t->n -= uni_js_ws_suffix((const uint8_t *)t->s, t->n);
                if (!t->n) out->n--;
            }
            int isexpr = src[cur + 1] == '{';
            tpush(c, out, isexpr ? T_OPEN_EXPR : T_OPEN_STMT, src + cur, 2);
            if (isexpr) depth = 0;
            cur += 3;
            continue;
        }
        {
            int l;
            while (cur < n && js_ws_at(src, n, cur, &l)) cur += (size_t)l;
        }
        if (cur >= n) break;
        if (n - cur >= 3 && (!strncmp(src + cur, "-%}", 3) || !strncmp(src + cur, "-}}", 3))) {
            tpush(c, out, src[cur + 1] == '%' ? T_CLOSE_STMT : T_CLOSE_EXPR, src + cur + 1, 2);
            cur += 3;
            int l;
            while (cur < n && js_ws_at(src, n, cur, &l)) cur += (size_t)l;
            continue;
        }
        char ch = src[cur];
        if (ch == '-' || ch == '+') {
            int t = LAST;
            if (t == T_TEXT || t == -1) jfail(c, "template: unexpected character: %c", ch);
            if (!(t == T_IDENT || t == T_NUM || t == T_STR || t == T_RPAREN || t == T_RBRACKET)) {
                size_t st = cur++;
                while (cur < n && is_digit(src[cur])) cur++;
                if (cur > st + 1 && cur + 1 < n && src[cur] == '.' && is_digit(src[cur + 1])) {
                    cur++;
                    while (cur < n && is_digit(src[cur])) cur++;
                }
                tpush(c, out, cur > st + 1 ? T_NUM : T_UNARY, src + st, cur - st);
                continue;
            }
        }
        int matched = 0;
        for (size_t k = 0; k < sizeof MAPPING / sizeof MAPPING[0]; k++) {
            size_t l = strlen(MAPPING[k].s);
            if (MAPPING[k].type == T_CLOSE_EXPR && depth > 0) continue;
            if (n - cur >= l && !strncmp(src + cur, MAPPING[k].s, l)) {
                tpush(c, out, MAPPING[k].type, src + cur, l);
                if (MAPPING[k].type == T_OPEN_EXPR) depth = 0;
                else if (MAPPING[k].type == T_LBRACE) depth++;
                else if (MAPPING[k].type == T_RBRACE) depth--;
                cur += l;
                matched = 1;
                break;
            }
        }
        if (matched) continue;
        if (ch == '\'' || ch == '"') {
            cur++;
            SBuf sv = {0};
            while (1) {
                if (cur >= n) {
                    bdrop(&sv);
                    jfail(c, "template: unexpected end of input");
                }
                if (src[cur] == ch) break;
                if (src[cur] == '\\') {
                    if (++cur >= n) {
                        bdrop(&sv);
                        jfail(c, "template: unexpected end of input");
                    }
                    char e = src[cur++];
                    if (e == 'x' || e == 'u') {
                        int len = e == 'x' ? 2 : 4;
                        unsigned v = 0;
                        for (int k = 0; k < len; k++) {
                            char h = cur + (size_t)k < n ? src[cur + (size_t)k] : 0;
                            int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                  : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                            if (d < 0) {
                                bdrop(&sv);
                                jfail(c, "template: invalid hexadecimal escape sequence");
                            }
                            v = v * 16 + (unsigned)d;
                        }
                        cur += (size_t)len;
                        uint8_t u[4];
                        int ul = uni_encode(v >= 0xD800 && v <= 0xDFFF ? 0xFFFD : v, u);
                        bput(c, &sv, u, (size_t)ul);
                        continue;
                    }
                    const char *rep = e == 'n' ? "\n" : e == 't' ? "\t" : e == 'r' ? "\r" : e == 'b' ? "\b"
                                    : e == 'f' ? "\f" : e == 'v' ? "\v" : e == '\'' ? "'" : e == '"' ? "\""
                                    : e == '\\' ? "\\" : NULL;
                    if (!rep) {
                        bdrop(&sv);
                        jfail(c, "template: unexpected escaped character: %c", e);
                    }
                    bput(c, &sv, rep, 1);
                    continue;
                }
                bput(c, &sv, src + cur, 1);
                cur++;
                if (cur >= n) {
                    bdrop(&sv);
                    jfail(c, "template: unexpected end of input");
                }
            }
            cur++;
            tpush(c, out, T_STR, jstrdup(c, sv.p ? sv.p : "", sv.n), sv.n);
            bdrop(&sv);
            continue;
        }
        if (is_digit(ch)) {
            size_t st = cur;
            while (cur < n && is_digit(src[cur])) cur++;
            if (LAST != T_DOT && cur + 1 < n && src[cur] == '.' && is_digit(src[cur + 1])) {
                cur++;
                while (cur < n && is_digit(src[cur])) cur++;
            }
            tpush(c, out, T_NUM, src + st, cur - st);
            continue;
        }
        if (is_word(ch)) {
            size_t st = cur;
            while (cur < n && is_word(src[cur])) cur++;
            tpush(c, out, T_IDENT, src + st, cur - st);
            continue;
        }
        jfail(c, "template: unexpected character: %c", ch);
    }
#undef LAST
}

/* ---- parser ------------------------------------------------------------------------------ */

static Node *mk(Ctx *c, int kind) {
    Node *n = jalloc(c, sizeof *n);
    n->kind = kind;
    return n;
}

static void lpush(Ctx *c, NodeList *l, Node *x) {
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 8;
        Node **nv = jalloc(c, (size_t)nc * sizeof *nv);
        if (l->n) memcpy(nv, l->v, (size_t)l->n * sizeof *nv);
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = x;
}

typedef struct {
    Ctx *c;
    Tok *t;
    int n, cur;
} Parser;

static int is_t(Parser *p, int type) { return p->cur < p->n && p->t[p->cur].type == type; }
static int is_ident(Parser *p, const char *name) {
    return p->cur < p->n && p->t[p->cur].type == T_IDENT && p->t[p->cur].n == strlen(name) &&
           !strncmp(p->t[p->cur].s, name, p->t[p->cur].n);
}
static int is_ident2(Parser *p, const char *a, const char *b) {
    if (!is_ident(p, a)) return 0;
    p->cur++;
    int r = is_ident(p, b);
    p->cur--;
    return r;
}
static Tok *expect(Parser *p, int type, const char *what) {
    if (p->cur >= p->n || p->t[p->cur].type != type) jfail(p->c, "template: parser error: %s", what);
    return &p->t[p->cur++];
}
static void expect_ident(Parser *p, const char *name) {
    if (!is_ident(p, name)) jfail(p->c, "template: expected %s", name);
    p->cur++;
}
static int is_stmt(Parser *p, const char *a, const char *b, const char *cc) {
    if (p->cur + 1 >= p->n || p->t[p->cur].type != T_OPEN_STMT || p->t[p->cur + 1].type != T_IDENT) return 0;
    const Tok *t = &p->t[p->cur + 1];
    const char *names[3] = {a, b, cc};
    for (int i = 0; i < 3; i++)
        if (names[i] && t->n == strlen(names[i]) && !strncmp(t->s, names[i], t->n)) return 1;
    return 0;
}

static Node *parse_any(Parser *p);
static Node *parse_expr(Parser *p);
static Node *parse_primary(Parser *p);
static Node *parse_call(Parser *p, Node *callee);

static Node *parse_seq(Parser *p, int primary) {
    Node *first = primary ? parse_primary(p) : parse_expr(p);
    if (!is_t(p, T_COMMA)) return first;
    Node *t = mk(p->c, N_TUPLE);
    lpush(p->c, &t->l1, first);
    while (is_t(p, T_COMMA)) {
        p->cur++;
        lpush(p->c, &t->l1, primary ? parse_primary(p) : parse_expr(p));
        if (!is_t(p, T_COMMA)) break;
    }
    return t;
}

static void parse_args(Parser *p, NodeList *args) {
    expect(p, T_LPAREN, "expected opening parenthesis for arguments list");
    int saw_kw = 0;
    while (!is_t(p, T_RPAREN)) {
        if (p->cur >= p->n) jfail(p->c, "template: unexpected end of arguments");
        if (is_t(p, T_POW)) {
            p->cur++;
            Node *s = mk(p->c, N_KWSPREAD);
            s->a = parse_expr(p);
            lpush(p->c, args, s);
            if (is_t(p, T_COMMA)) p->cur++;
            if (!is_t(p, T_RPAREN)) jfail(p->c, "template: `**` must be applied to the final argument");
            break;
        }
        Node *arg;
        if (is_t(p, T_MUL) && p->t[p->cur].n == 1) {
            p->cur++;
            arg = mk(p->c, N_SPREAD);
            arg->a = parse_expr(p);
        } else {
            arg = parse_expr(p);
            if (is_t(p, T_EQUALS)) {
                p->cur++;
                if (arg->kind != N_IDENT) jfail(p->c, "template: expected identifier for keyword argument");
                Node *kw = mk(p->c, N_KWARG);
                kw->s = arg->s;
                kw->sn = arg->sn;
                kw->a = parse_expr(p);
                arg = kw;
                saw_kw = 1;
            } else if (saw_kw)
                jfail(p->c, "template: positional arguments must come before keyword arguments");
        }
        lpush(p->c, args, arg);
        if (is_t(p, T_COMMA)) p->cur++;
    }
    p->cur++;
}

static Node *parse_member(Parser *p, Node *obj) {
    while (is_t(p, T_DOT) || is_t(p, T_LBRACKET)) {
        int computed = is_t(p, T_LBRACKET);
        p->cur++;
        Node *m = mk(p->c, N_MEMBER);
        m->a = obj;
        m->flag = computed;
        if (computed) {
            Node *sl[3] = {0};
            int ns = 0, is_slice = 0;
            while (!is_t(p, T_RBRACKET)) {
                if (p->cur >= p->n) jfail(p->c, "template: unexpected end in member expression");
                if (is_t(p, T_COLON)) {
                    if (ns < 3) sl[ns] = NULL;
                    ns++;
                    p->cur++;
                    is_slice = 1;
                } else {
                    Node *e = parse_expr(p);
                    if (ns < 3) sl[ns] = e;
                    ns++;
                    if (is_t(p, T_COLON)) {
                        p->cur++;
                        is_slice = 1;
                    }
                }
            }
            if (ns == 0) jfail(p->c, "template: expected at least one argument for member/slice expression");
            if (is_slice) {
                if (ns > 3) jfail(p->c, "template: expected 0-3 arguments for slice expression");
                Node *s = mk(p->c, N_SLICE);
                s->a = sl[0];
                s->b = ns > 1 ? sl[1] : NULL;
                s->c = ns > 2 ? sl[2] : NULL;
                m->b = s;
            } else
                m->b = sl[0];
            expect(p, T_RBRACKET, "expected closing square bracket");
        } else {
            Node *prop = parse_primary(p);
            if (prop->kind != N_IDENT && prop->kind != N_INT)
                jfail(p->c, "template: expected identifier or integer following dot operator");
            m->b = prop;
        }
        obj = m;
    }
    return obj;
}

static Node *parse_call(Parser *p, Node *callee) {
    if (++p->c->depth > MAX_DEPTH) jfail(p->c, "template: nesting too deep");
    p->c->depth--; /* chained calls recurse once per call: counted below */
    Node *call = mk(p->c, N_CALL);
    call->a = callee;
    parse_args(p, &call->l1);
    Node *e = parse_member(p, call);
    if (is_t(p, T_LPAREN)) {
        if (++p->c->depth > MAX_DEPTH) jfail(p->c, "template: nesting too deep");
        e = parse_call(p, e);
        p->c->depth--;
    }
    return e;
}

static Node *parse_call_member(Parser *p) {
    Node *m = parse_member(p, parse_primary(p));
    if (is_t(p, T_LPAREN)) return parse_call(p, m);
    return m;
}

static Node *parse_unary_sign(Parser *p) {
    if (p->cur < p->n && (p->t[p->cur].type == T_UNARY || p->t[p->cur].type == T_ADD) &&
        p->t[p->cur].n == 1 && (p->t[p->cur].s[0] == '-' || p->t[p->cur].s[0] == '+')) {
        Node *u = mk(p->c, N_UNARY);
        u->s = p->t[p->cur].s;
        u->sn = 1;
        p->cur++;
        if (++p->c->depth > MAX_DEPTH) jfail(p->c, "template: nesting too deep");
        u->a = parse_unary_sign(p);
        p->c->depth--;
        return u;
    }
    return parse_call_member(p);
}

static Node *parse_filter(Parser *p) {
    Node *operand = parse_unary_sign(p);
    while (is_t(p, T_PIPE)) {
        p->cur++;
        Node *f = parse_primary(p);
        if (f->kind != N_IDENT) jfail(p->c, "template: expected identifier for the filter");
        if (is_t(p, T_LPAREN)) f = parse_call(p, f);
        Node *fe = mk(p->c, N_FILTER);
        fe->a = operand;
        fe->b = f;
        operand = fe;
    }
    return operand;
}

static Node *parse_test(Parser *p) {
    Node *operand = parse_filter(p);
    while (is_ident(p, "is")) {
        p->cur++;
        int neg = is_ident(p, "not");
        if (neg) p->cur++;
        Node *t = parse_primary(p);
        if (t->kind != N_IDENT) jfail(p->c, "template: expected identifier for the test");
        Node *te = mk(p->c, N_TEST);
        te->a = operand;
        te->flag = neg;
        te->s = t->s;
        te->sn = t->sn;
        operand = te;
    }
    return operand;
}

static Node *binary(Parser *p, Node *l, const char *op, size_t opn, Node *r) {
    Node *b = mk(p->c, N_BINARY);
    b->a = l;
    b->b = r;
    b->s = op;
    b->sn = opn;
    return b;
}

static Node *parse_power(Parser *p) {
    Node *l = parse_test(p);
    while (is_t(p, T_POW)) {
        Tok *op = &p->t[p->cur++];
        l = binary(p, l, op->s, op->n, parse_test(p));
    }
    return l;
}

static Node *parse_mul(Parser *p) {
    Node *l = parse_power(p);
    while (is_t(p, T_MUL)) {
        Tok *op = &p->t[p->cur++];
        l = binary(p, l, op->s, op->n, parse_power(p));
    }
    return l;
}

static Node *parse_add(Parser *p) {
    Node *l = parse_mul(p);
    while (is_t(p, T_ADD)) {
        Tok *op = &p->t[p->cur++];
        l = binary(p, l, op->s, op->n, parse_mul(p));
    }
    return l;
}

static Node *parse_cmp(Parser *p) {
    Node *l = parse_add(p);
    for (;;) {
        const char *op;
        size_t on;
        if (is_ident2(p, "not", "in")) {
            op = "not in";
            on = 6;
            p->cur += 2;
        } else if (is_ident(p, "in")) {
            op = "in";
            on = 2;
            p->cur++;
        } else if (is_t(p, T_CMP)) {
            op = p->t[p->cur].s;
            on = p->t[p->cur].n;
            p->cur++;
        } else
            break;
        l = binary(p, l, op, on, parse_add(p));
    }
    return l;
}

static Node *parse_not(Parser *p) {
    Node *r = NULL;
    while (is_ident(p, "not")) {
        p->cur++;
        Node *u = mk(p->c, N_UNARY);
        u->s = "not";
        u->sn = 3;
        if (++p->c->depth > MAX_DEPTH) jfail(p->c, "template: nesting too deep");
        u->a = parse_not(p);
        p->c->depth--;
        r = u;
    }
    return r ? r : parse_cmp(p);
}

static Node *parse_and(Parser *p) {
    Node *l = parse_not(p);
    while (is_ident(p, "and")) {
        p->cur++;
        l = binary(p, l, "and", 3, parse_not(p));
    }
    return l;
}

static Node *parse_or(Parser *p) {
    Node *l = parse_and(p);
    while (is_ident(p, "or")) {
        p->cur++;
        l = binary(p, l, "or", 2, parse_and(p));
    }
    return l;
}

static Node *parse_expr_inner(Parser *p);
static Node *parse_expr(Parser *p) {
    if (++p->c->depth > MAX_DEPTH) jfail(p->c, "template: nesting too deep");
    Node *r = parse_expr_inner(p);
    p->c->depth--;
    return r;
}

static Node *parse_expr_inner(Parser *p) {
    Node *a = parse_or(p);
    if (is_ident(p, "if")) {
        p->cur++;
        Node *test = parse_or(p);
        if (is_ident(p, "else")) {
            p->cur++;
            Node *t = mk(p->c, N_TERNARY);
            t->a = test;
            t->b = a;
            t->c = parse_expr(p);
            return t;
        }
        Node *s = mk(p->c, N_SELECT);
        s->a = a;
        s->b = test;
        return s;
    }
    return a;
}

static Node *parse_primary(Parser *p) {
    if (p->cur >= p->n) jfail(p->c, "template: unexpected end of template");
    Tok *t = &p->t[p->cur++];
    switch (t->type) {
    case T_NUM: {
        char buf[64];
        size_t l = t->n < 63 ? t->n : 63;
        memcpy(buf, t->s, l);
        buf[l] = 0;
        Node *n = mk(p->c, memchr(t->s, '.', t->n) ? N_FLOAT : N_INT);
        n->num = strtod(buf, NULL);
        return n;
    }
    case T_STR: {
        SBuf sv = {0};
        bput(p->c, &sv, t->s, t->n);
        while (is_t(p, T_STR)) {
            bput(p->c, &sv, p->t[p->cur].s, p->t[p->cur].n);
            p->cur++;
        }
        Node *n = mk(p->c, N_STR);
        n->s = jstrdup(p->c, sv.p ? sv.p : "", sv.n);
        n->sn = sv.n;
        bdrop(&sv);
        return n;
    }
    case T_IDENT: {
        Node *n = mk(p->c, N_IDENT);
        n->s = t->s;
        n->sn = t->n;
        return n;
    }
    case T_LPAREN: {
        Node *e = parse_seq(p, 0);
        expect(p, T_RPAREN, "expected closing parenthesis");
        return e;
    }
    case T_LBRACKET: {
        Node *a = mk(p->c, N_ARRAY);
        while (!is_t(p, T_RBRACKET)) {
            if (p->cur >= p->n) jfail(p->c, "template: unexpected end in array literal");
            lpush(p->c, &a->l1, parse_expr(p));
            if (is_t(p, T_COMMA)) p->cur++;
        }
        p->cur++;
        return a;
    }
    case T_LBRACE: {
        Node *o = mk(p->c, N_OBJECT);
        while (!is_t(p, T_RBRACE)) {
            if (p->cur >= p->n) jfail(p->c, "template: unexpected end in object literal");
            lpush(p->c, &o->l1, parse_expr(p));
            expect(p, T_COLON, "expected colon between key and value in object literal");
            lpush(p->c, &o->l2, parse_expr(p));
            if (is_t(p, T_COMMA)) p->cur++;
        }
        p->cur++;
        return o;
    }
    default:
        jfail(p->c, "template: unexpected token '%.*s'", (int)t->n, t->s);
    }
}

static Node *parse_if(Parser *p) {
    if (++p->c->depth > MAX_DEPTH) jfail(p->c, "template: nesting too deep");
    Node *n = mk(p->c, N_IF);
    n->a = parse_expr(p);
    expect(p, T_CLOSE_STMT, "expected closing statement token");
    while (!is_stmt(p, "elif", "else", "endif")) {
        if (p->cur >= p->n) jfail(p->c, "template: missing endif");
        lpush(p->c, &n->l1, parse_any(p));
    }
    if (is_stmt(p, "elif", NULL, NULL)) {
        p->cur += 2;
        lpush(p->c, &n->l2, parse_if(p));
    } else if (is_stmt(p, "else", NULL, NULL)) {
        p->cur += 2;
        expect(p, T_CLOSE_STMT, "expected closing statement token");
        while (!is_stmt(p, "endif", NULL, NULL)) {
            if (p->cur >= p->n) jfail(p->c, "template: missing endif");
            lpush(p->c, &n->l2, parse_any(p));
        }
    }
    p->c->depth--;
    return n;
}

static Node *parse_stmt(Parser *p) {
    expect(p, T_OPEN_STMT, "expected opening statement token");
    if (!is_t(p, T_IDENT)) jfail(p->c, "template: unknown statement");
    Tok *name = &p->t[p->cur];
    Node *r;
#define NAME_IS(x) (name->n == strlen(x) && !strncmp(name->s, x, name->n))
    if (NAME_IS("set")) {
        p->cur++;
        r = mk(p->c, N_SET);
        r->a = parse_seq(p, 0);
        if (is_t(p, T_EQUALS)) {
            p->cur++;
            r->b = parse_seq(p, 0);
        } else {
            expect(p, T_CLOSE_STMT, "expected %} token");
            while (!is_stmt(p, "endset", NULL, NULL)) {
                if (p->cur >= p->n) jfail(p->c, "template: missing endset");
                lpush(p->c, &r->l1, parse_any(p));
            }
            expect(p, T_OPEN_STMT, "expected {% token");
            expect_ident(p, "endset");
        }
        expect(p, T_CLOSE_STMT, "expected closing statement token");
    } else if (NAME_IS("if")) {
        p->cur++;
        r = parse_if(p);
        expect(p, T_OPEN_STMT, "expected {% token");
        expect_ident(p, "endif");
        expect(p, T_CLOSE_STMT, "expected %} token");
    } else if (NAME_IS("for")) {
        p->cur++;
        r = mk(p->c, N_FOR);
        r->a = parse_seq(p, 1);
        if (r->a->kind != N_IDENT && r->a->kind != N_TUPLE)
            jfail(p->c, "template: expected identifier/tuple for the loop variable");
        if (!is_ident(p, "in")) jfail(p->c, "template: expected `in` keyword following loop variable");
        p->cur++;
        r->b = parse_expr(p);
        expect(p, T_CLOSE_STMT, "expected closing statement token");
        while (!is_stmt(p, "endfor", "else", NULL)) {
            if (p->cur >= p->n) jfail(p->c, "template: missing endfor");
            lpush(p->c, &r->l1, parse_any(p));
        }
        if (is_stmt(p, "else", NULL, NULL)) {
            p->cur += 2;
            expect(p, T_CLOSE_STMT, "expected closing statement token");
            while (!is_stmt(p, "endfor", NULL, NULL)) {
                if (p->cur >= p->n) jfail(p->c, "template: missing endfor");
                lpush(p->c, &r->l2, parse_any(p));
            }
        }
        expect(p, T_OPEN_STMT, "expected {% token");
        expect_ident(p, "endfor");
        expect(p, T_CLOSE_STMT, "expected %} token");
    } else if (NAME_IS("macro")) {
        p->cur++;
        r = mk(p->c, N_MACRO);
        Node *nm = parse_primary(p);
        if (nm->kind != N_IDENT) jfail(p->c, "template: expected identifier following macro statement");
        r->s = nm->s;
        r->sn = nm->sn;
        parse_args(p, &r->l1);
        for (int i = 0; i < r->l1.n; i++)
            if (r->l1.v[i]->kind != N_IDENT && r->l1.v[i]->kind != N_KWARG)
                jfail(p->c, "template: expected identifier for parameter declaration");
        expect(p, T_CLOSE_STMT, "expected closing statement token");
        while (!is_stmt(p, "endmacro", NULL, NULL)) {
            if (p->cur >= p->n) jfail(p->c, "template: missing endmacro");
            lpush(p->c, &r->l2, parse_any(p));
        }
        expect(p, T_OPEN_STMT, "expected {% token");
        expect_ident(p, "endmacro");
        expect(p, T_CLOSE_STMT, "expected %} token");
    } else if (NAME_IS("break") || NAME_IS("continue")) {
        p->cur++;
        r = mk(p->c, NAME_IS("break") ? N_BREAK : N_CONTINUE);
        expect(p, T_CLOSE_STMT, "expected closing statement token");
    } else {
        jfail(p->c, "template: unknown statement type: %.*s", (int)name->n, name->s);
    }
#undef NAME_IS
    return r;
}

static Node *parse_any_inner(Parser *p);
static Node *parse_any(Parser *p) {
    if (++p->c->depth > MAX_DEPTH) jfail(p->c, "template: nesting too deep");
    Node *r = parse_any_inner(p);
    p->c->depth--;
    return r;
}

static Node *parse_any_inner(Parser *p) {
    Tok *t = &p->t[p->cur];
    switch (t->type) {
    case T_COMMENT:
        p->cur++;
        return mk(p->c, N_COMMENT);
    case T_TEXT: {
        p->cur++;
        Node *n = mk(p->c, N_STR);
        n->s = t->s;
        n->sn = t->n;
        return n;
    }
    case T_OPEN_STMT:
        return parse_stmt(p);
    case T_OPEN_EXPR: {
        p->cur++;
        Node *e = parse_expr(p);
        expect(p, T_CLOSE_EXPR, "expected closing expression token");
        return e;
    }
    default:
        jfail(p->c, "template: unexpected token '%.*s'", (int)t->n, t->s);
    }
}


void jinja_parse(Ctx *c, const char *tmpl, NodeList *prog) {
    TokVec toks = {0};
    lex(c, tmpl, &toks);
    Parser p = {c, toks.v, toks.n, 0};
    while (p.cur < p.n) lpush(c, prog, parse_any(&p));
}
