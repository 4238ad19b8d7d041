"""Model files: one ``.npz`` archive holding the parameters and a JSON header.

No pickle is involved: arrays are stored as plain ``.npy`` members and read with
``allow_pickle=False``; the configuration is UTF-8 JSON stored as a byte array.
Files are written to a temporary file in the target directory, flushed to disk
and renamed over the target, so a crash never leaves a half-written model.
"""
from __future__ import annotations

import io as _io
import json
import os
import tempfile
import zipfile

import numpy as np

__all__ = ["save_model", "load_model", "atomic_write_bytes", "FORMAT", "FORMAT_VERSION"]

FORMAT = "glrnet-model"
FORMAT_VERSION = 1


def atomic_write_bytes(path, data: bytes):
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(model, path, *, metadata=None):
    """Save an MLP (and optional JSON-serialisable ``metadata``) to ``path``."""
    header = {"format": FORMAT, "version": FORMAT_VERSION, "config": model.get_config(),
              "metadata": metadata or {}}
    arrays = {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)}
    for l, (w, b) in enumerate(zip(model.weights, model.biases)):
        arrays[f"weight_{l}"] = np.asarray(w, dtype=np.float64)
        arrays[f"bias_{l}"] = np.asarray(b, dtype=np.float64)
    buffer = _io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def read_header(path) -> dict:
    with np.load(os.fspath(path), allow_pickle=False) as archive:
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

    try:
        archive = np.load(os.fspath(path), allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path} is not a readable glrnet model file: {exc}") from exc
    with archive:
        header = _header(archive, path)
        model = MLP.from_config(header["config"])
        weights = [archive[f"weight_{l}"] for l in range(model.n_levels)]
        biases = [archive[f"bias_{l}"] for l in range(model.n_levels)]
    model.set_parameters(weights, biases)
    model.metadata = header.get("metadata", {})
    return model
