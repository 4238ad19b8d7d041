"""The experiment's protocol: its settings, the models of Table I, and the cache's protocol record."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from .._files import TEMPORARY_PREFIX, atomic_write_json, locked_folder, read_json, remove_stale_temporaries
from .._progress import log

__all__ = ["BASELINE", "BP_AUGMENTED", "BP_MATCHED", "BP_MODELS", "CERTIFIED", "FIG6_MODEL", "LABELS", "MATCHED_TO",
           "PAPER", "QUICK", "VARIANTS", "Settings", "Variant", "data_identity", "locked_out_dir"]


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
    # the adaptive attacks (beyond the paper; Carlini et al. 2019), at the calibrated FGSM eps
    adaptive_images: int = 500          # the first images of the attack set
    eot_draws: int = 20                 # noise draws averaged per attack gradient (AutoAttack's rand version)
    eot_gradient_replications: int = 100   # draws in one likelihood-ratio estimate of an EOT average
    # noise draws of the attacker's own noise-averaged prediction (its success checks, Square's
    # margin): more than the judge's, so that an attack does not stop on a point that fools only
    # the attacker's noise (the winner's curse of a noisy success check)
    attacker_predict_replications: int = 1_000
    apgd_steps: int = 100
    square_queries: int = 5_000
    # False: PGD and APGD attack every row to the end of their steps and return its last (PGD) or
    # latest fooling (APGD) iterate, not its first, which on a noisy network sits on the boundary
    # of the attacker's own noisy decision and fools an independent judge only part of the time
    # (the sanity check "attacked is judged"); Square stops at the first either way (its full
    # budget would cost more than all the rest); caches made before this setting are True
    adaptive_keep_success: bool = False
    sanity_images: int = 100
    sanity_eps: tuple = (0.3, 0.5, 1.0)
    # Gaussian data augmentation (the standard cheap defence) and randomized-smoothing certification
    input_noise: float = 0.25           # sigma of the input noise, in training and in certification
    certify_images: int = 500
    certify_n0: int = 100               # Cohen et al.'s N0, N and alpha
    certify_n: int = 100_000
    certify_alpha: float = 0.001
    certify_radii: tuple = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25)


#: The value of a setting in the record of a cache made before glrnet had that setting, where it
#: differs from the setting's default.
LEGACY_SETTINGS = {"adaptive_keep_success": True}

PAPER = Settings()
# Small settings for a minutes-long check of the whole pipeline.  So few replications train
# nothing with the paper's plain estimator; the baseline makes them enough (README).
QUICK = Settings(limit=2000, epochs=8, zero_one_epochs=12, replications=500, bp_epochs=8,
                 attack_images=200, lbfgs_images=50, eps_grid=(0.1, 0.2, 0.3), predict_replications=20,
                 gradient_replications=200, pgd_steps=3, corruption_images=100, lbfgs_max_iter=30,
                 variance_reduction=True, pathwise_replications=20, adaptive_images=40, eot_draws=2,
                 eot_gradient_replications=20, attacker_predict_replications=40, apgd_steps=4, square_queries=20,
                 sanity_images=20, sanity_eps=(0.3, 1.0), certify_images=20, certify_n0=20, certify_n=400,
                 certify_radii=(0.0, 0.25, 0.5))


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    activation: str
    loss: str = "cross_entropy"
    noise: str = "gaussian"
    estimator: str = "glr"              # "pathwise": backpropagation through the same noise (control)
    input_noise: bool = False           # trained with Gaussian data augmentation (Settings.input_noise)

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
    Variant("glr-sigmoid-gauss", "GLR sigmoid, input noise", "sigmoid", input_noise=True),
    Variant("glr-threshold-gauss", "GLR threshold, input noise", "threshold", input_noise=True),
)
BASELINE = "bp-sigmoid"
#: Baselines that separate the causes (beyond the paper): BP with Gaussian data augmentation, and
#: BP stopped when it reaches the clean accuracy of MATCHED_TO (less accurate or more robust?).
BP_AUGMENTED = "bp-gauss"
BP_MATCHED = "bp-matched"
MATCHED_TO = "glr-sigmoid"
BP_MODELS = (BASELINE, BP_AUGMENTED, BP_MATCHED)
#: The models certified by randomized smoothing: those trained with input noise, and for reference
#: the BP baseline and the GLR sigmoid network trained without it.
CERTIFIED = (BASELINE, BP_AUGMENTED, "glr-sigmoid", "glr-sigmoid-gauss", "glr-threshold-gauss")
LABELS = {BASELINE: "BP sigmoid (baseline)", BP_AUGMENTED: "BP sigmoid, input noise",
          BP_MATCHED: "BP sigmoid, accuracy-matched", **{v.key: v.label for v in VARIANTS}}


#: The lock file that keeps a second ``glrnet reproduce`` out of a folder in use.
LOCK_NAME = ".glrnet-reproduce.lock"
PROTOCOL_RECORD = os.path.join("cache", "protocol.json")


def data_identity(data) -> str:
    """What the cache records of the data: the data set's name and a digest of its arrays (seed 0's
    split), so that a cache names its data by what it is, never by a path on one machine."""
    digest = hashlib.sha256()
    for array in (data.X_train, data.y_train, data.X_test, data.y_test):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return f"{data.name} sha256:{digest.hexdigest()[:20]}"


def _protocol_record(data, settings):
    """``data``: :func:`data_identity` of the data (None in tests of the record alone)."""
    return json.loads(json.dumps({"data": data, "settings": asdict(settings)}))


def _finished_files(cache):
    """The cache's results: every regular file under ``cache`` except the protocol record and the
    temporary files of unfinished writes."""
    found = []
    for folder, _, names in os.walk(cache):
        for name in names:
            path = os.path.join(folder, name)
            if not name.startswith(TEMPORARY_PREFIX) and os.path.isfile(path) and \
                    os.path.normpath(path) != os.path.normpath(os.path.join(cache, "protocol.json")):
                found.append(path)
    return sorted(found)


def _check_cache_settings(out_dir, data, settings):
    """The cache holds models and evaluations of one protocol: refuse to mix protocols.

    Returns "resume" (the cache's record is this protocol's), "new" (no record and nothing cached:
    the record is still to be written, by :func:`_record_cache_settings` once the run is under way)
    or "stale" (a record, unreadable or of another protocol, of a run that finished nothing: it is
    to be replaced).  Raises ValueError, naming the folder and what differs, if the cache holds
    results of another or of an unknown protocol."""
    path = os.path.join(out_dir, PROTOCOL_RECORD)
    cache = os.path.dirname(path)
    finished = _finished_files(cache)
    protocol = _protocol_record(data, settings)
    if not os.path.exists(path):
        if finished:
            raise ValueError(f"out_dir {out_dir!r} holds {len(finished)} cached file(s) ({finished[0]}, ...) but "
                             f"no protocol record ({path}), so their protocol is unknown; choose another --out")
        return "new"
    try:
        cached = read_json(path, "protocol record of the glrnet reproduce cache")
        if not isinstance(cached, dict) or not isinstance(cached.get("settings"), dict) or "data" not in cached:
            raise ValueError(f"{path} is not a protocol record of the glrnet reproduce cache (no data and "
                             "settings)")
    except ValueError as exc:
        if not finished:
            return "stale"
        raise ValueError(f"{exc}; choose another --out") from exc
    # a setting that an older glrnet did not have counts at its default, or at the value that
    # glrnet behaved as before it had the setting
    defaults = {**json.loads(json.dumps(asdict(Settings()))), **LEGACY_SETTINGS}
    cached["settings"] = {**{k: defaults[k] for k in protocol["settings"]}, **cached["settings"]}
    if cached != protocol:
        if not finished:
            return "stale"
        keys = set(protocol["settings"]) | set(cached["settings"])
        changed = sorted(k for k in keys if cached["settings"].get(k) != protocol["settings"].get(k))
        if cached["data"] != protocol["data"]:
            changed.insert(0, "data")
        raise ValueError(f"out_dir {out_dir!r} holds the cache of another protocol (differs in: "
                         f"{', '.join(changed)}); choose another --out")
    return "resume"


def _record_cache_settings(out_dir, data, settings):
    """Write the cache's protocol record (atomically)."""
    path = os.path.join(out_dir, PROTOCOL_RECORD)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write_json(path, _protocol_record(data, settings))


