/* Generation: a KV cache with a cached forward over it (src/model/decode.c),
 * samplers (src/generate/sampler.c), stop strings (src/generate/stop.c) and
 * the batched, continuous rollout engine (src/generate/rollout.c).
 *
 * The cached forward runs the same fp32 kernels as model_forward (same RoPE
 * tables, same GEMMs), so the logits it gives for a token equal the logits
 * model_logits gives for the same token of the full sequence to within
 * float rounding (tests: 1e-5). Log-probs recorded during generation are
 * therefore the log-probs the training forward computes for the same
 * sequences. Which GEMM kernel runs depends on how many rows a pass holds,
 * so the last bits of a sequence's logits may depend on what it is batched
 * with (tests: identical tokens across thread counts and batch
 * compositions, log-probs within 1e-5). Nothing here depends on a
 * tokenizer: stop strings come in through a callback.
 *
 * Threads: the Model is only read, so several caches (and rollouts) may use
 * one model at once; a KVCache serves one caller at a time. */
#ifndef THINKRL_GENERATE_H
#define THINKRL_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "thinkrl/core.h"
#include "thinkrl/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- KV cache ----
 * S slots, each holding the rotated keys and the values of up to T tokens
 * of one sequence, for every layer; GQA-aware (KVH heads, not NH). Token j
 * of a slot has RoPE position j: a slot holds one sequence from its start
 * (no padding is ever stored). Preallocated at creation; nothing is
 * allocated per step except when a forward pass is larger than any before
 * (scratch grows once). */
typedef struct KVScratch KVScratch; /* forward-pass scratch, internal */

typedef struct {
    int S;          /* slots */
    int T;          /* positions per slot */
    int L, KVH, HS; /* from the model config */
    float *k;       /* (L, S, KVH, Tp/16, HS, 16) rotated keys in blocks of 16
                       positions (Tp: T rounded up to 16) */
    float *v;       /* (L, S, KVH, Tp, HS) values */
    int32_t *len;   /* (S) tokens each slot holds */
    int chunk;      /* most tokens one forward pass takes; longer prefills are split */
    KVScratch *scr;
} KVCache;

/* Bytes of the k and v arrays for a config (for memory checks). */
size_t kvcache_bytes(const ModelConfig *c, int slots, int max_len);
/* Bytes of the forward scratch beside a cache (passes of up to `rows`
 * tokens, attention scratch for `threads` threads); for memory plans. */
size_t kvcache_scratch_bytes(const ModelConfig *c, int slots, int max_len, size_t rows, int threads);
/* Creates an empty cache of `slots` slots of `max_len` positions; max_len
 * must not exceed the model's max_position_embeddings. Free with
 * kvcache_free. */
int kvcache_create(KVCache *kv, const ModelConfig *c, int slots, int max_len);
void kvcache_free(KVCache *kv);
/* Empties a slot (its length becomes 0; nothing is cleared). */
void kvcache_reset(KVCache *kv, int slot);
/* Copies what slot src holds into slots dst[0..n) (the n samples of one
 * prompt share a single prefill). dst may not contain src. */
int kvcache_copy(KVCache *kv, int src, const int *dst, int n);
/* Packs a snapshot of m's weights into the cache (kvcache_pack_bytes more
 * memory) so that batched passes given m read them as column panels instead
 * of re-packing them on every product; passes given another model ignore
 * it. Call again after changing m's weights: the snapshot is not updated.
 * rollout_generate packs for the length of its call. */
int kvcache_pack(KVCache *kv, const Model *m);
size_t kvcache_pack_bytes(const ModelConfig *c);

/* Appends tokens to slots: for i < n, the lens[i] >= 1 tokens ids[i] go into
 * slot slots[i] after what it already holds (an empty slot: a prefill), all
 * in one batched pass (split into passes of at most kv->chunk tokens). The
 * slots must be distinct and have room. If logits != NULL, row i of logits
 * (n, V) receives the next-token logits after the last token appended to
 * slots[i]. Every input is checked before any work is done. */
