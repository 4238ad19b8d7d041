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

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._validation import check_real

__all__ = ["Noise", "Gaussian", "Laplace", "Logistic", "StudentT", "as_noise", "NOISE_FAMILIES"]


# The kernel computes the scores in float32 (r / scale^2 and the like): scales and degrees
# of freedom in this range keep them finite and normal.
_RANGE = {"minimum": 1e-12, "maximum": 1e12}


@dataclass(frozen=True)
class Noise:
    """Base class: a zero-mean, symmetric noise density with a scale.

    A family sets ``code`` (enum glr_noise of glrcore.h), ``name``, ``_scipy`` (the name of
    its scipy.stats family, for CDFs in exact checks), ``_draw(rng, scale, size)`` (numpy
    draws, for the reference implementation) and :meth:`score`.
    """

    scale: float
    code = -1
    name = "noise"
    _scipy: ClassVar[Any] = None
    _draw: ClassVar[Any] = None

    def __post_init__(self):
        object.__setattr__(self, "scale", check_real(self.scale, "scale", **_RANGE))

    @property
    def shape(self) -> float:
        """Shape parameter passed to the kernel (degrees of freedom for Student-t)."""
        return 0.0

    def distribution(self):
        """The frozen scipy.stats distribution (scipy.stats is imported on first use: it is slow to import)."""
        from scipy import stats

        return getattr(stats, self._scipy)(scale=self.scale)

    def score(self, r):
        """psi(r) = -d log f(r) / dr."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size, dtype=np.float64):
        """Draw noise with numpy (used by the reference implementation)."""
        return np.asarray(self._draw(rng, self.scale, size)).astype(dtype, copy=False)

    @property
    def variance(self) -> float:
        return float(self.distribution().var())

    def params(self) -> dict:
        return {"family": self.name, "scale": self.scale}


@dataclass(frozen=True)
class Gaussian(Noise):
    """N(0, scale^2); the paper's noise (sigma^2 = 4 is ``Gaussian(2.0)``); psi(r) = r / scale^2 (Eq. 5)."""

    code, name, _scipy = 0, "gaussian", "norm"

    def score(self, r):
        return np.asarray(r) / self.scale**2

    def sample(self, rng, size, dtype=np.float64):
        if np.dtype(dtype) == np.float32:
            return rng.standard_normal(size, dtype=np.float32) * np.float32(self.scale)
        return rng.standard_normal(size) * self.scale


@dataclass(frozen=True)
class Laplace(Noise):
    """Laplace(0, scale): density exp(-|r|/b) / 2b; psi(r) = sign(r) / b."""

    code, name, _scipy = 1, "laplace", "laplace"
    _draw = staticmethod(lambda rng, scale, size: rng.laplace(0.0, scale, size))

    def score(self, r):
        return np.sign(r) / self.scale


@dataclass(frozen=True)
class Logistic(Noise):
    """Logistic(0, scale); psi(r) = tanh(r / 2s) / s."""

    code, name, _scipy = 2, "logistic", "logistic"
    _draw = staticmethod(lambda rng, scale, size: rng.logistic(0.0, scale, size))

    def score(self, r):
        return np.tanh(np.asarray(r) / (2.0 * self.scale)) / self.scale


@dataclass(frozen=True)
class StudentT(Noise):
    """scale * t_nu: heavy-tailed noise with nu degrees of freedom; psi(r) = (nu + 1) r / (nu s^2 + r^2)."""

    nu: float = 5.0
    code, name = 3, "student_t"

    def __init__(self, nu: float = 5.0, scale: float = 1.0):
        object.__setattr__(self, "nu", check_real(nu, "nu", **_RANGE))
        object.__setattr__(self, "scale", check_real(scale, "scale", **_RANGE))

    def __post_init__(self):  # fields set in __init__
        pass

    @property
    def shape(self) -> float:
        return self.nu

    def distribution(self):
        from scipy import stats

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
