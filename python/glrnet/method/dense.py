"""The dense network in numpy: initialisation, forward pass and backpropagation.

Level ``l`` computes ``u = x W[l]^T + b[l] (+ r)`` and ``x' = phi_l(u)``
(Section II.A).  Every numpy computation over such a network calls these three
functions: the noise-free forward pass of :class:`~glrnet.method.network.MLP`, the
backpropagation (BP) baseline and the pathwise gradient through the noise
(Eq. 3), and the noise-averaged surrogate of :mod:`glrnet.robustness` (BPDA).
The GLR gradient itself is computed by the C kernel, which never materialises
these arrays.

An *activation* here is anything with ``act(u)`` and ``act.derivative(u)``
(:class:`~glrnet.method.activations.Activation`, or a smoothed stand-in).
Arrays may carry leading axes (samples, replications): ``x`` is ``(..., n_in)``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["initial_parameters", "forward", "backward"]


def initial_parameters(layer_sizes, activations, seed):
    """Weights ``(n_out, n_in)`` and zero biases, drawn level by level from ``default_rng(seed)``.

    Glorot-uniform, ``U(-sqrt(6 / (n_in + n_out)), +...)`` (Glorot & Bengio 2010), except
    hidden ReLU levels, which get He-normal ``N(0, 2 / n_in)`` (He et al. 2015).
    """
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    last = len(layer_sizes) - 2
    for l, (n_in, n_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
        if l < last and activations[l].name == "relu":
            weights.append(rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in)))
        else:
            limit = np.sqrt(6.0 / (n_in + n_out))
            weights.append(rng.uniform(-limit, limit, size=(n_out, n_in)))
        biases.append(np.zeros(n_out))
    return weights, biases


def forward(x, weights, biases, activations, noise=None):
    """The forward pass: ``(inputs, pre_activations, output)``.

    ``inputs[l]`` is the input x^(l) of level l, ``pre_activations[l]`` its u^(l), and
    ``output`` the last level's activation.  ``noise`` (optional) is one array per
    level, broadcastable to that level's pre-activations, added before the activation.
    """
    inputs, pre_activations = [], []
    for l, (w, b, act) in enumerate(zip(weights, biases, activations)):
        inputs.append(x)
        u = x @ w.T + b
        if noise is not None:
            u = u + noise[l]
        pre_activations.append(u)
        x = act(u)
    return inputs, pre_activations, x


def backward(upstream, weights, inputs, pre_activations, activations, *, parameters=True, input=False):
    """Backpropagation (Eq. 3): the gradients of ``sum(upstream * output)``.

    ``upstream`` is d L / d output (scaled by the caller, e.g. by 1/N for a mean loss).
    Returns ``(weight_gradients, bias_gradients, input_gradient)``; the lists are empty
    unless ``parameters``, and the input gradient is None unless ``input``.
    """
    n_levels = len(weights)
    grad_w, grad_b = [None] * n_levels, [None] * n_levels
    delta = upstream
    for l in reversed(range(n_levels)):
        if activations[l].name != "identity":       # phi' = 1 leaves delta as it is
            delta = delta * activations[l].derivative(pre_activations[l])
        if parameters:
            width = delta.shape[-1]
            flat = delta.reshape(-1, width)
            grad_w[l] = flat.T @ inputs[l].reshape(-1, inputs[l].shape[-1])
            grad_b[l] = flat.sum(axis=0)
        if l > 0 or input:
            delta = delta @ weights[l]
    if not parameters:
        grad_w, grad_b = [], []
    return grad_w, grad_b, delta if input else None
