"""The kernel at its limits: float32 overflow, memory that must not grow with K, thread counts."""
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

import glrnet
from glrnet import _config, _glrcore
from glrnet.method import network
from glrnet.method.network import MAX_KERNEL_BYTES, kernel_memory_bytes


# ------------------------------------------------------------------ non-finite values (float32)
def _identity_network(sizes, loss="squared", noise=None):
    model = glrnet.MLP(sizes, "identity", noise or glrnet.Gaussian(1.0), loss=loss, seed=1)
    for w in model.weights:
        w[:] = 1.0
    return model


def test_identity_network_on_huge_inputs_raises_instead_of_returning_nan():
    model = _identity_network([5, 4, 3], loss="cross_entropy")
    X = np.full((3, 5), 3e38)
    y = np.array([0, 1, 2])
    with pytest.raises(ValueError, match=r"pre-activation u = W x \+ b \+ r overflowed float32 at level 0 "):
        model.gradient(X, y, 100)
    with pytest.raises(ValueError, match="overflowed float32 at level 0"):
        model.evaluate(X, y, 100)
    with pytest.raises(ValueError, match="overflowed float32 at level 0"):
        model.predict_proba(X, 100)


def test_overflow_is_located_at_its_level_and_first_sample():
    model = glrnet.MLP([3, 4, 2], ["relu", "threshold"], glrnet.Gaussian(1.0), seed=1)
    model.weights[0][:] = 1.0
    model.weights[1][:] = 10.0                                     # 4 x 10 x 3e37 > 3.4e38
    X = np.ones((9, 3))
    X[[4, 7]] = 1e37
    y = np.zeros(9, dtype=int)
    messages = set()
    for threads in (1, 2, 3):
        with pytest.raises(ValueError, match="overflowed float32 at level 1 .*sample 4;") as info:
            model.gradient(X, y, 3000, n_threads=threads, baseline=True)
        messages.add(str(info.value))
    assert len(messages) == 1                                      # the same report for any thread count
    assert np.isfinite(model.gradient(X[:4], y[:4], 3000).flat()).all()


def test_nan_hidden_by_a_threshold_unit_is_caught():
    """inf - inf in W x is NaN, and a threshold unit turns NaN into 0 without a trace."""
    model = glrnet.MLP([2, 2, 2], ["relu", "threshold"], glrnet.Gaussian(1.0), seed=1)
    model.weights[0][:] = np.eye(2)
    model.weights[1][:] = [[4.0, -4.0], [1.0, 1.0]]              # 4e38 - 4e38 in float32
    X, y = np.full((2, 2), 1e38), np.array([0, 1])
    with pytest.raises(ValueError, match="pre-activation .* overflowed float32 at level 1 .*sample 0;"):
        model.evaluate(X, y, 50)
    assert model.evaluate(X / 1e30, y, 50)["accuracy"] >= 0.0


def test_loss_overflow_is_reported_at_the_output_level():
    model = _identity_network([2, 3, 2])                           # outputs ~6e20, squared loss ~7e41
    for threads in (1, 2, 3):
        with pytest.raises(ValueError, match=r"the loss overflowed float32 at level 1 \(the output level\) "
                                             r"of levels 0..1, sample 0;"):
            model.gradient(np.full((5, 2), 1e20), np.arange(5) % 2, 2200, n_threads=threads)


def test_gradient_overflow_is_reported():
    """Finite losses (~1e26) whose likelihood-ratio sums L psi(r) x overflow at level 1."""
    model = _identity_network([2, 3, 2], noise=glrnet.Gaussian(0.01))
    X, y = np.full((2, 2), 1e12), np.array([0, 1])
    assert np.isfinite(model.evaluate(X, y, 200)["loss"])
    for threads in (1, 2, 3):
        with pytest.raises(ValueError, match="likelihood-ratio sums .* overflowed float32 at level 1"):
            model.gradient(X, y, 200, n_threads=threads)


def test_large_but_finite_values_still_pass():
    model = _identity_network([5, 4, 3])
    est = model.gradient(np.full((3, 5), 1e5), np.array([0, 1, 2]), 300)
    assert np.isfinite(est.flat()).all() and np.isfinite(est.loss)


# ------------------------------------------------------------------ memory that does not grow with K
def test_kernel_memory_estimate_does_not_grow_with_replications():
    sizes = [196, 256, 128, 10]
    at_1e7 = kernel_memory_bytes(sizes, 25, 10**7, baseline=True, n_threads=2)
    assert at_1e7 == kernel_memory_bytes(sizes, 25, 2**32 - 1, baseline=True, n_threads=2)
    assert at_1e7 < 256 * 2**20                                    # partial sums of every chunk: 5.3 GB
    small = kernel_memory_bytes(sizes, 25, 1000, n_threads=2)
    assert 0 < small < at_1e7


