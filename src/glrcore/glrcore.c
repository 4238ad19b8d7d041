/*
 * glrcore.c: the fused GLR gradient kernel (see glrcore.h for the notation), the
 * driver: glr_estimate (Algorithm 1 for a mini-batch) as a sequence of phases,
 * glr_sample_noise, and the build information.
 *
 * Layout of the work.  A mini-batch of N samples with K replications each is cut
 * into work items (sample n, chunk of GLR_CHUNK replications).  The chunking depends
 * only on K, never on the thread count, and every item writes its partial sums to a
 * slot of its own (process_item, work_item.c); slots are reduced in a fixed order,
 * a bounded wave of them at a time (estimate_work), so the work space does not grow
 * with K.
 * Inside an item, replications are processed GLR_BLOCK at a time, one SIMD lane per
 * replication: noise sampling (counter-based Philox, so each lane draws its own
 * stream; noise.h), forward propagation, loss and the score-weight accumulation
 * L * psi(r) (x) x of Eq. 4 / Eq. 5.  Lane sums use GLR_LANES fixed partial sums
 * (float) collapsed in a fixed tree and added into double accumulators (lanes.h), so
 * the vectorised and the scalar build give the same bits.  The two matrix products of
 * levels >= 1 have AVX-512 versions that keep tiles of accumulators in registers
 * (simd_tiles.c); they perform the same operations in the same order as the plain
 * loops.
 *
 * Floating point: the build uses -ffp-contract=off and no -ffast-math; every
 * elementary function is a branch-free polynomial of IEEE operations (glr_math.h), so
 * the result does not depend on which SIMD instruction set the dispatcher picked.
 *
 * Threads: one OpenMP parallel region per call; each phase below is one worksharing
 * loop (omp for, orphaned in its function) ending in an implicit barrier, and every
 * sum has an order fixed by the data, not by the thread that computes it.
 */
#include "glrcore.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "glr_internal.h"
#include "noise.h"
#include "simd_tiles.h"

#ifdef _OPENMP
#include <omp.h>
#endif

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
    /* a baseline that leaves out the pair needs another pair */
    if ((flags & GLR_BASELINE) && (flags & GLR_ANTITHETIC) && !(flags & GLR_NO_GRADIENT) &&
        replications < 4)
        return GLR_EINVAL;
    return GLR_OK;
}

/* Randomized QMC noise (GLR_RQMC): K even (two halves of K/2 points), every level's
 * lattice increments given, no antithetic mirror (the halves would not be
 * independent) and no Student-t noise (no inverse distribution function here). */
static int check_rqmc(const glr_level *levels, int32_t n_levels, int64_t replications,
                      int32_t flags)
{
    if (!(flags & GLR_RQMC))
        return GLR_OK;
    if ((flags & GLR_ANTITHETIC) || replications % 2 != 0)
        return GLR_EINVAL;
    for (int32_t l = 0; l < n_levels; ++l)
        if (!levels[l].rqmc_steps || levels[l].noise == GLR_NOISE_STUDENT_T)
            return GLR_EINVAL;
    return GLR_OK;
}

/* ------------------------------------------------------------------------- */
/* Build information                                                          */
/* ------------------------------------------------------------------------- */
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

