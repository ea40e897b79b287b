/* safetensors interop with PyTorch, driven by tests/st_roundtrip.sh:
 *   check_st_roundtrip write DIR    writes DIR/a.safetensors (F32) and
 *                                   DIR/b.safetensors (BF16, I32)
 *   check_st_roundtrip compare DIR  checks DIR/c.safetensors, written by
 *                                   tests/st_torch_roundtrip.py (F32, F16, BF16,
 *                                   F64, I64, BOOL)
 * Values come from a hash formula that tests/st_torch_roundtrip.py repeats
 * exactly; keep the two in step. */
#include "thinkrl/core.h"
#include "thinkrl/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_checks, n_fail;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        n_checks++;                                                              \
        if (!(cond)) {                                                           \
            n_fail++;                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                        \
            fprintf(stderr, "\n");                                               \
        }                                                                        \
    } while (0)

/* ---- the shared formula ---- */

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static uint32_t mix(uint32_t seed, uint32_t i) {
    uint32_t x = i * 0x9E3779B1u + seed * 0x85EBCA77u + 0x165667B1u;
    x ^= x >> 15;
    x *= 0x2C1B3C6Du;
    x ^= x >> 12;
    x *= 0x297A2D39u;
    x ^= x >> 15;
    return x;
}

enum { K_F32, K_F16, K_BF16, K_TIE };

/* K_F32: 24-bit signed significand, exact in fp32. K_F16 / K_BF16: exact in
 * fp16 / bf16 (11 / 8 significant bits, exponents in range). K_TIE: odd 9-bit
 * significands, each exactly halfway between two bf16 values. */
static float formula(int kind, const char *name, uint32_t i) {
    uint32_t x = mix(fnv1a(name), i);
    switch (kind) {
    case K_F16: return ldexpf((float)((int32_t)((x >> 21) & 0x7FF) - 1024), (int)(x & 7) - 14);
    case K_BF16: return ldexpf((float)((int32_t)((x >> 24) & 0xFF) - 128), (int)(x & 15) - 12);
    case K_TIE:
        return ldexpf((float)((int32_t)((x >> 24) | 0x101) * ((x >> 23) & 1 ? -1 : 1)), (int)(x & 15) - 12);
    default: return ldexpf((float)((int32_t)((x >> 8) & 0xFFFFFF) - 8388608), (int)(x & 15) - 31);
    }
}

typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[2];
    int kind; /* formula kind for float tensors */
} Spec;

/* keep in step with A_SPECS / B_SPECS in st_torch_roundtrip.py */
static const Spec A_SPECS[] = {
    {"model.embed_tokens.weight", ST_F32, 2, {50, 16}, K_F32},
    {"model.layers.0.self_attn.q_proj.weight", ST_F32, 2, {16, 16}, K_F32},
    {"model.layers.0.self_attn.q_proj.bias", ST_F32, 1, {16}, K_F32},
    {"model.layers.0.mlp.gate_proj.weight", ST_F32, 2, {40, 16}, K_F32},
    {"model.norm.weight", ST_F32, 1, {16}, K_F32},
    {"lm_head.weight", ST_F32, 2, {50, 16}, K_F32},
};
static const Spec B_SPECS[] = {
    {"model.layers.1.self_attn.k_proj.weight", ST_BF16, 2, {8, 16}, K_F32},
    {"model.layers.1.self_attn.v_proj.weight", ST_BF16, 2, {8, 16}, K_F32},
    {"model.layers.1.mlp.down_proj.weight", ST_BF16, 2, {16, 40}, K_F32},
    {"model.layers.1.post_attention_layernorm.weight", ST_BF16, 1, {16}, K_F32},
    {"model.layers.1.self_attn.o_proj.weight", ST_BF16, 2, {16, 16}, K_TIE},
    {"extra.position_ids", ST_I32, 1, {7}, K_F32},
};

static int64_t numel_of(const Spec *s) {
    int64_t n = 1;
    for (int d = 0; d < s->ndim; d++) n *= s->shape[d];
    return n;
}

