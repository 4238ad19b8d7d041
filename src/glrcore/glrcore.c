/*
 * glrcore.c: the fused GLR gradient kernel (see glrcore.h for the notation).
 *
 * Layout of the work.  A mini-batch of N samples with K replications each is cut
 * into work items (sample n, chunk of GLR_CHUNK replications).  The chunking depends
 * only on K, never on the thread count, and every item writes its partial sums to a
 * slot of its own; slots are reduced in a fixed order.  Inside an item, replications
 * are processed GLR_BLOCK at a time, one SIMD lane per replication: noise sampling
 * (counter-based Philox, so each lane draws its own stream), forward propagation,
 * loss and the score-weight accumulation L * psi(r) (x) x of Eq. 4 / Eq. 5.  Lane
 * sums use GLR_LANES fixed partial sums (float) collapsed in a fixed tree and added
 * into double accumulators, so the vectorised and the scalar build give the same bits.
 * The two matrix products of levels >= 1 have AVX-512 versions that keep tiles of
 * accumulators in registers (forward_wide, accumulate_wide); they perform the same
 * operations in the same order as the plain loops.
 *
 * Floating point: the build uses -ffp-contract=off and no -ffast-math; every
 * elementary function below is a branch-free polynomial of IEEE operations, so the
 * result does not depend on which SIMD instruction set the dispatcher picked.
 */
#include "glrcore.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Runtime SIMD dispatch: one clone per instruction set, chosen when the library is
 * loaded (GNU ifunc).  The build never ties itself to the build machine's CPU. */
#if defined(GLR_TARGET_CLONES) && defined(__GNUC__) && !defined(__clang__) && \
    (defined(__x86_64__) || defined(__i386__))
#define GLR_CLONES 1
#endif

/* AVX-512 versions of the hot loops (philox_lanes_u64, forward_wide, accumulate_wide),
 * compiled for AVX-512 whatever the build targets and used when the CPU has it, or
 * always in a build for an AVX-512 machine (GLRNET_NATIVE). */
#if defined(GLR_CLONES)
#define GLR_HAVE_WIDE 1
#define GLR_WIDE __attribute__((target("avx512f")))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__AVX512F__)
#define GLR_HAVE_WIDE 1
#define GLR_WIDE
#endif
#ifdef GLR_HAVE_WIDE
#include <immintrin.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#define GLR_BLOCK 128        /* replications processed together (SIMD lanes)   */
#define GLR_LANES 16         /* fixed partial sums per lane reduction           */
#define GLR_CHUNK 1024       /* replications per work item (multiple of BLOCK)   */
#define GLR_WAVE_BYTES (64u << 20) /* bound on the per-item partial-sum storage */
#define GLR_REDUCE 256       /* parameters per block of the final reduction       */
#define GLR_ALIGN 64

#if defined(__GNUC__)
#define GLR_INLINE static inline __attribute__((always_inline))
#define GLR_NOINLINE __attribute__((noinline))
#define GLR_RESTRICT __restrict__
#else
#define GLR_INLINE static inline
#define GLR_NOINLINE
#define GLR_RESTRICT
#endif

#ifdef GLR_CLONES
#define GLR_DISPATCH __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GLR_DISPATCH
#endif

/* Whether the AVX-512 versions run (the same test as the clone dispatch). */
static int32_t select_wide(void)
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

/* ------------------------------------------------------------------------- */
/* Philox4x32-10 counter-based generator (Salmon, Moraes, Dror & Shaw, SC'11) */
/* ------------------------------------------------------------------------- */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

GLR_INLINE void philox_round(uint32_t *x0, uint32_t *x1, uint32_t *x2, uint32_t *x3,
                             uint32_t k0, uint32_t k1)
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * (uint64_t)(*x0);
    uint64_t p1 = (uint64_t)PHILOX_M1 * (uint64_t)(*x2);
    uint32_t y0 = (uint32_t)(p1 >> 32) ^ *x1 ^ k0;
    uint32_t y1 = (uint32_t)p1;
    uint32_t y2 = (uint32_t)(p0 >> 32) ^ *x3 ^ k1;
    uint32_t y3 = (uint32_t)p0;
    *x0 = y0; *x1 = y1; *x2 = y2; *x3 = y3;
}

GLR_INLINE void philox10(uint32_t *x0, uint32_t *x1, uint32_t *x2, uint32_t *x3,
                         uint32_t k0, uint32_t k1)
{
    for (int round = 0; round < 10; ++round) {
        philox_round(x0, x1, x2, x3, k0, k1);
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
}

void glr_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t x0 = counter[0], x1 = counter[1], x2 = counter[2], x3 = counter[3];
    philox10(&x0, &x1, &x2, &x3, key[0], key[1]);
    out[0] = x0; out[1] = x1; out[2] = x2; out[3] = x3;
}

/* A 32-bit word to a uniform in the open interval (0, 1): the top 24 bits with the
 * lowest forced to 1, i.e. odd multiples of 2^-24.  Exact in float; never 0 or 1. */
GLR_INLINE float uniform_open(uint32_t word)
{
    return (float)(int32_t)((word >> 8) | 1u) * 0x1p-24f;
}

