"""Models under test for the robustness experiments (Section III.C and III.D).

The attacks in :mod:`glrnet.robustness.attacks` and the corruption metric in
:mod:`glrnet.robustness.corruptions` need ``predict``, ``predict_proba`` and
``loss_gradient``.  :class:`NoisyModel` provides them for a GLR-trained
:class:`~glrnet.method.network.MLP` the way the paper uses such networks: the neuronal
noise is kept at prediction time (averaged over ``predict_replications`` draws),
and the input gradient an adaptive attacker uses is the likelihood-ratio estimate
``d E[L] / d x = W0^T E[L psi(r^(1))]`` over ``gradient_replications`` draws.
That estimate is unbiased even for step activations, whose pathwise gradient is
zero almost everywhere, so the robustness is not overstated by gradient masking.

:class:`SmoothedSurrogate` is a second, independent attacker's gradient (BPDA,
Athalye, Carlini & Wagner 2018): backpropagation through a smooth stand-in of the
network in which every activation is replaced by its noise average
``phi_bar(v) = E[phi(v + r)]`` (for a threshold unit under Gaussian noise,
``Phi(v / sigma)``), using the package's one dense forward/backward pass
(:mod:`glrnet.method.dense`) and softmax cross-entropy gradient
(:mod:`glrnet.method.losses`).  It has no Monte-Carlo variance, so if the likelihood-ratio
attack were weak only because its gradient is noisy, this one would show it.
"""
from __future__ import annotations

import numpy as np

from .._validation import (
    check_features,
    check_int,
    check_labels,
    check_methods,
    check_option,
    check_seed,
)
from ..method import dense
from ..method.losses import check_loss, loss_and_output_gradient
from ..method.network import PREDICTION_STEP
from .attacks import accuracy_under_attack

# The gradient noise steps of successive loss_gradient calls: 1, 2, ... wrapping around before
# PREDICTION_STEP, so that an attack's gradient noise never coincides with the prediction noise.
_GRADIENT_STEPS = PREDICTION_STEP

__all__ = ["NoisyModel", "SmoothedSurrogate", "quick_attack_accuracy", "transfer_accuracy"]


class NoisyModel:
    """A GLR network as a model under test.

    Parameters
    ----------
    model : MLP
        Or any network with the MLP's ``predict_proba(X, replications, seed=, step=, n_threads=)``
        and ``input_gradient(X, y, replications, seed=, step=, loss=, n_threads=)``.
    predict_replications : int
        Noise draws averaged at prediction (0: noise-free prediction).
    gradient_replications : int
        Noise draws in the likelihood-ratio input-gradient estimate.
    attack_loss : str
        Loss whose expectation the adaptive attacker increases (default: cross-entropy
        of the noisy output, also for networks trained on the 0-1 loss).
    attack_gradient : {"likelihood_ratio", "smoothed"}
        The attacker's input gradient: the likelihood-ratio estimate (default) or
        backpropagation through the noise-averaged network (:class:`SmoothedSurrogate`,
        whose loss is the cross-entropy of its output).
    seed : int
        Seeds the prediction and gradient noise streams.
    """

    def __init__(self, model, *, predict_replications=100, gradient_replications=1000,
                 attack_loss="cross_entropy", attack_gradient="likelihood_ratio", seed=0, n_threads=None):
        self.model = check_methods(model, "model", ("predict_proba", "input_gradient"))
        self.predict_replications = check_int(predict_replications, "predict_replications", minimum=0)
        self.gradient_replications = check_int(gradient_replications, "gradient_replications", minimum=1)
        try:
            self.attack_loss = check_loss(attack_loss)
        except (TypeError, ValueError) as exc:      # check_loss names the argument "loss"
            raise type(exc)(f"attack_{exc}") from None
        self.attack_gradient = check_option(attack_gradient, "attack_gradient", ("likelihood_ratio", "smoothed"))
        self._surrogate = SmoothedSurrogate(model) if attack_gradient == "smoothed" else None
        self.seed = check_seed(seed)
        self.n_threads = n_threads
        self._calls = 0

    @property
    def n_classes(self) -> int:
        return self.model.n_classes

    def predict_proba(self, X):
        # A fixed noise step: the same batch always gets the same predictions.  The kernel keys
        # the noise by the row's position, so a row moved within or across batches gets other
        # noise draws (the attacks judge success on the whole batch for this reason).
        return self.model.predict_proba(X, self.predict_replications, seed=self.seed, step=PREDICTION_STEP,
                                        n_threads=self.n_threads)

    def predict(self, X):
        return np.argmax(self.predict_proba(X), axis=1)

    def loss_gradient(self, X, y):
        """(per-sample expected loss, its likelihood-ratio input gradient); fresh noise per call.
        With ``attack_gradient="smoothed"``: the surrogate's loss and exact gradient."""
        if self._surrogate is not None:
            return self._surrogate.loss_gradient(X, y)
        self._calls += 1
        return self.model.input_gradient(X, y, self.gradient_replications, seed=self.seed,
                                         step=self._calls % _GRADIENT_STEPS, loss=self.attack_loss,
                                         n_threads=self.n_threads)


