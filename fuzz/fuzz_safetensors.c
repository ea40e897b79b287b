/* Fuzz target: a single .safetensors file (8-byte header length, JSON
 * header, data) through st_open, then every tensor read back through
 * st_read_f32 / st_read_i32 and looked up by name. The input is the whole
 * file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "thinkrl/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write(0, "model.safetensors", data, size);
    StFile f;
    if (st_open(&f, path) != TR_OK) {
        FUZZ_CHECK(f.n_tensors == 0 && f.tensors == NULL, "st_open failed but left tensors");
        return 0;
    }
    for (int i = 0; i < f.n_tensors; i++) {
        const StTensor *t = &f.tensors[i];
        FUZZ_CHECK(st_find(&f, t->name) != NULL, "st_find('%s') after st_open", t->name);
        FUZZ_CHECK(t->end >= t->begin && t->end <= f.shards[t->shard].size - f.shards[t->shard].data_off,
                   "tensor '%s' range outside its data", t->name);
        const unsigned char *raw = st_data(&f, t);
        volatile unsigned char sink = 0;
        if (raw && t->end > t->begin) sink ^= raw[t->end - t->begin - 1]; /* last byte must be mapped */
        (void)sink;
        if (t->numel > (1 << 20)) continue;
        size_t n = (size_t)t->numel;
        float *fv = malloc((n ? n : 1) * sizeof *fv);
        int32_t *iv = malloc((n ? n : 1) * sizeof *iv);
        if (!fv || !iv) abort();
        st_read_f32(&f, t, fv, n);
        st_read_i32(&f, t, iv, n);
        st_read_f32(&f, t, fv, n + 1); /* wrong count: an error, not an overflow */
        free(fv);
        free(iv);
    }
    for (int i = 0; i < f.n_meta; i++) FUZZ_CHECK(f.meta[2 * i] && f.meta[2 * i + 1], "metadata %d", i);
    st_find(&f, "model.embed_tokens.weight");
    st_close(&f);
    return 0;
}
