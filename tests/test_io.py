"""Model files: round trip without pickle, atomic writes, clear errors."""
import json
import os

import numpy as np
import pytest

import glrnet
from glrnet import _files, modelfile


def _model():
    model = glrnet.MLP([6, 5, 4, 3], ["staircase", "sign", "sigmoid"],
                       [glrnet.Gaussian(2.0), glrnet.Laplace(1.0), glrnet.StudentT(3.0, 0.5)], loss="hinge", seed=3)
    model.activations[0] = glrnet.Activation("staircase", slope=2.0, levels=5)
    return model


def test_round_trip(tmp_path):
    model = _model()
    path = tmp_path / "model.npz"
    model.save(path, metadata={"note": "hello"})
    loaded = glrnet.load(path)
    assert loaded.get_config() == model.get_config()
    assert loaded.metadata == {"note": "hello"}
    for a, b in zip(model.get_parameters(), loaded.get_parameters()):
        assert np.array_equal(a, b)
    X = np.random.default_rng(0).random((9, 6))
    assert np.array_equal(model.predict_proba(X, 100), loaded.predict_proba(X, 100))


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    path = tmp_path / "model.npz"
    _model().save(path)
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
        header = json.loads(archive["header"].tobytes())
    assert header["format"] == "glrnet-model" and header["version"] == modelfile.FORMAT_VERSION


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    _model().save(path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    other = glrnet.MLP([6, 2, 3])
    with pytest.raises(OSError, match="disk full"):
        other.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_rejects_other_files_and_newer_versions(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable glrnet model"):
        glrnet.load(junk)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    with pytest.raises(ValueError, match="no header"):
        glrnet.load(plain)
    header = {"format": "glrnet-model", "version": modelfile.FORMAT_VERSION + 1, "config": {}}
    future = tmp_path / "future.npz"
    np.savez(future, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    with pytest.raises(ValueError, match="format version"):
        glrnet.load(future)
    with pytest.raises(FileNotFoundError):
        glrnet.load(tmp_path / "missing.npz")


@pytest.mark.parametrize("content, match", [
    (lambda p: np.save(p, np.zeros(3)), "not a glrnet model file|not a readable"),
    (lambda p: p.write_bytes(b"garbage"), "not a readable glrnet model file"),
])
def test_malformed_files_get_a_value_error(tmp_path, content, match):
    path = tmp_path / "bad.npz"
    content(path)
    if not path.exists():                        # np.save appends .npy
        path = tmp_path / "bad.npz.npy"
    with pytest.raises(ValueError, match=match):
        glrnet.load(path)


def test_corrupt_member_gets_a_value_error(tmp_path):
    """A damaged array inside an intact zip directory fails its CRC only when read: still a ValueError."""
    path = tmp_path / "model.npz"
    _model().save(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"weight_0.npy") + 200               # inside that member's array bytes
    data[start] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a readable glrnet model file"):
        glrnet.load(path)


def test_incomplete_model_file(tmp_path):
    path = tmp_path / "model.npz"
    _model().save(path)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files if k != "weight_1"}
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="incomplete glrnet model file"):
        glrnet.load(path)


def test_written_file_has_the_usual_permissions(tmp_path):
    path = tmp_path / "model.npz"
    _model().save(path)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~_files._UMASK


def test_baseline_network_round_trip(tmp_path):
    net = glrnet.baseline_network([5, 4, 3], "relu", seed=2)
    path = tmp_path / "bp.npz"
    net.save(path)
    loaded = glrnet.load(path)
    assert not loaded.noisy and loaded.get_config() == net.get_config()
    X = np.random.default_rng(0).random((6, 5))
    assert np.array_equal(loaded.predict_proba(X), net.predict_proba(X))


def test_glrnet_0_1_bp_files_still_load(tmp_path):
    """The BP baseline had a file format of its own in glrnet 0.1 ("glrnet-bp")."""
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal((3, 4)), rng.standard_normal((2, 3))]
    biases = [rng.standard_normal(3), rng.standard_normal(2)]
    header = {"format": "glrnet-bp", "version": 1, "layer_sizes": [4, 3, 2], "activation": "tanh", "seed": 5,
              "history": {"train_loss": [0.7, 0.5]}, "metadata": {"note": "old"}}
    arrays = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    for l, (w, b) in enumerate(zip(weights, biases)):
        arrays[f"weight_{l}"], arrays[f"bias_{l}"] = w, b
    path = tmp_path / "old-bp.npz"
    np.savez(path, **arrays)
    net = glrnet.load(path)
    assert not net.noisy and [a.name for a in net.activations] == ["tanh", "identity"]
    assert net.metadata == {"note": "old", "history": {"train_loss": [0.7, 0.5]}}
    X = rng.random((7, 4))
    logits = np.tanh(X @ weights[0].T + biases[0]) @ weights[1].T + biases[1]
    assert np.array_equal(net.forward(X), logits)
