"""Image preprocessing: area-interpolation resizing (:func:`resize`) and flattening (:func:`preprocess`)."""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_int

__all__ = ["MAX_OUTPUT_BYTES", "area_weights", "check_output_size", "preprocess", "resize"]

#: The largest result :func:`resize` (and so ``datasets.load``) builds: 2 GiB of float32 pixels.
MAX_OUTPUT_BYTES = 2 * 1024**3


def check_output_size(n_images: int, size: int, name: str = "size") -> None:
    """Refuse, before allocating, ``n_images`` float32 images of ``size x size`` above :data:`MAX_OUTPUT_BYTES`."""
    n_bytes = n_images * size * size * np.dtype(np.float32).itemsize
    if n_bytes > MAX_OUTPUT_BYTES:
        raise ValueError(
            f"{name}={size} would make {n_images:,} float32 images of {size}x{size} pixels, "
            f"{n_bytes / 1024**3:,.1f} GiB, more than the {MAX_OUTPUT_BYTES / 1024**3:g} GiB allowed "
            f"(MAX_OUTPUT_BYTES); choose a smaller {name} or fewer images (limit)"
        )


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float64 matrix of area-interpolation (box filter) weights; rows sum to 1.

    Output pixel ``i`` covers ``[a, b) = [i * scale, (i + 1) * scale)`` in
    input coordinates, ``scale = n_in / n_out``; its weight on input pixel
    ``j`` is the overlap ``max(0, min(b, j + 1) - max(a, j))``, normalised so
    that every row sums to 1.  ``A @ v`` resamples a length-``n_in`` signal to
    ``n_out`` samples, shrinking or enlarging, and preserves its mean.
    """
    scale = n_in / n_out
    i = np.arange(n_out, dtype=np.float64)[:, None]
    j = np.arange(n_in, dtype=np.float64)[None, :]
    overlap = np.minimum((i + 1) * scale, j + 1) - np.maximum(i * scale, j)
    weights = np.maximum(overlap, 0.0)
    return weights / weights.sum(axis=1, keepdims=True)


def resize(images, size: int = 14) -> np.ndarray:
    """Resize images to ``size x size`` by area interpolation, scaled to [0, 1].

    Each output pixel is the average of the input area it covers (like
    OpenCV's ``INTER_AREA`` when shrinking).  If both input sides are integer
    multiples of ``size`` this is exact block averaging (28 -> 14 is 2x2 mean
    pooling); otherwise the fractional box weights of :func:`area_weights` are
    applied separably along rows and columns.  The mean intensity of each
    image is preserved.

    Parameters
    ----------
    images : array_like, shape (n, H, W)
        ``uint8`` images (0..255, divided by 255) or floating-point images
        with values already in [0, 1].
    size : int, default 14
        Side length of the output images.

    Returns
    -------
    numpy.ndarray of float32, shape (n, size, size)
        Values in [0, 1].

    Raises
    ------
    TypeError
        If ``images`` is neither uint8 nor floating point, or ``size`` is not
        an integer.
    ValueError
        If ``images`` is not 3-D or has a side of 0 pixels, float values lie
        outside [0, 1] (or are not finite), ``size`` is not positive, or the
        result would exceed :data:`MAX_OUTPUT_BYTES` (checked before allocating).
    """
    size = check_int(size, "size", minimum=1)
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, height, width), got shape {images.shape}")
    if images.dtype == np.uint8:
        scale = 1.0 / 255.0
    elif np.issubdtype(images.dtype, np.floating):
        check_array(images, "images", ndim=(3,), unit_interval=True, float32=False)
        scale = 1.0
    else:
        raise TypeError(f"images must be uint8 or floating point, got dtype {images.dtype}")

    n, height, width = images.shape
    if height == 0 or width == 0:
        raise ValueError(f"images must have at least one pixel per side, got shape {images.shape}")
    check_output_size(n, size)
    if height % size == 0 and width % size == 0:
        # Exact block averaging; for uint8 the float32 sums are exact integers.
        by, bx = height // size, width // size
        blocks = images.reshape(n, size, by, size, bx)
        out = blocks.sum(axis=(2, 4), dtype=np.float32)
        out *= np.float32(scale / (by * bx))
    else:
        rows = area_weights(height, size).astype(np.float32)  # (size, H)
        cols = area_weights(width, size).T.astype(np.float32)  # (W, size)
        out = np.empty((n, size, size), dtype=np.float32)
        chunk = 4096  # bounds the float32 copy of the input
        for start in range(0, n, chunk):
            block = images[start : start + chunk].astype(np.float32)
            out[start : start + chunk] = rows @ block @ cols
        out *= np.float32(scale)
    # Guard against float32 rounding just outside [0, 1].
    return np.clip(out, 0.0, 1.0, out=out)


def preprocess(images, size: int = 14) -> np.ndarray:
    """Resize images as in :func:`resize` and flatten them to feature vectors.

    Parameters
    ----------
    images : array_like, shape (n, H, W)
        ``uint8`` images, or float images in [0, 1].
    size : int, default 14
        Side length of the resized images.

    Returns
    -------
    numpy.ndarray of float32, shape (n, size * size)
        Row-major flattened pixels in [0, 1].
    """
    resized = resize(images, size)
    return resized.reshape(len(resized), size * size)
