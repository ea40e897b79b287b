/* Generation tests: cached decode against the full forward (logits and
 * log-probs, mixed-length and left-padded batches, chunked prefill, shared
 * prefills), greedy determinism across threads and batch compositions,
 * the sampler's distributions against closed-form probabilities
 * (chi-square), every stop condition, and continuous batching order.
 * Reference values come from model_logits / model_forward (the training
 * path, no cache) and from probabilities computed here in double. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "thinkrl/core.h"
#include "thinkrl/generate.h"
#include "thinkrl/model.h"

/* Logits and log-probs of the cached path must match the training forward
 * to 1e-5 (abs + rel). */
#define PAR_ATOL 1e-5
#define PAR_RTOL 1e-5

/* ---- helpers ---- */

/* Random weights with non-trivial norms and biases, so every parameter
 * shapes the logits. */
static void init_model(Model *m, const ModelConfig *c, uint64_t seed, float std) {
    int rc = model_create(m, c);
    TR_ASSERT(rc == TR_OK);
    model_init_random(m, seed, std);
    Rng r;
    rng_seed(&r, seed ^ 0x5151);
    for (int i = 0; i < m->n_table; i++) {
        ParamEntry *e = &m->table[i];
        float *p = m->params + e->off;
        if (strstr(e->name, "norm"))
            for (size_t k = 0; k < e->numel; k++) p[k] = 1.0f + 0.2f * rng_normal(&r);
        else if (strstr(e->name, ".bias"))
            for (size_t k = 0; k < e->numel; k++) p[k] = 0.1f * rng_normal(&r);
    }
}

/* A small GQA config: 4 query heads over 2 kv heads, biases on q/k/v, an
 * untied head. */
static ModelConfig tiny_config(void) {
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.arch = ARCH_QWEN2;
    c.C = 64;
    c.F = 96;
    c.L = 2;
    c.NH = 4;
    c.KVH = 2;
    c.HS = 16;
    c.V = 97;
    c.max_pos = 96;
    c.eps = 1e-6f;
    c.rope_theta = 10000.0f;
    c.tie = 0;
    c.qkv_bias = 1;
    c.bos_id = -1;
    c.n_eos = 0;
    return c;
}

static int32_t *rand_ids(Rng *r, int n, int V) {
    int32_t *p = malloc((size_t)n * sizeof *p);
    for (int i = 0; i < n; i++) p[i] = (int32_t)(rng_u64(r) % (uint64_t)V);
    return p;
}

/* Full logits (T, V) of one unpadded sequence through model_logits. */
static float *full_logits(Model *m, const int32_t *ids, int T) {
    float *z = malloc((size_t)T * m->cfg.V * sizeof(float));
    ModelBatch b = {1, T, ids, NULL, NULL, NULL};
    int rc = model_logits(m, &b, z);
    TR_ASSERT(rc == TR_OK);
    return z;
}

/* worst differences seen: [0] logits, [1] policy log-probs */
static double worst_par[2], worst_par_abs[2];
static int par_kind = 0;
static void note_par(const char *what, const float *got, const float *ref, size_t n) {
    double ma = 0;
    double e = tu_maxerr(got, ref, n, PAR_ATOL, PAR_RTOL, &ma);
    if (e > worst_par[par_kind]) worst_par[par_kind] = e;
    if (ma > worst_par_abs[par_kind]) worst_par_abs[par_kind] = ma;
    CHECK(e <= 1.0, "%s: max abs diff %.3g (err ratio %.3g)", what, ma, e);
    /* PAR_VERBOSE=1: list every comparison past a fifth of the tolerance */
    if (getenv("PAR_VERBOSE") && e > 0.2) printf("%s: max|diff| %.3g, err ratio %.3g\n", what, ma, e);
}

/* ---- 1. cached decode = full forward ---- */

/* Prefill P tokens, then decode the rest one at a time; every step's logits
 * against model_logits of the whole sequence. */
static void test_decode_single(const ModelConfig *c, const char *name, uint64_t seed) {
    Model m;
    init_model(&m, c, seed, 0.08f);
    Rng r;
    rng_seed(&r, seed + 1);
    const int T = 90, P = 9, V = c->V; /* past 64 keys: the blocked score loop */
    int32_t *ids = rand_ids(&r, T, V);
    float *ref = full_logits(&m, ids, T);
    KVCache kv;
    CHECK(kvcache_create(&kv, c, 3, T) == TR_OK, "kvcache_create: %s", tr_errmsg());
    float *z = malloc((size_t)V * sizeof(float));
    int slot = 1;
    const int32_t *pp = ids;
    int pl = P;
    CHECK(decode_prefill(&m, &kv, 1, &slot, &pp, &pl, z) == TR_OK, "prefill: %s", tr_errmsg());
    char what[128];
    snprintf(what, sizeof what, "%s: prefill logits", name);
    note_par(what, z, ref + (size_t)(P - 1) * V, V);
    for (int t = P; t < T; t++) {
        CHECK(decode_step(&m, &kv, 1, &slot, &ids[t], z) == TR_OK, "step: %s", tr_errmsg());
        snprintf(what, sizeof what, "%s: decode logits at %d", name, t);
        note_par(what, z, ref + (size_t)t * V, V);
    }
    CHECK(kv.len[slot] == T && kv.len[0] == 0, "slot lengths %d %d", kv.len[slot], kv.len[0]);
    /* a full slot refuses one more token */
    CHECK(decode_step(&m, &kv, 1, &slot, &ids[0], z) != TR_OK, "step into a full slot accepted");
    free(z);
    free(ref);
    free(ids);
    kvcache_free(&kv);
    model_free(&m);
}

/* Several prompts of different lengths prefilled in one pass (and in small
 * chunks that split prompts across passes), then batched decode steps over
 * all of them; the reference is one left-padded model_logits batch. */
