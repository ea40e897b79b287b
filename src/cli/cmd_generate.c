/* `thinkrl generate`: sample continuations of prompts with the rollout
 * engine. Prompts come as text (with the model's tokenizer, optionally
 * through its chat template), as a JSONL file, or as raw ids (no tokenizer
 * needed). All prompts are read, tokenised and checked before generation
 * starts. Output: text (streamed on a terminal for a single sequence) or
 * one JSON object per sample. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "thinkrl/core.h"
#include "thinkrl/generate.h"
#include "thinkrl/memplan.h"
#include "thinkrl/model.h"
#include "thinkrl/tokenizer.h"

#define GEN_MAX_N 65536
#define GEN_MAX_SEQS (1 << 22)
#define GEN_MAX_STOPS 32

static void generate_usage(FILE *f) {
    fprintf(f,
            "usage: thinkrl generate --model DIR (--prompt TEXT | --prompts FILE | --prompt-ids LIST) [flags]\n"
            "  --model DIR          model directory: config.json + safetensors (required); its\n"
            "                       tokenizer.json, when present, is used for text\n"
            "  --prompt TEXT        one text prompt (needs a tokenizer)\n"
            "  --prompts FILE       JSONL, one prompt per line: {\"prompt\": \"text\"},\n"
            "                       {\"prompt_ids\": [1, 2, 3]} or {\"messages\": [{\"role\": ...,\n"
            "                       \"content\": ...}]} (rendered with the chat template); blank\n"
            "                       lines are skipped\n"
            "  --prompt-ids LIST    one prompt as token ids, e.g. 1,2,3 (no tokenizer needed)\n"
            "  --n N                samples per prompt (default 1)\n"
            "  --max-new-tokens M   most tokens generated per sample (default 256); a sample\n"
            "                       also stops where the context (max_position_embeddings) ends\n"
            "  --temperature T      sampling temperature, 0 = greedy (default 1)\n"
            "  --top-p P            nucleus: keep the most likely tokens holding P (default 1 = off)\n"
            "  --top-k K            keep the K most likely tokens (default 0 = off)\n"
            "  --min-p P            keep tokens with p >= P * p_max (default 0 = off)\n"
            "  --seed S             sample s of prompt p draws from an RNG seeded by (S, p, s);\n"
            "                       the same seed gives the same output whatever the threads\n"
            "                       (default 0)\n"
            "  --stop STR           stop when the text contains STR (repeatable, up to %d;\n"
            "                       needs a tokenizer; the token completing STR is kept)\n"
            "  --eos LIST           ids that end a sample (default: config.json's eos_token_id,\n"
            "                       the tokenizer's eos token, and with --chat or messages the\n"
            "                       end-of-turn token <|im_end|> / <|eot_id|> when it exists)\n"
            "  --ignore-eos         never stop at an eos id (default off)\n"
            "  --chat               render each text prompt as a user message through the\n"
            "                       tokenizer's chat template, with the generation prompt (default off)\n"
            "  --tokenizer PATH     tokenizer.json or a directory holding one (default: the\n"
            "                       model directory's, if any)\n"
            "  --slots N            sequences decoded together (default min(total, 64))\n"
            "  --threads N          threads (default: all cores / OMP_NUM_THREADS)\n"
            "  --no-pack            decode from the weights as loaded, without the packed copy\n"
            "                       (one model size less memory, decoding ~20%% slower)\n"
            "  --json               one JSON object per sample, in order: prompt, sample,\n"
            "                       prompt_ids, ids, logprobs (policy: temperature 1, full\n"
            "                       vocabulary), sample_logprobs (the distribution sampled),\n"
            "                       text (with a tokenizer) and finish_reason (eos|stop|length)\n"
            "  --help               this text\n"
            "Without --json, each sample's text (or ids without a tokenizer) is printed; on a\n"
            "terminal a single sample streams as it is generated. Speed goes to stderr.\n",
            GEN_MAX_STOPS);
}

/* ---- prompts ---- */

typedef struct {
    char *text;          /* text prompt (owned) or NULL */
    char *messages;      /* JSON array of messages (owned) or NULL */
    TokIds ids;          /* ids (given, or from the tokenizer) */
    int have_ids;
    char where[256];     /* "--prompt", "FILE:LINE" ... for messages */
} GenPrompt;

