"""Randomized quasi-Monte Carlo (RQMC) neuronal noise: the lattice of the points.

With ``rqmc=True`` the kernel draws the K noise replications of a sample not
independently but as two randomly shifted rank-1 lattices of N = K/2 points each
(``rqmc_noise`` in src/glrcore/noise.h).  Unit j of the network (its units numbered
level by level) is one dimension: point i of a half has the uniform

    u = tent(frac(i * z_j / N + shift_j)),    tent(x) = 1 - |2x - 1|,

with the Korobov generating vector z_j = a^j mod N (Korobov 1959; a chosen here, see
:func:`lattice_increments`), a uniform random shift per (sample, half, unit) drawn from
the counter-based stream (Cranley & Patterson 1976), and the tent (baker's) transform
(Hickernell 2002).  The noise is the inverse distribution function of ``u``.

Each point is uniform on the whole cube (the shifts alone make it so), so every
replication's noise has exactly the i.i.d. distribution and the GLR estimator stays
unbiased; with every z_j prime to N each unit's N values are one of each of N equal
strata, and the lattice spreads the points evenly in the lower-dimensional projections,
which lowers the variance; the two halves are independent, so the baseline of one half
can be the mean loss of the other (cross-fitting) without bias.  The kernel takes the
generating vector as 64-bit fractions z_j / N and advances a point by adding it
(mod 2^64), so every path gives the same bits.
"""
from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["korobov_multiplier", "lattice_increments"]

#: Dimensions the choice of the multiplier looks at (the weights below make later ones count little).
SEARCH_DIMENSIONS = 64
#: Work bound of the search: candidates x points stays below this (at least 8 candidates).
SEARCH_BUDGET = 1 << 22


def _worst_case_error(z, points, weights):
    """The squared worst-case error of the lattice rule with generating vector ``z`` in the weighted
    Korobov space of smoothness 1 (Sloan & Joe 1994, Eq. 4.3): -1 + (1/N) sum_i prod_j (1 + weight_j
    2 pi^2 B2({i z_j / N})), with B2(x) = x^2 - x + 1/6."""
    x = (np.arange(points)[:, None] * z[None, :] % points) / points
    return float(np.mean(np.prod(1.0 + weights * (2.0 * np.pi ** 2) * (x * x - x + 1.0 / 6.0), axis=1)) - 1.0)


@functools.lru_cache(maxsize=256)
def korobov_multiplier(points: int, dimensions: int) -> int:
    """The multiplier a of the Korobov vector (1, a, a^2, ...) mod ``points``: among up to 128
    candidates prime to ``points`` (evenly spaced over 1 .. points - 1, fewer for large ``points``),
    those whose first ``dimensions`` components are distinct up to sign (when there are any: N
    points have at most phi(N) / 2 such classes, fewer than the units of a network when N is
    small), and among them the one with the smallest worst-case error over the first
    SEARCH_DIMENSIONS dimensions with product weights 1 / (j + 1)^2."""
    if points <= 2:
        return 1
    dims = min(dimensions, SEARCH_DIMENSIONS)
    weights = 1.0 / (np.arange(dims) + 1.0) ** 2
    coprime = [a for a in range(1, points) if math.gcd(a, points) == 1]
    count = max(8, min(128, SEARCH_BUDGET // points))
    candidates = coprime if len(coprime) <= count else [coprime[i * len(coprime) // count] for i in range(count)]
    best = (False, -math.inf, 1)
    for a in candidates:
        z = np.array([pow(a, j, points) for j in range(dims)], dtype=np.int64)
        # two units with z_j = +-z_k mod N would have the same points (up to their shifts): their noise
        # fully dependent, which raises the variance; such vectors lose to any without a repeat
        distinct = len(_classes(a, points, dimensions)) == dimensions
        key = (distinct, -_worst_case_error(z, points, weights), -a)
        if key > best:
            best = key
    return -best[2]


def _classes(a, points, dimensions):
    """The classes {z, N - z} of the first ``dimensions`` powers of a mod N (stops at a repeat)."""
    seen, z = set(), 1
    for _ in range(dimensions):
        c = min(z, points - z)
        if c in seen:
            break
        seen.add(c)
        z = z * a % points
    return seen


@functools.lru_cache(maxsize=64)
def lattice_increments(units: int, points: int) -> np.ndarray:
    """``floor(2^64 z_j / points)`` for the Korobov vector z_j = a^j mod ``points`` of ``units``
    dimensions, as uint64 (read-only): what the kernel adds to advance a point of the lattice."""
    if units < 1 or points < 1:
        raise ValueError(f"units and points must be positive, got {units} and {points}")
    a = korobov_multiplier(points, units)
    values = [(pow(a, j, points) << 64) // points for j in range(units)]
    out = np.array(values, dtype=np.uint64)
    out.flags.writeable = False
    return out
