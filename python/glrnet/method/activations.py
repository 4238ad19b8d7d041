"""Activation functions phi of the neurons (Section II.A, Fig. 2).

==============  ==========================================================  ==========
name            definition                                                  continuous
==============  ==========================================================  ==========
sigmoid         phi_s(v) = 1 / (1 + exp(-s v)), slope s                      yes
threshold       phi_o(v) = 1 if v > 0 else 0 (the limit s -> inf of phi_s)   no
sign            1 if v > 0 else -1                                           no
staircase       min(floor(m phi_s(v)), m - 1) / (m - 1): phi_s quantised     no
                to m levels in [0, 1] (m = 2 is the threshold function)
quantized_relu  min(floor(max(v, 0)), m - 1): ReLU on the integers 0..m-1     no
relu            max(v, 0)                                                    yes
tanh            tanh(v)                                                      yes
identity        v                                                            yes
==============  ==========================================================  ==========

The numpy versions here define the semantics; the C kernel implements the same
functions in float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_int, check_option, check_real

__all__ = ["Activation", "as_activation", "ACTIVATION_NAMES", "DISCONTINUOUS"]


# The activation table: value phi(v), derivative phi'(v) (continuous ones only) and, for the
# step functions, phi as floor + sum_k J_k 1{v > c_k}.  ``s``: slope, ``m``: levels.
def _staircase(v, s, m):
    level = np.floor(m / (1.0 + np.exp(-s * v)))
    return (np.minimum(level, m - 1) / (m - 1)).astype(v.dtype)


def _expit(v):
    # scipy.special.expit (the BP baseline's sigmoid, kept bit for bit); scipy.special is imported
    # on first use, as it takes longer to import than the rest of glrnet
    from scipy.special import expit

    return expit(v)


def _sigmoid_derivative(v, s, m):
    p = _expit(s * v)
    return s * p * (1.0 - p)


_VALUES = {
    "sigmoid": lambda v, s, m: _expit(s * v),
    "threshold": lambda v, s, m: (v > 0).astype(v.dtype),
    "sign": lambda v, s, m: np.where(v > 0, 1.0, -1.0).astype(v.dtype),
    "staircase": _staircase,
    "relu": lambda v, s, m: np.maximum(v, 0),
    "tanh": lambda v, s, m: np.tanh(v),
    "identity": lambda v, s, m: v,
    "quantized_relu": lambda v, s, m: np.minimum(np.floor(np.maximum(v, 0)), m - 1).astype(v.dtype),
}
_DERIVATIVES = {
    "sigmoid": _sigmoid_derivative,
    "relu": lambda v, s, m: (v > 0).astype(v.dtype),
    "tanh": lambda v, s, m: 1.0 - np.tanh(v) ** 2,
    "identity": lambda v, s, m: np.ones_like(v),
}
_STEPS = {   # (floor, [(c_k, J_k), ...]); staircase: m phi_s(v) >= k  <=>  v >= logit(k / m) / s
    "threshold": lambda s, m: (0.0, [(0.0, 1.0)]),
    "sign": lambda s, m: (-1.0, [(0.0, 2.0)]),
    "staircase": lambda s, m: (0.0, [(math.log(k / (m - k)) / s, 1.0 / (m - 1)) for k in range(1, m)]),
    "quantized_relu": lambda s, m: (0.0, [(float(k), 1.0) for k in range(1, m)]),
}
# codes of enum glr_activation in glrcore.h
_CODES = {"sigmoid": 0, "threshold": 1, "sign": 2, "staircase": 3, "relu": 4, "tanh": 5, "identity": 6,
          "quantized_relu": 7}
ACTIVATION_NAMES = tuple(_CODES)
DISCONTINUOUS = tuple(_STEPS)


@dataclass(frozen=True)
class Activation:
    """An activation: ``name``, ``slope`` (sigmoid, staircase), ``levels`` (staircase, quantized_relu)."""

    name: str = "sigmoid"
    slope: float = 1.0
    levels: int = 4

    def __post_init__(self):
        check_option(self.name, "activation", ACTIVATION_NAMES)
        object.__setattr__(self, "slope", check_real(self.slope, "activation slope", minimum=1e-12, maximum=1e12))
        object.__setattr__(self, "levels", check_int(self.levels, "staircase levels", minimum=2, maximum=2**16))

    @property
    def code(self) -> int:
        return _CODES[self.name]

    @property
    def continuous(self) -> bool:
        return self.name not in DISCONTINUOUS

    def __call__(self, v):
        v = np.asarray(v)
        if v.dtype.kind != "f":
            v = v.astype(np.float64)
        return _VALUES[self.name](v, self.slope, self.levels)

    def derivative(self, v):
        """phi'(v) for the continuous activations (backpropagation, pathwise gradients)."""
        if self.name not in _DERIVATIVES:
            raise ValueError(f"the {self.name} activation has no derivative; train it with GLR")
        v = np.asarray(v)
        if v.dtype.kind != "f":
            v = v.astype(np.float64)
        return _DERIVATIVES[self.name](v, self.slope, self.levels)

    def params(self) -> dict:
        return {"name": self.name, "slope": self.slope, "levels": self.levels}

    def steps(self):
        """A discontinuous activation as ``(floor, [(c_k, J_k), ...])``: phi(v) = floor + sum_k J_k 1{v > c_k}."""
        if self.name not in _STEPS:
            raise ValueError(f"the {self.name} activation is continuous")
        return _STEPS[self.name](self.slope, self.levels)

    def noise_average(self, v, noise, nodes=256):
        """phi_bar(v) = E[phi(v + r)] and its derivative, element-wise, for noise r.

        Smooth even for step activations: with phi = floor + sum_k J_k 1{v > c_k},
        phi_bar(v) = floor + sum_k J_k F(v - c_k) and phi_bar'(v) = sum_k J_k f(v - c_k)
        exactly (F, f: the noise's CDF and density; symmetric noise).  Continuous
        activations average phi and phi' over ``nodes`` equiprobable noise quantiles.
        """
        v = np.asarray(v, dtype=np.float64)
        distribution = noise.distribution()
        if not self.continuous:
            floor, jumps = self.steps()
            value = np.full_like(v, floor)
            slope = np.zeros_like(v)
            for c, jump in jumps:
                value += jump * distribution.cdf(v - c)
                slope += jump * distribution.pdf(v - c)
            return value, slope
        r = distribution.ppf((np.arange(nodes) + 0.5) / nodes)
        shifted = v[..., None] + r
        return self(shifted).mean(axis=-1), self.derivative(shifted).mean(axis=-1)


def as_activation(spec) -> Activation:
    """An Activation from an instance, a name, or a params dict."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        return Activation(spec.lower())
    if isinstance(spec, dict):
        return Activation(**spec)
    raise TypeError(f"activation must be a name such as 'sigmoid' or a glrnet.Activation, got {type(spec).__name__}")
