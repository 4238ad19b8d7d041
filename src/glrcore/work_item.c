/*
 * work_item.c: one work item of glr_estimate, one sample and one chunk of at most
 * GLR_CHUNK replications, processed GLR_BLOCK replications at a time with one SIMD
 * lane per replication: noise sampling, forward propagation, loss, and the partial
 * sums of the likelihood-ratio weights L_k psi(r_k) (x) x of Eq. 4 / Eq. 5 into the
 * item's own slot (layout: plan_partial_sums in glrcore.c).  Also the per-thread
 * scratch the items use.
 *
 * With the baseline and antithetic pairs together, an item covers GLR_CHUNK / 2
 * replications of the first half and their partners k + K/2 (two banks of lanes), so
 * that each lane's weight can leave its pair out of the baseline (pair_weights).
 *
 * Overflow: an item stops at the first pre-activation that is not finite in float32 and
 * says at which level (item_fault); only the levels whose bound says they might
 * overflow are checked, per block (plan_checks).  The loss and the score sums are
 * checked where the driver reduces them (glrcore.c).
 *
 * process_item is compiled once per instruction set (GLR_DISPATCH) and everything it
 * calls in its inner loops is an always-inline function of the headers below, so
 * each clone gets its own vectorisation; only the AVX-512 products (simd_tiles.c) and
 * the Philox lanes (noise.c) are calls.
 */
#include <math.h>
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
    for (int32_t b = 0; b < 2; ++b) {
        lane_bank *bank = &s->bank[b];
        free(bank->x); free(bank->psi); free(bank->loss); free(bank->correct); free(bank->weight);
        if (s->owns_rank)
            free(bank->rank);
    }
    free(s->noise); free(s->weighted); free(s->ones); free(s->packed);
    free(s->mask); free(s->work); free(s->sign); free(s->words);
    free(s->first_preactivation); free(s->first_acc); free(s->level_offset); free(s->unsafe);
    memset(s, 0, sizeof(*s));
}

