"""The sweep's spec file: reading it (JSON, or TOML where tomllib/tomli is importable) and checking
all of it before any unit is run; its units (one setting x one seed) and their cache keys."""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, Callable

__all__ = ["Spec", "Unit", "load_spec", "parse_spec", "SETTINGS", "TOP_LEVEL", "EVALUATE"]


# ------------------------------------------------------------------------------ the checks
# Each check takes (value, where) and returns the value in its canonical form (float for a number,
# a list for hidden), or raises TypeError / ValueError naming ``where`` ("grid.noise_scale[1]").
def _describe(value):
    return repr(value) if not isinstance(value, (dict, list)) else type(value).__name__


def _positive_int(value, where):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{where} must be a positive integer, got {_describe(value)}")
    if value < 1:
        raise ValueError(f"{where} must be a positive integer, got {value!r}")
    return int(value)


def _number(value, where, what, ok):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{where} must be {what}, got {_describe(value)}")
    if not (math.isfinite(value) and ok(float(value))):
        raise ValueError(f"{where} must be {what}, got {value!r}")
    return float(value)


def _positive(value, where):
    return _number(value, where, "a positive number", lambda v: v > 0)


def _nonnegative(value, where):
    return _number(value, where, "a number >= 0", lambda v: v >= 0)


def _momentum(value, where):
    return _number(value, where, "a number in [0, 1)", lambda v: 0 <= v < 1)


def _eps(value, where):
    return _number(value, where, "a number in [0, 1]", lambda v: 0 <= v <= 1)


def _fraction(value, where):
    return _number(value, where, "a number in (0, 1)", lambda v: 0 < v < 1)


def _boolean(value, where):
    if not isinstance(value, bool):
        raise TypeError(f"{where} must be true or false, got {_describe(value)}")
    return value


def _choice(names):
    def check(value, where):
        if not isinstance(value, str) or value not in names:
            raise (ValueError if isinstance(value, str) else TypeError)(
                f"{where} must be one of {', '.join(map(repr, names))}, got {_describe(value)}")
        return value
    return check


def _optional(check):
    def optional(value, where):
        return None if value is None else check(value, where)
    return optional


