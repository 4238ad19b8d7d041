"""Fuzzing the public API as a hostile user would (hypothesis): every case runs in a subprocess, so
that a crash of the C kernel or a hang is seen, and must end in a finite result or a clean
ValueError / TypeError.  Crashes, hangs and non-finite results allowed: zero."""
import json
import subprocess
import sys

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from glrnet.method.activations import ACTIVATION_NAMES  # noqa: E402
from glrnet.method.losses import LOSS_CODES  # noqa: E402

WORKER = r"""
import json, sys
import numpy as np
import glrnet

case = json.loads(sys.stdin.read())
rng = np.random.default_rng(case["seed"])
noise = {"gaussian": glrnet.Gaussian, "laplace": glrnet.Laplace, "logistic": glrnet.Logistic}[case["noise"]]
try:
    model = glrnet.MLP(case["sizes"], case["activation"], noise(case["noise_scale"]), loss=case["loss"],
                       seed=case["seed"])
    for w in model.weights:
        w *= case["weight_scale"]
    X = rng.standard_normal((case["n"], case["sizes"][0])) * case["input_scale"]
    if case["poison"] == "nan":
        X[0, 0] = np.nan
    elif case["poison"] == "inf":
        X[-1, -1] = -np.inf
    y = rng.integers(0, case["sizes"][-1], case["n"])
    op = case["op"]
    if op == "gradient":
        est = model.gradient(X, y, case["replications"], baseline=case["baseline"], antithetic=case["antithetic"],
                             n_threads=case["threads"])
        values = [est.loss, est.accuracy, *est.weights, *est.biases]
    elif op == "evaluate":
        out = model.evaluate(X, y, case["replications"], n_threads=case["threads"])
        values = [out["loss"], out["accuracy"]]
    elif op == "predict_proba":
        values = [model.predict_proba(X, case["replications"], n_threads=case["threads"])]
    else:
        glrnet.train(model, X, y, epochs=1, replications=max(case["replications"], 2), baseline=case["baseline"],
                     learning_rate=case["learning_rate"], batch_size=3, progress=False, n_threads=case["threads"])
        values = model.get_parameters()
    finite = all(np.isfinite(np.asarray(v, dtype=float)).all() for v in values)
    print(json.dumps({"outcome": "finite" if finite else "nonfinite"}))
except (ValueError, TypeError) as exc:
    print(json.dumps({"outcome": "refused", "error": type(exc).__name__, "message": str(exc)[:200]}))
"""

CASES = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32),
    "sizes": st.lists(st.integers(1, 9), min_size=2, max_size=4),
    "activation": st.sampled_from(ACTIVATION_NAMES),
    "noise": st.sampled_from(["gaussian", "laplace", "logistic"]),
    "noise_scale": st.sampled_from([1e-12, 1e-3, 1.0, 2.0, 1e3, 1e12]),
    "loss": st.sampled_from(list(LOSS_CODES)),
    "weight_scale": st.sampled_from([0.0, 1e-30, 1.0, 1e3, 1e10, 1e20, 1e30]),
    "input_scale": st.sampled_from([0.0, 1e-40, 1.0, 1e4, 1e15, 1e30, 3e38]),
    "poison": st.sampled_from(["none", "none", "none", "nan", "inf"]),
    "n": st.integers(1, 7),
    "op": st.sampled_from(["gradient", "evaluate", "predict_proba", "train"]),
    "replications": st.sampled_from([1, 2, 3, 8, 130]),
    "baseline": st.booleans(),
    "antithetic": st.booleans(),
    "threads": st.sampled_from([1, 2]),
    "learning_rate": st.sampled_from([1e-3, 0.1, 10.0, 1e10, 1e300]),
})


def _run(case):
    try:
        result = subprocess.run([sys.executable, "-c", WORKER], input=json.dumps(case), capture_output=True,
                                text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return {"outcome": "hang"}
    if result.returncode != 0:
        return {"outcome": "crash", "status": result.returncode, "stderr": result.stderr[-400:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(CASES)
def test_every_case_ends_in_a_finite_result_or_a_clean_refusal(case):
    report = _run(case)
    assert report["outcome"] in ("finite", "refused"), (case, report)
    if case["poison"] != "none":
        assert report["outcome"] == "refused" and "NaN or infinity" in report["message"], (case, report)
