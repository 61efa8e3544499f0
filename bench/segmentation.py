"""Semantic segmentation from the defaults: pixel accuracy, IoU per class, wall time, training
memory and latency.

Usage: python bench/segmentation.py [--data membrane] [--out segmentation] [-- EXTRA TRAIN FLAGS]

Runs `visionflow train ../shared/datasets/DATA --task segmentation` in a subprocess with nothing
else (membrane: 30 electron-microscopy slices with black-and-white masks, 20% held out, seeded),
timing the whole command and reading its peak resident memory (the child's ru_maxrss). Then, on
the run: the held-out figures from its metrics.json (at each image's own size; the kept epoch is
chosen on them, as the run does), and single-frame latency of a 360x480 frame (one frame per
call, p50/p90 of 30 calls after 5 warm-ups) in the default runtime (`visionflow.load(run)`: the
run's parity-checked export) beside TensorFlow. Writes results/NAME.{md,json}.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import arguments, command_rows, recipe_line, required_dataset, train_command, write_results

TARGETS = {"minutes": 15.0, "p50_ms": 150.0, "rss_gb": 6.0}


def main() -> None:
    args = arguments(__doc__, extra=True, data="membrane", out="segmentation")
    data = required_dataset(args.data)
    with tempfile.TemporaryDirectory(prefix="vf-segmentation-") as tmp:
        run, minutes, rss_gb, stdout = train_command(data, tmp, ["--task", "segmentation", *args.extra])
        metrics = json.loads((run / "metrics.json").read_text())
        val = metrics["validation"]
        import numpy as np

        import visionflow
        from visionflow.data.decode import decode
        from visionflow.runtime import latency

        first = decode(next(p for p in sorted((data / "images").iterdir())))
        import cv2

        frame = np.ascontiguousarray(cv2.resize(first, (480, 360)))  # a 360x480 frame
        fast = visionflow.load(run, say=lambda line: None)
        keras = visionflow.load(run, backend="keras")
        classes = metrics["classes"]
        row = {"data": args.data, "flags": args.extra, "minutes": round(minutes, 2),
               "train_minutes": round(metrics["train_seconds"] / 60, 2), "epochs": metrics["epochs_run"],
               "best_epoch": metrics["best_epoch"], "peak_rss_gb": round(rss_gb, 2), "images": val["images"],
               "miou": val["miou"], "pixel_accuracy": val["pixel_accuracy"], "iou": val["iou"],
               "foreground_iou": val["iou"].get(classes[-1]), "runtime": fast.backend,
               "input": json.loads((run / "labels.json").read_text())["image_size"],
               "latency": latency(lambda: fast.predict(frame), 30),
               "keras_latency": latency(lambda: keras.predict(frame), 30), "recipe": recipe_line(stdout),
               "history": [{k: r[k] for k in ("epoch", "val_miou", "seconds") if k in r} for r in
                           json.loads((run / "checkpoints" / "state.json").read_text())["history"]]}
    row["met"] = {"minutes": row["minutes"] <= TARGETS["minutes"], "p50_ms": row["latency"]["p50_ms"] <= TARGETS["p50_ms"],
                  "rss_gb": row["peak_rss_gb"] <= TARGETS["rss_gb"]}
    print(json.dumps(row, indent=2))
    flags = " ".join(args.extra)
    lines = ["# Semantic segmentation from the defaults", "",
             f"`python bench/segmentation.py`: `visionflow train ../shared/datasets/{args.data} --task segmentation"
             + (f" {flags}" if flags else "") + "`" + ("" if flags else ", nothing else") + ".", "",
             "| figure | measured | target |", "|---|---|---|",
             f"| pixel accuracy, {row['images']} held-out images at their own size | {row['pixel_accuracy']:.3f} | |",
             f"| IoU of {classes[-1]} (white in the masks) | {row['foreground_iou']:.3f} | |",
             f"| IoU of {classes[0]} | {row['iou'][classes[0]]:.3f} | |",
             f"| mIoU | {row['miou']:.3f} | |",
             *command_rows(row, TARGETS, "one 360x480 frame", f", input {row['input'][0]}x{row['input'][1]}"),
             "", f"Recipe: {row['recipe']}", ""]
    write_results(args.out, {"result": row}, lines)


if __name__ == "__main__":
    main()
