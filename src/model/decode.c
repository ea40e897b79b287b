/* The KV cache and the cached forward: tokens appended to cache slots go
 * through the model's own kernels (RMSNorm, GEMMs, RoPE tables, SwiGLU) and
 * attend to the keys their slot holds. One pass can mix prefills of several
 * prompts and single decode tokens of many sequences. No backward here:
 * training recomputes with model_forward. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "thinkrl/core.h"
#include "thinkrl/generate.h"
#include "thinkrl/kernels.h"
#include "thinkrl/model.h"
#include "kernels/v16.h"
#include "kernels/vmath.h"

/* Queries per attention tile when a run of at least DEC_GEMM_MIN
 * consecutive tokens of one slot (a prefill) goes through sgemm; shorter
 * runs use vector loops. Passes hold at most max(slots, DEC_CHUNK_MIN)
 * tokens (longer prefills are split). */
#define DEC_QT 64
#define DEC_GEMM_MIN 4
#define DEC_CHUNK_MIN 1024

struct KVScratch {
    size_t capN;                 /* rows the buffers hold */
    float *x;                    /* (N, C) residual stream */
    float *ln;                   /* (N, C) normed input of a block */
    float *rstd;                 /* (N) */
    float *qkv;                  /* (N, QKV) */
    float *att;                  /* (N, NH*HS) */
    float *gu;                   /* (N, 2F) */
    float *h;                    /* (N, F) */
    float *cs;                   /* (N, HS) rope cos | sin */
    int32_t *ids, *slot, *pos;   /* (N) the rows of one pass */
    int32_t *run_slot, *run_r0, *run_n; /* (N) runs of consecutive rows of one slot */
    int32_t *out_row;            /* (N) rows whose logits are wanted */
    float *lnf;                  /* (N, C) final-normed rows whose logits are wanted */
    float *lnf_rstd;             /* (N) */
    size_t capS;                 /* floats of attention scratch */
    float *sc;                   /* per thread: (max(DEC_QT, G), T) scores, then (HS, Tp) keys */
    int sc_threads;
    int32_t *mark;               /* (S) slot use within a call */
    /* kvcache_pack: the weights of `packed_for` as panels (wpk_bytes), per
     * layer wqkv, wo, wgu, wd, then the head; wpk_mat[4 l + j] is matrix j
     * of layer l, wpk_mat[4 L] the head. NULL when not packed. */
    float *wpk;
    size_t wpk_bytes;
    const float **wpk_mat;
    const Model *packed_for;
};

static int qkv_dim(const ModelConfig *c) { return (c->NH + 2 * c->KVH) * c->HS; }

/* Keys are stored in blocks of KB positions: (HS, KB) per block, blocks in
 * position order. Scores of one query against a block are KB-wide vector
 * work and the blocks of a slot are read as one sequential stream. Values
 * stay (T, HS) rows. Both are padded to a multiple of KB positions. */
#define KB 16

static inline int pad_len(int T) { return (T + KB - 1) / KB * KB; }

size_t kvcache_bytes(const ModelConfig *c, int slots, int max_len) {
    double b = 2.0 * sizeof(float) * (double)c->L * slots * c->KVH * (double)pad_len(max_len) * c->HS;
    return b > (double)SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)b;
}

static void scratch_free(KVScratch *s) {
    if (!s) return;
    void *ps[] = {s->x, s->ln, s->rstd, s->qkv, s->att, s->gu, s->h, s->cs, s->ids, s->slot, s->pos,
                  s->run_slot, s->run_r0, s->run_n, s->out_row, s->lnf, s->lnf_rstd, s->sc, s->mark};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) tr_free(ps[i]);
    tr_free(s->wpk);
    free(s->wpk_mat);
    memset(s, 0, sizeof *s);
}

