/* The decoder: flat parameter layout with HF names, load/save, batched
 * forward that keeps what backward needs, and backward from per-token
 * d(loss)/d(log-prob) and d(loss)/d(entropy). Logits are produced in chunks of
 * rows, so a 150k vocabulary never needs B x T x V floats at once. */
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "thinkrl/core.h"
#include "thinkrl/kernels.h"
#include "thinkrl/model.h"

/* Default for Model.logits_keep: keep all logits between forward and
 * backward when they fit in this many bytes; otherwise backward recomputes
 * them chunk by chunk. */
#define LOGITS_KEEP_BYTES ((size_t)256 << 20)
#define LOGITS_CHUNK_BYTES ((size_t)32 << 20)

struct ModelActs {
    size_t capN;          /* tokens the buffers hold */
    int B, T;             /* shape of the last forward */
    int have_fwd;         /* a forward is saved */
    int no_head;          /* it stopped at the final norm (model_forward_hidden) */
    int logits_full;      /* logits of all N rows are in `z` */
    size_t zrows;         /* rows `z` holds */
    int32_t *pos;         /* (N) */
    float *cs;            /* (N, HS) rope cos | sin */
    float *res;           /* (L+1, N, C) layer inputs, then the final residual */
    float *resmid;        /* (L, N, C) after attention */
    float *ln1, *ln2;     /* (L, N, C) */
    float *rstd1, *rstd2; /* (L, N) */
    float *qkv;           /* (L, N, QKV) rotated */
    float *att;           /* (L, N, NH*HS) */
    float *lse;           /* (L, N*NH) attention log-sum-exp */
    float *gu;            /* (L, N, 2F) */
    float *h;             /* (L, N, F) */
    float *lnf, *rstdf;   /* (N, C), (N) */
    float *hlse, *hent;   /* (N) head log-sum-exp and entropy */
    float *z;             /* logits: (N, V) or (chunk, V) */
    /* backward scratch */
    float *dres, *dln, *dqkv, *datt, *dgu, *dh; /* (N,C) (N,C) (N,QKV) (N,NH*HS) (N,2F) (N,F) */
    float *dlp, *dent;    /* (chunk) */
};

static int qkv_dim(const ModelConfig *c) { return (c->NH + 2 * c->KVH) * c->HS; }

/* ---- layout ---- */

typedef struct {
    Model *m;
    size_t off;
    int fill; /* 0: count only */
} Layout;

static float *lay_take(Layout *l, size_t n) {
    /* NULL views while the parameter buffer does not exist yet (model_load
     * fills the table first, checks the checkpoint, then allocates) */
    float *p = l->fill && l->m->params ? l->m->params + l->off : NULL;
    l->off += n;
    return p;
}

