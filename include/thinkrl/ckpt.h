/* Checkpoints of a run directory. RUN/ckpt/step-NNNNNNNN/ holds a complete
 * Hugging Face model directory (config.json, model.safetensors and the
 * tokenizer files), the AdamW moments (optim.safetensors) and state.json:
 * the step, the optimiser's step count, the caller's state (RNG streams,
 * sampler position, counters) and a checksum of every file. A checkpoint is
 * written into a temporary directory that is renamed into place, then
 * RUN/ckpt/latest names it (atomic replace), so a crash at any moment
 * leaves the previous checkpoint intact and `latest` pointing at a complete
 * one. */
#ifndef THINKRL_CKPT_H
#define THINKRL_CKPT_H

#include <stdint.h>

#include "thinkrl/core.h"
#include "thinkrl/model.h"
#include "thinkrl/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

/* Writes checkpoint `step`. opt may be NULL (no optimiser state). state is
 * the caller's JSON object (not taken; may be NULL). tok_dir (may be NULL)
 * is a directory whose tokenizer.json / tokenizer_config.json /
 * chat_template.jinja are copied in. Keeps the newest keep_last
 * checkpoints (<= 0: keep all). */
int ckpt_save(const char *run_dir, int64_t step, const Model *m, const AdamW *opt,
              const struct cJSON *state, const char *tok_dir, int keep_last);

/* ckpt_save plus caller files: extra(ctx, dir) writes more plain files
 * into the checkpoint's temporary directory before the checksums are taken
 * (a critic, a value head); they are verified on load like the rest. */
typedef int (*CkptExtraFn)(void *ctx, const char *dir);
int ckpt_save_ex(const char *run_dir, int64_t step, const Model *m, const AdamW *opt,
                 const struct cJSON *state, const char *tok_dir, int keep_last, CkptExtraFn extra,
                 void *extra_ctx);

/* TR_OK when every weight of m (and every AdamW moment of opt, which may be
 * NULL) is finite; else TR_EINVAL with a message naming `what`, the tensor
 * and the index of the first NaN / Inf. ckpt_save_ex checks this before it
 * writes anything, so a checkpoint never holds a NaN. */
int ckpt_check_finite(const Model *m, const AdamW *opt, const char *what);
/* Path of the newest complete checkpoint of run_dir into path (cap bytes)
 * and its step. Returns TR_OK, 1 when the run has none, or an error. */
int ckpt_latest(const char *run_dir, char *path, size_t cap, int64_t *step);

/* Loads a checkpoint directory: verifies every checksum, then the model
 * (model_load into *m), the optimiser moments into *opt (created; may be
 * NULL to skip) and the caller's state (*state receives a cJSON object the
 * caller deletes; may be NULL). *step receives the step. */
int ckpt_load(const char *dir, Model *m, AdamW *opt, struct cJSON **state, int64_t *step);

/* A count of a checkpoint's state: j[key] must be an integer in [lo, hi]
 * (hi at most CKPT_COUNT_MAX, where doubles stop holding every integer).
 * Else TR_EFORMAT naming `what` ("checkpoint state: sampler.cursor"): a
 * hand-edited or damaged state.json (the manifest holds the other files'
 * checksums, not its own) is refused, never cast blindly. */
#define CKPT_COUNT_MAX ((int64_t)1 << 53)
int ckpt_state_count(const struct cJSON *j, const char *key, int64_t lo, int64_t hi, const char *what, int64_t *v);

/* RNG state <-> JSON ("s": four 16-digit hex words). */
struct cJSON *ckpt_rng_json(const Rng *r);
int ckpt_rng_from_json(const struct cJSON *j, Rng *r);

/* Copies a file (atomically at dst). */
int ckpt_copy_file(const char *src, const char *dst);
/* Creates a directory and its parents (mkdir -p). */
int ckpt_mkdirs(const char *dir);

#ifdef __cplusplus
}
#endif
#endif
