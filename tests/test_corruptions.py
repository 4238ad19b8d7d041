"""Tests for glrnet.robustness.corruptions on real 14x14 MNIST digits."""

import numpy as np
import pytest
from scipy import ndimage

from glrnet.robustness.corruptions import (
    AUTHORS_CONSTANTS,
    CONSTANTS,
    CORRUPTION_PRESETS,
    CORRUPTIONS,
    PAPER_CORRUPTIONS,
    PRESET_CONSTANTS,
    RANDOM_CORRUPTIONS,
    SEVERITIES,
    corrupt,
    corrupt_all,
    mean_corruption_accuracy,
)

NOISES = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise")



def test_names_and_constants():
    assert len(CORRUPTIONS) == 10 and len(set(CORRUPTIONS)) == 10
    assert set(PAPER_CORRUPTIONS) == {"gaussian_noise", "impulse_noise", "glass_blur", "contrast"}
    assert set(PAPER_CORRUPTIONS) <= set(CORRUPTIONS)
    assert set(CONSTANTS) == set(CORRUPTIONS)
    assert all(len(v) == 5 for v in CONSTANTS.values())
    assert SEVERITIES == (1, 2, 3, 4, 5)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_shape_dtype_range_and_layouts(data, name):
    _, _, X, _ = data
    X = X[:40]
    for s in SEVERITIES:
        flat = corrupt(X, name, s, seed=1)
        assert flat.shape == X.shape and flat.dtype == np.float32
        assert flat.min() >= 0.0 and flat.max() <= 1.0
        imgs = corrupt(X.reshape(-1, 14, 14), name, s, seed=1)
        assert imgs.shape == (40, 14, 14) and imgs.dtype == np.float32
        np.testing.assert_array_equal(imgs.reshape(40, 196), flat)
    # float32 input and non-default image sizes are accepted
    np.testing.assert_array_equal(corrupt(X.astype(np.float32), name, 3, seed=1),
                                  corrupt(X.astype(np.float32).astype(np.float64), name, 3, seed=1))
    big = np.repeat(np.repeat(X[:3].reshape(-1, 14, 14), 2, axis=1), 2, axis=2)
    assert corrupt(big.reshape(3, -1), name, 2, image_shape=(28, 28)).shape == (3, 784)
    assert corrupt(big, name, 2).shape == (3, 28, 28)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_seed_determinism(data, name):
    _, _, X, _ = data
    X = X[:30]
    a = corrupt(X, name, 3, seed=11)
    np.testing.assert_array_equal(a, corrupt(X, name, 3, seed=11))
    b = corrupt(X, name, 3, seed=12)
    if name in RANDOM_CORRUPTIONS:
        assert not np.array_equal(a, b)
    else:
        np.testing.assert_array_equal(a, b)


def test_batch_rows_are_independent_of_batch_composition(data):
    """Deterministic corruptions act per image; a corrupted row only depends on its image."""
    _, _, X, _ = data
    for name in set(CORRUPTIONS) - set(RANDOM_CORRUPTIONS):
        np.testing.assert_array_equal(corrupt(X[:10], name, 4)[3:5], corrupt(X[3:5], name, 4))


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_perturbation_grows_with_severity(data, name):
    _, _, X, _ = data
    X = X[:200]
    size = [np.abs(corrupt(X, name, s, seed=0) - X).mean() for s in SEVERITIES]
    assert size[0] > 0
    assert all(b > a for a, b in zip(size, size[1:])), size


