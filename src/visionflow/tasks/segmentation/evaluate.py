"""How well a segmentation model labels pixels, at each image's full size: validation mIoU each
epoch (the metric that picks the kept epoch), the figures on the validation (and test) images
after training, and `visionflow evaluate RUN DIR` on any folder of images with masks."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import keras
import numpy as np

from visionflow.errors import DataError
from visionflow.network.evaluate import Evaluator, epoch_outputs
from visionflow.tasks.segmentation.metrics import confusion, image_iou, scores
from visionflow.tasks.segmentation.segmenter import Segmenter

EPOCH_IMAGES = 300  # validation images scored each epoch (all of them after training)
WORST = 8  # images kept for the report's gallery


class ValidationIoU(keras.callbacks.Callback):
    """Adds `val_miou` to each epoch's logs: the mIoU of the validation images at their own size (at
    twice the input size where they are larger: the cached copies; the final figures use the files)."""

    def __init__(self, folder, size: tuple[int, int]):
        super().__init__()
        from visionflow.tasks.segmentation.pipeline import Pairs

        self.pairs = Pairs(folder.splits["validation"][:EPOCH_IMAGES], folder, size)
        self.classes = len(folder.classes)
        self.size = size
        self._batch = None

    def on_epoch_end(self, epoch, logs=None):
        from visionflow.tasks.segmentation.pipeline import resize_pair
        from visionflow.tasks.segmentation.segmenter import to_mask

        if logs is None or not len(self.pairs):
            return
        if self._batch is None:
            self._batch = np.stack([resize_pair(self.pairs.get(i)[0], None, self.size)[0] for i in range(len(self.pairs))])
        matrix = np.zeros((self.classes, self.classes), np.int64)
        for start in range(0, len(self._batch), 8):
            logits = epoch_outputs(self.model, self._batch[start:start + 8].astype(np.float32))
            for j, lg in enumerate(logits):
                truth = self.pairs.get(start + j)[1]
                matrix += confusion(truth, to_mask(lg, truth.shape), self.classes)
        logs["val_miou"] = scores(matrix, [str(i) for i in range(self.classes)])["miou"]


def evaluate_records(segmenter, records: list, folder) -> dict:
    """The figures over `records` (images of `folder`, whose masks are the truth), with one row per
    image (its mIoU and pixel accuracy) and the worst images kept for the report."""
    from visionflow.data.decode import decode

    n = len(segmenter.classes)
    matrix = np.zeros((n, n), np.int64)
    rows, worst = [], []
    start = time.perf_counter()
    for i in range(0, len(records), 8):
        chunk = records[i:i + 8]
        images = [decode(r.path) for r in chunk]
        for rec, image, got in zip(chunk, images, segmenter.answers(images)):
            truth = folder.mask(rec.path)
            m = confusion(truth, got, n)
            matrix += m
            labelled = int(m.sum())
            row = {"path": rec.path, "miou": image_iou(truth, got, n),
                   "pixel_accuracy": round(float(np.trace(m)) / labelled, 4) if labelled else 1.0}
            rows.append(row)
            worst.append((row["miou"], rec.path, image, truth, got))
            worst = sorted(worst, key=lambda w: w[0])[:WORST]
    seconds = time.perf_counter() - start
    result = scores(matrix, segmenter.classes)
    result.update(images=len(records), seconds_per_image=round(seconds / max(1, len(records)), 4))
    result["rows"], result["_worst"] = rows, worst
    return result


def format_table(result: dict) -> str:
    lines = [f"mIoU {result['miou']:.3f}   pixel accuracy {result['pixel_accuracy']:.3f}   "
             f"mean class accuracy {result['mean_accuracy']:.3f}   frequency-weighted IoU {result['fw_iou']:.3f}   "
             f"({result['images']} images)",
             f"{'class':<20} {'pixels':>8} {'IoU':>7} {'accuracy':>9}"]
    total = max(1, sum(result["pixels"].values()))
    for name in result["iou"]:
        iou, acc = result["iou"][name], result["accuracy"][name]
        lines.append(f"{name:<20} {result['pixels'][name] / total:>8.1%} {'-' if iou is None else f'{iou:.3f}':>7} "
                     f"{'-' if acc is None else f'{acc:.3f}':>9}")
    return "\n".join(lines)


def write_rows(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, ["path", "miou", "pixel_accuracy"])
        out.writeheader()
        out.writerows(result["rows"])


class MaskEvaluator(Evaluator):
    """mIoU and per-class IoU at each image's own size (`evaluate_records`)."""

    predictor = Segmenter
    metric, metric_title = "miou", "validation mIoU"
    headline = ("miou", "pixel_accuracy", "iou", "accuracy", "fw_iou", "mean_accuracy")
    report = "visionflow.tasks.segmentation.report:write_report"
    where_scored = ", at each image's own size"

    def finish_run(self, task, paths, folder, state, cfg, say):
        from visionflow.tasks.segmentation.data import keep_scheme

        keep_scheme(paths, folder)
        return super().finish_run(task, paths, folder, state, cfg, say)

    def evaluate(self, predictor, records, folder):
        return evaluate_records(predictor, records, folder)

    def format_table(self, result):
        return format_table(result)

    def write_rows(self, path, result, classes):
        write_rows(path, result)

    def read_folder(self, data, predictor):
        from visionflow.tasks.segmentation.data import find_splits, load_masks

        pick = next((s for s in ("test", "validation") if s in find_splits(data)), None)
        folder = load_masks(data, scheme=predictor.scheme, only=None if pick else "test")
        recs = folder.splits.get(pick or "test", [])
        if not recs:
            raise DataError(f"No usable image with a mask in {data}" + (f" ({pick} split)." if pick else "."))
        return folder, recs, data, pick

    def findings(self, folder):
        return {"mask_findings": folder.report.get("findings", {})}


EVALUATOR = MaskEvaluator()  # the task's "finish" and "report" parts
