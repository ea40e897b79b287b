/* The rollout engine: n samples for each of a list of prompts, decoded
 * together over a KV cache with continuous batching. A sequence leaves its
 * slot as soon as it ends and the next waiting sample enters in the same
 * pass, so passes stay full; a prompt is prefilled once and its cache copied
 * to the slots of its samples. Each sample draws from its own Rng seeded by
 * (seed, prompt, sample), so what it generates does not depend on threads or
 * on which other sequences share its passes. No tokenizer here: stop
 * strings come through RolloutConfig.stop. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/generate.h"
#include "thinkrl/kernels.h"


const char *finish_reason_name(FinishReason r) {
    switch (r) {
    case FINISH_EOS: return "eos";
    case FINISH_STOP: return "stop";
    case FINISH_LENGTH: return "length";
    default: return "none";
    }
}

void rollout_config_init(RolloutConfig *rc, const ModelConfig *c) {
    memset(rc, 0, sizeof *rc);
    rc->sampler.temperature = 1.0f;
    rc->sampler.top_k = 0;
    rc->sampler.top_p = 1.0f;
    rc->sampler.min_p = 0.0f;
    rc->n = 1;
    rc->max_new_tokens = 256;
    for (int i = 0; c && i < c->n_eos && i < ROLLOUT_MAX_EOS; i++) rc->eos[rc->n_eos++] = c->eos_ids[i];
}

void rollout_free(Rollout *r, int n) {
    if (!r) return;
    for (int i = 0; i < n; i++) {
        free(r[i].tokens);
        free(r[i].logp);
        free(r[i].logp_sample);
        memset(&r[i], 0, sizeof r[i]);
    }
}

/* splitmix64 finaliser: the seed of sequence (p, s) mixes all three so that
 * neighbouring prompts or samples get unrelated streams. */
static uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void seq_rng(Rng *r, uint64_t seed, int p, int s) {
    uint64_t h = mix64(seed);
    h = mix64(h ^ (uint64_t)(uint32_t)p);
    h = mix64(h ^ ((uint64_t)(uint32_t)s << 32 | 0x5eedu));
    rng_seed(r, h);
}

typedef struct {
    int slot;
    const float *row; /* logits to draw from */
    float lse;        /* their log-sum-exp (policy log-probs) */
    int32_t tok;
    float lps;
} Job;

typedef struct {
    const Model *m;
    const RolloutConfig *rc;
    const Prompt *prompts;
    int np, n, nseq, V;
    Rollout *out;
    RolloutStats st;
    KVCache kv;
    int S, pfx;          /* decode slots; the extra slot that keeps a partly admitted prompt */
    int *slot_seq;       /* (S) sequence in the slot, -1 free */
    int32_t *slot_tok;   /* (S) last drawn token, not yet in the cache */
    Rng *slot_rng;       /* (S) */
    int next_prompt;     /* first prompt none of whose samples entered */
    int cp, cp_next;     /* partly admitted prompt (-1: none) and its next sample */
    float *cp_logits;    /* (V) its first-token logits */
    float cp_lse;
    /* one pass */
    int nseg;
    int *seg_slot, *seg_len;
    const int32_t **seg_ids;
    int nadm;            /* prompts entering in this pass */
    int *adm_prompt, *adm_seg, *adm_k, *adm_slots; /* adm_slots: (S) their slots, k per prompt in order */
    float *logits;       /* (S, V) */
    float *lse;          /* (S) */
    Job *jobs;           /* (S) */
    int njobs;
    SamplerWork *work;
    int nwork;
    int done;
} St;

static int grow(Rollout *r, int need) {
    if (need <= r->cap) return TR_OK;
    int cap = r->cap ? r->cap * 2 : 16;
    if (cap < need) cap = need;
    int32_t *t = realloc(r->tokens, (size_t)cap * sizeof *t);
    if (t) r->tokens = t;
    float *a = realloc(r->logp, (size_t)cap * sizeof *a);
    if (a) r->logp = a;
    float *b = realloc(r->logp_sample, (size_t)cap * sizeof *b);
    if (b) r->logp_sample = b;
    if (!t || !a || !b) return tr_err(TR_ENOMEM, "rollout: out of memory for %d tokens", cap);
    r->cap = cap;
    return TR_OK;
}

static void finish(St *st, int slot, FinishReason why) {
    int seq = st->slot_seq[slot];
    st->out[seq].finish = why;
    st->slot_seq[slot] = -1;
    kvcache_reset(&st->kv, slot);
    st->done++;
    if (st->rc->on_finish) st->rc->on_finish(st->rc->cb_ctx, seq, &st->out[seq]);
}

/* Draws the tokens of all jobs (in parallel: each job reads its own row and
 * Rng), then records them in job order and applies the stop rules. */
