/* The f-DPG loss and its gradient against PyTorch: runs
 * tests/fdpg_torch_ref.py, which writes seeded packed batches for every
 * divergence and computes, in float64 with f' by autograd of f, the
 * pseudo-rewards, the loss and d loss / d logp; then runs fdpg_coefs +
 * fdpg_loss on the same inputs and compares.
 *   check_fdpg_torch PYTHON SCRIPT DIR
 * Exit status: 0 pass, 1 mismatch, 2 usage or I/O, 77 no torch (skipped).
 * Positions that no response owns hold NaN, so a read of one shows up in
 * the loss; dlogp must be 0 there. */
#include <cJSON.h>
#include <string.h>

#include "testutil.h"
#include "thinkrl/fdpg.h"

#define TOL_LOSS 1e-5  /* relative */
#define TOL_DLOGP 1e-5 /* relative, plus 1e-7 of the largest |dlogp| */
#define TOL_R 1e-9     /* pseudo-rewards: double on both sides */

static double jval(const cJSON *v) {
    if (cJSON_IsNumber(v)) return v->valuedouble;
    if (cJSON_IsString(v)) return strtod(v->valuestring, NULL); /* "nan", "inf", "-inf" */
    fprintf(stderr, "check_fdpg_torch: a value is neither a number nor a string\n");
    exit(2);
}

static const cJSON *jget(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        fprintf(stderr, "check_fdpg_torch: key '%s' missing\n", key);
        exit(2);
    }
    return v;
}

/* Reads array `key` of n entries into a new double array. */
static double *jarr(const cJSON *o, const char *key, int n) {
    const cJSON *a = jget(o, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) {
        fprintf(stderr, "check_fdpg_torch: '%s' is not an array of %d\n", key, n);
        exit(2);
    }
    double *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) x[i++] = jval(e);
    return x;
}

static int run_case(const cJSON *c) {
    const char *name = jget(c, "name")->valuestring;
    int div = fdpg_div_parse(jget(c, "div")->valuestring);
    int N = jget(c, "N")->valueint, fails = 0;
    int64_t n_tok = (int64_t)jget(c, "n_tok")->valuedouble;
    if (div < 0) {
        fprintf(stderr, "%s: unknown divergence\n", name);
        return 1;
    }
    double *lend = jarr(c, "len", N), *logp_d = jarr(c, "logp", (int)n_tok), *lq = jarr(c, "lq", N),
           *lP = jarr(c, "lP", N), *lz = jarr(c, "lz", N);
    const cJSON *jo = jget(c, "off"), *ref = jget(c, "ref");
    double *offd = cJSON_IsNull(jo) ? NULL : jarr(c, "off", N);
    double *r_lpi = jarr(ref, "lpi", N), *r_R = jarr(ref, "R", N), *r_dlogp = jarr(ref, "dlogp", (int)n_tok);
    double r_loss = jval(jget(ref, "loss")), base = jval(jget(c, "baseline")), norm = jval(jget(c, "norm"));

    int *len = malloc((size_t)N * sizeof *len);
    int64_t *off = malloc((size_t)N * sizeof *off);
    float *logp = malloc((size_t)n_tok * sizeof *logp), *dlogp = malloc((size_t)n_tok * sizeof *dlogp);
    double *lpi = malloc((size_t)N * sizeof *lpi), *R = malloc((size_t)N * sizeof *R),
           *coef = malloc((size_t)N * sizeof *coef);
    for (int64_t p = 0; p < n_tok; p++) logp[p] = (float)logp_d[p]; /* float32 values: exact */
    /* log pi: the sum of the response's token log-probs, as the trainer forms it */
    int64_t o = 0;
    for (int i = 0; i < N; i++) {
        len[i] = (int)lend[i];
        off[i] = offd ? (int64_t)offd[i] : o;
        double s = 0;
        for (int t = 0; t < len[i]; t++) s += logp[off[i] + t];
        lpi[i] = s;
        o = off[i] + len[i];
    }
    RlBatch b = {N, 1, offd ? off : NULL, len, n_tok};
    FdpgCfg cfg = {div, jval(jget(c, "clip"))};
    FdpgSamples s = {N, lpi, lq, lP, lz, NULL};
    double loss = NAN;
    int rc = fdpg_coefs(&cfg, &s, base, R, coef, NULL);
    if (!rc) rc = fdpg_loss(&b, logp, coef, norm, dlogp, &loss);
    if (rc) {
        fprintf(stderr, "FAIL %s: %s\n", name, tr_errmsg());
        fails++;
        goto out;
    }
    double e_lpi = 0, e_R = 0, e_d = 0, dmax = 0;
    for (int i = 0; i < N; i++) {
        e_lpi = fmax(e_lpi, fabs(lpi[i] - r_lpi[i]) / (1e-12 + 1e-12 * fabs(r_lpi[i])));
        double e = fabs(R[i] - r_R[i]) / (TOL_R * fmax(1, fabs(r_R[i])));
        if (!(e <= e_R)) e_R = isnan(e) ? INFINITY : e;
    }
    for (int64_t p = 0; p < n_tok; p++) dmax = fmax(dmax, fabs(r_dlogp[p]));
    for (int64_t p = 0; p < n_tok; p++) {
        double e = fabs(dlogp[p] - r_dlogp[p]) / (1e-7 * dmax + TOL_DLOGP * fabs(r_dlogp[p]));
        if (!(e <= e_d)) e_d = isnan(e) ? INFINITY : e;
    }
    double e_loss = fabs(loss - r_loss) / (TOL_LOSS * fmax(1e-12, fabs(r_loss)));
    if (isnan(e_loss)) e_loss = INFINITY;
    printf("  %-24s loss %+.10e (torch %+.10e)  error ratios: loss %.2e dlogp %.2e R %.2e log pi %.2e\n", name, loss,
           r_loss, e_loss, e_d, e_R, e_lpi);
    if (e_loss > 1 || e_d > 1 || e_R > 1 || e_lpi > 1) {
        fprintf(stderr, "FAIL %s: loss %.3g, dlogp %.3g, R %.3g, log pi %.3g times the tolerance\n", name, e_loss, e_d,
                e_R, e_lpi);
        fails++;
    }
out:
    free(lend), free(logp_d), free(lq), free(lP), free(lz), free(offd), free(r_lpi), free(r_R), free(r_dlogp);
    free(len), free(off), free(logp), free(dlogp), free(lpi), free(R), free(coef);
    return fails;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: check_fdpg_torch PYTHON SCRIPT DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/fdpg_cases.json", argv[3]);
    int code = tu_run_script(argv[1], argv[2], path);
    if (code) return code; /* 77: no torch, skipped */

    size_t n;
    char *text = tr_read_file(path, &n);
    if (!text) {
        fprintf(stderr, "check_fdpg_torch: %s\n", tr_errmsg());
        return 2;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *cases = root ? cJSON_GetObjectItemCaseSensitive(root, "cases") : NULL;
    if (!cJSON_IsArray(cases) || cJSON_GetArraySize(cases) == 0) {
        fprintf(stderr, "check_fdpg_torch: %s holds no cases\n", path);
        cJSON_Delete(root);
        return 2;
    }
    int fails = 0, total = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        fails += run_case(c);
        total++;
    }
    cJSON_Delete(root);
    printf("check_fdpg_torch: %d cases, %d failed\n", total, fails);
    return fails ? 1 : 0;
}