def test_definitions_match_imagenet_c_formulas(data):
    _, _, X, _ = data
    X = X[:20]
    imgs = X.reshape(-1, 14, 14)
    # brightness of a grey image: value channel + delta
    np.testing.assert_array_equal(corrupt(X, "brightness", 2),
                                  np.clip(X + 0.2, 0, 1).astype(np.float32))
    # contrast keeps each image's mean and scales deviations by the factor
    c = corrupt(X, "contrast", 3).astype(np.float64)
    np.testing.assert_allclose(c.mean(axis=1), X.mean(axis=1), rtol=0, atol=1e-6)
    m = X.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(c - m, 0.3 * (X - m), rtol=0, atol=1e-6)
    # gaussian noise: x + sigma * z with z from default_rng(seed)
    z = np.random.default_rng(5).standard_normal(X.shape)
    np.testing.assert_array_equal(corrupt(X, "gaussian_noise", 4, seed=5),
                                  np.clip(X + 0.26 * z, 0, 1).astype(np.float32))
    # gaussian blur with sigma in pixels, "nearest" borders as skimage
    ref = ndimage.gaussian_filter(imgs, sigma=(0, 1.0, 1.0), mode="nearest")
    np.testing.assert_array_equal(corrupt(imgs, "gaussian_blur", 4),
                                  np.clip(ref, 0, 1).astype(np.float32))
    # impulse noise: every changed pixel became 0 or 1, with a fraction near `amount`
    imp = corrupt(np.full((200, 196), 0.5), "impulse_noise", 5, seed=2)
    changed = imp != np.float32(0.5)
    assert set(np.unique(imp[changed])) == {0.0, 1.0}
    assert abs(changed.mean() - 0.27) < 4 * np.sqrt(0.27 * 0.73 / changed.size)
    # pixelate (severity 4: 6x6 blocks) is box down- then up-sampling, so each
    # output image has rank <= 6, and constant images stay constant
    pix = corrupt(imgs, "pixelate", 4).astype(np.float64)
    assert max(np.linalg.matrix_rank(p, tol=1e-5) for p in pix) <= 6  # float32 rounding
    np.testing.assert_allclose(corrupt(np.full((1, 196), 0.25), "pixelate", 5), 0.25, atol=1e-7)


def _glass_blur_reference(imgs, sigma, max_delta, iterations, seed):
    """Per-image transcription of ImageNet-C's glass_blur loop, same random draws."""
    rng = np.random.default_rng(seed)
    n, h, w = imgs.shape
    x = ndimage.gaussian_filter(imgs, (0, sigma, sigma), mode="nearest")
    hs = list(range(h - max_delta, max_delta, -1))
    ws = list(range(w - max_delta, max_delta, -1))
    for _ in range(iterations):
        d = rng.integers(-max_delta, max_delta, size=(len(hs) * len(ws), 2, n))
        for i in range(n):
            p = 0
            for hh in hs:
                for ww in ws:
                    dy, dx = d[p, 0, i], d[p, 1, i]
                    p += 1
                    x[i, hh, ww], x[i, hh + dy, ww + dx] = x[i, hh + dy, ww + dx], x[i, hh, ww]
    return np.clip(ndimage.gaussian_filter(x, (0, sigma, sigma), mode="nearest"), 0, 1)


@pytest.mark.parametrize("severity", [1, 5])
def test_vectorised_glass_blur_equals_per_image_loop(data, severity):
    _, _, X, _ = data
    imgs = X[:6].reshape(-1, 14, 14)
    ref = _glass_blur_reference(imgs, *CONSTANTS["glass_blur"][severity - 1], seed=9)
    np.testing.assert_array_equal(corrupt(imgs, "glass_blur", severity, seed=9),
                                  ref.astype(np.float32))


def test_corrupt_all_covers_every_pair(data):
    _, _, X, _ = data
    X = X[:5]
    out = {(n, s): Xc for n, s, Xc in corrupt_all(X, seed=3)}
    assert set(out) == {(n, s) for n in CORRUPTIONS for s in SEVERITIES}
    np.testing.assert_array_equal(out["impulse_noise", 2], corrupt(X, "impulse_noise", 2, seed=3))
    sub = list(corrupt_all(X, seed=3, names=["contrast"]))
    assert [(n, s) for n, s, _ in sub] == [("contrast", s) for s in SEVERITIES]


# ------------------------------------------------------------------ accuracy
def test_accuracy_decreases_with_noise_severity(net, data):
    _, _, X, y = data
    n = len(y)
    clean = net.score(X, y)
    assert clean > 0.88
    # Allowed increase from one severity to the next: two standard errors of a
    # binomial proportion at its worst case p = 1/2, 2 * sqrt(0.25 / n) = 1/sqrt(n)
    # (0.032 for n = 1000).  The severities share their random numbers, so the
    # true paired difference has a smaller spread than this.
    margin = 1.0 / np.sqrt(n)
    res = mean_corruption_accuracy(net, X, y, names=NOISES, seed=0)
    assert set(res) == set(NOISES)
    for name, (mean_acc, accs) in res.items():
        assert len(accs) == 5 and mean_acc == pytest.approx(np.mean(accs))
        seq = [clean] + accs
        assert all(b <= a + margin for a, b in zip(seq, seq[1:])), (name, seq)
        assert accs[4] < clean - margin, (name, accs)
    # the strong additive noises hurt much more than the intensity-scaled ones
    assert res["gaussian_noise"][1][4] < 0.75 and res["impulse_noise"][1][4] < 0.75


