/* Vectorisable float exp for the kernels: libm's expf is a call per element
 * that the compiler cannot vectorise without -ffast-math. Range reduction
 * x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial for e^r, 2^n through the
 * exponent bits. Relative error below 2e-7 on [-87, 88]; inputs below -87.3
 * (and -inf) give 0, above 88.7 give +inf; NaN propagates. */
#ifndef THINKRL_VMATH_H
#define THINKRL_VMATH_H

#include <stdint.h>
#include <string.h>

static inline float vexpf(float x) {
    const float lo = -87.33654f, hi = 88.72283f;
    float xc = x < lo ? lo : (x > hi ? hi : x);
    float n = __builtin_rintf(xc * 1.44269504088896341f);
    float r = xc - n * 0.693145751953125f;   /* ln2 split: high part */
    r = r - n * 1.428606765330187e-06f;      /* low part */
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t e = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &e, sizeof s);
    float y = p * s;
    y = x < lo ? 0.0f : y;
    y = x > hi ? __builtin_inff() : y;
    return x != x ? x : y;
}

/* Dot product; `omp simd` lets the reduction vectorise without
 * -ffast-math. */
static inline float vdotf(const float *a, const float *b, int n) {
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

/* Softmax of row[0..n) in place; returns the row's log-sum-exp. A row of
 * -inf (nothing visible) becomes zeros and returns -inf. The training
 * attention and the cached decode share it, so their numbers agree. */
static inline float vsoftmax_row(float *row, int n) {
    float mx = -__builtin_inff();
    for (int k = 0; k < n; k++) mx = row[k] > mx ? row[k] : mx;
    if (mx == -__builtin_inff()) {
        memset(row, 0, (size_t)n * sizeof(float));
        return mx;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int k = 0; k < n; k++) {
        float e = vexpf(row[k] - mx);
        row[k] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int k = 0; k < n; k++) row[k] *= inv;
    return mx + __builtin_logf(sum);
}

#endif