static void prompts_free(GenPrompt *p, int n) {
    for (int i = 0; i < n; i++) {
        free(p[i].text);
        free(p[i].messages);
        tok_ids_free(&p[i].ids);
    }
    free(p);
}

static int push_id(TokIds *v, long long x) {
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 64;
        int32_t *ni = realloc(v->ids, nc * sizeof *ni);
        if (!ni) return -1;
        v->ids = ni;
        v->cap = nc;
    }
    v->ids[v->n++] = (int32_t)x;
    return 0;
}

/* "1,2,3" (commas and/or spaces); ids must be non-negative integers. */
static const char *parse_id_list(const char *s, TokIds *v) {
    v->n = 0;
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (end == s || errno || (*end && *end != ',' && *end != ' ' && *end != '\t'))
            return "expected comma-separated integer ids";
        if (x < 0 || x > 0x7fffffff) return "ids must be in [0, 2147483647]";
        if (push_id(v, x)) return "out of memory";
        s = end;
    }
    return v->n ? NULL : "no ids";
}

/* One JSONL line into p; returns NULL or an error message. */
static const char *parse_line(const char *line, size_t len, GenPrompt *p) {
    cJSON *j = tr_json_parse_line(line, len);
    const char *err = NULL;
    if (!j) return tr_errmsg();
    if (cJSON_IsString(j)) {
        p->text = strdup(j->valuestring);
    } else if (!cJSON_IsObject(j)) {
        err = "expected a JSON object with \"prompt\", \"prompt_ids\" or \"messages\"";
    } else {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "prompt");
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "prompt_ids");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "messages");
        int have = (t != NULL) + (ids != NULL) + (msg != NULL);
        if (have != 1) err = "expected exactly one of \"prompt\", \"prompt_ids\" and \"messages\"";
        else if (t && !cJSON_IsString(t)) err = "\"prompt\" must be a string";
        else if (t) p->text = strdup(t->valuestring);
        else if (ids) {
            if (!cJSON_IsArray(ids)) err = "\"prompt_ids\" must be an array of ids";
            for (const cJSON *x = ids->child; !err && x; x = x->next) {
                if (!cJSON_IsNumber(x) || x->valuedouble != (double)(long long)x->valuedouble ||
                    x->valuedouble < 0 || x->valuedouble > 2147483647.0)
                    err = "\"prompt_ids\" entries must be integers in [0, 2147483647]";
                else if (push_id(&p->ids, (long long)x->valuedouble)) err = "out of memory";
            }
            p->have_ids = 1;
        } else {
            if (!cJSON_IsArray(msg) || !msg->child) err = "\"messages\" must be a non-empty array";
            else p->messages = cJSON_PrintUnformatted(msg);
        }
    }
    cJSON_Delete(j);
    return err;
}

static int read_prompts_file(const char *path, GenPrompt **out, int *n) {
    size_t flen = 0;
    char *buf = tr_read_file(path, &flen);
    if (!buf) return cli_fail("generate", "--prompts: %s", tr_errmsg());
    int cap = 16, k = 0, rc = 0;
    GenPrompt *ps = calloc((size_t)cap, sizeof *ps);
    long lineno = 0;
    for (size_t at = 0; at < flen && !rc && ps;) {
        size_t e = at;
        while (e < flen && buf[e] != '\n') e++;
        size_t len = e - at;
        const char *line = buf + at;
        at = e + 1;
        lineno++;
        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
        size_t lead = 0;
        while (lead < len && (line[lead] == ' ' || line[lead] == '\t')) lead++;
        if (lead == len) continue;
        if (k == cap) {
            GenPrompt *np = realloc(ps, (size_t)cap * 2 * sizeof *np);
            if (!np) break;
            memset(np + cap, 0, (size_t)cap * sizeof *np);
            ps = np;
            cap *= 2;
        }
        GenPrompt *p = &ps[k++];
        snprintf(p->where, sizeof p->where, "%s:%ld", path, lineno);
        const char *err = parse_line(line + lead, len - lead, p);
        if (!err && p->have_ids && p->ids.n == 0) err = "\"prompt_ids\" is empty";
        if (!err && p->text && !p->text[0]) err = "\"prompt\" is empty";
        if (err) rc = cli_fail("generate", "%s: %s", p->where, err);
    }
    free(buf);
    if (!ps) return cli_fail("generate", "out of memory");
    if (!rc && k == 0) rc = cli_fail("generate", "--prompts %s: no prompts in the file", path);
    if (rc) {
        prompts_free(ps, k);
        return rc;
    }
    *out = ps;
    *n = k;
    return 0;
}

