"""Single-label classification figures: accuracy, per-class precision/recall/F1, confusion matrix,
ROC-AUC, calibration, top-k; the per-image rows and plots they come with.

Metrics come from scikit-learn. Every evaluation also keeps the per-image probabilities
(`predictions.csv`), from which the report rebuilds its tables, curves and galleries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.calibration import reliability
from visionflow.predictions import read_predictions  # noqa: F401  (predictions.csv of a classifier)

TOP_K = 5


def compute_metrics(y_true: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict:
    """All evaluation figures for true class indices `y_true` and probabilities (n, num_classes)."""
    from sklearn import metrics as skm

    y_true = np.asarray(y_true)
    y_pred = probs.argmax(axis=1)
    labels = list(range(len(classes)))
    report = skm.classification_report(y_true, y_pred, labels=labels, target_names=classes,
                                       output_dict=True, zero_division=0)
    out: dict = {
        "images": int(len(y_true)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "per_class": {c: {k: (int(v) if k == "support" else float(v)) for k, v in report[c].items()}
                      for c in classes},
        "macro_avg": {k: float(v) for k, v in report["macro avg"].items() if k != "support"},
        "weighted_avg": {k: float(v) for k, v in report["weighted avg"].items() if k != "support"},
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "log_loss": float(skm.log_loss(y_true, _normalized(probs), labels=labels)),
    }
    calib = reliability(probs, y_true)
    out["ece"] = calib["ece"]
    out["reliability"] = calib["bins"]
    if len(classes) == 2 and len(set(y_true.tolist())) == 2:
        out["roc_auc"] = float(skm.roc_auc_score(y_true, probs[:, 1]))
        out["average_precision"] = float(skm.average_precision_score(y_true, probs[:, 1]))
    if len(classes) > TOP_K:
        out[f"top_{TOP_K}_accuracy"] = float(skm.top_k_accuracy_score(y_true, probs, k=TOP_K, labels=labels))
    return out


def _normalized(probs: np.ndarray) -> np.ndarray:
    """Float32 softmax rows can sum to 1 +- 1e-7, which scikit-learn warns about."""
    p = np.clip(probs, 1e-7, 1.0)
    return p / p.sum(axis=1, keepdims=True)


def format_table(m: dict, classes: list[str]) -> str:
    """The metrics as a plain-text table."""
    width = max(12, *(len(c) for c in classes))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for c in classes:
        r = m["per_class"][c]
        lines.append(f"{c:<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  {r['f1-score']:5.3f}  {r['support']:7d}")
    for key, name in (("macro_avg", "macro avg"), ("weighted_avg", "weighted avg")):
        r = m[key]
        lines.append(f"{name:<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  {r['f1-score']:5.3f}  {m['images']:7d}")
    extras = [f"accuracy {m['accuracy']:.4f}"]
    if "roc_auc" in m:
        extras.append(f"ROC-AUC {m['roc_auc']:.4f}")
    if f"top_{TOP_K}_accuracy" in m:
        extras.append(f"top-{TOP_K} accuracy {m[f'top_{TOP_K}_accuracy']:.4f}")
    extras.append(f"log loss {m['log_loss']:.4f}")
    extras.append(f"ECE {m['ece']:.4f}")
    return "\n".join(lines + ["", "  ".join(extras)])


def prediction_rows(paths: list[str], y_true: np.ndarray, probs: np.ndarray, classes: list[str]) -> list[dict]:
    """One row per image: path, label, predicted, confidence and prob:<class> for each class."""
    rows = []
    for path, y, p in zip(paths, y_true, probs):
        k = int(np.argmax(p))
        row = {"path": path, "label": classes[int(y)], "predicted": classes[k], "confidence": round(float(p[k]), 6)}
        row.update({f"prob:{c}": round(float(v), 6) for c, v in zip(classes, p)})
        rows.append(row)
    return rows


def write_plots(result: dict, classes: list[str], folder: Path, name: str, prefix: str = "") -> list[Path]:
    """Confusion matrices (counts, normalised), reliability diagram and, for two classes, ROC/PR
    curves of one evaluation, as `folder/{prefix}<plot>.png`; returns the files written."""
    from visionflow import plots

    matrix = np.array(result["confusion_matrix"])
    written = [folder / f"{prefix}confusion_matrix.png", folder / f"{prefix}confusion_normalised.png",
               folder / f"{prefix}reliability.png"]
    plots.confusion_matrix(matrix, classes, written[0], title=confusion_title(result, name))
    plots.confusion_normalised(matrix, classes, written[1], title=f"{name}: share of each true class")
    plots.reliability({"model": {"ece": result["ece"], "bins": result["reliability"]}}, written[2])
    rows = result.get("predictions") or []
    if len(classes) == 2 and rows and "roc_auc" in result:
        y = np.array([r["label"] == classes[1] for r in rows], dtype=int)
        scores = np.array([r[f"prob:{classes[1]}"] for r in rows])
        plots.roc_pr(y, scores, classes[1], folder / f"{prefix}roc_pr.png")
        written.append(folder / f"{prefix}roc_pr.png")
    return written


def confusion_title(result: dict, name: str) -> str:
    return f"{name}: {result['images']} images, accuracy {result['accuracy']:.3f}"