int kvcache_create(KVCache *kv, const ModelConfig *c, int slots, int max_len) {
    memset(kv, 0, sizeof *kv);
    if (slots < 1 || max_len < 1)
        return tr_err(TR_EINVAL, "kv cache: slots (%d) and max_len (%d) must be positive", slots, max_len);
    if (max_len > c->max_pos)
        return tr_err(TR_EINVAL, "kv cache: max_len %d exceeds max_position_embeddings %d", max_len,
                      c->max_pos);
    size_t bytes = kvcache_bytes(c, slots, max_len);
    if (bytes >= SIZE_MAX / 4)
        return tr_err(TR_ENOMEM, "kv cache: %d slots x %d positions is too large", slots, max_len);
    kv->S = slots;
    kv->T = max_len;
    kv->L = c->L;
    kv->KVH = c->KVH;
    kv->HS = c->HS;
    kv->chunk = slots > DEC_CHUNK_MIN ? slots : DEC_CHUNK_MIN;
    /* zeroed: the last key block of a slot is read whole, lanes past its
     * length included (their scores are never used) */
    kv->k = tr_calloc(bytes / 2);
    kv->v = tr_alloc(bytes / 2);
    kv->len = tr_calloc((size_t)slots * sizeof(int32_t));
    kv->scr = calloc(1, sizeof(KVScratch));
    if (kv->scr) kv->scr->mark = tr_calloc((size_t)slots * sizeof(int32_t));
    if (!kv->k || !kv->v || !kv->len || !kv->scr || !kv->scr->mark) {
        kvcache_free(kv);
        return tr_err(TR_ENOMEM, "kv cache: out of memory for %d slots x %d positions (%.1f MiB)", slots,
                      max_len, bytes / 1048576.0);
    }
    return TR_OK;
}

void kvcache_free(KVCache *kv) {
    if (!kv) return;
    tr_free(kv->k);
    tr_free(kv->v);
    tr_free(kv->len);
    scratch_free(kv->scr);
    free(kv->scr);
    memset(kv, 0, sizeof *kv);
}

void kvcache_reset(KVCache *kv, int slot) {
    TR_ASSERT(slot >= 0 && slot < kv->S);
    kv->len[slot] = 0;
}

/* First float of (layer l, slot s, kv head kh) in k or v. */
static inline size_t kv_off(const KVCache *kv, int l, int s, int kh) {
    return (((size_t)l * kv->S + s) * kv->KVH + kh) * (size_t)pad_len(kv->T) * kv->HS;
}

int kvcache_copy(KVCache *kv, int src, const int *dst, int n) {
    if (src < 0 || src >= kv->S) return tr_err(TR_EINVAL, "kv cache: source slot %d out of range", src);
    for (int i = 0; i < n; i++)
        if (dst[i] < 0 || dst[i] >= kv->S || dst[i] == src)
            return tr_err(TR_EINVAL, "kv cache: destination slot %d invalid (source %d, %d slots)", dst[i],
                          src, kv->S);
    const size_t bytes = (size_t)kv->len[src] * kv->HS * sizeof(float);
    const size_t kbytes = (size_t)pad_len(kv->len[src]) * kv->HS * sizeof(float);
    const int per = kv->L * kv->KVH;
#pragma omp parallel for schedule(static) collapse(2)
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < per; j++) {
            int l = j / kv->KVH, kh = j % kv->KVH;
            size_t so = kv_off(kv, l, src, kh), d = kv_off(kv, l, dst[i], kh);
            memcpy(kv->k + d, kv->k + so, kbytes); /* whole key blocks */
            memcpy(kv->v + d, kv->v + so, bytes);
        }
    }
    for (int i = 0; i < n; i++) kv->len[dst[i]] = kv->len[src];
    return TR_OK;
}

/* The packed matrices of a model in kvcache_pack's order: (OUT, IN) of
 * matrix j of layer l (j < 4), then the head (j = 0, l = L). */
static void pack_shape(const ModelConfig *c, int l, int j, int *out, int *in) {
    const int Q = qkv_dim(c), A = c->NH * c->HS;
    const int outs[4] = {Q, c->C, 2 * c->F, c->C}, ins[4] = {c->C, A, c->C, c->F};
    *out = l == c->L ? c->V : outs[j];
    *in = l == c->L ? c->C : ins[j];
}

