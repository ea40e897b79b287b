/* Dataset records in JSONL: one JSON object per line,
 *   {"id", "prompt" | "messages", "completion", "answer", "images", "meta"}.
 * The reader streams a file line by line and validates each record; errors
 * name the file, the line and the field. Tasks, SFT, evaluation and RL all
 * read records through this module. */
#ifndef THINKRL_DATA_H
#define THINKRL_DATA_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

typedef struct {
    char *role;     /* "system", "user", "assistant", ... (any non-empty string) */
    char *content;
} DataMsg;

/* One record. Strings are owned (malloc'ed, NUL-terminated).
 * - id: "id" as a string (an integer id is printed in decimal); when the
 *   line has none, "line-N" with N its 1-based line number;
 * - exactly one of prompt ("prompt": string) and messages ("messages":
 *   non-empty array of {"role": string, "content": string});
 * - completion: optional string, the SFT target that follows the prompt
 *   (with messages, a final assistant message is the target instead);
 * - answer: optional reference answer, a string or a JSON number (kept as
 *   the shortest text that reads back to the same double: 42, 0.5, 1e+30);
 * - images: optional array of strings (paths relative to the data file as
 *   written; not opened here);
 * - meta: optional object (task name, pattern, difficulty, numbers, ...);
 *   always a JSON object after parsing ({} when absent), owned.
 * Other top-level keys are ignored (see DataReader.n_unknown). */
typedef struct {
    char *id;
    char *prompt;
    DataMsg *messages;
    int n_messages;
    char *completion;
    char *answer;
    char **images;
    int n_images;
    struct cJSON *meta;
} Record;

/* Parses one JSON line into *rec (zeroed first). line_no (>= 1) names the
 * default id. On error returns TR_EFORMAT with tr_errmsg() naming the field
 * ("field 'messages[1].role': expected a string") and leaves *rec empty. */
int record_parse(const char *line, size_t len, int64_t line_no, Record *rec);
void record_free(Record *rec);
/* Deep copy. */
int record_copy(Record *dst, const Record *src);
/* Writes rec as one JSON line (keys in the order above, absent optional
 * fields left out, meta left out when empty) followed by '\n'. */
int record_write(FILE *f, const Record *rec);
/* Convenience for generators: meta fields. Each returns TR_OK or TR_ENOMEM
 * (creating meta when NULL). */
int record_meta_set_str(Record *rec, const char *key, const char *val);
int record_meta_set_num(Record *rec, const char *key, double val);
int record_meta_set_nums(Record *rec, const char *key, const double *vals, int n);
/* Getters: NULL / fallback when the key is absent or of another type. */
const char *record_meta_str(const Record *rec, const char *key);
double record_meta_num(const Record *rec, const char *key, double fallback);
/* Number array: returns its length (at most max copied into out), -1 if
 * absent or not an array of numbers. */
int record_meta_nums(const Record *rec, const char *key, double *out, int max);

/* Streaming reader. Blank lines (only whitespace) are skipped and do not
 * count as records, but line numbers count every line. */
typedef struct DataReader DataReader;
int data_open(DataReader **r, const char *path); /* "-" reads stdin */
/* Reads the next record: returns 1 with *rec filled, 0 at the end, or a
 * negative status with tr_errmsg() = "FILE:LINE: field 'x': ..." (the
 * reader stays usable: the next call goes on with the following line). */
int data_next(DataReader *r, Record *rec);
int64_t data_line(const DataReader *r);       /* line of the last record or error */
const char *data_path(const DataReader *r);
/* Top-level keys the reader ignored so far: how many distinct names, and
 * the first one with the line it was first seen on (for one warning). */
int data_unknown_keys(const DataReader *r, const char **first, int64_t *first_line);
void data_close(DataReader *r);

/* A whole file in memory. */
typedef struct {
    Record *rec;
    int64_t n;
    int64_t skipped;    /* bad lines skipped (skip_bad) */
} Dataset;
/* Loads every record of path. skip_bad = 0: the first bad line is an error
 * (file:line: field). skip_bad = 1: bad lines are reported on `log` (when
 * not NULL; the first 10 in full, then a count) and skipped; the count is
 * in d->skipped. A file with no records is an error. */
int dataset_load(Dataset *d, const char *path, int skip_bad, FILE *log);
void dataset_free(Dataset *d);

#ifdef __cplusplus
}
#endif
#endif
