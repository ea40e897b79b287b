/* Evaluation metrics against closed forms and brute force: unbiased pass@k
 * (exact binomial ratios), maj@k (hand-computed cases, an independent
 * bitmask enumeration, the hypergeometric closed form for two answers),
 * answer keys, and the summary's per-pattern counts. */
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "thinkrl/eval.h"

static double binom_exact(int n, int k) {
    if (k < 0 || k > n) return 0;
    unsigned long long r = 1;
    for (int i = 1; i <= k; i++) r = r * (unsigned long long)(n - k + i) / (unsigned long long)i;
    return (double)r;
}

/* maj@k by enumerating every k-subset as a bitmask, with a vote histogram. */
static double maj_brute(const int *key, const uint8_t *cor, int n, int k) {
    double sum = 0;
    long cnt = 0;
    for (unsigned mask = 0; mask < (1u << n); mask++) {
        if (__builtin_popcount(mask) != k) continue;
        int votes[64] = {0}, correct_of[64] = {0};
        for (int i = 0; i < n; i++)
            if (mask >> i & 1 && key[i] >= 0) {
                votes[key[i]]++;
                correct_of[key[i]] = cor[i];
            }
        int best = 0;
        for (int a = 0; a < 64; a++)
            if (votes[a] > best) best = votes[a];
        int nb = 0, nc = 0;
        for (int a = 0; a < 64 && best > 0; a++)
            if (votes[a] == best) {
                nb++;
                nc += correct_of[a];
            }
        sum += nb ? (double)nc / nb : 0;
        cnt++;
    }
    return sum / cnt;
}

