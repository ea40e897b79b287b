/* Fuzz target: model.safetensors.index.json (weight_map, metadata) through
 * st_open, next to two fixed small shards a.safetensors (x: F32 [2],
 * y: BF16 [1, 1]) and b.safetensors (z: I32 [3]) written once per process.
 * The input is the index JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "thinkrl/safetensors.h"

static void write_shards(void) {
    static int done;
    if (done) return;
    static const float xf[2] = {1.0f, -2.5f}, yf[1] = {0.5f};
    static const int32_t zi[3] = {7, -1, 1 << 20};
    StWrite a[2] = {{"x", ST_F32, xf, 1, {2}}, {"y", ST_BF16, yf, 2, {1, 1}}};
    StWrite b[1] = {{"z", ST_I32, zi, 1, {3}}};
    const char *meta[2] = {"format", "pt"};
    if (st_write(fuzz_path(1, "a.safetensors"), a, 2, meta, 1) ||
        st_write(fuzz_path(1, "b.safetensors"), b, 1, NULL, 0)) {
        fprintf(stderr, "fuzz: cannot write shards: %s\n", tr_errmsg());
        abort();
    }
    done = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    write_shards();
    const char *path = fuzz_write(0, "model.safetensors.index.json", data, size);
    StFile f;
    if (st_open(&f, path) != TR_OK) return 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const StTensor *t = &f.tensors[i];
        FUZZ_CHECK(t->shard >= 0 && t->shard < f.n_shards, "tensor '%s' shard %d", t->name, t->shard);
        FUZZ_CHECK(st_find(&f, t->name) == t, "st_find('%s')", t->name);
        if (t->numel > 4096) continue;
        float fv[4096];
        int32_t iv[4096];
        st_read_f32(&f, t, fv, (size_t)t->numel);
        st_read_i32(&f, t, iv, (size_t)t->numel);
    }
    for (int i = 0; i < 2 * f.n_meta; i++) FUZZ_CHECK(f.meta[i] != NULL, "meta[%d]", i);
    st_close(&f);
    return 0;
}
