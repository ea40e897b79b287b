/* safetensors reading and writing. Reading maps each file read-only and
 * validates every header (dtype, shape, offsets, overlaps, index vs shards)
 * before st_open returns; tensors are decoded on demand, byte by byte so that
 * unaligned data is safe. Writing streams F32 / BF16 / I32 to PATH.tmp.PID,
 * fsyncs and renames. F8 tensors can be opened and their bytes read raw, but
 * are not converted. */
#include "thinkrl/safetensors.h"
#include "thinkrl/core.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Headers above this are refused as absurd (the Hugging Face reader uses the
 * same cap). JSON numbers are doubles: integers above 2^53 are not exact. */
#define ST_MAX_HEADER 100000000ull
#define ST_MAX_JSON_INT 9007199254740992.0

static const char *const dtype_names[ST_NDTYPE] = {
    "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2"};
static const unsigned char dtype_sizes[ST_NDTYPE] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1, 1, 1};

const char *st_dtype_name(StDtype d) { return (unsigned)d < ST_NDTYPE ? dtype_names[d] : "?"; }
size_t st_dtype_size(StDtype d) { return (unsigned)d < ST_NDTYPE ? dtype_sizes[d] : 0; }

static int dtype_parse(const char *s, StDtype *d) {
    for (int i = 0; i < ST_NDTYPE; i++)
        if (strcmp(s, dtype_names[i]) == 0) {
            *d = (StDtype)i;
            return 1;
        }
    return 0;
}

/* ---- scalar conversions ---- */

float st_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t st_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) /* NaN: keep sign and payload, force quiet */
        return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7FFFu + ((u >> 16) & 1u); /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, u;
    if (exp == 0x1F) {
        u = sign | 0x7F800000u | (man << 13); /* inf, or NaN with its payload */
    } else if (exp != 0) {
        u = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        u = sign;
    } else { /* subnormal: shift the leading 1 into the implicit bit */
        uint32_t e = 113; /* biased fp32 exponent of 2^-14 */
        while (!(man & 0x400u)) {
            man <<= 1;
            e--;
        }
        u = sign | (e << 23) | ((man & 0x3FFu) << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t rd64(const unsigned char *p) {
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

/* ---- building an StFile ---- */

typedef struct {
    StFile f;
    int cap_t, cap_s, cap_m; /* capacities of f.tensors, f.shards, f.meta (strings) */
} Build;

static int grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return TR_OK;
    int nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > INT_MAX / 2) return tr_err(TR_ENOMEM, "safetensors: too many entries");
        nc *= 2;
    }
    void *np = realloc(*p, (size_t)nc * elem);
    if (!np) return tr_err(TR_ENOMEM, "safetensors: out of memory");
    *p = np;
    *cap = nc;
    return TR_OK;
}

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Adds key=value unless the key is already there (first wins: index metadata
 * before shard metadata, first shard before later ones). */
static int meta_add(Build *b, const char *key, const char *val) {
    for (int i = 0; i < b->f.n_meta; i++)
        if (strcmp(b->f.meta[2 * i], key) == 0) return TR_OK;
    int rc = grow((void **)&b->f.meta, &b->cap_m, 2 * b->f.n_meta + 2, sizeof(char *));
    if (rc) return rc;
    char *k = dupstr(key), *v = dupstr(val);
    if (!k || !v) {
        free(k);
        free(v);
        return tr_err(TR_ENOMEM, "safetensors: out of memory");
    }
    b->f.meta[2 * b->f.n_meta] = k;
    b->f.meta[2 * b->f.n_meta + 1] = v;
    b->f.n_meta++;
    return TR_OK;
}

static int add_shard(Build *b, const char *path) {
    int rc = grow((void **)&b->f.shards, &b->cap_s, b->f.n_shards + 1, sizeof(StShard));
    if (rc) return rc;
    StShard *s = &b->f.shards[b->f.n_shards];
    memset(s, 0, sizeof *s);
    s->path = dupstr(path);
    if (!s->path) return tr_err(TR_ENOMEM, "safetensors: out of memory");
    b->f.n_shards++;
    return TR_OK;
}

static int shard_map(StShard *s) {
    const char *p = s->path;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tr_err(TR_EIO, "%s: cannot open: %s", p, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = tr_err(TR_EIO, "%s: cannot stat: %s", p, strerror(errno));
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return tr_err(TR_EIO, "%s: not a regular file", p);
    }
    if (st.st_size < 8) {
        close(fd);
        return tr_err(TR_EFORMAT, "%s: file is %lld bytes, shorter than the 8-byte header length",
                      p, (long long)st.st_size);
    }
    if ((uintmax_t)st.st_size > SIZE_MAX) {
        close(fd);
        return tr_err(TR_EIO, "%s: file too large to map", p);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (m == MAP_FAILED) return tr_err(TR_EIO, "%s: mmap failed: %s", p, strerror(err));
    s->map = m;
    s->size = (size_t)st.st_size;
    return TR_OK;
}

/* A JSON number that is an exact non-negative integer usable as a size. */
static int json_uint(const cJSON *j, uint64_t *v) {
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= 0.0) || d > ST_MAX_JSON_INT || d != floor(d)) return 0;
    *v = (uint64_t)d;
    return 1;
}

