/* UTF-8 validation with the maximal-subpart replacement rule, and NFC
 * (canonical decomposition, canonical ordering, canonical composition) over
 * the generated tables in unicode_data.c. Text that is made only of NFC-inert
 * starters (almost all ASCII, CJK, Hangul syllables) is left untouched
 * without decoding it twice. */
#include "tokenizer/unicode.h"

#include <stdlib.h>
#include <string.h>

enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7 };
enum { LCOUNT = 19, VCOUNT = 21, TCOUNT = 28, NCOUNT = VCOUNT * TCOUNT, SCOUNT = LCOUNT * NCOUNT };

int uni_encode(uint32_t cp, uint8_t *o) {
    if (cp < 0x80) { o[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { o[0] = (uint8_t)(0xC0 | (cp >> 6)); o[1] = (uint8_t)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

int uni_valid_len(const uint8_t *s, size_t n, int *maximal) {
    uint8_t c = s[0];
    int need;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    *maximal = 1;
    if (c < 0x80) { *maximal = 0; return 1; }
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0; /* 80..C1, F5..FF: never valid, maximal subpart 1 */
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n) { *maximal = 0; return 0; } /* valid prefix, truncated */
        uint8_t b = s[i];
        uint8_t l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h) { *maximal = i; return 0; }
    }
    *maximal = 0;
    return need;
}

int uni_is_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        int m, k = uni_valid_len(s + i, n - i, &m);
        if (!k) return 0;
        i += (size_t)k;
    }
    return 1;
}

uint8_t *uni_sanitize(const uint8_t *s, size_t n, size_t *out_len) {
    /* each invalid byte becomes at most 3 bytes */
    uint8_t *o = malloc(n * 3 + 1);
    if (!o) return NULL;
    size_t i = 0, j = 0;
    while (i < n) {
        if (s[i] < 0x80) { o[j++] = s[i++]; continue; }
        int m, k = uni_valid_len(s + i, n - i, &m);
        if (k) {
            memcpy(o + j, s + i, (size_t)k);
            i += (size_t)k;
            j += (size_t)k;
        } else {
            if (m == 0) m = (int)(n - i); /* truncated at the end: the rest is one subpart */
            o[j++] = 0xEF; o[j++] = 0xBF; o[j++] = 0xBD;
            i += (size_t)m;
        }
    }
    o[j] = 0;
    *out_len = j;
    return o;
}

size_t uni_js_ws_prefix(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        int len;
        uint32_t c = uni_decode(s + i, n - i, &len);
        if (!(uni_flags(c) & UNI_WS)) break;
        i += (size_t)len;
    }
    return i;
}

size_t uni_js_ws_suffix(const uint8_t *s, size_t n) {
    size_t end = n;
    while (end > 0) {
        size_t st = end - 1;
        while (st > 0 && (s[st] & 0xC0) == 0x80) st--;
        int len;
        uint32_t c = uni_decode(s + st, end - st, &len);
        if (!(uni_flags(c) & UNI_WS)) break;
        end = st;
    }
    return n - end;
}

/* ---- NFC ---------------------------------------------------------------- */

static const uint32_t *decomp_of(uint32_t cp, int *len) {
    int lo = 0, hi = uni_ndecomp - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        uint32_t c = uni_decomp_index[3 * mid];
        if (c == cp) {
            *len = (int)uni_decomp_index[3 * mid + 2];
            return uni_decomp_pool + uni_decomp_index[3 * mid + 1];
        }
        if (c < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static int64_t compose_pair(uint32_t a, uint32_t b) {
    if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT)
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0 && b > TBASE && b < TBASE + TCOUNT)
        return a + (b - TBASE);
    int lo = 0, hi = uni_ncompose - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        uint32_t x = uni_compose[3 * mid], y = uni_compose[3 * mid + 1];
        if (x == a && y == b) return uni_compose[3 * mid + 2];
        if (x < a || (x == a && y < b)) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

typedef struct {
    uint32_t *v;
    size_t n, cap;
} CpBuf;

static int cp_push(CpBuf *b, uint32_t c) {
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        uint32_t *nv = realloc(b->v, nc * sizeof *nv);
        if (!nv) return -1;
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = c;
    return 0;
}

typedef struct {
    uint8_t *p;
    size_t n, cap;
} ByteBuf;

static int bb_reserve(ByteBuf *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap) return 0;
    size_t nc = b->cap * 2 > b->n + extra + 1 ? b->cap * 2 : b->n + extra + 1;
    uint8_t *np = realloc(b->p, nc);
    if (!np) return -1;
    b->p = np;
    b->cap = nc;
    return 0;
}

