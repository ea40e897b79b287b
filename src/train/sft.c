/* The SFT / pretraining loop: documents from a JSONL file or a built-in
 * task, sequential packing into rows (whole documents, each with its own
 * positions and segment so no token attends across documents), token-mean
 * cross-entropy over completion tokens with gradient accumulation, AdamW,
 * held-out loss, checkpoints and exact resume. The sampler state is
 * (epoch, cursor); the order of an epoch is a seeded permutation. */
#include <cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "thinkrl/ckpt.h"
#include "thinkrl/eval.h"
#include "thinkrl/memplan.h"
#include "thinkrl/model.h"
#include "thinkrl/optim.h"
#include "thinkrl/sft.h"
#include "thinkrl/task.h"
#include "thinkrl/tokenizer.h"
#include "train/run_util.h"

#define FLD(k, t, f, d, h, c) {k, t, offsetof(SftConfig, f), d, h, c}
static const ConfField SFT_FIELDS[] = {
    FLD("model.path", CONF_STR, model_path, "", "HF model directory to start from (empty: a new model from model.preset)", NULL),
    FLD("model.preset", CONF_ENUM, model_preset, "nano", "size of a new model", "nano|micro|mini"),
    FLD("model.vocab_size", CONF_INT, model_vocab, "0", "new model's vocabulary (0: the tokenizer's, rounded up to 8)", "0.."),
    FLD("model.hidden_size", CONF_INT, model_hidden, "0", "override the preset's hidden size (0: keep)", "0.."),
    FLD("model.num_layers", CONF_INT, model_layers, "0", "override the preset's layer count (0: keep)", "0.."),
    FLD("model.num_heads", CONF_INT, model_heads, "0", "override the preset's attention heads (0: keep)", "0.."),
    FLD("model.num_kv_heads", CONF_INT, model_kv_heads, "0", "override the preset's key/value heads (0: keep)", "0.."),
    FLD("model.intermediate_size", CONF_INT, model_intermediate, "0", "override the preset's MLP width (0: keep)", "0.."),
    FLD("model.max_position", CONF_INT, model_max_pos, "0", "new model's context (0: the preset's)", "0.."),
    FLD("model.init_std", CONF_FLOAT, model_init_std, "0.02", "std of a new model's random weights", "0.."),
    FLD("model.seed", CONF_INT, model_seed, "1", "seed of a new model's weights", NULL),
    FLD("tokenizer.path", CONF_STR, tokenizer, "", "tokenizer.json or its directory (empty: model.path's, or the byte-level tokenizer for a new model)", NULL),
    FLD("data.train", CONF_STR, data_train, "", "training records (JSONL); empty: generate them from data.task", NULL),
    FLD("data.eval", CONF_STR, data_eval, "", "held-out records (JSONL); empty: data.eval_frac of data.train, or data.n_eval task records", NULL),
    FLD("data.task", CONF_STR, data_task, "", "built-in task generating the data (arith, countdown, word)", NULL),
    FLD("data.task_options", CONF_STR, data_task_options, "", "task options, space separated key=value", NULL),
    FLD("data.n_train", CONF_INT, data_n_train, "100000", "task records for training", "1.."),
    FLD("data.n_eval", CONF_INT, data_n_eval, "500", "task records held out (the indices after the training ones)", "0.."),
    FLD("data.seed", CONF_INT, data_seed, "1", "seed of the task generator and of the held-out split", NULL),
    FLD("data.eval_frac", CONF_FLOAT, data_eval_frac, "0.02", "share of data.train held out when data.eval is empty", "0..0.5"),
    FLD("data.skip_bad", CONF_BOOL, data_skip_bad, "false", "skip malformed JSONL lines (and count them) instead of failing", NULL),
    FLD("data.completion_only", CONF_BOOL, data_completion_only, "true", "loss on completion tokens only (false: on every token)", NULL),
    FLD("train.seq_len", CONF_INT, seq_len, "256", "tokens per packed row (longer documents are truncated)", "8..1048576"),
    FLD("train.batch_size", CONF_INT, batch_size, "16", "rows per micro-batch", "1..65536"),
    FLD("train.grad_accum", CONF_INT, grad_accum, "1", "micro-batches per optimiser step", "1..65536"),
    FLD("train.steps", CONF_INT, steps, "0", "optimiser steps (0: from train.epochs)", "0.."),
    FLD("train.epochs", CONF_FLOAT, epochs, "1", "passes over the training data when train.steps is 0", "0.."),
    FLD("train.stop_after", CONF_INT, stop_after, "0", "end this invocation after N steps with a checkpoint; --resume goes on (0: run to the end)", "0.."),
    FLD("train.grad_clip", CONF_FLOAT, grad_clip, "1.0", "max global gradient norm (0: off)", "0.."),
    FLD("train.seed", CONF_INT, seed, "1", "seed of the data order", NULL),
    FLD("optim.lr", CONF_FLOAT, lr, "1e-3", "peak learning rate", "0.."),
    FLD("optim.beta1", CONF_FLOAT, beta1, "0.9", "AdamW beta1", "0..<1"),
    FLD("optim.beta2", CONF_FLOAT, beta2, "0.95", "AdamW beta2", "0..<1"),
    FLD("optim.eps", CONF_FLOAT, eps, "1e-8", "AdamW epsilon", "0<.."),
    FLD("optim.weight_decay", CONF_FLOAT, weight_decay, "0.1", "decoupled weight decay (matrices only, not norms or biases)", "0.."),
    FLD("optim.schedule", CONF_ENUM, schedule, "cosine", "learning-rate schedule after warmup", "constant|linear|cosine"),
    FLD("optim.warmup", CONF_INT, warmup, "100", "linear warmup steps", "0.."),
    FLD("optim.min_lr_ratio", CONF_FLOAT, min_lr_ratio, "0.1", "final learning rate as a share of the peak", "0..1"),
    FLD("eval.every", CONF_INT, eval_every, "200", "held-out loss every N steps (0: only at the end)", "0.."),
    FLD("eval.docs", CONF_INT, eval_docs, "0", "held-out documents used (0: all)", "0.."),
    FLD("ckpt.every", CONF_INT, ckpt_every, "500", "checkpoint every N steps (0: only at the end)", "0.."),
    FLD("ckpt.keep", CONF_INT, ckpt_keep, "2", "checkpoints kept (0: all)", "0.."),
    FLD("log.every", CONF_INT, log_every, "10", "progress line and metrics.jsonl every N steps", "1.."),
    FLD("threads", CONF_INT, threads, "0", "compute threads (0: OpenMP default)", "0..4096"),
    FLD("max_memory", CONF_STR, max_memory, "0", "memory the run may use, e.g. 16G or 512M (0: what the machine has available; off: no check); the memory plan printed at the start must fit in it", NULL),
    FLD("guard.nonfinite", CONF_ENUM, guard_nonfinite, "skip", "a NaN/Inf in the loss, the gradient or the weights: skip that optimiser step (a NaN in the weights themselves stops the run), roll back to the weights and moments before the step (keeps a copy of them) and go on with the next batch, or stop with an error. A checkpoint never holds a NaN", "skip|rollback|stop"),
    FLD("guard.max_skips", CONF_INT, guard_max_skips, "3", "guard: non-finite steps in a row before the run stops with an error", "1.."),
    FLD("debug.fault", CONF_STR, debug_fault, "", "fault injection for tests: nan@K (a NaN loss and gradient) or nan_weight@K (a NaN weight after the update) at step K", NULL),
};
#undef FLD
const ConfSchema SFT_SCHEMA = {SFT_FIELDS, (int)(sizeof SFT_FIELDS / sizeof SFT_FIELDS[0]), "sft config"};

