"""The backpropagation (BP) baseline: a configuration of glrnet.MLP (no noise, linear output)
trained by glrnet.train(estimator="backprop"); exact gradients, training, validation."""
import warnings

import numpy as np
import pytest

import glrnet

ACTS = ("sigmoid", "relu", "tanh")
SHAPES = ((5, 4, 3), (5, 6, 4, 3))  # one and two hidden layers


def _rel_err(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b))


def _small_problem(sizes, act, seed=0):
    rng = np.random.default_rng(seed)
    net = glrnet.baseline_network(sizes, act, seed=seed + 1)
    for b in net.biases:  # non-zero biases so every term of Eq. 3 is exercised
        b[:] = 0.1 * rng.standard_normal(b.shape)
    X = rng.random((7, sizes[0]))
    y = rng.integers(0, sizes[-1], size=7)
    return net, X, y


def _loss(net, X, y):
    return net.evaluate(X, y)["loss"]


def _fit(net, X, y, **kwargs):
    return glrnet.train(net, X, y, estimator="backprop", progress=kwargs.pop("progress", False), **kwargs)


def test_configuration():
    net = glrnet.baseline_network([6, 5, 4], "relu")
    assert not net.noisy and net.loss == "cross_entropy"
    assert [a.name for a in net.activations] == ["relu", "identity"]
    assert "noise=none" in repr(net)


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("sizes", SHAPES)
def test_parameter_gradient_matches_central_differences(act, sizes):
    net, X, y = _small_problem(sizes, act)
    est = net.pathwise_gradient(X, y)
    assert est.loss == pytest.approx(_loss(net, X, y), rel=1e-14)
    h = 1e-6
    for l in range(len(net.weights)):
        for P, G in ((net.weights[l], est.weights[l]), (net.biases[l], est.biases[l])):
            assert G.shape == P.shape
            fd = np.empty_like(P)
            for idx in np.ndindex(P.shape):
                old = P[idx]
                P[idx] = old + h
                lp = _loss(net, X, y)
                P[idx] = old - h
                lm = _loss(net, X, y)
                P[idx] = old
                fd[idx] = (lp - lm) / (2 * h)
            assert _rel_err(G, fd) < 1e-6


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("sizes", SHAPES)
def test_input_gradient_matches_central_differences(act, sizes):
    net, X, y = _small_problem(sizes, act, seed=3)
    loss, grad = net.loss_gradient(X, y)
    assert loss.shape == (X.shape[0],) and grad.shape == X.shape
    assert np.mean(loss) == pytest.approx(_loss(net, X, y), rel=1e-14)
    h = 1e-6
    fd = np.empty_like(X)
    for i, j in np.ndindex(X.shape):
        Xp, Xm = X.copy(), X.copy()
        Xp[i, j] += h
        Xm[i, j] -= h
        fd[i, j] = (net.loss_gradient(Xp, y)[0][i] - net.loss_gradient(Xm, y)[0][i]) / (2 * h)
    assert _rel_err(grad, fd) < 1e-6


def test_loss_is_stable_for_huge_logits():
    net = glrnet.baseline_network([3, 2], seed=0)
    net.weights[0][:] = [[1e4, 0, 0], [-1e4, 0, 0]]
    X = np.array([[1.0, 0, 0], [0.5, 0, 0]])
    loss, grad = net.loss_gradient(X, np.array([1, 0]))
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    assert loss[0] == pytest.approx(2e4)  # -log softmax = logit gap
    assert loss[1] == 0.0
    p = net.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-15)


def test_init_is_seeded_and_shaped():
    a, b = glrnet.baseline_network([6, 5, 4], seed=1), glrnet.baseline_network([6, 5, 4], seed=1)
    c = glrnet.baseline_network([6, 5, 4], seed=2)
    assert [w.shape for w in a.weights] == [(5, 6), (4, 5)]
    assert [v.shape for v in a.biases] == [(5,), (4,)]
    assert all(np.array_equal(u, v) for u, v in zip(a.weights, b.weights))
    assert not np.array_equal(a.weights[0], c.weights[0])
    # Glorot-uniform limit for the sigmoid layer
    assert np.abs(a.weights[0]).max() <= np.sqrt(6 / 11)
    # He-normal for hidden ReLU levels: standard deviation sqrt(2 / n_in)
    wide = glrnet.baseline_network([400, 300, 10], "relu", seed=0)
    assert wide.weights[0].std() == pytest.approx(np.sqrt(2 / 400), rel=0.01)
    assert np.abs(wide.weights[1]).max() <= np.sqrt(6 / 310)


