/* RL math core tests: every advantage estimator, aggregation, clipping branch
 * and KL estimator on small cases worked out by hand (closed forms in the
 * comments), central finite differences of policy_loss and value_loss on
 * random batches, and the error paths. The PyTorch comparison is
 * check_rl_torch. */
#include <string.h>

#include "testutil.h"
#include "thinkrl/rl.h"

#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol))

/* ---- advantage estimators ---------------------------------------------- */

static void test_group_estimators(void) {
    /* one group, G = 4, rewards [1, 0, 0, 1], lengths [2, 0, 3, 1] packed */
    const float r[4] = {1, 0, 0, 1};
    const int len[4] = {2, 0, 3, 1};
    RlBatch b = {.N = 4, .G = 4, .off = NULL, .len = len, .n_tok = 6};
    float adv[6], ret[6];
    /* token -> response: 0 0 | 2 2 2 | 3 */
    const int who[6] = {0, 0, 2, 2, 2, 3};

    AdvCfg c = adv_cfg_default(ADV_GRPO);
    CHECK(adv_compute(&c, &b, r, NULL, NULL, NULL, adv, ret) == TR_OK, "%s", tr_errmsg());
    /* mean 0.5, unbiased std sqrt(1/3) */
    double a1 = 0.5 / (sqrt(1.0 / 3.0) + 1e-6);
    for (int t = 0; t < 6; t++) {
        double want = r[who[t]] > 0 ? a1 : -a1;
        CHECK(NEAR(adv[t], want, 1e-6), "grpo adv[%d] = %.8f, want %.8f", t, adv[t], want);
        CHECK(ret[t] == adv[t], "grpo returns copy adv");
    }
    c.std_population = 1; /* std 0.5 */
    CHECK(adv_compute(&c, &b, r, NULL, NULL, NULL, adv, NULL) == TR_OK, "%s", tr_errmsg());
    CHECK(NEAR(adv[0], 0.5 / 0.500001, 1e-6) && NEAR(adv[2], -0.5 / 0.500001, 1e-6),
          "grpo population: %g %g", adv[0], adv[2]);

    c = adv_cfg_default(ADV_DR_GRPO);
    CHECK(adv_compute(&c, &b, r, NULL, NULL, NULL, adv, NULL) == TR_OK, "%s", tr_errmsg());
    CHECK(adv[0] == 0.5f && adv[1] == 0.5f && adv[2] == -0.5f && adv[5] == 0.5f, "dr_grpo %g %g %g", adv[0],
          adv[2], adv[5]);

    c = adv_cfg_default(ADV_RLOO); /* 1 - (0+0+1)/3 = 2/3; 0 - 2/3 */
    CHECK(adv_compute(&c, &b, r, NULL, NULL, NULL, adv, NULL) == TR_OK, "%s", tr_errmsg());
    CHECK(NEAR(adv[0], 2.0 / 3, 1e-7) && NEAR(adv[3], -2.0 / 3, 1e-7) && NEAR(adv[5], 2.0 / 3, 1e-7),
          "rloo %g %g %g", adv[0], adv[3], adv[5]);

    c = adv_cfg_default(ADV_REMAX);
    const float base[4] = {0.25f, 0.25f, 0.25f, 2.0f};
    CHECK(adv_compute(&c, &b, r, NULL, base, NULL, adv, NULL) == TR_OK, "%s", tr_errmsg());
    CHECK(adv[0] == 0.75f && adv[2] == -0.25f && adv[5] == -1.0f, "remax %g %g %g", adv[0], adv[2], adv[5]);

    /* a flat group gets exactly 0, though the mean of 0.1f's need not round back */
    const float flat[3] = {0.1f, 0.1f, 0.1f};
    const int len3[3] = {1, 1, 1};
    RlBatch b3 = {.N = 3, .G = 3, .len = len3, .n_tok = 3};
    for (int k = 0; k < 4; k++) {
        const AdvKind ks[4] = {ADV_GRPO, ADV_DR_GRPO, ADV_RLOO, ADV_REINFORCE_PP_BASELINE};
        c = adv_cfg_default(ks[k]);
        c.no_whiten = 1;
        CHECK(adv_compute(&c, &b3, flat, NULL, NULL, NULL, adv, NULL) == TR_OK, "%s", tr_errmsg());
        CHECK(adv[0] == 0 && adv[1] == 0 && adv[2] == 0, "%s flat group: %g %g %g", adv_name(ks[k]), adv[0],
              adv[1], adv[2]);
    }

    /* two groups of 2 with gaps between responses: positions nobody owns
     * are zeroed */
    const float r2[4] = {3, 1, -1, -1};
    const int len2[4] = {1, 2, 1, 1};
    const int64_t off2[4] = {1, 3, 6, 8};
    RlBatch b2 = {.N = 4, .G = 2, .off = off2, .len = len2, .n_tok = 10};
    float a2[10];
    for (int t = 0; t < 10; t++) a2[t] = 99;
    c = adv_cfg_default(ADV_DR_GRPO);
    CHECK(adv_compute(&c, &b2, r2, NULL, NULL, NULL, a2, NULL) == TR_OK, "%s", tr_errmsg());
    const float want2[10] = {0, 1, 0, -1, -1, 0, 0, 0, 0, 0};
    for (int t = 0; t < 10; t++) CHECK(a2[t] == want2[t], "dr_grpo gaps adv[%d] = %g want %g", t, a2[t], want2[t]);
}

