"""Files written atomically, ``.npz`` archives and JSON files read with errors that name the file,
and folders locked for one writer.

A write goes to a temporary file (``.tmp-*``) in the target's folder, is flushed to disk,
renamed over the target, and the folder is flushed too, so a crash never leaves a half-written
file.  A process killed during a write leaves at most its temporary file, which
:func:`remove_stale_temporaries` deletes (call it only while holding the folder's lock).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import os
import stat
import tempfile
import zipfile
import zlib

import numpy as np

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_savez", "open_archive",
           "json_default", "read_json", "locked_folder", "FolderInUseError", "remove_stale_temporaries",
           "TEMPORARY_PREFIX"]

#: The name prefix of the temporary files of :func:`atomic_write_bytes`.
TEMPORARY_PREFIX = ".tmp-"


def _process_umask() -> int:
    # os.umask can only be read by setting it: do it once, at import, not while other
    # threads may be creating files
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _process_umask()


def _check_replaceable(path: str):
    """A write may create ``path`` or replace a regular file there, nothing else (a device node, a
    FIFO, a folder, a socket: renaming over it would destroy it or fail half-way)."""
    try:
        mode = os.stat(path).st_mode           # follows a symbolic link: its target must be a regular file
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise ValueError(f"{path} exists and is {kind}: refusing to replace it")


def _fsync_folder(directory: str):
    """Flush a folder's entries (a rename is durable only once its folder is)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return                                 # a folder that cannot be opened cannot be flushed either
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):   # folders some systems do not sync
            raise
    finally:
        os.close(fd)


def atomic_write_bytes(path, data: bytes):
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename, fsync of the folder).

    Raises ValueError if ``path`` exists and is not a regular file."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    _check_replaceable(path)
    fd, tmp = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, dir=directory)
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
        _check_replaceable(path)               # again, just before the rename
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(directory)


def atomic_write_text(path, text: str):
    atomic_write_bytes(path, text.encode("utf-8"))


def json_default(value):
    """``json.dumps(default=...)`` for numpy scalars and arrays."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2, default=json_default))


def read_json(path, what="JSON file"):
    """``json.load`` of ``path``; a file that is not valid JSON (truncated, say) gives a ValueError that
    names it.  A missing file raises FileNotFoundError."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise
    except (ValueError, OSError) as exc:          # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path} is not a readable {what}: {exc}") from exc


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


def remove_stale_temporaries(directory, recursive=False) -> list[str]:
    """Delete the temporary files (``.tmp-*``) that writes killed half-way left in ``directory`` (and
    its subfolders if ``recursive``); returns their paths.  Only safe while no other process writes
    there: call it while holding the folder's :func:`locked_folder`."""
    removed: list[str] = []
    if not os.path.isdir(directory):
        return removed
    walk = os.walk(directory) if recursive else [(directory, [], os.listdir(directory))]
    for folder, _, names in walk:
        for name in names:
            path = os.path.join(folder, name)
            if name.startswith(TEMPORARY_PREFIX) and os.path.isfile(path) and not os.path.islink(path):
                os.unlink(path)
                removed.append(path)
    return removed


class FolderInUseError(RuntimeError):
    """Another process holds the folder's lock."""


def _read_holder(fd) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


@contextlib.contextmanager
def locked_folder(directory, name=".lock", what="process"):
    """``with locked_folder(d):`` holds an exclusive ``fcntl.flock`` on ``d/name`` for the block,
    with this process's id written in it; the lock file is removed on exit.  If another process
    holds it, raises :class:`FolderInUseError` at once: "folder d is in use by another <what>
    (pid N)".  The kernel releases the lock of a killed process, so a leftover lock file never
    blocks anyone."""
    directory = os.fspath(directory)
    path = os.path.join(directory, name)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise FolderInUseError(f"folder {directory} is in use by another {what} (pid {holder})") from None
        except BaseException:
            os.close(fd)
            raise
        # the previous holder may have removed the file between our open and our lock: then the lock
        # is on a file nobody else will see, and the one at ``path`` (if any) must be locked instead
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)                       # while still holding the lock (see the check above)
        os.close(fd)
