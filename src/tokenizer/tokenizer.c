/* Loading tokenizer.json / tokenizer_config.json, and the encode and decode
 * pipelines: added-token split, normalizers, pre-tokenizers, BPE,
 * post-processor; decoders, clean-up, and the streaming decoder. BPE itself
 * is in bpe.c, split patterns in pretok.c, chat templates in chat.c. */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer/tok_internal.h"

/* ---- the GPT-2 byte alphabet (closed form) ------------------------------------ */

/* Bytes 33..126, 161..172, 174..255 stand for themselves; the other 68 map
 * to 256, 257, ... in byte order. */
static inline uint32_t bl_cp_of_byte(uint8_t b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    if (b <= 32) return 256u + b;
    if (b <= 160) return 256u + 33u + (b - 127u);
    return 256u + 67u; /* 173 */
}
static inline int bl_byte_of_cp(uint32_t c) {
    if ((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255)) return (int)c;
    if (c < 256 || c >= 256 + 68) return -1;
    uint32_t k = c - 256;
    if (k < 33) return (int)k;
    if (k < 67) return (int)(127 + (k - 33));
    return 173;
}

/* ---- load helpers ------------------------------------------------------------------ */

typedef struct {
    const char *file; /* name used in messages */
    int force_pcre;
} LoadCtx;

static int ferr(const LoadCtx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ferr(const LoadCtx *c, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tr_err(TR_EFORMAT, "%s: %s", c->file, msg);
}

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jbool(const cJSON *o, const char *key, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return def;
}

/* The id space is allocated densely up to the largest id: ids are bounded
 * far above real vocabularies (about 2^18) so that one stray id cannot ask
 * for gigabytes (or overflow the int count at 2^31 - 1). */
#define TOK_MAX_ID ((1 << 24) - 1)

static int jint(const cJSON *v, int64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    /* range first: (int64_t)1e38 is undefined behaviour */
    if (!(d >= 0 && d <= 2147483647.0) || d != floor(d)) return -1;
    *out = (int64_t)d;
    return 0;
}

static char *dupstr(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

/* ---- parsing the parts -------------------------------------------------------------- */

static int add_pre(TokImpl *im, PreTok p) {
    PreTok *np = realloc(im->pre, (size_t)(im->npre + 1) * sizeof *np);
    if (!np) return tr_err(TR_ENOMEM, "out of memory");
    im->pre = np;
    im->pre[im->npre++] = p;
    return 0;
}

static int parse_pattern(const cJSON *j, const char *field, const LoadCtx *c, const char **pat, int *is_regex) {
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(j, "pattern");
    if (!cJSON_IsObject(pt)) return ferr(c, "%s.pattern: missing or not an object", field);
    const char *r = jstr(pt, "Regex"), *s = jstr(pt, "String");
    if (r) {
        *pat = r;
        *is_regex = 1;
    } else if (s) {
        *pat = s;
        *is_regex = 0;
    } else return ferr(c, "%s.pattern: needs a \"Regex\" or \"String\" string", field);
    return 0;
}

static int parse_pretok(TokImpl *im, const cJSON *j, const char *field, const LoadCtx *c) {
    if (cJSON_IsNull(j)) return 0;
    if (!cJSON_IsObject(j)) return ferr(c, "%s: not an object", field);
    const char *type = jstr(j, "type");
    if (!type) return ferr(c, "%s.type: missing", field);
    char sub[256];
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers");
        if (!cJSON_IsArray(arr)) return ferr(c, "%s.pretokenizers: missing or not an array", field);
        int k = 0;
        for (const cJSON *e = arr->child; e; e = e->next, k++) {
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", field, k);
            int rc = parse_pretok(im, e, sub, c);
            if (rc) return rc;
        }
        return 0;
    }
    PreTok p;
    memset(&p, 0, sizeof p);
    if (!strcmp(type, "Split")) {
        const char *pat;
        int is_regex;
        int rc = parse_pattern(j, field, c, &pat, &is_regex);
        if (rc) return rc;
        const char *beh = jstr(j, "behavior");
        p.type = PT_SPLIT;
        p.invert = jbool(j, "invert", 0);
        if (!beh || !strcmp(beh, "Isolated")) p.behavior = SB_ISOLATED;
        else if (!strcmp(beh, "Removed")) p.behavior = SB_REMOVED;
        else if (!strcmp(beh, "MergedWithPrevious")) p.behavior = SB_MERGED_PREV;
        else if (!strcmp(beh, "MergedWithNext")) p.behavior = SB_MERGED_NEXT;
        else if (!strcmp(beh, "Contiguous")) p.behavior = SB_CONTIGUOUS;
        else return ferr(c, "%s.behavior: unknown split behavior '%s'", field, beh);
        snprintf(sub, sizeof sub, "%s: %s.pattern", c->file, field);
        rc = rx_compile(&p.rx, pat, is_regex, c->force_pcre, sub);
        if (rc) return rc;
        return add_pre(im, p);
    }
    if (!strcmp(type, "ByteLevel")) {
        p.type = PT_BYTELEVEL;
        p.add_prefix_space = jbool(j, "add_prefix_space", 0);
        p.use_regex = jbool(j, "use_regex", 1);
        if (p.use_regex) {
            int rc = rx_compile(&p.rx, "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
                                1, c->force_pcre, "ByteLevel");
            if (rc) return rc;
        }
        return add_pre(im, p);
    }
    return ferr(c, "%s.type: unsupported pre-tokenizer type '%s' (supported: Split, ByteLevel, Sequence)",
                field, type);
}

static int add_norm(TokImpl *im, Norm n) {
    Norm *nn = realloc(im->norm, (size_t)(im->nnorm + 1) * sizeof *nn);
    if (!nn) return tr_err(TR_ENOMEM, "out of memory");
    im->norm = nn;
    im->norm[im->nnorm++] = n;
    return 0;
}

static int parse_norm(TokImpl *im, const cJSON *j, const char *field, const LoadCtx *c) {
    if (cJSON_IsNull(j)) return 0;
    if (!cJSON_IsObject(j)) return ferr(c, "%s: not an object", field);
    const char *type = jstr(j, "type");
    if (!type) return ferr(c, "%s.type: missing", field);
    Norm n;
    memset(&n, 0, sizeof n);
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
        if (!cJSON_IsArray(arr)) return ferr(c, "%s.normalizers: missing or not an array", field);
        int k = 0;
        char sub[256];
        for (const cJSON *e = arr->child; e; e = e->next, k++) {
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", field, k);
            int rc = parse_norm(im, e, sub, c);
            if (rc) return rc;
        }
        return 0;
    }
    if (!strcmp(type, "NFC")) n.type = NM_NFC;
    else if (!strcmp(type, "NFD")) n.type = NM_NFD;
    else if (!strcmp(type, "Prepend")) {
        const char *p = jstr(j, "prepend");
        if (!p) return ferr(c, "%s.prepend: missing or not a string", field);
        n.type = NM_PREPEND;
        n.a = dupstr(p);
        n.alen = strlen(p);
    } else if (!strcmp(type, "Replace")) {
        const char *pat, *content = jstr(j, "content");
        int is_regex;
        int rc = parse_pattern(j, field, c, &pat, &is_regex);
        if (rc) return rc;
        if (is_regex) return ferr(c, "%s.pattern: Regex patterns are not supported in Replace", field);
        if (!content) return ferr(c, "%s.content: missing or not a string", field);
        n.type = NM_REPLACE;
        n.a = dupstr(pat);
        n.alen = strlen(pat);
        n.b = dupstr(content);
        n.blen = strlen(content);
    } else
        return ferr(c, "%s.type: unsupported normalizer type '%s' (supported: NFC, NFD, Prepend, Replace, "
                    "Sequence)", field, type);
    return add_norm(im, n);
}

static int add_dec(TokImpl *im, Decoder d) {
    Decoder *nd = realloc(im->dec, (size_t)(im->ndec + 1) * sizeof *nd);
    if (!nd) return tr_err(TR_ENOMEM, "out of memory");
    im->dec = nd;
    im->dec[im->ndec++] = d;
    return 0;
}

