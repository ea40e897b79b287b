/* Fuzz target: run configuration YAML and "key=value" overrides against the
 * real SFT and RL schemas (conf_load_yaml_text, conf_override). Whatever
 * state a load leaves (success or not), conf_write_yaml's output must load
 * back into a fresh config with the same values.
 * Input: YAML [NUL override [NUL override ...]] (at most 8 overrides). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "thinkrl/conf.h"
#include "thinkrl/rl_train.h"
#include "thinkrl/sft.h"

enum { MAXP = 9 };

static void same_values(const ConfSchema *s, const void *a, const void *b) {
    for (int i = 0; i < s->n; i++) {
        const ConfField *f = &s->f[i];
        const char *pa = (const char *)a + f->off, *pb = (const char *)b + f->off;
        switch (f->type) {
        case CONF_INT:
        case CONF_FLOAT:
            FUZZ_CHECK(memcmp(pa, pb, 8) == 0, "%s: %s changed through write + load", s->name, f->key);
            break;
        case CONF_BOOL:
            FUZZ_CHECK(memcmp(pa, pb, sizeof(int)) == 0, "%s: %s changed through write + load", s->name, f->key);
            break;
        case CONF_STR:
        case CONF_ENUM: {
            const char *sa, *sb;
            memcpy(&sa, pa, sizeof sa);
            memcpy(&sb, pb, sizeof sb);
            FUZZ_CHECK(strcmp(sa ? sa : "", sb ? sb : "") == 0, "%s: %s changed through write + load: '%s' -> '%s'",
                       s->name, f->key, sa ? sa : "", sb ? sb : "");
            break;
        }
        }
    }
}

static void run(const ConfSchema *s, size_t size, char **part, size_t *len, int np) {
    /* the largest of the config structs, zeroed like callers do */
    static union {
        RlConfig rl;
        SftConfig sft;
    } a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    FUZZ_CHECK(conf_defaults(s, &a) == TR_OK, "defaults: %s", tr_errmsg());
    conf_load_yaml_text(s, &a, part[0], len[0], "fuzz.yaml");
    for (int i = 1; i < np; i++) conf_override(s, &a, part[i]);
    conf_field(s, part[0]);
    /* the RL config's cross-field checks run on whatever loaded (every
     * integer key has a bound, so their products cannot overflow) */
    if (s == &RL_SCHEMA) rl_config_check(&a.rl);
    char *mem = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&mem, &n);
    if (!f) abort();
    FUZZ_CHECK(conf_write_yaml(s, &a, f) == TR_OK, "write: %s", tr_errmsg());
    fclose(f);
    FUZZ_CHECK(conf_defaults(s, &b) == TR_OK, "defaults: %s", tr_errmsg());
    int rc = conf_load_yaml_text(s, &b, mem, n, "written.yaml");
    FUZZ_CHECK(rc == TR_OK, "written YAML does not load: %s\n%s", tr_errmsg(), mem);
    same_values(s, &a, &b);
    free(mem);
    conf_free(s, &a);
    conf_free(s, &b);
    (void)size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *part[MAXP];
    size_t len[MAXP];
    int np = fuzz_split(data, size, MAXP, part, len);
    run(&RL_SCHEMA, size, part, len, np);
    run(&SFT_SCHEMA, size, part, len, np);
    fuzz_parts_free(part, MAXP);
    return 0;
}
