"""glrnet._files: atomic writes, JSON read with the file's name, stale temporary files, the folder lock."""
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest
from glrnet import _files
from glrnet._files import (
    FolderInUseError,
    atomic_write_bytes,
    atomic_write_json,
    locked_folder,
    read_json,
    remove_stale_temporaries,
)


def _temporaries(folder):
    return [name for name in os.listdir(folder) if name.startswith(_files.TEMPORARY_PREFIX)]


def test_atomic_write_replaces_a_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert _temporaries(target.parent) == []
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_files._UMASK


def test_the_folder_is_flushed_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src, dst):
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write_bytes(tmp_path / "out.bin", b"data")
    assert events == ["fsync file", "rename", "fsync folder"]


def test_a_failed_write_leaves_the_target_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def fail(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and _temporaries(tmp_path) == []


def test_a_folder_is_never_replaced(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="folder.*refusing"):
        atomic_write_bytes(tmp_path / "folder", b"x")
    assert (tmp_path / "folder").is_dir() and _temporaries(tmp_path) == []


def test_a_fifo_is_never_replaced(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=f"{fifo} exists and is not a regular file"):
        atomic_write_json(fifo, {"a": 1})
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and _temporaries(tmp_path) == []


def test_a_device_is_never_replaced(tmp_path):
    # a link to /dev/null stands for a device node: if the check failed, only the link would be replaced
    device = tmp_path / "device"
    os.symlink("/dev/null", device)
    with pytest.raises(ValueError, match="not a regular file"):
        atomic_write_bytes(device, b"x")
    assert os.path.islink(device) and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_link_to_a_regular_file_and_a_dangling_link_may_be_written(tmp_path):
    (tmp_path / "real").write_bytes(b"old")
    os.symlink(tmp_path / "real", tmp_path / "link")
    atomic_write_bytes(tmp_path / "link", b"new")                 # the link is replaced by the file, as before
    assert (tmp_path / "link").read_bytes() == b"new"
    os.symlink(tmp_path / "missing", tmp_path / "dangling")
    atomic_write_bytes(tmp_path / "dangling", b"x")
    assert (tmp_path / "dangling").read_bytes() == b"x"


def test_read_json_names_a_truncated_file(tmp_path):
    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"original": 0.9, "corruptions": {}})[:15])
    with pytest.raises(ValueError, match=f"{path} is not a readable cached evaluation"):
        read_json(path, "cached evaluation")
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match=str(path)):
        read_json(path)
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")
    atomic_write_json(path, {"a": [1, 2]})
    assert read_json(path) == {"a": [1, 2]}


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    (tmp_path / "cache" / "seed0").mkdir(parents=True)
    half = tmp_path / "cache" / "seed0" / ".tmp-abc123"
    half.write_bytes(b"PK\x03\x04 half an archive")                 # a write killed half-way
    (tmp_path / ".tmp-top").write_text("{")
    keep = [tmp_path / "cache" / "seed0" / "bp-sigmoid.npz", tmp_path / "results.json", tmp_path / ".tmpfile"]
    for path in keep:
        path.write_text("keep")
    (tmp_path / "cache" / ".tmp-dir").mkdir()                       # not a file: kept
    os.symlink(tmp_path / "results.json", tmp_path / ".tmp-link")  # a link: kept, its target untouched
    assert remove_stale_temporaries(tmp_path) == [str(tmp_path / ".tmp-top")]
    assert half.exists()
    assert remove_stale_temporaries(tmp_path / "cache", recursive=True) == [str(half)]
    assert all(path.read_text() == "keep" for path in keep)
    assert (tmp_path / "cache" / ".tmp-dir").is_dir() and os.path.islink(tmp_path / ".tmp-link")
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_the_lock_is_exclusive_names_its_holder_and_is_removed(tmp_path):
    with locked_folder(tmp_path, ".lock", "glrnet reproduce") as path:
        assert open(path).read() == f"{os.getpid()}\n"
        with pytest.raises(FolderInUseError) as error:
            with locked_folder(tmp_path, ".lock", "glrnet reproduce"):
                pass
        assert str(error.value) == f"folder {tmp_path} is in use by another glrnet reproduce (pid {os.getpid()})"
    assert not (tmp_path / ".lock").exists()
    with locked_folder(tmp_path, ".lock"):                        # free again
        pass


def test_a_lock_file_left_by_a_killed_process_does_not_block(tmp_path):
    (tmp_path / ".lock").write_text("999999\n")                    # no process holds it any more
    with locked_folder(tmp_path, ".lock") as path:
        assert open(path).read() == f"{os.getpid()}\n"


def test_the_lock_holds_across_processes(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from glrnet._files import locked_folder
        with locked_folder({str(tmp_path)!r}, ".lock", "glrnet reproduce"):
            print("locked", flush=True)
            sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(FolderInUseError, match=f"in use by another process \\(pid {holder.pid}\\)"):
            with locked_folder(tmp_path, ".lock"):
                pass
    finally:
        holder.communicate("\n", timeout=30)
    with locked_folder(tmp_path, ".lock"):
        pass