/* ---- documents ---- */

typedef struct {
    int32_t *ids;
    int64_t *off;
    int32_t *len, *np;  /* length, prompt tokens (targets start there) */
    int64_t n, cap, n_ids, cap_ids;
    int64_t n_trunc;
    int64_t n_empty; /* records left out: nothing to predict within the row */
} Docs;

static void docs_free(Docs *d) {
    free(d->ids);
    free(d->off);
    free(d->len);
    free(d->np);
    memset(d, 0, sizeof *d);
}

static int docs_add(Docs *d, const int32_t *ids, size_t n, size_t np, int T) {
    if (n < 2) { /* nothing to predict */
        d->n_empty++;
        return TR_OK;
    }
    if (n > (size_t)T) {
        n = (size_t)T;
        d->n_trunc++;
    }
    if (np >= n) { /* the prompt alone fills the row: no target left */
        d->n_empty++;
        return TR_OK;
    }
    if (d->n == d->cap) {
        int64_t cap = d->cap ? d->cap * 2 : 1024;
        int64_t *o = realloc(d->off, (size_t)cap * sizeof *o);
        if (o) d->off = o;
        int32_t *l = realloc(d->len, (size_t)cap * sizeof *l);
        if (l) d->len = l;
        int32_t *p = realloc(d->np, (size_t)cap * sizeof *p);
        if (p) d->np = p;
        if (!o || !l || !p) return tr_err(TR_ENOMEM, "out of memory for documents");
        d->cap = cap;
    }
    if (d->n_ids + (int64_t)n > d->cap_ids) {
        int64_t cap = d->cap_ids ? d->cap_ids * 2 : 65536;
        while (cap < d->n_ids + (int64_t)n) cap *= 2;
        int32_t *p = realloc(d->ids, (size_t)cap * sizeof *p);
        if (!p) return tr_err(TR_ENOMEM, "out of memory for documents");
        d->ids = p;
        d->cap_ids = cap;
    }
    memcpy(d->ids + d->n_ids, ids, n * sizeof *ids);
    d->off[d->n] = d->n_ids;
    d->len[d->n] = (int32_t)n;
    d->np[d->n] = (int32_t)np;
    d->n++;
    d->n_ids += (int64_t)n;
    return TR_OK;
}

