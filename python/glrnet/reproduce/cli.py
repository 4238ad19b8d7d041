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


def _run(args):
    if args.seeds < 1:
        raise ValueError("--seeds must be >= 1")
    settings = QUICK if args.quick else PAPER
    if args.replications is not None:
        if args.replications < 1:
            raise ValueError("--replications must be >= 1")
        settings = replace(settings, replications=args.replications)
    if args.epochs is not None:
        if args.epochs < 1:
            raise ValueError("--epochs must be >= 1")
        settings = replace(settings, epochs=args.epochs, zero_one_epochs=2 * args.epochs, bp_epochs=args.epochs)
    if args.eot_draws is not None:
        if args.eot_draws < 1:
            raise ValueError("--eot-draws must be >= 1")
        settings = replace(settings, eot_draws=args.eot_draws)
    if args.limit is not None:
        if args.limit < 0:
            raise ValueError("--limit must be >= 0")
        settings = replace(settings, limit=args.limit or None)
    return run(args.data, args.out, seeds=args.seeds, threads=args.threads, progress=not args.quiet,
               settings=settings, scheduler=args.scheduler, workers=args.workers)
