/* Fuzz target: the exec verifier's command-line splitter
 * (reward_split_cmd). The input is the command line. A line that splits
 * must give at least one word, and quoting every word again ('...' with
 * each ' written '\'') must split back to the same words. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "reward/split_cmd.h"

/* the words of argv, each single-quoted, separated by one space */
static char *requote(char **argv) {
    size_t n = 1;
    for (char **a = argv; *a; a++) n += 4 * strlen(*a) + 3;
    char *s = malloc(n), *o = s;
    if (!s) abort();
    for (char **a = argv; *a; a++) {
        if (a != argv) *o++ = ' ';
        *o++ = '\'';
        for (const char *c = *a; *c; c++) {
            if (*c == '\'') {
                memcpy(o, "'\\''", 4);
                o += 4;
            } else {
                *o++ = *c;
            }
        }
        *o++ = '\'';
    }
    *o = 0;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    char **argv = NULL;
    if (reward_split_cmd(s, &argv) != TR_OK) {
        FUZZ_CHECK(tr_errmsg()[0], "split failed without a message");
        free(s);
        return 0;
    }
    FUZZ_CHECK(argv && argv[0], "split gave no words without failing");
    char *q = requote(argv), **again = NULL;
    FUZZ_CHECK(reward_split_cmd(q, &again) == TR_OK, "re-quoted words do not split: %s", tr_errmsg());
    int k = 0;
    for (; argv[k] && again[k]; k++) FUZZ_CHECK(!strcmp(argv[k], again[k]), "word %d changed: [%s] -> [%s]", k, argv[k], again[k]);
    FUZZ_CHECK(!argv[k] && !again[k], "word count changed through re-quoting");
    reward_argv_free(again);
    reward_argv_free(argv);
    free(q);
    free(s);
    return 0;
}
