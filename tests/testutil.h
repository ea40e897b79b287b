/* Small helpers shared by the C tests: a CHECK macro that counts, random
 * arrays, and max-difference reporting with absolute + relative tolerance. */
#ifndef THINKRL_TESTUTIL_H
#define THINKRL_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "thinkrl/core.h"

static int tu_fails = 0, tu_checks = 0;

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
/* Runs `py script path` (the reference script of a check_* program) and
 * returns its exit status (77: the script skipped; 2: it could not run). */
static inline int tu_run_script(char *py, char *script, char *path) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        char *args[] = {py, script, path, NULL};
        execv(py, args);
        perror(py);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) {
        perror("waitpid");
        return 2;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        tu_checks++;                                                       \
        if (!(cond)) {                                                     \
            tu_fails++;                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

static inline float *tu_randn(Rng *r, size_t n, float scale) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = scale * rng_normal(r);
    return p;
}

/* max |a-b| / (atol + rtol*|b|) over n; <= 1 means within tolerance. */
static inline double tu_maxerr(const float *a, const float *b, size_t n, double atol, double rtol,
                               double *maxabs) {
    double worst = 0, ma = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d == d)) return INFINITY; /* NaN */
        double e = d / (atol + rtol * fabs((double)b[i]));
        if (e > worst) worst = e;
        if (d > ma) ma = d;
    }
    if (maxabs) *maxabs = ma;
    return worst;
}

static inline int tu_summary(const char *name) {
    printf("%s: %d checks, %d failed\n", name, tu_checks, tu_fails);
    return tu_fails ? 1 : 0;
}

#endif