# ------------------------------------------------------------------- training
def test_sigmoid_196_20_10_learns_mnist(data):
    X_train, y_train, Xte, yte = data
    net = glrnet.baseline_network([196, 20, 10], "sigmoid", seed=0)
    history = _fit(net, X_train[:2000], y_train[:2000], epochs=5, learning_rate=0.1, optimizer="momentum",
                   X_val=Xte, y_val=yte)
    acc = net.score(Xte, yte)
    assert acc > 0.85
    assert len(history.val_accuracy) == 5 and history.val_accuracy[-1] == pytest.approx(acc)
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_loss[-1] == pytest.approx(_loss(net, Xte, yte))


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.5), ("momentum", 0.1), ("adam", 0.01)])
@pytest.mark.parametrize("act", ACTS)
def test_every_optimizer_and_activation_reduces_loss(optimizer, lr, act):
    rng = np.random.default_rng(0)
    X = rng.random((300, 4))
    y = np.argmax((X - 0.5) @ rng.standard_normal((4, 3)), axis=1)  # linearly separable
    net = glrnet.baseline_network([4, 8, 3], act, seed=0)
    before = _loss(net, X, y)
    _fit(net, X, y, epochs=20, learning_rate=lr, optimizer=optimizer)
    assert _loss(net, X, y) < 0.5 * before
    assert net.score(X, y) > 0.9


def test_training_is_deterministic_and_seed_dependent():
    rng = np.random.default_rng(1)
    X = rng.random((100, 5))
    y = rng.integers(0, 3, 100)
    nets = [glrnet.baseline_network([5, 4, 3], seed=0) for _ in range(3)]
    for net, seed in zip(nets, (7, 7, 8)):
        _fit(net, X, y, epochs=2, seed=seed)
    assert all(np.array_equal(u, v) for u, v in zip(nets[0].weights, nets[1].weights))
    assert not np.array_equal(nets[0].weights[0], nets[2].weights[0])


def test_progress_bar_does_not_change_training(capsys):
    rng = np.random.default_rng(2)
    X = rng.random((60, 5))
    y = rng.integers(0, 3, 60)
    quiet, loud = glrnet.baseline_network([5, 4, 3], seed=0), glrnet.baseline_network([5, 4, 3], seed=0)
    h_quiet = _fit(quiet, X, y, epochs=3)
    h_loud = _fit(loud, X, y, epochs=3, progress=True)
    assert "backprop training" in capsys.readouterr().err
    assert h_quiet.train_loss == h_loud.train_loss
    assert all(np.array_equal(u, v) for u, v in zip(quiet.weights, loud.weights))


def test_glr_needs_noise():
    net = glrnet.baseline_network([4, 3, 2])
    X, y = np.full((5, 4), 0.5), np.array([0, 1, 0, 1, 1])
    with pytest.raises(ValueError, match="no neuronal noise"):
        glrnet.train(net, X, y, epochs=1)
    with pytest.raises(ValueError, match="no neuronal noise"):
        net.gradient(X, y, 10)


def test_predict_score_consistency():
    net, X, y = _small_problem((5, 4, 3), "tanh")
    logits = net.forward(X)
    assert logits.shape == (7, 3)
    np.testing.assert_array_equal(net.predict(X), np.argmax(net.predict_proba(X), axis=1))
    np.testing.assert_array_equal(net.predict(X), np.argmax(logits, axis=1))
    assert net.score(X, y) == np.mean(net.predict(X) == y)
    # float labels holding integers are accepted
    assert net.score(X, y.astype(float)) == net.score(X, y)


