/* Reward functions (ALGORITHMS 4): a registry of named functions with one
 * signature (a response in its context -> a number, optionally a per-token
 * vector), and a RewardSet that combines them as a weighted sum configured
 * per run ("accuracy:1,format:0.1,length(max=1024):1"). The built-ins are
 * format, accuracy, equation, iou, consistency, taco, length, contains and
 * exec (an external verifier program speaking JSON lines). This module scores; it
 * does not generate, tokenize or normalise advantages. */
#ifndef THINKRL_REWARD_H
#define THINKRL_REWARD_H

#include <stddef.h>

#include "thinkrl/core.h"
#include "thinkrl/data.h"
#include "thinkrl/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a reward function sees about one response. Nothing is owned. */
typedef struct {
    const char *response;  /* the decoded response text (need not be NUL-terminated) */
    size_t response_len;   /* its length in bytes */
    int n_tokens;          /* its length in tokens (length, exec) */
    int max_tokens;        /* the generation limit of the run, 0 = unknown (length's
                              default L_max) */
    int truncated;         /* 1 when generation stopped at the limit, not at eos */
    const Record *rec;     /* the prompt's record: answer, meta (task, numbers, ...) */
    const char *prompt;    /* the prompt text as the model saw it (exec sends it);
                              NULL: the record's prompt, or its last user message */
} RewardCtx;

/* One option a function accepts, with its default as text. */
typedef struct {
    const char *key;
    const char *def;
    const char *help;
} RewardParam;

#define REWARD_MAX_OPTS 8
#define REWARD_MAX_TERMS 16

typedef struct RewardDef RewardDef;

/* A configured function in a set: the definition, its weight, its options
 * (every key of def->params, defaults filled in) and the state its init
 * built from them. */
typedef struct {
    const RewardDef *def;
    double weight;
    int n_opts;
    const char *key[REWARD_MAX_OPTS]; /* point into def->params */
    char *val[REWARD_MAX_OPTS];       /* owned */
    void *state;                      /* owned by def->init / def->free */
} RewardTerm;

/* A reward function. Built-ins live in a static table (reward_find); other
 * C code can define its own and add it with reward_set_add_def.
 * - init (may be NULL): validate the options (reward_opt*) and build
 *   t->state; errors name the option. Runs once, when the set is built.
 * - score: *out = the value for one response. tok (NULL when the caller
 *   does not want it) has c->n_tokens floats, zeroed by the caller; a
 *   per-token function adds its per-token rewards there. Returns TR_OK or a
 *   negative status with tr_errmsg() set (bad record, verifier failure):
 *   an error is never turned into a silent zero.
 * - score_batch (may be NULL): the same for n responses at once (exec
 *   pipelines them); when NULL the set calls score n times.
 * - free (may be NULL): releases t->state. */
struct RewardDef {
    const char *name;
    const char *help;   /* one line */
    const RewardParam *params;
    int n_params;
    int (*init)(RewardTerm *t);
    int (*score)(RewardTerm *t, const RewardCtx *c, double *out, float *tok);
    int (*score_batch)(RewardTerm *t, const RewardCtx *c, int n, double *out);
    void (*free)(RewardTerm *t);
};

