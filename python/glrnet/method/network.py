"""Multilayer perceptrons with neuronal noise, and their GLR gradient.

Level ``l`` of an :class:`MLP` computes ``u = W[l] x + b[l] + r`` and
``x' = phi_l(u)`` with noise ``r ~ f_l`` (Section II.A of the paper).  The paper's
network is ``MLP([196, 20, 10], activation="sigmoid", noise=Gaussian(2.0))`` with
an activation on every level, the output level included.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .. import _glrcore, modelfile
from .._config import effective_n_threads
from .._validation import (check_bool, check_features, check_int, check_int_sequence, check_labels, check_option,
                           check_parameters, check_seed)
from . import dense
from .activations import Activation, as_activation
from .rqmc import lattice_increments
from .losses import (DIFFERENTIABLE, LOSS_CODES, check_loss, correct_fraction, loss_and_output_gradient, loss_values,
                     softmax)
from .noise import Gaussian, StudentT, as_noise

__all__ = ["MLP", "GLRGradient", "baseline_network", "build_mlp", "load_model", "save_model", "kernel_memory_bytes",
           "row_keys", "MAX_REPLICATIONS", "MAX_KERNEL_BYTES", "STEP_PERIOD", "PREDICTION_STEP", "validation_step"]

MAX_REPLICATIONS = 2**32 - 1
# Bound on the memory of one kernel call (kernel_memory_bytes) and on a model's float64 parameters.
MAX_KERNEL_BYTES = 4 * 2**30
# The pathwise gradient materialises (samples x replications x width) arrays: this much at a time.
PATHWISE_CHUNK_BYTES = 2**28
# Output activations that saturate in floating point (sigmoid to 1.0 once s u > ~16.6 in float32)
# while their pre-activations keep the order: the arg-max and its ties are decided on the
# pre-activations, as the kernel does (loss.h).
_RANK_ON_PREACTIVATION = ("sigmoid", "tanh")
# The noise of the kernel is keyed by (seed, step, sample, replication, unit): the step is a
# 32-bit counter.  Training step n uses step n mod STEP_PERIOD; the streams below are kept
# apart from the training steps of any run shorter than 2**31 steps.
STEP_PERIOD = 2**32
PREDICTION_STEP = STEP_PERIOD - 1        # predictions with noise (NoisyModel, GLRClassifier)


def validation_step(epoch: int) -> int:
    """The noise step of the validation after ``epoch`` (training.train)."""
    return (2**31 + epoch) % STEP_PERIOD


@dataclass
class GLRGradient:
    """The GLR estimate for one mini-batch (Algorithm 1).

    ``weights[l]`` and ``biases[l]`` estimate d E[L] / d W[l] and d E[L] / d b[l];
    ``loss`` and ``accuracy`` are means over the samples and the noise replications.
    """

    weights: list
    biases: list
    loss: float
    accuracy: float
    sample_loss: Optional[np.ndarray] = None
    sample_accuracy: Optional[np.ndarray] = None
    first_score: Optional[np.ndarray] = field(default=None, repr=False)

    def flat(self) -> np.ndarray:
        """All gradient entries as one vector (weights then biases, level by level)."""
        return np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(self.weights, self.biases)])


def kernel_memory_bytes(layer_sizes, n_samples, replications, *, gradient=True, baseline=False,
                        antithetic=False, proba=False, votes=False, sample_outputs=False, n_threads=1,
                        rqmc=False) -> int:
    """An upper estimate of the memory one call of the kernel takes (bytes): its partial sums, held
    in waves of at most about ``wave_bytes`` whatever K (``plan_waves`` in src/glrcore/glrcore.c),
    the per-sample totals, each thread's scratch (``scratch_init`` in work_item.c), and the arrays
    the binding makes (float32 parameters, float64 gradients and outputs)."""
    lay = _glrcore.layout()
    block, lanes, chunk, wave_bytes = lay["block"], lay["lanes"], lay["chunk"], lay["wave_bytes"]
    sizes = [int(v) for v in layer_sizes]
    widths = sizes[1:]
    n_in, n_first, n_classes = sizes[0], widths[0], widths[-1]
    units, max_width = sum(widths), max(widths)
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    upper = n_params - (n_in + 1) * n_first
    base = gradient and baseline
    banks = 2 if base and antithetic else 1
    halves = base and rqmc                          # the plain sums of each half apart, and its loss
    row_bytes = 8 * (2 + int(halves) + (n_first + upper) * (int(gradient) + int(base) * (1 + int(halves)))
                     + n_classes * (int(proba) + int(votes)))
    chunks = 2 * -(-(replications // 2) // chunk) if halves else -(-replications // chunk)
    if chunks == 1 or chunks * row_bytes <= wave_bytes:
        slots = min(max(wave_bytes // (chunks * row_bytes), 1), n_samples) * chunks * row_bytes
    else:
        slots = (min(max(wave_bytes // row_bytes - 1, n_threads, 1), chunks) + 1) * row_bytes
    per_call = 8 * n_samples * (n_first + 2 + 2 * int(halves)) + 8 * (upper + 1) + 4 * n_first * n_in
    per_thread = (4 * block * (banks * (2 * units + n_classes + 3) + 2 * (max_width + lanes) + 12)
                  + 4 * lanes * max_width + 12 * n_first + 64 * 32)
    binding = (4 * n_params + 8 * n_params * int(gradient) + 4 * n_samples * (n_in + 1)
               + 8 * n_samples * ((n_first + 2) * int(sample_outputs) + n_classes * (int(proba) + int(votes))))
    return slots + per_call + max(1, n_threads) * per_thread + binding


def _check_kernel_memory(layer_sizes, n_samples, replications, n_threads, **options):
    need = kernel_memory_bytes(layer_sizes, n_samples, replications, n_threads=n_threads, **options)
    if need > MAX_KERNEL_BYTES:
        raise ValueError(f"this kernel call would take about {need / 2**30:.1f} GiB (network {list(layer_sizes)}, "
                         f"{n_samples} samples, {replications} replications, {n_threads} threads), above the bound "
                         f"MAX_KERNEL_BYTES = {MAX_KERNEL_BYTES / 2**30:g} GiB: pass fewer samples at a time, use "
                         f"fewer threads or narrower levels")


def row_keys(X) -> np.ndarray:
    """A 32-bit key per row of ``X`` from its float32 values (FNV-1a over the words, then the
    MurmurHash3 finaliser), to key the noise of a prediction by the row itself: equal rows get
    equal noise, and a row's noise does not depend on its neighbours or its position."""
    words = np.ascontiguousarray(np.asarray(X, dtype=np.float32) + np.float32(0.0)).view(np.uint32)  # -0 -> +0
    h = np.full(words.shape[0], 0xCBF29CE484222325, dtype=np.uint64)
    for column in words.T:
        h ^= column
        h *= np.uint64(0x100000001B3)
    for shift, multiplier in ((33, 0xFF51AFD7ED558CCD), (33, 0xC4CEB9FE1A85EC53)):
        h ^= h >> np.uint64(shift)
        h *= np.uint64(multiplier)
    h ^= h >> np.uint64(33)
    return (h ^ (h >> np.uint64(32))).astype(np.uint32)


