/*
 * loss.h: the loss of each replication (lane) from the output activations x^(tau)
 * (Section II.A; enum glr_loss in glrcore.h), the accuracy of each replication with
 * ties in the arg-max split evenly, and the per-lane arg-max and softmax pieces that
 * the class probabilities and votes (work_item.c) share.
 */
#ifndef GLR_LOSS_H
#define GLR_LOSS_H

#include <math.h>

#include "glr_internal.h"
#include "glr_math.h"

/* Per lane: the largest output (peak) and how many classes attain it (ties). */
GLR_INLINE void lane_peak_ties(const float *GLR_RESTRICT out, int32_t n_classes, int32_t npad,
                               float *GLR_RESTRICT peak, float *GLR_RESTRICT ties)
{
    for (int32_t t = 0; t < npad; ++t) {
        peak[t] = out[t];
        ties[t] = 0.0f;
    }
    for (int32_t c = 1; c < n_classes; ++c)
        for (int32_t t = 0; t < npad; ++t) {
            float v = out[(size_t)c * GLR_BLOCK + t];
            peak[t] = v > peak[t] ? v : peak[t];
        }
    for (int32_t c = 0; c < n_classes; ++c)
        for (int32_t t = 0; t < npad; ++t)
            ties[t] += out[(size_t)c * GLR_BLOCK + t] == peak[t] ? 1.0f : 0.0f;
}

/* Per lane: the softmax denominator sum_c exp(out_c - peak). */
GLR_INLINE void lane_exp_total(const float *GLR_RESTRICT out, int32_t n_classes, int32_t npad,
                               const float *GLR_RESTRICT peak, float *GLR_RESTRICT total)
{
    for (int32_t t = 0; t < npad; ++t)
        total[t] = 0.0f;
    for (int32_t c = 0; c < n_classes; ++c)
        for (int32_t t = 0; t < npad; ++t)
            total[t] += glr_exp(out[(size_t)c * GLR_BLOCK + t] - peak[t]);
}

/* Loss (kind: enum glr_loss) and accuracy of each replication (lane) of sample with
 * class `label`, from the output activations out (n_classes x GLR_BLOCK), both
 * multiplied by the lane mask (1 for valid lanes, else 0).  work: 3 x GLR_BLOCK. */
GLR_INLINE void lane_loss(int32_t kind, const float *GLR_RESTRICT out, int32_t n_classes,
                          int64_t label, int32_t npad, const float *GLR_RESTRICT mask,
                          float *GLR_RESTRICT work, float *GLR_RESTRICT loss,
                          float *GLR_RESTRICT correct)
{
    float *GLR_RESTRICT peak = work;
    float *GLR_RESTRICT acc = work + GLR_BLOCK;
    float *GLR_RESTRICT ties = work + 2 * GLR_BLOCK;
    const float *GLR_RESTRICT target = out + (size_t)label * GLR_BLOCK;

    lane_peak_ties(out, n_classes, npad, peak, ties);
    /* accuracy of one replication: the true class wins, ties split evenly */
    for (int32_t t = 0; t < npad; ++t)
        correct[t] = (target[t] == peak[t] ? 1.0f : 0.0f) / ties[t];

    switch (kind) {
    case GLR_LOSS_CROSS_ENTROPY:
        lane_exp_total(out, n_classes, npad, peak, acc);
        for (int32_t t = 0; t < npad; ++t)
            loss[t] = (peak[t] + glr_log(acc[t])) - target[t];
        break;
    case GLR_LOSS_ZERO_ONE:
        for (int32_t t = 0; t < npad; ++t)
            loss[t] = 1.0f - correct[t];
        break;
    case GLR_LOSS_SQUARED:
        for (int32_t t = 0; t < npad; ++t)
            acc[t] = 0.0f;
        for (int32_t c = 0; c < n_classes; ++c) {
            const float onehot = c == label ? 1.0f : 0.0f;
            for (int32_t t = 0; t < npad; ++t) {
                float d = out[(size_t)c * GLR_BLOCK + t] - onehot;
                acc[t] += d * d;
            }
        }
        for (int32_t t = 0; t < npad; ++t)
            loss[t] = acc[t];
        break;
    case GLR_LOSS_HINGE:
        for (int32_t t = 0; t < npad; ++t)
            acc[t] = -INFINITY;
        for (int32_t c = 0; c < n_classes; ++c) {
            if (c == label)
                continue;
            for (int32_t t = 0; t < npad; ++t) {
                float v = out[(size_t)c * GLR_BLOCK + t];
                acc[t] = v > acc[t] ? v : acc[t];
            }
        }
        for (int32_t t = 0; t < npad; ++t) {
            float margin = 1.0f + acc[t] - target[t];
            loss[t] = margin > 0.0f ? margin : 0.0f;
        }
        break;
    default:
        break;
    }
    for (int32_t t = 0; t < npad; ++t) {
        loss[t] *= mask[t];
        correct[t] *= mask[t];
    }
}

#endif /* GLR_LOSS_H */