static int add_record(Docs *d, Tokenizer *tok, const Record *r, TokIds *buf, int T, int completion_only) {
    size_t np = 0;
    int rc = data_sft_ids(tok, r, buf, &np);
    if (rc) return rc;
    return docs_add(d, buf->ids, buf->n, completion_only ? np : 0, T);
}



static int load_docs(const SftConfig *c, Tokenizer *tok, Docs *train, Docs *ev, FILE *log) {
    int T = (int)c->seq_len, rc = TR_OK;
    TokIds buf = {0};
    if (c->data_task && *c->data_task) {
        const TaskDef *t = task_find(c->data_task);
        if (!t) return tr_err(TR_EINVAL, "data.task: unknown task '%s'", c->data_task);
        char *store = NULL, **kv = NULL;
        int n = 0;
        TaskOpts o = {0};
        rc = run_split_opts(c->data_task_options, &store, &kv, &n);
        if (!rc) rc = task_opts_init(&o, t, kv, n);
        if (rc) rc = tr_err_ctx(rc, "data.task_options");
        for (int64_t i = 0; !rc && i < c->data_n_train + c->data_n_eval; i++) {
            Record r;
            if ((rc = task_record(t, &o, (uint64_t)c->data_seed, i, 1, &r))) break;
            rc = add_record(i < c->data_n_train ? train : ev, tok, &r, &buf, T, c->data_completion_only);
            record_free(&r);
        }
        task_opts_free(&o);
        free(store);
        free(kv);
    } else {
        if (!c->data_train || !*c->data_train) return tr_err(TR_EINVAL, "set data.train (a JSONL file) or data.task");
        Dataset d;
        if ((rc = dataset_load(&d, c->data_train, c->data_skip_bad, log))) return rc;
        int split = !c->data_eval || !*c->data_eval;
        uint64_t cut = (uint64_t)(c->data_eval_frac * 18446744073709551616.0);
        for (int64_t i = 0; i < d.n && !rc; i++) {
            int held = split && c->data_eval_frac > 0 && run_mix64((uint64_t)c->data_seed ^ run_mix64((uint64_t)i)) < cut;
            rc = add_record(held ? ev : train, tok, &d.rec[i], &buf, T, c->data_completion_only);
            if (rc) rc = tr_err_ctx(rc, "%s: record %s", c->data_train, d.rec[i].id);
        }
        dataset_free(&d);
        if (!rc && !split) {
            if ((rc = dataset_load(&d, c->data_eval, c->data_skip_bad, log))) goto out;
            for (int64_t i = 0; i < d.n && !rc; i++)
                rc = add_record(ev, tok, &d.rec[i], &buf, T, c->data_completion_only);
            dataset_free(&d);
        }
    }
out:
    tok_ids_free(&buf);
    if (!rc && train->n == 0) rc = tr_err(TR_EINVAL, "no training documents with target tokens");
    return rc;
}

/* ---- packing ---- */

typedef struct {
    const Docs *d;
    uint64_t seed;
    int64_t epoch, cursor;
    int64_t *perm;
    int shuffle;
} Sampler;

static void sampler_order(Sampler *s) {
    for (int64_t i = 0; i < s->d->n; i++) s->perm[i] = i;
    if (!s->shuffle) return;
    Rng r;
    rng_seed(&r, run_mix64(s->seed) ^ run_mix64((uint64_t)s->epoch + 1));
    for (int64_t i = s->d->n - 1; i > 0; i--) {
        int64_t j = (int64_t)(rng_u64(&r) % (uint64_t)(i + 1));
        int64_t t = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = t;
    }
}

static int sampler_init(Sampler *s, const Docs *d, uint64_t seed, int shuffle) {
    memset(s, 0, sizeof *s);
    s->d = d;
    s->seed = seed;
    s->shuffle = shuffle;
    s->perm = malloc((size_t)(d->n ? d->n : 1) * sizeof *s->perm);
    if (!s->perm) return tr_err(TR_ENOMEM, "out of memory");
    sampler_order(s);
    return TR_OK;
}

/* Fills rows [0, B) of T tokens from the sampler. Returns the target
 * count; *ntok gets the non-padding tokens. With wrap == 0 stops at the end
 * of the data (remaining rows are padding). */
static int64_t pack(Sampler *s, int B, int T, int wrap, int32_t *ids, int32_t *pos, int32_t *seg,
                    int32_t *tgt, int64_t *ntok) {
    const Docs *d = s->d;
    int64_t nt = 0, ntk = 0;
    for (int b = 0; b < B; b++) {
        int used = 0, docno = 0;
        int32_t *ri = ids + (size_t)b * T, *rp = pos + (size_t)b * T, *rs = seg + (size_t)b * T,
                *rt = tgt + (size_t)b * T;
        for (;;) {
            if (s->cursor == d->n) {
                if (!wrap) break;
                s->epoch++;
                s->cursor = 0;
                sampler_order(s);
            }
            int64_t k = s->perm[s->cursor];
            int len = d->len[k];
            if (len > T - used) break;
            const int32_t *src = d->ids + d->off[k];
            for (int j = 0; j < len; j++) {
                ri[used + j] = src[j];
                rp[used + j] = j;
                rs[used + j] = docno;
                int has = j + 1 < len && j + 1 >= d->np[k];
                rt[used + j] = has ? src[j + 1] : -1;
                nt += has;
            }
            used += len;
            docno++;
            s->cursor++;
        }
        ntk += used;
        for (int j = used; j < T; j++) {
            ri[j] = 0;
            rp[j] = 0;
            rs[j] = -1;
            rt[j] = -1;
        }
    }
    *ntok = ntk;
    return nt;
}