static void json_shape_str(const cJSON *js, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (const cJSON *c = js->child; c && n < cap; c = c->next) {
        if (cJSON_IsNumber(c))
            n += (size_t)snprintf(buf + n, cap - n, "%s%.17g", c == js->child ? "" : ", ", c->valuedouble);
        else
            n += (size_t)snprintf(buf + n, cap - n, "%s?", c == js->child ? "" : ", ");
    }
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static void shape_str(const int64_t *shape, int ndim, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static int tensor_parse(Build *b, int si, const char *p, const char *name, const cJSON *e,
                        uint64_t dsize) {
    char sbuf[256];
    if (!cJSON_IsObject(e))
        return tr_err(TR_EFORMAT, "%s: tensor '%s': entry is not a JSON object", p, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!jd) return tr_err(TR_EFORMAT, "%s: tensor '%s': missing dtype", p, name);
    if (!cJSON_IsString(jd) || !jd->valuestring)
        return tr_err(TR_EFORMAT, "%s: tensor '%s': dtype is not a string", p, name);
    StDtype dt;
    if (!dtype_parse(jd->valuestring, &dt))
        return tr_err(TR_EFORMAT, "%s: unsupported dtype '%s' for tensor '%s'", p, jd->valuestring, name);

    if (!js) return tr_err(TR_EFORMAT, "%s: tensor '%s': missing shape", p, name);
    if (!cJSON_IsArray(js))
        return tr_err(TR_EFORMAT, "%s: tensor '%s': shape is not an array", p, name);
    int nd = cJSON_GetArraySize(js);
    if (nd > ST_MAX_DIMS)
        return tr_err(TR_EFORMAT, "%s: tensor '%s': shape has %d dims (at most %d)", p, name, nd,
                      ST_MAX_DIMS);
    int64_t shape[ST_MAX_DIMS] = {0}, numel = 1;
    int k = 0;
    for (const cJSON *c = js->child; c; c = c->next, k++) {
        uint64_t v;
        if (!json_uint(c, &v)) {
            json_shape_str(js, sbuf, sizeof sbuf);
            return tr_err(TR_EFORMAT, "%s: tensor '%s': shape %s: dim %d is not a non-negative integer",
                          p, name, sbuf, k);
        }
        shape[k] = (int64_t)v;
        if (__builtin_mul_overflow(numel, shape[k], &numel)) {
            json_shape_str(js, sbuf, sizeof sbuf);
            return tr_err(TR_EFORMAT, "%s: tensor '%s': shape %s: element count overflows", p, name, sbuf);
        }
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow((uint64_t)numel, (uint64_t)dtype_sizes[dt], &nbytes)) {
        json_shape_str(js, sbuf, sizeof sbuf);
        return tr_err(TR_EFORMAT, "%s: tensor '%s': shape %s: byte size overflows", p, name, sbuf);
    }

    if (!jo) return tr_err(TR_EFORMAT, "%s: tensor '%s': missing data_offsets", p, name);
    uint64_t ob, oe;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !json_uint(jo->child, &ob) ||
        !json_uint(jo->child->next, &oe))
        return tr_err(TR_EFORMAT, "%s: tensor '%s': data_offsets is not [begin, end] of non-negative integers",
                      p, name);
    if (ob > oe)
        return tr_err(TR_EFORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] has begin > end",
                      p, name, ob, oe);
    if (oe > dsize)
        return tr_err(TR_EFORMAT,
                      "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] past end of data (%" PRIu64
                      " bytes)",
                      p, name, ob, oe, dsize);
    if (oe - ob != nbytes) {
        shape_str(shape, nd, sbuf, sizeof sbuf);
        return tr_err(TR_EFORMAT,
                      "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                      " bytes but shape %s of %s needs %" PRIu64,
                      p, name, ob, oe, oe - ob, sbuf, dtype_names[dt], nbytes);
    }

    int rc = grow((void **)&b->f.tensors, &b->cap_t, b->f.n_tensors + 1, sizeof(StTensor));
    if (rc) return rc;
    StTensor *t = &b->f.tensors[b->f.n_tensors];
    memset(t, 0, sizeof *t);
    t->name = dupstr(name);
    if (!t->name) return tr_err(TR_ENOMEM, "safetensors: out of memory");
    t->dtype = dt;
    t->ndim = nd;
    memcpy(t->shape, shape, sizeof shape);
    t->numel = numel;
    t->begin = ob;
    t->end = oe;
    t->shard = si;
    b->f.n_tensors++;
    return TR_OK;
}

