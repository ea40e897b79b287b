/* Fuzz target: the f-DPG state a checkpoint carries (fdpg_run_from_json),
 * read into three runs of 16 records: a distributional target with two
 * features and a baseline window of 8, a pointwise target, and a tilt with
 * the offline proposal. The input is the state's JSON. A state that loads
 * must write back (fdpg_run_to_json) to JSON that loads again to the same
 * JSON; one that does not load must say why and leave the run as it was. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "rl/fdpg_run.h"
#include "thinkrl/conf.h"

#define NREC 16

static const char *const SETUPS[3][4] = {
    {"fdpg.target=distributional", "fdpg.features=contains(words=a):0.5,format:0.2", "fdpg.baseline=8",
     NULL},
    {"fdpg.target=pointwise", "fdpg.constraint=contains(words=a)", "fdpg.baseline=0", NULL},
    {"fdpg.target=tilt", "fdpg.beta=0.5", "fdpg.offline=true", "fdpg.baseline=4"},
};

static int run_init(FdpgRun *f, int k) {
    RlConfig c;
    memset(&c, 0, sizeof c); /* conf_defaults frees what the fields held */
    if (conf_defaults(&RL_SCHEMA, &c) != TR_OK || conf_override(&RL_SCHEMA, &c, "algo.adv=fdpg") != TR_OK) abort();
    for (int i = 0; i < 4 && SETUPS[k][i]; i++)
        if (conf_override(&RL_SCHEMA, &c, SETUPS[k][i]) != TR_OK) abort();
    int rc = fdpg_run_init(f, &c, NREC);
    conf_free(&RL_SCHEMA, &c);
    return rc;
}

static char *print(const FdpgRun *f) {
    cJSON *j = fdpg_run_to_json(f);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) abort();
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    for (int k = 0; k < 3; k++) {
        FdpgRun f, g;
        if (run_init(&f, k) != TR_OK) {
            fprintf(stderr, "fdpg_run_init %d: %s\n", k, tr_errmsg());
            abort();
        }
        char *before = print(&f);
        if (fdpg_run_from_json(&f, j) != TR_OK) {
            FUZZ_CHECK(tr_errmsg()[0], "refused without a message");
            char *after = print(&f);
            FUZZ_CHECK(!strcmp(before, after), "a refused state changed the run:\n%s\n%s", before, after);
            free(after);
        } else {
            cJSON *w = fdpg_run_to_json(&f);
            if (run_init(&g, k) != TR_OK) abort();
            FUZZ_CHECK(fdpg_run_from_json(&g, w) == TR_OK, "state written does not load: %s", tr_errmsg());
            char *a = print(&f), *b = print(&g);
            FUZZ_CHECK(!strcmp(a, b), "state changed through write + load:\n%s\n%s", a, b);
            free(a);
            free(b);
            cJSON_Delete(w);
            fdpg_run_free(&g);
        }
        free(before);
        fdpg_run_free(&f);
    }
    cJSON_Delete(j);
    return 0;
}
