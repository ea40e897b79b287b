/* Evaluation metrics over scored samples: unbiased pass@k, maj@k by
 * majority vote over subsets, answer keys for voting, the per-pattern
 * summary and its table / JSON output. No generation happens here. */
#include <ctype.h>
#include <math.h>
#include <string.h>

#include "thinkrl/eval.h"
#include "thinkrl/verify.h"

double eval_pass_at_k(int n, int c, int k) {
    TR_ASSERT(n >= 1 && c >= 0 && c <= n && k >= 1 && k <= n);
    if (n - c < k) return 1.0;
    /* C(n-c,k)/C(n,k) = prod_{i=n-c+1}^{n} (1 - k/i) */
    double q = 1.0;
    for (int i = n - c + 1; i <= n; i++) q *= 1.0 - (double)k / i;
    return 1.0 - q;
}

/* Correctness of a majority vote over the samples idx[0..k): the correct
 * share of the answers that tie for the most votes. */
static double vote(const int *key, const uint8_t *correct, const int *idx, int k) {
    int best = 0, n_best = 0, n_best_correct = 0;
    for (int a = 0; a < k; a++) {
        int ka = key[idx[a]];
        if (ka < 0) continue;
        int first = 1;
        for (int b = 0; b < a; b++)
            if (key[idx[b]] == ka) { first = 0; break; }
        if (!first) continue;
        int votes = 0;
        for (int b = a; b < k; b++) votes += key[idx[b]] == ka;
        if (votes > best) {
            best = votes;
            n_best = 1;
            n_best_correct = correct[idx[a]] != 0;
        } else if (votes == best) {
            n_best++;
            n_best_correct += correct[idx[a]] != 0;
        }
    }
    return n_best ? (double)n_best_correct / n_best : 0.0;
}

static double binom(int n, int k) {
    double r = 1;
    for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
    return r;
}

double eval_maj_at_k(const int *key, const uint8_t *correct, int n, int k) {
    TR_ASSERT(n >= 1 && n <= 64 && k >= 1 && k <= n);
    int idx[64];
    if (binom(n, k) <= 20000) {
        /* every k-subset in lexicographic order */
        for (int i = 0; i < k; i++) idx[i] = i;
        double sum = 0;
        int64_t cnt = 0;
        for (;;) {
            sum += vote(key, correct, idx, k);
            cnt++;
            int i = k - 1;
            while (i >= 0 && idx[i] == n - k + i) i--;
            if (i < 0) break;
            idx[i]++;
            for (int j = i + 1; j < k; j++) idx[j] = idx[j - 1] + 1;
        }
        return sum / (double)cnt;
    }
    Rng r;
    rng_seed(&r, 0x6d616a6b);
    double sum = 0;
    const int draws = 4096;
    int perm[64];
    for (int d = 0; d < draws; d++) {
        for (int i = 0; i < n; i++) perm[i] = i;
        for (int i = 0; i < k; i++) { /* partial Fisher-Yates */
            int j = i + (int)(rng_u64(&r) % (uint64_t)(n - i));
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        sum += vote(key, correct, perm, k);
    }
    return sum / draws;
}

void eval_answer_key(const char *ans, size_t n, char *out, size_t cap) {
    TR_ASSERT(cap > 0);
    double x;
    if (verify_number(ans, n, &x)) {
        if (x == 0) x = 0; /* -0 and 0 vote together */
        snprintf(out, cap, "%.12g", x);
        return;
    }
    size_t o = 0;
    int space = 0;
    size_t i = 0;
    while (i < n && isspace((unsigned char)ans[i])) i++;
    for (; i < n && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)ans[i];
        if (isspace(ch)) {
            space = 1;
            continue;
        }
        if (space && o + 2 < cap) out[o++] = ' ';
        space = 0;
        out[o++] = (char)tolower(ch);
    }
    out[o] = 0;
}

