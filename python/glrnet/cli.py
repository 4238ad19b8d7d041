"""Command line: ``glrnet train``, ``glrnet info`` (and ``glrnet reproduce``, reproduce/cli.py, and
``glrnet sweep``, sweep/cli.py).

Every error is one line on stderr without a traceback: exit status 2 for a usage error (a bad
option or argument, a missing data folder), 1 for a failure at run time (a file that cannot be
written, a training that diverged).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .method.optim import OPTIMIZERS, SCHEDULES
from .method.recipes import DEFAULTS, PAPER

__all__ = ["main", "build_parser"]

class UsageError(ValueError):
    """A bad combination of options (exit status 2)."""


# argparse types: the command line's own messages ("invalid ... value" otherwise)
def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _fraction(text):
    value = float(text)
    if not (0.0 <= value < 1.0):
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text}")
    return value


def _add_model_options(p):
    from .method.activations import ACTIVATION_NAMES
    from .method.losses import LOSS_CODES
    from .method.noise import NOISE_FAMILIES

    p.add_argument("--activation", default="sigmoid", choices=ACTIVATION_NAMES,
                   help="activation of every level")
    p.add_argument("--output-activation", default=None, choices=ACTIVATION_NAMES,
                   help="activation of the output level (default: the same as --activation, as in the paper)")
    p.add_argument("--slope", type=_positive_float, default=1.0, help="slope s of sigmoid and staircase")
    p.add_argument("--levels", type=int, default=4, help="levels m of staircase and quantized_relu")
    p.add_argument("--hidden", type=_positive_int, nargs="+", default=[20],
                   help="hidden widths (the paper's 196-20-10 network has one level of 20)")
    p.add_argument("--noise", default="gaussian", choices=sorted(NOISE_FAMILIES), help="neuronal noise family")
    p.add_argument("--noise-scale", type=_positive_float, default=2.0,
                   help="noise scale; Gaussian: the standard deviation (2 is the paper's sigma^2 = 4)")
    p.add_argument("--nu", type=_positive_float, default=5.0, help="degrees of freedom of Student-t noise")
    p.add_argument("--loss", default="cross_entropy", choices=list(LOSS_CODES), help="training loss")


def _train_parser(sub):
    settings = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in DEFAULTS.items())
    paper = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in PAPER.items())
    p = sub.add_parser("train", help="train a network by GLR on the embedded MNIST data (or --data)",
                       description=f"Train a noisy network by GLR. Default training settings: {settings}. "
                                   f"--paper: the paper's literal settings ({paper}).",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_model_options(p)
    p.add_argument("--paper", action="store_true",
                   help="the paper's literal training settings (K = 10,000, no variance reduction, 12 epochs); "
                        "the options below override them")
    p.add_argument("--replications", "-K", type=_positive_int, default=None,
                   help=f"noise replications K per sample and step (default {DEFAULTS['replications']})")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help=f"mini-batch size (default {DEFAULTS['batch_size']})")
    p.add_argument("--learning-rate", type=_positive_float, default=None,
                   help=f"step size lambda of Eq. 1 (default {DEFAULTS['learning_rate']})")
    p.add_argument("--batch-reduction", choices=["sum", "mean"], default=None,
                   help="step along the gradient of the summed (the paper's reading) or mean mini-batch loss "
                        f"(default {DEFAULTS['batch_reduction']})")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), default=None,
                   help=f"update rule (default {DEFAULTS['optimizer']})")
    p.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help=f"learning-rate schedule over the epochs (default {DEFAULTS['schedule']})")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help=f"passes over the training images (default {DEFAULTS['epochs']})")
    vr = p.add_mutually_exclusive_group()
    vr.add_argument("--baseline", dest="baseline", action="store_true", default=None,
                    help="leave-one-out baseline, a variance reduction that keeps the estimator unbiased "
                         "(on by default; off with --paper)")
    vr.add_argument("--no-baseline", dest="baseline", action="store_false", help="no leave-one-out baseline")
    p.add_argument("--antithetic", action="store_true", help="antithetic noise pairs (variance reduction)")
    p.add_argument("--rqmc", action="store_true",
                   help="randomized quasi-Monte Carlo noise: two independent randomly shifted lattices of "
                        "K/2 points, the baseline of each half from the other (unbiased; less variance)")
    p.add_argument("--weight-decay", type=float, default=None,
                   help="L2 penalty on the weights, which keeps them small against the neuronal noise "
                        f"(default {DEFAULTS['weight_decay']}; 0 with --paper)")
    p.add_argument("--weight-bound", type=_positive_float, default=None,
                   help="clip every weight into [-bound, bound] after each update")
    p.add_argument("--data", default=None, help="a folder of MNIST-format IDX files, or a torchvision-style root "
                   "(default: the 5,000 MNIST images embedded in glrnet)")
    p.add_argument("--limit", type=_positive_int, default=None, help="use a stratified subset of this many images")
    p.add_argument("--test-fraction", type=float, default=0.4, help="held-out test fraction (the paper's 6:4 split)")
    p.add_argument("--validation-fraction", type=_fraction, default=None,
                   help="fraction of the training images held out to validate after every epoch (default "
                        f"{DEFAULTS['validation_fraction']}; 0 with --paper: no validation)")
    p.add_argument("--eval-replications", type=_positive_int, default=100,
                   help="noise draws averaged in every accuracy reported")
    p.add_argument("--attack-eps", type=float, default=0.1,
                   help="L-inf radius of the quick white-box attack reported after training (PGD through the "
                        "noise-averaged network, BPDA); 0: no attack")
    p.add_argument("--attack-images", type=_positive_int, default=500, help="test images attacked")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation, the split and the noise")
    p.add_argument("--threads", type=int, default=None, help="kernel threads (default: all, or OMP_NUM_THREADS)")
    p.add_argument("--out", default="glrnet-model.npz", help="model file to write")
    p.add_argument("--plot", default=None, help="loss-curve PNG (default: next to --out)")
    p.add_argument("--json", action="store_true", help="print machine-readable results on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _settings(args) -> dict:
    """The training settings: --paper's or the defaults, each overridden by its option."""
    base = PAPER if args.paper else DEFAULTS
    return {key: base[key] if getattr(args, key) is None else getattr(args, key) for key in base}


