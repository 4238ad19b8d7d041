"""``glrnet reproduce``: the paper's experiments (Section III, Tables I and II) in one command.

Per seed it trains the backprop (BP) baseline, the BP attack surrogate and the GLR
variants of Table I; crafts adversarial examples on the surrogate (FGSM, L-BFGS) and
feeds them to every model (the paper's transfer setting); attacks every model with
its own gradient (adaptive white-box: FGSM and PGD, the GLR networks through the
likelihood-ratio input gradient); and measures the mean accuracy over five
severities of each natural corruption (Eq. 6).  It writes Table I and Table II as
markdown and JSON, and the paper's figures as PNG.

Everything that is finished is cached under ``--out`` (models, adversarial sets,
per-model evaluations), so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

__all__ = ["Settings", "PAPER", "QUICK", "VARIANTS", "run", "add_parser"]


@dataclass(frozen=True)
class Settings:
    """The protocol.  Defaults are the paper's (Section III.A-B)."""

    limit: int | None = 10_000          # images used (the paper: 10,000 MNIST images)
    test_fraction: float = 0.4          # 6:4 split
    epochs: int = 12
    zero_one_epochs: int = 24           # "the ANN with 0-1 loss converges slower ... 24 epochs"
    replications: int = 10_000          # K
    batch_size: int = 25
    learning_rate: float = 0.1          # step of Eq. 1, on the summed mini-batch loss (see README)
    noise_sigma: float = 2.0            # sigma^2 = 4
    bp_epochs: int = 12
    bp_learning_rate: float = 0.1
    surrogate_hidden: tuple = (100, 50)  # the authors' public code: ReLU 100-50
    attack_images: int = 5_000          # "5000 images randomly chosen from the testing set"
    lbfgs_images: int = 5_000
    fgsm_target: float = 0.28           # BP baseline accuracy the paper reports under FGSM
    lbfgs_target: float = 0.57          # ... and under L-BFGS
    eps_grid: tuple = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    predict_replications: int = 100
    gradient_replications: int = 1_000
    pgd_steps: int = 20
    corruption_images: int | None = None   # None: the whole attack set
    lbfgs_max_iter: int = 100
    variance_reduction: bool = False    # GLR training with the leave-one-out baseline (not in the paper)
    pathwise_replications: int = 100    # noise draws per sample of the pathwise control (low variance)


PAPER = Settings()
# Small settings for a minutes-long check of the whole pipeline.  So few replications train
# nothing with the paper's plain estimator; the baseline makes them enough (README).
QUICK = Settings(limit=2000, epochs=8, zero_one_epochs=12, replications=500, bp_epochs=8,
                 attack_images=200, lbfgs_images=50, eps_grid=(0.1, 0.2, 0.3), predict_replications=20,
                 gradient_replications=200, pgd_steps=3, corruption_images=100, lbfgs_max_iter=30,
                 variance_reduction=True, pathwise_replications=20)


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    activation: str
    loss: str = "cross_entropy"
    noise: str = "gaussian"
    estimator: str = "glr"              # "pathwise": backpropagation through the same noise (control)

    def epochs(self, settings: Settings) -> int:
        return settings.zero_one_epochs if self.loss == "zero_one" else settings.epochs


# Table I: sigmoid and threshold, three other discontinuous activations, the 0-1 loss,
# and Laplacian noise of the same variance (2 b^2 = sigma^2, Table II's 21-point claim).
# Beyond the paper, a control: the same noisy sigmoid network trained by backpropagation
# through the noise instead of GLR, which separates the effect of the noise from that of
# the estimator.
VARIANTS = (
    Variant("glr-sigmoid", "GLR sigmoid", "sigmoid"),
    Variant("glr-threshold", "GLR threshold", "threshold"),
    Variant("glr-sign", "GLR sign", "sign"),
    Variant("glr-staircase", "GLR staircase (4 levels)", "staircase"),
    Variant("glr-quantized-relu", "GLR quantized ReLU (4 levels)", "quantized_relu"),
    Variant("glr-sigmoid-01", "GLR sigmoid, 0-1 loss", "sigmoid", "zero_one"),
    Variant("glr-threshold-01", "GLR threshold, 0-1 loss", "threshold", "zero_one"),
    Variant("glr-sigmoid-laplace", "GLR sigmoid, Laplace noise", "sigmoid", noise="laplace"),
    Variant("glr-threshold-laplace", "GLR threshold, Laplace noise", "threshold", noise="laplace"),
    Variant("pathwise-sigmoid", "noisy sigmoid, pathwise (control)", "sigmoid", estimator="pathwise"),
)
BASELINE = "bp-sigmoid"
LABELS = {BASELINE: "BP sigmoid (baseline)", **{v.key: v.label for v in VARIANTS}}


