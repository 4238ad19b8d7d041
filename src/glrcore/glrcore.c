/*
 * glrcore.c: the fused GLR gradient kernel (see glrcore.h for the notation), the
 * driver: glr_estimate (Algorithm 1 for a mini-batch) as a sequence of phases,
 * glr_sample_noise, and the build information.
 *
 * Layout of the work.  A mini-batch of N samples with K replications each is cut
 * into work items (sample n, chunk of GLR_CHUNK replications).  The chunking depends
 * only on K, never on the thread count, and every item writes its partial sums to a
 * slot of its own (process_item, work_item.c); slots are reduced in a fixed order.
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

/* The shared work space of one call, set up before the parallel region. */
typedef struct {
    int64_t n_samples;
    int32_t gradient, baseline;
    size_t n_first;              /* n_out of level 0 */
    int32_t n_classes;           /* n_out of the last level */
    int64_t chunks;              /* work items per sample */
    int64_t wave;                /* samples whose partial sums are held at once */
    double inv_k;                /* 1 / K */
    double coef;                 /* weight of a sum over replications, see reduce_per_sample */
    double *slots;               /* wave x chunks x ctx->row partial sums */
    double *first_score;         /* N x n_first: glr_outputs.sample_first_score */
    double *upper_total;         /* ctx->upper_params (+1): sums over samples, levels >= 1 */
    double *sample_mean_loss;    /* N */
    double *sample_mean_correct; /* N */
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

/* The layout of one work item's partial sums (doubles): loss and accuracy sums, then
 * for level 0 sum_k L_k psi(r_k) (and sum_k psi(r_k) with the baseline), then the same
 * for the weights and biases of levels >= 1, then the class probability and vote
 * sums; a part is empty when it is not wanted. */
static void plan_partial_sums(kernel_context *ctx, int32_t gradient, int32_t baseline)
{
    const glr_level *levels = ctx->levels;
    for (int32_t l = 0; l < ctx->n_levels; ++l) {
        ctx->max_width = levels[l].n_out > ctx->max_width ? levels[l].n_out : ctx->max_width;
        if (l > 0)
            ctx->upper_params += (size_t)levels[l].n_out * (size_t)(levels[l].n_in + 1);
    }
    const size_t n_first = (size_t)levels[0].n_out;
    const size_t n_classes = (size_t)levels[ctx->n_levels - 1].n_out;
    size_t row = 2;
    ctx->off_first_l = row; row += gradient ? n_first : 0;
    ctx->off_first_p = row; row += baseline ? n_first : 0;
    ctx->off_upper_l = row; row += gradient ? ctx->upper_params : 0;
    ctx->off_upper_p = row; row += baseline ? ctx->upper_params : 0;
    ctx->off_proba = row; row += ctx->want_proba ? n_classes : 0;
    ctx->off_votes = row; row += ctx->want_votes ? n_classes : 0;
    ctx->row = row;
}

static kernel_context make_context(const glr_level *levels, int32_t n_levels,
                                   const float *inputs, const int64_t *labels, int32_t loss,
                                   int64_t replications, uint64_t seed, uint64_t step,
                                   int32_t flags, const glr_outputs *outputs)
{
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
    const int32_t gradient = !(flags & GLR_NO_GRADIENT);
    plan_partial_sums(&ctx, gradient, (flags & GLR_BASELINE) && gradient);
    return ctx;
}

static void work_free(estimate_work *w)
{
    free(w->slots); free(w->first_score); free(w->upper_total); free(w->sample_mean_loss);
    free(w->sample_mean_correct); free(w->first_weight_t);
}

/* The partial sums of as many samples at once (a wave) as GLR_WAVE_BYTES allows, and
 * the per-sample and per-parameter totals. */
static int work_alloc(estimate_work *w, const kernel_context *ctx, int64_t n_samples)
{
    const glr_level *levels = ctx->levels;
    memset(w, 0, sizeof(*w));
    w->n_samples = n_samples;
    w->gradient = !(ctx->flags & GLR_NO_GRADIENT);
    w->baseline = (ctx->flags & GLR_BASELINE) && w->gradient;
    w->n_first = (size_t)levels[0].n_out;
    w->n_classes = levels[ctx->n_levels - 1].n_out;
    w->chunks = (ctx->replications + GLR_CHUNK - 1) / GLR_CHUNK;
    const size_t sample_bytes = (size_t)w->chunks * ctx->row * sizeof(double);
    w->wave = (int64_t)(GLR_WAVE_BYTES / (sample_bytes ? sample_bytes : 1));
    if (w->wave < 1) w->wave = 1;
    if (w->wave > n_samples) w->wave = n_samples;
    w->inv_k = 1.0 / (double)ctx->replications;
    /* With the leave-one-out baseline b_k = (sum_{j != k} L_j) / (K - 1):
     * (1/K) sum_k (L_k - b_k) w_k = (1/(K-1)) (sum_k L_k w_k - Lbar sum_k w_k). */
    w->coef = w->baseline ? 1.0 / (double)(ctx->replications - 1) : w->inv_k;

    w->slots = (double *)malloc(sizeof(double) * (size_t)w->wave * (size_t)w->chunks * ctx->row);
    w->first_score = (double *)calloc((size_t)n_samples * w->n_first, sizeof(double));
    w->upper_total = (double *)calloc(ctx->upper_params + 1, sizeof(double));
    w->sample_mean_loss = (double *)calloc((size_t)n_samples, sizeof(double));
    w->sample_mean_correct = (double *)calloc((size_t)n_samples, sizeof(double));
    w->first_weight_t = (float *)malloc(sizeof(float) * w->n_first * (size_t)levels[0].n_in);
    if (!w->slots || !w->first_score || !w->upper_total || !w->sample_mean_loss ||
        !w->sample_mean_correct || !w->first_weight_t) {
        work_free(w);
        return GLR_ENOMEM;
    }
    return GLR_OK;
}

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

/* Every work item (sample, chunk) of samples s0 .. s1 - 1 into its slot. */
static void process_wave_items(const kernel_context *ctx, const estimate_work *w, int64_t s0,
                               int64_t s1, int local_status, scratch *s)
{
    const int64_t chunks = w->chunks;
    const int64_t items = (s1 - s0) * chunks;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
    for (int64_t item = 0; item < items; ++item) {
        double *slot = w->slots + (size_t)item * ctx->row;
        memset(slot, 0, sizeof(double) * ctx->row);
        if (local_status != GLR_OK)
            continue;
        const int64_t sample = s0 + item / chunks;
        const int64_t k_begin = (item % chunks) * GLR_CHUNK;
        const int64_t k_end = (k_begin + GLR_CHUNK) < ctx->replications ? (k_begin + GLR_CHUNK)
                                                                         : ctx->replications;
        process_item(ctx, sample, k_begin, k_end, s, slot);
    }
}

/* Per sample of the wave, its chunks summed in chunk order: the mean loss and
 * accuracy, the first-level likelihood-ratio weight (1/K) sum_k (L_k - b_k) psi(r_k)
 * (Eq. 4 / Eq. 5; b_k the leave-one-out baseline, see work_alloc), and the class
 * probabilities and votes. */
static void reduce_per_sample(const kernel_context *ctx, const estimate_work *w, int64_t s0,
                              int64_t s1, glr_outputs *outputs)
{
    const size_t row = ctx->row, n_first = w->n_first;
    const int64_t chunks = w->chunks;
    const int32_t n_classes = w->n_classes;
    const double inv_k = w->inv_k, coef = w->coef;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t sample = s0; sample < s1; ++sample) {
        const double *base = w->slots + (size_t)(sample - s0) * (size_t)chunks * row;
        double total_loss = 0.0, total_correct = 0.0;
        for (int64_t c = 0; c < chunks; ++c) {
            total_loss += base[(size_t)c * row];
            total_correct += base[(size_t)c * row + 1];
        }
        const double mean_loss = total_loss * inv_k;
        w->sample_mean_loss[sample] = mean_loss;
        w->sample_mean_correct[sample] = total_correct * inv_k;
        if (w->gradient) {
            for (size_t a = 0; a < n_first; ++a) {
                double weighted = 0.0, plain = 0.0;
                for (int64_t c = 0; c < chunks; ++c) {
                    weighted += base[(size_t)c * row + ctx->off_first_l + a];
                    if (w->baseline)
                        plain += base[(size_t)c * row + ctx->off_first_p + a];
                }
                w->first_score[(size_t)sample * n_first + a] =
                    coef * (w->baseline ? weighted - mean_loss * plain : weighted);
            }
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
            }
        }
    }
}