static int run_jobs(St *st) {
    const RolloutConfig *rc = st->rc;
    const int nj = st->njobs, V = st->V;
#pragma omp parallel for schedule(dynamic, 1) num_threads(st->nwork)
    for (int j = 0; j < nj; j++) {
        Job *jb = &st->jobs[j];
        SamplerWork *w = &st->work[omp_get_thread_num()];
        jb->tok = sampler_sample(&rc->sampler, jb->row, V, &st->slot_rng[jb->slot], w, &jb->lps);
    }
    for (int j = 0; j < nj; j++) {
        Job *jb = &st->jobs[j];
        int slot = jb->slot, seq = st->slot_seq[slot];
        Rollout *r = &st->out[seq];
        int rc2 = grow(r, r->n + 1);
        if (rc2) return rc2;
        r->tokens[r->n] = jb->tok;
        /* the same expression logits_stats uses for a target's log-prob */
        r->logp[r->n] = jb->row[jb->tok] - jb->lse;
        r->logp_sample[r->n] = jb->lps;
        r->n++;
        st->st.new_tokens++;
        st->slot_tok[slot] = jb->tok;
        if (rc->on_token) rc->on_token(rc->cb_ctx, seq, jb->tok);
        int eos = 0;
        for (int e = 0; e < rc->n_eos; e++) eos |= jb->tok == rc->eos[e];
        if (eos) {
            finish(st, slot, FINISH_EOS);
            continue;
        }
        if (rc->stop) {
            int s = rc->stop(rc->stop_ctx, seq, r->tokens, r->n);
            if (s < 0) return s;
            if (s > 0) {
                finish(st, slot, FINISH_STOP);
                continue;
            }
        }
        /* length: the budget, or the context (the next token would need a
         * position the model does not have) */
        if (r->n >= rc->max_new_tokens || st->prompts[r->prompt].len + r->n >= st->m->cfg.max_pos)
            finish(st, slot, FINISH_LENGTH);
    }
    st->njobs = 0;
    return TR_OK;
}

static int free_slot(const St *st, int from) {
    for (int s = from; s < st->S; s++)
        if (st->slot_seq[s] < 0) return s;
    return -1;
}

static void start_seq(St *st, int slot, int p, int s) {
    int seq = p * st->n + s;
    st->slot_seq[slot] = seq;
    seq_rng(&st->slot_rng[slot], st->rc->seed, p, s);
}

/* Samples of the partly admitted prompt enter free slots: cache copied from
 * the keeper slot, first token drawn from the kept logits. Repeats while
 * sequences that end at once leave room. */
static int admit_partial(St *st) {
    while (st->cp >= 0) {
        int slot = free_slot(st, 0);
        if (slot < 0) return TR_OK;
        while (slot >= 0 && st->cp >= 0) {
            int rc = kvcache_copy(&st->kv, st->pfx, &slot, 1);
            if (rc) return rc;
            start_seq(st, slot, st->cp, st->cp_next);
            st->jobs[st->njobs++] = (Job){slot, st->cp_logits, st->cp_lse, 0, 0.0f};
            if (++st->cp_next == st->n) {
                st->cp = -1;
                kvcache_reset(&st->kv, st->pfx);
            }
            slot = free_slot(st, slot + 1);
        }
        int rc = run_jobs(st);
        if (rc) return rc;
    }
    return TR_OK;
}

/* One pass: the pending token of every running sequence plus the prompts of
 * newly admitted ones; then copies, draws, stop rules. Returns 1 when there
 * was nothing left to run. */
