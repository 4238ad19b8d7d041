"""The experiment's protocol: its settings, the models of Table I, and the cache's protocol record."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from .._files import atomic_write_json

__all__ = ["BASELINE", "LABELS", "PAPER", "QUICK", "VARIANTS", "Settings", "Variant"]


@dataclass(frozen=True)
class Settings:
    """The protocol.  Defaults are the paper's (Section III.A-B)."""

    limit: int | None = 10_000          # images used (the paper: 10,000 MNIST images)
    test_fraction: float = 0.4          # 6:4 split
    epochs: int = 12
    zero_one_epochs: int = 24           # "the ANN with 0-1 loss converges slower ... 24 epochs"
    replications: int = 10_000          # K
    batch_size: int = 25
    learning_rate: float = 0.1          # step of Eq. 1, on the summed mini-batch loss (see README)
    noise_sigma: float = 2.0            # sigma^2 = 4
    bp_epochs: int = 12
    bp_learning_rate: float = 0.1
    surrogate_hidden: tuple = (100, 50)  # the authors' public code: ReLU 100-50
    attack_images: int = 5_000          # "5000 images randomly chosen from the testing set"
    lbfgs_images: int = 5_000
    fgsm_target: float = 0.28           # BP baseline accuracy the paper reports under FGSM
    lbfgs_target: float = 0.57          # ... and under L-BFGS
    eps_grid: tuple = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    predict_replications: int = 100
    gradient_replications: int = 1_000
    pgd_steps: int = 20
    corruption_images: int | None = None   # None: the whole attack set
    lbfgs_max_iter: int = 100
    variance_reduction: bool = False    # GLR training with the leave-one-out baseline (not in the paper)
    pathwise_replications: int = 100    # noise draws per sample of the pathwise control (low variance)


PAPER = Settings()
# Small settings for a minutes-long check of the whole pipeline.  So few replications train
# nothing with the paper's plain estimator; the baseline makes them enough (README).
QUICK = Settings(limit=2000, epochs=8, zero_one_epochs=12, replications=500, bp_epochs=8,
                 attack_images=200, lbfgs_images=50, eps_grid=(0.1, 0.2, 0.3), predict_replications=20,
                 gradient_replications=200, pgd_steps=3, corruption_images=100, lbfgs_max_iter=30,
                 variance_reduction=True, pathwise_replications=20)


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    activation: str
    loss: str = "cross_entropy"
    noise: str = "gaussian"
    estimator: str = "glr"              # "pathwise": backpropagation through the same noise (control)

    def epochs(self, settings: Settings) -> int:
        return settings.zero_one_epochs if self.loss == "zero_one" else settings.epochs


# Table I: sigmoid and threshold, three other discontinuous activations, the 0-1 loss,
# and Laplacian noise of the same variance (2 b^2 = sigma^2, Table II's 21-point claim).
# Beyond the paper, a control: the same noisy sigmoid network trained by backpropagation
# through the noise instead of GLR, which separates the effect of the noise from that of
# the estimator.
VARIANTS = (
    Variant("glr-sigmoid", "GLR sigmoid", "sigmoid"),
    Variant("glr-threshold", "GLR threshold", "threshold"),
    Variant("glr-sign", "GLR sign", "sign"),
    Variant("glr-staircase", "GLR staircase (4 levels)", "staircase"),
    Variant("glr-quantized-relu", "GLR quantized ReLU (4 levels)", "quantized_relu"),
    Variant("glr-sigmoid-01", "GLR sigmoid, 0-1 loss", "sigmoid", "zero_one"),
    Variant("glr-threshold-01", "GLR threshold, 0-1 loss", "threshold", "zero_one"),
    Variant("glr-sigmoid-laplace", "GLR sigmoid, Laplace noise", "sigmoid", noise="laplace"),
    Variant("glr-threshold-laplace", "GLR threshold, Laplace noise", "threshold", noise="laplace"),
    Variant("pathwise-sigmoid", "noisy sigmoid, pathwise (control)", "sigmoid", estimator="pathwise"),
)
BASELINE = "bp-sigmoid"
LABELS = {BASELINE: "BP sigmoid (baseline)", **{v.key: v.label for v in VARIANTS}}


def _check_cache_settings(out_dir, data_dir, settings):
    """The cache holds models and evaluations of one protocol: refuse to mix protocols."""
    path = os.path.join(out_dir, "cache", "protocol.json")
    protocol = json.loads(json.dumps({"data": None if data_dir is None else os.path.abspath(data_dir),
                                      "settings": asdict(settings)}))
    if os.path.exists(path):
        with open(path) as handle:
            cached = json.load(handle)
        # a setting that an older glrnet did not have counts at its default
        defaults = json.loads(json.dumps(asdict(Settings())))
        cached["settings"] = {**{k: defaults[k] for k in protocol["settings"]}, **cached["settings"]}
        if cached != protocol:
            keys = set(protocol["settings"]) | set(cached["settings"])
            changed = sorted(k for k in keys if cached["settings"].get(k) != protocol["settings"].get(k))
            if cached["data"] != protocol["data"]:
                changed.insert(0, "data")
            raise ValueError(f"out_dir {out_dir!r} holds the cache of another protocol (differs in: "
                             f"{', '.join(changed)}); choose another --out")
        return
    cache = os.path.dirname(path)
    if os.path.isdir(cache) and os.listdir(cache):
        raise ValueError(f"out_dir {out_dir!r} holds a cache without a protocol record (written by an older "
                         "glrnet); choose another --out")
    os.makedirs(cache, exist_ok=True)
    atomic_write_json(path, protocol)
