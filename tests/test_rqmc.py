"""Randomized quasi-Monte Carlo noise (``rqmc=True``, glrnet.method.rqmc, rqmc_noise in noise.h).

Known answers for the lattice, the point structure recovered from the kernel's own noise,
the exact marginal distribution, unbiasedness against exact gradients (with the cross-fitted
baseline), the same bits for any thread count, path and wave size, and the variance it buys.
Statistical checks use fixed seeds and bounds at a stated false-alarm level."""
import math

import numpy as np
import pytest
from scipy import stats

import glrnet
from glrnet import _glrcore
from glrnet.method import rqmc
from glrnet.method import dense
from glrnet.method.losses import LOSS_CODES, loss_values

from test_kernel import _assert_same_bits
from test_unbiased import RUNS, Z, _assert_within_bounds, _exact_gradient, _glr_runs

FAMILIES = [glrnet.Gaussian(1.0), glrnet.Laplace(0.8), glrnet.Logistic(0.6)]


def test_lattice_known_answers():
    """Korobov vectors (1, a, a^2, ...) mod N as 64-bit fractions, exactly; the multiplier search
    prefers a lattice with a smaller worst-case error, so it never picks the degenerate a = 1."""
    a = rqmc.korobov_multiplier(100, 30)
    assert math.gcd(a, 100) == 1 and a != 1
    steps = rqmc.lattice_increments(30, 100)
    assert steps.dtype == np.uint64 and not steps.flags.writeable
    for j, step in enumerate(steps):
        assert int(step) == (pow(a, j, 100) << 64) // 100
    z = np.array([pow(a, j, 100) for j in range(30)])
    weights = 1.0 / (np.arange(30) + 1.0) ** 2
    assert rqmc._worst_case_error(z, 100, weights) < rqmc._worst_case_error(np.ones(30, int), 100, weights)
    assert int(rqmc.lattice_increments(3, 1)[0]) == 0 and rqmc.korobov_multiplier(2, 5) == 1
    with pytest.raises(ValueError, match="positive"):
        rqmc.lattice_increments(3, 0)


def _cdf(family, r):
    return {"gaussian": stats.norm.cdf, "laplace": stats.laplace.cdf,
            "logistic": stats.logistic.cdf}[family.name](r / family.scale)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_each_half_is_a_shifted_lattice(family):
    """u_i = F(r_i) must be tent(frac(i z_j / N + s)) for one shift s per (sample, half, unit): s is
    recovered from point 0 (two candidates) and every other point predicted from it."""
    model = glrnet.MLP([4, 6, 3], "sigmoid", family, seed=1)
    K = 40
    N = K // 2
    noise = np.concatenate(model.sample_noise(3, K, seed=5, step=2, rqmc=True), axis=2).astype(np.float64)
    a = rqmc.korobov_multiplier(N, 9)
    z = np.array([pow(a, j, N) for j in range(9)])
    i = np.arange(N)
    for n in range(3):
        for half in range(2):
            for j in range(9):
                u = _cdf(family, noise[n, half * N:(half + 1) * N, j])
                errors = []
                for s in (u[0] / 2, 1 - u[0] / 2):
                    x = (i * z[j] / N + s) % 1.0
                    errors.append(np.abs(1 - np.abs(2 * x - 1) - u).max())
                # 2^-23 from the 24-bit uniform grid, about 1e-6 from the float32 quantile
                assert min(errors) < 5e-6, (n, half, j, min(errors))
    # the halves and the samples have their own shifts
    assert not np.allclose(noise[0, 0], noise[0, N]) and not np.allclose(noise[0, 0], noise[1, 0])


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_every_replication_has_the_noise_distribution(family):
    """One point of each of 4,000 independent sets: i.i.d. draws of f (Kolmogorov-Smirnov, level 1e-4
    for each of the 3 x 2 checks)."""
    model = glrnet.MLP([2, 2, 2], "sigmoid", family, seed=1)
    noise = np.concatenate(model.sample_noise(4000, 10, seed=9, rqmc=True), axis=2)
    for k in (3, 7):                           # a point of the first half and one of the second
        u = _cdf(family, noise[:, k, 1].astype(np.float64))
        assert stats.kstest(u, "uniform").pvalue > 1e-4


