"""Randomized-smoothing certification (Cohen, Rosenfeld & Kolter 2019): the Clopper-Pearson bound,
the fast first-level sampling against explicit input noise, analytic smoothed linear classifiers,
certified accuracy, reproducibility and argument checks."""
import numpy as np
import pytest
from scipy import stats

import glrnet
from glrnet.method import dense
from glrnet.robustness.smoothing import (CertifyResult, certified_accuracy, certify, clopper_pearson_lower,
                                       predict_smoothed)

SIGMA = 0.5


@pytest.mark.parametrize("successes, trials", [(0, 10), (1, 10), (7, 10), (10, 10), (512, 1000), (99_990, 100_000)])
@pytest.mark.parametrize("alpha", [0.001, 0.05])
def test_clopper_pearson_lower_is_the_exact_one_sided_bound(successes, trials, alpha):
    # the lower end of the exact two-sided interval at confidence 1 - 2 alpha is the one-sided bound at alpha
    expected = stats.binomtest(successes, trials).proportion_ci(1 - 2 * alpha, method="exact").low
    assert clopper_pearson_lower(successes, trials, alpha) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_clopper_pearson_lower_known_values_and_coverage():
    assert clopper_pearson_lower(20, 20, 0.05) == pytest.approx(0.05 ** (1 / 20))   # p^n = alpha
    assert clopper_pearson_lower(0, 20, 0.05) == 0.0
    # P(bound > p) <= alpha: the exact binomial probability of the outcomes whose bound exceeds p
    trials, p, alpha = 50, 0.7, 0.05
    bounds = clopper_pearson_lower(np.arange(trials + 1), trials, alpha)
    assert stats.binom.pmf(np.flatnonzero(bounds > p), trials, p).sum() <= alpha
    with pytest.raises(ValueError, match="successes"):
        clopper_pearson_lower(11, 10, 0.05)
    with pytest.raises(ValueError, match="alpha"):
        clopper_pearson_lower(1, 10, 1.5)


# ---------------------------------------------------------------- analytic smoothed linear classifiers
def _linear_model(n_inputs, neuronal):
    """A 1-level, 2-class network whose logit difference is w.x + b (+ r0 - r1): class 0 iff it is > 0.
    Under delta ~ N(0, SIGMA^2 I) and noise N(0, s^2) per output, P(class 0) = Phi(m / tau) with
    m = w.x + b and tau^2 = SIGMA^2 |w|^2 + 2 s^2."""
    rng = np.random.default_rng(n_inputs)
    w = rng.normal(size=n_inputs)
    if neuronal is None:
        model = glrnet.baseline_network([n_inputs, 2])
    else:
        model = glrnet.MLP([n_inputs, 2], "identity", glrnet.Gaussian(neuronal))
    model.set_parameters([np.stack([w, np.zeros(n_inputs)])], [np.array([0.3, 0.0])])
    tau = np.sqrt(SIGMA**2 * w @ w + 2 * (neuronal or 0.0) ** 2)
    return model, w, 0.3, tau


def _images_at_margins(w, b, margins):
    """One image per margin m, on the line through the origin along w: w.x + b = m."""
    return np.outer((np.asarray(margins) - b) / (w @ w), w)


# 2 features: delta drawn directly; 5: the 2-wide first level drawn as L z (eigh: W0 W0^T is singular;
# merged with the Gaussian neuronal noise, Cholesky)
@pytest.mark.parametrize("n_inputs", [2, 5])
@pytest.mark.parametrize("neuronal", [None, 0.7])
def test_certified_radius_approaches_the_exact_smoothed_radius(n_inputs, neuronal):
    model, w, b, tau = _linear_model(n_inputs, neuronal)
    margins = np.array([0.0, 0.05, -0.2, 0.5, -1.0, 1.5, 2.5])
    X = _images_at_margins(w, b, margins)
    n, alpha = 100_000, 0.001
    result = certify(model, X, SIGMA, n=n, alpha=alpha, seed=3)
    p_a = stats.norm.cdf(np.abs(margins) / tau)
    exact_radius = SIGMA * stats.norm.ppf(p_a)               # = SIGMA |m| / tau
    # the probability of the class the n0 draws selected (the other one when they chose wrongly)
    p_selected = stats.norm.cdf(np.where(result.selection_counts.argmax(axis=1) == 0, margins, -margins) / tau)
    # p_lower lies below it (probability >= 1 - alpha each), within 2 x 4.5 standard deviations (and
    # within log(1 / alpha) / n, the distance of the bound alpha^(1/n) of n successes out of n from 1)
    slack = 9 * np.sqrt(p_selected * (1 - p_selected) / n) + np.log(1 / alpha) / n
    assert np.all(result.p_lower <= p_selected)
    assert np.all(result.p_lower >= p_selected - slack)
    certified = result.prediction >= 0
    assert not certified[0]                                   # on the boundary, p_A = 1/2: abstain
    assert np.all(certified[p_selected - slack > 0.5])
    assert np.all(result.prediction[certified] == (margins[certified] < 0))
    assert np.all(result.radius[certified] <= exact_radius[certified])
    floor = SIGMA * stats.norm.ppf(np.clip(p_selected - slack, 0.5, 1))
    assert np.all(result.radius[certified] >= floor[certified])
    assert np.count_nonzero(certified) >= 4
    assert np.all(result.radius[~certified] == 0) and np.all(result.prediction[~certified] == -1)
    assert result.counts.sum(axis=1).tolist() == [n] * len(X)
    assert result.selection_counts.sum(axis=1).tolist() == [100] * len(X)


