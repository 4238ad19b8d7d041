/*
 * noise.h: the neuronal noise r^(l) of one level for a block of replication lanes,
 * and its score psi(r) = -d log f(r) / dr (Section II.B, Eq. 5), the factor of the
 * likelihood-ratio weight.  One Philox block per (replication, sample, level, unit
 * group, step): the noise of a lane does not depend on the lane's position in a
 * block, the chunking or the thread count.
 *
 * level_noise and level_score run in the hot loop of every SIMD clone of process_item
 * (work_item.c), so they are always-inline functions here, compiled in the clone that
 * calls them; the out-of-line part of the sampler (the Philox lanes) is noise.c.
 */
#ifndef GLR_NOISE_H
#define GLR_NOISE_H

#include <math.h>
#include <string.h>

#include "glr_internal.h"
#include "glr_math.h"
#include "philox.h"

/* noise.c: the noise stream of one call (its Philox lanes: AVX-512 on a machine with
 * it unless flags has GLR_PORTABLE). */
GLR_PRIVATE noise_stream make_stream(uint64_t seed, uint64_t step, int64_t replications,
                                     int32_t flags);

/* noise.c: the largest |r| level_noise can return for the level (inf when it does not fit
 * in float32). */
GLR_PRIVATE double level_noise_bound(const glr_level *lv);


/* Units served by one Philox block: Gaussian uses Box-Muller (two uniforms give two
 * normals), Laplace and logistic one uniform each, Student-t two uniforms each. */
GLR_INLINE int32_t units_per_block(int32_t noise)
{
    return noise == GLR_NOISE_STUDENT_T ? 2 : 4;
}


/* Inverse distribution functions of one uniform u in (0, 1), times scale. */
GLR_INLINE float laplace_from_uniform(float u, float scale)
{
    int32_t lower = u < 0.5f;
    float tail = lower ? u + u : (1.0f - u) + (1.0f - u);   /* (0, 1) */
    float magnitude = -glr_log(tail) * scale;
    return lower ? -magnitude : magnitude;
}

GLR_INLINE float logistic_from_uniform(float u, float scale)
{
    return glr_log(u / (1.0f - u)) * scale;
}

/* The units of a group for the noises with one uniform per unit (Laplace, logistic):
 * unit j of the group takes word j.  `noise` is a constant at each call. */
GLR_INLINE void inverse_cdf_units(int32_t noise, const uint32_t *GLR_RESTRICT words,
                                  int32_t count, int32_t npad, float scale,
                                  const float *GLR_RESTRICT sign, float *GLR_RESTRICT *out)
{
    for (int32_t j = 0; j < count; ++j) {
        const uint32_t *GLR_RESTRICT wj = words + (size_t)j * GLR_BLOCK;
        float *GLR_RESTRICT o = out[j];
        for (int32_t t = 0; t < npad; ++t) {
            float u = uniform_open(wj[t]);
            float v = noise == GLR_NOISE_LAPLACE ? laplace_from_uniform(u, scale)
                                                 : logistic_from_uniform(u, scale);
            o[t] = v * sign[t];
        }
    }
}

/* The normal quantile Phi^-1(p) for p in (0, 1): Wichura (1988), "Algorithm AS 241: the
 * percentage points of the normal distribution", Appl. Statist. 37, 477-484, its PPND7
 * (about 1e-7 relative).  The uniforms here are >= 2^-24, so the tail variable
 * sqrt(-log min(p, 1 - p)) stays below 4.08 and PPND7's far-tail branch (> 5) is never
 * needed.  Both branches are computed and one selected, so the lanes do not branch. */
