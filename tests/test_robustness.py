"""GLR networks as models under test: noisy prediction and the likelihood-ratio input gradient."""
import numpy as np
import pytest

import glrnet
from glrnet.robustness import NoisyModel, attacks


@pytest.fixture(scope="module")
def trained_threshold(default_data):
    d = default_data
    model = glrnet.MLP([196, 20, 10], "threshold", glrnet.Gaussian(2.0))
    glrnet.train(model, d.X_train, d.y_train, epochs=4, replications=500, optimizer="adam", learning_rate=0.03,
                 baseline=True, progress=False)
    return model


def test_noisy_model_predictions_are_deterministic(trained_threshold, default_data):
    under_test = NoisyModel(trained_threshold, predict_replications=50, seed=3)
    X = default_data.X_test[:100]
    assert np.array_equal(under_test.predict(X), under_test.predict(X))
    assert under_test.predict_proba(X).shape == (100, 10)


def test_lr_input_gradient_attacks_a_step_network(trained_threshold, default_data):
    """The pathwise gradient of a threshold network is zero almost everywhere; the
    likelihood-ratio gradient is not, and FGSM along it hurts far more than random
    signs of the same size (no gradient masking)."""
    d = default_data
    X, y = d.X_test[:300], d.y_test[:300]
    under_test = NoisyModel(trained_threshold, predict_replications=50, gradient_replications=1000, seed=1)
    clean = np.mean(under_test.predict(X) == y)
    loss, grad = under_test.loss_gradient(X, y)
    assert grad.shape == X.shape and np.all(np.isfinite(grad)) and loss.shape == (300,)
    assert np.mean(np.abs(grad).sum(axis=1) > 0) > 0.99
    eps = 0.15
    adversarial = attacks.fgsm(under_test, X, y, eps)
    assert adversarial.unchanged_fraction < 0.01
    attacked = np.mean(under_test.predict(adversarial.X_adv) == y)
    signs = np.random.default_rng(0).choice([-1.0, 1.0], size=X.shape)
    random = np.mean(under_test.predict(np.clip(X + eps * signs, 0, 1)) == y)
    assert clean > 0.6
    # 300 images: a binomial standard error of at most 0.029 per accuracy
    assert attacked < random - 0.15, (clean, random, attacked)


def test_lr_input_gradient_is_unbiased_for_a_sigmoid_network():
    """Against the noise-averaged backprop input gradient (pathwise), within a CI."""
    from glrnet.testing import oracle as reference

    rng = np.random.default_rng(2)
    X = rng.random((3, 4))
    y = np.array([0, 1, 2])
    model = glrnet.MLP([4, 5, 3], "sigmoid", glrnet.Gaussian(1.0), seed=1)
    model.weights[0] *= 2
    model.weights[1] *= 3
    runs = np.array([model.input_gradient(X, y, 200_000, step=s)[1] for s in range(30)])
    noise_rng = np.random.default_rng(5)
    path = []
    for _ in range(30):
        noise = [glrnet.Gaussian(1.0).sample(noise_rng, (3, 20_000, w)) for w in (5, 3)]
        # d L / d x = W0^T delta^(0): per sample, the pathwise gradient of the first-level bias times W0
        per_sample = []
        for i in range(3):
            _, gb = reference.pathwise_gradient(model, X[i:i + 1], y[i:i + 1], [n[i:i + 1] for n in noise])
            per_sample.append(gb[0] @ model.weights[0])
        path.append(np.array(per_sample))
    path = np.array(path)
    diff = runs.mean(axis=0) - path.mean(axis=0)
    se = np.sqrt(runs.var(axis=0, ddof=1) / 30 + path.var(axis=0, ddof=1) / 30)
    assert np.all(np.abs(diff) < 5.5 * se), np.max(np.abs(diff) / se)
    assert se.max() < 0.15 * np.abs(path.mean(axis=0)).max()


@pytest.mark.parametrize("activation", ["threshold", "sign", "staircase", "quantized_relu", "sigmoid", "relu"])
@pytest.mark.parametrize("noise", [glrnet.Gaussian(2.0), glrnet.Laplace(0.8)], ids=["gaussian", "laplace"])
def test_noise_average_of_activations(activation, noise):
    """phi_bar(v) = E[phi(v + r)] against a Monte-Carlo mean (4 standard errors), and
    phi_bar' against central differences of phi_bar."""
    act = glrnet.Activation(activation, levels=4)
    v = np.linspace(-4, 5, 19)
    value, slope = act.noise_average(v, noise, nodes=2048)
    draws = noise.sample(np.random.default_rng(7), (200_000, 1))
    samples = act(v + draws)
    se = samples.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(value - samples.mean(axis=0)) <= 4 * se + 1e-3), np.max(np.abs(value - samples.mean(axis=0)))
    h = 1e-4
    up, down = act.noise_average(v + h, noise, nodes=2048)[0], act.noise_average(v - h, noise, nodes=2048)[0]
    numeric = (up - down) / (2 * h)
    np.testing.assert_allclose(slope, numeric, rtol=1e-3, atol=2e-3)