def test_model_sizes_beyond_the_bound_are_refused_before_allocating():
    with pytest.raises(ValueError, match=r"GiB in float64, above the bound"):
        glrnet.MLP([2**16, 2**16, 2**16])                          # 8.6e9 parameters, 69 GB


def test_kernel_calls_beyond_the_bound_are_refused():
    sizes = [1, 2**22, 2]                                          # 4 GiB of scratch per thread
    assert kernel_memory_bytes(sizes, 1, 10, n_threads=1) > MAX_KERNEL_BYTES
    model = glrnet.MLP(sizes, "sigmoid", glrnet.Gaussian(1.0))
    with pytest.raises(ValueError, match=r"would take about .* GiB .* above the bound"):
        model.gradient(np.zeros((1, 1)), np.array([0]), 10, n_threads=1)
    with pytest.raises(ValueError, match="above the bound"):
        model.predict_proba(np.zeros((1, 1)), 10, n_threads=1)


_RSS_SCRIPT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import glrnet
    model = glrnet.MLP([4, 64, 256, 2], "sigmoid", glrnet.Gaussian(1.0), seed=0)
    X, y = np.random.default_rng(0).random((1, 4)), np.array([1])
    model.gradient(X, y, 2000, baseline=True)                      # imports and first-call costs
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    g = model.gradient(X, y, int(sys.argv[1]), baseline=True, n_threads=2)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) * 1024, float(np.abs(g.flat()).sum()))
""")


def test_large_replication_counts_keep_the_work_space_bounded():
    """2^20 replications of a net with 17,000 upper parameters: the partial sums of all 1,024 chunks
    took 281 MB; waves of chunks hold at most 64 MiB of them."""
    K = 2**20
    done = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(K)], capture_output=True, text=True, check=True,
                          env={**os.environ, "OMP_NUM_THREADS": "2"})
    grown, total = done.stdout.split()
    assert np.isfinite(float(total))
    assert int(grown) < 120 * 2**20, int(grown) / 2**20


def _pathwise_problem():
    rng = np.random.default_rng(2)
    model = glrnet.MLP([20, 12, 4], "sigmoid", glrnet.Logistic(0.7), seed=3)
    return model, rng.random((25, 20)), rng.integers(0, 4, 25)


def test_pathwise_gradient_works_in_chunks_of_replications(monkeypatch):
    model, X, y = _pathwise_problem()
    whole = model.pathwise_gradient(X, y, 700, seed=4, step=1)
    monkeypatch.setattr(network, "PATHWISE_CHUNK_BYTES", 25 * 8 * 68 * 64)      # 64 replications a chunk
    chunked = model.pathwise_gradient(X, y, 700, seed=4, step=1)
    np.testing.assert_allclose(chunked.flat(), whole.flat(), rtol=1e-10, atol=1e-14)
    assert chunked.loss == pytest.approx(whole.loss, rel=1e-12)
    assert chunked.accuracy == pytest.approx(whole.accuracy, rel=1e-12)


def test_pathwise_gradient_memory_follows_the_chunk_bound(monkeypatch):
    model, X, y = _pathwise_problem()
    monkeypatch.setattr(network, "PATHWISE_CHUNK_BYTES", 2**20)
    tracemalloc.start()
    try:
        model.pathwise_gradient(X, y, 4000, seed=0)               # all at once: 25 x 4000 x 68 doubles, 54 MB
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, peak / 2**20


# ------------------------------------------------------------------ threads
def test_thread_counts_are_capped():
    bound = _config.max_threads()
    assert bound == max(64, 4 * (os.cpu_count() or 1))
    assert _config.effective_n_threads(min(bound, 3)) in (1, min(bound, 3))
    for bad in (bound + 1, 1024, -bound - 1):
        with pytest.raises(ValueError, match=rf"at most max\(64, 4 x \d+ cores\) = {bound} threads"):
            _config.effective_n_threads(bad)
    model = glrnet.MLP([3, 4, 2], "sigmoid", glrnet.Gaussian(1.0))
    with pytest.raises(ValueError, match="n_threads"):
        model.gradient(np.zeros((2, 3)), np.array([0, 1]), 10, n_threads=1024)


def test_default_thread_count_is_capped(monkeypatch):
    if not _config.openmp_enabled():
        pytest.skip("built without OpenMP")
    monkeypatch.setattr(_config._glrcore, "default_threads", lambda: 100_000)
    assert _config.effective_n_threads() == _config.max_threads()


def test_layout_matches_the_binding():
    lay = _glrcore.layout()
    assert lay["chunk"] % lay["block"] == 0 and lay["block"] % lay["lanes"] == 0
    assert lay["wave_bytes"] >= 2**20
