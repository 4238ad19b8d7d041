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
    out = tmp_path / "net.npz"
    result = _run("train", "--epochs", "2", "--replications", "200", "--limit", "600", "--activation", "threshold",
                  "--optimizer", "adam", "--learning-rate", "0.03", "--baseline", "--out", str(out), "--json",
                  "--attack-images", "50")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n_train"] == 324 and report["n_validation"] == 36 and report["n_test"] == 240
    assert 0.0 <= report["attack"]["accuracy"] <= 1.0 and report["attack"]["images"] == 50
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
                  "--out", str(tmp_path / "m.npz"), "--validation-fraction", "0", "--attack-eps", "0")
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


def test_the_default_command_trains_a_good_network(tmp_path):
    """README command 1 as a user runs it: at least 0.90 test accuracy on the embedded data, and the
    accuracy under a quick white-box attack reported beside it."""
    result = _run("train", "--quiet", "--json", "--out", str(tmp_path / "default.npz"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["training"] == {"replications": 50, "epochs": 30, "baseline": True, "learning_rate": 0.8,
                                  "batch_size": 25, "optimizer": "sgd", "batch_reduction": "sum",
                                  "schedule": "cosine", "weight_decay": 1e-3, "validation_fraction": 0.1}
    assert report["test_accuracy"] >= 0.90
    assert report["attack"]["eps"] == 0.1 and 0.0 <= report["attack"]["accuracy"] < report["test_accuracy"]
    assert len(report["history"]["val_prediction_accuracy"]) == 30


def test_paper_settings_are_one_flag_away(tmp_path):
    result = _run("train", "--paper", "--epochs", "1", "--replications", "50", "--limit", "300",
                  "--attack-eps", "0", "--out", str(tmp_path / "p.npz"), "--json")
    assert result.returncode == 0, result.stderr
    training = json.loads(result.stdout)["training"]
    assert training == {"replications": 50, "epochs": 1, "baseline": False, "learning_rate": 0.1, "batch_size": 25,
                        "optimizer": "sgd", "batch_reduction": "sum", "schedule": "constant", "weight_decay": 0.0,
                        "validation_fraction": 0.0}
    assert "(the paper's settings)" in result.stderr


def test_version():
    result = _run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"glrnet {glrnet.__version__}"


@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_an_output_that_cannot_be_written_fails_before_training(tmp_path, where):
    (tmp_path / "file").write_text("x")
    out = tmp_path if where == "folder" else tmp_path / "file" / "m.npz"
    result = _run("train", "--out", str(out), "--quiet")
    assert result.returncode == 2
    assert "--out" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "data:" not in result.stderr


def test_a_failure_at_run_time_is_one_line_with_status_1(tmp_path):
    result = _run("train", "--learning-rate", "1e300", "--epochs", "2", "--limit", "300", "--quiet",
                  "--attack-eps", "0", "--out", str(tmp_path / "m.npz"))
    assert result.returncode == 1
    assert "diverged at step" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "m.npz").exists()
