"""Evaluation: accuracy, per-class precision/recall/F1, confusion matrix, ROC-AUC, calibration, top-k.

Metrics come from scikit-learn. Every evaluation also keeps the per-image probabilities
(`predictions.csv`), from which the report rebuilds its tables, curves and galleries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn import metrics as skm

from visionflow import plots
from visionflow.calibration import reliability
from visionflow.data.scan import scan_split
from visionflow.errors import DataError
from visionflow.predict import Predictor, load
from visionflow.rundir import write_csv, write_json

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


def evaluate_paths(predictor: Predictor, paths: list[str], y_true: list[int], batch_size: int = 64) -> dict:
    """Predicts `paths` and computes metrics; unreadable files are counted and left out.

    The result holds the per-image rows under "predictions" (see `prediction_rows`).
    """
    probs, kept, kept_paths, failed = [], [], [], []
    for path, pred, y in zip(paths, predictor.iter_predict(paths, batch_size=batch_size), y_true):
        if pred.ok:
            probs.append([pred.probabilities[c] for c in predictor.classes])
            kept.append(y)
            kept_paths.append(path)
        else:
            failed.append({"path": pred.source, "reason": pred.error})
    if not kept:
        raise DataError("None of the evaluation images could be read.")
    out = compute_metrics(np.array(kept), np.array(probs), predictor.classes)
    out["failed"] = failed
    out["predictions"] = prediction_rows(kept_paths, np.array(kept), np.array(probs), predictor.classes)
    return out


def prediction_rows(paths: list[str], y_true: np.ndarray, probs: np.ndarray, classes: list[str]) -> list[dict]:
    """One row per image: path, label, predicted, confidence and prob:<class> for each class."""
    rows = []
    for path, y, p in zip(paths, y_true, probs):
        k = int(np.argmax(p))
        row = {"path": path, "label": classes[int(y)], "predicted": classes[k], "confidence": round(float(p[k]), 6)}
        row.update({f"prob:{c}": round(float(v), 6) for c, v in zip(classes, p)})
        rows.append(row)
    return rows


def read_predictions(path: Path, classes: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(paths, true class indices, probabilities (n, k)) from a predictions.csv."""
    import csv

    index = {c: i for i, c in enumerate(classes)}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    paths = [r["path"] for r in rows]
    y = np.array([index[r["label"]] for r in rows], dtype=int)
    probs = np.array([[float(r[f"prob:{c}"]) for c in classes] for r in rows], dtype=np.float64).reshape(len(rows), len(classes))
    return paths, y, probs


def evaluate(model: str | Path | Predictor, data: str | Path, out: str | Path | None = None,
             batch_size: int = 64, unsafe: bool = False, backend: str = "auto", tta: bool | None = None) -> dict:
    """Evaluates a trained model on a folder of class folders.

    Args:
        model: a run directory, a model file, or a loaded Predictor.
        data: a folder whose subfolders are (some of) the model's classes, e.g. data/validation.
        out: where to write report.html, metrics.json, predictions.csv and the plots; defaults to
            <run>/evaluations/<folder name>/ (the model file's folder, or the current folder for a
            Predictor).
        batch_size: images per model call.
        unsafe: passed to `load` for legacy or Lambda-holding model files.
        backend: passed to `load`: auto (LiteRT or ONNX Runtime where installed), keras, tflite or onnx.
        tta: flip test-time augmentation (see `load`); None keeps a given Predictor's own setting.

    Returns:
        The metrics dict (also written as metrics.json), with the "skipped" files, the per-image
        "predictions" rows (also written as predictions.csv) and the "out" folder added.

    Raises:
        DataError: the folder is missing, holds no usable images, or a class unknown to the model.
    """
    predictor = model if isinstance(model, Predictor) else load(model, unsafe=unsafe, backend=backend)
    if tta is not None:
        predictor.tta = bool(tta)
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
    result["model"] = predictor.source
    result["backend"] = predictor.backend
    result["tta"] = predictor.tta
    result["classes"] = predictor.classes
    result["skipped"] = [{"path": r.path, "reason": r.reason} for r in records if not r.ok]
    if out is None:
        if isinstance(model, Predictor):
            base = Path(".")
        else:
            base = Path(model) if Path(model).is_dir() else Path(model).parent
        out = base / "evaluations" / (data.resolve().name or "data")
    write_report(result, predictor.classes, Path(out), predictor)
    result["out"] = str(out)
    return result


def write_report(result: dict, classes: list[str], out: Path, predictor: Predictor | None = None) -> None:
    """metrics.json, predictions.csv, the plots, and report.html into `out` (`predictor` draws
    the Grad-CAM overlays)."""
    from visionflow.report import evaluation_report

    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "predictions.csv", result["predictions"])
    write_json(out / "metrics.json", {k: v for k, v in result.items() if k != "predictions"})
    write_plots(result, classes, out, name=out.name)
    evaluation_report(out, predictor)


def write_plots(result: dict, classes: list[str], folder: Path, name: str, prefix: str = "") -> list[Path]:
    """Confusion matrices (counts, normalised), reliability diagram and, for two classes, ROC/PR
    curves of one evaluation, as `folder/{prefix}<plot>.png`; returns the files written."""
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