class SmoothedSurrogate:
    """The noise-averaged stand-in of a noisy MLP, for gradient-based attacks (BPDA).

    Level l computes ``x_(l+1) = phi_bar_l(W_l x_l + b_l)`` with
    ``phi_bar_l(v) = E[phi_l(v + r)]``, ``r`` the level's noise
    (:meth:`Activation.noise_average`: exact CDF sums for step activations, a
    quadrature for continuous ones).  For the first level this is the network's exact
    mean activation given the input; deeper levels propagate means (a mean-field
    approximation, good enough to aim an attack: its success is always measured on the
    real noisy network).  The loss is the softmax cross-entropy of the output, and
    ``loss_gradient`` its exact input gradient.
    """

    def __init__(self, model, nodes=256):
        check_methods(model, "model", ("forward",))
        if getattr(model, "noises", None) is None:
            raise ValueError("SmoothedSurrogate needs a network with neuronal noise (model.noises is None)")
        self.model = model
        self.nodes = check_int(nodes, "nodes", minimum=8)

    @property
    def n_classes(self) -> int:
        return self.model.n_classes

    def _forward(self, x):
        """dense.forward through the smoothed levels: (inputs, pre_activations, output, levels)."""
        levels = [_Smoothed(a, noise, self.nodes) for a, noise in zip(self.model.activations, self.model.noises)]
        return (*dense.forward(x, self.model.weights, self.model.biases, levels), levels)

    def forward(self, X):
        """The surrogate's output (n, n_classes)."""
        return self._forward(check_features(X, self.model.n_inputs))[2]

    def predict(self, X):
        return np.argmax(self.forward(X), axis=1)

    def loss_gradient(self, X, y):
        """(per-sample cross-entropy of the surrogate, its exact input gradient)."""
        x = check_features(X, self.model.n_inputs)
        y = check_labels(y, x.shape[0], self.model.n_classes)
        inputs, pre_activations, out, levels = self._forward(x)
        loss, upstream = loss_and_output_gradient("cross_entropy", out, y)
        _, _, grad = dense.backward(upstream, self.model.weights, inputs, pre_activations, levels,
                                    parameters=False, input=True)
        return loss, grad


class _Smoothed:
    """A level's noise-averaged activation phi_bar, as an activation of :mod:`glrnet.method.dense`.

    ``noise_average`` gives the value and the slope at once; the slope of the last
    ``__call__`` is kept for the ``derivative`` that backpropagation asks for next.
    """

    def __init__(self, activation, noise, nodes):
        self.name = f"smoothed_{activation.name}"
        self._activation, self._noise, self._nodes = activation, noise, nodes
        self._last = None

    def _average(self, v):
        if self._last is None or self._last[0] is not v:
            self._last = (v, *self._activation.noise_average(v, self._noise, self._nodes))
        return self._last

    def __call__(self, v):
        return self._average(v)[1]

    def derivative(self, v):
        return self._average(v)[2]


def transfer_accuracy(models: dict, X_adv, y) -> dict:
    """Accuracy of every model under test on the same adversarial inputs (an array or an
    AttackResult; models with ``predict``, or ART classifiers): :func:`attacks.accuracy_under_attack`."""
    return {name: accuracy_under_attack(m, X_adv, y) for name, m in models.items()}


def quick_attack_accuracy(model, X, y, eps, seed=0, replications=100, n_threads=None) -> float:
    """Accuracy of a noisy MLP's noise-averaged prediction under a 10-step PGD through the
    noise-averaged network (BPDA), the quick white-box check ``glrnet train`` and ``glrnet sweep``
    report; the judge's noise is independent of the attacker's."""
    from . import attacks

    attacker = NoisyModel(model, attack_gradient="smoothed", predict_replications=replications, seed=seed,
                          n_threads=n_threads)
    judge = NoisyModel(model, predict_replications=replications, seed=seed + 1, n_threads=n_threads)
    adversarial = attacks.pgd(attacker, X, y, eps, steps=10, seed=seed).X_adv
    return float((judge.predict(adversarial) == y).mean())
