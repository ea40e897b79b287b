/* safetensors tests: round trips (F32, BF16, I32), files written by hand
 * (F16 / F64 / integer dtypes, unaligned data), metadata, sharded
 * checkpoints, and malformed inputs that st_open must refuse with a message
 * naming the file and the field. References are hand-computed bit patterns
 * and closed forms, never the code under test. PyTorch interop is in
 * check_st_roundtrip.c. */
#include "thinkrl/core.h"
#include "thinkrl/safetensors.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static char g_dir[64];

/* Paths under the temp dir; a ring of buffers so a few can be live at once. */
static const char *P(const char *name) {
    static char buf[8][512];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", g_dir, name);
    return b;
}

static float f_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t u_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void put_bytes(const char *path, const void *a, size_t na, const void *b, size_t nb) {
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        fprintf(stderr, "cannot create %s\n", path);
        exit(2);
    }
    if ((na && fwrite(a, 1, na, fp) != na) || (nb && fwrite(b, 1, nb, fp) != nb)) exit(2);
    fclose(fp);
}

/* A safetensors file from a header string and raw data (no padding). */
static void put_st(const char *path, const char *header, const void *data, size_t dlen) {
    size_t n = strlen(header);
    unsigned char *buf = malloc(8 + n);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    put_bytes(path, buf, 8 + n, data, dlen);
    free(buf);
}

static void put_text(const char *path, const char *text) { put_bytes(path, text, strlen(text), NULL, 0); }

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            for (struct dirent *e; (e = readdir(d));) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* st_open must fail, leave *f all zero, and say which file and field. */
static void expect_fail(const char *path, const char *n1, const char *n2, const char *n3) {
    StFile f;
    static const StFile zero;
    memset(&f, 0x5A, sizeof f);
    tr_err_clear();
    int rc = st_open(&f, path);
    const char *msg = tr_errmsg();
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    CHECK(rc != 0, "st_open(%s) should fail", path);
    CHECK(memcmp(&f, &zero, sizeof f) == 0, "%s: *f not zeroed after failure", base);
    CHECK(strstr(msg, base) != NULL, "message lacks file name '%s': %s", base, msg);
    const char *need[3] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        if (need[i]) CHECK(strstr(msg, need[i]) != NULL, "message lacks '%s': %s", need[i], msg);
    printf("  refused %-34s %s\n", base, msg);
    st_close(&f);
}

/* Round to nearest even by comparing the two neighbouring bf16 values in
 * double: a different route from the integer trick in the library. */
static uint16_t ref_bf16(float x) {
    uint32_t u = u_of(x);
    uint32_t lo = u & 0xFFFF0000u, hi = lo + 0x10000u;
    double dl = fabs((double)x - (double)f_of(lo)), dh = fabs((double)f_of(hi) - (double)x);
    if (dl < dh) return (uint16_t)(lo >> 16);
    if (dh < dl) return (uint16_t)(hi >> 16);
    return (uint16_t)((lo >> 16) & 1 ? hi >> 16 : lo >> 16);
}

static void test_conversions(void) {
    printf("conversions\n");
    CHECK(st_bf16_to_f32(0x3F80) == 1.0f, "bf16 1.0");
    CHECK(st_bf16_to_f32(0xC000) == -2.0f, "bf16 -2.0");
    CHECK(isinf(st_bf16_to_f32(0x7F80)), "bf16 inf");

    /* f32 -> bf16, cases worked out by hand */
    static const uint32_t in[][2] = {
        {0x3F800000, 0x3F80}, /* 1.0 */
        {0x3F808000, 0x3F80}, /* 1 + 2^-8: tie, 0x3F80 is even */
        {0x3F818000, 0x3F82}, /* tie, 0x3F81 is odd -> up */
        {0x3F808001, 0x3F81}, /* just above the tie */
        {0x3F807FFF, 0x3F80}, /* just below the tie */
        {0xBF818000, 0xBF82}, /* negative tie */
        {0x40490FDB, 0x4049}, /* pi -> 3.140625 */
        {0x3DCCCCCD, 0x3DCD}, /* 0.1 rounds up */
        {0x7F7FFFFF, 0x7F80}, /* FLT_MAX overflows to inf */
        {0x7F7F7FFF, 0x7F7F},
        {0x7F800000, 0x7F80}, /* inf */
        {0xFF800000, 0xFF80}, /* -inf */
        {0x00000001, 0x0000}, /* smallest subnormal -> +0 */
        {0x00018000, 0x0002}, /* subnormal tie, odd -> up */
        {0x80000000, 0x8000}, /* -0 */
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        uint16_t h = st_f32_to_bf16(f_of(in[i][0]));
        CHECK(h == in[i][1], "bf16(0x%08x) = 0x%04x, want 0x%04x", (unsigned)in[i][0], h, (unsigned)in[i][1]);
    }
    CHECK(isnan(st_bf16_to_f32(st_f32_to_bf16(f_of(0x7FC00000)))), "quiet NaN stays NaN");
    /* truncating this signalling NaN would give inf */
    CHECK(isnan(st_bf16_to_f32(st_f32_to_bf16(f_of(0x7F800001)))), "signalling NaN stays NaN");
    CHECK(isnan(st_bf16_to_f32(st_f32_to_bf16(f_of(0xFF800001)))), "negative NaN stays NaN");

    Rng r;
    rng_seed(&r, 7);
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        float x = ldexpf(rng_normal(&r), (int)(rng_u64(&r) % 200) - 100);
        if (st_f32_to_bf16(x) != ref_bf16(x)) bad++;
    }
    CHECK(bad == 0, "%d of 200000 random values disagree with the reference bf16 rounding", bad);

    /* f16: hand-picked patterns, then all finite patterns against the
     * closed form (-1)^s * m * 2^e */
    static const struct {
        uint16_t h;
        float v;
    } f16[] = {
        {0x3C00, 1.0f},         {0xC000, -2.0f},        {0x7BFF, 65504.0f},    {0x3555, 0.333251953125f},
        {0x0001, 5.9604645e-8f}, {0x8001, -5.9604645e-8f}, {0x0400, 6.1035156e-5f}, {0x03FF, 6.0975552e-5f},
    };
    for (size_t i = 0; i < sizeof f16 / sizeof f16[0]; i++)
        CHECK(st_f16_to_f32(f16[i].h) == f16[i].v, "f16 0x%04x -> %.9g, want %.9g", f16[i].h,
              st_f16_to_f32(f16[i].h), f16[i].v);
    CHECK(isinf(st_f16_to_f32(0x7C00)) && st_f16_to_f32(0x7C00) > 0, "f16 +inf");
    CHECK(isinf(st_f16_to_f32(0xFC00)) && st_f16_to_f32(0xFC00) < 0, "f16 -inf");
    CHECK(isnan(st_f16_to_f32(0x7E00)) && isnan(st_f16_to_f32(0x7C01)), "f16 NaN");
    CHECK(st_f16_to_f32(0x8000) == 0.0f && signbit(st_f16_to_f32(0x8000)), "f16 -0");
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint32_t e = (h >> 10) & 31, m = h & 1023;
        if (e == 31) continue;
        double v = e ? ldexp(1024.0 + m, (int)e - 25) : ldexp((double)m, -24);
        if (h & 0x8000) v = -v;
        float got = st_f16_to_f32((uint16_t)h);
        if (got != (float)v || !signbit(got) != !signbit(v)) bad++;
    }
    CHECK(bad == 0, "%d finite f16 patterns decode wrongly", bad);

    CHECK(st_dtype_size(ST_BF16) == 2 && st_dtype_size(ST_F64) == 8 && st_dtype_size(ST_BOOL) == 1,
          "dtype sizes");
    CHECK(strcmp(st_dtype_name(ST_F8_E5M2), "F8_E5M2") == 0 && strcmp(st_dtype_name(ST_NDTYPE), "?") == 0,
          "dtype names");
}

