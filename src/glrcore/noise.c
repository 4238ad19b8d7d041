/*
 * noise.c: the out-of-line part of the noise sampler: Philox4x32-10 blocks for a
 * block of replication lanes (Salmon et al., SC'11; see philox.h), in a portable and
 * an AVX-512 version with identical output, the choice between them, and the noise
 * stream of one call.  The samplers themselves (Box-Muller, inverse distribution
 * functions, Bailey's t) are level_noise in noise.h.
 */
#include "noise.h"

#ifdef GLR_HAVE_WIDE
#include <immintrin.h>
#endif

void glr_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t x0 = counter[0], x1 = counter[1], x2 = counter[2], x3 = counter[3];
    philox10(&x0, &x1, &x2, &x3, key[0], key[1]);
    out[0] = x0; out[1] = x1; out[2] = x2; out[3] = x3;
}

/* Two implementations of philox_lanes_fn with identical output: plain C on 32-bit
 * words (suits AVX2 and SSE), and AVX-512 intrinsics on words widened to 64-bit lanes,
 * where one vpmuludq is the whole 32 x 32 -> 64-bit product (compilers emulate a full
 * 64-bit multiply). */
static void philox_lanes_u32(const uint32_t *GLR_RESTRICT replication, uint32_t c1,
                             uint32_t c2, uint32_t c3, uint32_t key0, uint32_t key1,
                             int32_t npad, uint32_t *GLR_RESTRICT words)
{
    for (int32_t t = 0; t < npad; ++t) {
        uint32_t x0 = replication[t], x1 = c1, x2 = c2, x3 = c3;
        philox10(&x0, &x1, &x2, &x3, key0, key1);
        words[t] = x0;
        words[GLR_BLOCK + t] = x1;
        words[2 * GLR_BLOCK + t] = x2;
        words[3 * GLR_BLOCK + t] = x3;
    }
}

#ifdef GLR_HAVE_WIDE
/* 8 lanes per register; only the low 32 bits of each 64-bit lane are meaningful
 * (vpmuludq reads only those, and the stores truncate), so no masking is needed. */
GLR_WIDE static void philox_lanes_u64(const uint32_t *GLR_RESTRICT replication, uint32_t c1,
                                      uint32_t c2, uint32_t c3, uint32_t key0, uint32_t key1,
                                      int32_t npad, uint32_t *GLR_RESTRICT words)
{
    const __m512i m0 = _mm512_set1_epi64(PHILOX_M0), m1 = _mm512_set1_epi64(PHILOX_M1);
    for (int32_t t = 0; t < npad; t += 8) {   /* npad is a multiple of GLR_LANES */
        __m512i x0 = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(replication + t)));
        __m512i x1 = _mm512_set1_epi64(c1), x2 = _mm512_set1_epi64(c2);
        __m512i x3 = _mm512_set1_epi64(c3);
        uint32_t k0 = key0, k1 = key1;
        for (int round = 0; round < 10; ++round) {   /* philox_round */
            const __m512i p0 = _mm512_mul_epu32(x0, m0);
            const __m512i p1 = _mm512_mul_epu32(x2, m1);
            const __m512i hi0 = _mm512_srli_epi64(p0, 32), hi1 = _mm512_srli_epi64(p1, 32);
            /* 0x96: three-way exclusive or */
            x0 = _mm512_ternarylogic_epi64(hi1, x1, _mm512_set1_epi64(k0), 0x96);
            x2 = _mm512_ternarylogic_epi64(hi0, x3, _mm512_set1_epi64(k1), 0x96);
            x1 = p1;
            x3 = p0;
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        _mm256_storeu_si256((__m256i *)(words + t), _mm512_cvtepi64_epi32(x0));
        _mm256_storeu_si256((__m256i *)(words + GLR_BLOCK + t), _mm512_cvtepi64_epi32(x1));
        _mm256_storeu_si256((__m256i *)(words + 2 * GLR_BLOCK + t), _mm512_cvtepi64_epi32(x2));
        _mm256_storeu_si256((__m256i *)(words + 3 * GLR_BLOCK + t), _mm512_cvtepi64_epi32(x3));
    }
}
#endif

/* AVX-512 when this CPU has it, unless GLR_PORTABLE asks for the portable loops. */
static philox_lanes_fn select_philox(int32_t flags)
{
#ifdef GLR_HAVE_WIDE
    if (select_wide() && !(flags & GLR_PORTABLE))
        return philox_lanes_u64;
#endif
    (void)flags;
    return philox_lanes_u32;
}

/* The samplers of level_noise at the extreme uniforms 2^-24 and 1 - 2^-24 (uniform_open,
 * philox.h), with a margin for the polynomial log: -log(2^-24) = 24 log 2 bounds
 * -log(2u) (Laplace) and |log(u / (1 - u))| (logistic); Box-Muller's radius is
 * sqrt(-2 log u1), Bailey's sqrt(nu (u1^(-2/nu) - 1)). */
double level_noise_bound(const glr_level *lv)
{
    const double tail = 24.0 * 0.6931471805599453 * 1.01;
    const double scale = (double)lv->noise_scale;
    switch (lv->noise) {
    case GLR_NOISE_GAUSSIAN:
        return sqrt(2.0 * tail) * scale;
    case GLR_NOISE_LAPLACE:
    case GLR_NOISE_LOGISTIC:
        return tail * scale;
    default: {
        const double nu = (double)lv->noise_shape;
        return sqrt(nu * expm1(2.0 / nu * tail)) * scale;
    }
    }
}

/* Seed and step as Philox key and counter word; the antithetic mirror point. */
noise_stream make_stream(uint64_t seed, uint64_t step, int64_t replications, int32_t flags)
{
    noise_stream ns;
    ns.key0 = (uint32_t)seed;
    ns.key1 = (uint32_t)(seed >> 32);
    ns.step = (uint32_t)step;
    ns.half = (flags & GLR_ANTITHETIC) ? replications / 2 : 0;
    ns.rqmc_half = (flags & GLR_RQMC) ? replications / 2 : 0;
    ns.philox = select_philox(flags);
    return ns;
}
