/*
 * activation.h: x^(l+1) = phi_l(u^(l)), the activations of glrcore.h (enum
 * glr_activation), in place on a level's n_out x GLR_BLOCK lanes.  Discontinuous ones
 * (threshold, sign, staircase, quantized ReLU) are what the GLR estimator allows:
 * it never differentiates phi (Section II).
 */
#ifndef GLR_ACTIVATION_H
#define GLR_ACTIVATION_H

#include <math.h>

#include "glr_internal.h"
#include "glr_math.h"

GLR_INLINE float sigmoid(float u, float slope)
{
    return 1.0f / (1.0f + glr_exp(-slope * u));
}

/* x = phi(u) in place, row by row. */
GLR_INLINE void level_activation(const glr_level *lv, int32_t npad, float *GLR_RESTRICT u)
{
    const int32_t n = lv->n_out;
    const size_t total = (size_t)n * GLR_BLOCK;
    const float slope = lv->activation_slope;
    (void)npad;
    switch (lv->activation) {
    case GLR_ACT_SIGMOID:
        for (size_t i = 0; i < total; ++i)
            u[i] = sigmoid(u[i], slope);
        break;
    case GLR_ACT_THRESHOLD:
        for (size_t i = 0; i < total; ++i)
            u[i] = u[i] > 0.0f ? 1.0f : 0.0f;
        break;
    case GLR_ACT_SIGN:
        for (size_t i = 0; i < total; ++i)
            u[i] = u[i] > 0.0f ? 1.0f : -1.0f;
        break;
    case GLR_ACT_STAIRCASE: {
        const float m = (float)lv->staircase_levels;
        const float top = m - 1.0f;
        const float inv_top = 1.0f / top;
        for (size_t i = 0; i < total; ++i) {
            float level = (float)(int32_t)(m / (1.0f + glr_exp(-slope * u[i])));
            u[i] = (level < top ? level : top) * inv_top;
        }
        break;
    }
    case GLR_ACT_QUANTIZED_RELU: {
        const float top = (float)(lv->staircase_levels - 1);
        for (size_t i = 0; i < total; ++i) {
            float level = floorf(u[i] > 0.0f ? u[i] : 0.0f);
            u[i] = level < top ? level : top;
        }
        break;
    }
    case GLR_ACT_RELU:
        for (size_t i = 0; i < total; ++i)
            u[i] = u[i] > 0.0f ? u[i] : 0.0f;
        break;
    case GLR_ACT_TANH:
        for (size_t i = 0; i < total; ++i)
            u[i] = glr_tanh(u[i]);
        break;
    default: /* identity */
        break;
    }
}

/* x = phi(u) into another buffer, for an output level whose pre-activations the arg-max
 * ranks (sigmoid or tanh, see loss.h): the same values as level_activation. */
GLR_INLINE void output_activation(const glr_level *lv, const float *GLR_RESTRICT u,
                                  float *GLR_RESTRICT x)
{
    const size_t total = (size_t)lv->n_out * GLR_BLOCK;
    const float slope = lv->activation_slope;
    if (lv->activation == GLR_ACT_SIGMOID)
        for (size_t i = 0; i < total; ++i)
            x[i] = sigmoid(u[i], slope);
    else
        for (size_t i = 0; i < total; ++i)
            x[i] = glr_tanh(u[i]);
}

#endif /* GLR_ACTIVATION_H */