size_t kvcache_pack_bytes(const ModelConfig *c) {
    size_t f = 0;
    int o, i;
    for (int l = 0; l < c->L; l++)
        for (int j = 0; j < 4; j++) {
            pack_shape(c, l, j, &o, &i);
            f += wpack_floats(o, i);
        }
    pack_shape(c, c->L, 0, &o, &i);
    return (f + wpack_floats(o, i)) * sizeof(float);
}

int kvcache_pack(KVCache *kv, const Model *m) {
    const ModelConfig *c = &m->cfg;
    KVScratch *s = kv->scr;
    if (c->L != kv->L || c->KVH != kv->KVH || c->HS != kv->HS)
        return tr_err(TR_EINVAL, "kv cache: packing weights of another model shape");
    const size_t bytes = kvcache_pack_bytes(c);
    s->packed_for = NULL;
    if (s->wpk_bytes != bytes) {
        tr_free(s->wpk);
        free(s->wpk_mat);
        s->wpk = tr_alloc(bytes);
        s->wpk_mat = malloc((size_t)(4 * c->L + 1) * sizeof *s->wpk_mat);
        s->wpk_bytes = s->wpk && s->wpk_mat ? bytes : 0;
        if (!s->wpk_bytes)
            return tr_err(TR_ENOMEM, "kv cache: out of memory for the packed weights (%.1f MiB)",
                          bytes / 1048576.0);
    }
    float *d = s->wpk;
    int o, i;
    for (int l = 0; l <= c->L; l++) {
        const LayerView *w = l < c->L ? &m->w.layer[l] : NULL;
        const float *src[4] = {w ? w->wqkv : m->w.head, w ? w->wo : NULL, w ? w->wgu : NULL, w ? w->wd : NULL};
        for (int j = 0; j < (w ? 4 : 1); j++) {
            pack_shape(c, l, j, &o, &i);
            wpack(d, src[j], o, i);
            s->wpk_mat[4 * l + j] = d;
            d += wpack_floats(o, i);
        }
    }
    s->packed_for = m;
    return TR_OK;
}

/* Packed matrix j of layer l (l = L: the head), or NULL when the cache holds
 * no packed weights of m. */
static const float *packed(const KVCache *kv, const Model *m, int l, int j) {
    const KVScratch *s = kv->scr;
    return s->packed_for == m ? s->wpk_mat[4 * l + j] : NULL;
}

/* Grows the pass scratch to N rows and the score scratch to the current
 * thread count. */
size_t kvcache_scratch_bytes(const ModelConfig *c, int slots, int max_len, size_t rows, int threads) {
    size_t chunk = (size_t)(slots > DEC_CHUNK_MIN ? slots : DEC_CHUNK_MIN), N = rows < chunk ? rows : chunk;
    size_t G = (size_t)(c->NH / c->KVH), T = (size_t)max_len;
    size_t per = (G > DEC_QT ? G : DEC_QT) * T + (size_t)c->HS * pad_len(max_len);
    const size_t C = c->C, F = c->F, Q = qkv_dim(c), A = (size_t)c->NH * c->HS;
    /* the buffers of scratch_reserve: 10 float arrays, 7 int32 arrays */
    size_t f = N * C * 3 + N * 2 + N * Q + N * A + N * 3 * F + N * c->HS, i = N * 7;
    return ((size_t)threads * per + f + i) * 4;
}

