/* thinkrl core: status codes and error messages, checked allocation, a
 * seedable and serialisable RNG, timers. No model or run state lives here;
 * the only global is the per-thread error message. */
#ifndef THINKRL_CORE_H
#define THINKRL_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Library functions return TR_OK (0) or a negative status; the message that
 * explains a failure is kept per thread and read with tr_errmsg(). */
enum { TR_OK = 0, TR_EINVAL = -1, TR_EIO = -2, TR_ENOMEM = -3, TR_EFORMAT = -4 };

/* Formats the message, keeps it for tr_errmsg(), returns `code`. */
int tr_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends "prefix: " to the current message (adds context on the way up). */
int tr_err_ctx(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *tr_errmsg(void);
void tr_err_clear(void);

/* Programming errors: print expression and location, abort. Stays on in
 * release builds. */
#define TR_ASSERT(x)                                                             \
    do {                                                                         \
        if (!(x)) {                                                              \
            fprintf(stderr, "thinkrl: assertion failed: %s (%s:%d)\n", #x,       \
                    __FILE__, __LINE__);                                         \
            abort();                                                             \
        }                                                                        \
    } while (0)

/* 64-byte aligned allocation; returns NULL with a message set on failure. */
void *tr_alloc(size_t bytes);
void *tr_calloc(size_t bytes);
void tr_free(void *p);
/* Reads a whole file; caller frees with free(). Sets *len (may be NULL). */
char *tr_read_file(const char *path, size_t *len);
/* Writes a whole file atomically: temp file, fsync, rename (through a
 * symbolic link: the file it names). An existing non-regular file (a
 * device, a FIFO, /dev/stdout) is written in place instead. */
int tr_write_file_atomic(const char *path, const void *data, size_t len);

/* xoshiro256** generator. The state is four words; copying the struct saves
 * it, so checkpoints and per-sequence streams are plain assignments. */
typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
float rng_uniform(Rng *r);      /* [0, 1) with 24 random bits */
double rng_uniform_d(Rng *r);   /* [0, 1) with 53 random bits */
float rng_normal(Rng *r);       /* standard normal (Box-Muller) */

/* Index of the first NaN or +-Inf in x[0..n), or n when every value is
 * finite. */
size_t tr_first_nonfinite(const float *x, size_t n);

double tr_time(void);           /* monotonic seconds */
int tr_threads(void);           /* threads the kernels use */
void tr_set_threads(int n);     /* n <= 0: keep the OpenMP default */
size_t tr_peak_rss(void);       /* peak resident set size in bytes */

/* Prints a JSON tree so that every number reads back exactly. cJSON's own
 * printer keeps 15 significant digits whenever they read back to within an
 * epsilon, which moves about one double in nine by an ulp: enough to break
 * a bit-exact resume. Here each number prints as the shortest of 15, 16 or
 * 17 digits that reads back to it (NaN and +-Inf as null, as in cJSON).
 * The number items of root become raw items in the process: print the tree
 * last. Free the text with free(). */
struct cJSON;
char *tr_json_print(struct cJSON *root, int formatted);
/* Parses one JSON value that must fill s[0, len) (whitespace aside). cJSON
 * would ignore text after the value and cut a string at a NUL byte or at
 * "\u0000": each is refused here. NULL with the error set ("invalid JSON
 * at column N ..."); free the tree with cJSON_Delete. */
struct cJSON *tr_json_parse_line(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
