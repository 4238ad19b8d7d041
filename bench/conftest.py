import json
import os
import pathlib

import pytest

RESULTS = {}
#: The MNIST test set beside the project (the paper's data size), when it is there.
SHARED_MNIST = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(scope="module")
def mnist_protocol():
    """The paper's MNIST protocol (10,000 images, 6:4, 14 x 14) when the shared MNIST is beside the
    project, the embedded 5,000 images otherwise."""
    from glrnet import datasets

    if SHARED_MNIST.is_dir():
        return datasets.load(str(SHARED_MNIST), limit=10_000)
    return datasets.load()


@pytest.fixture(scope="session")
def results():
    return RESULTS


def pytest_sessionfinish(session, exitstatus):
    """The figures of this run into bench/last-run.json, merged over the earlier ones (a run of one
    benchmark file keeps the others' figures), written atomically."""
    if RESULTS:
        path = os.path.join(os.path.dirname(__file__), "last-run.json")
        merged = {}
        if os.path.exists(path):
            with open(path) as handle:
                merged = json.load(handle)
        merged.update(RESULTS)
        with open(path + ".tmp", "w") as handle:
            json.dump(merged, handle, indent=2, sort_keys=True)
        os.replace(path + ".tmp", path)