static int parse_dec(TokImpl *im, const cJSON *j, const char *field, const LoadCtx *c) {
    if (!cJSON_IsObject(j)) return ferr(c, "%s: not an object", field);
    const char *type = jstr(j, "type");
    if (!type) return ferr(c, "%s.type: missing", field);
    Decoder d;
    memset(&d, 0, sizeof d);
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "decoders");
        if (!cJSON_IsArray(arr)) return ferr(c, "%s.decoders: missing or not an array", field);
        int k = 0;
        char sub[256];
        for (const cJSON *e = arr->child; e; e = e->next, k++) {
            snprintf(sub, sizeof sub, "%s.decoders[%d]", field, k);
            int rc = parse_dec(im, e, sub, c);
            if (rc) return rc;
        }
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) d.type = DC_BYTELEVEL;
    else if (!strcmp(type, "ByteFallback")) d.type = DC_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse")) d.type = DC_FUSE;
    else if (!strcmp(type, "Strip")) {
        const char *content = jstr(j, "content");
        int64_t st = 0, sp = 0;
        if (!content) return ferr(c, "%s.content: missing or not a string", field);
        if (jint(cJSON_GetObjectItemCaseSensitive(j, "start"), &st) ||
            jint(cJSON_GetObjectItemCaseSensitive(j, "stop"), &sp))
            return ferr(c, "%s.start/stop: missing or not non-negative integers", field);
        d.type = DC_STRIP;
        d.a = dupstr(content);
        d.alen = strlen(content);
        d.start = (int)st;
        d.stop = (int)sp;
    } else if (!strcmp(type, "Replace")) {
        const char *pat, *content = jstr(j, "content");
        int is_regex;
        int rc = parse_pattern(j, field, c, &pat, &is_regex);
        if (rc) return rc;
        if (is_regex) return ferr(c, "%s.pattern: Regex patterns are not supported in Replace", field);
        if (!content) return ferr(c, "%s.content: missing or not a string", field);
        d.type = DC_REPLACE;
        d.a = dupstr(pat);
        d.alen = strlen(pat);
        d.b = dupstr(content);
        d.blen = strlen(content);
    } else
        return ferr(c, "%s.type: unsupported decoder type '%s' (supported: ByteLevel, ByteFallback, Fuse, "
                    "Strip, Replace, Sequence)", field, type);
    return add_dec(im, d);
}

static int push_ids(int32_t **v, int *n, int32_t id) {
    int32_t *nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
    if (!nv) return tr_err(TR_ENOMEM, "out of memory");
    *v = nv;
    nv[(*n)++] = id;
    return 0;
}

static int parse_post(TokImpl *im, const cJSON *j, const char *field, const LoadCtx *c) {
    if (cJSON_IsNull(j)) return 0;
    if (!cJSON_IsObject(j)) return ferr(c, "%s: not an object", field);
    const char *type = jstr(j, "type");
    if (!type) return ferr(c, "%s.type: missing", field);
    PostProc *pp = &im->post;
    char sub[256];
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "processors");
        if (!cJSON_IsArray(arr)) return ferr(c, "%s.processors: missing or not an array", field);
        int k = 0;
        for (const cJSON *e = arr->child; e; e = e->next, k++) {
            snprintf(sub, sizeof sub, "%s.processors[%d]", field, k);
            int rc = parse_post(im, e, sub, c);
            if (rc) return rc;
        }
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) return 0;
    if (!strcmp(type, "TemplateProcessing")) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(j, "single");
        const cJSON *stoks = cJSON_GetObjectItemCaseSensitive(j, "special_tokens");
        if (!cJSON_IsArray(single)) return ferr(c, "%s.single: missing or not an array", field);
        free(pp->pre);
        free(pp->post);
        memset(pp, 0, sizeof *pp);
        int seen_a = 0, k = 0;
        for (const cJSON *it = single->child; it; it = it->next, k++) {
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
            const cJSON *sq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
            if (sq) {
                seen_a = 1;
                continue;
            }
            const char *name = st ? jstr(st, "id") : NULL;
            if (!name) return ferr(c, "%s.single[%d]: needs SpecialToken.id or Sequence", field, k);
            /* transformers.js looks the token string up in the vocab; fall back to
             * the ids listed in special_tokens */
            int32_t id = bpe_lookup(&im->bpe, name, strlen(name));
            int rc = 0;
            if (id >= 0) rc = push_ids(seen_a ? &pp->post : &pp->pre, seen_a ? &pp->npost : &pp->npre, id);
            else {
                const cJSON *e = stoks ? cJSON_GetObjectItemCaseSensitive(stoks, name) : NULL;
                const cJSON *ids = e ? cJSON_GetObjectItemCaseSensitive(e, "ids") : NULL;
                if (!cJSON_IsArray(ids))
                    return ferr(c, "%s.single[%d].SpecialToken.id: unknown token '%s'", field, k, name);
                for (const cJSON *x = ids->child; x && !rc; x = x->next) {
                    int64_t v;
                    if (jint(x, &v) || v >= im->bpe.nent)
                        return ferr(c, "%s.special_tokens['%s'].ids: bad id", field, name);
                    rc = push_ids(seen_a ? &pp->post : &pp->pre, seen_a ? &pp->npost : &pp->npre, (int32_t)v);
                }
            }
            if (rc) return rc;
        }
        return 0;
    }
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(j, "cls");
        const cJSON *sep = cJSON_GetObjectItemCaseSensitive(j, "sep");
        if (!cJSON_IsArray(cls) || !cJSON_IsString(cls->child))
            return ferr(c, "%s.cls: missing or not [token, id]", field);
        if (!cJSON_IsArray(sep) || !cJSON_IsString(sep->child))
            return ferr(c, "%s.sep: missing or not [token, id]", field);
        int32_t a = bpe_lookup(&im->bpe, cls->child->valuestring, strlen(cls->child->valuestring));
        int32_t b = bpe_lookup(&im->bpe, sep->child->valuestring, strlen(sep->child->valuestring));
        if (a < 0) return ferr(c, "%s.cls: unknown token '%s'", field, cls->child->valuestring);
        if (b < 0) return ferr(c, "%s.sep: unknown token '%s'", field, sep->child->valuestring);
        free(pp->pre);
        free(pp->post);
        memset(pp, 0, sizeof *pp);
        if (push_ids(&pp->pre, &pp->npre, a) || push_ids(&pp->post, &pp->npost, b)) return TR_ENOMEM;
        return 0;
    }
    return ferr(c, "%s.type: unsupported post-processor type '%s' (supported: ByteLevel, TemplateProcessing, "
                "BertProcessing, RobertaProcessing, Sequence)", field, type);
}

/* ---- added-token trie ------------------------------------------------------------ */

static int trie_node(Trie *t, uint8_t byte) {
    if (t->n == t->cap) {
        int nc = t->cap ? t->cap * 2 : 256;
        TrieNode *nn = realloc(t->node, (size_t)nc * sizeof *nn);
        if (!nn) return -1;
        t->node = nn;
        t->cap = nc;
    }
    t->node[t->n] = (TrieNode){-1, -1, -1, byte};
    return t->n++;
}

static int trie_add(Trie *t, const uint8_t *s, size_t n, int tok) {
    if (!t->n && trie_node(t, 0) < 0) return TR_ENOMEM;
    int cur = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = t->node[cur].child;
        while (ch >= 0 && t->node[ch].byte != s[i]) ch = t->node[ch].sibling;
        if (ch < 0) {
            ch = trie_node(t, s[i]);
            if (ch < 0) return TR_ENOMEM;
            t->node[ch].sibling = t->node[cur].child;
            t->node[cur].child = ch;
        }
        cur = ch;
    }
    t->node[cur].tok = tok; /* a repeated content: the later token wins */
    if (n) t->first[s[0]] = 1;
    return 0;
}

static inline int is_word_cp(uint32_t c) { return c == '_' || (uni_flags(c) & (UNI_L | UNI_N | UNI_M)); }

/* Longest added token at s[i..] that passes the filters; returns the index
 * into added[] and its length in *len, or -1. */
static int trie_match(const TokImpl *im, const Trie *t, const uint8_t *s, size_t n, size_t i, int flags,
                      size_t *len) {
    int best = -1, cur = 0;
    for (size_t j = i; j < n; j++) {
        int ch = t->node[cur].child;
        while (ch >= 0 && t->node[ch].byte != s[j]) ch = t->node[ch].sibling;
        if (ch < 0) break;
        cur = ch;
        int tk = t->node[cur].tok;
        if (tk < 0) continue;
        const AddedTok *a = &im->added[tk];
        if ((flags & TOK_SPLIT_SPECIAL) && a->special) continue;
        if (a->single_word) {
            if (i > 0) {
                size_t st = i - 1;
                while (st > 0 && (s[st] & 0xC0) == 0x80) st--;
                int l;
                if (is_word_cp(uni_decode(s + st, n - st, &l))) continue;
            }
            if (j + 1 < n) {
                int l;
                if (is_word_cp(uni_decode(s + j + 1, n - j - 1, &l))) continue;
            }
        }
        best = tk;
        *len = j + 1 - i;
    }
    return best;
}

static int sect_push(SectVec *v, size_t off, size_t len, int32_t added) {
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 32;
        Sect *nv = realloc(v->v, nc * sizeof *nv);
        if (!nv) return tr_err(TR_ENOMEM, "out of memory");
        v->v = nv;
        v->cap = nc;
    }
    v->v[v->n++] = (Sect){off, len, added};
    return 0;
}

/* Splits s[0..n) on added tokens (leftmost, longest) and applies lstrip /
 * rstrip to the neighbouring text, as transformers.js does. */
