/*
 * glrcore: the fused generalized likelihood ratio (GLR) gradient kernel.
 *
 * Notation follows Xiao, Peng, Hong, Ke & Yang, "Training Artificial Neural
 * Networks by Generalized Likelihood Ratio Method" (Section II).  Level l maps
 * x^(l) to u^(l) = W^(l) x^(l) + b^(l) + r^(l) and x^(l+1) = phi_l(u^(l)),
 * with neuronal noise r^(l)_a drawn i.i.d. from a density f_l.  The GLR
 * estimator of d E[L] / d W^(l)_{a,b} is L * x^(l)_b * psi(r^(l)_a) with the
 * score psi(r) = -d log f(r) / dr  (Eq. 4, Eq. 5), averaged over K noise
 * replications per sample and over the mini-batch (Algorithm 1).
 *
 * One call of glr_estimate() does noise sampling, forward propagation, loss
 * and score-weight accumulation for a whole mini-batch, without materialising
 * anything of size batch x K x width.
 */
#ifndef GLRCORE_H
#define GLRCORE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum glr_noise {
    GLR_NOISE_GAUSSIAN = 0,  /* N(0, scale^2),           psi(r) = r / scale^2          */
    GLR_NOISE_LAPLACE = 1,   /* Laplace(0, scale),       psi(r) = sign(r) / scale      */
    GLR_NOISE_LOGISTIC = 2,  /* Logistic(0, scale),      psi(r) = tanh(r/2scale)/scale */
    GLR_NOISE_STUDENT_T = 3  /* scale * t_nu (nu=shape), psi(r) = (nu+1) r / (nu scale^2 + r^2) */
};

enum glr_activation {
    GLR_ACT_SIGMOID = 0,    /* phi_s(v) = 1 / (1 + exp(-s v))                         */
    GLR_ACT_THRESHOLD = 1,  /* phi_o(v) = 1 if v > 0 else 0                            */
    GLR_ACT_SIGN = 2,       /* 1 if v > 0 else -1                                      */
    GLR_ACT_STAIRCASE = 3,  /* min(floor(m phi_s(v)), m - 1) / (m - 1), m levels        */
    GLR_ACT_RELU = 4,
    GLR_ACT_TANH = 5,
    GLR_ACT_IDENTITY = 6,
    GLR_ACT_QUANTIZED_RELU = 7 /* min(floor(max(v, 0)), m - 1): ReLU on m integer levels  */
};

enum glr_loss {
    GLR_LOSS_CROSS_ENTROPY = 0, /* softmax cross-entropy of the output layer (paper's L_c)      */
    GLR_LOSS_ZERO_ONE = 1,      /* 1 - [y attains the max] / #(classes attaining the max)       */
    GLR_LOSS_SQUARED = 2,       /* sum_c (x_c - onehot(y)_c)^2                                  */
    GLR_LOSS_HINGE = 3          /* Crammer-Singer: max(0, 1 + max_{c != y} x_c - x_y)          */
};

enum glr_flags {
    GLR_BASELINE = 1,     /* leave-one-out mean loss of the other K - 1 replications as control
                             variate; with GLR_ANTITHETIC of the other K - 2 (the pair left out) */
    GLR_ANTITHETIC = 2,   /* replication k + K/2 uses -r of replication k (symmetric noise)     */
    GLR_NO_GRADIENT = 4,  /* forward, loss and outputs only                                      */
    GLR_PORTABLE = 8,     /* portable loops, not the AVX-512 ones (same bits; for tests)         */
    GLR_SMALL_WAVES = 16, /* the smallest waves of partial sums, one chunk at a time (same bits;
                             for tests)                                                          */
    GLR_RQMC = 32         /* randomized quasi-Monte Carlo noise: each half of the K replications
                             is a randomly shifted rank-1 lattice of K/2 points (noise.h, rqmc_noise);
                             with GLR_BASELINE a half's baseline is the mean loss of the other
                             half (cross-fitted, so unbiased).  K even; not with GLR_ANTITHETIC
                             nor Student-t noise                                                 */
};

enum glr_status {
    GLR_OK = 0,
    GLR_EINVAL = -1,      /* an argument is out of its domain (the Python layer checks first) */
    GLR_ENOMEM = -2,      /* an allocation failed */
    GLR_ENONFINITE = -3   /* a value overflowed float32 (inf or NaN); glr_outputs.nonfinite_* say
                             what, where and in which sample */
};

/* What overflowed, for GLR_ENONFINITE (glr_outputs.nonfinite_kind). */
enum glr_nonfinite {
    GLR_NONFINITE_NONE = 0,
    GLR_NONFINITE_PREACTIVATION = 1, /* u = W x + b + r of a level (so its activation too)    */
    GLR_NONFINITE_LOSS = 2,          /* the loss of the output level, or its sum over lanes    */
    GLR_NONFINITE_GRADIENT = 3,      /* the sums L psi(r) x of a level's likelihood ratio      */
    GLR_NONFINITE_OUTPUT = 4         /* the class probability or vote sums                     */
};