int main(void) {
    /* pass@k against exact binomials */
    for (int n = 1; n <= 20; n++)
        for (int c = 0; c <= n; c++)
            for (int k = 1; k <= n; k++) {
                double want = 1.0 - binom_exact(n - c, k) / binom_exact(n, k);
                double got = eval_pass_at_k(n, c, k);
                CHECK(fabs(got - want) < 1e-12, "pass@%d n=%d c=%d: %.15g vs %.15g", k, n, c, got, want);
            }
    CHECK(fabs(eval_pass_at_k(10, 3, 1) - 0.3) < 1e-15, "pass@1 = c/n");
    CHECK(eval_pass_at_k(5, 0, 3) == 0.0, "no correct sample");
    CHECK(eval_pass_at_k(5, 3, 3) == 1.0, "n-c < k");
    /* large n: no overflow, matches log-gamma form */
    {
        int n = 200, c = 17, k = 50;
        double lw = lgamma(n - c + 1) - lgamma(k + 1) - lgamma(n - c - k + 1) - (lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1));
        double want = 1 - exp(lw), got = eval_pass_at_k(n, c, k);
        CHECK(fabs(got - want) < 1e-9, "pass@50 n=200: %.12g vs %.12g", got, want);
    }

    /* maj@k: hand-computed */
    {
        int key[3] = {0, 0, 1};
        uint8_t cor[3] = {1, 1, 0};
        CHECK(fabs(eval_maj_at_k(key, cor, 3, 1) - 2.0 / 3) < 1e-12, "maj@1 = pass@1");
        CHECK(fabs(eval_maj_at_k(key, cor, 3, 2) - 2.0 / 3) < 1e-12, "maj@2 with ties: (1 + .5 + .5)/3");
        CHECK(fabs(eval_maj_at_k(key, cor, 3, 3) - 1.0) < 1e-12, "maj@3 majority correct");
        int key2[4] = {0, 1, 1, -1};
        uint8_t cor2[4] = {1, 0, 0, 0};
        CHECK(fabs(eval_maj_at_k(key2, cor2, 4, 4) - 0.0) < 1e-12, "wrong majority");
        int key3[2] = {-1, -1};
        uint8_t cor3[2] = {0, 0};
        CHECK(eval_maj_at_k(key3, cor3, 2, 2) == 0.0, "no answers at all");
    }
    /* maj@k against brute force on random cases */
    Rng r;
    rng_seed(&r, 7);
    for (int t = 0; t < 300; t++) {
        int n = 1 + (int)(rng_u64(&r) % 12), k = 1 + (int)(rng_u64(&r) % (uint64_t)n);
        int n_ans = 1 + (int)(rng_u64(&r) % 4);
        int key[16];
        uint8_t cor[16];
        int correct_key = (int)(rng_u64(&r) % (uint64_t)n_ans);
        for (int i = 0; i < n; i++) {
            int a = (int)(rng_u64(&r) % (uint64_t)(n_ans + 1)) - 1; /* -1: no answer */
            key[i] = a;
            cor[i] = a == correct_key;
        }
        double got = eval_maj_at_k(key, cor, n, k), want = maj_brute(key, cor, n, k);
        CHECK(fabs(got - want) < 1e-12, "maj@%d n=%d case %d: %.12g vs %.12g", k, n, t, got, want);
    }
    /* sampled path (C(40,20) subsets): two answers, closed form by the
     * hypergeometric law of the correct answer's votes */
    {
        int n = 40, k = 20, a = 22; /* 22 correct (key 0), 18 wrong (key 1) */
        int key[40];
        uint8_t cor[40];
        for (int i = 0; i < n; i++) {
            key[i] = i < a ? 0 : 1;
            cor[i] = i < a;
        }
        double want = 0;
        for (int x = 0; x <= k; x++) {
            double p = binom_exact(a, x) * binom_exact(n - a, k - x) / binom_exact(n, k);
            if (2 * x > k) want += p;
            else if (2 * x == k) want += 0.5 * p;
        }
        double got = eval_maj_at_k(key, cor, n, k);
        CHECK(fabs(got - want) < 0.03, "sampled maj@20 of 40: %.4f vs closed form %.4f", got, want);
    }

    /* answer keys */
    {
        char a[64], b[64];
        eval_answer_key(" 1,000 ", 7, a, sizeof a);
        eval_answer_key("1000", 4, b, sizeof b);
        CHECK(!strcmp(a, b), "1,000 and 1000 vote together: '%s' '%s'", a, b);
        eval_answer_key("1/2", 3, a, sizeof a);
        eval_answer_key("0.5", 3, b, sizeof b);
        CHECK(!strcmp(a, b), "1/2 and 0.5 vote together: '%s' '%s'", a, b);
        eval_answer_key("  Paris   France ", 17, a, sizeof a);
        CHECK(!strcmp(a, "paris france"), "text key '%s'", a);
    }

    /* summary: per-pattern counts and accuracies */
    {
        EvalVerdict v[6] = {
            {1, 1, 0, 0, 10, 0}, {0, 1, 0, 1, 20, 1}, {1, 1, 0, 0, 30, 0},
            {0, 0, 1, -1, 40, -1}, {0, 1, 0, 1, 50, 1}, {1, 1, 0, 1, 60, 2},
        };
        EvalSummary s;
        eval_summarize(v, 2, 3, 2, &s);
        CHECK(fabs(s.acc - 0.5) < 1e-12, "acc %g", s.acc);
        CHECK(s.n_patterns == 3 && s.pat_count[0] == 2 && s.pat_count[1] == 3 && s.pat_count[2] == 1, "pattern counts");
        CHECK(fabs(s.pat_acc[0] - 1.0) < 1e-12 && fabs(s.pat_acc[1] - 1.0 / 3) < 1e-12 && s.pat_acc[2] == 0, "pattern acc");
        CHECK(fabs(s.format_rate - 5.0 / 6) < 1e-12 && fabs(s.trunc_rate - 1.0 / 6) < 1e-12, "format / trunc");
        CHECK(fabs(s.mean_len - 35) < 1e-12, "mean len %g", s.mean_len);
        CHECK(s.n_k == 3 && s.k[0] == 1 && s.k[1] == 2 && s.k[2] == 3, "k list");
        double p2 = (eval_pass_at_k(3, 2, 2) + eval_pass_at_k(3, 1, 2)) / 2;
        CHECK(fabs(s.pass_at[1] - p2) < 1e-12, "pass@2 %g vs %g", s.pass_at[1], p2);
    }
    return tu_summary("test_eval");
}
