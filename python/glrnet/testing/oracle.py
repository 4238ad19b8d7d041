"""Test oracles: independent ways to compute what the package computes.

Nothing in the production path imports this subpackage; the tests and the
benchmarks do.

* :func:`glr_gradient` - the GLR estimator (Algorithm 1 with Eq. 4 / Eq. 5) written
  with vectorised numpy, materialising the (samples x replications x width) arrays
  that the C kernel avoids.  Fed the kernel's own noise (``MLP.sample_noise``) it
  must agree with the kernel to float32 accuracy; drawing its noise with numpy in
  float32 it is the benchmarks' numpy peer.
* :func:`pathwise_gradient` - backpropagation through fixed noise (IPA), for
  networks with continuous activations and a differentiable loss: its mean over the
  noise equals d E[L] / d W, which the GLR estimator must match in mean.
* :func:`numerical_gradient` - central finite differences of the mean loss with the
  noise held fixed, the oracle of the backpropagation code itself.
* :func:`exact_threshold_expectation` - E[L] computed exactly for small networks
  with threshold or sign activations, by enumerating the hidden states.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..method import dense
from ..method.losses import correct_fraction, loss_and_output_gradient, loss_values

__all__ = ["glr_gradient", "pathwise_gradient", "numerical_gradient", "fixed_noise_loss",
           "exact_threshold_expectation"]


def _draw_noise(model, n_samples, replications, rng, antithetic, dtype):
    """Numpy noise: one (N, K, width) array per level."""
    noises = []
    for width, family in zip(model.layer_sizes[1:], model.noises):
        if antithetic:
            half = family.sample(rng, (n_samples, replications // 2, width), dtype)
            noises.append(np.concatenate([half, -half], axis=1))
        else:
            noises.append(family.sample(rng, (n_samples, replications, width), dtype))
    return noises


def glr_gradient(model, X, y, replications, *, noise=None, rng=None, loss=None, baseline=False,
                 antithetic=False, dtype=np.float64):
    """GLR gradient estimate of the mean loss over (X, y).

    ``noise`` is a list (one per level) of (N, K, width) arrays, as returned by
    ``MLP.sample_noise``; when omitted it is drawn from ``rng`` (a numpy Generator).
    Returns a dict with ``grad_weights``, ``grad_biases``, ``loss``, ``accuracy``,
    ``sample_loss`` and ``first_score``.
    """
    loss = model.loss if loss is None else loss
    X = np.asarray(X, dtype=dtype)
    y = np.asarray(y)
    n, k = X.shape[0], replications
    if noise is None:
        noise = _draw_noise(model, n, k, rng if rng is not None else np.random.default_rng(), antithetic, dtype)
    noise = [np.asarray(r, dtype=dtype) for r in noise]
    weights = [np.asarray(w, dtype=dtype) for w in model.weights]
    biases = [np.asarray(b, dtype=dtype) for b in model.biases]

    # Forward pass; X as (N, 1, n_in): the first level's W x + b is shared by the K replications.
    inputs, _, outputs = dense.forward(X[:, None, :], weights, biases, model.activations, noise)
    losses = loss_values(loss, outputs, y[:, None])               # (N, K)
    correct = correct_fraction(outputs, y[:, None])

    if baseline:   # subtract the leave-one-out mean of the other K - 1 losses
        weight = (losses - losses.mean(axis=1, keepdims=True)) * (k / (k - 1))
    else:
        weight = losses
    weight = weight.astype(dtype, copy=False)

    # Eq. 4 / Eq. 5: L * x_b * psi(r_a), averaged over the replications and the samples
    scores = [family.score(r) for family, r in zip(model.noises, noise)]
    first_score = np.einsum("nka,nk->na", scores[0], weight) / k                 # (N, n1)
    grad_w = [first_score.T @ X / n]
    grad_b = [first_score.sum(axis=0) / n]
    for l in range(1, model.n_levels):
        weighted = (scores[l] * weight[:, :, None]).reshape(n * k, -1)           # (N K, n_out)
        grad_w.append(weighted.T @ inputs[l].reshape(n * k, -1) / (n * k))
        grad_b.append(weighted.sum(axis=0) / (n * k))
    return {
        "grad_weights": [g.astype(np.float64) for g in grad_w],
        "grad_biases": [g.astype(np.float64) for g in grad_b],
        "loss": float(losses.mean()),
        "accuracy": float(correct.mean()),
        "sample_loss": losses.mean(axis=1),
        "first_score": first_score,
    }


def _noisy_forward(model, X, noise, weights=None, biases=None):
    X = np.asarray(X, dtype=np.float64)
    k = noise[0].shape[1]
    X = np.broadcast_to(X[:, None, :], (X.shape[0], k, X.shape[1]))
    return dense.forward(X, model.weights if weights is None else weights,
                         model.biases if biases is None else biases, model.activations, noise)


def fixed_noise_loss(model, X, y, noise, *, loss=None, weights=None, biases=None) -> float:
    """The mean loss over the samples and the K draws of ``noise`` (one (N, K, width) array per level)."""
    out = _noisy_forward(model, X, noise, weights, biases)[2]
    return float(loss_values(model.loss if loss is None else loss, out, np.asarray(y)[:, None]).mean())


def pathwise_gradient(model, X, y, noise, *, loss=None):
    """Backpropagation through fixed noise (IPA), averaged over the replications:
    (grad_weights, grad_biases), float64 lists."""
    inputs, pre, out = _noisy_forward(model, X, noise)
    losses, upstream = loss_and_output_gradient(model.loss if loss is None else loss, out,
                                                np.asarray(y)[:, None])
    grad_w, grad_b, _ = dense.backward(upstream / losses.size, model.weights, inputs, pre, model.activations)
    return grad_w, grad_b


def numerical_gradient(model, X, y, noise, *, loss=None, step=1e-6):
    """Central finite differences of :func:`fixed_noise_loss` in every parameter."""
    weights = [w.copy() for w in model.weights]
    biases = [b.copy() for b in model.biases]
    grads = []
    for params in (weights, biases):
        level_grads = []
        for p in params:
            g = np.zeros_like(p)
            for index in np.ndindex(p.shape):
                saved = p[index]
                p[index] = saved + step
                up = fixed_noise_loss(model, X, y, noise, loss=loss, weights=weights, biases=biases)
                p[index] = saved - step
                down = fixed_noise_loss(model, X, y, noise, loss=loss, weights=weights, biases=biases)
                p[index] = saved
                g[index] = (up - down) / (2 * step)
            level_grads.append(g)
        grads.append(level_grads)
    return grads[0], grads[1]


def exact_threshold_expectation(model, X, y, *, loss=None):
    """E[L] averaged over the samples, exactly, for networks whose activations are all
    ``threshold`` or ``sign``: P(unit on | input) = 1 - F(-(W x + b)) with F the
    noise CDF, and E[L] sums over every joint state of the levels.  Practical for
    widths up to about 6 per level."""
    loss = model.loss if loss is None else loss
    for act in model.activations:
        if act.name not in ("threshold", "sign"):
            raise ValueError("exact_threshold_expectation needs threshold or sign activations")
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    total = 0.0
    for x_in, label in zip(X, y):
        # distribution over the current level's state: list of (state vector, probability)
        states = [(x_in, 1.0)]
        for l in range(model.n_levels):
            act, family = model.activations[l], model.noises[l].distribution()
            low = 0.0 if act.name == "threshold" else -1.0
            width = model.layer_sizes[l + 1]
            merged: dict = {}
            for state, prob in states:
                on = family.sf(-(model.weights[l] @ state + model.biases[l]))   # P(u > 0)
                for key in itertools.product((0, 1), repeat=width):
                    p = prob * np.prod(np.where(np.array(key) == 1, on, 1.0 - on))
                    merged[key] = merged.get(key, 0.0) + p
            states = [(np.where(np.array(key) == 1, 1.0, low), p) for key, p in merged.items()]
        for state, prob in states:
            total += prob * float(loss_values(loss, state[None, :], np.array([label]))[0])
    return total / X.shape[0]
