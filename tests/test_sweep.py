"""glrnet sweep: the spec is checked before anything runs; units are cached per setting and seed; on a
Dask cluster (even one whose worker is killed mid-sweep) the results equal the in-process run's."""
import csv
import json
import os
import signal
import threading
import time

import pytest
from glrnet import sweep
from glrnet.sweep import runner
from glrnet.cli import main

SPEC = {"base": {"epochs": 1, "replications": 50},
        "grid": {"noise_scale": [1, 2], "activation": ["sigmoid", "threshold"]},
        "seeds": [0, 1], "limit": 400, "evaluate": {"replications": 10, "attack_eps": 0.1, "attack_images": 20}}


def unit_results(out):
    units = json.loads((out / "sweep.json").read_text())["units"]
    return [(u["setting"], u["seed"], u["unit"], u["results"]) for u in units]


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    spec = out / "spec.json"
    spec.write_text(json.dumps(SPEC))
    assert main(["sweep", str(spec), "--out", str(out / "run"), "--quiet"]) == 0
    return out / "run"


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def test_writes_a_table_per_setting_a_long_csv_and_a_file_per_unit(in_process):
    table = (in_process / "sweep.md").read_text()
    assert "| setting | noise_scale | activation | test accuracy | noise-free | under attack |" in table
    assert table.count(" ± ") >= 4 * 4                       # mean ± std over the two seeds, per setting
    with open(in_process / "sweep.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["setting", "noise_scale", "activation", "seed", "unit", "measure", "value"]
    assert len(rows) == 8 * 5                                  # 8 units x (4 measures + training seconds)
    units = unit_results(in_process)
    assert len(units) == 8 and len({u[2] for u in units}) == 8
    assert sorted(p.stem for p in (in_process / "units").iterdir()) == sorted(u[2] for u in units)
    for _, _, _, results in units:
        assert 0 <= results["attack_accuracy"] <= 1 and 0 <= results["test_accuracy"] <= 1


def test_resume_runs_only_the_missing_units(in_process, capsys):
    units = in_process / "units"
    before = unit_results(in_process)
    victim = units / f"{before[3][2]}.json"
    victim.unlink()
    stamps = {p.name: p.stat().st_mtime_ns for p in units.iterdir()}
    sweep.run(SPEC, str(in_process), progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in units.iterdir() if p != victim} == stamps
    assert victim.exists() and unit_results(in_process) == before        # the same bits again
    assert "7 of 8 unit(s) cached" in capsys.readouterr().err


def test_a_grown_grid_reuses_the_units_it_shares(in_process, tmp_path):
    out = tmp_path / "grown"
    out.mkdir()
    for p in (in_process / "units").iterdir():
        (out / "units").mkdir(exist_ok=True)
        (out / "units" / p.name).write_bytes(p.read_bytes())
    grown = {**SPEC, "grid": {**SPEC["grid"], "noise_scale": [1, 2, 3]}}
    report = sweep.run(grown, str(out), progress=False)
    assert len(report["units"]) == 12 and len(list((out / "units").iterdir())) == 12
    old = {u[2]: u[3] for u in unit_results(in_process)}
    assert all(u["results"] == old[u["unit"]] for u in report["units"] if u["unit"] in old)


def test_on_a_cluster_the_results_are_the_in_process_ones(in_process, cluster, tmp_path):
    sweep.run(SPEC, str(tmp_path), progress=False, scheduler=cluster.scheduler_address, threads=1)
    assert unit_results(tmp_path) == unit_results(in_process)
    assert (tmp_path / "sweep.csv").read_text().count("\n") == (in_process / "sweep.csv").read_text().count("\n")


def test_a_worker_killed_mid_sweep_loses_and_doubles_nothing(in_process, cluster, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
    killed = []

    def kill_one_worker_once_a_unit_is_in():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list((tmp_path / "units").glob("*.json")):
            time.sleep(0.01)
        pid = sorted(pids.values())[0]
        os.kill(pid, signal.SIGKILL)               # the nanny starts a new worker; its task runs again
        killed.append(pid)

    killer = threading.Thread(target=kill_one_worker_once_a_unit_is_in, daemon=True)
    killer.start()
    spec = {**SPEC, "base": {**SPEC["base"], "epochs": 2}}          # longer units: the kill lands in one
    report = sweep.run(spec, str(tmp_path), progress=False, scheduler=cluster.scheduler_address, threads=1)
    killer.join(10)
    assert killed
    with distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        assert killed[0] not in client.run(os.getpid).values()
    assert len(report["units"]) == 8 and len(list((tmp_path / "units").iterdir())) == 8
    here = sweep.run(spec, str(tmp_path / "here"), progress=False)
    assert [u["results"] for u in report["units"]] == [u["results"] for u in here["units"]]


def test_the_command_line_on_a_local_cluster(in_process, tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--workers", "2", "--threads", "1"]) == 0
    err = capsys.readouterr().err
    assert "LocalCluster of 2 worker process(es), 1 kernel thread(s) each" in err
    assert "dashboard: " in err                      # its address, or that it is off without bokeh
    assert unit_results(tmp_path / "out") == unit_results(in_process)


def test_a_toml_spec_is_the_json_one(tmp_path):
    pytest.importorskip("tomllib")
    (tmp_path / "spec.toml").write_text(
        'seeds = [0, 1]\nlimit = 400\n[base]\nepochs = 1\nreplications = 50\n'
        '[grid]\nnoise_scale = [1, 2]\nactivation = ["sigmoid", "threshold"]\n'
        '[evaluate]\nreplications = 10\nattack_eps = 0.1\nattack_images = 20\n')
    assert [u.key for u in sweep.load_spec(tmp_path / "spec.toml").units()] == \
        [u.key for u in sweep.parse_spec(SPEC).units()]


def test_units_are_named_by_their_settings_and_seed():
    units = sweep.parse_spec(SPEC).units()
    assert len(units) == 8 and len({u.digest for u in units}) == 8
    same = sweep.parse_spec({**SPEC, "grid": {"activation": ["sigmoid", "threshold"], "noise_scale": [1.0, 2.0]}})
    assert {u.digest for u in same.units()} == {u.digest for u in units}   # 1 and 1.0, any order: the same units
    other = sweep.parse_spec({**SPEC, "evaluate": {**SPEC["evaluate"], "replications": 20}})
    assert not {u.digest for u in other.units()} & {u.digest for u in units}


@pytest.mark.parametrize("change, error, message", [
    ({"grid": {"noise_scale": [1, "x"]}}, TypeError, r"grid\.noise_scale\[1\] must be a positive number, got 'x'"),
    ({"grid": {"noise_scale": [1, -2]}}, ValueError, r"grid\.noise_scale\[1\] must be a positive number, got -2"),
    ({"grid": {}}, ValueError, "grid is empty"),
    ({"grid": {"noise_scale": []}}, ValueError, r"grid\.noise_scale is empty"),
    ({"grid": {"noise_scale": 2}}, TypeError, r"grid\.noise_scale must be a list"),
    ({"grid": {"noise_scael": [1]}}, ValueError, r"grid\.'noise_scael' is not a setting"),
    ({"base": {"widht": 3}}, ValueError, r"base\.'widht' is not a setting"),
    ({"base": {"epochs": 2.5}}, TypeError, r"base\.epochs must be a positive integer, got 2\.5"),
    ({"base": {"baseline": "yes"}}, TypeError, r"base\.baseline must be true or false, got 'yes'"),
    ({"base": {"noise_scale": 1}}, ValueError, "noise_scale is given in base and in grid"),
    ({"grid": {"activation": ["sigmoid", "sigmoid"]}}, ValueError, r"grid\.activation\[1\] repeats"),
    ({"grid": {"activation": ["sigmoid", "relux"]}}, ValueError, r"grid\.activation\[1\] must be one of"),
    ({"grid": {"hidden": [[20], [0]]}}, ValueError, r"grid\.hidden\[1\]\[0\] must be a positive integer"),
    ({"seeds": [0, -1]}, ValueError, r"seeds\[1\] must be an integer in"),
    ({"seeds": [0, 0]}, ValueError, r"seeds\[1\] repeats"),
    ({"seeds": []}, TypeError, "seeds must be a non-empty list"),
    ({"limit": "all"}, TypeError, "limit must be a positive integer"),
    ({"epochs": 3}, ValueError, "epochs is given twice"),
    ({"evaluate": {"attack_eps": 2}}, ValueError, r"evaluate\.attack_eps must be a number in \[0, 1\]"),
    ({"evaluate": {"attak_eps": 0.1}}, ValueError, r"evaluate\.'attak_eps' is not a setting"),
    ({"extra": 1}, ValueError, "'extra' is not a setting"),
    ({"data": 5}, TypeError, "data must be null"),
])
def test_a_bad_spec_is_named_before_anything_runs(change, error, message, tmp_path, monkeypatch):
    submitted = []
    monkeypatch.setattr(runner, "open_executor", lambda *a, **k: submitted.append(a))
    with pytest.raises(error, match=message):
        sweep.run({**SPEC, **change}, str(tmp_path / "out"), progress=False)
    assert not submitted and not (tmp_path / "out").exists()


def test_a_setting_that_cannot_train_is_named_before_anything_runs(tmp_path, monkeypatch):
    submitted = []
    monkeypatch.setattr(runner, "open_executor", lambda *a, **k: submitted.append(a))
    spec = {**SPEC, "grid": {"activation": ["sigmoid", "threshold"]}, "base": {"estimator": "pathwise"}}
    with pytest.raises(ValueError, match=r"grid setting 1 \(activation = 'threshold'\)"):
        sweep.run(spec, str(tmp_path / "out"), progress=False)
    assert not submitted


def test_a_spec_file_that_is_not_json_is_named(tmp_path):
    (tmp_path / "spec.json").write_text('{"grid": ')
    with pytest.raises(ValueError, match="spec.json is not valid JSON"):
        sweep.load_spec(tmp_path / "spec.json")
    with pytest.raises(FileNotFoundError, match="no such file"):
        sweep.load_spec(tmp_path / "missing.json")


def test_a_cached_unit_of_other_settings_is_named(in_process, tmp_path):
    out = tmp_path / "out"
    (out / "units").mkdir(parents=True)
    unit = sweep.parse_spec(SPEC).units()[0]
    (out / "units" / f"{unit.digest}.json").write_text('{"key": {}, "results": {}}')
    with pytest.raises(ValueError, match=f"{unit.digest}.json is not the cached result"):
        sweep.run(SPEC, str(out), progress=False)
