"""Reporting: the summary over seeds, Tables I and II as markdown, every figure as CSV, and the
paper's figures as PNG; :func:`report_only` rewrites all that ``results.json`` allows from it."""
from __future__ import annotations

import csv
import io
import os

import numpy as np

from .._files import atomic_write_text, read_json
from ..method.activations import Activation
from .protocol import BASELINE, FIG6_MODEL, LABELS, locked_out_dir, settings_from_record

__all__ = ["aggregate", "write_csv", "write_figures", "write_tables", "report_only", "CSV_COLUMNS"]

#: The columns of ``results.csv``: one row per seed, model and measure.
CSV_COLUMNS = ("seed", "model", "label", "measure", "value")
#: Per-seed figures of the transfer attacks (the same for every model): rows with an empty model.
SEED_MEASURES = ("n_train", "n_attack", "fgsm_eps", "lbfgs_scale", "lbfgs_surrogate_success", "lbfgs_mean_l2",
                 "surrogate_accuracy")

TABLE1_COLUMNS = [("original", "original"), ("transfer_lbfgs", "L-BFGS (transfer)"),
                  ("transfer_fgsm", "FGSM (transfer)"), ("whitebox_fgsm", "FGSM (own gradient)"),
                  ("whitebox_pgd", "PGD (own gradient)"), ("whitebox_fgsm_smoothed", "FGSM (BPDA)"),
                  ("whitebox_pgd_smoothed", "PGD (BPDA)"), ("whitebox_worst", "white-box, worst case")]


def _mean_std(values):
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _cell(values):
    if any(v is None for v in values):
        return "-"
    mean, std = _mean_std(values)
    return f"{mean:.3f}" if len(values) == 1 else f"{mean:.3f} ± {std:.3f}"


def aggregate(per_seed):
    from ..robustness.corruptions import CORRUPTIONS

    models = list(per_seed[0]["models"])
    summary = {"seeds": [r["seed"] for r in per_seed], "data": per_seed[0]["data"],
               "n_train": per_seed[0]["n_train"], "n_attack": per_seed[0]["n_attack"],
               "fgsm_eps": [r["fgsm_eps"] for r in per_seed], "lbfgs_scale": [r["lbfgs_scale"] for r in per_seed],
               "lbfgs_surrogate_success": [r["lbfgs_surrogate_success"] for r in per_seed],
               "surrogate_accuracy": [r["surrogate_accuracy"] for r in per_seed], "table1": {}, "table2": {},
               "eps_curves": {}}
    for name in models:
        entries = [r["models"][name] for r in per_seed]
        summary["table1"][name] = {key: _mean_std([e[key] for e in entries])
                                   for key in [k for k, _ in TABLE1_COLUMNS] + ["original_single_draw",
                                                                                 "original_noise_free"]
                                   if all(key in e for e in entries)}
        summary["table2"][name] = {c: _mean_std([e["corruptions"][c]["mean"] for e in entries]) for c in CORRUPTIONS}
        for key in ("corruptions_authors", "corruptions_authors_noise_free", "corruptions_noise_free"):
            if all(key in e for e in entries):
                summary.setdefault(f"table2_{key.removeprefix('corruptions_')}", {})[name] = {
                    c: _mean_std([e[key][c]["mean"] for e in entries]) for c in entries[0][key]}
        if all("adaptive" in e for e in entries):
            summary["table1"][name]["adaptive_worst"] = _mean_std([e["adaptive"]["worst"] for e in entries])
            summary.setdefault("adaptive", {})[name] = {
                attack: _mean_std([e["adaptive"]["attacks"][attack]["accuracy"] for e in entries])
                for attack in entries[0]["adaptive"]["attacks"]}
        if all("certification" in e for e in entries):
            summary.setdefault("certification", {})[name] = np.mean(
                [e["certification"]["certified_accuracy"] for e in entries], axis=0).tolist()
        summary["eps_curves"][name] = {
            "transfer": np.mean([e["transfer_fgsm_curve"] for e in entries], axis=0).tolist(),
            "whitebox": np.mean([e["whitebox_fgsm_curve"] for e in entries], axis=0).tolist()}
    return summary


