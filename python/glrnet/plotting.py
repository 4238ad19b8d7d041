"""Figures as PNG files (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import io

import numpy as np

from .io import atomic_write_bytes

__all__ = ["plot_history", "save_figure"]


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


def plot_history(history, path, title="GLR training"):
    """Training and validation loss and accuracy per epoch (the paper's Fig. 5)."""
    plt = _pyplot()
    h = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    epochs = np.asarray(h["epoch"])
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax_loss.plot(epochs, h["train_loss"], "o-", label="training")
    if h.get("val_loss"):
        ax_loss.plot(epochs, h["val_loss"], "s--", label="validation")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss (mean under noise)")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    ax_acc.plot(epochs, h["train_accuracy"], "o-", label="training")
    if h.get("val_accuracy"):
        ax_acc.plot(epochs, h["val_accuracy"], "s--", label="validation")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (under noise)")
    ax_acc.legend()
    ax_acc.grid(alpha=0.3)
    fig.suptitle(title)
    save_figure(fig, path)
