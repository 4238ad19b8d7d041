"""Files written atomically, and ``.npz`` archives read without pickle.

A write goes to a temporary file in the target's folder, is flushed to disk and
renamed over the target, so a crash never leaves a half-written file.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_savez", "open_archive",
           "json_default"]


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


def atomic_write_text(path, text: str):
    atomic_write_bytes(path, text.encode("utf-8"))


def json_default(value):
    """``json.dumps(default=...)`` for numpy scalars and arrays."""
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2, default=json_default))


def atomic_savez(path, **arrays):
    """``np.savez_compressed`` written atomically (:func:`atomic_write_bytes`)."""
    buffer = io.BytesIO()
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
