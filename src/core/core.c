/* Core services: per-thread error messages, aligned allocation, whole-file
 * helpers with atomic writes, the xoshiro256** RNG, clocks and threads. */
#include "thinkrl/core.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#include <cJSON.h>
#endif

static _Thread_local char err_buf[2048];

int tr_err(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return code;
}

int tr_err_ctx(int code, const char *fmt, ...) {
    char prefix[1024], old[sizeof err_buf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err_buf, sizeof old);
    snprintf(err_buf, sizeof err_buf, "%s: %s", prefix, old);
    return code;
}

const char *tr_errmsg(void) { return err_buf[0] ? err_buf : "no error"; }
void tr_err_clear(void) { err_buf[0] = 0; }

/* Buffers of TR_HUGE_MIN bytes or more (weights, activations, KV caches,
 * packed panels) are aligned to and sized in 2 MiB and marked for
 * transparent huge pages where the kernel offers them on request: first
 * touching them then takes one fault per 2 MiB instead of one per 4 KiB
 * (in a virtual machine each fault is costly), and the products that
 * stream them miss the TLB far less. */
#define TR_HUGE 2097152u
#define TR_HUGE_MIN (8u * TR_HUGE)

void *tr_alloc(size_t bytes) {
    void *p = NULL;
    if (bytes == 0) bytes = 64;
    bytes = (bytes + 63) & ~(size_t)63;
    size_t align = 64;
    if (bytes >= TR_HUGE_MIN) {
        align = TR_HUGE;
        bytes = (bytes + TR_HUGE - 1) & ~(size_t)(TR_HUGE - 1);
    }
    if (posix_memalign(&p, align, bytes) != 0) {
        tr_err(TR_ENOMEM, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (align == TR_HUGE) (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    return p;
}

void *tr_calloc(size_t bytes) {
    void *p = tr_alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void tr_free(void *p) { free(p); }

char *tr_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        tr_err(TR_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 131072;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                tr_err(TR_ENOMEM, "%s: out of memory reading", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        tr_err(TR_EIO, "%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static int write_all(int fd, const char *path, const void *data, size_t len) {
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            return tr_err(TR_EIO, "%s: write failed: %s", path, strerror(errno));
        }
        p += w;
        left -= (size_t)w;
    }
    return TR_OK;
}

int tr_write_file_atomic(const char *path, const void *data, size_t len) {
    /* Something that exists and is not a regular file (/dev/stdout, a
     * device, a FIFO) is written in place: a rename would replace the node
     * itself. A symbolic link to a regular file is kept: the file it points
     * to is replaced, next to itself. */
    struct stat st, lst;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) return tr_err(TR_EIO, "%s: is a directory", path);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0) return tr_err(TR_EIO, "%s: cannot open: %s", path, strerror(errno));
        int rc = write_all(fd, path, data, len);
        if (close(fd) != 0 && !rc) rc = tr_err(TR_EIO, "%s: close failed: %s", path, strerror(errno));
        return rc;
    }
    char *real = NULL;
    if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && (real = realpath(path, NULL))) path = real;
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp) {
        free(real);
        return tr_err(TR_ENOMEM, "out of memory");
    }
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    int rc = TR_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = tr_err(TR_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    } else {
        rc = write_all(fd, path, data, len);
        if (!rc && fsync(fd) != 0) rc = tr_err(TR_EIO, "%s: fsync failed: %s", path, strerror(errno));
        if (close(fd) != 0 && !rc) rc = tr_err(TR_EIO, "%s: close failed: %s", path, strerror(errno));
        if (!rc && rename(tmp, path) != 0) rc = tr_err(TR_EIO, "%s: rename failed: %s", path, strerror(errno));
        if (rc) unlink(tmp);
    }
    free(tmp);
    free(real);
    return rc;
}

/* ---- RNG: xoshiro256**, seeded through splitmix64 ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_u64(Rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

float rng_uniform(Rng *r) { return (float)(rng_u64(r) >> 40) * (1.0f / 16777216.0f); }
double rng_uniform_d(Rng *r) { return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

float rng_normal(Rng *r) {
    double u1 = rng_uniform_d(r), u2 = rng_uniform_d(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

size_t tr_first_nonfinite(const float *x, size_t n) {
    /* blocks of 4096 with a branch-free inner loop (it vectorises); the
     * exponent of a NaN or an Inf is all ones */
    for (size_t b = 0; b < n; b += 4096) {
        size_t e = n - b < 4096 ? n : b + 4096;
        uint32_t bad = 0;
        for (size_t i = b; i < e; i++) {
            uint32_t u;
            memcpy(&u, x + i, 4);
            bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
        }
        if (bad)
            for (size_t i = b; i < e; i++)
                if (!isfinite(x[i])) return i;
    }
    return n;
}

double tr_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int tr_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void tr_set_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

size_t tr_peak_rss(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024;
}

/* Number items below j become raw items holding their exact text. */
static int json_exact_numbers(cJSON *j) {
    for (cJSON *c = j; c; c = c->next) {
        if (cJSON_IsNumber(c)) {
            char t[40];
            if (!isfinite(c->valuedouble)) {
                snprintf(t, sizeof t, "null");
            } else {
                for (int prec = 15; prec <= 17; prec++) {
                    snprintf(t, sizeof t, "%.*g", prec, c->valuedouble);
                    if (strtod(t, NULL) == c->valuedouble) break;
                }
            }
            char *s = strdup(t);
            if (!s) return -1;
            c->type = cJSON_Raw | (c->type & cJSON_StringIsConst);
            c->valuestring = s;
        } else if (c->child && json_exact_numbers(c->child)) {
            return -1;
        }
    }
    return 0;
}

struct cJSON *tr_json_parse_line(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (s[i] == 0) {
            tr_err(TR_EFORMAT, "invalid JSON at column %zu (NUL byte)", i + 1);
            return NULL;
        }
        if (s[i] == '\\' && i + 1 < len) {
            /* escapes come in pairs, so "\\u0000" (an escaped backslash) is not a match */
            if (s[i + 1] == 'u' && i + 6 <= len && memcmp(s + i + 2, "0000", 4) == 0) {
                tr_err(TR_EFORMAT, "invalid JSON at column %zu (\\u0000 is not supported)", i + 1);
                return NULL;
            }
            i++;
        }
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (!j) {
        tr_err(TR_EFORMAT, "invalid JSON at column %zu", end && end >= s ? (size_t)(end - s) + 1 : (size_t)1);
        return NULL;
    }
    size_t pos = (size_t)(end - s);
    while (pos < len && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\r' || s[pos] == '\n')) pos++;
    if (pos < len) {
        cJSON_Delete(j);
        tr_err(TR_EFORMAT, "invalid JSON at column %zu (text after the value)", pos + 1);
        return NULL;
    }
    return j;
}

char *tr_json_print(struct cJSON *root, int formatted) {
    if (!root) return NULL;
    if (root->child && json_exact_numbers(root->child)) return NULL;
    if (cJSON_IsNumber(root) && json_exact_numbers(root)) return NULL;
    return formatted ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
}
