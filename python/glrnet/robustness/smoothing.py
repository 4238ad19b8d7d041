"""Certified L2 robustness by randomized smoothing (Cohen, Rosenfeld & Kolter 2019).

The *smoothed classifier* of a base classifier f is

    g(x) = argmax_c P(f(x + delta) = c),    delta ~ N(0, sigma^2 I),

and if the top class A has probability p_A >= p_A_lower > 1/2, then g(x + e) = A for every
||e||_2 < R = sigma Phi^-1(p_A_lower) (Cohen et al., Theorem 1, with p_B <= 1 - p_A).
:func:`certify` is their CERTIFY (Section 3.2.2): n0 draws select the class, n fresh draws
bound p_A from below with the one-sided Clopper-Pearson bound at level alpha; with
probability at least 1 - alpha over the draws, a returned radius is a true certificate.
:func:`predict_smoothed` is their PREDICT (a two-sided binomial test of the top two classes),
and :func:`certified_accuracy` the certified accuracy at given radii (their Fig. 1).

The base classifier here is ONE draw of a glrnet network on x + delta: a noisy
:class:`~glrnet.method.network.MLP` keeps its neuronal noise, drawn afresh for every draw
of delta; a network without noise (:func:`~glrnet.method.network.baseline_network`) is the
deterministic f of Cohen et al.  The certificate stays valid for such a *randomised* base
classifier f_r: write F_c(x) = P_r(f_r(x) = c), a soft base classifier with values in
[0, 1].  The probability the draws estimate is P_{delta,r}(f_r(x + delta) = c) =
E_delta[F_c(x + delta)], and for any F with values in [0, 1], x -> Phi^-1(E_delta F_c(x + delta))
is 1/sigma-Lipschitz (Salman et al. 2019, Lemma 1), which gives Cohen's radius for the
smoothed soft classifier.  The n draws (delta, r) are independent and identically
distributed, r independent of delta and of x, so the count of class A is binomial with
parameter p_A(x) and the Clopper-Pearson bound holds as it stands.

How it is computed: the input enters the network only through the first-level
pre-activation u = W0 x + b0 (+ r0) (weights ``(n_out, n_in)``, method/dense.py), and
W0 delta ~ N(0, sigma^2 W0 W0^T), a Gaussian of the first level's width h.  When h < d it
is drawn as L z with L L^T = sigma^2 W0 W0^T (+ s^2 I when the first level's neuronal noise
is Gaussian N(0, s^2): the sum of the two is one Gaussian) by Cholesky, or from the
eigendecomposition when the matrix is singular; otherwise delta itself is drawn.  The upper
levels, their noise, the activations (method/activations.py) and the arg-max (on the
pre-activations of a sigmoid or tanh output, which do not saturate: ``MLP._ranked``; the
first of tied classes) are those of the network.  Each image's draws come from numpy
generators keyed by (seed, the image's :func:`~glrnet.method.network.row_keys` value, the
phase, the level), consumed in order, so the result depends neither on ``batch_size``
nor on the image's position nor on ``n_threads``.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .._config import effective_n_threads
from .._progress import progress_bar
from ..distributed import one_blas_thread
from .._validation import (check_array, check_bool, check_features, check_fraction, check_int, check_labels,
                           check_parameters, check_real, check_seed)
from ..method import dense
from ..method.activations import Activation
from ..method.network import MLP, row_keys
from ..method.noise import Gaussian

__all__ = ["certify", "predict_smoothed", "certified_accuracy", "clopper_pearson_lower", "CertifyResult",
           "SmoothedPrediction", "CHUNK_BYTES"]

# float32 working arrays of one chunk of draws stay below this many bytes
CHUNK_BYTES = 2**26
_TAG = 0xCE27
_SELECTION, _ESTIMATION, _PREDICTION = 0, 1, 2


@dataclass
class CertifyResult:
    """What :func:`certify` returns, one entry per image.

    ``prediction``: the certified class, -1 where it abstains; ``radius``: the certified L2
    radius sigma Phi^-1(p_A_lower), 0 where it abstains; ``p_lower``: the Clopper-Pearson lower
    bound of p_A; ``counts``: (n_images, n_classes) class counts of the n estimation draws;
    ``selection_counts``: those of the n0 selection draws.
    """

    prediction: np.ndarray
    radius: np.ndarray
    p_lower: np.ndarray
    counts: np.ndarray
    selection_counts: np.ndarray
    noise_scale: float
    n0: int
    n: int
    alpha: float

    def __len__(self) -> int:
        return len(self.prediction)


@dataclass
class SmoothedPrediction:
    """What :func:`predict_smoothed` returns: ``prediction`` (-1: abstain), the two-sided binomial
    test's ``p_value`` of the top two classes, and the (n_images, n_classes) ``counts``."""

    prediction: np.ndarray
    p_value: np.ndarray
    counts: np.ndarray


