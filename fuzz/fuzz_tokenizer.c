/* Fuzz target: tokenizer.json (and optionally tokenizer_config.json) through
 * tok_load_json, then the loaded tokenizer at work: encode fixed texts and
 * a fuzzed one with every flag combination, decode the ids back (whole and
 * streaming), look tokens up, render the chat template if there is one.
 * Input: tokenizer.json [NUL tokenizer_config.json [NUL text]]; an empty
 * config part means none. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "thinkrl/tokenizer.h"
#include "tokenizer/tok_internal.h"

static const char *const TEXTS[] = {
    "Hello world! It's 2024, isn't it?",
    "  leading spaces\tand\ttabs\r\nCRLF\n\n",
    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80 e\xcc\x81",
    "<|im_start|>user\nhi<|im_end|><|endoftext|><s></s><unk>",
    "bad utf8: \xff\xfe \xc3 \xe2\x82 \xed\xa0\x80 end",
    "",
};

static void exercise_ids(const Tokenizer *tok, const TokIds *ids) {
    int plain_bl = tok->impl->ndec == 1 && tok->impl->dec[0].type == DC_BYTELEVEL;
    /* the stream's equality with tok_decode leaves out end-of-word suffixes
     * (tokenizer.h) */
    int same_as_decode = plain_bl && !tok->impl->bpe.eow_suffix;
    for (int flags = 0; flags < 4; flags++) {
        char *out = NULL;
        size_t len = 0;
        int rc = tok_decode(tok, ids->ids, ids->n, flags, &out, &len);
        if (rc == TR_OK) FUZZ_CHECK(out && strlen(out) <= len, "decode output");
        /* streaming: pieces valid UTF-8; with a ByteLevel decoder their
         * concatenation is tok_decode(TOK_NO_CLEANUP) */
        int sflags = flags & TOK_SKIP_SPECIAL;
        TokStream s;
        tok_stream_init(&s, tok, sflags);
        SBuf all = {0};
        int ok = 1;
        for (size_t i = 0; i < ids->n && ok; i++) {
            const char *t;
            size_t l;
            if (tok_stream_push(&s, ids->ids[i], &t, &l)) ok = 0;
            else {
                if (plain_bl) FUZZ_CHECK(uni_is_valid((const uint8_t *)t, l), "stream piece not UTF-8");
                if (sb_put(&all, t, l)) abort();
            }
        }
        const char *t;
        size_t l;
        if (ok && tok_stream_finish(&s, &t, &l) == TR_OK && sb_put(&all, t, l)) abort();
        if (ok && same_as_decode && (flags & TOK_NO_CLEANUP) && rc == TR_OK)
            FUZZ_CHECK(all.n == len && (len == 0 || memcmp(all.p, out, len) == 0),
                       "stream decode differs from tok_decode");
        sb_free(&all);
        tok_stream_free(&s);
        free(out);
    }
    for (size_t i = 0; i < ids->n && i < 64; i++) {
        const char *str = tok_token_str(tok, ids->ids[i]);
        if (str) tok_token_id(tok, str);
        tok_is_special(tok, ids->ids[i]);
    }
}

static void encode_text(Tokenizer *tok, const char *text, size_t n) {
    TokIds ids = {0};
    for (int flags = 0; flags < 4; flags++) {
        ids.n = 0;
        if (tok_encode(tok, text, n, flags, &ids) != TR_OK) continue;
        for (size_t i = 0; i < ids.n; i++)
            FUZZ_CHECK(ids.ids[i] >= 0 && ids.ids[i] < tok->vocab_size, "encode gave id %d of %d",
                       ids.ids[i], tok->vocab_size);
        exercise_ids(tok, &ids);
    }
    tok_ids_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *part[3];
    size_t len[3];
    fuzz_split(data, size, 3, part, len);
    Tokenizer tok;
    int rc = tok_load_json(&tok, part[0], len[0], part[1] && len[1] ? part[1] : NULL, len[1]);
    if (rc == TR_OK) {
        for (size_t i = 0; i < sizeof TEXTS / sizeof *TEXTS; i++) encode_text(&tok, TEXTS[i], strlen(TEXTS[i]));
        if (part[2]) encode_text(&tok, part[2], len[2] > 4096 ? 4096 : len[2]);
        /* every id, including holes and the ones just outside the range */
        TokIds all = {0};
        for (int32_t id = -1; id <= tok.vocab_size && id < 300; id++) {
            int32_t v = id;
            if (all.n == all.cap) {
                all.cap = all.cap ? 2 * all.cap : 64;
                all.ids = realloc(all.ids, all.cap * sizeof *all.ids);
                if (!all.ids) abort();
            }
            all.ids[all.n++] = v;
            tok_token_str(&tok, v);
            tok_is_special(&tok, v);
        }
        exercise_ids(&tok, &all);
        all.n = 0;
        for (int32_t id = 0; id < tok.vocab_size && id < 300; id++)
            if (tok_token_str(&tok, id)) all.ids[all.n++] = id;
        exercise_ids(&tok, &all);
        tok_ids_free(&all);
        if (tok.chat_template) {
            TokMessage m[3] = {{"system", "Be brief."}, {"user", "Hi <|im_end|>"}, {"assistant", "Hello!"}};
            char *out = NULL;
            if (tok_chat_render(&tok, m, 3, 1, &out) == TR_OK) encode_text(&tok, out, strlen(out));
            free(out);
        }
        tok_free(&tok);
    } else {
        FUZZ_CHECK(tok.impl == NULL, "failed load left an impl");
    }
    fuzz_parts_free(part, 3);
    return 0;
}
