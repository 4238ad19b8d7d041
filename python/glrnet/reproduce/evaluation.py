"""The evaluation units of the reproduction: Tables I and II (transfer and white-box attacks,
corruptions), the adaptive attacks with their sanity checks, and randomized-smoothing certification.

Each unit is a pure function of its arguments (it runs here or as a Dask task) and returns a
JSON-able dict.  A noisy network is *judged* by its noise-averaged prediction with the noise of
``seed`` (:func:`judge`); every attacker of it draws its own, independent noise
(``seed + ATTACKER_SEED_OFFSET``), so no attack can tune itself to the noise that judges it
(Athalye, Carlini & Wagner 2018; Carlini et al. 2019)."""
from __future__ import annotations

import time

import numpy as np

from .._progress import progress_bar
from .protocol import LABELS

__all__ = ["ATTACKER_SEED_OFFSET", "adaptive_unit", "certification_unit", "evaluation_unit", "judge"]

#: The attackers' noise streams start here, away from the judges' (``seed``).
ATTACKER_SEED_OFFSET = 1_000_003
#: The certification's draws start here (independent of the judge's and the attackers' noise).
CERTIFY_SEED_OFFSET = 2_000_003
#: Two-sided level of the intervals reported for the worst case.
INTERVAL_LEVEL = 0.95


def judge(model, glr, settings, seed, threads, replications=None):
    """The model under test: a noisy network with its noise averaged over ``predict_replications``
    draws of the noise of ``seed`` (``replications=0``: noise-free), or a BP network itself."""
    if not glr:
        return model
    from ..robustness.models import NoisyModel

    return NoisyModel(model, predict_replications=settings.predict_replications if replications is None
                      else replications, gradient_replications=settings.gradient_replications, seed=seed,
                      n_threads=threads)


def _attacker(model, settings, seed, threads, gradient, *, eot_draws=None, replications=None, offset=0):
    """A noisy network as its attacker sees it: its own noise-averaged prediction (the decision that
    is attacked, on noise independent of the judge's, over ``attacker_predict_replications`` draws)
    and the ``gradient`` ("likelihood_ratio", "bpda" or "smoothed") averaged over ``eot_draws`` noise
    draws (EOT)."""
    from ..robustness.models import NoisyModel

    return NoisyModel(model, predict_replications=settings.attacker_predict_replications,
                      gradient_replications=settings.gradient_replications if replications is None else replications,
                      attack_gradient=gradient, eot_draws=1 if gradient == "smoothed" else
                      (settings.eot_draws if eot_draws is None else eot_draws),
                      seed=seed + ATTACKER_SEED_OFFSET + offset, n_threads=threads)


class _Counted:
    """A deterministic network as an attacker sees it, counting what it is asked (rows in gradient
    and prediction calls), as :attr:`NoisyModel.cost` counts for a noisy one."""

    def __init__(self, model):
        self.model, self.n_classes = model, model.n_classes
        self.cost = {"gradient_rows": 0, "predict_rows": 0}

    def predict_proba(self, X):
        self.cost["predict_rows"] += len(X)
        return self.model.predict_proba(X)

    def predict(self, X):
        self.cost["predict_rows"] += len(X)
        return self.model.predict(X)

    def loss_gradient(self, X, y, **kwargs):
        self.cost["gradient_rows"] += len(X)
        return self.model.loss_gradient(X, y, **kwargs)


