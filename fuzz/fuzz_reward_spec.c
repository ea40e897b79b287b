/* Fuzz target: the reward spec parser ("accuracy:1,format:0.1,
 * length(max=1024):1", options quoted with '...' or "...") through
 * reward_set_parse. A spec that parses must print (reward_set_print) as a
 * spec that parses to the same print, and score a fixed response. Specs
 * naming exec are skipped: they would start processes. The input is the
 * spec. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "thinkrl/reward.h"

static char *print_set(const RewardSet *s) {
    char *mem = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&mem, &n);
    if (!f) abort();
    reward_set_print(s, f);
    fclose(f);
    return mem;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *spec = malloc(size + 1);
    if (!spec) abort();
    memcpy(spec, data, size);
    spec[size] = 0;
    if (strstr(spec, "exec")) {
        free(spec);
        return 0;
    }
    RewardSet s;
    reward_set_init(&s);
    if (reward_set_parse(&s, spec) == TR_OK) {
        char *p1 = print_set(&s);
        RewardSet t;
        reward_set_init(&t);
        FUZZ_CHECK(reward_set_parse(&t, p1) == TR_OK, "printed spec does not parse: %s\n%s", tr_errmsg(), p1);
        char *p2 = print_set(&t);
        FUZZ_CHECK(strcmp(p1, p2) == 0, "print/parse round trip changed the spec\n%s\n%s", p1, p2);
        Record rec;
        const char *rj = "{\"prompt\":\"q\",\"answer\":\"7\",\"meta\":{\"numbers\":[3,4],\"target\":7,\"box\":[1,1,2,2]}}";
        if (record_parse(rj, strlen(rj), 1, &rec) == TR_OK) {
            RewardCtx c;
            memset(&c, 0, sizeof c);
            c.response = "<think>3+4=7 [1,1,2,2]</think><answer>3+4</answer>";
            c.response_len = strlen(c.response);
            c.n_tokens = 5;
            c.max_tokens = 8;
            c.rec = &rec;
            double total, values[REWARD_MAX_TERMS];
            float tok[5] = {0};
            reward_score(&s, &c, &total, values, tok);
            record_free(&rec);
        }
        for (int i = 0; i < s.n; i++) reward_set_name(&s, i);
        free(p1);
        free(p2);
        reward_set_free(&t);
    }
    reward_set_free(&s);
    free(spec);
    return 0;
}