/* The built-ins and their options (defaults in brackets). "The answer" is
 * the content of the last <answer>...</answer>, "the think part" that of
 * the first <think>...</think> (verify_parse; tag names from the options
 * think [think] and answer [answer], which every function but length,
 * contains and exec takes).
 * - format: 1 if verify_parse says format_ok, else 0.
 * - accuracy (task []): when meta.task names a task (else the option task),
 *   that task's scorer on the answer; otherwise verify_answer(answer,
 *   record answer), and, when the reference is one letter and meta.choices
 *   lists the options' texts, the text of that option counts too. No
 *   answer: 0. A record naming an unknown task, or with neither an answer
 *   nor a task: an error.
 * - equation: verify_equation(answer, meta.numbers, meta.target); no
 *   answer: 0; a record without numbers and target: an error.
 * - iou (mode [soft] | hard, threshold [0.5]): the answer's last box
 *   (reward_parse_box) against the record's (answer text, else meta.box):
 *   soft = IoU, hard = 1[IoU > threshold]. No valid box in the answer: 0;
 *   no valid reference box: an error.
 * - consistency (box_iou [0]): 1 if the think part's final conclusion
 *   agrees with the answer, else 0 (no or empty think or answer: 0). The
 *   form of the answer decides what the conclusion is:
 *     a box -> the last box in think; agree when all four numbers are
 *       equal (1e-9 relative), or IoU >= box_iou when box_iou > 0;
 *     a choice ("B", "(B)", "B)", "B.", "B: text") -> the last option
 *       mentioned in think: "(B)" / "(b)", "B)" at a word start, or an
 *       upper-case letter standing alone after "option", "choice" or
 *       "answer" (then optionally ':' , '*', quotes or "is"); same letter;
 *     a number (verify_number, a trailing '.' allowed) -> the last number
 *       written in think ("-5" when the '-' is not a binary minus, "1,000",
 *       "2.5e3", "3/4"); agree when verify_answer(that, answer);
 *     an arithmetic expression (verify_expr: "3*(4+6)") -> the last
 *       number written in think equals its value (1e-9 relative), as in
 *       "4+6=10,3*10=30", or else the rule for other text;
 *     other text -> the answer (case-folded, whitespace collapsed, a
 *       trailing '.' dropped) occurs in think as whole words.
 * - taco (w_tac [1], acc [accuracy] | iou | equation, task [], mode [soft],
 *   threshold [0.5], box_iou [0]): acc + fmt + w_tac * 1[consistent AND
 *   correct], with fmt = format, consistent = consistency, and acc /
 *   correct from the acc check: accuracy or equation give 0/1 for both;
 *   iou gives acc = IoU (mode soft) or 1[IoU > threshold] (hard) and
 *   correct = 1[IoU > threshold].
 * - length (max [0], cache [0]): reward_overlong(n_tokens, L_max,
 *   L_cache) with L_max = max, or the context's max_tokens when 0 (neither:
 *   an error), and L_cache = cache, or L_max / 5 when 0.
 * - contains (words, mode [any] | all | none, case [true] | false): 1 when
 *   any (all; none) of the '|'-separated words occurs in the whole response
 *   as a whole word (the bytes just before and after it are not ASCII
 *   letters, digits or '_'), else 0. case=false ignores ASCII case. Spaces
 *   around each word are dropped; words empty, or an empty word in it
 *   ("a||b"): an error when the set is built. Example:
 *   "contains(words='She|her')".
 * - exec (cmd, timeout [30]): see below.
 *
 * exec: the verifier is started when the term is added (argv split from
 * cmd like a shell splits words, no shell run; its own process group;
 * stdin, stdout and stderr are pipes to us). For each response we write one
 * line
 *   {"prompt": str|null, "response": str, "record": {id, prompt|messages,
 *    completion, answer, images, meta}, "n_tokens": int, "truncated": bool}
 * (strings are valid UTF-8: invalid bytes in the response become U+FFFD)
 * and read one line {"reward": finite number} (other keys ignored; blank
 * lines skipped), in order. A batch writes all its requests while reading
 * replies (pipelined). Every failure is an error naming the verifier by
 * its argv, and the verifier is then killed (its whole process group) and
 * reaped; the next call starts a fresh one:
 *   "cannot start verifier 'X': No such file or directory"
 *   "verifier 'X' exited with status 3 after 1 reply (no reply to request
 *    2 of 2); stderr: <last lines>" (or "was killed by signal 15
 *    (Terminated)"; also when it died between calls)
 *   "verifier 'X' timed out: no reply to request 1 of 4 within 30 s
 *    (killed it); stderr: ..." (timeout counts from the previous reply)
 *   "verifier 'X': reply 1 of 4 is not a JSON object: '<line>'"
 *   "verifier 'X': reply 1 of 4 has no \"reward\": '<line>'"
 *   "verifier 'X': reply 1 of 4: \"reward\" is not a finite number: '<line>'"
 *   "verifier 'X': reports an error for request 1 of 4: <its "error">"
 *   "verifier 'X' sent more replies than requests (4): '<line>'" / "wrote
 *    lines nobody asked for"
 *   "verifier 'X': reply 2 of 4 is longer than 1048576 bytes"
 * SIGPIPE is blocked in the calling thread while writing (a dead verifier
 * gives EPIPE, and a SIGPIPE raised meanwhile is consumed). On
 * reward_set_free the verifier gets EOF on stdin and 1 s to exit, then
 * SIGTERM, then SIGKILL; it is always reaped. */

/* The registry of built-ins. */
const RewardDef *reward_find(const char *name);
int reward_count(void);
const RewardDef *reward_at(int i);

/* Option lookup for init functions: the value as text (NULL if not a key),
 * and typed getters whose errors name the function and the option
 * ("reward 'iou': option 'threshold': expected a number in [0, 1], got 'x'"). */
const char *reward_opt(const RewardTerm *t, const char *key);
int reward_opt_num(const RewardTerm *t, const char *key, double lo, double hi, double *out);
int reward_opt_int(const RewardTerm *t, const char *key, long lo, long hi, long *out);

/* A weighted sum of terms. Zero it (or reward_set_init), add terms, score,
 * reward_set_free. One thread at a time per set (exec owns a process). */
