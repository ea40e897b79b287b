/* Model commands: `init` (random weights from a preset), `info` (shape,
 * parameter count, memory) and `score` (per-token log-probs of given ids). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "thinkrl/core.h"
#include "thinkrl/model.h"
#include "thinkrl/tokenizer.h"

static const char *INIT_HELP =
    "usage: thinkrl init --preset P --out DIR [flags]\n"
    "  --preset P      nano | micro | mini | qwen05 (required)\n"
    "  --out DIR       output directory: config.json + model.safetensors (required)\n"
    "  --seed S        RNG seed (default 1)\n"
    "  --std X         standard deviation of weight matrices (default 0.02)\n"
    "  --dtype D       f32 | bf16 storage (default f32)\n"
    "  --no-tokenizer  do not write the byte-level tokenizer (default: nano, micro and mini\n"
    "                  get tokenizer.json + tokenizer_config.json, eos <|endoftext|> = 256)\n";

int cmd_init(int argc, char **argv) {
    const char *preset = NULL, *out = NULL, *dtype = "f32";
    long long seed = 1;
    double std = 0.02;
    int want_tok = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(INIT_HELP, stdout);
            return 0;
        }
        if (!strcmp(a, "--no-tokenizer")) {
            want_tok = 0;
            continue;
        }
        if (!v) return cli_fail("init", "flag %s needs a value\n%s", a, INIT_HELP);
        if (!strcmp(a, "--preset")) preset = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--dtype")) dtype = v;
        else if (!strcmp(a, "--seed")) {
            if (cli_seed(v, &seed)) return cli_fail("init", "--seed: expected an integer in [-2^63, 2^64), got '%s'", v);
        } else if (!strcmp(a, "--std")) {
            if (cli_float(v, &std) || !(std >= 0)) return cli_fail("init", "--std: expected a number >= 0, got '%s'", v);
        } else
            return cli_fail("init", "unknown flag '%s'\n%s", a, INIT_HELP);
        i++;
    }
    if (!preset || !out) return cli_fail("init", "--preset and --out are required\n%s", INIT_HELP);
    StDtype dt;
    if (!strcmp(dtype, "f32")) dt = ST_F32;
    else if (!strcmp(dtype, "bf16")) dt = ST_BF16;
    else return cli_fail("init", "--dtype: expected f32 or bf16, got '%s'", dtype);
    ModelConfig c;
    if (config_preset(&c, preset)) return cli_fail("init", "%s", tr_errmsg());
    /* the built-in byte-level tokenizer fits the small presets' vocabularies */
    int byte_tok = want_tok && strcmp(preset, "qwen05") != 0;
    if (byte_tok) {
        c.eos_ids[0] = 256;
        c.n_eos = 1;
        if (tok_write_byte_level(out, NULL, 0)) return cli_fail("init", "%s", tr_errmsg());
    }
    Model m;
    if (model_create(&m, &c)) return cli_fail("init", "%s", tr_errmsg());
    model_init_random(&m, (uint64_t)seed, (float)std);
    int rc = model_save(&m, out, dt);
    if (rc) {
        model_free(&m);
        return cli_fail("init", "%s", tr_errmsg());
    }
    printf("wrote %s (%s, %zu parameters, %s%s)\n", out, preset, m.n_params, dtype,
           byte_tok ? ", byte-level tokenizer" : "");
    model_free(&m);
    return 0;
}

static const char *INFO_HELP =
    "usage: thinkrl info --model DIR [--json]\n"
    "  --model DIR     model directory with config.json and safetensors (required)\n"
    "  --json          print one JSON object instead of text (default off)\n";

int cmd_info(int argc, char **argv) {
    const char *dir = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(INFO_HELP, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) dir = argv[++i];
        else return cli_fail("info", "unknown or incomplete flag '%s'\n%s", argv[i], INFO_HELP);
    }
    if (!dir) return cli_fail("info", "--model is required\n%s", INFO_HELP);
    Model m;
    if (model_load(&m, dir)) return cli_fail("info", "%s", tr_errmsg());
    const ModelConfig *c = &m.cfg;
    double wmb = m.n_params * 4.0 / (1 << 20);
    /* training: weights, grads, AdamW m and v, all fp32 */
    double tmb = wmb * 4;
    if (json) {
        printf("{\"arch\":\"%s\",\"hidden_size\":%d,\"intermediate_size\":%d,\"layers\":%d,"
               "\"heads\":%d,\"kv_heads\":%d,\"head_dim\":%d,\"vocab_size\":%d,\"tied\":%s,"
               "\"params\":%zu,\"weights_mb\":%.2f,\"train_state_mb\":%.2f}\n",
               c->arch == ARCH_QWEN2 ? "qwen2" : "llama", c->C, c->F, c->L, c->NH, c->KVH, c->HS, c->V,
               c->tie ? "true" : "false", m.n_params, wmb, tmb);
    } else {
        printf("architecture   %s\n", c->arch == ARCH_QWEN2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
        printf("layers         %d\nhidden         %d\nffn            %d\n", c->L, c->C, c->F);
        printf("heads          %d (kv %d, head_dim %d)\nvocab          %d\n", c->NH, c->KVH, c->HS, c->V);
        printf("rope           theta %g%s\n", c->rope_theta, c->rope_llama3 ? ", llama3 scaling" : "");
        printf("biases         qkv %s, o %s, mlp %s\n", c->qkv_bias ? "yes" : "no", c->o_bias ? "yes" : "no",
               c->mlp_bias ? "yes" : "no");
        printf("embeddings     %s\nmax positions  %d\n", c->tie ? "tied" : "untied", c->max_pos);
        printf("parameters     %zu (%.2fM)\n", m.n_params, m.n_params / 1e6);
        printf("memory         %.1f MiB weights fp32; %.1f MiB with grads + AdamW state\n", wmb, tmb);
    }
    model_free(&m);
    return 0;
}