static void test_decode_batch(int chunk) {
    ModelConfig c = tiny_config();
    Model m;
    init_model(&m, &c, 11, 0.08f);
    const int n = 4, V = c.V, steps = 12;
    int plen[4] = {5, 13, 1, 8};
    Rng r;
    rng_seed(&r, 77);
    int Tmax = 0;
    int32_t *seq[4];
    for (int i = 0; i < n; i++) {
        seq[i] = rand_ids(&r, plen[i] + steps + 1, V); /* one spare token for the subset step */
        if (plen[i] + steps > Tmax) Tmax = plen[i] + steps;
    }
    /* reference: left padding, positions from 0 at each row's first token */
    int32_t *ids = calloc((size_t)n * Tmax, 4), *pos = calloc((size_t)n * Tmax, 4), *sg = calloc((size_t)n * Tmax, 4);
    for (int i = 0; i < n; i++) {
        int L = plen[i] + steps, pad = Tmax - L;
        for (int t = 0; t < Tmax; t++) {
            size_t o = (size_t)i * Tmax + t;
            sg[o] = t < pad ? -1 : 0;
            ids[o] = t < pad ? 0 : seq[i][t - pad];
            pos[o] = t < pad ? 0 : t - pad;
        }
    }
    float *ref = malloc((size_t)n * Tmax * V * sizeof(float));
    ModelBatch b = {n, Tmax, ids, pos, sg, NULL};
    CHECK(model_logits(&m, &b, ref) == TR_OK, "model_logits: %s", tr_errmsg());

    KVCache kv;
    CHECK(kvcache_create(&kv, &c, 6, Tmax + 1) == TR_OK, "kvcache_create: %s", tr_errmsg());
    if (chunk > 0) kv.chunk = chunk;
    int slots[4] = {5, 0, 3, 2};
    const int32_t *pp[4];
    for (int i = 0; i < n; i++) pp[i] = seq[i];
    float *z = malloc((size_t)n * V * sizeof(float));
    CHECK(decode_prefill(&m, &kv, n, slots, pp, plen, z) == TR_OK, "prefill: %s", tr_errmsg());
    char what[128];
    for (int i = 0; i < n; i++) {
        int pad = Tmax - (plen[i] + steps);
        snprintf(what, sizeof what, "batch (chunk %d): prefill row %d", chunk, i);
        note_par(what, z + (size_t)i * V, ref + ((size_t)i * Tmax + pad + plen[i] - 1) * V, V);
    }
    int32_t tok[4];
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < n; i++) tok[i] = seq[i][plen[i] + s];
        CHECK(decode_step(&m, &kv, n, slots, tok, z) == TR_OK, "step: %s", tr_errmsg());
        for (int i = 0; i < n; i++) {
            int pad = Tmax - (plen[i] + steps);
            snprintf(what, sizeof what, "batch (chunk %d): step %d row %d", chunk, s, i);
            note_par(what, z + (size_t)i * V, ref + ((size_t)i * Tmax + pad + plen[i] + s) * V, V);
        }
    }
    /* a decode step over a subset, in another order, continues correctly:
     * one more token for rows 2 and 0 only, against a full forward of those
     * sequences */
    {
        int rows[2] = {2, 0}, sub[2] = {slots[2], slots[0]};
        for (int j = 0; j < 2; j++) tok[j] = seq[rows[j]][plen[rows[j]] + steps];
        CHECK(decode_step(&m, &kv, 2, sub, tok, z) == TR_OK, "subset step: %s", tr_errmsg());
        for (int j = 0; j < 2; j++) {
            int L = plen[rows[j]] + steps + 1;
            float *full = full_logits(&m, seq[rows[j]], L);
            snprintf(what, sizeof what, "batch (chunk %d): subset step row %d", chunk, rows[j]);
            note_par(what, z + (size_t)j * V, full + (size_t)(L - 1) * V, V);
            free(full);
        }
        CHECK(kv.len[slots[1]] == plen[1] + steps && kv.len[slots[2]] == plen[2] + steps + 1,
              "lengths after the subset step");
    }
    for (int i = 0; i < n; i++) free(seq[i]);
    free(ids);
    free(pos);
    free(sg);
    free(ref);
    free(z);
    kvcache_free(&kv);
    model_free(&m);
}

/* Packed weights (kvcache_pack): NSEQ sequences decoded together (enough
 * rows for the packed products, an odd count so that row tiles have
 * tails) match full forwards of each; the result is the same bit for bit
 * on 1, 2 and 3 threads; a cache packed for another model ignores its
 * pack. */
#define NSEQ 21
static void decode_packed(Model *run, const Model *first, const Model *pack, int threads, int32_t *const *seq,
                       const int *plen, int steps, float *out) {
    const int n = NSEQ, V = run->cfg.V;
    int nt = tr_threads();
    if (threads) tr_set_threads(threads);
    KVCache kv;
    CHECK(kvcache_create(&kv, &run->cfg, n, 24) == TR_OK, "kvcache_create: %s", tr_errmsg());
    if (first) CHECK(kvcache_pack(&kv, first) == TR_OK, "kvcache_pack: %s", tr_errmsg());
    if (pack) CHECK(kvcache_pack(&kv, pack) == TR_OK, "kvcache_pack: %s", tr_errmsg());
    int slots[NSEQ];
    const int32_t *pp[NSEQ];
    for (int i = 0; i < n; i++) {
        slots[i] = n - 1 - i;
        pp[i] = seq[i];
    }
    CHECK(decode_prefill(run, &kv, n, slots, pp, plen, out) == TR_OK, "prefill: %s", tr_errmsg());
    int32_t tok[NSEQ];
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < n; i++) tok[i] = seq[i][plen[i] + s];
        CHECK(decode_step(run, &kv, n, slots, tok, out + (size_t)(s + 1) * n * V) == TR_OK, "step: %s",
              tr_errmsg());
    }
    kvcache_free(&kv);
    tr_set_threads(nt);
}

static void test_decode_packed(void) {
    ModelConfig c = tiny_config();
    Model m, m2;
    init_model(&m, &c, 21, 0.08f);
    init_model(&m2, &c, 22, 0.08f);
    const int n = NSEQ, V = c.V, steps = 6;
    int plen[NSEQ];
    int32_t *seq[NSEQ];
    Rng r;
    rng_seed(&r, 31);
    for (int i = 0; i < n; i++) {
        plen[i] = 1 + (int)(rng_u64(&r) % 9);
        seq[i] = rand_ids(&r, plen[i] + steps, V);
    }
    size_t per = (size_t)(steps + 1) * n * V;
    float *a = malloc(per * sizeof(float)), *b = malloc(per * sizeof(float)), *o = malloc(per * sizeof(float));
    decode_packed(&m, NULL, &m, 2, seq, plen, steps, a);
    decode_packed(&m, NULL, &m, 1, seq, plen, steps, b);
    CHECK(memcmp(a, b, per * sizeof(float)) == 0, "packed decode: 1 thread and 2 differ");
    decode_packed(&m, NULL, &m, 3, seq, plen, steps, b);
    CHECK(memcmp(a, b, per * sizeof(float)) == 0, "packed decode: 3 threads and 2 differ");
    decode_packed(&m2, NULL, &m, 2, seq, plen, steps, o); /* packed for m, run with m2 */
    char what[96];
    for (int i = 0; i < n; i++) {
        float *f1 = full_logits(&m, seq[i], plen[i] + steps), *f2 = full_logits(&m2, seq[i], plen[i] + steps);
        for (int s = 0; s <= steps; s++) {
            size_t row = ((size_t)s * n + i) * V, t = (size_t)(plen[i] - 1 + s) * V;
            snprintf(what, sizeof what, "packed decode: row %d step %d", i, s);
            note_par(what, a + row, f1 + t, V);
            snprintf(what, sizeof what, "pack of another model: row %d step %d", i, s);
            note_par(what, o + row, f2 + t, V);
        }
        free(f1);
        free(f2);
    }
    /* a cache packed for a small model, then re-packed for a wider one of
     * the same cache shape (more channels, ffn width and vocabulary) */
    ModelConfig c3 = c;
    c3.C = 96;
    c3.F = 160;
    c3.V = 131;
    Model m3;
    init_model(&m3, &c3, 23, 0.08f);
    float *w = malloc((size_t)(steps + 1) * n * c3.V * sizeof(float));
    decode_packed(&m3, &m, &m3, 2, seq, plen, steps, w);
    for (int i = 0; i < n; i++) {
        float *f3 = full_logits(&m3, seq[i], plen[i] + steps);
        for (int s = 0; s <= steps; s++) {
            snprintf(what, sizeof what, "re-packed for a wider model: row %d step %d", i, s);
            note_par(what, w + ((size_t)s * n + i) * c3.V, f3 + (size_t)(plen[i] - 1 + s) * c3.V, c3.V);
        }
        free(f3);
        free(seq[i]);
    }
    free(w);
    free(a);
    free(b);
    free(o);
    model_free(&m);
    model_free(&m2);
    model_free(&m3);
}

