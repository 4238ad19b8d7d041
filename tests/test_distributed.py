"""glrnet on Dask (glrnet.distributed): `glrnet reproduce` on a LocalCluster gives the in-process
results bit for bit, and GLRClassifier in GridSearchCV through joblib's Dask backend."""
import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from glrnet import reproduce  # noqa: E402
from glrnet.distributed import InProcess, open_executor  # noqa: E402

from conftest import differences  # noqa: E402


def without_timings(value):
    """A results.json entry without what depends on the clock (every figure else is compared exactly)."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in ("seconds", "train_seconds")}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def per_seed(out):
    return without_timings(json.loads((out / "results.json").read_text())["per_seed"])


@pytest.fixture(scope="module")
def cluster():
    from glrnet.distributed import ONE_BLAS_THREAD_ENV

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env=dict(ONE_BLAS_THREAD_ENV)) as c:
        yield c


# A smaller protocol than --quick: two seeds in well under a minute, in-process and on the cluster.
TINY = replace(reproduce.QUICK, limit=500, epochs=2, zero_one_epochs=2, bp_epochs=2, replications=100,
               attack_images=40, lbfgs_images=10, eps_grid=(0.1, 0.3), predict_replications=10,
               gradient_replications=50, pgd_steps=2, corruption_images=20, lbfgs_max_iter=5,
               pathwise_replications=5)


def test_workers_import_this_glrnet(cluster):
    import glrnet

    with distributed.Client(cluster) as client:
        where = client.run(lambda: __import__("glrnet").__file__)
    assert set(where.values()) == {glrnet.__file__}          # PYTHONPATH and sys.path reach the workers


def _blas_threads_after_loading_scipy():
    import scipy.linalg  # noqa: F401  (may load a BLAS of its own, after the worker started)
    import scipy.optimize  # noqa: F401
    from threadpoolctl import threadpool_info

    return sorted({info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"})


def test_workers_start_every_blas_on_one_thread(cluster):
    """one_blas_thread limits the BLAS libraries loaded when a unit starts; one that a unit loads
    later (scipy's own OpenBLAS, say) would run on all cores, and OpenBLAS's last bits change with
    its thread count.  The workers' environment starts every BLAS on one thread."""
    with distributed.Client(cluster) as client:
        threads = client.run(_blas_threads_after_loading_scipy)
    assert all(found == [1] for found in threads.values()), threads


def test_reproduce_on_a_cluster_equals_the_in_process_run(cluster, tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    reproduce.run(None, str(here), seeds=2, settings=TINY, progress=False)
    reproduce.run(None, str(there), seeds=2, settings=TINY, progress=False, scheduler=cluster.scheduler_address,
                  threads=1)
    assert not differences(per_seed(there), per_seed(here))
    assert sorted(p.relative_to(there) for p in (there / "cache").rglob("*")) == \
        sorted(p.relative_to(here) for p in (here / "cache").rglob("*"))
    # the client cached every unit: a second run on the cluster submits nothing and rewrites no unit
    stamps = {p: p.stat().st_mtime_ns for p in (there / "cache").rglob("*.*")}
    reproduce.run(None, str(there), seeds=2, settings=TINY, progress=False, scheduler=cluster.scheduler_address)
    assert {p: p.stat().st_mtime_ns for p in (there / "cache").rglob("*.*")} == stamps
    assert not differences(per_seed(there), per_seed(here))


def test_reproduce_quick_with_workers_equals_the_in_process_run(tmp_path):
    """The real --quick through the command line, on a LocalCluster of 2 single-threaded workers."""
    runs = {}
    for name, extra in (("here", []), ("workers", ["--workers", "2", "--threads", "1"])):
        out = tmp_path / name
        result = subprocess.run([sys.executable, "-m", "glrnet", "reproduce", "--quick", "--out", str(out), *extra],
                                capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[name] = (per_seed(out), result.stderr)
    assert not differences(runs["workers"][0], runs["here"][0])
    stderr = runs["workers"][1]
    assert "LocalCluster of 2 worker process(es), 1 kernel thread(s) each" in stderr
    assert "dashboard: " in stderr and "units" in stderr                      # the address or why it is off


def test_a_cache_written_on_a_cluster_resumes_in_process(cluster, tmp_path):
    out = tmp_path / "out"
    settings = replace(TINY, epochs=1, zero_one_epochs=1, bp_epochs=1)
    reproduce.run(None, str(out), seeds=1, settings=settings, progress=False, scheduler=cluster.scheduler_address)
    first = per_seed(out)
    (out / "cache" / "seed0" / "eval-glr-sign.json").unlink()                 # one unit lost: redone here
    reproduce.run(None, str(out), seeds=1, settings=settings, progress=False)
    assert not differences(per_seed(out), first)


def test_in_process_units_run_in_order_when_asked_for():
    calls = []
    executor = InProcess()

    def unit(name, *deps):
        calls.append(name)
        return name + "".join(deps)

    a = executor.submit(unit, "a", key="a")
    b = executor.submit(unit, "b", a, key="b")
    assert calls == []                                                        # nothing runs at submission
    assert list(executor.as_completed([a, b], progress=False)) == [(a, "a"), (b, "ba")]
    assert calls == ["a", "b"]                                                # each once


def test_scheduler_and_workers_together_are_refused():
    with pytest.raises(ValueError, match="not both"), open_executor("tcp://127.0.0.1:1", 2):
        pass


def test_grid_search_on_dask_picks_what_the_in_process_search_picks(cluster):
    """GLRClassifier in GridSearchCV through joblib's Dask backend (README, "Running on a cluster")."""
    import joblib
    from glrnet import GLRClassifier, datasets
    from sklearn.model_selection import GridSearchCV

    d = datasets.load(seed=0, limit=400)
    grid = {"noise_scale": [1.0, 2.0], "learning_rate": [0.03, 0.3]}

    def search():
        return GridSearchCV(GLRClassifier(epochs=2, replications=50, predict_replications=10, n_threads=1), grid,
                            cv=2)

    here = search().fit(d.X_train, d.y_train)
    with distributed.Client(cluster), joblib.parallel_backend("dask"):
        there = search().fit(d.X_train, d.y_train)
    assert there.best_params_ == here.best_params_
    np.testing.assert_array_equal(there.cv_results_["mean_test_score"], here.cv_results_["mean_test_score"])
    assert there.best_estimator_.score(d.X_test, d.y_test) == here.best_estimator_.score(d.X_test, d.y_test)


def test_importing_glrnet_distributed_does_not_import_dask():
    code = "import glrnet.distributed, glrnet.sweep, glrnet.reproduce, sys; print('distributed' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ})
    assert result.stdout.strip() == "False"


def test_one_blas_thread_covers_scipys_blas_in_a_fresh_process():
    """In a process that has not imported scipy.linalg yet, one_blas_thread still limits the BLAS
    that scipy loads (what a worker's first unit, or a fresh glrnet reproduce, meets)."""
    code = ("from glrnet.distributed import one_blas_thread\n"
            "from threadpoolctl import threadpool_info\n"
            "with one_blas_thread():\n"
            "    import scipy.optimize\n"
            "    print(sorted({i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}))\n")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "[1]", result.stdout
