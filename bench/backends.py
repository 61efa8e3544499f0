"""Keras 3 backends side by side: tensorflow, jax, torch, for seed_cnn and small_cnn at 150x150.

Usage: python bench/backends.py [--python PATH] [--models seed_cnn,small_cnn]
`--python` picks an interpreter that has jax and torch installed (they are not visionflow
dependencies). Each backend/model pair runs in its own process. Writes bench/results/backends.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--models", default="seed_cnn,small_cnn")
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    args = parser.parse_args()
    rows = []
    for model in args.models.split(","):
        for backend in args.backends.split(","):
            env = {**os.environ, "KERAS_BACKEND": backend}
            out = subprocess.run([args.python, str(ROOT / "bench" / "backend_case.py"), "--model", model],
                                 capture_output=True, text=True, env=env)
            if out.returncode != 0:
                last = (out.stderr.strip().splitlines() or ["failed"])[-1]
                print(f"{model:<10} {backend:<10} failed: {last}", flush=True)
                rows.append({"model": model, "backend": backend, "error": last})
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{model:<10} {backend:<10} train {row['train_images_per_s']:>6.1f} img/s  "
                  f"predict {row['predict_batched_images_per_s']:>6.1f} img/s  first epoch {row['first_epoch_s']} s  "
                  f"RSS {row['peak_rss_mb']} MiB", flush=True)
    lines = ["| model | backend | train img/s | x tensorflow | predict img/s (batch 64) | first epoch s | peak RSS MiB |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['backend']} | failed: {r['error']} | | | | |")
            continue
        tf_row = next((t for t in rows if t.get("backend") == "tensorflow" and t["model"] == r["model"]
                       and "error" not in t), None)
        ratio = r["train_images_per_s"] / tf_row["train_images_per_s"] if tf_row else float("nan")
        lines.append(f"| {r['model']} | {r['backend']} | {r['train_images_per_s']} | {ratio:.2f} | "
                     f"{r['predict_batched_images_per_s']} | {r['first_epoch_s']} | {r['peak_rss_mb']} |")
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "backends.md").write_text(table)
    (out_dir / "backends.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
