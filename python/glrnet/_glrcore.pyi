"""Typing stub of the compiled kernel binding (src/glrcore/_glrcore.pyx).

The binding is thin: it assumes the Python layer (glrnet.method.network) has checked
the arguments, re-checks only what keeps the C kernel in bounds, and turns the
kernel's status codes into exceptions (ValueError for rejected arguments and for a
value that overflowed float32, naming what overflowed at which level; MemoryError when
the kernel cannot allocate its work space).

Per-level arguments (``activation``, ``slope``, ``staircase``, ``noise``, ``scale``,
``shape``) have one entry per level; the codes are those of glrcore.h: activation
0 sigmoid, 1 threshold, 2 sign, 3 staircase, 4 relu, 5 tanh, 6 identity,
7 quantized relu; noise 0 Gaussian, 1 Laplace, 2 logistic, 3 Student-t; loss
0 cross-entropy, 1 zero-one, 2 squared, 3 hinge.
"""
from typing import List, Sequence, Tuple, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

FLAG_BASELINE: int
"""Leave-one-out mean loss of the other K - 1 replications as control variate (K >= 2);
with FLAG_ANTITHETIC of the other K - 2, the pair left out (K >= 4)."""
FLAG_ANTITHETIC: int
"""Replication k + K/2 uses the negated noise of replication k (K even)."""
FLAG_NO_GRADIENT: int
"""Forward pass, loss and outputs only; ``y`` may be None."""
FLAG_PORTABLE: int
"""Portable loops instead of the AVX-512 ones (the same bits; for tests)."""
FLAG_SMALL_WAVES: int
"""The smallest waves of partial sums, one chunk of replications at a time (the same bits;
for tests)."""
FLAG_RQMC: int
"""Randomized quasi-Monte Carlo noise: each half of the K replications is a randomly shifted
rank-1 lattice (``rqmc_steps``); with FLAG_BASELINE each half's baseline is the other
half's mean loss.  K even; not with FLAG_ANTITHETIC nor Student-t noise."""


class _Layout(TypedDict):
    block: int       # replications processed together (SIMD lanes)
    lanes: int       # fixed partial sums of a lane reduction
    chunk: int       # replications per work item
    wave_bytes: int  # bound on the partial sums held at once


def layout() -> _Layout:
    """The kernel's blocking, for estimates of its work space."""


class _EstimateResult(TypedDict, total=False):
    loss: float                           # mean loss over samples and replications
    accuracy: float                       # mean accuracy, arg-max ties split evenly
    grad_weights: List[NDArray[np.float64]]  # per level (n_out, n_in); without FLAG_NO_GRADIENT
    grad_biases: List[NDArray[np.float64]]   # per level (n_out,)
    sample_loss: NDArray[np.float64]         # (n,), with sample_outputs
    sample_accuracy: NDArray[np.float64]     # (n,), with sample_outputs
    sample_first_score: NDArray[np.float64]  # (n, n_out of level 0), sample_outputs and a gradient
    proba: NDArray[np.float64]               # (n, classes), with proba
    votes: NDArray[np.float64]               # (n, classes), with votes


def openmp_enabled() -> bool:
    """True when the kernel was compiled with OpenMP."""


def default_threads() -> int:
    """OpenMP's default team size (honours OMP_NUM_THREADS); 1 without OpenMP."""


def simd_dispatch() -> str:
    """Which instruction-set path the kernel runs on this machine, e.g.
    ``"runtime dispatch: avx512f"`` or ``"native (-march=native)"``."""


def philox4x32_10(counter: Sequence[int], key: Sequence[int]) -> Tuple[int, int, int, int]:
    """Philox4x32-10 of a 4-word counter under a 2-word key (32-bit words; for
    known-answer tests)."""


def estimate(weights: List[ArrayLike], biases: List[ArrayLike], activation: Sequence[int],
             slope: Sequence[float], staircase: Sequence[int], noise: Sequence[int],
             scale: Sequence[float], shape: Sequence[float], X: ArrayLike,
             y: ArrayLike | None, loss: int, replications: int, seed: int, step: int,
             flags: int, n_threads: int, sample_outputs: bool = False, proba: bool = False,
             votes: bool = False, sample_keys: ArrayLike | None = None,
             rqmc_steps: ArrayLike | None = None) -> _EstimateResult:
    """One call of glr_estimate: the GLR gradient estimate of a mini-batch.

    ``weights[l]`` is (n_out, n_in) and ``biases[l]`` (n_out,) (float32), ``X`` is
    (n, n_in of level 0), ``y`` (n,) class indices (required for a gradient).
    ``replications`` is K; the noise is a pure function of (seed, step, sample,
    replication, level, unit), so results are bit-identical for any ``n_threads``
    (<= 0: the OpenMP default).  ``sample_keys`` (n,) uint32 stand for the samples in
    the noise counter instead of their row index.  ``flags`` is an or of the FLAG_*
    constants.  ``rqmc_steps`` (uint64, one per unit of every level, level by level) are the
    lattice's generating vector z_j / N as 64-bit fractions that FLAG_RQMC needs
    (glrnet.method.rqmc.lattice_increments).
    Returns the means, the gradients unless FLAG_NO_GRADIENT, and the per-sample
    arrays asked for by ``sample_outputs``, ``proba`` and ``votes``.
    """


def sample_noise(weights: List[ArrayLike], biases: List[ArrayLike], activation: Sequence[int],
                 slope: Sequence[float], staircase: Sequence[int], noise: Sequence[int],
                 scale: Sequence[float], shape: Sequence[float], n_samples: int,
                 replications: int, seed: int, step: int, flags: int, first: int = 0,
                 count: int | None = None,
                 sample_keys: ArrayLike | None = None,
                 rqmc_steps: ArrayLike | None = None) -> NDArray[np.float32]:
    """The exact noise ``estimate`` draws with the same seed, step, flags and keys, for
    replications first .. first + count - 1 (default: all), as a float32 array
    (n_samples, count, sum of n_out over the levels)."""