static void test_f32_roundtrip(void) {
    printf("F32 round trip\n");
    Rng r;
    rng_seed(&r, 1);
    float emb[7 * 5], sc = 3.5f, big[16], spec[6];
    for (int i = 0; i < 35; i++) emb[i] = rng_normal(&r);
    for (int i = 0; i < 16; i++) big[i] = (float)i - 7.25f;
    spec[0] = INFINITY;
    spec[1] = -INFINITY;
    spec[2] = f_of(0x7FC00001);
    spec[3] = -0.0f;
    spec[4] = f_of(0x00000003);
    spec[5] = 3.4028235e38f;
    StWrite w[] = {
        {"model.embed_tokens.weight", ST_F32, emb, 2, {7, 5}},
        {"scalar", ST_F32, &sc, 0, {0}},
        {"empty", ST_F32, NULL, 2, {0, 4}},
        {"eight.dims", ST_F32, big, 8, {1, 2, 1, 2, 1, 2, 1, 2}},
        {"special", ST_F32, spec, 1, {6}},
    };
    const char *path = P("f32.safetensors");
    int before = count_entries(g_dir);
    CHECK(st_write(path, w, 5, NULL, 0) == 0, "st_write: %s", tr_errmsg());
    CHECK(count_entries(g_dir) == before + 1, "exactly one new file (no temp left)");

    /* layout: header length padded to 8, JSON object, data in given order */
    size_t len = 0;
    char *raw = tr_read_file(path, &len);
    CHECK(raw && len >= 8, "read back raw");
    if (raw && len >= 8) {
        uint64_t n = 0;
        for (int i = 0; i < 8; i++) n |= (uint64_t)(unsigned char)raw[i] << (8 * i);
        CHECK(n % 8 == 0 && 8 + n <= len, "header length %llu is a multiple of 8", (unsigned long long)n);
        CHECK(raw[8] == '{', "header starts with '{'");
        CHECK(len == 8 + n + 4 * (35 + 1 + 0 + 16 + 6), "file size %zu", len);
        CHECK(memcmp(raw + 8 + n, emb, 4) == 0, "first tensor first in data");
    }
    free(raw);

    StFile f;
    CHECK(st_open(&f, path) == 0, "st_open: %s", tr_errmsg());
    CHECK(f.n_tensors == 5 && f.n_shards == 1 && f.n_meta == 0, "counts %d %d %d", f.n_tensors, f.n_shards,
          f.n_meta);
    for (int i = 1; i < f.n_tensors; i++)
        CHECK(strcmp(f.tensors[i - 1].name, f.tensors[i].name) < 0, "tensors sorted by name");
    for (int i = 0; i < 5; i++) {
        const StTensor *t = st_find(&f, w[i].name);
        CHECK(t && strcmp(t->name, w[i].name) == 0, "find %s", w[i].name);
        if (!t) continue;
        CHECK(t->dtype == ST_F32 && t->ndim == w[i].ndim, "%s dtype/ndim", w[i].name);
        int64_t ne = 1;
        for (int d = 0; d < w[i].ndim; d++) {
            CHECK(t->shape[d] == w[i].shape[d], "%s shape[%d]", w[i].name, d);
            ne *= w[i].shape[d];
        }
        CHECK(t->numel == ne, "%s numel %lld", w[i].name, (long long)t->numel);
        float *got = malloc((size_t)(ne ? ne : 1) * 4);
        CHECK(st_read_f32(&f, t, got, (size_t)ne) == 0, "read %s: %s", w[i].name, tr_errmsg());
        CHECK(ne == 0 || memcmp(got, w[i].data, (size_t)ne * 4) == 0, "%s bits equal", w[i].name);
        CHECK(ne == 0 || memcmp(st_data(&f, t), w[i].data, (size_t)ne * 4) == 0, "%s raw bytes", w[i].name);
        free(got);
    }
    CHECK(st_find(&f, "nope") == NULL && st_find(&f, "") == NULL && st_find(&f, "scalaR") == NULL,
          "absent names");
    const StTensor *t = st_find(&f, "special");
    float two[2];
    tr_err_clear();
    CHECK(t && st_read_f32(&f, t, two, 2) != 0 && strstr(tr_errmsg(), "special"), "wrong n refused: %s",
          tr_errmsg());
    int32_t iv[6];
    CHECK(t && st_read_i32(&f, t, iv, 6) != 0 && strstr(tr_errmsg(), "F32"), "F32 as int32 refused: %s",
          tr_errmsg());
    StTensor fake = {.name = "fake", .dtype = ST_F32, .numel = 1, .shard = 3};
    CHECK(st_read_f32(&f, &fake, two, 1) != 0 && st_data(&f, &fake) == NULL, "foreign tensor refused");
    st_close(&f);
    CHECK(f.tensors == NULL && f.shards == NULL && f.n_tensors == 0, "st_close zeroes");
    st_close(&f);

    /* overwrite in place: the new content replaces the old */
    float one = 42.0f;
    StWrite w2 = {"only", ST_F32, &one, 1, {1}};
    CHECK(st_write(path, &w2, 1, NULL, 0) == 0, "overwrite: %s", tr_errmsg());
    CHECK(st_open(&f, path) == 0 && f.n_tensors == 1 && st_find(&f, "only"), "overwritten file");
    float back = 0;
    CHECK(st_read_f32(&f, st_find(&f, "only"), &back, 1) == 0 && back == 42.0f, "overwritten value");
    st_close(&f);
}

