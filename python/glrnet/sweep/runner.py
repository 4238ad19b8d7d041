"""Running a sweep: one unit (build, train, evaluate one network) and the whole grid, cached per unit."""
from __future__ import annotations

import os
import time
import uuid

from .._files import atomic_write_json, read_json
from .._progress import log
from ..distributed import open_executor
from .spec import Spec, Unit, load_spec

__all__ = ["run", "run_unit", "LOCK_NAME", "UNITS"]

#: The lock file that keeps a second ``glrnet sweep`` out of a folder in use.
LOCK_NAME = ".glrnet-sweep.lock"
#: The folder of the finished units under ``--out``: one ``<hash>.json`` per unit.
UNITS = "units"


def run_unit(settings, seed, data, evaluate, threads):
    """Build the network of ``settings``, train it on ``data`` (the seed's split) and evaluate it: test
    accuracy with the noise averaged over ``evaluate["replications"]`` draws, noise-free, and under the
    quick attack of ``glrnet train`` if ``evaluate["attack_eps"]`` > 0.  A pure function of its arguments
    (a Dask task or a call here); returns the unit's record without its key."""
    from ..robustness.models import quick_attack_accuracy
    from ..method.training import train

    model = _build(settings, data, seed)
    glr = settings["estimator"] == "glr"
    draws = evaluate["replications"]
    start = time.perf_counter()
    history = train(model, data.X_train, data.y_train, epochs=settings["epochs"], batch_size=settings["batch_size"],
                    replications=settings["replications"], learning_rate=settings["learning_rate"],
                    schedule=settings["schedule"], optimizer=settings["optimizer"], momentum=settings["momentum"],
                    baseline=settings["baseline"] and glr, antithetic=settings["antithetic"] and glr, seed=seed,
                    eval_replications=draws, n_threads=threads, progress=False,
                    batch_reduction=settings["batch_reduction"], estimator=settings["estimator"],
                    weight_decay=settings["weight_decay"])
    seconds = time.perf_counter() - start
    results = {
        "test_accuracy": model.score(data.X_test, data.y_test, replications=draws, seed=seed, n_threads=threads),
        "test_accuracy_noise_free": model.score(data.X_test, data.y_test, replications=0),
        "train_loss": history.train_loss[-1],
    }
    if evaluate["attack_eps"] > 0:
        n = min(evaluate["attack_images"], len(data.y_test))
        results["attack_accuracy"] = quick_attack_accuracy(model, data.X_test[:n], data.y_test[:n],
                                                           evaluate["attack_eps"], seed, draws, threads)
    return {"results": results, "train_seconds": seconds, "history": history.as_dict()}


def _build(settings, data, seed):
    from ..method.network import build_mlp

    return build_mlp(data.X_train.shape[1], data.n_classes, hidden=settings["hidden"],
                     activation=settings["activation"], output_activation=settings["output_activation"],
                     slope=settings["slope"], levels=settings["levels"], noise=settings["noise"],
                     noise_scale=settings["noise_scale"], nu=settings["nu"], loss=settings["loss"], seed=seed)


def _check_buildable(spec: Spec, data):
    """Every setting builds its network and, for the pathwise estimator, takes its gradient: the errors a
    task would meet, here, before any is submitted."""
    for i, settings in enumerate(spec.settings):
        shown = ", ".join(f"{k} = {settings[k]!r}" for k in spec.varied)
        try:
            model = _build(settings, data, 0)
            if settings["estimator"] == "pathwise":
                model.pathwise_gradient(data.X_train[:1], data.y_train[:1], 1)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"grid setting {i} ({shown}): {exc}") from None


def _cached(path, unit: Unit):
    """A finished unit's record, or None; a file that is not this unit's is named."""
    if not os.path.exists(path):
        return None
    record = read_json(path, "cached sweep unit (delete it to run the unit again)")
    if not isinstance(record, dict) or record.get("key") != unit.key or not isinstance(record.get("results"), dict):
        raise ValueError(f"{path} is not the cached result of the unit it is named after (setting {unit.setting}, "
                         f"seed {unit.seed}); delete it to run the unit again")
    return record


def run(spec, out_dir="glrnet-sweep", *, threads=None, progress=True, scheduler=None, workers=None):
    """Run every unit of ``spec`` (a :class:`~glrnet.sweep.spec.Spec`, a dict or a spec file) not yet
    cached under ``out_dir``, then write the report (``sweep.md``, ``sweep.csv``, ``sweep.json``);
    returns the report's records.  The whole spec and the data are checked before any unit runs."""
    from .. import datasets
    from .._config import effective_n_threads
    from ..reproduce.protocol import locked_out_dir
    from .report import write_report
    from .spec import parse_spec

    if not isinstance(spec, Spec):
        spec = parse_spec(spec) if isinstance(spec, dict) else load_spec(spec)
    if threads is not None:
        effective_n_threads(threads)
    units = spec.units()
    with locked_out_dir(out_dir, lock_name=LOCK_NAME, what="glrnet sweep", cache=UNITS):
        cache = os.path.join(out_dir, UNITS)
        os.makedirs(cache, exist_ok=True)
        data = {seed: datasets.load(spec.data, seed=seed, limit=spec.limit, test_fraction=spec.test_fraction)
                for seed in spec.seeds}
        _check_buildable(spec, data[spec.seeds[0]])
        records: dict = {}
        for unit in units:
            record = _cached(os.path.join(cache, f"{unit.digest}.json"), unit)
            if record is not None:
                records[unit.digest] = record
        todo = [u for u in units if u.digest not in records]
        if records:
            log(f"resuming in {out_dir}: {len(records)} of {len(units)} unit(s) cached")
        start = time.perf_counter()
        if todo:
            with open_executor(scheduler, workers, threads) as executor:
                run_id = uuid.uuid4().hex[:12]          # keys unique on a scheduler other runs share
                shared = {seed: executor.scatter(data[seed]) for seed in sorted({u.seed for u in todo})}
                tasks = {executor.submit(run_unit, u.settings, u.seed, shared[u.seed], spec.evaluate,
                                         executor.threads, key=f"sweep-{u.digest}-{run_id}"): u
                         for u in todo}
                for task, value in executor.as_completed(tasks, desc="units", progress=progress):
                    unit = tasks[task]
                    record = {"key": unit.key, **value}
                    atomic_write_json(os.path.join(cache, f"{unit.digest}.json"), record)
                    records[unit.digest] = record
        return write_report(spec, units, records, out_dir, data_name=data[spec.seeds[0]].name,
                            seconds=time.perf_counter() - start)
