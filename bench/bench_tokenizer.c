/* Tokenizer encode throughput, thinkrl side: encodes every document of a
 * JSONL corpus (one JSON string per line) with a tokenizer.json, several
 * passes, and prints one JSON line with the best pass in MB/s (UTF-8 bytes
 * of text per second) and the token count (to check against the reference).
 *   bench_tokenizer --tokenizer PATH --corpus FILE [--passes 3] */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/tokenizer.h"

int main(int argc, char **argv) {
    const char *tokpath = NULL, *corpus = NULL;
    int passes = 3;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--tokenizer")) tokpath = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--corpus")) corpus = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--passes")) passes = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_tokenizer --tokenizer PATH --corpus FILE [--passes 3]\n");
            return 2;
        }
    }
    if (!tokpath || !corpus || passes < 1) {
        fprintf(stderr, "usage: bench_tokenizer --tokenizer PATH --corpus FILE [--passes 3]\n");
        return 2;
    }
    FILE *f = fopen(corpus, "rb");
    if (!f) {
        perror(corpus);
        return 1;
    }
    char **docs = NULL, *line = NULL;
    size_t *lens = NULL, ndocs = 0, cap = 0, lcap = 0, bytes = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        cJSON *j = cJSON_ParseWithLength(line, (size_t)len);
        if (!cJSON_IsString(j)) {
            fprintf(stderr, "bench_tokenizer: %s:%zu: not a JSON string\n", corpus, ndocs + 1);
            return 1;
        }
        if (ndocs == cap) {
            cap = cap ? cap * 2 : 1024;
            docs = realloc(docs, cap * sizeof *docs);
            lens = realloc(lens, cap * sizeof *lens);
        }
        lens[ndocs] = strlen(j->valuestring);
        docs[ndocs] = malloc(lens[ndocs] + 1);
        memcpy(docs[ndocs], j->valuestring, lens[ndocs] + 1);
        bytes += lens[ndocs++];
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);

    double t0 = tr_time();
    Tokenizer tok;
    if (tok_load(&tok, tokpath)) {
        fprintf(stderr, "bench_tokenizer: %s\n", tr_errmsg());
        return 1;
    }
    double load_s = tr_time() - t0, best = 1e30, first = 0;
    TokIds ids = {0};
    size_t tokens = 0;
    for (int p = 0; p < passes; p++) {
        tokens = 0;
        double s = tr_time();
        for (size_t d = 0; d < ndocs; d++) {
            ids.n = 0;
            if (tok_encode(&tok, docs[d], lens[d], TOK_ADD_SPECIAL, &ids)) {
                fprintf(stderr, "bench_tokenizer: %s\n", tr_errmsg());
                return 1;
            }
            tokens += ids.n;
        }
        double dt = tr_time() - s;
        if (p == 0) first = dt;
        if (dt < best) best = dt;
    }
    printf("{\"impl\": \"thinkrl\", \"docs\": %zu, \"mb\": %.3f, \"tokens\": %zu, \"load_s\": %.3f, "
           "\"first_pass_mbps\": %.2f, \"mbps\": %.2f}\n",
           ndocs, bytes / 1e6, tokens, load_s, bytes / 1e6 / first, bytes / 1e6 / best);
    tok_ids_free(&ids);
    tok_free(&tok);
    for (size_t d = 0; d < ndocs; d++) free(docs[d]);
    free(docs);
    free(lens);
    return 0;
}
