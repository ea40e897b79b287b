/* Fuzz target: the chat-template interpreter (Jinja subset: lexer, parser,
 * evaluation with @huggingface/jinja semantics) through tok_jinja_render.
 * Input: template [NUL variables as a JSON object]; without variables the
 * template sees a chat conversation like apply_chat_template passes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "thinkrl/tokenizer.h"

static const char *DEFAULT_VARS =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "{\"role\":\"user\",\"content\":\"Hi \\\"there\\\" caf\\u00e9\"},"
    "{\"role\":\"assistant\",\"content\":\"<think>\\nhm\\n</think>\\n\\nHello!\","
    "\"tool_calls\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":{\"x\":1,\"y\":[1.5,null,true]}}}]},"
    "{\"role\":\"tool\",\"content\":\"42\"}],"
    "\"add_generation_prompt\":true,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
    "\"documents\":null,\"bos_token\":\"<s>\",\"eos_token\":\"</s>\",\"enable_thinking\":false}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *part[2];
    size_t len[2];
    int n = fuzz_split(data, size, 2, part, len);
    char *out = NULL;
    int rc = tok_jinja_render(part[0], n == 2 ? part[1] : DEFAULT_VARS, &out);
    if (rc == TR_OK) FUZZ_CHECK(out != NULL, "render gave no text");
    else FUZZ_CHECK(out == NULL && tr_errmsg()[0], "failed render left text");
    free(out);
    fuzz_parts_free(part, 2);
    return 0;
}