def test_mean_corruption_accuracy_matches_manual(net, data):
    _, _, X, y = data
    X, y = X[:300], y[:300]
    res = mean_corruption_accuracy(net, X, y, names=PAPER_CORRUPTIONS, seed=4)
    assert list(res) == list(PAPER_CORRUPTIONS)
    for name in PAPER_CORRUPTIONS:
        manual = [np.mean(net.predict(corrupt(X, name, s, seed=4)) == y) for s in SEVERITIES]
        assert res[name][1] == manual
        assert res[name][0] == pytest.approx(np.mean(manual))
        assert res[name][1][4] < net.score(X, y)
    # default: every corruption
    full = mean_corruption_accuracy(net, X[:20], y[:20])
    assert list(full) == list(CORRUPTIONS)


# ---------------------------------------------------------------- validation
def test_bad_inputs(data, net):
    _, _, X, y = data
    X = X[:4]
    msg = r"name must be one of \['gaussian_noise', .*, 'brightness'\], got 'fog'"
    with pytest.raises(ValueError, match=msg):
        corrupt(X, "fog", 1)
    for bad in (0, 6, -1):
        with pytest.raises(ValueError, match="severity"):
            corrupt(X, "contrast", bad)
    for bad in (2.0, "3", True, None):
        with pytest.raises(TypeError, match="severity"):
            corrupt(X, "contrast", bad)
    with pytest.raises(ValueError, match=r"X values must lie in \[0, 1\]"):
        corrupt(X * 255, "contrast", 1)
    with pytest.raises(ValueError, match=r"X values must lie in \[0, 1\]"):
        corrupt(X - 0.1, "contrast", 1)
    nan = X.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        corrupt(nan, "gaussian_noise", 1)
    with pytest.raises(ValueError, match="image_shape"):
        corrupt(X[:, :100], "contrast", 1)
    with pytest.raises(ValueError, match="image_shape"):
        corrupt(X, "contrast", 1, image_shape=(28, 28))
    with pytest.raises(ValueError, match="image_shape"):
        corrupt(X.reshape(4, 14, 14), "contrast", 1, image_shape=(7, 28))
    with pytest.raises(ValueError, match="image_shape"):
        corrupt(X, "contrast", 1, image_shape=(14,))
    with pytest.raises(ValueError, match="X must be"):
        corrupt(X[0], "contrast", 1)
    with pytest.raises(ValueError, match="X must have at least one sample"):
        corrupt(X[:0], "contrast", 1)
    with pytest.raises(TypeError, match="seed"):
        corrupt(X, "gaussian_noise", 1, seed=1.5)
    with pytest.raises(ValueError, match="names entries must be one of .*, got 'snow'"):
        mean_corruption_accuracy(net, X, y[:4], names=["gaussian_noise", "snow"])
    with pytest.raises(ValueError, match="y has 3 labels for 4 samples"):
        mean_corruption_accuracy(net, X, y[:3])
    with pytest.raises(TypeError, match="predict"):
        mean_corruption_accuracy(object(), X, y[:4])
    with pytest.raises(ValueError, match="names entries must be one of .*, got 'blur'"):
        list(corrupt_all(X, names=["blur"]))


@pytest.mark.parametrize("call", [
    lambda X, **kw: corrupt(X, "gaussian_noise", 1, **kw),
    lambda X, **kw: corrupt(X, "contrast", 1, **kw),           # a corruption that does not use the seed
    lambda X, **kw: list(corrupt_all(X, names=["glass_blur"], **kw)),
])
def test_bad_seed(data, call):
    _, _, X, _ = data
    X = X[:4]
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        call(X, seed=-1)
    with pytest.raises(TypeError, match="seed must be an integer, got float"):
        call(X, seed=1.5)
    with pytest.raises(TypeError, match="seed must be an integer"):
        call(X, seed=True)


class _ConstantModel:
    def predict(self, X):
        return np.zeros(len(X), dtype=int)


def test_bad_seed_of_mean_corruption_accuracy(data, net):
    _, _, X, y = data
    with pytest.raises(TypeError, match="seed must be an integer, got NoneType"):
        mean_corruption_accuracy(net, X[:4], y[:4], seed=None)
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        mean_corruption_accuracy(net, X[:4], y[:4], seed=-1)
    with pytest.raises(TypeError, match="seed must be an integer, got float"):
        mean_corruption_accuracy(net, X[:4], y[:4], seed=1.5)