static int scratch_reserve(KVCache *kv, const ModelConfig *c, size_t N) {
    KVScratch *s = kv->scr;
    int nt = tr_threads();
    int G = c->NH / c->KVH;
    /* scores of a tile (or of G heads), then the keys of a slot unblocked
     * into an (HS, T) matrix for the prefill sgemm */
    size_t per = (size_t)(G > DEC_QT ? G : DEC_QT) * kv->T + (size_t)c->HS * pad_len(kv->T);
    if (nt > s->sc_threads || !s->sc) {
        tr_free(s->sc);
        s->sc = tr_alloc((size_t)nt * per * sizeof(float));
        if (!s->sc) {
            s->sc_threads = 0;
            return tr_err(TR_ENOMEM, "kv cache: out of memory for attention scratch");
        }
        s->sc_threads = nt;
        s->capS = (size_t)nt * per;
    }
    if (N <= s->capN) return TR_OK;
    const size_t C = c->C, F = c->F, Q = qkv_dim(c), A = (size_t)c->NH * c->HS;
    float **fp[] = {&s->x, &s->ln, &s->rstd, &s->qkv, &s->att, &s->gu, &s->h, &s->cs, &s->lnf, &s->lnf_rstd};
    size_t fn[] = {N * C, N * C, N, N * Q, N * A, N * 2 * F, N * F, N * c->HS, N * C, N};
    int32_t **ip[] = {&s->ids, &s->slot, &s->pos, &s->run_slot, &s->run_r0, &s->run_n, &s->out_row};
    int bad = 0;
    for (size_t i = 0; i < sizeof fp / sizeof fp[0]; i++) {
        tr_free(*fp[i]);
        *fp[i] = tr_alloc(fn[i] * sizeof(float));
        bad |= *fp[i] == NULL;
    }
    for (size_t i = 0; i < sizeof ip / sizeof ip[0]; i++) {
        tr_free(*ip[i]);
        *ip[i] = tr_alloc(N * sizeof(int32_t));
        bad |= *ip[i] == NULL;
    }
    if (bad) {
        s->capN = 0;
        return tr_err(TR_ENOMEM, "kv cache: out of memory for a pass of %zu tokens", N);
    }
    s->capN = N;
    return TR_OK;
}

/* ---- attention over the cache ---- */

/* Scores of one query against keys 0..nk-1 of a slot's key blocks:
 * s[k] = scale * sum_e q[e] K[k][e], four blocks (64 keys) at a time in
 * registers. A partial last block is computed whole (its extra lanes hold
 * zeros or stale keys) and only its first lanes are stored. */
static void scores_one(float *s, const float *q, const float *Kb, int HS, int nk, float scale) {
    const size_t bs = (size_t)HS * KB;
    const int nfull = nk / KB;
    int b = 0;
    for (; b + 4 <= nfull; b += 4) {
        const float *k0 = Kb + (size_t)b * bs, *k1 = k0 + bs, *k2 = k1 + bs, *k3 = k2 + bs;
        v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int e = 0; e < HS; e++) {
            const float qe = q[e];
            /* the next four blocks, a line each per e: the cache is read
             * from memory once per step, and its streams are short (one
             * slot and head), so the hardware prefetcher starts late */
            if (b + 4 < nfull) {
                __builtin_prefetch(k0 + 4 * bs + e * KB);
                __builtin_prefetch(k1 + 4 * bs + e * KB);
                __builtin_prefetch(k2 + 4 * bs + e * KB);
                __builtin_prefetch(k3 + 4 * bs + e * KB);
            }
            a0 += qe * ld16(k0 + e * KB);
            a1 += qe * ld16(k1 + e * KB);
            a2 += qe * ld16(k2 + e * KB);
            a3 += qe * ld16(k3 + e * KB);
        }
        st16(s + b * KB, a0 * scale);
        st16(s + b * KB + 16, a1 * scale);
        st16(s + b * KB + 32, a2 * scale);
        st16(s + b * KB + 48, a3 * scale);
    }
    for (; b * KB < nk; b++) {
        const float *kb = Kb + (size_t)b * bs;
        v16 a0 = {0};
        for (int e = 0; e < HS; e++) a0 += q[e] * ld16(kb + e * KB);
        a0 *= scale;
        if ((b + 1) * KB <= nk) {
            st16(s + b * KB, a0);
        } else {
            float t[KB];
            st16(t, a0);
            memcpy(s + b * KB, t, (size_t)(nk - b * KB) * sizeof(float));
        }
    }
}

