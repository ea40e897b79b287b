/* Model tests that need no PyTorch: whole-model gradients against central
 * finite differences, the chunked-logits path against the kept one, save /
 * load round trips (F32 exact, BF16 within rounding), AdamW against a
 * closed form, LR schedules, and every bad-input case of config.json and
 * the checkpoint, each of which must fail with a message naming the field
 * or tensor. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "thinkrl/model.h"
#include "thinkrl/optim.h"

static char tmpdir[256];
#ifndef FD_STEP
#define FD_STEP 3e-3f /* 1e-2 showed truncation error on the llama norms */
#endif

static ModelConfig tiny_config(ModelArch arch) {
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    c.C = 16;
    c.F = 24;
    c.L = 2;
    c.NH = 4;
    c.KVH = 2;
    c.HS = 4;
    c.V = 13;
    c.max_pos = 64;
    c.eps = 1e-6f;
    c.rope_theta = 10000.0f;
    c.qkv_bias = arch == ARCH_QWEN2;
    c.o_bias = arch == ARCH_LLAMA;
    c.mlp_bias = arch == ARCH_LLAMA;
    c.tie = arch == ARCH_LLAMA;
    c.bos_id = -1;
    return c;
}

/* Batch: 2 rows of 9; row 1 left-padded by 3 tokens and packed after. */
static int32_t IDS[18] = {1, 5, 7, 2, 9, 11, 3, 4, 8, 0, 0, 0, 6, 12, 10, 1, 2, 3};
static int32_t SEG[18] = {0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, 0, 0, 0, 1, 1, 1};
static int32_t POS[18] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 1, 2, 0, 1, 2};
static int32_t TG[18] = {5, 7, 2, 9, 11, 3, 4, 8, -1, -1, -1, -1, 12, 10, -1, 2, 3, -1};
static float WL[18], WE[18];

static double loss_of(Model *m) {
    ModelBatch b = {2, 9, IDS, POS, SEG, NULL};
    float lp[18], ent[18];
    TR_ASSERT(model_forward(m, &b, TG, lp, ent) == 0);
    double s = 0;
    for (int i = 0; i < 18; i++) s += (double)WL[i] * lp[i] + (double)WE[i] * ent[i];
    return s;
}

/* Worst |finite difference - analytic gradient| ratio over 3 random entries
 * of every tensor (those whose name contains `skip` left out), for the
 * scalar loss(m, arg) whose gradient model_* left in m->grads. */
static double fd_worst(Model *m, double (*loss)(Model *, int), int arg, const char *skip, Rng *r,
                       const char **wname) {
    double worst = 0;
    *wname = "";
    for (int i = 0; i < m->n_table; i++) {
        if (skip && strstr(m->table[i].name, skip)) continue;
        for (int s = 0; s < 3; s++) {
            size_t k = m->table[i].off + rng_u64(r) % m->table[i].numel;
            float old = m->params[k];
            m->params[k] = old + FD_STEP;
            double lpv = loss(m, arg);
            m->params[k] = old - FD_STEP;
            double lmv = loss(m, arg);
            m->params[k] = old;
            double fd = (lpv - lmv) / (2.0 * FD_STEP), an = m->grads[k];
            double e = fabs(fd - an) / (3e-3 + 3e-2 * fabs(fd));
            if (e > worst) {
                worst = e;
                *wname = m->table[i].name;
            }
        }
    }
    return worst;
}

static double loss_of_arg(Model *m, int unused) {
    (void)unused;
    return loss_of(m);
}

