"""Bad input gets a clear ValueError or TypeError naming the argument, before C."""
import numpy as np
import pytest

import glrnet


@pytest.fixture
def model():
    return glrnet.MLP([4, 3, 2], "threshold", glrnet.Gaussian(1.0))


X = np.random.default_rng(0).random((5, 4))
Y = np.array([0, 1, 0, 1, 1])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"X": X[:, :3]}, ValueError, "features"),
    ({"X": X[0]}, ValueError, "2-D"),
    ({"X": X[:0]}, ValueError, "at least one"),
    ({"X": np.where(X > 0.5, np.nan, X)}, ValueError, "NaN"),
    ({"X": np.where(X > 0.5, np.inf, X)}, ValueError, "NaN or infinity"),
    ({"X": X.astype(str)}, TypeError, "numeric"),
    ({"X": X * 1e39}, ValueError, "X has values beyond the float32 range"),
    ({"X": None}, TypeError, "X"),
    ({"y": Y[:4]}, ValueError, "4 labels for 5"),
    ({"y": Y + 1}, ValueError, r"y must be in \[0, 2\)"),
    ({"y": -Y}, ValueError, "y must be in"),
    ({"y": Y + 0.5}, ValueError, "integer"),
    ({"y": Y.astype(str)}, TypeError, "integer"),
    ({"replications": 0}, ValueError, "replications"),
    ({"replications": -5}, ValueError, "replications"),
    ({"replications": 10.0}, TypeError, "replications"),
    ({"replications": 2**33}, ValueError, "replications"),
    ({"replications": 7, "antithetic": True}, ValueError, "even"),
    ({"replications": 1, "baseline": True}, ValueError, "baseline"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.5}, TypeError, "seed"),
    ({"step": 2**32}, ValueError, "step"),
    ({"loss": "mse"}, ValueError, "loss"),
    ({"baseline": 1}, TypeError, "baseline"),
    ({"n_threads": 0}, ValueError, "n_threads"),
    ({"n_threads": "two"}, TypeError, "n_threads"),
    ({"n_threads": 2**40}, ValueError, "n_threads"),
])
def test_gradient_rejects_bad_input(model, kwargs, error, match):
    args = {"X": X, "y": Y, "replications": 10}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        model.gradient(args.pop("X"), args.pop("y"), args.pop("replications"), **args)


