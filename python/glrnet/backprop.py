"""Deprecated: glrnet 0.1's backpropagation (BP) baseline class.

The BP baseline is now a configuration of the one network class
(the same as :class:`BPNetwork` builds),
``glrnet.baseline_network(layer_sizes, activation, seed=...)`` (an MLP without
neuronal noise and with a linear output level), trained by the one training loop,
``glrnet.train(net, X, y, estimator="backprop", ...)``, and saved in the one model
file format.  :class:`BPNetwork` keeps glrnet 0.1's interface on top of them.
"""
from __future__ import annotations

import warnings

from ._validation import check_option
from .method import dense
from .method.network import MLP
from .method.training import train

__all__ = ["BPNetwork", "save_bp", "load_bp"]

warnings.warn("glrnet.backprop is deprecated: use glrnet.baseline_network and glrnet.train(..., "
              "estimator='backprop')", DeprecationWarning, stacklevel=2)


class BPNetwork(MLP):
    """glrnet 0.1's BP network: ``baseline_network(layer_sizes, activation, seed=seed)`` with
    ``fit``, ``logits`` and ``parameter_gradient``.  (``loss`` is now the loss's name, as on every
    MLP; the mean loss is ``evaluate(X, y)["loss"]``.)"""

    def __init__(self, layer_sizes, activation="sigmoid", *, seed=0):
        check_option(activation, "activation", ("sigmoid", "relu", "tanh"))
        MLP.__init__(self, layer_sizes, activation, "none", output_activation="identity", seed=seed)
        if self.n_classes < 2:
            raise ValueError(f"layer_sizes must end with at least 2 classes, got {self.n_classes}")
        self.activation = activation
        self.history_ = {}

    @classmethod
    def from_config(cls, config):
        return cls(config["layer_sizes"], config["activations"][0]["name"], seed=config.get("seed", 0))

    @property
    def n_features(self) -> int:
        return self.n_inputs

    def reset_parameters(self):
        self.weights, self.biases = dense.initial_parameters(self.layer_sizes, self.activations, self.seed)
        return self

    def logits(self, X):
        return self.forward(X)

    def parameter_gradient(self, X, y):
        """(mean cross-entropy, [(dW, db) per level]): exact backpropagation (Eq. 3)."""
        est = self.pathwise_gradient(X, y)
        return est.loss, list(zip(est.weights, est.biases))

    def fit(self, X, y, *, epochs=12, batch_size=25, learning_rate=0.1, optimizer="sgd", momentum=0.9, seed=0,
            X_val=None, y_val=None, progress=False, warm_start=False):
        """Re-initialise (unless ``warm_start``) and train by ``glrnet.train(..., estimator="backprop")``;
        ``history_`` holds the loss and accuracy on the whole training set after every epoch."""
        if not warm_start:
            self.reset_parameters()
        self.history_ = {"train_loss": [], "train_accuracy": []}
        if X_val is not None or y_val is not None:
            self.history_.update(val_loss=[], val_accuracy=[])

        def record(epoch, history):
            on_train = self.evaluate(X, y)
            self.history_["train_loss"].append(on_train["loss"])
            self.history_["train_accuracy"].append(on_train["accuracy"])
            if history.val_loss:
                self.history_["val_loss"].append(history.val_loss[-1])
                self.history_["val_accuracy"].append(history.val_accuracy[-1])

        train(self, X, y, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, optimizer=optimizer,
              momentum=momentum, seed=seed, X_val=X_val, y_val=y_val, progress=progress, estimator="backprop",
              callback=record)
        return self


def save_bp(network, path, *, metadata=None):
    """``network.save`` (the one model-file format), with ``history_`` in the metadata."""
    network.save(path, metadata={"history": getattr(network, "history_", {}), **(metadata or {})})


def load_bp(path) -> BPNetwork:
    """Read a BP model file (glrnet 0.1's format or the current one)."""
    network = BPNetwork.load(path)
    assert isinstance(network, BPNetwork)
    network.history_ = network.metadata.get("history", {})
    return network
