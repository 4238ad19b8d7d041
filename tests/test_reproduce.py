"""``glrnet reproduce --quick`` end to end, and resuming from its cache."""
import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from glrnet import reproduce
from glrnet.reproduce import protocol

from conftest import differences


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduction")
    result = subprocess.run([sys.executable, "-m", "glrnet", "reproduce", "--quick", "--out", str(out), "--quiet"],
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_writes_tables_json_and_figures(quick_run):
    out, result = quick_run
    for name in ("table1.md", "table2.md", "results.json", "results.csv", "fig2_activations.png",
                 "fig5_loss_curves.png", "fig6_adversarial_pairs.png", "fig7_gaussian_noise.png", "eps_curves.png",
                 "corruption_severity.png", "table1_adaptive.md", "sanity_checks.md", "certification.md",
                 "certification.png", "table2_authors.md"):
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
    assert set(seed0["models"]) == set(protocol.BP_MODELS) | {v.key for v in reproduce.VARIANTS}
    for name, entry in seed0["models"].items():
        for key in ("original", "transfer_fgsm", "transfer_lbfgs", "whitebox_fgsm", "whitebox_pgd", "whitebox_worst"):
            assert 0.0 <= entry[key] <= 1.0, (name, key)
        white_box = [v for k, v in entry.items() if k.startswith("whitebox_") and not k.endswith("curve")]
        assert entry["whitebox_worst"] <= min(white_box)
        glr = name not in protocol.BP_MODELS
        assert ("whitebox_pgd_smoothed" in entry) == glr                             # BPDA for GLR networks
        assert ("corruptions_authors_noise_free" in entry) == glr and ("original_noise_free" in entry) == glr
        assert set(entry["corruptions_authors"]) == {"gaussian_noise", "impulse_noise", "glass_blur", "contrast"}
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


def test_resume_reuses_finished_work(quick_run, capsys):
    out, _ = quick_run
    cache = out / "cache" / "seed0"
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    before = json.loads((out / "results.json").read_text())["per_seed"]
    reproduce.run(None, str(out), seeds=1, quick=True, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == stamps
    after = json.loads((out / "results.json").read_text())["per_seed"]
    assert not differences(after, before)
    assert "resuming in" in capsys.readouterr().err                 # one line says the folder is reused
    assert not (out / protocol.LOCK_NAME).exists()                  # the lock is gone with the run


def test_results_csv_holds_every_figure_in_long_format(quick_run):
    out, _ = quick_run
    results = json.loads((out / "results.json").read_text())
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["seed", "model", "label", "measure", "value"]
    value = {(int(r["seed"]), r["model"], r["measure"]): float(r["value"]) for r in rows}
    assert len(value) == len(rows)                                  # one row per seed x model x measure
    seed0 = results["per_seed"][0]
    for name, entry in seed0["models"].items():
        assert value[(0, name, "original")] == entry["original"]
        assert value[(0, name, "whitebox_worst")] == entry["whitebox_worst"]
        for corruption, figures in entry["corruptions"].items():
            assert value[(0, name, f"corruption/{corruption}/mean")] == figures["mean"]
            assert value[(0, name, f"corruption/{corruption}/severity_5")] == figures["by_severity"][4]
        for e, accuracy in zip(reproduce.QUICK.eps_grid, entry["transfer_fgsm_curve"]):
            assert value[(0, name, f"transfer_fgsm_curve/eps={e:g}")] == accuracy
    assert value[(0, "", "fgsm_eps")] == seed0["fgsm_eps"]
    labels = {r["model"]: r["label"] for r in rows if r["model"]}
    assert labels[protocol.BASELINE] == protocol.LABELS[protocol.BASELINE]
    assert not any(r["measure"].startswith("history") for r in rows)


def test_report_only_rewrites_what_results_json_allows(quick_run, tmp_path):
    out, _ = quick_run
    for name in ("results.json", "table1.md", "table2.md", "results.csv", "fig6_adversarial_pairs.png"):
        shutil.copy(out / name, tmp_path / name)
    (tmp_path / "table1.md").write_text("stale")
    (tmp_path / "results.csv").unlink()
    fig6 = (tmp_path / "fig6_adversarial_pairs.png").stat().st_mtime_ns
    result = subprocess.run([sys.executable, "-m", "glrnet", "reproduce", "--report-only", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("table1.md", "table2.md", "results.csv", "results.json"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name   # the same JSON, the same bytes
    for name in ("eps_curves.png", "fig5_loss_curves.png", "corruption_severity.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG", name
    assert (tmp_path / "fig6_adversarial_pairs.png").stat().st_mtime_ns == fig6      # needs a run: left alone
    assert not (tmp_path / "fig7_gaussian_noise.png").exists() and not (tmp_path / "cache").exists()
    assert "Table I" in result.stdout


def test_report_only_without_results_names_the_file(tmp_path):
    result = subprocess.run([sys.executable, "-m", "glrnet", "reproduce", "--report-only", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and str(tmp_path / "results.json") in result.stderr
    (tmp_path / "results.json").write_text('{"summary": {"sett')                   # truncated
    result = subprocess.run([sys.executable, "-m", "glrnet", "reproduce", "--report-only", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and str(tmp_path / "results.json") in result.stderr


def test_fig6_names_the_predictions(tmp_path):
    from glrnet.reproduce import report

    rng = np.random.default_rng(0)
    inputs = {"X": rng.random((10, 196)), "X_fgsm": rng.random((10, 196)), "y": np.arange(10), "image_shape": (14, 14),
              "fgsm_predictions": {protocol.BASELINE: np.arange(10), "glr-sigmoid": np.zeros(10, dtype=int)}}
    report._adversarial_pairs([{"fgsm_eps": 0.1}], inputs, str(tmp_path))
    assert (tmp_path / "fig6_adversarial_pairs.png").read_bytes()[:4] == b"\x89PNG"


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
    # other data (the cache names its data by name and digest, not by a path): the embedded images, reordered
    from glrnet.datasets import load_mnist_5k

    X, y = load_mnist_5k()
    with pytest.raises(ValueError, match="differs in: data"):
        reproduce.run((X[::-1], y[::-1]), str(out), seeds=1, quick=True, progress=False)


def _a_cached_model(out):
    (out / "cache" / "seed0").mkdir(parents=True, exist_ok=True)
    (out / "cache" / "seed0" / "bp-sigmoid.npz").write_bytes(b"a finished model")


def test_cache_of_an_older_version_counts_new_settings_at_their_default(tmp_path):
    from dataclasses import asdict

    record = {"data": None, "settings": asdict(reproduce.PAPER)}
    del record["settings"]["pathwise_replications"]          # as an older glrnet wrote it
    _a_cached_model(tmp_path)
    (tmp_path / "cache" / "protocol.json").write_text(json.dumps(record))
    assert protocol._check_cache_settings(str(tmp_path), None, reproduce.PAPER) == "resume"    # compatible
    from dataclasses import replace

    with pytest.raises(ValueError, match="pathwise_replications"):
        protocol._check_cache_settings(str(tmp_path), None, replace(reproduce.PAPER, pathwise_replications=7))


def test_cache_from_before_the_attack_stopping_setting_counts_as_early_stopping(tmp_path):
    """Adaptive attacks stopped at the first fooling point before adaptive_keep_success existed: such a
    cache is that protocol (True), refused for today's default (False), and read back as True."""
    from dataclasses import asdict, replace

    record = {"data": None, "settings": asdict(reproduce.PAPER)}
    assert reproduce.PAPER.adaptive_keep_success is False
    del record["settings"]["adaptive_keep_success"]
    _a_cached_model(tmp_path)
    (tmp_path / "cache" / "protocol.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="adaptive_keep_success"):
        protocol._check_cache_settings(str(tmp_path), None, reproduce.PAPER)
    early = replace(reproduce.PAPER, adaptive_keep_success=True)
    assert protocol._check_cache_settings(str(tmp_path), None, early) == "resume"
    assert protocol.settings_from_record(record["settings"]) == early


def test_cache_without_a_protocol_record_is_refused(tmp_path):
    _a_cached_model(tmp_path)                                    # a model of an unknown protocol
    with pytest.raises(ValueError, match="no protocol record") as error:
        protocol._check_cache_settings(str(tmp_path), None, reproduce.PAPER)
    assert "bp-sigmoid.npz" in str(error.value) and "older glrnet" not in str(error.value)
    assert not (tmp_path / "cache" / "protocol.json").exists()


def test_a_setting_removed_since_the_cache_was_written_is_named(tmp_path):
    from dataclasses import asdict

    record = {"data": None, "settings": {**asdict(reproduce.PAPER), "retired_option": 3}}
    _a_cached_model(tmp_path)
    (tmp_path / "cache" / "protocol.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="retired_option"):
        protocol._check_cache_settings(str(tmp_path), None, reproduce.PAPER)


@pytest.mark.parametrize("option", [["--epochs", "0"], ["--limit", "-1"], ["--replications", "0"],
                                    ["--eot-draws", "0"]])
def test_bad_overrides(option, tmp_path):
    result = subprocess.run([sys.executable, "-m", "glrnet", "reproduce", "--out", str(tmp_path), *option],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and option[0] in result.stderr


# ----------------------------------------------------------------------------- the cache after a kill or a failure
def test_a_kill_during_the_first_write_leaves_a_usable_folder(tmp_path):
    # what a kill -9 inside atomic_write_json(protocol.json) leaves: the cache folder and a half temporary file
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / ".tmp-k1ll3d").write_text('{"data": nu')
    with pytest.raises((ValueError, FileNotFoundError)):          # stops at the data, after the checks
        reproduce.run(str(tmp_path / "no-such-data"), str(tmp_path), quick=True, progress=False)
    assert os.listdir(tmp_path / "cache") == []                  # the temporary file is gone, nothing recorded
    assert protocol._check_cache_settings(str(tmp_path), None, reproduce.QUICK) == "new"


@pytest.mark.parametrize("arguments", [{"data_dir": "/nonexistent"}, {"threads": 0}])
def test_a_failed_first_attempt_writes_no_protocol_record(tmp_path, arguments):
    with pytest.raises((ValueError, FileNotFoundError)):
        reproduce.run(out_dir=str(tmp_path / "out"), quick=True, progress=False, **arguments)
    assert not (tmp_path / "out" / "cache" / "protocol.json").exists()
    assert protocol._check_cache_settings(str(tmp_path / "out"), None, reproduce.QUICK) == "new"


def test_a_record_of_a_run_that_finished_nothing_is_replaced(tmp_path):
    from dataclasses import asdict

    # what an older glrnet left after `--data /nonexistent`: a record of that data and an empty seed folder
    (tmp_path / "cache" / "seed0").mkdir(parents=True)
    (tmp_path / "cache" / "protocol.json").write_text(json.dumps({"data": "/nonexistent",
                                                                  "settings": asdict(reproduce.QUICK)}))
    assert protocol._check_cache_settings(str(tmp_path), None, reproduce.QUICK) == "stale"
    (tmp_path / "cache" / "protocol.json").write_text('{"data": nu')               # truncated, nothing else
    assert protocol._check_cache_settings(str(tmp_path), None, reproduce.QUICK) == "stale"
    protocol._record_cache_settings(str(tmp_path), None, reproduce.QUICK)
    assert protocol._check_cache_settings(str(tmp_path), None, reproduce.QUICK) == "resume"


def test_a_truncated_record_beside_results_is_named(tmp_path):
    _a_cached_model(tmp_path)
    record = tmp_path / "cache" / "protocol.json"
    record.write_text('{"data": nu')
    with pytest.raises(ValueError, match="protocol.json") as error:
        protocol._check_cache_settings(str(tmp_path), None, reproduce.QUICK)
    assert str(record) in str(error.value)


def test_a_truncated_cached_evaluation_is_named(quick_run, tmp_path):
    out, _ = quick_run
    copy = tmp_path / "copy"
    shutil.copytree(out / "cache", copy / "cache")
    evaluation = copy / "cache" / "seed0" / f"eval-{protocol.BASELINE}.json"
    evaluation.write_text(evaluation.read_text()[:100])
    with pytest.raises(ValueError, match="delete it") as error:
        reproduce.run(None, str(copy), quick=True, progress=False)
    assert str(evaluation) in str(error.value)


def test_adding_to_an_existing_folder_says_so(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises((ValueError, FileNotFoundError)):
        reproduce.run(str(tmp_path / "no-such-data"), str(tmp_path), quick=True, progress=False)
    # the data is loaded (the cache names it by its digest) before the folder's state is announced
    assert "adding to the existing folder" not in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"
    from glrnet.reproduce import runner

    runner._announce(str(tmp_path), "new", runner._visible_entries(str(tmp_path)))
    assert "adding to the existing folder" in capsys.readouterr().err


def test_a_folder_in_use_is_refused_with_the_holders_pid(tmp_path):
    from glrnet._files import FolderInUseError
    from glrnet.reproduce.protocol import locked_out_dir

    with locked_out_dir(str(tmp_path)):
        with pytest.raises(FolderInUseError, match=f"in use by another glrnet reproduce \\(pid {os.getpid()}\\)"):
            reproduce.run(None, str(tmp_path), quick=True, progress=False)
        result = subprocess.run([sys.executable, "-m", "glrnet", "reproduce", "--quick", "--out", str(tmp_path)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 2
        assert f"folder {tmp_path} is in use by another glrnet reproduce (pid {os.getpid()})" in result.stderr
    assert not (tmp_path / "cache").exists()                       # the refused runs wrote nothing
    with locked_out_dir(str(tmp_path)):                           # free again once released
        pass


def test_two_runs_starting_at_once_do_not_refuse_each_other_spuriously(tmp_path):
    # both fail at the data (after the checks): the one that finds the folder locked says so, and neither
    # complains about a cache without a protocol record
    command = [sys.executable, "-m", "glrnet", "reproduce", "--quick", "--data", str(tmp_path / "none"),
               "--out", str(tmp_path / "out")]
    runs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [run.communicate(timeout=120)[1] for run in runs]
    for error in errors:
        assert "protocol" not in error and ("does not exist" in error or "in use by another" in error), error
    assert not (tmp_path / "out" / "cache" / "protocol.json").exists()


def test_out_dir_that_is_not_a_folder_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        reproduce.run(None, str(tmp_path / "file"), quick=True, progress=False)


def test_adaptive_attacks_worst_case_and_costs(quick_run):
    """Every model meets every adaptive attack; the worst case over them counts an image only if it
    survives all (so it is at most each attack's accuracy and within its interval); costs are counted."""
    out, _ = quick_run
    seed0 = json.loads((out / "results.json").read_text())["per_seed"][0]
    settings = reproduce.QUICK
    for name, entry in seed0["models"].items():
        adaptive = entry["adaptive"]
        glr = name not in protocol.BP_MODELS
        assert adaptive["images"] == min(settings.adaptive_images, seed0["n_attack"])
        assert adaptive["eps"] == pytest.approx(seed0["fgsm_eps"])
        expected = {"fgsm_eot_lr", "fgsm_eot_bpda", "pgd_smoothed", "pgd_eot_lr", "pgd_eot_bpda", "apgd_ce_eot_lr",
                    "apgd_ce_eot_bpda", "apgd_dlr_eot_bpda", "square"} if glr else \
            {"fgsm", "pgd", "apgd_ce", "apgd_dlr", "square"}
        assert set(adaptive["attacks"]) == expected
        accuracies = [a["accuracy"] for a in adaptive["attacks"].values()]
        assert adaptive["worst"] <= min(accuracies + [adaptive["original"]])
        low, high = adaptive["worst_interval"]
        assert low <= adaptive["worst"] <= high
        assert entry["whitebox_worst"] >= 0.0 and table_cell_present(out, name)
        for key, attack in adaptive["attacks"].items():
            cost = attack["cost"]
            passes = (cost["gradient_draws"] + cost["predict_draws"]) if glr else \
                cost["gradient_rows"] + cost["predict_rows"]
            assert passes > 0 and (attack["attack"] == "square") == (cost.get("gradient_rows") == 0), (name, key)
            assert ("accuracy_attacker_noise" in attack) == glr
        sanity = adaptive["sanity"]
        assert {"unbounded", "iterative_beats_single_step", "more_steps", "more_restarts"} <= set(sanity)
        assert ("more_eot_draws" in sanity) == glr and ("attacked_is_judged" in sanity) == glr
        assert sanity["unbounded"]["eps"] == list(settings.sanity_eps)
        assert all(isinstance(check["holds"], bool) for k, check in sanity.items() if k != "images")


def table_cell_present(out, name):
    return protocol.LABELS[name] in (out / "table1_adaptive.md").read_text()


def test_certification_of_the_models_trained_with_input_noise(quick_run):
    out, _ = quick_run
    seed0 = json.loads((out / "results.json").read_text())["per_seed"][0]
    settings = reproduce.QUICK
    certified = {name for name, entry in seed0["models"].items() if "certification" in entry}
    assert certified == set(protocol.CERTIFIED)
    for name in certified:
        record = seed0["models"][name]["certification"]
        assert record["radii"] == list(settings.certify_radii) and record["n"] == settings.certify_n
        accuracy = record["certified_accuracy"]
        assert all(a >= b for a, b in zip(accuracy, accuracy[1:]))      # fewer images at larger radii
        assert accuracy[0] <= 1.0 - record["abstained"] + 1e-12        # an abstention is an error
    table = (out / "certification.md").read_text()
    assert all(protocol.LABELS[name] in table for name in certified)


def test_attackers_draw_noise_independent_of_the_judge():
    from glrnet.method.network import MLP
    from glrnet.reproduce import evaluation

    net = MLP([4, 3, 2], seed=0)
    judge = evaluation.judge(net, True, reproduce.QUICK, seed=5, threads=1)
    attackers = [evaluation._attacker(net, reproduce.QUICK, 5, 1, gradient, offset=i)
                 for i, gradient in enumerate(("likelihood_ratio", "bpda", "smoothed"))]
    seeds = {judge.seed, *(a.seed for a in attackers)}
    assert len(seeds) == 4
    assert judge.predict_replications == reproduce.QUICK.predict_replications
    assert all(a.predict_replications == reproduce.QUICK.attacker_predict_replications for a in attackers)
    X = np.random.default_rng(0).uniform(size=(200, 4))
    assert not np.array_equal(judge.predict_proba(X), attackers[0].predict_proba(X))


def test_accuracy_matched_bp_stops_at_the_target():
    from glrnet import datasets
    from glrnet.reproduce import runner

    data = datasets.load(None, seed=0, limit=1500, test_fraction=0.4)

    class Target:
        metadata = {"history": {"val_prediction_accuracy": [0.1, 0.6]}}

    d, c = data.X_train.shape[1], data.n_classes
    matched = runner._train_bp(data, [d, 20, c], "sigmoid", 5, 0.1, 0, False, target=Target())
    full = runner._train_bp(data, [d, 20, c], "sigmoid", 5, 0.1, 0, False)
    assert matched.metadata["accuracy"] >= 0.6 and matched.metadata["matched_accuracy"] == 0.6
    assert matched.metadata["steps"] % runner.MATCH_EVERY == 0
    assert matched.metadata["steps"] < full.metadata["history"]["steps"]