/* o (HS) = sum_k p[k] V[k] over the first nk value rows, 32 columns at a
 * time in registers. */
static void weighted_values(float *o, const float *p, const float *V, int HS, int nk) {
    int d0 = 0;
    for (; d0 + 32 <= HS; d0 += 32) {
        v16 a0 = {0}, a1 = {0};
        for (int k = 0; k < nk; k++) {
            const float pk = p[k], *vr = V + (size_t)k * HS + d0;
            /* 16 rows ahead (a prefetch past the row count is harmless) */
            __builtin_prefetch(vr + 16 * (size_t)HS);
            __builtin_prefetch(vr + 16 * (size_t)HS + 16);
            a0 += pk * ld16(vr);
            a1 += pk * ld16(vr + 16);
        }
        st16(o + d0, a0);
        st16(o + d0 + 16, a1);
    }
    for (int d = d0; d < HS; d++) {
        float a = 0.0f;
        for (int k = 0; k < nk; k++) a += p[k] * V[(size_t)k * HS + d];
        o[d] = a;
    }
}

/* Attention of `nq` consecutive queries of one slot (positions p0..) for the
 * G query heads of kv head kh. First stores the run's keys and values of
 * head kh in the cache (nothing else reads them in this layer, so no
 * barrier is needed between storing and attending), then attends to keys
 * 0..p of the slot. q: first row of the run (stride QKV); out: first output
 * row (stride A). Single queries use vector loops over the key blocks;
 * runs of DEC_GEMM_MIN or more (prefills) use sgemm tiles as
 * attention_forward does. */
static void attend_run(KVCache *kv, const ModelConfig *c, int l, int slot, int kh, int p0, int nq,
                       const float *q, float *out, float *sc) {
    const int HS = c->HS, G = c->NH / c->KVH, QKV = qkv_dim(c), A = c->NH * c->HS, T = kv->T;
    const float scale = 1.0f / sqrtf((float)HS);
    float *Kb = kv->k + kv_off(kv, l, slot, kh), *V = kv->v + kv_off(kv, l, slot, kh);
    for (int i = 0; i < nq; i++) {
        const float *row = q + (size_t)i * QKV;
        const float *kr = row + A + (size_t)kh * HS;
        const int p = p0 + i;
        float *dst = Kb + (size_t)(p / KB) * HS * KB + p % KB;
        for (int e = 0; e < HS; e++) dst[e * KB] = kr[e];
        memcpy(V + (size_t)p * HS, row + A + (size_t)(c->KVH + kh) * HS, (size_t)HS * sizeof(float));
    }
    /* the (HS, hi) key matrix of the prefill sgemm, unblocked once per run */
    float *Kt = NULL;
    const int hi_all = p0 + nq;
    if (nq >= DEC_GEMM_MIN) {
        Kt = sc + (size_t)(G > DEC_QT ? G : DEC_QT) * T;
        for (int b = 0; b * KB < hi_all; b++) {
            int w = hi_all - b * KB < KB ? hi_all - b * KB : KB;
            for (int e = 0; e < HS; e++)
                memcpy(Kt + (size_t)e * hi_all + b * KB, Kb + ((size_t)b * HS + e) * KB, (size_t)w * sizeof(float));
        }
    }
    for (int t0 = 0; t0 < nq; t0 += DEC_QT) {
        int n = nq - t0 < DEC_QT ? nq - t0 : DEC_QT;
        int hi = p0 + t0 + n; /* keys [0, hi) */
        if (n >= DEC_GEMM_MIN) {
            for (int g = 0; g < G; g++) {
                int h = kh * G + g;
                sgemm_any(0, 0, n, hi, HS, scale, q + (size_t)t0 * QKV + h * HS, QKV, Kt, hi_all, 0.0f, sc, hi);
                for (int i = 0; i < n; i++) {
                    float *r = sc + (size_t)i * hi;
                    int nk = p0 + t0 + i + 1;
                    (void)vsoftmax_row(r, nk);
                    memset(r + nk, 0, (size_t)(hi - nk) * sizeof(float));
                }
                sgemm_any(0, 0, n, HS, hi, 1.0f, sc, hi, V, HS, 0.0f, out + (size_t)t0 * A + h * HS, A);
            }
            continue;
        }
        for (int i = 0; i < n; i++) {
            const int nk = p0 + t0 + i + 1;
            const float *qi = q + (size_t)(t0 + i) * QKV + (size_t)kh * G * HS;
            float *oi = out + (size_t)(t0 + i) * A + (size_t)kh * G * HS;
            for (int g = 0; g < G; g++) {
                float *s = sc + (size_t)g * T;
                scores_one(s, qi + (size_t)g * HS, Kb, HS, nk, scale);
                (void)vsoftmax_row(s, nk);
                weighted_values(oi + (size_t)g * HS, s, V, HS, nk);
            }
        }
    }
}