def clopper_pearson_lower(successes, trials, alpha):
    """The one-sided Clopper-Pearson lower confidence bound at level ``alpha`` of a binomial
    proportion: Beta(alpha; k, n - k + 1), 0 when k = 0 (Clopper & Pearson 1934; Cohen et al.'s
    LOWERCONFBOUND).  Element-wise over ``successes``."""
    from scipy.stats import beta

    k = np.asarray(successes, dtype=np.float64)
    trials = check_int(trials, "trials", minimum=1)
    alpha = check_fraction(alpha, "alpha")
    if k.size and (k.min() < 0 or k.max() > trials or not np.all(k == np.round(k))):
        raise ValueError(f"successes must be integers in [0, trials = {trials}]")
    return np.where(k > 0, beta.ppf(alpha, np.maximum(k, 1), trials - k + 1), 0.0)


def certify(model, X, noise_scale, *, n0=100, n=100_000, alpha=0.001, batch_size=10_000, seed=0, n_threads=None,
            progress=False) -> CertifyResult:
    """Cohen et al.'s CERTIFY for every row of ``X`` (see the module docstring).

    Parameters
    ----------
    model : MLP
        A glrnet network, noisy or not; the base classifier is one draw of it on x + delta.
    X : (n_images, n_inputs) array
    noise_scale : float
        sigma, the standard deviation of the Gaussian input perturbation delta.
    n0, n : int
        Draws that select the class, and draws that bound its probability.
    alpha : float
        The certificate fails with probability at most ``alpha`` per image.
    batch_size : int
        Draws evaluated at a time (also bounded by CHUNK_BYTES); the result does not depend on it.
    seed : int
    n_threads : int, optional
        Images certified in parallel (numpy threads; None: the kernel's default).
    progress : bool
        A progress bar over the images.

    Returns
    -------
    CertifyResult
    """
    n0 = check_int(n0, "n0", minimum=1)
    n = check_int(n, "n", minimum=1)
    alpha = check_fraction(alpha, "alpha")
    sampler, X, keys, threads = _checked(model, X, noise_scale, batch_size, seed, n_threads, progress)
    selection = _all_counts(sampler, X, keys, n0, _SELECTION, seed, threads, False)
    counts = _all_counts(sampler, X, keys, n, _ESTIMATION, seed, threads, progress)
    guess = selection.argmax(axis=1)
    p_lower = clopper_pearson_lower(counts[np.arange(len(X)), guess], n, alpha)
    from scipy.stats import norm

    certified = p_lower > 0.5
    radius = np.where(certified, sampler.noise_scale * norm.ppf(p_lower), 0.0)
    return CertifyResult(np.where(certified, guess, -1), radius, p_lower, counts, selection, sampler.noise_scale, n0,
                         n, alpha)


def predict_smoothed(model, X, noise_scale, *, n=100_000, alpha=0.001, batch_size=10_000, seed=0, n_threads=None,
                     progress=False) -> SmoothedPrediction:
    """Cohen et al.'s PREDICT: the top class of ``n`` draws, unless the two-sided binomial test of
    its count n_A against the runner-up's n_B (p = 1/2 over n_A + n_B trials) has a p-value above
    ``alpha`` (then -1, abstain).  g(x) is returned wrongly with probability at most ``alpha``
    (Cohen et al., Proposition 1).  Arguments as in :func:`certify`."""
    n = check_int(n, "n", minimum=1)
    alpha = check_fraction(alpha, "alpha")
    sampler, X, keys, threads = _checked(model, X, noise_scale, batch_size, seed, n_threads, progress)
    counts = _all_counts(sampler, X, keys, n, _PREDICTION, seed, threads, progress)
    order = np.argsort(-counts, axis=1, kind="stable")
    rows = np.arange(len(X))
    top, runner_up = counts[rows, order[:, 0]], counts[rows, order[:, 1]] if counts.shape[1] > 1 else 0
    from scipy.stats import binom

    # for p = 1/2 the two-sided binomial test is 2 P(K <= min(n_A, n_B)), at most 1 (scipy's binomtest)
    p_value = np.minimum(1.0, 2.0 * binom.cdf(runner_up, top + runner_up, 0.5))
    return SmoothedPrediction(np.where(p_value <= alpha, order[:, 0], -1), p_value, counts)


def certified_accuracy(result, y, radii):
    """The certified accuracy at each L2 radius: the fraction of images whose certified class is
    ``y`` with a certified radius >= r (Cohen et al., Section 4); abstentions count as errors.
    A float for a scalar ``radii``, else an array like ``radii``."""
    if not isinstance(result, CertifyResult):
        raise TypeError(f"result must be a CertifyResult (from certify), got {type(result).__name__}")
    y = check_labels(y, len(result), result.counts.shape[1])
    scalar = np.ndim(radii) == 0
    r = check_array(np.atleast_1d(radii), "radii", ndim=(1,), float32=False)
    if r.min() < 0:
        raise ValueError(f"radii must be >= 0, got {r.min():g}")
    correct = result.prediction == y
    accuracy = (correct[None, :] & (result.radius[None, :] >= r[:, None])).mean(axis=1)
    return float(accuracy[0]) if scalar else accuracy


