/* TACO mechanics on fixed inputs: ads weights, parking, re-tests, draw
 * frequencies and state round trips; the rrs queue; the n-gram loop test;
 * the spike detector (medians, floors, NaN, the window ring, round trips). */
#include <cJSON.h>
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "thinkrl/taco.h"

static void test_ads_weights(void) {
    AdsCfg c;
    ads_cfg_default(&c);
    Ads a;
    CHECK(ads_init(&a, 4, &c) == TR_OK, "init: %s", tr_errmsg());
    CHECK(fabs(ads_weight(&a, 0) - (0.25 + 0.02)) < 1e-12, "unseen weighs as p = 0.5: %g", ads_weight(&a, 0));
    ads_observe(&a, 0, 0.75, 1);
    CHECK(a.p[0] == 0.75 && a.n_visited == 1, "first visit sets p: %g", a.p[0]);
    CHECK(fabs(ads_weight(&a, 0) - (0.75 * 0.25 + 0.02)) < 1e-12, "w(0.75) = %g", ads_weight(&a, 0));
    ads_observe(&a, 0, 0.25, 2);
    CHECK(fabs(a.p[0] - 0.5) < 1e-12, "EMA 0.5: 0.75 -> 0.5, got %g", a.p[0]);
    /* the weight peaks at moderate difficulty */
    ads_observe(&a, 1, 0.125, 1);
    ads_observe(&a, 2, 0.875, 1);
    CHECK(ads_weight(&a, 0) > ads_weight(&a, 1) && fabs(ads_weight(&a, 1) - ads_weight(&a, 2)) < 1e-12,
          "w(0.5) > w(0.125) = w(0.875): %g %g %g", ads_weight(&a, 0), ads_weight(&a, 1), ads_weight(&a, 2));
    ads_free(&a);

    c.ema = 0;
    CHECK(ads_init(&a, 4, &c) == TR_EINVAL && strstr(tr_errmsg(), "ads.ema"), "ema 0 refused: %s", tr_errmsg());
    ads_cfg_default(&c);
    c.park_after = 0;
    CHECK(ads_init(&a, 4, &c) == TR_EINVAL && strstr(tr_errmsg(), "ads.park_after"), "park_after 0: %s", tr_errmsg());
}

static void test_ads_parking(void) {
    AdsCfg c;
    ads_cfg_default(&c); /* park after 2 extremes in a row, re-test every 25 steps */
    Ads a;
    ads_init(&a, 3, &c);
    ads_observe(&a, 0, 1, 1);
    CHECK(a.parked_at[0] == -1 && a.streak[0] == 1, "one solved visit does not park");
    ads_observe(&a, 0, 0, 2);
    CHECK(a.parked_at[0] == -1 && a.streak[0] == -1, "1 then 0: the streak restarts at -1 (%d)", a.streak[0]);
    ads_observe(&a, 0, 0, 3);
    CHECK(a.parked_at[0] == 3 && a.n_parked == 1 && a.parks == 1, "two hopeless visits park at step 3 (%lld)",
          (long long)a.parked_at[0]);
    CHECK(ads_weight(&a, 0) == 0, "a parked prompt weighs nothing");
    ads_observe(&a, 1, 1, 3);
    ads_observe(&a, 1, 0.5, 4);
    CHECK(a.parked_at[1] == -1 && a.streak[1] == 0, "a moderate visit breaks the streak");

    /* re-tests: due at parked_at + 25 */
    Rng g;
    rng_seed(&g, 1);
    int64_t out[4];
    int64_t m = ads_draw(&a, 27, &g, 1, NULL, out);
    CHECK(m == 1 && out[0] != 0, "not due at step 27: drew %lld", (long long)out[0]);
    m = ads_draw(&a, 28, &g, 1, NULL, out);
    CHECK(m == 1 && out[0] == 0 && a.retests == 1, "due at step 28: the re-test comes first (%lld)", (long long)out[0]);
    ads_observe(&a, 0, 0, 28);
    CHECK(a.parked_at[0] == 28 && a.n_parked == 1, "a still-hopeless re-test stays parked, re-dated to 28");
    ads_observe(&a, 0, 0.25, 53);
    CHECK(a.parked_at[0] == -1 && a.n_parked == 0 && a.unparks == 1 && a.streak[0] == 0,
          "a re-test with r in (0, 1) un-parks");
    ads_free(&a);
}