/* ---- the run ---- */

typedef struct {
    int B, T, A;
    int32_t *ids, *pos, *seg, *tgt;
    float *lp, *dlp;
} Bufs;

static int bufs_init(Bufs *b, int B, int T, int A) {
    size_t n = (size_t)A * B * T;
    b->B = B;
    b->T = T;
    b->A = A;
    b->ids = malloc(n * sizeof(int32_t));
    b->pos = malloc(n * sizeof(int32_t));
    b->seg = malloc(n * sizeof(int32_t));
    b->tgt = malloc(n * sizeof(int32_t));
    b->lp = malloc((size_t)B * T * sizeof(float));
    b->dlp = malloc((size_t)B * T * sizeof(float));
    if (!b->ids || !b->pos || !b->seg || !b->tgt || !b->lp || !b->dlp) return tr_err(TR_ENOMEM, "out of memory");
    return TR_OK;
}

static void bufs_free(Bufs *b) {
    free(b->ids);
    free(b->pos);
    free(b->seg);
    free(b->tgt);
    free(b->lp);
    free(b->dlp);
}

static ModelBatch batch_at(const Bufs *b, int a) {
    size_t o = (size_t)a * b->B * b->T;
    ModelBatch mb = {b->B, b->T, b->ids + o, b->pos + o, b->seg + o, NULL};
    return mb;
}

/* Mean held-out cross-entropy over every target of the eval documents. */
static int eval_loss(Model *m, const Docs *ev, int64_t max_docs, Bufs *b, double *out) {
    Docs view = *ev;
    if (max_docs > 0 && view.n > max_docs) view.n = max_docs;
    Sampler s;
    int rc = sampler_init(&s, &view, 0, 0);
    if (rc) return rc;
    double sum = 0;
    int64_t cnt = 0;
    while (s.cursor < view.n) {
        int64_t ntok;
        int64_t nt = pack(&s, b->B, b->T, 0, b->ids, b->pos, b->seg, b->tgt, &ntok);
        if (nt == 0) continue;
        ModelBatch mb = batch_at(b, 0);
        if ((rc = model_forward(m, &mb, b->tgt, b->lp, NULL))) break;
        for (size_t i = 0; i < (size_t)b->B * b->T; i++)
            if (b->tgt[i] >= 0) sum -= b->lp[i];
        cnt += nt;
    }
    free(s.perm);
    *out = cnt ? sum / (double)cnt : NAN;
    return rc;
}





/* The tokenizer: given, the model's, or (new model) the byte-level one
 * written into RUN/tokenizer. *dir gets the directory holding its files. */
