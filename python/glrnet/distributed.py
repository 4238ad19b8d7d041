"""Independent units of work (a training, an evaluation) on Dask, or in this process.

``glrnet reproduce`` and ``glrnet sweep`` hand their units to an executor: :class:`InProcess`
(the default: each unit runs here, in submission order, when its result is asked for) or
:class:`DaskExecutor` (``dask.distributed``: ``--scheduler ADDRESS`` for an existing cluster,
``--workers N`` for a :class:`~distributed.LocalCluster` on this machine).  The noise of glrnet
is a pure function of (seed, step, sample, replication) and the kernel's sums have a fixed
order, so a unit gives the same bits wherever it runs and with any number of kernel threads.
The numpy parts of a unit (the BP networks, the pathwise control, L-BFGS, BPDA) run with one
BLAS thread under either executor (:func:`one_blas_thread`): OpenBLAS's matrix products change
their last bits with its thread count, and Dask's workers run with one.

The workers need no shared file system: a task returns its result (a model, arrays, a dict)
and the client writes it under ``--out`` with the package's atomic writers, once, as it
arrives (:meth:`Executor.as_completed` yields every task once).  A task whose worker dies is
rerun by the scheduler (``distributed.scheduler.allowed-failures``); a task that raises is
retried ``retries`` times.  Dask is an optional dependency (``pip install glrnet[distributed]``)
imported only when a cluster is asked for.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
from typing import Any, Callable, Iterable, Iterator

from ._progress import log, progress_bar

__all__ = ["DaskExecutor", "Executor", "InProcess", "add_cluster_options", "one_blas_thread", "open_executor"]

#: How many times a task that raised is submitted again (a worker's death is handled apart).
RETRIES = 2


def add_cluster_options(parser):
    """``--scheduler`` and ``--workers`` (mutually exclusive) on an argparse parser."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run the units as tasks on this Dask scheduler (tcp://host:8786); the workers need "
                            "glrnet[distributed] installed, not the output folder")
    group.add_argument("--workers", type=int, default=None, metavar="N",
                       help="run the units on a Dask LocalCluster of N single-threaded worker processes here "
                            "(the kernel gets --threads each; default: the cores / N)")
    return parser


#: The environment of the worker processes of a LocalCluster started here: every BLAS library a
#: worker loads, at any time, starts on one thread (one_blas_thread limits only those already loaded).
ONE_BLAS_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "BLIS_NUM_THREADS": "1"}


def one_blas_thread():
    """``with one_blas_thread():`` numpy's and scipy's BLAS on one thread for the block
    (threadpoolctl), so that a unit's bits do not depend on where it runs.

    threadpoolctl limits only the libraries loaded when the block starts, and scipy ships a BLAS
    of its own that it loads on the first import of ``scipy.linalg`` (L-BFGS, for one): a unit
    that made that first import would run it on all cores, so it is imported here first."""
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS, so that the limit covers it)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def run_unit(fn, *args):
    """``fn(*args)`` as every unit runs, here or on a worker: with one BLAS thread."""
    with one_blas_thread():
        return fn(*args)


def _same(value):
    return value


class Executor:
    """Submits units and yields their results.  ``threads``: the kernel threads each unit is given
    (None: the kernel's default where it runs); ``distributed``: whether units run elsewhere (their
    own progress bars and log lines are then off, and one bar over the tasks shows progress)."""

    distributed = False
    threads: int | None = None

    def scatter(self, value):
        """A handle on ``value`` (a data set) that tasks take as an argument; sent to the cluster once."""
        raise NotImplementedError

    def submit(self, fn: Callable, *args, key: str):
        """A handle on ``fn(*args)``; handles among ``args`` are replaced by their values."""
        raise NotImplementedError

    def as_completed(self, tasks: Iterable, desc: str = "tasks", progress: bool = True) -> Iterator[tuple[Any, Any]]:
        """``(task, result)`` for every task, once, as each finishes (raises the first failure); with
        ``progress``, a tqdm bar over the tasks on stderr."""
        tasks = list(tasks)
        bar = progress_bar(len(tasks), desc, "task", progress and bool(tasks))
        try:
            for task, value in self._completed(tasks):
                yield task, value
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()

    def _completed(self, tasks: list) -> Iterator[tuple[Any, Any]]:
        raise NotImplementedError