#undef NSEQ

/* One prompt prefilled once and copied to three slots; each copy then
 * decodes its own continuation. */
static void test_decode_copy(void) {
    ModelConfig c = tiny_config();
    Model m;
    init_model(&m, &c, 5, 0.08f);
    const int P = 11, steps = 7, V = c.V, n = 3;
    Rng r;
    rng_seed(&r, 9);
    int32_t *prompt = rand_ids(&r, P, V);
    int32_t *seq[3];
    float *ref[3];
    for (int i = 0; i < n; i++) {
        seq[i] = malloc((size_t)(P + steps) * 4);
        memcpy(seq[i], prompt, (size_t)P * 4);
        for (int t = 0; t < steps; t++) seq[i][P + t] = (int32_t)(rng_u64(&r) % (uint64_t)V);
        ref[i] = full_logits(&m, seq[i], P + steps);
    }
    KVCache kv;
    CHECK(kvcache_create(&kv, &c, 4, P + steps) == TR_OK, "kvcache_create: %s", tr_errmsg());
    int src = 2, dst[3] = {0, 1, 3};
    const int32_t *pp = prompt;
    int pl = P;
    float *z = malloc((size_t)n * V * sizeof(float));
    CHECK(decode_prefill(&m, &kv, 1, &src, &pp, &pl, z) == TR_OK, "prefill: %s", tr_errmsg());
    CHECK(kvcache_copy(&kv, src, dst, n) == TR_OK, "copy: %s", tr_errmsg());
    CHECK(kvcache_copy(&kv, src, &src, 1) != TR_OK, "copy onto itself accepted");
    kvcache_reset(&kv, src);
    CHECK(kv.len[src] == 0 && kv.len[3] == P, "lengths after copy/reset");
    int32_t tok[3];
    char what[96];
    for (int t = 0; t < steps; t++) {
        for (int i = 0; i < n; i++) tok[i] = seq[i][P + t];
        CHECK(decode_step(&m, &kv, n, dst, tok, z) == TR_OK, "step: %s", tr_errmsg());
        for (int i = 0; i < n; i++) {
            snprintf(what, sizeof what, "copied prefill: sample %d step %d", i, t);
            note_par(what, z + (size_t)i * V, ref[i] + (size_t)(P + t) * V, V);
        }
    }
    for (int i = 0; i < n; i++) {
        free(seq[i]);
        free(ref[i]);
    }
    free(prompt);
    free(z);
    kvcache_free(&kv);
    model_free(&m);
}

/* Bad calls are refused before anything changes. */
static void test_decode_errors(void) {
    ModelConfig c = tiny_config();
    Model m;
    init_model(&m, &c, 3, 0.08f);
    KVCache kv;
    CHECK(kvcache_create(&kv, &c, 2, c.max_pos + 1) != TR_OK, "cache longer than max_pos accepted");
    CHECK(kvcache_create(&kv, &c, 0, 8) != TR_OK, "zero slots accepted");
    CHECK(kvcache_create(&kv, &c, 2, 8) == TR_OK, "kvcache_create: %s", tr_errmsg());
    int32_t good[3] = {1, 2, 3}, bad[3] = {1, 97, 3};
    const int32_t *pg = good, *pb = bad;
    int three = 3, nine = 9, s0 = 0, s5 = 5, two[2] = {1, 1};
    const int32_t *pp2[2] = {good, good};
    int l2[2] = {3, 3};
    CHECK(decode_prefill(&m, &kv, 1, &s0, &pb, &three, NULL) != TR_OK, "id outside vocab accepted");
    CHECK(strstr(tr_errmsg(), "97") != NULL, "message names the id: %s", tr_errmsg());
    CHECK(decode_prefill(&m, &kv, 1, &s5, &pg, &three, NULL) != TR_OK, "bad slot accepted");
    CHECK(decode_prefill(&m, &kv, 2, two, pp2, l2, NULL) != TR_OK, "duplicate slot accepted");
    int32_t long_ids[9] = {0};
    const int32_t *pl = long_ids;
    CHECK(decode_prefill(&m, &kv, 1, &s0, &pl, &nine, NULL) != TR_OK, "overflowing prefill accepted");
    CHECK(kv.len[0] == 0 && kv.len[1] == 0, "failed calls changed the cache");
    CHECK(decode_prefill(&m, &kv, 1, &s0, &pg, &three, NULL) == TR_OK, "prefill: %s", tr_errmsg());
    CHECK(kv.len[0] == 3, "len after prefill %d", kv.len[0]);
    kvcache_free(&kv);
    model_free(&m);
}

/* ---- 2. sampler against closed-form probabilities ---- */

static const SamplerConfig *ref_sc;
static const double *ref_w;
static int by_prob(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (ref_w[i] != ref_w[j]) return ref_w[i] > ref_w[j] ? -1 : 1;
    return i - j;
}

/* The distribution the sampler should draw from, in double, straight from
 * the definitions (sort everything, cut, renormalise). */
