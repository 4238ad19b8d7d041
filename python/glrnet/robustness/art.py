"""glrnet models as classifiers of the Adversarial Robustness Toolbox (ART).

:func:`art_classifier` makes a glrnet model an ART classifier, so that ART's evasion
attacks (``ProjectedGradientDescent``, ``FastGradientMethod``, ...) run on it:

* a GLR network under noise: a :class:`~glrnet.robustness.NoisyModel` (its
  ``attack_gradient`` chooses the gradient ART sees: the likelihood-ratio estimate or
  BPDA through the noise-averaged surrogate), or a noisy :class:`~glrnet.MLP`, made a
  ``NoisyModel`` with the ``gradient``, ``predict_replications``,
  ``gradient_replications`` and ``seed`` given here;
* the noise-free baseline (:func:`glrnet.baseline_network`): the exact gradient.

``predict`` returns the class probabilities (the noise kept and averaged, as
``NoisyModel.predict_proba``), ``loss_gradient(x, y)`` the input gradient of the
attacker's loss (``y`` one-hot or class indices, as ART allows), ``compute_loss`` the
per-sample loss; ``clip_values = (0, 1)``, ``nb_classes`` and ``input_shape =
(n_inputs,)`` (inputs of another shape with as many values per sample, e.g.
``(n, 14, 14)``, are accepted and gradients come back in their shape).  The whole
batch is evaluated at once whatever ``batch_size`` ART passes: a noisy network's noise
is keyed by the row's position in the batch, and glrnet's own attacks also predict
whole batches.  ``class_gradient`` is not provided (ART's PGD and FGSM do not need it).

The other direction, ART classifiers attacked by glrnet's attacks, needs nothing
from here: :mod:`glrnet.robustness.attacks` recognises ART estimators.

ART is imported only when an adapter is made, so glrnet works without it
(``pip install 'glrnet[art]'``).  The class itself is ``glrnet.robustness.art.ARTClassifier``
(created on first access).
"""
from __future__ import annotations

import functools

import numpy as np

from .._validation import check_array, check_features, check_labels, check_option
from .models import ATTACK_GRADIENTS, NoisyModel

# ARTClassifier is left out: a star import would then import ART.
__all__ = ["art_classifier"]

GRADIENTS = (*ATTACK_GRADIENTS, "exact")


def _under_test(model, gradient, predict_replications, gradient_replications, seed, eot_draws=None):
    """(the glrnet model the adapter evaluates, the name of its gradient)."""
    if gradient is not None:
        check_option(gradient, "gradient", GRADIENTS)
    options = {"predict_replications": predict_replications, "gradient_replications": gradient_replications,
               "seed": seed, "eot_draws": eot_draws}
    given = [name for name, value in options.items() if value is not None]
    if isinstance(model, NoisyModel):
        if gradient not in (None, model.attack_gradient):
            raise ValueError(f"gradient={gradient!r} contradicts the NoisyModel's attack_gradient="
                             f"{model.attack_gradient!r}: choose it on the NoisyModel")
        if given:
            raise ValueError(f"{', '.join(given)}: set on the NoisyModel, not here")
        return model, model.attack_gradient
    if model is None or not callable(getattr(model, "input_gradient", None)) or not hasattr(model, "noisy"):
        raise TypeError(f"model must be a glrnet MLP (noisy, or the noise-free baseline_network) or a NoisyModel, "
                        f"got {type(model).__name__}")
    if not model.noisy:
        if gradient not in (None, "exact"):
            raise ValueError(f"gradient={gradient!r} needs neuronal noise; a noise-free network has the exact "
                             f"gradient (gradient='exact' or None)")
        if given:
            raise ValueError(f"{', '.join(given)}: only for a network with neuronal noise")
        return model, "exact"
    if gradient == "exact":
        raise ValueError("gradient='exact' is the noise-free network's; a noisy network has 'likelihood_ratio', "
                         "'bpda' or 'smoothed'")
    gradient = gradient or "likelihood_ratio"
    kwargs = {name: value for name, value in options.items() if value is not None}
    return NoisyModel(model, attack_gradient=gradient, **kwargs), gradient