/* NFC of one segment (valid UTF-8) appended to out; returns 0 or -1 (OOM). */
static int nfc_segment(const uint8_t *s, size_t n, CpBuf *tmp, ByteBuf *out, int compose) {
    tmp->n = 0;
    size_t i = 0;
    while (i < n) {
        int len;
        uint32_t c = uni_decode(s + i, n - i, &len);
        i += (size_t)len;
        if (c >= SBASE && c < SBASE + SCOUNT) {
            uint32_t si = c - SBASE;
            if (cp_push(tmp, LBASE + si / NCOUNT) || cp_push(tmp, VBASE + (si % NCOUNT) / TCOUNT)) return -1;
            if (si % TCOUNT && cp_push(tmp, TBASE + si % TCOUNT)) return -1;
            continue;
        }
        int dl;
        const uint32_t *d = decomp_of(c, &dl);
        if (d) {
            for (int k = 0; k < dl; k++)
                if (cp_push(tmp, d[k])) return -1;
        } else if (cp_push(tmp, c)) return -1;
    }
    uint32_t *d = tmp->v;
    size_t m = tmp->n;
    for (size_t a = 1; a < m; a++) { /* canonical ordering: stable sort of mark runs */
        uint32_t c = d[a];
        int k = uni_ccc(c);
        if (!k) continue;
        size_t b = a;
        while (b > 0 && uni_ccc(d[b - 1]) > k) { d[b] = d[b - 1]; b--; }
        d[b] = c;
    }
    /* canonical composition in place: d[0..w) is the output */
    size_t w = 0;
    if (!compose) {
        w = m;
        goto emit;
    }
    long starter = -1;
    int lastcc = -1;
    for (size_t a = 0; a < m; a++) {
        uint32_t c = d[a];
        int k = uni_ccc(c);
        if (starter >= 0) {
            int adjacent = (long)w - 1 == starter;
            if (adjacent || lastcc < k) {
                int64_t comp = compose_pair(d[starter], c);
                if (comp >= 0) {
                    d[starter] = (uint32_t)comp;
                    continue;
                }
            }
        }
        if (k == 0) { starter = (long)w; lastcc = 0; }
        else lastcc = k;
        d[w++] = c;
    }
emit:
    if (bb_reserve(out, 4 * w)) return -1;
    for (size_t a = 0; a < w; a++) out->n += (size_t)uni_encode(d[a], out->p + out->n);
    return 0;
}

static uint8_t *normalize(const uint8_t *s, size_t n, size_t *out_len, int *err, int compose) {
    *err = 0;
    *out_len = n;
    int safe = compose ? UNI_SAFE : UNI_NFD_SAFE;
    /* fast scan: find the first character that is not an inert starter */
    size_t i = 0, last_safe = 0;
    while (i < n) {
        if (s[i] < 0x80) { last_safe = i++; continue; }
        int len;
        uint32_t c = uni_decode(s + i, n - i, &len);
        if (!(uni_flags(c) & safe)) break;
        last_safe = i;
        i += (size_t)len;
    }
    if (i >= n) return NULL;
    ByteBuf out = {0};
    CpBuf tmp = {0};
    size_t pos = i > 0 ? last_safe : 0;
    if (bb_reserve(&out, n + 16)) goto oom;
    memcpy(out.p, s, pos);
    out.n = pos;
    while (pos < n) {
        /* segment: from pos (a safe starter or the first unsafe char) to the next safe char */
        size_t seg_end = pos;
        int first = 1;
        while (seg_end < n) {
            int len;
            uint32_t c = uni_decode(s + seg_end, n - seg_end, &len);
            if (!first && (uni_flags(c) & safe)) break;
            first = 0;
            seg_end += (size_t)len;
        }
        if (nfc_segment(s + pos, seg_end - pos, &tmp, &out, compose)) goto oom;
        pos = seg_end;
        /* copy the run of safe characters that follows, except the last one,
         * which may start the next segment */
        size_t run = pos, last = pos;
        while (run < n) {
            int len;
            uint32_t c = uni_decode(s + run, n - run, &len);
            if (!(uni_flags(c) & safe)) break;
            last = run;
            run += (size_t)len;
        }
        if (run >= n) last = n;
        if (bb_reserve(&out, last - pos)) goto oom;
        memcpy(out.p + out.n, s + pos, last - pos);
        out.n += last - pos;
        pos = last;
    }
    free(tmp.v);
    out.p[out.n] = 0;
    *out_len = out.n;
    return out.p;
oom:
    free(out.p);
    free(tmp.v);
    *err = 1;
    return NULL;
}

uint8_t *uni_nfc(const uint8_t *s, size_t n, size_t *out_len, int *err) {
    return normalize(s, n, out_len, err, 1);
}

uint8_t *uni_nfd(const uint8_t *s, size_t n, size_t *out_len, int *err) {
    return normalize(s, n, out_len, err, 0);
}