static void test_bf16_roundtrip(void) {
    printf("BF16 round trip\n");
    enum { N = 4096 };
    float *x = malloc(N * 4), *y = malloc(N * 4);
    Rng r;
    rng_seed(&r, 2);
    for (int i = 0; i < N; i++) x[i] = ldexpf(rng_normal(&r), (int)(rng_u64(&r) % 40) - 20);
    x[0] = 0.0f;
    float hand[5] = {f_of(0x3F808000), f_of(0x3F818000), 0.1f, NAN, -INFINITY};
    StWrite w[] = {
        {"model.layers.0.mlp.up_proj.weight", ST_BF16, x, 2, {64, N / 64}},
        {"hand", ST_BF16, hand, 1, {5}},
    };
    const char *path = P("bf16.safetensors");
    CHECK(st_write(path, w, 2, NULL, 0) == 0, "st_write: %s", tr_errmsg());
    StFile f;
    CHECK(st_open(&f, path) == 0, "st_open: %s", tr_errmsg());
    const StTensor *t = st_find(&f, w[0].name);
    CHECK(t && t->dtype == ST_BF16 && t->numel == N && t->end - t->begin == 2 * N, "bf16 entry");
    if (t) {
        CHECK(st_read_f32(&f, t, y, N) == 0, "read: %s", tr_errmsg());
        const unsigned char *raw = st_data(&f, t);
        double maxrel = 0;
        int badbits = 0;
        for (int i = 0; i < N; i++) {
            uint16_t want = ref_bf16(x[i]);
            if ((uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8) != want) badbits++;
            if (u_of(y[i]) != (uint32_t)want << 16) badbits++;
            if (x[i] != 0) {
                double rel = fabs((double)y[i] - x[i]) / fabs((double)x[i]);
                if (rel > maxrel) maxrel = rel;
            }
        }
        CHECK(badbits == 0, "%d bf16 values differ from the reference rounding", badbits);
        /* half an ulp of an 8-bit significand: at most 2^-8 relative; a
         * truncating writer would reach ~2^-7, an F32 writer 0 */
        CHECK(maxrel <= ldexp(1, -8) && maxrel > ldexp(1, -10), "max relative error %.3g (bound %.3g)", maxrel,
              ldexp(1, -8));
        printf("  bf16 max relative error %.4g over %d values (bound 2^-8 = %.4g)\n", maxrel, N, ldexp(1, -8));
    }
    t = st_find(&f, "hand");
    float h[5];
    CHECK(t && st_read_f32(&f, t, h, 5) == 0, "read hand");
    if (t) {
        CHECK(h[0] == 1.0f && h[1] == 1.015625f && h[2] == f_of(0x3DCD0000u), "hand bf16 %.9g %.9g %.9g", h[0],
              h[1], h[2]);
        CHECK(isnan(h[3]) && isinf(h[4]) && h[4] < 0, "bf16 NaN and -inf survive");
    }
    st_close(&f);
    free(x);
    free(y);
}

