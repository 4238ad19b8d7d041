"""Speed of the fused kernel as ratios against references timed in the same process.

Run with ``python -m pytest bench/ -p no:randomly`` (pytest-benchmark).  The paper's
configuration: 196-20-10 network, Gaussian noise sigma^2 = 4, softmax cross-entropy,
batch 25, K = 10,000 replications (12 s per mini-batch in the paper's Python).
Targets: kernel >= 4x faster than the vectorised numpy estimator, >= 1.8x faster with
2 threads than with 1, the thread scaling timed with 1 and 2 threads in alternation so that
both see the same load.  The median times and ratios are written to bench/last-run.json.
"""
import time

import numpy as np
import pytest

import glrnet
from glrnet.testing import oracle

PAPER = {"sizes": [196, 20, 10], "batch": 25, "replications": 10_000}
DEEP = {"sizes": [784, 256, 128, 10], "batch": 25, "replications": 1_000}


def _problem(sizes, batch, activation):
    rng = np.random.default_rng(0)
    X = rng.random((batch, sizes[0]))
    y = rng.integers(0, sizes[-1], batch)
    return glrnet.MLP(sizes, activation, glrnet.Gaussian(2.0)), X, y


def _measure(benchmark, results, key, fn, rounds):
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=2)
    results[key] = benchmark.stats.stats.median


def _measure_kernel(benchmark, results, key, config, activation, threads, rounds):
    model, X, y = _problem(config["sizes"], config["batch"], activation)
    counter = iter(range(10**6))
    _measure(benchmark, results, f"{key}/kernel-{threads}",
             lambda: model.gradient(X, y, config["replications"], step=next(counter), n_threads=threads), rounds)


def _paired_scaling(model, X, y, replications, pairs):
    """Median over ``pairs`` of (1-thread time / 2-thread time), the two calls back to back.

    On a shared machine the load changes between the benchmark groups; timing the two
    thread counts in alternation makes each ratio see the same conditions.
    """
    ratios = []
    for step in range(pairs + 1):
        times = []
        for threads in (1, 2):
            start = time.perf_counter()
            model.gradient(X, y, replications, step=step, n_threads=threads)
            times.append(time.perf_counter() - start)
        if step:  # the first pair warms up
            ratios.append(times[0] / times[1])
    return float(np.median(ratios))


def _report(results, key, label, config, activation, pairs):
    """Derive, record and print the ratios of one case; return (speedup vs numpy, paired scaling)."""
    numpy_time, one, two = results[f"{key}/numpy"], results[f"{key}/kernel-1"], results[f"{key}/kernel-2"]
    model, X, y = _problem(config["sizes"], config["batch"], activation)
    paired = _paired_scaling(model, X, y, config["replications"], pairs)
    results[f"{key}/speedup_vs_numpy"] = numpy_time / two
    results[f"{key}/thread_scaling"] = one / two
    results[f"{key}/thread_scaling_paired"] = paired
    print(f"\n{label}: numpy {numpy_time * 1e3:.1f} ms, kernel 1 thread {one * 1e3:.1f} ms, "
          f"2 threads {two * 1e3:.1f} ms: {numpy_time / two:.1f}x numpy, {one / two:.2f}x scaling "
          f"({paired:.2f}x timed in alternation)")
    return numpy_time / two, paired


@pytest.mark.parametrize("activation", ["sigmoid", "threshold"])
class TestPaperConfiguration:
    def test_numpy_reference(self, benchmark, results, activation):
        model, X, y = _problem(PAPER["sizes"], PAPER["batch"], activation)
        rng = np.random.default_rng(1)
        _measure(benchmark, results, f"paper/{activation}/numpy",
                 lambda: oracle.glr_gradient(model, X, y, PAPER["replications"], rng=rng, dtype=np.float32), 8)

    def test_kernel_one_thread(self, benchmark, results, activation):
        _measure_kernel(benchmark, results, f"paper/{activation}", PAPER, activation, threads=1, rounds=20)

    def test_kernel_two_threads(self, benchmark, results, activation):
        _measure_kernel(benchmark, results, f"paper/{activation}", PAPER, activation, threads=2, rounds=30)

    def test_ratios(self, results, activation):
        speedup, paired = _report(results, f"paper/{activation}", activation, PAPER, activation, pairs=25)
        assert speedup >= 4.0
        assert paired >= 1.8


class TestDeepNetwork:
    def test_numpy_reference(self, benchmark, results):
        model, X, y = _problem(DEEP["sizes"], DEEP["batch"], "sigmoid")
        rng = np.random.default_rng(1)
        _measure(benchmark, results, "deep/numpy",
                 lambda: oracle.glr_gradient(model, X, y, DEEP["replications"], rng=rng, dtype=np.float32), 5)

    def test_kernel_one_thread(self, benchmark, results):
        _measure_kernel(benchmark, results, "deep", DEEP, "sigmoid", threads=1, rounds=15)

    def test_kernel_two_threads(self, benchmark, results):
        _measure_kernel(benchmark, results, "deep", DEEP, "sigmoid", threads=2, rounds=20)

    def test_ratio(self, results):
        speedup, paired = _report(results, "deep", "784-256-128-10, K=1000", DEEP, "sigmoid", pairs=15)
        # The wide levels' products dominate here; the portable loops (no AVX-512) reach about 2.5x
        # numpy.  The issue sets no thread target for this case; over ten runs on this shared
        # 2-core machine the scaling measured 1.6x to 2.05x (1.35x once, timed in alternation,
        # under outside load).  The floor only checks that the second thread does real work.
        assert speedup >= 2.0
        assert paired >= 1.25
