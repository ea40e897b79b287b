/* Compares the C model with the PyTorch reference that tests/torch_ref.py
 * computed (float64) on the same random weights and batch:
 *   check_model_torch model DIR   logits, log-probs, entropies, CE loss and
 *                                 every parameter gradient of two losses;
 *   check_model_torch adamw DIR   10 AdamW steps with clipping: the loss
 *                                 before each step and the grad norm. */
#include <string.h>

#include "testutil.h"
#include "thinkrl/model.h"
#include "thinkrl/optim.h"

/* Tolerances, relative to the largest reference magnitude of each tensor. */
#define TOL_LOGITS 1e-5
#define TOL_GRAD 1e-4
#define TOL_ADAMW 1e-4

typedef struct {
    int B, T;
    int32_t *ids, *pos, *seg, *tg;
    uint8_t *mask;
    float *w, *u;
} Batch;

static float *read_f32(StFile *f, const char *name, size_t *n) {
    const StTensor *t = st_find(f, name);
    if (!t) {
        fprintf(stderr, "reference tensor '%s' missing\n", name);
        exit(2);
    }
    float *p = malloc((size_t)t->numel * sizeof(float) + 4);
    if (st_read_f32(f, t, p, (size_t)t->numel)) {
        fprintf(stderr, "%s\n", tr_errmsg());
        exit(2);
    }
    if (n) *n = (size_t)t->numel;
    return p;
}

static int32_t *read_i32(StFile *f, const char *name) {
    const StTensor *t = st_find(f, name);
    if (!t) return NULL;
    int32_t *p = malloc((size_t)t->numel * sizeof(int32_t) + 4);
    if (st_read_i32(f, t, p, (size_t)t->numel)) {
        fprintf(stderr, "%s\n", tr_errmsg());
        exit(2);
    }
    return p;
}

static void load_batch(const char *dir, Batch *b) {
    char path[4096];
    snprintf(path, sizeof path, "%s/batch.safetensors", dir);
    StFile f;
    if (st_open(&f, path)) {
        fprintf(stderr, "%s\n", tr_errmsg());
        exit(2);
    }
    const StTensor *t = st_find(&f, "ids");
    b->B = (int)t->shape[0];
    b->T = (int)t->shape[1];
    b->ids = read_i32(&f, "ids");
    b->pos = read_i32(&f, "pos");
    b->seg = read_i32(&f, "seg");
    b->tg = read_i32(&f, "targets");
    int32_t *m = read_i32(&f, "mask");
    b->mask = NULL;
    if (m) {
        size_t n = (size_t)b->B * b->T * b->T;
        b->mask = malloc(n);
        for (size_t i = 0; i < n; i++) b->mask[i] = (uint8_t)m[i];
        free(m);
    }
    b->w = read_f32(&f, "w", NULL);
    b->u = read_f32(&f, "u", NULL);
    st_close(&f);
}

/* Compares only rows (tokens) where valid[n] holds; `row` floats per token. */
static void compare(const char *what, const float *got, const float *ref, size_t ntok, size_t row,
                    const int32_t *seg, double tol) {
    double mref = 0, md = 0;
    for (size_t n = 0; n < ntok; n++) {
        if (seg && seg[n] < 0) continue;
        for (size_t i = 0; i < row; i++) {
            double r = ref[n * row + i], d = fabs((double)got[n * row + i] - r);
            if (!(d == d)) d = INFINITY;
            mref = fmax(mref, fabs(r));
            md = fmax(md, d);
        }
    }
    double rel = md / (mref > 0 ? mref : 1);
    printf("  %-44s max |diff| %.3g  relative %.3g\n", what, md, rel);
    CHECK(rel <= tol, "%s: relative error %.3g above %.1g", what, rel, tol);
}

