"""Argument checks for the whole package.

Every public function checks its arguments here, naming the argument in the
message, before anything reaches the C kernel.  Scalars: :func:`check_int`,
:func:`check_real`, :func:`check_fraction`, :func:`check_bool`,
:func:`check_seed`, :func:`check_option`; arrays: :func:`check_array` (and its
two common forms :func:`check_features` and :func:`check_images`),
:func:`check_labels`, :func:`check_parameters`; other values: :func:`check_int_sequence`,
:func:`check_path`, :func:`check_methods`, :func:`check_callable`.
"""
from __future__ import annotations

import math
import os
from numbers import Integral, Real
from pathlib import Path

import numpy as np

__all__ = ["check_int", "check_real", "check_fraction", "check_bool", "check_seed", "check_option",
           "check_array", "check_features", "check_images", "check_labels", "check_int_sequence",
           "check_path", "check_methods", "check_callable", "check_float32_range", "check_parameters", "FLOAT32_MAX",
           "SEED_MAX"]

FLOAT32_MAX = float(np.finfo(np.float32).max)
SEED_MAX = 2**64 - 1


# ------------------------------------------------------------------------- scalars
def check_int(value, name, *, minimum=None, maximum=None) -> int:
    """An integer (not a bool) in [minimum, maximum]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_real(value, name, *, positive=False, minimum=None, maximum=None) -> float:
    """A finite real number (not a bool), optionally > 0 and within [minimum, maximum]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum:g}, got {value:g}")
    return value


def check_fraction(value, name) -> float:
    """A number in the open interval (0, 1)."""
    value = check_real(value, name)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {value}")
    return value


def check_bool(value, name) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def check_seed(value, name="seed") -> int:
    """A seed of the noise streams and generators: an integer in [0, 2**64 - 1]."""
    return check_int(value, name, minimum=0, maximum=SEED_MAX)


def check_option(value, name, options):
    """One of ``options`` (compared with ``==``; strings are case-sensitive)."""
    if isinstance(value, (list, dict, set, np.ndarray)) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


def check_int_sequence(value, name, *, minimum=None, maximum=None, min_length=0, max_length=None) -> list:
    """A sequence (not a string) of integers, each in [minimum, maximum]."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a sequence of integers, got {type(value).__name__}")
    if len(value) < min_length:
        raise ValueError(f"{name} needs at least {min_length} entries, got {list(value)}")
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"{name} allows at most {max_length} entries, got {len(value)}")
    return [check_int(v, f"{name} entries", minimum=minimum, maximum=maximum) for v in value]


# -------------------------------------------------------------------------- arrays
def check_float32_range(arr, name):
    """The kernel computes in float32: values beyond its range would silently become infinite."""
    if arr.size and np.abs(arr).max() > FLOAT32_MAX:
        raise ValueError(f"{name} has values beyond the float32 range (|value| <= {FLOAT32_MAX:.3g}) the kernel "
                         f"computes in")


def check_array(X, name="X", *, ndim=(2,), unit_interval=False, float32=True, copy=False) -> np.ndarray:
    """A finite, non-empty, real (float64) array of one of the dimensions ``ndim``.

    ``unit_interval``: values must lie in [0, 1] (images); ``float32``: within the
    float32 range the kernel computes in; ``copy``: always return a new array.
    """
    if X is None:
        raise TypeError(f"{name} must be an array, got None")
    arr = np.asarray(X)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
                                   or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric (real) array, got dtype {arr.dtype}")
    if arr.ndim not in ndim:
        shapes = " or ".join(f"{d}-D" for d in ndim)
        raise ValueError(f"{name} must be {shapes}" + (" (n_samples, n_features)" if ndim == (2,) else "")
                         + f", got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must have at least one sample, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must have at least one feature, got shape {arr.shape}")
    arr = np.array(arr, dtype=np.float64) if copy else arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    if unit_interval and (arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError(f"{name} values must lie in [0, 1], got range [{arr.min():g}, {arr.max():g}]")
    if float32:
        check_float32_range(arr, name)
    return arr


def check_parameters(weights, biases):
    """Weights and biases of every level finite and within the float32 range."""
    for l, (w, b) in enumerate(zip(weights, biases)):
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ValueError(f"the parameters of level {l} are not finite (diverged training?)")
        check_float32_range(w, f"weights of level {l}")
        check_float32_range(b, f"biases of level {l}")


def check_features(X, n_features, name="X") -> np.ndarray:
    """A finite 2-D float64 array with ``n_features`` columns (copy-free when possible)."""
    arr = check_array(X, name)
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features, the network expects {n_features}")
    return arr


def check_images(X, name="X", *, ndim=(2,)) -> np.ndarray:
    """A float64 copy of a batch of images (rows or 2-D images) with values in [0, 1]."""
    return check_array(X, name, ndim=ndim, unit_interval=True, copy=True)


def check_labels(y, n_samples, n_classes, name="y") -> np.ndarray:
    """Integer class indices in [0, n_classes) (or >= 0 when ``n_classes`` is None), one per sample."""
    if y is None:
        raise TypeError(f"{name} must be an array of class indices, got None")
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} labels for {n_samples} samples")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer class indices")
    elif not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    upper = np.inf if n_classes is None else n_classes
    if arr.size and (arr.min() < 0 or arr.max() >= upper):
        bound = "be >= 0" if n_classes is None else f"be in [0, {n_classes})"
        raise ValueError(f"{name} must {bound}, got values in [{arr.min()}, {arr.max()}]")
    return arr


# --------------------------------------------------------------------------- other
def check_path(value, name) -> Path:
    """A file-system path (str or os.PathLike of str)."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError(f"{name} must be a str path, got {type(path).__name__}")
    return Path(path)


def check_callable(value, name):
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, got {type(value).__name__}")
    return value


def check_methods(obj, name, methods):
    """``obj`` has a callable attribute for each of ``methods`` (a model under test, say)."""
    if obj is None:
        raise TypeError(f"{name} must be an object with {', '.join(m + '()' for m in methods)}, got None")
    for method in methods:
        if not callable(getattr(obj, method, None)):
            raise TypeError(f"{name} must provide a callable {method}(); got {type(obj).__name__}")
    return obj