static const char *SCORE_HELP =
    "usage: thinkrl score --model DIR (--ids 5,7,9,... | --text STR) [--json]\n"
    "  --model DIR      model directory (required)\n"
    "  --ids LIST       comma-separated token ids, at least 2\n"
    "  --text STR       text to score, encoded with the tokenizer\n"
    "  --tokenizer P    tokenizer.json or its directory (default: the model directory)\n"
    "  --add-special    run the tokenizer's post-processor, e.g. BOS (default off)\n"
    "  --json           print {\"ids\":[...],\"logprobs\":[...]} (default: one line per token)\n"
    "entry j of logprobs is log p(ids[j+1] | ids[0..j]).\n";

static int parse_ids(const char *s, int32_t **out, int *n) {
    int cap = 16, k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    const char *p = s;
    while (ids && *p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 0x7fffffff) {
            free(ids);
            return -1;
        }
        if (k == cap) {
            int32_t *ni = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!ni) {
                free(ids);
                return -1;
            }
            ids = ni;
        }
        ids[k++] = (int32_t)v;
        p = end;
        if (*p == ',') p++;
        else if (*p) {
            free(ids);
            return -1;
        }
    }
    *out = ids;
    *n = k;
    return ids ? 0 : -1;
}

/* Encodes text with the tokenizer at tok_path (or the model directory). */
static int encode_text(const char *tok_path, const char *text, int add_special, int32_t **ids, int *n) {
    Tokenizer tok;
    if (tok_load(&tok, tok_path)) return cli_fail("score", "%s", tr_errmsg());
    TokIds v = {0};
    int rc = tok_encode(&tok, text, strlen(text), add_special ? TOK_ADD_SPECIAL : 0, &v);
    tok_free(&tok);
    if (rc) {
        tok_ids_free(&v);
        return cli_fail("score", "%s", tr_errmsg());
    }
    *ids = malloc((v.n ? v.n : 1) * sizeof **ids);
    memcpy(*ids, v.ids, v.n * sizeof **ids);
    *n = (int)v.n;
    tok_ids_free(&v);
    return 0;
}

int cmd_score(int argc, char **argv) {
    const char *dir = NULL, *ids_s = NULL, *text = NULL, *tok_path = NULL;
    int json = 0, add_special = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(SCORE_HELP, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--add-special")) add_special = 1;
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--ids") && i + 1 < argc) ids_s = argv[++i];
        else if (!strcmp(argv[i], "--text") && i + 1 < argc) text = argv[++i];
        else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) tok_path = argv[++i];
        else return cli_fail("score", "unknown or incomplete flag '%s'\n%s", argv[i], SCORE_HELP);
    }
    if (!dir || (!ids_s == !text))
        return cli_fail("score", "--model and exactly one of --ids / --text are required\n%s", SCORE_HELP);
    int32_t *ids = NULL;
    int n = 0;
    if (text) {
        if (encode_text(tok_path ? tok_path : dir, text, add_special, &ids, &n)) return 1;
        if (n < 2) {
            free(ids);
            return cli_fail("score", "--text: encodes to %d token(s); at least two are needed", n);
        }
    } else if (parse_ids(ids_s, &ids, &n) || n < 2) {
        free(ids);
        return cli_fail("score", "--ids: expected at least two comma-separated non-negative integers");
    }
    Model m;
    if (model_load(&m, dir)) {
        free(ids);
        return cli_fail("score", "%s", tr_errmsg());
    }
    int32_t *tg = malloc(n * sizeof *tg);
    float *lp = malloc(n * sizeof *lp);
    for (int j = 0; j < n; j++) tg[j] = j + 1 < n ? ids[j + 1] : -1;
    ModelBatch b = {1, n, ids, NULL, NULL, NULL};
    int rc = model_forward(&m, &b, tg, lp, NULL);
    if (rc) rc = cli_fail("score", "%s", tr_errmsg());
    else if (json) {
        printf("{\"ids\":[");
        for (int j = 0; j < n; j++) printf("%s%d", j ? "," : "", ids[j]);
        printf("],\"logprobs\":[");
        for (int j = 0; j + 1 < n; j++) printf("%s%.9g", j ? "," : "", lp[j]);
        printf("]}\n");
    } else {
        for (int j = 0; j + 1 < n; j++) printf("%d\t%.9g\n", ids[j + 1], lp[j]);
    }
    free(ids);
    free(tg);
    free(lp);
    model_free(&m);
    return rc;
}
