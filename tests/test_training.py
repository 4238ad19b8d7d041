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


# ------------------------------------------------------------- Gaussian data augmentation, step_callback
def _models_for(estimator):
    if estimator == "backprop":
        return glrnet.baseline_network([5, 4, 3], seed=1)
    return glrnet.MLP([5, 4, 3], "sigmoid", glrnet.Gaussian(1.0), seed=1)


def _run(estimator, X, y, **kwargs):
    model = _models_for(estimator)
    history = glrnet.train(model, X, y, epochs=2, batch_size=3, replications=32, estimator=estimator, seed=4,
                           X_val=X, y_val=y, eval_replications=10, progress=False, **kwargs)
    record = history.as_dict()
    record.pop("seconds")
    return model.get_parameters(), record


@pytest.mark.parametrize("estimator", ["glr", "pathwise", "backprop"])
def test_zero_input_noise_gives_the_bits_of_the_default(estimator, tiny_problem):
    X, y = tiny_problem
    params, record = _run(estimator, X, y)
    zero_params, zero_record = _run(estimator, X, y, input_noise=0.0, step_callback=lambda step, model: False)
    assert all(np.array_equal(a, b) for a, b in zip(params, zero_params))
    assert record == zero_record
    noisy_params, _ = _run(estimator, X, y, input_noise=0.3)
    again, _ = _run(estimator, X, y, input_noise=0.3)
    assert all(np.array_equal(a, b) for a, b in zip(noisy_params, again))
    assert not np.array_equal(noisy_params[0], params[0])


def test_the_glr_stepper_takes_the_batch_itself_with_the_same_bits(tiny_problem):
    X, y = tiny_problem
    model = _models_for("glr")
    stepper = model._gradient_stepper(X, y, 4, 64, seed=2, baseline=True, antithetic=False, n_threads=None)
    index = np.array([5, 0, 3])
    by_index, by_batch = stepper(index, 7), stepper(index, 7, X[index])
    assert np.array_equal(by_index.flat(), by_batch.flat()) and by_index.loss == by_batch.loss
    shifted = X[index] + 0.25
    direct = model.gradient(shifted, y[index], 64, seed=2, step=7, baseline=True)
    assert np.array_equal(stepper(index, 7, shifted).flat(), direct.flat())


@pytest.mark.parametrize("estimator", ["glr", "pathwise", "backprop"])
def test_input_noise_is_unclipped_gaussian_keyed_by_seed_and_step(estimator, monkeypatch):
    """Every step's batch is x + input_noise * z, z from default_rng([seed, step, INPUT_NOISE_TAG])."""
    from glrnet.method.training import INPUT_NOISE_TAG

    X = np.random.default_rng(0).random((6, 5))
    y = np.array([0, 1, 2, 0, 1, 2])
    model = _models_for(estimator)
    seen = []
    if estimator == "glr":
        make = model._gradient_stepper

        def recording_stepper(*args, **kwargs):
            stepper = make(*args, **kwargs)

            def step(index, noise_step, X_batch=None):
                seen.append((index.copy(), X_batch))
                return stepper(index, noise_step, X_batch)
            return step
        monkeypatch.setattr(model, "_gradient_stepper", recording_stepper)
    else:
        compute = model.pathwise_gradient

        def recording_gradient(X_batch, y_batch, *args, **kwargs):
            seen.append((None, X_batch))
            return compute(X_batch, y_batch, *args, **kwargs)
        monkeypatch.setattr(model, "pathwise_gradient", recording_gradient)
    glrnet.train(model, X, y, epochs=2, batch_size=6, replications=16, estimator=estimator, seed=3,
                 input_noise=0.5, progress=False)
    shuffle = np.random.default_rng(3)
    assert len(seen) == 2
    for step, (index, batch) in enumerate(seen):
        order = shuffle.permutation(6)
        if index is not None:
            assert np.array_equal(index, order)
        z = np.random.default_rng([3, step, INPUT_NOISE_TAG]).standard_normal((6, 5))
        assert np.array_equal(batch, X[order] + 0.5 * z)
    assert min(batch.min() for _, batch in seen) < 0 or max(batch.max() for _, batch in seen) > 1   # not clipped