static void test_i32_roundtrip(void) {
    printf("I32 round trip\n");
    int32_t v[6] = {0, -1, 1, INT32_MIN, INT32_MAX, 123456789}, got[6];
    StWrite w = {"input_ids", ST_I32, v, 2, {2, 3}};
    const char *path = P("i32.safetensors");
    CHECK(st_write(path, &w, 1, NULL, 0) == 0, "st_write: %s", tr_errmsg());
    StFile f;
    CHECK(st_open(&f, path) == 0, "st_open: %s", tr_errmsg());
    const StTensor *t = st_find(&f, "input_ids");
    CHECK(t && t->dtype == ST_I32 && t->numel == 6, "i32 entry");
    CHECK(t && st_read_i32(&f, t, got, 6) == 0 && memcmp(got, v, sizeof v) == 0, "i32 values");
    float fl[6];
    tr_err_clear();
    CHECK(t && st_read_f32(&f, t, fl, 6) != 0 && strstr(tr_errmsg(), "input_ids") && strstr(tr_errmsg(), "I32"),
          "I32 as fp32 refused: %s", tr_errmsg());
    st_close(&f);
}

static void wr16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void wr32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void wr64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* A file written byte by byte: every readable dtype, the F32 tensor at an odd
 * offset, header length not a multiple of 8. */
static void test_hand_dtypes(void) {
    printf("hand-written F16 / F64 / integer file\n");
    unsigned char d[128] = {0};
    static const uint16_t f16[12] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400,
                                     0x7C00, 0xFC00, 0x7E00, 0x8000, 0x3555, 0x8001};
    d[0] = 200;                                        /* u8 [0,1] */
    wr32(d + 1, 0x3FC00000);                           /* f32odd [1,9]: 1.5, -0.25 */
    wr32(d + 5, 0xBE800000);
    for (int i = 0; i < 12; i++) wr16(d + 9 + 2 * i, f16[i]); /* f16 [9,33] */
    double f64[3] = {0.1, -1e300, 1.0 / 3.0};
    for (int i = 0; i < 3; i++) {
        uint64_t u;
        memcpy(&u, &f64[i], 8);
        wr64(d + 33 + 8 * i, u); /* f64 [33,57] */
    }
    wr64(d + 57, (uint64_t)-5);          /* i64 [57,81] */
    wr64(d + 65, 2147483647);
    wr64(d + 73, (uint64_t)INT32_MIN);
    wr16(d + 81, 0xFFFE);                /* i16 [81,85]: -2, 300 */
    wr16(d + 83, 300);
    d[85] = 0x80;                        /* i8 [85,87]: -128, 127 */
    d[86] = 0x7F;
    d[87] = 1; d[88] = 0; d[89] = 1;     /* bool [87,90] */
    wr64(d + 90, (uint64_t)1 << 40);     /* i64big [90,98] */
    d[98] = 2;                           /* boolbad [98,99] */
    d[99] = 0x38; d[100] = 0xB8;         /* f8 [99,101] */
    const char *hdr =
        "{\"u8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"f32odd\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]},"
        "\"f16\":{\"dtype\":\"F16\",\"shape\":[3,4],\"data_offsets\":[9,33]},"
        "\"f64\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[33,57]},"
        "\"i64\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[57,81]},"
        "\"i16\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[81,85]},"
        "\"i8\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[85,87]},"
        "\"bool\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[87,90]},"
        "\"i64big\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[90,98]},"
        "\"boolbad\":{\"dtype\":\"BOOL\",\"shape\":[],\"data_offsets\":[98,99]},"
        "\"f8\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[99,101]},"
        "\"zero\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[101,101]}}";
    const char *path = P("hand.safetensors");
    put_st(path, hdr, d, 101);
    StFile f;
    CHECK(st_open(&f, path) == 0, "st_open: %s", tr_errmsg());
    CHECK(f.n_tensors == 12, "12 tensors, got %d", f.n_tensors);
    const StTensor *t;
    float fv[12];
    int32_t iv[3];

    t = st_find(&f, "f16");
    CHECK(t && t->dtype == ST_F16 && t->ndim == 2 && t->shape[0] == 3 && t->shape[1] == 4, "f16 entry");
    if (t && st_read_f32(&f, t, fv, 12) == 0) {
        CHECK(fv[0] == 1.0f && fv[1] == -2.0f && fv[2] == 65504.0f, "f16 normal values");
        CHECK(fv[3] == ldexpf(1, -24) && fv[4] == ldexpf(1023, -24) && fv[5] == ldexpf(1, -14),
              "f16 subnormals %.9g %.9g %.9g", fv[3], fv[4], fv[5]);
        CHECK(isinf(fv[6]) && fv[6] > 0 && isinf(fv[7]) && fv[7] < 0 && isnan(fv[8]), "f16 inf/nan");
        CHECK(fv[9] == 0 && signbit(fv[9]) && fv[10] == 0.333251953125f && fv[11] == -ldexpf(1, -24),
              "f16 -0, 1/3, -min");
    } else {
        CHECK(0, "read f16: %s", tr_errmsg());
    }
    t = st_find(&f, "f32odd");
    CHECK(t && st_read_f32(&f, t, fv, 2) == 0 && fv[0] == 1.5f && fv[1] == -0.25f, "unaligned f32");
    t = st_find(&f, "f64");
    CHECK(t && st_read_f32(&f, t, fv, 3) == 0 && fv[0] == 0.1f && isinf(fv[1]) && fv[1] < 0 &&
              fv[2] == (float)(1.0 / 3.0),
          "f64 -> f32");
    t = st_find(&f, "u8");
    CHECK(t && st_read_i32(&f, t, iv, 1) == 0 && iv[0] == 200, "u8");
    t = st_find(&f, "i64");
    CHECK(t && st_read_i32(&f, t, iv, 3) == 0 && iv[0] == -5 && iv[1] == INT32_MAX && iv[2] == INT32_MIN, "i64");
    t = st_find(&f, "i16");
    CHECK(t && st_read_i32(&f, t, iv, 2) == 0 && iv[0] == -2 && iv[1] == 300, "i16");
    t = st_find(&f, "i8");
    CHECK(t && st_read_i32(&f, t, iv, 2) == 0 && iv[0] == -128 && iv[1] == 127, "i8");
    t = st_find(&f, "bool");
    CHECK(t && st_read_i32(&f, t, iv, 3) == 0 && iv[0] == 1 && iv[1] == 0 && iv[2] == 1, "bool");
    t = st_find(&f, "i64big");
    tr_err_clear();
    CHECK(t && st_read_i32(&f, t, iv, 1) != 0 && strstr(tr_errmsg(), "i64big") && strstr(tr_errmsg(), "int32"),
          "i64 out of int32 refused: %s", tr_errmsg());
    t = st_find(&f, "boolbad");
    CHECK(t && t->ndim == 0 && t->numel == 1, "scalar shape []");
    CHECK(t && st_read_i32(&f, t, iv, 1) != 0 && strstr(tr_errmsg(), "boolbad"), "bool 2 refused: %s",
          tr_errmsg());
    t = st_find(&f, "f8");
    CHECK(t && st_read_f32(&f, t, fv, 2) != 0 && strstr(tr_errmsg(), "F8_E4M3") && strstr(tr_errmsg(), "'f8'"),
          "F8 as fp32 refused: %s", tr_errmsg());
    CHECK(t && ((const unsigned char *)st_data(&f, t))[1] == 0xB8, "F8 raw bytes");
    t = st_find(&f, "zero");
    CHECK(t && t->numel == 0 && st_read_f32(&f, t, NULL, 0) == 0, "empty F16 tensor");
    st_close(&f);
}

