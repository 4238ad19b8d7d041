"""Neuronal noise families and their scores.

Every neuron's pre-activation gets an independent noise ``r`` with density ``f``
(Section II.A of the paper).  The GLR estimator weights the loss by the *score*
``psi(r) = -d log f(r) / dr`` (Eq. 4); for the paper's Gaussian noise
``psi(r) = r / sigma^2`` (Eq. 5).

=============  ==============================  ==============================  ===================
family         density (up to a constant)      score psi(r)                     variance
=============  ==============================  ==============================  ===================
Gaussian(s)    exp(-r^2 / 2 s^2)               r / s^2                         s^2
Laplace(b)     exp(-|r| / b)                   sign(r) / b                     2 b^2
Logistic(s)    e^(-r/s) / (1 + e^(-r/s))^2     tanh(r / 2s) / s                pi^2 s^2 / 3
StudentT(nu,s) (1 + r^2 / (nu s^2))^-(nu+1)/2  (nu + 1) r / (nu s^2 + r^2)     nu s^2 / (nu - 2)
=============  ==============================  ==============================  ===================

The paper's ``sigma^2 = 4`` is ``Gaussian(2.0)`` (the argument is the standard
deviation).  All families here are symmetric, so antithetic pairs ``(r, -r)`` apply.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np
from scipy import stats

__all__ = ["Noise", "Gaussian", "Laplace", "Logistic", "StudentT", "as_noise", "NOISE_FAMILIES"]


# The kernel computes the scores in float32 (r / scale^2 and the like): scales and degrees
# of freedom in this range keep them finite and normal.
_RANGE = (1e-12, 1e12)


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    if not _RANGE[0] <= value <= _RANGE[1]:
        raise ValueError(f"{name} must lie in [{_RANGE[0]:g}, {_RANGE[1]:g}] (float32 scores), got {value!r}")
    return value


@dataclass(frozen=True)
class Noise:
    """Base class: a zero-mean, symmetric noise density with a scale."""

    scale: float
    code = -1
    name = "noise"

    def __post_init__(self):
        object.__setattr__(self, "scale", _positive(self.scale, "scale"))

    @property
    def shape(self) -> float:
        """Shape parameter passed to the kernel (degrees of freedom for Student-t)."""
        return 0.0

    def distribution(self):
        """The frozen scipy.stats distribution (for CDFs in exact checks)."""
        raise NotImplementedError

    def score(self, r):
        """psi(r) = -d log f(r) / dr."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size, dtype=np.float64):
        """Draw noise with numpy (used by the reference implementation)."""
        return self.distribution().rvs(size=size, random_state=rng).astype(dtype, copy=False)

    @property
    def variance(self) -> float:
        return float(self.distribution().var())

    def params(self) -> dict:
        return {"family": self.name, "scale": self.scale}


@dataclass(frozen=True)
class Gaussian(Noise):
    """N(0, scale^2); the paper's noise (sigma^2 = 4 is ``Gaussian(2.0)``)."""

    code = 0
    name = "gaussian"

    def distribution(self):
        return stats.norm(scale=self.scale)

    def score(self, r):
        return np.asarray(r) / self.scale**2

    def sample(self, rng, size, dtype=np.float64):
        if np.dtype(dtype) == np.float32:
            return rng.standard_normal(size, dtype=np.float32) * np.float32(self.scale)
        return rng.standard_normal(size) * self.scale


@dataclass(frozen=True)
class Laplace(Noise):
    """Laplace(0, scale): density exp(-|r|/b) / 2b."""

    code = 1
    name = "laplace"

    def distribution(self):
        return stats.laplace(scale=self.scale)

    def score(self, r):
        return np.sign(r) / self.scale

    def sample(self, rng, size, dtype=np.float64):
        return rng.laplace(0.0, self.scale, size).astype(dtype, copy=False)


@dataclass(frozen=True)
class Logistic(Noise):
    """Logistic(0, scale)."""

    code = 2
    name = "logistic"

    def distribution(self):
        return stats.logistic(scale=self.scale)

    def score(self, r):
        return np.tanh(np.asarray(r) / (2.0 * self.scale)) / self.scale

    def sample(self, rng, size, dtype=np.float64):
        return rng.logistic(0.0, self.scale, size).astype(dtype, copy=False)


@dataclass(frozen=True)
class StudentT(Noise):
    """scale * t_nu: heavy-tailed noise with nu degrees of freedom."""

    nu: float = 5.0
    code = 3
    name = "student_t"

    def __init__(self, nu: float = 5.0, scale: float = 1.0):
        object.__setattr__(self, "nu", _positive(nu, "nu"))
        object.__setattr__(self, "scale", _positive(scale, "scale"))

    def __post_init__(self):  # fields set in __init__
        pass

    @property
    def shape(self) -> float:
        return self.nu

    def distribution(self):
        return stats.t(df=self.nu, scale=self.scale)

    def score(self, r):
        r = np.asarray(r)
        return (self.nu + 1.0) * r / (self.nu * self.scale**2 + r * r)

    def sample(self, rng, size, dtype=np.float64):
        return (rng.standard_t(self.nu, size) * self.scale).astype(dtype, copy=False)

    def params(self) -> dict:
        return {"family": self.name, "scale": self.scale, "nu": self.nu}


NOISE_FAMILIES = {cls.name: cls for cls in (Gaussian, Laplace, Logistic, StudentT)}


def as_noise(spec, scale=None) -> Noise:
    """A Noise from a Noise instance, a family name (with ``scale``) or a params dict."""
    if isinstance(spec, Noise):
        return spec
    if isinstance(spec, dict):
        spec = dict(spec)
        family = spec.pop("family", None)
        if family not in NOISE_FAMILIES:
            raise ValueError(f"noise family must be one of {sorted(NOISE_FAMILIES)}, got {family!r}")
        return NOISE_FAMILIES[family](**spec)
    if isinstance(spec, str):
        key = spec.lower().replace("-", "_")
        if key in ("normal", "gauss"):
            key = "gaussian"
        if key in ("t", "student"):
            key = "student_t"
        if key not in NOISE_FAMILIES:
            raise ValueError(f"noise must be one of {sorted(NOISE_FAMILIES)}, got {spec!r}")
        cls = NOISE_FAMILIES[key]
        if cls is StudentT:
            return StudentT(scale=1.0 if scale is None else scale)
        return cls(2.0 if scale is None else scale)
    raise TypeError(f"noise must be a glrnet noise (e.g. glrnet.Gaussian(2.0)) or a name, got {type(spec).__name__}")