static void ref_probs(const SamplerConfig *sc, const float *z, int V, double *p) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (z[i] > z[best]) best = i;
    memset(p, 0, (size_t)V * sizeof *p);
    if (sc->temperature <= 0 || sc->top_k == 1) {
        p[best] = 1;
        return;
    }
    double *w = malloc((size_t)V * sizeof *w);
    int *ord = malloc((size_t)V * sizeof *ord);
    char *keep = calloc((size_t)V, 1);
    for (int i = 0; i < V; i++) {
        w[i] = exp(((double)z[i] - z[best]) / sc->temperature);
        ord[i] = i;
    }
    ref_sc = sc;
    ref_w = w;
    qsort(ord, (size_t)V, sizeof *ord, by_prob);
    int n = V;
    if (sc->top_k > 0 && sc->top_k < n) n = sc->top_k;
    if (sc->top_p < 1) {
        double tot = 0, acc = 0;
        for (int i = 0; i < n; i++) tot += w[ord[i]];
        for (int i = 0; i < n; i++) {
            acc += w[ord[i]];
            if (acc >= sc->top_p * tot) {
                n = i + 1;
                break;
            }
        }
    }
    for (int i = 0; i < n; i++) keep[ord[i]] = w[ord[i]] >= sc->min_p;
    double tot = 0;
    for (int i = 0; i < V; i++) tot += keep[i] ? w[i] : 0;
    for (int i = 0; i < V; i++) p[i] = keep[i] ? w[i] / tot : 0;
    free(w);
    free(ord);
    free(keep);
}

/* Chi-square critical value at p = 0.001 (Wilson-Hilferty). */
static double chi2_crit(int df) {
    double k = df, zq = 3.0902;
    double t = 1.0 - 2.0 / (9.0 * k) + zq * sqrt(2.0 / (9.0 * k));
    return k * t * t * t;
}

static void test_sampler_chi2(void) {
    const int V = 10, N = 200000;
    const float z[10] = {1.3f, -0.4f, 2.1f, 0.0f, 2.1f, -2.5f, 0.7f, 1.0f, -1.1f, 0.35f};
    struct {
        const char *name;
        SamplerConfig sc;
    } cases[] = {
        {"temperature 1", {1.0f, 0, 1.0f, 0.0f}},
        {"temperature 0.6", {0.6f, 0, 1.0f, 0.0f}},
        {"temperature 2.5", {2.5f, 0, 1.0f, 0.0f}},
        {"top-k 4", {1.0f, 4, 1.0f, 0.0f}},
        {"top-p 0.7", {1.0f, 0, 0.7f, 0.0f}},
        {"min-p 0.2", {1.0f, 0, 1.0f, 0.2f}},
        {"T 1.3 top-k 7 top-p 0.9 min-p 0.05", {1.3f, 7, 0.9f, 0.05f}},
    };
    SamplerWork w;
    sampler_work_init(&w, V);
    double p[10];
    long cnt[10];
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const SamplerConfig *sc = &cases[ci].sc;
        CHECK(sampler_check(sc) == TR_OK, "%s: %s", cases[ci].name, tr_errmsg());
        ref_probs(sc, z, V, p);
        memset(cnt, 0, sizeof cnt);
        Rng r;
        rng_seed(&r, 1000 + ci);
        double worst_lp = 0;
        int outside = 0;
        for (int i = 0; i < N; i++) {
            float lps;
            int32_t t = sampler_sample(sc, z, V, &r, &w, &lps);
            cnt[t]++;
            if (p[t] <= 0) outside++;
            else if (fabs(lps - log(p[t])) > worst_lp) worst_lp = fabs(lps - log(p[t]));
        }
        double chi2 = 0;
        int df = -1;
        for (int i = 0; i < V; i++) {
            if (p[i] <= 0) continue;
            double e = p[i] * N;
            chi2 += (cnt[i] - e) * (cnt[i] - e) / e;
            df++;
        }
        double crit = chi2_crit(df > 0 ? df : 1);
        printf("sampler %-36s chi2 %7.2f (df %d, p=0.001 critical %.2f), |lp_sample - log p| max %.2g\n",
               cases[ci].name, chi2, df, crit, worst_lp);
        CHECK(outside == 0, "%s: %d draws outside the kept set", cases[ci].name, outside);
        CHECK(df <= 0 || chi2 < crit, "%s: chi2 %.2f >= %.2f", cases[ci].name, chi2, crit);
        CHECK(worst_lp < 1e-5, "%s: lp_sample off by %.3g", cases[ci].name, worst_lp);
    }
    /* greedy: the lowest id among equal maxima, and no Rng draw */
    SamplerConfig g = {0.0f, 0, 1.0f, 0.0f};
    Rng r, r0;
    rng_seed(&r, 5);
    r0 = r;
    float lps = 1;
    CHECK(sampler_sample(&g, z, V, &r, &w, &lps) == 2 && lps == 0.0f, "greedy picked the wrong token");
    CHECK(!memcmp(&r, &r0, sizeof r), "greedy consumed randomness");
    /* the chi-square test can fail: a sampler that is off by one token
     * would be caught (the statistic of a shifted distribution) */
    {
        ref_probs(&cases[0].sc, z, V, p);
        double chi2 = 0;
        for (int i = 0; i < V; i++) {
            double e = p[i] * N, o = p[(i + 1) % V] * N;
            chi2 += (o - e) * (o - e) / e;
        }
        CHECK(chi2 > chi2_crit(V - 1), "shifted distribution not rejected (chi2 %.1f)", chi2);
    }
    sampler_work_free(&w);
    /* bad settings are refused by name */
    SamplerConfig bad[] = {{-1, 0, 1, 0}, {NAN, 0, 1, 0}, {1, -2, 1, 0}, {1, 0, 0, 0}, {1, 0, 1.5f, 0}, {1, 0, 1, 1}};
    const char *field[] = {"temperature", "temperature", "top_k", "top_p", "top_p", "min_p"};
    for (int i = 0; i < 6; i++) {
        CHECK(sampler_check(&bad[i]) != TR_OK && strstr(tr_errmsg(), field[i]),
              "bad sampler setting %d accepted or misnamed: %s", i, tr_errmsg());
    }
}

/* A large vocabulary: top-k and top-p go through selection (and the nucleus
 * search grows several times); every draw must lie in the closed-form kept
 * set with the closed-form log-prob. */