/* Levels >= 1 (Eq. 4): each parameter's (1/K) sum_k (L_k - b_k) psi_a(r_k) x_b(k)
 * added over the samples of the wave in sample order, a block of parameters at a time
 * so that the loops over them vectorise.  Needs reduce_per_sample's mean losses. */
static void reduce_upper_levels(const kernel_context *ctx, const estimate_work *w, int64_t s0,
                                int64_t s1)
{
    const size_t row = ctx->row;
    const int64_t chunks = w->chunks;
    const int32_t baseline = w->baseline;
    const double coef = w->coef;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t p0 = 0; p0 < (int64_t)ctx->upper_params; p0 += GLR_REDUCE) {
        const size_t first_p = (size_t)p0;
        const size_t left = ctx->upper_params - first_p;
        const size_t count = left < GLR_REDUCE ? left : GLR_REDUCE;
        double weighted[GLR_REDUCE], plain[GLR_REDUCE];
        for (int64_t sample = s0; sample < s1; ++sample) {
            const double *base = w->slots + (size_t)(sample - s0) * (size_t)chunks * row;
            for (size_t i = 0; i < count; ++i)
                weighted[i] = plain[i] = 0.0;
            for (int64_t c = 0; c < chunks; ++c) {
                const double *chunk = base + (size_t)c * row;
                for (size_t i = 0; i < count; ++i)
                    weighted[i] += chunk[ctx->off_upper_l + first_p + i];
                if (baseline)
                    for (size_t i = 0; i < count; ++i)
                        plain[i] += chunk[ctx->off_upper_p + first_p + i];
            }
            double *acc = w->upper_total + first_p;
            if (baseline) {
                const double mean_loss = w->sample_mean_loss[sample];
                for (size_t i = 0; i < count; ++i)
                    acc[i] += coef * (weighted[i] - mean_loss * plain[i]);
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

int glr_estimate(const glr_level *levels, int32_t n_levels,
                 const float *inputs, const int64_t *labels, int64_t n_samples,
                 int32_t loss, int64_t replications,
                 uint64_t seed, uint64_t step, int32_t flags, int32_t n_threads,
                 glr_level_gradient *gradients, glr_outputs *outputs)
{
    int status = check_estimate_arguments(levels, n_levels, inputs, labels, n_samples, loss,
                                          replications, flags, gradients, outputs);
    if (status != GLR_OK)
        return status;
    kernel_context ctx = make_context(levels, n_levels, inputs, labels, loss, replications,
                                      seed, step, flags, outputs);
    estimate_work w;
    if ((status = work_alloc(&w, &ctx, n_samples)) != GLR_OK)
        return status;
    ctx.first_weight_t = w.first_weight_t;

    int threads = n_threads > 0 ? n_threads : glr_default_threads();
    int failed = 0;
    (void)threads;
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
        for (int64_t s0 = 0; s0 < n_samples; s0 += w.wave) {
            const int64_t s1 = (s0 + w.wave) < n_samples ? (s0 + w.wave) : n_samples;
            process_wave_items(&ctx, &w, s0, s1, local_status, &s);
            reduce_per_sample(&ctx, &w, s0, s1, outputs);
            if (w.gradient)
                reduce_upper_levels(&ctx, &w, s0, s1);
        }
        if (w.gradient)
            first_level_outer_product(&ctx, &w, gradients);
        if (local_status == GLR_OK)
            scratch_free(&s);
    }

    if (failed)
        status = GLR_ENOMEM;
    else
        write_outputs(&ctx, &w, gradients, outputs);
    work_free(&w);
    return status;
}
