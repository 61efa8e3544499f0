"""The figures of semantic segmentation, from one confusion matrix over every labelled pixel
(void pixels are left out, as the benchmarks do): IoU and accuracy per class, their mean (mIoU,
over the classes that occur in the truth or the predictions), pixel accuracy and
frequency-weighted IoU."""

from __future__ import annotations

import numpy as np

from visionflow.tasks.segmentation.masks import VOID


def confusion(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) pixel counts, rows the truth, columns the prediction; void pixels skipped."""
    keep = truth != VOID
    t, p = truth[keep].astype(np.int64), predicted[keep].astype(np.int64)
    return np.bincount(t * classes + p, minlength=classes * classes).reshape(classes, classes)


def scores(matrix: np.ndarray, names: list[str]) -> dict:
    """miou, pixel_accuracy, fw_iou, mean_accuracy, iou and accuracy per class (None where a class
    is neither in the truth nor predicted), pixels per class."""
    matrix = matrix.astype(np.float64)
    tp = np.diag(matrix)
    truth, predicted = matrix.sum(1), matrix.sum(0)
    union = truth + predicted - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        acc = np.where(truth > 0, tp / truth, np.nan)
    total = matrix.sum()
    freq = truth / total if total else truth
    return {
        "miou": _round(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0,
        "pixel_accuracy": _round(tp.sum() / total) if total else 0.0,
        "mean_accuracy": _round(np.nanmean(acc)) if np.isfinite(acc).any() else 0.0,
        "fw_iou": _round(np.nansum(freq * np.nan_to_num(iou))) if total else 0.0,
        "iou": {n: _round(v) for n, v in zip(names, iou)},
        "accuracy": {n: _round(v) for n, v in zip(names, acc)},
        "pixels": {n: int(v) for n, v in zip(names, truth)},
        "confusion": matrix.astype(np.int64).tolist(),
    }


def image_iou(truth: np.ndarray, predicted: np.ndarray, classes: int) -> float:
    """One image's mIoU over the classes in its truth or prediction (1.0 when it has no labelled pixel)."""
    s = scores(confusion(truth, predicted, classes), [str(i) for i in range(classes)])
    return s["miou"] if (truth != VOID).any() else 1.0


def _round(v) -> float | None:
    v = float(v)
    return None if not np.isfinite(v) else round(v, 4)
