/* Training-step benchmark, thinkrl side: forward + mean next-token CE +
 * backward + AdamW on B x T random tokens, timed over several steps after a
 * warm-up. Also measures the machine's sgemm peak. Prints one JSON line.
 *   bench_train --model DIR [--B 16] [--T 128] [--steps 5] [--warmup 1] [--threads 2]
 *   bench_train --sgemm-peak [--threads 2] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "thinkrl/core.h"
#include "thinkrl/kernels.h"
#include "thinkrl/model.h"
#include "thinkrl/optim.h"

/* Best of 4 products of 2048^3 on the configured threads: OpenBLAS (its
 * own threading; the kernel it chose is named in the JSON line), and
 * thinkrl's tr_sgemm with the rows split over the threads as matmul does. */
static double sgemm_peak(int own) {
    const int n = 2048;
    float *a = tr_alloc((size_t)n * n * 4), *b = tr_alloc((size_t)n * n * 4), *c = tr_alloc((size_t)n * n * 4);
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    double best = 0;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = tr_time();
        if (own) {
#pragma omp parallel num_threads(tr_threads())
            {
                const int t = omp_get_thread_num(), nt = omp_get_num_threads();
                const int r0 = (int)((long)n * t / nt), r1 = (int)((long)n * (t + 1) / nt);
                tr_sgemm(0, 0, r1 - r0, n, n, 1.0f, a + (size_t)r0 * n, n, b, n, 0.0f, c + (size_t)r0 * n, n);
            }
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        }
        double dt = tr_time() - t0, gf = 2.0 * n * n * (double)n / dt / 1e9;
        if (gf > best) best = gf;
    }
    tr_free(a);
    tr_free(b);
    tr_free(c);
    return best;
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    int B = 16, T = 128, steps = 5, warmup = 1, threads = 2, peak_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sgemm-peak")) peak_only = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--model")) dir = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--B")) B = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--T")) T = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--steps")) steps = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--warmup")) warmup = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "bench_train: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    tr_set_threads(threads);
    if (peak_only) {
        const double ob = sgemm_peak(0), own = tr_sgemm_available() ? sgemm_peak(1) : 0.0;
        printf("{\"impl\":\"sgemm\",\"gflops\":%.2f,\"openblas\":%.2f,\"openblas_core\":\"%s\","
               "\"thinkrl\":%.2f,\"threads\":%d}\n",
               ob > own ? ob : own, ob, openblas_get_corename(), own, threads);
        return 0;
    }
    if (!dir) {
        fprintf(stderr, "bench_train: --model DIR required\n");
        return 2;
    }
    Model m;
    AdamW opt;
    if (model_load(&m, dir) || model_alloc_grads(&m) ||
        adamw_init(&opt, m.n_params, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f)) {
        fprintf(stderr, "bench_train: %s\n", tr_errmsg());
        return 1;
    }
    size_t N = (size_t)B * T;
    int32_t *ids = malloc(N * 4), *tg = malloc(N * 4);
    Rng r;
    rng_seed(&r, 42);
    for (size_t n = 0; n < N; n++) ids[n] = (int32_t)(rng_u64(&r) % (uint64_t)m.cfg.V);
    for (size_t n = 0; n < N; n++) tg[n] = (n % T == (size_t)T - 1) ? -1 : ids[n + 1];
    ModelBatch b = {B, T, ids, NULL, NULL, NULL};
    float loss = 0, first = 0;
    double t0 = 0;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) t0 = tr_time();
        model_zero_grads(&m);
        if (model_ce(&m, &b, tg, &loss, 1)) {
            fprintf(stderr, "bench_train: %s\n", tr_errmsg());
            return 1;
        }
        if (s == 0) first = loss;
        adamw_step(&opt, m.params, m.grads, 1e-4f, NULL);
    }
    double dt = (tr_time() - t0) / steps;
    double flops = 3.0 * model_flops_fwd(&m.cfg, (double)N, (double)T);
    printf("{\"impl\":\"thinkrl\",\"tokens_per_s\":%.1f,\"step_s\":%.4f,\"gflops\":%.2f,"
           "\"peak_rss_mb\":%.1f,\"loss_first\":%.5f,\"threads\":%d,\"params\":%zu}\n",
           N / dt, dt, flops / dt / 1e9, tr_peak_rss() / 1048576.0, first, threads, m.n_params);
    free(ids);
    free(tg);
    adamw_free(&opt);
    model_free(&m);
    return 0;
}