static void test_reinforce_pp(void) {
    /* one response of 3 tokens, scalar 1, tok_reward [0.1, -0.2, 0.3],
     * gamma 0.5: r = [0.1, -0.2, 1.3], G = [0.325, 0.45, 1.3] */
    const float r[1] = {1};
    const float tr[3] = {0.1f, -0.2f, 0.3f};
    const int len[1] = {3};
    RlBatch b = {.N = 1, .G = 1, .len = len, .n_tok = 3};
    float adv[3], ret[3];
    AdvCfg c = adv_cfg_default(ADV_REINFORCE_PP);
    c.gamma = 0.5f;
    c.no_whiten = 1;
    CHECK(adv_compute(&c, &b, r, tr, NULL, NULL, adv, ret) == TR_OK, "%s", tr_errmsg());
    const double G[3] = {0.325, 0.45, 1.3};
    for (int t = 0; t < 3; t++) {
        CHECK(NEAR(adv[t], G[t], 1e-6), "reinforce_pp G[%d] = %g want %g", t, adv[t], G[t]);
        CHECK(NEAR(ret[t], G[t], 1e-6), "reinforce_pp returns[%d] = %g", t, ret[t]);
    }
    /* whitened: mean 0, unbiased variance var/(var + 1e-8) */
    c.no_whiten = 0;
    CHECK(adv_compute(&c, &b, r, tr, NULL, NULL, adv, ret) == TR_OK, "%s", tr_errmsg());
    double m = (G[0] + G[1] + G[2]) / 3, v = 0;
    for (int t = 0; t < 3; t++) v += (G[t] - m) * (G[t] - m);
    v /= 2;
    for (int t = 0; t < 3; t++) {
        double want = (G[t] - m) / sqrt(v + 1e-8);
        CHECK(NEAR(adv[t], want, 1e-6), "reinforce_pp whitened[%d] = %g want %g", t, adv[t], want);
        CHECK(NEAR(ret[t], G[t], 1e-6), "returns stay unwhitened");
    }
    /* baseline: G = 2, rewards [1, 0] -> scalars [0.5, -0.5], gamma 1, no
     * token rewards, lengths [2, 1]: G = [0.5, 0.5, -0.5] */
    const float r2[2] = {1, 0};
    const int len2[2] = {2, 1};
    RlBatch b2 = {.N = 2, .G = 2, .len = len2, .n_tok = 3};
    c = adv_cfg_default(ADV_REINFORCE_PP_BASELINE);
    c.no_whiten = 1;
    CHECK(adv_compute(&c, &b2, r2, NULL, NULL, NULL, adv, NULL) == TR_OK, "%s", tr_errmsg());
    CHECK(adv[0] == 0.5f && adv[1] == 0.5f && adv[2] == -0.5f, "reinforce_pp_baseline %g %g %g", adv[0],
          adv[1], adv[2]);
    /* whitened over 3 tokens: mean 1/6, unbiased var 1/3 */
    c.no_whiten = 0;
    CHECK(adv_compute(&c, &b2, r2, NULL, NULL, NULL, adv, NULL) == TR_OK, "%s", tr_errmsg());
    CHECK(NEAR(adv[0], (0.5 - 1.0 / 6) / sqrt(1.0 / 3 + 1e-8), 1e-6) &&
              NEAR(adv[2], (-0.5 - 1.0 / 6) / sqrt(1.0 / 3 + 1e-8), 1e-6),
          "reinforce_pp_baseline whitened %g %g", adv[0], adv[2]);
}

static void test_gae(void) {
    /* len 2, V = [0.5, 0.2], scalar 1, gamma 1:
     * delta = [0 + 0.2 - 0.5, 1 + 0 - 0.2] = [-0.3, 0.8];
     * lambda 1 returns = [1, 1] (the Monte Carlo return); lambda 0.95:
     * A = [-0.3 + 0.95 * 0.8, 0.8] = [0.46, 0.8] */
    const float r[1] = {1}, V[2] = {0.5f, 0.2f};
    const int len[1] = {2};
    RlBatch b = {.N = 1, .G = 1, .len = len, .n_tok = 2};
    float adv[2], ret[2];
    AdvCfg c = adv_cfg_default(ADV_GAE);
    c.no_whiten = 1;
    CHECK(adv_compute(&c, &b, r, NULL, NULL, V, adv, ret) == TR_OK, "%s", tr_errmsg());
    CHECK(NEAR(adv[0], 0.46, 1e-6) && NEAR(adv[1], 0.8, 1e-6), "gae A = %g %g", adv[0], adv[1]);
    CHECK(NEAR(ret[0], 1, 1e-6) && NEAR(ret[1], 1, 1e-6), "gae returns = %g %g", ret[0], ret[1]);
    /* VAPO: alpha 1, len 2 -> lambda_actor = 1 - 1/2: A_0 = -0.3 + 0.4 */
    c.vapo_alpha = 1.0f;
    CHECK(adv_compute(&c, &b, r, NULL, NULL, V, adv, ret) == TR_OK, "%s", tr_errmsg());
    CHECK(NEAR(adv[0], 0.1, 1e-6) && NEAR(ret[0], 1, 1e-6), "gae vapo A_0 = %g returns %g", adv[0], ret[0]);
    /* alpha 0.05, len 2: 1 - 1/0.1 < 0, floored at 0: A_0 = delta_0 */
    c.vapo_alpha = 0.05f;
    CHECK(adv_compute(&c, &b, r, NULL, NULL, V, adv, ret) == TR_OK, "%s", tr_errmsg());
    CHECK(NEAR(adv[0], -0.3, 1e-6), "gae vapo floor A_0 = %g", adv[0]);
    /* token rewards and gamma 0.5, lambda_critic 0.5:
     * r = [0.2, 1 - 0.1], delta_1 = 0.9 - 0.2 = 0.7,
     * delta_0 = 0.2 + 0.5 * 0.2 - 0.5 = -0.2; returns_0 = -0.2 + 0.25 * 0.7 + 0.5 */
    const float tr[2] = {0.2f, -0.1f};
    c = adv_cfg_default(ADV_GAE);
    c.gamma = 0.5f;
    c.lambda_critic = 0.5f;
    c.lambda_actor = 0;
    c.no_whiten = 1;
    CHECK(adv_compute(&c, &b, r, tr, NULL, V, adv, ret) == TR_OK, "%s", tr_errmsg());
    CHECK(NEAR(adv[0], -0.2, 1e-6) && NEAR(adv[1], 0.7, 1e-6), "gae lambda 0: %g %g", adv[0], adv[1]);
    CHECK(NEAR(ret[0], -0.2 + 0.25 * 0.7 + 0.5, 1e-6) && NEAR(ret[1], 0.9, 1e-6), "gae returns %g %g", ret[0],
          ret[1]);
}

