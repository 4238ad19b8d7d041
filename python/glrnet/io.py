"""Model files: one ``.npz`` archive holding the parameters and a JSON header.

No pickle is involved: arrays are stored as plain ``.npy`` members and read with
``allow_pickle=False``; the configuration is UTF-8 JSON stored as a byte array.
Files are written to a temporary file in the target directory, flushed to disk
and renamed over the target, so a crash never leaves a half-written model.
"""
from __future__ import annotations

import contextlib
import io as _io
import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

__all__ = ["save_model", "load_model", "atomic_write_bytes", "atomic_savez", "open_archive", "FORMAT",
           "FORMAT_VERSION"]

FORMAT = "glrnet-model"
FORMAT_VERSION = 1


def _process_umask() -> int:
    # os.umask can only be read by setting it: do it once, at import, not while other
    # threads may be creating files
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _process_umask()


def atomic_write_bytes(path, data: bytes):
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        handle = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    try:
        with handle:
            os.fchmod(handle.fileno(), 0o666 & ~_UMASK)   # mkstemp's 0600 -> the usual permissions
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_savez(path, **arrays):
    """``np.savez_compressed`` written atomically (:func:`atomic_write_bytes`)."""
    buffer = _io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


@contextlib.contextmanager
def open_archive(path, what="glrnet model file"):
    """``with open_archive(path) as archive``: ``np.load(path, allow_pickle=False)`` of an ``.npz``
    archive, closed on exit. An unreadable file, or a corrupt member found while reading it, gives a
    ValueError that says why."""
    try:
        archive = np.load(os.fspath(path), allow_pickle=False)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable {what}: {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is not a {what} (a single array, not an .npz archive)")
    with archive:
        try:
            yield archive
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            raise ValueError(f"{path} is not a readable {what}: {exc}") from exc


def save_model(model, path, *, metadata=None):
    """Save an MLP (and optional JSON-serialisable ``metadata``) to ``path``."""
    header = {"format": FORMAT, "version": FORMAT_VERSION, "config": model.get_config(),
              "metadata": metadata or {}}
    arrays = {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)}
    for l, (w, b) in enumerate(zip(model.weights, model.biases)):
        arrays[f"weight_{l}"] = np.asarray(w, dtype=np.float64)
        arrays[f"bias_{l}"] = np.asarray(b, dtype=np.float64)
    atomic_savez(path, **arrays)


def read_header(path) -> dict:
    with open_archive(path) as archive:
        return _header(archive, path)


def _header(archive, path):
    if "header" not in archive.files:
        raise ValueError(f"{path} is not a glrnet model file (no header)")
    header = json.loads(archive["header"].tobytes().decode("utf-8"))
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a glrnet model file (format {header.get('format')!r})")
    if not isinstance(header.get("version"), int) or header["version"] > FORMAT_VERSION:
        raise ValueError(f"{path} has format version {header.get('version')!r}; this glrnet reads up to "
                         f"{FORMAT_VERSION}")
    return header


def load_model(path):
    """Load a model saved by :func:`save_model`; ``model.metadata`` holds the saved metadata."""
    from .network import MLP

    with open_archive(path) as archive:
        header = _header(archive, path)
        try:
            model = MLP.from_config(header["config"])
            weights = [archive[f"weight_{l}"] for l in range(model.n_levels)]
            biases = [archive[f"bias_{l}"] for l in range(model.n_levels)]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path} is an incomplete glrnet model file: missing {exc}") from exc
    model.set_parameters(weights, biases)
    model.metadata = header.get("metadata", {})
    return model
