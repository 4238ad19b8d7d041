import json
import os

import pytest

RESULTS = {}


@pytest.fixture(scope="session")
def results():
    return RESULTS


def pytest_sessionfinish(session, exitstatus):
    if RESULTS:
        path = os.path.join(os.path.dirname(__file__), "last-run.json")
        with open(path, "w") as handle:
            json.dump(RESULTS, handle, indent=2, sort_keys=True)
