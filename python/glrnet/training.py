"""Training by stochastic approximation with GLR gradients (Eq. 1, Algorithm 1)."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ._validation import check_bool, check_features, check_int, check_labels, check_real, check_seed
from .optim import SCHEDULES, learning_rate_at, make_optimizer

__all__ = ["train", "History"]


@dataclass
class History:
    """Per-epoch records (the paper's Fig. 5).

    ``train_loss`` / ``train_accuracy`` average the GLR kernel's noisy mini-batch
    losses over the epoch; ``val_*`` evaluate the validation set under noise after
    each epoch.
    """

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    learning_rate: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    steps: int = 0

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()}


def train(model, X, y, *, epochs=12, batch_size=25, replications=10_000, learning_rate=0.1,
          schedule="constant", optimizer="sgd", momentum=0.9, baseline=False, antithetic=False,
          seed=0, X_val=None, y_val=None, eval_replications=100, n_threads=None, progress=True,
          batch_reduction="mean", callback=None, estimator="glr") -> History:
    """Train ``model`` (an MLP) in place with mini-batch GLR stochastic approximation.

    Each step draws a mini-batch (shuffled every epoch with ``seed``), estimates the
    gradient with ``replications`` noise replications per sample (Algorithm 1) using
    noise stream ``(seed, step)``, and applies the optimiser (``"sgd"`` is Eq. 1).
    ``callback(epoch, history)`` runs after each epoch; returning True stops early.
    The paper's settings are the defaults: 12 epochs, batch 25, K = 10,000, step 0.1.

    ``batch_reduction``: the kernel returns the gradient of the *mean* loss over the
    mini-batch; ``"sum"`` steps along the gradient of the summed loss instead (batch
    size times larger).  The paper does not say which it used; with 12 epochs at step
    0.1 only the summed reading converges (see README), and ``glrnet train`` uses it.

    ``estimator="pathwise"`` trains the same noisy network by backpropagation through
    the noise (:meth:`MLP.pathwise_gradient`, continuous activations only) instead of
    GLR: the control that separates the effect of the neuronal noise from that of the
    estimator.  ``baseline`` and ``antithetic`` apply to GLR only.
    """
    X = check_features(X, model.n_inputs)
    y = check_labels(y, X.shape[0], model.n_classes)
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    check_int(replications, "replications", minimum=1)
    learning_rate = check_real(learning_rate, "learning_rate", positive=True)
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    seed = check_seed(seed)
    progress = check_bool(progress, "progress")
    from .network import MAX_REPLICATIONS

    eval_replications = check_int(eval_replications, "eval_replications", minimum=0, maximum=MAX_REPLICATIONS)
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together")
    has_val = X_val is not None
    if has_val:
        X_val = check_features(X_val, model.n_inputs, "X_val")
        y_val = check_labels(y_val, X_val.shape[0], model.n_classes, "y_val")
    opt = make_optimizer(optimizer, momentum)
    if estimator not in ("glr", "pathwise"):
        raise ValueError(f"estimator must be 'glr' or 'pathwise', got {estimator!r}")
    if estimator == "pathwise" and (baseline or antithetic):
        raise ValueError("baseline and antithetic apply to the GLR estimator only")
    if batch_reduction not in ("mean", "sum"):
        raise ValueError(f"batch_reduction must be 'mean' or 'sum', got {batch_reduction!r}")
    # validate the noise-related options once, before the first epoch
    model._check_run(replications, seed, 0, baseline, antithetic, n_threads)

    rng = np.random.default_rng(seed)
    n = X.shape[0]
    batches_per_epoch = -(-n // batch_size)
    total_steps = epochs * batches_per_epoch
    history = History()
    step = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        interactive = sys.stderr.isatty()
        bar = tqdm(total=total_steps, desc="GLR training" if estimator == "glr" else "pathwise training", unit="batch", dynamic_ncols=True, file=sys.stderr,
                   mininterval=0.1 if interactive else 15.0)
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            order = rng.permutation(n)
            loss_sum = acc_sum = 0.0
            seen = 0
            for first in range(0, n, batch_size):
                index = order[first:first + batch_size]
                lr = learning_rate_at(learning_rate, schedule, step, total_steps)
                if estimator == "glr":
                    est = model.gradient(X[index], y[index], replications, seed=seed, step=step % 2**32,
                                         baseline=baseline, antithetic=antithetic, n_threads=n_threads)
                else:
                    est = model.pathwise_gradient(X[index], y[index], replications, seed=seed, step=step % 2**32)
                grads = [g for pair in zip(est.weights, est.biases) for g in pair]
                if batch_reduction == "sum":      # gradient of the summed mini-batch loss
                    grads = [g * len(index) for g in grads]
                opt.step(model.get_parameters(), grads, lr)
                loss_sum += est.loss * len(index)
                acc_sum += est.accuracy * len(index)
                seen += len(index)
                step += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=epoch, loss=f"{loss_sum / seen:.4f}", acc=f"{acc_sum / seen:.3f}", refresh=False)
            history.epoch.append(epoch)
            history.train_loss.append(loss_sum / seen)
            history.train_accuracy.append(acc_sum / seen)
            history.learning_rate.append(lr)
            if has_val:
                ev = model.evaluate(X_val, y_val, eval_replications, seed=seed, step=(2**31 + epoch) % 2**32,
                                    n_threads=n_threads)
                history.val_loss.append(ev["loss"])
                history.val_accuracy.append(ev["accuracy"])
            history.seconds.append(time.perf_counter() - start)
            history.steps = step
            if bar is not None and has_val:
                bar.write(f"epoch {epoch}: train loss {history.train_loss[-1]:.4f} acc "
                          f"{history.train_accuracy[-1]:.3f} | val loss {history.val_loss[-1]:.4f} "
                          f"acc {history.val_accuracy[-1]:.3f}", file=sys.stderr)
            if callback is not None and callback(epoch, history):
                break
    finally:
        if bar is not None:
            bar.close()
    return history
