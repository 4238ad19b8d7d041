/*
 * simd_tiles.c: the AVX-512 versions of the products of simd_tiles.h, which keep tiles
 * of accumulators in the 32 vector registers (forward_tile, unit_dots) instead of in
 * memory; every sum is computed in the same order as in forward_plain and
 * accumulate_plain, so the bits are the same.  Also select_wide, the run-time test
 * for them.
 */
#include <string.h>

#include "simd_tiles.h"

int32_t select_wide(void)
{
#if defined(GLR_CLONES)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#elif defined(GLR_HAVE_WIDE)
    return 1;
#else
    return 0;
#endif
}

#ifdef GLR_HAVE_WIDE
/* GLR_LANES floats as one value (GNU C vector extension), one AVX-512 register.  Every
 * operation on it is element-wise IEEE arithmetic. */
typedef float glr_vec __attribute__((vector_size(GLR_LANES * sizeof(float))));

#define GLR_TILE_MAX 8   /* accumulators (glr_vec) of a full tile */

/*
 * u_a(t) = (b_a + sum_j W_aj x_j(t)) + r_a(t) for `rows` consecutive units a0.. and the
 * GLR_LANES lanes t0..: one accumulator per unit, so each load of x_j(t0..) feeds
 * `rows` products.  Per lane the sum over j is sequential, as in the plain loop.
 * `rows` is a constant after inlining, which keeps acc[] in registers.
 * packed: x_j(t0 + i) at j * GLR_LANES + i.
 */
GLR_INLINE void forward_tile(const glr_level *lv, int32_t a0, int32_t rows, int32_t t0,
                             const float *GLR_RESTRICT packed, const float *GLR_RESTRICT noise,
                             float *GLR_RESTRICT u)
{
    const int32_t n_in = lv->n_in;
    const float *GLR_RESTRICT w[GLR_TILE_MAX];
    glr_vec acc[GLR_TILE_MAX];
    const glr_vec ones = (glr_vec){0} + 1.0f;
    memset(acc, 0, sizeof acc);   /* quiets -Wmaybe-uninitialized; no code results */
    for (int32_t r = 0; r < rows; ++r) {
        w[r] = lv->weight + (size_t)(a0 + r) * n_in;
        acc[r] = ones * lv->bias[a0 + r];   /* exactly b_a in every lane */
    }
    for (int32_t j = 0; j < n_in; ++j) {
        glr_vec xj;
        memcpy(&xj, packed + (size_t)j * GLR_LANES, sizeof xj);
        for (int32_t r = 0; r < rows; ++r)
            acc[r] += w[r][j] * xj;
    }
    for (int32_t r = 0; r < rows; ++r) {
        const size_t at = (size_t)(a0 + r) * GLR_BLOCK + t0;
        glr_vec ra;
        memcpy(&ra, noise + at, sizeof ra);
        acc[r] += ra;
        memcpy(u + at, &acc[r], sizeof acc[r]);
    }
}

/* forward_plain with GLR_LANES lanes at a time, whose inputs are first copied to a
 * contiguous buffer (packed, n_in x GLR_LANES) that stays in the L1 cache, then in
 * tiles of GLR_TILE_MAX units, the rest in smaller ones. */
GLR_WIDE void forward_wide(const glr_level *lv, const float *GLR_RESTRICT x,
                           const float *GLR_RESTRICT noise, int32_t npad,
                           float *GLR_RESTRICT packed, float *GLR_RESTRICT u)
{
    const int32_t n_out = lv->n_out, n_in = lv->n_in;
    for (int32_t t0 = 0; t0 < npad; t0 += GLR_LANES) {
        for (int32_t j = 0; j < n_in; ++j)
            memcpy(packed + (size_t)j * GLR_LANES, x + (size_t)j * GLR_BLOCK + t0,
                   sizeof(float) * GLR_LANES);
        /* literal tile sizes, so that each forward_tile is unrolled */
        int32_t a = 0;
        for (; a + GLR_TILE_MAX <= n_out; a += GLR_TILE_MAX)
            forward_tile(lv, a, GLR_TILE_MAX, t0, packed, noise, u);
        for (; a + 4 <= n_out; a += 4)
            forward_tile(lv, a, 4, t0, packed, noise, u);
        for (; a + 2 <= n_out; a += 2)
            forward_tile(lv, a, 2, t0, packed, noise, u);
        for (; a < n_out; ++a)
            forward_tile(lv, a, 1, t0, packed, noise, u);
    }
}

/* weight_k psi_a(r_k) for k < npad, transposed to tiles of GLR_LANES units: tile i is
 * npad rows (one per lane k) of units 16 i .. 16 i + 15, contiguous, so that unit_dots
 * reads it from the L1 cache for every input.  Units past n_out are zero.  Blocks of
 * 16 units x 16 lanes are transposed in registers: four butterfly stages, the stage
 * of width b swapping the off-diagonal b x b blocks of every 2b x 2b block. */