void eval_summarize(const EvalVerdict *v, int n_prompts, int n, int n_rules, EvalSummary *s) {
    memset(s, 0, sizeof *s);
    TR_ASSERT(n_rules >= 0 && n_rules <= PATTERN_MAX && n >= 1 && n <= 64);
    s->n_prompts = n_prompts;
    s->n = n;
    for (int k = 1; k < n && s->n_k < EVAL_MAX_K - 1; k *= 2) s->k[s->n_k++] = k;
    s->k[s->n_k++] = n;
    s->n_patterns = n_rules + 1;
    int64_t total = (int64_t)n_prompts * n, fmt = 0, trunc = 0, correct = 0;
    double len = 0;
    int key[64];
    uint8_t cor[64];
    for (int p = 0; p < n_prompts; p++) {
        const EvalVerdict *vp = v + (size_t)p * n;
        int c = 0;
        for (int i = 0; i < n; i++) {
            c += vp[i].correct != 0;
            fmt += vp[i].format_ok != 0;
            trunc += vp[i].truncated != 0;
            len += vp[i].len;
            int pi = vp[i].pattern < 0 || vp[i].pattern >= n_rules ? n_rules : vp[i].pattern;
            s->pat_count[pi]++;
            s->pat_correct[pi] += vp[i].correct != 0;
            key[i] = vp[i].key;
            cor[i] = vp[i].correct;
        }
        correct += c;
        for (int j = 0; j < s->n_k; j++) {
            s->pass_at[j] += eval_pass_at_k(n, c, s->k[j]);
            s->maj_at[j] += eval_maj_at_k(key, cor, n, s->k[j]);
        }
    }
    if (total == 0) return;
    s->acc = (double)correct / total;
    for (int j = 0; j < s->n_k; j++) {
        s->pass_at[j] /= n_prompts;
        s->maj_at[j] /= n_prompts;
    }
    s->format_rate = (double)fmt / total;
    s->trunc_rate = (double)trunc / total;
    s->mean_len = len / total;
    for (int i = 0; i < s->n_patterns; i++) {
        s->pat_freq[i] = (double)s->pat_count[i] / total;
        s->pat_acc[i] = s->pat_count[i] ? (double)s->pat_correct[i] / s->pat_count[i] : 0;
    }
}

static const char *pat_label(const PatternSet *ps, int i, int n_rules) {
    if (i >= n_rules) return "other";
    return ps ? pattern_name(ps, i) : "?";
}

void eval_print_table(const EvalSummary *s, const PatternSet *ps, FILE *f) {
    fprintf(f, "prompts %d x samples %d\n", s->n_prompts, s->n);
    fprintf(f, "  accuracy (mean pass@1)  %6.2f%%\n", 100 * s->acc);
    for (int j = 0; j < s->n_k; j++)
        fprintf(f, "  pass@%-3d %6.2f%%   maj@%-3d %6.2f%%\n", s->k[j], 100 * s->pass_at[j], s->k[j],
                100 * s->maj_at[j]);
    fprintf(f, "  format rate             %6.2f%%\n", 100 * s->format_rate);
    fprintf(f, "  mean length             %6.1f tokens (%.1f%% truncated)\n", s->mean_len,
            100 * s->trunc_rate);
    fprintf(f, "  %-14s %8s %8s %9s\n", "pattern", "share", "accuracy", "responses");
    int n_rules = s->n_patterns - 1;
    for (int i = 0; i < s->n_patterns; i++) {
        if (i == n_rules && s->pat_count[i] == 0) continue;
        fprintf(f, "  %-14s %7.1f%% %7.1f%% %9lld\n", pat_label(ps, i, n_rules), 100 * s->pat_freq[i],
                100 * s->pat_acc[i], (long long)s->pat_count[i]);
    }
}

void eval_print_json(const EvalSummary *s, const PatternSet *ps, FILE *f) {
    fprintf(f, "{\"prompts\":%d,\"samples\":%d,\"acc\":%.6f", s->n_prompts, s->n, s->acc);
    for (int j = 0; j < s->n_k; j++)
        fprintf(f, ",\"pass@%d\":%.6f,\"maj@%d\":%.6f", s->k[j], s->pass_at[j], s->k[j], s->maj_at[j]);
    fprintf(f, ",\"format_rate\":%.6f,\"len_mean\":%.3f,\"trunc_frac\":%.6f,\"patterns\":{",
            s->format_rate, s->mean_len, s->trunc_rate);
    int n_rules = s->n_patterns - 1;
    for (int i = 0; i < s->n_patterns; i++)
        fprintf(f, "%s\"%s\":{\"freq\":%.6f,\"acc\":%.6f,\"count\":%lld}", i ? "," : "",
                pat_label(ps, i, n_rules), s->pat_freq[i], s->pat_acc[i], (long long)s->pat_count[i]);
    fprintf(f, "}}\n");
}
