/* Runs thinkrl's tokenizer on JSONL requests written by the node scripts of
 * tests/tok/ and writes JSONL answers they compare with transformers.js and
 * @huggingface/jinja. It computes nothing to compare itself.
 *
 *   check_tokenizer encode TOKDIR IN OUT [--pcre]   {"text"|"hex"} -> {"ids","ids_plain"}
 *   check_tokenizer decode TOKDIR IN OUT            {"ids"} -> {"text","text_skip","text_raw","stream_ok"}
 *   check_tokenizer split  TOKDIR IN OUT [--pcre]   {"text"} -> {"matches"}: the matches of the split
 *                                                   regex (first Split, or ByteLevel's own) on the raw text
 *   check_tokenizer chat   TOKDIR IN OUT            {"messages","add_generation_prompt","extra"} -> {"text"|"error"}
 *   check_tokenizer jinja  -      IN OUT            {"template","vars"} -> {"text"|"error"}
 *   check_tokenizer nfc    -      IN OUT            {"text"} -> {"nfc","nfd"}
 *   check_tokenizer write-byte-level DIR            writes the built-in byte-level tokenizer
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/tokenizer.h"
#include "tokenizer/tok_internal.h"

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static cJSON *ids_json(const int32_t *ids, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

/* every piece valid UTF-8 and the concatenation equals the full decode */
static int stream_check(const Tokenizer *tok, const int32_t *ids, size_t n, int flags, const char *want) {
    TokStream s;
    tok_stream_init(&s, tok, flags);
    SBuf all = {0};
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        const char *t;
        size_t len;
        if (tok_stream_push(&s, ids[i], &t, &len)) ok = 0;
        else if (!uni_is_valid((const uint8_t *)t, len)) ok = 0;
        else sb_put(&all, t, len);
    }
    const char *t;
    size_t len;
    if (ok && !tok_stream_finish(&s, &t, &len)) {
        if (!uni_is_valid((const uint8_t *)t, len)) ok = 0;
        sb_put(&all, t, len);
    }
    if (ok) ok = strcmp(all.p ? all.p : "", want) == 0;
    sb_free(&all);
    tok_stream_free(&s);
    return ok;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "write-byte-level")) {
        if (tok_write_byte_level(argv[2], NULL, 0)) {
            fprintf(stderr, "check_tokenizer: %s\n", tr_errmsg());
            return 1;
        }
        return 0;
    }
    if (argc < 5) {
        fprintf(stderr, "usage: check_tokenizer encode|decode|chat|jinja|nfc TOKDIR IN OUT [--pcre]\n");
        return 2;
    }
    const char *mode = argv[1], *dir = argv[2];
    int pcre = argc > 5 && !strcmp(argv[5], "--pcre");
    Tokenizer tok = {0};
    int need_tok = !strcmp(mode, "encode") || !strcmp(mode, "decode") || !strcmp(mode, "chat") ||
                   !strcmp(mode, "split");
    if (need_tok && tok_load_ex(&tok, dir, pcre)) {
        fprintf(stderr, "check_tokenizer: %s\n", tr_errmsg());
        return 1;
    }
    FILE *in = fopen(argv[3], "rb"), *out = fopen(argv[4], "wb");
    if (!in || !out) {
        fprintf(stderr, "check_tokenizer: cannot open %s or %s\n", argv[3], argv[4]);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    TokIds ids = {0};
    int rc = 0;
    while ((len = getline(&line, &cap, in)) > 0) {
        lineno++;
        cJSON *req = cJSON_ParseWithLength(line, (size_t)len);
        if (!req) {
            fprintf(stderr, "check_tokenizer: %s:%ld: bad JSON\n", argv[3], lineno);
            rc = 1;
            break;
        }
        cJSON *res = cJSON_CreateObject();
        if (!strcmp(mode, "encode")) {
            const cJSON *t = cJSON_GetObjectItem(req, "text"), *h = cJSON_GetObjectItem(req, "hex");
            char *buf = NULL;
            size_t n = 0;
            if (cJSON_IsString(h)) {
                size_t hl = strlen(h->valuestring);
                buf = malloc(hl / 2 + 1);
                for (size_t i = 0; i + 1 < hl; i += 2)
                    buf[n++] = (char)(hexval(h->valuestring[i]) * 16 + hexval(h->valuestring[i + 1]));
            } else {
                n = strlen(t->valuestring);
                buf = malloc(n + 1);
                memcpy(buf, t->valuestring, n);
            }
            ids.n = 0;
            if (tok_encode(&tok, buf, n, TOK_ADD_SPECIAL, &ids)) {
                cJSON_AddStringToObject(res, "error", tr_errmsg());
            } else {
                cJSON_AddItemToObject(res, "ids", ids_json(ids.ids, ids.n));
                ids.n = 0;
                tok_encode(&tok, buf, n, 0, &ids);
                cJSON_AddItemToObject(res, "ids_plain", ids_json(ids.ids, ids.n));
            }
            free(buf);
        } else if (!strcmp(mode, "decode")) {
            const cJSON *a = cJSON_GetObjectItem(req, "ids");
            ids.n = 0;
            for (const cJSON *x = a ? a->child : NULL; x; x = x->next) {
                int32_t v = (int32_t)x->valuedouble;
                if (ids.n == ids.cap) {
                    ids.cap = ids.cap ? ids.cap * 2 : 256;
                    ids.ids = realloc(ids.ids, ids.cap * sizeof *ids.ids);
                }
                ids.ids[ids.n++] = v;
            }
            char *s = NULL;
            if (tok_decode(&tok, ids.ids, ids.n, 0, &s, NULL)) {
                cJSON_AddStringToObject(res, "error", tr_errmsg());
            } else {
                cJSON_AddStringToObject(res, "text", s);
                free(s);
                tok_decode(&tok, ids.ids, ids.n, TOK_SKIP_SPECIAL, &s, NULL);
                cJSON_AddStringToObject(res, "text_skip", s);
                free(s);
                tok_decode(&tok, ids.ids, ids.n, TOK_NO_CLEANUP, &s, NULL);
                cJSON_AddStringToObject(res, "text_raw", s);
                int ok = stream_check(&tok, ids.ids, ids.n, 0, s);
                free(s);
                tok_decode(&tok, ids.ids, ids.n, TOK_NO_CLEANUP | TOK_SKIP_SPECIAL, &s, NULL);
                ok = ok && stream_check(&tok, ids.ids, ids.n, TOK_SKIP_SPECIAL, s);
                free(s);
                cJSON_AddBoolToObject(res, "stream_ok", ok);
            }
        } else if (!strcmp(mode, "split")) {
            const char *t = cJSON_GetObjectItem(req, "text")->valuestring;
            Regex *rx = NULL;
            for (int k = 0; k < tok.impl->npre && !rx; k++)
                if (tok.impl->pre[k].rx.kind) rx = &tok.impl->pre[k].rx;
            SpanVec sp = {0};
            cJSON *a = cJSON_CreateArray();
            if (rx && !rx_find_all(rx, (const uint8_t *)t, strlen(t), &sp))
                for (size_t k = 0; k < sp.n; k++) {
                    char *piece = strndup(t + sp.v[k].off, sp.v[k].len);
                    cJSON_AddItemToArray(a, cJSON_CreateString(piece));
                    free(piece);
                }
            free(sp.v);
            cJSON_AddItemToObject(res, "matches", a);
        } else if (!strcmp(mode, "chat")) {
            char *m = cJSON_PrintUnformatted(cJSON_GetObjectItem(req, "messages"));
            const cJSON *ex = cJSON_GetObjectItem(req, "extra");
            char *e = ex ? cJSON_PrintUnformatted(ex) : NULL;
            char *s = NULL;
            if (tok_chat_render_json(&tok, m, e, cJSON_IsTrue(cJSON_GetObjectItem(req, "add_generation_prompt")), &s))
                cJSON_AddStringToObject(res, "error", tr_errmsg());
            else
                cJSON_AddStringToObject(res, "text", s);
            free(s);
            free(m);
            free(e);
        } else if (!strcmp(mode, "jinja")) {
            const cJSON *t = cJSON_GetObjectItem(req, "template"), *v = cJSON_GetObjectItem(req, "vars");
            char *vs = v ? cJSON_PrintUnformatted(v) : NULL, *s = NULL;
            if (tok_jinja_render(t->valuestring, vs, &s)) cJSON_AddStringToObject(res, "error", tr_errmsg());
            else cJSON_AddStringToObject(res, "text", s);
            free(s);
            free(vs);
        } else if (!strcmp(mode, "nfc")) {
            const char *t = cJSON_GetObjectItem(req, "text")->valuestring;
            size_t n = strlen(t), rn;
            int err;
            uint8_t *r = uni_nfc((const uint8_t *)t, n, &rn, &err);
            cJSON_AddStringToObject(res, "nfc", r ? (char *)r : t);
            free(r);
            r = uni_nfd((const uint8_t *)t, n, &rn, &err);
            cJSON_AddStringToObject(res, "nfd", r ? (char *)r : t);
            free(r);
        } else {
            fprintf(stderr, "check_tokenizer: unknown mode %s\n", mode);
            rc = 2;
        }
        char *o = cJSON_PrintUnformatted(res);
        fprintf(out, "%s\n", o);
        free(o);
        cJSON_Delete(res);
        cJSON_Delete(req);
        if (rc) break;
    }
    free(line);
    tok_ids_free(&ids);
    fclose(in);
    if (fclose(out)) rc = 1;
    tok_free(&tok);
    return rc;
}
