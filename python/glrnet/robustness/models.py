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

``NoisyModel(attack_gradient="bpda")`` is the third, Athalye et al.'s BPDA with EOT
(Expectation over Transformation) on the real noisy network: each draw is a noisy forward
pass with the network's own noise, backpropagated with the derivative of every
discontinuous activation replaced by that of its noise average ``phi_bar``; for a
continuous network this is exactly the pathwise gradient through the noise.  ``eot_draws``
averages independent gradient estimates per call, for the likelihood-ratio and the BPDA
gradient alike (Athalye, Carlini & Wagner 2018; Croce & Hein 2020 evaluate randomised
defences with 20 draws).  Every model under test counts what it was asked (``cost``), so an
attack's budget can be stated in model calls.

The attacks of :mod:`glrnet.robustness.adaptive` also use the DLR loss of Croce & Hein
(2020) on the attacker's own class probabilities: ``loss_gradient(X, y, loss="dlr")``.
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
from ..method.losses import DIFFERENTIABLE, check_loss, dlr_loss, loss_and_output_gradient, softmax
from ..method.network import PATHWISE_CHUNK_BYTES, PREDICTION_STEP
from .attacks import accuracy_under_attack

# The gradient noise steps of successive loss_gradient calls: 1, 2, ... wrapping around before
# PREDICTION_STEP, so that an attack's gradient noise never coincides with the prediction noise.
_GRADIENT_STEPS = PREDICTION_STEP

ATTACK_GRADIENTS = ("likelihood_ratio", "bpda", "smoothed")

__all__ = ["ATTACK_GRADIENTS", "NoisyModel", "SmoothedSurrogate", "quick_attack_accuracy",
           "transfer_accuracy"]


def _softmax_product(weights):
    """For outputs z (n, ..., n_classes), e.g. one per noise draw: (value, d value / d z) of
    ``sum_c weights_c softmax_c(z)`` with one weight vector per row, ``weights`` (n, n_classes)."""
    def output_gradient(out):
        w = weights.reshape(weights.shape[0], *[1] * (out.ndim - 2), weights.shape[-1])
        probabilities = softmax(out)
        value = np.sum(w * probabilities, axis=-1)
        return value, probabilities * (w - value[..., None])
    return output_gradient