typedef struct {
    int n;
    RewardTerm term[REWARD_MAX_TERMS];
} RewardSet;

void reward_set_init(RewardSet *s);
/* Appends the terms of a spec: items separated by ',', each
 *     name [ '(' key=value, ... ')' ] [ ':' weight ]
 * (the options may also follow the weight: "iou:1(mode=hard)"). The weight
 * defaults to 1 and may be any finite number (0 keeps the function for
 * logging only). A value may be quoted with '...' or "..." to hold ',' or
 * ')'. Whitespace around names, weights, keys and values is ignored.
 * Errors: an unknown function name (suggesting the closest known one), an
 * unknown option (listing the valid ones), a bad weight or value, a name
 * listed twice, unbalanced parentheses or quotes, an empty item. On error
 * the set is left as it was. */
int reward_set_parse(RewardSet *s, const char *spec);
/* Adds one built-in by name with options kv[0..n) ("key=value"). */
int reward_set_add(RewardSet *s, const char *name, double weight, const char *const *kv, int n);
/* Adds a caller-defined function (def must outlive the set). */
int reward_set_add_def(RewardSet *s, const RewardDef *def, double weight, const char *const *kv,
                       int n);
/* Stops verifiers (waiting for each, no zombies) and frees the terms. */
void reward_set_free(RewardSet *s);
/* Stops every verifier (orderly: EOF on its stdin, then TERM, then KILL)
 * and starts it afresh. Not needed after an error: the call after a failed
 * one starts a fresh verifier by itself. */
int reward_set_restart(RewardSet *s);
/* Term i's name (the function's name: the key for logging reward/<name>). */
const char *reward_set_name(const RewardSet *s, int i);
/* Writes the set as a spec that reward_set_parse reads back. */
void reward_set_print(const RewardSet *s, FILE *f);

/* Scores one response: *total = sum_i weight_i * value_i; values[i]
 * (may be NULL; s->n entries) = each term's unweighted value; tok (may be
 * NULL; c->n_tokens floats) = the weighted sum of the per-token vectors
 * (zero when no term has one). On error returns the status with
 * tr_errmsg() = "reward 'name': ..." and the outputs are unspecified. */
int reward_score(RewardSet *s, const RewardCtx *c, double *total, double *values, float *tok);
/* Scores n responses: total[i], values[i * s->n + j] (may be NULL), tok[i]
 * (tok may be NULL, and so may each tok[i]). Terms with a batch
 * function (exec) see all n responses in one call. */
int reward_score_batch(RewardSet *s, const RewardCtx *c, int n, double *total, double *values,
                       float **tok);

/* ---- helpers behind the built-ins, exposed for tests and the TTRS vote ---- */

/* A box "[x1, y1, x2, y2]" (or "(x1, y1, x2, y2)"): the LAST group of four
 * numbers in brackets in text (which == -1) or the FIRST (which == 1);
 * plain "x1, y1, x2, y2" when the whole text is that. Numbers are ints or
 * decimals with optional sign and exponent. Returns 1 when found and valid
 * (finite, x1 <= x2, y1 <= y2), else 0. */
int reward_parse_box(const char *text, size_t n, int which, double box[4]);
/* The consistency verdict of one response, as the built-in with default
 * options computes it: *ok = 1 when the think part's conclusion agrees with
 * the answer, else 0. tags NULL: <think> and <answer>. Returns TR_OK or
 * TR_ENOMEM. */
int reward_consistent(const char *resp, size_t n, const VerifyTags *tags, int *ok);
/* Intersection over union of two valid boxes; 0 when the union is empty. */
double reward_iou(const double a[4], const double b[4]);
/* The DAPO soft overlong penalty: with L_exp = L_max - L_cache, 0 when
 * len <= L_exp, (L_exp - len) / L_cache up to L_max, -1 beyond.
 * Requires 0 < L_cache <= L_max. */
double reward_overlong(int len, int l_max, int l_cache);
/* The exec verifier's reply reader without a process (tests, fuzzing):
 * takes text[0..len) as a verifier's whole output for n requests and reads
 * it the way exec does (one JSON object per '\n'-terminated line, blank
 * lines skipped) into out[0..n). TR_OK when exactly n replies came and only
 * whitespace follows; otherwise the error exec would report (bad reply,
 * reply too long, more replies than requests), or TR_EIO when the output
 * ends before reply n. */
int reward_exec_replies(const char *text, size_t len, int n, double *out);
/* Process id of term i's verifier (exec), -1 when it is not running or the
 * term is not exec. */
long reward_exec_pid(const RewardSet *s, int i);

#ifdef __cplusplus
}
#endif
#endif
