"""Time to a target accuracy: glrnet's GLR training against backpropagation, in one process.

The paper's MNIST protocol when the shared MNIST test set is beside the project (10,000 images,
6:4, 14 x 14), the embedded 5,000 images otherwise; the paper's 196-20-10 sigmoid network with
N(0, 4) neuronal noise, batch 25, one kernel thread.  After every epoch the test accuracy is
measured as the paper measures it (the prediction with the noise averaged over 100 draws; the
BP networks predict noise-free) and the clock stops at the first epoch at or above TARGET.  The
measured time includes those evaluations for every configuration alike.  Torch runs when it is
installed (the `bench` extra); the tests never need it.  Figures go to bench/last-run.json.
"""
import time

import numpy as np
import pytest

import glrnet
from glrnet.method.recipes import DEFAULTS, PAPER

TARGET = 0.90
THREADS = 1


@pytest.fixture(scope="module")
def data(mnist_protocol):
    return mnist_protocol


def _time_to_target(net, data, max_epochs, **settings):
    """(seconds, first epoch at TARGET or None, best accuracy) of glrnet.train on the test set."""
    reached = {}

    def stop(epoch, history):
        if history.val_prediction_accuracy[-1] >= TARGET:
            reached["epoch"] = epoch
            return True
        return False

    start = time.perf_counter()
    history = glrnet.train(net, data.X_train, data.y_train, epochs=max_epochs, X_val=data.X_test, y_val=data.y_test,
                           eval_replications=100, n_threads=THREADS, progress=False, callback=stop, **settings)
    return time.perf_counter() - start, reached.get("epoch"), max(history.val_prediction_accuracy)


def _glr_time_to_target(data, recipe, max_epochs):
    settings = {k: v for k, v in recipe.items() if k not in ("epochs", "validation_fraction")}
    return _time_to_target(glrnet.MLP([196, 20, 10], "sigmoid", glrnet.Gaussian(2.0)), data, max_epochs, **settings)


def _glrnet_backprop_time_to_target(data, max_epochs):
    return _time_to_target(glrnet.baseline_network([196, 20, 10], "sigmoid"), data, max_epochs, learning_rate=0.01,
                           optimizer="adam", estimator="backprop")


def _torch_time_to_target(data, max_epochs):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    X = torch.tensor(data.X_train, dtype=torch.float32)
    y = torch.tensor(data.y_train)
    X_test = torch.tensor(data.X_test, dtype=torch.float32)
    y_test = torch.tensor(data.y_test)
    net = torch.nn.Sequential(torch.nn.Linear(196, 20), torch.nn.Sigmoid(), torch.nn.Linear(20, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    best = 0.0
    start = time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        order = torch.randperm(len(y), generator=generator)
        for first in range(0, len(y), 25):
            index = order[first:first + 25]
            optimizer.zero_grad()
            loss_fn(net(X[index]), y[index]).backward()
            optimizer.step()
        with torch.no_grad():
            accuracy = float((net(X_test).argmax(1) == y_test).float().mean())
        best = max(best, accuracy)
        if accuracy >= TARGET:
            return time.perf_counter() - start, epoch, best
    return time.perf_counter() - start, None, best


def _record(results, key, seconds, epoch, best):
    results[f"time_to_{TARGET}/{key}/seconds"] = seconds
    results[f"time_to_{TARGET}/{key}/epochs"] = epoch
    results[f"time_to_{TARGET}/{key}/best_accuracy"] = best
    where = f"{epoch} epochs, {seconds:.2f} s" if epoch else f"not reached (best {best:.3f}) in {seconds:.1f} s"
    print(f"\ntime to {TARGET}: {key}: {where}")


class TestTimeToAccuracy:
    def test_glrnet_default_settings(self, data, results):
        # within the default run's own epochs (its cosine schedule spans them)
        seconds, epoch, best = _glr_time_to_target(data, DEFAULTS, max_epochs=DEFAULTS["epochs"])
        _record(results, "glr-default", seconds, epoch, best)
        assert epoch is not None, \
            f"the default settings did not reach {TARGET} in {DEFAULTS['epochs']} epochs (best {best:.3f})"

    def test_glrnet_default_settings_with_rqmc(self, data, results):
        seconds, epoch, best = _glr_time_to_target(data, {**DEFAULTS, "rqmc": True}, max_epochs=DEFAULTS["epochs"])
        _record(results, "glr-default-rqmc", seconds, epoch, best)
        assert epoch is not None, f"the default settings with rqmc did not reach {TARGET} (best {best:.3f})"

    def test_paper_settings(self, data, results):
        # the paper's K = 10,000 without variance reduction: measured not to reach 0.90 within 47 epochs
        # (240 s) on the MNIST protocol, so it is capped here and reported, not required to arrive
        seconds, epoch, best = _glr_time_to_target(data, PAPER, max_epochs=12)
        _record(results, "glr-paper", seconds, epoch, best)
        assert best > 0.5

    def test_glrnet_backprop(self, data, results):
        seconds, epoch, best = _glrnet_backprop_time_to_target(data, max_epochs=50)
        _record(results, "glrnet-backprop", seconds, epoch, best)
        assert epoch is not None

    def test_torch_backprop(self, data, results):
        seconds, epoch, best = _torch_time_to_target(data, max_epochs=50)
        _record(results, "torch-backprop", seconds, epoch, best)
        assert epoch is not None

    def test_ratios(self, results):
        glr = results.get(f"time_to_{TARGET}/glr-default/seconds")
        for mine in ("glr-default", "glr-default-rqmc"):
            seconds = results.get(f"time_to_{TARGET}/{mine}/seconds")
            for peer in ("glrnet-backprop", "torch-backprop", "glr-default"):
                other = results.get(f"time_to_{TARGET}/{peer}/seconds")
                if peer == mine or seconds is None or other is None or \
                        results.get(f"time_to_{TARGET}/{peer}/epochs") is None:
                    continue
                results[f"time_to_{TARGET}/{mine}_over_{peer}"] = seconds / other
                print(f"\n{mine} / {peer}: {seconds / other:.2f}x")
        assert glr is not None
        assert np.isfinite(glr)


def test_training_step_overhead(data, results):
    """Issue target: at K = 100 a training step costs at most 1.3x the kernel's own time for that
    mini-batch.  One epoch of glrnet.train (no validation) against the same number of bare kernel
    calls on mini-batches of the same size, in alternation, median ratio of 7 pairs."""
    from glrnet import _glrcore

    net = glrnet.MLP([196, 20, 10], "sigmoid", glrnet.Gaussian(2.0))
    X, y = data.X_train, data.y_train
    steps = -(-len(y) // 25)
    levels = net._kernel_levels()
    batch = np.ascontiguousarray(X[:25], dtype=np.float32)
    labels = np.ascontiguousarray(y[:25], dtype=np.int64)
    ratios = []
    for repeat in range(8):
        start = time.perf_counter()
        glrnet.train(net, X, y, epochs=1, replications=100, baseline=True, batch_reduction="sum", seed=repeat,
                     n_threads=THREADS, progress=False)
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        for step in range(steps):
            _glrcore.estimate(**levels, X=batch, y=labels, loss=0, replications=100, seed=0, step=step,
                              flags=_glrcore.FLAG_BASELINE, n_threads=THREADS)
        if repeat:                                   # the first pair warms up
            ratios.append(train_seconds / (time.perf_counter() - start))
    ratio = float(np.median(ratios))
    results["step_overhead/train_over_kernel_K100"] = ratio
    print(f"\ntraining step / kernel call at K = 100: {ratio:.2f}x")
    assert ratio <= 1.3