# ------------------------------------------------------------------------------ sampling
def _checked(model, X, noise_scale, batch_size, seed, n_threads, progress):
    if not isinstance(model, MLP):
        raise TypeError(f"model must be a glrnet.MLP (a noisy network or baseline_network), got "
                        f"{type(model).__name__}")
    check_parameters(model.weights, model.biases)
    X = check_features(X, model.n_inputs)
    noise_scale = check_real(noise_scale, "noise_scale", positive=True, maximum=1e12)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    seed = check_seed(seed)
    threads = effective_n_threads(n_threads)
    check_bool(progress, "progress")
    return _Sampler(model, noise_scale, batch_size), X, row_keys(X), threads


class _Sampler:
    """Class counts of one draw of the network on x + delta, draw after draw (module docstring), in
    float32 as the kernel computes."""

    def __init__(self, model, noise_scale, batch_size):
        self.model, self.noise_scale = model, noise_scale
        w0 = model.weights[0]
        width, n_inputs = w0.shape
        self.noises = model.noises or [None] * model.n_levels
        self.factored = width < n_inputs
        self.merged = self.factored and isinstance(self.noises[0], Gaussian)
        if self.factored:
            covariance = noise_scale**2 * (w0 @ w0.T)
            if self.merged:
                covariance += self.noises[0].scale**2 * np.eye(width)
            try:
                factor = np.linalg.cholesky(covariance)
            except np.linalg.LinAlgError:                  # singular: W0 has dependent rows
                values, vectors = np.linalg.eigh(covariance)
                factor = vectors * np.sqrt(np.clip(values, 0.0, None))
            self.factor_t = np.ascontiguousarray(factor.T, dtype=np.float32)
        self.weights = [np.ascontiguousarray(w, dtype=np.float32) for w in model.weights]
        self.biases = [np.asarray(b, dtype=np.float32) for b in model.biases]
        # the arg-max ranks what MLP._ranked ranks: an output activation it ranks before is left out
        self.activations = list(model.activations)
        probe = np.zeros((1, 1))
        if model._ranked([probe], None) is probe:
            self.activations[-1] = Activation("identity")
        per_draw = 4 * ((0 if self.factored else n_inputs) + 4 * sum(model.layer_sizes[1:]))
        self.chunk = max(1, min(batch_size, CHUNK_BYTES // per_draw))

    def counts(self, x, draws, rngs):
        w0, n_classes = self.weights[0], self.model.n_classes
        clean = x.astype(np.float32) @ w0.T + self.biases[0]
        total = np.zeros(n_classes, dtype=np.int64)
        for first in range(0, draws, self.chunk):
            m = min(self.chunk, draws - first)
            if self.factored:
                u0 = rngs[0].standard_normal((m, w0.shape[0]), dtype=np.float32) @ self.factor_t
            else:
                u0 = (np.float32(self.noise_scale) * rngs[0].standard_normal((m, w0.shape[1]), dtype=np.float32)
                      @ w0.T)
            u0 += clean
            if self.noises[0] is not None and not self.merged:
                u0 += self.noises[0].sample(rngs[1], u0.shape, np.float32)
            upper = [None if r is None else r.sample(g, (m, width), np.float32)
                     for r, g, width in zip(self.noises[1:], rngs[2:], self.model.layer_sizes[2:])]
            _, _, ranked = dense.forward(self.activations[0](u0), self.weights[1:], self.biases[1:],
                                         self.activations[1:], None if self.model.noises is None else upper)
            total += np.bincount(ranked.argmax(axis=1), minlength=n_classes)
        return total


def _all_counts(sampler, X, keys, draws, phase, seed, threads, progress):
    """(n_images, n_classes) counts of ``draws`` draws per image, the images on ``threads`` threads."""
    def one(i):
        rngs = [np.random.default_rng([seed, int(keys[i]), _TAG, phase, stream])
                for stream in range(sampler.model.n_levels + 1)]
        return sampler.counts(X[i], draws, rngs)

    bar = progress_bar(len(X), "certifying" if phase == _ESTIMATION else "smoothed prediction", "image", progress)
    try:
        with one_blas_thread(), ThreadPoolExecutor(max_workers=threads) as pool:
            rows = []
            for row in pool.map(one, range(len(X))):
                rows.append(row)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return np.array(rows, dtype=np.int64).reshape(len(X), sampler.model.n_classes)
