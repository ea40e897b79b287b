/* Helpers shared by the fuzz targets (fuzz/fuzz_*.c): a per-process scratch
 * directory for parsers that only take a path, and splitting an input at
 * NUL bytes into several texts. Header-only so that each target builds from
 * one .c file, with libFuzzer or with fuzz/replay_main.c. */
#ifndef THINKRL_FUZZ_UTIL_H
#define THINKRL_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "thinkrl/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir_path[512];

static inline void fuzz_dir_cleanup(void) {
    if (!fuzz_dir_path[0]) return;
    char cmd[600];
    /* only our own mkdtemp directory, named by this process */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_path);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir_path);
}

/* The scratch directory of this process (created on first use, removed at
 * exit). /dev/shm when writable: the targets write a file per input. */
static inline const char *fuzz_dir(void) {
    if (fuzz_dir_path[0]) return fuzz_dir_path;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/thinkrl-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_dir_path)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_dir_cleanup);
    return fuzz_dir_path;
}

/* fuzz_dir()/name, in a static buffer per slot (0..3). */
static inline const char *fuzz_path(int slot, const char *name) {
    static char buf[4][640];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", fuzz_dir(), name);
    return buf[slot];
}

/* Writes data[0..n) to fuzz_dir()/name and returns the path. */
static inline const char *fuzz_write(int slot, const char *name, const void *data, size_t n) {
    const char *p = fuzz_path(slot, name);
    FILE *f = fopen(p, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(p);
        abort();
    }
    return p;
}

/* Splits data at NUL bytes into at most max NUL-terminated copies (the last
 * part keeps any further NULs, so its length is in len[]). Returns the
 * number of parts (>= 1). Free with fuzz_parts_free. */
static inline int fuzz_split(const uint8_t *data, size_t size, int max, char **part, size_t *len) {
    int n = 0;
    size_t start = 0;
    while (n < max) {
        size_t end = size;
        if (n < max - 1 && start < size) {
            const uint8_t *z = memchr(data + start, 0, size - start);
            if (z) end = (size_t)(z - data);
        }
        size_t l = end - start;
        part[n] = malloc(l + 1);
        if (!part[n]) abort();
        if (l) memcpy(part[n], data + start, l);
        part[n][l] = 0;
        len[n++] = l;
        if (end >= size) break;
        start = end + 1;
    }
    for (int k = n; k < max; k++) part[k] = NULL, len[k] = 0;
    return n;
}

static inline void fuzz_parts_free(char **part, int max) {
    for (int k = 0; k < max; k++) free(part[k]);
}

/* A property the harness checks failed: print and abort (libFuzzer keeps
 * the input as a crash). */
#define FUZZ_CHECK(x, ...)                                                              \
    do {                                                                                \
        if (!(x)) {                                                                     \
            fprintf(stderr, "fuzz: check failed: %s (%s:%d): ", #x, __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
            abort();                                                                    \
        }                                                                               \
    } while (0)

#endif
