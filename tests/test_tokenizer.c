/* Tokenizer unit tests that need no reference program: the byte-level
 * tokenizer round trip (its ids are the bytes, by construction), BPE merge
 * order and the added-token flags on tiny hand-made tokenizers whose answers
 * are worked out by hand, malformed tokenizer.json files (each error must
 * name the field), the invalid UTF-8 rule (maximal subparts -> U+FFFD),
 * out-of-range ids, the streaming decoder, and Jinja cases. The comparisons
 * with transformers.js and @huggingface/jinja are in tests/tok/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "thinkrl/tokenizer.h"
#include "tokenizer/tok_internal.h"

static int ids_eq(const TokIds *v, const int32_t *want, size_t n) {
    if (v->n != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (v->ids[i] != want[i]) return 0;
    return 1;
}

static void print_ids(const char *what, const TokIds *v) {
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < v->n; i++) fprintf(stderr, " %d", v->ids[i]);
    fputc('\n', stderr);
}

#define ENC(tok, text, flags, ...)                                                                   \
    do {                                                                                             \
        TokIds v_ = {0};                                                                             \
        const int32_t w_[] = {__VA_ARGS__};                                                          \
        int rc_ = tok_encode(tok, text, strlen(text), flags, &v_);                                   \
        CHECK(rc_ == 0 && ids_eq(&v_, w_, sizeof w_ / sizeof w_[0]), "encode(%s): rc %d %s", #text, \
              rc_, rc_ ? tr_errmsg() : "");                                                          \
        if (!(rc_ == 0 && ids_eq(&v_, w_, sizeof w_ / sizeof w_[0]))) print_ids("got", &v_);         \
        tok_ids_free(&v_);                                                                           \
    } while (0)

/* ---- the byte-level tokenizer ---------------------------------------------------- */

