/* thinkrl tokenizers: Hugging Face tokenizer.json (BPE, byte-level or not),
 * tokenizer_config.json (special tokens, chat template), a small Jinja
 * interpreter for chat templates, a streaming decoder, and the byte-level
 * tokenizer of the built-in models (written as a tokenizer.json so that it
 * goes through the same code).
 *
 * The reference is transformers.js (@huggingface/transformers tokenizers, as
 * packaged by @lenml/tokenizers) and @huggingface/jinja: on the Qwen2.5,
 * Qwen3, Llama 3, Llama 3.2 and GPT-2 tokenizers thinkrl produces the same
 * ids, the same decoded text and the same rendered chat templates
 * (tests/tok/).
 *
 * Supported tokenizer.json parts (anything else is an error naming the field):
 *   model:          BPE (vocab, merges as "a b" strings or [a, b] pairs,
 *                   ignore_merges, byte_fallback, unk_token,
 *                   end_of_word_suffix)
 *   normalizer:     null, NFC, NFD, Prepend, Replace (String pattern), Sequence
 *   pre_tokenizer:  null, Split (Regex or String pattern; Isolated, Removed,
 *                   MergedWithPrevious, MergedWithNext, Contiguous; invert),
 *                   ByteLevel (add_prefix_space, use_regex; must come last),
 *                   Sequence. The Merged* and Contiguous behaviours follow HF
 *                   tokenizers (transformers.js treats them as Isolated).
 *   post_processor: null, ByteLevel, TemplateProcessing, BertProcessing,
 *                   RobertaProcessing, Sequence
 *   decoder:        null, ByteLevel, ByteFallback, Fuse, Strip, Replace
 *                   (String pattern), Sequence
 *   added_tokens:   matched in the raw text before anything else (leftmost,
 *                   longest), with lstrip / rstrip (strip JavaScript
 *                   whitespace next to the token), single_word (the token
 *                   only matches between word boundaries) and normalized
 *                   (the token is matched in the normalised text instead).
 *                   transformers.js ignores single_word and normalized; the
 *                   real Qwen and Llama files set both to false.
 *
 * Regexes: the GPT-2, Llama 3 and Qwen2/Qwen3 split patterns run on a
 * hand-written matcher over Unicode tables generated from node (identical to
 * the JavaScript RegExp the reference uses; tests prove it on the corpus, and
 * the same tests pass with PCRE2 in its place). Any other pattern runs on
 * PCRE2 (UTF mode, JIT) after the rewrites transformers.js applies, with
 * JavaScript's meanings spelled out: \s and \S as JavaScript's whitespace
 * set, \d \w \b ASCII, `.` excluding line terminators. PCRE2's \p{..}
 * tables are its own Unicode version (15.0 in Debian 12); the hand-written
 * matchers and NFC use the tables in unicode_data.c (see
 * scripts/gen_unicode_nfc.mjs).
 *
 * Invalid UTF-8 rule: input text is first made valid by replacing each
 * maximal ill-formed subsequence with U+FFFD, which is what the reference
 * sees after node's TextDecoder decodes the same bytes. Decoding applies the
 * same rule to the bytes of the tokens, and loading to tokenizer.json and
 * tokenizer_config.json themselves (node reads them as text).
 *
 * Threads: a Tokenizer is read-only after tok_load except for the BPE cache
 * and scratch buffers that tok_encode uses; encode with one Tokenizer from
 * one thread at a time (load one per thread otherwise). tok_decode, the
 * streaming decoder and chat rendering do not modify the Tokenizer.
 */
#ifndef THINKRL_TOKENIZER_H
#define THINKRL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TokImpl TokImpl;

typedef struct {
    int vocab_size;     /* 1 + the largest token id (model vocab and added tokens) */
    int bos_id, eos_id, pad_id, unk_id; /* -1 when the tokenizer has none */
    /* special token strings from tokenizer_config.json (NULL when absent);
     * pad falls back to eos as in transformers */
    const char *bos_token, *eos_token, *pad_token, *unk_token;
    const char *chat_template; /* NULL when there is none */
    TokImpl *impl;
} Tokenizer;

/* Loads a tokenizer. `path` is a tokenizer.json file or a directory holding
 * tokenizer.json and optionally tokenizer_config.json (special tokens, chat
 * template, clean_up_tokenization_spaces) and chat_template.jinja (used when
 * the config has no chat_template). On failure returns a negative
 * status with tr_errmsg() naming the file and the field (for example
 * "tokenizer.json: model.merges[12]: 'Ġ x' names unknown token 'x'") and
 * leaves *tok zeroed. Free with tok_free. */
int tok_load(Tokenizer *tok, const char *path);
/* Same from memory: tokenizer_json (required) and config_json (NULL for
 * none). The texts are not kept. */
int tok_load_json(Tokenizer *tok, const char *tokenizer_json, size_t len, const char *config_json,
                  size_t config_len);
void tok_free(Tokenizer *tok);

/* A growable id buffer owned by the caller: start zeroed, reuse freely,
 * release with tok_ids_free. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} TokIds;
void tok_ids_free(TokIds *v);

enum {
    TOK_ADD_SPECIAL = 1,  /* run the post-processor (e.g. Llama 3's <|begin_of_text|>) */
    TOK_SPLIT_SPECIAL = 2 /* treat special added tokens in the text as plain text */
};
/* Encodes text[0..len) (any bytes; see the invalid UTF-8 rule) and APPENDS
 * the ids to *out (set out->n = 0 first to replace). flags: TOK_ADD_SPECIAL,
 * TOK_SPLIT_SPECIAL. Returns TR_OK or a negative status (out of memory, or a
 * piece with no token and no unk / byte fallback). */