def test_no_certified_radius_is_violated_in_the_worst_direction():
    """For a linear base classifier the worst perturbation of norm e moves straight towards the boundary;
    at 0.95 of the certified radius the exact smoothed classifier (and PREDICT) keeps the class."""
    model, w, b, tau = _linear_model(5, 0.7)
    X = _images_at_margins(w, b, [0.4, -0.8, 1.2, -2.0])
    result = certify(model, X, SIGMA, n=50_000, seed=1)
    assert np.all(result.prediction >= 0)
    towards_boundary = np.where(result.prediction == 0, -1.0, 1.0)[:, None] * w / np.linalg.norm(w)
    attacked = X + 0.95 * result.radius[:, None] * towards_boundary
    moved = attacked @ w + b
    assert np.all((moved < 0) == (result.prediction == 1))           # the exact g(x') = sign of the margin
    again = predict_smoothed(model, attacked, SIGMA, n=50_000, seed=2)
    assert np.all((again.prediction == result.prediction) | (again.prediction == -1))


def test_predict_smoothed_is_the_binomial_test_of_the_top_two():
    model, w, b, _ = _linear_model(2, None)
    X = _images_at_margins(w, b, [0.0, 0.01, 1.0, -1.0])
    out = predict_smoothed(model, X, SIGMA, n=2_000, alpha=0.01, seed=0)
    for counts, p_value in zip(out.counts, out.p_value):
        top, runner_up = sorted(counts)[::-1]
        assert p_value == pytest.approx(stats.binomtest(int(top), int(top + runner_up), 0.5).pvalue, rel=1e-9)
    assert out.prediction[0] == -1 and out.prediction[2] == 0 and out.prediction[3] == 1
    assert np.array_equal(out.prediction >= 0, out.p_value <= 0.01)


# ---------------------------------------------------------------- the fast path against explicit noise
def _explicit_counts(model, x, noise_scale, draws, seed):
    """The definition: the whole network on x + delta, delta ~ N(0, noise_scale^2 I), with its neuronal noise."""
    rng = np.random.default_rng(seed)
    inputs = x + noise_scale * rng.standard_normal((draws, x.size))
    noise = None if model.noises is None else [r.sample(rng, (draws, width))
                                               for r, width in zip(model.noises, model.layer_sizes[1:])]
    _, pre, out = dense.forward(inputs, model.weights, model.biases, model.activations, noise)
    return np.bincount(model._ranked(pre, out).argmax(axis=1), minlength=model.n_classes)


@pytest.mark.parametrize("model", [
    glrnet.MLP([8, 3, 4], "sigmoid", glrnet.Gaussian(0.8), seed=1),       # h < d, merged Gaussian noise
    glrnet.MLP([8, 3, 4], "threshold", glrnet.Laplace(0.5), seed=2),      # h < d, noise added apart
    glrnet.MLP([3, 5, 4], "tanh", glrnet.Gaussian(0.5), seed=3),          # h >= d: delta drawn itself
    glrnet.baseline_network([8, 3, 4], seed=4),                           # no neuronal noise
], ids=["gaussian", "laplace-threshold", "wide-first-level", "baseline"])
def test_fast_sampling_has_the_distribution_of_explicit_input_noise(model):
    rng = np.random.default_rng(0)
    model.set_parameters([w * 3 for w in model.weights], [rng.normal(size=b.shape) for b in model.biases])
    X = rng.random((3, model.n_inputs))
    draws = 40_000
    fast = certify(model, X, 0.6, n0=1, n=draws, seed=5).counts
    for i, x in enumerate(X):
        slow = _explicit_counts(model, x, 0.6, draws, seed=i)
        pooled = (fast[i] + slow) / (2 * draws)
        # two-sample test per class, 4.5 standard deviations (Bonferroni over the 12 classes and images)
        bound = 4.5 * np.sqrt(pooled * (1 - pooled) * 2 / draws) + 1e-12
        assert np.all(np.abs(fast[i] - slow) / draws <= bound), (fast[i], slow)
        assert np.count_nonzero(slow) > 1                   # the test sees more than one class


