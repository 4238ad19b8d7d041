"""IDX files, the MNIST distribution format: :func:`read_idx` and :func:`load_idx_dir`."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from .._validation import check_labels, check_option, check_path

__all__ = ["N_CLASSES", "load_idx_dir", "read_idx"]

#: Number of classes (digits 0..9, or the ten Fashion-MNIST categories).
N_CLASSES = 10

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

# File-name prefix of each split, and the values of the ``split`` argument.
_SPLIT_PREFIXES = {"train": "train", "test": "t10k"}
SPLITS = ("train", "test", "all")


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
    path = check_path(path, "path")
    data = path.read_bytes()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    shape, dtype, header_size = _parse_header(data, path)
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header_size
    if actual < expected:
        raise ValueError(
            f"{path}: truncated IDX file: shape {shape} needs {expected} data bytes, only {actual} present"
        )
    if actual > expected:
        raise ValueError(
            f"{path}: {actual - expected} trailing bytes after the IDX data "
            f"(shape {shape} needs {expected} data bytes, file has {actual})"
        )
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header_size)
    # astype copies, giving a writable array in native byte order.
    return array.astype(dtype.newbyteorder("=")).reshape(shape)


def _parse_header(data: bytes, path: Path):
    """(shape, big-endian dtype, header size in bytes) of the IDX data ``data``."""
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
    return struct.unpack(f">{ndim}I", data[4:header_size]), _IDX_DTYPES[type_code], header_size


def _idx_names(prefix: str, kind: str, ndim: int) -> list[str]:
    stems = [f"{prefix}-{kind}-idx{ndim}-ubyte", f"{prefix}-{kind}.idx{ndim}-ubyte"]
    return [name for stem in stems for name in (stem, stem + ".gz")]


def _find_first(directory: Path, names) -> Path | None:
    return next((directory / name for name in names if (directory / name).is_file()), None)


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
            f"{image_path} has no label file: looked for one of {', '.join(label_names)} in {directory}"
        )
    if image_path is None:
        raise FileNotFoundError(
            f"{label_path} has no image file: looked for one of {', '.join(image_names)} in {directory}"
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
            f"{image_path.name} holds {len(images)} images but {label_path.name} holds {len(labels)} labels"
        )
    return images, check_labels(labels, len(labels), N_CLASSES, f"labels in {label_path}")


def load_idx_dir(directory, split: str = "all") -> tuple[np.ndarray, np.ndarray]:
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
    directory = check_path(directory, "directory")
    split = check_option(split, "split", SPLITS)
    if not directory.exists():
        raise FileNotFoundError(f"data directory {directory} does not exist")
    if not directory.is_dir():
        raise NotADirectoryError(f"data path {directory} is not a directory")

    if split != "all":
        return _load_idx_pair(directory, split, required=True)
    pairs = [_load_idx_pair(directory, s, required=False) for s in ("train", "test")]
    pairs = [pair for pair in pairs if pair is not None]
    if not pairs:
        names = _idx_names("train", "images", 3) + _idx_names("t10k", "images", 3)
        raise FileNotFoundError(
            f"no MNIST IDX files in {directory}: looked for one of {', '.join(names)} "
            f"with the matching *-labels-idx1-ubyte[.gz] files"
        )
    if len(pairs) == 1:
        return pairs[0]
    shapes = {images.shape[1:] for images, _ in pairs}
    if len(shapes) > 1:
        raise ValueError(f"{directory}: train and test images differ in size: {sorted(shapes)}")
    return np.concatenate([images for images, _ in pairs]), np.concatenate([labels for _, labels in pairs])
