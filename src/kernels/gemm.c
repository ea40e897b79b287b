/* Products with weights packed once into column panels (see kernels.h).
 *
 * out (M, OUT) = inp (M, IN) W^T reads W (OUT, IN) across its rows for every
 * output column; packing turns it into panels of WP_NR output columns, each
 * (IN, WP_NR) with the columns of one input index adjacent. A register tile
 * of MR input rows x WP_NR columns then takes, per input index, two vector
 * loads of the panel and MR broadcasts of the input, with MR x 2 vector
 * accumulators kept in registers over the whole sum. Threads split the
 * panels, so each output is summed by one thread in one order whatever the
 * thread count, and the packed weights are read once per call.
 *
 * This file is compiled with -ffp-contract=fast (CMakeLists.txt) so that
 * the accumulations become fused multiply-adds. */
#include <string.h>

#include <omp.h>

#include "thinkrl/core.h"
#include "thinkrl/kernels.h"
#include "kernels/v16.h"

/* Rows per register tile: 2*MR accumulators plus two panel vectors and a
 * broadcast must fit the vector registers (32 zmm with AVX-512; a v16 is
 * two ymm with AVX, four xmm without). */
#if defined(__AVX512F__)
#define MR 12
#elif defined(__AVX__)
#define MR 3
#else
#define MR 1
#endif

size_t wpack_floats(int OUT, int IN) { return (size_t)((OUT + WP_NR - 1) / WP_NR) * WP_NR * (size_t)IN; }

void wpack(float *dst, const float *W, int OUT, int IN) {
    const int np = (OUT + WP_NR - 1) / WP_NR;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < np; p++) {
        float *d = dst + (size_t)p * WP_NR * IN;
        for (int j = 0; j < WP_NR; j++) {
            const int o = p * WP_NR + j;
            if (o < OUT) {
                const float *w = W + (size_t)o * IN;
                for (int k = 0; k < IN; k++) d[(size_t)k * WP_NR + j] = w[k];
            } else {
                for (int k = 0; k < IN; k++) d[(size_t)k * WP_NR + j] = 0.0f;
            }
        }
    }
}

/* One tile: rows x[0..mr) (stride ldx) against one panel wp over K inputs,
 * into out (stride ldo), nc <= WP_NR valid columns. mr is a constant at
 * every call site, so the accumulator arrays live in registers. */
static inline __attribute__((always_inline)) void tile(const int mr, const float *x, int ldx, const float *wp,
                                                       int K, float *out, int ldo, int nc, const float *bias,
                                                       int acc) {
    v16 c0[mr], c1[mr];
    for (int i = 0; i < mr; i++) {
        c0[i] = (v16){0};
        c1[i] = (v16){0};
    }
    for (int k = 0; k < K; k++) {
        const v16 w0 = ld16(wp + (size_t)k * WP_NR), w1 = ld16(wp + (size_t)k * WP_NR + 16);
#pragma GCC unroll 16
        for (int i = 0; i < mr; i++) {
            const float a = x[(size_t)i * ldx + k];
            c0[i] += a * w0;
            c1[i] += a * w1;
        }
    }
    for (int i = 0; i < mr; i++) {
        float *o = out + (size_t)i * ldo;
        if (nc == WP_NR) {
            v16 r0 = c0[i], r1 = c1[i];
            if (bias) {
                r0 += ld16(bias);
                r1 += ld16(bias + 16);
            }
            if (acc) {
                r0 = ld16(o) + r0;
                r1 = ld16(o + 16) + r1;
            }
            st16(o, r0);
            st16(o + 16, r1);
        } else {
            float t[WP_NR];
            st16(t, c0[i]);
            st16(t + 16, c1[i]);
            for (int j = 0; j < nc; j++) {
                const float v = bias ? t[j] + bias[j] : t[j];
                o[j] = acc ? o[j] + v : v;
            }
        }
    }
}

/* Rows [0, M) of x against one panel, MR rows at a time, then the rest. */
static void panel_rows(const float *x, int M, int K, const float *wp, float *out, int ldo, int nc,
                       const float *bias, int acc) {
    int m = 0;
    for (; m + MR <= M; m += MR) tile(MR, x + (size_t)m * K, K, wp, K, out + (size_t)m * ldo, ldo, nc, bias, acc);
#if MR > 1
    const float *xm = x + (size_t)m * K;
    float *om = out + (size_t)m * ldo;
    switch (M - m) {
#define TAIL(r)                                                                                                   \
    case r: tile(r, xm, K, wp, K, om, ldo, nc, bias, acc); break;
#if MR > 11
        TAIL(11) TAIL(10) TAIL(9) TAIL(8)
#endif
#if MR > 7
        TAIL(7) TAIL(6) TAIL(5) TAIL(4) TAIL(3)
#endif
        TAIL(2) TAIL(1)
#undef TAIL
    default: break;
    }
#endif
}

void matmul_packed(float *out, const float *inp, const float *Wp, const float *bias, int N, int IN, int OUT,
                   int accumulate) {
    const int np = (OUT + WP_NR - 1) / WP_NR;
    int nt = tr_threads();
    if ((double)N * IN * OUT < 65536.0 || np < 2) nt = 1;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int p = 0; p < np; p++) {
        const int c0 = p * WP_NR, nc = OUT - c0 < WP_NR ? OUT - c0 : WP_NR;
        panel_rows(inp, N, IN, Wp + (size_t)p * WP_NR * IN, out + c0, OUT, nc, bias ? bias + c0 : NULL, accumulate);
    }
}
