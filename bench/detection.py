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
TARGETS = {"map50": 0.80, "minutes": 15.0, "p50_ms": 40.0, "rss_gb": 6.0}


def latency(model, image, calls: int = 50) -> dict:
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
    parser.add_argument("--data", default="kangaroo")
    parser.add_argument("--out", default="detection")
    args = parser.parse_args()
    data = dataset(args.data)
    if data is None:
        sys.exit(f"../shared/datasets/{args.data} not found")
    with tempfile.TemporaryDirectory(prefix="vf-detection-") as tmp:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "visionflow", "train", str(data), "--task", "detection",
                               "--project", tmp, "--name", "run"], capture_output=True, text=True, check=False)
        minutes = (time.perf_counter() - t0) / 60
        rss_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
        if proc.returncode:
            sys.exit(f"training failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        run = Path(tmp) / "run"
        metrics = json.loads((run / "metrics.json").read_text())
        val = metrics["validation"]
        import visionflow
        from visionflow.data.decode import decode

        image = decode(next(p for p in sorted((data / "images").iterdir()) if p.name != "00090.jpg"))
        fast = visionflow.load(run, say=lambda line: None)
        row = {"data": args.data, "minutes": round(minutes, 2), "train_minutes": round(metrics["train_seconds"] / 60, 2),
               "epochs": metrics["epochs_run"], "best_epoch": metrics["best_epoch"], "peak_rss_gb": round(rss_gb, 2),
               "images": val["images"], "boxes": val["boxes"], "map50": val["map50"], "map50_95": val["map50_95"],
               "conf": val["operating_point"]["conf"], "precision": val["operating_point"]["precision"],
               "recall": val["operating_point"]["recall"],
               "runtime": fast.backend, "latency": latency(fast, image),
               "keras_latency": latency(visionflow.load(run, backend="keras"), image),
               "recipe": next((line for line in proc.stdout.splitlines() if line.startswith("recipe")), "")}
    row["met"] = {"map50": row["map50"] >= TARGETS["map50"], "minutes": row["minutes"] <= TARGETS["minutes"],
                  "p50_ms": row["latency"]["p50_ms"] <= TARGETS["p50_ms"], "rss_gb": row["peak_rss_gb"] <= TARGETS["rss_gb"]}
    print(json.dumps(row, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"machine": machine_info(), "result": row}, indent=2))
    lines = ["# Object detection from the defaults", "",
             f"`python bench/detection.py`: `visionflow train ../shared/datasets/{args.data} --task detection`, nothing else.",
             "", "| figure | measured | target |", "|---|---|---|",
             f"| mAP@0.5, {row['images']} held-out images ({row['boxes']} boxes) | {row['map50']:.3f} | >= {TARGETS['map50']} |",
             f"| mAP@0.5:0.95 | {row['map50_95']:.3f} | |",
             f"| precision / recall at the fitted score threshold {row['conf']:g} | {row['precision']:.3f} / "
             f"{row['recall']:.3f} | |",
             f"| wall time of the command | {row['minutes']:.1f} min ({row['epochs']} epochs, best {row['best_epoch']}) | <= {TARGETS['minutes']:g} min |",
             f"| peak RSS of training | {row['peak_rss_gb']:.2f} GB | <= {TARGETS['rss_gb']:g} GB |",
             f"| one image, default runtime ({row['runtime']}) p50 / p90 | {row['latency']['p50_ms']} / {row['latency']['p90_ms']} ms | p50 <= {TARGETS['p50_ms']:g} ms |",
             f"| one image, TensorFlow p50 / p90 | {row['keras_latency']['p50_ms']} / {row['keras_latency']['p90_ms']} ms | |",
             "", f"Recipe: {row['recipe']}", ""]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