static int write_file(const char *path, const Spec *specs, int n, const char *const *meta, int n_meta) {
    StWrite w[8];
    void *bufs[8];
    for (int k = 0; k < n; k++) {
        int64_t ne = numel_of(&specs[k]);
        bufs[k] = malloc((size_t)ne * 4);
        for (int64_t i = 0; i < ne; i++) {
            if (specs[k].dtype == ST_I32)
                ((int32_t *)bufs[k])[i] = (int32_t)mix(fnv1a(specs[k].name), (uint32_t)i);
            else
                ((float *)bufs[k])[i] = formula(specs[k].kind, specs[k].name, (uint32_t)i);
        }
        w[k] = (StWrite){specs[k].name, specs[k].dtype, bufs[k], specs[k].ndim, {0}};
        memcpy(w[k].shape, specs[k].shape, sizeof specs[k].shape);
    }
    int rc = st_write(path, w, n, meta, n_meta);
    if (rc) fprintf(stderr, "st_write %s: %s\n", path, tr_errmsg());
    for (int k = 0; k < n; k++) free(bufs[k]);
    return rc;
}

static int mode_write(const char *dir) {
    char pa[4096], pb[4096];
    snprintf(pa, sizeof pa, "%s/a.safetensors", dir);
    snprintf(pb, sizeof pb, "%s/b.safetensors", dir);
    const char *ma[] = {"format", "pt"};
    const char *mb[] = {"format", "pt", "producer", "thinkrl \"check\""};
    if (write_file(pa, A_SPECS, 6, ma, 1) || write_file(pb, B_SPECS, 6, mb, 2)) return 1;
    printf("check_st_roundtrip: wrote %s and %s\n", pa, pb);
    return 0;
}

/* ---- compare: c.safetensors from PyTorch ---- */

static const StTensor *expect(const StFile *f, const char *name, StDtype dt, int ndim, int64_t d0, int64_t d1) {
    const StTensor *t = st_find(f, name);
    CHECK(t != NULL, "c.safetensors lacks %s", name);
    if (!t) return NULL;
    CHECK(t->dtype == dt, "%s: dtype %s, want %s", name, st_dtype_name(t->dtype), st_dtype_name(dt));
    CHECK(t->ndim == ndim && (ndim < 1 || t->shape[0] == d0) && (ndim < 2 || t->shape[1] == d1),
          "%s: shape mismatch", name);
    return t->dtype == dt && t->ndim == ndim ? t : NULL;
}

/* Exact comparison against formula(kind) for every element. */
static void cmp_formula(const StFile *f, const char *name, StDtype dt, int kind, int64_t d0, int64_t d1) {
    const StTensor *t = expect(f, name, dt, 2, d0, d1);
    if (!t) return;
    float *v = malloc((size_t)t->numel * 4);
    int bad = 0;
    CHECK(st_read_f32(f, t, v, (size_t)t->numel) == 0, "%s: %s", name, tr_errmsg());
    for (int64_t i = 0; i < t->numel; i++)
        if (v[i] != formula(kind, name, (uint32_t)i)) bad++;
    CHECK(bad == 0, "%s: %d of %lld values differ", name, bad, (long long)t->numel);
    printf("  %-18s %-4s %lld values exact\n", name, st_dtype_name(dt), (long long)t->numel);
    free(v);
}

