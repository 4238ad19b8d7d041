"""Running the experiment: training, the transfer adversarial sets, the evaluation of every model
under test, one seed, and the whole run.

Each of these is a unit (a pure function of its arguments) that an executor runs in this
process or as a Dask task (:mod:`glrnet.distributed`); the client caches every unit under
``--out`` as it arrives, so the cache is the same whichever ran them."""
from __future__ import annotations

import math
import os
import time
import uuid
from dataclasses import asdict

import numpy as np

from .._files import TEMPORARY_PREFIX, atomic_savez, atomic_write_json, open_archive, read_json
from .._progress import log
from ..distributed import one_blas_thread, open_executor
from ..method.activations import Activation
from ..method.network import MLP, baseline_network
from ..method.noise import Gaussian, Laplace
from ..method.training import train
from .evaluation import adaptive_unit, certification_unit, evaluation_unit, judge
from .protocol import (
    BASELINE,
    BP_AUGMENTED,
    BP_MATCHED,
    BP_MODELS,
    CERTIFIED,
    FIG6_MODEL,
    MATCHED_TO,
    LABELS,
    LOCK_NAME,
    PAPER,
    QUICK,
    VARIANTS,
    _check_cache_settings,
    _finished_files,
    _record_cache_settings,
    data_identity,
    locked_out_dir,
)

__all__ = ["run"]


def _calibrate(accuracy_at, target, low, high, steps=14):
    """Bisection for a strength s in [low, high] with accuracy_at(s) ~= target (decreasing in s)."""
    if accuracy_at(high) > target:
        return high
    if accuracy_at(low) <= target:
        return low
    for _ in range(steps):
        mid = 0.5 * (low + high)
        if accuracy_at(mid) > target:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


# ----------------------------------------------------------------------------- the units
# A unit (a training, the adversarial sets of a seed, an evaluation) is a function of its
# arguments alone: it runs in this process or as a Dask task (glrnet.distributed), returns what
# it made, and the client caches that under --out (_save) as it arrives.
def _train_bp(data, sizes, activation, epochs, lr, seed, progress, input_noise=0.0, target=None):
    """A backprop network without noise (the baseline, the attack surrogate, BP with Gaussian data
    augmentation of ``input_noise``), or, with ``target`` (a trained network), BP stopped at the first
    update after which its test accuracy reaches the target's last noise-averaged test accuracy."""
    net = baseline_network(sizes, activation, seed=seed)
    stop = None
    if target is not None:
        goal = float(target.metadata["history"]["val_prediction_accuracy"][-1])

        def stop(step, model):
            return step % MATCH_EVERY == 0 and float(np.mean(model.predict(data.X_test) == data.y_test)) >= goal
    start = time.perf_counter()
    history = train(net, data.X_train, data.y_train, epochs=epochs, batch_size=25, learning_rate=lr,
                    optimizer="momentum", seed=seed, estimator="backprop", X_val=data.X_test, y_val=data.y_test,
                    progress=progress, input_noise=input_noise, step_callback=stop)
    net.metadata = {"history": history.as_dict(), "train_seconds": time.perf_counter() - start,
                    "input_noise": input_noise}
    if target is not None:
        net.metadata.update(matched_accuracy=goal, steps=history.steps,
                            accuracy=float(np.mean(net.predict(data.X_test) == data.y_test)))
    return net


#: The accuracy-matched BP network checks its test accuracy every this many updates.
MATCH_EVERY = 10


def _train_glr(variant, data, settings, seed, threads, progress):
    """A GLR network of Table I (or the pathwise control); its metadata: history, variant, seconds."""
    noise = Gaussian(settings.noise_sigma) if variant.noise == "gaussian" else \
        Laplace(settings.noise_sigma / math.sqrt(2.0))                  # same variance
    model = MLP([data.X_train.shape[1], 20, data.n_classes], Activation(variant.activation, levels=4), noise,
                loss=variant.loss, seed=seed)
    start = time.perf_counter()
    glr = variant.estimator == "glr"
    history = train(model, data.X_train, data.y_train, epochs=variant.epochs(settings),
                    batch_size=settings.batch_size,
                    replications=settings.replications if glr else settings.pathwise_replications,
                    learning_rate=settings.learning_rate, batch_reduction="sum", seed=seed,
                    baseline=settings.variance_reduction and glr, estimator=variant.estimator,
                    X_val=data.X_test, y_val=data.y_test, eval_replications=settings.predict_replications,
                    n_threads=threads, progress=progress,
                    input_noise=settings.input_noise if variant.input_noise else 0.0)
    model.metadata = {"history": history.as_dict(), "variant": asdict(variant),
                      "train_seconds": time.perf_counter() - start}
    return model


