"""How well a segmentation model labels pixels, at each image's full size: validation mIoU each
epoch (the metric that picks the kept epoch), the figures on the validation (and test) images
after training, and `visionflow evaluate RUN DIR` on any folder of images with masks."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from visionflow.errors import DataError
from visionflow.tasks.segmentation.metrics import confusion, image_iou, scores

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
            logits = np.asarray(self.model(self._batch[start:start + 8].astype(np.float32), training=False))
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
        for rec, image, got in zip(chunk, images, segmenter.masks(images)):
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


def public(result: dict) -> dict:
    """The result as metrics.json holds it (no per-image rows or pictures)."""
    return {k: v for k, v in result.items() if k != "rows" and not k.startswith("_")}


def write_rows(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, ["path", "miou", "pixel_accuracy"])
        out.writeheader()
        out.writerows(result["rows"])


def finish_run(paths, folder, state: dict, cfg, say: Callable[[str], None]) -> dict:
    """After training: the kept model on the validation (and test) images at their own size:
    metrics.json, predictions/<split>.csv, plots and report.html."""
    from visionflow import plots
    from visionflow.rundir import write_json
    from visionflow.tasks.segmentation.report import write_report
    from visionflow.tasks.segmentation.segmenter import Segmenter

    segmenter = Segmenter.load(paths.root, backend="keras")
    plots.training_curves(state["history"], paths.plots / "training_curves.png",
                          best_epoch=state["best"]["epoch"] if state["best"] else None, metric="miou",
                          title="validation mIoU")
    metrics: dict = {"task": "segmentation", "model": cfg.model, "classes": folder.classes,
                     "best_epoch": state["best"]["epoch"] if state["best"] else None, "epochs_run": state["epoch"],
                     "stopped": state["stopped"], "train_seconds": round(state.get("train_seconds", 0.0), 2)}
    results = {}
    for split in ("validation", "test"):
        recs = folder.splits.get(split)
        if not recs:
            continue
        result = results[split] = evaluate_records(segmenter, recs, folder)
        write_rows(paths.root / "predictions" / f"{split}.csv", result)
        metrics[split] = public(result)
        say(f"\n{split}, kept epoch {metrics['best_epoch'] or state['epoch']}, at each image's own size:")
        say(format_table(result))
    write_json(paths.metrics, metrics)
    write_report(paths.root, metrics, segmenter.meta, results)
    say(f"\nrun folder: {paths.root}  (model.keras, metrics.json, report.html, predictions/, plots/, history.csv)")
    return metrics


def evaluate_folder(run: str | Path, data: str | Path, out: str | Path | None = None, unsafe: bool = False,
                    backend: str = "auto") -> dict:
    """`visionflow evaluate RUN DIR` for a segmentation model: DIR is a folder of images and masks
    (images/ + masks/), or a dataset root (its test split, else its validation split); writes
    metrics.json (miou, pixel_accuracy, iou per class, ...), predictions.csv, report.html to
    `out` (default RUN/evaluations/<DIR name>)."""
    from visionflow.rundir import write_json
    from visionflow.tasks.segmentation.data import find_splits, load_masks
    from visionflow.tasks.segmentation.report import write_report
    from visionflow.tasks.segmentation.segmenter import Segmenter

    data = Path(data)
    if not data.is_dir():
        raise DataError(f"Evaluation folder {data} does not exist or is not a folder.")
    segmenter = Segmenter.load(run, backend=backend, unsafe=unsafe)
    splits = find_splits(data)
    pick = next((s for s in ("test", "validation") if s in splits), None)
    folder = load_masks(data, scheme=segmenter.scheme, only=None if pick else "test")
    recs = folder.splits.get(pick or "test", [])
    if not recs:
        raise DataError(f"No usable image with a mask in {data}" + (f" ({pick} split)." if pick else "."))
    result = evaluate_records(segmenter, recs, folder)
    run_path = Path(run)
    root = run_path if run_path.is_dir() else run_path.parent
    target = Path(out) if out else root / "evaluations" / (data.resolve().name or "data")
    target.mkdir(parents=True, exist_ok=True)
    write_rows(target / "predictions.csv", result)
    metrics = {"task": "segmentation", "data": str(data), "split": pick or "all", "model": segmenter.source,
               "backend": segmenter.backend, "classes": segmenter.classes, "skipped": len(folder.skipped),
               "mask_findings": folder.report.get("findings", {}), "evaluation": public(result),
               **{k: result[k] for k in ("miou", "pixel_accuracy", "iou", "accuracy", "fw_iou", "mean_accuracy")}}
    write_json(target / "metrics.json", metrics)
    write_report(target, metrics, segmenter.meta, {"evaluation": result})
    return {**result, "out": str(target), "data": str(data), "skipped": folder.skipped,
            "problems": folder.report.get("problems", [])}