static int cmp_begin(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Tensors [t0, t1) come from one shard: no two non-empty ranges may share a byte. */
static int check_overlap(const StFile *f, int t0, int t1, const char *p) {
    int n = t1 - t0;
    if (n < 2) return TR_OK;
    const StTensor **v = malloc((size_t)n * sizeof *v);
    if (!v) return tr_err(TR_ENOMEM, "safetensors: out of memory");
    for (int i = 0; i < n; i++) v[i] = &f->tensors[t0 + i];
    qsort(v, (size_t)n, sizeof *v, cmp_begin);
    const StTensor *prev = NULL; /* the non-empty range reaching furthest so far */
    int rc = TR_OK;
    for (int i = 0; i < n; i++) {
        const StTensor *t = v[i];
        if (t->begin == t->end) continue;
        if (prev && t->begin < prev->end) {
            rc = tr_err(TR_EFORMAT,
                        "%s: tensors '%s' data_offsets [%" PRIu64 ", %" PRIu64 "] and '%s' [%" PRIu64
                        ", %" PRIu64 "] overlap",
                        p, prev->name, prev->begin, prev->end, t->name, t->begin, t->end);
            break;
        }
        if (!prev || t->end > prev->end) prev = t;
    }
    free(v);
    return rc;
}

static int meta_parse(Build *b, const char *p, const cJSON *m) {
    if (cJSON_IsNull(m)) return TR_OK;
    if (!cJSON_IsObject(m)) return tr_err(TR_EFORMAT, "%s: __metadata__ is not a JSON object", p);
    for (const cJSON *c = m->child; c; c = c->next) {
        if (!cJSON_IsString(c) || !c->valuestring)
            return tr_err(TR_EFORMAT, "%s: __metadata__ value for key '%s' is not a string", p, c->string);
        int rc = meta_add(b, c->string, c->valuestring);
        if (rc) return rc;
    }
    return TR_OK;
}

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Maps shard si and appends its tensors and metadata to b. */
static int shard_load(Build *b, int si) {
    StShard *s = &b->f.shards[si];
    int rc = shard_map(s);
    if (rc) return rc;
    const char *p = s->path;
    uint64_t n = rd64(s->map);
    if (n > s->size - 8)
        return tr_err(TR_EFORMAT, "%s: header length %" PRIu64 " past end of file (%zu bytes)", p, n, s->size);
    if (n > ST_MAX_HEADER)
        return tr_err(TR_EFORMAT, "%s: header length %" PRIu64 " is absurd (limit %llu)", p, n, ST_MAX_HEADER);
    s->data_off = 8 + (size_t)n;
    uint64_t dsize = s->size - s->data_off;

    /* A NUL-terminated copy: the parser never sees the tensor data. */
    char *txt = malloc((size_t)n + 1);
    if (!txt) return tr_err(TR_ENOMEM, "%s: out of memory for a %" PRIu64 "-byte header", p, n);
    memcpy(txt, s->map + 8, (size_t)n);
    txt[n] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(txt, (size_t)n, &end, 0);
    int t0 = b->f.n_tensors;
    if (!root) {
        long pos = end ? (long)(end - txt) : -1;
        rc = tr_err(TR_EFORMAT, "%s: header is not valid JSON (error near byte %ld of %" PRIu64 ")", p, pos, n);
        goto cleanup;
    }
    for (const char *q = end; q < txt + n; q++)
        if (!is_ws((unsigned char)*q)) {
            rc = tr_err(TR_EFORMAT, "%s: header has bytes after the JSON value (at byte %ld of %" PRIu64 ")",
                        p, (long)(q - txt), n);
            goto cleanup;
        }
    if (!cJSON_IsObject(root)) {
        rc = tr_err(TR_EFORMAT, "%s: header JSON is not an object", p);
        goto cleanup;
    }
    for (const cJSON *it = root->child; it; it = it->next) {
        const char *key = it->string ? it->string : "";
        if (strcmp(key, "__metadata__") == 0)
            rc = meta_parse(b, p, it);
        else
            rc = tensor_parse(b, si, p, key, it, dsize);
        if (rc) goto cleanup;
    }
    rc = check_overlap(&b->f, t0, b->f.n_tensors, p);
cleanup:
    cJSON_Delete(root);
    free(txt);
    return rc;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const StTensor *)a)->name, ((const StTensor *)b)->name);
}

/* Sorts tensors by name and refuses a name seen twice (in one header or in
 * two shards). `top` is what st_open was given. */
static int sort_tensors(Build *b, const char *top) {
    StFile *f = &b->f;
    if (f->n_tensors > 1) qsort(f->tensors, (size_t)f->n_tensors, sizeof(StTensor), cmp_tensor_name);
    for (int i = 1; i < f->n_tensors; i++) {
        const StTensor *x = &f->tensors[i - 1], *y = &f->tensors[i];
        if (strcmp(x->name, y->name) != 0) continue;
        if (x->shard == y->shard)
            return tr_err(TR_EFORMAT, "%s: tensor '%s' appears twice in the header", f->shards[x->shard].path,
                          x->name);
        return tr_err(TR_EFORMAT, "%s: tensor '%s' appears in both %s and %s", top, x->name,
                      f->shards[x->shard].path, f->shards[y->shard].path);
    }
    return TR_OK;
}

