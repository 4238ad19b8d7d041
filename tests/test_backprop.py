"""Tests for glrnet.backprop: exact gradients, training, validation."""

import numpy as np
import pytest

from glrnet.backprop import BPNetwork

ACTS = ("sigmoid", "relu", "tanh")
SHAPES = ((5, 4, 3), (5, 6, 4, 3))  # one and two hidden layers


def _rel_err(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b))


def _small_problem(sizes, act, seed=0):
    rng = np.random.default_rng(seed)
    net = BPNetwork(sizes, act, seed=seed + 1)
    for b in net.biases:  # non-zero biases so every term of Eq. 3 is exercised
        b[:] = 0.1 * rng.standard_normal(b.shape)
    X = rng.random((7, sizes[0]))
    y = rng.integers(0, sizes[-1], size=7)
    return net, X, y


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("sizes", SHAPES)
def test_parameter_gradient_matches_central_differences(act, sizes):
    net, X, y = _small_problem(sizes, act)
    loss, grads = net.parameter_gradient(X, y)
    assert loss == pytest.approx(net.loss(X, y), rel=1e-14)
    h = 1e-6
    for l in range(len(net.weights)):
        for P, G in ((net.weights[l], grads[l][0]), (net.biases[l], grads[l][1])):
            assert G.shape == P.shape
            fd = np.empty_like(P)
            for idx in np.ndindex(P.shape):
                old = P[idx]
                P[idx] = old + h
                lp = net.loss(X, y)
                P[idx] = old - h
                lm = net.loss(X, y)
                P[idx] = old
                fd[idx] = (lp - lm) / (2 * h)
            assert _rel_err(G, fd) < 1e-6


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("sizes", SHAPES)
def test_input_gradient_matches_central_differences(act, sizes):
    net, X, y = _small_problem(sizes, act, seed=3)
    loss, grad = net.loss_gradient(X, y)
    assert loss.shape == (X.shape[0],) and grad.shape == X.shape
    assert np.mean(loss) == pytest.approx(net.loss(X, y), rel=1e-14)
    h = 1e-6
    fd = np.empty_like(X)
    for i, j in np.ndindex(X.shape):
        Xp, Xm = X.copy(), X.copy()
        Xp[i, j] += h
        Xm[i, j] -= h
        fd[i, j] = (net.loss_gradient(Xp, y)[0][i] - net.loss_gradient(Xm, y)[0][i]) / (2 * h)
    assert _rel_err(grad, fd) < 1e-6


def test_loss_is_stable_for_huge_logits():
    net = BPNetwork([3, 2], seed=0)
    net.weights[0][:] = [[1e4, 0, 0], [-1e4, 0, 0]]
    X = np.array([[1.0, 0, 0], [0.5, 0, 0]])
    loss, grad = net.loss_gradient(X, np.array([1, 0]))
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    assert loss[0] == pytest.approx(2e4)  # -log softmax = logit gap
    assert loss[1] == 0.0
    p = net.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-15)


def test_init_is_seeded_and_shaped():
    a, b = BPNetwork([6, 5, 4], seed=1), BPNetwork([6, 5, 4], seed=1)
    c = BPNetwork([6, 5, 4], seed=2)
    assert [w.shape for w in a.weights] == [(5, 6), (4, 5)]
    assert [v.shape for v in a.biases] == [(5,), (4,)]
    assert all(np.array_equal(u, v) for u, v in zip(a.weights, b.weights))
    assert not np.array_equal(a.weights[0], c.weights[0])
    # Glorot-uniform limit for the sigmoid layer
    assert np.abs(a.weights[0]).max() <= np.sqrt(6 / 11)


# ------------------------------------------------------------------- training
def test_sigmoid_196_20_10_learns_mnist(data):
    X_train, y_train, Xte, yte = data
    Xtr, ytr = X_train[:2000], y_train[:2000]
    net = BPNetwork([196, 20, 10], "sigmoid", seed=0)
    net.fit(Xtr, ytr, epochs=5, batch_size=25, learning_rate=0.1, optimizer="momentum",
            X_val=Xte, y_val=yte)
    acc = net.score(Xte, yte)
    assert acc > 0.85
    h = net.history_
    assert set(h) == {"train_loss", "train_accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 5 for v in h.values())
    assert h["val_accuracy"][-1] == pytest.approx(acc)
    assert h["train_loss"][-1] < h["train_loss"][0]
    assert h["val_loss"][-1] == pytest.approx(net.loss(Xte, yte))


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.5), ("momentum", 0.1), ("adam", 0.01)])
@pytest.mark.parametrize("act", ACTS)
def test_every_optimizer_and_activation_reduces_loss(optimizer, lr, act):
    rng = np.random.default_rng(0)
    X = rng.random((300, 4))
    y = np.argmax((X - 0.5) @ rng.standard_normal((4, 3)), axis=1)  # linearly separable
    net = BPNetwork([4, 8, 3], act, seed=0)
    before = net.loss(X, y)
    net.fit(X, y, epochs=20, learning_rate=lr, optimizer=optimizer)
    assert "val_loss" not in net.history_
    assert net.history_["train_loss"][-1] < 0.5 * before
    assert net.score(X, y) > 0.9