class NoisyModel:
    """A GLR network as a model under test.

    Parameters
    ----------
    model : MLP
        Or any network with the MLP's ``predict_proba(X, replications, seed=, step=, n_threads=)``
        and ``input_gradient(X, y, replications, seed=, step=, loss=, n_threads=)``
        (``attack_gradient="bpda"`` and the DLR loss under ``"likelihood_ratio"`` need an MLP with
        neuronal noise: its ``sample_noise`` and parameters).
    predict_replications : int
        Noise draws averaged at prediction (0: noise-free prediction).
    gradient_replications : int
        Noise draws in one likelihood-ratio input-gradient estimate.
    attack_loss : str
        Loss whose expectation the adaptive attacker increases (default: cross-entropy
        of the noisy output, also for networks trained on the 0-1 loss); ``"bpda"`` needs a
        differentiable one (cross-entropy or squared).
    attack_gradient : {"likelihood_ratio", "bpda", "smoothed"}
        The attacker's input gradient: the likelihood-ratio estimate (default); BPDA with EOT,
        backpropagation through noisy forward passes of the network with the noise-averaged
        derivative ``phi_bar'`` for discontinuous activations (the true derivative for continuous
        ones, so that for a sigmoid network it is the pathwise gradient through the noise); or
        backpropagation through the noise-averaged network (:class:`SmoothedSurrogate`, whose loss
        is the cross-entropy of its output).
    eot_draws : int
        Independent gradient estimates averaged per ``loss_gradient`` call (Expectation over
        Transformation): ``"likelihood_ratio"``, that many estimates of ``gradient_replications``
        draws each on consecutive noise steps; ``"bpda"``, that many noisy forward-backward passes.
        ``"smoothed"`` is deterministic, and ``eot_draws`` has no effect on it.
    seed : int
        Seeds the prediction and gradient noise streams.  A judge independent of the attacker is
        another NoisyModel of the same network with another seed.

    Attributes
    ----------
    cost : dict
        What the model was asked since it was made (or :meth:`reset_cost`): ``predict_rows`` and
        ``predict_draws`` (rows x noise draws, a noise-free prediction counting one draw),
        ``gradient_rows`` and ``gradient_draws`` (rows x noisy forward passes behind the
        gradients; one per row for ``"smoothed"``).
    """

    def __init__(self, model, *, predict_replications=100, gradient_replications=1000,
                 attack_loss="cross_entropy", attack_gradient="likelihood_ratio", eot_draws=1, seed=0,
                 n_threads=None):
        self.model = check_methods(model, "model", ("predict_proba", "input_gradient"))
        self.predict_replications = check_int(predict_replications, "predict_replications", minimum=0)
        self.gradient_replications = check_int(gradient_replications, "gradient_replications", minimum=1)
        try:
            self.attack_loss = check_loss(attack_loss)
        except (TypeError, ValueError) as exc:      # check_loss names the argument "loss"
            raise type(exc)(f"attack_{exc}") from None
        self.attack_gradient = check_option(attack_gradient, "attack_gradient", ATTACK_GRADIENTS)
        self.eot_draws = check_int(eot_draws, "eot_draws", minimum=1)
        if attack_gradient == "bpda":
            _check_noisy_network(model, "attack_gradient='bpda'")
            if self.attack_loss not in DIFFERENTIABLE:
                raise ValueError(f"attack_loss={self.attack_loss!r} cannot be backpropagated: "
                                 f"attack_gradient='bpda' needs one of {list(DIFFERENTIABLE)}")
        self._surrogate = SmoothedSurrogate(model) if attack_gradient == "smoothed" else None
        self.seed = check_seed(seed)
        self.n_threads = n_threads
        self._calls = 0
        self.reset_cost()

    @property
    def n_classes(self) -> int:
        return self.model.n_classes

    @property
    def cost(self) -> dict:
        return dict(self._cost)

    def reset_cost(self) -> None:
        """Set the counters of :attr:`cost` to zero."""
        self._cost = dict.fromkeys(("predict_rows", "predict_draws", "gradient_rows", "gradient_draws"), 0)

    def _count(self, kind, rows, draws_per_row):
        self._cost[f"{kind}_rows"] += rows
        self._cost[f"{kind}_draws"] += rows * draws_per_row

    def predict_proba(self, X):
        # A fixed noise step, and the kernel keys a row's noise by the row's values: the same
        # row always gets the same prediction, wherever it stands in whichever batch.
        proba = self.model.predict_proba(X, self.predict_replications, seed=self.seed, step=PREDICTION_STEP,
                                         n_threads=self.n_threads)
        self._count("predict", proba.shape[0], max(self.predict_replications, 1))
        return proba

    def predict(self, X):
        return np.argmax(self.predict_proba(X), axis=1)

    def loss_gradient(self, X, y, *, loss=None):
        """(per-sample loss, its input gradient), averaged over ``eot_draws`` estimates on fresh noise.

        ``loss=None``: the expected ``attack_loss`` and its likelihood-ratio or BPDA estimate (with
        ``attack_gradient="smoothed"``: the surrogate's cross-entropy and exact gradient).

        ``loss="dlr"``: the DLR loss (:func:`dlr_loss`) of the log-probabilities ``log p(x)`` of
        :meth:`predict_proba`, the noise-averaged softmax the attacker's own prediction takes the
        arg-max of (so the loss is positive exactly where that prediction is wrong), and its
        gradient by the chain rule ``sum_c (d DLR / d p_c) d p_c / d x``, the Jacobian of ``p``
        estimated on the gradient's noise (likelihood ratio: ``W0^T E[sum_c w_c softmax_c psi(r^(1))]``;
        BPDA: per draw; smoothed: through the surrogate's softmax).  The weights ``w`` come from the
        prediction noise, independent of the gradient noise, so the likelihood-ratio estimate is
        unbiased for the gradient of the loss it reports.
        """
        if loss is not None:
            check_option(loss, "loss", ("dlr",))
        x = check_features(X, getattr(self.model, "n_inputs", None))
        y = check_labels(y, x.shape[0], getattr(self.model, "n_classes", None))
        if loss == "dlr":
            proba = self.predict_proba(x)
            value, slope = dlr_loss(np.log(proba), y)
            return value, self._gradient(x, y, _softmax_product(slope / proba))[1]
        return self._gradient(x, y, None)

    def _gradient(self, x, y, output_gradient):
        """(value, input gradient) of ``output_gradient(output) -> (value, d value / d output)``, or of
        the attack loss when it is None, with the model's attack gradient and ``eot_draws``."""
        n = x.shape[0]
        if self._surrogate is not None:
            self._count("gradient", n, 1)
            if output_gradient is None:
                return self._surrogate.loss_gradient(x, y)
            return self._surrogate._backpropagate(x, output_gradient)
        if self.attack_gradient == "bpda":
            self._count("gradient", n, self.eot_draws)
            return self._bpda(x, y, output_gradient, self._next_step())
        self._count("gradient", n, self.eot_draws * self.gradient_replications)
        estimates = [self._likelihood_ratio(x, y, output_gradient, self._next_step())
                     for _ in range(self.eot_draws)]
        return (sum(e[0] for e in estimates) / self.eot_draws, sum(e[1] for e in estimates) / self.eot_draws)

    def _next_step(self):
        self._calls += 1
        return self._calls % _GRADIENT_STEPS

    def _noisy_passes(self, x, replications, step):
        """The noisy forward pass (dense.forward) with the kernel's noise of (seed, step), a chunk of
        replications at a time (the arrays are (n, count, width), float64): (noise, inputs,
        pre_activations, output) per chunk."""
        net, n = self.model, x.shape[0]
        per_replication = 8 * n * (net.n_inputs + 4 * sum(net.layer_sizes[1:]))
        span = max(1, min(replications, PATHWISE_CHUNK_BYTES // per_replication))
        for first in range(0, replications, span):
            count = min(span, replications - first)
            noise = [r.astype(np.float64) for r in net.sample_noise(n, replications, seed=self.seed, step=step,
                                                                   first=first, count=count)]
            yield (noise, *dense.forward(np.broadcast_to(x[:, None, :], (n, count, x.shape[1])), net.weights,
                                         net.biases, net.activations, noise))

    def _bpda(self, x, y, output_gradient, step):
        """BPDA with EOT: ``eot_draws`` noisy forward passes, each backpropagated (dense.backward) with
        phi' at the noisy pre-activation for continuous activations and phi_bar' (of
        :class:`_Smoothed`) at the noise-free pre-activation for discontinuous ones."""
        net = self.model
        # phi_bar' of a step activation is an exact sum of noise densities: no quadrature nodes needed
        levels = [a if a.continuous else _Smoothed(a, noise, 256) for a, noise in zip(net.activations, net.noises)]
        if output_gradient is None:
            def output_gradient(out):
                return loss_and_output_gradient(self.attack_loss, out, y[:, None])
        value_sum, grad_sum = 0.0, 0.0
        for noise, inputs, pre, out in self._noisy_passes(x, self.eot_draws, step):
            points = [u if a.continuous else u - r for a, u, r in zip(net.activations, pre, noise)]
            value, upstream = output_gradient(out)
            _, _, grad = dense.backward(upstream, net.weights, inputs, points, levels, parameters=False, input=True)
            value_sum = value_sum + value.sum(axis=1)
            grad_sum = grad_sum + grad.sum(axis=1)
        return value_sum / self.eot_draws, grad_sum / self.eot_draws

    def _likelihood_ratio(self, x, y, output_gradient, step):
        """One likelihood-ratio estimate of ``gradient_replications`` draws: the kernel's for the
        attack loss; in numpy on the kernel's noise, ``W0^T mean_k[L_k psi(r_k^(1))]``, for a loss of
        the output that the kernel does not compute."""
        if output_gradient is None:
            return self.model.input_gradient(x, y, self.gradient_replications, seed=self.seed, step=step,
                                             loss=self.attack_loss, n_threads=self.n_threads)
        net = _check_noisy_network(self.model, "the DLR loss of a likelihood-ratio NoisyModel")
        value_sum, score_sum = 0.0, 0.0
        for noise, _, _, out in self._noisy_passes(x, self.gradient_replications, step):
            value = output_gradient(out)[0]
            value_sum = value_sum + value.sum(axis=1)
            score_sum = score_sum + np.einsum("nk,nkw->nw", value, net.noises[0].score(noise[0]))
        return (value_sum / self.gradient_replications,
                (score_sum / self.gradient_replications) @ net.weights[0])


def _check_noisy_network(model, what):
    """``model`` as an MLP with neuronal noise (its noise, parameters and activations), for ``what``."""
    check_methods(model, "model", ("sample_noise",))
    if getattr(model, "noises", None) is None:
        raise ValueError(f"{what} needs a network with neuronal noise (model.noises is None)")
    return model


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

    def predict_proba(self, X):
        """The softmax of the surrogate's output (n, n_classes)."""
        return softmax(self.forward(X))

    def predict(self, X):
        return np.argmax(self.forward(X), axis=1)

    def loss_gradient(self, X, y, *, loss="cross_entropy"):
        """(per-sample loss of the surrogate, its exact input gradient): the cross-entropy of its output,
        or with ``loss="dlr"`` the DLR loss of its output (:func:`dlr_loss`, which is the DLR of the
        log of :meth:`predict_proba`)."""
        check_option(loss, "loss", ("cross_entropy", "dlr"))
        x = check_features(X, self.model.n_inputs)
        y = check_labels(y, x.shape[0], self.model.n_classes)
        if loss == "dlr":
            return self._backpropagate(x, lambda out: dlr_loss(out, y))
        return self._backpropagate(x, lambda out: loss_and_output_gradient("cross_entropy", out, y))

    def _backpropagate(self, x, output_gradient):
        """(value, exact input gradient) of ``output_gradient(output) -> (value, d value / d output)``."""
        inputs, pre_activations, out, levels = self._forward(x)
        value, upstream = output_gradient(out)
        _, _, grad = dense.backward(upstream, self.model.weights, inputs, pre_activations, levels,
                                    parameters=False, input=True)
        return value, grad


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
