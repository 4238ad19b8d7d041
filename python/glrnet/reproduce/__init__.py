"""``glrnet reproduce``: the paper's experiments (Section III, Tables I and II) in one command.

Per seed it trains the backprop (BP) baseline, the BP attack surrogate and the GLR
variants of Table I; crafts adversarial examples on the surrogate (FGSM, L-BFGS) and
feeds them to every model (the paper's transfer setting); attacks every model with
its own gradient (adaptive white-box: FGSM and PGD, the GLR networks through the
likelihood-ratio input gradient); and measures the mean accuracy over five
severities of each natural corruption (Eq. 6).  It writes Table I and Table II as
markdown, every figure as JSON (``results.json``) and as a long-format CSV
(``results.csv``: seed, model, label, measure, value), and the paper's figures as PNG
(with the eps curves and the accuracy against corruption severity).
``glrnet reproduce --report-only --out DIR`` rewrites the tables, the CSV and the figures
that ``DIR/results.json`` holds from it alone (:func:`report.report_only`).

Everything that is finished is cached under ``--out`` (models, adversarial sets,
per-model evaluations), so an interrupted run resumes where it stopped.  The folder is
locked for the run (``fcntl.flock``: a second run on it stops at once, naming the first
one's pid); the temporary files of writes a kill interrupted are removed at the start;
and the cache's protocol record is written only once the run is under way (arguments
checked, data loaded), so a run that fails at the start leaves nothing that refuses the
next one.

The units of the run (each training, the adversarial sets of a seed, each evaluation) are
independent tasks: ``--workers N`` runs them on a Dask LocalCluster here, ``--scheduler
ADDRESS`` on an existing cluster (:mod:`glrnet.distributed`), with the in-process results bit for
bit; the client caches each finished unit as it arrives, so the cache is the same either way.

``results.json`` holds, per seed and model, every figure of the tables and the
model's per-epoch training history.  Every network, the BP ones included, is trained
by the package's single loop (:func:`glrnet.method.training.train`), so every history
is the shared :class:`~glrnet.method.training.History`: for the BP networks its
training loss is the mean mini-batch loss over the epoch (glrnet 0.1's BP baseline
recorded its own ``history_``).

=========  ==============================================================================
module     what it holds
=========  ==============================================================================
protocol   the settings (PAPER, QUICK), the models of Table I (VARIANTS), the cache's record
runner     training with caching, the adversarial sets, the evaluation per model, run, the lock
report     the summary over seeds, Tables I and II, results.csv, the figures, report_only
cli        the ``glrnet reproduce`` subcommand
=========  ==============================================================================
"""
from .cli import add_parser
from .protocol import PAPER, QUICK, VARIANTS, Settings
from .runner import run

__all__ = ["PAPER", "QUICK", "VARIANTS", "Settings", "add_parser", "run"]
