"""Figures as PNG files (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import io

import numpy as np

from ._files import atomic_write_bytes

__all__ = ["describe_network", "plot_history", "save_figure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi=120):
    """Render ``fig`` to PNG and write it atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    _pyplot().close(fig)


def _history_panel(ax, history, key, ylabel):
    """One panel of per-epoch curves: ``history["train_" + key]`` and ``history["val_" + key]``
    (each drawn if recorded) against ``history["epoch"]``."""
    epochs = np.asarray(history.get("epoch", []))
    for split, style, label in (("train", "o-", "training"), ("val", "s--", "validation")):
        values = history.get(f"{split}_{key}")
        if values is not None and len(values):
            ax.plot(epochs, values, style, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    ax.grid(alpha=0.3)


_LOSS_WORDS = {"cross_entropy": "cross-entropy loss", "zero_one": "0-1 loss", "squared": "squared loss",
               "hinge": "hinge loss"}


def describe_network(model) -> str:
    """A network in words, for a figure's title: "196-20-10 threshold network, Gaussian noise
    (scale 2), 0-1 loss" (from ``model.get_config()``)."""
    config = model.get_config()
    sizes = "-".join(str(n) for n in config["layer_sizes"])
    hidden = [a["name"] for a in config["activations"][:-1]] or [config["activations"][-1]["name"]]
    units = " / ".join(dict.fromkeys(name.replace("_", " ").replace("relu", "ReLU") for name in hidden))
    words = [f"{sizes} {units} network"]
    noises = config.get("noises")
    if noises:
        kinds = dict.fromkeys(f"{n['family'].replace('_', ' ').capitalize()} noise (scale {n['scale']:g})"
                              for n in noises)
        words.append(", ".join(kinds))
    else:
        words.append("no neuronal noise")
    words.append(_LOSS_WORDS.get(config["loss"], config["loss"].replace("_", " ") + " loss"))
    return ", ".join(words)


def plot_history(history, path, title="GLR training", model=None):
    """Training and validation loss and accuracy per epoch (the paper's Fig. 5); with ``model``, the
    title names the network in words (:func:`describe_network`)."""
    if model is not None:
        title = f"{title}: {describe_network(model)}"
    plt = _pyplot()
    h = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    _history_panel(ax_loss, h, "loss", "loss (mean under noise)")
    _history_panel(ax_acc, h, "accuracy", "accuracy (under noise)")
    fig.suptitle(title)
    save_figure(fig, path)
