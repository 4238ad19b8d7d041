"""The README's Python examples run (with small settings substituted, so that they take seconds)."""
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
SMALL = {"replications=10_000": "replications=100", "epochs=12": "epochs=1", "steps=20": "steps=2",
         "datasets.load()": "datasets.load(limit=500)"}


def test_readme_examples_run(tmp_path, monkeypatch):
    if not README.exists():
        pytest.skip("README.md not beside the tests")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    code = "\n".join(blocks)
    for big, small in SMALL.items():
        assert big in code, big                  # the substitution still applies to the README's text
        code = code.replace(big, small)
    monkeypatch.chdir(tmp_path)                  # the examples write model files
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    assert (tmp_path / "threshold.npz").exists()