static int run_model(const char *dir) {
    Model m;
    if (model_load(&m, dir) || model_alloc_grads(&m)) {
        fprintf(stderr, "%s\n", tr_errmsg());
        return 2;
    }
    Batch b;
    load_batch(dir, &b);
    char path[4096];
    snprintf(path, sizeof path, "%s/ref.safetensors", dir);
    StFile ref;
    if (st_open(&ref, path)) {
        fprintf(stderr, "%s\n", tr_errmsg());
        return 2;
    }
    size_t N = (size_t)b.B * b.T;
    const int V = m.cfg.V;
    ModelBatch mb = {b.B, b.T, b.ids, b.pos, b.seg, b.mask};
    printf("%s: B %d T %d V %d, %zu parameters\n", dir, b.B, b.T, V, m.n_params);

    float *logits = malloc(N * V * sizeof(float));
    CHECK(model_logits(&m, &mb, logits) == 0, "model_logits: %s", tr_errmsg());
    float *rl = read_f32(&ref, "logits", NULL);
    compare("logits", logits, rl, N, V, b.seg, TOL_LOGITS);

    float *lp = malloc(N * 4), *ent = malloc(N * 4);
    CHECK(model_forward(&m, &mb, b.tg, lp, ent) == 0, "forward: %s", tr_errmsg());
    float *rlp = read_f32(&ref, "logp", NULL), *rent = read_f32(&ref, "entropy", NULL);
    compare("logp", lp, rlp, N, 1, b.seg, TOL_LOGITS);
    compare("entropy", ent, rent, N, 1, b.seg, TOL_LOGITS);

    float loss;
    model_zero_grads(&m);
    CHECK(model_ce(&m, &mb, b.tg, &loss, 1) == 0, "model_ce: %s", tr_errmsg());
    float *rloss = read_f32(&ref, "loss_ce", NULL);
    compare("loss_ce", &loss, rloss, 1, 1, NULL, TOL_LOGITS);
    for (int i = 0; i < m.n_table; i++) {
        char nm[160];
        snprintf(nm, sizeof nm, "grad_ce.%s", m.table[i].name);
        float *rg = read_f32(&ref, nm, NULL);
        compare(nm, m.grads + m.table[i].off, rg, 1, m.table[i].numel, NULL, TOL_GRAD);
        free(rg);
    }

    /* loss_lp = sum w*logp + sum u*entropy: the RL entry point */
    model_zero_grads(&m);
    CHECK(model_forward(&m, &mb, b.tg, lp, ent) == 0, "forward: %s", tr_errmsg());
    double s = 0;
    for (size_t n = 0; n < N; n++) {
        if (b.seg[n] < 0) continue;
        s += (double)b.w[n] * (b.tg[n] >= 0 ? lp[n] : 0) + (double)b.u[n] * ent[n];
    }
    float lpl = (float)s, *rlpl = read_f32(&ref, "loss_lp", NULL);
    compare("loss_lp", &lpl, rlpl, 1, 1, NULL, TOL_LOGITS);
    CHECK(model_backward(&m, &mb, b.tg, b.w, b.u) == 0, "backward: %s", tr_errmsg());
    for (int i = 0; i < m.n_table; i++) {
        char nm[160];
        snprintf(nm, sizeof nm, "grad_lp.%s", m.table[i].name);
        float *rg = read_f32(&ref, nm, NULL);
        compare(nm, m.grads + m.table[i].off, rg, 1, m.table[i].numel, NULL, TOL_GRAD);
        free(rg);
    }
    free(logits); free(rl); free(lp); free(ent); free(rlp); free(rent); free(rloss); free(rlpl);
    free(b.ids); free(b.pos); free(b.seg); free(b.tg); free(b.mask); free(b.w); free(b.u);
    st_close(&ref);
    model_free(&m);
    return tu_summary("check_model_torch model");
}

static int run_adamw(const char *dir) {
    Model m;
    if (model_load(&m, dir) || model_alloc_grads(&m)) {
        fprintf(stderr, "%s\n", tr_errmsg());
        return 2;
    }
    Batch b;
    load_batch(dir, &b);
    char path[4096];
    snprintf(path, sizeof path, "%s/adamw_ref.safetensors", dir);
    StFile ref;
    if (st_open(&ref, path)) {
        fprintf(stderr, "%s\n", tr_errmsg());
        return 2;
    }
    size_t nsteps;
    float *rl = read_f32(&ref, "losses", &nsteps), *rg = read_f32(&ref, "gnorms", NULL);
    AdamW o;
    /* the settings tests/torch_ref.py adamw is run with (tests/model.cmake) */
    adamw_init(&o, m.n_params, 3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f);
    float *losses = malloc(nsteps * 4), *gn = malloc(nsteps * 4);
    ModelBatch mb = {b.B, b.T, b.ids, b.pos, b.seg, b.mask};
    for (size_t s = 0; s < nsteps; s++) {
        model_zero_grads(&m);
        CHECK(model_ce(&m, &mb, b.tg, &losses[s], 1) == 0, "model_ce: %s", tr_errmsg());
        gn[s] = (float)grad_clip(m.grads, m.n_params, 1.0);
        adamw_step(&o, m.params, m.grads, 3e-3f, NULL);
        printf("  step %2zu loss %.7f (torch %.7f)  grad norm %.6f (torch %.6f)\n", s, losses[s], rl[s],
               gn[s], rg[s]);
    }
    /* per step, relative to that step's own value */
    double wl = 0, wg = 0;
    for (size_t s = 0; s < nsteps; s++) {
        wl = fmax(wl, fabs((double)losses[s] - rl[s]) / fabs((double)rl[s]));
        wg = fmax(wg, fabs((double)gn[s] - rg[s]) / fabs((double)rg[s]));
    }
    printf("  adamw losses: worst per-step relative error %.3g\n", wl);
    printf("  adamw grad norms: worst per-step relative error %.3g\n", wg);
    CHECK(wl <= TOL_ADAMW, "adamw losses drift %.3g above %.1g", wl, TOL_ADAMW);
    CHECK(wg <= 5 * TOL_ADAMW, "adamw grad norms drift %.3g above %.1g", wg, 5 * TOL_ADAMW);
    free(rl); free(rg); free(losses); free(gn);
    free(b.ids); free(b.pos); free(b.seg); free(b.tg); free(b.mask); free(b.w); free(b.u);
    adamw_free(&o);
    st_close(&ref);
    model_free(&m);
    return tu_summary("check_model_torch adamw");
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: check_model_torch model|adamw DIR\n");
        return 2;
    }
    if (!strcmp(argv[1], "model")) return run_model(argv[2]);
    if (!strcmp(argv[1], "adamw")) return run_adamw(argv[2]);
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