int tok_encode(Tokenizer *tok, const char *text, size_t len, int flags, TokIds *out);

enum {
    TOK_SKIP_SPECIAL = 1, /* drop special tokens (added tokens marked special and
                             tokenizer_config's additional_special_tokens) */
    TOK_NO_CLEANUP = 2    /* never apply clean_up_tokenization_spaces */
};
/* Decodes ids[0..n) (n may be 0) to UTF-8 text: *out is malloc'ed and
 * NUL-terminated (caller frees; the text itself may contain U+0000), *out_len
 * (may be NULL) its length. Like transformers' decode:
 * added tokens come out verbatim, byte-level pieces are joined and decoded
 * with the U+FFFD rule, and clean_up_tokenization_spaces from
 * tokenizer_config.json is applied unless TOK_NO_CLEANUP (a tokenizer loaded
 * without a tokenizer_config.json never cleans up). An id outside
 * [0, vocab_size) or without a token is an error (TR_EINVAL); note that
 * models often have more embedding rows than tokenizer ids. */
int tok_decode(const Tokenizer *tok, const int32_t *ids, size_t n, int flags, char **out,
               size_t *out_len);

/* Streaming decoder: feed ids one at a time and print what comes back. Every
 * piece returned is valid UTF-8 on its own: bytes of a character split across
 * tokens are held until the character is complete; bytes that can no longer
 * become a character come out as U+FFFD, as tok_decode would print them. The
 * concatenation of all pieces plus tok_stream_finish equals tok_decode with
 * TOK_NO_CLEANUP and the same flags (TOK_SKIP_SPECIAL is honoured) for
 * tokenizers whose decoder is ByteLevel (all byte-level BPE models); with
 * another decoder chain the pieces are the raw token strings. A model with
 * an end-of-word suffix (CLIP-style BPE) gets a space for each suffix inside
 * a token, as tok_decode does, but not tok_decode's replacement of a suffix
 * spread over tokens nor its trim of the ends with TOK_SKIP_SPECIAL. */
typedef struct {
    const Tokenizer *tok;
    int flags;
    uint8_t pend[4];
    int npend;
    char *buf; /* owned; holds the last returned piece */
    size_t cap;
} TokStream;
void tok_stream_init(TokStream *s, const Tokenizer *tok, int flags);
/* *text points into the stream's buffer (valid until the next call), NUL-
 * terminated, *len may be 0. Returns TR_OK or TR_EINVAL for a bad id. */
int tok_stream_push(TokStream *s, int32_t id, const char **text, size_t *len);
/* Emits what is still held (as U+FFFD) and resets the stream. */
int tok_stream_finish(TokStream *s, const char **text, size_t *len);
void tok_stream_free(TokStream *s);

/* Id of a token given its vocab string (byte-level form, e.g. "Ġthe") or the
 * content of an added token; -1 if none. */
int tok_token_id(const Tokenizer *tok, const char *token);
/* The vocab string of id (byte-level form), NULL if out of range or a hole. */
const char *tok_token_str(const Tokenizer *tok, int32_t id);
/* 1 if id is a special token (see TOK_SKIP_SPECIAL), else 0. */
int tok_is_special(const Tokenizer *tok, int32_t id);

/* Chat templates. The interpreter follows @huggingface/jinja where it
 * differs from Python Jinja (e.g. s.strip('\n') strips all whitespace, true
 * prints as "true"); call and filter blocks are not supported. A message is
 * {role, content}; rendering passes the same variables as transformers'
 * apply_chat_template: messages,
 * add_generation_prompt, tools = none, documents = none, and bos_token,
 * eos_token, unk_token, sep_token, pad_token, cls_token, mask_token when
 * tokenizer_config.json sets them. *out is malloc'ed (caller frees). Errors
 * (no template, template syntax, raise_exception, a render needing more
 * than 64 MiB: a runaway loop or recursion) return a negative status with
 * the message in tr_errmsg(). */
/* To get ids, encode the rendered text WITHOUT TOK_ADD_SPECIAL: templates
 * write their own BOS (apply_chat_template does the same). */
typedef struct {
    const char *role;
    const char *content;
} TokMessage;
int tok_chat_render(const Tokenizer *tok, const TokMessage *msgs, int n, int add_generation_prompt,
                    char **out);
/* Same with messages as a JSON array (messages may carry any fields, such as
 * tool_calls or reasoning_content) and extra template variables as a JSON
 * object (tools, enable_thinking, date_string, ...; NULL for none). */
int tok_chat_render_json(const Tokenizer *tok, const char *messages_json, const char *extra_json,
                         int add_generation_prompt, char **out);
/* Renders any Jinja template with the variables of a JSON object (NULL for
 * none), with @huggingface/jinja's semantics (trim_blocks and lstrip_blocks
 * on). */
int tok_jinja_render(const char *tmpl, const char *vars_json, char **out);

/* Writes the byte-level tokenizer of the built-in models into directory dir
 * (created if missing): tokenizer.json with ids 0..255 for the bytes (a BPE
 * without merges over the GPT-2 byte alphabet) followed by the special
 * tokens specials[0..n) as added tokens with ids 256.., and
 * tokenizer_config.json naming specials[0] as eos_token and specials[1] as
 * pad_token, with a plain chat template. specials == NULL uses
 * TOK_BYTE_LEVEL_SPECIALS. Files are written atomically. */
extern const char *const TOK_BYTE_LEVEL_SPECIALS[]; /* NULL-terminated */
int tok_write_byte_level(const char *dir, const char *const *specials, int n);

#ifdef __cplusplus
}
#endif
#endif