static int setup_tokenizer(const SftConfig *c, const char *run_dir, Tokenizer *tok, char *dir, size_t cap) {
    if (c->tokenizer && *c->tokenizer) {
        struct stat sb;
        if (stat(c->tokenizer, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            snprintf(dir, cap, "%s", c->tokenizer);
        } else {
            snprintf(dir, cap, "%s", c->tokenizer);
            char *sl = strrchr(dir, '/');
            if (sl) *sl = 0;
            else snprintf(dir, cap, ".");
        }
        return tok_load(tok, c->tokenizer);
    }
    if (c->model_path && *c->model_path) {
        snprintf(dir, cap, "%s", c->model_path);
        return tok_load(tok, c->model_path);
    }
    snprintf(dir, cap, "%s/tokenizer", run_dir);
    int rc = tok_write_byte_level(dir, NULL, 0);
    return rc ? rc : tok_load(tok, dir);
}

static int new_model(const SftConfig *c, const Tokenizer *tok, Model *m) {
    ModelConfig mc;
    int rc = config_preset(&mc, c->model_preset);
    if (rc) return rc;
    if (c->model_hidden) mc.C = (int)c->model_hidden;
    if (c->model_layers) mc.L = (int)c->model_layers;
    if (c->model_heads) mc.NH = (int)c->model_heads;
    if (c->model_kv_heads) mc.KVH = (int)c->model_kv_heads;
    if (c->model_intermediate) mc.F = (int)c->model_intermediate;
    if (c->model_max_pos) mc.max_pos = (int)c->model_max_pos;
    if (mc.C % mc.NH) return tr_err(TR_EINVAL, "model.hidden_size %d is not a multiple of model.num_heads %d", mc.C, mc.NH);
    mc.HS = mc.C / mc.NH;
    mc.V = c->model_vocab ? (int)c->model_vocab : (tok->vocab_size + 7) / 8 * 8;
    if (mc.V < tok->vocab_size)
        return tr_err(TR_EINVAL, "model.vocab_size %d is smaller than the tokenizer's %d", mc.V, tok->vocab_size);
    mc.bos_id = tok->bos_id;
    mc.n_eos = 0;
    if (tok->eos_id >= 0) mc.eos_ids[mc.n_eos++] = tok->eos_id;
    if ((rc = config_validate(&mc))) return rc;
    if ((rc = model_create(m, &mc))) return rc;
    model_init_random(m, (uint64_t)c->model_seed, (float)c->model_init_std);
    return TR_OK;
}

/* The run's memory term by term (weights already loaded: what is resident
 * beyond them is measured as the runtime term); refuses a run that would
 * not fit in max_memory or the memory available. */
static int plan_memory(const SftConfig *c, const Model *m, int snap, FILE *log, double *plan_bytes) {
    const ModelConfig *mc = &m->cfg;
    size_t n = m->n_params, N = (size_t)(c->batch_size * c->seq_len);
    double W = (double)n * sizeof(float), rss = memplan_rss() - W;
    MemPlan p = {0};
    memplan_add(&p, "weights", W, NULL, "%.2fM parameters x 4 B (fp32)", (double)n / 1e6);
    memplan_add(&p, "gradients", W, NULL, "fp32, one per parameter");
    memplan_add(&p, "AdamW moments", 2 * W + (double)n, NULL, "m and v in fp32, a weight-decay mask byte");
    if (snap) memplan_add(&p, "guard rollback copy", 3 * W, "guard.nonfinite=skip", "weights and moments before each step");
    memplan_add(&p, "activations", (double)model_acts_bytes(mc, N), "train.batch_size",
                "%lld rows x %lld tokens, logits included", (long long)c->batch_size, (long long)c->seq_len);
    memplan_add(&p, "batch buffers", (double)N * (double)c->grad_accum * 6 * 4, "train.grad_accum",
                "%lld micro-batches x %zu tokens x 6 values", (long long)c->grad_accum, N);
    memplan_add(&p, "runtime, tokenizer, data", rss > 0 ? rss : 0, NULL, "resident beside the weights (measured)");
    const char *what = "";
    double limit = 0, mm = 0;
    if (strcmp(c->max_memory, "off")) {
        memplan_parse_size(c->max_memory, &mm); /* checked by sft_run */
        limit = memplan_limit(mm, &what);
    }
    if (log) {
        fprintf(log, "sft: memory plan:\n");
        memplan_print(&p, log, "sft:", limit, what);
    }
    double total = memplan_total(&p);
    *plan_bytes = total;
    if (!(limit > 0 && total > limit)) return TR_OK;
    const MemTerm *big = memplan_largest(&p);
    char a[32], b[32], d[32], fit[64] = "";
    double fixed = total - (double)model_acts_bytes(mc, N); /* halve the rows until the activations fit */
    for (int64_t bs = c->batch_size / 2; bs >= 1 && !fit[0]; bs /= 2)
        if (fixed + (double)model_acts_bytes(mc, (size_t)(bs * c->seq_len)) <= limit)
            snprintf(fit, sizeof fit, "train.batch_size=%lld train.grad_accum=%lld", (long long)bs,
                     (long long)(c->grad_accum * (c->batch_size / bs)));
    return tr_err(TR_ENOMEM, "memory plan: the run needs %s, more than the %s %s; the largest term is the %s (%s%s%s); "
                             "%s%s (or max_memory=off to start anyway)",
                  memplan_fmt(total, a, sizeof a), memplan_fmt(limit, b, sizeof b), what, big->name,
                  memplan_fmt(big->bytes, d, sizeof d), big->knob[0] ? ", set by " : "", big->knob,
                  fit[0] ? fit : "no smaller train.batch_size fits: a smaller model or more memory is needed",
                  fit[0] ? " would fit (the same tokens per step)" : "");
}

int sft_run(const SftConfig *c, const char *run_dir, int resume, FILE *log) {
    Model m = {0};
    AdamW opt = {0};
    Tokenizer tok = {0};
    Docs train = {0}, ev = {0};
    Sampler smp = {0};
    Bufs b = {0};
    uint8_t *decay = NULL;
    FILE *mf = NULL;
    cJSON *state = NULL;
    char path[4400], tok_dir[4096];
    int rc;
    int64_t step = 0, tokens_seen = 0, skips = 0, skips_row = 0, fault_step = 0, snap_t = 0;
    float *snap = NULL; /* guard rollback: weights, m, v before the step */
    double gn_last = 0, plan_bytes = 0;
    int guard = !strcmp(c->guard_nonfinite, "rollback") ? 1 : !strcmp(c->guard_nonfinite, "stop") ? 2 : 0;
    int fault = 0;
    if (c->debug_fault && *c->debug_fault) {
        const char *at = strchr(c->debug_fault, '@');
        char *end = NULL;
        fault_step = at ? strtoll(at + 1, &end, 10) : 0;
        fault = !strncmp(c->debug_fault, "nan@", 4) ? 1 : !strncmp(c->debug_fault, "nan_weight@", 11) ? 2 : 0;
        if (!fault || !end || end == at + 1 || *end || fault_step < 1)
            return tr_err(TR_EINVAL, "debug.fault: expected nan@K or nan_weight@K with K >= 1, got '%s'", c->debug_fault);
    }
    double mm;
    if (strcmp(c->max_memory, "off") && memplan_parse_size(c->max_memory, &mm))
        return tr_err(TR_EINVAL, "max_memory: expected a size such as 16G, 512M or 0 (the memory available), or off; "
                                 "got '%s'", c->max_memory);
    if (c->steps == 0 && !(c->epochs > 0))
        return tr_err(TR_EINVAL, "train.epochs: 0 passes with train.steps 0 leaves nothing to train (set either)");
    if (c->threads > 0) tr_set_threads((int)c->threads);
    if ((rc = ckpt_mkdirs(run_dir))) return rc;
    if ((rc = setup_tokenizer(c, run_dir, &tok, tok_dir, sizeof tok_dir))) goto cleanup;
    int T = (int)c->seq_len, B = (int)c->batch_size, A = (int)c->grad_accum;

    if (resume) {
        char ck[4200];
        int64_t st;
        rc = ckpt_latest(run_dir, ck, sizeof ck, &st);
        if (rc == 1) rc = tr_err(TR_EINVAL, "--resume %s: the run has no checkpoint yet", run_dir);
        if (rc) goto cleanup;
        if ((rc = ckpt_load(ck, &m, &opt, &state, &step))) goto cleanup;
        if (log) fprintf(log, "sft: resuming from %s (step %lld)\n", ck, (long long)step);
    } else if (c->model_path && *c->model_path) {
        if ((rc = model_load(&m, c->model_path))) goto cleanup;
    } else {
        if ((rc = new_model(c, &tok, &m))) goto cleanup;
    }
    if (tok.vocab_size > m.cfg.V) {
        rc = tr_err(TR_EINVAL, "the tokenizer has %d ids but the model only %d embedding rows", tok.vocab_size, m.cfg.V);
        goto cleanup;
    }
    if (T > m.cfg.max_pos) {
        rc = tr_err(TR_EINVAL, "train.seq_len %d exceeds the model's context %d", T, m.cfg.max_pos);
        goto cleanup;
    }
    double t0 = tr_time();
    if ((rc = load_docs(c, &tok, &train, &ev, log))) goto cleanup;
    if (log) {
        fprintf(log, "sft: %lld training documents (%lld tokens), %lld held out, loaded in %.1fs", (long long)train.n,
                (long long)train.n_ids, (long long)ev.n, tr_time() - t0);
        if (train.n_trunc) fprintf(log, "; %lld truncated to %d tokens", (long long)train.n_trunc, T);
        if (train.n_empty + ev.n_empty)
            fprintf(log, "; %lld left out with no target token within train.seq_len %d (%lld training, %lld held out)",
                    (long long)(train.n_empty + ev.n_empty), T, (long long)train.n_empty, (long long)ev.n_empty);
        fprintf(log, "\n");
    }
    if ((rc = plan_memory(c, &m, guard == 1, log, &plan_bytes))) goto cleanup;
    if ((rc = model_alloc_grads(&m))) goto cleanup;
    if (!resume &&
        (rc = adamw_init(&opt, m.n_params, (float)c->lr, (float)c->beta1, (float)c->beta2, (float)c->eps,
                         (float)c->weight_decay)))
        goto cleanup;
    decay = malloc(m.n_params);
    if (!decay) {
        rc = tr_err(TR_ENOMEM, "out of memory");
        goto cleanup;
    }
    run_decay_mask(&m, decay);
    if (guard == 1 && !(snap = malloc((m.n_params + 2 * opt.n) * sizeof(float)))) {
        rc = tr_err(TR_ENOMEM, "out of memory for the guard's copy of the weights and moments (guard.nonfinite=skip "
                               "needs none)");
        goto cleanup;
    }

    if ((rc = sampler_init(&smp, &train, (uint64_t)c->seed, 1))) goto cleanup;
    if ((rc = bufs_init(&b, B, T, A))) goto cleanup;

    int64_t total = c->steps;
    if (total == 0) { /* rows of one epoch, by packing it once */
        int64_t rows = 0, ntok;
        while (smp.cursor < train.n) {
            pack(&smp, 1, T, 0, b.ids, b.pos, b.seg, b.tgt, &ntok);
            rows++;
        }
        total = (int64_t)ceil(c->epochs * (double)rows / (double)(B * A));
        if (total < 1) total = 1;
        smp.cursor = 0;
    }
    if (resume) {
        const cJSON *dj = cJSON_GetObjectItemCaseSensitive(state, "data");
        const cJSON *tk = cJSON_GetObjectItemCaseSensitive(state, "tokens");
        const cJSON *gj = cJSON_GetObjectItemCaseSensitive(state, "guard"); /* absent before the guard existed */
        rc = ckpt_state_count(dj, "epoch", 0, CKPT_COUNT_MAX, "checkpoint state: data.epoch", &smp.epoch);
        if (!rc)
            rc = ckpt_state_count(dj, "cursor", 0, (int64_t)train.n,
                                  "checkpoint state: data.cursor", &smp.cursor);
        if (!rc && tk) rc = ckpt_state_count(state, "tokens", 0, CKPT_COUNT_MAX, "checkpoint state: tokens", &tokens_seen);
        if (!rc && gj) rc = ckpt_state_count(gj, "skips", 0, CKPT_COUNT_MAX, "checkpoint state: guard.skips", &skips);
        if (!rc && gj)
            rc = ckpt_state_count(gj, "skips_row", 0, CKPT_COUNT_MAX, "checkpoint state: guard.skips_row", &skips_row);
        if (rc) goto cleanup;
        sampler_order(&smp);
    }
    snprintf(path, sizeof path, "%s/config.yaml", run_dir);
    if ((rc = conf_save_yaml(&SFT_SCHEMA, c, path))) goto cleanup;
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    if (resume) {
        if ((rc = run_metrics_truncate(path, step))) goto cleanup;
    } else {
        unlink(path);
    }
    mf = fopen(path, "a");
    if (!mf) {
        rc = tr_err(TR_EIO, "%s: cannot open for writing", path);
        goto cleanup;
    }
    Sched sch = {(SchedKind)sched_parse(c->schedule), (float)c->lr, c->warmup, total, (float)(c->lr * c->min_lr_ratio)};
    if (log)
        fprintf(log, "sft: %lld steps of %d x %d x %d tokens, model %.2fM parameters, lr %g (%s)\n", (long long)total, A, B,
                T, m.n_params / 1e6, c->lr, c->schedule);

    int tty = log && isatty(fileno(log));
    double t_start = tr_time(), loss_acc = 0, last_eval = NAN;
    int64_t tok_window = 0, n_acc = 0, start_step = step;
    double t_window = tr_time();
    int64_t stop_at = c->stop_after > 0 && start_step + c->stop_after < total ? start_step + c->stop_after : total;
    while (step < stop_at) {
        double lr = sched_lr(&sch, step);
        int64_t nt = 0, ntok_all = 0;
        for (int a = 0; a < A; a++) {
            int64_t ntok;
            size_t o = (size_t)a * B * T;
            nt += pack(&smp, B, T, 1, b.ids + o, b.pos + o, b.seg + o, b.tgt + o, &ntok);
            ntok_all += ntok;
        }
        if (nt == 0) {
            rc = tr_err(TR_EINVAL, "a batch without target tokens");
            goto cleanup;
        }
        model_zero_grads(&m);
        double loss = 0;
        for (int a = 0; a < A; a++) {
            ModelBatch mb = batch_at(&b, a);
            const int32_t *tg = b.tgt + (size_t)a * B * T;
            if ((rc = model_forward(&m, &mb, tg, b.lp, NULL))) goto cleanup;
            for (size_t i = 0; i < (size_t)B * T; i++) {
                if (tg[i] >= 0) loss -= b.lp[i];
                b.dlp[i] = tg[i] >= 0 ? (float)(-1.0 / (double)nt) : 0.0f;
            }
            if ((rc = model_backward(&m, &mb, tg, b.dlp, NULL))) goto cleanup;
        }
        loss /= (double)nt;
        if (fault && step + 1 == fault_step && fault == 1) {
            loss = NAN;
            m.grads[0] = NAN;
        }
        /* guard: the optimiser moves only on a finite loss and gradient; a
         * NaN that still reaches the weights is undone (rollback) or stops
         * the run */
        const char *nf = NULL;
        double gn = 0;
        if (!isfinite(loss)) nf = "the loss";
        else if (!isfinite(gn = grad_clip(m.grads, m.n_params, c->grad_clip))) nf = "the gradient";
        if (!nf) {
            if (snap) {
                memcpy(snap, m.params, m.n_params * sizeof(float));
                memcpy(snap + m.n_params, opt.m, opt.n * sizeof(float));
                memcpy(snap + m.n_params + opt.n, opt.v, opt.n * sizeof(float));
                snap_t = opt.t;
            }
            adamw_step(&opt, m.params, m.grads, (float)lr, decay);
            if (fault == 2 && step + 1 == fault_step) m.params[m.n_params / 2] = NAN;
            if (tr_first_nonfinite(m.params, m.n_params) < m.n_params) nf = "the weights";
        }
        if (nf) {
            long long k = (long long)step + 1;
            int in_w = !strcmp(nf, "the weights");
            if (guard == 2) {
                rc = tr_err(TR_EINVAL, "step %lld: NaN/Inf in %s; the run stops (lower optim.lr, or set "
                                       "guard.nonfinite=skip or rollback)", k, nf);
                goto cleanup;
            }
            if (in_w && !snap) {
                rc = tr_err(TR_EINVAL, "step %lld: NaN/Inf in the weights after a finite update (lower optim.lr, raise "
                                       "optim.eps, set train.grad_clip, or guard.nonfinite=rollback); the last "
                                       "checkpoint is intact", k);
                goto cleanup;
            }
            if (in_w) {
                memcpy(m.params, snap, m.n_params * sizeof(float));
                memcpy(opt.m, snap + m.n_params, opt.n * sizeof(float));
                memcpy(opt.v, snap + m.n_params + opt.n, opt.n * sizeof(float));
                opt.t = snap_t;
            }
            skips++;
            skips_row++;
            fprintf(mf, "{\"step\":%lld,\"event\":\"nonfinite\",\"what\":\"%s\",\"action\":\"%s\"}\n", k, nf,
                    in_w ? "rollback" : "skip");
            fflush(mf);
            if (log)
                fprintf(log, "sft: step %lld: NaN/Inf in %s; %s\n", k, nf,
                        in_w ? "the weights and moments of step before are back" : "its optimiser step is skipped");
            if (skips_row > c->guard_max_skips) {
                rc = tr_err(TR_EINVAL, "%lld steps in a row had a non-finite update (last: %s); the run stops at step "
                                       "%lld, its last checkpoint is intact (lower optim.lr, or raise guard.max_skips)",
                            (long long)skips_row, nf, k);
                goto cleanup;
            }
        } else {
            skips_row = 0;
            loss_acc += loss;
            n_acc++;
            gn_last = gn;
        }
        step++;
        tokens_seen += ntok_all;
        tok_window += ntok_all;

        int do_eval = ev.n > 0 && ((c->eval_every > 0 && step % c->eval_every == 0) || step == total);
        if (do_eval) {
            double el;
            if ((rc = eval_loss(&m, &ev, c->eval_docs, &b, &el))) goto cleanup;
            last_eval = el;
        }
        if (step % c->log_every == 0 || step == total || do_eval) {
            double now = tr_time(), tps = tok_window / (now - t_window + 1e-9);
            double per = (now - t_start) / (double)(step - start_step);
            char eta[32];
            run_fmt_eta(per * (double)(total - step), eta, sizeof eta);
            cJSON *mj = cJSON_CreateObject();
            run_add_num(mj, "step", (double)step);
            if (n_acc) run_add_num(mj, "loss", loss_acc / n_acc); /* else every step since the last line was skipped */
            run_add_num(mj, "lr", lr);
            run_add_num(mj, "grad_norm", gn_last);
            run_add_num(mj, "tokens", (double)tokens_seen);
            run_add_num(mj, "tok_s", tps);
            run_add_num(mj, "guard/skips", (double)skips);
            if (do_eval) run_add_num(mj, "eval_loss", last_eval);
            if ((rc = run_json_line(mf, mj, "metrics.jsonl"))) goto cleanup;
            fflush(mf);
            if (log) {
                fprintf(log, "%sstep %lld/%lld | loss %.4f", tty ? "\r\033[K" : "", (long long)step, (long long)total,
                        n_acc ? loss_acc / n_acc : NAN);
                if (!isnan(last_eval)) fprintf(log, " | eval %.4f", last_eval);
                fprintf(log, " | lr %.2e | %.1fk tok/s | ETA %s%s", lr, tps / 1000, eta, tty ? "" : "\n");
                if (tty && (do_eval || step == total)) fputc('\n', log);
                fflush(log);
            }
            loss_acc = 0;
            n_acc = 0;
            tok_window = 0;
            t_window = now;
        }
        if ((c->ckpt_every > 0 && step % c->ckpt_every == 0) || step == stop_at) {
            cJSON *s = cJSON_CreateObject();
            cJSON *dj = cJSON_AddObjectToObject(s, "data");
            cJSON_AddNumberToObject(dj, "epoch", (double)smp.epoch);
            cJSON_AddNumberToObject(dj, "cursor", (double)smp.cursor);
            cJSON_AddNumberToObject(s, "tokens", (double)tokens_seen);
            cJSON *gj = cJSON_AddObjectToObject(s, "guard");
            cJSON_AddNumberToObject(gj, "skips", (double)skips);
            cJSON_AddNumberToObject(gj, "skips_row", (double)skips_row);
            rc = ckpt_save(run_dir, step, &m, &opt, s, tok_dir, (int)c->ckpt_keep);
            cJSON_Delete(s);
            if (rc) goto cleanup;
        }
    }
    if (step < total) {
        if (log) fprintf(log, "sft: stopped after step %lld of %lld (train.stop_after); --resume %s goes on\n",
                         (long long)step, (long long)total, run_dir);
        goto cleanup;
    }
    if ((rc = run_save_final(&m, run_dir, tok_dir))) goto cleanup;
    if (log)
        fprintf(log, "sft: done, %lld steps in %.1fs; model in %s/model; peak resident memory %.1f MiB (plan %.1f MiB)\n",
                (long long)(step - start_step), tr_time() - t_start, run_dir, tr_peak_rss() / 1048576.0,
                plan_bytes / 1048576.0);
cleanup:
    if (mf) fclose(mf);
    cJSON_Delete(state);
    free(snap);
    free(smp.perm);
    free(decay);
    bufs_free(&b);
    docs_free(&train);
    docs_free(&ev);
    adamw_free(&opt);
    model_free(&m);
    tok_free(&tok);
    return rc;
}
