/* Generation benchmark, thinkrl side: P random prompts of T tokens, N new
 * tokens each (eos ignored, temperature 1 sampling with per-token
 * log-probs), through rollout_generate; then one prompt alone (batch-1
 * decode). One warm-up run of a few tokens first. Prints one JSON line.
 *   bench_generate --model DIR [--prompts 64] [--prompt-len 32] [--new 128]
 *                  [--threads 2] [--seed 1] [--slots 0] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/generate.h"
#include "thinkrl/model.h"

static int run(const Model *m, Prompt *pr, int np, int max_new, int slots, uint64_t seed, RolloutStats *st) {
    RolloutConfig rc;
    rollout_config_init(&rc, &m->cfg);
    rc.n_eos = 0;
    rc.max_new_tokens = max_new;
    rc.slots = slots;
    rc.seed = seed;
    Rollout *out = calloc((size_t)np, sizeof *out);
    int err = rollout_generate(m, pr, np, &rc, out, st);
    if (err) fprintf(stderr, "bench_generate: %s\n", tr_errmsg());
    rollout_free(out, np);
    free(out);
    return err;
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    int np = 64, plen = 32, max_new = 128, threads = 2, slots = 0;
    long long seed = 1;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--model")) dir = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--prompts")) np = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--prompt-len")) plen = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--new")) max_new = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--slots")) slots = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--seed")) seed = atoll(argv[++i]);
        else {
            fprintf(stderr, "bench_generate: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    if (!dir || np < 1 || plen < 1 || max_new < 1) {
        fprintf(stderr, "bench_generate: --model DIR required; sizes must be positive\n");
        return 2;
    }
    tr_set_threads(threads);
    Model m;
    if (model_load(&m, dir)) {
        fprintf(stderr, "bench_generate: %s\n", tr_errmsg());
        return 1;
    }
    Rng r;
    rng_seed(&r, (uint64_t)seed);
    int32_t *ids = malloc((size_t)np * plen * sizeof *ids);
    Prompt *pr = calloc((size_t)np, sizeof *pr);
    for (size_t i = 0; i < (size_t)np * plen; i++) ids[i] = (int32_t)(rng_u64(&r) % (uint64_t)m.cfg.V);
    for (int i = 0; i < np; i++) pr[i] = (Prompt){ids + (size_t)i * plen, plen};
    RolloutStats w, st, b1;
    int err = run(&m, pr, np, 4, slots, (uint64_t)seed, &w) || run(&m, pr, np, max_new, slots, (uint64_t)seed, &st) ||
              run(&m, pr, 1, max_new, 1, (uint64_t)seed, &b1);
    if (!err) {
        /* matrix-product work of one token (no attention): what any
         * implementation must spend per generated token */
        double fpt = model_flops_fwd(&m.cfg, 1.0, 0.0), tps = st.new_tokens / st.seconds;
        printf("{\"impl\":\"thinkrl\",\"prompts\":%d,\"prompt_len\":%d,\"new_tokens\":%d,\"threads\":%d,"
               "\"tokens_per_s\":%.2f,\"seconds\":%.4f,\"generated\":%lld,\"passes\":%lld,"
               "\"batch1_tokens_per_s\":%.2f,\"batch1_seconds\":%.4f,\"flops_per_token\":%.0f,"
               "\"gemm_gflops\":%.2f,\"peak_rss_mb\":%.1f}\n",
               np, plen, max_new, threads, tps, st.seconds, (long long)st.new_tokens, (long long)st.passes,
               b1.new_tokens / b1.seconds, b1.seconds, fpt, fpt * tps / 1e9, tr_peak_rss() / 1048576.0);
    }
    free(ids);
    free(pr);
    model_free(&m);
    return err ? 1 : 0;
}
