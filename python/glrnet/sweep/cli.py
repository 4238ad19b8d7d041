"""``glrnet sweep`` on the command line."""
from __future__ import annotations

import argparse
import os
import sys

from ..distributed import add_cluster_options

__all__ = ["add_parser"]

EXAMPLE = ('{"base": {"epochs": 4, "replications": 100}, "grid": {"noise_scale": [1, 2], "activation": '
           '["sigmoid", "threshold"]}, "seeds": [0, 1, 2], "limit": 2000, "evaluate": {"attack_eps": 0.1}}')


def add_parser(sub):
    p = sub.add_parser("sweep", help="train a grid of settings x seeds (GLR), with mean and spread per setting",
                       description="Train every setting of a grid (from a JSON or TOML spec file) for every seed, "
                                   "evaluate each network, and write a table per setting (mean ± std over seeds), "
                                   f"a long CSV and sweep.json. Example spec: {EXAMPLE}",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("spec", help="the spec file (.json, or .toml on Python >= 3.11 or with tomli)")
    p.add_argument("--out", default="glrnet-sweep", help="output directory (also the per-unit resume cache)")
    p.add_argument("--threads", type=int, default=None,
                   help="kernel threads per unit (default: all cores here; with --workers N: the cores / N)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_cluster_options(p)
    p.set_defaults(func=_cmd)
    return p


def _cmd(args):
    from .runner import run

    report = run(args.spec, args.out, threads=args.threads, progress=not args.quiet, scheduler=args.scheduler,
                 workers=args.workers)
    with open(os.path.join(args.out, "sweep.md")) as handle:
        print(handle.read())
    print(f"wrote {args.out}/sweep.md, sweep.csv and sweep.json ({len(report['units'])} unit(s))", file=sys.stderr)
    return 0


