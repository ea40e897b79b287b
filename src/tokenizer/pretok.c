/* Split patterns of pre-tokenizers. The three patterns that real byte-level
 * tokenizers use (GPT-2's, Llama 3's and Qwen2/Qwen3's) run on hand-written
 * matchers that follow the JavaScript RegExp semantics of transformers.js
 * (alternatives tried in order, greedy with backtracking, JS \s) over the
 * node-generated Unicode tables. Any other pattern runs on PCRE2 after the
 * rewrites transformers.js makes and a translation of the JavaScript-only
 * meanings (\s, \d, \w, `.`) into explicit classes. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static const char PAT_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char PAT_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char PAT_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* JavaScript's \s: WhiteSpace (TAB VT FF ZWNBSP and the Zs category) plus
 * LineTerminator (LF CR LS PS), as a PCRE2 class body. */
static const char JS_WS_CLASS[] =
    "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}"
    "\\x{3000}\\x{FEFF}";

/* ---- character classes ------------------------------------------------------ */

static inline uint32_t cp_at(const uint8_t *s, size_t n, size_t i, int *len) {
    if (s[i] < 0x80) {
        *len = 1;
        return s[i];
    }
    return uni_decode(s + i, n - i, len);
}

static inline int cls(uint32_t c) { return uni_flags(c); }

/* end of the run of characters (from i) whose flags intersect `want` */
static inline size_t run_of(const uint8_t *s, size_t n, size_t i, int want) {
    while (i < n) {
        int len;
        uint32_t c = cp_at(s, n, i, &len);
        if (!(cls(c) & want)) break;
        i += (size_t)len;
    }
    return i;
}

/* end of the run of "other" characters: not L, not N, not JS whitespace */
static inline size_t run_other(const uint8_t *s, size_t n, size_t i) {
    while (i < n) {
        int len;
        uint32_t c = cp_at(s, n, i, &len);
        if (cls(c) & (UNI_L | UNI_N | UNI_WS)) break;
        i += (size_t)len;
    }
    return i;
}

/* 's|'t|'re|'ve|'m|'ll|'d at i (s[i] == '\''), case-folded for ASCII when
 * icase: returns the match end or 0. */
