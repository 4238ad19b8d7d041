/*
 * loss.h: the loss of each replication (lane) from the output activations x^(tau)
 * (Section II.A; enum glr_loss in glrcore.h), the accuracy of each replication with
 * ties in the arg-max split evenly, and the per-lane arg-max and softmax pieces that
 * the class probabilities and votes (work_item.c) share.
 *
 * The arg-max ranks the outputs.  When the output activation is strictly increasing but
 * saturates in float32 (sigmoid: 1.0f once s u > ~16.6; tanh once u > ~9), outputs that
 * are different in exact arithmetic tie; so in a block where some lane ties, the
 * output pre-activations u^(tau), whose order is the outputs' exact order, rank every
 * lane instead (`rank`; it is `out` itself for the other activations).  A unique
 * largest output is also the largest pre-activation, so this is the same as ranking
 * the pre-activations everywhere.  The softmax always takes the outputs.
 */
#ifndef GLR_LOSS_H
#define GLR_LOSS_H

#include <math.h>

#include "glr_internal.h"
#include "glr_math.h"

/* Per lane: the largest of the n_classes rows of v. */
GLR_INLINE void lane_peak(const float *GLR_RESTRICT v, int32_t n_classes, int32_t npad,
                          float *GLR_RESTRICT peak)
{
    for (int32_t t = 0; t < npad; ++t)
        peak[t] = v[t];
    for (int32_t c = 1; c < n_classes; ++c)
        for (int32_t t = 0; t < npad; ++t) {
            float x = v[(size_t)c * GLR_BLOCK + t];
            peak[t] = x > peak[t] ? x : peak[t];
        }
}

/* Per lane: the largest ranked value (peak) and how many classes attain it (ties). */
GLR_INLINE void lane_peak_ties(const float *GLR_RESTRICT rank, int32_t n_classes, int32_t npad,
                               float *GLR_RESTRICT peak, float *GLR_RESTRICT ties)
{
    lane_peak(rank, n_classes, npad, peak);
    for (int32_t t = 0; t < npad; ++t)
        ties[t] = 0.0f;
    for (int32_t c = 0; c < n_classes; ++c)
        for (int32_t t = 0; t < npad; ++t)
            ties[t] += rank[(size_t)c * GLR_BLOCK + t] == peak[t] ? 1.0f : 0.0f;
}

/* The arg-max of a block's lanes: what was ranked, each lane's largest ranked value and
 * how many classes attain it, and the largest output (for the softmax). */
typedef struct {
    const float *ranked;   /* n_classes x GLR_BLOCK: out, or the pre-activations */
    const float *peak;
    const float *ties;
    const float *top;
} lane_ranking;

/* Rank the outputs out; where some lane ties, rank the pre-activations rank instead
 * (unless rank is out).  work: 4 x GLR_BLOCK. */
GLR_INLINE lane_ranking lane_rank(const float *out, const float *rank, int32_t n_classes,
                                  int32_t npad, float *GLR_RESTRICT work)
{
    float *GLR_RESTRICT top = work;
    float *GLR_RESTRICT ties = work + GLR_BLOCK;
    lane_peak_ties(out, n_classes, npad, top, ties);
    lane_ranking r = {out, top, ties, top};
    if (rank == out)
        return r;
    int32_t tied = 0;
    for (int32_t t = 0; t < npad; ++t)
        tied |= ties[t] > 1.0f;
    if (tied) {
        float *GLR_RESTRICT peak = work + 2 * GLR_BLOCK;
        float *GLR_RESTRICT rank_ties = work + 3 * GLR_BLOCK;
        lane_peak_ties(rank, n_classes, npad, peak, rank_ties);
        r.ranked = rank;
        r.peak = peak;
        r.ties = rank_ties;
    }
    return r;
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
 * class `label`, from the output activations out (n_classes x GLR_BLOCK) and, for the
 * arg-max, the pre-activations rank (out itself unless they are kept, see lane_rank),
 * both multiplied by the lane mask (1 for valid lanes, else 0).  work: 5 x GLR_BLOCK. */
GLR_INLINE void lane_loss(int32_t kind, const float *out, const float *rank,
                          int32_t n_classes, int64_t label, int32_t npad,
                          const float *GLR_RESTRICT mask, float *GLR_RESTRICT work,
                          float *GLR_RESTRICT loss, float *GLR_RESTRICT correct)
{
    float *GLR_RESTRICT acc = work + 4 * GLR_BLOCK;
    const float *GLR_RESTRICT target = out + (size_t)label * GLR_BLOCK;
    const lane_ranking r = lane_rank(out, rank, n_classes, npad, work);
    const float *GLR_RESTRICT top = r.top;
    const float *GLR_RESTRICT peak = r.peak;
    const float *GLR_RESTRICT ties = r.ties;
    const float *GLR_RESTRICT target_rank = r.ranked + (size_t)label * GLR_BLOCK;

    /* accuracy of one replication: the true class wins, ties split evenly */
    for (int32_t t = 0; t < npad; ++t)
        correct[t] = (target_rank[t] == peak[t] ? 1.0f : 0.0f) / ties[t];

    switch (kind) {
    case GLR_LOSS_CROSS_ENTROPY:
        lane_exp_total(out, n_classes, npad, top, acc);
        for (int32_t t = 0; t < npad; ++t)
            loss[t] = (top[t] + glr_log(acc[t])) - target[t];
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