static void test_metadata(void) {
    printf("__metadata__ round trip\n");
    const char *meta[] = {"format", "pt", "note", "tab\t \"q\" \\ \xc3\xa9 \n end", "empty", ""};
    float v = 1.25f;
    StWrite w = {"we\"ird\\name.\x01", ST_F32, &v, 1, {1}};
    const char *path = P("meta.safetensors");
    CHECK(st_write(path, &w, 1, meta, 3) == 0, "st_write: %s", tr_errmsg());
    StFile f;
    CHECK(st_open(&f, path) == 0, "st_open: %s", tr_errmsg());
    CHECK(f.n_meta == 3, "n_meta %d", f.n_meta);
    for (int i = 0; i < f.n_meta && i < 3; i++) {
        int found = 0;
        for (int j = 0; j < 3; j++)
            if (!strcmp(f.meta[2 * i], meta[2 * j]) && !strcmp(f.meta[2 * i + 1], meta[2 * j + 1])) found = 1;
        CHECK(found, "meta %s=%s round trips", f.meta[2 * i], f.meta[2 * i + 1]);
    }
    float back = 0;
    const StTensor *t = st_find(&f, w.name);
    CHECK(t && st_read_f32(&f, t, &back, 1) == 0 && back == 1.25f, "escaped name round trips");
    st_close(&f);

    /* metadata and no tensors at all */
    const char *path2 = P("meta_only.safetensors");
    CHECK(st_write(path2, NULL, 0, meta, 1) == 0, "st_write meta only: %s", tr_errmsg());
    CHECK(st_open(&f, path2) == 0 && f.n_tensors == 0 && f.n_meta == 1 && st_find(&f, "x") == NULL,
          "meta-only file");
    st_close(&f);
}

static void write_shard(const char *path, const char *n1, const char *n2, float base, const char *const *meta,
                        int n_meta) {
    float a[6], b[4];
    for (int i = 0; i < 6; i++) a[i] = base + (float)i;
    for (int i = 0; i < 4; i++) b[i] = -base - (float)i;
    StWrite w[] = {{n1, ST_F32, a, 2, {2, 3}}, {n2, ST_BF16, b, 1, {4}}};
    CHECK(st_write(path, w, 2, meta, n_meta) == 0, "write shard: %s", tr_errmsg());
}

static void check_sharded(const char *open_path) {
    StFile f;
    CHECK(st_open(&f, open_path) == 0, "open sharded via %s: %s", open_path, tr_errmsg());
    CHECK(f.n_shards == 2 && f.n_tensors == 4, "2 shards, 4 tensors (got %d, %d)", f.n_shards, f.n_tensors);
    static const char *names[4] = {"model.layers.0.mlp.down_proj.weight", "model.layers.0.input_layernorm.weight",
                                   "model.layers.1.mlp.down_proj.weight", "model.norm.weight"};
    static const char *shard[4] = {"model-00001-of-00002.safetensors", "model-00001-of-00002.safetensors",
                                   "model-00002-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    for (int i = 0; i < 4; i++) {
        const StTensor *t = st_find(&f, names[i]);
        CHECK(t != NULL, "find %s", names[i]);
        if (!t) continue;
        const char *sp = f.shards[t->shard].path;
        CHECK(strlen(sp) >= strlen(shard[i]) && !strcmp(sp + strlen(sp) - strlen(shard[i]), shard[i]),
              "%s lives in %s (got %s)", names[i], shard[i], sp);
        float v[6];
        float base = i < 2 ? 10.0f : 20.0f;
        if (i % 2 == 0) {
            CHECK(st_read_f32(&f, t, v, 6) == 0 && v[0] == base && v[5] == base + 5, "%s values", names[i]);
        } else {
            CHECK(st_read_f32(&f, t, v, 4) == 0 && v[0] == -base && v[3] == -base - 3, "%s values", names[i]);
        }
    }
    int total = 0, fmt = 0;
    for (int i = 0; i < f.n_meta; i++) {
        if (!strcmp(f.meta[2 * i], "total_size") && !strcmp(f.meta[2 * i + 1], "80")) total = 1;
        if (!strcmp(f.meta[2 * i], "format") && !strcmp(f.meta[2 * i + 1], "pt")) fmt = 1;
    }
    CHECK(total && fmt, "index metadata total_size=80 and shard format=pt");
    st_close(&f);
}

