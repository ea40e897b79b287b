/* Internal structures of the tokenizer module, shared by tokenizer.c (load,
 * encode, decode), bpe.c (vocab, merges, BPE with cache), pretok.c
 * (pre-tokenizer matchers) and chat.c / jinja.c. Not a public interface. */
#ifndef THINKRL_TOK_INTERNAL_H
#define THINKRL_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "thinkrl/core.h"
#include "thinkrl/tokenizer.h"
#include "tokenizer/unicode.h"

/* ---- small growable buffers ------------------------------------------------ */
typedef struct {
    char *p;
    size_t n, cap;
} SBuf;
int sb_reserve(SBuf *b, size_t extra); /* keeps room for a NUL too */
int sb_put(SBuf *b, const void *s, size_t n);
int sb_putc(SBuf *b, char c);
int sb_puts(SBuf *b, const char *s);
int sb_printf(SBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(SBuf *b);

/* A span of a text: [off, off + len). */
typedef struct {
    size_t off, len;
} Span;
typedef struct {
    Span *v;
    size_t n, cap;
} SpanVec;
int spans_push(SpanVec *s, size_t off, size_t len);

/* Chunked arena: pointers stay valid until arena_free. */
typedef struct ArenaBlock ArenaBlock;
typedef struct {
    ArenaBlock *head;
} Arena;
void *arena_alloc(Arena *a, size_t n);
char *arena_strndup(Arena *a, const char *s, size_t n);
void arena_free(Arena *a);

uint32_t tok_hash(const void *p, size_t n);

/* ---- vocab and merges (bpe.c) -------------------------------------------- */
enum { TK_ADDED = 1, TK_SPECIAL = 2 };
typedef struct {
    const char *str;      /* model string (NUL-terminated), NULL for a hole */
    const uint8_t *bytes; /* what the decoder emits: byte-level decoded, or str */
    uint32_t len, nbytes;
    uint8_t flags;
    uint8_t bytelevel_ok; /* every char of str is in the byte-level alphabet */
} TokEntry;

/* id map: string -> id, the key of a slot is entries[id].str (or .bytes) */
typedef struct {
    uint32_t *hash; /* 0 = empty */
    int32_t *id;
    uint32_t mask;
    size_t n;
} IdMap;
int idmap_init(IdMap *m, size_t expected);
void idmap_free(IdMap *m);

typedef struct {
    uint64_t *key; /* (a << 32 | b) + 1, 0 = empty */
    int32_t *rank, *out;
    uint64_t mask;
} PairMap;

typedef struct {
    uint32_t *hash;   /* 0 = empty */
    uint32_t *off;    /* into arena: key bytes, then ids (aligned to 4) */
    uint32_t *klen, *nids;
    uint32_t mask, used;
    uint8_t *arena;
    size_t arena_n, arena_cap;
} BpeCache;

typedef struct BpeSym {
    int32_t id;
    int32_t prev, next;
    uint32_t start; /* offset of the first byte/char: the tie-break */
} BpeSym;

typedef struct {
    int nent;          /* size of the id space */
    TokEntry *ent;
    IdMap by_str;      /* model string -> id (vocab, then added tokens overwrite) */
    IdMap by_bytes;    /* decoded bytes -> id, for byte-level ignore_merges */
    PairMap merges;
    int nmerges;
    int32_t byte_id[256]; /* id of the one-byte token of each byte (byte-level) */
    int ignore_merges, byte_fallback;
    int32_t unk_id;
    char *eow_suffix;  /* end_of_word_suffix or NULL */
    int32_t hexbyte_id[256]; /* <0xXX> tokens for byte_fallback, -1 if missing */
    BpeCache cache;
    /* scratch */
    BpeSym *sym;
    size_t sym_cap;
    int32_t *heap;
    size_t heap_cap;
} BpeModel;

int32_t bpe_lookup(const BpeModel *m, const char *s, size_t n);
int32_t bpe_lookup_bytes(const BpeModel *m, const uint8_t *s, size_t n);
int bpe_build_maps(BpeModel *m);
int bpe_add_merge(BpeModel *m, int32_t a, int32_t b, int32_t out, int32_t rank);
int bpe_merges_init(BpeModel *m, size_t n);
/* Encodes one pre-token. bytelevel: piece is raw bytes (the ByteLevel
 * mapping is implicit); otherwise piece is UTF-8 model text. Appends ids. */
int bpe_encode_piece(BpeModel *m, const uint8_t *piece, size_t n, int bytelevel, TokIds *out);
void bpe_free(BpeModel *m);

/* ---- pre-tokenizers (pretok.c) --------------------------------------------- */
enum { RX_GPT2 = 1, RX_LLAMA3, RX_QWEN2, RX_PCRE, RX_LITERAL };
enum { SB_ISOLATED, SB_REMOVED, SB_MERGED_PREV, SB_MERGED_NEXT, SB_CONTIGUOUS };
typedef struct {
    int kind;              /* RX_* */
    pcre2_code *re;
    pcre2_match_data *md;
    char *literal;
    size_t lit_len;
} Regex;
/* Compiles a pattern as transformers.js would (createPattern); is_regex = 0
 * for a String pattern. force_pcre: use PCRE2 even for the known patterns. */
int rx_compile(Regex *rx, const char *pattern, int is_regex, int force_pcre, const char *field);
void rx_free(Regex *rx);
/* All matches in s[0..n) as spans (JavaScript matchAll semantics, empty
 * matches included with len 0). Appends to out. */
int rx_find_all(Regex *rx, const uint8_t *s, size_t n, SpanVec *out);

enum { PT_SPLIT = 1, PT_BYTELEVEL };
typedef struct {
    int type;
    Regex rx;
    int behavior, invert;
    int add_prefix_space, use_regex;
} PreTok;

/* ---- normalizers ---------------------------------------------------------------- */
enum { NM_NFC = 1, NM_NFD, NM_PREPEND, NM_REPLACE };
typedef struct {
    int type;
    char *a, *b; /* Prepend: a = prepend; Replace: a -> b */
    size_t alen, blen;
} Norm;

/* ---- post-processor ------------------------------------------------------------- */
typedef struct {
    int32_t *pre, *post; /* ids before and after sequence A (add_special) */
    int npre, npost;
} PostProc;

/* ---- decoders -------------------------------------------------------------------- */
enum { DC_BYTELEVEL = 1, DC_BYTEFALLBACK, DC_FUSE, DC_STRIP, DC_REPLACE };
typedef struct {
    int type;
    char *a, *b; /* Strip: a = content char; Replace: a -> b */
    size_t alen, blen;
    int start, stop;
} Decoder;

/* ---- added tokens ------------------------------------------------------------------ */
typedef struct {
    int32_t id;
    const char *content;
    uint32_t len;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} AddedTok;
typedef struct {
    int32_t child, sibling, tok; /* tok: index into added[], -1 if none */
    uint8_t byte;
} TrieNode;
typedef struct {
    TrieNode *node;
    int n, cap;
    uint8_t first[256]; /* 1 if some token starts with this byte */
} Trie;

typedef struct {
    size_t off, len;
    int32_t added; /* index into added[], or -1 for text */
} Sect;
typedef struct {
    Sect *v;
    size_t n, cap;
} SectVec;

struct TokImpl {
    Arena arena;
    BpeModel bpe;
    Norm *norm;
    int nnorm;
    PreTok *pre;
    int npre;
    int bytelevel; /* the pre-tokenizer ends with ByteLevel: BPE runs on raw bytes */
    PostProc post;
    Decoder *dec;
    int ndec;
    int has_decoder;
    AddedTok *added;
    int nadded;
    Trie trie_raw, trie_norm;
    int cleanup;            /* clean_up_tokenization_spaces */
    char **extra_special;   /* additional_special_tokens (strings) */
    int nextra_special;
    char *tok_str[7];       /* bos eos unk sep pad cls mask from the config */
    char *chat_template;
    int force_pcre;         /* tests: run every Split pattern on PCRE2 */
    /* encode scratch */
    SBuf scratch, scratch2;
    SpanVec spans, spans2, matches;
    SectVec sect, sect2;
};

/* Internal test hooks (used by tests/check_tokenizer.c). */
void tok_set_force_pcre(Tokenizer *tok, int on);
int tok_load_ex(Tokenizer *tok, const char *path, int force_pcre);

/* ---- jinja (jinja.c) ----------------------------------------------------------------- */
typedef struct cJSON cJSON;
/* Renders tmpl with the variables of the JSON object vars (may be NULL).
 * *out is malloc'ed. */
int jinja_render(const char *tmpl, const cJSON *vars, char **out);

#endif