static void table_add(Layout *l, const char *name, size_t off, int64_t r, int64_t c) {
    if (!l->fill) {
        l->m->n_table++;
        return;
    }
    ParamEntry *e = &l->m->table[l->m->n_table++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->off = off;
    e->ndim = c > 0 ? 2 : 1;
    e->shape[0] = r;
    e->shape[1] = c > 0 ? c : 0;
    e->numel = (size_t)r * (size_t)(c > 0 ? c : 1);
}

/* Walks the layout once to count, once to fill the table and the views. The
 * layer block keeps q,k,v rows adjacent and gate,up rows adjacent so each
 * pair is one GEMM, while the table still names every HF tensor. */
static void layout(Model *m, int fill) {
    const ModelConfig *c = &m->cfg;
    Layout l = {m, 0, fill};
    const int C = c->C, F = c->F, Q = c->NH * c->HS, KV = c->KVH * c->HS;
    char nm[96];
    m->n_table = 0;
    size_t o = l.off;
    m->w.embed = lay_take(&l, (size_t)c->V * C);
    table_add(&l, "model.embed_tokens.weight", o, c->V, C);
    for (int i = 0; i < c->L; i++) {
        LayerView *v = fill ? &m->w.layer[i] : NULL;
        LayerView tmp;
        if (!v) v = &tmp;
#define NAME(fmt) (snprintf(nm, sizeof nm, "model.layers.%d." fmt, i), nm)
        o = l.off;
        v->ln1 = lay_take(&l, C);
        table_add(&l, NAME("input_layernorm.weight"), o, C, 0);
        o = l.off;
        v->wqkv = lay_take(&l, (size_t)(Q + 2 * KV) * C);
        table_add(&l, NAME("self_attn.q_proj.weight"), o, Q, C);
        table_add(&l, NAME("self_attn.k_proj.weight"), o + (size_t)Q * C, KV, C);
        table_add(&l, NAME("self_attn.v_proj.weight"), o + (size_t)(Q + KV) * C, KV, C);
        v->bqkv = NULL;
        if (c->qkv_bias) {
            o = l.off;
            v->bqkv = lay_take(&l, (size_t)Q + 2 * KV);
            table_add(&l, NAME("self_attn.q_proj.bias"), o, Q, 0);
            table_add(&l, NAME("self_attn.k_proj.bias"), o + Q, KV, 0);
            table_add(&l, NAME("self_attn.v_proj.bias"), o + Q + KV, KV, 0);
        }
        o = l.off;
        v->wo = lay_take(&l, (size_t)C * Q);
        table_add(&l, NAME("self_attn.o_proj.weight"), o, C, Q);
        v->bo = NULL;
        if (c->o_bias) {
            o = l.off;
            v->bo = lay_take(&l, C);
            table_add(&l, NAME("self_attn.o_proj.bias"), o, C, 0);
        }
        o = l.off;
        v->ln2 = lay_take(&l, C);
        table_add(&l, NAME("post_attention_layernorm.weight"), o, C, 0);
        o = l.off;
        v->wgu = lay_take(&l, (size_t)2 * F * C);
        table_add(&l, NAME("mlp.gate_proj.weight"), o, F, C);
        table_add(&l, NAME("mlp.up_proj.weight"), o + (size_t)F * C, F, C);
        v->bgu = NULL;
        if (c->mlp_bias) {
            o = l.off;
            v->bgu = lay_take(&l, (size_t)2 * F);
            table_add(&l, NAME("mlp.gate_proj.bias"), o, F, 0);
            table_add(&l, NAME("mlp.up_proj.bias"), o + F, F, 0);
        }
        o = l.off;
        v->wd = lay_take(&l, (size_t)C * F);
        table_add(&l, NAME("mlp.down_proj.weight"), o, C, F);
        v->bd = NULL;
        if (c->mlp_bias) {
            o = l.off;
            v->bd = lay_take(&l, C);
            table_add(&l, NAME("mlp.down_proj.bias"), o, C, 0);
        }
#undef NAME
    }
    o = l.off;
    m->w.norm = lay_take(&l, C);
    table_add(&l, "model.norm.weight", o, C, 0);
    if (c->tie) {
        m->w.head = m->w.embed;
    } else {
        o = l.off;
        m->w.head = lay_take(&l, (size_t)c->V * C);
        table_add(&l, "lm_head.weight", o, c->V, C);
    }
    m->n_params = l.off;
}

/* Views of another buffer with the same layout (gradients). */
static void views_rebase(ModelView *dst, const ModelView *src, const float *base, float *nbase, int L) {
#define RB(p) ((p) ? nbase + ((p)-base) : NULL)
    dst->embed = RB(src->embed);
    dst->norm = RB(src->norm);
    dst->head = RB(src->head);
    for (int i = 0; i < L; i++) {
        const LayerView *s = &src->layer[i];
        LayerView *d = &dst->layer[i];
        d->ln1 = RB(s->ln1);
        d->wqkv = RB(s->wqkv);
        d->bqkv = RB(s->bqkv);
        d->wo = RB(s->wo);
        d->bo = RB(s->bo);
        d->ln2 = RB(s->ln2);
        d->wgu = RB(s->wgu);
        d->bgu = RB(s->bgu);
        d->wd = RB(s->wd);
        d->bd = RB(s->bd);
    }
#undef RB
}

static void rope_inv_freq(const ModelConfig *c, float *inv) {
    int h = c->HS / 2;
    for (int i = 0; i < h; i++) {
        /* HF: 1 / theta^(arange(0, d, 2) / d), computed in fp32 */
        float f = (float)(1.0 / pow((double)c->rope_theta, (double)(2 * i) / (double)c->HS));
        if (c->rope_llama3) {
            double lo_wl = c->rope_orig_max / c->rope_low, hi_wl = c->rope_orig_max / c->rope_high;
            double wl = 2.0 * M_PI / f;
            if (wl > lo_wl) f = f / c->rope_factor;
            else if (wl >= hi_wl) {
                double s = (c->rope_orig_max / wl - c->rope_low) / (c->rope_high - c->rope_low);
                f = (float)((1.0 - s) * f / c->rope_factor + s * f);
            }
        }
        inv[i] = f;
    }
}

/* Everything of model_create but the parameter buffer: the table (names,
 * shapes, offsets) is filled, the views are NULL. Small: O(layers). */
static int model_create_table(Model *m, const ModelConfig *c) {
    memset(m, 0, sizeof *m);
    int rc = config_validate(c);
    if (rc) return rc;
    m->cfg = *c;
    layout(m, 0);
    m->table = calloc((size_t)m->n_table, sizeof(ParamEntry));
    m->w.layer = calloc((size_t)c->L, sizeof(LayerView));
    m->g.layer = calloc((size_t)c->L, sizeof(LayerView));
    m->inv_freq = calloc((size_t)c->HS / 2, sizeof(float));
    m->acts = calloc(1, sizeof(ModelActs));
    if (!m->table || !m->w.layer || !m->g.layer || !m->inv_freq || !m->acts) {
        model_free(m);
        return tr_err(TR_ENOMEM, "out of memory");
    }
    layout(m, 1);
    rope_inv_freq(c, m->inv_freq);
    m->logits_keep = LOGITS_KEEP_BYTES;
    return TR_OK;
}

int model_count_params(const ModelConfig *c, size_t *n) {
    Model m;
    int rc = model_create_table(&m, c);
    if (rc) return rc;
    *n = m.n_params;
    model_free(&m);
    return TR_OK;
}

/* The fp32 parameter buffer, then the views into it. A buffer larger than
 * the machine's physical memory is refused up front: asking for it may
 * succeed (overcommit; ASan maps with MAP_NORESERVE) and zeroing it would
 * then bring in the OOM killer instead of an error. On failure frees m. */
static int model_alloc_params(Model *m) {
    size_t n = m->n_params, bytes = n * sizeof(float);
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    double phys = pages > 0 && psz > 0 ? (double)pages * (double)psz : 0;
    if (phys > 0 && (double)bytes > phys) {
        model_free(m);
        return tr_err(TR_ENOMEM,
                      "a model of %zu parameters needs %.1f GiB for its fp32 weights; this machine has %.1f GiB",
                      n, bytes / 1073741824.0, phys / 1073741824.0);
    }
    m->params = tr_calloc(bytes);
    if (!m->params) {
        model_free(m);
        return tr_err(TR_ENOMEM, "out of memory for a model of %zu parameters (%.1f GiB)", n,
                      bytes / 1073741824.0);
    }
    layout(m, 1);
    return TR_OK;
}

int model_create(Model *m, const ModelConfig *c) {
    int rc = model_create_table(m, c);
    return rc ? rc : model_alloc_params(m);
}

int model_alloc_grads(Model *m) {
    if (m->grads) return TR_OK;
    m->grads = tr_calloc(m->n_params * sizeof(float));
    if (!m->grads) return TR_ENOMEM;
    views_rebase(&m->g, &m->w, m->params, m->grads, m->cfg.L);
    return TR_OK;
}

void model_zero_grads(Model *m) {
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
}

static void acts_free(ModelActs *a) {
    if (!a) return;
    void *ps[] = {a->pos, a->cs, a->res, a->resmid, a->ln1, a->ln2, a->rstd1, a->rstd2, a->qkv,
                  a->att, a->lse, a->gu, a->h, a->lnf, a->rstdf, a->hlse, a->hent, a->z,
                  a->dres, a->dln, a->dqkv, a->datt, a->dgu, a->dh, a->dlp, a->dent};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) tr_free(ps[i]);
    memset(a, 0, sizeof *a);
}

