"""Robustness of the trained networks (Section III.C and III.D of the paper).

Robustness is measured by feeding perturbed inputs to a *model under test* and
reporting its accuracy on them.

=============  ======================================================================
module         what it holds
=============  ======================================================================
models         the models under test: :class:`NoisyModel` (a GLR network with its
               noise kept at prediction, and its likelihood-ratio input gradient),
               :class:`SmoothedSurrogate` (the noise-averaged stand-in, BPDA) and
               :func:`transfer_accuracy`
attacks        adversarial perturbations: FGSM, L-inf PGD, box-constrained L-BFGS,
               and the accuracy-versus-eps curves of the transfer setting (Fig. 4)
corruptions    natural corruptions of the images (ImageNet-C style, five severities)
               and the mean corruption accuracy of Eq. (6) (Table II)
art            glrnet models as classifiers of the Adversarial Robustness Toolbox
               (:func:`art.art_classifier`; ART is imported only when one is made)
=============  ======================================================================

A model under test is any object with ``predict`` (and, for the gradient attacks,
``loss_gradient``; some features use ``predict_proba`` or ``n_classes``): an MLP,
the backpropagation baseline, a :class:`NoisyModel` or a :class:`SmoothedSurrogate`;
or an ART classifier, or a foreign model whose ``loss_gradient`` returns the gradient
alone (see :mod:`.attacks`).
"""
from . import art, attacks, corruptions
from .models import NoisyModel, SmoothedSurrogate, transfer_accuracy

__all__ = ["NoisyModel", "SmoothedSurrogate", "art", "attacks", "corruptions", "transfer_accuracy"]