/* One bank of lanes: activations and scores of every level, and what the loss reads. */
static int bank_init(lane_bank *bank, const kernel_context *ctx, size_t units,
                     size_t last_offset)
{
    const size_t block = sizeof(float) * GLR_BLOCK;
    bank->x = (float *)aligned_calloc(units * block);
    bank->psi = (float *)aligned_calloc(units * block);
    bank->loss = (float *)aligned_calloc(block);
    bank->correct = (float *)aligned_calloc(block);
    bank->weight = (float *)aligned_calloc(block);
    if (!bank->x)
        return GLR_ENOMEM;
    /* the output pre-activations, or the outputs x^(tau) themselves */
    bank->rank = ctx->rank_preactivation
        ? (float *)aligned_calloc((size_t)ctx->levels[ctx->n_levels - 1].n_out * block)
        : bank->x + last_offset;
    return bank->psi && bank->loss && bank->correct && bank->weight && bank->rank ? GLR_OK
                                                                                 : GLR_ENOMEM;
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
    s->owns_rank = ctx->rank_preactivation;
    int status = GLR_OK;
    for (int32_t b = 0; b < (ctx->pairs ? 2 : 1) && status == GLR_OK; ++b)
        status = bank_init(&s->bank[b], ctx, units, s->level_offset[ctx->n_levels - 1]);
    const size_t block = sizeof(float) * GLR_BLOCK;
    s->noise = (float *)aligned_calloc((size_t)ctx->max_width * block);
    s->weighted = (float *)aligned_calloc((size_t)round_up_lanes(ctx->max_width) * block);
    s->ones = (float *)aligned_calloc(block);
    s->packed = (float *)aligned_calloc(sizeof(float) * GLR_LANES * (size_t)ctx->max_width);
    s->mask = (float *)aligned_calloc(block);
    s->work = (float *)aligned_calloc(6 * block);
    s->sign = (float *)aligned_calloc(block);
    s->words = (uint32_t *)aligned_calloc(4 * sizeof(uint32_t) * GLR_BLOCK);
    s->first_preactivation = (float *)aligned_calloc(sizeof(float) * (size_t)ctx->levels[0].n_out);
    s->first_acc = (double *)aligned_calloc(sizeof(double) * (size_t)ctx->levels[0].n_out);
    s->unsafe = (uint8_t *)aligned_calloc((size_t)ctx->n_levels);
    if (status != GLR_OK || !s->noise || !s->weighted || !s->ones || !s->packed || !s->mask ||
        !s->work || !s->sign || !s->words || !s->first_preactivation || !s->first_acc ||
        !s->unsafe) {
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

/* Whether any of the first npad lanes of `rows` rows (row stride GLR_BLOCK) is inf or
 * NaN: v - v is 0 for a finite v and NaN otherwise, and a NaN survives the sums.  One
 * subtraction and one addition per value, vectorised over the lanes. */
/* Out of line: it runs only for the levels plan_checks marks, and keeps the hot loop small. */
static GLR_NOINLINE int32_t lanes_nonfinite(const float *GLR_RESTRICT v, int32_t rows, int32_t npad)
{
    float probe[GLR_BLOCK];
    for (int32_t t = 0; t < npad; ++t)
        probe[t] = 0.0f;
    for (int32_t a = 0; a < rows; ++a) {
        const float *GLR_RESTRICT va = v + (size_t)a * GLR_BLOCK;
        for (int32_t t = 0; t < npad; ++t)
            probe[t] += va[t] - va[t];
    }
    int32_t bad = 0;
    for (int32_t t = 0; t < npad; ++t)
        bad |= probe[t] != 0.0f;
    return bad;
}

/* The largest |x^(l+1)| = |phi_l(u)| for |u| <= bound. */
GLR_INLINE double activation_bound(const glr_level *lv, double bound)
{
    switch (lv->activation) {
    case GLR_ACT_RELU:
    case GLR_ACT_IDENTITY:
        return bound;
    case GLR_ACT_QUANTIZED_RELU:
        return (double)(lv->staircase_levels - 1);
    default:   /* sigmoid, threshold, sign, staircase, tanh */
        return 1.0;
    }
}

/* Which levels of the sample need the per-block check of their pre-activations: those
 * whose |u| is not bounded below GLR_SAFE.  Level 0 from the sample's own W x + b, the
 * levels above it from the weight bounds and what the activation below lets through
 * (ctx->bounds); a bounded activation (sigmoid, threshold, ...) resets the bound.  With
 * inputs and weights of ordinary size no level is checked, so the hot loop pays nothing. */
GLR_INLINE void plan_checks(const kernel_context *ctx, scratch *s)
{
    double bound = 0.0;
    for (int32_t a = 0; a < ctx->levels[0].n_out; ++a) {
        const double v = fabs((double)s->first_preactivation[a]);
        bound = v > bound ? v : bound;
    }
    bound += ctx->bounds[0].noise;
    s->unsafe[0] = !(bound <= GLR_SAFE);          /* also when bound is inf or NaN */
    for (int32_t l = 1; l < ctx->n_levels; ++l) {
        const level_bound *b = &ctx->bounds[l];
        const double x = activation_bound(&ctx->levels[l - 1], bound);
        bound = 2.0 * (b->weight * x + b->bias) + b->noise;
        s->unsafe[l] = !(bound <= GLR_SAFE);
    }
}

/* Forward pass of one block of lanes k0 .. k0 + npad - 1 for the sample whose noise key
 * is `key`: fills bank->x, bank->psi and bank->rank.  Returns -1, or the first level
 * whose pre-activation u = W x + b + r is not finite (then the block is abandoned). */
GLR_INLINE int32_t forward_block(const kernel_context *ctx, uint32_t key, int64_t k0,
                                 int32_t npad, lane_bank *bank, scratch *s)
{
    const int32_t last = ctx->n_levels - 1;
    for (int32_t l = 0; l < ctx->n_levels; ++l) {
        const glr_level *lv = &ctx->levels[l];
        const int32_t keep_u = l == last && ctx->rank_preactivation;
        float *GLR_RESTRICT noise = s->noise;
        float *GLR_RESTRICT u = keep_u ? bank->rank : bank->x + s->level_offset[l];
        level_noise(lv, l, &ctx->stream, key, k0, npad, s->words, s->sign, noise);
        if (!(ctx->flags & GLR_NO_GRADIENT))
            level_score(lv, npad, noise, bank->psi + s->level_offset[l]);
        if (l == 0) {
            /* First level: W x is the same for every replication of the sample. */
            for (int32_t a = 0; a < lv->n_out; ++a) {
                const float pre = s->first_preactivation[a];
                for (int32_t t = 0; t < npad; ++t)
                    u[(size_t)a * GLR_BLOCK + t] = pre + noise[(size_t)a * GLR_BLOCK + t];
            }
        } else {
            const float *GLR_RESTRICT x = bank->x + s->level_offset[l - 1];
#ifdef GLR_HAVE_WIDE
            if (ctx->wide)
                forward_wide(lv, x, noise, npad, s->packed, u);
            else
#endif
                forward_plain(lv, x, noise, npad, u);
        }
        if (GLR_UNLIKELY(s->unsafe[l]) && lanes_nonfinite(u, lv->n_out, npad))
            return l;
        if (keep_u)
            output_activation(lv, u, bank->x + s->level_offset[l]);
        else
            level_activation(lv, npad, u);
    }
    return -1;
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
 * share of c (1 / #ties when c attains the maximum of the ranked values, loss.h), into
 * slot[ctx->off_proba + c] and slot[ctx->off_votes + c]. */
GLR_INLINE void accumulate_class_outputs(const kernel_context *ctx, const lane_bank *bank,
                                         const float *GLR_RESTRICT out, int32_t n_classes,
                                         int32_t npad, scratch *s, double *GLR_RESTRICT slot)
{
    float *GLR_RESTRICT total = s->work + 4 * GLR_BLOCK;
    float *GLR_RESTRICT term = s->work + 5 * GLR_BLOCK;
    const lane_ranking r = lane_rank(out, bank->rank, n_classes, npad, s->work);
    const float *GLR_RESTRICT top = r.top;
    const float *GLR_RESTRICT peak = r.peak;
    const float *GLR_RESTRICT ties = r.ties;
    lane_exp_total(out, n_classes, npad, top, total);
    for (int32_t c = 0; c < n_classes; ++c) {
        const float *GLR_RESTRICT oc = out + (size_t)c * GLR_BLOCK;
        const float *GLR_RESTRICT rc = r.ranked + (size_t)c * GLR_BLOCK;
        if (ctx->want_proba) {
            for (int32_t t = 0; t < npad; ++t)
                term[t] = s->mask[t] * (glr_exp(oc[t] - top[t]) / total[t]);
            slot[ctx->off_proba + (size_t)c] += lane_sum(term, npad);
        }
        if (ctx->want_votes) {
            for (int32_t t = 0; t < npad; ++t)
                term[t] = s->mask[t] * ((rc[t] == peak[t] ? 1.0f : 0.0f) / ties[t]);
            slot[ctx->off_votes + (size_t)c] += lane_sum(term, npad);
        }
    }
}

/* The sums of Eq. 4 over the block's lanes with lane weights weight_k (L_k, or the pair
 * weights): sum_k weight_k psi(r_k) for level 0, whose outer product with the input is
 * taken once per sample (first_level_outer_product in glrcore.c), and sum_k weight_k
 * psi_a(r_k) x_b(k) for levels >= 1; with the baseline also the same sums with mask_k in
 * place of weight_k (for the leave-one-out baseline, see reduce_per_sample in
 * glrcore.c). */
GLR_INLINE void accumulate_scores(const kernel_context *ctx, int32_t npad, int32_t baseline,
                                  int32_t second_half, const lane_bank *bank,
                                  const float *GLR_RESTRICT weight, scratch *s,
                                  double *GLR_RESTRICT slot)
{
    const glr_level *first = &ctx->levels[0];
    /* with halves, the plain sums of the second half have their own copy */
    const size_t first_p = ctx->off_first_p + (second_half ? (size_t)first->n_out : 0);
    const size_t upper_p = ctx->off_upper_p + (second_half ? ctx->upper_params : 0);
    const float *GLR_RESTRICT psi0 = bank->psi;
    for (int32_t a = 0; a < first->n_out; ++a) {
        slot[ctx->off_first_l + (size_t)a] += lane_dot(weight, psi0 + (size_t)a * GLR_BLOCK, npad);
        if (baseline)
            slot[first_p + (size_t)a] += lane_dot(s->mask, psi0 + (size_t)a * GLR_BLOCK, npad);
    }
    size_t offset = 0;
    for (int32_t l = 1; l < ctx->n_levels; ++l) {
        const glr_level *lv = &ctx->levels[l];
        const float *psi = bank->psi + s->level_offset[l];
        const float *x = bank->x + s->level_offset[l - 1];
        accumulate_upper(ctx, lv, weight, psi, x, npad, s, slot + ctx->off_upper_l + offset);
        if (baseline)
            accumulate_upper(ctx, lv, s->mask, psi, x, npad, s, slot + upper_p + offset);
        offset += (size_t)lv->n_out * (size_t)(lv->n_in + 1);
    }
}

/* The baseline with antithetic pairs leaves out replication k and its partner k':
 * b_k = (S - L_k - L_k') / (K - 2) with S = sum_j L_j, independent of the pair's noise.
 * Then (1/K) sum_k (L_k - b_k) w_k
 *     = (K - 1) / (K (K - 2)) [sum_k (L_k + L_k' / (K - 1)) w_k - S / (K - 1) sum_k w_k],
 * so each lane carries the weight L_k + L_k' / (K - 1) and reduce_per_sample
 * (glrcore.c) subtracts the second sum once S is known. */
GLR_INLINE void pair_weights(const kernel_context *ctx, int32_t npad, scratch *s)
{
    lane_bank *GLR_RESTRICT a = &s->bank[0];
    lane_bank *GLR_RESTRICT b = &s->bank[1];
    const float c = ctx->pair_weight;
    for (int32_t t = 0; t < npad; ++t) {
        a->weight[t] = a->loss[t] + b->loss[t] * c;
        b->weight[t] = b->loss[t] + a->loss[t] * c;
    }
}

/* Out of line even without clones: inlined into the OpenMP region, its loops compile
 * worse. */
GLR_DISPATCH GLR_NOINLINE
item_fault process_item(const kernel_context *ctx, int64_t sample, int64_t k_begin,
                        int64_t k_end, scratch *s, double *GLR_RESTRICT slot)
{
    const glr_level *last = &ctx->levels[ctx->n_levels - 1];
    const int32_t n_classes = last->n_out;
    const int64_t label = ctx->labels ? ctx->labels[sample] : 0;
    const int32_t gradient = !(ctx->flags & GLR_NO_GRADIENT);
    const int32_t baseline = (ctx->flags & GLR_BASELINE) && gradient;
    const uint32_t key = ctx->sample_keys ? ctx->sample_keys[sample] : (uint32_t)sample;
    const int32_t banks = ctx->pairs ? 2 : 1;   /* with pairs, bank 1 holds the partners */
    /* with halves the item lies in one half (chunk_range, glrcore.c) */
    const int32_t second_half = ctx->halves && k_begin >= ctx->replications / 2;

    first_preactivation(ctx, sample, s);
    plan_checks(ctx, s);
    for (int64_t k0 = k_begin; k0 < k_end; k0 += GLR_BLOCK) {
        const int32_t valid = (int32_t)((k_end - k0) < GLR_BLOCK ? (k_end - k0) : GLR_BLOCK);
        const int32_t npad = (valid + GLR_LANES - 1) / GLR_LANES * GLR_LANES;
        for (int32_t t = 0; t < npad; ++t)
            s->mask[t] = t < valid ? 1.0f : 0.0f;

        for (int32_t b = 0; b < banks; ++b) {
            lane_bank *bank = &s->bank[b];
            const int32_t level = forward_block(ctx, key, k0 + (b ? ctx->stream.half : 0), npad,
                                                bank, s);
            if (level >= 0) {
                const item_fault fault = {GLR_NONFINITE_PREACTIVATION, level};
                return fault;
            }
            const float *out = bank->x + s->level_offset[ctx->n_levels - 1];
            lane_loss(ctx->loss, out, bank->rank, n_classes, label, npad, s->mask, s->work,
                      bank->loss, bank->correct);
            const double block_loss = lane_sum(bank->loss, npad);
            slot[0] += block_loss;
            if (second_half)
                slot[2] += block_loss;
            slot[1] += lane_sum(bank->correct, npad);
            if (ctx->want_proba || ctx->want_votes)
                accumulate_class_outputs(ctx, bank, out, n_classes, npad, s, slot);
        }
        if (gradient && ctx->pairs) {
            pair_weights(ctx, npad, s);
            for (int32_t b = 0; b < banks; ++b)
                accumulate_scores(ctx, npad, 1, 0, &s->bank[b], s->bank[b].weight, s, slot);
        } else if (gradient) {
            accumulate_scores(ctx, npad, baseline, second_half, &s->bank[0], s->bank[0].loss, s, slot);
        }
    }
    const item_fault none = {GLR_NONFINITE_NONE, 0};
    return none;
}
