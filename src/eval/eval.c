/* Evaluation of a model on a dataset: records -> prompt ids -> K sampled
 * responses (rollout engine) -> task verdicts, pattern labels and answer
 * keys -> EvalSummary. Also the record <-> token-id conventions shared with
 * SFT and RL (prompt ids, SFT ids, response text). */
#include <stdlib.h>
#include <string.h>

#include "thinkrl/eval.h"
#include "thinkrl/verify.h"

static int encode_text(Tokenizer *tok, const char *s, int flags, TokIds *out) {
    return tok_encode(tok, s, strlen(s), flags, out);
}

/* Messages [0, n) as TokMessage (pointers into the record). */
static TokMessage *record_msgs(const Record *rec, int n) {
    TokMessage *m = malloc((size_t)(n > 0 ? n : 1) * sizeof *m);
    if (!m) return NULL;
    for (int i = 0; i < n; i++) {
        m[i].role = rec->messages[i].role;
        m[i].content = rec->messages[i].content;
    }
    return m;
}

static int ends_with_assistant(const Record *rec) {
    return rec->n_messages > 0 && strcmp(rec->messages[rec->n_messages - 1].role, "assistant") == 0;
}

int data_prompt_ids(Tokenizer *tok, const Record *rec, TokIds *out) {
    out->n = 0;
    if (rec->prompt) {
        int rc = encode_text(tok, rec->prompt, TOK_ADD_SPECIAL, out);
        return rc ? tr_err_ctx(rc, "record %s: prompt", rec->id) : TR_OK;
    }
    int n = rec->n_messages - ends_with_assistant(rec);
    if (n <= 0) return tr_err(TR_EINVAL, "record %s: no messages before the assistant's", rec->id);
    TokMessage *m = record_msgs(rec, n);
    if (!m) return tr_err(TR_ENOMEM, "out of memory");
    char *text = NULL;
    int rc = tok_chat_render(tok, m, n, 1, &text);
    free(m);
    if (rc) return tr_err_ctx(rc, "record %s: chat template", rec->id);
    rc = encode_text(tok, text, 0, out);
    free(text);
    return rc;
}

int data_sft_ids(Tokenizer *tok, const Record *rec, TokIds *out, size_t *n_prompt) {
    out->n = 0;
    int rc;
    if (rec->prompt) {
        if ((rc = encode_text(tok, rec->prompt, TOK_ADD_SPECIAL, out))) return rc;
        *n_prompt = out->n;
        if (rec->completion) {
            if ((rc = encode_text(tok, rec->completion, 0, out))) return rc;
            if (tok->eos_id < 0)
                return tr_err(TR_EINVAL, "record %s: the tokenizer has no eos token to end the completion",
                              rec->id);
            int32_t eos = tok->eos_id;
            if (out->n + 1 > out->cap) {
                size_t cap = out->cap ? out->cap * 2 : 64;
                int32_t *p = realloc(out->ids, cap * sizeof *p);
                if (!p) return tr_err(TR_ENOMEM, "out of memory");
                out->ids = p;
                out->cap = cap;
            }
            out->ids[out->n++] = eos;
        } else {
            *n_prompt = 0; /* pretraining text: everything is target */
        }
        return TR_OK;
    }
    if (!ends_with_assistant(rec)) {
        /* no assistant turn: the whole conversation is the target */
        TokMessage *m = record_msgs(rec, rec->n_messages);
        if (!m) return tr_err(TR_ENOMEM, "out of memory");
        char *text = NULL;
        rc = tok_chat_render(tok, m, rec->n_messages, 0, &text);
        free(m);
        if (rc) return tr_err_ctx(rc, "record %s: chat template", rec->id);
        rc = encode_text(tok, text, 0, out);
        free(text);
        *n_prompt = 0;
        return rc;
    }
    TokMessage *m = record_msgs(rec, rec->n_messages);
    if (!m) return tr_err(TR_ENOMEM, "out of memory");
    char *head = NULL, *full = NULL;
    rc = tok_chat_render(tok, m, rec->n_messages - 1, 1, &head);
    if (!rc) rc = tok_chat_render(tok, m, rec->n_messages, 0, &full);
    free(m);
    if (rc) {
        free(head);
        return tr_err_ctx(rc, "record %s: chat template", rec->id);
    }
    size_t hl = strlen(head);
    if (strncmp(full, head, hl) != 0) {
        rc = tr_err(TR_EINVAL,
                    "record %s: the chat template renders the conversation with a different start "
                    "than the prompt alone; cannot separate the completion",
                    rec->id);
    } else {
        rc = encode_text(tok, head, 0, out);
        *n_prompt = out->n;
        if (!rc) rc = encode_text(tok, full + hl, 0, out);
    }
    free(head);
    free(full);
    return rc;
}