static void test_byte_level(const char *dir) {
    CHECK(tok_write_byte_level(dir, NULL, 0) == 0, "write byte level: %s", tr_errmsg());
    Tokenizer tok;
    CHECK(tok_load(&tok, dir) == 0, "load byte level: %s", tr_errmsg());
    if (!tok.impl) return;
    int nspec = 0;
    while (TOK_BYTE_LEVEL_SPECIALS[nspec]) nspec++;
    CHECK(tok.vocab_size == 256 + nspec, "vocab size %d", tok.vocab_size);
    CHECK(tok.eos_id == 256 && tok.pad_id == 257 && tok.bos_id == -1, "eos %d pad %d bos %d", tok.eos_id,
          tok.pad_id, tok.bos_id);
    CHECK(tok_token_id(&tok, "<think>") == 258 && tok_token_id(&tok, "</answer>") == 261, "special ids");
    CHECK(tok_is_special(&tok, 256) && !tok_is_special(&tok, 258), "special flags");

    /* random valid UTF-8: ids are the bytes, decode gives the text back */
    Rng r;
    rng_seed(&r, 7);
    for (int t = 0; t < 300; t++) {
        uint8_t buf[256];
        size_t n = 0;
        int len = 1 + (int)(rng_u64(&r) % 60);
        for (int k = 0; k < len; k++) {
            uint32_t cp;
            switch (rng_u64(&r) % 4) {
            case 0: cp = 0x20 + (uint32_t)(rng_u64(&r) % 95); break;
            case 1: cp = (uint32_t)(rng_u64(&r) % 0x80); break;
            case 2: cp = 0x80 + (uint32_t)(rng_u64(&r) % 0x7F80); break;
            default: cp = 0x10000 + (uint32_t)(rng_u64(&r) % 0xFFFFF); break;
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
            if (cp == '<') cp = '('; /* keep special-token text out of this part */
            n += (size_t)uni_encode(cp, buf + n);
        }
        TokIds v = {0};
        CHECK(tok_encode(&tok, (const char *)buf, n, TOK_ADD_SPECIAL, &v) == 0, "encode");
        int same = v.n == n;
        for (size_t i = 0; same && i < n; i++) same = v.ids[i] == buf[i];
        CHECK(same, "byte-level ids are the bytes (case %d)", t);
        char *s = NULL;
        size_t sl = 0;
        CHECK(tok_decode(&tok, v.ids, v.n, 0, &s, &sl) == 0 && sl == n && !memcmp(s, buf, n), "round trip %d", t);
        free(s);
        tok_ids_free(&v);
    }
    /* specials are matched in the text unless TOK_SPLIT_SPECIAL (eos and pad are special) */
    ENC(&tok, "a<think>b<|endoftext|>", 0, 'a', 258, 'b', 256);
    ENC(&tok, "a<think><|endoftext|>", TOK_SPLIT_SPECIAL, 'a', 258, '<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x',
        't', '|', '>');
    ENC(&tok, "<think", 0, '<', 't', 'h', 'i', 'n', 'k');
    /* decode: skip special drops eos/pad only */
    int32_t ids[] = {'h', 'i', 258, 256, 257};
    char *s = NULL;
    CHECK(tok_decode(&tok, ids, 5, 0, &s, NULL) == 0 && !strcmp(s, "hi<think><|endoftext|><|pad|>"), "decode %s", s);
    free(s);
    CHECK(tok_decode(&tok, ids, 5, TOK_SKIP_SPECIAL, &s, NULL) == 0 && !strcmp(s, "hi<think>"), "skip %s", s);
    free(s);
    /* chat template of the built-in tokenizer (ChatML with its specials) */
    TokMessage msgs[] = {{"system", "Be brief."}, {"user", "2+2?"}};
    CHECK(tok_chat_render(&tok, msgs, 2, 1, &s) == 0 &&
              !strcmp(s, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"),
          "byte-level chat template: %s", s ? s : tr_errmsg());
    free(s);
    tok_free(&tok);

    /* custom specials: no ChatML tokens -> the plain template */
    const char *sp[] = {"<eos>", "<pad>", "<think>"};
    CHECK(tok_write_byte_level(dir, sp, 3) == 0, "write custom");
    CHECK(tok_load(&tok, dir) == 0, "load custom: %s", tr_errmsg());
    CHECK(tok.vocab_size == 259 && tok.eos_id == 256 && tok.pad_id == 257, "custom ids");
    CHECK(tok_chat_render(&tok, msgs, 2, 1, &s) == 0 && !strcmp(s, "system: Be brief.\nuser: 2+2?\nassistant: "),
          "plain template: %s", s ? s : tr_errmsg());
    free(s);
    tok_free(&tok);
}

/* ---- invalid UTF-8, out-of-range ids, streaming ----------------------------------- */

static void test_utf8_rule(const char *dir) {
    Tokenizer tok;
    CHECK(tok_write_byte_level(dir, NULL, 0) == 0 && tok_load(&tok, dir) == 0, "load: %s", tr_errmsg());
    if (!tok.impl) return;
    /* each maximal subpart of an ill-formed sequence becomes EF BF BD */
    static const struct {
        const char *in, *out;
    } C[] = {
        {"a\xff" "b", "a\xEF\xBF\xBD" "b"},
        {"\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xE2\x82", "\xEF\xBF\xBD"},                        /* truncated at the end: one */
        {"\xE2\x82x", "\xEF\xBF\xBDx"},                       /* truncated before x: one */
        {"\xF0\x9F\x98" "A", "\xEF\xBF\xBD" "A"},
        {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},             /* C0 never starts a sequence */
        {"\xE0\x80\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* E0 80: 80 outside A0..BF */
        {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate */
        {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xE2\x82\xAC", "\xE2\x82\xAC"},                     /* valid: unchanged */
    };
    for (size_t k = 0; k < sizeof C / sizeof C[0]; k++) {
        TokIds a = {0}, b = {0};
        tok_encode(&tok, C[k].in, strlen(C[k].in), 0, &a);
        tok_encode(&tok, C[k].out, strlen(C[k].out), 0, &b);
        CHECK(a.n == b.n && !memcmp(a.ids, b.ids, a.n * sizeof *a.ids), "invalid UTF-8 case %zu", k);
        /* the decoder applies the same rule to token bytes */
        char *s = NULL;
        int32_t ids[16];
        size_t n = strlen(C[k].in);
        for (size_t i = 0; i < n; i++) ids[i] = (uint8_t)C[k].in[i];
        CHECK(tok_decode(&tok, ids, n, 0, &s, NULL) == 0 && !strcmp(s, C[k].out), "decode invalid case %zu", k);
        free(s);
        tok_ids_free(&a);
        tok_ids_free(&b);
    }
    /* ids out of range are errors naming the id */
    int32_t bad[] = {65, 100000};
    char *s = NULL;
    CHECK(tok_decode(&tok, bad, 2, 0, &s, NULL) == TR_EINVAL && strstr(tr_errmsg(), "100000") && !s,
          "out of range: %s", tr_errmsg());
    int32_t neg[] = {-1};
    CHECK(tok_decode(&tok, neg, 1, 0, &s, NULL) == TR_EINVAL && strstr(tr_errmsg(), "-1"), "negative id");
    TokStream st;
    tok_stream_init(&st, &tok, 0);
    const char *piece;
    size_t plen;
    CHECK(tok_stream_push(&st, 5000, &piece, &plen) == TR_EINVAL, "stream out of range");

    /* streaming: "€" = E2 82 AC arrives byte by byte */
    CHECK(tok_stream_push(&st, 'a', &piece, &plen) == 0 && plen == 1 && piece[0] == 'a', "stream a");
    CHECK(tok_stream_push(&st, 0xE2, &piece, &plen) == 0 && plen == 0, "held 1");
    CHECK(tok_stream_push(&st, 0x82, &piece, &plen) == 0 && plen == 0, "held 2");
    CHECK(tok_stream_push(&st, 0xAC, &piece, &plen) == 0 && plen == 3 && !memcmp(piece, "\xE2\x82\xAC", 3), "euro");
    /* a held prefix that cannot continue: U+FFFD, then the new character */
    CHECK(tok_stream_push(&st, 0xE2, &piece, &plen) == 0 && plen == 0, "held 3");
    CHECK(tok_stream_push(&st, 'b', &piece, &plen) == 0 && plen == 4 && !memcmp(piece, "\xEF\xBF\xBD" "b", 4), "fffd b");
    /* an added token flushes what is held as U+FFFD */
    CHECK(tok_stream_push(&st, 0xF0, &piece, &plen) == 0 && plen == 0, "held 4");
    CHECK(tok_stream_push(&st, 258, &piece, &plen) == 0 && !strcmp(piece, "\xEF\xBF\xBD<think>"), "flush at special");
    CHECK(tok_stream_push(&st, 0xC3, &piece, &plen) == 0 && plen == 0, "held 5");
    CHECK(tok_stream_finish(&st, &piece, &plen) == 0 && !strcmp(piece, "\xEF\xBF\xBD"), "finish flushes");
    tok_stream_free(&st);

    /* random byte streams: every piece whole UTF-8, the sum equals tok_decode */
    Rng r;
    rng_seed(&r, 11);
    for (int t = 0; t < 500; t++) {
        int32_t v[64];
        int n = 1 + (int)(rng_u64(&r) % 64);
        for (int i = 0; i < n; i++) {
            uint64_t x = rng_u64(&r) % 10;
            v[i] = x < 3 ? (int32_t)(0x80 + rng_u64(&r) % 0x40) : x < 5 ? (int32_t)(0xC2 + rng_u64(&r) % 0x33)
                 : x < 6 ? 256 + (int32_t)(rng_u64(&r) % 4) : (int32_t)(rng_u64(&r) % 0x80);
        }
        for (int flags = 0; flags <= TOK_SKIP_SPECIAL; flags += TOK_SKIP_SPECIAL) {
            char *want = NULL;
            tok_decode(&tok, v, (size_t)n, flags | TOK_NO_CLEANUP, &want, NULL);
            tok_stream_init(&st, &tok, flags);
            SBuf all = {0};
            int whole = 1;
            for (int i = 0; i < n; i++) {
                tok_stream_push(&st, v[i], &piece, &plen);
                whole &= uni_is_valid((const uint8_t *)piece, plen);
                if (plen) sb_put(&all, piece, plen);
            }
            tok_stream_finish(&st, &piece, &plen);
            whole &= uni_is_valid((const uint8_t *)piece, plen);
            if (plen) sb_put(&all, piece, plen);
            CHECK(whole, "stream piece with half a character (case %d)", t);
            CHECK(!strcmp(all.p ? all.p : "", want), "stream sum differs from decode (case %d)", t);
            sb_free(&all);
            free(want);
            tok_stream_free(&st);
        }
    }
    tok_free(&tok);
}

/* ---- tiny hand-made tokenizers ----------------------------------------------------------- */

/* char-level BPE (no ByteLevel): a=0 b=1 c=2 ab=3 bc=4 abc=5 aa=6 " "=7
 * merges by rank: "b c" (0), "a b" (1), "a a" (2), "ab c" (3) */
static const char *TINY =
    "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"bc\":4,\"abc\":5,\"aa\":6,\" \":7,"
    "\"<0x64>\":8,\"<unk>\":9},\"merges\":[\"b c\",\"a b\",[\"a\",\"a\"],\"ab c\"],\"unk_token\":\"<unk>\"%s},"
    "\"added_tokens\":[%s],\"pre_tokenizer\":%s,\"post_processor\":%s,\"decoder\":null,\"normalizer\":%s}";

static int load_tiny(Tokenizer *tok, const char *model_extra, const char *added, const char *pre, const char *post,
                     const char *norm) {
    char buf[4096];
    snprintf(buf, sizeof buf, TINY, model_extra, added, pre, post, norm);
    return tok_load_json(tok, buf, strlen(buf), NULL, 0);
}

static void test_bpe_rules(void) {
    Tokenizer tok;
    CHECK(load_tiny(&tok, "", "", "null", "null", "null") == 0, "tiny: %s", tr_errmsg());
    if (!tok.impl) return;
    /* "abc": pairs (a,b)=1 and (b,c)=0: b+c first, then (a,bc) has no merge */
    ENC(&tok, "abc", 0, 0, 4);
    /* "aab": (a,a)=2, (a,b)=1: a+b at 1 first -> a ab */
    ENC(&tok, "aab", 0, 0, 3);
    /* "aaa": equal ranks, leftmost first -> aa a */
    ENC(&tok, "aaa", 0, 6, 0);
    /* "aaaa": aa aa */
    ENC(&tok, "aaaa", 0, 6, 6);
    /* "abab c": one piece (no pre-tokenizer): ab ab, space, c */
    ENC(&tok, "abab c", 0, 3, 3, 7, 2);
    /* unknown char -> unk */
    ENC(&tok, "axb", 0, 0, 9, 1);
    tok_free(&tok);
    /* ignore_merges: a piece already in the vocab is one token */
    CHECK(load_tiny(&tok, ",\"ignore_merges\":true", "", "null", "null", "null") == 0, "tiny ignore_merges");
    ENC(&tok, "abc", 0, 5);
    tok_free(&tok);
    /* byte_fallback: 'd' -> <0x64>; 'e' has no byte token -> unk */
    CHECK(load_tiny(&tok, ",\"byte_fallback\":true", "", "null", "null", "null") == 0, "tiny byte_fallback");
    ENC(&tok, "adbe", 0, 0, 8, 1, 9);
    tok_free(&tok);
    /* long word: the heap path agrees with the small path ("ab" * 50 -> 50 x ab) */
    CHECK(load_tiny(&tok, "", "", "null", "null", "null") == 0, "tiny");
    char longw[201];
    for (int i = 0; i < 100; i++) memcpy(longw + 2 * i, "ab", 2);
    longw[200] = 0;
    TokIds v = {0};
    tok_encode(&tok, longw, 200, 0, &v);
    int ok = v.n == 100;
    for (size_t i = 0; ok && i < v.n; i++) ok = v.ids[i] == 3;
    CHECK(ok, "long word: %zu ids", v.n);
    tok_ids_free(&v);
    tok_free(&tok);

    /* Split pre-tokenizer on spaces (Isolated): "ab ab" -> ab, " ", ab */
    CHECK(load_tiny(&tok, "", "", "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Isolated\"}", "null",
                    "null") == 0, "split: %s", tr_errmsg());
    ENC(&tok, "ab ab", 0, 3, 7, 3);
    tok_free(&tok);
    CHECK(load_tiny(&tok, "", "", "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Removed\"}", "null",
                    "null") == 0, "split removed");
    ENC(&tok, "ab  abc", 0, 3, 0, 4); /* "ab", "", "abc": the empty piece is dropped */
    tok_free(&tok);

    /* split behaviours on the delimiter "b" in "abc" (merges would join across pieces):
     * Isolated a|b|c, MergedWithPrevious ab|c, MergedWithNext a|bc, invert keeps b */
    static const struct {
        const char *beh;
        int invert;
        int32_t want[3];
        int n;
    } B[] = {{"Isolated", 0, {0, 1, 2}, 3}, {"MergedWithPrevious", 0, {3, 2}, 2}, {"MergedWithNext", 0, {0, 4}, 2},
             {"Removed", 0, {0, 2}, 2},     {"Contiguous", 0, {0, 1, 2}, 3},   {"Isolated", 1, {1}, 1}};
    for (size_t k = 0; k < sizeof B / sizeof B[0]; k++) {
        char pre[256];
        snprintf(pre, sizeof pre,
                 "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"b+\"},\"behavior\":\"%s\",\"invert\":%s}",
                 B[k].beh, B[k].invert ? "true" : "false");
        CHECK(load_tiny(&tok, "", "", pre, "null", "null") == 0, "split %s: %s", B[k].beh, tr_errmsg());
        TokIds v = {0};
        tok_encode(&tok, "abc", 3, 0, &v);
        CHECK(ids_eq(&v, B[k].want, (size_t)B[k].n), "split behaviour %s invert %d", B[k].beh, B[k].invert);
        if (!ids_eq(&v, B[k].want, (size_t)B[k].n)) print_ids("got", &v);
        tok_ids_free(&v);
        tok_free(&tok);
    }

    /* TemplateProcessing: BOS "a" before, "c" after with add_special */
    CHECK(load_tiny(&tok, "", "", "null",
                    "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"a\",\"type_id\":0}},"
                    "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"c\",\"type_id\":0}}]}",
                    "null") == 0, "template: %s", tr_errmsg());
    ENC(&tok, "b", TOK_ADD_SPECIAL, 0, 1, 2);
    ENC(&tok, "b", 0, 1);
    tok_free(&tok);

    /* added tokens: lstrip/rstrip strip JS whitespace next to the token; single_word only
     * matches between word boundaries; normalized tokens match the normalized text */
    CHECK(load_tiny(&tok, "",
                    "{\"id\":20,\"content\":\"<x>\",\"lstrip\":true,\"special\":true},"
                    "{\"id\":21,\"content\":\"<y>\",\"rstrip\":true,\"special\":true},"
                    "{\"id\":22,\"content\":\"cc\",\"single_word\":true,\"special\":false,\"normalized\":false}",
                    "null", "null", "null") == 0, "added: %s", tr_errmsg());
    ENC(&tok, "a  <x> b", 0, 0, 20, 7, 1);    /* spaces before <x> stripped, after kept */
    ENC(&tok, "a <y>  \tb", 0, 0, 7, 21, 1);   /* spaces after <y> stripped */
    ENC(&tok, "a cc b", 0, 0, 7, 22, 7, 1);    /* cc between spaces: a word */
    ENC(&tok, "acc", 0, 0, 2, 2);              /* inside a word: not the added token */
    ENC(&tok, "a<x><x>", 0, 0, 20, 20);
    ENC(&tok, "<x>", TOK_SPLIT_SPECIAL, 9, 9, 9); /* plain text: '<' 'x' '>' are unknown */
    tok_free(&tok);
    /* normalized=true with a Replace normalizer ("b" -> "c"): "<q>" is matched after
     * normalization, so "<b>" in the text becomes the token */
    CHECK(load_tiny(&tok, "", "{\"id\":30,\"content\":\"<c>\",\"normalized\":true,\"special\":false}", "null", "null",
                    "{\"type\":\"Replace\",\"pattern\":{\"String\":\"b\"},\"content\":\"c\"}") == 0,
          "normalized: %s", tr_errmsg());
    ENC(&tok, "a<b>a", 0, 0, 30, 0);
    tok_free(&tok);
}

/* ---- malformed tokenizer.json: the error names the field ---------------------------------- */

static void test_bad_files(void) {
    static const struct {
        const char *json, *field;
    } C[] = {
        {"{\"added_tokens\":[]}", "model"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", "model.type"},
        {"{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", "model.type"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":[],\"merges\":[]}}", "model.vocab"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}", "model.merges"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", "model.vocab['a']"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\",\"a z\"]}}",
         "model.merges[1]"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}", "model.merges[0]"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"ab\"]}}", "model.merges[0]"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Whitespace\"}}",
         "pre_tokenizer.type"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Sequence\","
         "\"pretokenizers\":[{\"type\":\"ByteLevel\"},{\"type\":\"Digits\"}]}}",
         "pre_tokenizer.pretokenizers[1].type"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\","
         "\"pattern\":{\"Regex\":\"(unclosed\"},\"behavior\":\"Isolated\"}}",
         "pre_tokenizer.pattern"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\","
         "\"behavior\":\"Isolated\"}}",
         "pre_tokenizer.pattern"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"BertNormalizer\"}}",
         "normalizer.type"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"decoder\":{\"type\":\"WordPiece\"}}",
         "decoder.type"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"post_processor\":{\"type\":\"Template"
         "Processing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}}]}}",
         "post_processor.single[0].SpecialToken.id"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"added_tokens\":[{\"id\":1}]}",
         "added_tokens[0].content"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"added_tokens\":[{\"content\":\"x\"}]}",
         "added_tokens[0].id"},
        {"{\"model\": {\"type\": \"BPE\", ", "invalid JSON"},
    };
    for (size_t k = 0; k < sizeof C / sizeof C[0]; k++) {
        Tokenizer tok;
        int rc = tok_load_json(&tok, C[k].json, strlen(C[k].json), NULL, 0);
        CHECK(rc != 0 && strstr(tr_errmsg(), C[k].field) && strstr(tr_errmsg(), "tokenizer.json"),
              "bad file %zu: want an error naming '%s', got rc %d: %s", k, C[k].field, rc, rc ? tr_errmsg() : "");
        CHECK(tok.impl == NULL, "failed load leaves the tokenizer empty");
        tok_free(&tok);
    }
    /* a bad tokenizer_config.json names its file and field */
    const char *ok = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}";
    const char *cfg = "{\"eos_token\": 5}";
    Tokenizer tok;
    int rc = tok_load_json(&tok, ok, strlen(ok), cfg, strlen(cfg));
    CHECK(rc != 0 && strstr(tr_errmsg(), "tokenizer_config.json") && strstr(tr_errmsg(), "eos_token"),
          "bad config: %s", tr_errmsg());
    /* loading a missing path is an I/O error naming the path */
    rc = tok_load(&tok, "/nonexistent/tokenizer.json");
    CHECK(rc == TR_EIO && strstr(tr_errmsg(), "/nonexistent"), "missing file: %s", tr_errmsg());
}

/* ---- end-of-word suffix (CLIP-style BPE with a ByteLevel decoder) ------------------------- */

/* the concatenated stream pieces of ids */
static char *stream_all(const Tokenizer *tok, const int32_t *ids, size_t n, int flags) {
    TokStream st;
    tok_stream_init(&st, tok, flags);
    SBuf all = {0};
    const char *t;
    size_t l;
    for (size_t i = 0; i < n; i++) {
        TR_ASSERT(tok_stream_push(&st, ids[i], &t, &l) == 0);
        TR_ASSERT(sb_put(&all, t, l) == 0);
    }
    TR_ASSERT(tok_stream_finish(&st, &t, &l) == 0 && sb_put(&all, t, l) == 0 && sb_puts(&all, "") == 0);
    tok_stream_free(&st);
    return all.p;
}

static void test_eow_stream(void) {
    const char *js = "{\"model\":{\"type\":\"BPE\",\"end_of_word_suffix\":\"</w>\","
                     "\"vocab\":{\"hello</w>\":0,\"world</w>\":1,\"hel\":2,\"lo</w>\":3},\"merges\":[]},"
                     "\"decoder\":{\"type\":\"ByteLevel\"}}";
    Tokenizer tok;
    CHECK(tok_load_json(&tok, js, strlen(js), NULL, 0) == 0, "eow tokenizer: %s", tr_errmsg());
    if (!tok.impl) return;
    static const int32_t ids[] = {0, 1, 2, 3};
    char *dec = NULL, *str = stream_all(&tok, ids, 4, TOK_NO_CLEANUP);
    size_t dl = 0;
    CHECK(tok_decode(&tok, ids, 4, TOK_NO_CLEANUP, &dec, &dl) == 0 && !strcmp(dec, "hello world hello "),
          "eow decode: [%s]", dec ? dec : "");
    /* each token's suffix becomes a space in the stream too */
    CHECK(!strcmp(str, "hello world hello "), "eow stream: [%s]", str);
    free(dec);
    free(str);
    /* no ids: an empty, terminated string (the suffix pass once left it
     * unterminated) */
    dec = NULL;
    dl = 1;
    CHECK(tok_decode(&tok, ids, 0, 0, &dec, &dl) == 0 && dec && dl == 0 && dec[0] == 0, "eow decode of no ids");
    free(dec);
    tok_free(&tok);
}

/* ---- chat_template.jinja next to the tokenizer ------------------------------------------- */

static void put_bytes(const char *path, const char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    TR_ASSERT(f && fwrite(b, 1, n, f) == n && fclose(f) == 0);
}

static void test_template_file(const char *dir) {
    char sub[300], p[400];
    snprintf(sub, sizeof sub, "%s/tmpl", dir);
    mkdir(sub, 0755);
    TR_ASSERT(tok_write_byte_level(sub, NULL, 0) == 0);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", sub);
    put_bytes(p, "{}", 2); /* no template here: the .jinja file supplies it */
    snprintf(p, sizeof p, "%s/chat_template.jinja", sub);
    static const char good[] = "{{ messages[0].content }}\xE2\x82\xAC";
    put_bytes(p, good, sizeof good - 1);
    Tokenizer tok;
    CHECK(tok_load(&tok, sub) == 0 && tok.chat_template && !strcmp(tok.chat_template, good),
          "chat_template.jinja read as it is: %s", tr_errmsg());
    tok_free(&tok);
    /* invalid bytes become U+FFFD, as in the JSON files */
    put_bytes(p, "a\xff{{ x }}\xE2\x82", 11);
    CHECK(tok_load(&tok, sub) == 0 && tok.chat_template &&
              !strcmp(tok.chat_template, "a\xEF\xBF\xBD{{ x }}\xEF\xBF\xBD"),
          "chat_template.jinja made valid UTF-8: %s", tr_errmsg());
    tok_free(&tok);
    /* a NUL byte would cut the template short: refused, naming file and offset */
    put_bytes(p, "{{ a }}\0{{ b }}", 15);
    int rc = tok_load(&tok, sub);
    CHECK(rc != 0 && strstr(tr_errmsg(), "chat_template.jinja") && strstr(tr_errmsg(), "offset 7"),
          "NUL in chat_template.jinja: rc %d, %s", rc, tr_errmsg());
    CHECK(tok.impl == NULL, "failed load leaves the tokenizer empty");
    tok_free(&tok);
    static const char *const files[] = {"chat_template.jinja", "tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", sub, files[i]);
        unlink(p);
    }
    rmdir(sub);
}

/* ---- Jinja (answers worked out from the template semantics) ------------------------------- */

static void jinja_case(const char *tmpl, const char *vars, const char *want) {
    char *out = NULL;
    int rc = tok_jinja_render(tmpl, vars, &out);
    if (want) CHECK(rc == 0 && !strcmp(out, want), "jinja %s -> [%s] want [%s] (%s)", tmpl, out ? out : "", want,
                    rc ? tr_errmsg() : "");
    else CHECK(rc != 0, "jinja %s should fail", tmpl);
    free(out);
}

static void test_jinja(void) {
    jinja_case("{{ 1 + 2 }}|{{ 'a' ~ 1 }}|{{ 7 // 2 }}|{{ 2 ** 3 }}", NULL, "3|a1|3|8");
    jinja_case("{% for m in messages %}{{ loop.index }}:{{ m.role }}{% if not loop.last %},{% endif %}{% endfor %}",
               "{\"messages\":[{\"role\":\"user\"},{\"role\":\"assistant\"}]}", "1:user,2:assistant");
    jinja_case("{%- if x -%}  yes  {%- else -%} no {%- endif -%}", "{\"x\":true}", "yes");
    jinja_case("a\n{% if true %}\n  b\n{% endif %}\nc", NULL, "a\n  b\nc"); /* trim_blocks + lstrip_blocks */
    jinja_case("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}",
               NULL, "6");
    jinja_case("{{ s.strip() }}|{{ s | trim }}|{{ s.split('b') }}", "{\"s\":\" abc \"}", "abc|abc|[\" a\", \"c \"]");
    jinja_case("{{ d | tojson }}", "{\"d\":{\"a\":[1,2.5,null],\"b\":\"x\\\"y\"}}",
               "{\"a\": [1, 2.5, null], \"b\": \"x\\\"y\"}");
    jinja_case("{{ 3.0 }} {{ 1.5 }} {{ true }} {{ none }}|", NULL, "3.0 1.5 true |");
    jinja_case("{{ m[::-1] }} {{ m[-1] }} {{ m | length }}", "{\"m\":[1,2,3]}", "[3, 2, 1] 3 3");
    jinja_case("{{ raise_exception('no') }}", NULL, NULL);
    jinja_case("{% if %}", NULL, NULL);
    jinja_case("{{ x + 1 }}", NULL, NULL); /* undefined + 1 is an error */
    /* the Qwen-style generation prompt from a real-looking template */
    Tokenizer tok;
    const char *tj = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}";
    const char *cfg = "{\"eos_token\":\"<e>\",\"bos_token\":{\"content\":\"<b>\",\"__type\":\"AddedToken\"},"
                      "\"chat_template\":\"{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}"
                      "{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}\"}";
    CHECK(tok_load_json(&tok, tj, strlen(tj), cfg, strlen(cfg)) == 0, "chat cfg: %s", tr_errmsg());
    TokMessage msgs[] = {{"user", "hi"}};
    char *s = NULL;
    CHECK(tok_chat_render(&tok, msgs, 1, 1, &s) == 0 && !strcmp(s, "<b><user>hi<e><assistant>"), "chat: %s",
          s ? s : tr_errmsg());
    free(s);
    CHECK(tok_chat_render_json(&tok, "[{\"role\":\"user\",\"content\":\"x\"}]", "{\"eos_token\":\"!\"}", 0, &s) == 0 &&
              !strcmp(s, "<b><user>x!"),
          "chat json with extra: %s", s ? s : tr_errmsg());
    free(s);
    CHECK(!strcmp(tok.eos_token, "<e>") && !strcmp(tok.pad_token, "<e>") && !strcmp(tok.bos_token, "<b>"),
          "config tokens (pad falls back to eos)");
    tok_free(&tok);
}

int main(void) {
    char dir[] = "/tmp/thinkrl_tok_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_byte_level(dir);
    test_utf8_rule(dir);
    test_bpe_rules();
    test_bad_files();
    test_template_file(dir);
    test_eow_stream();
    test_jinja();
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    unlink(path);
    rmdir(dir);
    return tu_summary("test_tokenizer");
}
