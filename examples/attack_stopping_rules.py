"""Which point an attack on a noisy network returns, and who it fools (issue: the field's standard evaluation).

An attack on a randomised classifier decides that it succeeded by the attacker's own noisy
prediction.  The point it returns is judged by the model under test on independent noise.  This
script runs APGD-CE with the EOT BPDA gradient (the attacker of ``glrnet reproduce``) on networks
of a ``glrnet reproduce`` folder with four rules for the returned point:

- ``first``: the first iterate that fools the attacker's prediction (the attack stops there);
- ``latest``: every step is run, the latest fooling iterate is returned (AutoAttack's rule, what
  ``glrnet reproduce`` does now);
- ``best-loss``: every step is run, the iterate of highest attack loss is returned, fooling or not
  (not selected on the attacker's prediction noise);
- ``latest, judge-like votes``: as ``latest``, but the attacker's success test is the majority of
  ten independent predictions with the judge's number of draws each (the same 1,000 draws in
  all), an attacker that models the judge's own randomness;

and judges each by three predictions: the protocol's judge (the noise averaged over
``predict_replications`` draws), an independent judge averaging 1,000 draws, and the attacker's
own prediction (1,000 draws, its noise).  A gap between the attacker's and the 1,000-draw judge
is selection on the attacker's noise; a gap between the two judges is the judge's own noise.

    python examples/attack_stopping_rules.py --data ../shared/data/mnist \\
        --folder results/mnist-paper-iterations --out results/attack-stopping-rules/mnist
    python examples/attack_stopping_rules.py --data /usr/share/datasets/fashion-mnist \\
        --folder results/fashion-mnist-paper-iterations --out results/attack-stopping-rules/fashion-mnist

Writes ``report.md`` and ``results.json`` (a few minutes on two cores).
"""

from __future__ import annotations

import argparse
import os

import glrnet
import numpy as np
from glrnet._files import atomic_write_json, atomic_write_text, read_json
from glrnet.reproduce import evaluation, runner
from glrnet.reproduce.protocol import LABELS, settings_from_record
from glrnet.robustness.adaptive import apgd

RULES = {"first": {"keep_success": True}, "latest": {"keep_success": False},
         "best-loss": {"keep_success": False, "best_loss": True}, "latest, judge-like votes": {"keep_success": False}}
VOTERS = 10                         # judge-like predictions in the vote's success test
ATTACK = "apgd_ce_eot_bpda"
INDEPENDENT_SEED = 1_000_003        # the 1,000-draw judge's noise: neither the judge's nor the attacker's


class _JudgeLikeVotes:
    """The attacker's gradients, and as its prediction the majority vote of ``VOTERS`` independent
    noise-averaged predictions with the judge's number of draws (ties: the smallest class)."""

    def __init__(self, attacker, trained, settings, seed, threads):
        self.attacker, self.n_classes = attacker, trained.n_classes
        self.voters = [evaluation.judge(trained, True, settings, seed + INDEPENDENT_SEED + 1 + v, threads)
                       for v in range(VOTERS)]

    def loss_gradient(self, X, y, **kwargs):
        return self.attacker.loss_gradient(X, y, **kwargs)

    def predict(self, X):
        votes = np.stack([voter.predict(X) for voter in self.voters])
        counts = np.stack([(votes == c).sum(axis=0) for c in range(self.n_classes)], axis=1)
        return np.argmax(counts, axis=1)


def measure(trained, X, y, eps, settings, seed, threads):
    offset = [key for key, *_ in evaluation.adaptive_attacks(True)].index(ATTACK)
    judges = {"judge": evaluation.judge(trained, True, settings, seed, threads),
              "judge, 1,000 draws": evaluation.judge(trained, True, settings, seed + INDEPENDENT_SEED, threads,
                                                     replications=1000)}
    out = {}
    for rule, options in RULES.items():
        attacker = evaluation._attacker(trained, settings, seed, threads, "bpda", offset=offset,
                                        replications=settings.eot_gradient_replications)
        attacking = _JudgeLikeVotes(attacker, trained, settings, seed, threads) if "votes" in rule else attacker
        X_adv = apgd(attacking, X, y, eps, steps=settings.apgd_steps, seed=seed, **options).X_adv
        out[rule] = {name: float(np.mean(j.predict(X_adv) == y)) for name, j in judges.items()}
        out[rule]["attacker's own noise"] = float(np.mean(attacker.predict(X_adv) == y))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the IDX directory the folder was made from")
    parser.add_argument("--folder", required=True, help="a glrnet reproduce --out folder")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="*", default=["glr-sigmoid", "glr-threshold", "glr-sigmoid-01"])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    settings = settings_from_record(read_json(os.path.join(args.folder, "cache", "protocol.json"),
                                              "protocol record")["settings"])
    summary = read_json(os.path.join(args.folder, "results.json"), "reproduction results")
    seeds = [entry["seed"] for entry in summary["per_seed"]]
    eps = float(summary["per_seed"][seeds.index(args.seed)]["fgsm_eps"])
    data = runner._load_data(args.data, args.seed, settings)
    X, y = runner._attack_rows(data, settings, args.seed)
    X, y = X[:settings.adaptive_images], y[:settings.adaptive_images]
    results = {}
    for name in args.models:
        trained = glrnet.MLP.load(os.path.join(args.folder, "cache", f"seed{args.seed}", f"{name}.npz"))
        results[name] = measure(trained, X, y, eps, settings, args.seed, args.threads)
        print(name, results[name], flush=True)
    os.makedirs(args.out, exist_ok=True)
    atomic_write_json(os.path.join(args.out, "results.json"),
                      {"data": data.name, "seed": args.seed, "eps": eps, "images": len(y), "results": results})
    columns = ["judge", "judge, 1,000 draws", "attacker's own noise"]
    lines = [f"# Which point an attack returns, and who it fools ({data.name}, seed {args.seed})", "",
             (f"APGD-CE ({settings.apgd_steps} steps, EOT over {settings.eot_draws} BPDA draws) at L-inf eps "
              f"{eps:.3f} on the first {len(y)} attacked images; accuracy under the protocol's judge "
              f"({settings.predict_replications} draws), an independent judge of 1,000 draws and the "
              f"attacker's own prediction ({settings.attacker_predict_replications} draws). Rules: first "
              "fooling iterate (the attack stops), latest fooling iterate (every step run), highest-loss "
              "iterate (every step run), latest fooling iterate by a success test that is the majority of "
              f"{VOTERS} independent predictions of {settings.predict_replications} draws (the last column stays "
              "the attacker's own 1,000-draw prediction)."), "",
             "| model | rule | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for name, by_rule in results.items():
        for rule, accuracy in by_rule.items():
            lines.append(f"| {LABELS.get(name, name)} | {rule} | " + " | ".join(f"{accuracy[c]:.3f}" for c in columns)
                         + " |")
    atomic_write_text(os.path.join(args.out, "report.md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