# ----------------------------------------------------------------------------- utilities
def _write_json(path, obj):
    from .io import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(obj, indent=2, default=_json_default).encode("utf-8"))


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


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
    from .backprop import BPNetwork, load_bp, save_bp

    if os.path.exists(path):
        return load_bp(path)
    net = BPNetwork(sizes, activation, seed=seed)
    net.fit(data.X_train, data.y_train, epochs=epochs, batch_size=25, learning_rate=lr, optimizer="momentum",
            seed=seed, X_val=data.X_test, y_val=data.y_test, progress=progress)
    save_bp(net, path)
    return net


def _train_glr(path, variant, data, settings, seed, threads, progress):
    from .activations import Activation
    from .io import load_model
    from .network import MLP
    from .noise import Gaussian, Laplace
    from .training import train

    if os.path.exists(path):
        return load_model(path)
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
    from . import attacks
    from .io import atomic_savez, open_archive

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


def _evaluate(name, model, glr_model, X, y, adv, settings, seed, threads):
    """Every figure of Tables I and II for one model under test."""
    from . import attacks
    from .corruptions import CORRUPTIONS, mean_corruption_accuracy
    from .robustness import NoisyModel

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
    from . import datasets
    from .robustness import NoisyModel

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
    results = {"seed": seed, "data": data.name, "n_train": int(len(data.y_train)), "n_attack": int(len(y)),
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
        evaluation = _evaluate(name, model, glr_model, X, y, adv, settings, seed, threads)
        history = getattr(glr_model, "metadata", {}).get("history") if glr_model is not None else None
        evaluation["history"] = history or getattr(model, "history_", None)
        _write_json(path, evaluation)
        results["models"][name] = evaluation
    figure_inputs = {"X": X[:10], "X_fgsm": adv["fgsm"][:10], "y": y[:10], "image_shape": data.image_shape}
    return results, figure_inputs


# ----------------------------------------------------------------------------- aggregation
TABLE1_COLUMNS = [("original", "original"), ("transfer_lbfgs", "L-BFGS (transfer)"),
                  ("transfer_fgsm", "FGSM (transfer)"), ("whitebox_fgsm", "FGSM (own gradient)"),
                  ("whitebox_pgd", "PGD (own gradient)"), ("whitebox_fgsm_smoothed", "FGSM (BPDA)"),
                  ("whitebox_pgd_smoothed", "PGD (BPDA)"), ("whitebox_worst", "white-box, worst case")]


def _mean_std(values):
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _cell(values):
    if any(v is None for v in values):
        return "-"
    mean, std = _mean_std(values)
    return f"{mean:.3f}" if len(values) == 1 else f"{mean:.3f} ± {std:.3f}"


def aggregate(per_seed):
    from .corruptions import CORRUPTIONS

    models = list(per_seed[0]["models"])
    summary = {"seeds": [r["seed"] for r in per_seed], "data": per_seed[0]["data"],
               "n_train": per_seed[0]["n_train"], "n_attack": per_seed[0]["n_attack"],
               "fgsm_eps": [r["fgsm_eps"] for r in per_seed], "lbfgs_scale": [r["lbfgs_scale"] for r in per_seed],
               "lbfgs_surrogate_success": [r["lbfgs_surrogate_success"] for r in per_seed],
               "surrogate_accuracy": [r["surrogate_accuracy"] for r in per_seed], "table1": {}, "table2": {},
               "eps_curves": {}}
    for name in models:
        entries = [r["models"][name] for r in per_seed]
        summary["table1"][name] = {key: _mean_std([e[key] for e in entries])
                                   for key in [k for k, _ in TABLE1_COLUMNS] + ["original_single_draw"]
                                   if key in entries[0]}
        summary["table2"][name] = {c: _mean_std([e["corruptions"][c]["mean"] for e in entries]) for c in CORRUPTIONS}
        summary["eps_curves"][name] = {
            "transfer": np.mean([e["transfer_fgsm_curve"] for e in entries], axis=0).tolist(),
            "whitebox": np.mean([e["whitebox_fgsm_curve"] for e in entries], axis=0).tolist()}
    return summary


def write_tables(per_seed, summary, out_dir, settings):
    from .corruptions import CORRUPTIONS, PAPER_CORRUPTIONS

    models = list(per_seed[0]["models"])
    n = len(per_seed)
    eps = _mean_std(summary["fgsm_eps"])
    scale = _mean_std(summary["lbfgs_scale"])
    lines = [f"# Table I: accuracy on original and adversarial examples ({summary['data']})", "",
             f"{n} seed(s) ({', '.join(map(str, summary['seeds']))}), mean ± standard deviation; "
             f"{summary['n_train']} training images, {summary['n_attack']} attacked test images. "
             f"The noisy networks (GLR and the pathwise control, trained with the same noise by backpropagation "
             f"through it over {settings.pathwise_replications} draws) predict with neuronal noise averaged over "
             f"{settings.predict_replications} draws.", "",
             "| model | " + " | ".join(label for _, label in TABLE1_COLUMNS) + " | original, one noise draw |",
             "|---" * (len(TABLE1_COLUMNS) + 2) + "|"]
    for name in models:
        entries = [r["models"][name] for r in per_seed]
        cells = [_cell([e.get(key) for e in entries]) for key, _ in TABLE1_COLUMNS]
        single = _cell([e.get("original_single_draw") for e in entries])
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + f" | {single} |")
    lines += ["", f"Transfer attacks are crafted on a BP network with two ReLU hidden levels "
              f"({'-'.join(map(str, settings.surrogate_hidden))}; its accuracy on the attacked images: "
              f"{_cell(summary['surrogate_accuracy'])}). Their strength is calibrated so that the BP baseline "
              f"reaches the paper's figures (FGSM {settings.fgsm_target}, L-BFGS {settings.lbfgs_target}): "
              f"FGSM eps = {eps[0]:.3f} ± {eps[1]:.3f}; the minimal L-BFGS perturbations (Szegedy et al., "
              f"untargeted, scipy L-BFGS-B with a per-image search over c; they fool the surrogate on "
              f"{_cell(summary['lbfgs_surrogate_success'])} of the images) are scaled by "
              f"{scale[0]:.2f} ± {scale[1]:.2f}. White-box attacks at the same eps use each model's own gradient "
              f"(BP: exact; GLR: the likelihood-ratio input gradient over {settings.gradient_replications} "
              f"replications) and, for the noisy networks, backpropagation through the noise-averaged network "
              f"(BPDA: every activation replaced by E[phi(v + r)], smooth even for steps; "
              f"glrnet.robustness.SmoothedSurrogate). PGD: {settings.pgd_steps} steps of "
              f"2.5 eps / {settings.pgd_steps} from a random start, keeping each image's first successful "
              f"iterate. The worst case counts an image as correct only if it survives every white-box attack."]
    from .io import atomic_write_bytes

    atomic_write_bytes(os.path.join(out_dir, "table1.md"), ("\n".join(lines) + "\n").encode())
    lines = [f"# Table II: mean accuracy over five severities (Eq. 6) per corruption ({summary['data']})", "",
             f"{n} seed(s), mean ± standard deviation. The first four are the corruptions the paper's "
             f"authors used.", "",
             "| model | " + " | ".join(c.replace("_", " ") for c in CORRUPTIONS) + " | mean of the paper's four |",
             "|---" * (len(CORRUPTIONS) + 2) + "|"]
    ordered = list(PAPER_CORRUPTIONS) + [c for c in CORRUPTIONS if c not in PAPER_CORRUPTIONS]
    lines[4] = "| model | " + " | ".join(c.replace("_", " ") for c in ordered) + " | mean of the paper's four |"
    for name in models:
        entries = [r["models"][name] for r in per_seed]
        cells = [_cell([e["corruptions"][c]["mean"] for e in entries]) for c in ordered]
        four = _cell([np.mean([e["corruptions"][c]["mean"] for c in PAPER_CORRUPTIONS]) for e in entries])
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + f" | {four} |")
    atomic_write_bytes(os.path.join(out_dir, "table2.md"), ("\n".join(lines) + "\n").encode())