def _adversarial_sets(surrogate, baseline, X, y, settings, seed):
    """Transfer attacks crafted on the surrogate, strength calibrated on the BP baseline."""
    from ..robustness import attacks

    fgsm_direction = np.sign(surrogate.loss_gradient(X, y)[1])

    def fgsm_at(eps):
        return np.clip(X + eps * fgsm_direction, 0.0, 1.0)

    def baseline_accuracy(Z, rows=slice(None)):
        return float(np.mean(baseline.predict(Z) == y[rows]))

    eps = _calibrate(lambda e: baseline_accuracy(fgsm_at(e)), settings.fgsm_target, 0.0, 0.5)
    n_lbfgs = min(settings.lbfgs_images, len(X))
    result = attacks.lbfgs(surrogate, X[:n_lbfgs], y[:n_lbfgs], max_iter=settings.lbfgs_max_iter, seed=seed)
    delta = result.X_adv - X[:n_lbfgs]

    def lbfgs_at(scale):
        return np.clip(X[:n_lbfgs] + scale * delta, 0.0, 1.0)

    scale = _calibrate(lambda s: baseline_accuracy(lbfgs_at(s), slice(0, n_lbfgs)), settings.lbfgs_target,
                       1.0, 20.0)
    sets = {
        "fgsm": fgsm_at(eps), "fgsm_eps": np.array(eps), "lbfgs": lbfgs_at(scale), "lbfgs_scale": np.array(scale),
        "lbfgs_surrogate_success": np.array(result.success_rate), "lbfgs_mean_l2": np.array(result.mean_l2),
        "eps_grid": np.array(settings.eps_grid),
    }
    for e in settings.eps_grid:
        sets[f"fgsm_{e:g}"] = fgsm_at(e)
    return sets


def _fig6_predictions(under_test, adv, n):
    """What the BP baseline and the GLR sigmoid network predict on the first ``n`` FGSM transfer
    examples (judged in the whole attack set, as in the evaluation: the noise is keyed by the row)."""
    return {name: np.asarray(under_test[name].predict(adv["fgsm"]))[:n] for name in (BASELINE, FIG6_MODEL)
            if name in under_test}


def _load_data(data_dir, seed, settings):
    from .. import datasets

    return datasets.load(data_dir, seed=seed, limit=settings.limit, test_fraction=settings.test_fraction)


def _attack_rows(data, settings, seed):
    """The attack set: a seeded sample of the test images."""
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(data.y_test))[:min(settings.attack_images, len(data.y_test))]
    return data.X_test[rows], data.y_test[rows]


def _save(kind, path, value):
    """The client caches a finished unit: a model file, the adversarial sets or an evaluation."""
    if kind == "model":
        value.save(path, metadata=value.metadata)
    elif kind == "adversarial":
        atomic_savez(path, **value)
    else:
        atomic_write_json(path, value)


def _load_cached(kind, path):
    if kind == "model":
        return MLP.load(path)          # also reads the cache files of glrnet 0.1 ("glrnet-bp")
    if kind == "adversarial":
        with open_archive(path, "cached adversarial set") as cached:
            return {k: cached[k] for k in cached.files}
    return read_json(path, "cached evaluation (delete it to evaluate again)")


