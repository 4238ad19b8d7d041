"""Back-propagation (BP) baseline: a plain numpy multilayer perceptron.

This module provides :class:`BPNetwork`, the reference network against which
the GLR-trained networks of the paper are compared (Section III, "the ANN
with the same structure ... trained by BP is used as the baseline").  It is
also the network used to *craft* adversarial examples (the paper's
two-hidden-layer surrogate, Fig. 4(b)), which is why it implements the
"differentiable model" protocol consumed by :mod:`glrnet.attacks`:

``loss_gradient(X, y) -> (loss, grad)``
    per-sample cross-entropy ``loss`` of shape ``(n,)`` and its gradient with
    respect to the *input* ``X`` (same shape as ``X``).

``predict(X) -> labels``
    arg-max class labels.

Architecture
------------
``layer_sizes = (d, h_1, ..., h_k, K)`` describes an MLP with ``k`` hidden
layers using the activation ``"sigmoid"`` (the paper's :math:`\\varphi_1`),
``"relu"`` or ``"tanh"``, and a *linear* output layer that returns logits.
The loss is the softmax cross-entropy, evaluated with a log-sum-exp so it is
finite for any logits.  Weights are stored as ``weights[l]`` of shape
``(out, in)`` and ``biases[l]`` of shape ``(out,)``; everything is float64.

Gradients
---------
:meth:`BPNetwork.parameter_gradient` implements the exact BP estimator of the
paper's Eq. (3): with the error signal :math:`e = p - o` at the logits
(softmax minus one-hot target) the deltas are propagated backwards through
:math:`\\delta^{(t)} = \\varphi'(v^{(t-1)}) \\odot (\\theta^{(t)})^\\top
\\delta^{(t+1)}` and the weight derivative is :math:`\\delta_a x_b`.

Examples
--------
>>> import numpy as np
>>> from glrnet.backprop import BPNetwork
>>> rng = np.random.default_rng(0)
>>> X = rng.random((100, 4)); y = (X[:, 0] > 0.5).astype(int)
>>> net = BPNetwork([4, 8, 2], seed=0).fit(X, y, epochs=20, learning_rate=0.5)
>>> net.score(X, y) > 0.8
True
"""

from __future__ import annotations

import numbers
from typing import Dict, List, Sequence, Tuple

import numpy as np
from scipy.special import expit, logsumexp, softmax
from tqdm.auto import tqdm

__all__ = ["BPNetwork", "ACTIVATIONS", "OPTIMIZERS", "save_bp", "load_bp"]

#: Supported hidden-layer activations.
ACTIVATIONS: Tuple[str, ...] = ("sigmoid", "relu", "tanh")
#: Supported optimisers for :meth:`BPNetwork.fit`.
OPTIMIZERS: Tuple[str, ...] = ("sgd", "momentum", "adam")

_ADAM_BETA2 = 0.999
_ADAM_EPS = 1e-8


# --------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------
def _check_positive_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


def _check_positive_float(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite positive number, got {value}")
    return value


def _check_X(X, n_features: int, name: str = "X") -> np.ndarray:
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array: {exc}") from None
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features but the network expects {n_features}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one sample")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_y(y, n_samples: int, n_classes: int, name: str = "y") -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} labels but X has {n_samples} samples")
    if arr.dtype.kind in "iu":
        labels = arr.astype(np.int64)
    elif arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must contain integer class labels")
        labels = arr.astype(np.int64)
    elif arr.dtype.kind == "b":
        raise TypeError(f"{name} must contain integer class labels, got booleans")
    else:
        raise TypeError(f"{name} must contain integer class labels, got dtype {arr.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"{name} contains labels outside [0, {n_classes - 1}] "
            f"(min {labels.min()}, max {labels.max()})"
        )
    return labels


# --------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------
def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return expit(z)
    if name == "tanh":
        return np.tanh(z)
    return np.maximum(z, 0.0)


