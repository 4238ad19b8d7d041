"""The fused C kernel against the numpy reference, fed the kernel's own noise."""

import numpy as np
import pytest

import glrnet
from glrnet import _glrcore
from glrnet.testing import oracle
from glrnet.method import dense
from glrnet.method.activations import ACTIVATION_NAMES
from glrnet.method.losses import LOSS_CODES, correct_fraction, loss_values

from conftest import flat

FAMILIES = [glrnet.Gaussian(1.5), glrnet.Laplace(1.0), glrnet.Logistic(0.7), glrnet.StudentT(4.0, 0.8)]


def _pair_out_reference(model, X, y, replications, noise):
    """The GLR estimate with both variance reductions, in numpy from the kernel's noise: the
    baseline of replication k leaves out k and its antithetic partner k' = k +- K/2,
    b_k = (sum_j L_j - L_k - L_k') / (K - 2)."""
    n, k = len(X), replications
    inputs, _, out = dense.forward(np.asarray(X, np.float64)[:, None, :], model.weights, model.biases,
                                   model.activations, noise)
    losses = loss_values(model.loss, out, y[:, None])                       # (N, K)
    pair = losses + np.roll(losses, k // 2, axis=1)                         # L_k + L_k'
    weight = losses - (losses.sum(axis=1, keepdims=True) - pair) / (k - 2)
    grads_w, grads_b = [], []
    for family, r, x in zip(model.noises, noise, inputs):
        weighted = family.score(r) * weight[:, :, None]                     # (N, K, n_out)
        x = np.broadcast_to(x, weighted.shape[:2] + x.shape[-1:])
        grads_w.append(np.einsum("nka,nkb->ab", weighted, x) / (n * k))
        grads_b.append(weighted.sum(axis=(0, 1)) / (n * k))
    return {"grad_weights": grads_w, "grad_biases": grads_b, "loss": float(losses.mean()),
            "accuracy": float(correct_fraction(out, y[:, None]).mean()), "sample_loss": losses.mean(axis=1),
            "first_score": np.einsum("nka,nk->na", model.noises[0].score(noise[0]), weight) / k}


def _compare(model, X, y, replications, *, baseline=False, antithetic=False, seed=5, step=2):
    est = model.gradient(X, y, replications, seed=seed, step=step, baseline=baseline, antithetic=antithetic,
                         sample_outputs=True)
    noise = [n.astype(np.float64) for n in model.sample_noise(len(X), replications, seed=seed,
                                                                   step=step, antithetic=antithetic)]
    if baseline and antithetic:
        ref = _pair_out_reference(model, X, y, replications, noise)
    else:
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


@pytest.mark.parametrize("replications", [4, 6, 130, 2050])
def test_pair_out_baseline_across_block_and_chunk_edges(replications, tiny_problem):
    """Both reductions: an item covers 512 pairs; the partners of a block sit K/2 further on."""
    X, y = tiny_problem
    model = glrnet.MLP([5, 7, 3], ["tanh", "threshold"], glrnet.Laplace(1.0), loss="squared", seed=6)
    _compare(model, X, y, replications, baseline=True, antithetic=True)


def test_pair_out_baseline_on_the_first_level_is_the_antithetic_estimate(tiny_problem):
    """Level 0 sees the same input in both members of a pair and psi(-r) = -psi(r): leaving the
    pair out, the baseline cancels there exactly (the old leave-one-out mean scaled it by K/(K-1))."""
    X, y = tiny_problem
    model = glrnet.MLP([5, 6, 3], "sigmoid", glrnet.Gaussian(1.0), seed=1)
    both = model.gradient(X, y, 8, seed=3, baseline=True, antithetic=True)
    anti = model.gradient(X, y, 8, seed=3, antithetic=True)
    np.testing.assert_allclose(both.weights[0], anti.weights[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(both.biases[0], anti.biases[0], rtol=1e-5, atol=1e-7)


def test_pair_out_baseline_needs_two_pairs(tiny_problem):
    X, y = tiny_problem
    model = glrnet.MLP([5, 4, 3], "sigmoid", glrnet.Gaussian(1.0))
    with pytest.raises(ValueError, match="replications >= 4"):
        model.gradient(X, y, 2, baseline=True, antithetic=True)
    with pytest.raises(ValueError, match="rejected"):
        _glrcore.estimate(**model._kernel_levels(), X=X, y=y, loss=0, replications=2, seed=0, step=0,
                          flags=_glrcore.FLAG_BASELINE | _glrcore.FLAG_ANTITHETIC, n_threads=1)


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


@pytest.mark.parametrize("flags", [0, 1, 2, 3, 9, 4 | 1])
def test_waves_of_partial_sums_do_not_change_the_bits(flags):
    """GLR_SMALL_WAVES holds one chunk of replications at a time and carries the rest, as the kernel
    does for any K whose partial sums exceed its wave bound: the sums keep their order, so the bits."""
    rng = np.random.default_rng(4)
    X, y = rng.random((3, 12)), rng.integers(0, 4, 3)
    model = glrnet.MLP([12, 9, 20, 4], ["sigmoid", "threshold", "tanh"], glrnet.Gaussian(1.5), seed=2)
    for threads in (1, 3):
        default = _raw_estimate(model, X, y, 3500, flags, n_threads=threads, proba=True, votes=True)
        small = _raw_estimate(model, X, y, 3500, flags | _glrcore.FLAG_SMALL_WAVES, n_threads=threads,
                              proba=True, votes=True)
        _assert_same_bits(default, small)


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
    noise = model.sample_noise(len(X), K, seed=8, step=1, sample_keys=glrnet.method.network.row_keys(X))
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


def _raw_estimate(model, X, y, replications, flags, n_threads=2, **outputs):
    return _glrcore.estimate(**model._kernel_levels(), X=X, y=y, loss=LOSS_CODES[model.loss],
                             replications=replications, seed=21, step=6, flags=flags, n_threads=n_threads,
                             sample_outputs=True, **outputs)


def _assert_same_bits(a, b):
    assert a.keys() == b.keys()
    for key in a:
        values = a[key] if isinstance(a[key], list) else [a[key]]
        others = b[key] if isinstance(b[key], list) else [b[key]]
        for x, z in zip(values, others):
            assert np.array_equal(np.asarray(x), np.asarray(z)), key


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
    rng = np.random.default_rng(1)
    X, y = rng.random((5, sizes[0])), rng.integers(0, sizes[-1], 5)
    model = glrnet.MLP(sizes, activation, family, seed=2)
    flags = _glrcore.FLAG_BASELINE if baseline else 0
    fast = _raw_estimate(model, X, y, 1100, flags)                   # crosses a 1,024-replication chunk
    portable = _raw_estimate(model, X, y, 1100, flags | _glrcore.FLAG_PORTABLE, n_threads=1)
    _assert_same_bits(fast, portable)


# ---------------------------------------------------------------- saturating outputs (ties)
def _saturating_model(activation):
    """Outputs whose pre-activations u lie in about 17..33 (sigmoid) or 10..18 (tanh): in float32
    phi(u) is exactly 1.0 for all of them (sigmoid once u > 16.6, tanh once u > 9), in float64 not
    yet (sigmoid up to 36.7, tanh up to 19)."""
    model = glrnet.MLP([5, 4, 3], ["sigmoid", activation], glrnet.Gaussian(0.5), seed=3)
    rng = np.random.default_rng(8)
    model.weights[1] = rng.normal(0.0, 1.5 if activation == "sigmoid" else 0.8, (3, 4))
    model.biases[1][:] = [25.0, 24.0, 26.0] if activation == "sigmoid" else [14.0, 13.5, 14.5]
    return model


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_saturated_outputs_are_ranked_by_their_preactivations(activation, tiny_problem):
    X, y = tiny_problem
    model = _saturating_model(activation)
    _, pre, out = dense.forward(X, model.weights, model.biases, model.activations)
    assert np.all(out.astype(np.float32) == 1.0)                  # every class saturated in float32
    accuracy = correct_fraction(pre[-1], y).mean()
    assert accuracy not in (0.0, 1 / 3, 1.0)
    assert model.evaluate(X, y, replications=0)["accuracy"] == accuracy
    assert model.evaluate(X, y, replications=0, loss="zero_one")["loss"] == pytest.approx(1.0 - accuracy, abs=1e-15)
    np.testing.assert_array_equal(model.predict(X), np.argmax(pre[-1], axis=1))
    assert model.score(X, y) == accuracy
    votes = model.predict_proba(X, kind="votes")
    np.testing.assert_array_equal(votes, np.eye(3)[np.argmax(pre[-1], axis=1)])

    # under noise: the kernel's accuracy and votes from its own noise, ranked on u in float64
    K = 600
    noise = [r.astype(np.float64) for r in model.sample_noise(len(X), K, seed=2, step=4)]
    _, pre, out = dense.forward(np.asarray(X)[:, None, :], model.weights, model.biases, model.activations, noise)
    assert np.all(out.astype(np.float32) == 1.0)
    top = np.sort(pre[-1], axis=-1)
    assert (top[..., -1] - top[..., -2]).min() > 1e-4             # float32 ranks like float64
    ev = model.evaluate(X, y, K, seed=2, step=4)
    assert ev["accuracy"] == pytest.approx(correct_fraction(pre[-1], y[:, None]).mean(), abs=1e-12)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_zero_one_gradient_of_saturated_outputs_matches_reference(activation, tiny_problem):
    """The float64 reference does not saturate where float32 does: the kernel, which ranks on u,
    agrees with it (ranking on the float32 outputs made every replication a three-way tie)."""
    X, y = tiny_problem
    model = _saturating_model(activation)
    model.loss = "zero_one"
    noise = model.sample_noise(len(X), 500, seed=5, step=2)
    _, pre, out = dense.forward(np.asarray(X)[:, None, :], model.weights, model.biases, model.activations,
                                [r.astype(np.float64) for r in noise])
    assert np.all(out < 1.0) and np.mean(out.astype(np.float32) == 1.0) > 0.95
    _compare(model, X, y, 500)


# ------------------------------------------------------- predictions keyed by the row itself
def _keyed_problem():
    rng = np.random.default_rng(12)
    X = rng.random((40, 5))
    X[7] = X[30]                                                   # a duplicate row
    model = glrnet.MLP([5, 6, 3], "threshold", glrnet.Gaussian(1.0), seed=4)
    model.weights[0] *= 3.0
    return model, X


@pytest.mark.parametrize("kind", ["softmax", "votes"])
def test_a_rows_noisy_prediction_does_not_depend_on_its_neighbours(kind):
    model, X = _keyed_problem()
    p = model.predict_proba(X, 64, seed=3, step=9, kind=kind)
    for i in range(len(X)):
        assert np.array_equal(model.predict_proba(X[[i]], 64, seed=3, step=9, kind=kind)[0], p[i])
    order = np.random.default_rng(0).permutation(len(X))
    assert np.array_equal(model.predict_proba(X[order], 64, seed=3, step=9, kind=kind), p[order])
    assert np.array_equal(model.predict_proba(X[::-1], 64, seed=3, step=9, kind=kind), p[::-1])
    assert np.array_equal(p[7], p[30])                              # equal rows, equal noise
    labels = model.predict(X, 64, seed=3, step=9)
    assert all(model.predict(X[[i]], 64, seed=3, step=9)[0] == labels[i] for i in range(len(X)))
    assert not np.array_equal(p, model.predict_proba(X, 64, seed=4, step=9, kind=kind))   # the seed counts


def test_noisy_model_predictions_are_keyed_by_row():
    from glrnet.robustness import NoisyModel

    model, X = _keyed_problem()
    noisy = NoisyModel(model, predict_replications=32, seed=1)
    labels = noisy.predict(X)
    assert all(noisy.predict(X[[i]])[0] == labels[i] for i in range(len(X)))
    assert np.array_equal(noisy.predict(X[::-1]), labels[::-1])


@pytest.mark.filterwarnings("ignore:Stochastic optimizer")
def test_classifier_predictions_are_keyed_by_row():
    rng = np.random.default_rng(5)
    X = rng.random((60, 4))
    y = (X[:, 0] + X[:, 1] > 1.0).astype(int)
    clf = glrnet.GLRClassifier(hidden_layer_sizes=(6,), replications=16, epochs=2, predict_replications=24,
                               random_state=0).fit(X, y)
    labels, proba = clf.predict(X), clf.predict_proba(X)
    assert all(clf.predict(X[[i]])[0] == labels[i] for i in range(len(X)))
    assert all(np.array_equal(clf.predict_proba(X[[i]])[0], proba[i]) for i in range(len(X)))
    assert np.array_equal(clf.predict(X[::-1]), labels[::-1])


def test_training_noise_is_still_keyed_by_row_index(tiny_problem):
    """The gradient (and evaluate, the training's validation) keep the row index in the counter."""
    X, y = tiny_problem
    model = glrnet.MLP([5, 4, 3], "sigmoid", glrnet.Gaussian(1.0), seed=3)
    ref = _raw_estimate(model, X, y, 300, 0)
    keyed = _glrcore.estimate(**model._kernel_levels(), X=X, y=y, loss=LOSS_CODES[model.loss], replications=300,
                              seed=21, step=6, flags=0, n_threads=2, sample_outputs=True,
                              sample_keys=np.arange(len(X), dtype=np.uint32))
    _assert_same_bits(ref, keyed)
    assert model.evaluate(X, y, 300, seed=21, step=6)["loss"] == ref["loss"]


# ---------------------------------------------------------------- known answers across versions
def _known_answer_network():
    """Parameters and inputs from exact integer formulas (no numpy generator, no libm), so that the
    figures below depend on glrnet's kernel alone."""
    model = glrnet.MLP([12, 9, 20, 4], ["sigmoid", "threshold", "tanh"], glrnet.Gaussian(1.5), seed=0)
    weights = [((np.arange(w.size) * 37 + 11 * level) % 101 - 50).reshape(w.shape) / 50.0
               for level, w in enumerate(model.weights)]
    biases = [((np.arange(b.size) * 13 + level) % 21 - 10) / 100.0 for level, b in enumerate(model.biases)]
    model.set_parameters(weights, biases)
    X = (np.arange(7 * 12).reshape(7, 12) % 11) / 10.0
    return model, X, np.arange(7) % 4


# sha256 of the float64 bytes, recorded with glrnet 0.2.0 (the same before and after the RQMC noise
# was added): a change of the i.i.d. noise stream, of a sum's order or of the arithmetic shows here
KNOWN_GRADIENT = {False: "61b9ecb73f35d525b5e5046b0405b5c61f9612b90680e041bfcf8e1815162735",
                  True: "f373602e5e9dffc93314d3c258874fc6dc04e47a99fbcc34102e57dc1a500395"}
KNOWN_PROBA = "eba327886d2915cd385b0106eeaacc55865e6f5d814baeba27c9613d13d229fc"


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("baseline", [False, True])
def test_known_answer_bits_do_not_change_between_versions(baseline, threads):
    """Same seed, same bits: not only for any thread count and path within one build, but from one
    version of glrnet to the next, so that a committed model or result stays reproducible."""
    import hashlib

    model, X, y = _known_answer_network()
    est = model.gradient(X, y, 2500, seed=5, step=3, baseline=baseline, n_threads=threads)
    assert hashlib.sha256(est.flat().tobytes()).hexdigest() == KNOWN_GRADIENT[baseline]
    assert est.loss == float.fromhex("0x1.9d94fc3431dabp+0")
    proba = model.predict_proba(X, 500, seed=1, n_threads=threads)
    assert hashlib.sha256(np.ascontiguousarray(proba).tobytes()).hexdigest() == KNOWN_PROBA