static void test_whiten_stats(void) {
    float x[6] = {7, 1, 2, 3, 4, 7};
    const int len[2] = {1, 3};
    const int64_t off[2] = {1, 2}; /* tokens 1..4 hold 1 2 3 4 */
    RlBatch b = {.N = 2, .G = 1, .off = off, .len = len, .n_tok = 6};
    RlTokStats st;
    CHECK(rl_tok_stats(&b, x, &st) == TR_OK, "%s", tr_errmsg());
    CHECK(st.n == 4 && NEAR(st.mean, 2.5, 1e-12) && NEAR(st.std, sqrt(1.25), 1e-12) && st.min == 1 && st.max == 4,
          "stats n %lld mean %g std %g min %g max %g", (long long)st.n, st.mean, st.std, st.min, st.max);
    CHECK(rl_whiten(&b, x, 0) == TR_OK, "%s", tr_errmsg());
    double s = sqrt(5.0 / 3 + 1e-8);
    CHECK(NEAR(x[1], -1.5 / s, 1e-6) && NEAR(x[4], 1.5 / s, 1e-6) && x[0] == 7 && x[5] == 7,
          "whiten %g %g (untouched %g %g)", x[1], x[4], x[0], x[5]);
    float y[6] = {7, 1, 2, 3, 4, 7};
    CHECK(rl_whiten(&b, y, 1) == TR_OK && NEAR(y[4], 1.5 / sqrt(1.25 + 1e-8), 1e-6), "whiten population %g", y[4]);
}

/* ---- KL ---------------------------------------------------------------- */

static void test_kl(void) {
    /* logp -1, ref -2: x = -1 */
    double e1 = exp(-1.0);
    CHECK(NEAR(kl_value(KL_K1, -1, -2), 1, 1e-15) && NEAR(kl_grad(KL_K1, -1, -2), 1, 0), "k1");
    CHECK(NEAR(kl_value(KL_K2, -1, -2), 0.5, 1e-15) && NEAR(kl_grad(KL_K2, -1, -2), 1, 1e-15), "k2");
    CHECK(NEAR(kl_value(KL_K3, -1, -2), e1, 1e-15) && NEAR(kl_grad(KL_K3, -1, -2), 1 - e1, 1e-15), "k3 %.17g",
          kl_value(KL_K3, -1, -2));
    /* clamp: x = 12 -> x = 10, gradient 0; x = -12 -> -10 */
    CHECK(NEAR(kl_value(KL_K3, -12, 0), exp(10.0) - 11, 1e-9) && kl_grad(KL_K3, -12, 0) == 0, "k3 clamp high");
    CHECK(NEAR(kl_value(KL_K3, 0, -12), exp(-10.0) + 9, 1e-12) && kl_grad(KL_K3, 0, -12) == 0, "k3 clamp low");
    CHECK(kl_grad(KL_K3, 0, 10) != 0, "k3 gradient at the bound is the inside one (torch.clamp)");
    /* finite differences of every estimator inside the clamp */
    Rng rng;
    rng_seed(&rng, 5);
    double worst = 0;
    for (int k = 0; k < KL_COUNT; k++)
        for (int s = 0; s < 50; s++) {
            double lp = -3 * rng_uniform_d(&rng), rf = lp + 8 * (rng_uniform_d(&rng) - 0.5), h = 1e-5;
            double fd = (kl_value(k, lp + h, rf) - kl_value(k, lp - h, rf)) / (2 * h);
            double e = fabs(fd - kl_grad(k, lp, rf)) / (1e-7 + 1e-6 * fabs(fd));
            worst = e > worst ? e : worst;
        }
    CHECK(worst <= 1, "kl_grad vs finite differences: worst %g", worst);
    printf("kl: finite-difference worst error %.3g of tolerance\n", worst);
    /* kl_tokens: scale -beta into a per-token reward */
    const float lp[3] = {-1, 0, -1}, rf[3] = {-2, 0, -2};
    const int len[1] = {2};
    const int64_t off[1] = {1};
    RlBatch b = {.N = 1, .G = 1, .off = off, .len = len, .n_tok = 3};
    float out[3] = {5, 5, 5};
    double mean = -1;
    CHECK(kl_tokens(KL_K2, &b, lp, rf, -0.1f, out, &mean) == TR_OK, "%s", tr_errmsg());
    CHECK(out[0] == 0 && out[1] == 0 && NEAR(out[2], -0.05, 1e-8) && NEAR(mean, 0.25, 1e-12),
          "kl_tokens %g %g %g mean %g", out[0], out[1], out[2], mean);
    CHECK(kl_parse("k3") == KL_K3 && kl_parse("k4") == -1 && !strcmp(kl_name(KL_K1), "k1"), "kl names");
}