@pytest.mark.parametrize("build, error, match", [
    (lambda: glrnet.MLP([4]), ValueError, "layer_sizes"),
    (lambda: glrnet.MLP("196-20-10"), TypeError, "layer_sizes"),
    (lambda: glrnet.MLP([4, 0, 2]), ValueError, "layer_sizes"),
    (lambda: glrnet.MLP([4, 2.5, 2]), TypeError, "layer_sizes"),
    (lambda: glrnet.MLP([4, 3, 2], "softplus"), ValueError, "activation"),
    (lambda: glrnet.MLP([4, 3, 2], ["sigmoid"]), ValueError, "activation has 1 entries for 2 levels"),
    (lambda: glrnet.MLP([4, 3, 2], 3), TypeError, "activation"),
    (lambda: glrnet.MLP([4, 3, 2], noise="cauchy"), ValueError, "noise"),
    (lambda: glrnet.MLP([4, 3, 2], noise=1.0), TypeError, "noise"),
    (lambda: glrnet.MLP([4] + [2] * 256), ValueError, "at most 255 levels"),
    (lambda: glrnet.Gaussian(1e-30), ValueError, "scale must be >= 1e-12"),
    (lambda: glrnet.Gaussian(1e39), ValueError, r"scale must be <= 1e\+12"),
    (lambda: glrnet.StudentT(1e20, 1.0), ValueError, r"nu must be <= 1e\+12"),
    (lambda: glrnet.Activation("staircase", levels=2**40), ValueError, "levels"),
    (lambda: glrnet.Activation("sigmoid", slope=1e39), ValueError, "slope"),
    (lambda: glrnet.MLP([4, 3, 2], loss="mse"), ValueError, "loss"),
    (lambda: glrnet.Gaussian(0.0), ValueError, "scale"),
    (lambda: glrnet.Gaussian(-2.0), ValueError, "scale"),
    (lambda: glrnet.Laplace(float("nan")), ValueError, "scale"),
    (lambda: glrnet.Gaussian("2"), TypeError, "scale"),
    (lambda: glrnet.StudentT(0.0, 1.0), ValueError, "nu"),
    (lambda: glrnet.Activation("staircase", levels=1), ValueError, "levels"),
    (lambda: glrnet.Activation("sigmoid", slope=0.0), ValueError, "slope"),
])
def test_construction_rejects_bad_input(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_diverged_parameters_are_caught_before_the_kernel(model):
    model.weights[1][0, 0] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        model.gradient(X, Y, 10)
    with pytest.raises(ValueError, match="finite"):
        model.set_parameters(model.weights, model.biases)


def test_prediction_and_training_arguments(model):
    with pytest.raises(ValueError, match="kind"):
        model.predict_proba(X, 10, kind="mean")
    with pytest.raises(ValueError, match="replications"):
        model.predict_proba(X, -1)
    with pytest.raises(ValueError, match="epochs"):
        glrnet.train(model, X, Y, epochs=0, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        glrnet.train(model, X, Y, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="learning_rate"):
        glrnet.train(model, X, Y, learning_rate=-0.1, progress=False)
    with pytest.raises(ValueError, match="optimizer"):
        glrnet.train(model, X, Y, optimizer="rmsprop", progress=False)
    with pytest.raises(ValueError, match="batch_reduction"):
        glrnet.train(model, X, Y, batch_reduction="max", progress=False)
    with pytest.raises(ValueError, match="X_val"):
        glrnet.train(model, X, Y, X_val=X[:, :2], y_val=Y, progress=False)


def test_binding_never_crashes_on_inconsistent_arrays():
    """Even called directly, the binding rejects shapes that would read out of bounds."""
    from glrnet import _glrcore

    w = [np.zeros((3, 4), np.float32), np.zeros((2, 5), np.float32)]
    b = [np.zeros(3, np.float32), np.zeros(2, np.float32)]
    spec = {"activation": [0, 0], "slope": [1, 1], "staircase": [2, 2], "noise": [0, 0], "scale": [1, 1],
            "shape": [0, 0]}
    with pytest.raises(ValueError, match="n_in"):
        _glrcore.estimate(w, b, **spec, X=np.zeros((2, 4)), y=np.zeros(2, np.int64), loss=0, replications=4,
                          seed=0, step=0, flags=0, n_threads=1)
    w[1] = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="rejected"):   # label out of range, caught in C
        _glrcore.estimate(w, b, **spec, X=np.zeros((2, 4)), y=np.array([0, 7]), loss=0, replications=4,
                          seed=0, step=0, flags=0, n_threads=1)
    bad_scale = dict(spec, scale=[1, -1])
    with pytest.raises(ValueError, match="rejected"):
        _glrcore.estimate(w, b, **bad_scale, X=np.zeros((2, 4)), y=np.zeros(2, np.int64), loss=0, replications=4,
                          seed=0, step=0, flags=0, n_threads=1)


def test_parameters_beyond_float32_are_rejected(model):
    weights = [w.copy() for w in model.weights]
    weights[1][0, 0] = 1e39
    with pytest.raises(ValueError, match="weights of level 1 has values beyond the float32 range"):
        model.set_parameters(weights, model.biases)
    model.biases[0][0] = -1e39          # set behind set_parameters' back: caught before the kernel
    with pytest.raises(ValueError, match="biases of level 0"):
        model.gradient(X, Y, 10)


def test_validation_data_come_in_pairs(model):
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        glrnet.train(model, X, Y, epochs=1, replications=10, X_val=X, progress=False)
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        glrnet.train(model, X, Y, epochs=1, replications=10, y_val=Y, progress=False)
    with pytest.raises(ValueError, match="eval_replications"):
        glrnet.train(model, X, Y, epochs=1, replications=10, X_val=X, y_val=Y, eval_replications=2**40,
                     progress=False)
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        glrnet.GLRClassifier(epochs=1, replications=10).fit(X, Y, X_val=X)


def test_score_splits_ties(model):
    """An all-zero threshold network ties every class: score counts 1/2 per image, like evaluate."""
    model.set_parameters([np.zeros_like(w) for w in model.weights], [np.zeros_like(b) for b in model.biases])
    assert model.score(X, Y) == pytest.approx(0.5)
    # with noise the draw decides, but each image still counts 0, 1/2 or 1
    halves = model.evaluate(X, Y, 1)["accuracy"] * 2 * len(X)
    assert halves == pytest.approx(round(halves), abs=1e-9)
    assert np.array_equal(model.predict(X), np.zeros(len(X)))                      # first of the tied classes


@pytest.mark.parametrize("alias", ["0-1", "01", "zero-one", "ZERO_ONE"])
def test_zero_one_loss_aliases(alias):
    from glrnet.method.losses import check_loss

    assert check_loss(alias) == "zero_one"


def test_noise_free_prediction_does_not_depend_on_the_other_arguments():
    """replications=0 is the noise-free path whatever else is passed (a saturated sigmoid output is
    ranked by its pre-activations on both)."""
    model = glrnet.MLP([2, 3], "sigmoid", glrnet.Gaussian(1.0))
    model.weights[0][:] = [[60.0, 0.0], [40.0, 0.0], [0.0, 1.0]]         # sigmoid(60) == sigmoid(40) == 1.0f
    X, y = np.array([[1.0, 0.0]]), np.array([0])
    assert model.score(X, y) == model.score(X, y, 0, seed=1) == 1.0
    assert model.predict(X)[0] == model.predict(X, 0, seed=1, kind="votes")[0] == 0
