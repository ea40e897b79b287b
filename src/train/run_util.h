/* Internal helpers shared by the training loops (src/train/sft.c,
 * src/rl/trainer.c). */
#ifndef THINKRL_RUN_UTIL_H
#define THINKRL_RUN_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "thinkrl/model.h"

/* splitmix64 finaliser: decorrelates seeds. */
uint64_t run_mix64(uint64_t x);
/* Splits "a=1 b=2" on blanks into an argv-like array *kv of *n entries
 * pointing into *store (an owned copy); free both. */
int run_split_opts(const char *s, char **store, char ***kv, int *n);
/* "1m05s" / "2h03m" / "?" */
void run_fmt_eta(double s, char *buf, size_t cap);
/* Keeps the metrics.jsonl lines of steps <= step (a resumed run rewrites
 * the rest); no file is fine. */
int run_metrics_truncate(const char *path, int64_t step);
/* RUN/model: the model and the tokenizer files of tok_dir, replaced as a
 * whole. */
int run_save_final(const Model *m, const char *run_dir, const char *tok_dir);
/* 1 for the parameters AdamW decays (matrices; not norms, biases or a tied
 * head's second view). mask holds m->n_params bytes. */
void run_decay_mask(const Model *m, uint8_t *mask);
/* Adds a metrics.jsonl number to o: null when v is not finite (JSON has no
 * NaN); print the object with tr_json_print for exact digits. */
struct cJSON;
void run_add_num(struct cJSON *o, const char *k, double v);
/* Writes o as one line of f (named `file` in errors) with exact numbers
 * (tr_json_print) and deletes o. Out of memory (o NULL included) is an
 * error; write errors are left to the caller's ferror after fflush. */
int run_json_line(FILE *f, struct cJSON *o, const char *file);

#endif