/* ------------------------------------------------------------------------- */
/* Elementary functions: branch-free, IEEE operations only (Cephes constants) */
/* ------------------------------------------------------------------------- */
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

/* ------------------------------------------------------------------------- */
/* Noise: one Philox block per (replication, sample, level, unit group, step)  */
/* ------------------------------------------------------------------------- */

/* Units served by one Philox block: Gaussian uses Box-Muller (two uniforms give two
 * normals), Laplace and logistic one uniform each, Student-t two uniforms each. */
GLR_INLINE int32_t units_per_block(int32_t noise)
{
    return noise == GLR_NOISE_STUDENT_T ? 2 : 4;
}

/* Philox blocks for GLR_BLOCK lanes: lane t has counter (replication[t], c1, c2, c3).
 * Two implementations with identical output: plain C on 32-bit words (suits AVX2 and
 * SSE), and AVX-512 intrinsics on words widened to 64-bit lanes, where one vpmuludq
 * is the whole 32 x 32 -> 64-bit product (compilers emulate a full 64-bit multiply). */
typedef void (*philox_lanes_fn)(const uint32_t *replication, uint32_t c1, uint32_t c2,
                                uint32_t c3, uint32_t key0, uint32_t key1, int32_t npad,
                                uint32_t *words);

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

static philox_lanes_fn select_philox(int32_t flags)
{
#ifdef GLR_HAVE_WIDE
    if (select_wide() && !(flags & GLR_PORTABLE))
        return philox_lanes_u64;
#endif
    return philox_lanes_u32;
}

typedef struct {
    uint32_t key0, key1;   /* seed */
    uint32_t step;
    int64_t half;          /* K/2 with antithetic pairs, else 0 */
    philox_lanes_fn philox;
} noise_stream;

/*
 * Noise of one level for lanes k0 .. k0 + npad - 1 of sample `sample`, written to
 * r[unit * GLR_BLOCK + lane].  Scratch: words (4 x GLR_BLOCK uint32), sign (GLR_BLOCK).
 */
