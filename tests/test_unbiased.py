"""Unbiasedness (Theorem 1) against exact gradients, and the variance-reduction options.

Every comparison uses a Monte-Carlo confidence bound from R independent kernel runs
(distinct noise steps, fixed seeds): |mean - truth| <= Z * standard error, with Z
chosen so that the family of all comparisons in the file has a false-alarm
probability below about 1e-3 (Bonferroni over parameters and cases).
"""
import numpy as np
import pytest
from scipy import stats

import glrnet
from glrnet.testing import oracle
from glrnet.method.losses import LOSS_CODES

from conftest import flat

FAMILIES = [glrnet.Gaussian(1.0), glrnet.Laplace(0.8), glrnet.Logistic(0.6), glrnet.StudentT(5.0, 0.9)]
N_CASES = 16 + 2 + 8 + 9 + 4
RUNS = 40
# Student-t quantile (the standard errors are estimated from RUNS runs), two-sided,
# Bonferroni over ~40 parameters per case: about 6.2
Z = stats.t.isf(1e-3 / 2 / (N_CASES * 40), df=RUNS - 1)


def _glr_runs(model, X, y, replications, runs, **kwargs):
    return np.array([model.gradient(X, y, replications, seed=2024, step=s, **kwargs).flat() for s in range(runs)])


def _exact_gradient(model, X, y, h=1e-5):
    """Central differences of the exact E[L] (error ~1e-10, far below the MC error)."""
    grads = []
    for params in model.get_parameters():
        g = np.zeros_like(params)
        for index in np.ndindex(params.shape):
            keep = params[index]
            params[index] = keep + h
            up = oracle.exact_threshold_expectation(model, X, y)
            params[index] = keep - h
            down = oracle.exact_threshold_expectation(model, X, y)
            params[index] = keep
            g[index] = (up - down) / (2 * h)
        grads.append(g)
    return np.concatenate([g.ravel() for g in grads])


def _assert_within_bounds(estimates, truth, *, min_power=None):
    mean = estimates.mean(axis=0)
    se = estimates.std(axis=0, ddof=1) / np.sqrt(len(estimates))
    z = np.abs(mean - truth) / np.maximum(se, 1e-12)
    assert np.all(z < Z), f"max |z| = {z.max():.2f} (bound {Z:.2f}) at {np.argmax(z)}"
    if min_power is not None:
        # the test can fail: the bound is tight relative to the gradient itself
        assert np.max(se) < min_power * np.abs(truth).max()


@pytest.mark.parametrize("loss", list(LOSS_CODES))
@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_glr_is_unbiased_for_threshold_networks(family, loss):
    rng = np.random.default_rng(7)
    X = rng.random((3, 3))
    y = np.array([0, 1, 2])
    model = glrnet.MLP([3, 3, 3], "threshold", family, loss=loss, seed=5)
    model.weights[0] *= 3.0
    model.weights[1] *= 3.0
    model.biases[0][:] = rng.normal(0, 0.5, 3)
    truth = _exact_gradient(model, X, y)
    assert np.abs(truth).max() > 1e-3          # a non-trivial gradient to match
    estimates = _glr_runs(model, X, y, 12_000, RUNS)
    _assert_within_bounds(estimates, truth, min_power=0.1)


@pytest.mark.parametrize("replications", [4, 8])
@pytest.mark.parametrize("loss", ["zero_one", "cross_entropy"])
def test_baseline_with_antithetic_pairs_is_unbiased_at_small_k(replications, loss):
    """The leave-one-out mean of the other K - 1 replications includes the partner of k, whose
    loss depends on r_k: it biased the estimate by K/(K-1) on the first level (1.34x at K = 4,
    1.14x at K = 8, |z| > 16 here).  Leaving the pair out is unbiased at any K >= 4.  Each run
    averages 2,000 independent K-replication estimates (the three samples repeated; every row
    has its own noise)."""
    rng = np.random.default_rng(7)
    X = rng.random((3, 3))
    y = np.array([0, 1, 2])
    model = glrnet.MLP([3, 3, 3], "threshold", glrnet.Gaussian(1.0), loss=loss, seed=5)
    model.weights[0] *= 3.0
    model.weights[1] *= 3.0
    model.biases[0][:] = rng.normal(0, 0.5, 3)
    truth = _exact_gradient(model, X, y)
    X_rep, y_rep = np.tile(X, (2000, 1)), np.tile(y, 2000)
    estimates = _glr_runs(model, X_rep, y_rep, replications, RUNS, baseline=True, antithetic=True)
    _assert_within_bounds(estimates, truth, min_power=0.03)