int data_response_text(const Tokenizer *tok, const Rollout *r, char **out, size_t *len) {
    size_t n = (size_t)r->n, k = 0;
    if (r->finish == FINISH_EOS && n > 0) n--;
    /* Models often have more embedding rows than the tokenizer has ids
     * (Qwen2: 151936 vs 151665); a sampled padding id decodes to nothing,
     * as in Hugging Face tokenizers. */
    for (size_t i = 0; i < n; i++) k += r->tokens[i] >= 0 && r->tokens[i] < tok->vocab_size;
    if (k == n) return tok_decode(tok, r->tokens, n, TOK_NO_CLEANUP, out, len);
    int32_t *ids = malloc((k ? k : 1) * sizeof *ids);
    if (!ids) return tr_err(TR_ENOMEM, "out of memory");
    k = 0;
    for (size_t i = 0; i < n; i++)
        if (r->tokens[i] >= 0 && r->tokens[i] < tok->vocab_size) ids[k++] = r->tokens[i];
    int rc = tok_decode(tok, ids, k, TOK_NO_CLEANUP, out, len);
    free(ids);
    return rc;
}

void eval_config_init(EvalConfig *ec) {
    memset(ec, 0, sizeof *ec);
    ec->n = 4;
    ec->max_new_tokens = 128;
    ec->sampler.temperature = 1.0f;
    ec->sampler.top_p = 1.0f;
    ec->seed = 1;
}

void eval_result_free(EvalResult *r) {
    pattern_free(&r->ps);
    free(r->v);
    if (r->text) {
        for (size_t i = 0; i < r->n_text; i++) free(r->text[i]);
        free(r->text);
    }
    memset(r, 0, sizeof *r);
}

/* Answer keys of one prompt's samples -> small integers (equal text, equal id). */
static void assign_keys(char (*keys)[64], const uint8_t *has, EvalVerdict *v, int n) {
    for (int i = 0; i < n; i++) {
        v[i].key = -1;
        if (!has[i]) continue;
        for (int j = 0; j < i; j++)
            if (has[j] && strcmp(keys[i], keys[j]) == 0) {
                v[i].key = v[j].key;
                break;
            }
        if (v[i].key < 0) v[i].key = i;
    }
}