@pytest.mark.parametrize("baseline", [False, True])
@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_rqmc_is_unbiased_for_threshold_networks(family, baseline):
    """Against the exact gradient of E[L] (enumerated hidden states), as the i.i.d. noise is in
    test_unbiased.py, with its bounds."""
    rng = np.random.default_rng(7)
    X = rng.random((3, 3))
    y = np.array([0, 1, 2])
    model = glrnet.MLP([3, 3, 3], "threshold", family, loss="zero_one", seed=5)
    model.weights[0] *= 3.0
    model.weights[1] *= 3.0
    model.biases[0][:] = rng.normal(0, 0.5, 3)
    truth = _exact_gradient(model, X, y)
    estimates = _glr_runs(model, X, y, 12_000, RUNS, baseline=baseline, rqmc=True)
    _assert_within_bounds(estimates, truth, min_power=0.1 if baseline else 0.2)


@pytest.mark.parametrize("replications", [2, 6])
def test_the_cross_fitted_baseline_is_unbiased_at_small_k(replications):
    """At K = 2 each replication's baseline is the other one's loss; it must not bias the estimate
    (a baseline that shared the replication's own noise would). 2,000 rows of the three samples."""
    rng = np.random.default_rng(7)
    X = rng.random((3, 3))
    y = np.array([0, 1, 2])
    model = glrnet.MLP([3, 3, 3], "threshold", glrnet.Gaussian(1.0), loss="cross_entropy", seed=5)
    model.weights[0] *= 3.0
    model.weights[1] *= 3.0
    truth = _exact_gradient(model, X, y)
    X_rep, y_rep = np.tile(X, (2000, 1)), np.tile(y, 2000)
    estimates = _glr_runs(model, X_rep, y_rep, replications, RUNS, baseline=True, rqmc=True)
    _assert_within_bounds(estimates, truth, min_power=0.05)


def test_the_kernel_computes_the_cross_fitted_estimator():
    """Fed the kernel's own RQMC noise, the numpy estimator with the baseline of each half the mean
    loss of the other gives the kernel's gradient to float32 accuracy."""
    rng = np.random.default_rng(3)
    X, y = rng.random((4, 6)), rng.integers(0, 3, 4)
    model = glrnet.MLP([6, 5, 4, 3], ["sigmoid", "threshold", "sigmoid"], glrnet.Gaussian(1.5), seed=2)
    K = 10
    got = model.gradient(X, y, K, seed=3, step=1, baseline=True, rqmc=True)
    noise = [r.astype(np.float64) for r in model.sample_noise(4, K, seed=3, step=1, rqmc=True)]
    inputs, _, out = dense.forward(X[:, None, :], model.weights, model.biases, model.activations, noise)
    losses = loss_values(model.loss, out, y[:, None])                        # (N, K)
    half = K // 2
    other = np.concatenate([np.repeat(losses[:, half:].mean(1, keepdims=True), half, 1),
                            np.repeat(losses[:, :half].mean(1, keepdims=True), half, 1)], axis=1)
    weight = losses - other                                                   # L_k - b_k, Eq. 4
    n = len(y)
    for level, family in enumerate(model.noises):
        score = family.score(noise[level]) * weight[:, :, None]              # (N, K, n_out)
        x = np.broadcast_to(inputs[level], (n, K, inputs[level].shape[-1]))
        expected_w = np.einsum("nka,nkb->ab", score, x) / (n * K)
        expected_b = score.sum(axis=(0, 1)) / (n * K)
        np.testing.assert_allclose(got.weights[level], expected_w, rtol=2e-5, atol=2e-7)
        np.testing.assert_allclose(got.biases[level], expected_b, rtol=2e-5, atol=2e-7)


