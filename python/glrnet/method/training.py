"""Training by stochastic approximation (Eq. 1): GLR gradients (Algorithm 1), or backpropagation
for the pathwise control and the noise-free baseline, with one loop and one set of optimisers."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .._progress import progress_bar
from .._validation import (FLOAT32_MAX, check_bool, check_callable, check_features, check_int, check_labels,
                           check_option, check_real, check_seed)
from .network import MAX_REPLICATIONS, STEP_PERIOD, validation_step
from .optim import SCHEDULES, learning_rate_at, make_optimizer

ESTIMATORS = ("glr", "pathwise", "backprop")
# The Gaussian data augmentation of step n draws from default_rng([seed, n, INPUT_NOISE_TAG]): a
# stream of its own, apart from the shuffling generator and the kernel's neuronal noise.
INPUT_NOISE_TAG = 0x1A7A

__all__ = ["train", "History", "DivergenceError"]


class DivergenceError(ValueError):
    """The parameters stopped being finite float32 numbers after a step (the step size is too
    large for the problem, say); the model keeps its parameters from before that step."""


@dataclass
class History:
    """Per-epoch records (the paper's Fig. 5).

    ``train_loss`` / ``train_accuracy`` average the noisy mini-batch losses and
    accuracies of the epoch's steps.  After each epoch the validation set is evaluated
    under noise: ``val_loss`` and ``val_accuracy`` are the mean loss and accuracy of one
    noise draw (averaged over ``eval_replications`` draws), ``val_prediction_accuracy``
    the accuracy of the prediction whose softmax is averaged over those draws (what
    ``MLP.predict`` / ``score`` give; the figure ``glrnet train`` reports).
    """

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    val_prediction_accuracy: list = field(default_factory=list)
    learning_rate: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    steps: int = 0

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()}


def train(model, X, y, *, epochs=12, batch_size=25, replications=10_000, learning_rate=0.1,
          schedule="constant", optimizer="sgd", momentum=0.9, baseline=False, antithetic=False,
          seed=0, X_val=None, y_val=None, eval_replications=100, n_threads=None, progress=True,
          batch_reduction="mean", callback=None, estimator="glr", input_noise=0.0, step_callback=None,
          weight_decay=0.0, weight_bound=None, rqmc=False) -> History:
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
    estimator.  ``"backprop"`` is the same estimator by its usual name; on a network
    without noise (:func:`~glrnet.method.network.baseline_network`) it is exact
    backpropagation.  ``baseline`` and ``antithetic`` apply to GLR only.

    ``input_noise`` is the standard deviation of a Gaussian data augmentation: at step n
    every image of the mini-batch is replaced by ``x + input_noise * z``, z ~ N(0, I) drawn
    from ``numpy.random.default_rng([seed, n, INPUT_NOISE_TAG])``, without clipping (the
    training of the base classifier of randomized smoothing, Cohen, Rosenfeld & Kolter 2019,
    Section 4; certify it with :func:`glrnet.robustness.certify`).  It applies to the
    three estimators alike; ``input_noise=0`` draws nothing and gives the same bits as before.

    ``step_callback(step, model)`` runs after every update (``step``: the number of updates
    done so far, ``model``: the updated model); returning True stops training there.  The
    epoch it stops is recorded like a full one, over the mini-batches it did: its training
    loss and accuracy average those steps, its validation is the stopped model's, and
    ``callback`` is called for it; ``history.steps`` is the number of updates made.  (To
    stop a baseline once it reaches a target accuracy, say.)

    Two controls of the weights' scale against the fixed neuronal noise (README, "The training
    recipe decides the robustness"): ``weight_decay`` adds ``weight_decay * W`` to the gradient
    of every weight matrix (an L2 penalty ``weight_decay / 2 * ||W||^2`` on the loss that
    ``batch_reduction`` reduces; biases are not penalised), and ``weight_bound`` clips every
    weight into ``[-weight_bound, weight_bound]`` after each update (projected stochastic
    approximation).  ``weight_decay=0`` and ``weight_bound=None`` give the same bits as before.

    ``rqmc=True`` draws the noise of every step as randomized quasi-Monte Carlo points (two
    independent randomly shifted rank-1 lattices of K/2 points, :mod:`glrnet.method.rqmc`; with
    ``baseline`` each half's baseline is the other half's mean loss): unbiased like the i.i.d.
    noise, with less variance for the same K (README, "Speed").  GLR only; K even.
    """
    if model is None or not hasattr(model, "pathwise_gradient"):
        raise TypeError(f"model must be a glrnet.MLP, got {type(model).__name__}")
    X = check_features(X, model.n_inputs)
    y = check_labels(y, X.shape[0], model.n_classes)
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    check_int(replications, "replications", minimum=1)
    learning_rate = check_real(learning_rate, "learning_rate", positive=True)
    check_option(schedule, "schedule", SCHEDULES)
    seed = check_seed(seed)
    progress = check_bool(progress, "progress")
    callback = check_callable(callback, "callback")
    eval_replications = check_int(eval_replications, "eval_replications", minimum=0, maximum=MAX_REPLICATIONS)
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together")
    has_val = X_val is not None
    if has_val:
        X_val = check_features(X_val, model.n_inputs, "X_val")
        y_val = check_labels(y_val, X_val.shape[0], model.n_classes, "y_val")
    momentum = check_real(momentum, "momentum", minimum=0.0, maximum=0.999999)
    opt = make_optimizer(optimizer, momentum)
    check_option(estimator, "estimator", ESTIMATORS)
    glr = estimator == "glr"
    rqmc = check_bool(rqmc, "rqmc")
    if not glr and (baseline or antithetic or rqmc):
        raise ValueError("baseline, antithetic and rqmc apply to the GLR estimator only")
    check_option(batch_reduction, "batch_reduction", ("mean", "sum"))
    input_noise = check_real(input_noise, "input_noise", minimum=0.0, maximum=1e30)   # noisy inputs stay float32
    step_callback = check_callable(step_callback, "step_callback")
    weight_decay = check_real(weight_decay, "weight_decay", minimum=0.0, maximum=1e30)
    if weight_bound is not None:
        weight_bound = check_real(weight_bound, "weight_bound", positive=True)
    # the noise-related options are checked once, before the first epoch, not at every step
    glr_step = model._gradient_stepper(X, y, batch_size, replications, seed=seed, baseline=baseline,
                                       antithetic=antithetic, n_threads=n_threads, rqmc=rqmc) if glr else None

    rng = np.random.default_rng(seed)
    n = X.shape[0]
    batches_per_epoch = -(-n // batch_size)
    total_steps = epochs * batches_per_epoch
    history = History()
    step = 0
    bar = progress_bar(total_steps, f"{'GLR' if glr else estimator} training", "batch", progress)
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            order = rng.permutation(n)
            loss_sum = acc_sum = 0.0
            seen = 0
            stop = False
            for first in range(0, n, batch_size):
                index = order[first:first + batch_size]
                lr = learning_rate_at(learning_rate, schedule, step, total_steps)
                batch = None if input_noise == 0.0 else _augmented(X[index], input_noise, seed, step)
                if glr_step is not None:
                    est = glr_step(index, step % STEP_PERIOD, batch)
                else:
                    est = model.pathwise_gradient(X[index] if batch is None else batch, y[index], replications,
                                                  seed=seed, step=step % STEP_PERIOD)
                grads = [g for pair in zip(est.weights, est.biases) for g in pair]
                if batch_reduction == "sum":      # gradient of the summed mini-batch loss
                    grads = [g * len(index) for g in grads]
                params = model.get_parameters()
                if weight_decay:                  # the weights are params[0::2], the biases params[1::2]
                    grads = [g + weight_decay * p if i % 2 == 0 else g for i, (g, p) in enumerate(zip(grads, params))]
                _guarded_step(opt, params, grads, lr, step, epoch)
                if weight_bound is not None:
                    for weights in params[0::2]:
                        np.clip(weights, -weight_bound, weight_bound, out=weights)
                loss_sum += est.loss * len(index)
                acc_sum += est.accuracy * len(index)
                seen += len(index)
                step += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=epoch, loss=f"{loss_sum / seen:.4f}", acc=f"{acc_sum / seen:.3f}",
                                    refresh=False)
                if step_callback is not None and step_callback(step, model):
                    stop = True
                    break
            history.epoch.append(epoch)
            history.train_loss.append(loss_sum / seen)
            history.train_accuracy.append(acc_sum / seen)
            history.learning_rate.append(lr)
            if has_val:
                ev = model.evaluate(X_val, y_val, eval_replications, seed=seed, step=validation_step(epoch),
                                    n_threads=n_threads)
                history.val_loss.append(ev["loss"])
                history.val_accuracy.append(ev["accuracy"])
                history.val_prediction_accuracy.append(
                    model.score(X_val, y_val, eval_replications, seed=seed, step=validation_step(epoch),
                                n_threads=n_threads) if model.noisy else ev["accuracy"])
            history.seconds.append(time.perf_counter() - start)
            history.steps = step
            if bar is not None and has_val:
                bar.write(f"epoch {epoch}: training loss {history.train_loss[-1]:.4f} | validation loss "
                          f"{history.val_loss[-1]:.4f}, accuracy {history.val_prediction_accuracy[-1]:.3f} "
                          f"(prediction with the noise averaged over {eval_replications} draws)", file=sys.stderr)
            if (callback is not None and callback(epoch, history)) or stop:
                break
    finally:
        if bar is not None:
            bar.close()
    return history


def _augmented(batch, input_noise, seed, step):
    """The mini-batch of step ``step`` with Gaussian data augmentation (float64, not clipped)."""
    rng = np.random.default_rng([seed, step, INPUT_NOISE_TAG])
    return batch + input_noise * rng.standard_normal(batch.shape)


def _guarded_step(optimizer, params, grads, lr, step, epoch):
    """One update; if it leaves a parameter non-finite or beyond float32, undo it and raise."""
    before = [p.copy() for p in params]
    optimizer.step(params, grads, lr)
    for l, p in enumerate(params):
        if not np.abs(p).max() <= FLOAT32_MAX:          # NaN fails the comparison too
            for kept, saved in zip(params, before):
                kept[...] = saved
            level, kind = divmod(l, 2)
            what = ("weights", "biases")[kind]
            raise DivergenceError(f"training diverged at step {step} (epoch {epoch}): the {what} of level {level} "
                                  f"left the finite float32 range (learning rate {lr:g}); the model keeps its "
                                  f"parameters from before that step")
