"""How well a detector finds boxes: the COCO figures on the validation (and test) images after
training, on any annotated folder with `visionflow evaluate RUN DIR`, and validation mAP@0.5 each
epoch (the metric that picks the kept epoch)."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from visionflow.errors import DataError
from visionflow.network.evaluate import Evaluator, epoch_outputs
from visionflow.tasks.detection.detector import Detector
from visionflow.tasks.detection.metrics import coco_evaluate, match, operating_point

SCORED = 0.001  # lowest score that takes part in mAP (every candidate is ranked)
EPOCH_IMAGES = 300
FIT_IMAGES = 1000  # validation images the operating threshold is fitted on  # validation images scored each epoch (all of them after training)


class ValidationMap(keras.callbacks.Callback):
    """Adds `val_map50` (COCO mAP@0.5 of the validation images) to each epoch's logs."""

    def __init__(self, folder, size: tuple[int, int]):
        super().__init__()
        from visionflow.tasks.detection.pipeline import Images

        self.records = folder.splits["validation"][:EPOCH_IMAGES]
        self.truth = [folder.truth[r.path] for r in self.records]
        self.images = Images(self.records, folder.truth, size)
        self.size = size
        self._decoding = None
        self._batch = None

    def on_epoch_end(self, epoch, logs=None):
        from visionflow.tasks.detection.augment import resize
        from visionflow.tasks.detection.boxes import select
        from visionflow.tasks.detection.models import with_decoding

        if logs is None:
            return
        if self._decoding is None:
            self._decoding = with_decoding(self.model)
            self._batch = np.stack([resize(*self.images.get(i), self.size)[0] for i in range(len(self.images))])
        rows = np.concatenate([epoch_outputs(self._decoding, self._batch[i:i + 16].astype(np.float32), self.model)
                               for i in range(0, len(self._batch), 16)])
        found = []
        for r, rec in zip(rows, self.records):
            found.append(select(r, SCORED, 0.5, (rec.width / self.size[1], rec.height / self.size[0]), (rec.width, rec.height)))
        result = coco_evaluate(self.truth, found, ["c"] * max(1, _classes(self.truth, rows)),
                               [(r.width, r.height) for r in self.records])
        logs["val_map50"] = max(0.0, result["map50"])


def _classes(truths, rows) -> int:
    return rows.shape[-1] - 4


def evaluate_records(detector, records: list, truth: dict, say: Callable[[str], None] | None = None) -> dict:
    """COCO figures of every candidate box, then the operating point (the detector's conf) and one
    row per image (`at_threshold`)."""
    from visionflow.data.decode import decode

    truths, found, sizes = [], [], []
    start = time.perf_counter()
    conf = detector.conf
    detector.conf = min(conf, SCORED)  # mAP ranks every candidate; the operating point uses conf
    try:
        for i in range(0, len(records), 8):
            chunk = records[i:i + 8]
            images = [decode(r.path) for r in chunk]
            for rec, image, got in zip(chunk, images, detector.answers(images)):
                truths.append(truth[rec.path])
                found.append(got)
                sizes.append((image.shape[1], image.shape[0]))
    finally:
        detector.conf = conf
    seconds = time.perf_counter() - start
    result = coco_evaluate(truths, found, detector.classes, sizes)
    result.update(images=len(records), boxes=int(sum((~t.ignore).sum() for t in truths)),
                  seconds_per_image=round(seconds / max(1, len(records)), 4))
    result["_paths"], result["_truths"], result["_all"] = [r.path for r in records], truths, found
    return at_threshold(result, conf, detector.iou)


def at_threshold(result: dict, conf: float, iou: float) -> dict:
    """`result` with its operating point, per-image rows and kept boxes at score threshold `conf`."""
    kept = [tuple(a[s >= conf] for a in (b, s, c)) for b, s, c in result["_all"]]
    truths = result["_truths"]
    result["operating_point"] = {"conf": round(conf, 3), "iou": iou, **operating_point(truths, kept)}
    rows = []
    for path, t, (b, s, c) in zip(result["_paths"], truths, kept):
        tp, fp, missed = match(t, b, s, c)
        rows.append({"path": path, "boxes": int((~t.ignore).sum()), "detected": int(len(b)), "true_positives": tp,
                     "false_positives": fp, "missed": missed})
    result["rows"], result["_found"] = rows, kept
    return result


