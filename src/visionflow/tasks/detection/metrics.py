"""Detection metrics by the COCO protocol (pycocotools' COCOeval): mAP@0.5, mAP@0.5:0.95, AP per
class and by box size, PR curves; and precision/recall at the operating score threshold.

Boxes marked difficult (VOC) or crowd (COCO) are passed as COCO crowd regions: a detection on one
is neither a true nor a false positive, and missing one costs nothing.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from visionflow.tasks.detection.annotations import Truth
from visionflow.tasks.detection.boxes import SIZES, iou

MATCH_IOU = 0.5  # a detection is right when it overlaps an unmatched true box of its class this much


def _coco_inputs(truths: list[Truth], detections: list, classes: list[str], sizes: list[tuple[int, int]]):
    images = [{"id": i + 1, "width": int(w), "height": int(h)} for i, (w, h) in enumerate(sizes)]
    anns, dets = [], []
    for i, t in enumerate(truths):
        for box, label, hard in zip(t.boxes, t.labels, t.ignore):
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(label) + 1,
                         "bbox": [float(box[0]), float(box[1]), w, h], "area": w * h, "iscrowd": int(hard)})
    for i, (boxes, scores, labels) in enumerate(detections):
        for box, score, label in zip(boxes, scores, labels):
            dets.append({"image_id": i + 1, "category_id": int(label) + 1, "score": float(score),
                         "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]})
    cats = [{"id": k + 1, "name": name} for k, name in enumerate(classes)]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def coco_evaluate(truths: list[Truth], detections: list, classes: list[str], sizes: list[tuple[int, int]]) -> dict:
    """COCO figures of `detections` ((boxes, scores, labels) per image) against `truths`; `sizes`
    (width, height) per image. Values of -1 mean "no true box to score" (as pycocotools says)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_data, dets = _coco_inputs(truths, detections, classes, sizes)
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        gt = COCO()
        gt.dataset = gt_data
        gt.createIndex()
        if not dets:
            return _empty(classes, truths)
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"]  # (iou thresholds, recall points, classes, areas, max dets)
    per_class = {}
    for k, name in enumerate(classes):
        p50 = precision[0, :, k, 0, -1]
        pall = precision[:, :, k, 0, -1]
        n_true = int(sum(((t.labels == k) & ~t.ignore).sum() for t in truths))
        per_class[name] = {"ap50": _mean(p50), "ap50_95": _mean(pall), "boxes": n_true}
    stats = ev.stats
    return {"map50": _fix(stats[1]), "map50_95": _fix(stats[0]), "map75": _fix(stats[2]),
            "by_size": {s: _fix(stats[3 + i]) for i, s in enumerate(SIZES)},
            "recall_at_100": _fix(stats[8]), "per_class": per_class,
            "pr_curves": {name: {"recall": ev.params.recThrs.round(3).tolist(),
                                 "precision": np.where(precision[0, :, k, 0, -1] < 0, 0,
                                                       precision[0, :, k, 0, -1]).round(4).tolist()}
                          for k, name in enumerate(classes)}}


def _mean(values: np.ndarray) -> float:
    valid = values[values > -1]
    return round(float(valid.mean()), 4) if valid.size else -1.0


def _fix(value: float) -> float:
    return round(float(value), 4)


def _empty(classes: list[str], truths: list[Truth]) -> dict:
    has = any(len(t.boxes) for t in truths)
    zero = 0.0 if has else -1.0
    return {"map50": zero, "map50_95": zero, "map75": zero, "by_size": {s: zero for s in SIZES},
            "recall_at_100": zero, "per_class": {n: {"ap50": zero, "ap50_95": zero,
                                                     "boxes": int(sum((t.labels == k).sum() for t in truths))}
                                                 for k, n in enumerate(classes)},
            "pr_curves": {}}


def match(truth: Truth, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> tuple[int, int, int]:
    """(true positives, false positives, missed boxes) of one image's detections, greedily by score
    at MATCH_IOU; detections on difficult boxes count as neither."""
    tp = fp = 0
    used = np.zeros(len(truth.boxes), bool)
    overlaps = iou(boxes, truth.boxes) if len(boxes) and len(truth.boxes) else np.zeros((len(boxes), len(truth.boxes)))
    for d in np.argsort(-scores, kind="stable"):
        same = (truth.labels == labels[d]) & ~used
        if same.any():
            cand = np.where(same, overlaps[d], -1.0)
            j = int(cand.argmax())
            if cand[j] >= MATCH_IOU:
                used[j] = True
                if not truth.ignore[j]:
                    tp += 1
                continue
        hard = (truth.labels == labels[d]) & truth.ignore
        if hard.any() and overlaps[d][hard].max() >= MATCH_IOU:
            continue
        fp += 1
    missed = int((~used & ~truth.ignore).sum())
    return tp, fp, missed


def operating_point(truths: list[Truth], detections: list) -> dict:
    """Precision, recall and F1 of the detections as given (already thresholded)."""
    tp = fp = fn = 0
    for t, (boxes, scores, labels) in zip(truths, detections):
        a, b, c = match(t, boxes, scores, labels)
        tp, fp, fn = tp + a, fp + b, fn + c
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "true_positives": tp, "false_positives": fp, "missed": fn}
