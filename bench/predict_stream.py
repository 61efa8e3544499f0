"""Peak memory of `visionflow predict` on a folder: does it stay flat as the folder grows?

Generates folders of 2,000 and 20,000 tiny PNG images (32x32), trains a one-epoch model on a few
of them and exports it to ONNX, then runs `visionflow predict MODEL FOLDER --format csv` on each
folder in its own process, with the run's .keras model and with the ONNX export, and reports
peak RSS and images per second (wall time includes starting Python and loading the model).
Flat memory means the listing, decoding and output all stream.

    python bench/predict_stream.py [--sizes 2000 20000] [--keep DIR]

Prints a table and writes bench/results/predict_stream.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import machine_info  # noqa: E402

# Peak RSS from VmHWM: getrusage's ru_maxrss survives execve on Linux, so a child started by this
# (large) process would report the parent's peak.
MEASURE = ("import sys; from visionflow.cli import main; rc = main(sys.argv[1:]); "
           "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
           "print(int(hwm) / 1024, file=sys.stderr); sys.exit(rc)")


def make_folder(root: Path, n: int, seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(n):
        label = ("dark", "light")[i % 2]
        folder = root / label / f"{i // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        base = 60 if label == "dark" else 180
        pixels = np.clip(rng.normal(base, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:06d}.png")
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    args = parser.parse_args()
    import visionflow

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train_data = make_folder(tmp / "train_data", 200, seed=1)
        run = visionflow.train(data=str(train_data), val_split=0.2, image_size=32, epochs=1, project=str(tmp / "runs"),
                               say=lambda s: None)
        from visionflow.export import export

        export(run.run_dir, "onnx", samples=16, say=lambda s: None)
        models = {"keras": run.run_dir, "onnx": run.run_dir / "export" / "onnx"}
        for n in args.sizes:
            folder = make_folder(tmp / f"images{n}", n, seed=2)
            for backend, model in models.items():
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, "-c", MEASURE, "predict", str(model), str(folder),
                                       "--format", "csv", "--batch-size", "64", "--no-progress"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                wall = time.perf_counter() - t0
                lines = proc.stdout.count("\n") - 1
                peak = float(proc.stderr.strip().splitlines()[-1])
                row = {"images": n, "model": backend, "rows_written": lines, "exit_code": proc.returncode,
                       "peak_rss_mib": round(peak, 1), "wall_s": round(wall, 1), "images_per_s": round(n / wall, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    out = {"machine": machine_info(), "rows": rows}
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "predict_stream.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# Streaming predict: peak memory by folder size (32x32 PNG, small_cnn, --format csv)", "",
             "| images | model | rows written | peak RSS (MiB) | wall (s) | images/s |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['images']:,} | {r['model']} | {r['rows_written']:,} | {r['peak_rss_mib']} | {r['wall_s']} "
              f"| {r['images_per_s']} |" for r in rows]
    (results / "predict_stream.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