def test_step_callback_stops_after_an_update_and_records_the_partial_epoch(tiny_problem):
    X, y = tiny_problem                      # 7 samples, batches of 3: 3 steps per epoch
    snapshots = {}

    def keep(step, model):
        snapshots[step] = [p.copy() for p in model.get_parameters()]
        return False
    full = _models_for("glr")
    full_history = glrnet.train(full, X, y, epochs=3, batch_size=3, replications=16, progress=False, step_callback=keep)
    assert sorted(snapshots) == list(range(1, 10)) and full_history.steps == 9

    epochs_seen = []
    model = _models_for("glr")
    history = glrnet.train(model, X, y, epochs=3, batch_size=3, replications=16, progress=False, X_val=X, y_val=y,
                           eval_replications=10, step_callback=lambda step, m: step == 5,
                           callback=lambda epoch, h: epochs_seen.append(epoch))
    assert history.steps == 5 and history.epoch == [1, 2] and epochs_seen == [1, 2]
    assert len(history.train_loss) == len(history.val_loss) == len(history.seconds) == 2
    assert history.train_loss[0] == full_history.train_loss[0]
    assert history.train_loss[1] != full_history.train_loss[1]          # two of the epoch's three steps
    assert all(np.array_equal(a, b) for a, b in zip(model.get_parameters(), snapshots[5]))
    assert history.val_loss[1] == model.evaluate(X, y, 10, step=glrnet.method.network.validation_step(2))["loss"]


def test_step_callback_builds_an_accuracy_matched_baseline(default_data):
    d = default_data
    target = 0.7
    accuracies = []

    def reached(step, model):
        accuracies.append(model.score(d.X_test, d.y_test))
        return accuracies[-1] >= target
    model = glrnet.baseline_network([196, 20, 10], seed=0)
    history = glrnet.train(model, d.X_train, d.y_train, epochs=5, learning_rate=0.1, optimizer="momentum",
                           estimator="backprop", progress=False, step_callback=reached)
    assert history.steps == len(accuracies) < 5 * 36
    assert model.score(d.X_test, d.y_test) == accuracies[-1] >= target > max(accuracies[:-1], default=0.0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"input_noise": -0.1}, ValueError, "input_noise"),
    ({"input_noise": float("nan")}, ValueError, "input_noise"),
    ({"input_noise": "0.1"}, TypeError, "input_noise"),
    ({"step_callback": 3}, TypeError, "step_callback"),
    ({"weight_decay": -1e-4}, ValueError, "weight_decay"),
    ({"weight_bound": 0.0}, ValueError, "weight_bound"),
    ({"weight_bound": float("inf")}, ValueError, "weight_bound"),
])
def test_input_noise_and_step_callback_are_checked_before_training(kwargs, error, match, tiny_problem):
    X, y = tiny_problem
    model = _models_for("glr")
    before = [p.copy() for p in model.get_parameters()]
    with pytest.raises(error, match=match):
        glrnet.train(model, X, y, epochs=1, replications=8, progress=False, **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_parameters()))


@pytest.mark.parametrize("estimator", ["glr", "pathwise", "backprop"])
def test_no_weight_decay_or_bound_gives_the_bits_of_the_default(estimator, tiny_problem):
    X, y = tiny_problem
    params, record = _run(estimator, X, y)
    same, same_record = _run(estimator, X, y, weight_decay=0.0, weight_bound=None)
    assert all(np.array_equal(a, b) for a, b in zip(params, same)) and record == same_record


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_weight_decay_adds_the_l2_gradient_to_the_weights_only(reduction, tiny_problem):
    """One SGD step on the whole set: the decayed and the plain updates differ by -lr * wd * W_0 in
    the weights (the same noise gives the same loss gradient) and not at all in the biases."""
    X, y = tiny_problem
    start = _models_for("glr")
    runs = []
    for decay in (0.0, 0.3):
        model = _models_for("glr")
        glrnet.train(model, X, y, epochs=1, batch_size=len(X), replications=32, learning_rate=0.05, seed=4,
                     progress=False, batch_reduction=reduction, weight_decay=decay)
        runs.append(model)
    for w0, plain, decayed in zip(start.weights, runs[0].weights, runs[1].weights):
        np.testing.assert_allclose(decayed - plain, -0.05 * 0.3 * w0, rtol=1e-5, atol=1e-7)
    for plain, decayed in zip(runs[0].biases, runs[1].biases):
        assert np.array_equal(plain, decayed)


def test_weight_bound_keeps_every_weight_within_it(tiny_problem):
    X, y = tiny_problem
    free, _ = _run("glr", X, y, learning_rate=5.0)
    bound = 0.5 * float(max(np.abs(w).max() for w in free[0::2]))
    bounded, _ = _run("glr", X, y, learning_rate=5.0, weight_bound=bound)
    assert all(np.abs(w).max() <= bound for w in bounded[0::2])
    assert any(np.isclose(np.abs(w).max(), bound) for w in bounded[0::2])       # the bound was active
    assert not np.array_equal(free[0], bounded[0])
