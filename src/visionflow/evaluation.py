"""Evaluation of a trained model on labelled images: the task's metrics, per-image rows, plots
and report.

What is measured depends on the model's task (`visionflow.tasks`: accuracy, confusion matrix and
calibration for classification; mAP and F1 for multilabel). Every evaluation also keeps the
per-image probabilities (`predictions.csv`), from which the report rebuilds its tables, curves and
galleries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.errors import ConfigError, DataError
from visionflow.options import EvaluateOptions
from visionflow.predict import Predictor, load
from visionflow.rundir import write_csv, write_json


def evaluate_paths(predictor: Predictor, paths: list[str], targets: np.ndarray, batch_size: int = 64,
                   arrays: bool = False) -> dict:
    """Predicts `paths` and computes the task's metrics against `targets` (`Task.targets`);
    unreadable files are counted and left out.

    The result holds the per-image rows under "predictions" (see the task's `prediction_rows`)
    and, with `arrays`, (paths, targets, probabilities) of the images read under "arrays".
    """
    probs, kept, kept_paths, failed = [], [], [], []
    for path, pred, y in zip(paths, predictor.iter_predict(paths, batch_size=batch_size), targets):
        if pred.ok:
            probs.append([pred.probabilities[c] for c in predictor.classes])
            kept.append(y)
            kept_paths.append(path)
        else:
            failed.append({"path": pred.source, "reason": pred.error})
    if not kept:
        raise DataError("None of the evaluation images could be read.")
    task = predictor.task
    out = task.compute_metrics(np.array(kept), np.array(probs), predictor)
    out["failed"] = failed
    out["predictions"] = task.prediction_rows(kept_paths, np.array(kept), np.array(probs), predictor)
    if arrays:
        out["arrays"] = (kept_paths, np.array(kept), np.array(probs))
    return out


def evaluate(model: str | Path | Predictor, data: str | Path, out: str | Path | None = None,
             batch_size: int = EvaluateOptions.batch_size, unsafe: bool = False,
             backend: str = EvaluateOptions.backend, tta: bool | None = None, labels: str | Path | None = None,
             slices: str | Path | None = None) -> dict:
    """Evaluates a trained model on labelled images.

    Args:
        model: a run directory, a model file, or a loaded Predictor.
        data: for a classifier, a folder whose subfolders are (some of) the model's classes, e.g.
            data/validation, or a folder with a labels.csv (image,label); for a multi-label model, a
            folder with a labels.csv (image,labels). A model that reads table columns finds them
            there too, and the result gains "modalities" (`visionflow.tabular.evaluate`).
        out: where to write report.html, metrics.json, predictions.csv and the plots; defaults to
            <run>/evaluations/<folder name>/ (the model file's folder, or the current folder for a
            Predictor).
        batch_size: images per model call.
        unsafe: passed to `load` for legacy or Lambda-holding model files.
        backend: passed to `load`: auto (LiteRT or ONNX Runtime where installed), keras, tflite or onnx.
        tta: flip test-time augmentation (see `load`); None keeps a given Predictor's own setting.
        labels: the labels CSV (default DATA/labels.csv).
        slices: a CSV with an `image` column (paths relative to `data`, or file names) and one
            column per attribute: every metric per attribute value, the gaps between slices with
            bootstrap intervals ("slices" in the result, slices.png, a report section).

    Returns:
        The metrics dict (also written as metrics.json), with the "skipped" files, the per-image
        "predictions" rows (also written as predictions.csv) and the "out" folder added.

    Raises:
        DataError: the folder is missing, holds no usable images, or a class unknown to the model.
    """
    table = None
    if slices is not None:
        from visionflow.fairness import meta

        table = meta.load(slices)  # a bad CSV fails before the model loads
    predictor = model if isinstance(model, Predictor) else load(model, unsafe=unsafe, backend=backend)
    if tta is not None:
        if tta and not predictor.task.mirrorable:
            raise ConfigError(f"tta averages each image with its mirror image; a {predictor.task.name} model's answers "
                              f"a mirror changes.")
        predictor.tta = bool(tta)
    data = Path(data)
    if not data.is_dir():
        raise DataError(f"Evaluation folder {data} does not exist or is not a folder.")
    found = predictor.task.evaluation_data(data, predictor, labels)
    if predictor.fusion is not None:
        if not any(r.values for r in found.usable):
            raise DataError(f"The model reads the table columns {', '.join(predictor.fusion.names)} beside each image; "
                            f"evaluate it on a folder with a labels.csv holding them (or pass --labels CSV).")
        predictor.use_table({r.path: r.values or {} for r in found.usable})
    result = evaluate_paths(predictor, [r.path for r in found.usable], found.targets, batch_size, arrays=True)
    if predictor.second:
        from visionflow.tabular.evaluate import modalities

        result["modalities"] = modalities(predictor, [r.path for r in found.usable],
                                          [r.values or {} for r in found.usable], found.targets)
    result.update(found.source)
    result["data"] = str(data)
    result["model"] = predictor.source
    result["task"] = predictor.task.name
    result["backend"] = predictor.backend
    result["tta"] = predictor.tta
    result["classes"] = predictor.classes
    result["skipped"] = [{"path": r.path, "reason": r.reason} for r in found.records if not r.ok]
    paths, targets, probs = result.pop("arrays")
    if table is not None:
        from visionflow.fairness import meta
        from visionflow.fairness.slices import slice_metrics

        groups = meta.match(table, data, paths)
        result["slices"] = {"file": str(slices), **slice_metrics(groups, targets, probs, predictor.classes,
                                                                  predictor.task.exclusive)}
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
    from visionflow import tasks
    from visionflow.report import evaluation_report

    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "predictions.csv", result["predictions"])
    write_json(out / "metrics.json", {k: v for k, v in result.items() if k not in ("predictions", "arrays")})
    tasks.get(result.get("task")).write_plots(result, classes, out, name=out.name)
    if result.get("slices"):
        from visionflow.fairness.slices import plot

        plot(result["slices"], out / "slices.png")
    evaluation_report(out, predictor)
