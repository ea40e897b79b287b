/* Fuzz target: the TACO state a checkpoint carries and the rrs.watch list.
 * The input is up to four NUL-separated parts: a watch list for
 * spike_init, then the JSON states read by spike_from_json, ads_from_json
 * (16 prompts) and rrs_queue_from_json (16 records). A state that loads must
 * survive use (checks, draws, observations, due prompts) and write back to
 * JSON that loads again to the same JSON. */
#include <cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "thinkrl/taco.h"

#define N 16

/* a, written from a state, and b, written after loading a: the same JSON.
 * Frees both. */
static void same_json(cJSON *a, cJSON *b, const char *what) {
    char *sa = cJSON_PrintUnformatted(a), *sb = cJSON_PrintUnformatted(b);
    FUZZ_CHECK(sa && sb && !strcmp(sa, sb), "%s changed through write + load:\n%s\n%s", what, sa ? sa : "",
               sb ? sb : "");
    free(sa);
    free(sb);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void spike(const char *watch, const char *state) {
    SpikeDet s;
    if (spike_init(&s, watch, 5, 8, 2) != TR_OK) {
        FUZZ_CHECK(tr_errmsg()[0], "spike_init error without a message");
        return;
    }
    cJSON *j = cJSON_Parse(state);
    if (j && spike_from_json(&s, j) == TR_OK) {
        double v[SPIKE_MAX] = {1, 2, NAN, 1e300};
        char why[128];
        spike_check(&s, v, why, sizeof why);
        v[2] = 3;
        if (!spike_check(&s, v, why, sizeof why)) spike_push(&s, v);
        for (int k = 0; k < s.n; k++) spike_median(&s, k);
        cJSON *w = spike_to_json(&s);
        SpikeDet t;
        FUZZ_CHECK(spike_init(&t, watch, 5, 8, 2) == TR_OK, "spike_init again");
        FUZZ_CHECK(spike_from_json(&t, w) == TR_OK, "spike state written does not load: %s", tr_errmsg());
        same_json(w, spike_to_json(&t), "spike state");
    }
    cJSON_Delete(j);
}

static void ads(const char *state) {
    AdsCfg c;
    ads_cfg_default(&c);
    Ads a;
    if (ads_init(&a, N, &c) != TR_OK) abort();
    cJSON *j = cJSON_Parse(state);
    if (j && ads_from_json(&a, j) == TR_OK) {
        Rng r;
        rng_seed(&r, 1);
        int64_t out[N];
        uint8_t skip[N] = {0};
        skip[3] = 1;
        for (int64_t step = 1; step <= 4; step++) {
            int64_t k = ads_draw(&a, step, &r, 6, skip, out);
            FUZZ_CHECK(k >= 0 && k <= 6, "ads_draw returned %lld", (long long)k);
            for (int64_t i = 0; i < k; i++) {
                FUZZ_CHECK(out[i] >= 0 && out[i] < N && out[i] != 3, "ads_draw drew %lld", (long long)out[i]);
                ads_observe(&a, out[i], (double)(i % 2), step);
            }
        }
        int64_t h[10];
        ads_hist(&a, 10, h);
        ads_mean(&a);
        cJSON *w = ads_to_json(&a);
        Ads b;
        if (ads_init(&b, N, &c) != TR_OK) abort();
        FUZZ_CHECK(ads_from_json(&b, w) == TR_OK, "ads state written does not load: %s", tr_errmsg());
        same_json(w, ads_to_json(&b), "ads state");
        ads_free(&b);
    }
    cJSON_Delete(j);
    ads_free(&a);
}

static void queue(const char *state) {
    RrsQueue q;
    rrs_queue_init(&q, 10, 3);
    cJSON *j = cJSON_Parse(state);
    if (j && rrs_queue_from_json(&q, j, N) == TR_OK) {
        RrsEntry out[N + 8];
        for (int64_t step = 1; step <= 30; step += 7) {
            int64_t k = rrs_take_due(&q, step, 8, out);
            FUZZ_CHECK(k >= 0 && k <= 8, "rrs_take_due returned %lld", (long long)k);
            for (int64_t i = 0; i < k; i++) {
                FUZZ_CHECK(out[i].rec >= 0 && out[i].rec < N, "due rec %lld", (long long)out[i].rec);
                if (rrs_defer(&q, out[i].rec, out[i].times, step) < 0) abort();
            }
        }
        cJSON *w = rrs_queue_to_json(&q);
        RrsQueue b;
        rrs_queue_init(&b, 10, 3);
        FUZZ_CHECK(rrs_queue_from_json(&b, w, N) == TR_OK, "queue written does not load: %s", tr_errmsg());
        same_json(w, rrs_queue_to_json(&b), "rrs queue");
        rrs_queue_free(&b);
    }
    cJSON_Delete(j);
    rrs_queue_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *part[4];
    size_t len[4];
    int np = fuzz_split(data, size, 4, part, len);
    spike(part[0], np > 1 ? part[1] : "");
    if (np > 2) ads(part[2]);
    if (np > 3) queue(part[3]);
    fuzz_parts_free(part, 4);
    return 0;
}
