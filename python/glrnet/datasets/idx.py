"""IDX files, the MNIST distribution format: :func:`read_idx` and :func:`load_idx_dir`."""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from .._validation import check_labels, check_option, check_path

__all__ = ["IDX_SUBFOLDERS", "MAX_IDX_BYTES", "N_CLASSES", "find_idx_dir", "load_idx_dir", "read_idx"]

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
#: The most data bytes an IDX header may declare (2 GiB); larger files are refused before reading.
MAX_IDX_BYTES = 2 * 1024**3
_READ_CHUNK = 1024**2  # data are read in pieces of this size, so memory follows what the file really holds
#: Sub-folders searched, in order, when a directory holds no IDX files itself (torchvision's layouts:
#: ``root/MNIST/raw``, ``root/FashionMNIST/raw``, and ``root/raw`` when ``root`` is ``.../MNIST``).
IDX_SUBFOLDERS = ("raw", "MNIST/raw", "FashionMNIST/raw")

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

    The header is checked before any data is read, and only the bytes it
    declares are read (a gzipped file is decompressed as a stream), plus one
    byte to check that nothing follows; so a small file claiming or hiding a
    huge payload costs neither time nor memory.  Headers declaring more than
    :data:`MAX_IDX_BYTES` data bytes are refused.

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
        zero dimensions or a dimension of size 0, more data than
        :data:`MAX_IDX_BYTES`, fewer data bytes than the header requires
        (truncated), extra bytes after the data, or a corrupt gzip stream.
        The message names the file.
    """
    path = check_path(path, "path")
    with open(path, "rb") as raw:
        if raw.read(2) != _GZIP_MAGIC:
            raw.seek(0)
            return _read_idx_stream(raw, path, os.fstat(raw.fileno()).st_size)
        raw.seek(0)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_idx_stream(stream, path, None)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc


def _read_up_to(stream: IO[bytes] | gzip.GzipFile, n_bytes: int) -> bytes:
    """At most ``n_bytes`` from ``stream``, fewer only at its end; memory grows with what is really there."""
    chunks = []
    while n_bytes > 0:
        chunk = stream.read(min(n_bytes, _READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        n_bytes -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _read_idx_stream(stream: IO[bytes] | gzip.GzipFile, path: Path, file_size: int | None) -> np.ndarray:
    """The IDX array in ``stream`` (``file_size``: the size of a raw file, None for a decompressed stream)."""
    shape, dtype, header_size = _parse_header(stream, path)
    if 0 in shape:
        raise ValueError(f"{path}: the IDX header declares shape {shape}, with a dimension of size 0")
    count = math.prod(shape)
    expected = count * dtype.itemsize
    if expected > MAX_IDX_BYTES:
        raise ValueError(
            f"{path}: the IDX header declares shape {shape}, {expected:,} data bytes, more than the "
            f"{MAX_IDX_BYTES:,} read_idx accepts (MAX_IDX_BYTES)"
        )
    if file_size is not None:  # a raw file: its size settles both checks before anything is allocated
        _check_data_bytes(path, shape, expected, file_size - header_size)
    data = _read_up_to(stream, expected)
    _check_data_bytes(path, shape, expected, len(data))
    if stream.read(1):  # a decompressed stream: one byte more tells, however much follows
        raise ValueError(
            f"{path}: trailing bytes after the IDX data (shape {shape} needs {expected} data bytes, more follow)"
        )
    array = np.frombuffer(data, dtype=dtype, count=count)
    # astype copies, giving a writable array in native byte order.
    return array.astype(dtype.newbyteorder("=")).reshape(shape)


def _check_data_bytes(path: Path, shape, expected: int, actual: int):
    """Refuse ``actual`` data bytes where the header declares ``expected``."""
    if actual < expected:
        raise ValueError(
            f"{path}: truncated IDX file: shape {shape} needs {expected} data bytes, only {actual} present"
        )
    if actual > expected:
        raise ValueError(
            f"{path}: {actual - expected} trailing bytes after the IDX data "
            f"(shape {shape} needs {expected} data bytes, file has {actual})"
        )


def _parse_header(stream: IO[bytes] | gzip.GzipFile, path: Path):
    """(shape, big-endian dtype, header size in bytes) of the IDX header at the start of ``stream``."""
    head = _read_up_to(stream, 4)
    if len(head) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(head)} bytes)")
    zero0, zero1, type_code, ndim = head
    magic = int.from_bytes(head, "big")
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
    sizes = _read_up_to(stream, 4 * ndim)
    if len(sizes) < 4 * ndim:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header_size} header bytes, "
            f"file has {4 + len(sizes)}"
        )
    return struct.unpack(f">{ndim}I", sizes), _IDX_DTYPES[type_code], header_size


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


def _holds_idx_files(directory: Path) -> bool:
    names = [_idx_names(prefix, kind, ndim) for prefix in _SPLIT_PREFIXES.values()
             for kind, ndim in (("images", 3), ("labels", 1))]
    return directory.is_dir() and any(_find_first(directory, group) is not None for group in names)


def find_idx_dir(directory) -> Path:
    """The folder that holds the IDX files of ``directory``: itself, or one of :data:`IDX_SUBFOLDERS`.

    A directory with no IDX files of its own is searched for torchvision's
    layouts: ``root/raw``, ``root/MNIST/raw`` and ``root/FashionMNIST/raw``.

    Raises
    ------
    FileNotFoundError
        If the directory does not exist or neither it nor those sub-folders
        hold IDX files; the message lists the file names and folders looked for.
    NotADirectoryError
        If ``directory`` is a file.
    ValueError
        If more than one of the sub-folders holds IDX files (pass the one meant).
    """
    directory = check_path(directory, "directory")
    if not directory.exists():
        raise FileNotFoundError(f"data directory {directory} does not exist")
    if not directory.is_dir():
        raise NotADirectoryError(f"data path {directory} is not a directory")
    if _holds_idx_files(directory):
        return directory
    found = [directory / sub for sub in IDX_SUBFOLDERS if _holds_idx_files(directory / sub)]
    if len(found) > 1:
        raise ValueError(
            f"{directory} holds IDX files in {len(found)} sub-folders ({', '.join(map(str, found))}); "
            f"pass the one meant"
        )
    if not found:
        names = _idx_names("train", "images", 3) + _idx_names("t10k", "images", 3)
        raise FileNotFoundError(
            f"no MNIST IDX files in {directory}: looked for one of {', '.join(names)} "
            f"with the matching *-labels-idx1-ubyte[.gz] files, in it and in its sub-folders "
            f"{', '.join(sub + '/' for sub in IDX_SUBFOLDERS)} (torchvision's layouts)"
        )
    return found[0]


def load_idx_dir(directory, split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST-format IDX files from a directory.

    Looks for ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte`` and
    ``t10k-images-idx3-ubyte`` / ``t10k-labels-idx1-ubyte``, each raw or with
    ``.gz``, also spelled ``train-images.idx3-ubyte`` etc.  Works for MNIST and
    Fashion-MNIST alike.  If the directory holds none of them, its
    sub-folders ``raw``, ``MNIST/raw`` and ``FashionMNIST/raw`` (torchvision's
    layouts) are searched; see :func:`find_idx_dir`.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory holding the files (or a torchvision root).
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
        If the directory does not exist, if no IDX files are found (see
        :func:`find_idx_dir`), if the requested pair is not found, or if an
        image file lacks its label file or vice versa.  The message lists the
        names looked for.
    NotADirectoryError
        If ``directory`` is a file.
    ValueError
        For an invalid ``split``, invalid IDX files (see :func:`read_idx`),
        files of the wrong kind, image/label count mismatches, labels outside
        0..9, train/test images of different sizes, or IDX files in several
        torchvision sub-folders.
    """
    directory = check_path(directory, "directory")
    split = check_option(split, "split", SPLITS)
    directory = find_idx_dir(directory)
    if split != "all":
        return _load_idx_pair(directory, split, required=True)
    pairs = [_load_idx_pair(directory, s, required=False) for s in ("train", "test")]
    pairs = [pair for pair in pairs if pair is not None]
    if len(pairs) == 1:
        return pairs[0]
    shapes = {images.shape[1:] for images, _ in pairs}
    if len(shapes) > 1:
        raise ValueError(f"{directory}: train and test images differ in size: {sorted(shapes)}")
    return np.concatenate([images for images, _ in pairs]), np.concatenate([labels for _, labels in pairs])