def test_fit_is_deterministic_and_seed_dependent():
    rng = np.random.default_rng(1)
    X = rng.random((100, 5))
    y = rng.integers(0, 3, 100)
    a = BPNetwork([5, 4, 3], seed=0).fit(X, y, epochs=2, seed=7)
    b = BPNetwork([5, 4, 3], seed=0).fit(X, y, epochs=2, seed=7)
    c = BPNetwork([5, 4, 3], seed=0).fit(X, y, epochs=2, seed=8)
    assert all(np.array_equal(u, v) for u, v in zip(a.weights, b.weights))
    assert not np.array_equal(a.weights[0], c.weights[0])
    # fit re-initialises unless warm_start
    w_first = [w.copy() for w in a.weights]
    a.fit(X, y, epochs=2, seed=7)
    assert all(np.array_equal(u, v) for u, v in zip(a.weights, w_first))
    a.fit(X, y, epochs=2, seed=7, warm_start=True)
    assert not np.array_equal(a.weights[0], w_first[0])


def test_progress_bar_does_not_change_training(capsys):
    rng = np.random.default_rng(2)
    X = rng.random((60, 5))
    y = rng.integers(0, 3, 60)
    quiet = BPNetwork([5, 4, 3], seed=0).fit(X, y, epochs=3)
    loud = BPNetwork([5, 4, 3], seed=0).fit(X, y, epochs=3, progress=True)
    assert "BP training" in capsys.readouterr().err
    assert quiet.history_ == loud.history_


def test_predict_score_consistency():
    net, X, y = _small_problem((5, 4, 3), "tanh")
    logits = net.logits(X)
    assert logits.shape == (7, 3)
    np.testing.assert_array_equal(net.predict(X), np.argmax(net.predict_proba(X), axis=1))
    assert net.score(X, y) == np.mean(net.predict(X) == y)
    # float labels holding integers are accepted
    assert net.score(X, y.astype(float)) == net.score(X, y)


# ----------------------------------------------------------------- validation
def test_constructor_validation():
    with pytest.raises(ValueError, match="activation"):
        BPNetwork([4, 3], activation="softsign")
    with pytest.raises(ValueError, match="layer_sizes"):
        BPNetwork([4])
    with pytest.raises(ValueError, match="layer_sizes"):
        BPNetwork([4, 0, 3])
    with pytest.raises(ValueError, match="layer_sizes"):
        BPNetwork([4, 1])
    with pytest.raises(TypeError, match="layer_sizes"):
        BPNetwork([4, 2.5, 3])
    with pytest.raises(TypeError, match="seed"):
        BPNetwork([4, 3], seed=0.5)


def test_input_validation():
    net = BPNetwork([4, 3, 2], seed=0)
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
    with pytest.raises(ValueError, match="X contains NaN or infinite"):
        net.fit(bad, y)
    with pytest.raises(ValueError, match="y contains labels outside"):
        net.score(X, np.array([0, 1, 2, 0, 1]))
    with pytest.raises(ValueError, match="y contains labels outside"):
        net.parameter_gradient(X, np.array([0, -1, 0, 0, 1]))
    with pytest.raises(ValueError, match="y has 4 labels"):
        net.fit(X, y[:4])
    with pytest.raises(ValueError, match="y must contain integer"):
        net.loss(X, y + 0.5)
    with pytest.raises(TypeError, match="y must contain integer"):
        net.loss(X, np.array(list("abcde")))


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
        ({"momentum": 1.0}, ValueError, "momentum"),
        ({"X_val": np.zeros((2, 4))}, ValueError, "X_val and y_val"),
        ({"X_val": np.zeros((2, 3)), "y_val": [0, 1]}, ValueError, "X_val has 3 features"),
        ({"X_val": np.zeros((2, 4)), "y_val": [0, 5]}, ValueError, "y_val contains labels"),
    ],
)
def test_fit_argument_validation(kwargs, exc, match):
    net = BPNetwork([4, 3, 2], seed=0)
    X = np.full((5, 4), 0.5)
    y = np.array([0, 1, 0, 1, 1])
    with pytest.raises(exc, match=match):
        net.fit(X, y, **kwargs)