def settings_from_record(stored) -> Settings:
    """The :class:`Settings` of a stored ``asdict(settings)`` (``results.json``'s summary): JSON lists
    back to tuples, settings an older glrnet did not store at their defaults (or at
    :data:`LEGACY_SETTINGS`), unknown ones ignored."""
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = dict(LEGACY_SETTINGS)
    values.update({k: tuple(v) if isinstance(v, list) else v for k, v in dict(stored).items() if k in names})
    return Settings(**values)


#: The model whose predictions annotate Fig. 6, beside the BP baseline's.
FIG6_MODEL = "glr-sigmoid"


@contextlib.contextmanager
def locked_out_dir(out_dir, *, lock_name=LOCK_NAME, what="glrnet reproduce", cache="cache"):
    """``with locked_out_dir(d):`` creates the folder ``d`` if needed and holds its lock for the block,
    so that one ``what`` (glrnet reproduce, glrnet sweep) at a time writes there
    (:class:`FolderInUseError` otherwise); the temporary files that killed writes left in ``d`` and
    its ``cache`` folder are removed."""
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir {out_dir!r} exists and is not a folder")
    os.makedirs(out_dir, exist_ok=True)
    with locked_folder(out_dir, lock_name, what):
        stale = remove_stale_temporaries(out_dir) + remove_stale_temporaries(os.path.join(out_dir, cache),
                                                                             recursive=True)
        if stale:
            log(f"removed {len(stale)} temporary file(s) of interrupted writes in {out_dir} ({stale[0]}, ...)")
        yield out_dir
