"""Multi-label classification from the defaults: generated shapes and flowers5 mosaics.

Usage: python bench/multilabel.py [--cases shapes,mosaics,shapes-scratch] [--out NAME]

- shapes: generated images (tests/synthetic.py `shapes_folder`) each holding any subset of a
  disc, a square and a triangle of random colour, size and place on a noisy background (an
  eighth hold none); 800 images with labels.csv, trained with `--task multilabel --val-split 0.2`
  and nothing else; then evaluated on 400 new images generated with another seed.
- mosaics: ../shared/datasets/flowers5 photos composed 2x2 into 224x224 mosaics whose labels
  are the flowers in them (each tile a random class, so 1-4 labels). The photos are split first
  (80/20 by a seeded shuffle), so no photo appears in both the training and the held-out
  mosaics: 1,200 training mosaics (`--val-split 0.2` inside them) and 400 held-out ones.
- shapes-scratch: shapes as a user without the [weights] extra gets it (VISIONFLOW_AUTO_PRETRAINED=0:
  the auto recipe from scratch).
Reports validation (thresholds fitted there) and held-out figures: mAP, macro/micro F1, exact
match. Writes results/NAME.{md,json} (default: multilabel).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import dataset, machine_info  # noqa: E402

RESULTS = HERE / "results"
TILE = 112


def shapes_data(root: Path) -> tuple[Path, Path]:
    from synthetic import shapes_folder

    return shapes_folder(root / "shapes", images=800, seed=11), shapes_folder(root / "shapes_test", images=400, seed=12)


def _mosaics(photos: dict[str, list[Path]], count: int, out: Path, seed: int) -> Path:
    import numpy as np
    from PIL import Image

    from visionflow.data.decode import decode
    from visionflow.data.resize import Resize

    rng = np.random.default_rng(seed)
    classes = sorted(photos)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = ["image,labels"]
    crop = Resize("crop")
    for i in range(count):
        canvas = Image.new("RGB", (2 * TILE, 2 * TILE))
        present = set()
        for t in range(4):
            label = classes[int(rng.integers(len(classes)))]
            path = photos[label][int(rng.integers(len(photos[label])))]
            tile = decode(str(path), size=(TILE, TILE), resize=crop)
            canvas.paste(Image.fromarray(tile), ((t % 2) * TILE, (t // 2) * TILE))
            present.add(label)
        name = f"images/m{i:05d}.jpg"
        canvas.save(out / name, quality=90)
        rows.append(f"{name},{' '.join(sorted(present))}")
    (out / "labels.csv").write_text("\n".join(rows) + "\n")
    return out


def mosaic_data(root: Path) -> tuple[Path, Path] | None:
    import numpy as np

    flowers = dataset("flowers5")
    if flowers is None:
        return None
    rng = np.random.default_rng(0)
    train, held = {}, {}
    for folder in sorted(p for p in flowers.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.jpg"))
        order = rng.permutation(len(files))
        cut = int(0.8 * len(files))
        train[folder.name] = [files[i] for i in order[:cut]]
        held[folder.name] = [files[i] for i in order[cut:]]
    return _mosaics(train, 1200, root / "mosaics", seed=1), _mosaics(held, 400, root / "mosaics_test", seed=2)


def figures(m: dict) -> dict:
    return {"images": m["images"], "mAP": round(m["mAP"], 4), "macro_f1": round(m["macro_avg"]["f1-score"], 4),
            "micro_f1": round(m["micro_avg"]["f1-score"], 4), "exact_match": round(m["exact_match"], 4),
            "labels_per_image": round(m["label_cardinality"], 2)}


def run_case(name: str, data: Path, held: Path, root: Path) -> dict:
    import visionflow

    lines: list[str] = []
    t0 = time.perf_counter()
    run = visionflow.train(data=str(data), task="multilabel", val_split=0.2, project=str(root / "runs"),
                           name=name, say=lines.append)
    wall = time.perf_counter() - t0
    test = visionflow.evaluate(run.run_dir, held, backend="keras", out=root / f"{name}_eval")
    recipe = next((line for line in lines if line.startswith("recipe ")), "")
    thresholds = json.loads((run.run_dir / "labels.json").read_text())["thresholds"]
    print(f"{name}: {recipe}\n  validation {figures(run.metrics['validation'])}\n  held-out {figures(test)}  "
          f"({wall / 60:.1f} min)", flush=True)
    return {"case": name, "recipe": recipe, "minutes": round(wall / 60, 2), "thresholds": thresholds,
            "validation": figures(run.metrics["validation"]), "held_out": figures(test),
            "per_label_f1": {c: round(v["f1-score"], 4) for c, v in test["per_label"].items()}}


def short(recipe: str, width: int = 100) -> str:
    """The recipe's last phase, cut at a comma so that no figure is cut in half."""
    text = recipe.split(" -> ")[-1]
    while len(text) > width and ", " in text:
        text = text.rsplit(", ", 1)[0]
    return text


def render(results: list[dict]) -> list[str]:
    lines = ["# Multi-label classification from the defaults", "",
             "`python bench/multilabel.py`: `visionflow train DIR --task multilabel --val-split 0.2`, nothing else; "
             "validation figures use the thresholds fitted on it, held-out figures are on images the run never saw.",
             "", "| case | recipe | minutes | val mAP | val macro F1 | held-out mAP | held-out macro F1 | "
                 "held-out micro F1 | held-out exact match |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        v, h = r["validation"], r["held_out"]
        lines.append(f"| {r['case']} | {short(r['recipe'])} | {r['minutes']} | {v['mAP']} | "
                     f"{v['macro_f1']} | {h['mAP']} | {h['macro_f1']} | {h['micro_f1']} | {h['exact_match']} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="shapes,mosaics")
    parser.add_argument("--out", default="multilabel")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="vf-multilabel-") as tmp:
        root = Path(tmp)
        for case in args.cases.split(","):
            if case == "shapes-scratch":
                os.environ["VISIONFLOW_AUTO_PRETRAINED"] = "0"
            else:
                os.environ.pop("VISIONFLOW_AUTO_PRETRAINED", None)
            made = shapes_data(root / case) if case.startswith("shapes") else mosaic_data(root)
            if made is None:
                print(f"{case}: skipped (../shared/datasets/flowers5 not found)")
                continue
            results.append(run_case(case, *made, root))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"machine": machine_info(), "results": results}, indent=2))
    lines = render(results)
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