static const char *INDEX_OK =
    "{\"metadata\": {\"total_size\": 80},\n \"weight_map\": {\n"
    "  \"model.layers.0.mlp.down_proj.weight\": \"model-00001-of-00002.safetensors\",\n"
    "  \"model.layers.0.input_layernorm.weight\": \"model-00001-of-00002.safetensors\",\n"
    "  \"model.layers.1.mlp.down_proj.weight\": \"model-00002-of-00002.safetensors\",\n"
    "  \"model.norm.weight\": \"model-00002-of-00002.safetensors\"}}\n";

static void test_sharded(void) {
    printf("sharded checkpoint\n");
    char dir[600];
    snprintf(dir, sizeof dir, "%s", P("sharded"));
    mkdir(dir, 0755);
    const char *meta[] = {"format", "pt"};
    write_shard(P("sharded/model-00001-of-00002.safetensors"), "model.layers.0.mlp.down_proj.weight",
                "model.layers.0.input_layernorm.weight", 10.0f, meta, 1);
    write_shard(P("sharded/model-00002-of-00002.safetensors"), "model.layers.1.mlp.down_proj.weight",
                "model.norm.weight", 20.0f, meta, 1);
    put_text(P("sharded/model.safetensors.index.json"), INDEX_OK);
    check_sharded(P("sharded/model.safetensors.index.json"));
    check_sharded(dir);

    /* a directory with model.safetensors opens that file */
    mkdir(P("single"), 0755);
    write_shard(P("single/model.safetensors"), "a", "b", 1.0f, NULL, 0);
    StFile f;
    CHECK(st_open(&f, P("single")) == 0 && f.n_tensors == 2 && st_find(&f, "a"), "directory with model.safetensors");
    st_close(&f);
}

