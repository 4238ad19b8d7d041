"""``glrnet sweep``: a grid of training settings x seeds, with the results per setting and their spread.

A spec file (JSON; TOML where ``tomllib`` or ``tomli`` is importable) names the settings every
unit shares (``base``), the settings that vary (``grid``: every combination of their values),
the seeds, the data and the evaluation::

    {"base": {"epochs": 4}, "grid": {"noise_scale": [1, 2], "replications": [100, 1000],
     "baseline": [true, false], "activation": ["sigmoid", "threshold"]},
     "seeds": [0, 1, 2], "data": null, "limit": 2000,
     "evaluate": {"replications": 100, "attack_eps": 0.1, "attack_images": 500}}

The whole spec is checked before anything runs (an unknown setting, an empty grid or a value of the
wrong type is a ValueError or TypeError naming its key: ``grid.noise_scale[1] must be a positive
number, got 'x'``).  A unit (one setting, one seed) builds the network
(:func:`glrnet.method.network.build_mlp`), trains it (:func:`glrnet.train`), and measures its test
accuracy (noise-averaged prediction), its noise-free accuracy and, if ``evaluate.attack_eps`` > 0,
its accuracy under ``glrnet train``'s quick white-box attack.  Units run in this process or as
Dask tasks (``--workers N``, ``--scheduler ADDRESS``: :mod:`glrnet.distributed`) with the same
bits; each finished unit is written under ``--out/units/<hash of its settings and seed>.json``,
so an interrupted sweep resumes, and one that adds settings reuses the units it shares.

=========  ==============================================================================
module     what it holds
=========  ==============================================================================
spec       reading and checking the spec; its units and their cache keys
runner     one unit, and the whole sweep (cached, resumable, on any executor)
report     sweep.md (a row per setting, mean ± std over seeds), sweep.csv (long), sweep.json
cli        the ``glrnet sweep`` subcommand (``add_parser``; ``main`` runs it on its own)
=========  ==============================================================================
"""
from .cli import add_parser
from .runner import run
from .spec import load_spec, parse_spec

__all__ = ["add_parser", "load_spec", "parse_spec", "run"]
