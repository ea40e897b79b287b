/* Standalone driver for the fuzz targets without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every file given, or on every file of every
 * directory given (sorted by name), and prints how many it ran. A directory
 * that does not exist counts as empty (git keeps no empty regress/ dirs);
 * running nothing at all is a failure. Crashes surface as they would under
 * the fuzzer: a sanitizer report or abort(). Used by CTest
 * (tests/fuzz.cmake: fuzz_replay_<target>) with gcc or clang. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                fprintf(stderr, "replay: %s: out of memory\n", path);
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    /* an exact-size copy, so that ASan sees reads past the end as the fuzzer would */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    if (n) memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    long ran = 0;
    int fail = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            printf("replay: %s: absent, nothing to run\n", argv[a]);
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[a])) fail = 1;
            else ran++;
            continue;
        }
        DIR *d = opendir(argv[a]);
        if (!d) {
            fprintf(stderr, "replay: %s: %s\n", argv[a], strerror(errno));
            fail = 1;
            continue;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                char **nn = realloc(names, cap * sizeof *nn);
                if (!nn) abort();
                names = nn;
            }
            size_t l = strlen(argv[a]) + strlen(e->d_name) + 2;
            names[n] = malloc(l);
            if (!names[n]) abort();
            snprintf(names[n++], l, "%s/%s", argv[a], e->d_name);
        }
        closedir(d);
        if (n > 1) qsort(names, n, sizeof *names, cmp_str);
        long here = 0;
        for (size_t i = 0; i < n; i++) {
            if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
                if (run_file(names[i])) fail = 1;
                else here++;
            }
            free(names[i]);
        }
        free(names);
        printf("replay: %s: %ld inputs\n", argv[a], here);
        ran += here;
    }
    printf("replay: ran %ld inputs\n", ran);
    if (ran == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    return fail;
}