def write_tables(per_seed, summary, out_dir, settings):
    from ..robustness.corruptions import CORRUPTIONS, PAPER_CORRUPTIONS

    models = list(per_seed[0]["models"])
    n = len(per_seed)
    eps = _mean_std(summary["fgsm_eps"])
    scale = _mean_std(summary["lbfgs_scale"])
    lines = [f"# Table I: accuracy on original and adversarial examples ({summary['data']})", "",
             (f"{n} seed(s) ({', '.join(map(str, summary['seeds']))}), mean ± standard deviation; "
              f"{summary['n_train']} training images, {summary['n_attack']} attacked test images. "
              f"The noisy networks (GLR and the pathwise control, trained with the same noise by backpropagation "
              f"through it over {settings.pathwise_replications} draws) predict with neuronal noise averaged over "
              f"{settings.predict_replications} draws."), "",
             "| model | " + " | ".join(label for _, label in TABLE1_COLUMNS) + " | worst case, every attack "
             "(adaptive ones included) | original, one noise draw | original, noise-free |",
             "|---" * (len(TABLE1_COLUMNS) + 4) + "|"]
    for name in models:
        entries = [r["models"][name] for r in per_seed]
        cells = [_cell([e.get(key) for e in entries]) for key, _ in TABLE1_COLUMNS]
        cells.append(_cell([(e.get("adaptive") or {}).get("worst") for e in entries]))
        cells += [_cell([e.get(key) for e in entries]) for key in ("original_single_draw", "original_noise_free")]
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + " |")
    lines += ["", (f"Transfer attacks are crafted on a BP network with two ReLU hidden levels "
               f"({'-'.join(map(str, settings.surrogate_hidden))}; its accuracy on the attacked images: "
               f"{_cell(summary['surrogate_accuracy'])}). Their strength is calibrated so that the BP baseline "
               f"reaches the paper's figures (FGSM {settings.fgsm_target}, L-BFGS {settings.lbfgs_target}): "
               f"FGSM eps = {eps[0]:.3f} ± {eps[1]:.3f}; the minimal L-BFGS perturbations (Szegedy et al., "
               f"untargeted, scipy L-BFGS-B with a per-image search over c; they fool the surrogate on "
               f"{_cell(summary['lbfgs_surrogate_success'])} of the images) are scaled by "
               f"{scale[0]:.2f} ± {scale[1]:.2f}. White-box attacks at the same eps use each model's own gradient "
               f"(BP: exact; GLR: the likelihood-ratio input gradient over {settings.gradient_replications} "
               f"replications) and, for the noisy networks, backpropagation through the noise-averaged network "
               f"(BPDA: every activation replaced by E[phi(v + r)], smooth even for steps; "
               f"glrnet.robustness.SmoothedSurrogate). PGD: {settings.pgd_steps} steps of "
               f"2.5 eps / {settings.pgd_steps} from a random start, keeping each image's first successful "
               f"iterate, judged on the attacker's own noise (independent of the judge's). The worst case counts "
               f"an image as correct only if it survives every white-box attack; the column after it also counts "
               f"the adaptive attacks (table1_adaptive.md), on the first {settings.adaptive_images} attacked "
               f"images.")]
    atomic_write_text(os.path.join(out_dir, "table1.md"), "\n".join(lines) + "\n")
    _adaptive_tables(per_seed, models, out_dir, settings)
    _authors_table(per_seed, models, summary, out_dir)
    _certification_table(per_seed, out_dir, settings)
    ordered = list(PAPER_CORRUPTIONS) + [c for c in CORRUPTIONS if c not in PAPER_CORRUPTIONS]
    lines = [f"# Table II: mean accuracy over five severities (Eq. 6) per corruption ({summary['data']})", "",
             (f"{n} seed(s), mean ± standard deviation. The first four are the corruptions the paper's "
              f"authors used."), "",
             "| model | " + " | ".join(c.replace("_", " ") for c in ordered) + " | mean of the paper's four |",
             "|---" * (len(ordered) + 2) + "|"]
    for name in models:
        entries = [r["models"][name] for r in per_seed]
        cells = [_cell([e["corruptions"][c]["mean"] for e in entries]) for c in ordered]
        four = _cell([np.mean([e["corruptions"][c]["mean"] for c in PAPER_CORRUPTIONS]) for e in entries])
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + f" | {four} |")
    atomic_write_text(os.path.join(out_dir, "table2.md"), "\n".join(lines) + "\n")


