"""Reporting: the summary over seeds, Tables I and II as markdown, and the paper's figures as PNG."""
from __future__ import annotations

import os

import numpy as np

from .._files import atomic_write_text
from ..method.activations import Activation
from .protocol import BASELINE, LABELS

__all__ = ["aggregate", "write_figures", "write_tables"]

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
    from ..robustness.corruptions import CORRUPTIONS

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
    from ..robustness.corruptions import CORRUPTIONS, PAPER_CORRUPTIONS

    models = list(per_seed[0]["models"])
    n = len(per_seed)
    eps = _mean_std(summary["fgsm_eps"])
    scale = _mean_std(summary["lbfgs_scale"])
    lines = [f"# Table I: accuracy on original and adversarial examples ({summary['data']})", "",
             (f"{n} seed(s) ({', '.join(map(str, summary['seeds']))}), mean ± standard deviation; "
              f"{summary['n_train']} training images, {summary['n_attack']} attacked test images. "
              f"The noisy networks (GLR and the pathwise control, trained with the same noise by backpropagation "
              f"through it over {settings.pathwise_replications} draws) predict with neuronal noise averaged over "
              f"{settings.predict_replications} draws."), "",
             "| model | " + " | ".join(label for _, label in TABLE1_COLUMNS) + " | original, one noise draw |",
             "|---" * (len(TABLE1_COLUMNS) + 2) + "|"]
    for name in models:
        entries = [r["models"][name] for r in per_seed]
        cells = [_cell([e.get(key) for e in entries]) for key, _ in TABLE1_COLUMNS]
        single = _cell([e.get("original_single_draw") for e in entries])
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + f" | {single} |")
    lines += ["", (f"Transfer attacks are crafted on a BP network with two ReLU hidden levels "
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
               f"iterate. The worst case counts an image as correct only if it survives every white-box attack.")]
    atomic_write_text(os.path.join(out_dir, "table1.md"), "\n".join(lines) + "\n")
    ordered = list(PAPER_CORRUPTIONS) + [c for c in CORRUPTIONS if c not in PAPER_CORRUPTIONS]
    lines = [f"# Table II: mean accuracy over five severities (Eq. 6) per corruption ({summary['data']})", "",
             (f"{n} seed(s), mean ± standard deviation. The first four are the corruptions the paper's "
              f"authors used."), "",
             "| model | " + " | ".join(c.replace("_", " ") for c in ordered) + " | mean of the paper's four |",
             "|---" * (len(ordered) + 2) + "|"]
    for name in models:
        entries = [r["models"][name] for r in per_seed]
        cells = [_cell([e["corruptions"][c]["mean"] for e in entries]) for c in ordered]
        four = _cell([np.mean([e["corruptions"][c]["mean"] for c in PAPER_CORRUPTIONS]) for e in entries])
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + f" | {four} |")
    atomic_write_text(os.path.join(out_dir, "table2.md"), "\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- figures
def write_figures(per_seed, summary, figure_inputs, out_dir, settings):
    from ..plotting import _history_panel, _pyplot, save_figure
    from ..robustness.corruptions import corrupt

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
        _history_panel(ax, first.get(key, {}).get("history") or {}, "loss", "cross-entropy under noise")
        ax.set_title(LABELS.get(key, key))
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


