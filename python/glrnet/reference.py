"""A readable, vectorised numpy implementation of the GLR estimator.

It computes exactly what the C kernel computes (Algorithm 1 with Eq. 4 / Eq. 5),
materialising the (samples x replications x width) arrays that the kernel avoids.
It serves as the test oracle (fed the kernel's own noise via :func:`kernel_noise`)
and as the benchmark's numpy baseline (drawing its noise with numpy, float32).

Also here, for checking unbiasedness:

* :func:`pathwise_gradient` - backpropagation through the noise for networks with
  continuous activations and a differentiable loss (its mean equals d E[L] / d W);
* :func:`exact_threshold_expectation` - E[L] computed exactly for small networks
  with threshold or sign activations, by enumerating the hidden states.
"""
from __future__ import annotations

import itertools

import numpy as np

from . import _glrcore
from .losses import correct_fraction, loss_values

__all__ = ["glr_gradient", "kernel_noise", "pathwise_gradient", "exact_threshold_expectation"]


def kernel_noise(model, n_samples, replications, *, seed=0, step=0, antithetic=False):
    """The kernel's noise for (seed, step) as one array per level, each (N, K, width)."""
    from ._validation import check_int

    n_samples = check_int(n_samples, "n_samples", minimum=1)
    replications, seed, step, flags, _ = model._check_run(replications, seed, step, False, antithetic, None)
    spec = model._kernel_levels()
    noise = _glrcore.sample_noise(**spec, n_samples=n_samples, replications=replications, seed=seed,
                                  step=step, flags=flags)
    bounds = np.cumsum([0] + [w.shape[0] for w in model.weights])
    return [noise[:, :, a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _draw_noise(model, n_samples, replications, rng, antithetic, dtype):
    """Numpy noise, unit-major: one (width, N, K) array per level."""
    noises = []
    for width, family in zip(model.layer_sizes[1:], model.noises):
        if antithetic:
            half = family.sample(rng, (width, n_samples, replications // 2), dtype)
            noises.append(np.concatenate([half, -half], axis=2))
        else:
            noises.append(family.sample(rng, (width, n_samples, replications), dtype))
    return noises


def glr_gradient(model, X, y, replications, *, noise=None, rng=None, loss=None, baseline=False,
                 antithetic=False, dtype=np.float64):
    """GLR gradient estimate of the mean loss over (X, y).

    ``noise`` is a list (one per level) of (N, K, width) arrays, as returned by
    :func:`kernel_noise`; when omitted it is drawn from ``rng`` (a numpy Generator).
    Arrays are kept unit-major, (width, N, K), so that every reduction over the
    units of a level is an elementwise operation and every level a single matrix
    product.  Returns a dict with ``grad_weights``, ``grad_biases``, ``loss``,
    ``accuracy``, ``sample_loss`` and ``first_score``.
    """
    loss = model.loss if loss is None else loss
    X = np.asarray(X, dtype=dtype)
    y = np.asarray(y)
    n, k = X.shape[0], replications
    if noise is None:
        noise = _draw_noise(model, n, k, rng if rng is not None else np.random.default_rng(), antithetic, dtype)
    else:
        noise = [np.ascontiguousarray(np.moveaxis(np.asarray(r, dtype=dtype), 2, 0)) for r in noise]
    weights = [np.asarray(w, dtype=dtype) for w in model.weights]
    biases = [np.asarray(b, dtype=dtype) for b in model.biases]

    # Forward pass.  Level 0: W x + b is the same for the K replications of a sample.
    inputs = []                                                   # x^(l), l >= 1: (n_in, N, K)
    u = (weights[0] @ X.T + biases[0][:, None])[:, :, None] + noise[0]
    x = model.activations[0](u)
    for l in range(1, model.n_levels):
        inputs.append(x)
        u = np.tensordot(weights[l], x, axes=1)
        u += biases[l][:, None, None]
        u += noise[l]
        x = model.activations[l](u)
    outputs = np.moveaxis(x, 0, -1)                              # (N, K, classes) view
    losses = loss_values(loss, outputs, y[:, None])               # (N, K)
    correct = correct_fraction(outputs, y[:, None])

    if baseline:   # subtract the leave-one-out mean of the other K - 1 losses
        weight = (losses - losses.mean(axis=1, keepdims=True)) * (k / (k - 1))
    else:
        weight = losses
    weight = weight.astype(dtype, copy=False)

    # Eq. 4 / Eq. 5: L * x_b * psi(r_a), averaged over the replications and the samples
    scores = [family.score(r) for family, r in zip(model.noises, noise)]
    first_score = np.einsum("ank,nk->na", scores[0], weight) / k                 # (N, n1)
    grad_w = [first_score.T @ X / n]
    grad_b = [first_score.sum(axis=0) / n]
    for l in range(1, model.n_levels):
        weighted = (scores[l] * weight).reshape(scores[l].shape[0], n * k)       # (n_out, N K)
        grad_w.append(weighted @ inputs[l - 1].reshape(inputs[l - 1].shape[0], n * k).T / (n * k))
        grad_b.append(weighted.sum(axis=1) / (n * k))
    return {
        "grad_weights": [g.astype(np.float64) for g in grad_w],
        "grad_biases": [g.astype(np.float64) for g in grad_b],
        "loss": float(losses.mean()),
        "accuracy": float(correct.mean()),
        "sample_loss": losses.mean(axis=1),
        "first_score": first_score,
    }


def _loss_and_output_gradient(loss, out, y):
    if loss == "cross_entropy":
        z = np.exp(out - out.max(axis=-1, keepdims=True))
        p = z / z.sum(axis=-1, keepdims=True)
        onehot = np.arange(out.shape[-1]) == y[..., None]
        return loss_values(loss, out, y), p - onehot
    if loss == "squared":
        onehot = np.arange(out.shape[-1]) == y[..., None]
        return loss_values(loss, out, y), 2.0 * (out - onehot)
    raise ValueError(f"the pathwise gradient needs a differentiable loss, not {loss!r}")


def pathwise_gradient(model, X, y, noise, *, loss=None, return_loss=False):
    """Backpropagation through fixed noise (IPA), averaged over the replications.

    Needs continuous activations and a differentiable loss; its expectation is the
    true gradient d E[L] / d W, which the GLR estimator must match in mean.
    Returns (grad_weights, grad_biases) as lists of float64 arrays, and with
    ``return_loss`` also the mean loss and the mean accuracy (ties split).
    """
    loss = model.loss if loss is None else loss
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    n, k = X.shape[0], noise[0].shape[1]
    xs = [np.broadcast_to(X[:, None, :], (n, k, X.shape[1]))]
    us = []
    for l in range(model.n_levels):
        u = xs[-1] @ model.weights[l].T + model.biases[l] + noise[l]
        us.append(u)
        xs.append(model.activations[l](u))
    losses, delta = _loss_and_output_gradient(loss, xs[-1], y[:, None])
    grad_w = [None] * model.n_levels
    grad_b = [None] * model.n_levels
    for l in reversed(range(model.n_levels)):
        delta = delta * model.activations[l].derivative(us[l])          # Eq. 3
        grad_w[l] = delta.reshape(n * k, -1).T @ xs[l].reshape(n * k, -1) / (n * k)
        grad_b[l] = delta.reshape(n * k, -1).sum(axis=0) / (n * k)
        delta = delta @ model.weights[l]
    if return_loss:
        return grad_w, grad_b, float(losses.mean()), float(correct_fraction(xs[-1], y[:, None]).mean())
    return grad_w, grad_b


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
            merged = {}
            for state, prob in states:
                on = family.sf(-(model.weights[l] @ state + model.biases[l]))   # P(u > 0)
                for bits in itertools.product((0, 1), repeat=width):
                    bits = np.array(bits)
                    p = prob * np.prod(np.where(bits == 1, on, 1.0 - on))
                    key = tuple(bits)
                    merged[key] = merged.get(key, 0.0) + p
            states = [(np.where(np.array(key) == 1, 1.0, low), p) for key, p in merged.items()]
        for state, prob in states:
            total += prob * float(loss_values(loss, state[None, :], np.array([label]))[0])
    return total / X.shape[0]
