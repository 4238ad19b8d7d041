"""In-memory data: images and labels given as arrays, e.g. from scikit-learn's ``fetch_openml``.

:func:`images_from_arrays` turns ``(X, y)`` into the uint8 (or [0, 1] float)
images and int64 labels the rest of the package works with:

- ``X``: images ``(n, height, width)``, or rows ``(n, side * side)`` of square
  images (a pandas DataFrame works too), either uint8 or other integers in
  0..255, floats in [0, 1], or floats holding whole numbers in 0..255 (what
  ``fetch_openml("mnist_784")`` returns).  Grey levels 0..255 become uint8,
  so they are preprocessed exactly like the same images read from IDX files.
- ``y``: class indices 0..9, as integers or as strings of digits (``'0'`` ..
  ``'9'``, as ``fetch_openml`` gives them).
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_array, check_labels
from .idx import N_CLASSES

__all__ = ["images_from_arrays"]

_X = "data images (X)"
_Y = "data labels (y)"


def _square_images(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 3:
        return arr
    if arr.ndim != 2:
        raise ValueError(f"{_X} must be images (n, height, width) or rows (n, side * side), got shape {arr.shape}")
    side = math.isqrt(arr.shape[1])
    if side * side != arr.shape[1]:
        raise ValueError(
            f"{_X} has rows of {arr.shape[1]} pixels, not a square image (784 = 28 x 28 is); "
            f"pass images of other shapes as (n, height, width)"
        )
    return arr.reshape(len(arr), side, side)


def _grey_levels(arr: np.ndarray) -> np.ndarray:
    """uint8 images, or float64 images in [0, 1]."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype != bool and np.issubdtype(arr.dtype, np.integer):
        lowest, highest = int(arr.min()), int(arr.max())
        if lowest < 0 or highest > 255:
            raise ValueError(f"{_X} as integers must lie in 0..255, got range [{lowest}, {highest}]")
        return arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{_X} must be uint8, integers in 0..255 or floats, got dtype {arr.dtype}")
    arr = check_array(arr, _X, ndim=(3,), float32=False)
    low, high = float(arr.min()), float(arr.max())
    if low >= 0.0 and high <= 1.0:
        return arr
    if low >= 0.0 and high <= 255.0 and np.array_equal(arr, np.floor(arr)):
        return arr.astype(np.uint8)  # grey levels 0..255 stored as floats (fetch_openml)
    raise ValueError(
        f"{_X} as floats must lie in [0, 1] or hold whole grey levels 0..255, got range [{low:g}, {high:g}]"
        + ("" if low < 0.0 or high > 255.0 else " with fractional values above 1")
    )


def _class_indices(y, n_images: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.dtype.kind in "OUS":  # strings such as fetch_openml's '0'..'9' (or Python objects)
        text = arr.astype(str)
        values, inverse = np.unique(text, return_inverse=True)
        bad = [v for v in values.tolist() if not (v.isascii() and v.isdigit())]
        if bad:
            raise ValueError(
                f"{_Y} must be class indices 0..{N_CLASSES - 1}, as integers or strings of digits, got {bad[0]!r}"
            )
        arr = np.array([int(v) for v in values.tolist()], dtype=np.int64)[inverse].reshape(text.shape)
    return check_labels(arr, n_images, N_CLASSES, _Y)


def images_from_arrays(X, y) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from arrays: ``(images, labels)`` ready for :func:`~glrnet.datasets.preprocess`.

    Parameters
    ----------
    X : array_like or pandas.DataFrame, shape (n, height, width) or (n, side * side)
        uint8 or integer grey levels 0..255, floats in [0, 1], or floats
        holding whole grey levels 0..255 (detected when the maximum exceeds 1
        and every value is a whole number; divided by 255 like uint8).
    y : array_like, shape (n,)
        Class indices 0..9: integers, or strings of digits.

    Returns
    -------
    images : numpy.ndarray, shape (n, height, width)
        uint8 grey levels, or float64 values in [0, 1].
    labels : numpy.ndarray of int64, shape (n,)

    Raises
    ------
    TypeError, ValueError
        For arrays of the wrong type, shape or range; the message names
        ``data images (X)`` or ``data labels (y)``.
    """
    if X is None:
        raise TypeError(f"{_X} must be an array, got None")
    arr = np.asarray(X)
    if arr.dtype == object:
        raise TypeError(f"{_X} must be a numeric array, got dtype object")
    images = _square_images(arr)
    if images.shape[0] == 0 or images.size == 0:
        raise ValueError(f"{_X} must hold at least one image of at least one pixel, got shape {images.shape}")
    images = _grey_levels(images)
    return images, _class_indices(y, len(images))
