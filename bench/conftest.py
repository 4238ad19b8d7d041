import json
import os

import pytest

RESULTS = {}


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
