/*
 * glr_internal.h: what the kernel's translation units share and the Python binding
 * never sees: build configuration (SIMD dispatch, inlining), the block sizes, the
 * per-call context and per-thread scratch types, and the cross-file prototypes.
 *
 * Files of the kernel (see glrcore.c for the overall layout of the work):
 *   philox.h      Philox4x32-10 rounds and 32-bit word -> open uniform
 *   glr_math.h    branch-free float log / exp / expm1 / tanh / sincos
 *   noise.h/.c    per-level noise r^(l) and its score psi(r^(l)) (Eq. 5)
 *   activation.h  x^(l+1) = phi_l(u^(l))
 *   lanes.h       deterministic sums over the replication lanes
 *   loss.h        per-replication loss, accuracy, arg-max ties
 *   simd_tiles.h/.c  the two matrix products of levels >= 1 (plain and AVX-512)
 *   work_item.c   one work item: one sample x one chunk of replications
 *   glrcore.c     glr_estimate (Algorithm 1) in phases, glr_sample_noise, build info
 */
#ifndef GLR_INTERNAL_H
#define GLR_INTERNAL_H

#include "glrcore.h"

#include <stddef.h>
#include <stdint.h>

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

#define GLR_BLOCK 128        /* replications processed together (SIMD lanes)   */
#define GLR_LANES 16         /* fixed partial sums per lane reduction           */
#define GLR_CHUNK 1024       /* replications per work item (multiple of BLOCK)   */
#define GLR_WAVE_BYTES (64u << 20) /* bound on the partial sums held at once (a wave) */
#define GLR_REDUCE 256       /* parameters per block of the final reduction       */
#define GLR_SAFE 8.0e37      /* |u| below this cannot overflow float32 (FLT_MAX / 4) */
#define GLR_ALIGN 64

#if defined(__GNUC__)
#define GLR_INLINE static inline __attribute__((always_inline))
#define GLR_NOINLINE __attribute__((noinline))
#define GLR_RESTRICT __restrict__
#define GLR_PRIVATE __attribute__((visibility("hidden")))  /* not exported from the module */
#define GLR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define GLR_INLINE static inline
#define GLR_NOINLINE
#define GLR_RESTRICT
#define GLR_PRIVATE
#define GLR_UNLIKELY(x) (x)
#endif

#ifdef GLR_CLONES
#define GLR_DISPATCH __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GLR_DISPATCH
#endif

/* Philox blocks for GLR_BLOCK lanes: lane t has counter (replication[t], c1, c2, c3);
 * word i of lane t goes to words[i * GLR_BLOCK + t] (noise.c). */
typedef void (*philox_lanes_fn)(const uint32_t *replication, uint32_t c1, uint32_t c2,
                                uint32_t c3, uint32_t key0, uint32_t key1, int32_t npad,
                                uint32_t *words);

/* The noise of one call: a pure function of (seed, step, sample, replication, level,
 * unit) (glrcore.h). */
typedef struct {
    uint32_t key0, key1;   /* seed */
    uint32_t step;
    int64_t half;          /* K/2 with antithetic pairs, else 0 */
    int64_t rqmc_half;     /* K/2 with GLR_RQMC (the points of one half), else 0 */
    philox_lanes_fn philox;
} noise_stream;

/* Bounds on what a level makes, for the overflow checks (plan_checks, work_item.c):
 * |u_a| <= 2 (weight * max|x| + bias) + noise, the 2 for the rounding of the float sums. */
typedef struct {
    double weight;   /* max_a sum_j |W_aj| (levels >= 1) */
    double bias;     /* max_a |b_a| */
    double noise;    /* the largest |r| the sampler returns (level_noise_bound, noise.c) */
} level_bound;

