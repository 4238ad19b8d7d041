"""Update rules for stochastic approximation theta_n = theta_{n-1} - lambda_n G_n (Eq. 1).

``SGD`` is the paper's rule; ``Momentum`` and ``Adam`` are the usual refinements.
Learning-rate schedules give lambda_n as a function of the step n.
"""
from __future__ import annotations

import math

import numpy as np

from .._validation import check_option, check_real

__all__ = ["SGD", "Momentum", "Adam", "make_optimizer", "learning_rate_at", "SCHEDULES", "OPTIMIZERS"]

_SCHEDULES = {
    "constant": lambda base, n, total, decay, drop, every: base,
    "inverse_time": lambda base, n, total, decay, drop, every: base / (1.0 + decay * n),
    "cosine": lambda base, n, total, decay, drop, every:
        base * 0.5 * (1.0 + math.cos(math.pi * min(n, total) / max(total, 1))),
    "step": lambda base, n, total, decay, drop, every: base * drop ** (n // (every or max(1, total // 3))),
}
SCHEDULES = tuple(_SCHEDULES)


def learning_rate_at(base, schedule, step, total_steps, *, decay=1e-3, drop=0.5, drop_every=None):
    """lambda_n for the named schedule.

    constant: base; inverse_time: base / (1 + decay n) (the classic Robbins-Monro
    decay); cosine: base (1 + cos(pi n / total)) / 2; step: base * drop^(n // drop_every)
    (``drop_every`` defaults to a third of the run).
    """
    check_option(schedule, "schedule", SCHEDULES)
    return _SCHEDULES[schedule](base, step, total_steps, decay, drop, drop_every)


class SGD:
    """Plain stochastic approximation (Eq. 1)."""

    name = "sgd"

    def step(self, params, grads, lr):
        for p, g in zip(params, grads):
            p -= lr * g


class Momentum:
    """Heavy-ball momentum (Polyak 1964), as scikit-learn's SGD writes it: v = mu v - lambda g;
    theta += v."""

    name = "momentum"

    def __init__(self, momentum=0.9):
        self.momentum = check_real(momentum, "momentum", minimum=0.0, maximum=0.999999)
        self.velocity = None

    def step(self, params, grads, lr):
        if self.velocity is None:
            self.velocity = [np.zeros_like(p) for p in params]
        for p, g, v in zip(params, grads, self.velocity):
            v *= self.momentum
            v -= lr * g
            p += v


class Adam:
    """Adam (Kingma & Ba 2015)."""

    name = "adam"

    def __init__(self, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.beta1 = check_real(beta1, "beta1", minimum=0.0, maximum=0.999999)
        self.beta2 = check_real(beta2, "beta2", minimum=0.0, maximum=0.999999999)
        self.epsilon = check_real(epsilon, "epsilon", positive=True)
        self.m: list = []
        self.v: list = []
        self.t = 0

    def step(self, params, grads, lr):
        if not self.m:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        c1 = 1.0 - self.beta1**self.t
        c2 = 1.0 - self.beta2**self.t
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            v *= self.beta2
            v += (1.0 - self.beta2) * g * g
            p -= lr * (m / c1) / (np.sqrt(v / c2) + self.epsilon)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name, momentum=0.9):
    """The optimiser called ``name``; ``momentum`` is the momentum coefficient of "momentum"."""
    check_option(name, "optimizer", OPTIMIZERS)
    if name == "momentum":
        return Momentum(momentum)
    return OPTIMIZERS[name]()
