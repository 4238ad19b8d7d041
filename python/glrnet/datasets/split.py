"""The seeded, per-class proportional (stratified) train/test split.

This split is the package's own and must stay so: the committed reproduction
results depend on it bit for bit.  scikit-learn's
``train_test_split(..., stratify=y)`` draws a *different* split, so it is
not a drop-in replacement.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_fraction, check_seed

__all__ = ["stratified_split"]


def _stratified_pick(y: np.ndarray, n_pick: int, rng: np.random.Generator):
    """Split indices of ``y`` into (picked, rest), ``n_pick`` picked, per-class proportional.

    Class ``c`` with ``n_c`` members gets ``floor`` or ``ceil`` of
    ``n_c * n_pick / n`` (largest-remainder rounding in exact integer
    arithmetic, ties broken at random), so the total is exactly ``n_pick``.
    Both index arrays are returned in random order.
    """
    n = len(y)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    quota, remainder = np.divmod(counts * n_pick, n)
    shortfall = n_pick - int(quota.sum())
    # Largest remainders first; random tie-break (lexsort's last key is primary).
    order = np.lexsort((rng.random(len(classes)), -remainder))
    quota[order[:shortfall]] += 1

    picked, rest = [], []
    for k in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse.ravel() == k))
        picked.append(members[: quota[k]])
        rest.append(members[quota[k] :])
    return rng.permutation(np.concatenate(picked)), rng.permutation(np.concatenate(rest))


def stratified_split(X, y, test_fraction: float = 0.4, seed: int = 0):
    """Seeded stratified split into training and test sets.

    Every class is split in proportion ``test_fraction``: the test set holds
    ``round(n * test_fraction)`` samples, and each class contributes the floor
    or ceiling of its proportional share.  Both parts are shuffled.  The
    result depends only on ``(y, test_fraction, seed)``.  This is not
    scikit-learn's ``train_test_split(stratify=y)``, which draws a different
    split; the committed reproduction results depend on this one bit for bit.

    Parameters
    ----------
    X : array_like, shape (n, ...)
        Samples (indexed along the first axis).
    y : array_like, shape (n,)
        Class labels.
    test_fraction : float, default 0.4
        Fraction of samples in the test set, in the open interval (0, 1).
    seed : int, default 0
        Seed for :func:`numpy.random.default_rng`.

    Returns
    -------
    X_train, X_test, y_train, y_test : numpy.ndarray
        Same order as :func:`sklearn.model_selection.train_test_split`.

    Raises
    ------
    ValueError
        If ``test_fraction`` is outside (0, 1), ``X`` and ``y`` differ in
        length, ``y`` is not 1-D, or either part would be empty.
    TypeError
        If ``test_fraction`` is not a number or ``seed`` not an integer.
    """
    test_fraction = check_fraction(test_fraction, "test_fraction")
    seed = check_seed(seed)
    X, y = np.asarray(X), np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if X.ndim == 0 or len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {X.shape[:1]} and {len(y)}")
    n = len(y)
    n_test = round(n * test_fraction)
    if not 0 < n_test < n:
        raise ValueError(
            f"cannot split {n} samples with test_fraction={test_fraction}: "
            f"the {'test' if n_test == 0 else 'training'} set would be empty"
        )
    test_idx, train_idx = _stratified_pick(y, n_test, np.random.default_rng(seed))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]