static inline size_t contraction(const uint8_t *s, size_t n, size_t i, int icase) {
    if (i + 1 >= n) return 0;
    uint8_t a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
    if (icase) {
        if (a >= 'A' && a <= 'Z') a = (uint8_t)(a + 32);
        if (b >= 'A' && b <= 'Z') b = (uint8_t)(b + 32);
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if ((a == 'r' || a == 'v') && b == 'e') return i + 3;
    if (a == 'l' && b == 'l') return i + 3;
    return 0;
}

/* whitespace alternatives shared by both patterns; i is at a JS-whitespace
 * char. with_newline_alt adds Llama 3's \s*[\r\n]+ before \s+(?!\S). */
static inline size_t match_space(const uint8_t *s, size_t n, size_t i, int with_newline_alt) {
    size_t j = i, last_nl = (size_t)-1, last_start = i;
    while (j < n) {
        int len;
        uint32_t c = cp_at(s, n, j, &len);
        if (!(cls(c) & UNI_WS)) break;
        if (c == '\r' || c == '\n') last_nl = j;
        last_start = j;
        j += (size_t)len;
    }
    if (with_newline_alt && last_nl != (size_t)-1) return last_nl + 1; /* \s*[\r\n]+ */
    if (j == n) return j;                                               /* \s+(?!\S) at the end */
    if (last_start > i) return last_start;                              /* \s+(?!\S): leave one */
    return j;                                                           /* \s+ */
}

/* Llama 3 / Qwen2 pattern at i; maxdig = 3 (Llama 3) or 1 (Qwen2). */
static size_t match_llama(const uint8_t *s, size_t n, size_t i, int maxdig) {
    int len0;
    uint32_t c0 = cp_at(s, n, i, &len0);
    int f0 = cls(c0);
    if (c0 == '\'') {
        size_t e = contraction(s, n, i, 1);
        if (e) return e;
    }
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (f0 & UNI_L) return run_of(s, n, i, UNI_L);
    if (c0 != '\r' && c0 != '\n' && !(f0 & UNI_N) && i + (size_t)len0 < n) {
        int len1;
        uint32_t c1 = cp_at(s, n, i + (size_t)len0, &len1);
        if (cls(c1) & UNI_L) return run_of(s, n, i + (size_t)len0, UNI_L);
    }
    /* \p{N}{1,maxdig} */
    if (f0 & UNI_N) {
        size_t j = i;
        for (int k = 0; k < maxdig && j < n; k++) {
            int len;
            uint32_t c = cp_at(s, n, j, &len);
            if (!(cls(c) & UNI_N)) break;
            j += (size_t)len;
        }
        return j;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t j = i;
    if (c0 == ' ' && i + 1 < n) j = i + 1;
    if (j < n) {
        int len;
        uint32_t c = cp_at(s, n, j, &len);
        if (!(cls(c) & (UNI_L | UNI_N | UNI_WS))) {
            size_t e = run_other(s, n, j);
            while (e < n && (s[e] == '\r' || s[e] == '\n')) e++;
            return e;
        }
    }
    if (f0 & UNI_WS) return match_space(s, n, i, 1);
    return i + (size_t)len0; /* unreachable: every char is L, N, WS or other */
}

static size_t match_gpt2(const uint8_t *s, size_t n, size_t i) {
    int len0;
    uint32_t c0 = cp_at(s, n, i, &len0);
    if (c0 == '\'') {
        size_t e = contraction(s, n, i, 0);
        if (e) return e;
    }
    size_t j = i;
    int f = cls(c0);
    if (c0 == ' ' && i + 1 < n) {
        int len1;
        uint32_t c1 = cp_at(s, n, i + 1, &len1);
        int f1 = cls(c1);
        if (f1 & UNI_L) return run_of(s, n, i + 1, UNI_L);
        if (f1 & UNI_N) return run_of(s, n, i + 1, UNI_N);
        if (!(f1 & UNI_WS)) return run_other(s, n, i + 1);
    }
    if (f & UNI_L) return run_of(s, n, j, UNI_L);
    if (f & UNI_N) return run_of(s, n, j, UNI_N);
    if (!(f & UNI_WS)) return run_other(s, n, j);
    return match_space(s, n, i, 0);
}

/* ---- PCRE2 translation ---------------------------------------------------------- */

/* transformers.js createPattern: drop the backslash of \#, \& and \~, and swap
 * Llama 3's case-insensitive group for an explicit one. */
static int js_rewrite(const char *p, SBuf *o) {
    static const char *from = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
    static const char *to = "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))";
    SBuf t = {0};
    for (size_t i = 0; p[i]; i++) {
        if (p[i] == '\\' && (p[i + 1] == '#' || p[i + 1] == '&' || p[i + 1] == '~')) continue;
        if (sb_putc(&t, p[i])) return TR_ENOMEM;
    }
    if (!t.p && sb_puts(&t, "")) return TR_ENOMEM;
    size_t fl = strlen(from);
    for (size_t i = 0; i < t.n;) {
        if (!strncmp(t.p + i, from, fl)) {
            if (sb_puts(o, to)) return TR_ENOMEM;
            i += fl;
        } else {
            if (sb_putc(o, t.p[i])) return TR_ENOMEM;
            i++;
        }
    }
    sb_free(&t);
    if (!o->p && sb_puts(o, "")) return TR_ENOMEM;
    return 0;
}

/* JavaScript (u flag) meanings spelled out for PCRE2 (compiled without UCP,
 * so \b stays ASCII as in JavaScript). */
static int js_to_pcre(const char *p, SBuf *o) {
    int in_class = 0;
    for (size_t i = 0; p[i];) {
        char c = p[i];
        if (c == '\\' && p[i + 1]) {
            char e = p[i + 1];
            int rc = 0;
            if (e == 's') rc = in_class ? sb_puts(o, JS_WS_CLASS) : sb_printf(o, "[%s]", JS_WS_CLASS);
            else if (e == 'S' && !in_class) rc = sb_printf(o, "[^%s]", JS_WS_CLASS);
            else if (e == 'd') rc = sb_puts(o, in_class ? "0-9" : "[0-9]");
            else if (e == 'D' && !in_class) rc = sb_puts(o, "[^0-9]");
            else if (e == 'w') rc = sb_puts(o, in_class ? "A-Za-z0-9_" : "[A-Za-z0-9_]");
            else if (e == 'W' && !in_class) rc = sb_puts(o, "[^A-Za-z0-9_]");
            else if (e == 'u' && p[i + 2] == '{') { /* \u{XXXX} */
                size_t k = i + 3;
                while (p[k] && p[k] != '}') k++;
                rc = sb_printf(o, "\\x{%.*s}", (int)(k - i - 3), p + i + 3);
                i = p[k] ? k + 1 : k;
                if (rc) return rc;
                continue;
            } else if (e == 'u') { /* \uXXXX */
                rc = sb_printf(o, "\\x{%.4s}", p + i + 2);
                i += 2;
                for (int k = 0; k < 4 && p[i]; k++) i++;
                if (rc) return rc;
                continue;
            } else rc = sb_put(o, p + i, 2);
            if (rc) return rc;
            i += 2;
            continue;
        }
        if (!in_class && c == '[') {
            if (p[i + 1] == ']') { /* JS [] matches nothing */
                if (sb_puts(o, "(?!)")) return TR_ENOMEM;
                i += 2;
                continue;
            }
            if (p[i + 1] == '^' && p[i + 2] == ']') { /* JS [^] matches anything */
                if (sb_puts(o, "(?s:.)")) return TR_ENOMEM;
                i += 3;
                continue;
            }
            in_class = 1;
            if (sb_putc(o, c)) return TR_ENOMEM;
            i++;
            if (p[i] == '^') {
                if (sb_putc(o, '^')) return TR_ENOMEM;
                i++;
            }
            continue;
        }
        if (in_class && c == ']') in_class = 0;
        if (!in_class && c == '.') {
            if (sb_puts(o, "[^\\n\\r\\x{2028}\\x{2029}]")) return TR_ENOMEM;
            i++;
            continue;
        }
        if (sb_putc(o, c)) return TR_ENOMEM;
        i++;
    }
    return 0;
}

int rx_compile(Regex *rx, const char *pattern, int is_regex, int force_pcre, const char *field) {
    memset(rx, 0, sizeof *rx);
    if (!is_regex) {
        rx->kind = RX_LITERAL;
        rx->lit_len = strlen(pattern);
        rx->literal = malloc(rx->lit_len + 1);
        if (!rx->literal) return tr_err(TR_ENOMEM, "out of memory");
        memcpy(rx->literal, pattern, rx->lit_len + 1);
        return 0;
    }
    if (!force_pcre) {
        if (!strcmp(pattern, PAT_GPT2)) rx->kind = RX_GPT2;
        else if (!strcmp(pattern, PAT_LLAMA3)) rx->kind = RX_LLAMA3;
        else if (!strcmp(pattern, PAT_QWEN2)) rx->kind = RX_QWEN2;
        if (rx->kind) return 0;
    }
    SBuf a = {0}, b = {0};
    if (js_rewrite(pattern, &a) || js_to_pcre(a.p, &b)) {
        sb_free(&a);
        sb_free(&b);
        return TR_ENOMEM;
    }
    int errcode;
    PCRE2_SIZE erroff;
    /* no PCRE2_NO_UTF_CHECK: the pattern comes from the file, and PCRE2 reads
     * invalid UTF-8 in an unchecked pattern out of bounds */
    rx->re = pcre2_compile((PCRE2_SPTR)b.p, b.n, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &errcode, &erroff, NULL);
    if (!rx->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        int rc = tr_err(TR_EFORMAT, "%s: cannot compile regex /%s/: %s (at offset %zu of /%s/)", field,
                        pattern, (const char *)msg, (size_t)erroff, b.p);
        sb_free(&a);
        sb_free(&b);
        return rc;
    }
    sb_free(&a);
    sb_free(&b);
    pcre2_jit_compile(rx->re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if unavailable */
    rx->md = pcre2_match_data_create_from_pattern(rx->re, NULL);
    if (!rx->md) return tr_err(TR_ENOMEM, "out of memory");
    rx->kind = RX_PCRE;
    return 0;
}

void rx_free(Regex *rx) {
    if (rx->md) pcre2_match_data_free(rx->md);
    if (rx->re) pcre2_code_free(rx->re);
    free(rx->literal);
    memset(rx, 0, sizeof *rx);
}

static const uint8_t *find_bytes(const uint8_t *h, size_t hn, const uint8_t *nd, size_t nn) {
    while (hn >= nn) {
        const uint8_t *p = memchr(h, nd[0], hn - nn + 1);
        if (!p) return NULL;
        if (!memcmp(p, nd, nn)) return p;
        hn -= (size_t)(p - h) + 1;
        h = p + 1;
    }
    return NULL;
}

int rx_find_all(Regex *rx, const uint8_t *s, size_t n, SpanVec *out) {
    size_t i = 0;
    switch (rx->kind) {
    case RX_GPT2:
        while (i < n) {
            size_t e = match_gpt2(s, n, i);
            if (spans_push(out, i, e - i)) return TR_ENOMEM;
            i = e;
        }
        return 0;
    case RX_LLAMA3:
    case RX_QWEN2: {
        int maxdig = rx->kind == RX_LLAMA3 ? 3 : 1;
        while (i < n) {
            size_t e = match_llama(s, n, i, maxdig);
            if (spans_push(out, i, e - i)) return TR_ENOMEM;
            i = e;
        }
        return 0;
    }
    case RX_LITERAL:
        if (rx->lit_len == 0) {
            for (;;) { /* empty pattern: an empty match at every character boundary */
                if (spans_push(out, i, 0)) return TR_ENOMEM;
                if (i >= n) return 0;
                int len;
                cp_at(s, n, i, &len);
                i += (size_t)len;
            }
        }
        while (i + rx->lit_len <= n) {
            const uint8_t *hit = find_bytes(s + i, n - i, (const uint8_t *)rx->literal, rx->lit_len);
            if (!hit) break;
            size_t at = (size_t)(hit - s);
            if (spans_push(out, at, rx->lit_len)) return TR_ENOMEM;
            i = at + rx->lit_len;
        }
        return 0;
    case RX_PCRE:
        for (;;) {
            if (i > n) return 0;
            int rc = pcre2_match(rx->re, s, n, i, PCRE2_NO_UTF_CHECK, rx->md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) return 0;
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return tr_err(TR_EINVAL, "regex match failed: %s", (const char *)msg);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(rx->md);
            size_t st = ov[0], en = ov[1];
            if (en < st) en = st; /* \K tricks: not used by tokenizers */
            if (spans_push(out, st, en - st)) return TR_ENOMEM;
            if (en > st) i = en;
            else { /* empty match: advance one code point (JavaScript's u flag) */
                if (en >= n) return 0;
                int len;
                cp_at(s, n, en, &len);
                i = en + (size_t)len;
            }
        }
    }
    return tr_err(TR_EINVAL, "bad regex kind");
}