static void test_fd_model(ModelArch arch) {
    ModelConfig c = tiny_config(arch);
    Model m;
    CHECK(model_create(&m, &c) == 0, "create: %s", tr_errmsg());
    CHECK(model_alloc_grads(&m) == 0, "grads");
    model_init_random(&m, 3, 0.3f);
    Rng r;
    rng_seed(&r, 11);
    for (int i = 0; i < 18; i++) {
        WL[i] = rng_normal(&r);
        WE[i] = SEG[i] < 0 ? 0 : rng_normal(&r);
    }
    /* norms away from 1 so their gradients are not degenerate */
    for (int i = 0; i < m.n_table; i++)
        if (strstr(m.table[i].name, "norm") || strstr(m.table[i].name, "bias"))
            for (size_t k = 0; k < m.table[i].numel; k++) m.params[m.table[i].off + k] += 0.2f * rng_normal(&r);
    ModelBatch b = {2, 9, IDS, POS, SEG, NULL};
    float lp[18], ent[18];
    model_zero_grads(&m);
    CHECK(model_forward(&m, &b, TG, lp, ent) == 0, "forward");
    CHECK(model_backward(&m, &b, TG, WL, WE) == 0, "backward");
    const char *wname;
    double worst = fd_worst(&m, loss_of_arg, 0, NULL, &r, &wname);
    printf("  %s model gradients vs finite differences: worst error ratio %.3f (%s)\n",
           arch == ARCH_QWEN2 ? "qwen2" : "llama", worst, wname);
    CHECK(worst <= 1.0, "model gradient disagrees with finite differences at %s", wname);

    /* the recompute path (logits not kept) gives the same gradients */
    float *g1 = malloc(m.n_params * 4);
    memcpy(g1, m.grads, m.n_params * 4);
    m.logits_keep = 0;
    model_zero_grads(&m);
    CHECK(model_forward(&m, &b, TG, lp, ent) == 0, "forward");
    CHECK(model_backward(&m, &b, TG, WL, WE) == 0, "backward");
    double ma = 0;
    double e = tu_maxerr(m.grads, g1, m.n_params, 1e-6, 1e-5, &ma);
    printf("  chunked logits path vs kept logits: max |diff| %.3g\n", ma);
    CHECK(e <= 1, "chunked-logits gradients differ (%.3g)", ma);
    free(g1);
    model_free(&m);
}

/* The value-head paths: L = sum U . hidden (+ WL . logp for the shared trunk),
 * through model_forward_hidden / model_forward and model_backward_hidden. */
static float *U;
static double hidden_loss(Model *m, int with_head) {
    ModelBatch b = {2, 9, IDS, POS, SEG, NULL};
    float lp[18];
    TR_ASSERT((with_head ? model_forward(m, &b, TG, lp, NULL) : model_forward_hidden(m, &b)) == 0);
    const float *h = model_hidden(m);
    double s = 0;
    for (int i = 0; i < 18 * m->cfg.C; i++) s += (double)U[i] * h[i];
    if (with_head)
        for (int i = 0; i < 18; i++) s += (double)WL[i] * lp[i];
    return s;
}

static void test_fd_hidden(void) {
    ModelConfig c = tiny_config(ARCH_QWEN2);
    Model m;
    CHECK(model_create(&m, &c) == 0, "create: %s", tr_errmsg());
    CHECK(model_alloc_grads(&m) == 0, "grads");
    model_init_random(&m, 5, 0.3f);
    Rng r;
    rng_seed(&r, 12);
    U = malloc(18 * (size_t)c.C * sizeof(float));
    for (int i = 0; i < 18 * c.C; i++) U[i] = SEG[i / c.C] < 0 ? 0 : rng_normal(&r);
    for (int i = 0; i < 18; i++) WL[i] = rng_normal(&r);
    ModelBatch b = {2, 9, IDS, POS, SEG, NULL};
    float lp[18];
    for (int with_head = 0; with_head < 2; with_head++) {
        model_zero_grads(&m);
        if (with_head) {
            CHECK(model_forward(&m, &b, TG, lp, NULL) == 0, "forward");
            CHECK(model_backward_hidden(&m, &b, TG, WL, NULL, U) == 0, "backward: %s", tr_errmsg());
        } else {
            CHECK(model_forward_hidden(&m, &b) == 0, "forward_hidden");
            CHECK(model_backward_hidden(&m, &b, TG, WL, NULL, U) != 0, "log-prob gradients without a head accepted");
            CHECK(model_backward_hidden(&m, &b, NULL, NULL, NULL, U) == 0, "backward: %s", tr_errmsg());
        }
        const char *wname;
        double worst = fd_worst(&m, hidden_loss, with_head, with_head ? NULL : "lm_head", &r, &wname);
        printf("  hidden-state gradients (%s) vs finite differences: worst error ratio %.3f (%s)\n",
               with_head ? "with the LM head" : "trunk only", worst, wname);
        CHECK(worst <= 1.0, "hidden-state gradient disagrees with finite differences at %s", wname);
    }
    free(U);
    model_free(&m);
}

static void write_text(const char *path, const char *txt) {
    FILE *f = fopen(path, "w");
    fputs(txt, f);
    fclose(f);
}

