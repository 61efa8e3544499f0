"""Evaluation: accuracy, per-class precision/recall/F1, confusion matrix, ROC-AUC, top-k (scikit-learn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn import metrics as skm

from visionflow import plots
from visionflow.data.scan import scan_split
from visionflow.errors import DataError
from visionflow.predict import Predictor, load
from visionflow.rundir import write_json

TOP_K = 5


def compute_metrics(y_true: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict:
    """All evaluation figures for true class indices `y_true` and probabilities (n, num_classes)."""
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
    if len(classes) == 2 and len(set(y_true.tolist())) == 2:
        out["roc_auc"] = float(skm.roc_auc_score(y_true, probs[:, 1]))
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
    return "\n".join(lines + ["", "  ".join(extras)])


def evaluate_paths(predictor: Predictor, paths: list[str], y_true: list[int], batch_size: int = 64) -> dict:
    """Predicts `paths` and computes metrics; unreadable files are counted and left out."""
    probs, kept, failed = [], [], []
    for pred, y in zip(predictor.iter_predict(paths, batch_size=batch_size), y_true):
        if pred.ok:
            probs.append([pred.probabilities[c] for c in predictor.classes])
            kept.append(y)
        else:
            failed.append({"path": pred.source, "reason": pred.error})
    if not kept:
        raise DataError("None of the evaluation images could be read.")
    out = compute_metrics(np.array(kept), np.array(probs), predictor.classes)
    out["failed"] = failed
    return out


def evaluate(model: str | Path | Predictor, data: str | Path, out: str | Path | None = None,
             batch_size: int = 64, unsafe: bool = False) -> dict:
    """Evaluates a trained model on a folder of class folders.

    Args:
        model: a run directory, a model file, or a loaded Predictor.
        data: a folder whose subfolders are (some of) the model's classes, e.g. data/validation.
        out: where to write metrics.json and confusion_matrix.png; defaults to
            <run>/evaluations/<folder name>/ (the model file's folder, or the current folder for a
            Predictor).
        batch_size: images per model call.
        unsafe: passed to `load` for legacy or Lambda-holding model files.

    Returns:
        The metrics dict (also written as JSON), with "skipped" files and "out" folder added.

    Raises:
        DataError: the folder is missing, holds no usable images, or a class unknown to the model.
    """
    predictor = model if isinstance(model, Predictor) else load(model, unsafe=unsafe)
    data = Path(data)
    if not data.is_dir():
        raise DataError(f"Evaluation folder {data} does not exist or is not a folder.")
    records = scan_split(data, "evaluation", predictor.image_size, classes=predictor.classes)
    good = [r for r in records if r.ok]
    if not good:
        raise DataError(f"No usable images in {data}; expected {data}/<class>/*.jpg with the model's classes "
                        f"({', '.join(predictor.classes)}).")
    index = {c: i for i, c in enumerate(predictor.classes)}
    result = evaluate_paths(predictor, [r.path for r in good], [index[r.label] for r in good], batch_size)
    result["data"] = str(data)
    result["classes"] = predictor.classes
    result["skipped"] = [{"path": r.path, "reason": r.reason} for r in records if not r.ok]
    if out is None:
        if isinstance(model, Predictor):
            base = Path(".")
        else:
            base = Path(model) if Path(model).is_dir() else Path(model).parent
        out = base / "evaluations" / (data.resolve().name or "data")
    write_report(result, predictor.classes, Path(out))
    result["out"] = str(out)
    return result


def write_report(result: dict, classes: list[str], out: Path, prefix: str = "") -> None:
    """metrics JSON and confusion-matrix PNG into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{prefix}metrics.json", result)
    plots.confusion_matrix(np.array(result["confusion_matrix"]), classes, out / f"{prefix}confusion_matrix.png",
                           title=confusion_title(result, out.name))


def confusion_title(result: dict, name: str) -> str:
    return f"{name}: {result['images']} images, accuracy {result['accuracy']:.3f}"