static void test_sampler_large(void) {
    const int V = 6000;
    Rng r;
    rng_seed(&r, 321);
    float *z = malloc((size_t)V * sizeof(float));
    for (int i = 0; i < V; i++) z[i] = 1.5f * rng_normal(&r);
    z[17] = z[4000] = 6.0f; /* a tie at the top */
    double *p = malloc((size_t)V * sizeof(double));
    SamplerWork w;
    sampler_work_init(&w, V);
    SamplerConfig cases[] = {{1.0f, 50, 1.0f, 0.0f}, {1.0f, 0, 0.95f, 0.0f}, {0.8f, 0, 0.5f, 0.0f},
                             {1.0f, 3000, 0.99f, 0.0f}, {1.0f, 0, 1.0f, 0.01f}, {1.0f, 0, 1.0f, 0.0f}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        ref_probs(&cases[ci], z, V, p);
        int kept = 0;
        for (int i = 0; i < V; i++) kept += p[i] > 0;
        int outside = 0;
        double worst = 0;
        for (int i = 0; i < 3000; i++) {
            float lps;
            int32_t t = sampler_sample(&cases[ci], z, V, &r, &w, &lps);
            if (p[t] <= 0) outside++;
            else if (fabs(lps - log(p[t])) > worst) worst = fabs(lps - log(p[t]));
        }
        CHECK(outside == 0 && worst < 1e-4, "large vocab case %zu (kept %d): %d draws outside, lp off by %.3g",
              ci, kept, outside, worst);
    }
    SamplerConfig g = {0.0f, 0, 1.0f, 0.0f};
    CHECK(sampler_sample(&g, z, V, &r, &w, NULL) == 17, "greedy tie not broken to the lower id");
    sampler_work_free(&w);
    free(p);
    free(z);
}

/* ---- 3. rollouts ---- */

/* Log-probs recorded during generation against model_forward of the full
 * sequences, in one left-padded and one right-padded batch; lp_sample
 * against the closed-form distribution of model_logits rows. */
static void check_rollouts(Model *m, const Prompt *pr, const Rollout *out, int nseq, const SamplerConfig *sc,
                           const char *name) {
    const int V = m->cfg.V;
    int Tmax = 0;
    for (int i = 0; i < nseq; i++) {
        int L = pr[out[i].prompt].len + out[i].n;
        if (L > Tmax) Tmax = L;
    }
    size_t NT = (size_t)nseq * Tmax;
    int32_t *ids = calloc(NT, 4), *pos = calloc(NT, 4), *sg = calloc(NT, 4), *tg = calloc(NT, 4);
    float *lp = malloc(NT * sizeof(float));
    float *z = malloc(NT * V * sizeof(float));
    double *p = malloc((size_t)V * sizeof(double));
    for (int side = 0; side < 2; side++) { /* 0: left padding, 1: right padding */
        for (int i = 0; i < nseq; i++) {
            const Prompt *q = &pr[out[i].prompt];
            int L = q->len + out[i].n, pad = Tmax - L, off = side == 0 ? pad : 0;
            for (int t = 0; t < Tmax; t++) {
                size_t o = (size_t)i * Tmax + t;
                int j = t - off; /* index into the sequence */
                int in = j >= 0 && j < L;
                sg[o] = in ? 0 : -1;
                pos[o] = in ? j : 0;
                ids[o] = !in ? 0 : j < q->len ? q->ids[j] : out[i].tokens[j - q->len];
                tg[o] = -1;
            }
            for (int k = 0; k < out[i].n; k++) {
                size_t o = (size_t)i * Tmax + off + q->len - 1 + k;
                tg[o] = out[i].tokens[k];
            }
        }
        ModelBatch b = {nseq, Tmax, ids, pos, sg, NULL};
        CHECK(model_forward(m, &b, tg, lp, NULL) == TR_OK, "model_forward: %s", tr_errmsg());
        if (side == 0) CHECK(model_logits(m, &b, z) == TR_OK, "model_logits: %s", tr_errmsg());
        float *got = malloc(NT * sizeof(float)), *ref = malloc(NT * sizeof(float));
        size_t cnt = 0;
        double worst_s = 0;
        int outside = 0;
        for (int i = 0; i < nseq; i++) {
            const Prompt *q = &pr[out[i].prompt];
            int L = q->len + out[i].n, off = side == 0 ? Tmax - L : 0;
            for (int k = 0; k < out[i].n; k++) {
                size_t o = (size_t)i * Tmax + off + q->len - 1 + k;
                got[cnt] = out[i].logp[k];
                ref[cnt] = lp[o];
                cnt++;
                if (side == 0 && sc) {
                    ref_probs(sc, z + o * V, V, p);
                    int32_t t = out[i].tokens[k];
                    if (p[t] <= 0) outside++;
                    else {
                        double d = fabs(out[i].logp_sample[k] - log(p[t])) / (1.0 + fabs(log(p[t])));
                        if (d > worst_s) worst_s = d;
                    }
                }
            }
        }
        char what[160];
        snprintf(what, sizeof what, "%s: policy log-probs vs model_forward (%s-padded, %zu tokens)", name,
                 side ? "right" : "left", cnt);
        par_kind = 1;
        note_par(what, got, ref, cnt);
        par_kind = 0;
        if (side == 0 && sc) {
            CHECK(outside == 0, "%s: %d tokens outside the sampling distribution", name, outside);
            CHECK(worst_s < 1e-5, "%s: lp_sample vs closed form off by %.3g (rel)", name, worst_s);
        }
        free(got);
        free(ref);
    }
    free(ids);
    free(pos);
    free(sg);
    free(tg);
    free(lp);
    free(z);
    free(p);
}

static Prompt *make_prompts(Rng *r, int np, const int *lens, int V, int32_t **store) {
    Prompt *pr = calloc((size_t)np, sizeof *pr);
    for (int i = 0; i < np; i++) {
        store[i] = rand_ids(r, lens[i], V);
        pr[i].ids = store[i];
        pr[i].len = lens[i];
    }
    return pr;
}

static int same_tokens(const Rollout *a, const Rollout *b, int n, double *lp_diff) {
    int same = 1;
    double d = 0;
    for (int i = 0; i < n; i++) {
        if (a[i].n != b[i].n || a[i].finish != b[i].finish || a[i].prompt != b[i].prompt ||
            a[i].sample != b[i].sample || memcmp(a[i].tokens, b[i].tokens, (size_t)a[i].n * 4)) {
            same = 0;
            continue;
        }
        for (int k = 0; k < a[i].n; k++) {
            double e = fabs(a[i].logp[k] - b[i].logp[k]);
            if (e > d) d = e;
        }
    }
    if (lp_diff) *lp_diff = d;
    return same;
}

/* Sampled and greedy rollouts over mixed-length prompts: log-prob parity;
 * identical outputs across thread counts, slot counts (batch
 * compositions) and prompt order. */