static void expect_config_error(const char *json, const char *needle) {
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", tmpdir);
    write_text(path, json);
    ModelConfig c;
    int rc = config_load(&c, path);
    CHECK(rc != 0, "config accepted but should fail (%s)", needle);
    CHECK(strstr(tr_errmsg(), needle) && strstr(tr_errmsg(), "config.json"),
          "message '%s' should name config.json and '%s'", tr_errmsg(), needle);
}

static void test_config_errors(void) {
    const char *ok_tail = "\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"vocab_size\":10}";
    char buf[1024];
    expect_config_error("{\"architectures\":[\"Qwen2ForCausalLM\"],\"intermediate_size\":8,\"num_hidden_layers\":1,"
                        "\"num_attention_heads\":2,\"vocab_size\":10}", "hidden_size");
    snprintf(buf, sizeof buf, "{\"architectures\":[\"GPT2LMHeadModel\"],\"hidden_size\":8,%s", ok_tail);
    expect_config_error(buf, "architectures");
    snprintf(buf, sizeof buf, "{\"model_type\":\"qwen2\",\"hidden_size\":\"8\",%s", ok_tail);
    expect_config_error(buf, "hidden_size");
    snprintf(buf, sizeof buf, "{\"model_type\":\"qwen2\",\"hidden_size\":8,\"num_key_value_heads\":3,%s", ok_tail);
    expect_config_error(buf, "num_key_value_heads");
    snprintf(buf, sizeof buf, "{\"model_type\":\"llama\",\"hidden_size\":8,\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":2},%s", ok_tail);
    expect_config_error(buf, "rope_scaling");
    snprintf(buf, sizeof buf, "{\"model_type\":\"llama\",\"hidden_size\":8,\"hidden_act\":\"gelu\",%s", ok_tail);
    expect_config_error(buf, "hidden_act");
    snprintf(buf, sizeof buf, "{\"model_type\":\"qwen2\",\"hidden_size\":8,\"use_sliding_window\":true,%s", ok_tail);
    expect_config_error(buf, "use_sliding_window");
    snprintf(buf, sizeof buf, "{\"model_type\":\"qwen2\",\"hidden_size\":8,\"eos_token_id\":99,%s", ok_tail);
    expect_config_error(buf, "eos_token_id");
    snprintf(buf, sizeof buf, "{\"model_type\":\"qwen2\",\"hidden_size\":8,\"eos_token_id\":2.5,%s", ok_tail);
    expect_config_error(buf, "eos_token_id");
    snprintf(buf, sizeof buf, "{\"model_type\":\"qwen2\",\"hidden_size\":8,\"eos_token_id\":[1,1.5],%s", ok_tail);
    expect_config_error(buf, "eos_token_id");
    snprintf(buf, sizeof buf, "{\"model_type\":\"qwen2\",\"hidden_size\":8,\"bos_token_id\":0.5,%s", ok_tail);
    expect_config_error(buf, "bos_token_id");
    snprintf(buf, sizeof buf, "{\"model_type\":\"qwen2\",\"hidden_size\":-8,%s", ok_tail);
    expect_config_error(buf, "hidden_size");
    snprintf(buf, sizeof buf, "{\"model_type\":\"qwen2\",\"hidden_size\":8,\"head_dim\":3,%s", ok_tail);
    expect_config_error(buf, "head_dim");
    expect_config_error("{\"model_type\":\"qwen2\",\n\"hidden_size\":8,,}", "line 2");
    /* rope_scaling numbers are range-checked before their float / int conversion */
    const char *l3 = "{\"model_type\":\"llama\",\"hidden_size\":8,\"rope_scaling\":{\"rope_type\":\"llama3\",";
    snprintf(buf, sizeof buf, "%s\"factor\":8,\"low_freq_factor\":1,\"high_freq_factor\":4,"
             "\"original_max_position_embeddings\":1e300},%s", l3, ok_tail);
    expect_config_error(buf, "original_max_position_embeddings");
    snprintf(buf, sizeof buf, "%s\"factor\":8,\"low_freq_factor\":1e-300,\"high_freq_factor\":4,"
             "\"original_max_position_embeddings\":8192},%s", l3, ok_tail);
    expect_config_error(buf, "low_freq_factor");
    /* a valid one parses with HF defaults */
    snprintf(buf, sizeof buf, "{\"model_type\":\"llama\",\"hidden_size\":8,\"eos_token_id\":[1,2],%s", ok_tail);
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", tmpdir);
    write_text(path, buf);
    ModelConfig c;
    CHECK(config_load(&c, path) == 0, "valid config rejected: %s", tr_errmsg());
    CHECK(c.KVH == 2 && c.HS == 4 && c.n_eos == 2 && c.max_pos == 2048 && !c.tie && !c.qkv_bias,
          "defaults wrong");
}