@pytest.mark.parametrize("call", [
    lambda X: corrupt(X, "contrast", 1),
    lambda X: list(corrupt_all(X, names=["pixelate"])),
    lambda X: mean_corruption_accuracy(_ConstantModel(), X, np.zeros(len(X), dtype=int), names=["contrast"]),
])
def test_complex_string_and_object_inputs_are_rejected(data, call):
    """Not silently converted: a complex array would lose its imaginary part, strings would be parsed."""
    _, _, X, _ = data
    X = X[:4]
    for bad in (X.astype(np.complex128), X + 0.1j, X.astype(str), X.astype(object),
                X.reshape(4, 14, 14).astype(np.complex64)):
        with pytest.raises(TypeError, match=r"X must be a numeric \(real\) array"):
            call(bad)


def test_mean_corruption_accuracy_of_a_model_predicting_probabilities(data, net):
    """A model whose predict returns class probabilities (as ART's classifiers do) is judged by their arg-max."""
    _, _, X, y = data

    class Probabilities:
        def predict(self, X):
            return net.predict_proba(X)

    X, y = X[:40], y[:40]
    assert (mean_corruption_accuracy(Probabilities(), X, y, names=["contrast"])
            == mean_corruption_accuracy(net, X, y, names=["contrast"]))


# ------------------------------------------------------------ the authors' preset
# Transcriptions of RobustnessTest/noise_generate_adv.py (github.com/LX-doctorAI1/GLR_ADV), one image at
# a time as they run it, with their np.random draws replaced by the same draws from default_rng(seed).
AUTHORS = CORRUPTION_PRESETS["authors"]


@pytest.fixture(scope="module")
def mnist28():
    """A few 28x28 MNIST test images (the size the authors corrupt), float32 as torchvision gives them."""
    from glrnet import datasets

    return datasets.load(seed=0, size=28, limit=40).X_test[:8].reshape(-1, 28, 28)


def _skimage_gaussian_multichannel(image, sigma):
    """skimage.filters.gaussian(image, sigma=sigma, multichannel=True) of skimage 0.14-0.18, as written there."""
    sigma = [sigma] * (image.ndim - 1)
    if len(sigma) != image.ndim:
        sigma = np.concatenate((np.asarray(sigma), [0]))
    return ndimage.gaussian_filter(image, sigma, mode="nearest", cval=0, truncate=4.0)


_AUTHORS_GLASS = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)]


def _authors_corrupt(imgs, name, severity, seed):
    """Their main loop: float32 x * 255 -> float64 -> corruption -> / 255 -> float32 -> clamp(0, 1)."""
    rng = np.random.default_rng(seed)
    n, h, w = imgs.shape
    if name == "gaussian_noise":
        normal = rng.standard_normal(imgs.shape)
    elif name == "impulse_noise":
        flip_draw, salt_draw = rng.random(imgs.shape), rng.random(imgs.shape)
    elif name == "glass_blur":
        sigma, max_delta, iterations = _AUTHORS_GLASS[severity - 1]
        positions = [(hh, ww) for hh in range(h - max_delta, max_delta, -1)   # their 28 - c[1]: the side
                     for ww in range(w - max_delta, max_delta, -1)]
        # their (dx, dy) per position and pass; here (dy, dx), per pass for the whole batch
        offsets = [rng.integers(-max_delta, max_delta, size=(len(positions), 2, n)) for _ in range(iterations)]
    out = np.empty(imgs.shape, dtype=np.float32)
    for i in range(n):
        x = (imgs[i].astype(np.float32) * 255).astype(np.float64)   # xv.numpy() * 255, .astype(np.float)
        if name == "gaussian_noise":
            c = [0.04, 0.06, .08, .09, .10][severity - 1]
            x = np.array(x) / 255.
            x = np.clip(x + normal[i] * c, 0, 1) * 255
        elif name == "impulse_noise":
            c = [.01, .02, .03, .05, .07][severity - 1]
            image = np.array(x) / 255.                               # sk.util.random_noise(..., mode='s&p')
            noisy = image.copy()
            flipped, salted = flip_draw[i] <= c, salt_draw[i] <= 0.5
            noisy[flipped & salted] = 1
            noisy[flipped & ~salted] = 0                             # low_clip: the image has no negatives
            x = np.clip(np.clip(noisy, 0, 1), 0, 1) * 255
        elif name == "glass_blur":
            x = np.uint8(_skimage_gaussian_multichannel(np.array(x) / 255., sigma) * 255)
            for d in offsets:
                for p, (hh, ww) in enumerate(positions):
                    dy, dx = d[p, :, i]
                    h_prime, w_prime = hh + dy, ww + dx
                    x[hh, ww], x[h_prime, w_prime] = x[h_prime, w_prime], x[hh, ww]
            x = np.clip(_skimage_gaussian_multichannel(x / 255., sigma), 0, 1) * 255
        else:
            c = [.75, .5, .4, .3, 0.15][severity - 1]
            x = np.array(x) / 255.
            means = np.mean(x, axis=(0, 1), keepdims=True)
            x = np.clip((x - means) * c + means, 0, 1) * 255
        out[i] = np.clip(x.astype(np.float64) / 255, 0, 1)
    return out