ATTACK_LABELS = {"fgsm": "FGSM", "pgd": "PGD", "apgd_ce": "APGD-CE", "apgd_dlr": "APGD-DLR", "square": "Square"}
GRADIENT_LABELS = {"exact": "exact gradient", "likelihood_ratio": "EOT, likelihood ratio", "bpda": "EOT, BPDA",
                   "smoothed": "smoothed network (BPDA)"}


def _attack_label(record):
    label = ATTACK_LABELS.get(record["attack"], record["attack"])
    return label if record["attack"] == "square" else f"{label} ({GRADIENT_LABELS.get(record['gradient'])})"


def _per_image_cost(record, images):
    """Noisy forward passes per attacked image (gradients and predictions), or model calls for BP."""
    cost = record.get("cost") or {}
    if "gradient_draws" in cost:
        return (cost["gradient_draws"] + cost["predict_draws"]) / images
    return (cost.get("gradient_rows", 0) + cost.get("predict_rows", 0)) / images


def _adaptive_tables(per_seed, models, out_dir, settings):
    """table1_adaptive.md (every attack, its accuracy and cost, the worst case with its interval) and
    sanity_checks.md, when the run has the adaptive attacks."""
    if not all("adaptive" in r["models"][name] for r in per_seed for name in models):
        return
    n = len(per_seed)
    first = per_seed[0]["models"]
    lines = [f"# The adaptive attacks ({per_seed[0]['data']})", "",
             (f"{n} seed(s), mean ± standard deviation; the first {first[models[0]]['adaptive']['images']} attacked "
              f"images, L-inf eps = the calibrated FGSM eps of Table I. A noisy network is judged by its "
              f"prediction with the noise averaged over {settings.predict_replications} draws; every attacker "
              f"predicts (over {settings.attacker_predict_replications} draws: its success checks and Square's "
              f"margin) and estimates gradients on its own, independent noise. EOT: each gradient is the "
              f"average over {settings.eot_draws} noise draws (likelihood ratio: {settings.eot_draws} estimates of "
              f"{settings.eot_gradient_replications} draws; BPDA: {settings.eot_draws} noisy forward-backward "
              f"passes with the noise-averaged derivative of step activations). APGD: {settings.apgd_steps} "
              f"steps, one restart (Croce & Hein 2020); Square: {settings.square_queries} queries "
              f"(Andriushchenko et al. 2020), no gradient. "
              + ("PGD, APGD and Square stop attacking an image at its first point that fools the attacker's "
                 "prediction, and return it. " if settings.adaptive_keep_success else
                 "PGD and APGD attack every image to their last step (a point that fools the attacker does not "
                 "end the attack) and return its last iterate (PGD) or its latest iterate that fooled the "
                 "attacker (APGD, AutoAttack's rule); Square stops at an image's first fooling point. ")
              + f"Cost: noisy forward passes per image (BP: rows in "
              f"its gradient and prediction calls per image). Worst case: an image counts only if it survives "
              f"every attack, with the 95 % Clopper-Pearson interval of seed {per_seed[0]['seed']}."), ""]
    for name in models:
        attacks = first[name]["adaptive"]["attacks"]
        lines += [f"## {LABELS.get(name, name)}", "", "| attack | accuracy | on the attacker's own noise | cost per "
                  "image |", "|---|---|---|---|"]
        for key, record in attacks.items():
            values = [r["models"][name]["adaptive"]["attacks"][key] for r in per_seed]
            own = _cell([v.get("accuracy_attacker_noise") for v in values])
            lines.append(f"| {_attack_label(record)} | {_cell([v['accuracy'] for v in values])} | {own} | "
                         f"{_per_image_cost(record, first[name]['adaptive']['images']):,.0f} |")
        low, high = first[name]["adaptive"]["worst_interval"]
        lines += [f"| **worst case** | **{_cell([r['models'][name]['adaptive']['worst'] for r in per_seed])}** "
                  f"({low:.3f}-{high:.3f}) | | |", ""]
    atomic_write_text(os.path.join(out_dir, "table1_adaptive.md"), "\n".join(lines))
    checks = [c for c in dict.fromkeys(c for name in models for c in first[name]["adaptive"]["sanity"])
              if c != "images"]
    lines = ["# Sanity checks of the attacks (Carlini et al. 2019)", "",
             (f"On the first {first[models[0]]['adaptive']['sanity']['images']} images of the adaptive set, seed "
              f"by seed; each cell: whether the check holds in how many seeds, and seed "
              f"{per_seed[0]['seed']}'s figures. unbounded: PGD accuracy at eps {list(settings.sanity_eps)} "
              "must end at or below chance; iterative: PGD against FGSM with the same gradient; more steps: "
              f"APGD-CE at {max(1, settings.apgd_steps // 4)} and {settings.apgd_steps} steps; more restarts: 1 "
              "and 2; more EOT draws: PGD-EOT (likelihood ratio) with a quarter of the draws and all; attacked "
              "is judged: the attacker's and the judge's predictions agree on clean images and APGD-CE's "
              "examples fool both alike (two standard errors)."), "",
             "| model | " + " | ".join(c.replace("_", " ") for c in checks) + " |", "|---" * (len(checks) + 1) + "|"]
    for name in models:
        cells = []
        for check in checks:
            found = [r["models"][name]["adaptive"]["sanity"].get(check) for r in per_seed]
            if found[0] is None:
                cells.append("-")
                continue
            held = sum(bool(f and f["holds"]) for f in found)
            figures = ", ".join(f"{v:.3f}" for v in _sanity_figures(found[0]))
            cells.append(f"{'yes' if held == n else 'NO'} ({held}/{n}; {figures})")
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + " |")
    atomic_write_text(os.path.join(out_dir, "sanity_checks.md"), "\n".join(lines) + "\n")


