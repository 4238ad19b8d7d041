"""The fused C kernel against the numpy reference, fed the kernel's own noise."""

import numpy as np
import pytest

import glrnet
from glrnet.testing import oracle
from glrnet.method.activations import ACTIVATION_NAMES
from glrnet.method.losses import LOSS_CODES

from conftest import flat

FAMILIES = [glrnet.Gaussian(1.5), glrnet.Laplace(1.0), glrnet.Logistic(0.7), glrnet.StudentT(4.0, 0.8)]


def _compare(model, X, y, replications, *, baseline=False, antithetic=False, seed=5, step=2):
    est = model.gradient(X, y, replications, seed=seed, step=step, baseline=baseline, antithetic=antithetic,
                         sample_outputs=True)
    noise = [n.astype(np.float64) for n in model.sample_noise(len(X), replications, seed=seed,
                                                                   step=step, antithetic=antithetic)]
    ref = oracle.glr_gradient(model, X, y, replications, noise=noise, baseline=baseline)
    kernel, expected = est.flat(), flat(ref["grad_weights"], ref["grad_biases"])
    scale = np.abs(expected).max() + 1e-12
    assert np.abs(kernel - expected).max() <= 2e-5 * scale
    assert est.loss == pytest.approx(ref["loss"], rel=2e-5, abs=1e-6)
    assert est.accuracy == pytest.approx(ref["accuracy"], abs=1e-6)
    np.testing.assert_allclose(est.sample_loss, ref["sample_loss"], rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(est.first_score, ref["first_score"], rtol=0, atol=2e-5 * scale + 1e-9)
    return est


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize("loss", list(LOSS_CODES))
@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_kernel_matches_reference(activation, loss, family, tiny_problem):
    X, y = tiny_problem
    model = glrnet.MLP([5, 4, 6, 3], activation, family, loss=loss, seed=3)
    _compare(model, X, y, 150)


@pytest.mark.parametrize("baseline, antithetic", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("activation", ["sigmoid", "threshold", "staircase"])
def test_kernel_matches_reference_with_variance_reduction(baseline, antithetic, activation, tiny_problem):
    X, y = tiny_problem
    model = glrnet.MLP([5, 6, 3], activation, glrnet.Gaussian(1.0), seed=1)
    _compare(model, X, y, 300, baseline=baseline, antithetic=antithetic)


@pytest.mark.parametrize("replications", [1, 17, 128, 129, 1024, 1500, 2049])
def test_replication_counts_across_block_and_chunk_edges(replications, tiny_problem):
    X, y = tiny_problem
    model = glrnet.MLP([5, 9, 3], "threshold", glrnet.Gaussian(2.0), seed=2)
    _compare(model, X, y, replications)


def test_deep_mixed_network(tiny_problem):
    X, y = tiny_problem
    model = glrnet.MLP([5, 16, 12, 8, 3], ["relu", "sign", "staircase", "sigmoid"],
                       [glrnet.Gaussian(1.0), glrnet.Laplace(0.5), glrnet.Logistic(0.5), glrnet.StudentT(3.0, 1.0)],
                       seed=4)
    _compare(model, X, y, 400)


def _bits(est):
    return [est.loss, est.accuracy] + list(est.weights) + list(est.biases)


def _identical(a, b):
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(_bits(a), _bits(b)))


@pytest.mark.parametrize("activation", ["sigmoid", "threshold"])
@pytest.mark.parametrize("baseline", [False, True])
def test_bit_identical_for_any_thread_count(activation, baseline):
    rng = np.random.default_rng(0)
    X = rng.random((13, 30))
    y = rng.integers(0, 10, 13)
    model = glrnet.MLP([30, 20, 10], activation, glrnet.Gaussian(2.0))
    runs = [model.gradient(X, y, 2500, seed=11, step=3, baseline=baseline, n_threads=t) for t in (1, 2, 3, 1, 2)]
    for other in runs[1:]:
        assert _identical(runs[0], other)
    different = model.gradient(X, y, 2500, seed=11, step=4, baseline=baseline)
    assert not np.array_equal(runs[0].weights[1], different.weights[1])


def test_input_gradient_is_first_level_score_times_weights(tiny_problem):
    X, y = tiny_problem
    model = glrnet.MLP([5, 4, 3], "threshold", glrnet.Gaussian(1.0), seed=3)
    loss, grad = model.input_gradient(X, y, 500, seed=2)
    est = model.gradient(X, y, 500, seed=2, sample_outputs=True)
    np.testing.assert_allclose(grad, est.first_score @ model.weights[0])
    np.testing.assert_allclose(loss, est.sample_loss)
    assert grad.shape == X.shape


@pytest.mark.parametrize("kind", ["softmax", "votes"])
def test_noisy_predictions_are_distributions(kind, tiny_problem):
    X, _ = tiny_problem
    model = glrnet.MLP([5, 4, 3], "threshold", glrnet.Gaussian(1.0), seed=3)
    p = model.predict_proba(X, 1000, kind=kind)
    assert p.shape == (7, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(p >= 0)
    again = model.predict_proba(X, 1000, kind=kind, n_threads=1)
    assert np.array_equal(p, again)


def test_noisy_softmax_matches_reference(tiny_problem):
    X, _ = tiny_problem
    model = glrnet.MLP([5, 4, 3], "sigmoid", glrnet.Gaussian(1.0), seed=3)
    K = 700
    p = model.predict_proba(X, K, seed=8, step=1)
    noise = model.sample_noise(len(X), K, seed=8, step=1)
    x = model.activations[0]((X @ model.weights[0].T + model.biases[0])[:, None, :] + noise[0])
    out = model.activations[1](x @ model.weights[1].T + model.biases[1] + noise[1])
    z = np.exp(out - out.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(p, (z / z.sum(axis=-1, keepdims=True)).mean(axis=1), rtol=1e-5)


def test_noise_free_prediction_is_forward_argmax(tiny_problem):
    X, _ = tiny_problem
    model = glrnet.MLP([5, 4, 3], "tanh", glrnet.Gaussian(1.0), seed=3)
    np.testing.assert_array_equal(model.predict(X), np.argmax(model.forward(X), axis=1))


def test_evaluate_matches_gradient_loss(tiny_problem):
    X, y = tiny_problem
    model = glrnet.MLP([5, 4, 3], "sigmoid", glrnet.Gaussian(1.0), seed=3)
    ev = model.evaluate(X, y, 900, seed=3, step=5)
    est = model.gradient(X, y, 900, seed=3, step=5)
    assert ev["loss"] == est.loss
    assert ev["accuracy"] == est.accuracy


def _raw_estimate(model, X, y, replications, flags, n_threads=2):
    from glrnet import _glrcore
    from glrnet.method.losses import LOSS_CODES as codes

    return _glrcore.estimate(**model._kernel_levels(), X=X, y=y, loss=codes[model.loss], replications=replications,
                             seed=21, step=6, flags=flags, n_threads=n_threads, sample_outputs=True)


@pytest.mark.parametrize("sizes, activation, family", [
    ([30, 37, 19, 10], "sigmoid", glrnet.Gaussian(2.0)),          # tile edges: 37 = 2*16 + 5, 19 = 16 + 3
    ([12, 8, 40, 3], "threshold", glrnet.Laplace(1.0)),
    ([9, 17, 1, 5], "staircase", glrnet.StudentT(3.0, 1.0)),
])
@pytest.mark.parametrize("baseline", [False, True])
def test_simd_and_portable_loops_give_the_same_bits(sizes, activation, family, baseline):
    """The AVX-512 tiles (used when the CPU has them) and the portable loops sum in the same order.

    On a CPU without AVX-512 both runs take the portable loops and this checks only that all threads
    and one thread agree; ``glrnet.show_config()["simd"]`` says which path ran."""
    from glrnet import _glrcore

    rng = np.random.default_rng(1)
    X, y = rng.random((5, sizes[0])), rng.integers(0, sizes[-1], 5)
    model = glrnet.MLP(sizes, activation, family, seed=2)
    flags = _glrcore.FLAG_BASELINE if baseline else 0
    fast = _raw_estimate(model, X, y, 1100, flags)                   # crosses a 1,024-replication chunk
    portable = _raw_estimate(model, X, y, 1100, flags | _glrcore.FLAG_PORTABLE, n_threads=1)
    assert fast.keys() == portable.keys()
    for key in fast:
        values = fast[key] if isinstance(fast[key], list) else [fast[key]]
        others = portable[key] if isinstance(portable[key], list) else [portable[key]]
        for a, b in zip(values, others):
            assert np.array_equal(np.asarray(a), np.asarray(b)), key
