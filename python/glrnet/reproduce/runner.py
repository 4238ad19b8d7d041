"""Running the experiment: training (cached), the transfer adversarial sets, the evaluation of
every model under test, one seed, and the whole run."""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict

import numpy as np

from .._files import (
    TEMPORARY_PREFIX,
    atomic_savez,
    atomic_write_json,
    open_archive,
    read_json,
)
from ..method.activations import Activation
from ..method.network import MLP, baseline_network
from ..method.noise import Gaussian, Laplace
from ..method.training import train
from .protocol import (
    BASELINE,
    LABELS,
    LOCK_NAME,
    locked_out_dir,
    FIG6_MODEL,
    PAPER,
    QUICK,
    VARIANTS,
    _check_cache_settings,
    _finished_files,
    _record_cache_settings,
)

__all__ = ["run", "run_seed"]

def _log(message):
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


def _progress(total, desc, enabled):
    """A tqdm bar on stderr, or None; in a non-interactive log it prints a line at most every 15 s."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    interactive = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="stage", dynamic_ncols=True, file=sys.stderr,
                mininterval=0.1 if interactive else 15.0)


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


# ----------------------------------------------------------------------------- training
def _train_bp(path, data, sizes, activation, epochs, lr, seed, progress):
    """A backprop network without noise (the baseline or the attack surrogate), cached at ``path``."""
    if os.path.exists(path):
        return MLP.load(path)          # also reads the cache files of glrnet 0.1 ("glrnet-bp")
    net = baseline_network(sizes, activation, seed=seed)
    history = train(net, data.X_train, data.y_train, epochs=epochs, batch_size=25, learning_rate=lr,
                    optimizer="momentum", seed=seed, estimator="backprop", X_val=data.X_test, y_val=data.y_test,
                    progress=progress)
    net.save(path, metadata={"history": history.as_dict()})
    net.metadata = {"history": history.as_dict()}
    return net


def _train_glr(path, variant, data, settings, seed, threads, progress):
    if os.path.exists(path):
        return MLP.load(path)
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
                    n_threads=threads, progress=progress)
    model.save(path, metadata={"history": history.as_dict(), "variant": asdict(variant),
                               "train_seconds": time.perf_counter() - start})
    model.metadata = {"history": history.as_dict()}
    return model


# ----------------------------------------------------------------------------- one seed
def _adversarial_sets(path, surrogate, baseline, X, y, settings, seed):
    """Transfer attacks crafted on the surrogate, strength calibrated on the BP baseline."""
    from ..robustness import attacks

    if os.path.exists(path):
        with open_archive(path, "cached adversarial set") as cached:
            return {k: cached[k] for k in cached.files}
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
    atomic_savez(path, **sets)
    return sets


def _evaluate(model, glr_model, X, y, adv, settings, seed, threads, bar=None):
    """Every figure of Tables I and II for one model under test; ``bar`` (tqdm) advances by one per
    stage (:func:`_evaluation_stages` of them)."""
    from ..robustness import attacks
    from ..robustness.corruptions import CORRUPTIONS, mean_corruption_accuracy
    from ..robustness.models import NoisyModel

    def correct(Z):
        return model.predict(Z) == y[:len(Z)]

    def stage(name):
        if bar is not None:
            bar.set_postfix_str(name, refresh=False)

    def done():
        if bar is not None:
            bar.update(1)

    # The white-box attackers: the model's own gradient (BP: exact; GLR: the likelihood-ratio
    # estimate) and, for GLR networks, backpropagation through the noise-averaged network (BPDA).
    # Every attacker's examples are judged by the model under test itself.
    attackers = {"": model}
    if glr_model is not None:
        # the same predictor as the model under test, so that PGD's keep_success judges as the evaluation does
        attackers["_smoothed"] = NoisyModel(glr_model, attack_gradient="smoothed", seed=seed, n_threads=threads,
                                            predict_replications=settings.predict_replications,
                                            gradient_replications=settings.gradient_replications)
    n_lbfgs = adv["lbfgs"].shape[0]
    eps = float(adv["fgsm_eps"])
    stage("original and transfer")
    out = {
        "original": float(np.mean(correct(X))),
        "transfer_fgsm": float(np.mean(correct(adv["fgsm"]))),
        "transfer_lbfgs": float(np.mean(correct(adv["lbfgs"]))),
        "original_lbfgs_subset": float(np.mean(correct(X[:n_lbfgs]))),
        "transfer_fgsm_curve": [float(np.mean(correct(adv[f"fgsm_{e:g}"]))) for e in settings.eps_grid],
    }
    done()
    survives = np.ones(len(y), dtype=bool)          # an image is robust only if it survives every attack
    curve_survives = np.ones((len(settings.eps_grid), len(y)), dtype=bool)
    for suffix, attacker in attackers.items():
        gradient = "BPDA" if suffix else "own gradient"
        stage(f"white-box FGSM ({gradient})")
        fgsm_ok = correct(attacks.fgsm(attacker, X, y, eps).X_adv)
        done()
        stage(f"white-box PGD ({gradient})")
        pgd_ok = correct(attacks.pgd(attacker, X, y, eps, steps=settings.pgd_steps, seed=seed).X_adv)
        done()
        out[f"whitebox_fgsm{suffix}"] = float(np.mean(fgsm_ok))
        out[f"whitebox_pgd{suffix}"] = float(np.mean(pgd_ok))
        survives &= fgsm_ok & pgd_ok
        for i, e in enumerate(settings.eps_grid):
            stage(f"white-box FGSM ({gradient}), eps = {e:g}")
            curve_survives[i] &= correct(attacks.fgsm(attacker, X, y, e).X_adv)
            done()
    out["whitebox_worst"] = float(np.mean(survives))
    out["whitebox_fgsm_curve"] = [float(np.mean(row)) for row in curve_survives]
    if glr_model is not None:
        # one noisy draw per prediction (the kernel's per-replication accuracy), for reference
        stage("one noise draw")
        out["original_single_draw"] = glr_model.evaluate(X, y, settings.predict_replications, seed=seed,
                                                         n_threads=threads)["accuracy"]
        done()
    n_corrupt = len(X) if settings.corruption_images is None else min(settings.corruption_images, len(X))
    corruptions = {}
    for name in CORRUPTIONS:           # one at a time for the progress bar: each is seeded on its own
        stage(name.replace("_", " "))
        mean, by_severity = mean_corruption_accuracy(model, X[:n_corrupt], y[:n_corrupt], names=[name],
                                                     seed=seed)[name]
        corruptions[name] = {"mean": float(mean), "by_severity": [float(a) for a in by_severity]}
        done()
    out["corruptions"] = corruptions
    return out


def _evaluation_stages(settings, glr):
    """The number of stages of :func:`_evaluate`."""
    from ..robustness.corruptions import CORRUPTIONS

    attackers = 2 if glr else 1
    return 1 + attackers * (2 + len(settings.eps_grid)) + int(glr) + len(CORRUPTIONS)


def _fig6_predictions(under_test, adv, n):
    """What the BP baseline and the GLR sigmoid network predict on the first ``n`` FGSM transfer
    examples (judged in the whole attack set, as in the evaluation: the noise is keyed by the row)."""
    predictions = {}
    for name in (BASELINE, FIG6_MODEL):
        if name in under_test:
            predictions[name] = np.asarray(under_test[name][0].predict(adv["fgsm"]))[:n]
    return predictions


def _load_data(data_dir, seed, settings):
    from .. import datasets

    return datasets.load(data_dir, seed=seed, limit=settings.limit, test_fraction=settings.test_fraction)


def run_seed(data_dir, out_dir, seed, settings, *, threads=None, progress=True, variants=VARIANTS, data=None):
    """Train, attack and evaluate every model for one seed; returns (results, figure inputs).
    ``data``: the seed's data set if already loaded."""
    from ..robustness.models import NoisyModel

    data = data if data is not None else _load_data(data_dir, seed, settings)
    seed_dir = os.path.join(out_dir, "cache", f"seed{seed}")
    os.makedirs(seed_dir, exist_ok=True)
    d = data.X_train.shape[1]
    _log(f"[seed {seed}] {data.name}: {len(data.y_train)} training / {len(data.y_test)} test images")
    baseline = _train_bp(os.path.join(seed_dir, f"{BASELINE}.npz"), data, [d, 20, data.n_classes], "sigmoid",
                         settings.bp_epochs, settings.bp_learning_rate, seed, progress)
    surrogate = _train_bp(os.path.join(seed_dir, "bp-surrogate.npz"), data,
                          [d, *settings.surrogate_hidden, data.n_classes], "relu", settings.bp_epochs,
                          settings.bp_learning_rate / 2, seed, progress)
    glr = {}
    for variant in variants:
        draws = settings.replications if variant.estimator == "glr" else settings.pathwise_replications
        _log(f"[seed {seed}] {variant.label}: {variant.epochs(settings)} epochs, K = {draws}")
        glr[variant.key] = _train_glr(os.path.join(seed_dir, f"{variant.key}.npz"), variant, data, settings, seed,
                                      threads, progress)

    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(data.y_test))[:min(settings.attack_images, len(data.y_test))]
    X, y = data.X_test[rows], data.y_test[rows]
    adv_path = os.path.join(seed_dir, "adversarial.npz")
    if not os.path.exists(adv_path):
        _log(f"[seed {seed}] crafting FGSM and L-BFGS examples on the BP surrogate "
             f"({min(settings.lbfgs_images, len(y))} L-BFGS images: minutes at the paper's settings)")
    adv = _adversarial_sets(adv_path, surrogate, baseline, X, y, settings, seed)
    results = {"seed": seed, "data": data.name, "n_train": len(data.y_train), "n_attack": len(y),
               "fgsm_eps": float(adv["fgsm_eps"]), "lbfgs_scale": float(adv["lbfgs_scale"]),
               "lbfgs_surrogate_success": float(adv["lbfgs_surrogate_success"]),
               "lbfgs_mean_l2": float(adv["lbfgs_mean_l2"]),
               "surrogate_accuracy": float(np.mean(surrogate.predict(X) == y)), "models": {}}
    under_test = {BASELINE: (baseline, None)}
    for key, model in glr.items():
        under_test[key] = (NoisyModel(model, predict_replications=settings.predict_replications,
                                      gradient_replications=settings.gradient_replications, seed=seed,
                                      n_threads=threads), model)
    for name, (model, glr_model) in under_test.items():
        path = os.path.join(seed_dir, f"eval-{name}.json")
        if os.path.exists(path):
            results["models"][name] = read_json(path, "cached evaluation (delete it to evaluate again)")
            continue
        _log(f"[seed {seed}] evaluating {LABELS.get(name, name)}")
        bar = _progress(_evaluation_stages(settings, glr_model is not None),
                        f"[seed {seed}] {LABELS.get(name, name)}", progress)
        try:
            evaluation = _evaluate(model, glr_model, X, y, adv, settings, seed, threads, bar)
        finally:
            if bar is not None:
                bar.close()
        trained = model if glr_model is None else glr_model        # the network that was trained
        evaluation["history"] = getattr(trained, "metadata", {}).get("history") or None
        atomic_write_json(path, evaluation)
        results["models"][name] = evaluation
    figure_inputs = {"X": X[:10], "X_fgsm": adv["fgsm"][:10], "y": y[:10], "image_shape": data.image_shape,
                     "fgsm_predictions": _fig6_predictions(under_test, adv, 10)}
    return results, figure_inputs


