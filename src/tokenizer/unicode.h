/* Unicode helpers for the tokenizer: UTF-8 decoding with the replacement rule,
 * character classes (\p{L}, \p{N}, \p{M}, JavaScript's \s) and NFC. The data
 * tables (unicode_data.c) are generated from node's Unicode data by
 * scripts/gen_unicode_nfc.mjs so that classes and NFC agree with the
 * transformers.js reference that runs on node. Internal to src/tokenizer. */
#ifndef THINKRL_TOK_UNICODE_H
#define THINKRL_TOK_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum { UNI_L = 1, UNI_N = 2, UNI_WS = 4, UNI_SAFE = 8, UNI_M = 16, UNI_NFD_SAFE = 32 };

extern const char uni_version[];
extern const uint16_t uni_flags_stage1[];
extern const uint8_t uni_flags_stage2[];
extern const uint16_t uni_ccc_stage1[];
extern const uint8_t uni_ccc_stage2[];
extern const int uni_ndecomp, uni_ncompose;
extern const uint32_t uni_decomp_index[]; /* (cp, offset, len) triples, sorted by cp */
extern const uint32_t uni_decomp_pool[];
extern const uint32_t uni_compose[];      /* (first, second, composite), sorted */

static inline int uni_flags(uint32_t cp) {
    if (cp >= 0x110000) return 0;
    return uni_flags_stage2[(size_t)uni_flags_stage1[cp >> 8] * 256 + (cp & 255)];
}
static inline int uni_ccc(uint32_t cp) {
    if (cp >= 0x110000) return 0;
    return uni_ccc_stage2[(size_t)uni_ccc_stage1[cp >> 8] * 256 + (cp & 255)];
}

/* Decodes one code point of well-formed UTF-8 at s[0..n), n >= 1; *len gets
 * its byte length. Only for text that uni_sanitize() has made valid. */
static inline uint32_t uni_decode(const uint8_t *s, size_t n, int *len) {
    uint32_t c = s[0];
    if (c < 0x80 || n < 2) { *len = 1; return c; }
    if (c < 0xE0) { *len = 2; return ((c & 0x1F) << 6) | (s[1] & 0x3F); }
    if (c < 0xF0 || n < 4) {
        *len = 3;
        return ((c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    *len = 4;
    return ((c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
           (s[3] & 0x3F);
}

/* Writes cp as UTF-8 to out (>= 4 bytes); returns the byte count. */
int uni_encode(uint32_t cp, uint8_t *out);

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if the bytes there are
 * not a complete well-formed sequence. *maximal gets the length of the
 * maximal subpart (the bytes to replace with one U+FFFD, >= 1) when invalid,
 * or 0 when the bytes are a valid but truncated prefix of a sequence. */
int uni_valid_len(const uint8_t *s, size_t n, int *maximal);

/* Returns 1 if s[0..n) is well-formed UTF-8. */
int uni_is_valid(const uint8_t *s, size_t n);

/* The invalid-UTF-8 rule (the WHATWG / Unicode "maximal subpart" practice
 * that node's TextDecoder applies): each maximal subpart of an ill-formed
 * sequence becomes U+FFFD. Returns a malloc'ed copy (NUL-terminated) with
 * *out_len, or NULL on out-of-memory. */
uint8_t *uni_sanitize(const uint8_t *s, size_t n, size_t *out_len);

/* NFC of valid UTF-8 s[0..n). Returns NULL (and sets *out_len = n) when the
 * text is already NFC and nothing needs to change; otherwise a malloc'ed
 * NUL-terminated result. *err is set to nonzero on out-of-memory. */
uint8_t *uni_nfc(const uint8_t *s, size_t n, size_t *out_len, int *err);

/* NFD of valid UTF-8 (decomposition and canonical ordering only); same
 * contract as uni_nfc. */
uint8_t *uni_nfd(const uint8_t *s, size_t n, size_t *out_len, int *err);

/* JavaScript String.prototype.trim{Start,End} on valid UTF-8: returns the
 * number of leading / trailing bytes that are JS whitespace. */
size_t uni_js_ws_prefix(const uint8_t *s, size_t n);
size_t uni_js_ws_suffix(const uint8_t *s, size_t n);

#endif
