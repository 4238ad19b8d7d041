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
from numbers import Integral, Real

import numpy as np

__all__ = ["Activation", "as_activation", "ACTIVATION_NAMES", "DISCONTINUOUS"]

_CODES = {"sigmoid": 0, "threshold": 1, "sign": 2, "staircase": 3, "relu": 4, "tanh": 5, "identity": 6,
          "quantized_relu": 7}
ACTIVATION_NAMES = tuple(_CODES)
DISCONTINUOUS = ("threshold", "sign", "staircase", "quantized_relu")


@dataclass(frozen=True)
class Activation:
    """An activation: ``name``, ``slope`` (sigmoid, staircase), ``levels`` (staircase, quantized_relu)."""

    name: str = "sigmoid"
    slope: float = 1.0
    levels: int = 4

    def __post_init__(self):
        if not isinstance(self.name, str) or self.name not in _CODES:
            raise ValueError(f"activation must be one of {list(_CODES)}, got {self.name!r}")
        if isinstance(self.slope, bool) or not isinstance(self.slope, Real) or not math.isfinite(self.slope) \
                or not 1e-12 <= self.slope <= 1e12:
            raise ValueError(f"activation slope must be a number in [1e-12, 1e12], got {self.slope!r}")
        if isinstance(self.levels, bool) or not isinstance(self.levels, Integral) or not 2 <= self.levels <= 2**16:
            raise ValueError(f"staircase levels must be an integer in [2, 65536], got {self.levels!r}")
        object.__setattr__(self, "slope", float(self.slope))
        object.__setattr__(self, "levels", int(self.levels))

    @property
    def code(self) -> int:
        return _CODES[self.name]

    @property
    def continuous(self) -> bool:
        return self.name not in DISCONTINUOUS

    def __call__(self, v):
        v = np.asarray(v)
        if self.name == "sigmoid":
            out = np.multiply(v, -self.slope, dtype=v.dtype if v.dtype.kind == "f" else np.float64)
            np.exp(out, out=out)
            out += 1.0
            return np.reciprocal(out, out=out)
        if self.name == "threshold":
            return (v > 0).astype(v.dtype)
        if self.name == "sign":
            return np.where(v > 0, 1.0, -1.0).astype(v.dtype)
        if self.name == "staircase":
            m = self.levels
            level = np.floor(m / (1.0 + np.exp(-self.slope * v)))
            return (np.minimum(level, m - 1) / (m - 1)).astype(v.dtype)
        if self.name == "quantized_relu":
            return np.minimum(np.floor(np.maximum(v, 0)), self.levels - 1).astype(v.dtype)
        if self.name == "relu":
            return np.maximum(v, 0)
        if self.name == "tanh":
            return np.tanh(v)
        return v

    def derivative(self, v):
        """phi'(v) for the continuous activations (backpropagation, pathwise gradients)."""
        v = np.asarray(v)
        if self.name == "sigmoid":
            p = 1.0 / (1.0 + np.exp(-self.slope * v))
            return self.slope * p * (1.0 - p)
        if self.name == "relu":
            return (v > 0).astype(v.dtype)
        if self.name == "tanh":
            return 1.0 - np.tanh(v) ** 2
        if self.name == "identity":
            return np.ones_like(v)
        raise ValueError(f"the {self.name} activation has no derivative; train it with GLR")

    def params(self) -> dict:
        return {"name": self.name, "slope": self.slope, "levels": self.levels}

    def steps(self):
        """A discontinuous activation as ``(floor, [(c_k, J_k), ...])``: phi(v) = floor + sum_k J_k 1{v > c_k}."""
        m = self.levels
        if self.name == "threshold":
            return 0.0, [(0.0, 1.0)]
        if self.name == "sign":
            return -1.0, [(0.0, 2.0)]
        if self.name == "staircase":      # m phi_s(v) >= k  <=>  v >= logit(k / m) / s
            return 0.0, [(math.log(k / (m - k)) / self.slope, 1.0 / (m - 1)) for k in range(1, m)]
        if self.name == "quantized_relu":
            return 0.0, [(float(k), 1.0) for k in range(1, m)]
        raise ValueError(f"the {self.name} activation is continuous")

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