def _visible_entries(out_dir):
    return sorted(n for n in os.listdir(out_dir) if n != LOCK_NAME and not n.startswith(TEMPORARY_PREFIX))


def _announce(out_dir, state, entries):
    """One line when the run resumes from, or adds to, an existing folder."""
    if state == "resume":
        n = len(_finished_files(os.path.join(out_dir, "cache")))
        _log(f"resuming in {out_dir}: {n} cached model(s), adversarial set(s) and evaluation(s) of the same "
             "protocol are reused; results.json, the tables and the figures are rewritten")
    elif state == "stale":
        _log(f"{out_dir} holds the protocol record of an earlier run that finished nothing: replacing it")
    elif entries:
        _log(f"adding to the existing folder {out_dir} ({', '.join(entries[:4])}{', ...' if len(entries) > 4 else ''}"
             "): results.json, the tables and the figures are rewritten")


def run(data_dir=None, out_dir="glrnet-reproduction", *, seeds=1, quick=False, threads=None, progress=True,
        settings=None):
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
        state = _check_cache_settings(out_dir, data_dir, settings)
        _announce(out_dir, state, entries)
        start = time.perf_counter()
        first = _load_data(data_dir, 0, settings)
        if state != "resume":
            _record_cache_settings(out_dir, data_dir, settings)
        per_seed, figure_inputs = [], None
        for seed in range(seeds):
            result, inputs = run_seed(data_dir, out_dir, seed, settings, threads=threads, progress=progress,
                                      data=first if seed == 0 else None)
            per_seed.append(result)
            figure_inputs = figure_inputs or inputs
        summary = aggregate(per_seed)
        summary["settings"] = asdict(settings)
        summary["seconds"] = time.perf_counter() - start
        atomic_write_json(os.path.join(out_dir, "results.json"), {"summary": summary, "per_seed": per_seed})
        write_csv(per_seed, out_dir, settings)
        write_tables(per_seed, summary, out_dir, settings)
        write_figures(per_seed, summary, figure_inputs, out_dir, settings)
    return summary