/* ---- output ---- */


typedef struct {
    const GenPrompt *prompts;
    Rollout *out;
    int nseq;
    const Tokenizer *tok; /* NULL without */
    int json, stream;     /* stream: seq 0 is printed token by token */
    int next_print;       /* sequences before it are printed */
    TokStream *streams;   /* (nseq) when stop strings or streaming need text */
    const char **piece;   /* (nseq) text the last token added */
    size_t *piece_len;
    char (*unk)[32];      /* (nseq) the piece of an id the tokenizer does not know */
    StopStrings *stops;   /* NULL without stop strings */
    int io_error;
} GenCtx;

/* Text of ids; an id the tokenizer does not know (a model vocabulary padded
 * past the tokenizer's) reads as U+FFFD. NULL on failure. */
static char *decode_text(const Tokenizer *tok, const int32_t *ids, int n, size_t *len) {
    size_t cap = 64, k = 0;
    char *buf = malloc(cap);
    for (int i = 0; buf && i <= n;) {
        int j = i;
        while (j < n && tok_token_str(tok, ids[j])) j++;
        char *piece = NULL;
        size_t pl = 0;
        if (j > i && tok_decode(tok, ids + i, (size_t)(j - i), 0, &piece, &pl)) {
            free(buf);
            return NULL;
        }
        int bad = j < n;
        if (k + pl + 4 > cap) {
            while (k + pl + 4 > cap) cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(piece);
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        if (pl) memcpy(buf + k, piece, pl);
        k += pl;
        free(piece);
        if (bad) {
            memcpy(buf + k, "\xEF\xBF\xBD", 3);
            k += 3;
        }
        i = j + 1;
    }
    if (buf) buf[k] = 0;
    *len = k;
    return buf;
}

static void print_sample(GenCtx *g, int seq) {
    const Rollout *r = &g->out[seq];
    const GenPrompt *p = &g->prompts[r->prompt];
    char *text = NULL;
    size_t tlen = 0;
    if (g->tok) text = decode_text(g->tok, r->tokens, r->n, &tlen);
    FILE *f = stdout;
    if (g->json) {
        fprintf(f, "{\"prompt\":%d,\"sample\":%d,\"prompt_ids\":[", r->prompt, r->sample);
        for (size_t i = 0; i < p->ids.n; i++) fprintf(f, i ? ",%d" : "%d", p->ids.ids[i]);
        fputs("],\"ids\":[", f);
        for (int i = 0; i < r->n; i++) fprintf(f, i ? ",%d" : "%d", r->tokens[i]);
        fputs("],\"logprobs\":[", f);
        for (int i = 0; i < r->n; i++) fprintf(f, i ? ",%.9g" : "%.9g", r->logp[i]);
        fputs("],\"sample_logprobs\":[", f);
        for (int i = 0; i < r->n; i++) fprintf(f, i ? ",%.9g" : "%.9g", r->logp_sample[i]);
        fputc(']', f);
        if (text) {
            fputs(",\"text\":", f);
            cli_json_string(f, text, tlen);
        }
        fprintf(f, ",\"finish_reason\":\"%s\"}\n", finish_reason_name(r->finish));
    } else if (g->stream && seq == 0) {
        const char *rest;
        size_t rl;
        if (g->streams && !tok_stream_finish(&g->streams[0], &rest, &rl)) fwrite(rest, 1, rl, f);
        fputc('\n', f);
    } else {
        if (g->nseq > 1)
            fprintf(f, "=== prompt %d, sample %d (%s, %d tokens) ===\n", r->prompt, r->sample,
                    finish_reason_name(r->finish), r->n);
        if (text) {
            fwrite(text, 1, tlen, f);
        } else {
            for (int i = 0; i < r->n; i++) fprintf(f, i ? ",%d" : "%d", r->tokens[i]);
        }
        fputc('\n', f);
    }
    free(text);
    if (fflush(f) != 0 || ferror(f)) g->io_error = 1;
}

static void gen_on_token(void *ctx, int seq, int32_t tok) {
    GenCtx *g = ctx;
    if (!g->streams) return;
    g->piece[seq] = "";
    g->piece_len[seq] = 0;
    if (tok_stream_push(&g->streams[seq], tok, &g->piece[seq], &g->piece_len[seq])) {
        /* an id the tokenizer does not know (a padded model vocabulary):
         * as decode_text, bytes held for an unfinished character end there,
         * then U+FFFD for the id */
        const char *rest = "";
        size_t rl = 0;
        if (tok_stream_finish(&g->streams[seq], &rest, &rl) || rl > sizeof g->unk[seq] - 4) rl = 0;
        memcpy(g->unk[seq], rest, rl);
        memcpy(g->unk[seq] + rl, "\xEF\xBF\xBD", 4);
        g->piece[seq] = g->unk[seq];
        g->piece_len[seq] = rl + 3;
    }
    if (g->stream && seq == 0 && g->piece_len[seq]) {
        fwrite(g->piece[seq], 1, g->piece_len[seq], stdout);
        fflush(stdout);
    }
}

static int gen_stop(void *ctx, int seq, const int32_t *tokens, int n) {
    GenCtx *g = ctx;
    (void)tokens;
    (void)n;
    return stopstr_push(g->stops, seq, g->piece[seq], g->piece_len[seq]);
}

/* Prints finished samples in order as soon as all before them are done, and
 * releases their memory. */
static void gen_on_finish(void *ctx, int seq, const Rollout *r) {
    GenCtx *g = ctx;
    (void)seq;
    (void)r;
    while (g->next_print < g->nseq && g->out[g->next_print].finish != FINISH_NONE) {
        print_sample(g, g->next_print);
        Rollout *done = &g->out[g->next_print];
        free(done->tokens);
        free(done->logp);
        free(done->logp_sample);
        done->tokens = NULL;
        done->logp = done->logp_sample = NULL;
        done->cap = 0;
        g->next_print++;
    }
}

/* ---- the command ---- */

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

int cmd_generate(int argc, char **argv) {
    const char *dir = NULL, *prompt = NULL, *prompts_file = NULL, *prompt_ids = NULL, *tokpath = NULL;
    const char *eos_list = NULL;
    const char *stops[GEN_MAX_STOPS];
    int n_stops = 0, chat = 0, json = 0, ignore_eos = 0, max_new_set = 0, no_pack = 0;
    long long n = 1, max_new = 256, top_k = 0, seed = 0, slots = 0, threads = 0;
    double temperature = 1.0, top_p = 1.0, min_p = 0.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            generate_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--chat")) {
            chat = 1;
            continue;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (!strcmp(a, "--ignore-eos")) {
            ignore_eos = 1;
            continue;
        }
        if (!strcmp(a, "--no-pack")) {
            no_pack = 1;
            continue;
        }
        if (!v) return cli_fail("generate", "flag %s needs a value (or is unknown; see --help)", a);
        i++;
        if (!strcmp(a, "--model")) dir = v;
        else if (!strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "--prompts")) prompts_file = v;
        else if (!strcmp(a, "--prompt-ids")) prompt_ids = v;
        else if (!strcmp(a, "--tokenizer")) tokpath = v;
        else if (!strcmp(a, "--eos")) eos_list = v;
        else if (!strcmp(a, "--stop")) {
            if (n_stops == GEN_MAX_STOPS) return cli_fail("generate", "--stop: at most %d stop strings", GEN_MAX_STOPS);
            if (!v[0]) return cli_fail("generate", "--stop: the stop string is empty");
            stops[n_stops++] = v;
        } else if (!strcmp(a, "--n")) {
            if (cli_int(v, &n) || n < 1 || n > GEN_MAX_N)
                return cli_fail("generate", "--n: expected an integer in [1, %d], got '%s'", GEN_MAX_N, v);
        } else if (!strcmp(a, "--max-new-tokens")) {
            if (cli_int(v, &max_new) || max_new < 1 || max_new > (1 << 30))
                return cli_fail("generate", "--max-new-tokens: expected a positive integer, got '%s'", v);
            max_new_set = 1;
        } else if (!strcmp(a, "--top-k")) {
            if (cli_int(v, &top_k) || top_k < 0 || top_k > (1 << 30))
                return cli_fail("generate", "--top-k: expected an integer >= 0, got '%s'", v);
        } else if (!strcmp(a, "--seed")) {
            if (cli_seed(v, &seed)) return cli_fail("generate", "--seed: expected an integer in [-2^63, 2^64), got '%s'", v);
        } else if (!strcmp(a, "--slots")) {
            if (cli_int(v, &slots) || slots < 1 || slots > 65536)
                return cli_fail("generate", "--slots: expected an integer in [1, 65536], got '%s'", v);
        } else if (!strcmp(a, "--threads")) {
            if (cli_int(v, &threads) || threads < 1 || threads > 4096)
                return cli_fail("generate", "--threads: expected an integer in [1, 4096], got '%s'", v);
        } else if (!strcmp(a, "--temperature")) {
            if (cli_float(v, &temperature) || !(temperature >= 0 && temperature < 1e30))
                return cli_fail("generate", "--temperature: expected a number >= 0, got '%s'", v);
        } else if (!strcmp(a, "--top-p")) {
            if (cli_float(v, &top_p) || !((float)top_p > 0 && top_p <= 1)) /* as a float too */
                return cli_fail("generate", "--top-p: expected a number in (0, 1], got '%s'", v);
        } else if (!strcmp(a, "--min-p")) {
            if (cli_float(v, &min_p) || !(min_p >= 0 && (float)min_p < 1))
                return cli_fail("generate", "--min-p: expected a number in [0, 1), got '%s'", v);
        } else {
            generate_usage(stderr);
            return cli_fail("generate", "unknown flag '%s'", a);
        }
    }
    if (!dir) return cli_fail("generate", "--model is required (see --help)");
    if ((prompt != NULL) + (prompts_file != NULL) + (prompt_ids != NULL) != 1)
        return cli_fail("generate", "give exactly one of --prompt, --prompts and --prompt-ids (see --help)");
    if (threads > 0) tr_set_threads((int)threads);

    /* prompts: parsed before anything heavy is loaded */
    GenPrompt *ps = NULL;
    int np = 0, rc = 0;
    if (prompts_file) {
        if ((rc = read_prompts_file(prompts_file, &ps, &np))) return rc;
    } else {
        ps = calloc(1, sizeof *ps);
        if (!ps) return cli_fail("generate", "out of memory");
        np = 1;
        if (prompt) {
            snprintf(ps->where, sizeof ps->where, "--prompt");
            if (!prompt[0]) rc = cli_fail("generate", "--prompt: the prompt is empty");
            else if (!(ps->text = strdup(prompt))) rc = cli_fail("generate", "out of memory");
        } else {
            snprintf(ps->where, sizeof ps->where, "--prompt-ids");
            const char *err = parse_id_list(prompt_ids, &ps->ids);
            ps->have_ids = 1;
            if (err) rc = cli_fail("generate", "--prompt-ids: %s (got '%s')", err, prompt_ids);
        }
        if (rc) {
            prompts_free(ps, np);
            return rc;
        }
    }
    if ((long long)np * n > GEN_MAX_SEQS) {
        prompts_free(ps, np);
        return cli_fail("generate", "%d prompts x --n %lld = %lld samples: more than %d", np, n, (long long)np * n,
                        GEN_MAX_SEQS);
    }
    int need_tok = n_stops > 0 || chat;
    for (int i = 0; i < np; i++) need_tok |= ps[i].text != NULL || ps[i].messages != NULL;

    /* tokenizer: --tokenizer, else the model directory's if present */
    Tokenizer tok;
    int have_tok = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (tokpath || file_exists(path)) {
        if (tok_load(&tok, tokpath ? tokpath : dir)) {
            rc = cli_fail("generate", "%s", tr_errmsg());
            prompts_free(ps, np);
            return rc;
        }
        have_tok = 1;
    } else if (need_tok) {
        const char *why = n_stops ? "--stop" : chat ? "--chat" : "a text prompt";
        prompts_free(ps, np);
        return cli_fail("generate", "%s needs a tokenizer: %s has no tokenizer.json (pass --tokenizer PATH, or use --prompt-ids)",
                        why, dir);
    }

    Model m;
    int model_ok = 0;
    GenCtx g;
    memset(&g, 0, sizeof g);
    Rollout *out = NULL;
    Prompt *pr = NULL;
    StopStrings ss;
    int have_ss = 0;
    RolloutConfig rcfg;
    if (model_load(&m, dir)) {
        rc = cli_fail("generate", "%s", tr_errmsg());
        goto cleanup;
    }
    model_ok = 1;
    const ModelConfig *c = &m.cfg;
    if (max_new > c->max_pos) {
        if (max_new_set) {
            rc = cli_fail("generate", "--max-new-tokens %lld exceeds the model's context of %d tokens", max_new,
                          c->max_pos);
            goto cleanup;
        }
        max_new = c->max_pos; /* the default: samples end with the context */
    }
    if (have_tok && tok.vocab_size > c->V)
        fprintf(stderr, "thinkrl generate: warning: the tokenizer has %d ids, the model %d\n", tok.vocab_size, c->V);

    /* tokenise and check every prompt before generating anything */
    int any_chat = chat;
    for (int i = 0; i < np && !rc; i++) {
        GenPrompt *p = &ps[i];
        if (p->text || p->messages) {
            char *rendered = NULL;
            int flags = TOK_ADD_SPECIAL;
            if (p->messages) {
                any_chat = 1;
                if (tok_chat_render_json(&tok, p->messages, NULL, 1, &rendered)) {
                    rc = cli_fail("generate", "%s: chat template: %s", p->where, tr_errmsg());
                    break;
                }
                flags = 0; /* the template writes the special tokens itself */
            } else if (chat) {
                TokMessage msg = {"user", p->text};
                if (tok_chat_render(&tok, &msg, 1, 1, &rendered)) {
                    rc = cli_fail("generate", "%s: chat template: %s", p->where, tr_errmsg());
                    break;
                }
                flags = 0;
            }
            const char *src = rendered ? rendered : p->text;
            p->ids.n = 0;
            if (tok_encode(&tok, src, strlen(src), flags, &p->ids))
                rc = cli_fail("generate", "%s: %s", p->where, tr_errmsg());
            free(rendered);
            if (rc) break;
        }
        if (p->ids.n == 0) {
            rc = cli_fail("generate", "%s: the prompt has no tokens", p->where);
            break;
        }
        for (size_t t = 0; t < p->ids.n; t++)
            if (p->ids.ids[t] < 0 || p->ids.ids[t] >= c->V) {
                rc = cli_fail("generate", "%s: token id %d (position %zu) is outside the model's vocabulary of %d",
                              p->where, p->ids.ids[t], t, c->V);
                break;
            }
        if (!rc && (long long)p->ids.n >= c->max_pos)
            rc = cli_fail("generate", "%s: the prompt has %zu tokens; the context holds %d (max_position_embeddings), leaving no room to generate",
                          p->where, p->ids.n, c->max_pos);
    }
    if (rc) goto cleanup;

    rollout_config_init(&rcfg, c);
    rcfg.sampler.temperature = (float)temperature;
    rcfg.sampler.top_k = (int)top_k;
    rcfg.sampler.top_p = (float)top_p;
    rcfg.sampler.min_p = (float)min_p;
    rcfg.n = (int)n;
    rcfg.max_new_tokens = (int)max_new;
    rcfg.seed = (uint64_t)seed;
    rcfg.slots = (int)slots;
    rcfg.no_pack = no_pack;
    if (eos_list) {
        TokIds e = {0};
        const char *err = parse_id_list(eos_list, &e);
        if (!err && e.n > ROLLOUT_MAX_EOS) err = "too many ids";
        for (size_t i = 0; !err && i < e.n; i++)
            if (e.ids[i] >= c->V) err = "an id is outside the vocabulary";
        if (err) {
            tok_ids_free(&e);
            rc = cli_fail("generate", "--eos: %s (got '%s')", err, eos_list);
            goto cleanup;
        }
        rcfg.n_eos = (int)e.n;
        for (size_t i = 0; i < e.n; i++) rcfg.eos[i] = e.ids[i];
        tok_ids_free(&e);
    } else if (have_tok) {
        int32_t extra[3] = {tok.eos_id, -1, -1};
        if (any_chat) {
            extra[1] = tok_token_id(&tok, "<|im_end|>");
            extra[2] = tok_token_id(&tok, "<|eot_id|>");
        }
        for (int i = 0; i < 3; i++) {
            int dup = extra[i] < 0 || extra[i] >= c->V;
            for (int j = 0; j < rcfg.n_eos; j++) dup |= rcfg.eos[j] == extra[i];
            if (!dup && rcfg.n_eos < ROLLOUT_MAX_EOS) rcfg.eos[rcfg.n_eos++] = extra[i];
        }
    }
    if (ignore_eos) rcfg.n_eos = 0;

    const int nseq = np * (int)n;
    out = calloc((size_t)nseq, sizeof *out);
    pr = calloc((size_t)np, sizeof *pr);
    if (!out || !pr) {
        rc = cli_fail("generate", "out of memory");
        goto cleanup;
    }
    for (int i = 0; i < np; i++) {
        pr[i].ids = ps[i].ids.ids;
        pr[i].len = (int)ps[i].ids.n;
    }
    g.prompts = ps;
    g.out = out;
    g.nseq = nseq;
    g.tok = have_tok ? &tok : NULL;
    g.json = json;
    g.stream = !json && nseq == 1 && have_tok && isatty(STDOUT_FILENO);
    if (have_tok && (n_stops || g.stream)) {
        g.streams = calloc((size_t)nseq, sizeof *g.streams);
        g.piece = calloc((size_t)nseq, sizeof *g.piece);
        g.piece_len = calloc((size_t)nseq, sizeof *g.piece_len);
        g.unk = calloc((size_t)nseq, sizeof *g.unk);
        if (!g.streams || !g.piece || !g.piece_len || !g.unk) {
            rc = cli_fail("generate", "out of memory");
            goto cleanup;
        }
        for (int i = 0; i < nseq; i++) {
            tok_stream_init(&g.streams[i], &tok, 0);
            g.piece[i] = "";
        }
    }
    if (n_stops) {
        if (stopstr_init(&ss, nseq, stops, n_stops, NULL, NULL)) {
            rc = cli_fail("generate", "%s", tr_errmsg());
            goto cleanup;
        }
        have_ss = 1;
        g.stops = &ss;
        rcfg.stop = gen_stop;
        rcfg.stop_ctx = &g;
    }
    rcfg.on_token = gen_on_token;
    rcfg.on_finish = gen_on_finish;
    rcfg.cb_ctx = &g;

    /* the KV cache is the one large allocation: refuse before it when it
     * cannot fit in the memory available, with a --slots that does */
    int maxp = 0;
    for (int i = 0; i < np; i++) maxp = pr[i].len > maxp ? pr[i].len : maxp;
    double pack = no_pack ? 0.0 : (double)kvcache_pack_bytes(c);
    double need = (double)rollout_bytes(c, np, (int)n, (int)slots, maxp, (int)max_new) + pack, avail = memplan_available();
    if (avail > 0 && need > avail) {
        long long fit = 0, s0 = slots ? slots : ROLLOUT_DEFAULT_SLOTS;
        if (s0 > nseq) s0 = nseq;
        for (long long v = s0 / 2; v >= 1 && !fit; v /= 2)
            if ((double)rollout_bytes(c, np, (int)n, (int)v, maxp, (int)max_new) + pack <= avail) fit = v;
        char a[32], b[32], hint[64] = "a shorter --max-new-tokens";
        if (fit) snprintf(hint, sizeof hint, "--slots %lld", fit);
        else if (pack > 0 && need - pack <= avail) snprintf(hint, sizeof hint, "--no-pack");
        rc = cli_fail("generate", "the KV cache, decoding buffers%s need %s for %lld sequences decoded together of up to "
                                  "%lld tokens, more than the %s available; %s would fit",
                      pack > 0 ? " and packed weights" : "", memplan_fmt(need, a, sizeof a), s0, (long long)maxp + max_new, memplan_fmt(avail, b, sizeof b), hint);
        goto cleanup;
    }

    RolloutStats st;
    if (rollout_generate(&m, pr, np, &rcfg, out, &st)) {
        rc = cli_fail("generate", "%s", tr_errmsg());
        goto cleanup;
    }
    if (g.io_error || fflush(stdout) != 0 || ferror(stdout)) {
        rc = cli_fail("generate", "write error: %s", strerror(errno));
        goto cleanup;
    }
    if (!json || isatty(STDERR_FILENO))
        fprintf(stderr, "thinkrl generate: %lld tokens for %d samples in %.2fs (%.0f tokens/s, %lld passes, up to %d sequences at once)\n",
                (long long)st.new_tokens, nseq, st.seconds, st.seconds > 0 ? st.new_tokens / st.seconds : 0.0,
                (long long)st.passes, st.max_active);

cleanup:
    if (g.streams) {
        for (int i = 0; i < g.nseq; i++) tok_stream_free(&g.streams[i]);
    }
    free(g.streams);
    free(g.piece);
    free(g.piece_len);
    free(g.unk);
    if (have_ss) stopstr_free(&ss);
    if (out) {
        rollout_free(out, g.nseq);
        free(out);
    }
    free(pr);
    if (model_ok) model_free(&m);
    if (have_tok) tok_free(&tok);
    prompts_free(ps, np);
    return rc;
}
