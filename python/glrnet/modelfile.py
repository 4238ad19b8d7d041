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

import numpy as np

from ._files import atomic_savez, open_archive

__all__ = ["write", "read", "read_header", "FORMAT", "FORMAT_VERSION", "LEGACY_BP_FORMAT"]

FORMAT = "glrnet-model"
FORMAT_VERSION = 1
LEGACY_BP_FORMAT = "glrnet-bp"      # glrnet 0.1's backprop baseline


def write(path, config: dict, weights, biases, metadata=None):
    """Write a model's ``config``, parameters and JSON-serialisable ``metadata`` to ``path``."""
    header = {"format": FORMAT, "version": FORMAT_VERSION, "config": config, "metadata": metadata or {}}
    arrays = {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)}
    for l, (w, b) in enumerate(zip(weights, biases)):
        arrays[f"weight_{l}"] = np.asarray(w, dtype=np.float64)
        arrays[f"bias_{l}"] = np.asarray(b, dtype=np.float64)
    atomic_savez(path, **arrays)


def read_header(path) -> dict:
    with open_archive(path) as archive:
        return _header(archive, path)


def read(path):
    """``(config, weights, biases, metadata)`` of a model file."""
    with open_archive(path) as archive:
        header = _header(archive, path)
        config = header["config"]
        try:
            n_levels = len(config["layer_sizes"]) - 1
            weights = [archive[f"weight_{l}"] for l in range(n_levels)]
            biases = [archive[f"bias_{l}"] for l in range(n_levels)]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path} is an incomplete glrnet model file: missing {exc}") from exc
    return config, weights, biases, header.get("metadata", {})


def _header(archive, path):
    if "header" not in archive.files:
        raise ValueError(f"{path} is not a glrnet model file (no header)")
    header = json.loads(archive["header"].tobytes().decode("utf-8"))
    if header.get("format") == LEGACY_BP_FORMAT:
        return _from_legacy_bp(header, path)
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a glrnet model file (format {header.get('format')!r})")
    if not isinstance(header.get("version"), int) or header["version"] > FORMAT_VERSION:
        raise ValueError(f"{path} has format version {header.get('version')!r}; this glrnet reads up to "
                         f"{FORMAT_VERSION}")
    return header


def _from_legacy_bp(header, path):
    """A glrnet 0.1 BP file: hidden levels of one activation, a linear output, no noise."""
    try:
        sizes = list(header["layer_sizes"])
        hidden = {"name": header["activation"], "slope": 1.0, "levels": 4}
        config = {"layer_sizes": sizes, "noises": None, "loss": "cross_entropy", "seed": header["seed"],
                  "activations": [hidden] * (len(sizes) - 2) + [{"name": "identity", "slope": 1.0, "levels": 4}]}
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} is an incomplete glrnet BP model file: missing {exc}") from exc
    metadata = dict(header.get("metadata") or {})
    metadata.setdefault("history", header.get("history", {}))
    return {"format": FORMAT, "version": FORMAT_VERSION, "config": config, "metadata": metadata}