static void test_ads_draw(void) {
    AdsCfg c;
    ads_cfg_default(&c);
    c.floor = 0;
    Ads a;
    ads_init(&a, 4, &c);
    double p[4] = {0.5, 0.1, 0.9, 0.3};
    for (int i = 0; i < 4; i++) ads_observe(&a, i, p[i], 0);
    double w[4], tot = 0;
    for (int i = 0; i < 4; i++) tot += (w[i] = p[i] * (1 - p[i]));
    /* first-draw frequencies follow the weights */
    Rng g;
    rng_seed(&g, 42);
    int cnt[4] = {0}, n = 40000, dup = 0;
    for (int t = 0; t < n; t++) {
        int64_t o[3];
        int64_t m = ads_draw(&a, 1, &g, 3, NULL, o);
        cnt[o[0]]++;
        dup += m != 3 || o[0] == o[1] || o[0] == o[2] || o[1] == o[2];
    }
    CHECK(dup == 0, "draws are distinct (%d bad)", dup);
    for (int i = 0; i < 4; i++) {
        double e = n * w[i] / tot, sd = sqrt(e * (1 - w[i] / tot));
        CHECK(fabs(cnt[i] - e) < 5 * sd, "prompt %d drawn first %d times, expected %.0f +- %.0f", i, cnt[i], e, sd);
    }
    uint8_t skip[4] = {1, 0, 0, 0};
    int64_t o[8];
    int64_t m = ads_draw(&a, 1, &g, 4, skip, o);
    CHECK(m == 3, "skip: 3 of 4 drawable, got %lld", (long long)m);
    for (int k = 0; k < m; k++) CHECK(o[k] != 0, "skipped prompt 0 drawn");
    ads_free(&a);

    /* everything parked: the draw still fills the step, oldest park first */
    ads_init(&a, 3, &c);
    for (int i = 0; i < 3; i++)
        for (int v = 0; v < 2; v++) ads_observe(&a, i, 1, 10 - i);
    CHECK(a.n_parked == 3, "all parked (%lld)", (long long)a.n_parked);
    m = ads_draw(&a, 11, &g, 2, NULL, o);
    CHECK(m == 2 && o[0] == 2 && o[1] == 1, "early re-tests, oldest first: %lld %lld", (long long)o[0], (long long)o[1]);
    ads_free(&a);

    /* at most a quarter of the slots go to due re-tests */
    ads_init(&a, 20, &c);
    for (int i = 0; i < 10; i++)
        for (int v = 0; v < 2; v++) ads_observe(&a, i, 0, 0);
    m = ads_draw(&a, 100, &g, 8, NULL, o);
    int retests = 0;
    for (int k = 0; k < m; k++) retests += o[k] < 10;
    CHECK(m == 8 && retests == 2 && o[0] == 0 && o[1] == 1, "8 slots: 2 re-tests (0, 1) first, got %d (%lld: %lld %lld)", retests, (long long)m, (long long)o[0], (long long)o[1]);
    ads_free(&a);
}

static void test_ads_json(void) {
    AdsCfg c;
    ads_cfg_default(&c);
    Ads a, b;
    ads_init(&a, 50, &c);
    ads_init(&b, 50, &c);
    Rng g, g2;
    rng_seed(&g, 7);
    for (int t = 0; t < 30; t++) {
        int64_t o[6];
        int64_t m = ads_draw(&a, t, &g, 6, NULL, o);
        for (int k = 0; k < m; k++) ads_observe(&a, o[k], (double)(rng_u64(&g) % 9) / 8.0, t);
    }
    cJSON *j = ads_to_json(&a);
    char *s = cJSON_PrintUnformatted(j);
    cJSON *j2 = cJSON_Parse(s);
    CHECK(ads_from_json(&b, j2) == TR_OK, "restore: %s", tr_errmsg());
    int same = b.n_visited == a.n_visited && b.n_parked == a.n_parked && b.parks == a.parks && b.retests == a.retests;
    for (int64_t i = 0; i < 50; i++)
        same &= (isnan(a.p[i]) ? isnan(b.p[i]) : a.p[i] == b.p[i]) && a.visits[i] == b.visits[i] &&
                a.streak[i] == b.streak[i] && a.parked_at[i] == b.parked_at[i];
    CHECK(same, "the state reads back bit for bit");
    g2 = g;
    int64_t o1[6], o2[6];
    int64_t m1 = ads_draw(&a, 31, &g, 6, NULL, o1), m2 = ads_draw(&b, 31, &g2, 6, NULL, o2);
    CHECK(m1 == m2 && !memcmp(o1, o2, sizeof o1), "the next draw is the same");
    int64_t h[10], tot = 0;
    ads_hist(&a, 10, h);
    for (int k = 0; k < 10; k++) tot += h[k];
    CHECK(tot == a.n_visited, "the histogram counts every visited prompt (%lld vs %lld)", (long long)tot,
          (long long)a.n_visited);
    Ads small;
    ads_init(&small, 49, &c);
    CHECK(ads_from_json(&small, j2) == TR_EFORMAT && strstr(tr_errmsg(), "50 prompts"), "size mismatch: %s", tr_errmsg());
    cJSON_ReplaceItemInObject(j2, "visited", cJSON_Parse("[[3, 1.5, 1, 0, -1]]"));
    CHECK(ads_from_json(&b, j2) == TR_EFORMAT && strstr(tr_errmsg(), "ads.visited[0]"), "bad entry: %s", tr_errmsg());
    cJSON_Delete(j);
    cJSON_Delete(j2);
    free(s);
    ads_free(&a);
    ads_free(&b);
    ads_free(&small);

    ads_init(&a, 5, &c);
    ads_observe(&a, 0, 0, 0);
    ads_observe(&a, 1, 0.1, 0);
    ads_observe(&a, 2, 0.95, 0);
    ads_observe(&a, 3, 1, 0);
    ads_hist(&a, 10, h);
    CHECK(h[0] == 1 && h[1] == 1 && h[9] == 2 && h[5] == 0, "bins: 0 -> 0, 0.1 -> 1, 0.95 and 1 -> 9");
    CHECK(fabs(ads_mean(&a) - 2.05 / 4) < 1e-12, "mean over visited: %g", ads_mean(&a));
    ads_free(&a);
}

