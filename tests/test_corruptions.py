"""Tests for glrnet.robustness.corruptions on real 14x14 MNIST digits."""

import numpy as np
import pytest
from scipy import ndimage

from glrnet.robustness.corruptions import (
    CONSTANTS,
    CORRUPTIONS,
    PAPER_CORRUPTIONS,
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
