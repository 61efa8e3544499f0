"""Single-image latency of the default prediction path against a naive `model.predict`.

Usage: python bench/fast_predict.py [--calls 200]

For seed_cnn (the tutorial CNN) and small_cnn at 150x150, each in its own process
(`infer_case.py`): naive `model.predict` on one image, visionflow's traced Keras call, and
`visionflow.load(run).predict(image)` as a user gets it (LiteRT through the run's cached,
parity-checked export), plus the peak memory of the process that makes that first export.
Writes results/fast_predict.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine_info  # noqa: E402

RESULTS = HERE / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    info = machine_info()
    rows = []
    for model in ("seed_cnn", "small_cnn"):
        cmd = [sys.executable, str(HERE / "infer_case.py"), "--model", model, "--calls", str(args.calls)]
        print("  $", " ".join(cmd[1:]), flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    lines = ["# Default prediction path vs naive model.predict (bench/fast_predict.py)", "",
             f"Machine: {info['cpu']}, {info['cores']} cores; TensorFlow {info['tensorflow']}, Keras {info['keras']}. "
             f"Date: {time.strftime('%Y-%m-%d')}. One 150x150 image per call, {args.calls} calls, random weights.", "",
             "| model | naive `model.predict` p50 ms | traced Keras call p50 ms | default `load(run).predict` p50 ms "
             "| default backend | x faster than naive | first export peak RSS MiB |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['naive_predict']['p50_ms']:.1f} | {r['predictor_array']['p50_ms']:.1f} | "
                     f"{r['default_load']['p50_ms']:.1f} | {r['default_backend']} | {r['default_speedup_p50']:.1f} | "
                     f"{r['first_export_peak_rss_mb']:.0f} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fast_predict.md").write_text(text)
    (RESULTS / "fast_predict.json").write_text(json.dumps({"machine": info, "cases": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
