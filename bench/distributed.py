"""One process against 2 local workers (`visionflow launch`), same settings and global batch.

    python bench/distributed.py [--data ../shared/datasets/flowers5] [--epochs 4] [--workers 2]

Trains small_cnn at 64x64 with a 20% validation split, once in one process with batch B and once
as N workers with batch B/N each, and reports wall time, seconds per epoch after the first, and
validation accuracy. Writes bench/results/distributed.{json,md}.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import dataset, machine_info  # noqa: E402


def run(cmd: list[str]) -> float:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "visionflow", *cmd], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
    return time.perf_counter() - t0


def figures(run_dir: Path, wall: float, label: str) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = (run_dir / "history.csv").read_text().strip().splitlines()
    header = rows[0].split(",")
    seconds = [float(r.split(",")[header.index("seconds")]) for r in rows[1:]]
    steady = seconds[1:] or seconds
    return {"setup": label, "workers": metrics.get("workers", 1), "wall_s": round(wall, 1),
            "epoch_s_steady": round(sum(steady) / len(steady), 2),
            "val_accuracy": metrics["validation"]["accuracy"], "epochs": metrics["epochs_run"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(dataset("flowers5") or ""))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32, help="global batch")
    args = parser.parse_args()
    if not args.data:
        print("flowers5 not found; pass --data DIR")
        return 2
    common = ["--val-split", "0.2", "--image-size", "64", "--epochs", str(args.epochs), "--patience", "0"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        wall = run(["train", args.data, *common, "--batch-size", str(args.batch_size), "--project", tmp, "--name", "one"])
        rows.append(figures(Path(tmp) / "one", wall, "1 process"))
        print(json.dumps(rows[-1]), flush=True)
        per = args.batch_size // args.workers
        wall = run(["launch", "--workers", str(args.workers), "--", "train", args.data, *common,
                    "--batch-size", str(per), "--project", tmp, "--name", "many"])
        rows.append(figures(Path(tmp) / "many", wall, f"{args.workers} workers (launch)"))
        print(json.dumps(rows[-1]), flush=True)
    out = {"machine": machine_info(), "data": args.data, "global_batch": args.batch_size, "rows": rows}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "distributed.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [f"# 1 process vs {args.workers} local workers ({Path(args.data).name}, 64x64, {args.epochs} epochs, "
             f"global batch {args.batch_size})", "",
             "| setup | wall (s) | s/epoch after the first | validation accuracy |", "|---|---|---|---|"]
    lines += [f"| {r['setup']} | {r['wall_s']} | {r['epoch_s_steady']} | {r['val_accuracy']:.3f} |" for r in rows]
    (HERE / "results" / "distributed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
