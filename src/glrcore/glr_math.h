/*
 * glr_math.h: elementary functions of float arguments, branch-free (selects, no jumps,
 * so that the lane loops vectorise) and made of IEEE operations only, so that every
 * SIMD path computes the same bits.  Range reductions and minimax coefficients are
 * those of the Cephes library (S. L. Moshier, "Methods and Programs for Mathematical
 * Functions", 1989; single-precision logf, expf, sinf, cosf).
 */
#ifndef GLR_MATH_H
#define GLR_MATH_H

#include <math.h>
#include <string.h>

#include "glr_internal.h"

GLR_INLINE uint32_t float_bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
GLR_INLINE float bits_float(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

/* Natural logarithm for positive normal floats. */
GLR_INLINE float glr_log(float x)
{
    uint32_t bits = float_bits(x);
    int32_t exponent = (int32_t)((bits >> 23) & 0xffu) - 126;
    float m = bits_float((bits & 0x007fffffu) | 0x3f000000u);   /* [0.5, 1) */
    int32_t small = m < 0.70710678118654752f;
    exponent -= small;
    float f = small ? (m + m) - 1.0f : m - 1.0f;                  /* [-0.29, 0.41] */
    float z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    float e = (float)exponent;
    y = y + (-2.12194440e-4f) * e;
    y = y + (-0.5f) * z;
    return (f + y) + 0.693359375f * e;
}

/* Exponential; arguments are clamped to [-87, 88] (results stay normal floats). */
GLR_INLINE float glr_exp(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float t = x * 1.44269504088896341f + 0.5f;
    float nf = floorf(t);
    int32_t n = (int32_t)nf;
    float r = x - nf * 0.693359375f;
    r = r + nf * 2.12194440e-4f;
    float z = r * r;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * z + r + 1.0f;
    return y * bits_float((uint32_t)(n + 127) << 23);
}

/* exp(x) - 1 with full relative accuracy near 0 (used by the Student-t sampler). */
GLR_INLINE float glr_expm1(float x)
{
    float series = x + x * x * (0.5f + x * (1.0f / 6.0f + x * (1.0f / 24.0f)));
    float direct = glr_exp(x) - 1.0f;
    return (x > -0.03f && x < 0.03f) ? series : direct;
}

GLR_INLINE float glr_tanh(float x)
{
    float e = glr_exp(2.0f * x);
    return 1.0f - 2.0f / (e + 1.0f);
}

/* cos and sin of 2 pi u for u in (0, 1): exact reduction to the nearest quarter turn,
 * then minimax polynomials on [-pi/4, pi/4]. */
GLR_INLINE void glr_sincos_turn(float u, float *c_out, float *s_out)
{
    int32_t q = (int32_t)(4.0f * u + 0.5f);       /* 0..4 */
    float a = (u - (float)q * 0.25f) * 6.28318530717958648f;
    float z = a * a;
    float s = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * a + a;
    float c = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z
               + 4.166664568298827e-2f) * z * z - 0.5f * z + 1.0f;
    int32_t quadrant = q & 3;
    float cs = (quadrant == 0) ? c : (quadrant == 1) ? -s : (quadrant == 2) ? -c : s;
    float sn = (quadrant == 0) ? s : (quadrant == 1) ? c : (quadrant == 2) ? -s : -c;
    *c_out = cs;
    *s_out = sn;
}

#endif /* GLR_MATH_H */