@pytest.mark.parametrize("flags", [0, _glrcore.FLAG_BASELINE])
def test_rqmc_bits_do_not_depend_on_threads_path_or_waves(flags):
    """K = 5,000: 2,500 points per half, three work items each (the last one short)."""
    rng = np.random.default_rng(4)
    X, y = rng.random((3, 12)), rng.integers(0, 4, 3)
    model = glrnet.MLP([12, 9, 20, 4], ["sigmoid", "threshold", "tanh"], glrnet.Gaussian(1.5), seed=2)
    flags |= _glrcore.FLAG_RQMC

    def run(extra, threads):
        return _glrcore.estimate(**model._kernel_levels(), X=X, y=y, loss=LOSS_CODES[model.loss],
                                 replications=5000, seed=21, step=6, flags=flags | extra, n_threads=threads,
                                 sample_outputs=True, proba=True, votes=True,
                                 rqmc_steps=model._rqmc_steps(5000, flags))

    reference = run(0, 1)
    for extra, threads in ((0, 2), (0, 3), (_glrcore.FLAG_PORTABLE, 1), (_glrcore.FLAG_SMALL_WAVES, 3)):
        _assert_same_bits(reference, run(extra, threads))


def test_rqmc_lowers_the_variance_of_a_smooth_network():
    """Sigmoid, cross-entropy, K = 400, both with the baseline: the summed variance over the ~100
    parameters from 40 runs each (accurate to about +-25 %) must fall below 0.8 of the i.i.d. one,
    and the means agree within the bounds of test_unbiased.py."""
    rng = np.random.default_rng(5)
    X = rng.random((5, 6))
    y = rng.integers(0, 3, 5)
    model = glrnet.MLP([6, 8, 3], "sigmoid", glrnet.Gaussian(1.0), seed=1)
    model.weights[0] *= 2.0
    iid = _glr_runs(model, X, y, 400, RUNS, baseline=True)
    quasi = _glr_runs(model, X, y, 400, RUNS, baseline=True, rqmc=True)
    se = np.sqrt(iid.var(axis=0, ddof=1) / RUNS + quasi.var(axis=0, ddof=1) / RUNS)
    assert np.all(np.abs(iid.mean(axis=0) - quasi.mean(axis=0)) < Z * se)
    ratio = quasi.var(axis=0, ddof=1).sum() / iid.var(axis=0, ddof=1).sum()
    assert ratio < 0.8, ratio


@pytest.mark.parametrize("kwargs, match", [
    ({"replications": 7}, "even number"),
    ({"antithetic": True}, "antithetic"),
    ({"rqmc": "yes"}, "rqmc"),
])
def test_bad_rqmc_arguments_are_refused_before_the_kernel(kwargs, match):
    model = glrnet.MLP([3, 3, 2], seed=1)
    X, y = np.random.default_rng(0).random((2, 3)), np.array([0, 1])
    arguments = {"replications": 8, "rqmc": True, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        model.gradient(X, y, arguments.pop("replications"), **arguments)


def test_the_kernel_refuses_rqmc_without_the_lattice():
    """The binding's last line of defence: FLAG_RQMC without rqmc_steps is an invalid argument."""
    model = glrnet.MLP([3, 3, 2], seed=1)
    with pytest.raises(ValueError):
        _glrcore.estimate(**model._kernel_levels(), X=np.ones((1, 3)), y=np.array([0]), loss=0, replications=8,
                          seed=0, step=0, flags=_glrcore.FLAG_RQMC, n_threads=1)


def test_student_t_noise_is_refused_with_rqmc():
    model = glrnet.MLP([3, 3, 2], "sigmoid", glrnet.StudentT(3.0, 1.0), seed=1)
    with pytest.raises(ValueError, match="student_t"):
        model.gradient(np.ones((1, 3)), [0], 8, rqmc=True)