static int split_added(const TokImpl *im, const Trie *t, const uint8_t *s, size_t n, int flags, SectVec *out) {
    out->n = 0;
    size_t i = 0, start = 0;
    if (t->n) {
        while (i < n) {
            if (!t->first[s[i]]) {
                i++;
                continue;
            }
            size_t len = 0;
            int tk = trie_match(im, t, s, n, i, flags, &len);
            if (tk < 0) {
                i++;
                continue;
            }
            if (i > start && sect_push(out, start, i - start, -1)) return TR_ENOMEM;
            if (sect_push(out, i, len, tk)) return TR_ENOMEM;
            i += len;
            start = i;
        }
    }
    if (start < n && sect_push(out, start, n - start, -1)) return TR_ENOMEM;
    for (size_t k = 0; k < out->n; k++) {
        if (out->v[k].added < 0) continue;
        const AddedTok *a = &im->added[out->v[k].added];
        if (a->lstrip && k > 0 && out->v[k - 1].added < 0) {
            Sect *p = &out->v[k - 1];
            p->len -= uni_js_ws_suffix(s + p->off, p->len);
        }
        if (a->rstrip && k + 1 < out->n && out->v[k + 1].added < 0) {
            Sect *p = &out->v[k + 1];
            size_t d = uni_js_ws_prefix(s + p->off, p->len);
            p->off += d;
            p->len -= d;
        }
    }
    return 0;
}

/* ---- loading ----------------------------------------------------------------------- */

static void impl_free(TokImpl *im) {
    if (!im) return;
    bpe_free(&im->bpe);
    for (int i = 0; i < im->nnorm; i++) {
        free(im->norm[i].a);
        free(im->norm[i].b);
    }
    free(im->norm);
    for (int i = 0; i < im->npre; i++) rx_free(&im->pre[i].rx);
    free(im->pre);
    free(im->post.pre);
    free(im->post.post);
    for (int i = 0; i < im->ndec; i++) {
        free(im->dec[i].a);
        free(im->dec[i].b);
    }
    free(im->dec);
    free(im->added);
    free(im->trie_raw.node);
    free(im->trie_norm.node);
    for (int i = 0; i < im->nextra_special; i++) free(im->extra_special[i]);
    free(im->extra_special);
    for (int i = 0; i < 7; i++) free(im->tok_str[i]);
    free(im->chat_template);
    sb_free(&im->scratch);
    sb_free(&im->scratch2);
    free(im->spans.v);
    free(im->spans2.v);
    free(im->matches.v);
    free(im->sect.v);
    free(im->sect2.v);
    arena_free(&im->arena);
    free(im);
}

void tok_free(Tokenizer *tok) {
    if (!tok) return;
    impl_free(tok->impl);
    memset(tok, 0, sizeof *tok);
}

static int parse_merges(TokImpl *im, const cJSON *merges, const LoadCtx *c) {
    BpeModel *m = &im->bpe;
    int n = cJSON_GetArraySize(merges);
    if (bpe_merges_init(m, (size_t)n)) return TR_ENOMEM;
    SBuf cat = {0};
    int rank = 0, rc = 0;
    for (const cJSON *e = merges->child; e; e = e->next, rank++) {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(e)) { /* "a b" (JavaScript split(" ", 2)) */
            const char *s = e->valuestring, *sp = strchr(s, ' ');
            if (!sp) {
                rc = ferr(c, "model.merges[%d]: '%s' is not two tokens separated by a space", rank, s);
                break;
            }
            a = s;
            al = (size_t)(sp - s);
            b = sp + 1;
            const char *sp2 = strchr(b, ' ');
            bl = sp2 ? (size_t)(sp2 - b) : strlen(b);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
                   cJSON_IsString(e->child->next)) {
            a = e->child->valuestring;
            al = strlen(a);
            b = e->child->next->valuestring;
            bl = strlen(b);
        } else {
            rc = ferr(c, "model.merges[%d]: not a \"a b\" string or a [a, b] pair", rank);
            break;
        }
        int32_t ia = bpe_lookup(m, a, al), ib = bpe_lookup(m, b, bl);
        if (ia < 0 || ib < 0) {
            rc = ferr(c, "model.merges[%d]: '%.*s %.*s' names unknown token '%.*s'", rank, (int)al, a, (int)bl, b,
                      (int)(ia < 0 ? al : bl), ia < 0 ? a : b);
            break;
        }
        cat.n = 0;
        if (sb_put(&cat, a, al) || sb_put(&cat, b, bl)) {
            rc = TR_ENOMEM;
            break;
        }
        int32_t io = bpe_lookup(m, cat.p, cat.n);
        if (io < 0) {
            rc = ferr(c, "model.merges[%d]: the merge of '%.*s' and '%.*s' ('%s') is not in the vocab", rank,
                      (int)al, a, (int)bl, b, cat.p);
            break;
        }
        if (bpe_add_merge(m, ia, ib, io, rank)) {
            rc = TR_ENOMEM;
            break;
        }
    }
    sb_free(&cat);
    return rc;
}

static const char *CFG_TOKENS[7] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                    "pad_token", "cls_token", "mask_token"};

/* A special token in tokenizer_config.json: a string, {"content": ...} (an
 * AddedToken), or null. */
static int cfg_token(const cJSON *cfg, const char *key, const LoadCtx *c, char **out) {
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (cJSON_IsString(v)) {
        if (!v->valuestring[0]) return 0;
        *out = dupstr(v->valuestring);
    } else if (cJSON_IsObject(v) && jstr(v, "content")) {
        if (!jstr(v, "content")[0]) return 0;
        *out = dupstr(jstr(v, "content"));
    } else
        return ferr(c, "%s: not a string, an AddedToken object or null", key);
    return *out ? 0 : tr_err(TR_ENOMEM, "out of memory");
}

static int parse_config(TokImpl *im, const cJSON *cfg, const LoadCtx *c) {
    for (int i = 0; i < 7; i++) {
        int rc = cfg_token(cfg, CFG_TOKENS[i], c, &im->tok_str[i]);
        if (rc) return rc;
    }
    im->cleanup = jbool(cfg, "clean_up_tokenization_spaces", 1);
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    if (cJSON_IsString(ct)) im->chat_template = dupstr(ct->valuestring);
    else if (cJSON_IsArray(ct)) { /* [{name, template}]: use "default" */
        int k = 0;
        for (const cJSON *e = ct->child; e; e = e->next, k++) {
            const char *name = jstr(e, "name"), *t = jstr(e, "template");
            if (!name || !t) return ferr(c, "chat_template[%d]: needs \"name\" and \"template\" strings", k);
            if (!strcmp(name, "default")) { /* the last one wins, as in transformers */
                free(im->chat_template);
                im->chat_template = dupstr(t);
            }
        }
    } else if (ct && !cJSON_IsNull(ct))
        return ferr(c, "chat_template: not a string or a list of {name, template}");
    const cJSON *ast = cJSON_GetObjectItemCaseSensitive(cfg, "additional_special_tokens");
    if (cJSON_IsArray(ast)) {
        int n = cJSON_GetArraySize(ast), k = 0;
        im->extra_special = calloc((size_t)n + 1, sizeof(char *));
        if (!im->extra_special) return tr_err(TR_ENOMEM, "out of memory");
        for (const cJSON *e = ast->child; e; e = e->next, k++) {
            const char *s = cJSON_IsString(e) ? e->valuestring : jstr(e, "content");
            if (!s) return ferr(c, "additional_special_tokens[%d]: not a string or an AddedToken", k);
            im->extra_special[im->nextra_special++] = dupstr(s);
        }
    }
    return 0;
}

