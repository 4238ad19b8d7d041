/*
 * work_item.c: one work item of glr_estimate, one sample and one chunk of at most
 * GLR_CHUNK replications, processed GLR_BLOCK replications at a time with one SIMD
 * lane per replication: noise sampling, forward propagation, loss, and the partial
 * sums of the likelihood-ratio weights L_k psi(r_k) (x) x of Eq. 4 / Eq. 5 into the
 * item's own slot (layout: plan_partial_sums in glrcore.c).  Also the per-thread
 * scratch the items use.
 *
 * process_item is compiled once per instruction set (GLR_DISPATCH) and everything it
 * calls in its inner loops is an always-inline function of the headers below, so
 * each clone gets its own vectorisation; only the AVX-512 products (simd_tiles.c) and
 * the Philox lanes (noise.c) are calls.
 */
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "glr_internal.h"
#include "glr_math.h"
#include "lanes.h"
#include "loss.h"
#include "noise.h"
#include "simd_tiles.h"

void *aligned_calloc(size_t bytes)
{
    size_t rounded = (bytes + GLR_ALIGN - 1) / GLR_ALIGN * GLR_ALIGN;
    if (rounded == 0)
        rounded = GLR_ALIGN;
    void *p = aligned_alloc(GLR_ALIGN, rounded);
    if (p)
        memset(p, 0, rounded);
    return p;
}

void scratch_free(scratch *s)
{
    free(s->x); free(s->psi); free(s->noise); free(s->weighted); free(s->ones); free(s->packed);
    free(s->loss); free(s->correct); free(s->mask); free(s->work); free(s->sign); free(s->words);
    free(s->first_preactivation); free(s->first_acc); free(s->level_offset);
    memset(s, 0, sizeof(*s));
}

int scratch_init(scratch *s, const kernel_context *ctx)
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

/* W^(0) x + b^(0) of the sample, shared by all its replications (accumulated in
 * double, sequentially over the inputs; vectorised over the units with the transposed
 * weights), into s->first_preactivation. */
GLR_INLINE void first_preactivation(const kernel_context *ctx, int64_t sample, scratch *s)
{
    const glr_level *first = &ctx->levels[0];
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

/* Forward pass of one block of lanes for one sample: fills s->x and s->psi. */
GLR_INLINE void forward_block(const kernel_context *ctx, uint32_t sample, int64_t k0,
                              int32_t npad, scratch *s)
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

/* Per class c: the sums over the valid lanes of softmax(x^(tau))_c and of the vote
 * share of c (1 / #ties when c attains the maximum), into slot[ctx->off_proba + c]
 * and slot[ctx->off_votes + c]. */
GLR_INLINE void accumulate_class_outputs(const kernel_context *ctx, const float *GLR_RESTRICT out,
                                         int32_t n_classes, int32_t npad, scratch *s,
                                         double *GLR_RESTRICT slot)
{
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

/* The sums of Eq. 4 over the block's lanes: sum_k L_k psi(r_k) for level 0, whose
 * outer product with the input is taken once per sample (first_level_outer_product
 * in glrcore.c), and sum_k L_k psi_a(r_k) x_b(k) for levels >= 1; with the baseline
 * also the same sums with mask_k in place of L_k (for the leave-one-out baseline, see
 * reduce_per_sample in glrcore.c). */
GLR_INLINE void accumulate_scores(const kernel_context *ctx, int32_t npad, int32_t baseline,
                                  scratch *s, double *GLR_RESTRICT slot)
{
    const glr_level *first = &ctx->levels[0];
    const float *GLR_RESTRICT psi0 = s->psi;
    for (int32_t a = 0; a < first->n_out; ++a) {
        slot[ctx->off_first_l + (size_t)a] += lane_dot(s->loss, psi0 + (size_t)a * GLR_BLOCK, npad);
        if (baseline)
            slot[ctx->off_first_p + (size_t)a] += lane_dot(s->mask, psi0 + (size_t)a * GLR_BLOCK, npad);
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

/* Out of line even without clones: inlined into the OpenMP region, its loops compile
 * worse. */
GLR_DISPATCH GLR_NOINLINE
void process_item(const kernel_context *ctx, int64_t sample, int64_t k_begin, int64_t k_end,
                  scratch *s, double *GLR_RESTRICT slot)
{
    const glr_level *last = &ctx->levels[ctx->n_levels - 1];
    const int32_t n_classes = last->n_out;
    const int64_t label = ctx->labels ? ctx->labels[sample] : 0;
    const int32_t gradient = !(ctx->flags & GLR_NO_GRADIENT);
    const int32_t baseline = (ctx->flags & GLR_BASELINE) && gradient;

    first_preactivation(ctx, sample, s);
    for (int64_t k0 = k_begin; k0 < k_end; k0 += GLR_BLOCK) {
        const int32_t valid = (int32_t)((k_end - k0) < GLR_BLOCK ? (k_end - k0) : GLR_BLOCK);
        const int32_t npad = (valid + GLR_LANES - 1) / GLR_LANES * GLR_LANES;
        for (int32_t t = 0; t < npad; ++t)
            s->mask[t] = t < valid ? 1.0f : 0.0f;

        forward_block(ctx, (uint32_t)sample, k0, npad, s);
        const float *out = s->x + s->level_offset[ctx->n_levels - 1];
        lane_loss(ctx->loss, out, n_classes, label, npad, s->mask, s->work, s->loss, s->correct);

        slot[0] += lane_sum(s->loss, npad);
        slot[1] += lane_sum(s->correct, npad);
        if (ctx->want_proba || ctx->want_votes)
            accumulate_class_outputs(ctx, out, n_classes, npad, s, slot);
        if (gradient)
            accumulate_scores(ctx, npad, baseline, s, slot);
    }
}
