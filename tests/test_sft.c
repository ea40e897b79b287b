/* SFT end to end on a tiny learnable task (reverse 4 letters): the held-out
 * loss on completion tokens falls under a bound; a run stopped half way
 * and resumed ends with bit-identical weights and identical metrics; a
 * malformed data line is reported with its line number. */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "thinkrl/ckpt.h"
#include "thinkrl/sft.h"

static void write_data(const char *path, int n, uint64_t seed) {
    FILE *f = fopen(path, "w");
    TR_ASSERT(f);
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        char w[5] = {0}, v[5] = {0};
        for (int j = 0; j < 4; j++) w[j] = (char)('a' + rng_u64(&r) % 8);
        for (int j = 0; j < 4; j++) v[j] = w[3 - j];
        fprintf(f, "{\"id\":%d,\"prompt\":\"%s=\",\"completion\":\"%s\"}\n", i, w, v);
    }
    fclose(f);
}

static void base_config(SftConfig *c, const char *train, const char *evp) {
    memset(c, 0, sizeof *c);
    TR_ASSERT(conf_defaults(&SFT_SCHEMA, c) == TR_OK);
    char kv[4200];
    const char *set[] = {"model.preset=nano", "model.hidden_size=64", "model.num_layers=2", "model.num_heads=4",
                         "model.num_kv_heads=2", "model.intermediate_size=128", "model.max_position=64",
                         "train.seq_len=64", "train.batch_size=8", "train.steps=160", "optim.lr=3e-3",
                         "optim.warmup=10", "eval.every=40", "ckpt.every=40", "log.every=10", "threads=2"};
    for (size_t i = 0; i < sizeof set / sizeof *set; i++) TR_ASSERT(conf_override(&SFT_SCHEMA, c, set[i]) == TR_OK);
    snprintf(kv, sizeof kv, "data.train=%s", train);
    TR_ASSERT(conf_override(&SFT_SCHEMA, c, kv) == TR_OK);
    snprintf(kv, sizeof kv, "data.eval=%s", evp);
    TR_ASSERT(conf_override(&SFT_SCHEMA, c, kv) == TR_OK);
}

/* metrics.jsonl without the timing fields, one string per line */
static char *metrics_sans_timing(const char *run) {
    char p[4200];
    snprintf(p, sizeof p, "%s/metrics.jsonl", run);
    size_t len;
    char *s = tr_read_file(p, &len);
    if (!s) return NULL;
    char *out = calloc(len + 1, 1);
    size_t o = 0;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        cJSON_DeleteItemFromObject(j, "tok_s");
        char *t = cJSON_PrintUnformatted(j);
        size_t tl = strlen(t);
        memcpy(out + o, t, tl);
        o += tl;
        out[o++] = '\n';
        free(t);
        cJSON_Delete(j);
    }
    free(s);
    return out;
}

static double last_eval(const char *run) {
    char p[4200];
    snprintf(p, sizeof p, "%s/metrics.jsonl", run);
    FILE *f = fopen(p, "r");
    if (!f) return NAN;
    char line[1024];
    double v = NAN;
    while (fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *e = cJSON_GetObjectItem(j, "eval_loss");
        if (cJSON_IsNumber(e)) v = e->valuedouble;
        cJSON_Delete(j);
    }
    fclose(f);
    return v;
}

int main(void) {
    char tmpl[] = "/tmp/thinkrl_sft_XXXXXX";
    char *dir = mkdtemp(tmpl);
    TR_ASSERT(dir);
    char train[4200], evp[4200], run1[4200], run2[4200], p[4400];
    snprintf(train, sizeof train, "%s/train.jsonl", dir);
    snprintf(evp, sizeof evp, "%s/eval.jsonl", dir);
    snprintf(run1, sizeof run1, "%s/run1", dir);
    snprintf(run2, sizeof run2, "%s/run2", dir);
    write_data(train, 3000, 1);
    write_data(evp, 100, 2);

    /* straight run */
    SftConfig c;
    base_config(&c, train, evp);
    double t0 = tr_time();
    int rc = sft_run(&c, run1, 0, stdout);
    CHECK(rc == TR_OK, "sft run: %s", tr_errmsg());
    double el = last_eval(run1);
    /* 4 of the 5 completion targets are the reversed letters (8 choices,
     * 2.08 nats each if unlearned) and one is the end token. */
    printf("held-out loss %.4f after 160 steps (%.1fs)\n", el, tr_time() - t0);
    CHECK(el < 0.5, "held-out loss %.4f should fall under 0.5 (chance: ~1.7)", el);
    snprintf(p, sizeof p, "%s/model/model.safetensors", run1);
    CHECK(access(p, R_OK) == 0, "final model written");
    snprintf(p, sizeof p, "%s/model/tokenizer.json", run1);
    CHECK(access(p, R_OK) == 0, "tokenizer copied next to the model");

    /* stopped at 80, resumed to 160 */
    TR_ASSERT(conf_override(&SFT_SCHEMA, &c, "train.stop_after=80") == TR_OK);
    rc = sft_run(&c, run2, 0, NULL);
    CHECK(rc == TR_OK, "first half: %s", tr_errmsg());
    snprintf(p, sizeof p, "%s/model", run2);
    CHECK(access(p, F_OK) != 0, "no final model after a stopped run");
    TR_ASSERT(conf_override(&SFT_SCHEMA, &c, "train.stop_after=0") == TR_OK);
    rc = sft_run(&c, run2, 1, NULL);
    CHECK(rc == TR_OK, "resume: %s", tr_errmsg());
    Model a, b;
    snprintf(p, sizeof p, "%s/model", run1);
    int ra = model_load(&a, p);
    snprintf(p, sizeof p, "%s/model", run2);
    int rb = model_load(&b, p);
    CHECK(ra == TR_OK && rb == TR_OK, "load both");
    if (ra == TR_OK && rb == TR_OK) {
        CHECK(a.n_params == b.n_params && !memcmp(a.params, b.params, a.n_params * sizeof(float)),
              "straight and resumed runs end with bit-identical weights");
    }
    if (ra == TR_OK) model_free(&a);
    if (rb == TR_OK) model_free(&b);
    char *m1 = metrics_sans_timing(run1), *m2 = metrics_sans_timing(run2);
    CHECK(m1 && m2 && !strcmp(m1, m2), "identical metrics:\n%s---\n%s", m1 ? m1 : "", m2 ? m2 : "");
    free(m1);
    free(m2);

    /* a malformed line is an error with its line number */
    FILE *f = fopen(train, "a");
    fprintf(f, "{\"prompt\": 5}\n");
    fclose(f);
    snprintf(p, sizeof p, "%s/run3", dir);
    rc = sft_run(&c, p, 0, NULL);
    CHECK(rc != TR_OK && strstr(tr_errmsg(), ":3001:") && strstr(tr_errmsg(), "prompt"), "bad line reported: %s", tr_errmsg());
    conf_free(&SFT_SCHEMA, &c);

    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return tu_summary("test_sft");
}
