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

#endif
