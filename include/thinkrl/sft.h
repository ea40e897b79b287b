/* Supervised fine-tuning and pretraining: records (a JSONL file or a
 * built-in task) -> token ids -> documents packed into rows of seq_len with
 * no attention across documents -> cross-entropy on completion tokens (or
 * all tokens) -> AdamW with a schedule. Held-out loss every N steps,
 * atomic checkpoints in a run directory, exact resume. */
#ifndef THINKRL_SFT_H
#define THINKRL_SFT_H

#include <stdint.h>
#include <stdio.h>

#include "thinkrl/conf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    /* model */
    char *model_path;          /* an HF directory to start from; "" = new from preset */
    char *model_preset;        /* nano | micro | mini */
    int64_t model_vocab;       /* 0: tokenizer vocab rounded up to 8 */
    int64_t model_hidden, model_layers, model_heads, model_kv_heads, model_intermediate;
    int64_t model_max_pos;
    double model_init_std;
    int64_t model_seed;
    char *tokenizer;           /* "" = model.path's; byte-level for a new model */
    /* data */
    char *data_train, *data_eval;
    char *data_task, *data_task_options;
    int64_t data_n_train, data_n_eval, data_seed;
    double data_eval_frac;
    int data_skip_bad, data_completion_only;
    /* training */
    int64_t seq_len, batch_size, grad_accum, steps, stop_after;
    double epochs, grad_clip;
    int64_t seed;
    /* optimiser */
    double lr, beta1, beta2, eps, weight_decay, min_lr_ratio;
    char *schedule;
    int64_t warmup;
    /* evaluation, checkpoints, logging */
    int64_t eval_every, eval_docs;
    int64_t ckpt_every, ckpt_keep;
    int64_t log_every, threads;
    /* NaN / Inf guard and its fault injection (tests) */
    char *guard_nonfinite;     /* skip | rollback | stop */
    int64_t guard_max_skips;
    char *debug_fault;         /* "nan@K" | "nan_weight@K" | "" */
    char *max_memory;          /* "16G"; "0": the memory available; "off": no check */
} SftConfig;

extern const ConfSchema SFT_SCHEMA;

/* Trains per cfg into run_dir (created): config.yaml (effective config),
 * metrics.jsonl, ckpt/, and at the end model/ (an HF model directory with
 * its tokenizer). resume != 0 continues from run_dir's latest checkpoint
 * (the config is the one given, normally run_dir/config.yaml). Progress
 * goes to `log` (NULL: quiet). */
int sft_run(const SftConfig *cfg, const char *run_dir, int resume, FILE *log);

#ifdef __cplusplus
}
#endif
#endif