static void test_rollout_parity_determinism(void) {
    ModelConfig c = tiny_config();
    Model m;
    init_model(&m, &c, 21, 0.1f);
    enum { NP = 5 };
    int lens[NP] = {3, 17, 1, 9, 30};
    int32_t *store[NP];
    Rng r;
    rng_seed(&r, 8);
    Prompt *pr = make_prompts(&r, NP, lens, c.V, store);
    struct {
        const char *name;
        SamplerConfig sc;
        int n;
    } cases[] = {
        {"greedy", {0.0f, 0, 1.0f, 0.0f}, 1},
        {"temperature 1, n 3", {1.0f, 0, 1.0f, 0.0f}, 3},
        {"T 0.7 top-k 20 top-p 0.9 min-p 0.02, n 4", {0.7f, 20, 0.9f, 0.02f}, 4},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        RolloutConfig rc;
        rollout_config_init(&rc, &c);
        rc.sampler = cases[ci].sc;
        rc.n = cases[ci].n;
        rc.max_new_tokens = 24;
        rc.seed = 99;
        const int nseq = NP * rc.n;
        Rollout *base = calloc((size_t)nseq, sizeof *base);
        RolloutStats stt;
        tr_set_threads(2);
        CHECK(rollout_generate(&m, pr, NP, &rc, base, &stt) == TR_OK, "%s: %s", cases[ci].name, tr_errmsg());
        check_rollouts(&m, pr, base, nseq, &cases[ci].sc, cases[ci].name);
        int lengths_ok = 1;
        for (int i = 0; i < nseq; i++) lengths_ok &= base[i].n == 24 && base[i].finish == FINISH_LENGTH;
        CHECK(lengths_ok, "%s: every sequence should run to max_new_tokens", cases[ci].name);
        if (ci == 0) {
            /* greedy tokens are the argmax of the full forward's logits */
            int bad = 0;
            for (int i = 0; i < nseq; i++) {
                const Prompt *q = &pr[base[i].prompt];
                int L = q->len + base[i].n;
                int32_t *seq = malloc((size_t)L * 4);
                memcpy(seq, q->ids, (size_t)q->len * 4);
                memcpy(seq + q->len, base[i].tokens, (size_t)base[i].n * 4);
                float *zz = full_logits(&m, seq, L);
                for (int k = 0; k < base[i].n; k++) {
                    const float *row = zz + (size_t)(q->len - 1 + k) * c.V;
                    int a = 0;
                    for (int v = 1; v < c.V; v++)
                        if (row[v] > row[a]) a = v;
                    bad += a != base[i].tokens[k];
                }
                free(zz);
                free(seq);
            }
            CHECK(bad == 0, "greedy: %d tokens differ from the full forward's argmax", bad);
        }
        /* other thread counts and batch compositions */
        int slot_counts[] = {1, 2, 7, 64};
        int threads[] = {1, 2};
        double max_d = 0;
        for (int ti = 0; ti < 2; ti++) {
            for (int si = 0; si < 4; si++) {
                tr_set_threads(threads[ti]);
                rc.slots = slot_counts[si];
                Rollout *o = calloc((size_t)nseq, sizeof *o);
                CHECK(rollout_generate(&m, pr, NP, &rc, o, NULL) == TR_OK, "%s: %s", cases[ci].name, tr_errmsg());
                double d;
                int same = same_tokens(base, o, nseq, &d);
                CHECK(same, "%s: threads %d slots %d: different tokens", cases[ci].name, threads[ti], slot_counts[si]);
                CHECK(d <= 1e-5, "%s: threads %d slots %d: log-probs differ by %.3g", cases[ci].name, threads[ti],
                      slot_counts[si], d);
                if (d > max_d) max_d = d;
                rollout_free(o, nseq);
                free(o);
            }
        }
        /* the prompts in reverse order give the same samples per prompt */
        {
            Prompt rev[NP];
            for (int i = 0; i < NP; i++) rev[i] = pr[NP - 1 - i];
            rc.slots = 3;
            tr_set_threads(2);
            Rollout *o = calloc((size_t)nseq, sizeof *o);
            CHECK(rollout_generate(&m, rev, NP, &rc, o, NULL) == TR_OK, "%s: %s", cases[ci].name, tr_errmsg());
            int same = 1;
            for (int i = 0; i < nseq; i++) {
                const Rollout *a = &base[i];
                /* prompt p of base is prompt NP-1-p of rev; seeds follow the
                 * prompt index, so only greedy can be compared */
                const Rollout *b = &o[(NP - 1 - a->prompt) * rc.n + a->sample];
                if (ci == 0) same &= a->n == b->n && !memcmp(a->tokens, b->tokens, (size_t)a->n * 4);
            }
            CHECK(same, "%s: prompt order changed greedy outputs", cases[ci].name);
            rollout_free(o, nseq);
            free(o);
        }
        printf("rollout %-42s %lld passes, %lld new tokens; threads {1,2} x slots {1,2,7,64}: same tokens, log-probs within %.2g\n",
               cases[ci].name, (long long)stt.passes, (long long)stt.new_tokens, max_d);
        rollout_free(base, nseq);
        free(base);
    }
    tr_set_threads(2);
    for (int i = 0; i < NP; i++) free(store[i]);
    free(pr);
    model_free(&m);
}

/* ---- 4. stop conditions ---- */

/* Token id -> two letters: its piece of text. */
static int piece_fn(void *ctx, int seq, int32_t id, const char **text, size_t *len) {
    static char buf[64][3];
    (void)ctx;
    char *b = buf[seq % 64];
    b[0] = (char)('a' + id % 26);
    b[1] = (char)('a' + (id / 26) % 26);
    b[2] = 0;
    *text = b;
    *len = 2;
    return 0;
}

static int abort_cb(void *ctx, int seq, const int32_t *t, int n) {
    (void)ctx;
    (void)seq;
    (void)t;
    return n >= 3 ? -7 : 0;
}