/* Everything a work item reads; set up once per glr_estimate call. */
typedef struct {
    const glr_level *levels;
    int32_t n_levels;
    const float *inputs;
    const int64_t *labels;
    const uint32_t *sample_keys; /* NULL: a sample's row index is its noise key */
    int32_t loss;
    int64_t replications;
    int32_t flags;
    noise_stream stream;
    /* Baseline with antithetic pairs: an item covers replications k_begin .. k_end - 1
     * of the first half and their partners k + K/2 (process_item, work_item.c). */
    int32_t pairs;
    float pair_weight;          /* 1 / (K - 1), see pair_weights (work_item.c) */
    /* GLR_RQMC with the baseline: the halves' partial sums apart (cross-fitted baseline,
     * reduce_per_sample in glrcore.c); an item lies in one half (chunk_range). */
    int32_t halves;
    /* Output activation strictly increasing and saturating in float32 (sigmoid, tanh):
     * the arg-max and its ties are decided on the output pre-activations. */
    int32_t rank_preactivation;
    /* layout of one item's partial sums (doubles), see plan_partial_sums (glrcore.c) */
    size_t off_first_l, off_first_p, off_upper_l, off_upper_p, off_proba, off_votes;
    size_t row;
    size_t upper_params;        /* parameters of levels >= 1 (weights then bias) */
    int32_t want_proba, want_votes;
    int32_t max_width;
    const float *first_weight_t; /* W^(0) transposed: n_in x n_out */
    const level_bound *bounds;   /* n_levels */
    int32_t wide;               /* select_wide() */
} kernel_context;

/* The forward pass of one block of lanes: what the loss and the score sums read. */
typedef struct {
    float *x;          /* per level: activations x^(l+1), n_out x BLOCK */
    float *psi;        /* per level: scores psi(r^(l)), n_out x BLOCK */
    float *rank;       /* n_classes x BLOCK: what the arg-max ranks (the output
                          pre-activations, or the outputs themselves) */
    float *loss;       /* BLOCK, masked by lane validity */
    float *correct;    /* BLOCK */
    float *weight;     /* BLOCK: the lane weights of the score sums with pairs */
} lane_bank;

/* Per-thread work space of the work items. */
typedef struct {
    lane_bank bank[2]; /* the block, and with ctx->pairs its antithetic partner */
    int32_t owns_rank; /* bank[].rank allocated (else it points into bank[].x) */
    float *noise;      /* max_width x BLOCK */
    float *weighted;   /* round_up_lanes(max_width) x BLOCK: L_k psi or mask_k psi */
    float *ones;       /* BLOCK ones: x_b = 1 gives the bias term */
    float *packed;     /* max_width x LANES: inputs of one lane group (forward_wide) */
    float *mask;       /* BLOCK */
    float *work;       /* 6 x BLOCK */
    float *sign;       /* BLOCK */
    uint32_t *words;   /* 4 x BLOCK */
    float *first_preactivation; /* n_out(level 0) */
    double *first_acc;          /* n_out(level 0) */
    size_t *level_offset;       /* n_levels + 1 */
    uint8_t *unsafe;            /* per level: its |u| may overflow, check each block */
} scratch;

/* simd_tiles.c: whether the AVX-512 versions run (the same test as the clone dispatch). */
GLR_PRIVATE int32_t select_wide(void);

/* What a work item found non-finite: kind GLR_NONFINITE_NONE when all is finite. */
typedef struct {
    int32_t kind;      /* enum glr_nonfinite */
    int32_t level;
} item_fault;

/* work_item.c */
GLR_PRIVATE void *aligned_calloc(size_t bytes);   /* zeroed, GLR_ALIGN-aligned; free() */
GLR_PRIVATE int scratch_init(scratch *s, const kernel_context *ctx);
GLR_PRIVATE void scratch_free(scratch *s);
/* The partial sums (ctx->row doubles, zeroed by the caller) of replications
 * k_begin .. k_end - 1 of one sample (with ctx->pairs: and of their partners); stops
 * at the first pre-activation that is not finite and says at which level. */
GLR_PRIVATE item_fault process_item(const kernel_context *ctx, int64_t sample, int64_t k_begin,
                                    int64_t k_end, scratch *s, double *GLR_RESTRICT slot);

#endif /* GLR_INTERNAL_H */