static int one_pass(St *st) {
    const int V = st->V;
    st->nseg = 0;
    for (int s = 0; s < st->S; s++) {
        if (st->slot_seq[s] < 0) continue;
        st->seg_slot[st->nseg] = s;
        st->seg_ids[st->nseg] = &st->slot_tok[s];
        st->seg_len[st->nseg] = 1;
        st->nseg++;
    }
    const int nrun = st->nseg;
    /* new prompts take the free slots, in order */
    st->nadm = 0;
    int used = 0, slot = free_slot(st, 0);
    while (slot >= 0 && st->next_prompt < st->np && st->cp < 0) {
        int p = st->next_prompt++, k = 0;
        st->adm_prompt[st->nadm] = p;
        st->adm_seg[st->nadm] = st->nseg;
        while (slot >= 0 && k < st->n) {
            start_seq(st, slot, p, k);
            st->adm_slots[used + k] = slot;
            k++;
            slot = free_slot(st, slot + 1);
        }
        st->adm_k[st->nadm] = k;
        st->seg_slot[st->nseg] = st->adm_slots[used];
        st->seg_ids[st->nseg] = st->prompts[p].ids;
        st->seg_len[st->nseg] = st->prompts[p].len;
        st->nseg++;
        used += k;
        st->nadm++;
        if (k < st->n) {
            st->cp = p; /* its keeper copy and logits are taken after the pass */
            st->cp_next = k;
        }
    }
    if (st->nseg == 0) return 1;
    if (nrun + used > st->st.max_active) st->st.max_active = nrun + used;
    int rc = decode_prefill(st->m, &st->kv, st->nseg, st->seg_slot, st->seg_ids, st->seg_len, st->logits);
    if (rc) return rc;
    st->st.passes++;
    for (int i = 0; i < st->nseg; i++) st->st.rows += st->seg_len[i];
    logits_stats(st->logits, st->nseg, V, NULL, st->lse, NULL, NULL);
    /* running sequences draw from their rows */
    for (int i = 0; i < nrun; i++)
        st->jobs[st->njobs++] = (Job){st->seg_slot[i], st->logits + (size_t)i * V, st->lse[i], 0, 0.0f};
    /* new prompts: share the prefill, draw first tokens */
    used = 0;
    for (int a = 0; a < st->nadm; a++) {
        int seg = st->adm_seg[a], k = st->adm_k[a], first = st->adm_slots[used];
        const float *row = st->logits + (size_t)seg * V;
        if (k > 1 && (rc = kvcache_copy(&st->kv, first, st->adm_slots + used + 1, k - 1))) return rc;
        if (st->cp == st->adm_prompt[a]) {
            if ((rc = kvcache_copy(&st->kv, first, &st->pfx, 1))) return rc;
            memcpy(st->cp_logits, row, (size_t)V * sizeof(float));
            st->cp_lse = st->lse[seg];
        }
        for (int j = 0; j < k; j++)
            st->jobs[st->njobs++] = (Job){st->adm_slots[used + j], row, st->lse[seg], 0, 0.0f};
        used += k;
    }
    return run_jobs(st);
}

static int check_inputs(const Model *m, const Prompt *prompts, int np, const RolloutConfig *rc) {
    const ModelConfig *c = &m->cfg;
    int err = sampler_check(&rc->sampler);
    if (err) return err;
    if (np < 1) return tr_err(TR_EINVAL, "rollout: no prompts");
    if (rc->n < 1 || rc->n > (1 << 20))
        return tr_err(TR_EINVAL, "rollout: n (samples per prompt) must be in [1, %d] (got %d)", 1 << 20, rc->n);
    if ((int64_t)np * rc->n > (1 << 26))
        return tr_err(TR_EINVAL, "rollout: %d prompts x %d samples is too many sequences (at most %d)", np,
                      rc->n, 1 << 26);
    if (rc->max_new_tokens < 1 || rc->max_new_tokens > c->max_pos)
        return tr_err(TR_EINVAL, "rollout: max_new_tokens must be in [1, %d] (the context) (got %d)",
                      c->max_pos, rc->max_new_tokens);
    if (rc->slots < 0) return tr_err(TR_EINVAL, "rollout: slots must be >= 0 (got %d)", rc->slots);
    if (rc->n_eos < 0 || rc->n_eos > ROLLOUT_MAX_EOS)
        return tr_err(TR_EINVAL, "rollout: n_eos must be in [0, %d]", ROLLOUT_MAX_EOS);
    for (int e = 0; e < rc->n_eos; e++)
        if (rc->eos[e] < 0 || rc->eos[e] >= c->V)
            return tr_err(TR_EINVAL, "rollout: eos id %d is outside the vocabulary (%d)", rc->eos[e], c->V);
    for (int p = 0; p < np; p++) {
        const Prompt *q = &prompts[p];
        if (q->len < 1 || !q->ids) return tr_err(TR_EINVAL, "prompt %d: empty", p);
        if (q->len >= c->max_pos)
            return tr_err(TR_EINVAL, "prompt %d: %d tokens leave no room in the context of %d (max_position_embeddings)",
                          p, q->len, c->max_pos);
        for (int t = 0; t < q->len; t++)
            if (q->ids[t] < 0 || q->ids[t] >= c->V)
                return tr_err(TR_EINVAL, "prompt %d: token %d at position %d is outside the vocabulary (%d)", p,
                              q->ids[t], t, c->V);
    }
    return TR_OK;
}

size_t rollout_bytes(const ModelConfig *c, int n_prompts, int n, int slots, int max_prompt, int max_new_tokens) {
    int64_t nseq = (int64_t)n_prompts * n;
    int S = slots ? slots : ROLLOUT_DEFAULT_SLOTS;
    if (S > nseq) S = (int)nseq;
    int64_t T = (int64_t)max_prompt + max_new_tokens - 1; /* as rollout_generate sizes the cache */
    if (T > c->max_pos) T = c->max_pos;
    int SK = S + (n > 1);
    size_t rows = (size_t)max_prompt * (size_t)(S < n_prompts ? S : n_prompts); /* the largest prefill pass */
    if (rows < (size_t)SK) rows = (size_t)SK;
    return kvcache_bytes(c, SK, (int)T) + kvcache_scratch_bytes(c, SK, (int)T, rows, tr_threads()) +
           ((size_t)S + 1) * (size_t)c->V * sizeof(float);
}

