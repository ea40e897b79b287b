/* The Qwen2 / Llama decoder: config.json, one flat fp32 parameter buffer with
 * Hugging Face named views, batched forward returning per-token log-probs and
 * entropies (never all B x T x V logits at once), and backward from
 * d(loss)/d(log-prob). Pretraining, SFT, scoring and RL share this code. */
#ifndef THINKRL_MODEL_H
#define THINKRL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "thinkrl/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { ARCH_QWEN2 = 0, ARCH_LLAMA = 1 } ModelArch;

#define MODEL_MAX_EOS 8

typedef struct {
    ModelArch arch;
    int C;          /* hidden_size */
    int F;          /* intermediate_size */
    int L;          /* num_hidden_layers */
    int NH;         /* num_attention_heads */
    int KVH;        /* num_key_value_heads */
    int HS;         /* head_dim */
    int V;          /* vocab_size */
    int max_pos;    /* max_position_embeddings */
    float eps;      /* rms_norm_eps */
    float rope_theta;
    int rope_llama3;            /* rope_scaling.rope_type == "llama3" */
    float rope_factor, rope_low, rope_high;
    int rope_orig_max;
    int tie;        /* tie_word_embeddings */
    int qkv_bias;   /* Qwen2: always; Llama: attention_bias */
    int o_bias;     /* Llama attention_bias */
    int mlp_bias;   /* Llama mlp_bias */
    int bos_id;     /* -1 when absent */
    int eos_ids[MODEL_MAX_EOS];
    int n_eos;
} ModelConfig;

/* Views of one layer inside the flat buffer (params or grads). q, k, v are
 * adjacent (one GEMM), and so are gate and up. */
typedef struct {
    float *ln1;     /* (C) input_layernorm */
    float *wqkv;    /* (NH*HS + 2*KVH*HS, C): q_proj, k_proj, v_proj rows */
    float *bqkv;    /* (NH*HS + 2*KVH*HS) or NULL */
    float *wo;      /* (C, NH*HS) */
    float *bo;      /* (C) or NULL */
    float *ln2;     /* (C) post_attention_layernorm */
    float *wgu;     /* (2F, C): gate_proj rows, then up_proj rows */
    float *bgu;     /* (2F) or NULL */
    float *wd;      /* (C, F) down_proj */
    float *bd;      /* (C) or NULL */
} LayerView;

typedef struct {
    float *embed;   /* (V, C) */
    float *norm;    /* (C) */
    float *head;    /* (V, C); == embed when tied */
    LayerView *layer; /* L entries */
} ModelView;

/* One named tensor of the layout (HF name, offset into the flat buffer). */
typedef struct {
    char name[96];
    size_t off;
    int ndim;
    int64_t shape[2];
    size_t numel;
} ParamEntry;

/* A batch: B rows of T tokens.
 * - pos: RoPE position of every token (NULL: 0..T-1 in every row);
 * - seg: document id of every token; seg < 0 marks padding, which is never
 *   attended to. Without `mask`, query t sees key s iff s <= t and
 *   seg[s] == seg[t] (this covers causal, left padding and packing).
 *   NULL: one document per row, no padding;
 * - mask: optional (B, T, T) visibility, 1 = query t may see key s. It
 *   replaces the causal/segment rule (padding keys stay hidden). Quiet-STaR's
 *   thought masks go here. */
typedef struct {
    int B, T;
    const int32_t *ids;
    const int32_t *pos;
    const int32_t *seg;
    const uint8_t *mask;
} ModelBatch;

typedef struct ModelActs ModelActs; /* saved activations, internal */

typedef struct {
    ModelConfig cfg;
    size_t n_params;
    float *params;          /* flat fp32 */
    float *grads;           /* same layout, NULL until model_alloc_grads */
    ModelView w, g;         /* named views into params / grads */
    ParamEntry *table;      /* HF tensors of the layout */
    int n_table;
    float *inv_freq;        /* (HS/2) RoPE inverse frequencies */
    ModelActs *acts;        /* grown to the largest batch seen */
    size_t logits_keep;     /* bytes of logits kept for backward (else recomputed) */
} Model;

/* config.json -> ModelConfig; errors name the file and the field. */
int config_load(ModelConfig *c, const char *path);
/* Checks dimensions are consistent and supported. */
int config_validate(const ModelConfig *c);
/* Writes an HF config.json (atomic). */
int config_save(const ModelConfig *c, const char *path);
/* Named presets: nano, micro, mini, qwen05. */
int config_preset(ModelConfig *c, const char *name);

/* Allocates parameters (zeroed) and the table for a config. */
int model_create(Model *m, const ModelConfig *c);
int model_alloc_grads(Model *m);
void model_free(Model *m);
void model_zero_grads(Model *m);
/* Normal(0, std) weights, ones for norms, zero biases. */
void model_init_random(Model *m, uint64_t seed, float std);
/* Loads DIR/config.json and DIR's safetensors (single or sharded). */
int model_load(Model *m, const char *dir);
/* Writes DIR/config.json and DIR/model.safetensors (ST_F32 or ST_BF16). */
int model_save(const Model *m, const char *dir, StDtype dtype);
const ParamEntry *model_find(const Model *m, const char *name);

/* Forward. targets (B,T): token whose log-prob is wanted at each position,
 * < 0 for none. Writes logp (B,T) and entropy (B,T) (either may be NULL);
 * positions with no target get logp 0, padding gets entropy 0. Saves what
 * model_backward needs. */
int model_forward(Model *m, const ModelBatch *b, const int32_t *targets,
                  float *logp, float *entropy);
/* Accumulates parameter gradients of sum_t dlogp[t]*logp[t] +
 * dent[t]*entropy[t] for the batch of the last model_forward (dent may be
 * NULL). Requires model_alloc_grads. */
int model_backward(Model *m, const ModelBatch *b, const int32_t *targets,
                   const float *dlogp, const float *dent);
/* Forward up to the final norm only (no LM head): for value heads and
 * critics. model_hidden then gives the (B*T, C) final hidden states. */
int model_forward_hidden(Model *m, const ModelBatch *b);
/* The final-norm hidden states (B*T, C) of the last forward (either kind),
 * or NULL. Valid until the next forward or backward. */
const float *model_hidden(const Model *m);
/* model_backward plus d(loss)/d(hidden) (B*T, C, may be NULL) added at the
 * final hidden states: a value head on the shared trunk, or (after
 * model_forward_hidden, with dlogp and dent NULL) a critic. */
int model_backward_hidden(Model *m, const ModelBatch *b, const int32_t *targets, const float *dlogp,
                          const float *dent, const float *dhidden);
/* Full logits (B,T,V) for inspection and tests. */
int model_logits(Model *m, const ModelBatch *b, float *logits);
/* Mean cross-entropy over targets >= 0; with grads != NULL also runs the
 * backward (gradients accumulate). Returns the loss in *loss. */
int model_ce(Model *m, const ModelBatch *b, const int32_t *targets, float *loss, int backward);

/* FLOPs of one forward over n tokens with a context of t (for benchmarks). */
/* Parameters a config's model has, without allocating them. */
int model_count_params(const ModelConfig *c, size_t *n);
/* Bytes of the activations a forward + backward of N tokens holds (what
 * the model grows its buffers to); for memory plans. */
size_t model_acts_bytes(const ModelConfig *c, size_t N);
double model_flops_fwd(const ModelConfig *c, double ntok, double ctx);

#ifdef __cplusplus
}
#endif
#endif