class _SeedUnits:
    """The units of one seed, submitted to an executor: each is taken from the cache when it is
    there, and otherwise submitted (a handle) and cached by :meth:`finish` when it arrives."""

    def __init__(self, executor, data, out_dir, seed, settings, variants, progress):
        self.executor, self.data, self.seed, self.settings = executor, data, seed, settings
        self.dir = os.path.join(out_dir, "cache", f"seed{seed}")
        os.makedirs(self.dir, exist_ok=True)
        # units running elsewhere show one bar over the tasks instead of their own bars and lines
        self.here = not executor.distributed
        self.progress, self.log = progress and self.here, self.here
        self.run_id = uuid.uuid4().hex[:12]
        self.values: dict = {}              # (kind, name) -> the finished value
        self.pending: dict = {}             # handle -> (kind, name, path)
        self.X, self.y = _attack_rows(data, settings, seed)
        keys = [v.key for v in variants]
        self.names = [BASELINE, BP_AUGMENTED, *([BP_MATCHED] if MATCHED_TO in keys else []), *keys]
        threads, shared = executor.threads, executor.scatter(data)
        d = data.X_train.shape[1]
        if self.log:
            log(f"[seed {seed}] {data.name}: {len(data.y_train)} training / {len(data.y_test)} test images")
        models = {
            BASELINE: self._unit("model", BASELINE, _train_bp, shared, [d, 20, data.n_classes], "sigmoid",
                                 settings.bp_epochs, settings.bp_learning_rate, seed, self.progress),
            "bp-surrogate": self._unit("model", "bp-surrogate", _train_bp, shared,
                                       [d, *settings.surrogate_hidden, data.n_classes], "relu", settings.bp_epochs,
                                       settings.bp_learning_rate / 2, seed, self.progress)}
        models[BP_AUGMENTED] = self._unit("model", BP_AUGMENTED, _train_bp, shared, [d, 20, data.n_classes],
                                          "sigmoid", settings.bp_epochs, settings.bp_learning_rate, seed,
                                          self.progress, settings.input_noise)
        for variant in variants:
            models[variant.key] = self._unit("model", variant.key, self._logged(_train_glr, variant), variant,
                                             shared, settings, seed, threads, self.progress)
        if BP_MATCHED in self.names:
            models[BP_MATCHED] = self._unit("model", BP_MATCHED, _train_bp, shared, [d, 20, data.n_classes],
                                            "sigmoid", settings.bp_epochs, settings.bp_learning_rate, seed,
                                            self.progress, 0.0, models[MATCHED_TO])
        adv = self._unit("adversarial", "adversarial", self._logged(_adversarial_sets), models["bp-surrogate"],
                         models[BASELINE], self.X, self.y, settings, seed)
        for name in self.names:
            glr = name not in BP_MODELS
            self._unit("evaluation", name, self._logged(evaluation_unit, name), name, models[name], glr, self.X,
                       self.y, adv, settings, seed, threads, self.progress)
            self._unit("adaptive", name, self._logged(adaptive_unit, name), name, models[name], glr, self.X, self.y,
                       adv, data.image_shape, settings, seed, threads, self.progress)
            if name in CERTIFIED:
                self._unit("certification", name, self._logged(certification_unit, name), name, models[name],
                           self.X, self.y, settings, seed, threads, self.progress)

    def _path(self, kind, name):
        prefix = {"evaluation": "eval", "adaptive": "adaptive", "certification": "certify"}.get(kind)
        return os.path.join(self.dir, f"{name}.npz" if prefix is None else f"{prefix}-{name}.json")

    def _unit(self, kind, name, fn, *args):
        path = self._path(kind, name)
        if os.path.exists(path):
            self.values[kind, name] = value = _load_cached(kind, path)
            return value
        # unique on a scheduler that other runs share: a Dask key names one result
        handle = self.executor.submit(fn, *args, key=f"{kind}-seed{self.seed}-{name}-{self.run_id}")
        self.pending[handle] = (kind, name, path)
        return handle

    def _logged(self, fn, what=None):
        """``fn``, announced by a log line when it runs here (as glrnet reproduce did before tasks)."""
        if not self.log:
            return fn
        seed, settings = self.seed, self.settings
        if fn is _train_glr:
            draws = settings.replications if what.estimator == "glr" else settings.pathwise_replications
            line = f"[seed {seed}] {what.label}: {what.epochs(settings)} epochs, K = {draws}"
        elif fn is _adversarial_sets:
            line = (f"[seed {seed}] crafting FGSM and L-BFGS examples on the BP surrogate "
                    f"({min(settings.lbfgs_images, len(self.y))} L-BFGS images: minutes at the paper's settings)")
        elif fn is adaptive_unit:
            line = f"[seed {seed}] adaptive attacks on {LABELS.get(what, what)}"
        elif fn is certification_unit:
            line = f"[seed {seed}] certifying {LABELS.get(what, what)} (randomized smoothing)"
        else:
            line = f"[seed {seed}] evaluating {LABELS.get(what, what)}"

        def announced(*args):
            log(line)
            return fn(*args)
        return announced

    def finish(self, handle, value):
        """Cache a unit that arrived (once: the executor yields every handle once)."""
        kind, name, path = self.pending.pop(handle)
        _save(kind, path, value)
        self.values[kind, name] = value

    def results(self):
        """The seed's results and figure inputs, once every unit is in."""
        with one_blas_thread():                 # as the units ran
            return self._results()

    def _results(self):
        settings, seed, X, y = self.settings, self.seed, self.X, self.y
        adv, surrogate = self.values["adversarial", "adversarial"], self.values["model", "bp-surrogate"]
        results = {"seed": seed, "data": self.data.name, "n_train": len(self.data.y_train), "n_attack": len(y),
                   "fgsm_eps": float(adv["fgsm_eps"]), "lbfgs_scale": float(adv["lbfgs_scale"]),
                   "lbfgs_surrogate_success": float(adv["lbfgs_surrogate_success"]),
                   "lbfgs_mean_l2": float(adv["lbfgs_mean_l2"]),
                   "surrogate_accuracy": float(np.mean(surrogate.predict(X) == y)),
                   "models": {name: {**self.values["evaluation", name], "adaptive": self.values["adaptive", name],
                                     **({"certification": self.values["certification", name]}
                                        if ("certification", name) in self.values else {})}
                              for name in self.names}}
        under_test = {name: judge(self.values["model", name], name not in BP_MODELS, settings, seed,
                                  self.executor.threads) for name in (BASELINE, FIG6_MODEL) if name in self.names}
        figure_inputs = {"X": X[:10], "X_fgsm": adv["fgsm"][:10], "y": y[:10], "image_shape": self.data.image_shape,
                         "fgsm_predictions": _fig6_predictions(under_test, adv, 10)}
        return results, figure_inputs