# ----------------------------------------------------------------- validation
def test_constructor_validation():
    with pytest.raises(ValueError, match="activation"):
        glrnet.baseline_network([4, 3], activation="softsign")
    with pytest.raises(ValueError, match="layer_sizes"):
        glrnet.baseline_network([4])
    with pytest.raises(ValueError, match="layer_sizes"):
        glrnet.baseline_network([4, 0, 3])
    with pytest.raises(TypeError, match="layer_sizes"):
        glrnet.baseline_network([4, 2.5, 3])
    with pytest.raises(TypeError, match="seed"):
        glrnet.baseline_network([4, 3], seed=0.5)


def test_input_validation():
    net = glrnet.baseline_network([4, 3, 2], seed=0)
    X = np.full((5, 4), 0.5)
    y = np.array([0, 1, 0, 1, 1])
    with pytest.raises(ValueError, match="X has 3 features"):
        net.predict(X[:, :3])
    with pytest.raises(ValueError, match="X must be 2-D"):
        net.predict(X[0])
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        net.loss_gradient(bad, y)
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        _fit(net, bad, y)
    with pytest.raises(ValueError, match=r"y must be in \[0, 2\)"):
        net.score(X, np.array([0, 1, 2, 0, 1]))
    with pytest.raises(ValueError, match=r"y must be in \[0, 2\)"):
        net.pathwise_gradient(X, np.array([0, -1, 0, 0, 1]))
    with pytest.raises(ValueError, match="y has 4 labels"):
        _fit(net, X, y[:4])
    with pytest.raises(ValueError, match="y must hold integer"):
        _loss(net, X, y + 0.5)
    with pytest.raises(TypeError, match="y must hold integer"):
        _loss(net, X, np.array(list("abcde")))


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate"),
        ({"learning_rate": -0.1}, ValueError, "learning_rate"),
        ({"learning_rate": float("nan")}, ValueError, "learning_rate"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"epochs": 2.0}, TypeError, "epochs"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": -5}, ValueError, "batch_size"),
        ({"optimizer": "momentum", "momentum": 1.0}, ValueError, "momentum"),
        ({"X_val": np.zeros((2, 4))}, ValueError, "X_val and y_val"),
        ({"X_val": np.zeros((2, 3)), "y_val": [0, 1]}, ValueError, "X_val has 3 features"),
        ({"X_val": np.zeros((2, 4)), "y_val": [0, 5]}, ValueError, r"y_val must be in \[0, 2\)"),
        ({"baseline": True}, ValueError, "GLR estimator only"),
    ],
)
def test_training_argument_validation(kwargs, exc, match):
    net = glrnet.baseline_network([4, 3, 2], seed=0)
    X = np.full((5, 4), 0.5)
    y = np.array([0, 1, 0, 1, 1])
    with pytest.raises(exc, match=match):
        _fit(net, X, y, **kwargs)


# --------------------------------------------------------- glrnet 0.1's class
def test_deprecated_bpnetwork_is_the_same_network_and_loop(tmp_path):
    with pytest.warns(DeprecationWarning, match="glrnet.backprop is deprecated"):
        import importlib
        import sys

        sys.modules.pop("glrnet.backprop", None)
        backprop = importlib.import_module("glrnet.backprop")
    rng = np.random.default_rng(4)
    X = rng.random((80, 5))
    y = rng.integers(0, 3, 80)
    old = backprop.BPNetwork([5, 4, 3], "tanh", seed=1).fit(X, y, epochs=3, optimizer="momentum", seed=2,
                                                            X_val=X[:20], y_val=y[:20])
    new = glrnet.baseline_network([5, 4, 3], "tanh", seed=1)
    history = _fit(new, X, y, epochs=3, optimizer="momentum", seed=2, X_val=X[:20], y_val=y[:20])
    assert all(np.array_equal(u, v) for u, v in zip(old.weights, new.weights))
    assert old.history_["val_loss"] == history.val_loss
    assert old.history_["train_loss"][-1] == pytest.approx(_loss(new, X, y))
    loss, grads = old.parameter_gradient(X, y)
    assert loss == pytest.approx(_loss(old, X, y)) and len(grads) == 2
    path = tmp_path / "bp.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        backprop.save_bp(old, path)
        again = backprop.load_bp(path)
    assert isinstance(again, backprop.BPNetwork) and again.history_ == old.history_
    assert np.array_equal(again.logits(X), old.logits(X))
