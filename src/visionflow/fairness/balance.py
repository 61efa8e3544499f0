"""Slices before training (`visionflow doctor DIR --slices CSV`): how many images each slice has,
of which classes, and whether an attribute goes with the label (a shortcut a model can learn
instead of the class: all daisies from one camera)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from visionflow.fairness.meta import MISSING, Slices
from visionflow.fairness.slices import SMALL

ASSOCIATED = 0.3  # Cramer's V from which an attribute is said to go with the label


def cramers_v(table: np.ndarray) -> tuple[float, float]:
    """(Cramer's V, chi-square p-value) of a contingency table (rows: attribute values, columns: classes)."""
    from scipy.stats import chi2_contingency

    table = table[table.sum(1) > 0][:, table.sum(0) > 0]
    if min(table.shape) < 2:
        return 0.0, 1.0
    chi2, p, _, _ = chi2_contingency(table, correction=False)
    return float(np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1)))), float(p)


def slice_balance(slices: Slices, labels: list[str], splits: list[str]) -> dict:
    """Per attribute: each value's image count, class counts and split counts; the association
    between attribute and label; warnings for small slices and slices missing classes."""
    classes = sorted(set(labels))
    out: dict = {"attributes": {}, "unmatched": len(slices.unmatched), "unused_rows": slices.unused_rows,
                 "warnings": []}
    for attribute in slices.attributes:
        values = slices.values[attribute]
        names = sorted({v for v in values if v != MISSING})
        rows = []
        table = np.zeros((len(names), len(classes)), int)
        for i, value in enumerate(names):
            picked = [k for k, v in enumerate(values) if v == value]
            per_class = Counter(labels[k] for k in picked)
            table[i] = [per_class.get(c, 0) for c in classes]
            rows.append({"value": value, "images": len(picked), "classes": {c: per_class.get(c, 0) for c in classes},
                         "splits": dict(Counter(splits[k] for k in picked))})
            if len(picked) < SMALL:
                out["warnings"].append(f"{attribute}={value} has {len(picked)} images: its figures after training "
                                       f"will be rough (under {SMALL}).")
            missing = [c for c in classes if not per_class.get(c)]
            if missing and len(classes) > 1:
                out["warnings"].append(f"{attribute}={value} has no images of {', '.join(missing)}: its recall for "
                                       f"them cannot be measured.")
        v, p = cramers_v(table)
        out["attributes"][attribute] = {"slices": rows, "cramers_v": round(v, 4), "p_value": p,
                                        "missing": sum(1 for x in values if x == MISSING)}
        if v >= ASSOCIATED and p < 0.01:
            out["warnings"].append(f"{attribute} goes with the label (Cramer's V {v:.2f}, p {p:.1g}): a model can learn "
                                   f"{attribute} instead of the class; balance the classes within each {attribute} "
                                   f"or check the slice gaps after training.")
    return out


def format_table(result: dict) -> list[str]:
    lines = []
    for attribute, block in result["attributes"].items():
        classes = list(block["slices"][0]["classes"]) if block["slices"] else []
        lines.append(f"slices by {attribute} (label association: Cramer's V {block['cramers_v']:.2f}):")
        lines.append(f"  {'value':<20}{'images':>7}  " + "".join(f"{c[:10]:>11}" for c in classes))
        for r in block["slices"]:
            lines.append(f"  {r['value'][:20]:<20}{r['images']:7d}  "
                         + "".join(f"{r['classes'][c]:11d}" for c in classes))
        blank = block["missing"] - result["unmatched"]
        if blank > 0:
            lines.append(f"  {blank} image(s) have an empty {attribute} in their row")
    if result["unmatched"]:
        lines.append(f"{result['unmatched']} image(s) have no row in the slices file.")
    lines += [f"warning: {w}" for w in result["warnings"]]
    return lines
