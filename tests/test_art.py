"""glrnet models as ART classifiers, and ART classifiers attacked by glrnet's attacks.

The central check: ART's ProjectedGradientDescent and glrnet's pgd, run with the same
settings on the same trained model, leave accuracies that agree within sampling error
(a two-proportion z-test at the 99 % level), for the noise-free baseline and for a noisy
GLR network attacked through its likelihood-ratio gradient.
"""
import math

import numpy as np
import pytest

art = pytest.importorskip("art")

import glrnet  # noqa: E402
from glrnet import datasets  # noqa: E402
from glrnet.robustness import NoisyModel, attacks, corruptions, transfer_accuracy  # noqa: E402
from glrnet.robustness.art import art_classifier  # noqa: E402

from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent  # noqa: E402

EPS, STEPS = 0.1, 10
STEP_SIZE = 2.5 * EPS / STEPS
Z_99 = 2.5758293035489   # two-sided 99 % quantile of the standard normal


@pytest.fixture(scope="module")
def mnist():
    d = datasets.load(seed=0, limit=2500)       # 1,500 training and 1,000 test images
    return d.X_train, d.y_train, d.X_test.astype(np.float64), d.y_test


@pytest.fixture(scope="module")
def baseline(mnist):
    X, y, _, _ = mnist
    model = glrnet.baseline_network([196, 20, 10], "sigmoid", seed=0)
    glrnet.train(model, X, y, epochs=8, learning_rate=0.1, optimizer="momentum", estimator="backprop", progress=False)
    return model


@pytest.fixture(scope="module")
def threshold(mnist):
    X, y, _, _ = mnist
    model = glrnet.MLP([196, 20, 10], "threshold", glrnet.Gaussian(2.0), seed=0)
    glrnet.train(model, X, y, epochs=4, replications=500, optimizer="adam", learning_rate=0.03, baseline=True,
                 seed=0, progress=False)
    return model


def two_proportion_z(p1, p2, n):
    """z statistic of two accuracies on n images each (pooled).  The two attacks see the same
    images, which correlates their outcomes positively; treating them as independent, as here,
    overstates the variance of the difference, so the test is conservative."""
    pooled = (p1 + p2) / 2
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * 2 / n)
    return (p1 - p2) / se


def art_pgd(classifier, X, y):
    attack = ProjectedGradientDescent(classifier, norm=np.inf, eps=EPS, eps_step=STEP_SIZE, max_iter=STEPS,
                                      num_random_init=0, batch_size=X.shape[0], verbose=False)
    return attack.generate(X.astype(np.float32), y=y)


def glrnet_pgd(model, X, y):
    # ART's PGD: no random start, every step kept (no early stop at the first success)
    return attacks.pgd(model, X, y, EPS, step_size=STEP_SIZE, steps=STEPS, random_start=False,
                       keep_success=False).X_adv


# ------------------------------------------------------------------ the adapter
def test_adapter_is_an_art_classifier(baseline, threshold, mnist):
    from art.estimators.classification.classifier import ClassifierMixin
    from art.estimators.estimator import BaseEstimator, LossGradientsMixin

    _, _, X, y = mnist
    X, y = X[:20], y[:20]
    for model in (baseline, threshold, NoisyModel(threshold, predict_replications=10, gradient_replications=50)):
        c = art_classifier(model, **({"predict_replications": 10, "gradient_replications": 50}
                                     if model is threshold else {}))
        assert isinstance(c, (ClassifierMixin, LossGradientsMixin, BaseEstimator))
        assert c.nb_classes == 10 and c.input_shape == (196,)
        np.testing.assert_array_equal(c.clip_values, [0.0, 1.0])
        proba = c.predict(X)
        assert proba.shape == (20, 10)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)   # the kernel's float32
        one_hot = np.eye(10)[y]
        g_labels, g_one_hot = c.loss_gradient(X, y), c.loss_gradient(X, one_hot)
        assert g_labels.shape == X.shape and np.isfinite(g_labels).all()
        # (14, 14) images in, gradients in the same shape out
        assert c.loss_gradient(X.reshape(20, 14, 14), y).shape == (20, 14, 14)
        assert c.compute_loss(X, one_hot).shape == (20,)
        if model is baseline:
            np.testing.assert_array_equal(g_labels, g_one_hot)
            np.testing.assert_allclose(g_labels, baseline.input_gradient(X, y)[1])
            np.testing.assert_allclose(proba, baseline.predict_proba(X))
    assert art_classifier(baseline).gradient == "exact"
    assert art_classifier(threshold).gradient == "likelihood_ratio"
    assert art_classifier(threshold, gradient="smoothed").gradient == "smoothed"
    bpda = art_classifier(threshold, gradient="bpda", eot_draws=3)
    assert bpda.gradient == "bpda" and bpda.under_test.eot_draws == 3
    assert art_classifier(NoisyModel(threshold, attack_gradient="smoothed")).gradient == "smoothed"
    from glrnet.robustness.art import ARTClassifier

    assert isinstance(art_classifier(baseline), ARTClassifier)