def fit_conf(result: dict, limit: int = FIT_IMAGES) -> float:
    """The score threshold with the best F1 (ties: the higher threshold) over the result's images."""
    truths, found = result["_truths"][:limit], result["_all"][:limit]
    best, best_f1 = 0.25, -1.0
    for conf in np.round(np.arange(0.05, 0.951, 0.01), 2):
        kept = [tuple(a[s >= conf] for a in (b, s, c)) for b, s, c in found]
        f1 = operating_point(truths, kept)["f1"]
        if f1 >= best_f1:
            best, best_f1 = float(conf), f1
    return best


def format_table(result: dict) -> str:
    op = result["operating_point"]
    lines = [f"mAP@0.5 {result['map50']:.3f}   mAP@0.5:0.95 {result['map50_95']:.3f}   "
             f"({result['images']} images, {result['boxes']} boxes)",
             f"at conf {op['conf']:g}: precision {op['precision']:.3f}, recall {op['recall']:.3f}, "
             f"{op['false_positives']} false positive(s), {op['missed']} missed",
             "AP by size: " + ", ".join(f"{k} {'-' if v < 0 else f'{v:.3f}'}" for k, v in result["by_size"].items()),
             f"{'class':<20} {'boxes':>6} {'AP@0.5':>8} {'AP@.5:.95':>10}"]
    for name, c in result["per_class"].items():
        ap50 = "-" if c["ap50"] < 0 else f"{c['ap50']:.3f}"
        ap = "-" if c["ap50_95"] < 0 else f"{c['ap50_95']:.3f}"
        lines.append(f"{name:<20} {c['boxes']:>6} {ap50:>8} {ap:>10}")
    return "\n".join(lines)


def write_rows(path: Path, result: dict, classes: list[str]) -> None:
    """One row per detection (and per image without any), as `visionflow predict --format csv`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["source", "label", "score", "x1", "y1", "x2", "y2", "true_boxes", "false_positives", "missed"])
        for row, (b, s, c) in zip(result["rows"], result["_found"]):
            facts = [row["boxes"], row["false_positives"], row["missed"]]
            if not len(b):
                out.writerow([row["path"], "", "", "", "", "", "", *facts])
            for box, score, cls in zip(b, s, c):
                out.writerow([row["path"], classes[int(cls)], f"{score:.4f}", *(f"{v:.1f}" for v in box), *facts])


class BoxEvaluator(Evaluator):
    """COCO figures of boxes (`evaluate_records`); the score threshold fitted on validation."""

    predictor = Detector
    metric, metric_title = "map50", "validation mAP@0.5"
    headline = ("map50", "map50_95", "per_class")
    report = "visionflow.tasks.detection.report:write_report"

    def evaluate(self, predictor, records, folder):
        return evaluate_records(predictor, records, folder.truth)

    def format_table(self, result):
        return format_table(result)

    def write_rows(self, path, result, classes):
        write_rows(path, result, classes)

    def fitted(self, predictor, result, paths, say):
        """The answer's score threshold: the best F1 on validation, kept in labels.json."""
        from visionflow.rundir import read_json, write_json

        predictor.conf = fit_conf(result)
        at_threshold(result, predictor.conf, predictor.iou)
        meta = read_json(paths.labels)
        meta["conf"] = predictor.conf
        write_json(paths.labels, meta)
        predictor.meta = meta
        say(f"score threshold {predictor.conf:g}: the best F1 on the validation images (labels.json conf; "
            f"--conf to override)")

    def configure(self, predictor, conf: float | None = None, iou: float | None = None):
        predictor.conf = predictor.conf if conf is None else conf
        predictor.iou = predictor.iou if iou is None else iou

    def read_folder(self, data, predictor):
        from visionflow.tasks.detection.annotations import find_splits
        from visionflow.tasks.detection.data import load_boxes

        splits = find_splits(data)
        pick = next((s for s in ("test", "validation") if s in splits), None)
        where = splits[pick] if pick else data
        if isinstance(where, tuple):  # Ultralytics' images/<split> + labels/<split>: read through the root
            folder = load_boxes(data, classes=predictor.classes)
            recs = folder.splits.get(pick, [])
            where = data
        else:
            folder = load_boxes(where, classes=predictor.classes, only="test")
            recs = folder.splits["test"]
        if not recs:
            raise DataError(f"No usable annotated images in {where}.")
        return folder, recs, where, pick

    def findings(self, folder):
        return {"annotation_findings": folder.report.get("findings", {})}


EVALUATOR = BoxEvaluator()  # the task's "finish" and "report" parts
