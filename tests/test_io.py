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


def _crafted(path, header, **arrays):
    members = {"header": np.frombuffer(json.dumps(header).encode() if isinstance(header, (dict, list)) else header,
                                       dtype=np.uint8)}
    members.update(arrays)
    np.savez_compressed(path, **members)
    return path


def _header_for(sizes):
    return {"format": "glrnet-model", "version": 1, "metadata": {}, "config": {
        "layer_sizes": sizes, "activations": [{"name": "sigmoid", "slope": 1.0, "levels": 4}] * (len(sizes) - 1),
        "noises": [{"family": "gaussian", "scale": 2.0}] * (len(sizes) - 1), "loss": "cross_entropy", "seed": 0}}


def _peak_bytes(fn):
    """The largest traced allocation while fn() runs."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _refused(path, match):
    def load():
        with pytest.raises(ValueError, match=match):
            glrnet.load(path)
    return load


@pytest.mark.parametrize("sizes, match", [
    ([4096, 4096, 10], "member weight_0 holds .* bytes, the header declares"),   # 128 MiB declared, 32 bytes held
    ([32768, 32768, 10], r"declares \d+ parameters \(8.0 GiB\); this glrnet reads at most"),
])
def test_a_header_declaring_a_huge_network_is_refused_before_allocating(tmp_path, sizes, match):
    path = _crafted(tmp_path / "huge.npz", _header_for(sizes), weight_0=np.zeros((2, 2)),
                    bias_0=np.zeros(2), weight_1=np.zeros((2, 2)), bias_1=np.zeros(2))
    assert _peak_bytes(_refused(path, match)) < 4 << 20


def test_a_member_larger_than_declared_is_refused_without_inflating_it(tmp_path):
    big = np.zeros((1024, 8192))                      # 64 MiB of zeros, a few hundred KB compressed
    path = _crafted(tmp_path / "bomb.npz", _header_for([3, 2]), weight_0=big, bias_0=np.zeros(2))
    del big
    assert path.stat().st_size < 1 << 20
    assert _peak_bytes(_refused(path, "member weight_0 holds")) < 4 << 20


@pytest.mark.parametrize("header, match", [
    ([1, 2, 3], "JSON list, not an object"),
    (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    (b"\xff\xfe", "not JSON"),
    ({**_header_for([3, 2]), "version": True}, "format version"),
    ({**_header_for([3, 2]), "metadata": [1]}, "metadata must be an object"),
    ({**_header_for([3, 2]), "config": [3, 2]}, "config must be an object"),
    ({**_header_for([3, 2]), "config": {**_header_for([3, 2])["config"], "layer_sizes": [3, True]}}, "layer_sizes"),
    ({**_header_for([3, 2]), "config": {**_header_for([3, 2])["config"], "noises": 5}}, "noises"),
    ({**_header_for([3, 2]), "config": {**_header_for([3, 2])["config"], "loss": "mse"}}, "invalid glrnet model"),
])
def test_malformed_headers_get_a_value_error_naming_the_file(tmp_path, header, match):
    path = _crafted(tmp_path / "bad.npz", header, weight_0=np.zeros((2, 3)), bias_0=np.zeros(2))
    with pytest.raises(ValueError, match=match) as info:
        glrnet.load(path)
    assert "bad.npz" in str(info.value)


def test_only_regular_files_are_read(tmp_path):
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        glrnet.load(fifo)                             # would block forever in open()
    with pytest.raises(ValueError, match="not a regular file"):
        glrnet.load(tmp_path)


def test_metadata_may_hold_numpy_scalars(tmp_path):
    model = glrnet.MLP([3, 2])
    model.save(tmp_path / "m.npz", metadata={"n": np.int64(3), "ok": np.bool_(True), "x": np.float32(0.5)})
    assert glrnet.load(tmp_path / "m.npz").metadata == {"n": 3, "ok": True, "x": 0.5}


def test_the_constructor_refuses_what_a_model_file_could_not_hold():
    from glrnet import modelfile

    sizes = [16384, 16384, 16384]                       # 2 x 16385 x 16384 parameters
    assert 2 * 16385 * 16384 > modelfile.MAX_PARAMETERS > 16385 * 16384
    with pytest.raises(ValueError, match="above the bound"):
        glrnet.MLP(sizes)