int rollout_generate(const Model *m, const Prompt *prompts, int n_prompts, const RolloutConfig *rc,
                     Rollout *out, RolloutStats *stats) {
    int err = check_inputs(m, prompts, n_prompts, rc);
    if (err) return err;
    const ModelConfig *c = &m->cfg;
    double t0 = tr_time();
    St st;
    memset(&st, 0, sizeof st);
    st.m = m;
    st.rc = rc;
    st.prompts = prompts;
    st.np = n_prompts;
    st.n = rc->n;
    st.nseq = n_prompts * rc->n;
    st.V = c->V;
    st.out = out;
    st.cp = -1;
    int S = rc->slots ? rc->slots : ROLLOUT_DEFAULT_SLOTS;
    if (S > st.nseq) S = st.nseq;
    st.S = S;
    st.pfx = S;
    int maxp = 0;
    for (int p = 0; p < n_prompts; p++) maxp = prompts[p].len > maxp ? prompts[p].len : maxp;
    /* the last token drawn is never fed back */
    int64_t T = (int64_t)maxp + rc->max_new_tokens - 1;
    if (T > c->max_pos) T = c->max_pos;
    for (int i = 0; i < st.nseq; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].prompt = i / rc->n;
        out[i].sample = i % rc->n;
    }
    if ((err = kvcache_create(&st.kv, c, S + (rc->n > 1), (int)T))) return err;
    if (!rc->no_pack && (err = kvcache_pack(&st.kv, m))) {
        kvcache_free(&st.kv);
        return err;
    }
    if (rc->n == 1) st.pfx = -1;
    st.nwork = tr_threads();
    st.slot_seq = malloc((size_t)S * sizeof(int));
    st.slot_tok = calloc((size_t)S, sizeof(int32_t));
    st.slot_rng = calloc((size_t)S, sizeof(Rng));
    st.seg_slot = malloc((size_t)S * sizeof(int));
    st.seg_len = malloc((size_t)S * sizeof(int));
    st.seg_ids = malloc((size_t)S * sizeof(int32_t *));
    st.adm_prompt = malloc((size_t)S * sizeof(int));
    st.adm_seg = malloc((size_t)S * sizeof(int));
    st.adm_k = malloc((size_t)S * sizeof(int));
    st.adm_slots = malloc((size_t)S * sizeof(int));
    st.logits = tr_alloc((size_t)S * st.V * sizeof(float));
    st.cp_logits = tr_alloc((size_t)st.V * sizeof(float));
    st.lse = malloc((size_t)S * sizeof(float));
    st.jobs = malloc((size_t)S * sizeof(Job));
    st.work = calloc((size_t)st.nwork, sizeof(SamplerWork));
    if (!st.slot_seq || !st.slot_tok || !st.slot_rng || !st.seg_slot || !st.seg_len || !st.seg_ids ||
        !st.adm_prompt || !st.adm_seg || !st.adm_k || !st.adm_slots || !st.logits || !st.cp_logits ||
        !st.lse || !st.jobs || !st.work) {
        err = tr_err(TR_ENOMEM, "rollout: out of memory for %d slots", S);
        goto cleanup;
    }
    for (int i = 0; i < st.nwork && !err; i++) err = sampler_work_init(&st.work[i], st.V);
    if (err) goto cleanup;
    for (int s = 0; s < S; s++) st.slot_seq[s] = -1;
    while (st.done < st.nseq) {
        if ((err = admit_partial(&st))) break;
        int r = one_pass(&st);
        if (r < 0) {
            err = r;
            break;
        }
        if (r == 1 && st.done < st.nseq && st.cp < 0) {
            err = tr_err(TR_EINVAL, "rollout: internal error: %d of %d sequences done and nothing to run",
                         st.done, st.nseq);
            break;
        }
    }
cleanup:
    st.st.seconds = tr_time() - t0;
    if (stats) *stats = st.st;
    if (st.work)
        for (int i = 0; i < st.nwork; i++) sampler_work_free(&st.work[i]);
    free(st.work);
    free(st.jobs);
    free(st.lse);
    tr_free(st.cp_logits);
    tr_free(st.logits);
    free(st.adm_slots);
    free(st.adm_k);
    free(st.adm_seg);
    free(st.adm_prompt);
    free(st.seg_ids);
    free(st.seg_len);
    free(st.seg_slot);
    free(st.slot_rng);
    free(st.slot_tok);
    free(st.slot_seq);
    kvcache_free(&st.kv);
    if (err) rollout_free(out, st.nseq);
    return err;
}