static int open_single(Build *b, const char *path) {
    int rc = add_shard(b, path);
    if (!rc) rc = shard_load(b, 0);
    if (!rc) rc = sort_tensors(b, path);
    return rc;
}

static char *path_join(const char *dir, const char *name) {
    if (name[0] == '/') return dupstr(name);
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *path_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return dupstr(".");
    if (slash == path) return dupstr("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = 0;
    }
    return d;
}

typedef struct {
    const char *name; /* points into the index JSON */
    int shard;
} WmEntry;

static int cmp_wm(const void *a, const void *b) {
    return strcmp(((const WmEntry *)a)->name, ((const WmEntry *)b)->name);
}

static int index_meta(Build *b, const char *ip, const cJSON *md) {
    if (!md || cJSON_IsNull(md)) return TR_OK;
    if (!cJSON_IsObject(md)) return tr_err(TR_EFORMAT, "%s: metadata is not a JSON object", ip);
    for (const cJSON *c = md->child; c; c = c->next) {
        char num[64];
        int rc;
        if (cJSON_IsString(c) && c->valuestring) {
            rc = meta_add(b, c->string, c->valuestring);
        } else if (cJSON_IsNumber(c)) {
            double d = c->valuedouble;
            if (d == floor(d) && fabs(d) < 9.2e18)
                snprintf(num, sizeof num, "%lld", (long long)d);
            else
                snprintf(num, sizeof num, "%.17g", d);
            rc = meta_add(b, c->string, num);
        } else {
            char *s = cJSON_PrintUnformatted(c);
            if (!s) return tr_err(TR_ENOMEM, "%s: out of memory", ip);
            rc = meta_add(b, c->string, s);
            cJSON_free(s);
        }
        if (rc) return rc;
    }
    return TR_OK;
}

/* A shard named by an index stays inside the index's folder: a relative
 * path with no '..' component (an index from elsewhere must not read
 * arbitrary files). */
static int shard_name_ok(const char *n) {
    if (n[0] == '/' || n[0] == '\\') return 0;
    for (const char *p = n; *p;) {
        size_t k = strcspn(p, "/\\");
        if (k == 2 && p[0] == '.' && p[1] == '.') return 0;
        p += k;
        if (*p) p++;
    }
    return 1;
}

static int open_index(Build *b, const char *ip) {
    size_t len = 0;
    int rc = TR_OK;
    WmEntry *w = NULL;
    const char **raw = NULL;   /* shard file names as the index spells them */
    const char **first = NULL; /* a tensor naming each shard, for messages */
    cJSON *root = NULL;
    char *dir = NULL;
    char *txt = tr_read_file(ip, &len);
    if (!txt) return TR_EIO;
    root = cJSON_ParseWithLength(txt, len);
    if (!root) {
        rc = tr_err(TR_EFORMAT, "%s: index is not valid JSON", ip);
        goto cleanup;
    }
    if (!cJSON_IsObject(root)) {
        rc = tr_err(TR_EFORMAT, "%s: index JSON is not an object", ip);
        goto cleanup;
    }
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!wm) {
        rc = tr_err(TR_EFORMAT, "%s: missing weight_map", ip);
        goto cleanup;
    }
    if (!cJSON_IsObject(wm)) {
        rc = tr_err(TR_EFORMAT, "%s: weight_map is not a JSON object", ip);
        goto cleanup;
    }
    if ((rc = index_meta(b, ip, cJSON_GetObjectItemCaseSensitive(root, "metadata")))) goto cleanup;
    dir = path_dir(ip);
    int nw = cJSON_GetArraySize(wm), k = 0;
    w = malloc((size_t)(nw ? nw : 1) * sizeof *w);
    raw = malloc((size_t)(nw ? nw : 1) * sizeof *raw);
    first = malloc((size_t)(nw ? nw : 1) * sizeof *first);
    if (!dir || !w || !raw || !first) {
        rc = tr_err(TR_ENOMEM, "%s: out of memory", ip);
        goto cleanup;
    }
    for (const cJSON *c = wm->child; c; c = c->next, k++) {
        if (!cJSON_IsString(c) || !c->valuestring || !c->valuestring[0]) {
            rc = tr_err(TR_EFORMAT, "%s: weight_map entry for tensor '%s' is not a shard file name", ip,
                        c->string);
            goto cleanup;
        }
        if (!shard_name_ok(c->valuestring)) {
            rc = tr_err(TR_EFORMAT,
                        "%s: weight_map entry for tensor '%s': shard '%s' must name a file inside the index's "
                        "folder (no absolute path, no '..' component)",
                        ip, c->string, c->valuestring);
            goto cleanup;
        }
        int si = 0;
        while (si < b->f.n_shards && strcmp(raw[si], c->valuestring) != 0) si++;
        if (si == b->f.n_shards) {
            char *sp = path_join(dir, c->valuestring);
            if (!sp) {
                rc = tr_err(TR_ENOMEM, "%s: out of memory", ip);
                goto cleanup;
            }
            rc = add_shard(b, sp);
            free(sp);
            if (rc) goto cleanup;
            raw[si] = c->valuestring;
            first[si] = c->string;
        }
        w[k].name = c->string;
        w[k].shard = si;
    }
    for (int si = 0; si < b->f.n_shards; si++)
        if ((rc = shard_load(b, si))) {
            rc = tr_err_ctx(rc, "%s: shard '%s' (holding tensor '%s')", ip, raw[si], first[si]);
            goto cleanup;
        }
    if ((rc = sort_tensors(b, ip))) goto cleanup;
    if (nw > 1) qsort(w, (size_t)nw, sizeof *w, cmp_wm);
    for (int i = 1; i < nw; i++)
        if (strcmp(w[i - 1].name, w[i].name) == 0) {
            rc = tr_err(TR_EFORMAT, "%s: weight_map lists tensor '%s' twice", ip, w[i].name);
            goto cleanup;
        }
    /* Both lists are sorted by name: walk them together. */
    int i = 0, j = 0;
    const StTensor *ts = b->f.tensors;
    while (i < nw || j < b->f.n_tensors) {
        int c = i == nw ? 1 : j == b->f.n_tensors ? -1 : strcmp(w[i].name, ts[j].name);
        if (c < 0) {
            rc = tr_err(TR_EFORMAT, "%s: weight_map names tensor '%s' in shard '%s', but that shard has no such tensor",
                        ip, w[i].name, raw[w[i].shard]);
            goto cleanup;
        }
        if (c > 0) {
            rc = tr_err(TR_EFORMAT, "%s: tensor '%s' in shard '%s' is not listed in weight_map", ip, ts[j].name,
                        raw[ts[j].shard]);
            goto cleanup;
        }
        if (w[i].shard != ts[j].shard) {
            rc = tr_err(TR_EFORMAT,
                        "%s: weight_map names tensor '%s' in shard '%s', but that shard has no such tensor "
                        "(it is in '%s')",
                        ip, w[i].name, raw[w[i].shard], raw[ts[j].shard]);
            goto cleanup;
        }
        i++;
        j++;
    }
