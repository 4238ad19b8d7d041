"""Training loops, optimisers and the scikit-learn classifier on the embedded data."""
import numpy as np
import pytest

import glrnet
from glrnet.method.optim import Adam, Momentum, SGD, learning_rate_at


def test_short_glr_training_is_well_above_chance(default_data):
    d = default_data
    model = glrnet.MLP([196, 20, 10], "sigmoid", glrnet.Gaussian(2.0))
    before = model.score(d.X_test, d.y_test)
    history = glrnet.train(model, d.X_train, d.y_train, epochs=4, replications=1000, learning_rate=0.3,
                           batch_reduction="sum", baseline=True, X_val=d.X_test, y_val=d.y_test, progress=False)
    after = model.score(d.X_test, d.y_test, replications=100)
    assert before < 0.25
    assert after > 0.6          # chance is 0.1
    assert history.train_loss[-1] < history.train_loss[0]
    assert len(history.val_accuracy) == 4 and history.steps == 4 * 36


def test_threshold_network_with_zero_one_loss_learns(default_data):
    """Neither the activation nor the loss is differentiable: only GLR can train this."""
    d = default_data
    model = glrnet.MLP([196, 20, 10], "threshold", glrnet.Gaussian(2.0), loss="zero_one")
    history = glrnet.train(model, d.X_train, d.y_train, epochs=4, replications=1000, learning_rate=0.03,
                           optimizer="adam", baseline=True, progress=False)
    assert history.train_loss[-1] < history.train_loss[0] - 0.1
    assert model.score(d.X_test, d.y_test, replications=200) > 0.4


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_optimizers_reduce_the_loss(optimizer, default_data):
    d = default_data
    model = glrnet.MLP([196, 20, 10], "sigmoid", glrnet.Gaussian(2.0))
    lr = {"sgd": 2.0, "momentum": 0.3, "adam": 0.03}[optimizer]
    history = glrnet.train(model, d.X_train[:500], d.y_train[:500], epochs=3, replications=300, learning_rate=lr,
                           optimizer=optimizer, schedule="cosine", progress=False)
    assert history.train_loss[-1] < history.train_loss[0]


def test_training_is_reproducible_and_thread_independent(default_data):
    d = default_data
    results = []
    for threads in (1, 2):
        model = glrnet.MLP([196, 8, 10], "threshold", glrnet.Gaussian(2.0), seed=3)
        glrnet.train(model, d.X_train[:100], d.y_train[:100], epochs=2, replications=256, seed=4,
                     n_threads=threads, progress=False)
        results.append(model.get_parameters())
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_callback_stops_early(default_data):
    d = default_data
    model = glrnet.MLP([196, 5, 10])
    history = glrnet.train(model, d.X_train[:50], d.y_train[:50], epochs=5, replications=50, progress=False,
                           callback=lambda epoch, h: epoch == 2)
    assert history.epoch == [1, 2]


def test_update_rules_on_a_quadratic():
    """Each optimiser minimises f(p) = |p - 3|^2 / 2 given exact gradients."""
    for opt, lr in ((SGD(), 0.1), (Momentum(0.9), 0.02), (Adam(), 0.1)):
        p = [np.zeros(3)]
        for _ in range(500):
            opt.step(p, [p[0] - 3.0], lr)
        np.testing.assert_allclose(p[0], 3.0, atol=1e-2)


def test_schedules():
    assert learning_rate_at(0.1, "constant", 50, 100) == 0.1
    assert learning_rate_at(1.0, "inverse_time", 1000, 2000, decay=1e-3) == pytest.approx(0.5)
    assert learning_rate_at(1.0, "cosine", 100, 100) == pytest.approx(0.0)
    assert learning_rate_at(1.0, "step", 70, 90) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="schedule"):
        learning_rate_at(1.0, "exponential", 1, 2)


def test_pathwise_training_of_the_same_noisy_network(default_data):
    """The control estimator: backpropagation through the same noise stream trains a sigmoid network."""
    d = default_data
    model = glrnet.MLP([196, 20, 10], "sigmoid", glrnet.Gaussian(2.0), seed=1)
    history = glrnet.train(model, d.X_train, d.y_train, epochs=3, replications=50, learning_rate=0.03,
                           optimizer="adam", estimator="pathwise", progress=False, seed=2)
    assert history.train_loss[-1] < history.train_loss[0]
    assert model.score(d.X_test, d.y_test, replications=50) > 0.5
    again = glrnet.MLP([196, 20, 10], "sigmoid", glrnet.Gaussian(2.0), seed=1)
    glrnet.train(again, d.X_train, d.y_train, epochs=3, replications=50, learning_rate=0.03,
                 optimizer="adam", estimator="pathwise", progress=False, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_parameters(), again.get_parameters()))