def test_authors_preset_names_and_constants():
    assert tuple(CORRUPTION_PRESETS) == ("glrnet", "authors")
    assert CORRUPTION_PRESETS["glrnet"] == CORRUPTIONS and AUTHORS == PAPER_CORRUPTIONS
    assert PRESET_CONSTANTS == {"glrnet": CONSTANTS, "authors": AUTHORS_CONSTANTS}
    assert set(AUTHORS_CONSTANTS) == set(AUTHORS)
    assert AUTHORS_CONSTANTS["glass_blur"] == tuple(_AUTHORS_GLASS)
    for name in AUTHORS:         # every constant differs from glrnet's: the presets are not the same corruptions
        assert all(a != g for a, g in zip(AUTHORS_CONSTANTS[name], CONSTANTS[name])), name


@pytest.mark.parametrize("name", AUTHORS)
@pytest.mark.parametrize("size", [28, 14])
def test_authors_corruptions_match_a_transcription_of_their_code(data, mnist28, name, size):
    """At their 28x28 and at our 14x14, every severity equals the per-image transcription to float32 precision."""
    imgs = mnist28 if size == 28 else data[2][:8].reshape(-1, 14, 14)
    for severity in SEVERITIES:
        ours = corrupt(imgs, name, severity, seed=7, preset="authors")
        ref = _authors_corrupt(imgs, name, severity, seed=7)
        assert ours.dtype == np.float32 and ours.shape == imgs.shape
        np.testing.assert_allclose(ours, ref, rtol=0, atol=np.finfo(np.float32).eps)
        assert not np.array_equal(ours, imgs.astype(np.float32))


def test_authors_glass_blur_blurs_vertically_and_quantises(data):
    """Two facts of their glass blur the transcription relies on, checked against the definitions."""
    imgs = data[2][:8].reshape(-1, 14, 14)
    # skimage's multichannel=True on a 2-D image: (sigma, 0), the second axis is left alone
    line = np.zeros((14, 14))
    line[7, :] = 1.0
    blurred = _skimage_gaussian_multichannel(line, 0.4)
    assert np.all(blurred[6] > 0) and np.all(blurred[:, 0] == blurred[:, 5])
    # the output at severity 1 (sigma .05: the blurs are the identity) holds only 256 grey levels
    out = corrupt(imgs, "glass_blur", 1, seed=0, preset="authors").astype(np.float64)
    np.testing.assert_allclose(out * 255, np.round(out * 255), rtol=0, atol=1e-4)
    assert not np.allclose(imgs * 255, np.round(imgs * 255), atol=1e-4)   # whereas the 14x14 input does not


def test_authors_perturbation_and_severity(data):
    """The noises and contrast perturb more at every severity; their glass blur does not (see the docstring)."""
    X = data[2][:200]
    size = {name: [np.abs(corrupt(X, name, s, seed=0, preset="authors") - X).mean() for s in SEVERITIES]
            for name in AUTHORS}
    for name in ("gaussian_noise", "impulse_noise", "contrast"):
        assert all(b > a for a, b in zip(size[name], size[name][1:])), (name, size[name])
    glass = size["glass_blur"]
    assert min(glass[3:]) > max(glass[:3])            # two shuffle passes (severities 4, 5) beat one
    assert glass[2] < glass[0] and glass[4] < glass[3]  # at equal passes a larger sigma perturbs less
    # the authors' constants are weaker than glrnet's for the noises and contrast, severity by severity
    for name in ("gaussian_noise", "impulse_noise", "contrast"):
        ours = [np.abs(corrupt(X, name, s, seed=0) - X).mean() for s in SEVERITIES]
        assert all(a < g for a, g in zip(size[name], ours)), name


