/* BPE model: vocab hash maps, merge ranks keyed by (left id, right id), and
 * the merge loop (lowest rank first, leftmost among equal ranks, as
 * transformers.js and HF tokenizers do) with a cache of whole-piece results.
 * Byte-level tokenizers run on raw bytes: the GPT-2 byte alphabet is only a
 * spelling of the vocab, so piece bytes map straight to one-byte token ids.
 * Also the small shared helpers (buffers, arena, hash) of the module. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* ---- helpers ---------------------------------------------------------------- */

int sb_reserve(SBuf *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap) return 0;
    size_t nc = b->cap ? b->cap * 2 : 256;
    while (nc < b->n + extra + 1) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) return tr_err(TR_ENOMEM, "out of memory");
    b->p = np;
    b->cap = nc;
    return 0;
}
int sb_put(SBuf *b, const void *s, size_t n) {
    if (sb_reserve(b, n)) return TR_ENOMEM;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}
int sb_putc(SBuf *b, char c) { return sb_put(b, &c, 1); }
int sb_puts(SBuf *b, const char *s) { return sb_put(b, s, strlen(s)); }
int sb_printf(SBuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || sb_reserve(b, (size_t)k)) return TR_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
    return 0;
}
void sb_free(SBuf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

int spans_push(SpanVec *s, size_t off, size_t len) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        Span *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) return tr_err(TR_ENOMEM, "out of memory");
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n].off = off;
    s->v[s->n].len = len;
    s->n++;
    return 0;
}

struct ArenaBlock {
    ArenaBlock *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *arena_alloc(Arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    ArenaBlock *b = a->head;
    if (!b || b->used + n > b->cap) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        b = malloc(sizeof *b + cap);
        if (!b) {
            tr_err(TR_ENOMEM, "out of memory");
            return NULL;
        }
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
    char *p = arena_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void arena_free(Arena *a) {
    ArenaBlock *b = a->head;
    while (b) {
        ArenaBlock *nx = b->next;
        free(b);
        b = nx;
    }
    a->head = NULL;
}

uint32_t tok_hash(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0x100000001B3ull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, s, n);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    uint32_t r = (uint32_t)(h >> 32);
    return r ? r : 1;
}

/* ---- id maps ------------------------------------------------------------------ */

int idmap_init(IdMap *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    m->hash = calloc(cap, sizeof *m->hash);
    m->id = malloc(cap * sizeof *m->id);
    if (!m->hash || !m->id) return tr_err(TR_ENOMEM, "out of memory");
    m->mask = (uint32_t)(cap - 1);
    m->n = 0;
    return 0;
}

void idmap_free(IdMap *m) {
    free(m->hash);
    free(m->id);
    memset(m, 0, sizeof *m);
}

static inline const uint8_t *ent_key(const TokEntry *e, int by_bytes, size_t *len) {
    if (by_bytes) {
        *len = e->nbytes;
        return e->bytes;
    }
    *len = e->len;
    return (const uint8_t *)e->str;
}

static int32_t idmap_get(const IdMap *m, const TokEntry *ent, int by_bytes, const void *key, size_t n) {
    if (!m->hash) return -1;
    uint32_t h = tok_hash(key, n);
    for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
        uint32_t sh = m->hash[i];
        if (!sh) return -1;
        if (sh == h) {
            size_t kl;
            const uint8_t *k = ent_key(&ent[m->id[i]], by_bytes, &kl);
            if (kl == n && !memcmp(k, key, n)) return m->id[i];
        }
    }
}

/* Inserts or overwrites (the later id wins, as Map.set does). */
static void idmap_set(IdMap *m, const TokEntry *ent, int by_bytes, int32_t id) {
    size_t n;
    const uint8_t *key = ent_key(&ent[id], by_bytes, &n);
    uint32_t h = tok_hash(key, n);
    for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
        uint32_t sh = m->hash[i];
        if (!sh) {
            m->hash[i] = h;
            m->id[i] = id;
            m->n++;
            return;
        }
        if (sh == h) {
            size_t kl;
            const uint8_t *k = ent_key(&ent[m->id[i]], by_bytes, &kl);
            if (kl == n && !memcmp(k, key, n)) {
                m->id[i] = id;
                return;
            }
        }
    }
}

int32_t bpe_lookup(const BpeModel *m, const char *s, size_t n) {
    return idmap_get(&m->by_str, m->ent, 0, s, n);
}

int32_t bpe_lookup_bytes(const BpeModel *m, const uint8_t *s, size_t n) {
    return idmap_get(&m->by_bytes, m->ent, 1, s, n);
}

/* Builds by_str (vocab, then added tokens overwriting, like transformers.js's
 * tokens_to_ids) and by_bytes (byte-level vocab tokens by their bytes). */
