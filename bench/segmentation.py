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

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import dataset, machine_info

RESULTS = HERE / "results"
TARGETS = {"minutes": 15.0, "p50_ms": 150.0, "rss_gb": 6.0}


def latency(model, image, calls: int = 30) -> dict:
    import numpy as np

    for _ in range(5):
        model.predict(image)
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        model.predict(image)
        times.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": round(float(np.percentile(times, 50)), 2), "p90_ms": round(float(np.percentile(times, 90)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="membrane")
    parser.add_argument("--out", default="segmentation")
    parser.add_argument("extra", nargs="*", help="more flags for visionflow train (after --)")
    args = parser.parse_args()
    data = dataset(args.data)
    if data is None:
        sys.exit(f"../shared/datasets/{args.data} not found")
    with tempfile.TemporaryDirectory(prefix="vf-segmentation-") as tmp:
        t0 = time.perf_counter()
        command = [sys.executable, "-m", "visionflow", "train", str(data), "--task", "segmentation", "--project", tmp,
                   "--name", "run", *args.extra]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        minutes = (time.perf_counter() - t0) / 60
        rss_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
        if proc.returncode:
            sys.exit(f"training failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        run = Path(tmp) / "run"
        metrics = json.loads((run / "metrics.json").read_text())
        val = metrics["validation"]
        import numpy as np

        import visionflow
        from visionflow.data.decode import decode

        first = decode(next(p for p in sorted((data / "images").iterdir())))
        import cv2

        frame = np.ascontiguousarray(cv2.resize(first, (480, 360)))  # a 360x480 frame
        fast = visionflow.load(run, say=lambda line: None)
        classes = metrics["classes"]
        row = {"data": args.data, "flags": args.extra, "minutes": round(minutes, 2),
               "train_minutes": round(metrics["train_seconds"] / 60, 2), "epochs": metrics["epochs_run"],
               "best_epoch": metrics["best_epoch"], "peak_rss_gb": round(rss_gb, 2), "images": val["images"],
               "miou": val["miou"], "pixel_accuracy": val["pixel_accuracy"], "iou": val["iou"],
               "foreground_iou": val["iou"].get(classes[-1]), "runtime": fast.backend,
               "input": json.loads((run / "labels.json").read_text())["image_size"],
               "latency": latency(fast, frame), "keras_latency": latency(visionflow.load(run, backend="keras"), frame),
               "recipe": next((line for line in proc.stdout.splitlines() if line.startswith("recipe")), ""),
               "history": [{k: r[k] for k in ("epoch", "val_miou", "seconds") if k in r} for r in
                           json.loads((run / "checkpoints" / "state.json").read_text())["history"]]}
    row["met"] = {"minutes": row["minutes"] <= TARGETS["minutes"], "p50_ms": row["latency"]["p50_ms"] <= TARGETS["p50_ms"],
                  "rss_gb": row["peak_rss_gb"] <= TARGETS["rss_gb"]}
    print(json.dumps(row, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"machine": machine_info(), "result": row}, indent=2))
    flags = " ".join(args.extra)
    lines = ["# Semantic segmentation from the defaults", "",
             f"`python bench/segmentation.py`: `visionflow train ../shared/datasets/{args.data} --task segmentation"
             + (f" {flags}" if flags else "") + "`" + ("" if flags else ", nothing else") + ".", "",
             "| figure | measured | target |", "|---|---|---|",
             f"| pixel accuracy, {row['images']} held-out images at their own size | {row['pixel_accuracy']:.3f} | |",
             f"| IoU of {classes[-1]} (white in the masks) | {row['foreground_iou']:.3f} | |",
             f"| IoU of {classes[0]} | {row['iou'][classes[0]]:.3f} | |",
             f"| mIoU | {row['miou']:.3f} | |",
             f"| wall time of the command | {row['minutes']:.1f} min ({row['epochs']} epochs, best {row['best_epoch']}) | <= {TARGETS['minutes']:g} min |",
             f"| peak RSS of training | {row['peak_rss_gb']:.2f} GB | <= {TARGETS['rss_gb']:g} GB |",
             f"| one 360x480 frame, default runtime ({row['runtime']}, input {row['input'][0]}x{row['input'][1]}) p50 / p90 "
             f"| {row['latency']['p50_ms']} / {row['latency']['p90_ms']} ms | p50 <= {TARGETS['p50_ms']:g} ms |",
             f"| one 360x480 frame, TensorFlow p50 / p90 | {row['keras_latency']['p50_ms']} / {row['keras_latency']['p90_ms']} ms | |",
             "", f"Recipe: {row['recipe']}", ""]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