void model_free(Model *m) {
    if (!m) return;
    tr_free(m->params);
    tr_free(m->grads);
    free(m->table);
    free(m->w.layer);
    free(m->g.layer);
    free(m->inv_freq);
    acts_free(m->acts);
    free(m->acts);
    memset(m, 0, sizeof *m);
}

const ParamEntry *model_find(const Model *m, const char *name) {
    for (int i = 0; i < m->n_table; i++)
        if (!strcmp(m->table[i].name, name)) return &m->table[i];
    return NULL;
}

void model_init_random(Model *m, uint64_t seed, float std) {
    Rng r;
    rng_seed(&r, seed);
    const ModelConfig *c = &m->cfg;
    for (int i = 0; i < m->n_table; i++) {
        ParamEntry *e = &m->table[i];
        float *p = m->params + e->off;
        int is_norm = strstr(e->name, "norm") != NULL;
        int is_bias = strstr(e->name, ".bias") != NULL;
        for (size_t k = 0; k < e->numel; k++)
            p[k] = is_norm ? 1.0f : is_bias ? 0.0f : std * rng_normal(&r);
    }
    (void)c;
}

/* ---- load / save ---- */

static int ignorable_extra(const Model *m, const char *name) {
    if (m->cfg.tie && !strcmp(name, "lm_head.weight")) return 1;
    size_t n = strlen(name);
    const char *suf = "rotary_emb.inv_freq";
    return n >= strlen(suf) && !strcmp(name + n - strlen(suf), suf);
}

