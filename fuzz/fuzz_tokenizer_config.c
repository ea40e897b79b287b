/* Fuzz target: tokenizer_config.json (special tokens, chat_template as a
 * string or a [{name, template}] list, additional_special_tokens,
 * clean_up_tokenization_spaces) through tok_load_json next to a fixed
 * byte-level tokenizer.json (the built-in one, written once per process),
 * then the chat template rendered for fixed conversations and the result
 * encoded and decoded. The input is the config JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "thinkrl/tokenizer.h"

static char *tok_json;
static size_t tok_json_len;

static void load_base(void) {
    if (tok_json) return;
    static const char *const specials[] = {"<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>",
                                           "<think>", "</think>"};
    const char *dir = fuzz_path(1, "bytelevel");
    char path[700];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (tok_write_byte_level(dir, specials, 6) || !(tok_json = tr_read_file(path, &tok_json_len))) {
        fprintf(stderr, "fuzz: %s\n", tr_errmsg());
        abort();
    }
}

static const char *MSGS_JSON =
    "[{\"role\":\"system\",\"content\":\"You are helpful.\"},"
    "{\"role\":\"user\",\"content\":\"What's the weather?\"},"
    "{\"role\":\"assistant\",\"content\":\"\",\"reasoning_content\":\"check\","
    "\"tool_calls\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
    "\"arguments\":{\"city\":\"Paris\"}}}]},"
    "{\"role\":\"tool\",\"content\":\"21C\"},"
    "{\"role\":\"assistant\",\"content\":\"<think>\\nok\\n</think>\\n\\nIt is 21C.\"}]";
static const char *EXTRA_JSON =
    "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"d\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}],"
    "\"enable_thinking\":false,\"date_string\":\"26 Jul 2024\"}";

static void use(Tokenizer *tok, char *text) {
    if (!text) return;
    TokIds ids = {0};
    size_t n = strlen(text);
    if (tok_encode(tok, text, n > 8192 ? 8192 : n, 0, &ids) == TR_OK) {
        char *back = NULL;
        if (tok_decode(tok, ids.ids, ids.n, 0, &back, NULL) == TR_OK) free(back);
        if (tok_decode(tok, ids.ids, ids.n, TOK_SKIP_SPECIAL, &back, NULL) == TR_OK) free(back);
    }
    tok_ids_free(&ids);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load_base();
    char *cfg = malloc(size + 1);
    if (!cfg) abort();
    memcpy(cfg, data, size);
    cfg[size] = 0;
    Tokenizer tok;
    if (tok_load_json(&tok, tok_json, tok_json_len, cfg, size) == TR_OK) {
        const char *ids_of[] = {tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token};
        for (int i = 0; i < 4; i++)
            if (ids_of[i]) tok_token_id(&tok, ids_of[i]);
        TokMessage m[2] = {{"user", "Hi"}, {"assistant", "Hello <|im_end|>"}};
        char *out = NULL;
        tok_chat_render(&tok, m, 2, 1, &out);
        use(&tok, out);
        out = NULL;
        tok_chat_render(&tok, m, 0, 0, &out);
        use(&tok, out);
        out = NULL;
        tok_chat_render_json(&tok, MSGS_JSON, EXTRA_JSON, 1, &out);
        use(&tok, out);
        TokIds ids = {0};
        if (tok_encode(&tok, "a <|im_start|> b", 16, TOK_ADD_SPECIAL, &ids) == TR_OK) {
            char *back = NULL;
            if (tok_decode(&tok, ids.ids, ids.n, TOK_SKIP_SPECIAL, &back, NULL) == TR_OK) free(back);
        }
        tok_ids_free(&ids);
        tok_free(&tok);
    }
    free(cfg);
    return 0;
}
