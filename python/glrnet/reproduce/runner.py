"""Running the experiment: training (cached), the transfer adversarial sets, the evaluation of
every model under test, one seed, and the whole run."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict

import numpy as np

from .._files import atomic_savez, atomic_write_json, open_archive
from ..method.activations import Activation
from ..method.network import MLP, baseline_network
from ..method.noise import Gaussian, Laplace
from ..method.training import train
from .protocol import BASELINE, LABELS, PAPER, QUICK, VARIANTS, _check_cache_settings

__all__ = ["run", "run_seed"]


def _log(message):
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


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


def _evaluate(model, glr_model, X, y, adv, settings, seed, threads):
    """Every figure of Tables I and II for one model under test."""
    from ..robustness import attacks
    from ..robustness.corruptions import CORRUPTIONS, mean_corruption_accuracy
    from ..robustness.models import NoisyModel

    def correct(Z):
        return model.predict(Z) == y[:len(Z)]

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
    out = {
        "original": float(np.mean(correct(X))),
        "transfer_fgsm": float(np.mean(correct(adv["fgsm"]))),
        "transfer_lbfgs": float(np.mean(correct(adv["lbfgs"]))),
        "original_lbfgs_subset": float(np.mean(correct(X[:n_lbfgs]))),
        "transfer_fgsm_curve": [float(np.mean(correct(adv[f"fgsm_{e:g}"]))) for e in settings.eps_grid],
    }
    survives = np.ones(len(y), dtype=bool)          # an image is robust only if it survives every attack
    curve_survives = np.ones((len(settings.eps_grid), len(y)), dtype=bool)
    for suffix, attacker in attackers.items():
        fgsm_ok = correct(attacks.fgsm(attacker, X, y, eps).X_adv)
        pgd_ok = correct(attacks.pgd(attacker, X, y, eps, steps=settings.pgd_steps, seed=seed).X_adv)
        out[f"whitebox_fgsm{suffix}"] = float(np.mean(fgsm_ok))
        out[f"whitebox_pgd{suffix}"] = float(np.mean(pgd_ok))
        survives &= fgsm_ok & pgd_ok
        for i, e in enumerate(settings.eps_grid):
            curve_survives[i] &= correct(attacks.fgsm(attacker, X, y, e).X_adv)
    out["whitebox_worst"] = float(np.mean(survives))
    out["whitebox_fgsm_curve"] = [float(np.mean(row)) for row in curve_survives]
    if glr_model is not None:
        # one noisy draw per prediction (the kernel's per-replication accuracy), for reference
        out["original_single_draw"] = glr_model.evaluate(X, y, settings.predict_replications, seed=seed,
                                                         n_threads=threads)["accuracy"]
    n_corrupt = len(X) if settings.corruption_images is None else min(settings.corruption_images, len(X))
    corr = mean_corruption_accuracy(model, X[:n_corrupt], y[:n_corrupt], names=CORRUPTIONS, seed=seed)
    out["corruptions"] = {k: {"mean": float(v[0]), "by_severity": [float(a) for a in v[1]]} for k, v in corr.items()}
    return out


def run_seed(data_dir, out_dir, seed, settings, *, threads=None, progress=True, variants=VARIANTS):
    """Train, attack and evaluate every model for one seed; returns (results, figure inputs)."""
    from .. import datasets
    from ..robustness.models import NoisyModel

    data = datasets.load(data_dir, seed=seed, limit=settings.limit, test_fraction=settings.test_fraction)
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
    _log(f"[seed {seed}] crafting FGSM and L-BFGS examples on the BP surrogate")
    adv = _adversarial_sets(os.path.join(seed_dir, "adversarial.npz"), surrogate, baseline, X, y, settings, seed)
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
            with open(path) as handle:
                results["models"][name] = json.load(handle)
            continue
        _log(f"[seed {seed}] evaluating {LABELS.get(name, name)}")
        evaluation = _evaluate(model, glr_model, X, y, adv, settings, seed, threads)
        trained = model if glr_model is None else glr_model        # the network that was trained
        evaluation["history"] = getattr(trained, "metadata", {}).get("history") or None
        atomic_write_json(path, evaluation)
        results["models"][name] = evaluation
    figure_inputs = {"X": X[:10], "X_fgsm": adv["fgsm"][:10], "y": y[:10], "image_shape": data.image_shape}
    return results, figure_inputs


def run(data_dir=None, out_dir="glrnet-reproduction", *, seeds=1, quick=False, threads=None, progress=True,
        settings=None):
    """Run the reproduction for ``seeds`` seeds (0, 1, ...); returns the summary dict."""
    from .report import aggregate, write_figures, write_tables

    settings = settings or (QUICK if quick else PAPER)
    os.makedirs(out_dir, exist_ok=True)
    _check_cache_settings(out_dir, data_dir, settings)
    start = time.perf_counter()
    per_seed, figure_inputs = [], None
    for seed in range(seeds):
        result, inputs = run_seed(data_dir, out_dir, seed, settings, threads=threads, progress=progress)
        per_seed.append(result)
        figure_inputs = figure_inputs or inputs
    summary = aggregate(per_seed)
    summary["settings"] = asdict(settings)
    summary["seconds"] = time.perf_counter() - start
    atomic_write_json(os.path.join(out_dir, "results.json"), {"summary": summary, "per_seed": per_seed})
    write_tables(per_seed, summary, out_dir, settings)
    write_figures(per_seed, summary, figure_inputs, out_dir, settings)
    return summary
