"""Why the threshold network trained on the 0-1 loss lags behind (issue: the field's standard evaluation, §5).

At the paper's protocol (10,000 MNIST images, 6:4, 14 x 14, 196-20-10, Gaussian noise sigma^2 = 4,
K = 10,000, batch 25, SGD 0.1 on the summed loss, 24 epochs for the 0-1 loss) the GLR threshold
network with the 0-1 loss reaches 0.76 where the sigmoid one reaches 0.91.  This script changes one
thing at a time, with every other setting the protocol's:

- the output level: threshold hidden units with a noisy sigmoid or linear output level, and sigmoid
  hidden units with a threshold output level (which level is at fault);
- the estimator: the leave-one-out baseline (variance);
- the step size: 0.03 and 0.3;
- the loss: cross-entropy on the same threshold network;

and measures, at the initial parameters and after training, what the 0-1 loss sees at the output: the
fraction of noise draws in which the largest output is tied (binary outputs tie often; a tie
counts as 1/ties correct), and the signal-to-noise ratio of the GLR gradient estimate (squared norm
of the mean over its variance, from repeated independent estimates on one mini-batch).

    python examples/threshold_zero_one.py --data ../shared/data/mnist --out results/threshold-zero-one

Resumable: each configuration is cached in ``--out/cache`` as it finishes.  Writes ``report.md``,
``results.json`` and ``accuracy.png``.
"""

from __future__ import annotations

import argparse
import os
import time

import glrnet
import numpy as np
from glrnet import datasets
from glrnet._files import atomic_write_json, atomic_write_text, read_json
from glrnet.method import dense
from glrnet.method.activations import Activation
from glrnet.plotting import _pyplot, save_figure

# (key, label, hidden activation, output activation, loss, learning rate, baseline)
CONFIGS = [
    ("sigmoid-01", "sigmoid, 0-1 loss (protocol)", "sigmoid", "sigmoid", "zero_one", 0.1, False),
    ("threshold-01", "threshold, 0-1 loss (protocol)", "threshold", "threshold", "zero_one", 0.1, False),
    ("threshold-sigmoid-out-01", "threshold hidden, sigmoid output, 0-1",
     "threshold", "sigmoid", "zero_one", 0.1, False),
    ("threshold-linear-out-01", "threshold hidden, linear output, 0-1",
     "threshold", "identity", "zero_one", 0.1, False),
    ("sigmoid-threshold-out-01", "sigmoid hidden, threshold output, 0-1",
     "sigmoid", "threshold", "zero_one", 0.1, False),
    ("threshold-01-baseline", "threshold, 0-1, leave-one-out baseline",
     "threshold", "threshold", "zero_one", 0.1, True),
    ("threshold-01-lr0.3", "threshold, 0-1, step 0.3", "threshold", "threshold", "zero_one", 0.3, False),
    ("threshold-01-lr0.03", "threshold, 0-1, step 0.03", "threshold", "threshold", "zero_one", 0.03, False),
    ("threshold-ce", "threshold, cross-entropy (24 epochs)", "threshold", "threshold", "cross_entropy", 0.1, False),
]
EPOCHS, REPLICATIONS, SIGMA = 24, 10_000, 2.0


def _model(data, hidden, output, loss, seed):
    return glrnet.MLP(
        [data.X_train.shape[1], 20, data.n_classes],
        Activation(hidden),
        glrnet.Gaussian(SIGMA),
        output_activation=Activation(output),
        loss=loss,
        seed=seed,
    )


def output_ties(model, X, draws=200, seed=0):
    """The fraction of (image, noise draw) pairs whose largest output is attained by two classes or more."""
    ties = 0
    for first in range(0, len(X), 250):
        rows = X[first : first + 250].astype(np.float64)
        noise = [r.astype(np.float64) for r in model.sample_noise(len(rows), draws, seed=seed, step=1)]
        _, _, out = dense.forward(
            np.broadcast_to(rows[:, None, :], (len(rows), draws, rows.shape[1])),
            model.weights,
            model.biases,
            model.activations,
            noise,
        )
        ties += int(((out == out.max(axis=-1, keepdims=True)).sum(axis=-1) > 1).sum())
    return ties / (len(X) * draws)


def gradient_snr(model, X, y, estimates=20, seed=0, baseline=False):
    """||mean||^2 / (trace of the covariance of one estimate) of the GLR gradient on one mini-batch."""
    draws = []
    for i in range(estimates):
        g = model.gradient(X, y, REPLICATIONS, seed=seed, step=1000 + i, baseline=baseline)
        draws.append(np.concatenate([a.ravel() for pair in zip(g.weights, g.biases) for a in pair]))
    draws = np.asarray(draws)
    mean = draws.mean(axis=0)
    variance = draws.var(axis=0, ddof=1).sum()
    return float(mean @ mean - variance / estimates) / float(variance)