@pytest.mark.parametrize("activation, loss", [("sign", "cross_entropy"), ("sign", "hinge")])
def test_glr_is_unbiased_for_sign_networks(activation, loss):
    rng = np.random.default_rng(3)
    X = rng.random((3, 2))
    y = np.array([1, 0, 1])
    model = glrnet.MLP([2, 3, 2], activation, glrnet.Gaussian(1.0), loss=loss, seed=2)
    model.weights[0] *= 2.0
    truth = _exact_gradient(model, X, y)
    estimates = _glr_runs(model, X, y, 12_000, RUNS)
    _assert_within_bounds(estimates, truth, min_power=0.1)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
@pytest.mark.parametrize("activation, loss", [("sigmoid", "cross_entropy"), ("tanh", "squared")])
def test_glr_agrees_with_pathwise_gradient(family, activation, loss):
    """For smooth networks the noise-averaged backprop gradient is unbiased too; the
    difference of two independent estimates has mean 0."""
    rng = np.random.default_rng(11)
    X = rng.random((4, 3))
    y = np.array([0, 1, 2, 1])
    model = glrnet.MLP([3, 4, 3], activation, family, loss=loss, seed=9)
    model.weights[0] *= 2.0
    glr = _glr_runs(model, X, y, 12_000, RUNS)
    noise_rng = np.random.default_rng(99)
    path = []
    for _ in range(RUNS):
        noise = [family.sample(noise_rng, (4, 4_000, w)) for w in model.layer_sizes[1:]]
        path.append(flat(*oracle.pathwise_gradient(model, X, y, noise)))
    path = np.array(path)
    diff_mean = glr.mean(axis=0) - path.mean(axis=0)
    se = np.sqrt(glr.var(axis=0, ddof=1) / len(glr) + path.var(axis=0, ddof=1) / len(path))
    assert np.all(np.abs(diff_mean) < Z * se), np.max(np.abs(diff_mean) / se)
    assert se.max() < 0.1 * np.abs(path.mean(axis=0)).max()


VARIANCE_CASES = [("sigmoid", "cross_entropy"), ("threshold", "cross_entropy"), ("threshold", "zero_one")]


@pytest.mark.parametrize("activation, loss", VARIANCE_CASES)
def test_variance_reduction_keeps_the_mean_and_lowers_the_variance(activation, loss):
    rng = np.random.default_rng(5)
    X = rng.random((5, 6))
    y = rng.integers(0, 3, 5)
    model = glrnet.MLP([6, 8, 3], activation, glrnet.Gaussian(1.0), loss=loss, seed=1)
    model.weights[0] *= 2.0
    runs = RUNS
    plain = _glr_runs(model, X, y, 400, runs)
    total_var = {"plain": plain.var(axis=0, ddof=1).sum()}
    for name, kwargs in {"baseline": {"baseline": True}, "antithetic": {"antithetic": True},
                         "both": {"baseline": True, "antithetic": True}}.items():
        other = _glr_runs(model, X, y, 400, runs, **kwargs)
        se = np.sqrt(plain.var(axis=0, ddof=1) / runs + other.var(axis=0, ddof=1) / runs)
        assert np.all(np.abs(plain.mean(axis=0) - other.mean(axis=0)) < Z * se), name
        total_var[name] = other.var(axis=0, ddof=1).sum()
    # Summed variances over ~100 parameters from 40 runs are accurate to ~+-25%;
    # the baseline must cut the variance at least in half.
    assert total_var["baseline"] < 0.5 * total_var["plain"], total_var
    assert total_var["both"] < 0.5 * total_var["plain"], total_var