static int load_valid(Tokenizer *tok, const char *json, size_t len, const char *cfgjson, size_t cfglen,
                      const char *file, const char *cfgfile, int force_pcre) {
    memset(tok, 0, sizeof *tok);
    LoadCtx c = {file, force_pcre};
    cJSON *root = cJSON_ParseWithLength(json, len), *cfg = NULL;
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        return ferr(&c, "invalid JSON near byte %zu", at && at >= json && at <= json + len ? (size_t)(at - json) : 0);
    }
    TokImpl *im = calloc(1, sizeof *im);
    int rc = 0;
    if (!im) {
        cJSON_Delete(root);
        return tr_err(TR_ENOMEM, "out of memory");
    }
    if (!cJSON_IsObject(root)) {
        rc = ferr(&c, "not a JSON object");
        goto done;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) {
        rc = ferr(&c, "model: missing or not an object");
        goto done;
    }
    const char *mtype = jstr(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (mtype && strcmp(mtype, "BPE")) {
        rc = ferr(&c, "model.type: unsupported model type '%s' (only BPE is supported)", mtype);
        goto done;
    }
    if (!mtype && !merges) {
        rc = ferr(&c, "model.type: missing (and no merges to infer BPE from)");
        goto done;
    }
    if (!cJSON_IsObject(vocab)) {
        rc = ferr(&c, "model.vocab: missing or not an object");
        goto done;
    }
    if (!cJSON_IsArray(merges)) {
        rc = ferr(&c, "model.merges: missing or not an array");
        goto done;
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added)) {
        rc = ferr(&c, "added_tokens: not an array");
        goto done;
    }

    /* id space */
    BpeModel *m = &im->bpe;
    int64_t maxid = -1;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int64_t id;
        if (jint(e, &id)) {
            rc = ferr(&c, "model.vocab['%s']: id must be a non-negative integer", e->string);
            goto done;
        }
        if (id > TOK_MAX_ID) {
            rc = ferr(&c, "model.vocab['%s']: id %lld is too large (at most %d)", e->string, (long long)id,
                      TOK_MAX_ID);
            goto done;
        }
        if (id > maxid) maxid = id;
    }
    int k = 0;
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next, k++) {
        int64_t id;
        if (!cJSON_IsObject(e)) {
            rc = ferr(&c, "added_tokens[%d]: not an object", k);
            goto done;
        }
        if (jint(cJSON_GetObjectItemCaseSensitive(e, "id"), &id)) {
            rc = ferr(&c, "added_tokens[%d].id: missing or not a non-negative integer", k);
            goto done;
        }
        if (!jstr(e, "content")) {
            rc = ferr(&c, "added_tokens[%d].content: missing or not a string", k);
            goto done;
        }
        if (id > TOK_MAX_ID) {
            rc = ferr(&c, "added_tokens[%d].id: %lld is too large (at most %d)", k, (long long)id, TOK_MAX_ID);
            goto done;
        }
        if (id > maxid) maxid = id;
    }
    m->nent = (int)(maxid + 1);
    m->ent = calloc((size_t)m->nent + 1, sizeof *m->ent);
    if (!m->ent) {
        rc = tr_err(TR_ENOMEM, "out of memory");
        goto done;
    }
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id = (int32_t)e->valuedouble;
        TokEntry *t = &m->ent[id];
        t->len = (uint32_t)strlen(e->string);
        t->str = arena_strndup(&im->arena, e->string, t->len);
        if (!t->str) {
            rc = TR_ENOMEM;
            goto done;
        }
    }
    int nadded = added ? cJSON_GetArraySize(added) : 0;
    im->added = calloc((size_t)nadded + 1, sizeof *im->added);
    if (!im->added) {
        rc = tr_err(TR_ENOMEM, "out of memory");
        goto done;
    }
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        AddedTok *a = &im->added[im->nadded++];
        a->id = (int32_t)cJSON_GetObjectItemCaseSensitive(e, "id")->valuedouble;
        const char *content = jstr(e, "content");
        a->len = (uint32_t)strlen(content);
        a->content = arena_strndup(&im->arena, content, a->len);
        if (!a->content) {
            rc = TR_ENOMEM;
            goto done;
        }
        a->special = (uint8_t)jbool(e, "special", 0);
        a->lstrip = (uint8_t)jbool(e, "lstrip", 0);
        a->rstrip = (uint8_t)jbool(e, "rstrip", 0);
        a->single_word = (uint8_t)jbool(e, "single_word", 0);
        a->normalized = (uint8_t)jbool(e, "normalized", !a->special);
        TokEntry *t = &m->ent[a->id];
        t->str = a->content; /* transformers.js: model.vocab[id] = content */
        t->len = a->len;
        t->flags = (uint8_t)(TK_ADDED | (a->special ? TK_SPECIAL : 0));
    }

    /* decoder, then what each token decodes to */
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (dec && !cJSON_IsNull(dec)) {
        im->has_decoder = 1;
        if ((rc = parse_dec(im, dec, "decoder", &c))) goto done;
    }
    int dec_bytelevel = 0;
    for (int i = 0; i < im->ndec; i++)
        if (im->dec[i].type == DC_BYTELEVEL) dec_bytelevel = 1;
    for (int id = 0; id < m->nent; id++) {
        TokEntry *t = &m->ent[id];
        if (!t->str) continue;
        int ok = 1;
        uint8_t *b = arena_alloc(&im->arena, t->len + 1);
        uint32_t nb = 0;
        if (!b) {
            rc = TR_ENOMEM;
            goto done;
        }
        for (uint32_t i = 0; i < t->len;) {
            int l, mx;
            int vl = uni_valid_len((const uint8_t *)t->str + i, t->len - i, &mx);
            uint32_t cp = vl ? uni_decode((const uint8_t *)t->str + i, t->len - i, &l) : 0xFFFD;
            int byte = bl_byte_of_cp(cp);
            if (byte < 0) ok = 0;
            b[nb++] = (uint8_t)(byte < 0 ? 0 : byte); /* transformers.js: unknown char -> byte 0 */
            i += vl ? (uint32_t)vl : 1;
        }
        t->bytelevel_ok = (uint8_t)ok;
        if (dec_bytelevel && !(t->flags & TK_ADDED)) {
            t->bytes = b;
            t->nbytes = nb;
        } else {
            t->bytes = (const uint8_t *)t->str;
            t->nbytes = t->len;
        }
    }
    /* pre-tokenizer and normalizer */
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (pre && (rc = parse_pretok(im, pre, "pre_tokenizer", &c))) goto done;
    for (int i = 0; i + 1 < im->npre; i++)
        if (im->pre[i].type == PT_BYTELEVEL) {
            rc = ferr(&c, "pre_tokenizer: ByteLevel must be the last pre-tokenizer");
            goto done;
        }
    im->bytelevel = im->npre > 0 && im->pre[im->npre - 1].type == PT_BYTELEVEL;
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (norm && (rc = parse_norm(im, norm, "normalizer", &c))) goto done;

    /* vocab maps (byte keys: for the byte-level vocab, always the decoded bytes) */
    if (!dec_bytelevel && im->bytelevel) {
        /* ByteLevel pre-tokenizer without the ByteLevel decoder: still key by bytes */
        for (int id = 0; id < m->nent; id++) {
            TokEntry *t = &m->ent[id];
            if (!t->str || (t->flags & TK_ADDED) || !t->bytelevel_ok) continue;
            uint8_t *b = arena_alloc(&im->arena, t->len + 1);
            uint32_t nb = 0;
            if (!b) {
                rc = TR_ENOMEM;
                goto done;
            }
            for (uint32_t i = 0; i < t->len;) {
                int l;
                uint32_t cp = uni_decode((const uint8_t *)t->str + i, t->len - i, &l);
                b[nb++] = (uint8_t)bl_byte_of_cp(cp);
                i += (uint32_t)l;
            }
            t->bytes = b; /* decode uses str for such tokens: see tok_decode */
            t->nbytes = nb;
        }
    }
    if ((rc = bpe_build_maps(m))) goto done;
    for (int b = 0; b < 256; b++) {
        uint8_t u[4];
        int l = uni_encode(bl_cp_of_byte((uint8_t)b), u);
        m->byte_id[b] = im->bytelevel ? bpe_lookup(m, (const char *)u, (size_t)l) : -1;
    }
    const char *unk = jstr(model, "unk_token");
    m->unk_id = unk ? bpe_lookup(m, unk, strlen(unk)) : -1;
    m->ignore_merges = jbool(model, "ignore_merges", 0);
    m->byte_fallback = jbool(model, "byte_fallback", 0);
    const char *eow = jstr(model, "end_of_word_suffix");
    if (eow && eow[0]) m->eow_suffix = arena_strndup(&im->arena, eow, strlen(eow));
    if ((rc = parse_merges(im, merges, &c))) goto done;

    /* added-token tries */
    for (int i = 0; i < im->nadded; i++) {
        const AddedTok *a = &im->added[i];
        if (!a->len) continue;
        Trie *t = a->normalized && im->nnorm ? &im->trie_norm : &im->trie_raw;
        if (trie_add(t, (const uint8_t *)a->content, a->len, i)) {
            rc = tr_err(TR_ENOMEM, "out of memory");
            goto done;
        }
    }

    const cJSON *post = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    if (post && (rc = parse_post(im, post, "post_processor", &c))) goto done;

    /* tokenizer_config.json */
    if (cfgjson) {
        LoadCtx cc = {cfgfile, force_pcre};
        cfg = cJSON_ParseWithLength(cfgjson, cfglen);
        if (!cfg || !cJSON_IsObject(cfg)) {
            rc = ferr(&cc, "invalid JSON (or not an object)");
            goto done;
        }
        if ((rc = parse_config(im, cfg, &cc))) goto done;
    } else
        im->cleanup = 0;
    for (int i = 0; i < im->nextra_special; i++) {
        int32_t id = bpe_lookup(m, im->extra_special[i], strlen(im->extra_special[i]));
        if (id >= 0) m->ent[id].flags |= TK_SPECIAL;
    }

    tok->impl = im;
    tok->vocab_size = m->nent;
    tok->bos_token = im->tok_str[0];
    tok->eos_token = im->tok_str[1];
    tok->unk_token = im->tok_str[2];
    tok->pad_token = im->tok_str[4] ? im->tok_str[4] : im->tok_str[1];
    tok->chat_template = im->chat_template;
    tok->bos_id = tok->bos_token ? bpe_lookup(m, tok->bos_token, strlen(tok->bos_token)) : -1;
    tok->eos_id = tok->eos_token ? bpe_lookup(m, tok->eos_token, strlen(tok->eos_token)) : -1;
    tok->pad_id = tok->pad_token ? bpe_lookup(m, tok->pad_token, strlen(tok->pad_token)) : -1;
    tok->unk_id = tok->unk_token ? bpe_lookup(m, tok->unk_token, strlen(tok->unk_token)) : m->unk_id;
    im = NULL;