static void test_rrs_queue(void) {
    RrsQueue q, r;
    rrs_queue_init(&q, 10, 2);
    CHECK(rrs_defer(&q, 5, 0, 1) == 1 && rrs_defer(&q, 7, 0, 2) == 1 && rrs_defer(&q, 9, 1, 3) == 1, "defer");
    CHECK(rrs_defer(&q, 11, 2, 3) == 0 && q.dropped == 1 && q.n == 3, "a third deferral in a row drops the prompt");
    RrsEntry e[8];
    CHECK(rrs_take_due(&q, 10, 8, e) == 0, "nothing due before step 11");
    CHECK(rrs_take_due(&q, 12, 8, e) == 2 && e[0].rec == 5 && e[1].rec == 7 && e[0].times == 1, "two due at 12, in order");
    CHECK(q.n == 1 && q.reintroduced == 2 && q.deferred == 3, "left: 1, reintroduced 2");
    for (int i = 0; i < 6; i++) rrs_defer(&q, 20 + i, 0, 4);
    CHECK(rrs_take_due(&q, 20, 4, e) == 2 && e[0].rec == 9 && e[1].rec == 20, "at most k / 2 per step, oldest first");
    cJSON *j = rrs_queue_to_json(&q);
    rrs_queue_init(&r, 10, 2);
    CHECK(rrs_queue_from_json(&r, j, 100) == TR_OK, "restore: %s", tr_errmsg());
    int same = r.n == q.n && r.deferred == q.deferred && r.reintroduced == q.reintroduced && r.dropped == q.dropped;
    for (int64_t i = 0; same && i < q.n; i++)
        same = r.q[i].rec == q.q[i].rec && r.q[i].due == q.q[i].due && r.q[i].times == q.q[i].times;
    CHECK(same, "the queue reads back");
    CHECK(rrs_queue_from_json(&r, j, 22) == TR_EFORMAT && strstr(tr_errmsg(), "rrs.queue["), "a prompt beyond the data: %s",
          tr_errmsg());
    cJSON_Delete(j);
    rrs_queue_free(&q);
    rrs_queue_free(&r);
}

static void test_ngram_loop(void) {
    int32_t ok[] = {5, 1, 2, 3, 4, 9, 8, 7, 6, 5, 4, 3};
    CHECK(!rrs_ngram_loop(ok, 12, 2, 2), "no repeated bigram");
    CHECK(rrs_ngram_loop(ok, 12, 1, 2), "unigram 5 occurs twice");
    int32_t bang[12];
    for (int i = 0; i < 12; i++) bang[i] = 33;
    CHECK(rrs_ngram_loop(bang, 12, 8, 4) && !rrs_ngram_loop(bang, 10, 8, 4), "'!' x 12: the 8-gram occurs 5 times; x 10: 3");
    int32_t cyc[24];
    for (int i = 0; i < 24; i++) cyc[i] = i % 6;
    CHECK(rrs_ngram_loop(cyc, 24, 6, 4) && !rrs_ngram_loop(cyc, 23, 6, 4), "a 6-cycle four times over");
    CHECK(!rrs_ngram_loop(cyc, 3, 6, 2), "shorter than the n-gram");
}

