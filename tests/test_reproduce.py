"""``glrnet reproduce --quick`` end to end, and resuming from its cache."""
import json
import subprocess
import sys

import numpy as np
import pytest
from glrnet import reproduce
from glrnet.reproduce import protocol


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    pytest.importorskip("mlxtend")
    out = tmp_path_factory.mktemp("reproduction")
    result = subprocess.run([sys.executable, "-m", "glrnet", "reproduce", "--quick", "--out", str(out), "--quiet"],
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_writes_tables_json_and_figures(quick_run):
    out, result = quick_run
    for name in ("table1.md", "table2.md", "results.json", "fig2_activations.png", "fig5_loss_curves.png",
                 "fig6_adversarial_pairs.png", "fig7_gaussian_noise.png", "eps_curves.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "fig2_activations.png").read_bytes()[:4] == b"\x89PNG"
    assert "Table I" in result.stdout and "Table II" in result.stdout
    table1 = (out / "table1.md").read_text()
    for variant in reproduce.VARIANTS:
        assert variant.label in table1


def test_results_are_complete_and_consistent(quick_run):
    out, _ = quick_run
    results = json.loads((out / "results.json").read_text())
    summary, seed0 = results["summary"], results["per_seed"][0]
    assert set(seed0["models"]) == {protocol.BASELINE} | {v.key for v in reproduce.VARIANTS}
    for name, entry in seed0["models"].items():
        for key in ("original", "transfer_fgsm", "transfer_lbfgs", "whitebox_fgsm", "whitebox_pgd", "whitebox_worst"):
            assert 0.0 <= entry[key] <= 1.0, (name, key)
        white_box = [v for k, v in entry.items() if k.startswith("whitebox_") and not k.endswith("curve")]
        assert entry["whitebox_worst"] <= min(white_box)
        assert ("whitebox_pgd_smoothed" in entry) == (name != protocol.BASELINE)   # BPDA for GLR networks
        assert len(entry["corruptions"]) == 10
        for corruption in entry["corruptions"].values():
            assert len(corruption["by_severity"]) == 5
            assert corruption["mean"] == pytest.approx(np.mean(corruption["by_severity"]))   # Eq. 6
    baseline = seed0["models"][protocol.BASELINE]
    n = seed0["n_attack"]
    # the FGSM strength is calibrated on the baseline: within one image of the target, unless capped
    assert abs(baseline["transfer_fgsm"] - reproduce.QUICK.fgsm_target) <= 1.5 / n or seed0["fgsm_eps"] in (0.0, 0.5)
    assert baseline["whitebox_pgd"] <= baseline["whitebox_fgsm"] + 1.0 / n
    assert baseline["original"] > 0.7
    assert summary["table1"][protocol.BASELINE]["original"][0] == pytest.approx(baseline["original"])


def test_resume_reuses_finished_work(quick_run):
    out, _ = quick_run
    cache = out / "cache" / "seed0"
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    before = json.loads((out / "results.json").read_text())["per_seed"]
    reproduce.run(None, str(out), seeds=1, quick=True, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == stamps
    after = json.loads((out / "results.json").read_text())["per_seed"]
    assert after == before


def test_the_module_split_keeps_the_public_names():
    import importlib
    import importlib.util

    from glrnet.reproduce import (
        PAPER,
        QUICK,
        VARIANTS,
        Settings,
        add_parser,
        report,
        run,
    )

    assert set(reproduce.__all__) == {"Settings", "PAPER", "QUICK", "VARIANTS", "run", "add_parser"}
    assert isinstance(PAPER, Settings) and isinstance(QUICK, Settings) and PAPER == Settings()
    assert VARIANTS is protocol.VARIANTS and Settings is protocol.Settings
    assert run is importlib.import_module("glrnet.reproduce.runner").run and callable(add_parser)
    assert run.__module__ == "glrnet.reproduce.runner" and add_parser.__module__ == "glrnet.reproduce.cli"
    assert callable(report.aggregate) and callable(report.write_tables) and callable(report.write_figures)
    assert importlib.util.find_spec("glrnet.reproduce._legacy_all") is None


def test_bad_arguments():
    result = subprocess.run([sys.executable, "-m", "glrnet", "reproduce", "--seeds", "0"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2 and "--seeds" in result.stderr


def test_cache_of_another_protocol_is_refused(quick_run):
    from dataclasses import replace

    out, _ = quick_run
    with pytest.raises(ValueError, match="epochs"):
        reproduce.run(None, str(out), seeds=1, settings=replace(reproduce.QUICK, epochs=5), progress=False)
    with pytest.raises(ValueError, match="data"):
        reproduce.run(str(out), str(out), seeds=1, quick=True, progress=False)


def test_cache_of_an_older_version_counts_new_settings_at_their_default(tmp_path):
    from dataclasses import asdict

    record = {"data": None, "settings": asdict(reproduce.PAPER)}
    del record["settings"]["pathwise_replications"]          # as an older glrnet wrote it
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "protocol.json").write_text(json.dumps(record))
    protocol._check_cache_settings(str(tmp_path), None, reproduce.PAPER)      # compatible: no error
    from dataclasses import replace

    with pytest.raises(ValueError, match="pathwise_replications"):
        protocol._check_cache_settings(str(tmp_path), None, replace(reproduce.PAPER, pathwise_replications=7))


def test_cache_without_a_protocol_record_is_refused(tmp_path):
    (tmp_path / "cache" / "seed0").mkdir(parents=True)          # models of an unknown protocol
    with pytest.raises(ValueError, match="without a protocol record"):
        protocol._check_cache_settings(str(tmp_path), None, reproduce.PAPER)
    assert not (tmp_path / "cache" / "protocol.json").exists()


def test_a_setting_removed_since_the_cache_was_written_is_named(tmp_path):
    from dataclasses import asdict

    record = {"data": None, "settings": {**asdict(reproduce.PAPER), "retired_option": 3}}
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "protocol.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="retired_option"):
        protocol._check_cache_settings(str(tmp_path), None, reproduce.PAPER)


@pytest.mark.parametrize("option", [["--epochs", "0"], ["--limit", "-1"], ["--replications", "0"]])
def test_bad_overrides(option, tmp_path):
    result = subprocess.run([sys.executable, "-m", "glrnet", "reproduce", "--out", str(tmp_path), *option],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and option[0] in result.stderr