done:
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    if (im) {
        impl_free(im);
        memset(tok, 0, sizeof *tok);
    }
    return rc;
}

/* The reference reads both files as UTF-8 text (TextDecoder) before
 * JSON.parse, so invalid bytes in them become U+FFFD; cJSON would keep them,
 * and added tokens or templates holding them would break the promise that
 * decoded pieces are valid UTF-8. Valid files are used as they are. */
static int load_impl(Tokenizer *tok, const char *json, size_t len, const char *cfgjson, size_t cfglen,
                     const char *file, const char *cfgfile, int force_pcre) {
    char *fj = NULL, *fc = NULL;
    size_t n;
    if (!uni_is_valid((const uint8_t *)json, len)) {
        if (!(fj = (char *)uni_sanitize((const uint8_t *)json, len, &n))) goto oom;
        json = fj;
        len = n;
    }
    if (cfgjson && !uni_is_valid((const uint8_t *)cfgjson, cfglen)) {
        if (!(fc = (char *)uni_sanitize((const uint8_t *)cfgjson, cfglen, &n))) goto oom;
        cfgjson = fc;
        cfglen = n;
    }
    int rc = load_valid(tok, json, len, cfgjson, cfglen, file, cfgfile, force_pcre);
    free(fj);
    free(fc);
    return rc;
oom:
    free(fj);
    memset(tok, 0, sizeof *tok);
    return tr_err(TR_ENOMEM, "out of memory");
}

int tok_load_json(Tokenizer *tok, const char *json, size_t len, const char *cfg, size_t cfglen) {
    return load_impl(tok, json, len, cfg, cfglen, "tokenizer.json", "tokenizer_config.json", 0);
}

int tok_load_ex(Tokenizer *tok, const char *path, int force_pcre) {
    memset(tok, 0, sizeof *tok);
    struct stat st;
    if (stat(path, &st) != 0) return tr_err(TR_EIO, "%s: %s", path, strerror(errno));
    SBuf jp = {0}, cp = {0};
    int rc;
    if (S_ISDIR(st.st_mode)) {
        if (sb_printf(&jp, "%s/tokenizer.json", path) || sb_printf(&cp, "%s/tokenizer_config.json", path))
            return TR_ENOMEM;
    } else {
        if (sb_puts(&jp, path)) return TR_ENOMEM;
        const char *slash = strrchr(path, '/');
        size_t dl = slash ? (size_t)(slash - path) : 0;
        if (slash ? sb_printf(&cp, "%.*s/tokenizer_config.json", (int)dl, path)
                  : sb_puts(&cp, "tokenizer_config.json")) {
            sb_free(&jp);
            return TR_ENOMEM;
        }
    }
    size_t len = 0, clen = 0;
    char *json = tr_read_file(jp.p, &len), *cfg = NULL;
    if (!json) {
        rc = TR_EIO;
        goto out;
    }
    if (stat(cp.p, &st) == 0) {
        cfg = tr_read_file(cp.p, &clen);
        if (!cfg) {
            rc = TR_EIO;
            goto out;
        }
    }
    rc = load_impl(tok, json, len, cfg, clen, jp.p, cp.p, force_pcre);
    if (!rc && !tok->chat_template) { /* newer exports keep the template in chat_template.jinja */
        SBuf tp = {0};
        const char *slash = strrchr(jp.p, '/');
        size_t dl = slash ? (size_t)(slash - jp.p) : 0;
        if (!(slash ? sb_printf(&tp, "%.*s/chat_template.jinja", (int)dl, jp.p) : sb_puts(&tp, "chat_template.jinja")) &&
            stat(tp.p, &st) == 0) {
            size_t tl = 0;
            char *t = tr_read_file(tp.p, &tl);
            const char *nul = t ? memchr(t, 0, tl) : NULL;
            if (nul) { /* a C string would end there: the template would be cut short */
                rc = tr_err(TR_EFORMAT, "%s: NUL byte at offset %zu; a chat template is text", tp.p, (size_t)(nul - t));
                free(t);
                t = NULL;
            } else if (t && !uni_is_valid((const uint8_t *)t, tl)) { /* as for the JSON files: U+FFFD */
                size_t n;
                char *u = (char *)uni_sanitize((const uint8_t *)t, tl, &n);
                free(t);
                t = u;
                if (!t) rc = tr_err(TR_ENOMEM, "%s: out of memory", tp.p);
            } else if (!t) {
                rc = TR_EIO;
            }
            if (!t) {
                tok_free(tok);
            } else {
                tok->impl->chat_template = t;
                tok->chat_template = t;
            }
        }
        sb_free(&tp);
    }
out:
    free(json);
    free(cfg);
    sb_free(&jp);
    sb_free(&cp);
    return rc;
}

int tok_load(Tokenizer *tok, const char *path) { return tok_load_ex(tok, path, 0); }

void tok_set_force_pcre(Tokenizer *tok, int on) {
    if (tok->impl) tok->impl->force_pcre = on;
}

/* ---- encoding --------------------------------------------------------------------------- */

void tok_ids_free(TokIds *v) {
    free(v->ids);
    memset(v, 0, sizeof *v);
}

static int ids_push(TokIds *out, const int32_t *ids, size_t n) {
    if (out->n + n > out->cap) {
        size_t nc = out->cap ? out->cap * 2 : 256;
        while (nc < out->n + n) nc *= 2;
        int32_t *ni = realloc(out->ids, nc * sizeof *ni);
        if (!ni) return tr_err(TR_ENOMEM, "out of memory");
        out->ids = ni;
        out->cap = nc;
    }
    memcpy(out->ids + out->n, ids, n * sizeof *ids);
    out->n += n;
    return 0;
}

/* Replaces every occurrence of a (non-empty) in s with b into o. */
static int replace_all(const uint8_t *s, size_t n, const char *a, size_t al, const char *b, size_t bl, SBuf *o) {
    o->n = 0;
    if (sb_reserve(o, n)) return TR_ENOMEM;
    size_t i = 0;
    while (i < n) {
        if (al && i + al <= n && !memcmp(s + i, a, al)) {
            if (sb_put(o, b, bl)) return TR_ENOMEM;
            i += al;
        } else {
            if (sb_put(o, s + i, 1)) return TR_ENOMEM;
            i++;
        }
    }
    if (sb_put(o, "", 0)) return TR_ENOMEM; /* NUL-terminated even when nothing was put */
    return 0;
}

/* pieces from the matches of one Split over the piece [off, off+len) */
static int split_piece(const PreTok *p, const SpanVec *mt, size_t off, size_t len, SpanVec *out) {
    size_t prev = 0;
    if (p->invert) {
        for (size_t k = 0; k < mt->n; k++)
            if (mt->v[k].len && spans_push(out, off + mt->v[k].off, mt->v[k].len)) return TR_ENOMEM;
        return 0;
    }
    long run = -1; /* Contiguous: start of the current run of matches */
    for (size_t k = 0; k < mt->n; k++) {
        size_t ms = mt->v[k].off, ml = mt->v[k].len;
        if (!ml) continue;
        switch (p->behavior) {
        case SB_ISOLATED:
            if (prev < ms && spans_push(out, off + prev, ms - prev)) return TR_ENOMEM;
            if (spans_push(out, off + ms, ml)) return TR_ENOMEM;
            break;
        case SB_REMOVED:
            if (prev < ms && spans_push(out, off + prev, ms - prev)) return TR_ENOMEM;
            break;
        case SB_MERGED_PREV:
            if (spans_push(out, off + prev, ms + ml - prev)) return TR_ENOMEM;
            break;
        case SB_MERGED_NEXT:
            if (prev < ms && spans_push(out, off + prev, ms - prev)) return TR_ENOMEM;
            prev = ms;
            continue;
        case SB_CONTIGUOUS:
            if (prev < ms || run < 0) {
                if (run >= 0 && spans_push(out, off + (size_t)run, prev - (size_t)run)) return TR_ENOMEM;
                if (prev < ms && spans_push(out, off + prev, ms - prev)) return TR_ENOMEM;
                run = (long)ms;
            }
            break;
        }
        prev = ms + ml;
    }
    if (p->behavior == SB_CONTIGUOUS && run >= 0 && spans_push(out, off + (size_t)run, prev - (size_t)run))
        return TR_ENOMEM;
    if (prev < len && spans_push(out, off + prev, len - prev)) return TR_ENOMEM;
    return 0;
}