int model_load(Model *m, const char *dir) {
    char path[4096];
    ModelConfig c;
    struct stat sb;
    memset(m, 0, sizeof *m); /* on failure *m is left empty (model_free is a no-op) */
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return tr_err(TR_EIO, "%s: not a model directory", dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = config_load(&c, path);
    if (rc) return rc;
    /* The checkpoint is checked against the table before the parameter
     * buffer exists, so a config.json with absurd sizes next to a small
     * checkpoint fails on the first mismatching tensor without allocating
     * what the config asks for; the buffer then is no larger than what the
     * safetensors files hold. */
    if ((rc = model_create_table(m, &c))) return tr_err_ctx(rc, "%s", path);
    StFile f;
    if ((rc = st_open(&f, dir))) {
        model_free(m);
        return rc;
    }
    for (int i = 0; i < m->n_table && !rc; i++) {
        const ParamEntry *e = &m->table[i];
        const StTensor *t = st_find(&f, e->name);
        if (!t) {
            rc = tr_err(TR_EFORMAT, "%s: tensor '%s' missing (config.json asks for it)", dir, e->name);
            break;
        }
        int same = t->ndim == e->ndim && t->shape[0] == e->shape[0] &&
                   (e->ndim == 1 || t->shape[1] == e->shape[1]);
        if (!same) {
            char got[128] = "", *p = got;
            for (int d = 0; d < t->ndim && p < got + sizeof got - 24; d++)
                p += sprintf(p, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
            if (e->ndim == 2)
                rc = tr_err(TR_EFORMAT, "%s: tensor '%s': shape [%s] disagrees with config.json ([%lld, %lld])",
                            dir, e->name, got, (long long)e->shape[0], (long long)e->shape[1]);
            else
                rc = tr_err(TR_EFORMAT, "%s: tensor '%s': shape [%s] disagrees with config.json ([%lld])",
                            dir, e->name, got, (long long)e->shape[0]);
            break;
        }
    }
    for (int i = 0; i < f.n_tensors && !rc; i++) {
        const char *nm = f.tensors[i].name;
        if (!model_find(m, nm) && !ignorable_extra(m, nm))
            rc = tr_err(TR_EFORMAT, "%s: tensor '%s' is not part of the model config.json describes", dir, nm);
    }
    if (!rc && (rc = model_alloc_params(m))) rc = tr_err_ctx(rc, "%s", dir); /* frees m */
    for (int i = 0; i < m->n_table && !rc; i++) {
        const ParamEntry *e = &m->table[i];
        rc = st_read_f32(&f, st_find(&f, e->name), m->params + e->off, e->numel);
    }
    st_close(&f);
    if (rc) model_free(m);
    return rc;
}

int model_save(const Model *m, const char *dir, StDtype dtype) {
    char path[4096];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = config_save(&m->cfg, path);
    if (rc) return rc;
    StWrite *w = calloc((size_t)m->n_table, sizeof(StWrite));
    if (!w) return tr_err(TR_ENOMEM, "out of memory");
    for (int i = 0; i < m->n_table; i++) {
        const ParamEntry *e = &m->table[i];
        w[i].name = e->name;
        w[i].dtype = dtype;
        w[i].data = m->params + e->off;
        w[i].ndim = e->ndim;
        w[i].shape[0] = e->shape[0];
        w[i].shape[1] = e->shape[1];
    }
    const char *meta[] = {"format", "pt", "producer", "thinkrl"};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rc = st_write(path, w, m->n_table, meta, 2);
    free(w);
    return rc;
}

/* ---- activations ---- */

/* Every activation buffer and its element count for N tokens, zrows rows
 * of logits (one list: acts_reserve allocates it, model_acts_bytes sums it). */
#define ACTS_LIST(X)                                                                                             \
    X(pos, N) X(cs, N * c->HS) X(res, (L + 1) * N * C) X(resmid, L * N * C) X(ln1, L * N * C) X(ln2, L * N * C) \
    X(rstd1, L * N) X(rstd2, L * N) X(qkv, L * N * Q) X(att, L * N * A) X(lse, L * N * c->NH)                   \
    X(gu, L * N * 2 * F) X(h, L * N * F) X(lnf, N * C) X(rstdf, N) X(hlse, N) X(hent, N) X(z, zrows * V)        \
    X(dres, N * C) X(dln, N * C) X(dqkv, N * Q) X(datt, N * A) X(dgu, N * 2 * F) X(dh, N * F) X(dlp, N)       \
    X(dent, N)

/* Rows of logits held for N tokens: all of them when they fit in keep
 * bytes, else one chunk (backward recomputes them). */
static size_t acts_zrows(size_t N, size_t V, size_t keep, int *full) {
    *full = N * V * sizeof(float) <= keep;
    size_t chunk = LOGITS_CHUNK_BYTES / (V * sizeof(float));
    if (chunk < 16) chunk = 16;
    return *full ? N : (chunk < N ? chunk : N);
}

size_t model_acts_bytes(const ModelConfig *c, size_t N) {
    size_t L = c->L, C = c->C, F = c->F, Q = qkv_dim(c), A = (size_t)c->NH * c->HS, V = c->V;
    int full;
    size_t zrows = acts_zrows(N, V, LOGITS_KEEP_BYTES, &full), n = 0;
#define SUM_(p, k) n += (k);
    ACTS_LIST(SUM_)
#undef SUM_
    return n * 4; /* every buffer holds 4-byte elements */
}

static int acts_reserve(Model *m, size_t N) {
    ModelActs *a = m->acts;
    const ModelConfig *c = &m->cfg;
    size_t L = c->L, C = c->C, F = c->F, Q = qkv_dim(c), A = (size_t)c->NH * c->HS, V = c->V;
    int keep;
    size_t zrows = acts_zrows(N, V, m->logits_keep, &keep);
    if (N <= a->capN && keep == a->logits_full) return TR_OK;
    acts_free(a);
    a->zrows = zrows;
    a->logits_full = keep;
    int bad = 0;
#define A_(p, k) bad |= (a->p = tr_alloc((k) * sizeof(*a->p))) == NULL;
    ACTS_LIST(A_)
#undef A_
    if (bad) {
        acts_free(a);
        return tr_err(TR_ENOMEM, "out of memory for activations of %zu tokens", N);
    }
    a->capN = N;
    return TR_OK;
}

/* ---- forward ---- */

static int check_batch(const Model *m, const ModelBatch *b, const int32_t *targets) {
    if (b->B < 1 || b->T < 1) return tr_err(TR_EINVAL, "batch: B and T must be positive (got %d, %d)", b->B, b->T);
    size_t N = (size_t)b->B * b->T;
    for (size_t n = 0; n < N; n++) {
        if (b->seg && b->seg[n] < 0) continue;
        if (b->ids[n] < 0 || b->ids[n] >= m->cfg.V)
            return tr_err(TR_EINVAL, "batch: token id %d at row %zu position %zu is outside the vocabulary (%d)",
                          b->ids[n], n / b->T, n % b->T, m->cfg.V);
        if (b->pos && (b->pos[n] < 0 || b->pos[n] >= m->cfg.max_pos))
            return tr_err(TR_EINVAL, "batch: position %d at row %zu is outside [0, %d)", b->pos[n],
                          n / b->T, m->cfg.max_pos);
        if (targets && targets[n] >= m->cfg.V)
            return tr_err(TR_EINVAL, "batch: target id %d at row %zu is outside the vocabulary (%d)",
                          targets[n], n / b->T, m->cfg.V);
    }
    if (!b->pos && b->T > m->cfg.max_pos)
        return tr_err(TR_EINVAL, "batch: %d tokens exceed max_position_embeddings %d", b->T, m->cfg.max_pos);
    return TR_OK;
}

static void head_chunk(Model *m, size_t r0, size_t R, float *z) {
    const ModelConfig *c = &m->cfg;
    matmul_forward(z, m->acts->lnf + r0 * c->C, m->w.head, NULL, (int)R, c->C, c->V, 0);
}

static int forward_impl(Model *m, const ModelBatch *b, const int32_t *targets, float *logp,
                        float *entropy, float *logits_out, int head) {
    int rc = check_batch(m, b, targets);
    if (rc) return rc;
    const ModelConfig *c = &m->cfg;
    const size_t N = (size_t)b->B * b->T;
    if ((rc = acts_reserve(m, N))) return rc;
    ModelActs *a = m->acts;
    const int C = c->C, F = c->F, Q = qkv_dim(c), A = c->NH * c->HS;
    a->B = b->B;
    a->T = b->T;
    for (size_t n = 0; n < N; n++) a->pos[n] = b->pos ? b->pos[n] : (int32_t)(n % b->T);
    if (b->seg)
        for (size_t n = 0; n < N; n++)
            if (b->seg[n] < 0) a->pos[n] = 0;
    rope_tables(a->cs, a->pos, (int)N, m->inv_freq, c->HS);
    AttnShape as = {b->B, b->T, c->NH, c->KVH, c->HS, b->seg, b->mask};

    float *x0 = a->res;
#pragma omp parallel for schedule(static)
    for (size_t n = 0; n < N; n++) {
        int id = (b->seg && b->seg[n] < 0) ? 0 : b->ids[n];
        if (id < 0 || id >= c->V) id = 0;
        memcpy(x0 + n * C, m->w.embed + (size_t)id * C, (size_t)C * sizeof(float));
    }
    for (int l = 0; l < c->L; l++) {
        const LayerView *w = &m->w.layer[l];
        float *x = a->res + (size_t)l * N * C, *xn = a->res + (size_t)(l + 1) * N * C;
        float *ln1 = a->ln1 + (size_t)l * N * C, *ln2 = a->ln2 + (size_t)l * N * C;
        float *qkv = a->qkv + (size_t)l * N * Q, *att = a->att + (size_t)l * N * A;
        float *mid = a->resmid + (size_t)l * N * C;
        float *gu = a->gu + (size_t)l * N * 2 * F, *h = a->h + (size_t)l * N * F;
        rmsnorm_forward(ln1, a->rstd1 + (size_t)l * N, x, w->ln1, (int)N, C, c->eps);
        matmul_forward(qkv, ln1, w->wqkv, w->bqkv, (int)N, C, Q, 0);
        rope_forward(qkv, (int)N, Q, 0, c->NH, c->HS, a->cs);
        rope_forward(qkv, (int)N, Q, A, c->KVH, c->HS, a->cs);
        attention_forward(att, a->lse + (size_t)l * N * c->NH, qkv, &as);
        memcpy(mid, x, N * C * sizeof(float));
        matmul_forward(mid, att, w->wo, w->bo, (int)N, A, C, 1);
        rmsnorm_forward(ln2, a->rstd2 + (size_t)l * N, mid, w->ln2, (int)N, C, c->eps);
        matmul_forward(gu, ln2, w->wgu, w->bgu, (int)N, C, 2 * F, 0);
        swiglu_forward(h, gu, (int)N, F);
        memcpy(xn, mid, N * C * sizeof(float));
        matmul_forward(xn, h, w->wd, w->bd, (int)N, F, C, 1);
    }
    rmsnorm_forward(a->lnf, a->rstdf, a->res + (size_t)c->L * N * C, m->w.norm, (int)N, C, c->eps);
    a->no_head = !head;
    if (!head) {
        a->have_fwd = 1;
        return TR_OK;
    }

    for (size_t r0 = 0; r0 < N; r0 += a->zrows) {
        size_t R = N - r0 < a->zrows ? N - r0 : a->zrows;
        float *z = logits_out ? logits_out + r0 * c->V : a->logits_full ? a->z + r0 * c->V : a->z;
        head_chunk(m, r0, R, z);
        logits_stats(z, (int)R, c->V, targets ? targets + r0 : NULL, a->hlse + r0,
                     logp ? logp + r0 : NULL, a->hent + r0);
    }
    if (b->seg)
        for (size_t n = 0; n < N; n++)
            if (b->seg[n] < 0) a->hent[n] = 0.0f;
    if (entropy) memcpy(entropy, a->hent, N * sizeof(float));
    a->have_fwd = logits_out == NULL; /* model_logits keeps no logits for backward */
    return TR_OK;
}

int model_forward(Model *m, const ModelBatch *b, const int32_t *targets, float *logp, float *entropy) {
    return forward_impl(m, b, targets, logp, entropy, NULL, 1);
}

int model_forward_hidden(Model *m, const ModelBatch *b) {
    return forward_impl(m, b, NULL, NULL, NULL, NULL, 0);
}

const float *model_hidden(const Model *m) {
    return m->acts && m->acts->have_fwd ? m->acts->lnf : NULL;
}

int model_logits(Model *m, const ModelBatch *b, float *logits) {
    return forward_impl(m, b, NULL, NULL, NULL, logits, 1);
}

/* ---- backward ---- */

int model_backward(Model *m, const ModelBatch *b, const int32_t *targets, const float *dlogp,
                   const float *dent) {
    return model_backward_hidden(m, b, targets, dlogp, dent, NULL);
}

int model_backward_hidden(Model *m, const ModelBatch *b, const int32_t *targets, const float *dlogp,
                          const float *dent, const float *dhidden) {
    ModelActs *a = m->acts;
    if (!m->grads) return tr_err(TR_EINVAL, "model_backward: gradients not allocated");
    if (!a->have_fwd || a->B != b->B || a->T != b->T)
        return tr_err(TR_EINVAL, "model_backward: no matching forward for this batch");
    const ModelConfig *c = &m->cfg;
    const size_t N = (size_t)b->B * b->T;
    const int C = c->C, F = c->F, Q = qkv_dim(c), A = c->NH * c->HS, V = c->V;
    AttnShape as = {b->B, b->T, c->NH, c->KVH, c->HS, b->seg, b->mask};

    if (a->no_head && (dlogp || dent))
        return tr_err(TR_EINVAL, "model_backward: the forward stopped at the hidden states (no log-probs to differentiate)");
    if (!a->no_head && (dlogp || dent || !dhidden)) {
        /* LM head, chunk by chunk: dz -> d(lnf) and d(head). */
        for (size_t r0 = 0; r0 < N; r0 += a->zrows) {
            size_t R = N - r0 < a->zrows ? N - r0 : a->zrows;
            float *z = a->logits_full ? a->z + r0 * V : a->z;
            if (!a->logits_full) head_chunk(m, r0, R, z);
            float *de = NULL;
            if (dent) {
                de = a->dent;
                for (size_t r = 0; r < R; r++)
                    de[r] = (b->seg && b->seg[r0 + r] < 0) ? 0.0f : dent[r0 + r];
            }
            logits_backward(z, (int)R, V, targets ? targets + r0 : NULL, a->hlse + r0, a->hent + r0,
                            dlogp ? dlogp + r0 : NULL, de);
            matmul_backward(a->dln + r0 * C, m->g.head, NULL, z, a->lnf + r0 * C, m->w.head, (int)R, C,
                            V, 0);
        }
        a->have_fwd = a->logits_full ? 0 : 1; /* kept logits were overwritten by dz */
    } else {
        memset(a->dln, 0, N * C * sizeof(float));
    }
    if (dhidden)
        for (size_t i = 0; i < N * C; i++) a->dln[i] += dhidden[i];
    rmsnorm_backward(a->dres, m->g.norm, a->dln, a->res + (size_t)c->L * N * C, m->w.norm, a->rstdf,
                     (int)N, C, 0);
    for (int l = c->L - 1; l >= 0; l--) {
        const LayerView *w = &m->w.layer[l];
        LayerView *g = &m->g.layer[l];
        float *x = a->res + (size_t)l * N * C;
        float *ln1 = a->ln1 + (size_t)l * N * C, *ln2 = a->ln2 + (size_t)l * N * C;
        float *qkv = a->qkv + (size_t)l * N * Q, *att = a->att + (size_t)l * N * A;
        float *mid = a->resmid + (size_t)l * N * C;
        float *gu = a->gu + (size_t)l * N * 2 * F, *h = a->h + (size_t)l * N * F;
        /* dres holds d(res[l+1]); the residual passes it to mid unchanged. */
        matmul_backward(a->dh, g->wd, g->bd, a->dres, h, w->wd, (int)N, F, C, 0);
        swiglu_backward(a->dgu, a->dh, gu, (int)N, F);
        matmul_backward(a->dln, g->wgu, g->bgu, a->dgu, ln2, w->wgu, (int)N, C, 2 * F, 0);
        rmsnorm_backward(a->dres, g->ln2, a->dln, mid, w->ln2, a->rstd2 + (size_t)l * N, (int)N, C, 1);
        matmul_backward(a->datt, g->wo, g->bo, a->dres, att, w->wo, (int)N, A, C, 0);
        attention_backward(a->dqkv, a->datt, qkv, att, a->lse + (size_t)l * N * c->NH, &as);
        rope_backward(a->dqkv, (int)N, Q, 0, c->NH, c->HS, a->cs);
        rope_backward(a->dqkv, (int)N, Q, A, c->KVH, c->HS, a->cs);
        matmul_backward(a->dln, g->wqkv, g->bqkv, a->dqkv, ln1, w->wqkv, (int)N, C, Q, 0);
        rmsnorm_backward(a->dres, g->ln1, a->dln, x, w->ln1, a->rstd1 + (size_t)l * N, (int)N, C, 1);
    }
    /* Embedding rows: split by columns so threads never share a row slice. */
    float *ge = m->g.embed;
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += 16) {
        int c1 = c0 + 16 < C ? c0 + 16 : C;
        for (size_t n = 0; n < N; n++) {
            if (b->seg && b->seg[n] < 0) continue;
            float *dst = ge + (size_t)b->ids[n] * C;
            const float *src = a->dres + n * C;
            for (int i = c0; i < c1; i++) dst[i] += src[i];
        }
    }
    return TR_OK;
}

int model_ce(Model *m, const ModelBatch *b, const int32_t *targets, float *loss, int backward) {
    size_t N = (size_t)b->B * b->T;
    float *lp = tr_alloc(N * sizeof(float));
    if (!lp) return TR_ENOMEM;
    int rc = model_forward(m, b, targets, lp, NULL);
    if (rc) {
        tr_free(lp);
        return rc;
    }
    double s = 0;
    size_t cnt = 0;
    for (size_t n = 0; n < N; n++)
        if (targets[n] >= 0) {
            s += lp[n];
            cnt++;
        }
    if (cnt == 0) {
        tr_free(lp);
        return tr_err(TR_EINVAL, "model_ce: batch has no target tokens");
    }
    *loss = (float)(-s / (double)cnt);
    if (backward) {
        for (size_t n = 0; n < N; n++) lp[n] = targets[n] >= 0 ? -1.0f / (float)cnt : 0.0f;
        rc = model_backward(m, b, targets, lp, NULL);
    }
    tr_free(lp);
    return rc;
}

double model_flops_fwd(const ModelConfig *c, double ntok, double ctx) {
    double C = c->C, F = c->F, Q = (double)c->NH * c->HS, KV = (double)c->KVH * c->HS;
    double per_tok = c->L * 2.0 * (C * (Q + 2 * KV) + Q * C + 3.0 * C * F) + 2.0 * C * c->V;
    /* causal attention: scores and weighted sum, about ctx/2 keys per query */
    double attn = c->L * 2.0 * 2.0 * Q * (ctx / 2.0);
    return ntok * (per_tok + attn);
}
