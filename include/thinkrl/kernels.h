/* CPU kernels of the decoder, each forward with its backward. Backward
 * functions accumulate (+=) into parameter gradients and overwrite input
 * gradients unless stated. Every fast kernel has a naive `_ref` twin used by
 * the tests. Dimension letters: N tokens (B*T), C channels, F ffn width,
 * NH heads, KVH kv heads, HS head size. */
#ifndef THINKRL_KERNELS_H
#define THINKRL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* out = x / sqrt(mean(x^2) + eps) * w, rows of C; rstd (N) saved. */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps);
/* dx (overwritten unless accumulate) and dw (+=). */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, int N, int C, int accumulate);
void rmsnorm_forward_ref(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps);
void rmsnorm_backward_ref(float *dx, float *dw, const float *dout, const float *x, const float *w,
                          const float *rstd, int N, int C, int accumulate);

/* out (N, OUT) = inp (N, IN) @ W^T (W is (OUT, IN), HF layout) + bias.
 * accumulate: add to out instead of overwriting. */
void matmul_forward(float *out, const float *inp, const float *W, const float *bias, int N, int IN,
                    int OUT, int accumulate);
/* dinp (overwritten, or += when accumulate; may be NULL), dW (+=), dbias (+=, may be NULL). */
void matmul_backward(float *dinp, float *dW, float *dbias, const float *dout, const float *inp,
                     const float *W, int N, int IN, int OUT, int accumulate);
/* C (M, N) = alpha op(A) op(B) + beta C, row-major, single-threaded; op
 * transposes when trans* is set. thinkrl's own AVX-512 product, built when
 * the compiler targets AVX-512 (tr_sgemm_available() says so); -1 when it
 * is not built or its packing buffers cannot be allocated, C untouched.
 * Each output is summed over k in one order whatever M and N are split. */
int tr_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);
int tr_sgemm_available(void);
/* The same product, single-threaded, that cannot fail: tr_sgemm where it
 * is built and its buffer can be had, OpenBLAS's sgemm otherwise. */
void sgemm_any(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc);
/* Weights packed for matmul_packed: W (OUT, IN) as panels of WP_NR output
 * columns, each (IN, WP_NR), the last zero-padded. wpack_floats gives the
 * size of dst. Packing costs one pass over W; it pays when the same weights
 * serve many calls (every step of a rollout). */
#define WP_NR 32
size_t wpack_floats(int OUT, int IN);
void wpack(float *dst, const float *W, int OUT, int IN);
/* matmul_forward with packed weights (same contract); each output is summed
 * in one order whatever the thread count. */
void matmul_packed(float *out, const float *inp, const float *Wp, const float *bias, int N, int IN, int OUT,
                   int accumulate);
void matmul_forward_ref(float *out, const float *inp, const float *W, const float *bias, int N,
                        int IN, int OUT, int accumulate);
void matmul_backward_ref(float *dinp, float *dW, float *dbias, const float *dout, const float *inp,
                         const float *W, int N, int IN, int OUT, int accumulate);

/* Rotate-half RoPE in place on `nh` heads of HS starting at column col0 of
 * rows with stride `stride`; cs holds (N, HS/2) cos then (N, HS/2) sin.
 * Backward applies the inverse rotation to the gradient in place. */
void rope_tables(float *cs, const int32_t *pos, int N, const float *inv_freq, int HS);
void rope_forward(float *x, int N, int stride, int col0, int nh, int HS, const float *cs);
void rope_backward(float *dx, int N, int stride, int col0, int nh, int HS, const float *cs);

/* h (N, F) = silu(gu[:, :F]) * gu[:, F:]; gu is (N, 2F). */
void swiglu_forward(float *h, const float *gu, int N, int F);
void swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F);

/* Attention over a batch in the model's layout: qkv (B*T, QKV) rows hold q
 * (NH*HS) then k (KVH*HS) then v (KVH*HS), already rotated. Visibility: see
 * ModelBatch in model.h (seg may be NULL, mask may be NULL). out (B*T,
 * NH*HS); lse (B, NH, T) log-sum-exp of each row's scaled scores, -inf for
 * rows that see nothing (their output is 0). */
typedef struct {
    int B, T, NH, KVH, HS;
    const int32_t *seg;   /* (B,T) or NULL */
    const uint8_t *mask;  /* (B,T,T) or NULL */
} AttnShape;

void attention_forward(float *out, float *lse, const float *qkv, const AttnShape *s);
/* dqkv overwritten. */
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, const AttnShape *s);
void attention_forward_ref(float *out, float *lse, const float *qkv, const AttnShape *s);
void attention_backward_ref(float *dqkv, const float *dout, const float *qkv, const float *out,
                            const float *lse, const AttnShape *s);

/* Per row of logits z (R, V): log-sum-exp, log-prob of target (if >= 0)
 * and entropy. In backward, z is turned in place into d(loss)/dz for
 * d(loss)/dlogp = dlp and d(loss)/dentropy = dent (dent may be NULL). */
void logits_stats(const float *z, int R, int V, const int32_t *targets, float *lse, float *logp,
                  float *entropy);
void logits_backward(float *z, int R, int V, const int32_t *targets, const float *lse,
                     const float *entropy, const float *dlp, const float *dent);

#ifdef __cplusplus
}
#endif
#endif