int bpe_build_maps(BpeModel *m) {
    if (idmap_init(&m->by_str, (size_t)m->nent) || idmap_init(&m->by_bytes, (size_t)m->nent))
        return TR_ENOMEM;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < m->nent; i++) {
            const TokEntry *e = &m->ent[i];
            if (!e->str || ((e->flags & TK_ADDED) != 0) != pass) continue;
            idmap_set(&m->by_str, m->ent, 0, i);
        }
    for (int i = 0; i < m->nent; i++) {
        const TokEntry *e = &m->ent[i];
        if (e->str && !(e->flags & TK_ADDED) && e->bytelevel_ok) idmap_set(&m->by_bytes, m->ent, 1, i);
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->hexbyte_id[b] = bpe_lookup(m, name, 6);
    }
    return 0;
}

/* ---- merges ---------------------------------------------------------------------- */

int bpe_merges_init(BpeModel *m, size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap *= 2;
    m->merges.key = calloc(cap, sizeof *m->merges.key);
    m->merges.rank = malloc(cap * sizeof(int32_t));
    m->merges.out = malloc(cap * sizeof(int32_t));
    if (!m->merges.key || !m->merges.rank || !m->merges.out) return tr_err(TR_ENOMEM, "out of memory");
    m->merges.mask = cap - 1;
    return 0;
}

static inline uint64_t pair_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

int bpe_add_merge(BpeModel *m, int32_t a, int32_t b, int32_t out, int32_t rank) {
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    PairMap *p = &m->merges;
    for (uint64_t i = pair_hash(key) & p->mask;; i = (i + 1) & p->mask) {
        if (!p->key[i] || p->key[i] == key) {
            if (!p->key[i]) m->nmerges++;
            p->key[i] = key;
            p->rank[i] = rank; /* a repeated merge takes the later rank */
            p->out[i] = out;
            return 0;
        }
    }
}

static inline int32_t merge_rank(const BpeModel *m, int32_t a, int32_t b, int32_t *out) {
    if (a < 0 || b < 0) return -1;
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    const PairMap *p = &m->merges;
    if (!p->key) return -1;
    for (uint64_t i = pair_hash(key) & p->mask;; i = (i + 1) & p->mask) {
        if (p->key[i] == key) {
            *out = p->out[i];
            return p->rank[i];
        }
        if (!p->key[i]) return -1;
    }
}

/* ---- cache ------------------------------------------------------------------------- */

enum { CACHE_SLOTS = 1 << 16, CACHE_ARENA = 8 << 20, CACHE_MAX_KEY = 256 };

static void cache_clear(BpeCache *c) {
    if (c->hash) memset(c->hash, 0, (size_t)(c->mask + 1) * sizeof *c->hash);
    c->used = 0;
    c->arena_n = 0;
}

static const int32_t *cache_get(const BpeCache *c, const uint8_t *key, size_t n, uint32_t h, int *nids) {
    if (!c->hash) return NULL;
    for (uint32_t i = h & c->mask;; i = (i + 1) & c->mask) {
        if (!c->hash[i]) return NULL;
        if (c->hash[i] == h && c->klen[i] == n && !memcmp(c->arena + c->off[i], key, n)) {
            *nids = (int)c->nids[i];
            return (const int32_t *)(c->arena + ((c->off[i] + n + 3) & ~3u));
        }
    }
}

static void cache_put(BpeCache *c, const uint8_t *key, size_t n, uint32_t h, const int32_t *ids, size_t nids) {
    if (!c->hash) {
        c->hash = calloc(CACHE_SLOTS, sizeof *c->hash);
        c->off = malloc(CACHE_SLOTS * sizeof *c->off);
        c->klen = malloc(CACHE_SLOTS * sizeof *c->klen);
        c->nids = malloc(CACHE_SLOTS * sizeof *c->nids);
        c->arena = malloc(CACHE_ARENA);
        if (!c->hash || !c->off || !c->klen || !c->nids || !c->arena) {
            free(c->hash); free(c->off); free(c->klen); free(c->nids); free(c->arena);
            memset(c, 0, sizeof *c);
            return; /* the cache is an optimisation: run without it */
        }
        c->mask = CACHE_SLOTS - 1;
        c->arena_cap = CACHE_ARENA;
    }
    size_t need = ((n + 3) & ~(size_t)3) + nids * 4 + 4;
    if (c->used * 2 >= CACHE_SLOTS || c->arena_n + need > c->arena_cap) cache_clear(c);
    size_t off = (c->arena_n + 3) & ~(size_t)3;
    memcpy(c->arena + off, key, n);
    memcpy(c->arena + ((off + n + 3) & ~(size_t)3), ids, nids * 4);
    c->arena_n = ((off + n + 3) & ~(size_t)3) + nids * 4;
    for (uint32_t i = h & c->mask;; i = (i + 1) & c->mask) {
        if (!c->hash[i]) {
            c->hash[i] = h;
            c->off[i] = (uint32_t)off;
            c->klen[i] = (uint32_t)n;
            c->nids[i] = (uint32_t)nids;
            c->used++;
            return;
        }
    }
}