/* ---- policy loss ------------------------------------------------------- */

/* One token with ratio rho and advantage A: loss and gradient. */
static void one_token(const PolicyLossCfg *c, double rho, float A, double want_l, double want_g, int clip_hi,
                      int clip_lo, int dual, const char *what) {
    const int len[1] = {1};
    RlBatch b = {.N = 1, .G = 1, .len = len, .n_tok = 1};
    float lp = (float)log(rho), old = 0, g = 7;
    PolicyLossStats st;
    int rc = policy_loss(c, &b, &lp, &old, NULL, &A, &g, &st);
    CHECK(rc == TR_OK, "%s: %s", what, tr_errmsg());
    /* float(log(rho)) moves the ratio by ~1e-7 relative */
    CHECK(NEAR(st.loss, want_l, 1e-6) && NEAR(g, want_g, 1e-6), "%s: loss %.8f want %.8f, grad %.8f want %.8f",
          what, st.loss, want_l, g, want_g);
    CHECK(st.clip_frac_high == clip_hi && st.clip_frac_low == clip_lo && st.dual_clip_frac == dual &&
              st.clip_frac == clip_hi + clip_lo,
          "%s: clip fractions high %g low %g dual %g", what, st.clip_frac_high, st.clip_frac_low,
          st.dual_clip_frac);
}

static void test_policy_branches(void) {
    PolicyLossCfg c = policy_loss_cfg_default(); /* eps 0.2 / 0.2 */
    one_token(&c, 1.1, 1, -1.1, -1.1, 0, 0, 0, "A>0 inside");
    one_token(&c, 1.5, 1, -1.2, 0, 1, 0, 0, "A>0 above: clipped");
    one_token(&c, 0.5, 1, -0.5, -0.5, 0, 0, 0, "A>0 below: unclipped");
    one_token(&c, 1.5, -1, 1.5, 1.5, 0, 0, 0, "A<0 above: unclipped");
    one_token(&c, 0.5, -1, 0.8, 0, 0, 1, 0, "A<0 below: clipped");
    one_token(&c, 0.9, -2, 1.8, 1.8, 0, 0, 0, "A<0 inside");
    one_token(&c, 4.0, -1, 4.0, 4.0, 0, 0, 0, "A<0 ratio 4, no dual clip");
    c.dual_clip_c = 3;
    one_token(&c, 4.0, -1, 3.0, 0, 0, 0, 1, "A<0 ratio 4: dual clip");
    one_token(&c, 2.0, -1, 2.0, 2.0, 0, 0, 0, "A<0 ratio 2 under the dual bound");
    one_token(&c, 4.0, 1, -1.2, 0, 1, 0, 0, "A>0 ratio 4: dual clip does not apply");
    c.dual_clip_c = 0;
    one_token(&c, 1.25, 1, -1.2, 0, 1, 0, 0, "eps_high 0.2 clips 1.25");
    c.eps_high = 0.28f;
    one_token(&c, 1.25, 1, -1.25, -1.25, 0, 0, 0, "clip-higher 0.28 keeps 1.25");
    one_token(&c, 0.75, -1, 0.8, 0, 0, 1, 0, "eps_low stays 0.2");
}

