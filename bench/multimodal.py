"""Images with table columns on real photos: the fused model beside an image-only model.

Usage: python bench/multimodal.py [--data hymenoptera] [--out multimodal] [-- EXTRA TRAIN FLAGS]

No dataset at hand comes with a table, so the table is built from what each real photo file
carries about itself, read with Pillow: its width and height in pixels, its orientation
(landscape, portrait or square), its size in kilobytes and in bytes per pixel (how hard it was
compressed), and the camera maker from EXIF where there is one (missing elsewhere). These
are real metadata, recorded when the photos were taken and saved, not derived from the labels.

Writes labels CSVs into a temporary folder (the image column holds the photos' absolute paths;
nothing is copied), then runs `visionflow train DIR --columns auto` and `visionflow train DIR` on
the same folder in subprocesses, nothing else, timing each and reading its peak resident memory.
Reports both models' validation accuracy (the dataset's own val/ folder), and the fused run's
image-only and columns-only views and permutation importance. Writes results/NAME.{md,json}.
"""

from __future__ import annotations

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

from common import arguments, recipe_line, required_dataset, write_results

COLUMNS = ("width", "height", "orientation", "kilobytes", "bytes_per_pixel", "camera")


def file_row(path: Path) -> dict:
    """What a photo file says about itself (module docstring)."""
    from PIL import Image

    with Image.open(path) as im:
        width, height = im.size
        make = (im.getexif().get(271) or "").strip().strip("\x00")
    size = path.stat().st_size
    orientation = "square" if abs(width - height) <= 0.02 * max(width, height) else (
        "landscape" if width > height else "portrait")
    return {"width": width, "height": height, "orientation": orientation, "kilobytes": round(size / 1024, 1),
            "bytes_per_pixel": round(size / (width * height), 4), "camera": make}


def write_split(folder: Path, out: Path) -> int:
    out.mkdir(parents=True)
    rows = 0
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "label", *COLUMNS])
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            for image in sorted(class_dir.iterdir()):
                if image.suffix.lower() in (".jpg", ".jpeg", ".png"):
                    row = file_row(image)
                    writer.writerow([str(image.resolve()), class_dir.name, *(row[c] for c in COLUMNS)])
                    rows += 1
    return rows


def train(data: Path, project: str, name: str, flags: list[str]) -> dict:
    """One `visionflow train` in a child process: wall minutes, peak RSS, metrics."""
    t0 = time.perf_counter()
    code = ("import resource, runpy, sys; sys.argv = ['visionflow'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('visionflow', run_name='__main__')\n"
            "finally:\n    print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, "train", str(data), "--project", project, "--name", name,
                           *flags], capture_output=True, text=True, check=False)
    minutes = (time.perf_counter() - t0) / 60
    if proc.returncode:
        sys.exit(f"training failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    peak = next((int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_KB")), 0)
    metrics = json.loads((Path(project) / name / "metrics.json").read_text())
    return {"minutes": round(minutes, 2), "peak_rss_gb": round(peak / 1024 ** 2, 2),
            "accuracy": metrics["validation"]["accuracy"], "images": metrics["validation"]["images"],
            "modalities": metrics["validation"].get("modalities"),
            "recipe": recipe_line(proc.stdout),
            "columns": [line.strip() for line in proc.stdout.splitlines() if line.startswith("  ") and
                        line.strip().split(":")[0] in COLUMNS]}


def main() -> None:
    args = arguments(__doc__, extra=True, data="hymenoptera", out="multimodal")
    data = required_dataset(args.data)
    with tempfile.TemporaryDirectory(prefix="vf-multimodal-") as tmp:
        table = Path(tmp) / "table"
        counts = {split: write_split(data / source, table / split)
                  for split, source in (("train", "train"), ("validation", "val"))}
        fused = train(table, tmp, "fused", ["--columns", "auto", *args.extra])
        image = train(table, tmp, "image", list(args.extra))
    result = {"data": args.data, "rows": counts, "flags": args.extra, "fused": fused, "image_only_model": image}
    print(json.dumps(result, indent=2))
    m = fused["modalities"]
    flags = " ".join(args.extra)
    lines = ["# Images with table columns: real photos and their file metadata", "",
             f"`python bench/multimodal.py`: {args.data} ({counts['train']} training photos, {counts['validation']} "
             f"validation photos, its own split), a table of what each photo file says about itself "
             f"({', '.join(COLUMNS)}). Side by side: `visionflow train DIR --columns auto"
             + (f" {flags}" if flags else "") + "` and `visionflow train DIR" + (f" {flags}" if flags else "") + "`.", "",
             "| model | validation accuracy | wall time | peak RSS |", "|---|---|---|---|",
             f"| image + columns (`--columns auto`) | {fused['accuracy']:.4f} | {fused['minutes']:.1f} min | "
             f"{fused['peak_rss_gb']:.2f} GB |",
             f"| image only (no `--columns`) | {image['accuracy']:.4f} | {image['minutes']:.1f} min | "
             f"{image['peak_rss_gb']:.2f} GB |", "",
             f"The fused run's own views ({m['metric']} on {m['rows']} validation photos): fused {m['fused']:.4f}, "
             f"image only (columns at their training mean) {m['image_only']:.4f}, columns only (a flat image) "
             f"{m['columns_only']:.4f}.", "",
             "Permutation importance (" + m["metric"] + " lost when shuffled, mean of " + str(m["repeats"]) + "): "
             + ", ".join(f"{k} {v['mean']:+.3f}" for k, v in m["importance"].items()) + ".", "",
             "Columns as detected: " + "; ".join(fused["columns"]) + ".", "",
             f"Recipe: {fused['recipe']}", ""]
    write_results(args.out, {"result": result}, lines)


if __name__ == "__main__":
    main()
