"""Model files: one ``.npz`` archive holding the parameters and a JSON header.

No pickle is involved: arrays are stored as plain ``.npy`` members and read with
``allow_pickle=False``; the header is UTF-8 JSON stored as a byte array::

    header    {"format": "glrnet-model", "version": 1, "config": {...}, "metadata": {...}}
    weight_l  float64 (n_out, n_in) of level l
    bias_l    float64 (n_out,)

``config`` is :meth:`glrnet.MLP.get_config` (``"noises": null`` for a network
without neuronal noise, the backpropagation baseline).  Files of glrnet 0.1's
separate BP format (``"format": "glrnet-bp"``) are read as that configuration.
Writes are atomic (glrnet._files).
"""
from __future__ import annotations

import json
import os
import stat

import numpy as np

from ._files import atomic_savez, json_default, open_archive

__all__ = ["write", "read", "FORMAT", "FORMAT_VERSION", "LEGACY_BP_FORMAT"]

FORMAT = "glrnet-model"
FORMAT_VERSION = 1
LEGACY_BP_FORMAT = "glrnet-bp"      # glrnet 0.1's backprop baseline


def write(path, config: dict, weights, biases, metadata=None):
    """Write a model's ``config``, parameters and JSON-serialisable ``metadata`` to ``path``."""
    header = {"format": FORMAT, "version": FORMAT_VERSION, "config": config, "metadata": metadata or {}}
    arrays = {"header": np.frombuffer(json.dumps(header, default=json_default).encode("utf-8"), dtype=np.uint8)}
    for l, (w, b) in enumerate(zip(weights, biases)):
        arrays[f"weight_{l}"] = np.asarray(w, dtype=np.float64)
        arrays[f"bias_{l}"] = np.asarray(b, dtype=np.float64)
    atomic_savez(path, **arrays)


# Bounds checked before anything is allocated (a file's header is not trusted)
MAX_HEADER_BYTES = 64 << 20          # the JSON header, metadata (training histories) included
MAX_LEVELS = 255
MAX_WIDTH = 1 << 24
MAX_PARAMETERS = 1 << 29             # 4 GiB of float64 parameters (the bound MLP() checks too)
_NPY_HEADER_MAX = 4096               # bytes of an .npy member's own header


def read(path):
    """``(config, weights, biases, metadata)`` of a model file.

    The header's types and declared sizes are checked, and compared with the sizes of the
    archive's members, before any parameter is read: a crafted file cannot make the reader
    allocate more than its declared parameters (bounded by MAX_PARAMETERS).
    """
    with _open(path) as archive:
        header = _header(archive, path)
        config = header["config"]
        shapes = _declared_shapes(config, path)
        for name, shape in shapes.items():
            _check_member(archive, name, 8 * int(np.prod(shape)), path)
        arrays = {name: archive[name] for name in shapes}     # _check_member: all present
    for name, shape in shapes.items():
        if arrays[name].shape != shape or arrays[name].dtype.kind not in "fiu":
            raise ValueError(f"{path}: {name} is a {arrays[name].dtype} array of shape {arrays[name].shape}, the "
                             f"header declares float64 {shape}")
    n_levels = len(config["layer_sizes"]) - 1
    weights = [arrays[f"weight_{l}"] for l in range(n_levels)]
    biases = [arrays[f"bias_{l}"] for l in range(n_levels)]
    return config, weights, biases, header.get("metadata", {})


def _open(path):
    """open_archive for regular files only (a FIFO or a device would block or never end)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise
    except (OSError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable glrnet model file: {exc}") from exc
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file, so not a glrnet model file")
    return open_archive(path)


def _check_member(archive, name, data_bytes, path):
    """The member ``name`` (``.npy``) decompresses to about ``data_bytes``: checked on its declared size
    before it is read (zipfile never inflates a member past its declared size)."""
    try:
        size = archive.zip.getinfo(f"{name}.npy").file_size
    except KeyError:
        raise ValueError(f"{path} is an incomplete glrnet model file: missing {name!r}") from None
    if not data_bytes <= size <= data_bytes + _NPY_HEADER_MAX:
        raise ValueError(f"{path}: member {name} holds {size} bytes, the header declares {data_bytes} bytes of "
                         f"parameters")


def _declared_shapes(config, path) -> dict:
    """The parameters' shapes the configuration declares, after checking its types and bounds."""
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the header's config must be an object, got {type(config).__name__}")
    sizes = config.get("layer_sizes")
    if not isinstance(sizes, list) or not 2 <= len(sizes) <= MAX_LEVELS + 1 or not all(
            isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= MAX_WIDTH for s in sizes):
        raise ValueError(f"{path}: layer_sizes must be 2 to {MAX_LEVELS + 1} integers in [1, {MAX_WIDTH}], got "
                         f"{str(sizes)[:80]}")
    n_levels = len(sizes) - 1
    for key, kinds in (("activations", (list,)), ("noises", (list, type(None)))):
        value = config.get(key)
        if not isinstance(value, kinds) or (isinstance(value, list) and (
                len(value) != n_levels or not all(isinstance(v, dict) for v in value))):
            raise ValueError(f"{path}: {key} must be {n_levels} objects, one per level")
    if not isinstance(config.get("loss"), str) or not isinstance(config.get("seed", 0), int):
        raise ValueError(f"{path}: loss must be a string and seed an integer")
    count = sum(n_out * (n_in + 1) for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    if count > MAX_PARAMETERS:
        raise ValueError(f"{path} declares {count} parameters ({8 * count / 2**30:.1f} GiB); this glrnet reads at most "
                         f"{MAX_PARAMETERS}")
    shapes: dict[str, tuple] = {}
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"weight_{l}"] = (n_out, n_in)
        shapes[f"bias_{l}"] = (n_out,)
    return shapes


def _header(archive, path):
    if "header" not in archive.files:
        raise ValueError(f"{path} is not a glrnet model file (no header)")
    size = archive.zip.getinfo("header.npy").file_size
    if size > MAX_HEADER_BYTES:
        raise ValueError(f"{path}: the header holds {size} bytes, more than a glrnet model file's {MAX_HEADER_BYTES}")
    raw = archive["header"]
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{path} is not a glrnet model file: its header is not JSON ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a glrnet model file: its header is a JSON {type(header).__name__}, not an "
                         f"object")
    if header.get("format") == LEGACY_BP_FORMAT:
        return _from_legacy_bp(header, path)
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a glrnet model file (format {str(header.get('format'))[:40]!r})")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(f"{path} has format version {str(version)[:20]!r}; this glrnet reads 1 to {FORMAT_VERSION}")
    if not isinstance(header.get("metadata", {}), dict):
        raise ValueError(f"{path}: the header's metadata must be an object")
    return header


def _from_legacy_bp(header, path):
    """A glrnet 0.1 BP file: hidden levels of one activation, a linear output, no noise."""
    try:
        sizes = header["layer_sizes"]
        hidden = {"name": header["activation"], "slope": 1.0, "levels": 4}
        if not isinstance(sizes, list) or len(sizes) < 2:
            raise TypeError("layer_sizes")
        config = {"layer_sizes": sizes, "noises": None, "loss": "cross_entropy", "seed": header["seed"],
                  "activations": [hidden] * (len(sizes) - 2) + [{"name": "identity", "slope": 1.0, "levels": 4}]}
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} is an incomplete glrnet BP model file: missing or malformed {exc}") from exc
    metadata = header.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: the header's metadata must be an object")
    metadata = dict(metadata)
    metadata.setdefault("history", header.get("history", {}))
    return {"format": FORMAT, "version": FORMAT_VERSION, "config": config, "metadata": metadata}