static void test_aggregation(void) {
    /* ratio 1 everywhere so L_t = -A_t. lens [1, 0, 3] (one group of 3),
     * A = [2 | - | 1 1 1]:
     *   token-mean              -(2 + 3) / 4 = -1.25
     *   seq-mean-token-mean     -(2 + 1) / 2 = -1.5 (the empty one uncounted)
     *   seq-mean-token-sum-norm -(2/4 + 3/4) / 3 (max_len 4) */
    const int len[3] = {1, 0, 3};
    RlBatch b = {.N = 3, .G = 3, .len = len, .n_tok = 4};
    const float lp[4] = {0, 0, 0, 0}, A[4] = {2, 1, 1, 1};
    float g[4];
    PolicyLossStats st;
    PolicyLossCfg c = policy_loss_cfg_default();
    const double want[3] = {-1.25, -1.5, -(0.5 + 0.75) / 3};
    const double g0[3] = {-2.0 / 4, -2.0 / 2, -2.0 / 12}, g1[3] = {-1.0 / 4, -1.0 / 6, -1.0 / 12};
    for (int a = 0; a < AGG_COUNT; a++) {
        c.agg = (LossAgg)a;
        c.max_len = 4;
        CHECK(policy_loss(&c, &b, lp, lp, NULL, A, g, &st) == TR_OK, "%s", tr_errmsg());
        CHECK(NEAR(st.loss, want[a], 1e-12) && NEAR(st.pg_loss, want[a], 1e-12), "%s: loss %g want %g",
              loss_agg_name(c.agg), st.loss, want[a]);
        CHECK(NEAR(g[0], g0[a], 1e-7) && NEAR(g[1], g1[a], 1e-7) && NEAR(g[3], g1[a], 1e-7),
              "%s: grads %g %g want %g %g", loss_agg_name(c.agg), g[0], g[1], g0[a], g1[a]);
        CHECK(st.n_tokens == 4 && st.n_seqs == 2 && st.ratio_mean == 1 && st.ratio_max == 1 && st.clip_frac == 0,
              "%s: stats", loss_agg_name(c.agg));
        CHECK(loss_agg_parse(loss_agg_name(c.agg)) == a, "agg names");
    }
    /* norm_count: two halves of a batch summed give the whole */
    c.agg = AGG_TOKEN_MEAN;
    c.norm_count = 8;
    CHECK(policy_loss(&c, &b, lp, lp, NULL, A, g, &st) == TR_OK && NEAR(st.loss, -5.0 / 8, 1e-12),
          "norm_count 8: %g", st.loss);
    c.agg = AGG_SEQ_MEAN_TOKEN_MEAN;
    c.norm_count = 4;
    CHECK(policy_loss(&c, &b, lp, lp, NULL, A, g, &st) == TR_OK && NEAR(st.loss, -3.0 / 4, 1e-12),
          "norm_count 4 seqs: %g", st.loss);
    /* KL in the loss: k1 with ref = logp - 1 -> k = 1 per token */
    const float ref[4] = {-1, -1, -1, -1};
    c = policy_loss_cfg_default();
    c.kl = KL_K1;
    c.beta = 0.5f;
    c.kl_in_loss = 1;
    CHECK(policy_loss(&c, &b, lp, lp, ref, A, g, &st) == TR_OK, "%s", tr_errmsg());
    CHECK(NEAR(st.loss, -1.25 + 0.5, 1e-12) && NEAR(st.kl_mean, 1, 1e-12) && NEAR(st.kl_loss, 1, 1e-12) &&
              NEAR(g[0], (-2 + 0.5) / 4, 1e-7),
          "kl in loss: loss %g kl %g grad %g", st.loss, st.kl_mean, g[0]);
    c.kl_in_loss = 0; /* reported, not added */
    CHECK(policy_loss(&c, &b, lp, lp, ref, A, g, &st) == TR_OK && NEAR(st.loss, -1.25, 1e-12) &&
              NEAR(st.kl_mean, 1, 1e-12) && NEAR(g[0], -0.5, 1e-7),
          "kl reported only: loss %g kl %g", st.loss, st.kl_mean);
}

/* ---- value loss -------------------------------------------------------- */

static void test_value(void) {
    /* eps 0.2. token 0: V 1, R 0, Vold 0.5: clip(V) 0.7, 0.5 > 0.245 -> plain, grad 1
     *          token 1: V 0, R 1, Vold 0.5: clip(V) 0.3, plain 0.5, grad -1
     *          token 2: V 1, R 0.9, Vold 0: clip(V) 0.2 -> 0.5*0.49 = 0.245 wins, grad 0 */
    const float V[3] = {1, 0, 1}, R[3] = {0, 1, 0.9f}, Vo[3] = {0.5f, 0.5f, 0};
    const int len[1] = {3};
    RlBatch b = {.N = 1, .G = 1, .len = len, .n_tok = 3};
    ValueLossCfg c = {.eps_v = 0.2f, .agg = AGG_TOKEN_MEAN};
    float g[3];
    ValueLossStats st;
    CHECK(value_loss(&c, &b, V, Vo, R, g, &st) == TR_OK, "%s", tr_errmsg());
    double d2 = 0.2 - (double)0.9f;
    double want = (0.5 + 0.5 + 0.5 * d2 * d2) / 3;
    CHECK(NEAR(st.loss, want, 1e-7) && NEAR(g[0], 1.0 / 3, 1e-7) && NEAR(g[1], -1.0 / 3, 1e-7) && g[2] == 0,
          "value loss %g want %g, grads %g %g %g", st.loss, want, g[0], g[1], g[2]);
    CHECK(NEAR(st.clip_frac, 1.0 / 3, 1e-12), "value clip_frac %g", st.clip_frac);
    c.eps_v = 0; /* off: v_old not needed */
    CHECK(value_loss(&c, &b, V, NULL, R, g, &st) == TR_OK && NEAR(g[2], (1 - (double)0.9f) / 3, 1e-7) &&
              st.clip_frac == 0,
          "value loss unclipped grad %g", g[2]);
    /* explained variance: R [1 2 3], V [1 2 4]: 1 - (2/9) / (2/3) = 2/3 */
    const float V2[3] = {1, 2, 4}, R2[3] = {1, 2, 3};
    CHECK(value_loss(&c, &b, V2, NULL, R2, NULL, &st) == TR_OK && NEAR(st.explained_var, 2.0 / 3, 1e-12) &&
              NEAR(st.v_mean, 7.0 / 3, 1e-12) && NEAR(st.ret_mean, 2, 1e-12),
          "explained var %g", st.explained_var);
}