GLR_INLINE float normal_quantile(float p)
{
    const float q = p - 0.5f;
    const float rc = 0.180625f - q * q;
    const float central = q * (((5.9109374720e+1f * rc + 1.5929113202e+2f) * rc + 5.0434271938e+1f) * rc
                               + 3.3871327179e+0f)
                          / (((6.7187563600e+1f * rc + 7.8757757664e+1f) * rc + 1.7895169469e+1f) * rc + 1.0f);
    const float tail_p = q < 0.0f ? p : 1.0f - p;          /* exact: p >= 0.5 in the second case */
    const float rt = sqrtf(-glr_log(tail_p)) - 1.6f;
    const float tail = (((1.7023821103e-1f * rt + 1.3067284816e+0f) * rt + 2.7568153900e+0f) * rt
                        + 1.4234372777e+0f)
                       / ((1.2021132975e-1f * rt + 7.3700164250e-1f) * rt + 1.0f);
    return fabsf(q) <= 0.425f ? central : (q < 0.0f ? -tail : tail);
}

/* Point i of a randomly shifted rank-1 lattice of N points in one dimension (Korobov
 * 1959; random shift: Cranley & Patterson 1976) is x = frac(i z / N + shift), kept in
 * 64-bit fixed point (x / 2^64, with z / N as floor(2^64 z / N): off by less than N
 * units of 2^-64), so exact and the same bits on every path (rqmc_noise advances it
 * by z / N, mod 2^64, from lane to lane).  tent_word applies the tent (baker's) transform
 * 1 - |2x - 1| (Hickernell 2002), which keeps x uniform and suits the rule to integrands
 * that are not periodic, and returns a word for uniform_open: the top 25 bits of x folded
 * to 24, so that every 24-bit value has two preimages and the uniform is exactly that of
 * the i.i.d. sampler. */
GLR_INLINE uint32_t tent_word(uint64_t x)
{
    const uint32_t m = (uint32_t)(x >> 39);                /* 25 bits */
    const uint32_t folded = m < (1u << 24) ? m : ((1u << 25) - 1u) - m;
    return folded << 8;
}

/* The random shift of unit `unit` of a level for half `half` of the replications: one
 * Philox block per (half, sample, level, pair of units, step) serves two units. */
GLR_INLINE uint64_t lattice_shift(const noise_stream *ns, uint32_t half, uint32_t sample,
                                    int32_t level_index, int32_t unit)
{
    uint32_t x0 = half, x1 = sample, x2 = ((uint32_t)level_index << 24) | (uint32_t)(unit >> 1);
    uint32_t x3 = ns->step;
    philox10(&x0, &x1, &x2, &x3, ns->key0, ns->key1);
    return (unit & 1) ? ((uint64_t)x3 << 32 | x2) : ((uint64_t)x1 << 32 | x0);
}

/*
 * GLR_RQMC: randomized quasi-Monte Carlo noise.  Replication k lies in half
 * h = [k >= K/2] as point i = k - h K/2 of that half's point set; unit a of the level
 * is one dimension, with increment lv->rqmc_steps[a] = z_a / N and a uniform shift
 * per (sample, half, unit).  Every replication's noise thus has the exact i.i.d.
 * marginal f, the points of a half are spread evenly instead of independently, and the
 * two halves are independent of each other (what the cross-fitted baseline needs).
 * The noise is the inverse distribution function of the point.
 */
GLR_INLINE void rqmc_noise(const glr_level *lv, int32_t level_index, const noise_stream *ns,
                           uint32_t sample, int64_t k0, int32_t npad, uint32_t *GLR_RESTRICT words,
                           float *GLR_RESTRICT r)
{
    const int64_t half = ns->rqmc_half;
    const float scale = lv->noise_scale;
    /* lanes 0 .. split - 1 lie in the first half, the others in the second */
    const int64_t to_half = half - k0;
    const int32_t split = to_half <= 0 ? 0 : (to_half >= npad ? npad : (int32_t)to_half);
    for (int32_t a = 0; a < lv->n_out; ++a) {
        const uint64_t alpha = lv->rqmc_steps[a];
        /* the points as words: x advances by alpha from lane to lane (exact, mod 2^64) */
        if (split > 0) {
            uint64_t x = (uint64_t)k0 * alpha + lattice_shift(ns, 0u, sample, level_index, a);
            for (int32_t t = 0; t < split; ++t, x += alpha)
                words[t] = tent_word(x);
        }
        if (split < npad) {
            uint64_t x = (uint64_t)(k0 + split - half) * alpha +
                         lattice_shift(ns, 1u, sample, level_index, a);
            for (int32_t t = split; t < npad; ++t, x += alpha)
                words[t] = tent_word(x);
        }
        float *GLR_RESTRICT o = r + (size_t)a * GLR_BLOCK;
        switch (lv->noise) {
        case GLR_NOISE_GAUSSIAN:
            for (int32_t t = 0; t < npad; ++t)
                o[t] = normal_quantile(uniform_open(words[t])) * scale;
            break;
        case GLR_NOISE_LAPLACE:
            for (int32_t t = 0; t < npad; ++t)
                o[t] = laplace_from_uniform(uniform_open(words[t]), scale);
            break;
        default:
            for (int32_t t = 0; t < npad; ++t)
                o[t] = logistic_from_uniform(uniform_open(words[t]), scale);
            break;
        }
    }
}

