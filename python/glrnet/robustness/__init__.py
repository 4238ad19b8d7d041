"""Robustness of the trained networks (Section III.C and III.D of the paper).

Robustness is measured by feeding perturbed inputs to a *model under test* and
reporting its accuracy on them.

=============  ======================================================================
module         what it holds
=============  ======================================================================
models         the models under test: :class:`NoisyModel` (a GLR network with its
               noise kept at prediction; its likelihood-ratio or BPDA input gradient,
               averaged over ``eot_draws`` (EOT); its account of model calls),
               :class:`SmoothedSurrogate` (the noise-averaged stand-in, BPDA), the DLR
               loss and :func:`transfer_accuracy`
attacks        adversarial perturbations: FGSM, L-inf PGD, box-constrained L-BFGS,
               and the accuracy-versus-eps curves of the transfer setting (Fig. 4)
adaptive       the adaptive attacks of a randomised defence's evaluation: APGD-CE and
               APGD-DLR (Croce & Hein 2020) and the Square attack (Andriushchenko et
               al. 2020), L-inf
smoothing     randomised-smoothing certification (Cohen et al. 2019): the smoothed
               classifier's prediction and its certified L2 radius, with
               Clopper-Pearson bounds
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
from . import adaptive, art, attacks, corruptions, smoothing
from .adaptive import apgd, square
from .models import NoisyModel, SmoothedSurrogate, transfer_accuracy
from .smoothing import (CertifyResult, SmoothedPrediction, certified_accuracy, certify, clopper_pearson_lower,
                        predict_smoothed)

__all__ = ["CertifyResult", "NoisyModel", "SmoothedPrediction", "SmoothedSurrogate", "adaptive", "apgd", "art",
           "attacks", "certified_accuracy", "certify", "clopper_pearson_lower", "corruptions", "predict_smoothed",
           "smoothing", "square", "transfer_accuracy"]