/* ---- small products ----
 * OpenBLAS packs the weight matrix on every sgemm call, which for a few
 * rows (batch-1 decode, the tail of a batch) costs more than the product
 * itself. Below DEC_SMALL_M rows the weights are read once, row by row,
 * against all input rows; threads split the output columns. */
#define DEC_SMALL_M 8

static void matmul_small(float *out, const float *inp, const float *W, const float *bias, int N, int IN,
                         int OUT, int accumulate) {
    int nt = tr_threads();
    if ((double)N * IN * OUT < 65536.0) nt = 1;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int o = 0; o < OUT; o++) {
        const float *w = W + (size_t)o * IN;
        const float b = bias ? bias[o] : 0.0f;
        int m = 0;
        for (; m + 4 <= N; m += 4) {
            const float *x0 = inp + (size_t)m * IN, *x1 = x0 + IN, *x2 = x1 + IN, *x3 = x2 + IN;
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
            for (int i = 0; i < IN; i++) {
                a0 += x0[i] * w[i];
                a1 += x1[i] * w[i];
                a2 += x2[i] * w[i];
                a3 += x3[i] * w[i];
            }
            float acc[4] = {a0, a1, a2, a3};
            for (int j = 0; j < 4; j++) {
                float *y = out + (size_t)(m + j) * OUT + o;
                *y = accumulate ? (*y + b) + acc[j] : b + acc[j];
            }
        }
        for (; m < N; m++) {
            float a = vdotf(inp + (size_t)m * IN, w, IN);
            float *y = out + (size_t)m * OUT + o;
            *y = accumulate ? (*y + b) + a : b + a;
        }
    }
}

/* matmul_forward's contract (out (N, OUT) = inp W^T + bias, += when
 * accumulate), picking the small path for few rows. */
static void dec_matmul(float *out, const float *inp, const float *W, const float *Wp, const float *bias, int N,
                       int IN, int OUT, int accumulate) {
    if (N < DEC_SMALL_M) matmul_small(out, inp, W, bias, N, IN, OUT, accumulate);
    else if (Wp) matmul_packed(out, inp, Wp, bias, N, IN, OUT, accumulate);
    else matmul_forward(out, inp, W, bias, N, IN, OUT, accumulate);
}

/* ---- one pass ---- */

/* Runs rows [0, N) of the scratch (ids, slot, pos filled; rows of a slot
 * contiguous and consecutive in position) through the model, appending
 * their keys and values to the cache, and writes the logits of the nout
 * rows out_row[] to logits (nout, V). */
