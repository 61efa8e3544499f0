"""Every evaluation figure per slice, and the largest gaps between slices with bootstrap intervals.

For each attribute of the slices CSV, Fairlearn's MetricFrame computes the metrics per value
(slice), their spread (difference: best - worst slice; ratio: worst / best) and, from `BOOTSTRAP`
resamples of the images, 95% intervals of each, so that a gap between two small slices is read
with its uncertainty. Classification: count, accuracy, macro F1, top-label calibration error
(ECE) and each class's recall; multi-label: count, exact-match accuracy, macro F1 over labels and
each label's recall.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from visionflow.fairness.meta import MISSING, Slices

BOOTSTRAP = 200
QUANTILES = (0.025, 0.975)
GAP_METRICS = ("accuracy", "macro_f1", "ece")  # the gaps reported and checked (recalls stay in the table)
SMALL = 30  # slices with fewer images are marked: their figures move a lot from image to image


def _metrics(targets: np.ndarray, probs: np.ndarray, classes: list[str], exclusive: bool) -> dict[str, Callable]:
    """Metric functions of row indices (MetricFrame passes the same indices as truth and prediction,
    so a metric can read the probabilities as well as the labels)."""
    from sklearn.metrics import f1_score

    from visionflow.calibration import reliability

    if exclusive:
        pred = probs.argmax(1)
        labels = list(range(len(classes)))
        out = {"count": lambda i, _: float(len(i)),
               "accuracy": lambda i, _: float((pred[i] == targets[i]).mean()),
               "macro_f1": lambda i, _: float(f1_score(targets[i], pred[i], labels=labels, average="macro",
                                                       zero_division=0)),
               "ece": lambda i, _: float(reliability(probs[i], targets[i])["ece"])}
        for k, c in enumerate(classes):
            out[f"recall:{c}"] = (lambda k: lambda i, _: float((pred[i][targets[i] == k] == k).mean())
                                  if (targets[i] == k).any() else math.nan)(k)
        return out
    decided = probs >= 0.5
    truth = np.asarray(targets) > 0.5
    out = {"count": lambda i, _: float(len(i)),
           "accuracy": lambda i, _: float((decided[i] == truth[i]).all(1).mean()),
           "macro_f1": lambda i, _: float(f1_score(truth[i], decided[i], average="macro", zero_division=0))}
    for k, c in enumerate(classes):
        out[f"recall:{c}"] = (lambda k: lambda i, _: float(decided[i][truth[i][:, k], k].mean())
                              if truth[i][:, k].any() else math.nan)(k)
    return out


def _clean(v) -> float | None:
    v = float(v)
    return None if math.isnan(v) else round(v, 4)


def slice_metrics(slices: Slices, targets: np.ndarray, probs: np.ndarray, classes: list[str], exclusive: bool,
                  seed: int = 0) -> dict:
    """{"attributes": {name: {"slices": [...], "gaps": {...}}}, "unmatched", "unused_rows"} for
    the images whose predictions are `probs` and truth `targets` (the order of `slices`)."""
    from fairlearn.metrics import MetricFrame

    fns = _metrics(np.asarray(targets), np.asarray(probs, np.float64), classes, exclusive)
    rows = np.arange(len(probs))
    out: dict = {"attributes": {}, "unmatched": len(slices.unmatched), "unused_rows": slices.unused_rows,
                 "bootstrap": BOOTSTRAP}
    for attribute in slices.attributes:
        values = np.array(slices.values[attribute], dtype=object)
        keep = values != MISSING
        if len({*values[keep]}) < 1:
            continue
        mf = MetricFrame(metrics=fns, y_true=rows[keep], y_pred=rows[keep],
                         sensitive_features={attribute: values[keep].astype(str)},
                         n_boot=BOOTSTRAP, ci_quantiles=list(QUANTILES), random_state=seed)
        by, lo, hi = mf.by_group, mf.by_group_ci[0], mf.by_group_ci[-1]
        table = []
        for value in by.index:
            row = {"value": str(value), **{m: _clean(by.loc[value, m]) for m in fns}}
            row["count"] = int(by.loc[value, "count"])
            row["accuracy_95"] = [_clean(lo.loc[value, "accuracy"]), _clean(hi.loc[value, "accuracy"])]
            row["small"] = row["count"] < SMALL
            table.append(row)
        diff, ratio = mf.difference(), mf.ratio()
        dlo, dhi = mf.difference_ci()
        rlo, rhi = mf.ratio_ci()
        gaps = {}
        for m in GAP_METRICS:
            if m not in fns:
                continue
            column = by[m].astype(float)
            # ECE: lower is better, so the worst slice has the highest value
            worst = column.idxmax() if m == "ece" else column.idxmin()
            best = column.idxmin() if m == "ece" else column.idxmax()
            gaps[m] = {"difference": _clean(diff[m]), "difference_95": [_clean(dlo[m]), _clean(dhi[m])],
                       "ratio": _clean(ratio[m]), "ratio_95": [_clean(rlo[m]), _clean(rhi[m])],
                       "worst": str(worst), "best": str(best)}
        out["attributes"][attribute] = {"slices": table, "gaps": gaps, "missing": int((~keep).sum())}
    return out


def largest_gap(result: dict, metric: str = "accuracy") -> tuple[str, dict] | None:
    """(attribute, gap) with the largest `metric` difference between slices."""
    found = [(a, v["gaps"][metric]) for a, v in result["attributes"].items()
             if metric in v["gaps"] and v["gaps"][metric]["difference"] is not None]
    return max(found, key=lambda t: t[1]["difference"]) if found else None


def format_table(result: dict, classes: list[str]) -> str:
    """One row per attribute value, named by attribute; then the gaps with their intervals."""
    def cell(v, width=7):
        return f"{'-':>{width}}" if v is None else f"{v:{width}.3f}"

    recall_cols = [f"recall:{c}" for c in classes]
    short = [c if len(c) <= 10 else c[:9] + "~" for c in classes]
    head = (f"{'slice':<28}{'count':>6}{'accuracy':>9}  {'95%':<13}{'F1':>7}{'ECE':>7}  "
            + "".join(f"{s:>11}" for s in short))
    lines = ["recall is per class within the slice; * marks slices under "
             f"{SMALL} images (read their figures with their intervals)", head]
    for attribute, block in result["attributes"].items():
        for row in block["slices"]:
            name = f"{attribute}={row['value']}" + (" *" if row["small"] else "")
            lo, hi = row["accuracy_95"]
            interval = f"{lo:.2f}-{hi:.2f}" if lo is not None else "-"
            lines.append(f"{name[:28]:<28}{row['count']:6d}{cell(row['accuracy'], 9)}  {interval:<13}"
                         f"{cell(row['macro_f1'])}{cell(row.get('ece'))}  "
                         + "".join(cell(row.get(c), 11) for c in recall_cols))
    lines.append("")
    lines.append("largest gaps (best - worst slice, and worst / best; bootstrap 95% intervals):")
    for attribute, block in result["attributes"].items():
        for metric, g in block["gaps"].items():
            if g["difference"] is None:
                continue
            lines.append(f"  {attribute:<16}{metric:<9} difference {g['difference']:.3f} "
                         f"[{g['difference_95'][0]:.3f}, {g['difference_95'][1]:.3f}]  ratio "
                         f"{cell(g['ratio'], 5).strip()} [{cell(g['ratio_95'][0], 5).strip()}, "
                         f"{cell(g['ratio_95'][1], 5).strip()}]  worst {g['worst']}, best {g['best']}")
    if result["unmatched"]:
        lines.append(f"{result['unmatched']} image(s) have no row in the slices file and count in no slice.")
    return "\n".join(lines)


def plot(result: dict, path) -> None:
    """Accuracy per slice with its bootstrap 95% interval, one panel row per attribute."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = list(result["attributes"].items())
    n = sum(len(b["slices"]) for _, b in blocks)
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.32 * n))
    labels, y = [], 0
    for attribute, block in blocks:
        for row in block["slices"]:
            lo, hi = row["accuracy_95"]
            acc = row["accuracy"] or 0.0
            ax.barh(y, acc, color="#c0504d" if row["value"] == block["gaps"].get("accuracy", {}).get("worst")
                    else "#4f81bd")
            if lo is not None:
                ax.errorbar(acc, y, xerr=[[max(0.0, acc - lo)], [max(0.0, hi - acc)]], color="k", capsize=3)
            labels.append(f"{attribute}={row['value']} (n={row['count']})")
            y += 1
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1.02), xlabel="accuracy (bootstrap 95% interval)", title="accuracy by slice")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