def _clopper_pearson(successes, trials, level=INTERVAL_LEVEL):
    """Two-sided Clopper-Pearson interval of a binomial proportion."""
    from scipy.stats import beta

    tail = (1.0 - level) / 2.0
    low = 0.0 if successes == 0 else float(beta.ppf(tail, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(beta.ppf(1.0 - tail, successes + 1, trials - successes))
    return low, high


class _Stages:
    """A progress bar with one step per stage (or nothing without ``progress``)."""

    def __init__(self, total, what, progress):
        self.bar = progress_bar(total, what, "stage", progress)

    def __call__(self, name):
        if self.bar is not None:
            self.bar.set_postfix_str(name, refresh=False)

    def done(self):
        if self.bar is not None:
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------------------- Tables I and II
def evaluation_unit(name, trained, glr, X, y, adv, settings, seed, threads, progress):
    """Every figure of Tables I and II for the network ``trained`` (``glr``: a noisy network, judged
    with its noise averaged), with its training history."""
    stages = _Stages(evaluation_stages(settings, glr), f"[seed {seed}] {LABELS.get(name, name)}", progress)
    try:
        evaluation = _evaluate(trained, glr, X, y, adv, settings, seed, threads, stages)
    finally:
        stages.close()
    evaluation["history"] = getattr(trained, "metadata", {}).get("history") or None
    return evaluation


def _evaluate(trained, glr, X, y, adv, settings, seed, threads, stage):
    from ..robustness import attacks

    model = judge(trained, glr, settings, seed, threads)

    def correct(Z):
        return model.predict(Z) == y[:len(Z)]

    # The white-box attackers: the model's own gradient (BP: exact; GLR: the likelihood-ratio
    # estimate) and, for noisy networks, backpropagation through the noise-averaged network
    # (BPDA).  A noisy network's attackers predict on their own noise (PGD's keep_success), and
    # every attacker's examples are judged by the model under test.
    attackers = {"": model}
    if glr:
        attackers = {"": _attacker(trained, settings, seed, threads, "likelihood_ratio", eot_draws=1),
                     "_smoothed": _attacker(trained, settings, seed, threads, "smoothed")}
    n_lbfgs = adv["lbfgs"].shape[0]
    eps = float(adv["fgsm_eps"])
    stage("original and transfer")
    out = {
        "original": float(np.mean(correct(X))),
        "transfer_fgsm": float(np.mean(correct(adv["fgsm"]))),
        "transfer_lbfgs": float(np.mean(correct(adv["lbfgs"]))),
        "original_lbfgs_subset": float(np.mean(correct(X[:n_lbfgs]))),
        "transfer_fgsm_curve": [float(np.mean(correct(adv[f"fgsm_{e:g}"]))) for e in settings.eps_grid],
    }
    stage.done()
    survives = np.ones(len(y), dtype=bool)          # an image is robust only if it survives every attack
    curve_survives = np.ones((len(settings.eps_grid), len(y)), dtype=bool)
    for suffix, attacker in attackers.items():
        gradient = "BPDA" if suffix else "own gradient"
        stage(f"white-box FGSM ({gradient})")
        fgsm_ok = correct(attacks.fgsm(attacker, X, y, eps).X_adv)
        stage.done()
        stage(f"white-box PGD ({gradient})")
        pgd_ok = correct(attacks.pgd(attacker, X, y, eps, steps=settings.pgd_steps, seed=seed).X_adv)
        stage.done()
        out[f"whitebox_fgsm{suffix}"] = float(np.mean(fgsm_ok))
        out[f"whitebox_pgd{suffix}"] = float(np.mean(pgd_ok))
        survives &= fgsm_ok & pgd_ok
        for i, e in enumerate(settings.eps_grid):
            stage(f"white-box FGSM ({gradient}), eps = {e:g}")
            curve_survives[i] &= correct(attacks.fgsm(attacker, X, y, e).X_adv)
            stage.done()
    out["whitebox_worst"] = float(np.mean(survives))
    out["whitebox_fgsm_curve"] = [float(np.mean(row)) for row in curve_survives]
    noise_free = None
    if glr:
        # one noisy draw per prediction (the kernel's per-replication accuracy), and the noise-free
        # prediction the authors' code uses at test time
        stage("one noise draw, noise-free")
        out["original_single_draw"] = trained.evaluate(X, y, settings.predict_replications, seed=seed,
                                                       n_threads=threads)["accuracy"]
        noise_free = judge(trained, glr, settings, seed, threads, replications=0)
        out["original_noise_free"] = float(np.mean(noise_free.predict(X) == y))
        stage.done()
    out.update(_corruptions(model, noise_free, X, y, settings, seed, stage))
    return out


def _corruptions(model, noise_free, X, y, settings, seed, stage):
    """Table II under glrnet's corruptions and the authors' (``corruptions``, ``corruptions_authors``),
    and for a noisy network the same without its noise (``..._noise_free``)."""
    from ..robustness.corruptions import CORRUPTION_PRESETS, mean_corruption_accuracy

    n = len(X) if settings.corruption_images is None else min(settings.corruption_images, len(X))
    out: dict = {}
    judges = {"": model} if noise_free is None else {"": model, "_noise_free": noise_free}
    for preset, names in CORRUPTION_PRESETS.items():
        suffix = "" if preset == "glrnet" else f"_{preset}"
        for name in names:          # one at a time for the progress bar: each is seeded on its own
            stage(f"{name.replace('_', ' ')} ({preset})")
            for who, under_test in judges.items():
                mean, by_severity = mean_corruption_accuracy(under_test, X[:n], y[:n], names=[name], seed=seed,
                                                             preset=preset)[name]
                out.setdefault(f"corruptions{suffix}{who}", {})[name] = {
                    "mean": float(mean), "by_severity": [float(a) for a in by_severity]}
            stage.done()
    return out


def evaluation_stages(settings, glr):
    """The number of stages of :func:`evaluation_unit`."""
    from ..robustness.corruptions import CORRUPTION_PRESETS

    attackers = 2 if glr else 1
    return (1 + attackers * (2 + len(settings.eps_grid)) + int(glr)
            + sum(len(names) for names in CORRUPTION_PRESETS.values()))


# ----------------------------------------------------------------------------- adaptive attacks
def adaptive_attacks(glr):
    """The adaptive attacks run on a model: (key, attacker's gradient, attack) in order.  A BP network
    has one, exact gradient ("exact"); a noisy one the likelihood-ratio estimate and BPDA, each with
    EOT, and the smoothed network's exact gradient."""
    if not glr:
        return [("fgsm", "exact", "fgsm"), ("pgd", "exact", "pgd"), ("apgd_ce", "exact", "apgd_ce"),
                ("apgd_dlr", "exact", "apgd_dlr"), ("square", "exact", "square")]
    return [("fgsm_eot_lr", "likelihood_ratio", "fgsm"), ("fgsm_eot_bpda", "bpda", "fgsm"),
            ("pgd_smoothed", "smoothed", "pgd"), ("pgd_eot_lr", "likelihood_ratio", "pgd"),
            ("pgd_eot_bpda", "bpda", "pgd"), ("apgd_ce_eot_lr", "likelihood_ratio", "apgd_ce"),
            ("apgd_ce_eot_bpda", "bpda", "apgd_ce"), ("apgd_dlr_eot_bpda", "bpda", "apgd_dlr"),
            ("square", "likelihood_ratio", "square")]


def _run_attack(attack, attacker, X, y, eps, settings, seed, *, steps=None, restarts=1, image_shape=None):
    from ..robustness import adaptive, attacks

    if attack == "fgsm":
        return attacks.fgsm(attacker, X, y, eps)
    keep_success = settings.adaptive_keep_success
    if attack == "pgd":
        return attacks.pgd(attacker, X, y, eps, steps=steps or settings.pgd_steps, seed=seed,
                           keep_success=keep_success)
    if attack in ("apgd_ce", "apgd_dlr"):
        return adaptive.apgd(attacker, X, y, eps, loss="cross_entropy" if attack == "apgd_ce" else "dlr",
                             steps=steps or settings.apgd_steps, restarts=restarts, seed=seed,
                             keep_success=keep_success)
    # Square stops at a row's first fooling point in either case: at 1,000 noise draws per query,
    # its whole budget for every row would cost five times all the other attacks together
    return adaptive.square(attacker, X, y, eps, queries=settings.square_queries, seed=seed, image_shape=image_shape)


def _cost(attacker, result):
    """What an attack asked of the model: rows x noise draws behind the gradients and the predictions
    (NoisyModel.cost), or for a BP network the rows in its gradient and prediction calls."""
    cost = dict(getattr(attacker, "cost", {}) or {})
    for key in ("gradient_calls", "gradient_rows", "predict_calls", "query_rows"):
        if key in result.params:
            cost[key] = int(result.params[key])
    return cost


def adaptive_unit(name, trained, glr, X, y, adv, image_shape, settings, seed, threads, progress):
    """The adaptive attacks, at the eps of Table I's white-box attacks (the FGSM eps calibrated in
    ``adv``), on the first ``adaptive_images`` images of the attack set; the worst case over all of
    them per image, and the sanity checks (Carlini et al. 2019)."""
    eps = float(adv["fgsm_eps"])
    n = min(settings.adaptive_images, len(y))
    X, y = X[:n], y[:n]
    attacks_run = adaptive_attacks(glr)
    stages = _Stages(len(attacks_run) + len(settings.sanity_eps) + 3, f"[seed {seed}] adaptive, "
                     f"{LABELS.get(name, name)}", progress)
    try:
        return _adaptive(trained, glr, X, y, eps, image_shape, settings, seed, threads, attacks_run, stages)
    finally:
        stages.close()


def _adaptive(trained, glr, X, y, eps, image_shape, settings, seed, threads, attacks_run, stage):
    model = judge(trained, glr, settings, seed, threads)

    def attacker_for(gradient, offset=0, **kw):
        if not glr:
            return _Counted(trained)
        return _attacker(trained, settings, seed, threads, gradient, offset=offset,
                         replications=settings.eot_gradient_replications, **kw)

    out: dict = {"eps": eps, "images": len(y), "eot_draws": settings.eot_draws,
                 "eot_gradient_replications": settings.eot_gradient_replications, "attacks": {}}
    clean = model.predict(X) == y
    out["original"] = float(clean.mean())
    survives = clean.copy()
    kept = {}
    for offset, (key, gradient, attack) in enumerate(attacks_run):
        stage(key.replace("_", " "))
        attacker = attacker_for(gradient, offset)
        start = time.perf_counter()
        result = _run_attack(attack, attacker, X, y, eps, settings, seed, image_shape=image_shape)
        ok = model.predict(result.X_adv) == y
        record = {"accuracy": float(ok.mean()), "gradient": gradient, "attack": attack,
                  "seconds": time.perf_counter() - start, "cost": _cost(attacker, result)}
        if glr:
            # the same examples judged on the attacker's own noise: how far it tuned itself to it
            record["accuracy_attacker_noise"] = float(np.mean(attacker.predict(result.X_adv) == y))
        out["attacks"][key] = record
        kept[key] = ok
        survives &= ok
        stage.done()
    worst = int(survives.sum())
    out["worst"] = worst / len(y)
    out["worst_interval"] = list(_clopper_pearson(worst, len(y)))
    out["worst_attack"] = min(out["attacks"], key=lambda k: out["attacks"][k]["accuracy"])
    out["sanity"] = _sanity(trained, glr, model, X, y, eps, image_shape, settings, seed, attacker_for, kept,
                           out["attacks"], stage)
    return out


def _sanity(trained, glr, model, X, y, eps, image_shape, settings, seed, attacker_for, kept, out_attacks, stage):
    """Carlini et al. (2019)'s checks on the first ``sanity_images`` images, each with the figures it
    rests on and whether it holds (a difference counts when it exceeds two standard errors)."""
    n = min(settings.sanity_images, len(y))
    Xs, ys = X[:n], y[:n]
    strongest = "bpda" if glr else "exact"
    ce = "apgd_ce_eot_bpda" if glr else "apgd_ce"
    pgd, fgsm = ("pgd_eot_bpda", "fgsm_eot_bpda") if glr else ("pgd", "fgsm")
    chance = 1.0 / int(trained.n_classes)

    def accuracy(result):
        return float(np.mean(model.predict(result.X_adv) == ys))

    def margin(a, b):        # two standard errors of the difference of two accuracies on n images
        return 2.0 * np.sqrt(max(a * (1 - a) + b * (1 - b), 1.0 / n) / n)

    checks = {}
    # 1. an unbounded attack succeeds: accuracy falls to at most chance as eps grows
    curve = []
    for e in settings.sanity_eps:
        stage(f"sanity: PGD at eps {e:g}")
        curve.append(accuracy(_run_attack("pgd", attacker_for(strongest, 100), Xs, ys, e, settings, seed)))
        stage.done()
    checks["unbounded"] = {"eps": list(settings.sanity_eps), "accuracy": curve, "chance": chance,
                           "holds": bool(curve[-1] <= chance)}
    # 2. iterative attacks are at least as strong as single-step ones
    one, many = float(kept[fgsm][:n].mean()), float(kept[pgd][:n].mean())
    checks["iterative_beats_single_step"] = {"fgsm": one, "pgd": many, "holds": bool(many <= one + margin(one, many))}
    # 3. more steps, restarts and EOT draws do not raise the accuracy
    stage("sanity: fewer APGD steps")
    base = float(kept[ce][:n].mean())
    fewer = accuracy(_run_attack("apgd_ce", attacker_for(strongest, 200), Xs, ys, eps, settings, seed,
                                 steps=max(1, settings.apgd_steps // 4)))
    checks["more_steps"] = {"steps": [max(1, settings.apgd_steps // 4), settings.apgd_steps],
                            "accuracy": [fewer, base], "holds": bool(base <= fewer + margin(fewer, base))}
    stage.done()
    stage("sanity: more restarts")
    restarted = accuracy(_run_attack("apgd_ce", attacker_for(strongest, 300), Xs, ys, eps, settings, seed,
                                     restarts=2))
    checks["more_restarts"] = {"restarts": [1, 2], "accuracy": [base, restarted],
                               "holds": bool(restarted <= base + margin(base, restarted))}
    stage.done()
    stage("sanity: fewer EOT draws")
    if glr:
        draws = max(1, settings.eot_draws // 4)
        few = accuracy(_run_attack("pgd", attacker_for("likelihood_ratio", 400, eot_draws=draws), Xs, ys, eps,
                                   settings, seed))
        full = float(kept["pgd_eot_lr"][:n].mean())
        checks["more_eot_draws"] = {"eot_draws": [draws, settings.eot_draws], "accuracy": [few, full],
                                    "holds": bool(full <= few + margin(few, full))}
        # 4. what is attacked is what is judged: the attacker's decision is the noise-averaged
        # prediction with as many draws as the judge's, on independent noise
        # on independent noise: the two agree on the clean images, and an attack's examples fool the
        # judge about as often as they fool the attacker's own prediction (no tuning to its noise)
        attacker = attacker_for("bpda", 500)
        agree = float(np.mean(attacker.predict(Xs) == model.predict(Xs)))
        record = out_attacks[ce]
        judged, own = record["accuracy"], record["accuracy_attacker_noise"]
        checks["attacked_is_judged"] = {"predict_replications": settings.predict_replications,
                                        "clean_agreement": agree, "attack": ce, "judge_accuracy": judged,
                                        "attacker_noise_accuracy": own,
                                        "holds": bool(abs(judged - own) <= margin(judged, own) * np.sqrt(n / len(y)))}
    stage.done()
    checks["images"] = n
    return checks


# ----------------------------------------------------------------------------- certification
def certification_unit(name, trained, X, y, settings, seed, threads, progress):
    """Randomized smoothing (Cohen et al. 2019, CERTIFY) of ``trained`` with Gaussian input noise of
    ``input_noise`` on the first ``certify_images`` images of the attack set: the certified accuracy
    at each of ``certify_radii`` (abstentions count as errors)."""
    from ..robustness.smoothing import certified_accuracy, certify

    n = min(settings.certify_images, len(y))
    start = time.perf_counter()
    result = certify(trained, X[:n], settings.input_noise, n0=settings.certify_n0, n=settings.certify_n,
                     alpha=settings.certify_alpha, seed=seed + CERTIFY_SEED_OFFSET, n_threads=threads,
                     progress=progress)
    accuracy = certified_accuracy(result, y[:n], list(settings.certify_radii))
    return {"images": n, "noise_scale": settings.input_noise, "n0": settings.certify_n0, "n": settings.certify_n,
            "alpha": settings.certify_alpha, "radii": list(settings.certify_radii),
            "certified_accuracy": [float(a) for a in accuracy],
            "abstained": float(np.mean(result.prediction < 0)),
            "mean_radius_correct": float(np.mean(np.where(result.prediction == y[:n], result.radius, 0.0))),
            "seconds": time.perf_counter() - start, "label": LABELS.get(name, name)}