GLR_INLINE void level_noise(const glr_level *lv, int32_t level_index, const noise_stream *ns,
                        uint32_t sample, int64_t k0, int32_t npad,
                        uint32_t *GLR_RESTRICT words, float *GLR_RESTRICT sign,
                        float *GLR_RESTRICT r)
{
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
            /* Box-Muller: (u1, u2) -> sqrt(-2 log u1) (cos 2 pi u2, sin 2 pi u2). */
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
            for (int32_t j = 0; j < count; ++j) {
                const uint32_t *GLR_RESTRICT wj = words + (size_t)j * GLR_BLOCK;
                float *GLR_RESTRICT o = out[j];
                for (int32_t t = 0; t < npad; ++t) {
                    float u = uniform_open(wj[t]);
                    int32_t lower = u < 0.5f;
                    float tail = lower ? u + u : (1.0f - u) + (1.0f - u);   /* (0, 1) */
                    float magnitude = -glr_log(tail) * scale;
                    o[t] = (lower ? -magnitude : magnitude) * sign[t];
                }
            }
            break;
        case GLR_NOISE_LOGISTIC:
            for (int32_t j = 0; j < count; ++j) {
                const uint32_t *GLR_RESTRICT wj = words + (size_t)j * GLR_BLOCK;
                float *GLR_RESTRICT o = out[j];
                for (int32_t t = 0; t < npad; ++t) {
                    float u = uniform_open(wj[t]);
                    o[t] = glr_log(u / (1.0f - u)) * scale * sign[t];
                }
            }
            break;
        case GLR_NOISE_STUDENT_T: {
            /* Bailey (1994): sqrt(nu (u1^(-2/nu) - 1)) cos(2 pi u2) is t_nu distributed. */
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
            u[i] = 1.0f / (1.0f + glr_exp(-slope * u[i]));
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

/* ------------------------------------------------------------------------- */
/* Deterministic lane reductions                                              */
/* ------------------------------------------------------------------------- */
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

/* ------------------------------------------------------------------------- */
/* Levels >= 1: the two matrix products, register-blocked for AVX-512         */
/* ------------------------------------------------------------------------- */
/* The forward product u = W x + b + r (forward_plain) and the score-weighted product
 * of Eq. 4 (accumulate_plain) dominate deep networks.  The plain versions keep their
 * accumulators in memory, and the compiler vectorises their lane loops.  With AVX-512
 * the versions below (forward_wide, accumulate_wide) keep tiles of accumulators in the
 * 32 registers; they compute every sum in the same order, so the bits are the same.
 * (Their 16-float vectors have no machine mode under AVX2 or SSE, where the compiler
 * keeps them in memory and the plain versions are faster.) */
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
GLR_WIDE static void forward_wide(const glr_level *lv, const float *GLR_RESTRICT x,
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
GLR_WIDE static void accumulate_wide(const glr_level *lv, const float *GLR_RESTRICT weight,
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

/* ------------------------------------------------------------------------- */
/* The work item: one sample, one chunk of replications                       */
/* ------------------------------------------------------------------------- */
typedef struct {
    const glr_level *levels;
    int32_t n_levels;
    const float *inputs;
    const int64_t *labels;
    int32_t loss;
    int64_t replications;
    int32_t flags;
    noise_stream stream;
    /* layout of one item's partial sums (doubles) */
    size_t off_first_l, off_first_p, off_upper_l, off_upper_p, off_proba, off_votes;
    size_t row;
    size_t upper_params;        /* parameters of levels >= 1 (weights then bias) */
    int32_t want_proba, want_votes;
    int32_t max_width;
    const float *first_weight_t; /* W^(0) transposed: n_in x n_out */
    int32_t wide;               /* select_wide() */
} kernel_context;

typedef struct {
    float *x;          /* per level: activations x^(l+1), n_out x BLOCK */
    float *psi;        /* per level: scores psi(r^(l)), n_out x BLOCK */
    float *noise;      /* max_width x BLOCK */
    float *weighted;   /* round_up_lanes(max_width) x BLOCK: L_k psi or mask_k psi */
    float *ones;       /* BLOCK ones: x_b = 1 gives the bias term */
    float *packed;     /* max_width x LANES: inputs of one lane group (forward_wide) */
    float *loss;       /* BLOCK, masked by lane validity */
    float *correct;    /* BLOCK */
    float *mask;       /* BLOCK */
    float *work;       /* 4 x BLOCK */
    float *sign;       /* BLOCK */
    uint32_t *words;   /* 4 x BLOCK */
    float *first_preactivation; /* n_out(level 0) */
    double *first_acc;          /* n_out(level 0) */
    size_t *level_offset;       /* n_levels + 1 */
} scratch;

static void *aligned_calloc(size_t bytes)
{
    size_t rounded = (bytes + GLR_ALIGN - 1) / GLR_ALIGN * GLR_ALIGN;
    if (rounded == 0)
        rounded = GLR_ALIGN;
    void *p = aligned_alloc(GLR_ALIGN, rounded);
    if (p)
        memset(p, 0, rounded);
    return p;
}

static void scratch_free(scratch *s)
{
    free(s->x); free(s->psi); free(s->noise); free(s->weighted); free(s->ones); free(s->packed);
    free(s->loss); free(s->correct); free(s->mask); free(s->work); free(s->sign); free(s->words);
    free(s->first_preactivation); free(s->first_acc); free(s->level_offset);
    memset(s, 0, sizeof(*s));
}

static int scratch_init(scratch *s, const kernel_context *ctx)
{
    memset(s, 0, sizeof(*s));
    size_t units = 0;
    s->level_offset = (size_t *)malloc(sizeof(size_t) * (size_t)(ctx->n_levels + 1));
    if (!s->level_offset)
        return GLR_ENOMEM;
    for (int32_t l = 0; l < ctx->n_levels; ++l) {
        s->level_offset[l] = units * GLR_BLOCK;
        units += (size_t)ctx->levels[l].n_out;
    }
    s->level_offset[ctx->n_levels] = units * GLR_BLOCK;
    const size_t block = sizeof(float) * GLR_BLOCK;
    s->x = (float *)aligned_calloc(units * block);
    s->psi = (float *)aligned_calloc(units * block);
    s->noise = (float *)aligned_calloc((size_t)ctx->max_width * block);
    s->weighted = (float *)aligned_calloc((size_t)round_up_lanes(ctx->max_width) * block);
    s->ones = (float *)aligned_calloc(block);
    s->packed = (float *)aligned_calloc(sizeof(float) * GLR_LANES * (size_t)ctx->max_width);
    s->loss = (float *)aligned_calloc(block);
    s->correct = (float *)aligned_calloc(block);
    s->mask = (float *)aligned_calloc(block);
    s->work = (float *)aligned_calloc(4 * block);
    s->sign = (float *)aligned_calloc(block);
    s->words = (uint32_t *)aligned_calloc(4 * sizeof(uint32_t) * GLR_BLOCK);
    s->first_preactivation = (float *)aligned_calloc(sizeof(float) * (size_t)ctx->levels[0].n_out);
    s->first_acc = (double *)aligned_calloc(sizeof(double) * (size_t)ctx->levels[0].n_out);
    if (!s->x || !s->psi || !s->noise || !s->weighted || !s->ones || !s->packed || !s->loss ||
        !s->correct || !s->mask || !s->work || !s->sign || !s->words ||
        !s->first_preactivation || !s->first_acc) {
        scratch_free(s);
        return GLR_ENOMEM;
    }
    for (int32_t t = 0; t < GLR_BLOCK; ++t)
        s->ones[t] = 1.0f;
    return GLR_OK;
}

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

/* Loss of each replication (lane) from the output activations (Section II.A). */
GLR_INLINE void lane_loss(const kernel_context *ctx, const float *GLR_RESTRICT out, int32_t n_classes,
                      int64_t label, int32_t npad, scratch *s)
{
    float *GLR_RESTRICT peak = s->work;
    float *GLR_RESTRICT acc = s->work + GLR_BLOCK;
    float *GLR_RESTRICT ties = s->work + 2 * GLR_BLOCK;
    float *GLR_RESTRICT loss = s->loss;
    float *GLR_RESTRICT correct = s->correct;
    const float *GLR_RESTRICT target = out + (size_t)label * GLR_BLOCK;

    lane_peak_ties(out, n_classes, npad, peak, ties);
    /* accuracy of one replication: the true class wins, ties split evenly */
    for (int32_t t = 0; t < npad; ++t)
        correct[t] = (target[t] == peak[t] ? 1.0f : 0.0f) / ties[t];

    switch (ctx->loss) {
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
        loss[t] *= s->mask[t];
        correct[t] *= s->mask[t];
    }
}

/* Forward pass of one block of lanes for one sample: fills s->x and s->psi. */
GLR_INLINE void forward_block(const kernel_context *ctx, uint32_t sample, int64_t k0, int32_t npad,
                          scratch *s)
{
    for (int32_t l = 0; l < ctx->n_levels; ++l) {
        const glr_level *lv = &ctx->levels[l];
        float *GLR_RESTRICT noise = s->noise;
        float *GLR_RESTRICT u = s->x + s->level_offset[l];
        level_noise(lv, l, &ctx->stream, sample, k0, npad, s->words, s->sign, noise);
        if (!(ctx->flags & GLR_NO_GRADIENT))
            level_score(lv, npad, noise, s->psi + s->level_offset[l]);
        if (l == 0) {
            /* First level: W x is the same for every replication of the sample. */
            for (int32_t a = 0; a < lv->n_out; ++a) {
                const float pre = s->first_preactivation[a];
                for (int32_t t = 0; t < npad; ++t)
                    u[(size_t)a * GLR_BLOCK + t] = pre + noise[(size_t)a * GLR_BLOCK + t];
            }
        } else {
            const float *GLR_RESTRICT x = s->x + s->level_offset[l - 1];
#ifdef GLR_HAVE_WIDE
            if (ctx->wide)
                forward_wide(lv, x, noise, npad, s->packed, u);
            else
#endif
                forward_plain(lv, x, noise, npad, u);
        }
        level_activation(lv, npad, u);
    }
}

/* Score-weighted accumulation of one level >= 1 (Eq. 4) into dst (upper_index). */
GLR_INLINE void accumulate_upper(const kernel_context *ctx, const glr_level *lv,
                                 const float *GLR_RESTRICT weight, const float *GLR_RESTRICT psi,
                                 const float *GLR_RESTRICT x, int32_t npad, scratch *s,
                                 double *GLR_RESTRICT dst)
{
#ifdef GLR_HAVE_WIDE
    if (ctx->wide) {
        accumulate_wide(lv, weight, psi, x, s->ones, npad, s->weighted, dst);
        return;
    }
#endif
    (void)ctx;
    accumulate_plain(lv, weight, psi, x, npad, s->weighted, dst);
}

/* Out of line even without clones: inlined into the OpenMP region, its loops compile
 * worse. */
GLR_DISPATCH GLR_NOINLINE
static void process_item(const kernel_context *ctx, int64_t sample, int64_t k_begin,
                         int64_t k_end, scratch *s, double *GLR_RESTRICT slot)
{
    const glr_level *first = &ctx->levels[0];
    const glr_level *last = &ctx->levels[ctx->n_levels - 1];
    const int32_t n_classes = last->n_out;
    const int64_t label = ctx->labels ? ctx->labels[sample] : 0;
    const int32_t gradient = !(ctx->flags & GLR_NO_GRADIENT);
    const int32_t baseline = (ctx->flags & GLR_BASELINE) && gradient;

    /* W^(0) x + b^(0), shared by all replications (accumulated in double, sequentially
     * over the inputs; vectorised over the units with the transposed weights). */
    {
        const float *GLR_RESTRICT x_in = ctx->inputs + (size_t)sample * first->n_in;
        const int32_t n_out = first->n_out;
        double *GLR_RESTRICT acc = s->first_acc;
        for (int32_t a = 0; a < n_out; ++a)
            acc[a] = (double)first->bias[a];
        for (int32_t j = 0; j < first->n_in; ++j) {
            const float *GLR_RESTRICT wj = ctx->first_weight_t + (size_t)j * n_out;
            const double xj = (double)x_in[j];
            for (int32_t a = 0; a < n_out; ++a)
                acc[a] += (double)wj[a] * xj;
        }
        for (int32_t a = 0; a < n_out; ++a)
            s->first_preactivation[a] = (float)acc[a];
    }

    for (int64_t k0 = k_begin; k0 < k_end; k0 += GLR_BLOCK) {
        const int32_t valid = (int32_t)((k_end - k0) < GLR_BLOCK ? (k_end - k0) : GLR_BLOCK);
        const int32_t npad = (valid + GLR_LANES - 1) / GLR_LANES * GLR_LANES;
        for (int32_t t = 0; t < npad; ++t)
            s->mask[t] = t < valid ? 1.0f : 0.0f;

        forward_block(ctx, (uint32_t)sample, k0, npad, s);
        const float *out = s->x + s->level_offset[ctx->n_levels - 1];
        lane_loss(ctx, out, n_classes, label, npad, s);

        slot[0] += lane_sum(s->loss, npad);
        slot[1] += lane_sum(s->correct, npad);

        if (ctx->want_proba || ctx->want_votes) {
            float *GLR_RESTRICT peak = s->work;
            float *GLR_RESTRICT total = s->work + GLR_BLOCK;
            float *GLR_RESTRICT ties = s->work + 2 * GLR_BLOCK;
            float *GLR_RESTRICT term = s->work + 3 * GLR_BLOCK;
            lane_peak_ties(out, n_classes, npad, peak, ties);
            lane_exp_total(out, n_classes, npad, peak, total);
            for (int32_t c = 0; c < n_classes; ++c) {
                const float *GLR_RESTRICT oc = out + (size_t)c * GLR_BLOCK;
                if (ctx->want_proba) {
                    for (int32_t t = 0; t < npad; ++t)
                        term[t] = s->mask[t] * (glr_exp(oc[t] - peak[t]) / total[t]);
                    slot[ctx->off_proba + (size_t)c] += lane_sum(term, npad);
                }
                if (ctx->want_votes) {
                    for (int32_t t = 0; t < npad; ++t)
                        term[t] = s->mask[t] * ((oc[t] == peak[t] ? 1.0f : 0.0f) / ties[t]);
                    slot[ctx->off_votes + (size_t)c] += lane_sum(term, npad);
                }
            }
        }
        if (!gradient)
            continue;

        /* Level 0: accumulate sum_k L_k psi(r_k) only; the outer product with the
         * input is taken once per sample in the reduction. */
        {
            const float *GLR_RESTRICT psi = s->psi;
            for (int32_t a = 0; a < first->n_out; ++a) {
                slot[ctx->off_first_l + (size_t)a] += lane_dot(s->loss, psi + (size_t)a * GLR_BLOCK, npad);
                if (baseline)
                    slot[ctx->off_first_p + (size_t)a] += lane_dot(s->mask, psi + (size_t)a * GLR_BLOCK, npad);
            }
        }
        size_t offset = 0;
        for (int32_t l = 1; l < ctx->n_levels; ++l) {
            const glr_level *lv = &ctx->levels[l];
            const float *psi = s->psi + s->level_offset[l];
            const float *x = s->x + s->level_offset[l - 1];
            accumulate_upper(ctx, lv, s->loss, psi, x, npad, s, slot + ctx->off_upper_l + offset);
            if (baseline)
                accumulate_upper(ctx, lv, s->mask, psi, x, npad, s, slot + ctx->off_upper_p + offset);
            offset += (size_t)lv->n_out * (size_t)(lv->n_in + 1);
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Validation shared by the entry points                                      */
/* ------------------------------------------------------------------------- */
static int check_levels(const glr_level *levels, int32_t n_levels)
{
    if (!levels || n_levels < 1)
        return GLR_EINVAL;
    for (int32_t l = 0; l < n_levels; ++l) {
        const glr_level *lv = &levels[l];
        if (lv->n_in < 1 || lv->n_out < 1 || !lv->weight || !lv->bias)
            return GLR_EINVAL;
        if (lv->n_out > (1 << 24))  /* unit groups must fit the 24-bit counter field */
            return GLR_EINVAL;
        if (l > 0 && lv->n_in != levels[l - 1].n_out)
            return GLR_EINVAL;
        if (lv->activation < GLR_ACT_SIGMOID || lv->activation > GLR_ACT_QUANTIZED_RELU)
            return GLR_EINVAL;
        if ((lv->activation == GLR_ACT_STAIRCASE || lv->activation == GLR_ACT_QUANTIZED_RELU) &&
            lv->staircase_levels < 2)
            return GLR_EINVAL;
        if (lv->noise < GLR_NOISE_GAUSSIAN || lv->noise > GLR_NOISE_STUDENT_T)
            return GLR_EINVAL;
        if (!(lv->noise_scale > 0.0f) || !isfinite(lv->noise_scale))
            return GLR_EINVAL;
        if (lv->noise == GLR_NOISE_STUDENT_T && (!(lv->noise_shape > 0.0f) || !isfinite(lv->noise_shape)))
            return GLR_EINVAL;
    }
    if (n_levels > 255)
        return GLR_EINVAL;
    return GLR_OK;
}

static int check_stream(int64_t n_samples, int64_t replications, int32_t flags)
{
    if (n_samples < 1 || n_samples > (int64_t)UINT32_MAX)
        return GLR_EINVAL;
    if (replications < 1 || replications > (int64_t)UINT32_MAX)
        return GLR_EINVAL;
    if ((flags & GLR_ANTITHETIC) && (replications % 2) != 0)
        return GLR_EINVAL;
    if ((flags & GLR_BASELINE) && !(flags & GLR_NO_GRADIENT) && replications < 2)
        return GLR_EINVAL;
    return GLR_OK;
}

static noise_stream make_stream(uint64_t seed, uint64_t step, int64_t replications, int32_t flags)
{
    noise_stream ns;
    ns.key0 = (uint32_t)seed;
    ns.key1 = (uint32_t)(seed >> 32);
    ns.step = (uint32_t)step;
    ns.half = (flags & GLR_ANTITHETIC) ? replications / 2 : 0;
    ns.philox = select_philox(flags);
    return ns;
}

int glr_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int glr_default_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

const char *glr_simd_dispatch(void)
{
#ifdef GLR_CLONES
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return "runtime dispatch: avx512f";
    if (__builtin_cpu_supports("avx2"))
        return "runtime dispatch: avx2";
    return "runtime dispatch: baseline";
#elif defined(GLR_NATIVE_BUILD)
    return "native (-march=native)";
#else
    return "baseline (compiler default)";
#endif
}

/* ------------------------------------------------------------------------- */
/* glr_sample_noise: the kernel's noise, materialised                         */
/* ------------------------------------------------------------------------- */
int glr_sample_noise(const glr_level *levels, int32_t n_levels, int64_t n_samples,
                     int64_t replications, uint64_t seed, uint64_t step, int32_t flags,
                     float *noise_out)
{
    int status = check_levels(levels, n_levels);
    if (status == GLR_OK)
        status = check_stream(n_samples, replications, flags | GLR_NO_GRADIENT);
    if (status != GLR_OK || !noise_out)
        return GLR_EINVAL;
    noise_stream ns = make_stream(seed, step, replications, flags);
    int32_t max_width = 0;
    size_t units = 0;
    for (int32_t l = 0; l < n_levels; ++l) {
        max_width = levels[l].n_out > max_width ? levels[l].n_out : max_width;
        units += (size_t)levels[l].n_out;
    }
    float *r = (float *)aligned_calloc(sizeof(float) * (size_t)max_width * GLR_BLOCK);
    uint32_t *words = (uint32_t *)aligned_calloc(4 * sizeof(uint32_t) * GLR_BLOCK);
    float *sign = (float *)aligned_calloc(sizeof(float) * GLR_BLOCK);
    if (!r || !words || !sign) {
        free(r); free(words); free(sign);
        return GLR_ENOMEM;
    }
    for (int64_t n = 0; n < n_samples; ++n) {
        for (int64_t k0 = 0; k0 < replications; k0 += GLR_BLOCK) {
            const int32_t valid = (int32_t)((replications - k0) < GLR_BLOCK ? (replications - k0) : GLR_BLOCK);
            const int32_t npad = (valid + GLR_LANES - 1) / GLR_LANES * GLR_LANES;
            size_t unit_offset = 0;
            for (int32_t l = 0; l < n_levels; ++l) {
                level_noise(&levels[l], l, &ns, (uint32_t)n, k0, npad, words, sign, r);
                for (int32_t t = 0; t < valid; ++t)
                    for (int32_t a = 0; a < levels[l].n_out; ++a)
                        noise_out[((size_t)n * (size_t)replications + (size_t)(k0 + t)) * units
                                  + unit_offset + (size_t)a] = r[(size_t)a * GLR_BLOCK + t];
                unit_offset += (size_t)levels[l].n_out;
            }
        }
    }
    free(r); free(words); free(sign);
    return GLR_OK;
}

/* ------------------------------------------------------------------------- */
/* glr_estimate: Algorithm 1 for a mini-batch                                 */
/* ------------------------------------------------------------------------- */
int glr_estimate(const glr_level *levels, int32_t n_levels,
                 const float *inputs, const int64_t *labels, int64_t n_samples,
                 int32_t loss, int64_t replications,
                 uint64_t seed, uint64_t step, int32_t flags, int32_t n_threads,
                 glr_level_gradient *gradients, glr_outputs *outputs)
{
    int status = check_levels(levels, n_levels);
    if (status != GLR_OK)
        return status;
    if ((status = check_stream(n_samples, replications, flags)) != GLR_OK)
        return status;
    if (!inputs || !outputs || loss < GLR_LOSS_CROSS_ENTROPY || loss > GLR_LOSS_HINGE)
        return GLR_EINVAL;
    const int32_t gradient = !(flags & GLR_NO_GRADIENT);
    const int32_t baseline = (flags & GLR_BASELINE) && gradient;
    const int32_t n_classes = levels[n_levels - 1].n_out;
    if (gradient && !labels)
        return GLR_EINVAL;
    if (labels)
        for (int64_t n = 0; n < n_samples; ++n)
            if (labels[n] < 0 || labels[n] >= n_classes)
                return GLR_EINVAL;
    if (gradient) {
        if (!gradients)
            return GLR_EINVAL;
        for (int32_t l = 0; l < n_levels; ++l)
            if (!gradients[l].weight || !gradients[l].bias)
                return GLR_EINVAL;
    }

    kernel_context ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.levels = levels;
    ctx.n_levels = n_levels;
    ctx.inputs = inputs;
    ctx.labels = labels;
    ctx.loss = loss;
    ctx.replications = replications;
    ctx.flags = flags;
    ctx.stream = make_stream(seed, step, replications, flags);
    ctx.wide = select_wide() && !(flags & GLR_PORTABLE);
    ctx.want_proba = outputs->sample_proba != NULL;
    ctx.want_votes = outputs->sample_votes != NULL;
    for (int32_t l = 0; l < n_levels; ++l) {
        ctx.max_width = levels[l].n_out > ctx.max_width ? levels[l].n_out : ctx.max_width;
        if (l > 0)
            ctx.upper_params += (size_t)levels[l].n_out * (size_t)(levels[l].n_in + 1);
    }
    const size_t n_first = (size_t)levels[0].n_out;
    size_t row = 2;
    ctx.off_first_l = row; row += gradient ? n_first : 0;
    ctx.off_first_p = row; row += baseline ? n_first : 0;
    ctx.off_upper_l = row; row += gradient ? ctx.upper_params : 0;
    ctx.off_upper_p = row; row += baseline ? ctx.upper_params : 0;
    ctx.off_proba = row; row += ctx.want_proba ? (size_t)n_classes : 0;
    ctx.off_votes = row; row += ctx.want_votes ? (size_t)n_classes : 0;
    ctx.row = row;

    const int64_t chunks = (replications + GLR_CHUNK - 1) / GLR_CHUNK;
    const size_t sample_bytes = (size_t)chunks * row * sizeof(double);
    int64_t wave = (int64_t)(GLR_WAVE_BYTES / (sample_bytes ? sample_bytes : 1));
    if (wave < 1) wave = 1;
    if (wave > n_samples) wave = n_samples;

    double *slots = (double *)malloc(sizeof(double) * (size_t)wave * (size_t)chunks * row);
    double *first_score = (double *)calloc((size_t)n_samples * n_first, sizeof(double));
    double *upper_total = (double *)calloc(ctx.upper_params + 1, sizeof(double));
    double *sample_mean_loss = (double *)calloc((size_t)n_samples, sizeof(double));
    double *sample_mean_correct = (double *)calloc((size_t)n_samples, sizeof(double));
    float *first_weight_t = (float *)malloc(sizeof(float) * n_first * (size_t)levels[0].n_in);
    if (!slots || !first_score || !upper_total || !sample_mean_loss || !sample_mean_correct ||
        !first_weight_t) {
        free(slots); free(first_score); free(upper_total); free(sample_mean_loss); free(sample_mean_correct);
        free(first_weight_t);
        return GLR_ENOMEM;
    }
    ctx.first_weight_t = first_weight_t;

    int threads = n_threads > 0 ? n_threads : glr_default_threads();
    int failed = 0;
    const double inv_k = 1.0 / (double)replications;
    /* With the leave-one-out baseline b_k = (sum_{j != k} L_j) / (K - 1):
     * (1/K) sum_k (L_k - b_k) w_k = (1/(K-1)) (sum_k L_k w_k - Lbar sum_k w_k). */
    const double coef = baseline ? 1.0 / (double)(replications - 1) : inv_k;
    (void)threads;

#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
        scratch s;
        int local_status = scratch_init(&s, &ctx);
        if (local_status != GLR_OK) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            failed = 1;
        }
        /* W^(0) transposed, for the first-level pre-activations (process_item) */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t j = 0; j < (int64_t)levels[0].n_in; ++j)
            for (size_t a = 0; a < n_first; ++a)
                first_weight_t[(size_t)j * n_first + a] =
                    levels[0].weight[a * (size_t)levels[0].n_in + (size_t)j];
        for (int64_t s0 = 0; s0 < n_samples; s0 += wave) {
            const int64_t s1 = (s0 + wave) < n_samples ? (s0 + wave) : n_samples;
            const int64_t items = (s1 - s0) * chunks;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (int64_t item = 0; item < items; ++item) {
                double *slot = slots + (size_t)item * row;
                memset(slot, 0, sizeof(double) * row);
                if (local_status != GLR_OK)
                    continue;
                const int64_t sample = s0 + item / chunks;
                const int64_t k_begin = (item % chunks) * GLR_CHUNK;
                const int64_t k_end = (k_begin + GLR_CHUNK) < replications ? (k_begin + GLR_CHUNK) : replications;
                process_item(&ctx, sample, k_begin, k_end, &s, slot);
            }
            /* implicit barrier; per-sample reduction in chunk order */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t sample = s0; sample < s1; ++sample) {
                const double *base = slots + (size_t)(sample - s0) * (size_t)chunks * row;
                double total_loss = 0.0, total_correct = 0.0;
                for (int64_t c = 0; c < chunks; ++c) {
                    total_loss += base[(size_t)c * row];
                    total_correct += base[(size_t)c * row + 1];
                }
                const double mean_loss = total_loss * inv_k;
                sample_mean_loss[sample] = mean_loss;
                sample_mean_correct[sample] = total_correct * inv_k;
                if (gradient) {
                    for (size_t a = 0; a < n_first; ++a) {
                        double weighted = 0.0, plain = 0.0;
                        for (int64_t c = 0; c < chunks; ++c) {
                            weighted += base[(size_t)c * row + ctx.off_first_l + a];
                            if (baseline)
                                plain += base[(size_t)c * row + ctx.off_first_p + a];
                        }
                        first_score[(size_t)sample * n_first + a] =
                            coef * (baseline ? weighted - mean_loss * plain : weighted);
                    }
                }
                if (outputs->sample_proba || outputs->sample_votes) {
                    for (int32_t cls = 0; cls < n_classes; ++cls) {
                        double proba = 0.0, votes = 0.0;
                        for (int64_t c = 0; c < chunks; ++c) {
                            if (ctx.want_proba) proba += base[(size_t)c * row + ctx.off_proba + (size_t)cls];
                            if (ctx.want_votes) votes += base[(size_t)c * row + ctx.off_votes + (size_t)cls];
                        }
                        if (ctx.want_proba) outputs->sample_proba[(size_t)sample * n_classes + cls] = proba * inv_k;
                        if (ctx.want_votes) outputs->sample_votes[(size_t)sample * n_classes + cls] = votes * inv_k;
                    }
                }
            }
            if (gradient) {
                /* levels >= 1: each parameter summed over samples in a fixed order, a
                 * block of parameters at a time so that the loops over them vectorise */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                for (int64_t p0 = 0; p0 < (int64_t)ctx.upper_params; p0 += GLR_REDUCE) {
                    const size_t first_p = (size_t)p0;
                    const size_t left = ctx.upper_params - first_p;
                    const size_t count = left < GLR_REDUCE ? left : GLR_REDUCE;
                    double weighted[GLR_REDUCE], plain[GLR_REDUCE];
                    for (int64_t sample = s0; sample < s1; ++sample) {
                        const double *base = slots + (size_t)(sample - s0) * (size_t)chunks * row;
                        for (size_t i = 0; i < count; ++i)
                            weighted[i] = plain[i] = 0.0;
                        for (int64_t c = 0; c < chunks; ++c) {
                            const double *chunk = base + (size_t)c * row;
                            for (size_t i = 0; i < count; ++i)
                                weighted[i] += chunk[ctx.off_upper_l + first_p + i];
                            if (baseline)
                                for (size_t i = 0; i < count; ++i)
                                    plain[i] += chunk[ctx.off_upper_p + first_p + i];
                        }
                        double *acc = upper_total + first_p;
                        if (baseline) {
                            const double mean_loss = sample_mean_loss[sample];
                            for (size_t i = 0; i < count; ++i)
                                acc[i] += coef * (weighted[i] - mean_loss * plain[i]);
                        } else {
                            for (size_t i = 0; i < count; ++i)
                                acc[i] += coef * weighted[i];
                        }
                    }
                }
            }
        }
        /* Level 0 (Eq. 4 with x^(1) the input): (1/N) sum_n first_score[n] (x) x_n. */
        if (gradient) {
            const int32_t n_in = levels[0].n_in;
            const double inv_n = 1.0 / (double)n_samples;
            /* four units at a time, so that each input row is read once for the four */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t a0 = 0; a0 < (int64_t)n_first; a0 += 4) {
                const int64_t a1 = (a0 + 4) < (int64_t)n_first ? (a0 + 4) : (int64_t)n_first;
                for (int64_t a = a0; a < a1; ++a) {
                    double *row_out = gradients[0].weight + (size_t)a * (size_t)n_in;
                    for (int32_t j = 0; j < n_in; ++j)
                        row_out[j] = 0.0;
                    gradients[0].bias[a] = 0.0;
                }
                for (int64_t n = 0; n < n_samples; ++n) {
                    const float *x = inputs + (size_t)n * (size_t)n_in;
                    for (int64_t a = a0; a < a1; ++a) {
                        const double g = first_score[(size_t)n * n_first + (size_t)a];
                        double *row_out = gradients[0].weight + (size_t)a * (size_t)n_in;
                        for (int32_t j = 0; j < n_in; ++j)
                            row_out[j] += g * (double)x[j];
                        gradients[0].bias[a] += g;
                    }
                }
                for (int64_t a = a0; a < a1; ++a) {
                    double *row_out = gradients[0].weight + (size_t)a * (size_t)n_in;
                    for (int32_t j = 0; j < n_in; ++j)
                        row_out[j] *= inv_n;
                    gradients[0].bias[a] *= inv_n;
                }
            }
        }
        if (local_status == GLR_OK)
            scratch_free(&s);
    }

    if (failed) {
        status = GLR_ENOMEM;
    } else {
        const double inv_n = 1.0 / (double)n_samples;
        double total_loss = 0.0, total_correct = 0.0;
        for (int64_t n = 0; n < n_samples; ++n) {
            total_loss += sample_mean_loss[n];
            total_correct += sample_mean_correct[n];
        }
        outputs->mean_loss = total_loss * inv_n;
        outputs->mean_accuracy = total_correct * inv_n;
        if (outputs->sample_loss)
            memcpy(outputs->sample_loss, sample_mean_loss, sizeof(double) * (size_t)n_samples);
        if (outputs->sample_accuracy)
            memcpy(outputs->sample_accuracy, sample_mean_correct, sizeof(double) * (size_t)n_samples);
        if (gradient && outputs->sample_first_score)
            memcpy(outputs->sample_first_score, first_score, sizeof(double) * (size_t)n_samples * n_first);
        if (gradient) {
            size_t offset = 0;
            for (int32_t l = 1; l < n_levels; ++l) {
                /* the partial sums hold the weights in tiles (accumulate_upper) */
                const int32_t n_out = levels[l].n_out, n_in = levels[l].n_in;
                const size_t nw = (size_t)n_out * (size_t)n_in;
                for (int32_t a = 0; a < n_out; ++a)
                    for (int32_t b = 0; b < n_in; ++b)
                        gradients[l].weight[(size_t)a * n_in + b] =
                            upper_total[offset + upper_index(n_out, n_in, a, b)] * inv_n;
                for (int32_t a = 0; a < levels[l].n_out; ++a)
                    gradients[l].bias[a] = upper_total[offset + nw + (size_t)a] * inv_n;
                offset += nw + (size_t)levels[l].n_out;
            }
        }
    }
    free(slots); free(first_score); free(upper_total); free(sample_mean_loss); free(sample_mean_correct);
    free(first_weight_t);
    return status;
}
