"""Losses of the output layer x^(tau) against the class label (Section II.A).

==============  ===========================================================
name            L(x, y)
==============  ===========================================================
cross_entropy   -log softmax(x)_y  (the paper's L_c)
zero_one        1 - [x_y = max_c x_c] / #{c : x_c = max}  (the paper's L_o)
squared         sum_c (x_c - onehot(y)_c)^2
hinge           max(0, 1 + max_{c != y} x_c - x_y)  (Crammer-Singer)
==============  ===========================================================

Ties in the arg-max: with discontinuous output activations several classes often
share the maximum.  A tie is counted as a uniformly random pick among the tied
classes, so a replication in which the true class ties with ``t - 1`` others is
``1/t`` correct.  The same rule defines accuracy everywhere in glrnet.
"""
from __future__ import annotations

import numpy as np

__all__ = ["LOSS_CODES", "DIFFERENTIABLE", "loss_values", "loss_and_output_gradient", "softmax",
           "correct_fraction", "check_loss", "dlr_loss"]

# codes of enum glr_loss in glrcore.h
LOSS_CODES = {"cross_entropy": 0, "zero_one": 1, "squared": 2, "hinge": 3}
DIFFERENTIABLE = ("cross_entropy", "squared")


def check_loss(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"loss must be a string, got {type(name).__name__}")
    key = name.lower().replace("-", "_")
    key = {"ce": "cross_entropy", "crossentropy": "cross_entropy", "0_1": "zero_one", "01": "zero_one"}.get(key, key)
    if key not in LOSS_CODES:
        raise ValueError(f"loss must be one of {list(LOSS_CODES)}, got {name!r}")
    return key


def _target(outputs, y):
    """outputs[..., y]: the output of the true class, row by row."""
    index = np.broadcast_to(np.asarray(y)[..., None], outputs.shape[:-1] + (1,))
    return np.take_along_axis(outputs, index, axis=-1)[..., 0]


def correct_fraction(outputs, y):
    """Per-row accuracy with ties split: outputs (..., C), y broadcastable to outputs[..., 0]."""
    outputs = np.asarray(outputs)
    peak = outputs.max(axis=-1)
    ties = (outputs == peak[..., None]).sum(axis=-1)
    return (_target(outputs, y) == peak) / ties


def loss_values(name, outputs, y):
    """L(x, y) row by row: outputs (..., C), integer labels y of shape outputs.shape[:-1]."""
    name = check_loss(name)
    outputs = np.asarray(outputs)
    y = np.broadcast_to(np.asarray(y), outputs.shape[:-1])
    target = _target(outputs, y)
    if name == "cross_entropy":
        from scipy.special import logsumexp      # imported on first use (slow to import)

        return logsumexp(outputs, axis=-1) - target
    if name == "zero_one":
        return 1.0 - correct_fraction(outputs, y)
    if name == "squared":
        onehot = np.arange(outputs.shape[-1]) == y[..., None]
        return ((outputs - onehot) ** 2).sum(axis=-1)
    others = np.where(np.arange(outputs.shape[-1]) == y[..., None], -np.inf, outputs)
    return np.maximum(0.0, 1.0 + others.max(axis=-1) - target)


def softmax(outputs):
    """softmax over the last axis, exp(x - max) / sum (the same bits as scipy.special.softmax)."""
    z = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def loss_and_output_gradient(name, outputs, y):
    """(L(x, y), d L / d x) row by row, for the differentiable losses (backpropagation):
    cross-entropy: softmax(x) - onehot(y); squared: 2 (x - onehot(y))."""
    name = check_loss(name)
    if name not in DIFFERENTIABLE:
        raise ValueError(f"backpropagation needs a differentiable loss ({', '.join(DIFFERENTIABLE)}), not {name!r}")
    outputs = np.asarray(outputs)
    y = np.broadcast_to(np.asarray(y), outputs.shape[:-1])
    onehot = np.arange(outputs.shape[-1]) == y[..., None]
    if name == "cross_entropy":
        return loss_values(name, outputs, y), softmax(outputs) - onehot
    return loss_values(name, outputs, y), 2.0 * (outputs - onehot)


# Croce & Hein's guard against a zero denominator of the DLR loss
_DLR_GUARD = 1e-12


def dlr_loss(logits, y):
    """The Difference of Logits Ratio of Croce & Hein (2020, Eq. 5) and its gradient, row by row.

    ``DLR(z, y) = -(z_y - max_{c != y} z_c) / (z_pi1 - z_pi3 + 1e-12)`` with ``z_pi1 >= z_pi2 >= z_pi3``
    the largest entries: positive exactly when ``y`` is not the arg-max.  It is invariant to a shift
    and a positive scale of ``z``, so the log-probabilities of a softmax give the DLR of its logits.

    Parameters
    ----------
    logits : array (..., n_classes), n_classes >= 3
    y : integer labels broadcastable to ``logits.shape[:-1]``

    Returns
    -------
    (loss, gradient) : arrays of shapes ``logits.shape[:-1]`` and ``logits.shape``
        ``gradient`` is d loss / d logits (almost everywhere).
    """
    z = np.asarray(logits, dtype=np.float64)
    n_classes = z.shape[-1]
    if n_classes < 3:
        raise ValueError(f"the DLR loss needs at least 3 classes, got {n_classes}")
    classes = np.arange(n_classes)
    y = np.broadcast_to(np.asarray(y), z.shape[:-1])[..., None]
    order = np.argsort(-z, axis=-1, kind="stable")
    first, third = order[..., :1], order[..., 2:3]
    other = np.argmax(np.where(classes == y, -np.inf, z), axis=-1)[..., None]

    def at(index):
        return np.take_along_axis(z, index, axis=-1)

    numerator = at(y) - at(other)
    denominator = at(first) - at(third) + _DLR_GUARD
    gradient = (-((classes == y) - 1.0 * (classes == other)) / denominator
                + numerator * ((classes == first) - 1.0 * (classes == third)) / denominator**2)
    return (-numerator / denominator)[..., 0], gradient