def test_adapter_rejects_bad_arguments(baseline, threshold, mnist):
    _, _, X, y = mnist
    X, y = X[:5], y[:5]
    with pytest.raises(TypeError, match="model must be a glrnet MLP"):
        art_classifier(None)
    with pytest.raises(TypeError, match="model must be a glrnet MLP"):
        art_classifier(object())
    with pytest.raises(ValueError, match="gradient must be one of"):
        art_classifier(threshold, gradient="pathwise")
    with pytest.raises(ValueError, match="gradient='smoothed' contradicts"):
        art_classifier(NoisyModel(threshold), gradient="smoothed")
    with pytest.raises(ValueError, match="predict_replications: set on the NoisyModel"):
        art_classifier(NoisyModel(threshold), predict_replications=5)
    with pytest.raises(ValueError, match="needs neuronal noise"):
        art_classifier(baseline, gradient="likelihood_ratio")
    with pytest.raises(ValueError, match="seed: only for a network with neuronal noise"):
        art_classifier(baseline, seed=1)
    with pytest.raises(ValueError, match="gradient='exact'"):
        art_classifier(threshold, gradient="exact")
    with pytest.raises(ValueError, match="seed must be >= 0"):
        art_classifier(threshold, seed=-1)
    c = art_classifier(baseline)
    for bad in (X.astype(np.complex128), X.astype(str), X.astype(object)):
        with pytest.raises(TypeError, match=r"x must be a numeric \(real\) array"):
            c.predict(bad)
        with pytest.raises(TypeError, match=r"x must be a numeric \(real\) array"):
            c.loss_gradient(bad, y)
    with pytest.raises(ValueError, match="x has 100 features"):
        c.predict(X[:, :100])
    with pytest.raises(ValueError, match="y must be one-hot of shape"):
        c.loss_gradient(X, np.eye(9)[y])
    with pytest.raises(ValueError, match=r"y must be in \[0, 10\)"):
        c.loss_gradient(X, y + 10)
    with pytest.raises(NotImplementedError, match="glrnet.train"):
        c.fit(X, y)
    with pytest.raises(ValueError, match="reduction"):
        c.compute_loss(X, y, reduction="median")


# ------------------------------------------------- ART's PGD against glrnet's pgd
def test_art_and_glrnet_pgd_agree_on_the_baseline(baseline, mnist):
    _, _, X, y = mnist
    X_art = art_pgd(art_classifier(baseline), X, y)
    X_glr = glrnet_pgd(baseline, X, y)
    acc_art = float(np.mean(baseline.predict(X_art) == y))
    acc_glr = float(np.mean(baseline.predict(X_glr) == y))
    n = X.shape[0]
    assert acc_art < baseline.score(X, y) - 0.3        # the attack works (measured 0.86 -> 0.22)
    assert abs(two_proportion_z(acc_art, acc_glr, n)) < Z_99, (acc_art, acc_glr, n)
    # the same algorithm on an exact gradient: the same examples up to ART's float32
    assert np.abs(X_art - X_glr).max() < 1e-5
    assert np.mean(baseline.predict(X_art) == baseline.predict(X_glr)) >= 0.99