static int mode_compare(const char *dir) {
    char pc[4096];
    snprintf(pc, sizeof pc, "%s/c.safetensors", dir);
    StFile f;
    if (st_open(&f, pc) != 0) {
        fprintf(stderr, "st_open %s: %s\n", pc, tr_errmsg());
        return 1;
    }
    printf("check_st_roundtrip: %s holds %d tensors\n", pc, f.n_tensors);
    CHECK(f.n_tensors == 13, "13 tensors, got %d", f.n_tensors);
    cmp_formula(&f, "c.f32", ST_F32, K_F32, 33, 7);
    cmp_formula(&f, "c.f16.exact", ST_F16, K_F16, 12, 10);
    cmp_formula(&f, "c.bf16.exact", ST_BF16, K_BF16, 9, 9);

    /* torch rounded these from fp32: bf16 must match our rounding bit for
     * bit, f16 must lie within half an ulp (subnormal spacing 2^-24) */
    static const struct {
        const char *name;
        int kind;
    } rounded[2] = {{"c.bf16.rounded", K_F32}, {"c.bf16.ties", K_TIE}};
    const StTensor *t;
    for (int k = 0; k < 2; k++) {
        t = expect(&f, rounded[k].name, ST_BF16, 1, 100, 0);
        if (!t) continue;
        const unsigned char *raw = st_data(&f, t);
        int bad = 0;
        for (int i = 0; i < 100; i++) {
            uint16_t h = (uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8);
            if (h != st_f32_to_bf16(formula(rounded[k].kind, rounded[k].name, (uint32_t)i))) bad++;
        }
        CHECK(bad == 0, "%s: %d of 100 differ from st_f32_to_bf16", rounded[k].name, bad);
    }
    t = expect(&f, "c.f16.rounded", ST_F16, 1, 64, 0);
    if (t) {
        float v[64];
        double maxerr = 0;
        int bad = 0;
        CHECK(st_read_f32(&f, t, v, 64) == 0, "read c.f16.rounded");
        for (int i = 0; i < 64; i++) {
            double x = formula(K_F32, "c.f16.rounded", (uint32_t)i);
            double e = fabs(v[i] - x), tol = ldexp(fabs(x), -11) + ldexp(1, -25);
            if (!(e <= tol)) bad++;
            if (x != 0 && e / fabs(x) > maxerr) maxerr = e / fabs(x);
        }
        CHECK(bad == 0, "c.f16.rounded: %d of 64 outside half an ulp", bad);
    }
    t = expect(&f, "c.f16.special", ST_F16, 1, 8, 0);
    if (t) {
        float v[8];
        CHECK(st_read_f32(&f, t, v, 8) == 0, "read c.f16.special");
        CHECK(isinf(v[0]) && v[0] > 0 && isinf(v[1]) && v[1] < 0 && isnan(v[2]), "f16 inf, -inf, nan");
        CHECK(v[3] == 65504.0f && v[4] == 0 && signbit(v[4]), "f16 max, -0");
        CHECK(v[5] == ldexpf(1, -24) && v[6] == ldexpf(1, -14) && v[7] == 0.333251953125f,
              "f16 2^-24 %.9g, 2^-14 %.9g, 1/3 %.12g", v[5], v[6], v[7]);
    }
    t = expect(&f, "c.f64", ST_F64, 1, 5, 0);
    if (t) {
        float v[5];
        CHECK(st_read_f32(&f, t, v, 5) == 0, "read c.f64");
        CHECK(v[0] == 0.1f && v[1] == -2.5f && v[2] == 1e30f && v[3] == (float)(1.0 / 3) && v[4] == 0, "f64 values");
    }
    t = expect(&f, "c.i64", ST_I64, 1, 6, 0);
    if (t) {
        int32_t v[6];
        CHECK(st_read_i32(&f, t, v, 6) == 0, "read c.i64: %s", tr_errmsg());
        CHECK(v[0] == 0 && v[1] == -1 && v[2] == INT32_MAX && v[3] == INT32_MIN && v[4] == 151643 && v[5] == 7,
              "i64 values");
    }
    t = expect(&f, "c.bool", ST_BOOL, 1, 4, 0);
    if (t) {
        int32_t v[4];
        CHECK(st_read_i32(&f, t, v, 4) == 0 && v[0] == 1 && v[1] == 0 && v[2] == 0 && v[3] == 1, "bool values");
    }
    t = expect(&f, "c.scalar", ST_F32, 0, 0, 0);
    if (t) {
        float v = 0;
        CHECK(t->numel == 1 && st_read_f32(&f, t, &v, 1) == 0 && v == 2.5f, "0-dim scalar");
    }
    t = expect(&f, "c.odd", ST_U8, 1, 3, 0);
    if (t) {
        int32_t v[3];
        CHECK(t->begin == 0 && st_read_i32(&f, t, v, 3) == 0 && v[0] == 1 && v[1] == 0 && v[2] == 1,
              "u8 first, so later tensors sit at odd offsets");
    }
    t = expect(&f, "c.empty", ST_F32, 2, 0, 3);
    CHECK(t && t->numel == 0 && t->begin == t->end, "empty tensor");

    int fmt = 0, src = 0;
    for (int i = 0; i < f.n_meta; i++) {
        if (!strcmp(f.meta[2 * i], "format") && !strcmp(f.meta[2 * i + 1], "pt")) fmt = 1;
        if (!strcmp(f.meta[2 * i], "source") && !strcmp(f.meta[2 * i + 1], "torch \u00e9")) src = 1;
    }
    CHECK(fmt && src && f.n_meta == 2, "metadata from torch (n_meta %d)", f.n_meta);
    st_close(&f);
    printf("check_st_roundtrip compare: %d checks, %d failed\n", n_checks, n_fail);
    return n_fail ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "write")) return mode_write(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "compare")) return mode_compare(argv[2]);
    fprintf(stderr, "usage: check_st_roundtrip write DIR | compare DIR\n");
    return 2;
}