cleanup:
    cJSON_Delete(root);
    free(txt);
    free(w);
    free(raw);
    free(first);
    free(dir);
    return rc;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

int st_open(StFile *out, const char *path) {
    if (!out) return tr_err(TR_EINVAL, "st_open: NULL StFile");
    memset(out, 0, sizeof *out);
    if (!path || !path[0]) return tr_err(TR_EINVAL, "st_open: empty path");
    Build b;
    memset(&b, 0, sizeof b);
    int rc;
    struct stat st;
    b.f.path = dupstr(path);
    if (!b.f.path) return tr_err(TR_ENOMEM, "st_open: out of memory");
    if (stat(path, &st) != 0) {
        rc = tr_err(TR_EIO, "%s: cannot open: %s", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        /* transformers prefers the single file when both are present */
        char *single = path_join(path, "model.safetensors");
        char *index = path_join(path, "model.safetensors.index.json");
        if (!single || !index)
            rc = tr_err(TR_ENOMEM, "st_open: out of memory");
        else if (is_file(single))
            rc = open_single(&b, single);
        else if (is_file(index))
            rc = open_index(&b, index);
        else
            rc = tr_err(TR_EIO, "%s: directory holds neither model.safetensors nor model.safetensors.index.json",
                        path);
        free(single);
        free(index);
    } else if (ends_with(path, ".json")) {
        rc = open_index(&b, path);
    } else {
        rc = open_single(&b, path);
    }
    if (rc) {
        st_close(&b.f);
        return rc;
    }
    *out = b.f;
    return TR_OK;
}

void st_close(StFile *f) {
    if (!f) return;
    if (f->shards)
        for (int i = 0; i < f->n_shards; i++) {
            StShard *s = &f->shards[i];
            if (s->map) munmap(s->map, s->size);
            free(s->path);
        }
    if (f->tensors)
        for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    if (f->meta)
        for (int i = 0; i < 2 * f->n_meta; i++) free(f->meta[i]);
    free(f->shards);
    free(f->tensors);
    free(f->meta);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static int cmp_find(const void *key, const void *elem) {
    return strcmp((const char *)key, ((const StTensor *)elem)->name);
}

const StTensor *st_find(const StFile *f, const char *name) {
    if (!f || !name || !f->tensors || f->n_tensors <= 0) return NULL;
    return bsearch(name, f->tensors, (size_t)f->n_tensors, sizeof(StTensor), cmp_find);
}

const void *st_data(const StFile *f, const StTensor *t) {
    if (!f || !t || t->shard < 0 || t->shard >= f->n_shards || !f->shards) return NULL;
    const StShard *s = &f->shards[t->shard];
    if (!s->map || t->end < t->begin || t->end > s->size - s->data_off) return NULL;
    return s->map + s->data_off + t->begin;
}

/* Shared argument checks of the readers; returns the tensor bytes or NULL. */
static const unsigned char *read_prep(const char *fn, const StFile *f, const StTensor *t, const void *dst,
                                      size_t n, int *rc) {
    const unsigned char *p = st_data(f, t);
    if (!p) {
        *rc = tr_err(TR_EINVAL, "%s: tensor '%s' does not belong to this file", fn, t && t->name ? t->name : "?");
        return NULL;
    }
    const char *sp = f->shards[t->shard].path;
    if ((uint64_t)n != (uint64_t)t->numel) {
        *rc = tr_err(TR_EINVAL, "%s: tensor '%s': asked for %zu elements, tensor holds %" PRId64, sp, t->name, n,
                     t->numel);
        return NULL;
    }
    if (n && !dst) {
        *rc = tr_err(TR_EINVAL, "%s: tensor '%s': NULL destination", sp, t->name);
        return NULL;
    }
    *rc = TR_OK;
    return p;
}

int st_read_f32(const StFile *f, const StTensor *t, float *dst, size_t n) {
    int rc;
    const unsigned char *p = read_prep("st_read_f32", f, t, dst, n, &rc);
    if (!p) return rc;
    switch (t->dtype) {
    case ST_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (n) memcpy(dst, p, n * 4);
#else
        for (size_t i = 0; i < n; i++) {
            uint32_t u = rd32(p + 4 * i);
            memcpy(&dst[i], &u, 4);
        }
#endif
        return TR_OK;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = st_bf16_to_f32(rd16(p + 2 * i));
        return TR_OK;
    case ST_F16:
        for (size_t i = 0; i < n; i++) dst[i] = st_f16_to_f32(rd16(p + 2 * i));
        return TR_OK;
    case ST_F64:
        for (size_t i = 0; i < n; i++) {
            uint64_t u = rd64(p + 8 * i);
            double d;
            memcpy(&d, &u, 8);
            dst[i] = (float)d;
        }
        return TR_OK;
    default:
        return tr_err(TR_EFORMAT, "%s: tensor '%s': dtype %s cannot be read as fp32 (F32, F16, BF16, F64 only)",
                      f->shards[t->shard].path, t->name, st_dtype_name(t->dtype));
    }
}

int st_read_i32(const StFile *f, const StTensor *t, int32_t *dst, size_t n) {
    int rc;
    const unsigned char *p = read_prep("st_read_i32", f, t, dst, n, &rc);
    if (!p) return rc;
    const char *sp = f->shards[t->shard].path;
    switch (t->dtype) {
    case ST_I64:
        for (size_t i = 0; i < n; i++) {
            int64_t v = (int64_t)rd64(p + 8 * i);
            if (v < INT32_MIN || v > INT32_MAX)
                return tr_err(TR_EFORMAT, "%s: tensor '%s': element %zu = %" PRId64 " is outside int32", sp,
                              t->name, i, v);
            dst[i] = (int32_t)v;
        }
        return TR_OK;
    case ST_I32:
        for (size_t i = 0; i < n; i++) dst[i] = (int32_t)rd32(p + 4 * i);
        return TR_OK;
    case ST_I16:
        for (size_t i = 0; i < n; i++) dst[i] = (int16_t)rd16(p + 2 * i);
        return TR_OK;
    case ST_I8:
        for (size_t i = 0; i < n; i++) dst[i] = (int8_t)p[i];
        return TR_OK;
    case ST_U8:
        for (size_t i = 0; i < n; i++) dst[i] = p[i];
        return TR_OK;
    case ST_BOOL:
        for (size_t i = 0; i < n; i++) {
            if (p[i] > 1)
                return tr_err(TR_EFORMAT, "%s: tensor '%s': BOOL element %zu = %d is neither 0 nor 1", sp, t->name,
                              i, p[i]);
            dst[i] = p[i];
        }
        return TR_OK;
    default:
        return tr_err(TR_EFORMAT,
                      "%s: tensor '%s': dtype %s cannot be read as int32 (I64, I32, I16, I8, U8, BOOL only)", sp,
                      t->name, st_dtype_name(t->dtype));
    }
}

/* ---- writing ---- */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} Str;

static void str_add(Str *s, const char *x, size_t n) {
    if (s->oom) return;
    if (s->len + n + 1 > s->cap) {
        size_t nc = s->cap ? s->cap : 4096;
        while (nc < s->len + n + 1) nc *= 2;
        char *np = realloc(s->p, nc);
        if (!np) {
            s->oom = 1;
            return;
        }
        s->p = np;
        s->cap = nc;
    }
    memcpy(s->p + s->len, x, n);
    s->len += n;
    s->p[s->len] = 0;
}

static void str_puts(Str *s, const char *x) { str_add(s, x, strlen(x)); }

static void str_json(Str *s, const char *x) {
    str_add(s, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)x; *c; c++) {
        char e[8];
        if (*c == '"' || *c == '\\') {
            e[0] = '\\';
            e[1] = (char)*c;
            str_add(s, e, 2);
        } else if (*c < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", *c);
            str_add(s, e, 6);
        } else {
            str_add(s, (const char *)c, 1);
        }
    }
    str_add(s, "\"", 1);
}