def test_smoothed_threshold_is_the_gaussian_cdf():
    from scipy import stats

    value, slope = glrnet.Activation("threshold").noise_average(np.linspace(-5, 5, 41), glrnet.Gaussian(2.0))
    np.testing.assert_allclose(value, stats.norm.cdf(np.linspace(-5, 5, 41) / 2.0), rtol=1e-12)
    np.testing.assert_allclose(slope, stats.norm.pdf(np.linspace(-5, 5, 41) / 2.0) / 2.0, rtol=1e-12)


@pytest.mark.parametrize("activation, noise", [("sigmoid", glrnet.Gaussian(1.0)), ("sign", glrnet.Laplace(0.7)),
                                               ("staircase", glrnet.Logistic(0.5))])
def test_smoothed_surrogate_gradient_matches_finite_differences(activation, noise):
    from glrnet.robustness import SmoothedSurrogate

    rng = np.random.default_rng(4)
    model = glrnet.MLP([6, 5, 4, 3], activation, noise, seed=2)
    surrogate = SmoothedSurrogate(model)
    X, y = rng.random((4, 6)), np.array([0, 1, 2, 1])
    loss, grad = surrogate.loss_gradient(X, y)
    h = 1e-6
    numeric = np.zeros_like(X)
    for j in range(X.shape[1]):
        step = np.zeros_like(X)
        step[:, j] = h
        numeric[:, j] = (surrogate.loss_gradient(X + step, y)[0] - surrogate.loss_gradient(X - step, y)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7 * np.abs(numeric).max())
    assert loss.shape == (4,) and np.all(loss > 0)


def test_smoothed_surrogate_attacks_a_step_network(trained_threshold, default_data):
    """PGD aimed by the surrogate's gradient hurts the real noisy threshold network."""
    d = default_data
    X, y = d.X_test[:300], d.y_test[:300]
    smoothed = NoisyModel(trained_threshold, predict_replications=50, attack_gradient="smoothed", seed=1)
    clean = np.mean(smoothed.predict(X) == y)
    attacked = np.mean(smoothed.predict(attacks.pgd(smoothed, X, y, 0.15, steps=10).X_adv) == y)
    signs = np.random.default_rng(0).choice([-1.0, 1.0], size=X.shape)
    random = np.mean(smoothed.predict(np.clip(X + 0.15 * signs, 0, 1)) == y)
    assert clean > 0.6
    assert attacked < random - 0.15, (clean, random, attacked)
    with pytest.raises(ValueError, match="attack_gradient"):
        NoisyModel(trained_threshold, attack_gradient="pathwise")


# ---------------------------------------------------------------- validation
def test_models_under_test_name_a_bad_model():
    from glrnet.robustness import SmoothedSurrogate

    for bad in (None, object(), "model"):
        with pytest.raises(TypeError, match="model must"):
            NoisyModel(bad)
        with pytest.raises(TypeError, match="model must"):
            SmoothedSurrogate(bad)
    with pytest.raises(ValueError, match="SmoothedSurrogate needs a network with neuronal noise"):
        SmoothedSurrogate(glrnet.baseline_network([4, 3], "sigmoid"))


def test_noisy_model_checks_its_attack_loss():
    model = glrnet.MLP([4, 3], "sigmoid", glrnet.Gaussian(1.0))
    with pytest.raises(ValueError, match=r"attack_loss must be one of \['cross_entropy'"):
        NoisyModel(model, attack_loss="crossentropy_typo")
    with pytest.raises(TypeError, match="attack_loss must be a string"):
        NoisyModel(model, attack_loss=None)
    assert NoisyModel(model, attack_loss="ce").attack_loss == "cross_entropy"


def test_models_under_test_reject_complex_string_and_object_inputs():
    """Not silently converted: a complex array would lose its imaginary part, strings would be parsed."""
    from glrnet.robustness import SmoothedSurrogate, transfer_accuracy

    model = glrnet.MLP([196, 5, 10], "threshold", glrnet.Gaussian(2.0))
    X, y = np.random.default_rng(0).random((4, 196)), np.arange(4)
    under_test = NoisyModel(model, predict_replications=5, gradient_replications=10)
    surrogate = SmoothedSurrogate(model)
    calls = [under_test.predict, under_test.predict_proba, lambda X: under_test.loss_gradient(X, y),
             surrogate.predict, surrogate.forward, lambda X: surrogate.loss_gradient(X, y),
             lambda X: transfer_accuracy({"noisy": under_test}, X, y)]
    for bad in (X.astype(np.complex128), X + 0.1j, X.astype(str), X.astype(object)):
        for call in calls:
            with pytest.raises(TypeError, match=r"X(_adv)? must be a numeric \(real\) array"):
                call(bad)


def test_transfer_accuracy_takes_attack_results_and_probability_models():
    model = glrnet.baseline_network([196, 5, 10], "sigmoid")
    X, y = np.random.default_rng(0).random((6, 196)), np.arange(6)
    result = attacks.fgsm(model, X, y, 0.1)

    class Probabilities:                        # predict returns class probabilities, as ART's classifiers do
        def predict(self, X):
            return model.predict_proba(X)

    from glrnet.robustness import transfer_accuracy

    acc = transfer_accuracy({"bp": model, "proba": Probabilities()}, result, y)
    assert acc["bp"] == acc["proba"] == pytest.approx(np.mean(model.predict(result.X_adv) == y))
    with pytest.raises(TypeError, match=r"target_models\['x'\]|model_under_test must provide a callable predict"):
        transfer_accuracy({"x": object()}, result, y)