int decode_prefill(const Model *m, KVCache *kv, int n, const int *slots, const int32_t *const *ids,
                   const int *lens, float *logits);
/* One decode step: token tok[i] is appended to slot slots[i] (distinct) and
 * row i of logits (n, V) receives the logits that follow it. Equivalent to
 * decode_prefill with one token per slot, without the pointer arrays. */
int decode_step(const Model *m, KVCache *kv, int n, const int *slots, const int32_t *tok,
                float *logits);

/* ---- sampler ----
 * The distribution is built from the logits z in this order (as in
 * transformers): temperature, top-k, top-p, min-p; then one token is drawn
 * with a single rng_uniform_d draw by walking the kept tokens in a fixed
 * order, so the draw depends on z and the Rng only (not on threads or on
 * what else is in the batch). */
typedef struct {
    float temperature; /* <= 0, or so small that 1/T overflows: greedy (argmax,
                          the lowest id on ties; no draw) */
    int top_k;         /* keep the k most likely tokens; 0: off */
    float top_p;       /* keep the smallest set of most likely tokens whose
                          probability reaches top_p; 1: off */
    float min_p;       /* keep tokens with p >= min_p * p_max; 0: off */
} SamplerConfig;

/* Checks the values (temperature finite and >= 0, top_k >= 0,
 * 0 < top_p <= 1, 0 <= min_p < 1); errors name the field. */
int sampler_check(const SamplerConfig *sc);

/* Scratch for one thread's draws over a vocabulary of V. */
typedef struct {
    int V;
    float *w;      /* (V) unnormalised probabilities */
    int32_t *idx;  /* (V) candidate ids */
} SamplerWork;
int sampler_work_init(SamplerWork *w, int V);
void sampler_work_free(SamplerWork *w);

/* Draws a token from logits z (V). *lp_sample (may be NULL) receives its
 * log-probability under the distribution actually sampled (tempered,
 * truncated, renormalised; 0 for greedy). Ties in the ordering of
 * probabilities are broken by the lower id. */
int32_t sampler_sample(const SamplerConfig *sc, const float *z, int V, Rng *rng, SamplerWork *w,
                       float *lp_sample);

/* ---- stop strings ----
 * Matches stop strings against the text of each sequence, given the bytes
 * each new token adds to it. The engine knows no tokenizer: a caller with one
 * feeds the pieces of its streaming decoder (stopstr_push), or hands a piece
 * function to stopstr_check, which fits RolloutConfig.stop. A stop string is
 * found as soon as its last byte arrives, even when it spans tokens; only
 * occurrences ending in the newest piece count. */
typedef int (*TokenPieceFn)(void *ctx, int seq, int32_t id, const char **text, size_t *len);

typedef struct {
    int n_seq, n_stops;
    char **stops;      /* owned copies */
    size_t *stop_len;
    size_t keep;       /* longest stop string - 1: bytes of tail kept */
    char *tail;        /* (n_seq, keep) last bytes of each sequence's text */
    size_t *tail_len;  /* (n_seq) */
    char *buf;         /* tail + piece */
    size_t buf_cap;
    TokenPieceFn piece;
    void *piece_ctx;
} StopStrings;

/* stops: n_stops non-empty strings (copied). piece may be NULL when only
 * stopstr_push is used. */
int stopstr_init(StopStrings *s, int n_seq, const char *const *stops, int n_stops, TokenPieceFn piece,
                 void *piece_ctx);
void stopstr_free(StopStrings *s);
/* Appends a piece of sequence seq's text; returns 1 if a stop string now
 * ends inside it, 0 if not, < 0 on error. */
int stopstr_push(StopStrings *s, int seq, const char *piece, size_t len);
/* RolloutConfig.stop adaptor (ctx is the StopStrings): pushes the piece of
 * tokens[n-1] obtained from the piece function. */
int stopstr_check(void *ctx, int seq, const int32_t *tokens, int n);