static void test_save_load(void) {
    ModelConfig c = tiny_config(ARCH_QWEN2);
    c.rope_llama3 = 0;
    Model m, m2;
    CHECK(model_create(&m, &c) == 0, "create");
    model_init_random(&m, 5, 0.5f);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/rt", tmpdir);
    CHECK(model_save(&m, dir, ST_F32) == 0, "save: %s", tr_errmsg());
    CHECK(model_load(&m2, dir) == 0, "load: %s", tr_errmsg());
    CHECK(m2.n_params == m.n_params && !memcmp(m2.params, m.params, m.n_params * 4), "F32 round trip not exact");
    model_free(&m2);
    CHECK(model_save(&m, dir, ST_BF16) == 0, "save bf16");
    CHECK(model_load(&m2, dir) == 0, "load bf16: %s", tr_errmsg());
    double worst = 0;
    for (size_t i = 0; i < m.n_params; i++)
        if (m.params[i] != 0) worst = fmax(worst, fabs(m2.params[i] - m.params[i]) / fabs(m.params[i]));
    printf("  bf16 round trip: worst relative error %.4g (bound 2^-8)\n", worst);
    CHECK(worst <= 1.0 / 256, "bf16 error %.4g", worst);
    model_free(&m2);

    /* bad checkpoints: each names the tensor */
    StWrite w[64];
    int n = 0;
    for (int i = 0; i < m.n_table && n < 64; i++, n++) {
        w[n].name = m.table[i].name;
        w[n].dtype = ST_F32;
        w[n].data = m.params + m.table[i].off;
        w[n].ndim = m.table[i].ndim;
        w[n].shape[0] = m.table[i].shape[0];
        w[n].shape[1] = m.table[i].shape[1];
    }
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    /* missing tensor */
    CHECK(st_write(path, w + 1, n - 1, NULL, 0) == 0, "write");
    CHECK(model_load(&m2, dir) != 0 && strstr(tr_errmsg(), "model.embed_tokens.weight") &&
              strstr(tr_errmsg(), "missing"),
          "missing tensor message: %s", tr_errmsg());
    /* wrong shape */
    int64_t keep = w[1].shape[0];
    w[1].shape[0] = 1;
    CHECK(st_write(path, w, n, NULL, 0) == 0, "write");
    CHECK(model_load(&m2, dir) != 0 && strstr(tr_errmsg(), w[1].name) && strstr(tr_errmsg(), "disagrees"),
          "shape message: %s", tr_errmsg());
    w[1].shape[0] = keep;
    /* a tensor the config does not describe (a layer too many) */
    StWrite extra = w[1];
    extra.name = "model.layers.7.input_layernorm.weight";
    w[n] = extra;
    CHECK(st_write(path, w, n + 1, NULL, 0) == 0, "write");
    CHECK(model_load(&m2, dir) != 0 && strstr(tr_errmsg(), "model.layers.7"), "extra tensor message: %s",
          tr_errmsg());
    /* truncated file */
    CHECK(st_write(path, w, n, NULL, 0) == 0, "write");
    CHECK(truncate(path, 100) == 0, "truncate");
    CHECK(model_load(&m2, dir) != 0 && strstr(tr_errmsg(), "model.safetensors"), "truncated message: %s",
          tr_errmsg());
    /* an absurd but valid config.json next to the small checkpoint fails on
     * the first tensor, before the parameter buffer it describes (~1 GiB) */
    CHECK(st_write(path, w, n, NULL, 0) == 0, "write");
    ModelConfig big = m.cfg;
    big.C = 1000000;
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(config_save(&big, path) == 0, "config_save");
    size_t rss0 = tr_peak_rss();
    CHECK(model_load(&m2, dir) != 0 && strstr(tr_errmsg(), "disagrees"), "absurd config message: %s", tr_errmsg());
    CHECK(tr_peak_rss() - rss0 < ((size_t)256 << 20), "absurd config.json: peak RSS grew by %zu MiB",
          (tr_peak_rss() - rss0) >> 20);
    /* a failed load leaves the Model empty (model_free is safe), whatever it held */
    write_text(path, "{");
    memset(&m2, 0x5A, sizeof m2);
    CHECK(model_load(&m2, dir) != 0, "invalid config.json accepted");
    CHECK(m2.params == NULL && m2.table == NULL && m2.n_params == 0, "failed model_load left the Model non-empty");
    model_free(&m2);
    model_free(&m);
}