def _widths(value, where):
    if not isinstance(value, list) or not value:
        raise TypeError(f"{where} must be a non-empty list of positive integers (the hidden widths), got "
                        f"{_describe(value)}")
    return [_positive_int(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _activation_names():
    from ..method.activations import ACTIVATION_NAMES

    return tuple(ACTIVATION_NAMES)


def _setting_table() -> dict[str, tuple[Any, Callable]]:
    """Every training setting of a unit: its default and its check.  The defaults are ``glrnet
    train``'s (method.recipes.DEFAULTS; no validation split: every unit is judged on its test set)."""
    from ..method.recipes import DEFAULTS
    from ..method.losses import LOSS_CODES
    from ..method.noise import NOISE_FAMILIES

    activations = _activation_names()
    return {
        # the network (glrnet.method.network.build_mlp)
        "hidden": ([20], _widths),
        "activation": ("sigmoid", _choice(activations)),
        "output_activation": (None, _optional(_choice(activations))),
        "slope": (1.0, _positive),
        "levels": (4, _positive_int),
        "noise": ("gaussian", _choice((*sorted(NOISE_FAMILIES), "none"))),
        "noise_scale": (2.0, _positive),
        "nu": (5.0, _positive),
        "loss": ("cross_entropy", _choice(tuple(LOSS_CODES))),
        # the training (glrnet.train)
        "epochs": (DEFAULTS["epochs"], _positive_int),
        "batch_size": (DEFAULTS["batch_size"], _positive_int),
        "replications": (DEFAULTS["replications"], _positive_int),
        "learning_rate": (DEFAULTS["learning_rate"], _positive),
        "schedule": (DEFAULTS["schedule"], _choice(("constant", "inverse_time", "cosine", "step"))),
        "optimizer": (DEFAULTS["optimizer"], _choice(("sgd", "momentum", "adam"))),
        "momentum": (0.9, _momentum),
        "baseline": (DEFAULTS["baseline"], _boolean),        # GLR only (as in glrnet reproduce)
        "antithetic": (False, _boolean),                      # GLR only
        "batch_reduction": (DEFAULTS["batch_reduction"], _choice(("sum", "mean"))),
        "weight_decay": (DEFAULTS["weight_decay"], _nonnegative),
        "estimator": ("glr", _choice(("glr", "pathwise"))),
    }


#: The settings a unit has (built on first use: the activation, loss and noise names).
SETTINGS: dict[str, tuple[Any, Callable]] = {}
#: What ``evaluate`` holds: the noise draws averaged in a prediction, and the optional quick attack.
EVALUATE: dict[str, tuple[Any, Callable]] = {
    "replications": (100, _positive_int),
    "attack_eps": (0.0, _eps),                  # PGD through the noise-averaged network (BPDA); 0: none
    "attack_images": (500, _positive_int),
}
#: The spec's keys.
TOP_LEVEL = ("base", "grid", "seeds", "data", "limit", "test_fraction", "epochs", "evaluate")


def _settings() -> dict[str, tuple[Any, Callable]]:
    if not SETTINGS:
        SETTINGS.update(_setting_table())
    return SETTINGS


def _unknown(keys, allowed, where):
    unknown = [k for k in keys if k not in allowed]
    if unknown:
        raise ValueError(f"{where}{unknown[0]!r} is not a setting of a sweep (known: {', '.join(allowed)})")


def _mapping(value, where):
    if not isinstance(value, dict):
        raise TypeError(f"{where} must be a table (a JSON object), got {_describe(value)}")
    return value


# ------------------------------------------------------------------------------ the spec
@dataclass(frozen=True)
class Unit:
    """One training: a setting (its index and every value) and a seed."""

    setting: int
    seed: int
    settings: dict
    key: dict = field(repr=False)       # everything its results depend on

    @property
    def digest(self) -> str:
        """The unit's cache name: a hash of everything its results depend on."""
        text = json.dumps(self.key, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Spec:
    """A checked spec: the settings of the grid (each complete), the seeds and the data."""

    settings: list          # one dict per grid point, every setting filled in
    varied: list            # the grid's keys, in the spec's order
    seeds: list
    data: str | None
    limit: int | None
    test_fraction: float
    evaluate: dict
    source: dict            # the spec as read

    def units(self) -> list[Unit]:
        data = None if self.data is None else os.path.abspath(self.data)
        common = {"data": data, "limit": self.limit, "test_fraction": self.test_fraction, "evaluate": self.evaluate}
        return [Unit(i, seed, settings, {**common, "settings": settings, "seed": seed})
                for i, settings in enumerate(self.settings) for seed in self.seeds]


def parse_spec(spec) -> Spec:
    """Check a whole spec (a dict as read from JSON or TOML); every error names its key."""
    settings = _settings()
    spec = _mapping(spec, "the sweep spec")
    _unknown(spec, TOP_LEVEL, "")
    if "grid" not in spec:
        raise ValueError("the sweep spec needs a grid: {\"grid\": {\"noise_scale\": [1, 2], ...}}")
    base = dict(_mapping(spec.get("base", {}), "base"))
    grid = _mapping(spec["grid"], "grid")
    _unknown(base, settings, "base.")
    _unknown(grid, settings, "grid.")
    if not grid:
        raise ValueError("grid is empty: give at least one setting and its values")
    if "epochs" in spec:
        for where in ("base", "grid"):
            if "epochs" in (base if where == "base" else grid):
                raise ValueError(f"epochs is given twice: at the top level and in {where}")
        base["epochs"] = spec["epochs"]
    both = [k for k in grid if k in base]
    if both:
        raise ValueError(f"{both[0]} is given in base and in grid: give it in one of them")
    fixed = {name: settings[name][1](value, f"base.{name}" if name in spec.get("base", {}) else name)
             for name, value in base.items()}
    axes = []
    for name, values in grid.items():
        if not isinstance(values, list):
            raise TypeError(f"grid.{name} must be a list of values, got {_describe(values)}")
        if not values:
            raise ValueError(f"grid.{name} is empty: give at least one value")
        checked = [settings[name][1](v, f"grid.{name}[{i}]") for i, v in enumerate(values)]
        for i, v in enumerate(checked):
            if v in checked[:i]:
                raise ValueError(f"grid.{name}[{i}] repeats the value {values[i]!r}: every unit would run twice")
        axes.append(checked)
    defaults = {name: check(default, name) for name, (default, check) in settings.items()}
    points = [{**defaults, **fixed, **dict(zip(grid, values))} for values in itertools.product(*axes)]
    seeds = _seeds(spec.get("seeds", [0]))
    data = spec.get("data")
    if data is not None and (not isinstance(data, str) or not data):
        raise TypeError(f"data must be null (the embedded images) or a folder, got {_describe(data)}")
    limit = _optional(_positive_int)(spec.get("limit"), "limit")
    test_fraction = _fraction(spec.get("test_fraction", 0.4), "test_fraction")
    evaluate = dict(_mapping(spec.get("evaluate", {}), "evaluate"))
    _unknown(evaluate, EVALUATE, "evaluate.")
    evaluate = {name: check(evaluate.get(name, default), f"evaluate.{name}")
                for name, (default, check) in EVALUATE.items()}
    return Spec(points, list(grid), seeds, data, limit, test_fraction, evaluate, spec)


def _seeds(value):
    if isinstance(value, Integral) and not isinstance(value, bool):
        return list(range(_positive_int(value, "seeds")))           # n: seeds 0 .. n - 1
    if not isinstance(value, list) or not value:
        raise TypeError(f"seeds must be a non-empty list of seeds or their number, got {_describe(value)}")
    seeds = []
    for i, seed in enumerate(value):
        if isinstance(seed, bool) or not isinstance(seed, Integral):
            raise TypeError(f"seeds[{i}] must be an integer >= 0, got {_describe(seed)}")
        if not 0 <= int(seed) < 2**32:
            raise ValueError(f"seeds[{i}] must be an integer in [0, 2**32), got {seed!r}")
        if seed in seeds:
            raise ValueError(f"seeds[{i}] repeats the seed {seed}")
        seeds.append(int(seed))
    return seeds


def _toml_loader():
    try:
        import tomllib                                    # Python >= 3.11
        return tomllib
    except ImportError:
        try:
            import tomli
            return tomli
        except ImportError:
            return None


def load_spec(path) -> Spec:
    """Read and check the spec file ``path``: ``.toml`` (Python >= 3.11, or tomli installed) or JSON."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"sweep spec {path}: no such file")
    with open(path, "rb") as handle:
        raw = handle.read()
    if path.endswith(".toml"):
        toml = _toml_loader()
        if toml is None:
            raise ValueError(f"sweep spec {path}: reading TOML needs Python >= 3.11 or tomli (pip install tomli); "
                             "or write the spec as JSON")
        try:
            spec = toml.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, toml.TOMLDecodeError) as exc:
            raise ValueError(f"sweep spec {path} is not valid TOML: {exc}") from None
    else:
        try:
            spec = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"sweep spec {path} is not valid JSON: {exc}") from None
    try:
        return parse_spec(spec)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"sweep spec {path}: {exc}") from None