void glr_get_layout(glr_layout *out)
{
    out->block = GLR_BLOCK;
    out->lanes = GLR_LANES;
    out->chunk = GLR_CHUNK;
    out->wave_bytes = GLR_WAVE_BYTES;
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
int glr_sample_noise(const glr_level *levels, int32_t n_levels, const uint32_t *sample_keys,
                     int64_t n_samples, int64_t replications, int64_t first, int64_t count,
                     uint64_t seed, uint64_t step, int32_t flags, float *noise_out)
{
    int status = check_levels(levels, n_levels);
    if (status == GLR_OK)
        status = check_stream(n_samples, replications, flags | GLR_NO_GRADIENT);
    if (status == GLR_OK)
        status = check_rqmc(levels, n_levels, replications, flags);
    if (status != GLR_OK || !noise_out || first < 0 || count < 1 || count > replications - first)
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
        const uint32_t key = sample_keys ? sample_keys[n] : (uint32_t)n;
        for (int64_t i0 = 0; i0 < count; i0 += GLR_BLOCK) {
            const int32_t valid = (int32_t)((count - i0) < GLR_BLOCK ? (count - i0) : GLR_BLOCK);
            const int32_t npad = (valid + GLR_LANES - 1) / GLR_LANES * GLR_LANES;
            size_t unit_offset = 0;
            for (int32_t l = 0; l < n_levels; ++l) {
                level_noise(&levels[l], l, &ns, key, first + i0, npad, words, sign, r);
                for (int32_t t = 0; t < valid; ++t)
                    for (int32_t a = 0; a < levels[l].n_out; ++a)
                        noise_out[((size_t)n * (size_t)count + (size_t)(i0 + t)) * units
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

/* The shared work space of one call, set up before the parallel region.
 *
 * Waves.  The partial sums of a wave of work items are held at once, at most about
 * GLR_WAVE_BYTES of them, whatever K.  When all the chunks of a sample fit, a wave is
 * `wave` whole samples (wave x chunks slots).  Otherwise a wave is `chunk_wave` chunks
 * of one sample, and slot 0 carries the sum of the sample's earlier chunks (the fold
 * phase, fold_partial_sums): every sum over the chunks is then still the sequence
 * ((0 + s_0) + s_1) + ... in chunk order, so the bits do not depend on the waves. */
typedef struct {
    int64_t n_samples;
    int32_t gradient, baseline;
    size_t n_first;              /* n_out of level 0 */
    int32_t n_classes;           /* n_out of the last level */
    int64_t chunks;              /* work items per sample */
    int64_t wave;                /* samples per wave */
    int64_t chunk_wave;          /* chunks per wave (chunks unless split) */
    int32_t split;               /* waves of chunks of one sample, slot 0 the carry */
    double inv_k;                /* 1 / K */
    double coef;                 /* weight of a sum over replications, see reduce_per_sample */
    double shift_scale;          /* baseline shift per unit of mean loss, ditto */
    double *slots;               /* the partial sums of one wave, ctx->row doubles each */
    level_bound *bounds;         /* n_levels: for the overflow checks (compute_bounds) */
    /* The first non-finite value, written under a lock: a pre-activation, in the order of
     * (sample, chunk) (process_wave_items), or a sum of the wave's reductions, in the order
     * of (sample, kind, level) (record_fault).  Each phase writes its own order, which the
     * threads read after the phase's closing barrier, before any can write it again. */
    int64_t item_fault_order;    /* -1: none */
    int64_t reduce_fault_order;  /* -1: none */
    int64_t fault_sample;
    item_fault fault;
    double *first_score;         /* N x n_first: glr_outputs.sample_first_score */
    double *upper_total;         /* ctx->upper_params (+1): sums over samples, levels >= 1 */
    double *sample_mean_loss;    /* N */
    double *sample_mean_correct; /* N */
    double *half_shift;          /* N x 2, GLR_RQMC with the baseline: the baselines of the
                                    halves, the mean loss of the other half (b_0, b_1) */
    float *first_weight_t;       /* n_in x n_first: W^(0) transposed */
} estimate_work;

static int check_estimate_arguments(const glr_level *levels, int32_t n_levels,
                                    const float *inputs, const int64_t *labels,
                                    int64_t n_samples, int32_t loss, int64_t replications,
                                    int32_t flags, const glr_level_gradient *gradients,
                                    const glr_outputs *outputs)
{
    int status = check_levels(levels, n_levels);
    if (status != GLR_OK)
        return status;
    if ((status = check_stream(n_samples, replications, flags)) != GLR_OK)
        return status;
    if ((status = check_rqmc(levels, n_levels, replications, flags)) != GLR_OK)
        return status;
    if (!inputs || !outputs || loss < GLR_LOSS_CROSS_ENTROPY || loss > GLR_LOSS_HINGE)
        return GLR_EINVAL;
    const int32_t gradient = !(flags & GLR_NO_GRADIENT);
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
    return GLR_OK;
}

/* The layout of one work item's partial sums (doubles): loss and accuracy sums (and with
 * halves the loss sum of the second half), then for level 0 sum_k L_k psi(r_k) (and
 * sum_k psi(r_k) with the baseline, one per half with halves), then the same for the
 * weights and biases of levels >= 1, then the class probability and vote sums; a part is
 * empty when it is not wanted.  With halves an item writes the plain sums of its own
 * half; the other half's stay zero. */
static void plan_partial_sums(kernel_context *ctx, int32_t gradient, int32_t baseline)
{
    const size_t copies = ctx->halves ? 2 : 1;
    const glr_level *levels = ctx->levels;
    for (int32_t l = 0; l < ctx->n_levels; ++l) {
        ctx->max_width = levels[l].n_out > ctx->max_width ? levels[l].n_out : ctx->max_width;
        if (l > 0)
            ctx->upper_params += (size_t)levels[l].n_out * (size_t)(levels[l].n_in + 1);
    }
    const size_t n_first = (size_t)levels[0].n_out;
    const size_t n_classes = (size_t)levels[ctx->n_levels - 1].n_out;
    size_t row = ctx->halves ? 3 : 2;
    ctx->off_first_l = row; row += gradient ? n_first : 0;
    ctx->off_first_p = row; row += baseline ? copies * n_first : 0;
    ctx->off_upper_l = row; row += gradient ? ctx->upper_params : 0;
    ctx->off_upper_p = row; row += baseline ? copies * ctx->upper_params : 0;
    ctx->off_proba = row; row += ctx->want_proba ? n_classes : 0;
    ctx->off_votes = row; row += ctx->want_votes ? n_classes : 0;
    ctx->row = row;
}

static kernel_context make_context(const glr_level *levels, int32_t n_levels,
                                   const float *inputs, const int64_t *labels,
                                   const uint32_t *sample_keys, int32_t loss,
                                   int64_t replications, uint64_t seed, uint64_t step,
                                   int32_t flags, const glr_outputs *outputs)
{
    kernel_context ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.levels = levels;
    ctx.n_levels = n_levels;
    ctx.inputs = inputs;
    ctx.labels = labels;
    ctx.sample_keys = sample_keys;
    ctx.loss = loss;
    ctx.replications = replications;
    ctx.flags = flags;
    ctx.stream = make_stream(seed, step, replications, flags);
    ctx.wide = select_wide() && !(flags & GLR_PORTABLE);
    ctx.want_proba = outputs->sample_proba != NULL;
    ctx.want_votes = outputs->sample_votes != NULL;
    const int32_t gradient = !(flags & GLR_NO_GRADIENT);
    ctx.pairs = gradient && (flags & GLR_BASELINE) && (flags & GLR_ANTITHETIC);
    ctx.pair_weight = ctx.pairs ? (float)(1.0 / (double)(replications - 1)) : 0.0f;
    ctx.halves = gradient && (flags & GLR_BASELINE) && (flags & GLR_RQMC);
    const glr_level *last = &levels[n_levels - 1];
    ctx.rank_preactivation = last->activation == GLR_ACT_TANH ||
                             (last->activation == GLR_ACT_SIGMOID && last->activation_slope > 0.0f);
    plan_partial_sums(&ctx, gradient, (flags & GLR_BASELINE) && gradient);
    return ctx;
}

static void work_free(estimate_work *w)
{
    free(w->bounds);
    free(w->slots); free(w->first_score); free(w->upper_total); free(w->sample_mean_loss);
    free(w->sample_mean_correct); free(w->first_weight_t); free(w->half_shift);
}

/* Work items per sample: with halves, each half is chunked on its own. */
static int64_t chunks_per_sample(const kernel_context *ctx)
{
    const int64_t K = ctx->replications;
    if (ctx->halves)
        return 2 * ((K / 2 + GLR_CHUNK - 1) / GLR_CHUNK);
    const int64_t span = ctx->pairs ? GLR_CHUNK / 2 : GLR_CHUNK;
    return ((ctx->pairs ? K / 2 : K) + span - 1) / span;
}

/* The replications of chunk `chunk` of a sample: k_begin .. k_end - 1 (with pairs: of
 * the first half; the item does their partners k + K/2 too, so it still covers
 * GLR_CHUNK replications; with halves: within one half). */
static void chunk_range(const kernel_context *ctx, int64_t chunk, int64_t *k_begin,
                        int64_t *k_end)
{
    if (ctx->halves) {
        const int64_t half = ctx->replications / 2;
        const int64_t per_half = (half + GLR_CHUNK - 1) / GLR_CHUNK;
        const int64_t start = (chunk / per_half) * half;
        *k_begin = start + (chunk % per_half) * GLR_CHUNK;
        *k_end = (*k_begin + GLR_CHUNK) < start + half ? (*k_begin + GLR_CHUNK) : start + half;
        return;
    }
    const int64_t span = ctx->pairs ? GLR_CHUNK / 2 : GLR_CHUNK;
    const int64_t limit = ctx->pairs ? ctx->replications / 2 : ctx->replications;
    *k_begin = chunk * span;
    *k_end = (*k_begin + span) < limit ? (*k_begin + span) : limit;
}

/* The waves (see estimate_work): how many samples, or how many chunks of one sample,
 * have their partial sums held at once.  GLR_SMALL_WAVES takes the smallest waves. */
static void plan_waves(estimate_work *w, const kernel_context *ctx, int64_t n_samples,
                       int threads)
{
    const size_t row_bytes = ctx->row * sizeof(double);
    const size_t sample_bytes = (size_t)w->chunks * row_bytes;
    const size_t bound = (ctx->flags & GLR_SMALL_WAVES) ? 0 : GLR_WAVE_BYTES;
    w->wave = 1;
    w->chunk_wave = w->chunks;
    w->split = 0;
    if (w->chunks == 1 || sample_bytes <= bound) {
        w->wave = (int64_t)(bound / sample_bytes);
        if (w->wave < 1) w->wave = 1;
        if (w->wave > n_samples) w->wave = n_samples;
        return;
    }
    /* chunks of one sample, and the carry; at least one item per thread */
    int64_t chunk_wave = (int64_t)(bound / row_bytes) - 1;
    if (!(ctx->flags & GLR_SMALL_WAVES) && chunk_wave < threads)
        chunk_wave = threads;
    if (chunk_wave < 1)
        chunk_wave = 1;
    if (chunk_wave < w->chunks) {
        w->chunk_wave = chunk_wave;
        w->split = 1;
    }
}

/* The bounds of every level for the overflow checks (level_bound): the largest noise,
 * and for levels >= 1 the largest row sum of |W| and the largest |b| (level 0 is bounded
 * per sample, from its own W x + b). */
static void compute_bounds(const kernel_context *ctx, level_bound *bounds)
{
    for (int32_t l = 0; l < ctx->n_levels; ++l) {
        const glr_level *lv = &ctx->levels[l];
        bounds[l].noise = level_noise_bound(lv);
        if (l == 0)
            continue;
        for (int32_t a = 0; a < lv->n_out; ++a) {
            double row = 0.0;
            for (int32_t j = 0; j < lv->n_in; ++j)
                row += fabs((double)lv->weight[(size_t)a * lv->n_in + j]);
            const double bias = fabs((double)lv->bias[a]);
            bounds[l].weight = row > bounds[l].weight ? row : bounds[l].weight;
            bounds[l].bias = bias > bounds[l].bias ? bias : bounds[l].bias;
        }
    }
}

/* The partial sums of one wave, and the per-sample and per-parameter totals. */
static int work_alloc(estimate_work *w, const kernel_context *ctx, int64_t n_samples,
                      int threads)
{
    const glr_level *levels = ctx->levels;
    memset(w, 0, sizeof(*w));
    w->n_samples = n_samples;
    w->gradient = !(ctx->flags & GLR_NO_GRADIENT);
    w->baseline = (ctx->flags & GLR_BASELINE) && w->gradient;
    w->n_first = (size_t)levels[0].n_out;
    w->n_classes = levels[ctx->n_levels - 1].n_out;
    const int64_t K = ctx->replications;
    w->chunks = chunks_per_sample(ctx);
    plan_waves(w, ctx, n_samples, threads);
    w->inv_k = 1.0 / (double)K;
    /* With the leave-one-out baseline b_k = (sum_{j != k} L_j) / (K - 1):
     * (1/K) sum_k (L_k - b_k) w_k = (1/(K-1)) (sum_k L_k w_k - Lbar sum_k w_k).
     * With antithetic pairs b_k leaves out the pair (pair_weights, work_item.c):
     * (1/K) sum_k (L_k - b_k) w_k = (K-1)/(K(K-2)) (sum_k weight_k w_k - Lbar K/(K-1) sum_k w_k).
     * With halves (GLR_RQMC) b_k is the mean loss of the other half:
     * (1/K) sum_k (L_k - b_k) w_k = (1/K) (sum_k L_k w_k - b_0 sum_{k in 0} w_k - b_1 sum_{k in 1} w_k). */
    w->coef = !w->baseline || ctx->halves ? w->inv_k
              : ctx->pairs ? (double)(K - 1) / ((double)K * (double)(K - 2))
                           : 1.0 / (double)(K - 1);
    w->shift_scale = ctx->pairs ? (double)K / (double)(K - 1) : 1.0;
    w->item_fault_order = w->reduce_fault_order = -1;

    const size_t slot_rows = w->split ? (size_t)w->chunk_wave + 1 : (size_t)w->wave * (size_t)w->chunks;
    w->slots = (double *)malloc(sizeof(double) * slot_rows * ctx->row);
    w->first_score = (double *)calloc((size_t)n_samples * w->n_first, sizeof(double));
    w->upper_total = (double *)calloc(ctx->upper_params + 1, sizeof(double));
    w->sample_mean_loss = (double *)calloc((size_t)n_samples, sizeof(double));
    w->sample_mean_correct = (double *)calloc((size_t)n_samples, sizeof(double));
    w->first_weight_t = (float *)malloc(sizeof(float) * w->n_first * (size_t)levels[0].n_in);
    w->bounds = (level_bound *)calloc((size_t)ctx->n_levels, sizeof(level_bound));
    if (ctx->halves && !(w->half_shift = (double *)calloc(2 * (size_t)n_samples, sizeof(double)))) {
        work_free(w);
        return GLR_ENOMEM;
    }
    if (!w->slots || !w->first_score || !w->upper_total || !w->sample_mean_loss ||
        !w->sample_mean_correct || !w->first_weight_t || !w->bounds) {
        work_free(w);
        return GLR_ENOMEM;
    }
    compute_bounds(ctx, w->bounds);
    return GLR_OK;
}

/* Where a wave's partial sums are: per sample `per_sample` consecutive slots, in chunk
 * order (the carry first when there is one). */
typedef struct {
    const double *base;
    int64_t per_sample;
} wave_view;

/* The phases below run inside the parallel region of glr_estimate, each one
 * worksharing loop with its implicit barrier at the end. */

/* W^(0) transposed, for the first-level pre-activations (first_preactivation). */
static void transpose_first_weights(const kernel_context *ctx, const estimate_work *w)
{
    const glr_level *first = &ctx->levels[0];
    const size_t n_first = w->n_first;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t j = 0; j < (int64_t)first->n_in; ++j)
        for (size_t a = 0; a < n_first; ++a)
            w->first_weight_t[(size_t)j * n_first + a] =
                first->weight[a * (size_t)first->n_in + (size_t)j];
}

/* Keep the first fault in the order of one phase (`first`: its field of estimate_work). */
static void record_fault(estimate_work *w, int64_t *first, int64_t order, int64_t sample,
                         item_fault fault)
{
#ifdef _OPENMP
#pragma omp critical(glr_fault)
#endif
    if (*first < 0 || order < *first) {
        *first = order;
        w->fault_sample = sample;
        w->fault = fault;
    }
}

/* Every work item (sample, chunk) of samples s0 .. s1 - 1 and chunks c0 .. c1 - 1 into
 * its slot, from `first_slot` on; records the first non-finite value in the order of
 * (sample, chunk). */
static void process_wave_items(const kernel_context *ctx, estimate_work *w, int64_t s0,
                               int64_t s1, int64_t c0, int64_t c1, double *first_slot,
                               int local_status, scratch *s)
{
    const int64_t wave_chunks = c1 - c0;
    const int64_t items = (s1 - s0) * wave_chunks;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
    for (int64_t item = 0; item < items; ++item) {
        double *slot = first_slot + (size_t)item * ctx->row;
        memset(slot, 0, sizeof(double) * ctx->row);
        if (local_status != GLR_OK)
            continue;
        const int64_t sample = s0 + item / wave_chunks;
        const int64_t chunk = c0 + item % wave_chunks;
        int64_t k_begin, k_end;
        chunk_range(ctx, chunk, &k_begin, &k_end);
        const item_fault fault = process_item(ctx, sample, k_begin, k_end, s, slot);
        if (fault.kind != GLR_NONFINITE_NONE)
            record_fault(w, &w->item_fault_order, sample * w->chunks + chunk, sample, fault);
    }
}

/* A non-finite sum found by the reductions of a wave, in the order of (sample, kind,
 * level). */
static void record_sum_fault(estimate_work *w, int64_t sample, int32_t kind, int32_t level)
{
    const item_fault fault = {kind, level};
    record_fault(w, &w->reduce_fault_order, (sample * 8 + kind) * 256 + level, sample, fault);
}

GLR_INLINE int32_t any_nonfinite(const double *GLR_RESTRICT v, size_t count)
{
    int32_t bad = 0;
    for (size_t i = 0; i < count; ++i)
        bad |= (v[i] - v[i]) != 0.0;   /* 0 for a finite v, NaN otherwise */
    return bad;
}

/* The level >= 1 of parameter p of the upper partial sums (weights then biases of each). */
static int32_t upper_level(const kernel_context *ctx, size_t p)
{
    for (int32_t l = 1; l < ctx->n_levels; ++l) {
        const size_t count = (size_t)ctx->levels[l].n_out * (size_t)(ctx->levels[l].n_in + 1);
        if (p < count)
            return l;
        p -= count;
    }
    return ctx->n_levels - 1;
}

/* A split sample between two waves: the carry (slot 0) becomes the sum, in chunk order,
 * of the wave's slots (the carry first), a block of entries at a time. */
static void fold_partial_sums(const kernel_context *ctx, const estimate_work *w, wave_view v)
{
    const size_t row = ctx->row;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t e0 = 0; e0 < (int64_t)row; e0 += GLR_REDUCE) {
        const size_t first = (size_t)e0;
        const size_t count = (row - first) < GLR_REDUCE ? (row - first) : GLR_REDUCE;
        double acc[GLR_REDUCE];
        for (size_t i = 0; i < count; ++i)
            acc[i] = 0.0;
        for (int64_t c = 0; c < v.per_sample; ++c) {
            const double *chunk = v.base + (size_t)c * row + first;
            for (size_t i = 0; i < count; ++i)
                acc[i] += chunk[i];
        }
        for (size_t i = 0; i < count; ++i)
            w->slots[first + i] = acc[i];
    }
}

/* Per sample of the wave, its chunks summed in chunk order: the mean loss and
 * accuracy, the first-level likelihood-ratio weight (1/K) sum_k (L_k - b_k) psi(r_k)
 * (Eq. 4 / Eq. 5; b_k the leave-one-out baseline, see work_alloc), and the class
 * probabilities and votes. */
static void reduce_per_sample(const kernel_context *ctx, estimate_work *w, wave_view v,
                              int64_t s0, int64_t s1, glr_outputs *outputs)
{
    const size_t row = ctx->row, n_first = w->n_first;
    const int64_t chunks = v.per_sample;
    const int32_t n_classes = w->n_classes;
    const double inv_k = w->inv_k, coef = w->coef;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t sample = s0; sample < s1; ++sample) {
        const double *base = v.base + (size_t)(sample - s0) * (size_t)chunks * row;
        double total_loss = 0.0, total_correct = 0.0, second_loss = 0.0;
        for (int64_t c = 0; c < chunks; ++c) {
            total_loss += base[(size_t)c * row];
            total_correct += base[(size_t)c * row + 1];
            if (ctx->halves)
                second_loss += base[(size_t)c * row + 2];
        }
        if (any_nonfinite(&total_loss, 1))
            record_sum_fault(w, sample, GLR_NONFINITE_LOSS, ctx->n_levels - 1);
        const double mean_loss = total_loss * inv_k;
        const double shift = mean_loss * w->shift_scale;
        /* halves: the baseline of half h is the mean loss of the other half */
        double shift0 = 0.0, shift1 = 0.0;
        if (ctx->halves) {
            const double per_half = 2.0 * inv_k;
            shift0 = second_loss * per_half;
            shift1 = (total_loss - second_loss) * per_half;
            w->half_shift[2 * (size_t)sample] = shift0;
            w->half_shift[2 * (size_t)sample + 1] = shift1;
        }
        w->sample_mean_loss[sample] = mean_loss;
        w->sample_mean_correct[sample] = total_correct * inv_k;
        if (w->gradient) {
            for (size_t a = 0; a < n_first; ++a) {
                double weighted = 0.0, plain = 0.0, plain1 = 0.0;
                for (int64_t c = 0; c < chunks; ++c) {
                    weighted += base[(size_t)c * row + ctx->off_first_l + a];
                    if (w->baseline)
                        plain += base[(size_t)c * row + ctx->off_first_p + a];
                    if (ctx->halves)
                        plain1 += base[(size_t)c * row + ctx->off_first_p + n_first + a];
                }
                w->first_score[(size_t)sample * n_first + a] =
                    ctx->halves  ? coef * (weighted - shift0 * plain - shift1 * plain1)
                    : w->baseline ? coef * (weighted - shift * plain) : coef * weighted;
            }
            if (any_nonfinite(w->first_score + (size_t)sample * n_first, n_first))
                record_sum_fault(w, sample, GLR_NONFINITE_GRADIENT, 0);
        }
        if (outputs->sample_proba || outputs->sample_votes) {
            for (int32_t cls = 0; cls < n_classes; ++cls) {
                double proba = 0.0, votes = 0.0;
                for (int64_t c = 0; c < chunks; ++c) {
                    if (ctx->want_proba) proba += base[(size_t)c * row + ctx->off_proba + (size_t)cls];
                    if (ctx->want_votes) votes += base[(size_t)c * row + ctx->off_votes + (size_t)cls];
                }
                if (ctx->want_proba) outputs->sample_proba[(size_t)sample * n_classes + cls] = proba * inv_k;
                if (ctx->want_votes) outputs->sample_votes[(size_t)sample * n_classes + cls] = votes * inv_k;
                if (any_nonfinite(&proba, 1) || any_nonfinite(&votes, 1))
                    record_sum_fault(w, sample, GLR_NONFINITE_OUTPUT, ctx->n_levels - 1);
            }
        }
    }
}

/* Levels >= 1 (Eq. 4): each parameter's (1/K) sum_k (L_k - b_k) psi_a(r_k) x_b(k)
 * added over the samples of the wave in sample order, a block of parameters at a time
 * so that the loops over them vectorise.  Needs reduce_per_sample's mean losses. */
static void reduce_upper_levels(const kernel_context *ctx, estimate_work *w, wave_view v,
                                int64_t s0, int64_t s1)
{
    const size_t row = ctx->row;
    const int64_t chunks = v.per_sample;
    const int32_t baseline = w->baseline;
    const double coef = w->coef;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t p0 = 0; p0 < (int64_t)ctx->upper_params; p0 += GLR_REDUCE) {
        const size_t first_p = (size_t)p0;
        const size_t left = ctx->upper_params - first_p;
        const size_t count = left < GLR_REDUCE ? left : GLR_REDUCE;
        const int32_t halves = ctx->halves;
        double weighted[GLR_REDUCE], plain[GLR_REDUCE], plain1[GLR_REDUCE];
        for (int64_t sample = s0; sample < s1; ++sample) {
            const double *base = v.base + (size_t)(sample - s0) * (size_t)chunks * row;
            for (size_t i = 0; i < count; ++i)
                weighted[i] = plain[i] = plain1[i] = 0.0;
            for (int64_t c = 0; c < chunks; ++c) {
                const double *chunk = base + (size_t)c * row;
                for (size_t i = 0; i < count; ++i)
                    weighted[i] += chunk[ctx->off_upper_l + first_p + i];
                if (baseline)
                    for (size_t i = 0; i < count; ++i)
                        plain[i] += chunk[ctx->off_upper_p + first_p + i];
                if (halves)
                    for (size_t i = 0; i < count; ++i)
                        plain1[i] += chunk[ctx->off_upper_p + ctx->upper_params + first_p + i];
            }
            if (any_nonfinite(weighted, count) || (baseline && any_nonfinite(plain, count)) ||
                (halves && any_nonfinite(plain1, count)))
                for (size_t i = 0; i < count; ++i)
                    if (any_nonfinite(weighted + i, 1) || (baseline && any_nonfinite(plain + i, 1)) ||
                        (halves && any_nonfinite(plain1 + i, 1))) {
                        record_sum_fault(w, sample, GLR_NONFINITE_GRADIENT, upper_level(ctx, first_p + i));
                        break;
                    }
            double *acc = w->upper_total + first_p;
            if (halves) {
                const double shift0 = w->half_shift[2 * (size_t)sample];
                const double shift1 = w->half_shift[2 * (size_t)sample + 1];
                for (size_t i = 0; i < count; ++i)
                    acc[i] += coef * (weighted[i] - shift0 * plain[i] - shift1 * plain1[i]);
            } else if (baseline) {
                const double shift = w->sample_mean_loss[sample] * w->shift_scale;
                for (size_t i = 0; i < count; ++i)
                    acc[i] += coef * (weighted[i] - shift * plain[i]);
            } else {
                for (size_t i = 0; i < count; ++i)
                    acc[i] += coef * weighted[i];
            }
        }
    }
}

/* Level 0 (Eq. 4 with x^(1) the input): (1/N) sum_n first_score[n] (x) x_n, and the
 * bias gradient (1/N) sum_n first_score[n]; four units at a time, so that each input
 * row is read once for the four. */
static void first_level_outer_product(const kernel_context *ctx, const estimate_work *w,
                                      glr_level_gradient *gradients)
{
    const int32_t n_in = ctx->levels[0].n_in;
    const size_t n_first = w->n_first;
    const int64_t n_samples = w->n_samples;
    const double inv_n = 1.0 / (double)n_samples;
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
            const float *x = ctx->inputs + (size_t)n * (size_t)n_in;
            for (int64_t a = a0; a < a1; ++a) {
                const double g = w->first_score[(size_t)n * n_first + (size_t)a];
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

/* After the parallel region: the means over the mini-batch (Algorithm 1), the
 * per-sample outputs, and the gradients of levels >= 1 out of their tiled layout
 * (upper_index), all divided by N. */
static void write_outputs(const kernel_context *ctx, const estimate_work *w,
                          glr_level_gradient *gradients, glr_outputs *outputs)
{
    const glr_level *levels = ctx->levels;
    const int64_t n_samples = w->n_samples;
    const double inv_n = 1.0 / (double)n_samples;
    double total_loss = 0.0, total_correct = 0.0;
    for (int64_t n = 0; n < n_samples; ++n) {
        total_loss += w->sample_mean_loss[n];
        total_correct += w->sample_mean_correct[n];
    }
    outputs->mean_loss = total_loss * inv_n;
    outputs->mean_accuracy = total_correct * inv_n;
    if (outputs->sample_loss)
        memcpy(outputs->sample_loss, w->sample_mean_loss, sizeof(double) * (size_t)n_samples);
    if (outputs->sample_accuracy)
        memcpy(outputs->sample_accuracy, w->sample_mean_correct, sizeof(double) * (size_t)n_samples);
    if (!w->gradient)
        return;
    if (outputs->sample_first_score)
        memcpy(outputs->sample_first_score, w->first_score,
               sizeof(double) * (size_t)n_samples * w->n_first);
    size_t offset = 0;
    for (int32_t l = 1; l < ctx->n_levels; ++l) {
        const int32_t n_out = levels[l].n_out, n_in = levels[l].n_in;
        const size_t nw = (size_t)n_out * (size_t)n_in;
        for (int32_t a = 0; a < n_out; ++a)
            for (int32_t b = 0; b < n_in; ++b)
                gradients[l].weight[(size_t)a * n_in + b] =
                    w->upper_total[offset + upper_index(n_out, n_in, a, b)] * inv_n;
        for (int32_t a = 0; a < n_out; ++a)
            gradients[l].bias[a] = w->upper_total[offset + nw + (size_t)a] * inv_n;
        offset += nw + (size_t)n_out;
    }
}

/* Every wave of work items (see estimate_work), each followed by its reductions; stops
 * after a wave that met a non-finite value (all threads read the fault orders after the
 * barrier that closes the phase that writes them). */
static void run_waves(const kernel_context *ctx, estimate_work *w, int local_status,
                      scratch *s, glr_outputs *outputs)
{
    const size_t row = ctx->row;
    double *first_slot = w->slots + (w->split ? row : 0);   /* after the carry */
    for (int64_t s0 = 0; s0 < w->n_samples; s0 += w->wave) {
        const int64_t s1 = (s0 + w->wave) < w->n_samples ? (s0 + w->wave) : w->n_samples;
        for (int64_t c0 = 0; c0 < w->chunks; c0 += w->chunk_wave) {
            const int64_t c1 = (c0 + w->chunk_wave) < w->chunks ? (c0 + w->chunk_wave) : w->chunks;
            process_wave_items(ctx, w, s0, s1, c0, c1, first_slot, local_status, s);
            if (w->item_fault_order >= 0)
                return;
            const wave_view v = {c0 > 0 ? w->slots : first_slot, (c1 - c0) + (c0 > 0)};
            if (c1 < w->chunks) {
                fold_partial_sums(ctx, w, v);
                continue;
            }
            reduce_per_sample(ctx, w, v, s0, s1, outputs);
            if (w->gradient)
                reduce_upper_levels(ctx, w, v, s0, s1);
            if (w->reduce_fault_order >= 0)
                return;
        }
    }
}

int glr_estimate(const glr_level *levels, int32_t n_levels,
                 const float *inputs, const int64_t *labels, const uint32_t *sample_keys,
                 int64_t n_samples, int32_t loss, int64_t replications,
                 uint64_t seed, uint64_t step, int32_t flags, int32_t n_threads,
                 glr_level_gradient *gradients, glr_outputs *outputs)
{
    int status = check_estimate_arguments(levels, n_levels, inputs, labels, n_samples, loss,
                                          replications, flags, gradients, outputs);
    if (status != GLR_OK)
        return status;
    kernel_context ctx = make_context(levels, n_levels, inputs, labels, sample_keys, loss,
                                      replications, seed, step, flags, outputs);
    const int threads = n_threads > 0 ? n_threads : glr_default_threads();
    estimate_work w;
    if ((status = work_alloc(&w, &ctx, n_samples, threads)) != GLR_OK)
        return status;
    ctx.first_weight_t = w.first_weight_t;
    ctx.bounds = w.bounds;

    int failed = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
        scratch s;
        const int local_status = scratch_init(&s, &ctx);
        if (local_status != GLR_OK) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            failed = 1;
        }
        transpose_first_weights(&ctx, &w);
        run_waves(&ctx, &w, local_status, &s, outputs);
        if (w.gradient && w.item_fault_order < 0 && w.reduce_fault_order < 0)
            first_level_outer_product(&ctx, &w, gradients);
        if (local_status == GLR_OK)
            scratch_free(&s);
    }

    if (failed) {
        status = GLR_ENOMEM;
    } else if (w.item_fault_order >= 0 || w.reduce_fault_order >= 0) {
        status = GLR_ENONFINITE;
        outputs->nonfinite_kind = w.fault.kind;
        outputs->nonfinite_level = w.fault.level;
        outputs->nonfinite_sample = w.fault_sample;
    } else {
        write_outputs(&ctx, &w, gradients, outputs);
    }
    work_free(&w);
    return status;
}