static void test_batch_errors(void) {
    ModelConfig c = tiny_config(ARCH_LLAMA);
    Model m;
    model_create(&m, &c);
    int32_t ids[3] = {1, 13, 2}, tg[3] = {13, 2, -1};
    float lp[3];
    ModelBatch b = {1, 3, ids, NULL, NULL, NULL};
    CHECK(model_forward(&m, &b, NULL, lp, NULL) != 0 && strstr(tr_errmsg(), "vocabulary"), "id out of range: %s",
          tr_errmsg());
    ids[1] = 3;
    CHECK(model_forward(&m, &b, tg, lp, NULL) != 0 && strstr(tr_errmsg(), "target"), "target out of range");
    int32_t pos[3] = {0, 1, 64};
    ModelBatch bp = {1, 3, ids, pos, NULL, NULL};
    CHECK(model_forward(&m, &bp, NULL, lp, NULL) != 0 && strstr(tr_errmsg(), "position"), "pos out of range");
    model_free(&m);
}

static void test_adamw_sched(void) {
    /* one parameter, constant gradient g: after t steps without decay each
     * update is lr * (m_hat / (sqrt(v_hat)+eps)) = lr * g/(|g|+eps) */
    AdamW o;
    float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, -4.0f};
    adamw_init(&o, 2, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f);
    for (int t = 0; t < 3; t++) adamw_step(&o, p, g, 0.1f, NULL);
    CHECK(fabsf(p[0] - (1.0f - 0.3f)) < 1e-5f && fabsf(p[1] - (-2.0f + 0.3f)) < 1e-5f, "adam closed form %g %g",
          p[0], p[1]);
    adamw_free(&o);
    /* decoupled weight decay alone: p *= (1 - lr*wd) when g = 0 */
    float q[1] = {2.0f}, z[1] = {0.0f};
    adamw_init(&o, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f);
    adamw_step(&o, q, z, 0.1f, NULL);
    CHECK(fabsf(q[0] - 2.0f * 0.95f) < 1e-6f, "weight decay %g", q[0]);
    uint8_t nodecay[1] = {0};
    q[0] = 2.0f;
    adamw_step(&o, q, z, 0.1f, nodecay);
    CHECK(q[0] == 2.0f, "decay mask ignored");
    adamw_free(&o);
    float gg[2] = {3.0f, 4.0f};
    double nrm = grad_clip(gg, 2, 1.0);
    CHECK(fabs(nrm - 5.0) < 1e-9 && fabsf(gg[0] - 0.6f) < 1e-6f, "clip");
    Sched s = {SCHED_COSINE, 1.0f, 10, 110, 0.1f};
    CHECK(fabsf(sched_lr(&s, 0) - 0.1f) < 1e-6f && fabsf(sched_lr(&s, 9) - 1.0f) < 1e-6f, "warmup");
    CHECK(fabsf(sched_lr(&s, 60) - 0.55f) < 1e-5f && fabsf(sched_lr(&s, 110) - 0.1f) < 1e-6f, "cosine");
    Sched sl = {SCHED_LINEAR, 1.0f, 0, 100, 0.0f};
    CHECK(fabsf(sched_lr(&sl, 25) - 0.75f) < 1e-6f, "linear");
    CHECK(sched_parse("cosine") == SCHED_COSINE && sched_parse("nope") == -1, "parse");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/thinkrl-test-model.XXXXXX");
    TR_ASSERT(mkdtemp(tmpdir));
    test_fd_model(ARCH_QWEN2);
    test_fd_model(ARCH_LLAMA);
    test_fd_hidden();
    test_config_errors();
    test_save_load();
    test_batch_errors();
    test_adamw_sched();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return tu_summary("test_model");
}