def _build_model(args, n_inputs, n_classes):
    from .method.network import build_mlp

    return build_mlp(n_inputs, n_classes, hidden=args.hidden, activation=args.activation,
                     output_activation=args.output_activation, slope=args.slope, levels=args.levels,
                     noise=args.noise, noise_scale=args.noise_scale, nu=args.nu, loss=args.loss, seed=args.seed)


def _check_output(path, option):
    """A regular file that can be written: checked before the training, not after it."""
    import tempfile

    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isfile(path):
        raise UsageError(f"{option} {path} exists and is not a regular file")
    folder = os.path.dirname(path)
    while not os.path.exists(folder):         # the folders that do not exist yet are made at the end
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: {folder} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write in {folder} ({exc.strerror})") from None


def cmd_train(args):
    from . import datasets
    from .method.training import train
    from .plotting import plot_history
    from .robustness.models import quick_attack_accuracy

    settings = _settings(args)
    if not 0.0 <= args.attack_eps <= 1.0:
        raise UsageError(f"--attack-eps must be in [0, 1], got {args.attack_eps}")
    _check_output(args.out, "--out")
    plot = args.plot or os.path.splitext(args.out)[0] + "-loss.png"
    _check_output(plot, "--plot")
    log = (lambda *a: None) if args.json and args.quiet else (lambda *a: print(*a, file=sys.stderr))
    data = datasets.load(args.data, seed=args.seed, limit=args.limit, test_fraction=args.test_fraction)
    X_train, y_train, validation = data.X_train, data.y_train, {}
    if settings["validation_fraction"] > 0:
        X_train, X_val, y_train, y_val = datasets.stratified_split(X_train, y_train,
                                                                   settings["validation_fraction"], args.seed)
        validation = {"X_val": X_val, "y_val": y_val}
    model = _build_model(args, data.X_train.shape[1], data.n_classes)
    log(f"data: {data.name}: {len(y_train)} training, {len(validation.get('y_val', []))} validation and "
        f"{len(data.y_test)} test images, {data.image_shape[0]}x{data.image_shape[1]}")
    log(f"model: {model}")
    shown = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in settings.items() if k != "validation_fraction")
    log(f"training: {shown}" + (" (the paper's settings)" if args.paper else ""))
    if os.path.exists(args.out):
        log(f"note: {args.out} exists and will be replaced")
    start = time.perf_counter()
    history = train(model, X_train, y_train, epochs=settings["epochs"], batch_size=settings["batch_size"],
                    replications=settings["replications"], learning_rate=settings["learning_rate"],
                    schedule=settings["schedule"], optimizer=settings["optimizer"], baseline=settings["baseline"],
                    antithetic=args.antithetic, rqmc=args.rqmc, seed=args.seed,
                    eval_replications=args.eval_replications,
                    n_threads=args.threads, progress=not args.quiet, batch_reduction=settings["batch_reduction"],
                    weight_decay=settings["weight_decay"], weight_bound=args.weight_bound, **validation)
    seconds = time.perf_counter() - start
    draws = args.eval_replications
    accuracy = model.score(data.X_test, data.y_test, replications=draws, seed=args.seed)
    clean = model.score(data.X_test, data.y_test, replications=0)
    results = {
        "data": data.name, "n_train": int(len(y_train)), "n_validation": int(len(validation.get("y_val", []))),
        "n_test": int(len(data.y_test)), "model": model.get_config(), "training": settings,
        "options": {k: v for k, v in vars(args).items() if k not in ("func", "json")},
        "test_accuracy": accuracy, "test_accuracy_noise_free": clean, "train_seconds": seconds,
        "history": history.as_dict(), "model_file": os.path.abspath(args.out),
        # glrnet 0.1's name for test_accuracy
        "test_accuracy_noisy": accuracy,
    }
    log(f"test accuracy {accuracy:.4f} (prediction with the neuronal noise averaged over {draws} draws; "
        f"{clean:.4f} noise-free); trained in {seconds:.1f} s")
    if args.attack_eps > 0:
        n = min(args.attack_images, len(data.y_test))
        attacked = quick_attack_accuracy(model, data.X_test[:n], data.y_test[:n], args.attack_eps, args.seed, draws,
                                    args.threads)
        results["attack"] = {"attack": "pgd", "gradient": "bpda", "steps": 10, "eps": args.attack_eps,
                             "images": n, "accuracy": attacked}
        log(f"under a white-box attack: accuracy {attacked:.4f} (PGD, eps {args.attack_eps:g}, 10 steps, through "
            f"the noise-averaged network, on {n} test images; the same prediction measure)")
    model.save(args.out, metadata={"history": history.as_dict(), "data": data.name, "training": settings})
    plot_history(history, plot, title="GLR training", model=model)
    results["plot"] = os.path.abspath(plot)
    log(f"wrote {args.out} and {plot}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


def cmd_info(args):
    from ._config import show_config

    info = show_config(print_out=not args.json)
    if args.json:
        print(json.dumps(info, indent=2))
    return 0


def build_parser():
    from ._version import __version__
    from .reproduce import add_parser as add_reproduce
    from .sweep import add_parser as add_sweep

    parser = argparse.ArgumentParser(prog="glrnet", description="Train neural networks by the generalized "
                                     "likelihood ratio method and measure their robustness.")
    parser.add_argument("--version", action="version", version=f"glrnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub).set_defaults(func=cmd_train)
    info = sub.add_parser("info", help="build and threading configuration")
    info.add_argument("--json", action="store_true", help="print it as JSON")
    info.set_defaults(func=cmd_info)
    add_reproduce(sub)
    add_sweep(sub)
    return parser


def main(argv=None):
    from ._files import FolderInUseError
    from .method.training import DivergenceError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"glrnet {args.command}: interrupted", file=sys.stderr)
        return 130
    except DivergenceError as exc:
        print(f"glrnet {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, FileNotFoundError, NotADirectoryError, ModuleNotFoundError,
            FolderInUseError) as exc:
        print(f"glrnet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, MemoryError, RuntimeError) as exc:
        print(f"glrnet {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