def _per_level(spec, n_levels, convert, name):
    if isinstance(spec, (list, tuple)):
        if len(spec) != n_levels:
            raise ValueError(f"{name} has {len(spec)} entries for {n_levels} levels")
        return [convert(s) for s in spec]
    return [convert(spec)] * n_levels


class MLP:
    """A noisy multilayer perceptron trained by the GLR method.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths from the input to the output, e.g. ``[196, 20, 10]``.
    activation : str, Activation or list
        One activation for every level, or one per level (see glrnet.activations).
    noise : Noise, str or list
        Neuronal noise of every level, or one per level (see glrnet.noise).
    output_activation : str or Activation, optional
        Overrides the activation of the last level.
    loss : str
        ``"cross_entropy"`` (default), ``"zero_one"``, ``"squared"`` or ``"hinge"``.
    seed : int
        Seed of the Glorot-uniform initialisation (biases start at zero).
    """

    def __init__(self, layer_sizes, activation="sigmoid", noise=None, *, output_activation=None,
                 loss="cross_entropy", seed=0):
        if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
            raise TypeError("layer_sizes must be a sequence of integers such as [196, 20, 10]")
        sizes = check_int_sequence(layer_sizes, "layer_sizes", minimum=1, maximum=modelfile.MAX_WIDTH, min_length=2)
        if len(sizes) > modelfile.MAX_LEVELS + 1:
            raise ValueError(f"layer_sizes allows at most {modelfile.MAX_LEVELS} levels, got {len(sizes) - 1}")
        count = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
        if count > modelfile.MAX_PARAMETERS:      # what a model file may hold, 4 GiB of float64
            raise ValueError(f"layer_sizes {sizes} has {count:,} parameters, {8 * count / 2**30:.1f} GiB in "
                             f"float64, above the bound of {modelfile.MAX_PARAMETERS:,}")
        self.layer_sizes = tuple(sizes)
        n_levels = len(sizes) - 1
        self.activations = _per_level(activation, n_levels, as_activation, "activation")
        if output_activation is not None:
            self.activations[-1] = as_activation(output_activation)
        self.noises: Optional[list]
        if isinstance(noise, str) and noise.lower() == "none":
            self.noises = None                  # a network without neuronal noise (the BP baseline)
        else:
            self.noises = _per_level(Gaussian(2.0) if noise is None else noise, n_levels, as_noise, "noise")
        self.loss = check_loss(loss)
        self.seed = check_seed(seed)
        self.weights, self.biases = dense.initial_parameters(sizes, self.activations, self.seed)
        self.metadata: dict = {}            # what a model file holds beside the parameters

    # ------------------------------------------------------------------ shape
    @property
    def n_levels(self) -> int:
        return len(self.layer_sizes) - 1

    @property
    def n_inputs(self) -> int:
        return self.layer_sizes[0]

    @property
    def n_classes(self) -> int:
        return self.layer_sizes[-1]

    @property
    def n_parameters(self) -> int:
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    @property
    def noisy(self) -> bool:
        """Whether the levels have neuronal noise (False for the backpropagation baseline)."""
        return self.noises is not None

    def __repr__(self):
        acts = sorted({a.name for a in self.activations})
        noises = ["none"] if self.noises is None else sorted({f"{n.name}({n.scale:g})" for n in self.noises})
        return (f"MLP({list(self.layer_sizes)}, activation={'/'.join(acts)}, noise={'/'.join(noises)}, "
                f"loss={self.loss!r})")

    def copy(self) -> "MLP":
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.activations = list(self.activations)
        other.noises = None if self.noises is None else list(self.noises)
        other.weights = [w.copy() for w in self.weights]
        other.biases = [b.copy() for b in self.biases]
        return other

    def get_parameters(self) -> list:
        """[W0, b0, W1, b1, ...] (views, not copies)."""
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def set_parameters(self, weights, biases):
        if len(weights) != self.n_levels or len(biases) != self.n_levels:
            raise ValueError(f"expected {self.n_levels} weight matrices and bias vectors")
        new_w, new_b = [], []
        for l, (w, b, w0, b0) in enumerate(zip(weights, biases, self.weights, self.biases)):
            w = np.array(w, dtype=np.float64)
            b = np.array(b, dtype=np.float64)
            if w.shape != w0.shape or b.shape != b0.shape:
                raise ValueError(f"level {l}: expected shapes {w0.shape} and {b0.shape}, got {w.shape} and {b.shape}")
            new_w.append(w)
            new_b.append(b)
        check_parameters(new_w, new_b)
        self.weights, self.biases = new_w, new_b

    # ----------------------------------------------------------- kernel glue
    def _kernel_levels(self, *, checked=True):
        if self.noises is None:
            raise ValueError("this network has no neuronal noise: GLR needs noise (train it with "
                             "estimator='backprop', predict with replications=0)")
        if checked:
            check_parameters(self.weights, self.biases)
        return {
            "weights": [np.ascontiguousarray(w, dtype=np.float32) for w in self.weights],
            "biases": [np.ascontiguousarray(b, dtype=np.float32) for b in self.biases],
            "activation": [a.code for a in self.activations],
            "slope": [a.slope for a in self.activations],
            "staircase": [a.levels for a in self.activations],
            "noise": [n.code for n in self.noises],
            "scale": [n.scale for n in self.noises],
            "shape": [n.shape for n in self.noises],
        }

    def _rqmc_steps(self, replications, flags):
        """The lattice's generating vector for a call with these flags (None without FLAG_RQMC)."""
        if not flags & _glrcore.FLAG_RQMC:
            return None
        return lattice_increments(sum(self.layer_sizes[1:]), replications // 2)

    def _check_run(self, replications, seed, step, baseline, antithetic, n_threads, rqmc=False):
        replications = check_int(replications, "replications", minimum=1, maximum=MAX_REPLICATIONS)
        seed = check_seed(seed)
        step = check_int(step, "step", minimum=0, maximum=STEP_PERIOD - 1)
        baseline = check_bool(baseline, "baseline")
        antithetic = check_bool(antithetic, "antithetic")
        if baseline and replications < 2:
            raise ValueError("baseline needs replications >= 2 (leave-one-out mean)")
        if antithetic and replications % 2:
            raise ValueError(f"antithetic pairs need an even number of replications, got {replications}")
        if baseline and antithetic and replications < 4:
            raise ValueError(f"baseline with antithetic pairs needs replications >= 4: the baseline of a "
                             f"replication leaves out its pair, and needs another pair (got {replications})")
        rqmc = check_bool(rqmc, "rqmc")
        if rqmc:
            if antithetic:
                raise ValueError("rqmc and antithetic exclude each other: the two halves of the "
                                 "replications must be independent")
            if replications % 2:
                raise ValueError(f"rqmc needs an even number of replications (two halves), got {replications}")
            student = [n.name for n in self.noises or [] if n.name == "student_t"]
            if student:
                raise ValueError("rqmc supports gaussian, laplace and logistic noise, not student_t")
        flags = ((_glrcore.FLAG_BASELINE if baseline else 0) | (_glrcore.FLAG_ANTITHETIC if antithetic else 0)
                 | (_glrcore.FLAG_RQMC if rqmc else 0))
        return replications, seed, step, flags, effective_n_threads(n_threads)

    def _check_batch(self, X, y, loss):
        X = check_features(X, self.n_inputs)
        y = check_labels(y, X.shape[0], self.n_classes)
        return X, y, self.loss if loss is None else check_loss(loss)

    def sample_noise(self, n_samples, replications, *, seed=0, step=0, antithetic=False, first=0, count=None,
                     sample_keys=None, rqmc=False):
        """The kernel's noise for (seed, step) as one float32 array per level, each (N, K, width):
        exactly what :meth:`gradient` draws (with ``sample_keys``, :func:`row_keys` of the rows: what
        :meth:`predict_proba` draws).  ``first`` and ``count`` select replications
        ``first .. first + count - 1`` of the K."""
        n_samples = check_int(n_samples, "n_samples", minimum=1)
        replications, seed, step, flags, _ = self._check_run(replications, seed, step, False, antithetic, None,
                                                             rqmc)
        first = check_int(first, "first", minimum=0, maximum=replications - 1)
        count = replications - first if count is None else check_int(count, "count", minimum=1,
                                                                      maximum=replications - first)
        noise = _glrcore.sample_noise(**self._kernel_levels(), n_samples=n_samples, replications=replications,
                                      seed=seed, step=step, flags=flags, first=first, count=count,
                                      rqmc_steps=self._rqmc_steps(replications, flags),
                                      sample_keys=sample_keys)
        bounds = np.cumsum([0] + [w.shape[0] for w in self.weights])
        return [noise[:, :, a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    # ------------------------------------------------------------- estimator
    def gradient(self, X, y, replications=1000, *, seed=0, step=0, loss=None, baseline=False,
                 antithetic=False, n_threads=None, sample_outputs=False, rqmc=False) -> GLRGradient:
        """The GLR gradient of the mean loss over a mini-batch (Eq. 4, Eq. 5, Algorithm 1).

        Parameters
        ----------
        X : (n_samples, n_inputs) array
        y : (n_samples,) integer class indices
        replications : int
            K, the noise replications per sample.
        seed, step : int
            The noise is a pure function of (seed, step, sample, replication), so a
            given (seed, step) gives bit-identical results for any ``n_threads``.
        baseline : bool
            Subtract the leave-one-out mean loss of the other K - 1 replications (a control
            variate; keeps the estimator unbiased).  With ``antithetic`` the mean of the other
            K - 2, leaving out the replication's partner, whose loss depends on the same noise
            (K >= 4).
        antithetic : bool
            Replication k + K/2 uses the negated noise of replication k.
        rqmc : bool
            Randomized quasi-Monte Carlo noise (:mod:`glrnet.method.rqmc`): each half of the
            K replications is a randomly shifted rank-1 lattice of K/2 points, the halves independent;
            with ``baseline`` the baseline of a half is the mean loss of the other half
            (cross-fitted).  Unbiased; K even; not with ``antithetic`` nor Student-t noise.
        """
        X, y, loss = self._check_batch(X, y, loss)
        sample_outputs = check_bool(sample_outputs, "sample_outputs")
        replications, seed, step, flags, threads = self._check_run(replications, seed, step, baseline,
                                                                  antithetic, n_threads, rqmc)
        out = self._estimate(X, y, loss, replications, seed, step, flags, threads, sample_outputs=sample_outputs)
        return GLRGradient(out["grad_weights"], out["grad_biases"], out["loss"], out["accuracy"],
                           out.get("sample_loss"), out.get("sample_accuracy"), out.get("sample_first_score"))

    def _gradient_stepper(self, X, y, batch_size, replications, *, seed, baseline, antithetic, n_threads,
                          rqmc=False):
        """For train(): every argument checked once, then ``stepper(index, step, X_batch=None)``, the GLR
        gradient of the rows ``index`` with noise step ``step``: one kernel call without per-step checks
        (train checks the parameters after every update).  The same bits as :meth:`gradient`.
        ``X_batch``, if given, replaces ``X[index]`` as the inputs (finite, ``len(index)`` rows: train's
        data augmentation); the labels stay ``y[index]``."""
        X = check_features(X, self.n_inputs)
        y = check_labels(y, X.shape[0], self.n_classes)
        replications, seed, _, flags, threads = self._check_run(replications, seed, 0, baseline, antithetic,
                                                               n_threads, rqmc)
        _check_kernel_memory(self.layer_sizes, min(batch_size, X.shape[0]), replications, threads, gradient=True,
                             baseline=baseline, antithetic=antithetic, rqmc=bool(rqmc))
        self._kernel_levels()
        X32, code = np.ascontiguousarray(X, dtype=np.float32), LOSS_CODES[self.loss]
        steps = self._rqmc_steps(replications, flags)

        def stepper(index, step, X_batch=None):
            inputs = X32[index] if X_batch is None else np.ascontiguousarray(X_batch, dtype=np.float32)
            out = _glrcore.estimate(**self._kernel_levels(checked=False), X=inputs, y=y[index], loss=code,
                                    replications=replications, seed=seed, step=step, flags=flags, n_threads=threads,
                                    rqmc_steps=steps)
            return GLRGradient(out["grad_weights"], out["grad_biases"], out["loss"], out["accuracy"])

        return stepper

    def pathwise_gradient(self, X, y, replications=100, *, seed=0, step=0, loss=None) -> GLRGradient:
        """Backpropagation through the noise (the pathwise or IPA estimator, Eq. 3).

        The same noisy network and the same noise stream as :meth:`gradient`, but the
        gradient is the mean over ``replications`` draws of backpropagation through
        each noisy forward pass (phi' at the noisy pre-activations).  It needs
        continuous, almost everywhere differentiable activations and a differentiable
        loss, which is exactly what GLR does without; where both apply they estimate
        the same gradient.  For a network without noise (the BP baseline) this is the
        exact backpropagation gradient, and ``replications`` has no effect.
        """
        X, y, loss = self._check_batch(X, y, loss)
        if loss not in DIFFERENTIABLE:
            raise ValueError(f"the pathwise gradient needs a differentiable loss ({', '.join(DIFFERENTIABLE)}), "
                             f"not {loss!r}")
        discontinuous = [a.name for a in self.activations if not a.continuous]
        if discontinuous:
            raise ValueError(f"the pathwise gradient needs continuous activations, not {discontinuous[0]!r}; "
                             f"train it with GLR")
        if not self.noisy:
            inputs, pre, out = dense.forward(X, self.weights, self.biases, self.activations)
            losses, upstream = loss_and_output_gradient(loss, out, y)
            grad_w, grad_b, _ = dense.backward(upstream / losses.size, self.weights, inputs, pre, self.activations)
            return GLRGradient(grad_w, grad_b, float(np.mean(losses)),
                               float(correct_fraction(self._ranked(pre, out), y).mean()))
        replications = check_int(replications, "replications", minimum=1, maximum=MAX_REPLICATIONS)
        n = X.shape[0]
        # a chunk of replications at a time: the arrays are (n, count, width), float64
        per_replication = 8 * n * (self.n_inputs + 4 * sum(self.layer_sizes[1:]))
        span = max(1, min(replications, PATHWISE_CHUNK_BYTES // per_replication))
        grad_w = [np.zeros_like(w) for w in self.weights]
        grad_b = [np.zeros_like(b) for b in self.biases]
        loss_sum = correct_sum = 0.0
        for first in range(0, replications, span):
            count = min(span, replications - first)
            noise = [r.astype(np.float64) for r in self.sample_noise(n, replications, seed=seed, step=step,
                                                                     first=first, count=count)]
            inputs, pre, out = dense.forward(np.broadcast_to(X[:, None, :], (n, count, X.shape[1])), self.weights,
                                             self.biases, self.activations, noise)
            losses, upstream = loss_and_output_gradient(loss, out, y[:, None])
            part_w, part_b, _ = dense.backward(upstream / (n * replications), self.weights, inputs, pre,
                                               self.activations)
            for total, part in zip(grad_w + grad_b, part_w + part_b):
                total += part
            loss_sum += float(losses.sum())
            correct_sum += float(correct_fraction(self._ranked(pre, out), y[:, None]).sum())
        return GLRGradient(grad_w, grad_b, loss_sum / (n * replications), correct_sum / (n * replications))

    def input_gradient(self, X, y, replications=1000, *, seed=0, step=0, loss=None, n_threads=None):
        """Estimate of d E[L] / d x for every sample: (per-sample mean loss, gradient shaped like X).

        With noise, the likelihood-ratio estimate: the input enters only through the
        first level, u = W0 x + b0 + r, so d E[L] / d x = W0^T E[L psi(r^(1))], the
        kernel's per-sample first-level score weight times W0.  It works for
        discontinuous networks, where the pathwise (backprop) input gradient is zero
        almost everywhere.  Without noise: exact backpropagation.
        """
        if not self.noisy:
            X, y, loss = self._check_batch(X, y, loss)
            inputs, pre, out = dense.forward(X, self.weights, self.biases, self.activations)
            losses, upstream = loss_and_output_gradient(loss, out, y)
            return losses, dense.backward(upstream, self.weights, inputs, pre, self.activations,
                                          parameters=False, input=True)[2]
        est = self.gradient(X, y, replications, seed=seed, step=step, loss=loss, n_threads=n_threads,
                            sample_outputs=True)
        return est.sample_loss, est.first_score @ self.weights[0]

    def evaluate(self, X, y, replications=1000, *, seed=0, step=0, loss=None, n_threads=None) -> dict:
        """Mean loss and accuracy under neuronal noise (``replications=0``, or a network without
        noise: noise-free)."""
        X, y, loss = self._check_batch(X, y, loss)
        replications = check_int(replications, "replications", minimum=0, maximum=MAX_REPLICATIONS)
        if replications == 0 or not self.noisy:
            out, ranked = self._noise_free(X)
            correct = correct_fraction(ranked, y)
            losses = 1.0 - correct if loss == "zero_one" else loss_values(loss, out, y)
            return {"loss": float(losses.mean()), "accuracy": float(correct.mean())}
        # keyed by the row index, as the training's validation has always been
        replications, seed, step, flags, threads = self._check_run(replications, seed, step, False, False,
                                                                  n_threads)
        out = self._estimate(X, y, loss, replications, seed, step, _glrcore.FLAG_NO_GRADIENT, threads)
        return {"loss": out["loss"], "accuracy": out["accuracy"]}

    def _estimate(self, X, y, loss, replications, seed, step, flags, threads, **outputs):
        """One kernel call (checked arguments), after checking what it would take of memory."""
        _check_kernel_memory(self.layer_sizes, X.shape[0], replications, threads,
                             gradient=not flags & _glrcore.FLAG_NO_GRADIENT,
                             baseline=bool(flags & _glrcore.FLAG_BASELINE),
                             antithetic=bool(flags & _glrcore.FLAG_ANTITHETIC),
                             rqmc=bool(flags & _glrcore.FLAG_RQMC),
                             **{k: bool(v) for k, v in outputs.items() if k != "sample_keys"})
        return _glrcore.estimate(**self._kernel_levels(), X=X, y=y, loss=LOSS_CODES[loss], replications=replications,
                                 seed=seed, step=step, flags=flags, n_threads=threads,
                                 rqmc_steps=self._rqmc_steps(replications, flags), **outputs)

    def _ranked(self, pre_activations, out):
        """What the arg-max ranks: the output pre-activations when the output activation saturates
        (sigmoid, tanh: strictly increasing, so the order is the outputs' exact order), else the
        outputs."""
        return pre_activations[-1] if self.activations[-1].name in _RANK_ON_PREACTIVATION else out

    def _noise_free(self, X):
        """(outputs, ranked values) of the noise-free forward pass."""
        _, pre, out = dense.forward(X, self.weights, self.biases, self.activations)
        return out, self._ranked(pre, out)

    # ------------------------------------------------------------ prediction
    def forward(self, X, *, return_all=False):
        """Noise-free forward pass (float64): the output activations x^(tau)
        (``return_all``: the input and every level's activations)."""
        x = check_features(X, self.n_inputs)
        inputs, _, out = dense.forward(x, self.weights, self.biases, self.activations)
        return inputs + [out] if return_all else out

    def predict_proba(self, X, replications=0, *, seed=0, step=0, kind="softmax", n_threads=None):
        """Class probabilities.

        ``replications=0`` (or a network without noise): softmax of the noise-free
        output.  Otherwise the noise is kept (as in the paper) and averaged over
        ``replications`` draws: ``kind="softmax"`` averages softmax(x^(tau));
        ``kind="votes"`` gives how often each class wins the arg-max (ties split evenly;
        sigmoid and tanh outputs are ranked by their pre-activations, which do not saturate).
        The noise of a row is keyed by the row's values (:func:`row_keys`), not its position,
        so ``predict_proba(X)[i] == predict_proba(X[[i]])[0]``.
        """
        check_option(kind, "kind", ("softmax", "votes"))
        X = check_features(X, self.n_inputs)
        replications = check_int(replications, "replications", minimum=0, maximum=MAX_REPLICATIONS)
        if replications == 0 or not self.noisy:
            out, ranked = self._noise_free(X)
            if kind == "votes":
                peak = ranked.max(axis=1, keepdims=True)
                return (ranked == peak) / (ranked == peak).sum(axis=1, keepdims=True)
            return softmax(out)
        replications, seed, step, flags, threads = self._check_run(replications, seed, step, False, False,
                                                                  n_threads)
        out = self._estimate(X, None, "cross_entropy", replications, seed, step, _glrcore.FLAG_NO_GRADIENT,
                             threads, proba=kind == "softmax", votes=kind == "votes", sample_keys=row_keys(X))
        return out["proba" if kind == "softmax" else "votes"]

    def predict(self, X, replications=0, **kwargs):
        """Most probable class (see predict_proba); the first of tied classes.  Noise-free: the
        arg-max of the output itself (of its pre-activation for sigmoid and tanh outputs)."""
        if replications == 0 or not self.noisy:
            check_option(kwargs.get("kind", "softmax"), "kind", ("softmax", "votes"))
            return np.argmax(self._noise_free(check_features(X, self.n_inputs))[1], axis=1)
        return np.argmax(self.predict_proba(X, replications, **kwargs), axis=1)

    def score(self, X, y, replications=0, **kwargs) -> float:
        """Accuracy of the predictions, a tie among t classes counting 1/t (as in ``evaluate`` and
        ``GLRClassifier.score``). ``predict``, and the robustness accuracies built on it, take the first
        of tied classes; with continuous output noise averaged over replications, ties do not occur."""
        X = check_features(X, self.n_inputs)
        y = check_labels(y, X.shape[0], self.n_classes)
        if replications == 0 or not self.noisy:
            check_option(kwargs.get("kind", "softmax"), "kind", ("softmax", "votes"))
            return float(np.mean(correct_fraction(self._noise_free(X)[1], y)))
        return float(np.mean(correct_fraction(self.predict_proba(X, replications, **kwargs), y)))

    # --------------------------------------------------------- attack protocol
    def loss_gradient(self, X, y, *, replications=1000, seed=0):
        """(per-sample loss, d loss / d X): the protocol glrnet.robustness.attacks uses.

        With noise, the likelihood-ratio estimate of ``input_gradient`` (no gradient
        masking by discontinuities), on fresh noise at every call; without noise, the
        exact gradient of the loss.
        """
        self._attack_calls = getattr(self, "_attack_calls", 0) + 1
        return self.input_gradient(X, y, replications, seed=seed, step=self._attack_calls % STEP_PERIOD)

    # ------------------------------------------------------------ persistence
    def get_config(self) -> dict:
        return {
            "layer_sizes": list(self.layer_sizes),
            "activations": [a.params() for a in self.activations],
            "noises": None if self.noises is None else [n.params() for n in self.noises],
            "loss": self.loss,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict) -> "MLP":
        noises = "none" if config["noises"] is None else [as_noise(n) for n in config["noises"]]
        return cls(config["layer_sizes"], [Activation(**a) for a in config["activations"]], noises,
                   loss=config["loss"], seed=config.get("seed", 0))

    def save(self, path, *, metadata=None):
        """Write the model to one ``.npz`` file, atomically, without pickle (glrnet.modelfile)."""
        modelfile.write(path, self.get_config(), self.weights, self.biases, metadata)

    @classmethod
    def load(cls, path) -> "MLP":
        """Read a model file written by :meth:`save` (or by glrnet 0.1's BP baseline);
        ``model.metadata`` holds the saved metadata."""
        config, weights, biases, metadata = modelfile.read(path)
        try:
            model = cls.from_config(config)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path} holds an invalid glrnet model configuration: {exc}") from exc
        model.set_parameters(weights, biases)
        model.metadata = metadata
        return model


def save_model(model, path, *, metadata=None):
    """Save an MLP (and optional JSON-serialisable ``metadata``) to ``path``."""
    model.save(path, metadata=metadata)


load_model = MLP.load


def baseline_network(layer_sizes, activation="sigmoid", *, seed=0) -> MLP:
    """The paper's backpropagation (BP) baseline: the same network without neuronal noise, with a
    linear output level (logits) and the softmax cross-entropy; train it with
    ``train(..., estimator="backprop")``."""
    return MLP(layer_sizes, activation, "none", output_activation="identity", seed=seed)


def build_mlp(n_inputs, n_classes, *, hidden=(20,), activation="sigmoid", output_activation=None, slope=1.0,
              levels=4, noise="gaussian", noise_scale=2.0, nu=5.0, loss="cross_entropy", seed=0) -> MLP:
    """An MLP from flat options (the command line's and GLRClassifier's): one activation with
    ``slope`` and ``levels`` for every level, one noise family with ``noise_scale`` (and ``nu``
    for Student-t)."""
    act = Activation(activation, slope, levels)
    out_act = None if output_activation is None else Activation(output_activation, slope, levels)
    family = "none" if noise == "none" else as_noise(noise, noise_scale)
    if isinstance(family, StudentT):
        family = StudentT(nu, noise_scale)
    return MLP([n_inputs, *hidden, n_classes], act, family, output_activation=out_act, loss=loss, seed=seed)