class _Deferred:
    """A unit to be run in this process when its result is first asked for."""

    __slots__ = ("fn", "args", "key", "_done", "_value")

    def __init__(self, fn, args, key):
        self.fn, self.args, self.key = fn, args, key
        self._done, self._value = False, None

    def result(self):
        if not self._done:
            args = [a.result() if isinstance(a, _Deferred) else a for a in self.args]
            self._value, self._done = run_unit(self.fn, *args), True
            self.fn = self.args = None              # the arguments are no longer needed
        return self._value


class InProcess(Executor):
    """Every unit here, in submission order (as glrnet ran before it had executors)."""

    def __init__(self, threads=None):
        self.threads = threads

    def scatter(self, value):
        return value

    def submit(self, fn, *args, key):
        return _Deferred(fn, args, key)

    def _completed(self, tasks):
        for task in tasks:
            yield task, task.result()


class DaskExecutor(Executor):
    """Units as tasks of a ``distributed.Client``."""

    distributed = True

    def __init__(self, client, threads=None, retries=RETRIES):
        self.client, self.threads, self.retries = client, threads, retries

    def scatter(self, value):
        # A task that returns the value, rather than client.scatter: the scheduler keeps the task, so a
        # worker that dies holding the value is no loss (the value is made again from the task).
        import uuid
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ll]arge.*")        # a data set is large, once
            return self.client.submit(_same, value, key=f"data-{uuid.uuid4().hex[:12]}", pure=False)

    def submit(self, fn, *args, key):
        return self.client.submit(run_unit, fn, *args, key=key, pure=False, retries=self.retries)

    def _completed(self, tasks):
        from distributed import as_completed

        for future in as_completed(tasks):
            value = future.result()
            future.release()                     # the client keeps what it needs
            yield future, value


def _has_bokeh() -> bool:
    return importlib.util.find_spec("bokeh") is not None


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ModuleNotFoundError("--scheduler and --workers need Dask: pip install 'glrnet[distributed]' "
                                  f"({exc})") from None
    return distributed


@contextlib.contextmanager
def open_executor(scheduler=None, workers=None, threads=None, *, log=log):
    """``with open_executor(...) as executor:`` the executor of a run.

    ``scheduler``: the address of a running Dask scheduler; ``workers``: the number of worker
    processes of a LocalCluster started here (one thread each, so that ``threads`` kernel threads
    per worker do not oversubscribe the cores; default threads: the cores / ``workers``); neither:
    :class:`InProcess`.  The dashboard's address is logged when there is one."""
    from ._validation import check_int

    if scheduler is not None and workers is not None:
        raise ValueError("give --scheduler or --workers, not both")
    if scheduler is None and workers is None:
        yield InProcess(threads)
        return
    distributed = _import_distributed()
    with contextlib.ExitStack() as stack:
        if workers is not None:
            workers = check_int(workers, "workers", minimum=1)
            threads = threads or max(1, (os.cpu_count() or 1) // workers)
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, env=dict(ONE_BLAS_THREAD_ENV),
                dashboard_address=":8787" if _has_bokeh() else ":0"))        # ":0": no port taken from others
            client = stack.enter_context(distributed.Client(cluster))
            where = f"a LocalCluster of {workers} worker process(es), {threads} kernel thread(s) each"
            dashboard = cluster.dashboard_link if _has_bokeh() else None
        else:
            if not isinstance(scheduler, str) or not scheduler:
                raise ValueError(f"--scheduler must be a scheduler address (tcp://host:8786), got {scheduler!r}")
            client = stack.enter_context(distributed.Client(scheduler))
            n = len(client.scheduler_info().get("workers", {}))
            where = f"the Dask scheduler {scheduler} ({n} worker(s) now)"
            dashboard = client.dashboard_link
        log(f"running on {where}")
        log(f"dashboard: {dashboard}" if dashboard else
            "dashboard: off (it needs bokeh: pip install bokeh)")
        yield DaskExecutor(client, threads)