static void forward_rows(const Model *m, KVCache *kv, int N, int nout, float *logits) {
    const ModelConfig *c = &m->cfg;
    KVScratch *s = kv->scr;
    const int C = c->C, F = c->F, Q = qkv_dim(c), A = c->NH * c->HS, HS = c->HS, KVH = c->KVH;
    /* runs */
    int nr = 0;
    for (int r = 0; r < N; r++) {
        if (r > 0 && s->slot[r] == s->slot[r - 1] && s->pos[r] == s->pos[r - 1] + 1) {
            s->run_n[nr - 1]++;
            continue;
        }
        s->run_slot[nr] = s->slot[r];
        s->run_r0[nr] = r;
        s->run_n[nr] = 1;
        nr++;
    }
    rope_tables(s->cs, s->pos, N, m->inv_freq, HS);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++)
        memcpy(s->x + (size_t)r * C, m->w.embed + (size_t)s->ids[r] * C, (size_t)C * sizeof(float));
    const size_t per = s->capS / (size_t)s->sc_threads;
    for (int l = 0; l < c->L; l++) {
        const LayerView *w = &m->w.layer[l];
        rmsnorm_forward(s->ln, s->rstd, s->x, w->ln1, N, C, c->eps);
        dec_matmul(s->qkv, s->ln, w->wqkv, packed(kv, m, l, 0), w->bqkv, N, C, Q, 0);
        /* q heads then k heads are adjacent: one rotation call for both */
        rope_forward(s->qkv, N, Q, 0, c->NH + KVH, HS, s->cs);
#pragma omp parallel
        {
            float *sc = s->sc + (size_t)omp_get_thread_num() * per;
#pragma omp for schedule(dynamic, 1)
            for (int j = 0; j < nr * KVH; j++) {
                int run = j / KVH, kh = j % KVH, r0 = s->run_r0[run];
                attend_run(kv, c, l, s->run_slot[run], kh, s->pos[r0], s->run_n[run],
                           s->qkv + (size_t)r0 * Q, s->att + (size_t)r0 * A, sc);
            }
        }
        dec_matmul(s->x, s->att, w->wo, packed(kv, m, l, 1), w->bo, N, A, C, 1);
        rmsnorm_forward(s->ln, s->rstd, s->x, w->ln2, N, C, c->eps);
        dec_matmul(s->gu, s->ln, w->wgu, packed(kv, m, l, 2), w->bgu, N, C, 2 * F, 0);
        swiglu_forward(s->h, s->gu, N, F);
        dec_matmul(s->x, s->h, w->wd, packed(kv, m, l, 3), w->bd, N, F, C, 1);
    }
    for (int i = 0; i < nr; i++) {
        int last = s->run_r0[i] + s->run_n[i] - 1;
        kv->len[s->run_slot[i]] = s->pos[last] + 1;
    }
    if (nout == 0) return;
    /* Only the rows whose logits are wanted go through the final norm and the
     * LM head (the head dominates small models). */
    if (nout == N) {
        rmsnorm_forward(s->lnf, s->lnf_rstd, s->x, m->w.norm, N, C, c->eps);
    } else {
        for (int i = 0; i < nout; i++)
            memcpy(s->ln + (size_t)i * C, s->x + (size_t)s->out_row[i] * C, (size_t)C * sizeof(float));
        rmsnorm_forward(s->lnf, s->lnf_rstd, s->ln, m->w.norm, nout, C, c->eps);
    }
    dec_matmul(logits, s->lnf, m->w.head, packed(kv, m, c->L, 0), NULL, nout, C, c->V, 0);
}

/* Checks slots (range, distinct, room for `add` more tokens). */
static int check_slots(KVCache *kv, int n, const int *slots, const int *lens, int one) {
    int rc = TR_OK;
    int i = 0;
    for (; i < n; i++) {
        int sl = slots[i], add = one ? 1 : lens[i];
        if (sl < 0 || sl >= kv->S) {
            rc = tr_err(TR_EINVAL, "decode: entry %d: slot %d outside [0, %d)", i, sl, kv->S);
            break;
        }
        if (kv->scr->mark[sl]) {
            rc = tr_err(TR_EINVAL, "decode: entry %d: slot %d appears twice", i, sl);
            break;
        }
        kv->scr->mark[sl] = 1;
        if (add < 1) {
            rc = tr_err(TR_EINVAL, "decode: entry %d: no tokens to append", i);
            break;
        }
        if ((int64_t)kv->len[sl] + add > kv->T) {
            rc = tr_err(TR_EINVAL, "decode: entry %d: slot %d holds %d tokens; %d more exceed its %d positions",
                        i, sl, kv->len[sl], add, kv->T);
            break;
        }
    }
    for (int j = 0; j < n && j <= i; j++)
        if (j < n && slots[j] >= 0 && slots[j] < kv->S) kv->scr->mark[slots[j]] = 0;
    return rc;
}

