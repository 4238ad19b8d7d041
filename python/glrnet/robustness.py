"""Models under test for the robustness experiments (Section III.C and III.D).

The attacks in :mod:`glrnet.attacks` and the corruption metric in
:mod:`glrnet.corruptions` need ``predict``, ``predict_proba`` and
``loss_gradient``.  :class:`NoisyModel` provides them for a GLR-trained
:class:`~glrnet.network.MLP` the way the paper uses such networks: the neuronal
noise is kept at prediction time (averaged over ``predict_replications`` draws),
and the input gradient an adaptive attacker uses is the likelihood-ratio estimate
``d E[L] / d x = W0^T E[L psi(r^(1))]`` over ``gradient_replications`` draws.
That estimate is unbiased even for step activations, whose pathwise gradient is
zero almost everywhere, so the robustness is not overstated by gradient masking.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_int, check_seed

__all__ = ["NoisyModel", "transfer_accuracy"]


class NoisyModel:
    """A GLR network as a model under test.

    Parameters
    ----------
    model : MLP
    predict_replications : int
        Noise draws averaged at prediction (0: noise-free prediction).
    gradient_replications : int
        Noise draws in the likelihood-ratio input-gradient estimate.
    attack_loss : str
        Loss whose expectation the adaptive attacker increases (default: cross-entropy
        of the noisy output, also for networks trained on the 0-1 loss).
    seed : int
        Seeds the prediction and gradient noise streams.
    """

    def __init__(self, model, *, predict_replications=100, gradient_replications=1000,
                 attack_loss="cross_entropy", seed=0, n_threads=None):
        self.model = model
        self.predict_replications = check_int(predict_replications, "predict_replications", minimum=0)
        self.gradient_replications = check_int(gradient_replications, "gradient_replications", minimum=1)
        self.attack_loss = attack_loss
        self.seed = check_seed(seed)
        self.n_threads = n_threads
        self._calls = 0

    @property
    def n_classes(self) -> int:
        return self.model.n_classes

    def predict_proba(self, X):
        # a fixed noise step: the same input always gets the same prediction
        return self.model.predict_proba(X, self.predict_replications, seed=self.seed, step=2**32 - 1,
                                        n_threads=self.n_threads)

    def predict(self, X):
        return np.argmax(self.predict_proba(X), axis=1)

    def loss_gradient(self, X, y):
        """(per-sample expected loss, its likelihood-ratio input gradient); fresh noise per call."""
        self._calls += 1
        return self.model.input_gradient(X, y, self.gradient_replications, seed=self.seed,
                                         step=self._calls % (2**32 - 1), loss=self.attack_loss,
                                         n_threads=self.n_threads)


def transfer_accuracy(models: dict, X_adv, y) -> dict:
    """Accuracy of every model under test on the same adversarial inputs."""
    return {name: float(np.mean(m.predict(X_adv) == y)) for name, m in models.items()}
