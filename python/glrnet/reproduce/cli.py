"""``glrnet reproduce`` on the command line."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from ..distributed import add_cluster_options
from .protocol import PAPER, QUICK
from .report import report_only
from .runner import run

__all__ = ["add_parser"]


def add_parser(sub):
    p = sub.add_parser("reproduce", help="the paper's Tables I and II and figures (transfer and white-box "
                       "attacks, corruptions)", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=None, help="MNIST-format IDX directory (default: the embedded 5,000 images)")
    p.add_argument("--quick", action="store_true", help="the whole pipeline on small settings (a minute or two)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds (0, 1, ...): mean and spread")
    p.add_argument("--out", default="glrnet-reproduction", help="output directory (also the resume cache)")
    p.add_argument("--threads", type=int, default=None,
                   help="kernel threads per unit (default: all cores here; with --workers N: the cores / N)")
    p.add_argument("--replications", type=int, default=None, help="override K")
    p.add_argument("--epochs", type=int, default=None,
                   help="override the epochs of GLR and BP training (the 0-1 loss gets twice as many, "
                        "as in the paper)")
    p.add_argument("--limit", type=int, default=None,
                   help="override the number of images used (paper: 10,000; 0: all the data holds)")
    p.add_argument("--eot-draws", type=int, default=None,
                   help="override the noise draws averaged per gradient of the adaptive attacks (EOT; paper "
                        "settings: 20, AutoAttack's randomised version)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--report-only", action="store_true",
                   help="train and evaluate nothing: rewrite the tables, results.csv and the figures that "
                        "OUT/results.json allows (loss, eps and corruption-severity curves) from it; the other "
                        "options are ignored")
    add_cluster_options(p)
    p.set_defaults(func=_cmd)
    return p


def _cmd(args):
    summary = report_only(args.out) if args.report_only else _run(args)
    with open(os.path.join(args.out, "table1.md")) as handle:
        print(handle.read())
    with open(os.path.join(args.out, "table2.md")) as handle:
        print(handle.read())
    what = "table1.md, table2.md, results.csv and the figures results.json holds" if args.report_only else \
        f"table1.md, table2.md, results.json, results.csv and figures in {summary['seconds']:.0f} s"
    print(f"wrote {args.out}/{what}", file=sys.stderr)
    return 0


#: The settings a flag overrides: flag -> (its least value, the settings it sets from its value).
OVERRIDES = {
    "replications": (1, lambda k: {"replications": k}),
    "epochs": (1, lambda e: {"epochs": e, "zero_one_epochs": 2 * e, "bp_epochs": e}),
    "eot_draws": (1, lambda k: {"eot_draws": k}),
    "limit": (0, lambda n: {"limit": n or None}),
}


def _run(args):
    if args.seeds < 1:
        raise ValueError("--seeds must be >= 1")
    settings = QUICK if args.quick else PAPER
    for name, (least, values) in OVERRIDES.items():
        value = getattr(args, name)
        if value is None:
            continue
        if value < least:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {least}")
        settings = replace(settings, **values(value))
    return run(args.data, args.out, seeds=args.seeds, threads=args.threads, progress=not args.quiet,
               settings=settings, scheduler=args.scheduler, workers=args.workers)