/* Pre-tokenizes s[0..n) (normalised text of one section) and runs BPE on
 * each piece. */
static int pretok_and_bpe(TokImpl *im, const uint8_t *s, size_t n, TokIds *out) {
    /* fast path: Split(known pattern, Isolated) [+ plain ByteLevel]: stream the matches */
    if (im->npre >= 1 && im->pre[0].type == PT_SPLIT && !im->pre[0].invert &&
        im->pre[0].behavior == SB_ISOLATED && im->pre[0].rx.kind >= RX_GPT2 && im->pre[0].rx.kind <= RX_QWEN2 &&
        (im->npre == 1 || (im->npre == 2 && im->pre[1].type == PT_BYTELEVEL && !im->pre[1].add_prefix_space &&
                           !im->pre[1].use_regex))) {
        im->matches.n = 0;
        int rc = rx_find_all(&im->pre[0].rx, s, n, &im->matches);
        for (size_t k = 0; !rc && k < im->matches.n; k++)
            rc = bpe_encode_piece(&im->bpe, s + im->matches.v[k].off, im->matches.v[k].len, im->bytelevel, out);
        return rc;
    }
    SpanVec *cur = &im->spans, *nxt = &im->spans2;
    cur->n = 0;
    if (spans_push(cur, 0, n)) return TR_ENOMEM;
    const uint8_t *buf = s;
    for (int k = 0; k < im->npre; k++) {
        const PreTok *p = &im->pre[k];
        nxt->n = 0;
        if (p->type == PT_BYTELEVEL && p->add_prefix_space) {
            SBuf *sb = buf == (const uint8_t *)im->scratch2.p ? &im->scratch : &im->scratch2;
            SBuf tmp = {0};
            for (size_t i = 0; i < cur->n; i++) {
                size_t st = tmp.n;
                if ((cur->v[i].len == 0 || buf[cur->v[i].off] != ' ') && sb_putc(&tmp, ' ')) goto oom;
                if (sb_put(&tmp, buf + cur->v[i].off, cur->v[i].len)) goto oom;
                if (spans_push(nxt, st, tmp.n - st)) goto oom;
            }
            sb_free(sb);
            *sb = tmp;
            buf = (const uint8_t *)sb->p;
            SpanVec *t = cur;
            cur = nxt;
            nxt = t;
            nxt->n = 0;
            if (!p->use_regex) continue;
            goto do_split;
        oom:
            sb_free(&tmp);
            return TR_ENOMEM;
        }
        if (p->type == PT_BYTELEVEL && !p->use_regex) continue;
    do_split:
        for (size_t i = 0; i < cur->n; i++) {
            im->matches.n = 0;
            if (rx_find_all((Regex *)&p->rx, buf + cur->v[i].off, cur->v[i].len, &im->matches)) return TR_ENOMEM;
            PreTok eff = *p;
            if (p->type == PT_BYTELEVEL) {
                eff.behavior = SB_ISOLATED;
                eff.invert = 1; /* text.match(pattern): the matches only */
            }
            if (split_piece(&eff, &im->matches, cur->v[i].off, cur->v[i].len, nxt)) return TR_ENOMEM;
        }
        SpanVec *t = cur;
        cur = nxt;
        nxt = t;
    }
    for (size_t i = 0; i < cur->n; i++) {
        int rc = bpe_encode_piece(&im->bpe, buf + cur->v[i].off, cur->v[i].len, im->bytelevel, out);
        if (rc) return rc;
    }
    return 0;
}

/* Normalizes one text section and encodes it (splitting on normalized added
 * tokens first when there are any). */
static int encode_section(TokImpl *im, const uint8_t *s, size_t n, int flags, TokIds *out) {
    const uint8_t *cur = s;
    size_t cn = n;
    uint8_t *owned = NULL;
    SBuf rb = {0};
    int rc = 0;
    for (int k = 0; k < im->nnorm; k++) {
        const Norm *nm = &im->norm[k];
        uint8_t *r = NULL;
        size_t rn = 0;
        int err = 0;
        if (nm->type == NM_NFC || nm->type == NM_NFD) {
            r = nm->type == NM_NFC ? uni_nfc(cur, cn, &rn, &err) : uni_nfd(cur, cn, &rn, &err);
            if (err) {
                rc = tr_err(TR_ENOMEM, "out of memory");
                goto out;
            }
        } else if (nm->type == NM_PREPEND) {
            r = malloc(nm->alen + cn + 1);
            if (!r) {
                rc = tr_err(TR_ENOMEM, "out of memory");
                goto out;
            }
            memcpy(r, nm->a, nm->alen);
            memcpy(r + nm->alen, cur, cn);
            rn = nm->alen + cn;
        } else if (nm->type == NM_REPLACE) {
            if ((rc = replace_all(cur, cn, nm->a, nm->alen, nm->b, nm->blen, &rb))) goto out;
            r = (uint8_t *)rb.p;
            rn = rb.n;
            rb = (SBuf){0};
        }
        if (r) {
            free(owned);
            owned = r;
            cur = r;
            cn = rn;
        }
    }
    if (cn == 0) goto out;
    if (im->trie_norm.n) {
        SectVec *sv = &im->sect2;
        if ((rc = split_added(im, &im->trie_norm, cur, cn, flags, sv))) goto out;
        for (size_t k = 0; k < sv->n && !rc; k++) {
            if (sv->v[k].added >= 0) rc = ids_push(out, &im->added[sv->v[k].added].id, 1);
            else if (sv->v[k].len) rc = pretok_and_bpe(im, cur + sv->v[k].off, sv->v[k].len, out);
        }
    } else
        rc = pretok_and_bpe(im, cur, cn, out);
out:
    free(owned);
    sb_free(&rb);
    return rc;
}

int tok_encode(Tokenizer *tok, const char *text, size_t len, int flags, TokIds *out) {
    TokImpl *im = tok->impl;
    if (!im) return tr_err(TR_EINVAL, "tokenizer not loaded");
    const uint8_t *s = (const uint8_t *)text;
    uint8_t *clean = NULL;
    if (!uni_is_valid(s, len)) {
        clean = uni_sanitize(s, len, &len);
        if (!clean) return tr_err(TR_ENOMEM, "out of memory");
        s = clean;
    }
    int rc = 0;
    if ((flags & TOK_ADD_SPECIAL) && im->post.npre) rc = ids_push(out, im->post.pre, (size_t)im->post.npre);
    SectVec *sv = &im->sect;
    if (!rc) rc = split_added(im, &im->trie_raw, s, len, flags, sv);
    for (size_t k = 0; k < sv->n && !rc; k++) {
        if (sv->v[k].added >= 0) rc = ids_push(out, &im->added[sv->v[k].added].id, 1);
        else if (sv->v[k].len) rc = encode_section(im, s + sv->v[k].off, sv->v[k].len, flags, out);
    }
    if (!rc && (flags & TOK_ADD_SPECIAL) && im->post.npost)
        rc = ids_push(out, im->post.post, (size_t)im->post.npost);
    free(clean);
    return rc;
}

/* ---- decoding ------------------------------------------------------------------------------ */

/* Appends bytes b[0..n) decoded as UTF-8 with the U+FFFD rule. */
static int put_utf8_lossy(SBuf *o, const uint8_t *b, size_t n) {
    if (uni_is_valid(b, n)) return sb_put(o, b, n);
    size_t cn;
    uint8_t *c = uni_sanitize(b, n, &cn);
    if (!c) return tr_err(TR_ENOMEM, "out of memory");
    int rc = sb_put(o, c, cn);
    free(c);
    return rc;
}

static const struct {
    const char *from, *to;
} CLEANUP[] = {{" .", "."},     {" ?", "?"},     {" !", "!"},       {" ,", ","},     {" ' ", "'"},
               {" n't", "n't"}, {" 'm", "'m"},   {" 's", "'s"},     {" 've", "'ve"}, {" 're", "'re"}};

static int cleanup_spaces(SBuf *s) {
    SBuf t = {0};
    for (size_t k = 0; k < sizeof CLEANUP / sizeof CLEANUP[0]; k++) {
        size_t fl = strlen(CLEANUP[k].from);
        int found = 0;
        for (const char *q = s->n ? memchr(s->p, ' ', s->n) : NULL; q && !found;
             q = q + 1 < s->p + s->n ? memchr(q + 1, ' ', (size_t)(s->p + s->n - q - 1)) : NULL)
            found = (size_t)(s->p + s->n - q) >= fl && !memcmp(q, CLEANUP[k].from, fl);
        if (!found) continue;
        if (replace_all((const uint8_t *)s->p, s->n, CLEANUP[k].from, strlen(CLEANUP[k].from), CLEANUP[k].to,
                        strlen(CLEANUP[k].to), &t)) {
            sb_free(&t);
            return TR_ENOMEM;
        }
        SBuf x = *s;
        *s = t;
        t = x;
    }
    sb_free(&t);
    return 0;
}