# ----------------------------------------------------------------------------- figures
def write_figures(per_seed, summary, figure_inputs, out_dir, settings):
    from .activations import Activation
    from .corruptions import corrupt
    from .plotting import _pyplot, save_figure

    plt = _pyplot()
    # Fig. 2: activation functions
    v = np.linspace(-4, 4, 801)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for s in (0.5, 1, 2, 5):
        left.plot(v, Activation("sigmoid", slope=s)(v), label=f"sigmoid, s = {s:g}")
    left.plot(v, Activation("threshold")(v), "k", lw=2, label="threshold")
    left.set_title("Sigmoid and threshold (the paper's Fig. 2)")
    left.legend(fontsize=8)
    for name in ("sign", "staircase", "quantized_relu"):
        right.plot(v, Activation(name, levels=4)(v), lw=2, label=name.replace("_", " "))
    right.set_title("Other discontinuous activations")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.set_xlabel("v")
    save_figure(fig, os.path.join(out_dir, "fig2_activations.png"))

    # Fig. 5: training and validation losses of the sigmoid and threshold GLR networks (first seed)
    first = per_seed[0]["models"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key in zip(axes, ("glr-sigmoid", "glr-threshold")):
        history = first.get(key, {}).get("history") or {}
        if history.get("train_loss"):
            ax.plot(history["epoch"], history["train_loss"], "o-", label="training")
            ax.plot(history["epoch"], history["val_loss"], "s--", label="validation")
        ax.set_title(LABELS.get(key, key))
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy under noise")
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, os.path.join(out_dir, "fig5_loss_curves.png"))

    # Fig. 6: original / FGSM (transfer) pairs
    shape = tuple(figure_inputs["image_shape"])
    fig, axes = plt.subplots(2, 10, figsize=(10, 2.4))
    for i in range(min(10, len(figure_inputs["X"]))):
        axes[0, i].imshow(figure_inputs["X"][i].reshape(shape), cmap="gray", vmin=0, vmax=1)
        axes[1, i].imshow(figure_inputs["X_fgsm"][i].reshape(shape), cmap="gray", vmin=0, vmax=1)
        axes[0, i].set_title(str(figure_inputs["y"][i]), fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(f"Original (top) and FGSM transfer examples, eps = {per_seed[0]['fgsm_eps']:.3f} (bottom)")
    save_figure(fig, os.path.join(out_dir, "fig6_adversarial_pairs.png"))

    # Fig. 7: one image at the five severities of Gaussian noise
    image = figure_inputs["X"][:1]
    fig, axes = plt.subplots(1, 6, figsize=(9, 1.9))
    axes[0].imshow(image.reshape(shape), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("original", fontsize=8)
    for s in range(1, 6):
        axes[s].imshow(corrupt(image, "gaussian_noise", s, seed=0).reshape(shape), cmap="gray", vmin=0, vmax=1)
        axes[s].set_title(f"severity {s}", fontsize=8)
    for ax in axes:
        ax.axis("off")
    save_figure(fig, os.path.join(out_dir, "fig7_gaussian_noise.png"))

    # accuracy against eps
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    grid = [0.0] + list(settings.eps_grid)
    for name, curves in summary["eps_curves"].items():
        style = "k-o" if name == BASELINE else "-o"
        clean = summary["table1"][name]["original"][0]
        left.plot(grid, [clean] + curves["transfer"], style, ms=3, label=LABELS.get(name, name))
        right.plot(grid, [clean] + curves["whitebox"], style, ms=3, label=LABELS.get(name, name))
    left.set_title("FGSM crafted on the BP surrogate (transfer)")
    right.set_title("white-box FGSM (worst of own gradient and BPDA)")
    for ax in (left, right):
        ax.set_xlabel("eps")
        ax.grid(alpha=0.3)
    left.set_ylabel("accuracy")
    right.legend(fontsize=7, loc="upper right")
    save_figure(fig, os.path.join(out_dir, "eps_curves.png"))


# ----------------------------------------------------------------------------- entry points
def _check_cache_settings(out_dir, data_dir, settings):
    """The cache holds models and evaluations of one protocol: refuse to mix protocols."""
    path = os.path.join(out_dir, "cache", "protocol.json")
    protocol = json.loads(json.dumps({"data": None if data_dir is None else os.path.abspath(data_dir),
                                      "settings": asdict(settings)}))
    if os.path.exists(path):
        with open(path) as handle:
            cached = json.load(handle)
        # a setting that an older glrnet did not have counts at its default
        defaults = json.loads(json.dumps(asdict(Settings())))
        cached["settings"] = {**{k: defaults[k] for k in protocol["settings"]}, **cached["settings"]}
        if cached != protocol:
            keys = set(protocol["settings"]) | set(cached["settings"])
            changed = sorted(k for k in keys if cached["settings"].get(k) != protocol["settings"].get(k))
            if cached["data"] != protocol["data"]:
                changed.insert(0, "data")
            raise ValueError(f"out_dir {out_dir!r} holds the cache of another protocol (differs in: "
                             f"{', '.join(changed)}); choose another --out")
        return
    cache = os.path.dirname(path)
    if os.path.isdir(cache) and os.listdir(cache):
        raise ValueError(f"out_dir {out_dir!r} holds a cache without a protocol record (written by an older "
                         "glrnet); choose another --out")
    os.makedirs(cache, exist_ok=True)
    _write_json(path, protocol)


def run(data_dir=None, out_dir="glrnet-reproduction", *, seeds=1, quick=False, threads=None, progress=True,
        settings=None):
    """Run the reproduction for ``seeds`` seeds (0, 1, ...); returns the summary dict."""
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
    _write_json(os.path.join(out_dir, "results.json"), {"summary": summary, "per_seed": per_seed})
    write_tables(per_seed, summary, out_dir, settings)
    write_figures(per_seed, summary, figure_inputs, out_dir, settings)
    return summary


def add_parser(sub):
    p = sub.add_parser("reproduce", help="the paper's Tables I and II and figures (transfer and white-box "
                       "attacks, corruptions)", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=None, help="MNIST-format IDX directory (default: the embedded 5,000 images)")
    p.add_argument("--quick", action="store_true", help="the whole pipeline on small settings (a minute or two)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds (0, 1, ...): mean and spread")
    p.add_argument("--out", default="glrnet-reproduction", help="output directory (also the resume cache)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--replications", type=int, default=None, help="override K")
    p.add_argument("--epochs", type=int, default=None,
                   help="override the epochs of GLR and BP training (the 0-1 loss gets twice as many, "
                        "as in the paper)")
    p.add_argument("--limit", type=int, default=None,
                   help="override the number of images used (paper: 10,000; 0: all the data holds)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd)
    return p


def _cmd(args):
    if args.seeds < 1:
        raise ValueError("--seeds must be >= 1")
    settings = QUICK if args.quick else PAPER
    if args.replications is not None:
        if args.replications < 1:
            raise ValueError("--replications must be >= 1")
        settings = replace(settings, replications=args.replications)
    if args.epochs is not None:
        if args.epochs < 1:
            raise ValueError("--epochs must be >= 1")
        settings = replace(settings, epochs=args.epochs, zero_one_epochs=2 * args.epochs, bp_epochs=args.epochs)
    if args.limit is not None:
        if args.limit < 0:
            raise ValueError("--limit must be >= 0")
        settings = replace(settings, limit=args.limit or None)
    summary = run(args.data, args.out, seeds=args.seeds, threads=args.threads, progress=not args.quiet,
                  settings=settings)
    with open(os.path.join(args.out, "table1.md")) as handle:
        print(handle.read())
    with open(os.path.join(args.out, "table2.md")) as handle:
        print(handle.read())
    print(f"wrote {args.out}/table1.md, table2.md, results.json and figures in {summary['seconds']:.0f} s",
          file=sys.stderr)
    return 0