static void test_bad_inputs(void) {
    printf("malformed inputs\n");
    unsigned char zeros[512] = {0};
    char hdr[1024];

    put_bytes(P("short.safetensors"), "\x10\0\0\0\0", 5, NULL, 0);
    expect_fail(P("short.safetensors"), "8-byte", NULL, NULL);
    put_bytes(P("empty_file.safetensors"), NULL, 0, NULL, 0);
    expect_fail(P("empty_file.safetensors"), "8-byte", NULL, NULL);

    unsigned char lenb[8];
    wr64(lenb, 1000);
    put_bytes(P("hdrlen.safetensors"), lenb, 8, "{\"a\":1}            ", 20);
    expect_fail(P("hdrlen.safetensors"), "header length 1000", "past end of file", NULL);
    wr64(lenb, (uint64_t)1 << 62);
    put_bytes(P("hdrhuge.safetensors"), lenb, 8, zeros, 64);
    expect_fail(P("hdrhuge.safetensors"), "header length", NULL, NULL);

    put_st(P("trunc.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", zeros, 8);
    expect_fail(P("trunc.safetensors"), "'w'", "data_offsets [0, 16] past end of data (8 bytes)", NULL);

    put_st(P("notjson.safetensors"), "{\"w\": {\"dtype\": \"F32\", \"shape\": [1,", zeros, 0);
    expect_fail(P("notjson.safetensors"), "not valid JSON", NULL, NULL);
    put_st(P("notobj.safetensors"), "[1, 2, 3]", zeros, 0);
    expect_fail(P("notobj.safetensors"), "not an object", NULL, NULL);
    put_st(P("trailing.safetensors"), "{} x", zeros, 0);
    expect_fail(P("trailing.safetensors"), "after the JSON", NULL, NULL);

    put_st(P("past.safetensors"),
           "{\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", zeros, 256);
    expect_fail(P("past.safetensors"), "tensor 'model.norm.weight'", "data_offsets [0, 400] past end of data (256 bytes)",
                NULL);

    put_st(P("overlap.safetensors"),
           "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
           "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
           "\"y\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[12,28]}}",
           zeros, 28);
    expect_fail(P("overlap.safetensors"), "'x'", "'y'", "overlap");
    /* containment, with an unrelated range in between in header order */
    put_st(P("overlap2.safetensors"),
           "{\"big\":{\"dtype\":\"U8\",\"shape\":[32],\"data_offsets\":[0,32]},"
           "\"tail\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[32,36]},"
           "\"inner\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[20,22]}}",
           zeros, 36);
    expect_fail(P("overlap2.safetensors"), "'big'", "'inner'", "overlap");

    put_st(P("mismatch.safetensors"), "{\"m\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", zeros,
           24);
    expect_fail(P("mismatch.safetensors"), "'m'", "data_offsets [0, 20] hold 20 bytes", "shape [2, 3] of F32 needs 24");

    put_st(P("absurd_shape.safetensors"),
           "{\"h\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}", zeros, 16);
    expect_fail(P("absurd_shape.safetensors"), "'h'", "shape", "overflows");
    put_st(P("huge_dim.safetensors"), "{\"h2\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,16]}}",
           zeros, 16);
    expect_fail(P("huge_dim.safetensors"), "'h2'", "shape", NULL);
    put_st(P("bytes_overflow.safetensors"),
           "{\"h3\":{\"dtype\":\"F64\",\"shape\":[1073741824, 2147483648],\"data_offsets\":[0,16]}}", zeros, 16);
    expect_fail(P("bytes_overflow.safetensors"), "'h3'", "shape", "overflows");
    put_st(P("neg_shape.safetensors"), "{\"n\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,16]}}", zeros,
           16);
    expect_fail(P("neg_shape.safetensors"), "'n'", "shape", "non-negative");
    put_st(P("frac_shape.safetensors"), "{\"fr\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}",
           zeros, 16);
    expect_fail(P("frac_shape.safetensors"), "'fr'", "shape", NULL);
    put_st(P("str_shape.safetensors"), "{\"ss\":{\"dtype\":\"F32\",\"shape\":\"4\",\"data_offsets\":[0,16]}}",
           zeros, 16);
    expect_fail(P("str_shape.safetensors"), "'ss'", "shape", NULL);
    put_st(P("ndim9.safetensors"),
           "{\"d9\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", zeros, 16);
    expect_fail(P("ndim9.safetensors"), "'d9'", "shape has 9 dims", NULL);

    put_st(P("dtype.safetensors"), "{\"q\":{\"dtype\":\"Q7\",\"shape\":[4],\"data_offsets\":[0,16]}}", zeros, 16);
    expect_fail(P("dtype.safetensors"), "unsupported dtype 'Q7' for tensor 'q'", NULL, NULL);
    put_st(P("dtype_num.safetensors"), "{\"qn\":{\"dtype\":4,\"shape\":[4],\"data_offsets\":[0,16]}}", zeros, 16);
    expect_fail(P("dtype_num.safetensors"), "'qn'", "dtype", NULL);
    put_st(P("nodtype.safetensors"), "{\"nd\":{\"shape\":[4],\"data_offsets\":[0,16]}}", zeros, 16);
    expect_fail(P("nodtype.safetensors"), "'nd'", "missing dtype", NULL);
    put_st(P("noshape.safetensors"), "{\"ns\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", zeros, 16);
    expect_fail(P("noshape.safetensors"), "'ns'", "missing shape", NULL);

    put_st(P("nooff.safetensors"), "{\"k\":{\"dtype\":\"F32\",\"shape\":[4]}}", zeros, 16);
    expect_fail(P("nooff.safetensors"), "'k'", "missing data_offsets", NULL);
    put_st(P("off3.safetensors"), "{\"k3\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8,16]}}", zeros, 16);
    expect_fail(P("off3.safetensors"), "'k3'", "data_offsets", NULL);
    put_st(P("offneg.safetensors"), "{\"kn\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[-16,0]}}", zeros,
           16);
    expect_fail(P("offneg.safetensors"), "'kn'", "data_offsets", NULL);
    put_st(P("backwards.safetensors"), "{\"bw\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", zeros,
           16);
    expect_fail(P("backwards.safetensors"), "'bw'", "data_offsets [16, 0]", NULL);
    put_st(P("entry.safetensors"), "{\"en\": 5}", zeros, 0);
    expect_fail(P("entry.safetensors"), "'en'", "not a JSON object", NULL);
    put_st(P("meta_nonstr.safetensors"), "{\"__metadata__\":{\"a\":1}}", zeros, 0);
    expect_fail(P("meta_nonstr.safetensors"), "__metadata__", "'a'", NULL);
    put_st(P("meta_arr.safetensors"), "{\"__metadata__\":[1]}", zeros, 0);
    expect_fail(P("meta_arr.safetensors"), "__metadata__", NULL, NULL);
    put_st(P("dup.safetensors"),
           "{\"z\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
           "\"z\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
           zeros, 2);
    expect_fail(P("dup.safetensors"), "'z'", "twice", NULL);

    snprintf(hdr, sizeof hdr, "%s", P("no_such_file.safetensors"));
    expect_fail(hdr, "cannot open", NULL, NULL);
    mkdir(P("empty_dir"), 0755);
    expect_fail(P("empty_dir"), "neither", NULL, NULL);
}

static void test_bad_index(void) {
    printf("malformed sharded checkpoints\n");
    mkdir(P("bi"), 0755);
    write_shard(P("bi/shard-a.safetensors"), "t1", "t1b", 1.0f, NULL, 0);
    write_shard(P("bi/shard-b.safetensors"), "t2", "t1b", 2.0f, NULL, 0);
    write_shard(P("bi/shard-c.safetensors"), "t2", "t3", 3.0f, NULL, 0);

    put_text(P("bi/missing.index.json"),
             "{\"weight_map\": {\"t1\": \"shard-a.safetensors\", \"t1b\": \"shard-a.safetensors\","
             " \"t9\": \"nope-00002.safetensors\"}}");
    expect_fail(P("bi/missing.index.json"), "nope-00002.safetensors", "'t9'", "cannot open");

    put_text(P("bi/ghost.index.json"),
             "{\"weight_map\": {\"t1\": \"shard-a.safetensors\", \"t1b\": \"shard-a.safetensors\","
             " \"ghost\": \"shard-a.safetensors\"}}");
    expect_fail(P("bi/ghost.index.json"), "'ghost'", "shard-a.safetensors", "no such tensor");

    put_text(P("bi/wrongshard.index.json"),
             "{\"weight_map\": {\"t1\": \"shard-a.safetensors\", \"t1b\": \"shard-a.safetensors\","
             " \"t2\": \"shard-a.safetensors\", \"t3\": \"shard-c.safetensors\"}}");
    expect_fail(P("bi/wrongshard.index.json"), "'t2'", "shard-a.safetensors", "shard-c.safetensors");

    put_text(P("bi/unlisted.index.json"), "{\"weight_map\": {\"t1\": \"shard-a.safetensors\"}}");
    expect_fail(P("bi/unlisted.index.json"), "'t1b'", "not listed in weight_map", NULL);

    put_text(P("bi/dupshard.index.json"),
             "{\"weight_map\": {\"t1\": \"shard-a.safetensors\", \"t1b\": \"shard-a.safetensors\","
             " \"t2\": \"shard-b.safetensors\"}}");
    expect_fail(P("bi/dupshard.index.json"), "'t1b'", "shard-a.safetensors", "shard-b.safetensors");

    /* shards stay inside the index's folder */
    put_text(P("bi/dotdot.index.json"), "{\"weight_map\": {\"t1\": \"../sharded/shard-a.safetensors\"}}");
    expect_fail(P("bi/dotdot.index.json"), "'t1'", "../sharded/shard-a.safetensors", "inside the index's folder");
    put_text(P("bi/dotdot2.index.json"), "{\"weight_map\": {\"t1\": \"sub/../../x.safetensors\"}}");
    expect_fail(P("bi/dotdot2.index.json"), "'t1'", "sub/../../x.safetensors", "no '..' component");
    mkdir(P("bi/sub"), 0755);
    write_shard(P("bi/sub/shard-s.safetensors"), "s1", "s2", 4.0f, NULL, 0);
    put_text(P("bi/subdir.index.json"),
             "{\"weight_map\": {\"s1\": \"sub/shard-s.safetensors\", \"s2\": \"sub/shard-s.safetensors\"}}");
    {
        StFile f;
        int rc = st_open(&f, P("bi/subdir.index.json"));
        CHECK(rc == 0 && f.n_tensors == 2, "a shard in a subfolder of the index's folder loads: %s", tr_errmsg());
        if (rc == 0) st_close(&f);
    }
    put_text(P("bi/abs.index.json"), "{\"weight_map\": {\"t1\": \"/etc/passwd\"}}");
    expect_fail(P("bi/abs.index.json"), "'t1'", "/etc/passwd", "no absolute path");
    put_text(P("bi/notjson.index.json"), "{\"weight_map\": {");
    expect_fail(P("bi/notjson.index.json"), "JSON", NULL, NULL);
    put_text(P("bi/nowm.index.json"), "{\"metadata\": {}}");
    expect_fail(P("bi/nowm.index.json"), "weight_map", NULL, NULL);
    put_text(P("bi/wmnum.index.json"), "{\"weight_map\": {\"t1\": 3}}");
    expect_fail(P("bi/wmnum.index.json"), "weight_map", "'t1'", NULL);

    /* a broken shard: the message names the index, the shard and the tensor */
    put_st(P("bi/broken.safetensors"), "{\"bt\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
           "\0\0\0\0", 4);
    put_text(P("bi/broken.index.json"), "{\"weight_map\": {\"bt\": \"broken.safetensors\"}}");
    expect_fail(P("bi/broken.index.json"), "broken.safetensors", "'bt'", "past end of data");
}

static void test_write_errors(void) {
    printf("st_write refusals\n");
    float v[4] = {1, 2, 3, 4};
    int before = count_entries(g_dir);
    const char *path = P("werr.safetensors");
    StWrite dup[] = {{"a", ST_F32, v, 1, {2}}, {"b", ST_F32, v, 1, {2}}, {"a", ST_BF16, v, 1, {2}}};
    tr_err_clear();
    CHECK(st_write(path, dup, 3, NULL, 0) != 0 && strstr(tr_errmsg(), "'a'") && strstr(tr_errmsg(), "twice"),
          "duplicate name refused: %s", tr_errmsg());
    StWrite f16 = {"h", ST_F16, v, 1, {4}};
    CHECK(st_write(path, &f16, 1, NULL, 0) != 0 && strstr(tr_errmsg(), "F16"), "F16 target refused: %s",
          tr_errmsg());
    StWrite neg = {"n", ST_F32, v, 2, {-1, 4}};
    CHECK(st_write(path, &neg, 1, NULL, 0) != 0 && strstr(tr_errmsg(), "'n'"), "negative shape refused: %s",
          tr_errmsg());
    StWrite nul = {"z", ST_F32, NULL, 1, {4}};
    CHECK(st_write(path, &nul, 1, NULL, 0) != 0 && strstr(tr_errmsg(), "'z'"), "NULL data refused: %s",
          tr_errmsg());
    StWrite reserved = {"__metadata__", ST_F32, v, 1, {4}};
    CHECK(st_write(path, &reserved, 1, NULL, 0) != 0, "__metadata__ as a name refused");
    const char *meta[] = {"k", "1", "k", "2"};
    StWrite ok = {"ok", ST_F32, v, 1, {4}};
    CHECK(st_write(path, &ok, 1, meta, 2) != 0 && strstr(tr_errmsg(), "'k'"), "duplicate meta key refused: %s",
          tr_errmsg());
    CHECK(count_entries(g_dir) == before, "refused writes leave no file behind");
    CHECK(st_write(P("no_dir/x.safetensors"), &ok, 1, NULL, 0) == TR_EIO, "unwritable path: %s", tr_errmsg());

    StFile z;
    memset(&z, 0, sizeof z);
    st_close(&z);
    st_close(&z);
    st_close(NULL);
    CHECK(st_find(&z, "a") == NULL && st_data(&z, NULL) == NULL, "zeroed StFile is inert");
    CHECK(st_open(NULL, path) != 0 && st_open(&z, NULL) != 0 && st_open(&z, "") != 0, "NULL arguments refused");
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/thinkrl_st_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_conversions();
    test_f32_roundtrip();
    test_bf16_roundtrip();
    test_i32_roundtrip();
    test_hand_dtypes();
    test_metadata();
    test_sharded();
    test_bad_inputs();
    test_bad_index();
    test_write_errors();
    rm_rf(g_dir);
    printf("test_safetensors: %d checks, %d failed\n", n_checks, n_fail);
    return n_fail ? 1 : 0;
}