def _act_deriv(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Derivative of the activation given pre-activation ``z`` and output ``a``."""
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a * a
    return (z > 0).astype(np.float64)


class BPNetwork:
    """Multilayer perceptron trained by exact back-propagation.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(n_features, hidden_1, ..., n_classes)``; at least two entries, all
        positive, and at least two classes.  The paper's baseline is
        ``(196, 20, 10)`` and its adversarial surrogate ``(196, h1, h2, 10)``.
    activation : {"sigmoid", "relu", "tanh"}, default "sigmoid"
        Hidden-layer activation.  The output layer is linear (logits).
    seed : int, default 0
        Seed of the ``numpy.random.default_rng`` used for the initial weights:
        Glorot-uniform for sigmoid/tanh layers, He-normal for ReLU layers,
        Glorot-uniform for the output layer; biases start at zero.

    Attributes
    ----------
    weights : list of ndarray
        ``weights[l]`` has shape ``(layer_sizes[l+1], layer_sizes[l])``.
    biases : list of ndarray
        ``biases[l]`` has shape ``(layer_sizes[l+1],)``.
    history_ : dict of list of float
        Set by :meth:`fit`; see there.
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str = "sigmoid", *, seed: int = 0):
        if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
            raise TypeError("layer_sizes must be a sequence of ints")
        if len(layer_sizes) < 2:
            raise ValueError(
                f"layer_sizes needs at least an input and an output size, got {list(layer_sizes)}"
            )
        sizes = [_check_positive_int(s, "layer_sizes entry") for s in layer_sizes]
        if sizes[-1] < 2:
            raise ValueError(f"layer_sizes must end with at least 2 classes, got {sizes[-1]}")
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.layer_sizes: Tuple[int, ...] = tuple(sizes)
        self.activation: str = activation
        self.seed: int = int(seed)
        self.history_: Dict[str, List[float]] = {}
        self.reset_parameters()

    # ------------------------------------------------------------------ setup
    def reset_parameters(self) -> "BPNetwork":
        """Re-draw the initial weights from ``seed`` (biases set to zero)."""
        rng = np.random.default_rng(self.seed)
        self.weights: List[np.ndarray] = []
        self.biases: List[np.ndarray] = []
        n_layers = len(self.layer_sizes) - 1
        for l in range(n_layers):
            fan_in, fan_out = self.layer_sizes[l], self.layer_sizes[l + 1]
            hidden = l < n_layers - 1
            if hidden and self.activation == "relu":
                W = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in))
            else:
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                W = rng.uniform(-limit, limit, size=(fan_out, fan_in))
            self.weights.append(W)
            self.biases.append(np.zeros(fan_out))
        return self

    @property
    def n_features(self) -> int:
        """Input dimension."""
        return self.layer_sizes[0]

    @property
    def n_classes(self) -> int:
        """Number of output classes."""
        return self.layer_sizes[-1]

    def __repr__(self) -> str:
        return (
            f"BPNetwork(layer_sizes={list(self.layer_sizes)}, "
            f"activation={self.activation!r}, seed={self.seed})"
        )

    # ---------------------------------------------------------------- forward
    def _forward(self, X: np.ndarray) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Return pre-activations ``zs`` (one per layer) and activations ``acts``.

        ``acts[0]`` is ``X``; ``acts[l+1] = phi(zs[l])`` for hidden layers; the
        last entry of ``zs`` holds the logits (no activation applied).
        """
        acts = [X]
        zs = []
        n_layers = len(self.weights)
        a = X
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            z = a @ W.T + b
            zs.append(z)
            if l < n_layers - 1:
                a = _act(self.activation, z)
                acts.append(a)
        return zs, acts

    def _backward(
        self, zs: List[np.ndarray], acts: List[np.ndarray], delta: np.ndarray, *, need_params: bool,
        need_input: bool,
    ):
        """Propagate ``delta`` (d loss / d logits) backwards (Eq. 3)."""
        grads = [None] * len(self.weights)
        dX = None
        for l in range(len(self.weights) - 1, -1, -1):
            if need_params:
                grads[l] = (delta.T @ acts[l], delta.sum(axis=0))
            if l > 0:
                delta = (delta @ self.weights[l]) * _act_deriv(self.activation, zs[l - 1], acts[l])
            elif need_input:
                dX = delta @ self.weights[0]
        return grads, dX

    @staticmethod
    def _ce(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-sample softmax cross-entropy, stable via log-sum-exp."""
        return logsumexp(logits, axis=1) - logits[np.arange(logits.shape[0]), y]

    def _error_signal(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
        """d CE / d logits per sample: ``softmax(logits) - onehot(y)``."""
        p = softmax(logits, axis=1)
        p[np.arange(p.shape[0]), y] -= 1.0
        return p

    # ------------------------------------------------------------- inference
    def logits(self, X) -> np.ndarray:
        """Output-layer logits, shape ``(n, n_classes)``."""
        X = _check_X(X, self.n_features)
        return self._forward(X)[0][-1]

    def predict_proba(self, X) -> np.ndarray:
        """Softmax class probabilities, shape ``(n, n_classes)``."""
        return softmax(self.logits(X), axis=1)

    def predict(self, X) -> np.ndarray:
        """Predicted class labels (arg-max of the logits), shape ``(n,)``."""
        return np.argmax(self.logits(X), axis=1)

    def score(self, X, y) -> float:
        """Classification accuracy on ``(X, y)``."""
        X = _check_X(X, self.n_features)
        y = _check_y(y, X.shape[0], self.n_classes)
        return float(np.mean(np.argmax(self._forward(X)[0][-1], axis=1) == y))

    def loss(self, X, y) -> float:
        """Mean softmax cross-entropy on ``(X, y)``."""
        X = _check_X(X, self.n_features)
        y = _check_y(y, X.shape[0], self.n_classes)
        return float(np.mean(self._ce(self._forward(X)[0][-1], y)))

    # -------------------------------------------------------------- gradients
    def parameter_gradient(self, X, y) -> Tuple[float, List[Tuple[np.ndarray, np.ndarray]]]:
        """Exact BP gradient of the mean cross-entropy (the paper's Eq. 3).

        Returns
        -------
        loss : float
            Mean cross-entropy over the batch.
        grads : list of (dW, db)
            One pair per layer, shapes matching ``weights[l]`` and ``biases[l]``.
        """
        X = _check_X(X, self.n_features)
        y = _check_y(y, X.shape[0], self.n_classes)
        return self._parameter_gradient(X, y)

    def _parameter_gradient(self, X: np.ndarray, y: np.ndarray):
        zs, acts = self._forward(X)
        logits = zs[-1]
        loss = float(np.mean(self._ce(logits, y)))
        delta = self._error_signal(logits, y) / X.shape[0]
        grads, _ = self._backward(zs, acts, delta, need_params=True, need_input=False)
        return loss, grads

    def loss_gradient(self, X, y) -> Tuple[np.ndarray, np.ndarray]:
        """Per-sample loss and its gradient with respect to the input.

        This is the "differentiable model" protocol used by
        :mod:`glrnet.attacks`.

        Parameters
        ----------
        X : array_like, shape (n, n_features)
        y : array_like of int, shape (n,)
            Class whose cross-entropy is differentiated (true label for an
            untargeted attack, target label for a targeted one).

        Returns
        -------
        loss : ndarray, shape (n,)
            ``-log softmax(logits)[y]`` per sample.
        grad : ndarray, shape (n, n_features)
            ``d loss[i] / d X[i]`` (row ``i`` depends only on sample ``i``).
        """
        X = _check_X(X, self.n_features)
        y = _check_y(y, X.shape[0], self.n_classes)
        zs, acts = self._forward(X)
        logits = zs[-1]
        loss = self._ce(logits, y)
        _, dX = self._backward(zs, acts, self._error_signal(logits, y), need_params=False,
                               need_input=True)
        return loss, dX

    # --------------------------------------------------------------- training
    def fit(
        self,
        X,
        y,
        *,
        epochs: int = 12,
        batch_size: int = 25,
        learning_rate: float = 0.1,
        optimizer: str = "sgd",
        momentum: float = 0.9,
        seed: int = 0,
        X_val=None,
        y_val=None,
        progress: bool = False,
        warm_start: bool = False,
    ) -> "BPNetwork":
        """Train by mini-batch stochastic approximation (the paper's Eq. 1).

        Parameters
        ----------
        X : array_like, shape (n, n_features)
        y : array_like of int, shape (n,)
        epochs : int, default 12
            Passes over the training set (the paper trains for 12 epochs).
        batch_size : int, default 25
            Mini-batch size (the paper's 25).  The last batch of an epoch may
            be smaller.
        learning_rate : float, default 0.1
            Step size (the paper's 0.1).
        optimizer : {"sgd", "momentum", "adam"}, default "sgd"
            ``"momentum"`` is classical (heavy-ball) momentum
            ``v <- momentum * v - lr * g; w <- w + v``; ``"adam"`` uses
            ``beta1 = momentum``, ``beta2 = 0.999``, ``eps = 1e-8``.
        momentum : float in [0, 1), default 0.9
            Used by ``"momentum"`` and as Adam's ``beta1``.
        seed : int, default 0
            Seed of the mini-batch shuffling.
        X_val, y_val : array_like, optional
            Validation data, evaluated at the end of every epoch.  Give both
            or neither.
        progress : bool, default False
            Show a ``tqdm`` progress bar over epochs.
        warm_start : bool, default False
            Continue from the current weights instead of re-initialising them
            from the constructor ``seed``.  With the default, ``fit`` is
            deterministic given the constructor seed and ``seed``.

        Returns
        -------
        self

        Notes
        -----
        ``history_`` receives per-epoch lists ``train_loss`` and
        ``train_accuracy`` (evaluated on the full training set after each
        epoch) and, only when validation data are given, ``val_loss`` and
        ``val_accuracy``.
        """
        X = _check_X(X, self.n_features, "X")
        y = _check_y(y, X.shape[0], self.n_classes, "y")
        epochs = _check_positive_int(epochs, "epochs")
        batch_size = _check_positive_int(batch_size, "batch_size")
        learning_rate = _check_positive_float(learning_rate, "learning_rate")
        if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        if isinstance(momentum, (bool, np.bool_)) or not isinstance(momentum, numbers.Real):
            raise TypeError(f"momentum must be a real number, got {type(momentum).__name__}")
        momentum = float(momentum)
        if not (0.0 <= momentum < 1.0):
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        has_val = X_val is not None
        if has_val:
            X_val = _check_X(X_val, self.n_features, "X_val")
            y_val = _check_y(y_val, X_val.shape[0], self.n_classes, "y_val")

        if not warm_start:
            self.reset_parameters()
        params = [p for pair in zip(self.weights, self.biases) for p in pair]
        state1 = [np.zeros_like(p) for p in params]
        state2 = [np.zeros_like(p) for p in params]
        step = 0

        history: Dict[str, List[float]] = {"train_loss": [], "train_accuracy": []}
        if has_val:
            history["val_loss"] = []
            history["val_accuracy"] = []
        self.history_ = history

        rng = np.random.default_rng(seed)
        n = X.shape[0]
        bar = tqdm(range(epochs), desc="BP training", unit="epoch", disable=not progress)
        for _ in bar:
            order = rng.permutation(n)
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                _, grads = self._parameter_gradient(X[idx], y[idx])
                flat = [g for pair in grads for g in pair]
                step += 1
                for p, g, s1, s2 in zip(params, flat, state1, state2):
                    if optimizer == "sgd":
                        p -= learning_rate * g
                    elif optimizer == "momentum":
                        s1 *= momentum
                        s1 -= learning_rate * g
                        p += s1
                    else:  # adam
                        s1 *= momentum
                        s1 += (1.0 - momentum) * g
                        s2 *= _ADAM_BETA2
                        s2 += (1.0 - _ADAM_BETA2) * g * g
                        m_hat = s1 / (1.0 - momentum ** step)
                        v_hat = s2 / (1.0 - _ADAM_BETA2 ** step)
                        p -= learning_rate * m_hat / (np.sqrt(v_hat) + _ADAM_EPS)
            logits = self._forward(X)[0][-1]
            history["train_loss"].append(float(np.mean(self._ce(logits, y))))
            history["train_accuracy"].append(float(np.mean(np.argmax(logits, axis=1) == y)))
            postfix = {"loss": history["train_loss"][-1], "acc": history["train_accuracy"][-1]}
            if has_val:
                vlogits = self._forward(X_val)[0][-1]
                history["val_loss"].append(float(np.mean(self._ce(vlogits, y_val))))
                history["val_accuracy"].append(
                    float(np.mean(np.argmax(vlogits, axis=1) == y_val))
                )
                postfix["val_acc"] = history["val_accuracy"][-1]
            if progress:
                bar.set_postfix(postfix)
        bar.close()
        return self


# --------------------------------------------------------------------------
# persistence (same container as glrnet.io: .npz + JSON header, no pickle)
# --------------------------------------------------------------------------
BP_FORMAT = "glrnet-bp"


def save_bp(network: BPNetwork, path, *, metadata=None) -> None:
    """Write a BPNetwork to one ``.npz`` file, atomically and without pickle."""
    import json

    from .io import atomic_savez

    header = {"format": BP_FORMAT, "version": 1, "layer_sizes": list(network.layer_sizes),
              "activation": network.activation, "seed": network.seed,
              "history": network.history_, "metadata": metadata or {}}
    arrays = {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)}
    for l, (w, b) in enumerate(zip(network.weights, network.biases)):
        arrays[f"weight_{l}"] = w
        arrays[f"bias_{l}"] = b
    atomic_savez(path, **arrays)


def load_bp(path) -> BPNetwork:
    """Read a BPNetwork written by :func:`save_bp`."""
    import json

    from .io import open_archive

    with open_archive(path, "glrnet BP model file") as archive:
        if "header" not in archive.files:
            raise ValueError(f"{path} is not a glrnet BP model file")
        header = json.loads(archive["header"].tobytes().decode("utf-8"))
        if header.get("format") != BP_FORMAT:
            raise ValueError(f"{path} is not a glrnet BP model file (format {header.get('format')!r})")
        try:
            network = BPNetwork(header["layer_sizes"], header["activation"], seed=header["seed"])
            network.weights = [archive[f"weight_{l}"].astype(np.float64) for l in range(len(network.weights))]
            network.biases = [archive[f"bias_{l}"].astype(np.float64) for l in range(len(network.biases))]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path} is an incomplete glrnet BP model file: missing {exc}") from exc
    network.history_ = header.get("history", {})
    network.metadata = header.get("metadata", {})
    return network