@functools.lru_cache(maxsize=None)
def _art_classifier_class() -> type:
    """The adapter class, created (and ART imported) on first use."""
    try:
        from art.estimators.classification.classifier import ClassifierMixin
        from art.estimators.estimator import BaseEstimator, LossGradientsMixin
    except ImportError as exc:
        raise ImportError("glrnet.robustness.art needs the Adversarial Robustness Toolbox: "
                          "pip install 'glrnet[art]' (adversarial-robustness-toolbox>=1.17)") from exc

    class ARTClassifier(ClassifierMixin, LossGradientsMixin, BaseEstimator):
        """A glrnet model as an ART classifier (see :mod:`glrnet.robustness.art`).

        Attributes
        ----------
        under_test : NoisyModel or MLP
            The glrnet model evaluated (a noisy MLP given to the constructor is wrapped in a NoisyModel).
        gradient : {"likelihood_ratio", "bpda", "smoothed", "exact"}
            The gradient ``loss_gradient`` returns.
        """

        estimator_params = BaseEstimator.estimator_params + ClassifierMixin.estimator_params

        def __init__(self, model, *, gradient=None, predict_replications=None, gradient_replications=None,
                     seed=None, eot_draws=None, preprocessing_defences=None, postprocessing_defences=None,
                     preprocessing=None):
            under_test, gradient = _under_test(model, gradient, predict_replications, gradient_replications, seed,
                                               eot_draws)
            super().__init__(model=model, clip_values=(0.0, 1.0), preprocessing_defences=preprocessing_defences,
                             postprocessing_defences=postprocessing_defences, preprocessing=preprocessing)
            self.under_test = under_test
            self.gradient = gradient
            network = under_test.model if isinstance(under_test, NoisyModel) else under_test
            self.nb_classes = network.n_classes
            self._input_shape = (network.n_inputs,)

        @property
        def input_shape(self) -> tuple[int, ...]:
            return self._input_shape

        def _rows(self, x) -> np.ndarray:
            """``x`` as (n, n_inputs) float64 rows; checked before ART's preprocessing too, which would
            silently cast complex or string arrays."""
            arr = check_array(x, "x", ndim=(2, 3, 4), float32=False)
            return check_features(arr.reshape(arr.shape[0], -1), self._input_shape[0], "x")

        def _labels(self, y, n) -> np.ndarray:
            if y is None:
                raise TypeError("y must be labels (class indices or one-hot), got None")
            arr = np.asarray(y)
            if arr.ndim == 2:
                if arr.shape != (n, self.nb_classes):
                    raise ValueError(f"y must be one-hot of shape {(n, self.nb_classes)}, got shape {arr.shape}")
                arr = np.argmax(check_array(arr, "y", float32=False), axis=1)
            return check_labels(arr, n, self.nb_classes)

        def _loss_and_gradient(self, x, y):
            rows = self._rows(x)
            labels = self._labels(y, rows.shape[0])
            if isinstance(self.under_test, NoisyModel):
                return self.under_test.loss_gradient(rows, labels)
            return self.under_test.input_gradient(rows, labels)

        def predict(self, x, batch_size=None, **kwargs) -> np.ndarray:
            """Class probabilities (n, nb_classes) of the whole batch (``batch_size`` is ignored)."""
            self._rows(x)
            x_pre, _ = self._apply_preprocessing(x, y=None, fit=False)
            proba = self.under_test.predict_proba(self._rows(x_pre))
            return self._apply_postprocessing(preds=proba, fit=False)

        def loss_gradient(self, x, y, **kwargs) -> np.ndarray:
            """Input gradient of the attacker's loss, shaped like ``x`` (``y``: one-hot or class indices)."""
            self._rows(x)
            x_pre, y_pre = self._apply_preprocessing(x, y, fit=False)
            _, grad = self._loss_and_gradient(x_pre, y_pre)
            return self._apply_preprocessing_gradient(x, np.asarray(grad).reshape(np.shape(x)))

        def compute_loss(self, x, y, reduction="none", **kwargs) -> np.ndarray:
            """Per-sample loss (``reduction="none"``), or its ``"mean"`` or ``"sum"``; for a NoisyModel under
            the likelihood-ratio gradient, estimated on the gradient's noise draws."""
            check_option(reduction, "reduction", ("none", "mean", "sum"))
            self._rows(x)
            x_pre, y_pre = self._apply_preprocessing(x, y, fit=False)
            loss = np.asarray(self._loss_and_gradient(x_pre, y_pre)[0], dtype=np.float64)
            return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

        def fit(self, x, y, **kwargs) -> None:
            raise NotImplementedError("train the glrnet model with glrnet.train, then adapt it")

    return ARTClassifier


def art_classifier(model, *, gradient=None, predict_replications=None, gradient_replications=None, seed=None,
                   eot_draws=None, preprocessing_defences=None, postprocessing_defences=None):
    """A glrnet model as an ART classifier.

    Parameters
    ----------
    model : NoisyModel or MLP
        A NoisyModel (its settings are used), a noisy MLP (made a NoisyModel with the options
        below) or the noise-free baseline network.
    gradient : {"likelihood_ratio", "bpda", "smoothed", "exact"}, optional
        The gradient of ``loss_gradient``.  A noisy MLP: ``"likelihood_ratio"`` (default),
        ``"bpda"`` (backpropagation through noisy passes) or ``"smoothed"`` (through the
        noise-averaged network); a NoisyModel: its ``attack_gradient`` (giving another is an error);
        the baseline: ``"exact"``.
    predict_replications, gradient_replications, seed, eot_draws : int, optional
        For a noisy MLP: the NoisyModel's settings (defaults 100, 1000, 0, 1; ``eot_draws``
        averages that many gradient estimates per call, Expectation over Transformation).
    preprocessing_defences, postprocessing_defences : optional
        ART defences, applied as by ART's own estimators.  (No standardising preprocessing: the
        inputs reach the model as given, float64 stays float64.)

    Returns
    -------
    ARTClassifier
        An ``art`` ``ClassifierMixin, LossGradientsMixin, BaseEstimator`` with ``clip_values=(0, 1)``.
    """
    return _art_classifier_class()(model, gradient=gradient, predict_replications=predict_replications,
                                   gradient_replications=gradient_replications, seed=seed, eot_draws=eot_draws,
                                   preprocessing_defences=preprocessing_defences,
                                   postprocessing_defences=postprocessing_defences)


def __getattr__(name):
    if name == "ARTClassifier":
        return _art_classifier_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
