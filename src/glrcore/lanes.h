/*
 * lanes.h: deterministic sums over the replication lanes of a block.  A sum uses
 * GLR_LANES fixed partial sums in float, partial t taking lanes k = t (mod GLR_LANES)
 * in order, collapsed in a fixed tree and returned in double, so the vectorised and
 * the scalar builds give the same bits (unit_dots in simd_tiles.c has the same
 * structure).  npad is a multiple of GLR_LANES; lanes past the valid ones are zero
 * in at least one factor.
 */
#ifndef GLR_LANES_H
#define GLR_LANES_H

#include "glr_internal.h"

GLR_INLINE double collapse_lanes(float *part)
{
    for (int32_t width = GLR_LANES / 2; width >= 1; width /= 2)
        for (int32_t t = 0; t < width; ++t)
            part[t] += part[t + width];
    return (double)part[0];
}

GLR_INLINE double lane_dot(const float *GLR_RESTRICT a, const float *GLR_RESTRICT b,
                           int32_t npad)
{
    float part[GLR_LANES] = {0};
    for (int32_t k = 0; k < npad; k += GLR_LANES)
        for (int32_t t = 0; t < GLR_LANES; ++t)
            part[t] += a[k + t] * b[k + t];
    return collapse_lanes(part);
}

GLR_INLINE double lane_sum(const float *GLR_RESTRICT a, int32_t npad)
{
    float part[GLR_LANES] = {0};
    for (int32_t k = 0; k < npad; k += GLR_LANES)
        for (int32_t t = 0; t < GLR_LANES; ++t)
            part[t] += a[k + t];
    return collapse_lanes(part);
}

#endif /* GLR_LANES_H */