def _run_units(executor, seed_units, progress):
    """Every pending unit of every seed, each cached as it arrives."""
    owner = {handle: units for units in seed_units for handle in units.pending}
    # here, every unit shows its own bar; elsewhere, one bar over the tasks
    for handle, value in executor.as_completed(list(owner), desc="units", progress=progress and executor.distributed):
        owner.pop(handle).finish(handle, value)
    return [units.results() for units in seed_units]


def _visible_entries(out_dir):
    return sorted(n for n in os.listdir(out_dir) if n != LOCK_NAME and not n.startswith(TEMPORARY_PREFIX))


def _announce(out_dir, state, entries):
    """One line when the run resumes from, or adds to, an existing folder."""
    if state == "resume":
        n = len(_finished_files(os.path.join(out_dir, "cache")))
        log(f"resuming in {out_dir}: {n} cached model(s), adversarial set(s) and evaluation(s) of the same "
             "protocol are reused; results.json, the tables and the figures are rewritten")
    elif state == "stale":
        log(f"{out_dir} holds the protocol record of an earlier run that finished nothing: replacing it")
    elif entries:
        log(f"adding to the existing folder {out_dir} ({', '.join(entries[:4])}{', ...' if len(entries) > 4 else ''}"
             "): results.json, the tables and the figures are rewritten")


def run(data_dir=None, out_dir="glrnet-reproduction", *, seeds=1, quick=False, threads=None, progress=True,
        settings=None, scheduler=None, workers=None):
    """Run the reproduction for ``seeds`` seeds (0, 1, ...); returns the summary dict.

    The folder is locked for the run (a second run on it raises :class:`FolderInUseError`), and its
    cache's protocol record is written only once the arguments are checked and the data loaded, so
    a run that fails at the start leaves nothing that refuses the next."""
    from .._config import effective_n_threads
    from .._validation import check_int
    from .report import aggregate, write_csv, write_figures, write_tables

    settings = settings or (QUICK if quick else PAPER)
    seeds = check_int(seeds, "seeds", minimum=1)
    if threads is not None:
        effective_n_threads(threads)            # checks it before anything is written
    with locked_out_dir(out_dir):
        entries = _visible_entries(out_dir)
        start = time.perf_counter()
        first = _load_data(data_dir, 0, settings)
        identity = data_identity(first)
        state = _check_cache_settings(out_dir, identity, settings)
        _announce(out_dir, state, entries)
        if state != "resume":
            _record_cache_settings(out_dir, identity, settings)
        with open_executor(scheduler, workers, threads) as executor:
            seed_units = [_SeedUnits(executor, first if seed == 0 else _load_data(data_dir, seed, settings), out_dir,
                                     seed, settings, VARIANTS, progress) for seed in range(seeds)]
            finished = _run_units(executor, seed_units, progress)
        per_seed, figure_inputs = [result for result, _ in finished], finished[0][1]
        summary = aggregate(per_seed)
        summary["settings"] = asdict(settings)
        summary["seconds"] = time.perf_counter() - start
        atomic_write_json(os.path.join(out_dir, "results.json"), {"summary": summary, "per_seed": per_seed})
        write_csv(per_seed, out_dir, settings)
        write_tables(per_seed, summary, out_dir, settings)
        write_figures(per_seed, summary, figure_inputs, out_dir, settings)
    return summary
