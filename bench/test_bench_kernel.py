"""Speed of the fused kernel as ratios against references timed in the same process.

Run with ``python -m pytest bench/ -p no:randomly`` (pytest-benchmark).  The paper's
configuration: 196-20-10 network, Gaussian noise sigma^2 = 4, softmax cross-entropy,
batch 25, K = 10,000 replications (12 s per mini-batch in the paper's Python).
Targets: kernel >= 4x faster than the vectorised numpy estimator, >= 1.8x faster with
2 threads than with 1.  The median times and ratios are written to bench/last-run.json.
"""
import numpy as np
import pytest

import glrnet
from glrnet import reference

PAPER = dict(sizes=[196, 20, 10], batch=25, replications=10_000)
DEEP = dict(sizes=[784, 256, 128, 10], batch=25, replications=1_000)


def _problem(sizes, batch, activation):
    rng = np.random.default_rng(0)
    X = rng.random((batch, sizes[0]))
    y = rng.integers(0, sizes[-1], batch)
    return glrnet.MLP(sizes, activation, glrnet.Gaussian(2.0)), X, y


def _measure(benchmark, results, key, fn, rounds):
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=2)
    results[key] = benchmark.stats.stats.median


@pytest.mark.parametrize("activation", ["sigmoid", "threshold"])
class TestPaperConfiguration:
    def test_numpy_reference(self, benchmark, results, activation):
        model, X, y = _problem(PAPER["sizes"], PAPER["batch"], activation)
        rng = np.random.default_rng(1)
        _measure(benchmark, results, f"paper/{activation}/numpy",
                 lambda: reference.glr_gradient(model, X, y, PAPER["replications"], rng=rng, dtype=np.float32), 8)

    def test_kernel_one_thread(self, benchmark, results, activation):
        model, X, y = _problem(PAPER["sizes"], PAPER["batch"], activation)
        counter = iter(range(10**6))
        _measure(benchmark, results, f"paper/{activation}/kernel-1",
                 lambda: model.gradient(X, y, PAPER["replications"], step=next(counter), n_threads=1), 20)

    def test_kernel_two_threads(self, benchmark, results, activation):
        model, X, y = _problem(PAPER["sizes"], PAPER["batch"], activation)
        counter = iter(range(10**6))
        _measure(benchmark, results, f"paper/{activation}/kernel-2",
                 lambda: model.gradient(X, y, PAPER["replications"], step=next(counter), n_threads=2), 30)

    def test_ratios(self, results, activation):
        numpy_time = results[f"paper/{activation}/numpy"]
        one, two = results[f"paper/{activation}/kernel-1"], results[f"paper/{activation}/kernel-2"]
        results[f"paper/{activation}/speedup_vs_numpy"] = numpy_time / two
        results[f"paper/{activation}/thread_scaling"] = one / two
        print(f"\n{activation}: numpy {numpy_time * 1e3:.1f} ms, kernel 1 thread {one * 1e3:.1f} ms, "
              f"2 threads {two * 1e3:.1f} ms: {numpy_time / two:.1f}x numpy, {one / two:.2f}x scaling")
        assert numpy_time / two >= 4.0
        assert one / two >= 1.8


class TestDeepNetwork:
    def test_numpy_reference(self, benchmark, results):
        model, X, y = _problem(DEEP["sizes"], DEEP["batch"], "sigmoid")
        rng = np.random.default_rng(1)
        _measure(benchmark, results, "deep/numpy",
                 lambda: reference.glr_gradient(model, X, y, DEEP["replications"], rng=rng, dtype=np.float32), 5)

    def test_kernel_two_threads(self, benchmark, results):
        model, X, y = _problem(DEEP["sizes"], DEEP["batch"], "sigmoid")
        counter = iter(range(10**6))
        _measure(benchmark, results, "deep/kernel-2",
                 lambda: model.gradient(X, y, DEEP["replications"], step=next(counter), n_threads=2), 8)

    def test_ratio(self, results):
        results["deep/speedup_vs_numpy"] = results["deep/numpy"] / results["deep/kernel-2"]
        print(f"\n784-256-128-10, K=1000: numpy {results['deep/numpy'] * 1e3:.0f} ms, "
              f"kernel {results['deep/kernel-2'] * 1e3:.0f} ms ({results['deep/speedup_vs_numpy']:.1f}x)")