def run_one(data, config, seed):
    key, label, hidden, output, loss, lr, baseline = config
    model = _model(data, hidden, output, loss, seed)
    batch = slice(0, 25)
    before = {
        "output_ties": output_ties(model, data.X_test[:1000], seed=seed),
        "gradient_snr": gradient_snr(
            model, data.X_train[batch], data.y_train[batch], seed=seed, baseline=baseline
        ),
    }
    start = time.perf_counter()
    history = glrnet.train(
        model,
        data.X_train,
        data.y_train,
        epochs=EPOCHS,
        batch_size=25,
        replications=REPLICATIONS,
        learning_rate=lr,
        batch_reduction="sum",
        baseline=baseline,
        seed=seed,
        X_val=data.X_test,
        y_val=data.y_test,
        eval_replications=100,
        progress=False,
    )
    seconds = time.perf_counter() - start
    after = {
        "output_ties": output_ties(model, data.X_test[:1000], seed=seed),
        "gradient_snr": gradient_snr(
            model, data.X_train[batch], data.y_train[batch], seed=seed, baseline=baseline
        ),
    }
    return {
        "key": key,
        "label": label,
        "seed": seed,
        "train_seconds": seconds,
        "test_accuracy": float(model.score(data.X_test, data.y_test, replications=100, seed=seed)),
        "test_accuracy_noise_free": float(model.score(data.X_test, data.y_test, replications=0)),
        "val_prediction_accuracy": history.val_prediction_accuracy,
        "before": before,
        "after": after,
        "mean_abs_weights": [float(np.abs(w).mean()) for w in model.weights],
    }


def _findings(by_key):
    """The report's reading of the table, each statement with the figures it rests on."""
    need = ["sigmoid-01", "threshold-01", "threshold-sigmoid-out-01", "threshold-linear-out-01",
            "sigmoid-threshold-out-01", "threshold-01-baseline"]
    if not all(k in by_key for k in need):
        return []
    acc = {k: by_key[k]["test_accuracy"] for k in need}
    ties = {k: by_key[k]["after"]["output_ties"] for k in need}
    snr = by_key["threshold-01-baseline"]["after"]["gradient_snr"], by_key["threshold-01"]["after"]["gradient_snr"]
    return [
        "## What the table shows",
        "",
        f"- The hidden threshold units are not at fault: with a sigmoid or linear output level the threshold "
        f"network reaches {acc['threshold-sigmoid-out-01']:.3f} / {acc['threshold-linear-out-01']:.3f}, the "
        f"sigmoid network's {acc['sigmoid-01']:.3f}.",
        f"- The binary output level is: a sigmoid network with a threshold output level falls to "
        f"{acc['sigmoid-threshold-out-01']:.3f}, as the threshold network ({acc['threshold-01']:.3f}). With "
        f"binary outputs the arg-max is tied in {ties['threshold-01']:.0%} of the noise draws after training "
        "(almost always at initialisation), so the 0-1 loss is flat over much of the parameter space.",
        f"- Variance is not the cause: the leave-one-out baseline raises the gradient's SNR to {snr[0]:.3g} "
        f"(from {snr[1]:.3g}) and leaves the accuracy at {acc['threshold-01-baseline']:.3f}; nor is the step "
        "size: " + ", ".join(f"step {by_key[k]['key'].split('lr')[1]}: {by_key[k]['test_accuracy']:.3f}"
                             for k in ("threshold-01-lr0.3", "threshold-01-lr0.03") if k in by_key) + ".",
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=None, help="MNIST IDX directory (default: the embedded 5,000 images)"
    )
    parser.add_argument("--out", default="threshold-zero-one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = datasets.load(args.data, seed=args.seed, limit=10_000 if args.data else None, test_fraction=0.4)
    os.makedirs(os.path.join(args.out, "cache"), exist_ok=True)
    results = []
    for config in CONFIGS:
        path = os.path.join(args.out, "cache", f"{config[0]}-seed{args.seed}.json")
        if os.path.exists(path):
            results.append(read_json(path, "cached configuration"))
            continue
        print(f"{config[1]} ...", flush=True)
        result = run_one(data, config, args.seed)
        print(f"  {result['test_accuracy']:.3f} in {result['train_seconds']:.0f} s", flush=True)
        atomic_write_json(path, result)
        results.append(result)
    atomic_write_json(
        os.path.join(args.out, "results.json"),
        {"data": data.name, "epochs": EPOCHS, "replications": REPLICATIONS, "results": results},
    )
    lines = [
        f"# The threshold network with the 0-1 loss ({data.name}, seed {args.seed})",
        "",
        f"{len(data.y_train)} training / {len(data.y_test)} test images, 196-20-10, Gaussian noise sigma = "
        f"{SIGMA:g}, K = {REPLICATIONS:,}, batch 25, SGD on the summed loss, {EPOCHS} epochs; one thing changed "
        "at a time. Test accuracy: prediction with the noise averaged over 100 draws. Ties: the fraction of "
        "noise draws whose largest output is tied (1,000 test images x 200 draws). Gradient SNR: squared norm "
        "of the mean GLR gradient over the variance of one estimate (20 estimates on one mini-batch of 25).",
        "",
        "| configuration | test accuracy | noise-free | ties at init | ties after | gradient SNR at init | "
        "after | mean abs W (levels 1, 2) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['label']} | {r['test_accuracy']:.3f} | {r['test_accuracy_noise_free']:.3f} | "
            f"{r['before']['output_ties']:.3f} | {r['after']['output_ties']:.3f} | "
            f"{r['before']['gradient_snr']:.3g} | {r['after']['gradient_snr']:.3g} | "
            + ", ".join(f"{w:.2f}" for w in r["mean_abs_weights"])
            + " |"
        )
    lines += ["", *_findings({r["key"]: r for r in results if "key" in r})]
    atomic_write_text(os.path.join(args.out, "report.md"), "\n".join(lines) + "\n")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in results:
        ax.plot(
            range(1, len(r["val_prediction_accuracy"]) + 1), r["val_prediction_accuracy"], label=r["label"]
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (noise averaged)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, os.path.join(args.out, "accuracy.png"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