GLR_INLINE void weigh_transposed(const float *GLR_RESTRICT weight, const float *GLR_RESTRICT psi,
                                 int32_t n_out, int32_t npad, float *GLR_RESTRICT weighted)
{
    /* shuffle masks of the stages b = 8, 4, 2, 1 (an index j + 16 takes element j of
     * the second operand): the new row i takes, at j, (j & b) ? row (i + b) at j - b
     * : row i at j, and the new row i + b takes (j & b) ? row (i + b) at j : row i at
     * j + b */
    typedef int32_t glr_index __attribute__((vector_size(GLR_LANES * sizeof(int32_t))));
    static const glr_index upper[4] = {
        {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
        {0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27},
        {0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29},
        {0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30}};
    static const glr_index lower[4] = {
        {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31},
        {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31},
        {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31},
        {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}};
    for (int32_t a0 = 0; a0 < n_out; a0 += GLR_LANES) {
        const int32_t count = (n_out - a0) < GLR_LANES ? (n_out - a0) : GLR_LANES;
        float *GLR_RESTRICT tile = weighted + (size_t)a0 * npad;
        for (int32_t k0 = 0; k0 < npad; k0 += GLR_LANES) {
            glr_vec w, r[GLR_LANES];
            memcpy(&w, weight + k0, sizeof w);
            for (int32_t i = 0; i < GLR_LANES; ++i) {
                r[i] = (glr_vec){0};
                if (i < count)
                    memcpy(&r[i], psi + (size_t)(a0 + i) * GLR_BLOCK + k0, sizeof r[i]);
                r[i] *= w;   /* r[i][kk] = weight_k psi_(a0+i)(r_k), k = k0 + kk */
            }
            for (int32_t stage = 0, b = GLR_LANES / 2; b >= 1; ++stage, b /= 2)
                for (int32_t i = 0; i < GLR_LANES; ++i)
                    if (!(i & b)) {
                        const glr_vec top = r[i], bottom = r[i + b];
                        r[i] = __builtin_shuffle(top, bottom, upper[stage]);
                        r[i + b] = __builtin_shuffle(top, bottom, lower[stage]);
                    }
            for (int32_t kk = 0; kk < GLR_LANES; ++kk)   /* r[kk][i] = ... now */
                memcpy(tile + (size_t)(k0 + kk) * GLR_LANES, &r[kk], sizeof r[kk]);
        }
    }
}

/*
 * dst[c * count + i] += sum_k tile[k][i] x_c(k) for the GLR_LANES units i of one tile
 * of weigh_transposed (count of them real) and `cols` inputs c (rows of x).  Each of
 * these dot products has exactly the structure of lane_dot: GLR_LANES partial sums,
 * partial t taking lanes k = t (mod GLR_LANES) in order, collapsed by the tree of
 * collapse_lanes.  Partial t of the tile's units is one vector, and the partials of
 * `cols` inputs are accumulated together so that each tile row load feeds `cols`
 * products; `cols` is a constant after inlining, which keeps acc[] in registers.
 */
GLR_INLINE void unit_dots(const float *GLR_RESTRICT tile, const float *GLR_RESTRICT x,
                          int32_t cols, int32_t npad, int32_t count, double *GLR_RESTRICT dst)
{
    glr_vec part[GLR_LANES][GLR_TILE_MAX];
    for (int32_t t = 0; t < GLR_LANES; ++t) {
        glr_vec acc[GLR_TILE_MAX];
        for (int32_t c = 0; c < cols; ++c)
            acc[c] = (glr_vec){0};
        for (int32_t k = t; k < npad; k += GLR_LANES) {
            glr_vec wk;
            memcpy(&wk, tile + (size_t)k * GLR_LANES, sizeof wk);
            for (int32_t c = 0; c < cols; ++c)
                acc[c] += wk * x[(size_t)c * GLR_BLOCK + k];
        }
        for (int32_t c = 0; c < cols; ++c)
            part[t][c] = acc[c];
    }
    for (int32_t c = 0; c < cols; ++c) {
        glr_vec p[GLR_LANES];
        for (int32_t t = 0; t < GLR_LANES; ++t)
            p[t] = part[t][c];
        for (int32_t width = GLR_LANES / 2; width >= 1; width /= 2)
            for (int32_t t = 0; t < width; ++t)
                p[t] += p[t + width];
        for (int32_t i = 0; i < count; ++i)
            dst[(size_t)c * count + i] += (double)p[0][i];
    }
}

/* accumulate_plain GLR_LANES output units at a time (unit_dots): the same sums.
 * weighted: round_up_lanes(n_out) x GLR_BLOCK scratch; ones: GLR_BLOCK ones. */
GLR_WIDE void accumulate_wide(const glr_level *lv, const float *GLR_RESTRICT weight,
                              const float *GLR_RESTRICT psi, const float *GLR_RESTRICT x,
                              const float *GLR_RESTRICT ones, int32_t npad,
                              float *GLR_RESTRICT weighted, double *GLR_RESTRICT dst)
{
    const int32_t n_out = lv->n_out, n_in = lv->n_in;
    weigh_transposed(weight, psi, n_out, npad, weighted);
    for (int32_t a0 = 0; a0 < n_out; a0 += GLR_LANES) {
        const int32_t count = (n_out - a0) < GLR_LANES ? (n_out - a0) : GLR_LANES;
        const float *GLR_RESTRICT units = weighted + (size_t)a0 * npad;
        double *GLR_RESTRICT out = dst + upper_index(n_out, n_in, a0, 0);
        /* literal tile sizes, so that each unit_dots is unrolled */
        int32_t b = 0;
        for (; b + GLR_TILE_MAX <= n_in; b += GLR_TILE_MAX)
            unit_dots(units, x + (size_t)b * GLR_BLOCK, GLR_TILE_MAX, npad, count,
                      out + (size_t)b * count);
        for (; b + 4 <= n_in; b += 4)
            unit_dots(units, x + (size_t)b * GLR_BLOCK, 4, npad, count, out + (size_t)b * count);
        for (; b + 2 <= n_in; b += 2)
            unit_dots(units, x + (size_t)b * GLR_BLOCK, 2, npad, count, out + (size_t)b * count);
        for (; b < n_in; ++b)
            unit_dots(units, x + (size_t)b * GLR_BLOCK, 1, npad, count, out + (size_t)b * count);
        unit_dots(units, ones, 1, npad, count, dst + (size_t)n_out * n_in + a0);
    }
}
#endif /* GLR_HAVE_WIDE */