/* ---- finite differences ------------------------------------------------ */

typedef struct {
    RlBatch b;
    int64_t off[9];
    int len[9];
    float *logp, *old, *ref, *adv, *v, *vold, *ret;
} FdCase;

/* 3 groups of 3, one empty response, gaps between responses. */
static void fd_case(FdCase *f, Rng *r) {
    const int len[9] = {5, 0, 3, 7, 1, 4, 6, 2, 5};
    int64_t o = 0;
    for (int i = 0; i < 9; i++) {
        o += 1 + (int64_t)(rng_u64(r) % 2);
        f->off[i] = o;
        f->len[i] = len[i];
        o += len[i];
    }
    f->b = (RlBatch){.N = 9, .G = 3, .off = f->off, .len = f->len, .n_tok = o + 1};
    size_t n = (size_t)f->b.n_tok;
    f->old = tu_randn(r, n, 1.0f);
    f->logp = tu_randn(r, n, 0.4f);
    f->ref = tu_randn(r, n, 1.0f);
    f->adv = tu_randn(r, n, 1.0f);
    f->v = tu_randn(r, n, 1.0f);
    f->vold = tu_randn(r, n, 0.3f);
    f->ret = tu_randn(r, n, 1.0f);
    for (size_t t = 0; t < n; t++) {
        f->old[t] = -fabsf(f->old[t]) - 0.1f;
        f->logp[t] += f->old[t];           /* ratios mostly in [0.5, 2] */
        if (t % 11 == 3) f->logp[t] += 1.4f; /* ratio ~4: the dual clip */
        f->ref[t] += f->logp[t];
        if (t % 13 == 5) f->ref[t] += (t % 2 ? 12.0f : -12.0f); /* k3 clamp */
        f->vold[t] += f->v[t];
    }
}

static void fd_free(FdCase *f) {
    free(f->logp), free(f->old), free(f->ref), free(f->adv), free(f->v), free(f->vold), free(f->ret);
}

/* Distance of float x from the nearest kink of the policy loss, in logp. */
static double policy_kink(const PolicyLossCfg *c, const FdCase *f, int64_t p) {
    double lr = (double)f->logp[p] - f->old[p], d = INFINITY;
    d = fmin(d, fabs(lr - log(1.0 - c->eps_low)));
    d = fmin(d, fabs(lr - log(1.0 + c->eps_high)));
    if (c->dual_clip_c > 0) d = fmin(d, fabs(lr - log(c->dual_clip_c)));
    if (c->kl == KL_K3) d = fmin(d, fabs(fabs((double)f->ref[p] - f->logp[p]) - 10));
    return d;
}

static void test_fd_policy(void) {
    Rng r;
    rng_seed(&r, 11);
    FdCase f;
    fd_case(&f, &r);
    const size_t n = (size_t)f.b.n_tok;
    float *g = malloc(n * sizeof(float));
    const double h = 1e-3;
    double worst = 0;
    int cases = 0, checked = 0, skipped = 0;
    for (int agg = 0; agg < AGG_COUNT; agg++)
        for (int dual = 0; dual < 2; dual++)
            for (int kl = -1; kl < KL_COUNT; kl++) {
                PolicyLossCfg c = policy_loss_cfg_default();
                c.eps_high = 0.28f;
                c.agg = (LossAgg)agg;
                c.max_len = 8;
                c.dual_clip_c = dual ? 3.0f : 0.0f;
                c.kl_in_loss = kl >= 0;
                c.kl = kl >= 0 ? (KlKind)kl : KL_K3;
                c.beta = kl >= 0 ? 0.3f : 0.0f;
                PolicyLossStats st;
                int rc = policy_loss(&c, &f.b, f.logp, f.old, f.ref, f.adv, g, &st);
                CHECK(rc == TR_OK, "%s", tr_errmsg());
                cases++;
                CHECK(st.clip_frac_high > 0 && st.clip_frac_low > 0 && (!dual || st.dual_clip_frac > 0),
                      "the random case exercises every branch: high %g low %g dual %g", st.clip_frac_high,
                      st.clip_frac_low, st.dual_clip_frac);
                /* positions outside responses get zero gradient */
                int64_t run = 0;
                for (int i = 0; i < f.b.N; i++) {
                    for (int64_t p = run; p < f.off[i]; p++) CHECK(g[p] == 0, "gradient at gap %lld", (long long)p);
                    run = f.off[i] + f.len[i];
                }
                double gmax = 0;
                for (size_t p = 0; p < n; p++) gmax = fmax(gmax, fabs(g[p]));
                for (int i = 0; i < f.b.N; i++)
                    for (int64_t p = f.off[i]; p < f.off[i] + f.len[i]; p++) {
                        if (policy_kink(&c, &f, p) < 4 * h) {
                            skipped++;
                            continue;
                        }
                        float x0 = f.logp[p];
                        f.logp[p] = (float)(x0 + h);
                        double xp = f.logp[p];
                        policy_loss(&c, &f.b, f.logp, f.old, f.ref, f.adv, NULL, &st);
                        double lp = st.loss;
                        f.logp[p] = (float)(x0 - h);
                        double xm = f.logp[p];
                        policy_loss(&c, &f.b, f.logp, f.old, f.ref, f.adv, NULL, &st);
                        double lm = st.loss;
                        f.logp[p] = x0;
                        double fd = (lp - lm) / (xp - xm);
                        double e = fabs(fd - g[p]) / (1e-5 * gmax + 1e-4 * fabs(fd));
                        if (e > worst) worst = e;
                        CHECK(e <= 1, "policy fd %s dual %d kl %d token %lld: fd %.9g analytic %.9g",
                              loss_agg_name(c.agg), dual, kl, (long long)p, fd, g[p]);
                        checked++;
                    }
            }
    printf("policy_loss: %d configs, %d finite-difference checks (%d tokens by a kink skipped), worst %.3g of "
           "tolerance\n",
           cases, checked, skipped, worst);
    free(g);
    fd_free(&f);
}