static void test_stops(void) {
    ModelConfig c = tiny_config();
    Model m;
    init_model(&m, &c, 31, 0.1f);
    int32_t pids[4] = {5, 9, 2, 60};
    Prompt pr = {pids, 4};
    RolloutConfig rc;
    rollout_config_init(&rc, &c);
    rc.sampler.temperature = 0;
    rc.max_new_tokens = 12;
    Rollout ref, o;
    memset(&ref, 0, sizeof ref);
    CHECK(rollout_generate(&m, &pr, 1, &rc, &ref, NULL) == TR_OK, "%s", tr_errmsg());
    CHECK(ref.n == 12 && ref.finish == FINISH_LENGTH, "length: n %d finish %s", ref.n, finish_reason_name(ref.finish));
    /* eos: the first token of the greedy output not seen before index 2 */
    int k = -1;
    for (int i = 2; i < ref.n && k < 0; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= ref.tokens[j] == ref.tokens[i];
        if (!seen) k = i;
    }
    CHECK(k > 0, "no fresh token in the greedy output to use as eos");
    if (k > 0) {
        rc.eos[0] = 7 == ref.tokens[k] ? 8 : 7; /* a second id that may not occur */
        rc.eos[1] = ref.tokens[k];
        rc.n_eos = 2;
        int other = 0;
        for (int j = 0; j < k; j++) other |= ref.tokens[j] == rc.eos[0];
        memset(&o, 0, sizeof o);
        CHECK(rollout_generate(&m, &pr, 1, &rc, &o, NULL) == TR_OK, "%s", tr_errmsg());
        if (!other)
            CHECK(o.n == k + 1 && o.finish == FINISH_EOS && !memcmp(o.tokens, ref.tokens, (size_t)o.n * 4),
                  "eos: n %d (want %d) finish %s", o.n, k + 1, finish_reason_name(o.finish));
        rollout_free(&o, 1);
        rc.n_eos = 0;
    }
    /* stop string spanning two tokens: last letter of token 4, first of token 5 */
    {
        const char *text;
        size_t len;
        char s4[3], s5[3], stop[3];
        piece_fn(NULL, 0, ref.tokens[4], &text, &len);
        memcpy(s4, text, 3);
        piece_fn(NULL, 0, ref.tokens[5], &text, &len);
        memcpy(s5, text, 3);
        stop[0] = s4[1];
        stop[1] = s5[0];
        stop[2] = 0;
        /* the stop string must not occur earlier in the text */
        char all[32] = "";
        for (int i = 0; i < 6; i++) {
            piece_fn(NULL, 0, ref.tokens[i], &text, &len);
            strcat(all, text);
        }
        char *first = strstr(all, stop);
        int expect = first ? (int)((first - all) + 1) / 2 + 1 : -1; /* tokens up to the one holding its last byte */
        StopStrings ss;
        const char *stops[2] = {"zzzzzzz", stop};
        CHECK(stopstr_init(&ss, 1, stops, 2, piece_fn, NULL) == TR_OK, "%s", tr_errmsg());
        rc.stop = stopstr_check;
        rc.stop_ctx = &ss;
        memset(&o, 0, sizeof o);
        CHECK(rollout_generate(&m, &pr, 1, &rc, &o, NULL) == TR_OK, "%s", tr_errmsg());
        CHECK(o.finish == FINISH_STOP && o.n == expect && !memcmp(o.tokens, ref.tokens, (size_t)o.n * 4),
              "stop string '%s': n %d (want %d) finish %s", stop, o.n, expect, finish_reason_name(o.finish));
        rollout_free(&o, 1);
        stopstr_free(&ss);
        rc.stop = NULL;
    }
    /* the context: a prompt 3 short of max_pos gets 3 tokens */
    {
        int L = c.max_pos - 3;
        int32_t *ids = calloc((size_t)L, 4);
        for (int i = 0; i < L; i++) ids[i] = (i * 7) % c.V;
        Prompt lp = {ids, L};
        memset(&o, 0, sizeof o);
        CHECK(rollout_generate(&m, &lp, 1, &rc, &o, NULL) == TR_OK, "%s", tr_errmsg());
        CHECK(o.n == 3 && o.finish == FINISH_LENGTH, "context: n %d finish %s", o.n, finish_reason_name(o.finish));
        rollout_free(&o, 1);
        free(ids);
    }
    /* a callback error aborts with its status */
    rc.stop = abort_cb;
    memset(&o, 0, sizeof o);
    CHECK(rollout_generate(&m, &pr, 1, &rc, &o, NULL) == -7, "callback abort not returned");
    rc.stop = NULL;
    /* max_new_tokens 1 with n 3: every sample ends at its first token */
    {
        Rollout o3[3];
        rc.max_new_tokens = 1;
        rc.n = 3;
        rc.sampler.temperature = 1;
        CHECK(rollout_generate(&m, &pr, 1, &rc, o3, NULL) == TR_OK, "%s", tr_errmsg());
        for (int i = 0; i < 3; i++) CHECK(o3[i].n == 1 && o3[i].finish == FINISH_LENGTH, "max_new 1");
        rollout_free(o3, 3);
    }
    /* StopStrings directly: matches across pieces, only new ones count */
    {
        StopStrings ss;
        const char *stops[2] = {"o w", "\n\n"};
        CHECK(stopstr_init(&ss, 2, stops, 2, NULL, NULL) == TR_OK, "%s", tr_errmsg());
        CHECK(stopstr_push(&ss, 0, "hel", 3) == 0, "early match");
        CHECK(stopstr_push(&ss, 1, "o", 1) == 0, "early match seq 1");
        CHECK(stopstr_push(&ss, 0, "lo", 2) == 0, "early match 2");
        CHECK(stopstr_push(&ss, 0, " ", 1) == 0, "early match 3");
        CHECK(stopstr_push(&ss, 1, " x", 2) == 0, "sequences mixed up");
        CHECK(stopstr_push(&ss, 0, "world", 5) == 1, "spanning match missed");
        CHECK(stopstr_push(&ss, 1, "\n", 1) == 0 && stopstr_push(&ss, 1, "\n", 1) == 1, "newline pair missed");
        stopstr_free(&ss);
        const char *empty[1] = {""};
        CHECK(stopstr_init(&ss, 1, empty, 1, NULL, NULL) != TR_OK, "empty stop string accepted");
    }
    rollout_free(&ref, 1);
    model_free(&m);
}

/* ---- 5. continuous batching ---- */

typedef struct {
    int *finished;
    int nfin;
    int tokens;
} Trace;

static void on_tok(void *ctx, int seq, int32_t t) {
    (void)seq;
    (void)t;
    ((Trace *)ctx)->tokens++;
}
static void on_fin(void *ctx, int seq, const Rollout *r) {
    Trace *tr = ctx;
    (void)r;
    tr->finished[tr->nfin++] = seq;
}

