
import numpy as np
import pytest


def flat(weights, biases):
    return np.concatenate([np.concatenate([np.ravel(w), np.ravel(b)]) for w, b in zip(weights, biases)])


@pytest.fixture(scope="session")
def default_data():
    """A small seeded subset of the embedded MNIST data (14x14, 196 features)."""
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


@pytest.fixture(scope="session")
def data():
    """The embedded MNIST data, 14x14: 3,000 training and 1,000 test images (float64)."""
    from glrnet import datasets

    d = datasets.load(seed=0)
    return (d.X_train.astype(np.float64), d.y_train, d.X_test[:1000].astype(np.float64), d.y_test[:1000])


@pytest.fixture(scope="session")
def net(data):
    """A briefly trained 196-20-10 sigmoid BP network (the paper's baseline architecture)."""
    import glrnet

    X_train, y_train, _, _ = data
    network = glrnet.baseline_network([196, 20, 10], "sigmoid", seed=0)
    glrnet.train(network, X_train, y_train, epochs=8, learning_rate=0.1, optimizer="momentum", estimator="backprop",
                 progress=False)
    return network


def differences(left, right, path="", limit=20):
    """The paths at which two JSON-like values differ (at most ``limit``), for assertion
    messages that name what differs instead of printing both values whole."""
    found = []

    def walk(a, b, where):
        if len(found) >= limit:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                if key not in a or key not in b:
                    found.append(f"{where}/{key}: only on the {'right' if key not in a else 'left'}")
                else:
                    walk(a[key], b[key], f"{where}/{key}")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (u, v) in enumerate(zip(a, b)):
                walk(u, v, f"{where}[{i}]")
        elif a != b:
            found.append(f"{where}: {a!r} != {b!r}")

    walk(left, right, path)
    return found