/* ---- the merge loop ----------------------------------------------------------------- */

static int ids_reserve(TokIds *out, size_t extra) {
    if (out->n + extra <= out->cap) return 0;
    size_t nc = out->cap ? out->cap * 2 : 256;
    while (nc < out->n + extra) nc *= 2;
    int32_t *ni = realloc(out->ids, nc * sizeof *ni);
    if (!ni) return tr_err(TR_ENOMEM, "out of memory");
    out->ids = ni;
    out->cap = nc;
    return 0;
}

/* heap of symbol indices ordered by (rank, start) of the pair (i, next(i)) */
typedef struct {
    int32_t rank;
    uint32_t start;
    int32_t left, right;
} HeapEnt;

static inline int he_less(const HeapEnt *a, const HeapEnt *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->start < b->start);
}

static void heap_push(HeapEnt *h, size_t *n, HeapEnt e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!he_less(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static HeapEnt heap_pop(HeapEnt *h, size_t *n) {
    HeapEnt top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && he_less(&h[c + 1], &h[c])) c++;
        if (!he_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* Merges the symbols sym[0..n) (a linked list in order) and returns the index
 * of the first live symbol. */
static int merge_symbols(BpeModel *m, BpeSym *sym, int n) {
    if (n < 2 || !m->nmerges) return 0;
    if (n <= 24) {
        /* small: rescan for the lowest (rank, start) pair each step */
        for (;;) {
            int32_t best = -1, best_out = -1;
            int bi = -1;
            for (int i = 0; i >= 0 && sym[i].next >= 0; i = sym[i].next) {
                int32_t out, r = merge_rank(m, sym[i].id, sym[sym[i].next].id, &out);
                if (r >= 0 && (best < 0 || r < best)) {
                    best = r;
                    best_out = out;
                    bi = i;
                }
            }
            if (bi < 0) return 0;
            int r = sym[bi].next;
            sym[bi].id = best_out;
            sym[bi].next = sym[r].next;
            if (sym[r].next >= 0) sym[sym[r].next].prev = bi;
            sym[r].id = -2; /* dead */
        }
    }
    size_t cap = (size_t)n * 3;
    if (m->heap_cap < cap * sizeof(HeapEnt) / sizeof(int32_t)) {
        size_t want = cap * sizeof(HeapEnt) / sizeof(int32_t);
        int32_t *nh = realloc(m->heap, want * sizeof(int32_t));
        if (!nh) return -1;
        m->heap = nh;
        m->heap_cap = want;
    }
    HeapEnt *h = (HeapEnt *)m->heap;
    size_t hn = 0;
    for (int i = 0; i + 1 < n; i++) {
        int32_t out, r = merge_rank(m, sym[i].id, sym[i + 1].id, &out);
        if (r >= 0) heap_push(h, &hn, (HeapEnt){r, sym[i].start, i, i + 1});
    }
    while (hn) {
        HeapEnt e = heap_pop(h, &hn);
        BpeSym *L = &sym[e.left];
        if (L->id == -2 || L->next != e.right || sym[e.right].id == -2) continue;
        int32_t out = -1, r = merge_rank(m, L->id, sym[e.right].id, &out);
        if (r != e.rank) continue; /* a neighbour changed since this entry was pushed */
        int ri = e.right;
        L->id = out;
        L->next = sym[ri].next;
        if (sym[ri].next >= 0) sym[sym[ri].next].prev = e.left;
        sym[ri].id = -2;
        if (hn + 2 > cap) continue; /* cannot happen: each merge adds at most 2 */
        if (L->prev >= 0) {
            int32_t o2, r2 = merge_rank(m, sym[L->prev].id, L->id, &o2);
            if (r2 >= 0) heap_push(h, &hn, (HeapEnt){r2, sym[L->prev].start, L->prev, e.left});
        }
        if (L->next >= 0) {
            int32_t o2, r2 = merge_rank(m, L->id, sym[L->next].id, &o2);
            if (r2 >= 0) heap_push(h, &hn, (HeapEnt){r2, L->start, e.left, L->next});
        }
    }
    return 0;
}

/* Emits the final symbols; a symbol without a token (a character missing from
 * the vocab) becomes byte-fallback tokens or unk, as in transformers.js. */
static int emit_symbols(BpeModel *m, const BpeSym *sym, int n, const uint8_t *piece, size_t plen,
                        TokIds *out) {
    for (int i = 0; i >= 0 && i < n; i = sym[i].next) {
        if (sym[i].id >= 0) {
            if (ids_reserve(out, 1)) return TR_ENOMEM;
            out->ids[out->n++] = sym[i].id;
            continue;
        }
        size_t st = sym[i].start, en = sym[i].next >= 0 ? sym[sym[i].next].start : plen;
        int ok = m->byte_fallback;
        for (size_t k = st; ok && k < en; k++)
            if (m->hexbyte_id[piece[k]] < 0) ok = 0;
        if (ok) {
            if (ids_reserve(out, en - st)) return TR_ENOMEM;
            for (size_t k = st; k < en; k++) out->ids[out->n++] = m->hexbyte_id[piece[k]];
        } else if (m->unk_id >= 0) {
            if (ids_reserve(out, 1)) return TR_ENOMEM;
            out->ids[out->n++] = m->unk_id;
        } else {
            return tr_err(TR_EINVAL, "no token for '%.*s' (the vocab lacks it and there is no unk_token "
                          "or byte_fallback)", (int)(en - st), (const char *)piece + st);
        }
    }
    return 0;
}

int bpe_encode_piece(BpeModel *m, const uint8_t *piece, size_t n, int bytelevel, TokIds *out) {
    if (n == 0) return 0;
    if (m->ignore_merges) {
        int32_t id = bytelevel ? bpe_lookup_bytes(m, piece, n) : bpe_lookup(m, (const char *)piece, n);
        if (id >= 0) {
            if (ids_reserve(out, 1)) return TR_ENOMEM;
            out->ids[out->n++] = id;
            return 0;
        }
    }
    if (bytelevel && n == 1 && m->byte_id[piece[0]] >= 0) {
        if (ids_reserve(out, 1)) return TR_ENOMEM;
        out->ids[out->n++] = m->byte_id[piece[0]];
        return 0;
    }
    int use_cache = m->nmerges > 0 && n <= CACHE_MAX_KEY;
    uint32_t h = 0;
    if (use_cache) {
        h = tok_hash(piece, n);
        int nids;
        const int32_t *hit = cache_get(&m->cache, piece, n, h, &nids);
        if (hit) {
            if (ids_reserve(out, (size_t)nids)) return TR_ENOMEM;
            memcpy(out->ids + out->n, hit, (size_t)nids * sizeof *hit);
            out->n += (size_t)nids;
            return 0;
        }
    }
    if (m->sym_cap < n + 1) {
        size_t nc = n + 64;
        BpeSym *ns = realloc(m->sym, nc * sizeof *ns);
        if (!ns) return tr_err(TR_ENOMEM, "out of memory");
        m->sym = ns;
        m->sym_cap = nc;
    }
    BpeSym *sym = m->sym;
    int ns = 0;
    if (bytelevel) {
        for (size_t i = 0; i < n; i++, ns++)
            sym[ns] = (BpeSym){m->byte_id[piece[i]], ns - 1, ns + 1, (uint32_t)i};
    } else {
        size_t i = 0;
        while (i < n) {
            int len;
            uni_decode(piece + i, n - i, &len);
            int32_t id;
            if (i + (size_t)len >= n && m->eow_suffix) {
                SBuf t = {0};
                if (sb_put(&t, piece + i, (size_t)len) || sb_puts(&t, m->eow_suffix)) {
                    sb_free(&t);
                    return TR_ENOMEM;
                }
                id = bpe_lookup(m, t.p, t.n);
                sb_free(&t);
            } else {
                id = bpe_lookup(m, (const char *)piece + i, (size_t)len);
            }
            sym[ns] = (BpeSym){id, ns - 1, ns + 1, (uint32_t)i};
            ns++;
            i += (size_t)len;
        }
    }
    sym[ns - 1].next = -1;
    if (merge_symbols(m, sym, ns)) return tr_err(TR_ENOMEM, "out of memory");
    size_t before = out->n;
    int rc = emit_symbols(m, sym, ns, piece, n, out);
    if (rc) return rc;
    if (use_cache) cache_put(&m->cache, piece, n, h, out->ids + before, out->n - before);
    return 0;
}

void bpe_free(BpeModel *m) {
    free(m->ent);
    idmap_free(&m->by_str);
    idmap_free(&m->by_bytes);
    free(m->merges.key);
    free(m->merges.rank);
    free(m->merges.out);
    BpeCache *c = &m->cache;
    free(c->hash);
    free(c->off);
    free(c->klen);
    free(c->nids);
    free(c->arena);
    free(m->sym);
    free(m->heap);
    memset(m, 0, sizeof *m);
}