static void test_continuous(void) {
    ModelConfig c = tiny_config();
    c.V = 12; /* eos (id 0) is drawn often: lengths vary */
    Model m;
    init_model(&m, &c, 41, 0.3f);
    enum { NP = 7 };
    int lens[NP] = {4, 1, 12, 6, 2, 9, 5};
    int32_t *store[NP];
    Rng r;
    rng_seed(&r, 3);
    Prompt *pr = make_prompts(&r, NP, lens, c.V, store);
    RolloutConfig rc;
    rollout_config_init(&rc, &c);
    rc.n = 3;
    rc.max_new_tokens = 20;
    rc.eos[0] = 0;
    rc.n_eos = 1;
    rc.seed = 5;
    const int nseq = NP * rc.n;
    Rollout *all = calloc((size_t)nseq, sizeof *all);
    rc.slots = nseq;
    CHECK(rollout_generate(&m, pr, NP, &rc, all, NULL) == TR_OK, "%s", tr_errmsg());
    int slots[] = {1, 2, 4, 5};
    for (int si = 0; si < 4; si++) {
        rc.slots = slots[si];
        Rollout *o = calloc((size_t)nseq, sizeof *o);
        int fin[64];
        Trace tr = {fin, 0, 0};
        rc.on_token = on_tok;
        rc.on_finish = on_fin;
        rc.cb_ctx = &tr;
        RolloutStats st;
        CHECK(rollout_generate(&m, pr, NP, &rc, o, &st) == TR_OK, "%s", tr_errmsg());
        int intact = 1, ntok = 0, eos_n = 0, len_n = 0, in_order = 1;
        for (int i = 0; i < nseq; i++) {
            intact &= o[i].prompt == i / rc.n && o[i].sample == i % rc.n && o[i].finish != FINISH_NONE && o[i].n >= 1;
            ntok += o[i].n;
            eos_n += o[i].finish == FINISH_EOS;
            len_n += o[i].finish == FINISH_LENGTH;
        }
        for (int i = 1; i < tr.nfin; i++) in_order &= tr.finished[i] > tr.finished[i - 1];
        CHECK(intact, "slots %d: a sequence is missing or misplaced", slots[si]);
        CHECK(tr.nfin == nseq && tr.tokens == ntok && st.new_tokens == ntok, "slots %d: callbacks saw %d/%d finishes, %d/%d tokens",
              slots[si], tr.nfin, nseq, tr.tokens, ntok);
        CHECK(st.max_active <= slots[si], "slots %d: %d sequences ran together", slots[si], st.max_active);
        CHECK(same_tokens(all, o, nseq, NULL), "slots %d: outputs differ from the all-at-once run", slots[si]);
        if (si == 2) {
            check_rollouts(&m, pr, o, nseq, &rc.sampler, "continuous batching (4 slots, 3 samples per prompt)");
            printf("continuous batching: %d sequences through %d slots: %lld passes, %d ended by eos, %d by length; finish order %s\n",
                   nseq, slots[si], (long long)st.passes, eos_n, len_n, in_order ? "sorted (suspicious)" : "interleaved");
            CHECK(eos_n > 0 && len_n > 0, "the test should see both eos and length endings");
            CHECK(!in_order, "sequences should finish out of order with 4 slots");
        }
        rollout_free(o, nseq);
        free(o);
    }
    rollout_free(all, nseq);
    free(all);
    for (int i = 0; i < NP; i++) free(store[i]);
    free(pr);
    model_free(&m);
}

/* ---- 6. bad input ---- */

static void test_rollout_errors(void) {
    ModelConfig c = tiny_config();
    Model m;
    init_model(&m, &c, 51, 0.1f);
    int32_t ok[3] = {1, 2, 3}, bad[3] = {1, 200, 3};
    int32_t *longp = calloc((size_t)c.max_pos, 4);
    Prompt prs[3] = {{ok, 3}, {bad, 3}, {ok, 3}};
    RolloutConfig rc;
    rollout_config_init(&rc, &c);
    rc.max_new_tokens = 4;
    Rollout o[8];
    CHECK(rollout_generate(&m, prs, 3, &rc, o, NULL) != TR_OK && strstr(tr_errmsg(), "prompt 1") &&
              strstr(tr_errmsg(), "200"),
          "bad id: %s", tr_errmsg());
    Prompt e[2] = {{ok, 3}, {ok, 0}};
    CHECK(rollout_generate(&m, e, 2, &rc, o, NULL) != TR_OK && strstr(tr_errmsg(), "prompt 1") &&
              strstr(tr_errmsg(), "empty"),
          "empty prompt: %s", tr_errmsg());
    Prompt lp[1] = {{longp, c.max_pos}};
    CHECK(rollout_generate(&m, lp, 1, &rc, o, NULL) != TR_OK && strstr(tr_errmsg(), "prompt 0") &&
              strstr(tr_errmsg(), "context"),
          "long prompt: %s", tr_errmsg());
    rc.n = 0;
    CHECK(rollout_generate(&m, prs, 1, &rc, o, NULL) != TR_OK && strstr(tr_errmsg(), "n "), "n 0: %s", tr_errmsg());
    rc.n = 1;
    rc.max_new_tokens = 0;
    CHECK(rollout_generate(&m, prs, 1, &rc, o, NULL) != TR_OK && strstr(tr_errmsg(), "max_new_tokens"),
          "max_new 0: %s", tr_errmsg());
    rc.max_new_tokens = 1 << 30;
    CHECK(rollout_generate(&m, prs, 1, &rc, o, NULL) != TR_OK && strstr(tr_errmsg(), "max_new_tokens"),
          "max_new huge: %s", tr_errmsg());
    rc.max_new_tokens = 4;
    rc.sampler.top_p = 2;
    CHECK(rollout_generate(&m, prs, 1, &rc, o, NULL) != TR_OK && strstr(tr_errmsg(), "top_p"), "top_p: %s", tr_errmsg());
    free(longp);
    model_free(&m);
}

int main(void) {
    tr_set_threads(2);
    ModelConfig tiny = tiny_config();
    test_decode_single(&tiny, "tiny gqa", 1);
    ModelConfig nano;
    config_preset(&nano, "nano");
    test_decode_single(&nano, "nano", 2);
    ModelConfig mha = tiny_config();
    mha.KVH = 4; /* plain multi-head */
    mha.tie = 1;
    test_decode_single(&mha, "tiny mha tied", 3);
    ModelConfig wide = tiny_config(); /* 7 query heads per kv head, head size 48 (32 + a tail of 16) */
    wide.NH = 14;
    wide.KVH = 2;
    wide.HS = 48;
    wide.C = 128;
    wide.L = 1;
    wide.arch = ARCH_LLAMA;
    wide.qkv_bias = 0;
    wide.o_bias = 1;
    wide.mlp_bias = 1;
    test_decode_single(&wide, "gqa 14/2 hs 48 llama biases", 4);
    test_decode_batch(0);
    test_decode_batch(5);
    test_decode_batch(1);
    test_decode_packed();
    test_decode_copy();
    test_decode_errors();
    test_sampler_chi2();
    test_sampler_large();
    test_rollout_parity_determinism();
    test_stops();
    test_continuous();
    test_rollout_errors();
    printf("parity, cached decode logits vs model_logits: max|diff| %.3g, worst |diff|/(1e-5 + 1e-5|ref|) %.3g\n",
           worst_par_abs[0], worst_par[0]);
    printf("parity, generation policy log-probs vs model_forward: max|diff| %.3g, worst |diff|/(1e-5 + 1e-5|ref|) %.3g\n",
           worst_par_abs[1], worst_par[1]);
    return tu_summary("test_generate");
}