/*
 * Noise of one level for lanes k0 .. k0 + npad - 1 of sample `sample`, written to
 * r[unit * GLR_BLOCK + lane].  Scratch: words (4 x GLR_BLOCK uint32), sign (GLR_BLOCK).
 */
GLR_INLINE void level_noise(const glr_level *lv, int32_t level_index, const noise_stream *ns,
                            uint32_t sample, int64_t k0, int32_t npad,
                            uint32_t *GLR_RESTRICT words, float *GLR_RESTRICT sign,
                            float *GLR_RESTRICT r)
{
    if (ns->rqmc_half > 0) {
        rqmc_noise(lv, level_index, ns, sample, k0, npad, words, r);
        return;
    }
    uint32_t *GLR_RESTRICT w0 = words;
    uint32_t *GLR_RESTRICT w1 = words + GLR_BLOCK;
    uint32_t *GLR_RESTRICT w2 = words + 2 * GLR_BLOCK;
    uint32_t *GLR_RESTRICT w3 = words + 3 * GLR_BLOCK;
    uint32_t replication[GLR_BLOCK];
    for (int32_t t = 0; t < npad; ++t) {
        int64_t k = k0 + t;
        int64_t mirrored = (ns->half > 0 && k >= ns->half);
        replication[t] = (uint32_t)(mirrored ? k - ns->half : k);
        sign[t] = mirrored ? -1.0f : 1.0f;
    }
    const int32_t per_block = units_per_block(lv->noise);
    const int32_t n_out = lv->n_out;
    const float scale = lv->noise_scale;
    for (int32_t group = 0; group * per_block < n_out; ++group) {
        const uint32_t word2 = ((uint32_t)level_index << 24) | (uint32_t)group;
        ns->philox(replication, sample, word2, ns->step, ns->key0, ns->key1, npad, words);
        const int32_t unit0 = group * per_block;
        const int32_t count = (n_out - unit0) < per_block ? (n_out - unit0) : per_block;
        float *GLR_RESTRICT out[4];
        for (int32_t j = 0; j < 4; ++j)
            out[j] = r + (size_t)(unit0 + (j < count ? j : 0)) * GLR_BLOCK;
        switch (lv->noise) {
        case GLR_NOISE_GAUSSIAN:
            /* Box & Muller (1958), "A note on the generation of random normal deviates":
             * (u1, u2) -> sqrt(-2 log u1) (cos 2 pi u2, sin 2 pi u2). */
            for (int32_t pair = 0; pair < 2 && 2 * pair < count; ++pair) {
                const uint32_t *GLR_RESTRICT wa = pair == 0 ? w0 : w2;
                const uint32_t *GLR_RESTRICT wb = pair == 0 ? w1 : w3;
                float *GLR_RESTRICT oc = out[2 * pair];
                float *GLR_RESTRICT os = out[2 * pair + 1];
                const int32_t write_sin = 2 * pair + 1 < count;
                float tmp_sin[GLR_BLOCK];
                for (int32_t t = 0; t < npad; ++t) {
                    float radius = sqrtf(-2.0f * glr_log(uniform_open(wa[t]))) * scale * sign[t];
                    float c, s;
                    glr_sincos_turn(uniform_open(wb[t]), &c, &s);
                    oc[t] = radius * c;
                    tmp_sin[t] = radius * s;
                }
                if (write_sin)
                    memcpy(os, tmp_sin, sizeof(float) * (size_t)npad);
            }
            break;
        case GLR_NOISE_LAPLACE:
            inverse_cdf_units(GLR_NOISE_LAPLACE, words, count, npad, scale, sign, out);
            break;
        case GLR_NOISE_LOGISTIC:
            inverse_cdf_units(GLR_NOISE_LOGISTIC, words, count, npad, scale, sign, out);
            break;
        case GLR_NOISE_STUDENT_T: {
            /* Bailey (1994), "Polar generation of random variates with the t-distribution",
             * Math. Comp. 62: sqrt(nu (u1^(-2/nu) - 1)) cos(2 pi u2) is t_nu distributed. */
            const float nu = lv->noise_shape;
            const float minus_two_over_nu = -2.0f / nu;
            for (int32_t j = 0; j < count; ++j) {
                const uint32_t *GLR_RESTRICT wa = words + (size_t)(2 * j) * GLR_BLOCK;
                const uint32_t *GLR_RESTRICT wb = words + (size_t)(2 * j + 1) * GLR_BLOCK;
                float *GLR_RESTRICT o = out[j];
                for (int32_t t = 0; t < npad; ++t) {
                    float radius2 = nu * glr_expm1(minus_two_over_nu * glr_log(uniform_open(wa[t])));
                    float c, s;
                    glr_sincos_turn(uniform_open(wb[t]), &c, &s);
                    o[t] = sqrtf(radius2) * c * scale * sign[t];
                }
            }
            break;
        }
        default:
            break;
        }
    }
}