static void test_spike(void) {
    SpikeDet s;
    CHECK(spike_init(&s, "kl:0.01, loss:0.1,grad_norm", 5, 4, 3) == TR_OK, "init: %s", tr_errmsg());
    CHECK(s.n == 3 && s.floor[0] == 0.01 && s.floor[1] == 0.1 && s.floor[2] == 0, "parsed the watch list");
    CHECK(spike_index(&s, "grad_norm") == 2 && spike_index(&s, "x") == -1, "index");
    char why[128];
    double v[3] = {0.02, -0.5, 1.0};
    CHECK(spike_check(&s, v, why, sizeof why) == 0, "no history, no spike");
    double big[3] = {0.02, 0.5, 100};
    CHECK(spike_check(&s, big, why, sizeof why) == 0, "fewer than min_hist steps: never a spike");
    double nan3[3] = {NAN, 0, 0};
    CHECK(spike_check(&s, nan3, why, sizeof why) == -1 && strstr(why, "kl is NaN"), "NaN: %s", why);
    double inf3[3] = {0, 0, INFINITY};
    CHECK(spike_check(&s, inf3, why, sizeof why) == -3, "Inf in grad_norm");
    spike_push(&s, v);
    double v2[3] = {0.04, 0.3, 2.0}, v3[3] = {0.001, 0.2, 3.0};
    spike_push(&s, v2);
    spike_push(&s, v3);
    CHECK(fabs(spike_median(&s, 0) - 0.02) < 1e-15 && fabs(spike_median(&s, 1) - 0.3) < 1e-15 &&
              fabs(spike_median(&s, 2) - 2.0) < 1e-15,
          "medians of |v|: %g %g %g", spike_median(&s, 0), spike_median(&s, 1), spike_median(&s, 2));
    CHECK(spike_check(&s, big, why, sizeof why) == 3 && strstr(why, "grad_norm 100 > 5 x running median 2"), "spike: %s",
          why);
    double edge[3] = {0.1, -1.5, 10};
    CHECK(spike_check(&s, edge, why, sizeof why) == 0, "exactly 5x is not past it");
    double loss[3] = {0.02, -1.6, 1};
    CHECK(spike_check(&s, loss, why, sizeof why) == 2, "|loss| 1.6 > 5 x 0.3: %s", why);
    /* the floor: a tiny median does not make ordinary values spikes */
    SpikeDet f;
    spike_init(&f, "kl:0.01", 5, 8, 2);
    double k1 = 1e-5, k2 = 2e-3, k3 = 0.06;
    spike_push(&f, &k1);
    spike_push(&f, &k1);
    CHECK(spike_check(&f, &k2, why, sizeof why) == 0, "2e-3 < 5 x floor 0.01");
    CHECK(spike_check(&f, &k3, why, sizeof why) == 1 && strstr(why, "floor"), "0.06 > 5 x floor: %s", why);
    /* the ring keeps the last `window` values; even counts average the middle two */
    double x[6] = {1, 2, 3, 4, 100, 200};
    SpikeDet r;
    spike_init(&r, "loss", 3, 4, 1);
    for (int i = 0; i < 6; i++) spike_push(&r, &x[i]);
    CHECK(r.count == 4 && fabs(spike_median(&r, 0) - 52) < 1e-12, "window 4 over 3,4,100,200: median %g",
          spike_median(&r, 0));
    cJSON *j = spike_to_json(&r);
    SpikeDet r2;
    spike_init(&r2, "loss", 3, 4, 1);
    CHECK(spike_from_json(&r2, j) == TR_OK && r2.count == r.count && r2.head == r.head &&
              !memcmp(r2.hist[0], r.hist[0], 4 * sizeof(double)),
          "history reads back: %s", tr_errmsg());
    SpikeDet r3;
    spike_init(&r3, "loss", 3, 8, 1);
    CHECK(spike_from_json(&r3, j) == TR_EFORMAT, "another window size is refused");
    spike_init(&r3, "kl", 3, 4, 1);
    CHECK(spike_from_json(&r3, j) == TR_EFORMAT && strstr(tr_errmsg(), "hist.kl"), "another watch list: %s", tr_errmsg());
    cJSON_Delete(j);
    CHECK(spike_init(&r3, "", 3, 4, 1) == TR_EINVAL, "empty watch list");
    CHECK(spike_init(&r3, "kl:-1", 3, 4, 1) == TR_EINVAL && strstr(tr_errmsg(), "floor"), "negative floor");
    CHECK(spike_init(&r3, "kl,kl", 3, 4, 1) == TR_EINVAL && strstr(tr_errmsg(), "twice"), "duplicate");
    CHECK(spike_init(&r3, "kl", 1, 4, 1) == TR_EINVAL && strstr(tr_errmsg(), "rrs.spike"), "factor 1");
    CHECK(spike_init(&r3, "kl", 3, 4, 5) == TR_EINVAL && strstr(tr_errmsg(), "rrs.min_history"), "min_hist > window");
}

int main(void) {
    test_ads_weights();
    test_ads_parking();
    test_ads_draw();
    test_ads_json();
    test_rrs_queue();
    test_ngram_loop();
    test_spike();
    return tu_summary("test_taco");
}