int eval_run(const Model *m, Tokenizer *tok, const Dataset *d, const EvalConfig *ec, EvalResult *out) {
    memset(out, 0, sizeof *out);
    if (ec->n < 1 || ec->n > 64) return tr_err(TR_EINVAL, "eval: samples per prompt must be 1..64, got %d", ec->n);
    if (d->n < 1 || d->n > INT32_MAX / ec->n) return tr_err(TR_EINVAL, "eval: dataset size %lld unsupported", (long long)d->n);
    const char *fb_name = ec->task ? ec->task : "arith";
    const TaskDef *fallback = task_find(fb_name);
    if (!fallback) return tr_err(TR_EINVAL, "eval: unknown task '%s'", fb_name);
    int np = (int)d->n, n = ec->n, rc = TR_OK;
    for (int p = 0; p < np; p++)
        if (!d->rec[p].answer && !record_meta_str(&d->rec[p], "target"))
            return tr_err(TR_EINVAL, "eval: record %s has no answer", d->rec[p].id);
    /* the classifier: the spec given, else the task of the first record */
    if (ec->patterns) {
        rc = pattern_init_spec(&out->ps, ec->patterns);
    } else {
        const char *tn = record_meta_str(&d->rec[0], "task");
        const TaskDef *t = tn ? task_find(tn) : fallback;
        rc = task_patterns(t ? t : fallback, &out->ps);
    }
    if (rc) return tr_err_ctx(rc, "eval: pattern rules");

    Prompt *prompts = calloc((size_t)np, sizeof *prompts);
    TokIds *pid = calloc((size_t)np, sizeof *pid);
    Rollout *ro = calloc((size_t)np * n, sizeof *ro);
    out->v = calloc((size_t)np * n, sizeof *out->v);
    char(*keys)[64] = malloc((size_t)n * sizeof *keys);
    uint8_t *has = malloc((size_t)n);
    if (!prompts || !pid || !ro || !out->v || !keys || !has) {
        rc = tr_err(TR_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (int p = 0; p < np; p++) {
        if ((rc = data_prompt_ids(tok, &d->rec[p], &pid[p]))) goto cleanup;
        prompts[p].ids = pid[p].ids;
        prompts[p].len = (int)pid[p].n;
    }
    RolloutConfig rc_gen;
    rollout_config_init(&rc_gen, &m->cfg);
    rc_gen.sampler = ec->sampler;
    rc_gen.n = n;
    rc_gen.max_new_tokens = ec->max_new_tokens;
    rc_gen.slots = ec->slots;
    rc_gen.no_pack = ec->no_pack;
    rc_gen.seed = ec->seed;
    if (tok->eos_id >= 0 && rc_gen.n_eos < ROLLOUT_MAX_EOS) {
        int seen = 0;
        for (int i = 0; i < rc_gen.n_eos; i++) seen |= rc_gen.eos[i] == tok->eos_id;
        if (!seen) rc_gen.eos[rc_gen.n_eos++] = tok->eos_id;
    }
    RolloutStats st;
    if ((rc = rollout_generate(m, prompts, np, &rc_gen, ro, &st))) goto cleanup;
    out->seconds = st.seconds;
    out->tok_per_s = st.seconds > 0 ? st.new_tokens / st.seconds : 0;
    if (ec->samples_out > 0) {
        out->text = calloc((size_t)np * n, sizeof *out->text);
        out->n_text = out->text ? (size_t)np * n : 0;
        if (!out->text) {
            rc = tr_err(TR_ENOMEM, "out of memory");
            goto cleanup;
        }
    }
    for (int p = 0; p < np; p++) {
        for (int s = 0; s < n; s++) {
            Rollout *r = &ro[(size_t)p * n + s];
            EvalVerdict *v = &out->v[(size_t)p * n + s];
            char *text = NULL;
            size_t len = 0;
            if ((rc = data_response_text(tok, r, &text, &len))) goto cleanup;
            int fmt = 0;
            int ok = task_score_response(&d->rec[p], fallback, text, len, &fmt);
            if (ok < 0) {
                free(text);
                rc = ok;
                goto cleanup;
            }
            VerifyParts parts;
            verify_parse(text, len, NULL, &parts);
            v->correct = (uint8_t)ok;
            v->format_ok = (uint8_t)fmt;
            v->truncated = r->finish == FINISH_LENGTH;
            v->len = r->n;
            v->pattern = pattern_classify(&out->ps, parts.think, parts.think_len);
            has[s] = parts.answer != NULL;
            if (has[s]) eval_answer_key(parts.answer, parts.answer_len, keys[s], sizeof keys[s]);
            if (out->text && s < ec->samples_out) out->text[(size_t)p * n + s] = text;
            else free(text);
        }
        assign_keys(keys, has, &out->v[(size_t)p * n], n);
    }
    eval_summarize(out->v, np, n, out->ps.n, &out->sum);
cleanup:
    for (int p = 0; p < np && pid; p++) tok_ids_free(&pid[p]);
    if (ro) rollout_free(ro, np * n);
    free(ro);
    free(pid);
    free(prompts);
    free(keys);
    free(has);
    if (rc) eval_result_free(out);
    return rc;
}
