/* Evaluation: unbiased pass@k, maj@k, and the evaluation of a model on a
 * dataset (K samples per prompt: accuracy, pass@k, maj@k, format rate,
 * lengths, and per reasoning pattern its frequency and accuracy). The
 * aggregation is separate from generation so the RL trainer logs the same
 * numbers from its own rollouts. */
#ifndef THINKRL_EVAL_H
#define THINKRL_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "thinkrl/data.h"
#include "thinkrl/generate.h"
#include "thinkrl/task.h"
#include "thinkrl/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Unbiased pass@k from n samples with c correct: 1 - C(n-c,k)/C(n,k),
 * computed as a product (no overflow). Requires 0 <= c <= n, 1 <= k <= n. */
double eval_pass_at_k(int n, int c, int k);

/* maj@k: the expected correctness of a majority vote over k of the n
 * samples, drawn uniformly without replacement. key[i] is sample i's
 * normalised answer (equal keys = same answer; key < 0: no answer, which
 * never wins a vote), correct[i] its verdict (answers with the same key
 * must share it). A tie between answers counts the correct share of the
 * tied answers. Exact (all subsets) when C(n,k) <= 20000, otherwise the
 * mean over 4096 subsets drawn with a fixed seed. n <= 64. */
double eval_maj_at_k(const int *key, const uint8_t *correct, int n, int k);

/* Normalised answer text used for voting: a number (verify_number) becomes
 * its value printed with %.12g; other text is trimmed, ASCII-lowercased,
 * with whitespace runs collapsed. Writes at most cap bytes (NUL-terminated). */
void eval_answer_key(const char *ans, size_t n, char *out, size_t cap);

/* Per-response verdicts, filled by whoever scored the responses (eval or
 * the RL trainer), and their aggregate. */
typedef struct {
    uint8_t correct, format_ok, truncated;
    int pattern;   /* index into the PatternSet, -1 = other */
    int len;       /* generated tokens */
    int key;       /* answer key id within its prompt (see eval_maj_at_k), -1 = none */
} EvalVerdict;

#define EVAL_MAX_K 8
typedef struct {
    int n_prompts, n;          /* prompts, samples per prompt */
    double acc;                /* mean pass@1 = mean fraction correct */
    int n_k;
    int k[EVAL_MAX_K];         /* 1, 2, 4, ... <= n, and n */
    double pass_at[EVAL_MAX_K];
    double maj_at[EVAL_MAX_K];
    double format_rate, mean_len, trunc_rate;
    int n_patterns;            /* ps->n + 1 (the last is "other") */
    double pat_freq[PATTERN_MAX + 1], pat_acc[PATTERN_MAX + 1];
    int64_t pat_count[PATTERN_MAX + 1], pat_correct[PATTERN_MAX + 1];
} EvalSummary;
/* Aggregates v[p * n + s] (n_prompts * n verdicts). */
void eval_summarize(const EvalVerdict *v, int n_prompts, int n, int n_pattern_rules,
                    EvalSummary *out);
/* A readable table (labels from ps; may be NULL) / one JSON object. */
void eval_print_table(const EvalSummary *s, const PatternSet *ps, FILE *f);
void eval_print_json(const EvalSummary *s, const PatternSet *ps, FILE *f);

/* Prompt ids of a record: a "prompt" string is encoded as it is (with the
 * tokenizer's post-processor, e.g. a BOS); "messages" go through the chat
 * template with the generation prompt (a final assistant message, the SFT
 * target, is left out). */
int data_prompt_ids(Tokenizer *tok, const Record *rec, TokIds *out);
/* SFT ids: prompt then completion; *n_prompt tells where the completion
 * starts. A "completion" string is encoded after the prompt and followed
 * by the tokenizer's eos; with messages, the final assistant message is the
 * completion (rendered by the template, its end token included). A record
 * with no completion gives its whole text as completion (pretraining). */
int data_sft_ids(Tokenizer *tok, const Record *rec, TokIds *out, size_t *n_prompt);
/* The text of a response for scoring: generated tokens decoded, the final
 * eos (finish == eos) left out. *out malloc'ed. */
int data_response_text(const Tokenizer *tok, const Rollout *r, char **out, size_t *len);

typedef struct {
    int n;                    /* samples per prompt */
    int max_new_tokens;
    SamplerConfig sampler;
    uint64_t seed;
    int slots;                /* 0: rollout default */
    int no_pack;              /* RolloutConfig.no_pack */
    const char *task;         /* fallback task for records without meta.task (NULL: arith) */
    const char *patterns;     /* classifier spec "name=re;..." (NULL: the task's) */
    int samples_out;          /* responses to keep per prompt in the result (0..n) */
} EvalConfig;
void eval_config_init(EvalConfig *ec);

typedef struct {
    EvalSummary sum;
    PatternSet ps;
    EvalVerdict *v;           /* (n_prompts * n) */
    char **text;              /* (n_prompts * n): the first samples_out responses of
                                 each prompt, NULL elsewhere; NULL when none kept */
    size_t n_text;
    double seconds, tok_per_s;
} EvalResult;
/* Generates ec->n samples for every record, scores them with the records'
 * tasks, classifies their think text and summarises. Records without an
 * answer are an error naming the record. */
int eval_run(const Model *m, Tokenizer *tok, const Dataset *d, const EvalConfig *ec, EvalResult *out);
void eval_result_free(EvalResult *r);

#ifdef __cplusplus
}
#endif
#endif