def _sanity_figures(check):
    """The accuracies a sanity check rests on, in its order."""
    if "accuracy" in check:
        return check["accuracy"]
    if "fgsm" in check:
        return [check["fgsm"], check["pgd"]]
    return [check["clean_agreement"], check["judge_accuracy"], check["attacker_noise_accuracy"]]


def _authors_table(per_seed, models, summary, out_dir):
    """table2_authors.md: the authors' corruption definitions, noise-averaged and noise-free."""
    if "table2_authors" not in summary:
        return
    names = list(next(iter(summary["table2_authors"].values())))
    lines = [f"# Table II with the authors' corruption definitions ({summary['data']})", "",
             ("The constants of the authors' public code (LX-doctorAI1/GLR_ADV, CIFAR-10-C's, vertical glass blur "
              "rounded to uint8) on glrnet's 14 x 14 images; mean accuracy over the five severities. Noisy "
              "networks: first with the noise averaged, then without noise, as the authors' code predicts."), "",
             "| model | " + " | ".join(f"{c.replace('_', ' ')}" for c in names) + " | mean | "
             + " | ".join(f"{c.replace('_', ' ')}, noise-free" for c in names) + " | mean, noise-free |",
             "|---" * (2 * len(names) + 3) + "|"]
    for name in models:
        entries = [r["models"][name] for r in per_seed]
        row = []
        for key in ("corruptions_authors", "corruptions_authors_noise_free"):
            if not all(key in e for e in entries):
                row += ["-"] * (len(names) + 1)
                continue
            row += [_cell([e[key][c]["mean"] for e in entries]) for c in names]
            row.append(_cell([np.mean([e[key][c]["mean"] for c in names]) for e in entries]))
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(row) + " |")
    atomic_write_text(os.path.join(out_dir, "table2_authors.md"), "\n".join(lines) + "\n")


