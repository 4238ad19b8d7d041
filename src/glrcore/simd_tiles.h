/*
 * simd_tiles.h: the two matrix products of levels >= 1.  The forward product
 * u = W x + b + r (forward_plain) and the score-weighted product of Eq. 4
 * (accumulate_plain) dominate deep networks.  The plain versions keep their
 * accumulators in memory, and the compiler vectorises their lane loops.  With AVX-512
 * the versions in simd_tiles.c (forward_wide, accumulate_wide) keep tiles of
 * accumulators in the 32 registers; they compute every sum in the same order, so the
 * bits are the same.  (Their 16-float vectors have no machine mode under AVX2 or SSE,
 * where the compiler keeps them in memory and the plain versions are faster.)
 */
#ifndef GLR_SIMD_TILES_H
#define GLR_SIMD_TILES_H

#include "glr_internal.h"
#include "lanes.h"

GLR_INLINE int32_t round_up_lanes(int32_t n)
{
    return (n + GLR_LANES - 1) / GLR_LANES * GLR_LANES;
}

/* Where the partial sums keep the weight (a, b) of a level with n_out x n_in weights:
 * in tiles of GLR_LANES units, the tile of the count units from a0 on input-major at
 * a0 n_in, so that unit_dots walks through the sums in order. */
GLR_INLINE size_t upper_index(int32_t n_out, int32_t n_in, int32_t a, int32_t b)
{
    const int32_t a0 = a / GLR_LANES * GLR_LANES;
    const int32_t count = (n_out - a0) < GLR_LANES ? (n_out - a0) : GLR_LANES;
    return (size_t)a0 * n_in + (size_t)b * count + (size_t)(a - a0);
}

/* u_a(t) = (b_a + sum_j W_aj x_j(t)) + r_a(t) for lanes 0..npad-1, unit by unit; the
 * compiler vectorises the lane loops. */
GLR_INLINE void forward_plain(const glr_level *lv, const float *GLR_RESTRICT x,
                              const float *GLR_RESTRICT noise, int32_t npad,
                              float *GLR_RESTRICT u)
{
    const int32_t n_in = lv->n_in;
    for (int32_t a = 0; a < lv->n_out; ++a) {
        const float *GLR_RESTRICT w = lv->weight + (size_t)a * n_in;
        float acc[GLR_BLOCK];
        const float b = lv->bias[a];
        for (int32_t t = 0; t < npad; ++t)
            acc[t] = b;
        for (int32_t j = 0; j < n_in; ++j) {
            const float wj = w[j];
            const float *GLR_RESTRICT xj = x + (size_t)j * GLR_BLOCK;
            for (int32_t t = 0; t < npad; ++t)
                acc[t] += wj * xj[t];
        }
        float *GLR_RESTRICT ua = u + (size_t)a * GLR_BLOCK;
        const float *GLR_RESTRICT ra = noise + (size_t)a * GLR_BLOCK;
        for (int32_t t = 0; t < npad; ++t)
            ua[t] = acc[t] + ra[t];
    }
}

/* Score-weighted accumulation of one level >= 1 (Eq. 4): the sums over lanes k of
 * weight_k psi_a(r_k) x_b(k) (one lane_dot per weight), and the bias terms, the same
 * sums with x_b = 1.  dst: the weights as upper_index lays them out, then the n_out
 * biases.  weighted: n_out x GLR_BLOCK scratch. */
GLR_INLINE void accumulate_plain(const glr_level *lv, const float *GLR_RESTRICT weight,
                                 const float *GLR_RESTRICT psi, const float *GLR_RESTRICT x,
                                 int32_t npad, float *GLR_RESTRICT weighted,
                                 double *GLR_RESTRICT dst)
{
    const int32_t n_out = lv->n_out, n_in = lv->n_in;
    for (int32_t a = 0; a < n_out; ++a)
        for (int32_t t = 0; t < npad; ++t)
            weighted[(size_t)a * GLR_BLOCK + t] = weight[t] * psi[(size_t)a * GLR_BLOCK + t];
    for (int32_t a = 0; a < n_out; ++a) {
        const float *GLR_RESTRICT wa = weighted + (size_t)a * GLR_BLOCK;
        for (int32_t b = 0; b < n_in; ++b)
            dst[upper_index(n_out, n_in, a, b)] += lane_dot(wa, x + (size_t)b * GLR_BLOCK, npad);
        dst[(size_t)n_out * n_in + a] += lane_sum(wa, npad);
    }
}

#ifdef GLR_HAVE_WIDE
/* simd_tiles.c: the AVX-512 versions, same operations in the same order.
 * packed: max_width x GLR_LANES scratch; ones: GLR_BLOCK ones; weighted:
 * round_up_lanes(n_out) x GLR_BLOCK scratch. */
GLR_PRIVATE GLR_WIDE void forward_wide(const glr_level *lv, const float *GLR_RESTRICT x,
                                       const float *GLR_RESTRICT noise, int32_t npad,
                                       float *GLR_RESTRICT packed, float *GLR_RESTRICT u);
GLR_PRIVATE GLR_WIDE void accumulate_wide(const glr_level *lv, const float *GLR_RESTRICT weight,
                                          const float *GLR_RESTRICT psi,
                                          const float *GLR_RESTRICT x,
                                          const float *GLR_RESTRICT ones, int32_t npad,
                                          float *GLR_RESTRICT weighted, double *GLR_RESTRICT dst);
#endif

#endif /* GLR_SIMD_TILES_H */