def test_art_and_glrnet_pgd_agree_on_a_noisy_network(threshold, mnist):
    """Through the likelihood-ratio gradient: both attacks draw their own gradient noise, so
    they agree only statistically."""
    _, _, X, y = mnist
    under_test = NoisyModel(threshold, predict_replications=100, gradient_replications=1000, seed=0)
    clean = float(np.mean(under_test.predict(X) == y))
    X_art = art_pgd(art_classifier(NoisyModel(threshold, predict_replications=100, gradient_replications=1000,
                                              seed=1)), X, y)
    X_glr = glrnet_pgd(NoisyModel(threshold, predict_replications=100, gradient_replications=1000, seed=2), X, y)
    acc_art = float(np.mean(under_test.predict(X_art) == y))
    acc_glr = float(np.mean(under_test.predict(X_glr) == y))
    n = X.shape[0]
    assert np.abs(X_art - X).max() <= EPS + 1e-6 and np.abs(X_glr - X).max() <= EPS + 1e-12
    assert max(acc_art, acc_glr) < clean - 0.1          # both attacks work
    assert abs(two_proportion_z(acc_art, acc_glr, n)) < Z_99, (clean, acc_art, acc_glr, n)


# ---------------------------------------------- ART classifiers in glrnet's attacks
@pytest.fixture(scope="module")
def sklearn_art(mnist):
    """A foreign ART classifier: scikit-learn's logistic regression in ART's wrapper."""
    from sklearn.linear_model import LogisticRegression

    from art.estimators.classification import SklearnClassifier

    X, y, _, _ = mnist
    return SklearnClassifier(LogisticRegression(max_iter=300).fit(X, y), clip_values=(0.0, 1.0))


def test_glrnet_attacks_accept_art_classifiers(sklearn_art, baseline, mnist):
    _, _, X, y = mnist
    X, y = X[:200], y[:200]
    clean = attacks.accuracy_under_attack(sklearn_art, X, y)
    assert clean > 0.8
    # FGSM: glrnet's and ART's on the same ART classifier give the same examples
    r = attacks.fgsm(sklearn_art, X, y, EPS)
    X_art = FastGradientMethod(sklearn_art, norm=np.inf, eps=EPS, batch_size=200).generate(X.astype(np.float32),
                                                                                              y=y)
    assert np.abs(r.X_adv - X_art).max() < 1e-5
    assert attacks.accuracy_under_attack(sklearn_art, r, y) < clean - 0.2
    p = attacks.pgd(sklearn_art, X, y, EPS, steps=5)
    assert attacks.accuracy_under_attack(sklearn_art, p, y) <= attacks.accuracy_under_attack(sklearn_art, r, y)
    lb = attacks.lbfgs(sklearn_art, X[:10], y[:10], max_iter=20, search_steps=2)     # untargeted: needs the loss
    assert lb.success_rate > 0.5
    attacks.lbfgs(sklearn_art, X[:10], y[:10], target="random", max_iter=5, search_steps=1)
    curves = attacks.eps_curve(attacks.fgsm, sklearn_art, {"lr": sklearn_art, "bp": baseline}, X, y, [0.0, EPS])
    assert curves["lr"][0] == pytest.approx(clean) and curves["lr"][1] < clean
    assert set(transfer_accuracy({"lr": sklearn_art, "bp": baseline}, r, y)) == {"lr", "bp"}
    res = corruptions.mean_corruption_accuracy(sklearn_art, X[:50], y[:50], names=["contrast"])
    assert 0.0 <= res["contrast"][0] <= 1.0
    # the adapter back in glrnet's attacks: the same as attacking the model itself
    np.testing.assert_allclose(attacks.fgsm(art_classifier(baseline), X, y, EPS).X_adv,
                               attacks.fgsm(baseline, X, y, EPS).X_adv, atol=1e-6)


def test_art_classifier_without_loss_gradients_is_rejected(sklearn_art, mnist):
    from art.estimators.classification import BlackBoxClassifier

    _, _, X, y = mnist
    black_box = BlackBoxClassifier(sklearn_art.predict, input_shape=(196,), nb_classes=10, clip_values=(0, 1))
    with pytest.raises(TypeError, match="model must provide a callable loss_gradient"):
        attacks.fgsm(black_box, X[:5], y[:5], EPS)
    assert attacks.accuracy_under_attack(black_box, X[:50], y[:50]) == pytest.approx(
        attacks.accuracy_under_attack(sklearn_art, X[:50], y[:50]))