def _certification_table(per_seed, out_dir, settings):
    """certification.md: certified accuracy against the L2 radius (randomized smoothing)."""
    names = [k for k, v in per_seed[0]["models"].items() if "certification" in v]
    if not names:
        return
    first = per_seed[0]["models"][names[0]]["certification"]
    radii = first["radii"]
    lines = [f"# Certified L2 robustness by randomized smoothing ({per_seed[0]['data']})", "",
             (f"Cohen, Rosenfeld & Kolter (2019), CERTIFY with N0 = {first['n0']}, N = {first['n']:,}, alpha = "
              f"{first['alpha']:g}, Gaussian input noise sigma = {first['noise_scale']:g}, on the first "
              f"{first['images']} attacked images; abstentions count as errors. The base classifier is one draw "
              "of the network on x + delta (a noisy network keeps its neuronal noise). Certified accuracy at "
              f"each radius; {len(per_seed)} seed(s), mean ± standard deviation."), "",
             "| model | " + " | ".join(f"r = {r:g}" for r in radii) + " | abstained |", "|---" * (len(radii) + 2) + "|"]
    for name in names:
        entries = [r["models"][name]["certification"] for r in per_seed if "certification" in r["models"][name]]
        cells = [_cell([e["certified_accuracy"][i] for e in entries]) for i in range(len(radii))]
        cells.append(_cell([e["abstained"] for e in entries]))
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + " |")
    atomic_write_text(os.path.join(out_dir, "certification.md"), "\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- CSV
def _csv_rows(per_seed, settings):
    """(seed, model, label, measure, value) for every number of ``per_seed`` but the training histories.

    Measures: the per-model keys of ``results.json`` (``original``, ``transfer_fgsm``, ...); the eps
    curves as ``transfer_fgsm_curve/eps=0.05``; the corruptions as ``corruption/<name>/mean`` and
    ``corruption/<name>/severity_<s>``; and, with an empty model, the seed's attack strengths and
    surrogate figures (:data:`SEED_MEASURES`)."""
    grid = list(settings.eps_grid)
    for result in per_seed:
        seed = result["seed"]
        for key in SEED_MEASURES:
            if result.get(key) is not None:
                yield seed, "", "", key, result[key]
        for name, entry in result["models"].items():
            label = LABELS.get(name, name)
            for key, value in entry.items():
                if key == "history" or value is None:
                    continue
                if key.startswith("corruptions"):
                    prefix = "corruption" + key.removeprefix("corruptions")
                    for corruption, figures in value.items():
                        yield seed, name, label, f"{prefix}/{corruption}/mean", figures["mean"]
                        for severity, accuracy in enumerate(figures["by_severity"], 1):
                            yield seed, name, label, f"{prefix}/{corruption}/severity_{severity}", accuracy
                elif isinstance(value, dict):
                    for measure, number in _flattened(value, key):
                        yield seed, name, label, measure, number
                elif isinstance(value, list):
                    points = grid if len(grid) == len(value) else range(len(value))
                    for e, accuracy in zip(points, value):
                        yield seed, name, label, f"{key}/eps={e:g}", accuracy
                else:
                    yield seed, name, label, key, value


def _flattened(value, prefix):
    """(``prefix/key/...``, number) for every number in nested dicts and lists (lists by position);
    strings and booleans are left out, except booleans as 0/1 under ``.../holds``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flattened(item, f"{prefix}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _flattened(item, f"{prefix}/{i}")
    elif isinstance(value, bool):
        yield prefix, int(value)
    elif isinstance(value, (int, float)):
        yield prefix, value


def write_csv(per_seed, out_dir, settings):
    """``results.csv``: every figure of ``results.json`` in long format, one row per seed x model x
    measure (:data:`CSV_COLUMNS`; pandas: ``pd.read_csv(path).pivot_table(index="label",
    columns="measure", values="value")``), written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_rows(per_seed, settings))
    atomic_write_text(os.path.join(out_dir, "results.csv"), buffer.getvalue())


