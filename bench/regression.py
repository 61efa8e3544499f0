"""Regression on real photos: where the kangaroo is, and how many there are, from the photo alone.

Usage: python bench/regression.py [--out regression] [-- EXTRA TRAIN FLAGS]

The kangaroo set (164 web photos with Pascal VOC boxes) gives three real targets per photo,
read from its annotations: `x`, the centre of the largest kangaroo as a share of the width (0
left, 1 right; a mirror changes it), `size`, the largest box's share of the photo's area, and
`count`, the number of boxes. A labels CSV of them is written into a temporary folder (the image
column holds the photos' absolute paths; nothing is copied), then `visionflow train DIR --task
regression --val-split 0.2` runs with nothing else, and again with `--augment light` (flips
included) to measure what the default's refusal to mirror is worth. Reports MAE, RMSE and R^2
per target on the held-out 20%, beside the error of always answering the training mean. Writes
results/NAME.{md,json}.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import dataset, machine_info  # noqa: E402

RESULTS = HERE / "results"
TARGETS = ("x", "size", "count")


def targets(xml: Path) -> dict | None:
    """x, size and count of one VOC annotation; None without a box."""
    from defusedxml import ElementTree

    root = ElementTree.parse(xml).getroot()
    width, height = (float(root.findtext(f"size/{k}") or 0) for k in ("width", "height"))
    boxes = [[float(b.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")] for b in root.iter("bndbox")]
    if not boxes or width <= 0 or height <= 0:
        return None
    big = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    return {"x": round((big[0] + big[2]) / 2 / width, 4),
            "size": round((big[2] - big[0]) * (big[3] - big[1]) / (width * height), 4), "count": len(boxes)}


def train(data: Path, labels: Path, project: str, name: str, flags: list[str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "visionflow", "train", str(data), "--task", "regression",
                           "--labels", str(labels), "--val-split", "0.2", "--project", project, "--name", name, *flags],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(f"training failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    metrics = json.loads((Path(project) / name / "metrics.json").read_text())
    meta = json.loads((Path(project) / name / "labels.json").read_text())
    return {"minutes": round((time.perf_counter() - t0) / 60, 2), "validation": metrics["validation"],
            "train_stats": meta["targets"],
            "recipe": next((line for line in proc.stdout.splitlines() if line.startswith("recipe")), "")}


def mean_baseline(project: str, name: str, stats: dict) -> dict:
    """MAE of always answering the training mean, on the run's validation images."""
    import numpy as np

    rows = list(csv.DictReader(open(Path(project) / name / "predictions" / "validation.csv")))
    return {t: round(float(np.mean([abs(float(r[f"true:{t}"]) - stats[t]["mean"]) for r in rows])), 4)
            for t in TARGETS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="regression")
    parser.add_argument("extra", nargs="*", help="more flags for visionflow train (after --)")
    args = parser.parse_args()
    data = dataset("kangaroo")
    if data is None:
        sys.exit("../shared/datasets/kangaroo not found")
    with tempfile.TemporaryDirectory(prefix="vf-regression-") as tmp:
        labels = Path(tmp) / "labels.csv"
        rows = 0
        with open(labels, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["image", *TARGETS])
            for xml in sorted((data / "annotations").glob("*.xml")):
                found = targets(xml)
                image = data / "images" / f"{xml.stem}.jpg"
                if found and image.exists():
                    writer.writerow([str(image), *(found[t] for t in TARGETS)])
                    rows += 1
        runs = {"default": train(data / "images", labels, tmp, "default", list(args.extra)),
                "flips": train(data / "images", labels, tmp, "flips", ["--augment", "light", *args.extra])}
        for name, run in runs.items():
            run["mean_mae"] = mean_baseline(tmp, name, run["train_stats"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"machine": machine_info(), "rows": rows, "runs": runs},
                                                         indent=2))
    lines = ["# Regression on real photos: kangaroo position, size and count", "",
             f"`python bench/regression.py`: {rows} kangaroo photos, targets from their VOC boxes (x: centre of the "
             "largest box as a share of the width; size: its share of the area; count: boxes). `visionflow train "
             "DIR --task regression --val-split 0.2`, nothing else (default), and with `--augment light` (flips).", "",
             "| run | target | MAE | RMSE | R² | MAE of the training mean | wall time |", "|---|---|---|---|---|---|---|"]
    for name, run in runs.items():
        v = run["validation"]
        for t in TARGETS:
            r = v["per_target"][t]
            lines.append(f"| {name} | {t} | {r['mae']:.4f} | {r['rmse']:.4f} | {r['r2']:.3f} | {run['mean_mae'][t]:.4f} "
                         f"| {run['minutes']:.1f} min |")
    lines += ["", f"Recipe (default): {runs['default']['recipe']}", ""]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