static void test_fd_value(void) {
    Rng r;
    rng_seed(&r, 12);
    FdCase f;
    fd_case(&f, &r);
    const size_t n = (size_t)f.b.n_tok;
    float *g = malloc(n * sizeof(float));
    const double h = 1e-3;
    double worst = 0;
    int checked = 0, clipped = 0;
    for (int agg = 0; agg < AGG_COUNT; agg++)
        for (int clip = 0; clip < 2; clip++) {
            ValueLossCfg c = {.eps_v = clip ? 0.2f : 0.0f, .agg = (LossAgg)agg, .max_len = 8};
            ValueLossStats st;
            CHECK(value_loss(&c, &f.b, f.v, f.vold, f.ret, g, &st) == TR_OK, "%s", tr_errmsg());
            if (clip) clipped += st.clip_frac > 0;
            double gmax = 0;
            for (size_t p = 0; p < n; p++) gmax = fmax(gmax, fabs(g[p]));
            for (int i = 0; i < f.b.N; i++)
                for (int64_t p = f.off[i]; p < f.off[i] + f.len[i]; p++) {
                    if (clip) { /* kinks: the clip bounds and where the two squares cross */
                        double V = f.v[p], lo = (double)f.vold[p] - c.eps_v, hi = (double)f.vold[p] + c.eps_v;
                        double R = f.ret[p], vc = V < lo ? lo : V > hi ? hi : V;
                        if (fabs(V - lo) < 4 * h || fabs(V - hi) < 4 * h || fabs(fabs(V - R) - fabs(vc - R)) < 8 * h)
                            continue;
                    }
                    float x0 = f.v[p];
                    f.v[p] = (float)(x0 + h);
                    double xp = f.v[p];
                    value_loss(&c, &f.b, f.v, f.vold, f.ret, NULL, &st);
                    double lp = st.loss;
                    f.v[p] = (float)(x0 - h);
                    double xm = f.v[p];
                    value_loss(&c, &f.b, f.v, f.vold, f.ret, NULL, &st);
                    double lm = st.loss;
                    f.v[p] = x0;
                    double fd = (lp - lm) / (xp - xm);
                    double e = fabs(fd - g[p]) / (1e-5 * gmax + 1e-4 * fabs(fd));
                    if (e > worst) worst = e;
                    CHECK(e <= 1, "value fd %s clip %d token %lld: fd %.9g analytic %.9g", loss_agg_name(c.agg),
                          clip, (long long)p, fd, g[p]);
                    checked++;
                }
        }
    CHECK(clipped == AGG_COUNT, "the random case exercises the value clip");
    printf("value_loss: %d finite-difference checks, worst %.3g of tolerance\n", checked, worst);
    free(g);
    fd_free(&f);
}

/* ---- errors ------------------------------------------------------------ */

static int err_has(int rc, const char *needle) {
    return rc == TR_EINVAL && strstr(tr_errmsg(), needle) != NULL;
}