def test_authors_common_random_numbers_and_reproducibility(data):
    X = data[2][:50]
    for name in AUTHORS:
        a = corrupt(X, name, 3, seed=11, preset="authors")
        np.testing.assert_array_equal(a, corrupt(X, name, 3, seed=11, preset="authors"))
        assert np.array_equal(a, corrupt(X, name, 3, seed=12, preset="authors")) == (name not in RANDOM_CORRUPTIONS)
    # Gaussian noise: the same z at every severity, where neither severity clips
    low, high = (corrupt(X, "gaussian_noise", s, seed=3, preset="authors").astype(np.float64) for s in (1, 5))
    inside = (low > 0) & (low < 1) & (high > 0) & (high < 1)
    assert inside.mean() > 0.2
    np.testing.assert_allclose(((high - X) / 0.10)[inside], ((low - X) / 0.04)[inside], rtol=0, atol=1e-5)
    # impulse noise: the pixels hit at severity 1 are hit (and set alike) at severity 5
    X = np.full((100, 196), 0.5)
    hit1, hit5 = (corrupt(X, "impulse_noise", s, seed=3, preset="authors") for s in (1, 5))
    changed = hit1 != np.float32(0.5)
    assert changed.any() and np.array_equal(hit1[changed], hit5[changed])
    assert (hit5 != np.float32(0.5)).sum() > changed.sum()


def test_authors_preset_in_corrupt_all_and_mean_corruption_accuracy(data, net):
    _, _, X, y = data
    X, y = X[:200], y[:200]
    out = {(n, s): Xc for n, s, Xc in corrupt_all(X, seed=2, preset="authors")}
    assert set(out) == {(n, s) for n in AUTHORS for s in SEVERITIES}
    np.testing.assert_array_equal(out["glass_blur", 4], corrupt(X, "glass_blur", 4, seed=2, preset="authors"))
    res = mean_corruption_accuracy(net, X, y, seed=2, preset="authors")
    assert list(res) == list(AUTHORS)
    for name in AUTHORS:
        manual = [np.mean(net.predict(corrupt(X, name, s, seed=2, preset="authors")) == y) for s in SEVERITIES]
        assert res[name][1] == manual and res[name][0] == pytest.approx(np.mean(manual))
    # flattened 28x28 rows work with image_shape, as 3-D images do
    big = np.repeat(np.repeat(X[:3].reshape(-1, 14, 14), 2, axis=1), 2, axis=2)
    np.testing.assert_array_equal(corrupt(big.reshape(3, -1), "glass_blur", 2, image_shape=(28, 28), preset="authors"),
                                  corrupt(big, "glass_blur", 2, preset="authors").reshape(3, -1))


def test_bad_preset_and_names_outside_the_preset(data, net):
    _, _, X, y = data
    X = X[:4]
    msg = r"preset must be one of \['glrnet', 'authors'\], got 'paper'"
    with pytest.raises(ValueError, match=msg):
        corrupt(X, "contrast", 1, preset="paper")
    with pytest.raises(ValueError, match=msg):
        list(corrupt_all(X, preset="paper"))
    with pytest.raises(ValueError, match=msg):
        mean_corruption_accuracy(net, X, y[:4], preset="paper")
    for bad in (None, ["authors"], 1):
        with pytest.raises(ValueError, match="preset must be one of"):
            corrupt(X, "contrast", 1, preset=bad)
    four = r"\['gaussian_noise', 'impulse_noise', 'glass_blur', 'contrast'\]"
    with pytest.raises(ValueError, match=rf"name must be one of {four}, got 'shot_noise'"):
        corrupt(X, "shot_noise", 1, preset="authors")
    with pytest.raises(ValueError, match=rf"names entries must be one of {four}, got 'pixelate'"):
        mean_corruption_accuracy(net, X, y[:4], names=["contrast", "pixelate"], preset="authors")
    with pytest.raises(ValueError, match=rf"names entries must be one of {four}, got 'brightness'"):
        list(corrupt_all(X, names="brightness", preset="authors"))
    with pytest.raises(ValueError, match="severity"):
        corrupt(X, "glass_blur", 6, preset="authors")