/* psi(r) = -d log f(r) / dr, row by row (Section II.B; Eq. 5 for the Gaussian). */
GLR_INLINE void level_score(const glr_level *lv, int32_t npad, const float *GLR_RESTRICT r,
                            float *GLR_RESTRICT psi)
{
    const int32_t n = lv->n_out;
    const float scale = lv->noise_scale;
    switch (lv->noise) {
    case GLR_NOISE_GAUSSIAN: {
        const float inv_var = 1.0f / (scale * scale);
        for (int32_t a = 0; a < n; ++a)
            for (int32_t t = 0; t < npad; ++t)
                psi[a * GLR_BLOCK + t] = r[a * GLR_BLOCK + t] * inv_var;
        break;
    }
    case GLR_NOISE_LAPLACE: {
        const float inv_b = 1.0f / scale;
        for (int32_t a = 0; a < n; ++a)
            for (int32_t t = 0; t < npad; ++t) {
                float v = r[a * GLR_BLOCK + t];
                psi[a * GLR_BLOCK + t] = v > 0.0f ? inv_b : (v < 0.0f ? -inv_b : 0.0f);
            }
        break;
    }
    case GLR_NOISE_LOGISTIC: {
        const float inv_s = 1.0f / scale;
        const float half_inv_s = 0.5f / scale;
        for (int32_t a = 0; a < n; ++a)
            for (int32_t t = 0; t < npad; ++t)
                psi[a * GLR_BLOCK + t] = glr_tanh(r[a * GLR_BLOCK + t] * half_inv_s) * inv_s;
        break;
    }
    case GLR_NOISE_STUDENT_T: {
        const float nu = lv->noise_shape;
        const float numerator = nu + 1.0f;
        const float nu_s2 = nu * scale * scale;
        for (int32_t a = 0; a < n; ++a)
            for (int32_t t = 0; t < npad; ++t) {
                float v = r[a * GLR_BLOCK + t];
                psi[a * GLR_BLOCK + t] = numerator * v / (nu_s2 + v * v);
            }
        break;
    }
    default:
        break;
    }
}

#endif /* GLR_NOISE_H */
