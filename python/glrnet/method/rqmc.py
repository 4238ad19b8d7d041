"""Randomized quasi-Monte Carlo (RQMC) neuronal noise: the point sets' increments.

With ``rqmc=True`` the kernel draws the K noise replications of a sample not
independently but as two randomly shifted Kronecker point sets of K/2 points each
(``rqmc_noise`` in src/glrcore/noise.h).  Unit j of the network (its units numbered
level by level) is one dimension: point i of a half has the uniform

    u = tent(frac(i * alpha_j + shift_j)),    tent(x) = 1 - |2x - 1|,

with ``alpha_j = frac(sqrt(p_j))``, p_j the j-th prime (Richtmyer 1951: the square
roots of distinct primes are linearly independent over the rationals, so the points
fill the cube evenly), a uniform random shift per (sample, half, unit) drawn from the
counter-based stream (Cranley & Patterson 1976), and the tent (baker's) transform
(Hickernell 2002).  The noise is the inverse distribution function of ``u``.

Each replication's noise therefore has exactly the i.i.d. distribution, so the GLR
estimator stays unbiased; the points of a half are spread evenly, which lowers its
variance; and the two halves are independent, so the baseline of one half can be the
mean loss of the other (cross-fitting) without bias.  This module computes the
increments, exactly, as 64-bit fractions (integer square roots): the same on every
machine.
"""
from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["kronecker_increments", "primes"]


def primes(count: int) -> np.ndarray:
    """The first ``count`` primes (sieve of Eratosthenes), int64."""
    if count < 1:
        return np.zeros(0, dtype=np.int64)
    # Rosser's bound on the n-th prime: n (ln n + ln ln n) for n >= 6
    limit = 15 if count < 6 else int(count * (math.log(count) + math.log(math.log(count)))) + 1
    sieve = np.ones(limit + 1, dtype=bool)
    sieve[:2] = False
    for p in range(2, math.isqrt(limit) + 1):
        if sieve[p]:
            sieve[p * p::p] = False
    return np.flatnonzero(sieve)[:count].astype(np.int64)


@functools.lru_cache(maxsize=64)
def kronecker_increments(units: int) -> np.ndarray:
    """``floor(2^64 frac(sqrt(p_j)))`` for the first ``units`` primes p_j, as uint64 (read-only)."""
    values = [math.isqrt(int(p) << 128) & ((1 << 64) - 1) for p in primes(units)]
    out = np.array(values, dtype=np.uint64)
    out.flags.writeable = False
    return out
