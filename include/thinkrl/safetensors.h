/* safetensors reading and writing (Hugging Face layout): single files and
 * sharded checkpoints (model.safetensors.index.json). Reading converts
 * F32 / F16 / BF16 (and F64) to fp32; writing emits F32 or BF16, atomically.
 * Every header is validated before any tensor is touched: offsets, overlaps,
 * shapes and dtypes; errors name the file and the tensor. */
#ifndef THINKRL_SAFETENSORS_H
#define THINKRL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ST_F64, ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8,
    ST_BOOL, ST_F8_E4M3, ST_F8_E5M2, ST_NDTYPE
} StDtype;

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;   /* byte range inside its shard's data section */
    int shard;             /* index into StFile.shards */
} StTensor;

typedef struct {
    char *path;            /* the file as given */
    unsigned char *map;    /* whole file (mmap) */
    size_t size;
    size_t data_off;       /* 8 + header length */
} StShard;

typedef struct {
    char *path;            /* what st_open was given */
    StShard *shards;
    int n_shards;
    StTensor *tensors;     /* sorted by name */
    int n_tensors;
    char **meta;           /* __metadata__ as key, value, key, value ... */
    int n_meta;
} StFile;

const char *st_dtype_name(StDtype d);
size_t st_dtype_size(StDtype d);

/* Opens a .safetensors file, a model.safetensors.index.json, or a directory
 * holding either. Validates all headers. On failure *f is left empty. */
int st_open(StFile *f, const char *path);
void st_close(StFile *f);
/* NULL when absent. */
const StTensor *st_find(const StFile *f, const char *name);
/* Converts the tensor to fp32 into dst (n floats, must equal numel). */
int st_read_f32(const StFile *f, const StTensor *t, float *dst, size_t n);
/* Reads an integer tensor (I64/I32/I16/I8/U8/BOOL) into int32 (range-checked). */
int st_read_i32(const StFile *f, const StTensor *t, int32_t *dst, size_t n);
/* Raw bytes of a tensor inside the mapping. */
const void *st_data(const StFile *f, const StTensor *t);

typedef struct {
    const char *name;
    StDtype dtype;         /* ST_F32 / ST_BF16 from float data, ST_I32 from int32 */
    const void *data;      /* float* for F32/BF16 targets, int32_t* for I32 */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
} StWrite;

/* Writes tensors to `path` atomically (temp file, fsync, rename). meta holds
 * n_meta key/value pairs (2*n_meta strings), may be NULL. */
int st_write(const char *path, const StWrite *t, int n, const char *const *meta, int n_meta);

/* bf16/f16 conversions (round to nearest even for bf16). */
float st_bf16_to_f32(uint16_t h);
uint16_t st_f32_to_bf16(float f);
float st_f16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif
