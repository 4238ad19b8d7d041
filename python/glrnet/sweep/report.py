"""The sweep's report: a markdown table with a row per setting (mean ± standard deviation over the
seeds), a long-format CSV (setting, its grid values, seed, unit, measure, value) and sweep.json,
each written atomically under --out."""
from __future__ import annotations

import csv
import io
import json
import os

from .._files import atomic_write_json, atomic_write_text
from ..reproduce.report import _cell, _mean_std

__all__ = ["MEASURES", "write_report"]

#: The figures of a unit, in the table's order, with their column titles.
MEASURES = (("test_accuracy", "test accuracy"), ("test_accuracy_noise_free", "noise-free"),
            ("attack_accuracy", "under attack"), ("train_loss", "final training loss"))


def _shown(value):
    return json.dumps(value) if isinstance(value, (list, bool)) or value is None else f"{value:g}" \
        if isinstance(value, float) else str(value)


def _rows(spec, units, records):
    """Per setting: its grid values and, per measure, the values over its seeds (seed order)."""
    rows = []
    for i, settings in enumerate(spec.settings):
        mine = [records[u.digest] for u in units if u.setting == i]
        measures = {name: [r["results"][name] for r in mine] for name, _ in MEASURES if name in mine[0]["results"]}
        measures["train_seconds"] = [r["train_seconds"] for r in mine]
        rows.append({"setting": i, "values": {k: settings[k] for k in spec.varied}, "settings": settings,
                     "seeds": [u.seed for u in units if u.setting == i], "measures": measures})
    return rows


def _table(spec, rows, data_name):
    present = [(name, title) for name, title in MEASURES if name in rows[0]["measures"]]
    fixed = {k: v for k, v in rows[0]["settings"].items() if k not in spec.varied}
    evaluate = spec.evaluate
    lines = [f"# glrnet sweep: {len(rows)} setting(s) x {len(spec.seeds)} seed(s) ({data_name})", "",
             f"Mean ± standard deviation over seeds {', '.join(map(str, spec.seeds))}. Test accuracy: the "
             f"prediction with the neuronal noise averaged over {evaluate['replications']} draws"
             + (f"; under attack: PGD (10 steps, eps {evaluate['attack_eps']:g}, through the noise-averaged "
                f"network) on {evaluate['attack_images']} test images" if evaluate["attack_eps"] > 0 else "")
             + ". Every setting shares: " + ", ".join(f"{k} {_shown(v)}" for k, v in fixed.items()) + ".", ""]
    header = ["setting", *spec.varied, *(title for _, title in present), "training seconds"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row["setting"]), *(_shown(row["values"][k]) for k in spec.varied),
                 *(_cell(row["measures"][name]) for name, _ in present),
                 f"{_mean_std(row['measures']['train_seconds'])[0]:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _csv(spec, units, records):
    handle = io.StringIO()
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["setting", *spec.varied, "seed", "unit", "measure", "value"])
    for unit in units:
        record = records[unit.digest]
        values = [_shown(unit.settings[k]) for k in spec.varied]
        for name, value in [*record["results"].items(), ("train_seconds", record["train_seconds"])]:
            writer.writerow([unit.setting, *values, unit.seed, unit.digest, name, repr(float(value))])
    return handle.getvalue()


def write_report(spec, units, records, out_dir, *, data_name, seconds=None):
    """``sweep.md``, ``sweep.csv`` and ``sweep.json`` from every unit's record; returns sweep.json's dict."""
    rows = _rows(spec, units, records)
    report = {
        "spec": spec.source, "data": data_name, "varied": spec.varied, "seeds": spec.seeds, "evaluate": spec.evaluate,
        "seconds": seconds,
        "settings": [{"setting": r["setting"], "values": r["values"], "settings": r["settings"],
                      "summary": {k: _mean_std(v) for k, v in r["measures"].items()}} for r in rows],
        "units": [{"setting": u.setting, "seed": u.seed, "unit": u.digest, "results": records[u.digest]["results"],
                   "train_seconds": records[u.digest]["train_seconds"]} for u in units],
    }
    atomic_write_text(os.path.join(out_dir, "sweep.md"), _table(spec, rows, data_name))
    atomic_write_text(os.path.join(out_dir, "sweep.csv"), _csv(spec, units, records))
    atomic_write_json(os.path.join(out_dir, "sweep.json"), report)
    return report