typedef struct {
    SBuf *v;
    size_t n, cap;
} StrList;

static int sl_push(StrList *l, const void *p, size_t n) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        SBuf *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return tr_err(TR_ENOMEM, "out of memory");
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n] = (SBuf){0};
    if (sb_put(&l->v[l->n], p, n)) return TR_ENOMEM;
    l->n++;
    return 0;
}

static void sl_free(StrList *l) {
    for (size_t i = 0; i < l->n; i++) sb_free(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int is_added_str(const TokImpl *im, const SBuf *s) {
    int32_t id = bpe_lookup(&im->bpe, s->p, s->n);
    return id >= 0 && (im->bpe.ent[id].flags & TK_ADDED);
}

/* The general decoder chain over a list of strings (transformers.js
 * decode_chain semantics). */
static int decode_chain(const TokImpl *im, StrList *l) {
    for (int d = 0; d < im->ndec; d++) {
        const Decoder *dc = &im->dec[d];
        StrList o = {0};
        int rc = 0;
        if (dc->type == DC_BYTELEVEL) {
            SBuf bytes = {0};
            for (size_t i = 0; i <= l->n && !rc; i++) {
                if (i == l->n || is_added_str(im, &l->v[i])) {
                    if (bytes.n) {
                        SBuf t = {0};
                        rc = put_utf8_lossy(&t, (const uint8_t *)bytes.p, bytes.n);
                        if (!rc) rc = sl_push(&o, t.p, t.n);
                        sb_free(&t);
                        bytes.n = 0;
                    }
                    if (i < l->n && !rc) rc = sl_push(&o, l->v[i].p, l->v[i].n);
                    continue;
                }
                const uint8_t *p = (const uint8_t *)l->v[i].p;
                for (size_t k = 0; k < l->v[i].n && !rc;) {
                    int len, mx;
                    int vl = uni_valid_len(p + k, l->v[i].n - k, &mx);
                    uint32_t cp = vl ? uni_decode(p + k, l->v[i].n - k, &len) : 0xFFFD;
                    int b = bl_byte_of_cp(cp);
                    uint8_t ch = (uint8_t)(b < 0 ? 0 : b);
                    rc = sb_put(&bytes, &ch, 1);
                    k += vl ? (size_t)vl : 1;
                }
            }
            sb_free(&bytes);
        } else if (dc->type == DC_BYTEFALLBACK) {
            SBuf bytes = {0};
            for (size_t i = 0; i <= l->n && !rc; i++) {
                const SBuf *t = i < l->n ? &l->v[i] : NULL;
                int hex = -1;
                if (t && t->n == 6 && !memcmp(t->p, "<0x", 3) && t->p[5] == '>') {
                    char h[3] = {t->p[3], t->p[4], 0}, *end;
                    long v = strtol(h, &end, 16);
                    if (*end == 0) hex = (int)v;
                }
                if (hex >= 0) {
                    uint8_t ch = (uint8_t)hex;
                    rc = sb_put(&bytes, &ch, 1);
                    continue;
                }
                if (bytes.n) {
                    SBuf u = {0};
                    rc = put_utf8_lossy(&u, (const uint8_t *)bytes.p, bytes.n);
                    if (!rc) rc = sl_push(&o, u.p, u.n);
                    sb_free(&u);
                    bytes.n = 0;
                }
                if (t && !rc) rc = sl_push(&o, t->p, t->n);
            }
            sb_free(&bytes);
        } else if (dc->type == DC_FUSE) {
            SBuf all = {0};
            for (size_t i = 0; i < l->n && !rc; i++) rc = sb_put(&all, l->v[i].p, l->v[i].n);
            if (!rc) rc = sl_push(&o, all.p ? all.p : "", all.n);
            sb_free(&all);
        } else if (dc->type == DC_STRIP) {
            for (size_t i = 0; i < l->n && !rc; i++) {
                const char *p = l->v[i].p ? l->v[i].p : "";
                size_t st = 0, en = l->v[i].n;
                /* an empty content strips nothing (and must not loop start times) */
                for (int k = 0; k < dc->start && dc->alen && st + dc->alen <= en && !memcmp(p + st, dc->a, dc->alen);
                     k++)
                    st += dc->alen;
                for (int k = 0; k < dc->stop && dc->alen && en >= st + dc->alen &&
                                !memcmp(p + en - dc->alen, dc->a, dc->alen);
                     k++)
                    en -= dc->alen;
                rc = sl_push(&o, p + st, en - st);
            }
        } else if (dc->type == DC_REPLACE) {
            SBuf t = {0};
            for (size_t i = 0; i < l->n && !rc; i++) {
                rc = replace_all((const uint8_t *)(l->v[i].p ? l->v[i].p : ""), l->v[i].n, dc->a, dc->alen, dc->b,
                                 dc->blen, &t);
                if (!rc) rc = sl_push(&o, t.p, t.n);
            }
            sb_free(&t);
        }
        if (rc) {
            sl_free(&o);
            return rc;
        }
        sl_free(l);
        *l = o;
    }
    return 0;
}

static int check_id(const Tokenizer *tok, int32_t id) {
    if (id < 0 || id >= tok->impl->bpe.nent || !tok->impl->bpe.ent[id].str)
        return tr_err(TR_EINVAL, "token id %d is out of range (vocab ids are 0..%d)", (int)id,
                      tok->impl->bpe.nent - 1);
    return 0;
}

/* 1 when the decoder is exactly ByteLevel: tokens decode to their bytes */
static int plain_bytelevel(const TokImpl *im) { return im->ndec == 1 && im->dec[0].type == DC_BYTELEVEL; }

int tok_decode(const Tokenizer *tok, const int32_t *ids, size_t n, int flags, char **out, size_t *out_len) {
    *out = NULL;
    if (out_len) *out_len = 0;
    const TokImpl *im = tok->impl;
    if (!im) return tr_err(TR_EINVAL, "tokenizer not loaded");
    const BpeModel *m = &im->bpe;
    for (size_t i = 0; i < n; i++) {
        int rc = check_id(tok, ids[i]);
        if (rc) return rc;
    }
    SBuf res = {0};
    int rc = 0;
    if (plain_bytelevel(im)) {
        size_t run = 0; /* start of the pending byte run in res */
        for (size_t i = 0; i <= n && !rc; i++) {
            const TokEntry *t = i < n ? &m->ent[ids[i]] : NULL;
            if (t && (flags & TOK_SKIP_SPECIAL) && (t->flags & TK_SPECIAL)) continue;
            if (!t || (t->flags & TK_ADDED)) {
                /* validate the pending bytes [run, res.n) in place (none
                 * yet: res.p may still be NULL) */
                if (res.n > run && !uni_is_valid((const uint8_t *)res.p + run, res.n - run)) {
                    size_t cn;
                    uint8_t *c = uni_sanitize((const uint8_t *)res.p + run, res.n - run, &cn);
                    if (!c) {
                        rc = tr_err(TR_ENOMEM, "out of memory");
                        break;
                    }
                    res.n = run;
                    rc = sb_put(&res, c, cn);
                    free(c);
                }
                if (t && !rc) rc = sb_put(&res, t->str, t->len);
                run = res.n;
                continue;
            }
            rc = sb_put(&res, t->bytes, t->nbytes);
        }
    } else {
        StrList l = {0};
        for (size_t i = 0; i < n && !rc; i++) {
            const TokEntry *t = &m->ent[ids[i]];
            if ((flags & TOK_SKIP_SPECIAL) && (t->flags & TK_SPECIAL)) continue;
            rc = sl_push(&l, t->str, t->len);
        }
        if (!rc && im->has_decoder) rc = decode_chain(im, &l);
        for (size_t i = 0; i < l.n && !rc; i++) {
            if (!im->has_decoder && i > 0) rc = sb_putc(&res, ' ');
            if (!rc) rc = sb_put(&res, l.v[i].p ? l.v[i].p : "", l.v[i].n);
        }
        sl_free(&l);
    }
    if (!rc && m->eow_suffix && im->has_decoder) {
        SBuf t = {0};
        rc = replace_all((const uint8_t *)(res.p ? res.p : ""), res.n, m->eow_suffix, strlen(m->eow_suffix), " ", 1,
                         &t);
        sb_free(&res);
        res = t;
        if (!rc && (flags & TOK_SKIP_SPECIAL)) { /* JavaScript trim() */
            size_t a = uni_js_ws_prefix((const uint8_t *)res.p, res.n);
            size_t b = uni_js_ws_suffix((const uint8_t *)res.p + a, res.n - a);
            memmove(res.p, res.p + a, res.n - a - b);
            res.n -= a + b;
            res.p[res.n] = 0;
        }
    }
    if (!rc && im->cleanup && !(flags & TOK_NO_CLEANUP)) rc = cleanup_spaces(&res);
    if (!rc && !res.p) rc = sb_puts(&res, "");
    if (rc) {
        sb_free(&res);
        return rc;
    }
    *out = res.p;
    if (out_len) *out_len = res.n;
    return 0;
}

/* ---- streaming decoder ------------------------------------------------------------------------ */

void tok_stream_init(TokStream *s, const Tokenizer *tok, int flags) {
    memset(s, 0, sizeof *s);
    s->tok = tok;
    s->flags = flags;
}

void tok_stream_free(TokStream *s) {
    free(s->buf);
    memset(s, 0, sizeof *s);
}

static int stream_put(TokStream *s, size_t *n, const void *p, size_t k) {
    if (*n + k + 1 > s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        while (nc < *n + k + 1) nc *= 2;
        char *nb = realloc(s->buf, nc);
        if (!nb) return tr_err(TR_ENOMEM, "out of memory");
        s->buf = nb;
        s->cap = nc;
    }
    memcpy(s->buf + *n, p, k);
    *n += k;
    s->buf[*n] = 0;
    return 0;
}

/* Emits complete characters of pend + b[0..n): valid sequences as they are,
 * maximal invalid subparts as U+FFFD, and keeps a trailing incomplete prefix. */
static int stream_bytes(TokStream *s, size_t *o, const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        s->pend[s->npend++] = b[i];
        for (;;) {
            int mx;
            int vl = uni_valid_len(s->pend, (size_t)s->npend, &mx);
            if (vl) { /* complete character */
                if (stream_put(s, o, s->pend, (size_t)vl)) return TR_ENOMEM;
                memmove(s->pend, s->pend + vl, (size_t)(s->npend - vl));
                s->npend -= vl;
            } else if (mx == 0) {
                break; /* a valid prefix: wait for more bytes */
            } else {   /* the first mx bytes can never be a character */
                if (stream_put(s, o, "\xEF\xBF\xBD", 3)) return TR_ENOMEM;
                memmove(s->pend, s->pend + mx, (size_t)(s->npend - mx));
                s->npend -= mx;
            }
            if (!s->npend) break;
        }
    }
    return 0;
}

int tok_stream_push(TokStream *s, int32_t id, const char **text, size_t *len) {
    size_t o = 0;
    *text = "";
    *len = 0;
    int rc = check_id(s->tok, id);
    if (rc) return rc;
    const TokImpl *im = s->tok->impl;
    const TokEntry *t = &im->bpe.ent[id];
    if ((s->flags & TOK_SKIP_SPECIAL) && (t->flags & TK_SPECIAL)) return 0;
    if (stream_put(s, &o, "", 0)) return TR_ENOMEM;
    const int added = (t->flags & TK_ADDED) != 0, bytes = !added && plain_bytelevel(im);
    const uint8_t *b = bytes ? t->bytes : (const uint8_t *)t->str;
    size_t nb = bytes ? t->nbytes : (size_t)t->len;
    SBuf r = {0};
    if (im->bpe.eow_suffix && im->has_decoder) { /* as tok_decode: the suffix becomes a space */
        if (replace_all(b, nb, im->bpe.eow_suffix, strlen(im->bpe.eow_suffix), " ", 1, &r)) {
            sb_free(&r);
            return TR_ENOMEM;
        }
        b = (const uint8_t *)r.p;
        nb = r.n;
    }
    if (added) {
        if (s->npend && stream_put(s, &o, "\xEF\xBF\xBD", 3)) rc = TR_ENOMEM;
        s->npend = 0;
        if (!rc && stream_put(s, &o, (const char *)b, nb)) rc = TR_ENOMEM;
    } else {
        rc = stream_bytes(s, &o, b, nb);
    }
    sb_free(&r);
    if (rc) return rc;
    *text = s->buf;
    *len = o;
    return 0;
}

int tok_stream_finish(TokStream *s, const char **text, size_t *len) {
    size_t o = 0;
    *text = "";
    *len = 0;
    if (stream_put(s, &o, "", 0)) return TR_ENOMEM;
    if (s->npend && stream_put(s, &o, "\xEF\xBF\xBD", 3)) return TR_ENOMEM;
    s->npend = 0;
    *text = s->buf;
    *len = o;
    return 0;
}

/* ---- lookups --------------------------------------------------------------------------------------- */

int tok_token_id(const Tokenizer *tok, const char *token) {
    if (!tok->impl || !token) return -1;
    return bpe_lookup(&tok->impl->bpe, token, strlen(token));
}

const char *tok_token_str(const Tokenizer *tok, int32_t id) {
    if (!tok->impl || id < 0 || id >= tok->impl->bpe.nent) return NULL;
    return tok->impl->bpe.ent[id].str;
}

int tok_is_special(const Tokenizer *tok, int32_t id) {
    if (!tok->impl || id < 0 || id >= tok->impl->bpe.nent) return 0;
    return (tok->impl->bpe.ent[id].flags & TK_SPECIAL) != 0;
}

/* ---- the built-in byte-level tokenizer -------------------------------------------------------- */

const char *const TOK_BYTE_LEVEL_SPECIALS[] = {"<|endoftext|>", "<|pad|>",  "<think>",    "</think>",
                                                "<answer>",      "</answer>", "<|im_start|>", "<|im_end|>",
                                                NULL};

static cJSON *bl_part(const char *type, int use_regex) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddBoolToObject(o, "add_prefix_space", 0);
    cJSON_AddBoolToObject(o, "trim_offsets", 0);
    cJSON_AddBoolToObject(o, "use_regex", use_regex);
    return o;
}