# ----------------------------------------------------------------------------- report only
def report_only(out_dir):
    """Rewrite, from ``out_dir/results.json`` alone, what it allows: Tables I and II, ``results.csv``,
    the loss curves (Fig. 5), the eps curves and the accuracy against corruption severity.  Fig. 2,
    6 and 7 need what only a run has (the images, the models' predictions) and are left as they
    are.  Returns the stored summary, with the recomputed aggregates."""
    path = os.path.join(out_dir, "results.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist: --report-only needs the results.json of a run")
    with locked_out_dir(out_dir):
        results = read_json(path, "glrnet reproduce results file")
        try:
            per_seed, stored = results["per_seed"], results["summary"]
            settings = settings_from_record(stored["settings"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a glrnet reproduce results file (no {exc})") from exc
        summary = {**stored, **aggregate(per_seed)}
        write_csv(per_seed, out_dir, settings)
        write_tables(per_seed, summary, out_dir, settings)
        write_figures(per_seed, summary, None, out_dir, settings)
    return summary


# ----------------------------------------------------------------------------- figures
def _legend_below(fig, axes, ncol=3):
    """One legend for the figure, under the axes (it covers no data)."""
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, fontsize=8,
               frameon=False)


def _model_styles(names):
    """The BP baseline in black, every other model in a colour of its own (in the order given)."""
    colours = iter(f"C{i}" for i in range(len(names)))
    return {name: {"color": "k", "lw": 2.0} if name == BASELINE else {"color": next(colours), "lw": 1.3}
            for name in names}


def _eps_curves(per_seed, summary, out_dir, settings):
    """Accuracy against FGSM eps, transfer and white-box: mean over seeds, min-max band, calibrated eps."""
    from ..plotting import _pyplot, save_figure

    plt = _pyplot()
    names = list(per_seed[0]["models"])
    styles = _model_styles(names)
    grid = [0.0] + list(settings.eps_grid)
    eps = np.asarray(summary["fgsm_eps"], dtype=np.float64)
    n = len(per_seed)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, key in zip(axes, ("transfer_fgsm_curve", "whitebox_fgsm_curve")):
        for name in names:
            curves = np.array([[r["models"][name]["original"]] + list(r["models"][name][key]) for r in per_seed])
            mean = curves.mean(axis=0)
            ax.plot(grid, mean, "-o", ms=3, label=LABELS.get(name, name), **styles[name])
            if n > 1:
                ax.fill_between(grid, curves.min(axis=0), curves.max(axis=0), color=styles[name]["color"],
                                alpha=0.12, lw=0)
        ax.axvline(eps.mean(), color="0.35", ls="--", lw=1)
        if n > 1 and eps.max() > eps.min():
            ax.axvspan(eps.min(), eps.max(), color="0.5", alpha=0.12, lw=0)
        ax.text(eps.mean(), 1.0, f" calibrated eps = {eps.mean():.3f}", transform=ax.get_xaxis_transform(),
                fontsize=7, color="0.3", va="top", ha="left")
        ax.set_xlabel("FGSM eps (L-infinity perturbation of pixels in [0, 1])")
        ax.grid(alpha=0.3)
    axes[0].set_title("FGSM crafted on the BP surrogate (transfer)")
    axes[1].set_title("White-box FGSM (worst of own gradient and BPDA)")
    axes[0].set_ylabel("accuracy")
    spread = f"mean over {n} seeds, shaded: lowest to highest seed" if n > 1 else "one seed"
    fig.suptitle(f"Accuracy against the FGSM strength ({spread})\ndashed: the eps calibrated so that the BP "
                 "baseline reaches the paper's figure under transfer", fontsize=10, y=1.05)
    _legend_below(fig, axes, ncol=4)
    save_figure(fig, os.path.join(out_dir, "eps_curves.png"))


def _corruption_severities(per_seed, out_dir):
    """Accuracy against severity for the authors' four corruptions, per model (mean over seeds)."""
    from ..plotting import _pyplot, save_figure
    from ..robustness.corruptions import PAPER_CORRUPTIONS, SEVERITIES

    plt = _pyplot()
    names = list(per_seed[0]["models"])
    styles = _model_styles(names)
    n = len(per_seed)
    fig, axes = plt.subplots(1, len(PAPER_CORRUPTIONS), figsize=(13, 3.6), sharey=True)
    for ax, corruption in zip(axes, PAPER_CORRUPTIONS):
        for name in names:
            curves = np.array([r["models"][name]["corruptions"][corruption]["by_severity"] for r in per_seed])
            ax.plot(SEVERITIES, curves.mean(axis=0), "-o", ms=3, label=LABELS.get(name, name), **styles[name])
            if n > 1:
                ax.fill_between(SEVERITIES, curves.min(axis=0), curves.max(axis=0), color=styles[name]["color"],
                                alpha=0.12, lw=0)
        ax.set_title(corruption.replace("_", " ").capitalize())
        ax.set_xlabel("severity")
        ax.set_xticks(SEVERITIES)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    spread = f"mean over {n} seeds, shaded: lowest to highest seed" if n > 1 else "one seed"
    fig.suptitle(f"Accuracy against corruption severity, the four corruptions of the paper ({spread})",
                 fontsize=10, y=1.03)
    _legend_below(fig, axes, ncol=4)
    save_figure(fig, os.path.join(out_dir, "corruption_severity.png"))


def _loss_curves(per_seed, out_dir):
    """Fig. 5: training and validation losses of the sigmoid and threshold GLR networks (first seed)."""
    from ..plotting import _history_panel, _pyplot, save_figure

    plt = _pyplot()
    first = per_seed[0]["models"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key in zip(axes, ("glr-sigmoid", "glr-threshold")):
        _history_panel(ax, first.get(key, {}).get("history") or {}, "loss", "cross-entropy under noise")
        ax.set_title(LABELS.get(key, key))
    save_figure(fig, os.path.join(out_dir, "fig5_loss_curves.png"))


def _adversarial_pairs(per_seed, figure_inputs, out_dir):
    """Fig. 6: original / FGSM (transfer) pairs, with what the BP baseline and the GLR sigmoid network
    predict on each adversarial image."""
    from ..plotting import _pyplot, save_figure

    plt = _pyplot()
    shape = tuple(figure_inputs["image_shape"])
    predictions = figure_inputs.get("fgsm_predictions") or {}
    short = {BASELINE: "BP", FIG6_MODEL: "GLR"}
    n = min(10, len(figure_inputs["X"]))
    fig, axes = plt.subplots(2, 10, figsize=(10, 2.4), gridspec_kw={"hspace": 0.25})
    for i in range(n):
        truth = int(figure_inputs["y"][i])
        axes[0, i].imshow(figure_inputs["X"][i].reshape(shape), cmap="gray", vmin=0, vmax=1)
        axes[1, i].imshow(figure_inputs["X_fgsm"][i].reshape(shape), cmap="gray", vmin=0, vmax=1)
        axes[0, i].set_title(f"class {truth}", fontsize=8)
        for row, (name, predicted) in enumerate(predictions.items()):
            p = int(predicted[i])
            axes[1, i].text(0.5, -0.08 - 0.2 * row, f"{short.get(name, name)}: {p}", transform=axes[1, i].transAxes,
                            ha="center", va="top", fontsize=8, color="tab:green" if p == truth else "tab:red")
    for ax in axes.ravel():
        ax.axis("off")
    title = (f"Original images (top, true class) and FGSM transfer examples (bottom), "
             f"eps = {per_seed[0]['fgsm_eps']:.3f}")
    if predictions:
        title += ("\nunder each: the class predicted by "
                  + " and by ".join(LABELS.get(k, k) for k in predictions) + " (green: correct, red: wrong)")
    fig.suptitle(title, fontsize=9)
    save_figure(fig, os.path.join(out_dir, "fig6_adversarial_pairs.png"))


def _certification_plot(per_seed, out_dir):
    """Certified accuracy against the L2 radius, per certified model (mean over seeds)."""
    names = [k for k, v in per_seed[0]["models"].items() if "certification" in v]
    if not names:
        return
    from ..plotting import _pyplot, save_figure

    plt = _pyplot()
    styles = _model_styles(names)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name in names:
        entries = [r["models"][name]["certification"] for r in per_seed if "certification" in r["models"][name]]
        ax.plot(entries[0]["radii"], np.mean([e["certified_accuracy"] for e in entries], axis=0), "-o", ms=3,
                label=LABELS.get(name, name), **styles[name])
    first = per_seed[0]["models"][names[0]]["certification"]
    ax.set_xlabel("L2 radius")
    ax.set_ylabel("certified accuracy")
    ax.set_title(f"Randomized smoothing, sigma = {first['noise_scale']:g}, N = {first['n']:,}, alpha = "
                 f"{first['alpha']:g}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, os.path.join(out_dir, "certification.png"))


def write_figures(per_seed, summary, figure_inputs, out_dir, settings):
    """The figures.  Without ``figure_inputs`` (a report from ``results.json`` alone), only those the
    results hold: the loss curves, the eps curves and the accuracy against corruption severity."""
    _loss_curves(per_seed, out_dir)
    _eps_curves(per_seed, summary, out_dir, settings)
    _corruption_severities(per_seed, out_dir)
    _certification_plot(per_seed, out_dir)
    if figure_inputs is None:
        return
    from ..plotting import _pyplot, save_figure
    from ..robustness.corruptions import corrupt

    plt = _pyplot()
    # Fig. 2: activation functions
    v = np.linspace(-4, 4, 801)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for s in (0.5, 1, 2, 5):
        left.plot(v, Activation("sigmoid", slope=s)(v), label=f"sigmoid, s = {s:g}")
    left.plot(v, Activation("threshold")(v), "k", lw=2, label="threshold")
    left.set_title("Sigmoid and threshold (the paper's Fig. 2)")
    left.legend(fontsize=8)
    for name in ("sign", "staircase", "quantized_relu"):
        right.plot(v, Activation(name, levels=4)(v), lw=2, label=name.replace("_", " "))
    right.set_title("Other discontinuous activations")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.set_xlabel("v")
    save_figure(fig, os.path.join(out_dir, "fig2_activations.png"))

    _adversarial_pairs(per_seed, figure_inputs, out_dir)

    # Fig. 7: one image at the five severities of Gaussian noise
    shape = tuple(figure_inputs["image_shape"])
    image = figure_inputs["X"][:1]
    fig, axes = plt.subplots(1, 6, figsize=(9, 1.9))
    axes[0].imshow(image.reshape(shape), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("original", fontsize=8)
    for s in range(1, 6):
        axes[s].imshow(corrupt(image, "gaussian_noise", s, seed=0).reshape(shape), cmap="gray", vmin=0, vmax=1)
        axes[s].set_title(f"severity {s}", fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.suptitle("A test image under Gaussian noise at the five severities (the paper's Fig. 7)", fontsize=9)
    save_figure(fig, os.path.join(out_dir, "fig7_gaussian_noise.png"))