/* ---- rollouts ---- */
typedef enum { FINISH_NONE = 0, FINISH_EOS = 1, FINISH_STOP = 2, FINISH_LENGTH = 3 } FinishReason;
/* "eos", "stop", "length" ("none" for unfinished). */
const char *finish_reason_name(FinishReason r);

typedef struct {
    const int32_t *ids;
    int len;
} Prompt;

/* One generated sequence. logp and logp_sample are per generated token. The
 * token that ends a sequence (an eos id, the token completing a stop
 * string) is part of it. */
typedef struct {
    int prompt, sample;  /* which prompt, which of its n samples */
    int n;               /* generated tokens */
    int32_t *tokens;     /* (n) */
    float *logp;         /* (n) log-prob under the policy: log_softmax of the
                            logits at temperature 1 over the full vocabulary */
    float *logp_sample;  /* (n) log-prob under the distribution it was drawn from */
    FinishReason finish;
    int cap;             /* allocated entries */
} Rollout;

#define ROLLOUT_MAX_EOS 16
#define ROLLOUT_DEFAULT_SLOTS 64

typedef struct {
    SamplerConfig sampler;
    int n;              /* samples per prompt, >= 1 */
    int max_new_tokens; /* >= 1; a sequence that reaches the context
                           (max_position_embeddings) also ends with "length" */
    int slots;          /* sequences decoded together; 0: min(total, ROLLOUT_DEFAULT_SLOTS) */
    int no_pack;        /* 0: pack the weights once per call for the batched
                           products (kvcache_pack: kvcache_pack_bytes more
                           memory); 1: read them as stored (slower decode) */
    uint64_t seed;      /* sequence (p, s) draws from an Rng seeded by (seed, p, s) */
    int32_t eos[ROLLOUT_MAX_EOS]; /* ids that end a sequence with "eos" */
    int n_eos;
    /* Called after each generated token (in the calling thread); returns 1
     * to end the sequence with "stop", 0 to go on, < 0 to abort the whole
     * generation with that status. seq = prompt * n + sample. */
    int (*stop)(void *ctx, int seq, const int32_t *tokens, int n);
    void *stop_ctx;
    /* Progress (may be NULL): each new token, each finished sequence. */
    void (*on_token)(void *ctx, int seq, int32_t tok);
    void (*on_finish)(void *ctx, int seq, const Rollout *r);
    void *cb_ctx;
} RolloutConfig;

/* What one rollout_generate did (for benchmarks and logs). */
typedef struct {
    int64_t passes;        /* forward passes over the cache */
    int64_t rows;          /* tokens they processed (prompt and generated) */
    int64_t new_tokens;    /* generated tokens */
    int max_active;        /* most sequences decoded together */
    double seconds;
} RolloutStats;

/* Defaults: temperature 1, top_k 0, top_p 1, min_p 0, n 1,
 * max_new_tokens 256, slots 0, seed 0, eos ids from the model config, no
 * callbacks. */
void rollout_config_init(RolloutConfig *rc, const ModelConfig *c);

/* Bytes rollout_generate holds at most for n_prompts prompts of up to
 * max_prompt tokens, n samples each, max_new_tokens and slots as in
 * RolloutConfig: KV cache, logits, forward scratch (for memory plans);
 * add kvcache_pack_bytes(c) unless no_pack is set. */
size_t rollout_bytes(const ModelConfig *c, int n_prompts, int n, int slots, int max_prompt, int max_new_tokens);

/* Generates rc->n samples for each of the n_prompts prompts. out must hold
 * n_prompts * rc->n entries; entry p * n + s is sample s of prompt p,
 * whatever order sequences finish in (free with rollout_free). Prompts
 * enter as slots free up (continuous batching); the n samples of a prompt
 * share one prefill. Every input is checked before any work is done:
 * errors name the prompt (empty, an id outside the vocabulary, no room left
 * in the context) or the setting. stats may be NULL. */
int rollout_generate(const Model *m, const Prompt *prompts, int n_prompts, const RolloutConfig *rc,
                     Rollout *out, RolloutStats *stats);
void rollout_free(Rollout *r, int n);

#ifdef __cplusplus
}
#endif
#endif