int tok_write_byte_level(const char *dir, const char *const *specials, int n) {
    if (!specials) {
        specials = TOK_BYTE_LEVEL_SPECIALS;
        for (n = 0; specials[n]; n++) {
        }
    }
    if (n < 2) return tr_err(TR_EINVAL, "tok_write_byte_level: need at least eos and pad special tokens");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return tr_err(TR_EIO, "%s: %s", dir, strerror(errno));
    cJSON *root = cJSON_CreateObject(), *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int i = 0; i < n; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", 256 + i);
        cJSON_AddStringToObject(a, "content", specials[i]);
        cJSON_AddBoolToObject(a, "single_word", 0);
        cJSON_AddBoolToObject(a, "lstrip", 0);
        cJSON_AddBoolToObject(a, "rstrip", 0);
        cJSON_AddBoolToObject(a, "normalized", 0);
        cJSON_AddBoolToObject(a, "special", i < 2); /* eos, pad: special; the markup tokens are text */
        cJSON_AddItemToArray(added, a);
    }
    cJSON_AddNullToObject(root, "normalizer");
    cJSON_AddItemToObject(root, "pre_tokenizer", bl_part("ByteLevel", 0));
    cJSON_AddItemToObject(root, "post_processor", bl_part("ByteLevel", 0));
    cJSON_AddItemToObject(root, "decoder", bl_part("ByteLevel", 0));
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", 0);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int b = 0; b < 256; b++) {
        char u[5] = {0};
        uni_encode(bl_cp_of_byte((uint8_t)b), (uint8_t *)u);
        cJSON_AddNumberToObject(vocab, u, b);
    }
    cJSON_AddArrayToObject(model, "merges");

    int chatml = 0, has_start = 0, has_end = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(specials[i], "<|im_start|>")) has_start = 1;
        if (!strcmp(specials[i], "<|im_end|>")) has_end = 1;
    }
    chatml = has_start && has_end;
    cJSON_AddNullToObject(cfg, "bos_token");
    cJSON_AddStringToObject(cfg, "eos_token", specials[0]);
    cJSON_AddStringToObject(cfg, "pad_token", specials[1]);
    cJSON_AddBoolToObject(cfg, "clean_up_tokenization_spaces", 0);
    cJSON_AddStringToObject(
        cfg, "chat_template",
        chatml ? "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + "
                 "'<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' "
                 "}}{%- endif %}"
               : "{%- for message in messages %}{{- message.role + ': ' + message.content + '\\n' }}{%- endfor "
                 "%}{%- if add_generation_prompt %}{{- 'assistant: ' }}{%- endif %}");
    cJSON_AddStringToObject(cfg, "tokenizer_class", "PreTrainedTokenizerFast");
    char *js = cJSON_PrintUnformatted(root), *cs = cJSON_Print(cfg);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    int rc = 0;
    if (!js || !cs) rc = tr_err(TR_ENOMEM, "out of memory");
    SBuf p = {0};
    if (!rc && !(rc = sb_printf(&p, "%s/tokenizer.json", dir))) rc = tr_write_file_atomic(p.p, js, strlen(js));
    p.n = 0;
    if (!rc && !(rc = sb_printf(&p, "%s/tokenizer_config.json", dir))) rc = tr_write_file_atomic(p.p, cs, strlen(cs));
    sb_free(&p);
    free(js);
    free(cs);
    return rc;
}
