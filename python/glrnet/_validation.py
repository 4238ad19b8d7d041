"""Argument checks shared by the public API: every bad input is rejected here,
with the argument's name, before anything reaches the C kernel."""
from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

__all__ = ["check_int", "check_real", "check_features", "check_labels", "check_seed", "check_bool",
           "check_float32_range", "FLOAT32_MAX"]

FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_float32_range(arr, name):
    """The kernel computes in float32: values beyond its range would silently become infinite."""
    if arr.size and np.abs(arr).max() > FLOAT32_MAX:
        raise ValueError(f"{name} has values beyond the float32 range (|value| <= {FLOAT32_MAX:.3g}) the kernel "
                         f"computes in")


def check_int(value, name, *, minimum=None, maximum=None):
    if isinstance(value, bool) or not isinstance(value, (Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_real(value, name, *, positive=False, minimum=None, maximum=None):
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def check_seed(value, name="seed"):
    return check_int(value, name, minimum=0, maximum=2**64 - 1)


def check_features(X, n_features, name="X"):
    """A finite 2-D float array with ``n_features`` columns (float64 copy-free when possible)."""
    if X is None:
        raise TypeError(f"{name} must be an array, got None")
    arr = np.asarray(X)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
                                   or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must have at least one sample, got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features, the network expects {n_features}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    check_float32_range(arr, name)
    return arr


def check_labels(y, n_samples, n_classes, name="y"):
    """Integer class indices in [0, n_classes) with one per sample."""
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
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"{name} must be in [0, {n_classes}), got values in [{arr.min()}, {arr.max()}]")
    return arr