# ---------------------------------------------------------------- certified accuracy
def test_certified_accuracy_is_non_increasing_and_counts_abstentions_as_errors():
    model, w, b, _ = _linear_model(5, 0.7)
    margins = np.linspace(-2, 2, 21)
    X = _images_at_margins(w, b, margins)
    y = (margins < 0).astype(int)
    y[::5] = 1 - y[::5]                                     # some labels the classifier gets wrong
    result = certify(model, X, SIGMA, n=5_000, seed=0)
    assert np.any(result.prediction == -1) and np.any(result.prediction >= 0)
    radii = np.linspace(0, 2, 41)
    accuracy = certified_accuracy(result, y, radii)
    assert accuracy.shape == radii.shape and np.all(np.diff(accuracy) <= 0)
    assert certified_accuracy(result, y, 0.0) == np.mean((result.prediction == y) & (result.prediction >= 0))
    assert certified_accuracy(result, y, 0.0) < np.mean(result.prediction >= 0)
    assert certified_accuracy(result, y, result.radius.max() + 1e-9) == 0.0
    r = float(np.median(result.radius[result.radius > 0]))
    assert certified_accuracy(result, y, r) == np.mean((result.prediction == y) & (result.radius >= r))


# ---------------------------------------------------------------- reproducibility
def test_same_seed_same_result_whatever_the_batching_threads_or_order():
    model = glrnet.MLP([8, 3, 4], "sigmoid", glrnet.StudentT(5.0, 0.7), seed=1)
    model.set_parameters([w * 3 for w in model.weights], model.biases)
    X = np.random.default_rng(2).random((5, 8))
    reference = certify(model, X, 0.4, n0=50, n=3_001, seed=9)
    for kwargs, rows in (({}, slice(None)), ({"batch_size": 7}, slice(None)), ({"n_threads": 2}, slice(None)),
                         ({}, [4, 2, 0, 1, 3])):
        other = certify(model, X[rows], 0.4, n0=50, n=3_001, seed=9, **kwargs)
        assert np.array_equal(other.counts, reference.counts[rows])
        assert np.array_equal(other.selection_counts, reference.selection_counts[rows])
        assert np.array_equal(other.radius, reference.radius[rows])
    assert not np.array_equal(certify(model, X, 0.4, n0=50, n=3_001, seed=10).counts, reference.counts)


# ---------------------------------------------------------------- argument checks
@pytest.mark.parametrize("change, error, match", [
    ({"model": "net"}, TypeError, "model"),
    ({"X": np.zeros((2, 3))}, ValueError, "X has 3 features"),
    ({"X": np.full((1, 5), np.nan)}, ValueError, "X contains NaN"),
    ({"noise_scale": 0.0}, ValueError, "noise_scale"),
    ({"noise_scale": "1"}, TypeError, "noise_scale"),
    ({"n0": 0}, ValueError, "n0"),
    ({"n": 1.5}, TypeError, "n must"),
    ({"alpha": 1.0}, ValueError, "alpha"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"seed": -1}, ValueError, "seed"),
    ({"n_threads": 0}, ValueError, "n_threads"),
    ({"progress": 1}, TypeError, "progress"),
])
def test_certify_checks_every_argument(change, error, match):
    model, *_ = _linear_model(5, None)
    arguments = {"model": model, "X": np.zeros((2, 5)), "noise_scale": 0.5, "n": 10, **change}
    with pytest.raises(error, match=match):
        certify(**arguments)
    if "n0" not in change:                                   # the same checks in PREDICT
        with pytest.raises(error, match=match):
            predict_smoothed(**arguments)


def test_certified_accuracy_checks_its_arguments():
    model, *_ = _linear_model(2, None)
    result = certify(model, np.zeros((3, 2)), 0.5, n=10)
    assert isinstance(result, CertifyResult)
    with pytest.raises(TypeError, match="result"):
        certified_accuracy({"prediction": [0]}, [0], 0.0)
    with pytest.raises(ValueError, match="y has 2 labels"):
        certified_accuracy(result, [0, 1], 0.0)
    with pytest.raises(ValueError, match=r"y must be in \[0, 2\)"):
        certified_accuracy(result, [0, 1, 2], 0.0)
    with pytest.raises(ValueError, match="radii must be >= 0"):
        certified_accuracy(result, [0, 1, 1], [0.0, -0.1])
    with pytest.raises(ValueError, match="radii contains NaN"):
        certified_accuracy(result, [0, 1, 1], [np.nan])