int decode_prefill(const Model *m, KVCache *kv, int n, const int *slots, const int32_t *const *ids,
                   const int *lens, float *logits) {
    const ModelConfig *c = &m->cfg;
    if (n < 0) return tr_err(TR_EINVAL, "decode_prefill: n = %d", n);
    if (c->L != kv->L || c->KVH != kv->KVH || c->HS != kv->HS)
        return tr_err(TR_EINVAL, "decode_prefill: the cache was made for another model shape");
    int rc = check_slots(kv, n, slots, lens, 0);
    if (rc) return rc;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < lens[i]; j++)
            if (ids[i][j] < 0 || ids[i][j] >= c->V)
                return tr_err(TR_EINVAL, "decode_prefill: entry %d: token %d at position %d is outside the vocabulary (%d)",
                              i, ids[i][j], j, c->V);
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += lens[i];
    size_t cap = (size_t)(total < kv->chunk ? total : kv->chunk);
    if ((rc = scratch_reserve(kv, c, cap ? cap : 1))) return rc;
    KVScratch *s = kv->scr;
    /* Walk the segments in passes of at most `chunk` rows; a segment may
     * straddle passes (its later tokens attend to the cached earlier ones). */
    int seg = 0, off = 0, out_next = 0;
    while (seg < n) {
        int N = 0, nout = 0, out0 = out_next;
        while (seg < n && N < kv->chunk) {
            int sl = slots[seg], take = lens[seg] - off;
            if (take > kv->chunk - N) take = kv->chunk - N;
            /* kv->len counts what earlier passes appended, this segment's
             * first `off` tokens included */
            int base = kv->len[sl];
            for (int j = 0; j < take; j++) {
                s->ids[N + j] = ids[seg][off + j];
                s->slot[N + j] = sl;
                s->pos[N + j] = base + j;
            }
            N += take;
            off += take;
            if (off == lens[seg]) {
                s->out_row[nout++] = N - 1;
                seg++;
                off = 0;
            }
        }
        forward_rows(m, kv, N, logits ? nout : 0, logits ? logits + (size_t)out0 * c->V : NULL);
        out_next += nout;
    }
    return TR_OK;
}

int decode_step(const Model *m, KVCache *kv, int n, const int *slots, const int32_t *tok, float *logits) {
    const ModelConfig *c = &m->cfg;
    if (n < 1) return tr_err(TR_EINVAL, "decode_step: n = %d", n);
    if (c->L != kv->L || c->KVH != kv->KVH || c->HS != kv->HS)
        return tr_err(TR_EINVAL, "decode_step: the cache was made for another model shape");
    if (n > kv->S) return tr_err(TR_EINVAL, "decode_step: %d entries for %d slots", n, kv->S);
    int rc = check_slots(kv, n, slots, NULL, 1);
    if (rc) return rc;
    for (int i = 0; i < n; i++)
        if (tok[i] < 0 || tok[i] >= c->V)
            return tr_err(TR_EINVAL, "decode_step: entry %d: token %d is outside the vocabulary (%d)", i,
                          tok[i], c->V);
    if ((rc = scratch_reserve(kv, c, (size_t)n))) return rc;
    KVScratch *s = kv->scr;
    for (int i = 0; i < n; i++) {
        s->ids[i] = tok[i];
        s->slot[i] = slots[i];
        s->pos[i] = kv->len[slots[i]];
        s->out_row[i] = i;
    }
    forward_rows(m, kv, n, logits ? n : 0, logits);
    return TR_OK;
}