static void test_errors(void) {
    float r[4] = {1, 0, 0, 1}, x[8] = {0}, out[8], out2[8];
    int len[4] = {2, 2, 2, 2};
    int64_t off[4] = {0, 2, 4, 6};
    RlBatch b = {.N = 4, .G = 4, .off = off, .len = len, .n_tok = 8};
    AdvCfg c = adv_cfg_default(ADV_GRPO);
    CHECK(adv_compute(&c, &b, r, NULL, NULL, NULL, out, NULL) == TR_OK, "%s", tr_errmsg());

    RlBatch e = b;
    e.G = 3;
    CHECK(err_has(adv_compute(&c, &e, r, NULL, NULL, NULL, out, NULL), "multiple of the group size"), "N %% G: %s",
          tr_errmsg());
    len[2] = -1;
    CHECK(err_has(rl_batch_check(&b), "response 2 has length -1"), "negative length: %s", tr_errmsg());
    len[2] = 2;
    off[2] = 3;
    CHECK(err_has(rl_batch_check(&b), "response 2"), "overlap: %s", tr_errmsg());
    off[2] = 4;
    e = b;
    e.n_tok = 7;
    CHECK(err_has(rl_batch_check(&e), "response 3"), "past n_tok: %s", tr_errmsg());
    e = b;
    e.off = NULL;
    e.n_tok = 9;
    CHECK(err_has(rl_batch_check(&e), "n_tok = 9"), "packed sum: %s", tr_errmsg());

    r[2] = NAN;
    CHECK(err_has(adv_compute(&c, &b, r, NULL, NULL, NULL, out, NULL), "reward[2]"), "NaN reward: %s", tr_errmsg());
    r[2] = 0;
    c = adv_cfg_default(ADV_GAE);
    x[5] = INFINITY;
    CHECK(err_has(adv_compute(&c, &b, r, NULL, NULL, x, out, out2), "values[5]"), "inf value: %s", tr_errmsg());
    x[5] = 0;
    CHECK(err_has(adv_compute(&c, &b, r, NULL, NULL, NULL, out, out2), "gae needs"), "gae without values");
    CHECK(err_has(adv_compute(&c, &b, r, NULL, NULL, x, out, NULL), "returns"), "gae without returns");
    c = adv_cfg_default(ADV_GRPO);
    CHECK(err_has(adv_compute(&c, &b, r, x, NULL, NULL, out, NULL), "per-token reward"), "grpo tok_reward: %s",
          tr_errmsg());
    CHECK(err_has(adv_compute(&c, &b, r, NULL, r, NULL, out, NULL), "baseline"), "grpo baseline");
    c = adv_cfg_default(ADV_REMAX);
    CHECK(err_has(adv_compute(&c, &b, r, NULL, NULL, NULL, out, NULL), "baseline"), "remax without baseline");
    e = b;
    e.G = 1;
    c = adv_cfg_default(ADV_RLOO);
    CHECK(err_has(adv_compute(&c, &e, r, NULL, NULL, NULL, out, NULL), "G >= 2"), "rloo G=1: %s", tr_errmsg());
    c = adv_cfg_default(ADV_GRPO);
    CHECK(err_has(adv_compute(&c, &e, r, NULL, NULL, NULL, out, NULL), "G >= 2"), "grpo G=1");
    c.std_population = 1;
    CHECK(adv_compute(&c, &e, r, NULL, NULL, NULL, out, NULL) == TR_OK && out[0] == 0,
          "grpo population std with G=1 gives 0");
    c = adv_cfg_default(ADV_GAE);
    c.lambda_actor = 1.5f;
    CHECK(err_has(adv_compute(&c, &b, r, NULL, NULL, x, out, out2), "lambda"), "lambda range");
    CHECK(adv_parse("ppo") == ADV_GAE && adv_parse("reinforce_pp_baseline") == ADV_REINFORCE_PP_BASELINE &&
              adv_parse("grpo2") == -1 && !strcmp(adv_name(ADV_DR_GRPO), "dr_grpo"),
          "adv names");

    float lp[8], old[8], A[8], g[8];
    for (int t = 0; t < 8; t++) lp[t] = old[t] = -1, A[t] = 1;
    PolicyLossCfg pc = policy_loss_cfg_default();
    lp[6] = NAN;
    CHECK(err_has(policy_loss(&pc, &b, lp, old, NULL, A, g, NULL), "logp[6]"), "NaN logp: %s", tr_errmsg());
    CHECK(strstr(tr_errmsg(), "response 3, position 0") != NULL, "NaN names its response: %s", tr_errmsg());
    lp[6] = -1;
    A[1] = -INFINITY;
    CHECK(err_has(policy_loss(&pc, &b, lp, old, NULL, A, g, NULL), "adv[1]"), "inf adv: %s", tr_errmsg());
    A[1] = 1;
    pc.dual_clip_c = 0.5f;
    CHECK(err_has(policy_loss(&pc, &b, lp, old, NULL, A, g, NULL), "dual_clip_c"), "dual clip c <= 1");
    pc = policy_loss_cfg_default();
    pc.kl_in_loss = 1;
    pc.beta = 0.04f;
    CHECK(err_has(policy_loss(&pc, &b, lp, old, NULL, A, g, NULL), "reference"), "KL without ref");
    pc.beta = 0; /* beta 0: the reference is off entirely */
    CHECK(policy_loss(&pc, &b, lp, old, NULL, A, g, NULL) == TR_OK, "beta 0 needs no ref: %s", tr_errmsg());
    pc = policy_loss_cfg_default();
    pc.agg = AGG_SEQ_MEAN_TOKEN_SUM_NORM;
    pc.max_len = 1;
    CHECK(err_has(policy_loss(&pc, &b, lp, old, NULL, A, g, NULL), "max_len"), "len > max_len");
    pc.max_len = 0;
    CHECK(err_has(policy_loss(&pc, &b, lp, old, NULL, A, g, NULL), "max_len"), "max_len 0");
    pc = policy_loss_cfg_default();
    pc.eps_low = 1.0f;
    CHECK(err_has(policy_loss(&pc, &b, lp, old, NULL, A, g, NULL), "eps_low"), "eps_low 1");

    ValueLossCfg vc = {.eps_v = 0.2f};
    CHECK(err_has(value_loss(&vc, &b, lp, NULL, old, g, NULL), "old values"), "value clip without v_old");
    vc.eps_v = 0;
    old[3] = NAN;
    CHECK(err_has(value_loss(&vc, &b, lp, NULL, old, g, NULL), "returns[3]"), "NaN return: %s", tr_errmsg());
}

int main(void) {
    test_group_estimators();
    test_reinforce_pp();
    test_gae();
    test_whiten_stats();
    test_kl();
    test_policy_branches();
    test_aggregation();
    test_value();
    test_fd_policy();
    test_fd_value();
    test_errors();
    return tu_summary("test_rl");
}