/* One level of neurons: u = W x + b + r, x' = phi(u). */
typedef struct {
    int32_t n_in;
    int32_t n_out;
    const float *weight;       /* n_out x n_in, row-major */
    const float *bias;         /* n_out */
    int32_t activation;        /* enum glr_activation */
    float activation_slope;    /* s of phi_s, used by sigmoid and staircase */
    int32_t staircase_levels;  /* m >= 2, used by staircase and quantized_relu */
    int32_t noise;             /* enum glr_noise */
    float noise_scale;         /* > 0 */
    float noise_shape;         /* Student-t degrees of freedom (> 0) */
    const uint64_t *rqmc_steps;/* n_out, with GLR_RQMC: unit a's component z_a / N of the
                                  lattice's generating vector as a 64-bit fraction
                                  (floor(2^64 z_a / N), N = K/2); else unused */
} glr_level;

/* Where to write the averaged gradient of one level (double precision). */
typedef struct {
    double *weight;  /* n_out x n_in */
    double *bias;    /* n_out */
} glr_level_gradient;

/* Optional per-sample outputs (any pointer may be NULL). */
typedef struct {
    double mean_loss;          /* over samples and replications */
    double mean_accuracy;      /* per replication, ties in the arg-max split evenly */
    double *sample_loss;       /* N: mean loss over the K replications */
    double *sample_accuracy;   /* N */
    double *sample_first_score;/* N x n_out(level 0): (1/K) sum_k L_k psi(r^(0)_k), the
                                  likelihood-ratio weight of the first level; W0^T times it
                                  is the GLR estimate of d E[L] / d x (input gradient)   */
    double *sample_proba;      /* N x n_out(last): mean over replications of softmax(x^(tau)) */
    double *sample_votes;      /* N x n_out(last): fraction of replications each class wins
                                  (ties split evenly; decided on the pre-activations u when
                                  the output activation is sigmoid or tanh, see loss.h) */
    /* Written when glr_estimate returns GLR_ENONFINITE: the first non-finite value in the
     * order (sample, chunk of replications, block, level). */
    int32_t nonfinite_kind;    /* enum glr_nonfinite */
    int32_t nonfinite_level;   /* 0-based level index */
    int64_t nonfinite_sample;  /* row of inputs */
} glr_outputs;

/*
 * The GLR gradient estimate for a mini-batch (Algorithm 1 with Eq. 4 / Eq. 5).
 *
 * inputs:       n_samples x levels[0].n_in, row-major
 * labels:       n_samples class indices in [0, levels[n_levels-1].n_out)
 * sample_keys:  NULL, or n_samples words that stand for the samples in the noise
 *               counter in place of their row index n (a key derived from the row's
 *               values makes its noise independent of its neighbours in the batch).
 * replications: K >= 1 (>= 2 with GLR_BASELINE, even with GLR_ANTITHETIC, >= 4 with
 *               both: the baseline of a replication then leaves out its pair; even
 *               with GLR_RQMC)
 * seed, step:   the noise of replication k of sample n at level l and unit a is a pure
 *               function of (seed, step, key of n, k, l, a): results are bit-identical
 *               for any n_threads and any schedule.
 * n_threads:    <= 0 means the OpenMP default (honours OMP_NUM_THREADS).
 * gradients:    n_levels entries (ignored with GLR_NO_GRADIENT); overwritten.
 *
 * The work space does not grow with K: partial sums are reduced in waves of a bounded
 * size (glrcore.c).  Returns GLR_ENONFINITE, with outputs->nonfinite_*, when a value
 * overflows float32 (outputs and gradients are then not written).
 */
int glr_estimate(const glr_level *levels, int32_t n_levels,
                 const float *inputs, const int64_t *labels, const uint32_t *sample_keys,
                 int64_t n_samples,
                 int32_t loss, int64_t replications,
                 uint64_t seed, uint64_t step, int32_t flags, int32_t n_threads,
                 glr_level_gradient *gradients, glr_outputs *outputs);

/*
 * The exact noise glr_estimate() uses, materialised (for tests and reference
 * implementations): replications first .. first + count - 1 of a call with
 * `replications` replications (the antithetic mirror depends on it); noise_out is
 * n_samples x count x (sum of n_out).  sample_keys as in glr_estimate.
 */
int glr_sample_noise(const glr_level *levels, int32_t n_levels, const uint32_t *sample_keys,
                     int64_t n_samples, int64_t replications, int64_t first, int64_t count,
                     uint64_t seed, uint64_t step, int32_t flags, float *noise_out);

/* Philox4x32-10 (Salmon et al. 2011), exposed for known-answer tests. */
void glr_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

/* The kernel's blocking: what an estimate of its work space needs (glrnet.method.network
 * sizes a call before making it). */
typedef struct {
    int32_t block;       /* replications processed together (SIMD lanes) */
    int32_t lanes;       /* fixed partial sums of a lane reduction */
    int32_t chunk;       /* replications per work item */
    int64_t wave_bytes;  /* bound on the partial sums held at once */
} glr_layout;
void glr_get_layout(glr_layout *out);

/* Build information. */
int glr_openmp_enabled(void);
int glr_default_threads(void);
const char *glr_simd_dispatch(void);

#ifdef __cplusplus
}
#endif

#endif /* GLRCORE_H */
