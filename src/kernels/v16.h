/* 16-float vectors (GCC/Clang vector extensions): AVX-512 registers when
 * compiled for them, pairs of AVX2 or quads of SSE registers otherwise, so
 * that accumulators stay in registers; loads and stores may be unaligned. */
#ifndef THINKRL_V16_H
#define THINKRL_V16_H

/* ld16 / st16 return 64-byte vectors; without AVX-512 GCC warns that such a
 * return changes the ABI. They are static inline and never cross one. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi"
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
static inline v16 ld16(const float *p) { return *(const v16u *)p; }
static inline void st16(float *p, v16 v) { *(v16u *)p = v; }

#endif
