/* Chat template rendering: builds the variables transformers.js's
 * apply_chat_template passes (messages, add_generation_prompt, tools,
 * documents, the special tokens of tokenizer_config.json, extra keyword
 * arguments) and runs the Jinja interpreter of jinja.c on them. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static const char *SPECIAL_KEYS[7] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                      "pad_token", "cls_token", "mask_token"};

/* vars = {messages, add_generation_prompt, tools: null, documents: null,
 * special tokens..., extra...}; later keys replace earlier ones in place,
 * like a JavaScript object spread. Takes ownership of messages. */
static int render(const Tokenizer *tok, cJSON *messages, const cJSON *extra, int add_gen, char **out) {
    *out = NULL;
    if (!tok->impl) {
        cJSON_Delete(messages);
        return tr_err(TR_EINVAL, "tokenizer not loaded");
    }
    if (!tok->chat_template) {
        cJSON_Delete(messages);
        return tr_err(TR_EINVAL, "this tokenizer has no chat template (tokenizer_config.json: chat_template)");
    }
    cJSON *vars = cJSON_CreateObject();
    if (!vars) {
        cJSON_Delete(messages);
        return tr_err(TR_ENOMEM, "out of memory");
    }
    cJSON_AddItemToObject(vars, "messages", messages);
    cJSON_AddBoolToObject(vars, "add_generation_prompt", add_gen);
    cJSON_AddNullToObject(vars, "tools");
    cJSON_AddNullToObject(vars, "documents");
    for (int i = 0; i < 7; i++)
        if (tok->impl->tok_str[i]) cJSON_AddStringToObject(vars, SPECIAL_KEYS[i], tok->impl->tok_str[i]);
    for (const cJSON *x = extra ? extra->child : NULL; x; x = x->next) {
        cJSON *dup = cJSON_Duplicate(x, 1);
        if (!dup) {
            cJSON_Delete(vars);
            return tr_err(TR_ENOMEM, "out of memory");
        }
        if (cJSON_GetObjectItemCaseSensitive(vars, x->string)) cJSON_ReplaceItemInObjectCaseSensitive(vars, x->string, dup);
        else cJSON_AddItemToObject(vars, x->string, dup);
    }
    int rc = jinja_render(tok->chat_template, vars, out);
    cJSON_Delete(vars);
    return rc;
}

int tok_chat_render(const Tokenizer *tok, const TokMessage *msgs, int n, int add_generation_prompt, char **out) {
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return tr_err(TR_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        if (!m) {
            cJSON_Delete(arr);
            return tr_err(TR_ENOMEM, "out of memory");
        }
        cJSON_AddStringToObject(m, "role", msgs[i].role ? msgs[i].role : "");
        cJSON_AddStringToObject(m, "content", msgs[i].content ? msgs[i].content : "");
        cJSON_AddItemToArray(arr, m);
    }
    return render(tok, arr, NULL, add_generation_prompt, out);
}

int tok_chat_render_json(const Tokenizer *tok, const char *messages_json, const char *extra_json,
                         int add_generation_prompt, char **out) {
    *out = NULL;
    cJSON *msgs = cJSON_Parse(messages_json ? messages_json : "[]");
    if (!cJSON_IsArray(msgs)) {
        cJSON_Delete(msgs);
        return tr_err(TR_EINVAL, "chat messages: not a JSON array");
    }
    cJSON *extra = NULL;
    if (extra_json) {
        extra = cJSON_Parse(extra_json);
        if (!cJSON_IsObject(extra)) {
            cJSON_Delete(msgs);
            cJSON_Delete(extra);
            return tr_err(TR_EINVAL, "chat template variables: not a JSON object");
        }
    }
    int rc = render(tok, msgs, extra, add_generation_prompt, out);
    cJSON_Delete(extra);
    return rc;
}

int tok_jinja_render(const char *tmpl, const char *vars_json, char **out) {
    *out = NULL;
    cJSON *vars = NULL;
    if (vars_json) {
        vars = cJSON_Parse(vars_json);
        if (!cJSON_IsObject(vars)) {
            cJSON_Delete(vars);
            return tr_err(TR_EINVAL, "template variables: not a JSON object");
        }
    }
    int rc = jinja_render(tmpl, vars, out);
    cJSON_Delete(vars);
    return rc;
}