typedef struct {
    int fd;
    const char *path; /* the final path, for messages */
    unsigned char *buf;
    size_t len, cap;
} Out;

static int out_flush(Out *o) {
    size_t off = 0;
    while (off < o->len) {
        ssize_t w = write(o->fd, o->buf + off, o->len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return tr_err(TR_EIO, "%s: write failed: %s", o->path, strerror(errno));
        }
        off += (size_t)w;
    }
    o->len = 0;
    return TR_OK;
}

static int out_put(Out *o, const void *x, size_t n) {
    const unsigned char *c = x;
    while (n) {
        if (o->len == o->cap) {
            int rc = out_flush(o);
            if (rc) return rc;
        }
        size_t k = o->cap - o->len < n ? o->cap - o->len : n;
        memcpy(o->buf + o->len, c, k);
        o->len += k;
        c += k;
        n -= k;
    }
    return TR_OK;
}

/* Converts n elements to the target dtype's little-endian bytes, chunk by
 * chunk through the output buffer. */
static int out_tensor(Out *o, const StWrite *w, int64_t n) {
    size_t es = st_dtype_size(w->dtype);
    int64_t i = 0;
    while (i < n) {
        if (o->cap - o->len < es) {
            int rc = out_flush(o);
            if (rc) return rc;
        }
        int64_t room = (int64_t)((o->cap - o->len) / es), k = n - i < room ? n - i : room;
        unsigned char *d = o->buf + o->len;
        if (w->dtype == ST_BF16) {
            const float *x = (const float *)w->data + i;
            for (int64_t j = 0; j < k; j++) {
                uint16_t h = st_f32_to_bf16(x[j]);
                d[2 * j] = (unsigned char)h;
                d[2 * j + 1] = (unsigned char)(h >> 8);
            }
        } else { /* F32 and I32: copy 4-byte words little-endian */
            const unsigned char *x = (const unsigned char *)w->data + 4 * i;
            for (int64_t j = 0; j < k; j++) {
                uint32_t u;
                memcpy(&u, x + 4 * j, 4);
                d[4 * j] = (unsigned char)u;
                d[4 * j + 1] = (unsigned char)(u >> 8);
                d[4 * j + 2] = (unsigned char)(u >> 16);
                d[4 * j + 3] = (unsigned char)(u >> 24);
            }
        }
        o->len += (size_t)k * es;
        i += k;
    }
    return TR_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Everything st_write refuses, checked before any file is created. */
static int write_check(const char *path, const StWrite *t, int n, const char *const *meta, int n_meta,
                       int64_t *numel) {
    if (n < 0 || (n > 0 && !t)) return tr_err(TR_EINVAL, "%s: st_write: bad tensor list (n = %d)", path, n);
    if (n_meta < 0 || (n_meta > 0 && !meta))
        return tr_err(TR_EINVAL, "%s: st_write: bad metadata list (n_meta = %d)", path, n_meta);
    for (int i = 0; i < n; i++) {
        const StWrite *w = &t[i];
        if (!w->name || !w->name[0]) return tr_err(TR_EINVAL, "%s: st_write: tensor %d has no name", path, i);
        if (strcmp(w->name, "__metadata__") == 0)
            return tr_err(TR_EINVAL, "%s: st_write: '__metadata__' is not a tensor name", path);
        if (w->dtype != ST_F32 && w->dtype != ST_BF16 && w->dtype != ST_I32)
            return tr_err(TR_EINVAL, "%s: st_write: tensor '%s': dtype %s cannot be written (F32, BF16, I32 only)",
                          path, w->name, st_dtype_name(w->dtype));
        if (w->ndim < 0 || w->ndim > ST_MAX_DIMS)
            return tr_err(TR_EINVAL, "%s: st_write: tensor '%s': ndim %d out of range", path, w->name, w->ndim);
        int64_t ne = 1, bytes;
        for (int d = 0; d < w->ndim; d++) {
            if (w->shape[d] < 0)
                return tr_err(TR_EINVAL, "%s: st_write: tensor '%s': shape[%d] = %" PRId64 " is negative", path,
                              w->name, d, w->shape[d]);
            if (__builtin_mul_overflow(ne, w->shape[d], &ne))
                return tr_err(TR_EINVAL, "%s: st_write: tensor '%s': element count overflows", path, w->name);
        }
        if (__builtin_mul_overflow(ne, (int64_t)st_dtype_size(w->dtype), &bytes))
            return tr_err(TR_EINVAL, "%s: st_write: tensor '%s': byte size overflows", path, w->name);
        if (ne > 0 && !w->data)
            return tr_err(TR_EINVAL, "%s: st_write: tensor '%s': NULL data", path, w->name);
        numel[i] = ne;
    }
    for (int i = 0; i < 2 * n_meta; i++)
        if (!meta[i]) return tr_err(TR_EINVAL, "%s: st_write: metadata string %d is NULL", path, i);
    int nn = n > n_meta ? n : n_meta, rc = TR_OK;
    const char **names = malloc((size_t)(nn ? nn : 1) * sizeof *names);
    if (!names) return tr_err(TR_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) names[i] = t[i].name;
    if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 1; i < n && !rc; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            rc = tr_err(TR_EINVAL, "%s: st_write: tensor '%s' listed twice", path, names[i]);
    for (int i = 0; i < n_meta; i++) names[i] = meta[2 * i];
    if (!rc && n_meta > 1) qsort(names, (size_t)n_meta, sizeof *names, cmp_str);
    for (int i = 1; i < n_meta && !rc; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            rc = tr_err(TR_EINVAL, "%s: st_write: metadata key '%s' listed twice", path, names[i]);
    free(names);
    return rc;
}

static void fsync_dir(const char *path) {
    char *d = path_dir(path);
    if (!d) return;
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: some file systems refuse */
        close(fd);
    }
    free(d);
}

int st_write(const char *path, const StWrite *t, int n, const char *const *meta, int n_meta) {
    if (!path || !path[0]) return tr_err(TR_EINVAL, "st_write: empty path");
    int rc = TR_OK, created = 0;
    Str h = {0};
    Out o = {.fd = -1, .path = path};
    char *tmp = NULL;
    int64_t *numel = malloc((size_t)(n > 0 ? n : 1) * sizeof *numel);
    if (!numel) return tr_err(TR_ENOMEM, "%s: out of memory", path);
    if ((rc = write_check(path, t, n, meta, n_meta, numel))) goto cleanup;

    /* Header, tensors in the given order, back to back. */
    char num[96];
    str_puts(&h, "{");
    if (n_meta > 0) {
        str_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) str_puts(&h, ",");
            str_json(&h, meta[2 * i]);
            str_puts(&h, ":");
            str_json(&h, meta[2 * i + 1]);
        }
        str_puts(&h, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const StWrite *w = &t[i];
        if (i || n_meta > 0) str_puts(&h, ",");
        str_json(&h, w->name);
        str_puts(&h, ":{\"dtype\":\"");
        str_puts(&h, st_dtype_name(w->dtype));
        str_puts(&h, "\",\"shape\":[");
        for (int d = 0; d < w->ndim; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", w->shape[d]);
            str_puts(&h, num);
        }
        uint64_t bytes = (uint64_t)numel[i] * st_dtype_size(w->dtype);
        if (__builtin_add_overflow(off, bytes, &bytes)) {
            rc = tr_err(TR_EINVAL, "%s: st_write: total size overflows", path);
            goto cleanup;
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, bytes);
        str_puts(&h, num);
        off = bytes;
    }
    str_puts(&h, "}");
    while (!h.oom && h.len % 8) str_puts(&h, " ");
    if (h.oom) {
        rc = tr_err(TR_ENOMEM, "%s: out of memory building the header", path);
        goto cleanup;
    }

    size_t pl = strlen(path) + 32;
    tmp = malloc(pl);
    o.cap = 1 << 20;
    o.buf = malloc(o.cap);
    if (!tmp || !o.buf) {
        rc = tr_err(TR_ENOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    snprintf(tmp, pl, "%s.tmp.%ld", path, (long)getpid());
    o.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o.fd < 0) {
        rc = tr_err(TR_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto cleanup;
    }
    created = 1;
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    if ((rc = out_put(&o, lenb, 8)) || (rc = out_put(&o, h.p, h.len))) goto cleanup;
    for (int i = 0; i < n; i++)
        if ((rc = out_tensor(&o, &t[i], numel[i]))) goto cleanup;
    if ((rc = out_flush(&o))) goto cleanup;
    if (fsync(o.fd) != 0) {
        rc = tr_err(TR_EIO, "%s: fsync failed: %s", tmp, strerror(errno));
        goto cleanup;
    }
    int cr = close(o.fd);
    o.fd = -1;
    if (cr != 0) {
        rc = tr_err(TR_EIO, "%s: close failed: %s", tmp, strerror(errno));
        goto cleanup;
    }
    if (rename(tmp, path) != 0) {
        rc = tr_err(TR_EIO, "%s: rename from %s failed: %s", path, tmp, strerror(errno));
        goto cleanup;
    }
    fsync_dir(path);
cleanup:
    if (o.fd >= 0) close(o.fd);
    if (rc && created) unlink(tmp);
    free(tmp);
    free(o.buf);
    free(h.p);
    free(numel);
    return rc;
}