def test_pathwise_gradient_is_backprop_through_the_kernel_noise(tiny_problem):
    from glrnet.testing import oracle

    X, y = tiny_problem
    model = glrnet.MLP([5, 4, 3], "tanh", glrnet.Logistic(0.5), seed=3)
    est = model.pathwise_gradient(X, y, 40, seed=4, step=9)
    noise = [n.astype(np.float64) for n in model.sample_noise(len(X), 40, seed=4, step=9)]
    grad_w, grad_b = oracle.pathwise_gradient(model, X, y, noise)
    for a, b in zip(est.weights + est.biases, grad_w + grad_b):
        np.testing.assert_array_equal(a, b)
    assert est.loss == pytest.approx(model.evaluate(X, y, 40, seed=4, step=9)["loss"], rel=1e-5)
    # and backpropagation itself against central finite differences of the loss with that noise fixed
    fd_w, fd_b = oracle.numerical_gradient(model, X, y, noise)
    for a, b in zip(grad_w + grad_b, fd_w + fd_b):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("kwargs, match", [
    ({"activation": "threshold"}, "continuous activations"),
    ({"loss": "zero_one"}, "differentiable loss"),
])
def test_pathwise_gradient_refuses_what_it_cannot_differentiate(kwargs, match, tiny_problem):
    X, y = tiny_problem
    model = glrnet.MLP([5, 4, 3], kwargs.get("activation", "sigmoid"), loss=kwargs.get("loss", "cross_entropy"))
    with pytest.raises(ValueError, match=match):
        model.pathwise_gradient(X, y, 10)
    with pytest.raises(ValueError, match="estimator"):
        glrnet.train(model, X, y, epochs=1, replications=10, estimator="ipa", progress=False)
    with pytest.raises(ValueError, match="GLR estimator only"):
        glrnet.train(model, X, y, epochs=1, replications=10, estimator="pathwise", baseline=True, progress=False)


def test_divergence_stops_training_and_keeps_the_last_finite_parameters(tiny_problem, tmp_path):
    X, y = tiny_problem
    model = glrnet.MLP([5, 4, 3], "sigmoid", glrnet.Gaussian(1.0), seed=2)
    glrnet.train(model, X, y, epochs=1, replications=16, learning_rate=0.1, progress=False)
    with pytest.raises(glrnet.method.training.DivergenceError, match=r"diverged at step \d+ \(epoch \d+\)"):
        glrnet.train(model, X, y, epochs=3, replications=16, learning_rate=1e300, progress=False)
    params = model.get_parameters()
    assert all(np.isfinite(p).all() and np.abs(p).max() < 3.4e38 for p in params)
    model.save(tmp_path / "kept.npz")
    assert np.array_equal(glrnet.load(tmp_path / "kept.npz").weights[0], model.weights[0])


def test_momentum_is_checked_for_every_optimizer(tiny_problem):
    X, y = tiny_problem
    model = glrnet.MLP([5, 4, 3])
    with pytest.raises(ValueError, match="momentum"):
        glrnet.train(model, X, y, epochs=1, replications=8, momentum=float("nan"), progress=False)
    with pytest.raises(TypeError, match="callback"):
        glrnet.train(model, X, y, epochs=1, replications=8, callback=3, progress=False)
    with pytest.raises(TypeError, match="model"):
        glrnet.train(None, X, y)


def test_validation_reports_the_prediction_accuracy(tiny_problem):
    X, y = tiny_problem
    model = glrnet.MLP([5, 4, 3], "sigmoid", glrnet.Gaussian(1.0))
    history = glrnet.train(model, X, y, epochs=2, replications=16, X_val=X, y_val=y, eval_replications=30,
                           progress=False)
    assert len(history.val_prediction_accuracy) == 2
    assert history.val_prediction_accuracy[-1] == model.score(X, y, 30, step=glrnet.method.network.validation_step(2))
