"""Object detection from the defaults: accuracy, wall time, training memory and latency.

Usage: python bench/detection.py [--data kangaroo] [--out detection]

Runs `visionflow train ../shared/datasets/DATA --task detection` in a subprocess with nothing else
(kangaroo: 164 VOC photos, one broken file skipped, 20% held out, seeded), timing the whole
command and reading its peak resident memory (the child's ru_maxrss). Then, on the run: mAP@0.5
of the held-out images from its metrics.json (the kept epoch is chosen on them, as the run does),
and single-image latency (one image per call, p50/p90 of 50 calls after 5 warm-ups) of the
default runtime (`visionflow.load(run)`: the run's parity-checked export) beside TensorFlow.
Targets: mAP@0.5 >= 0.80 within 15 minutes of wall time, p50 <= 40 ms, peak RSS <= 6 GB.
Writes results/NAME.{md,json} (default: detection).
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

TARGETS = {"map50": 0.80, "minutes": 15.0, "p50_ms": 40.0, "rss_gb": 6.0}


def main() -> None:
    args = arguments(__doc__, data="kangaroo", out="detection")
    data = required_dataset(args.data)
    with tempfile.TemporaryDirectory(prefix="vf-detection-") as tmp:
        run, minutes, rss_gb, stdout = train_command(data, tmp, ["--task", "detection"])
        metrics = json.loads((run / "metrics.json").read_text())
        val = metrics["validation"]
        import visionflow
        from visionflow.data.decode import decode
        from visionflow.runtime import latency

        image = decode(next(p for p in sorted((data / "images").iterdir()) if p.name != "00090.jpg"))
        fast = visionflow.load(run, say=lambda line: None)
        keras = visionflow.load(run, backend="keras")
        row = {"data": args.data, "minutes": round(minutes, 2), "train_minutes": round(metrics["train_seconds"] / 60, 2),
               "epochs": metrics["epochs_run"], "best_epoch": metrics["best_epoch"], "peak_rss_gb": round(rss_gb, 2),
               "images": val["images"], "boxes": val["boxes"], "map50": val["map50"], "map50_95": val["map50_95"],
               "conf": val["operating_point"]["conf"], "precision": val["operating_point"]["precision"],
               "recall": val["operating_point"]["recall"],
               "runtime": fast.backend, "latency": latency(lambda: fast.predict(image)),
               "keras_latency": latency(lambda: keras.predict(image)), "recipe": recipe_line(stdout)}
    row["met"] = {"map50": row["map50"] >= TARGETS["map50"], "minutes": row["minutes"] <= TARGETS["minutes"],
                  "p50_ms": row["latency"]["p50_ms"] <= TARGETS["p50_ms"], "rss_gb": row["peak_rss_gb"] <= TARGETS["rss_gb"]}
    print(json.dumps(row, indent=2))
    lines = ["# Object detection from the defaults", "",
             f"`python bench/detection.py`: `visionflow train ../shared/datasets/{args.data} --task detection`, nothing else.",
             "", "| figure | measured | target |", "|---|---|---|",
             f"| mAP@0.5, {row['images']} held-out images ({row['boxes']} boxes) | {row['map50']:.3f} | >= {TARGETS['map50']} |",
             f"| mAP@0.5:0.95 | {row['map50_95']:.3f} | |",
             f"| precision / recall at the fitted score threshold {row['conf']:g} | {row['precision']:.3f} / "
             f"{row['recall']:.3f} | |",
             *command_rows(row, TARGETS, "one image"), "", f"Recipe: {row['recipe']}", ""]
    write_results(args.out, {"result": row}, lines)


if __name__ == "__main__":
    main()
