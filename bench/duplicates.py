"""Does keeping near-duplicate images on one side of the split change validation accuracy?

flowers5 holds the same photo twice at different sizes (X.jpg / X_n.jpg). This trains the same
config on two 20% validation splits of it, side by side:
  grouped: visionflow's splitter (near-duplicate groups stay on one side);
  random:  a plain stratified random split (scikit-learn), which lets copies straddle the split.
For the random split it also reports accuracy on the validation images that have a near-copy in
training against the rest, the direct measure of the leak.

    python bench/duplicates.py [--data ../shared/datasets/flowers5] [--epochs 20] [--seeds 1 2]

Prints a table and writes bench/results/duplicates.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import dataset, machine_info  # noqa: E402

RECIPE = {"image_size": 64, "augment": "strong", "dropout": 0.5, "optimizer": "adamw", "weight_decay": 5e-4,
          "learning_rate": 2e-3, "label_smoothing": 0.1, "lr_schedule": "cosine", "patience": 0}


def random_split(records, fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

    train, val = train_test_split(records, test_size=fraction, stratify=[r.label for r in records],
                                  random_state=seed)
    for r in val:
        r.split = "validation"
    for r in train:
        r.split = "train"
    return train, val


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(dataset("flowers5") or ""))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--val-split", type=float, default=0.2)
    args = parser.parse_args()
    if not args.data or not Path(args.data).is_dir():
        print("flowers5 not found beside the project; pass --data DIR (a DIR/<class>/ folder)")
        return 2

    import copy

    from visionflow import train
    from visionflow.data.dataset import load_folder, make_folder
    from visionflow.data.split import similar_pairs

    size = (RECIPE["image_size"],) * 2
    base = load_folder(args.data, size, val_split=args.val_split, seed=args.seeds[0])
    pool = base.splits["train"] + base.splits["validation"]
    pool.sort(key=lambda r: r.path)
    pairs = similar_pairs(pool)
    print(f"{len(pool)} images, {len(pairs)} pairs showing the same picture (exact or near-duplicates)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for strategy in ("grouped", "random"):
                records = [copy.copy(r) for r in pool]
                if strategy == "grouped":
                    folder = load_folder(args.data, size, val_split=args.val_split, seed=seed)
                else:
                    train_r, val_r = random_split(records, args.val_split, seed)
                    info = {"kind": "classes", "val_split": args.val_split, "seed": seed,
                            "strategy": "stratified random (near-duplicates not grouped)", "duplicates_grouped": 0}
                    folder = make_folder(args.data, {"train": args.data}, base.classes,
                                         {"train": train_r, "validation": val_r}, [], info)
                val_paths = {r.path for r in folder.splits["validation"]}
                leaked = set()
                for i, j in pairs:
                    a, b = pool[i].path, pool[j].path
                    if (a in val_paths) != (b in val_paths):
                        leaked.add(a if a in val_paths else b)
                t0 = time.perf_counter()
                run = train(data=args.data, folder=folder, project=tmp, name=f"{strategy}{seed}", seed=seed,
                            epochs=args.epochs, say=lambda s: None, **RECIPE)
                wall = time.perf_counter() - t0
                preds = _per_image(run.run_dir)
                hit = [preds[p] for p in leaked if p in preds]
                rest = [v for p, v in preds.items() if p not in leaked]
                row = {"strategy": strategy, "seed": seed, "validation_images": len(val_paths),
                       "validation_with_copy_in_train": len(leaked),
                       "val_accuracy": run.metrics["validation"]["accuracy"],
                       "accuracy_on_leaked": sum(hit) / len(hit) if hit else None,
                       "accuracy_on_rest": sum(rest) / len(rest) if rest else None,
                       "wall_s": round(wall, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    out = {"machine": machine_info(), "data": args.data, "epochs": args.epochs, "recipe": RECIPE,
           "images": len(pool), "near_duplicate_pairs": len(pairs), "rows": rows}
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "duplicates.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [f"# Near-duplicates and the validation split ({Path(args.data).name}, {args.epochs} epochs, 64x64)", "",
             f"{len(pool)} images, {len(pairs)} pairs showing the same picture (exact or near-duplicates).", "",
             "| split | seed | val images | val images with a copy in train | val accuracy | on those | on the rest |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        lines.append(f"| {r['strategy']} | {r['seed']} | {r['validation_images']} | {r['validation_with_copy_in_train']} "
                     f"| {r['val_accuracy']:.3f} | {fmt(r['accuracy_on_leaked'])} | {fmt(r['accuracy_on_rest'])} |")
    (results / "duplicates.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _per_image(run_dir: Path) -> dict[str, bool]:
    """{validation path: predicted correctly} from the run's predictions file."""
    import csv

    with open(run_dir / "predictions" / "validation.csv", newline="") as fh:
        return {row["path"]: row["label"] == row["predicted"] for row in csv.DictReader(fh)}


if __name__ == "__main__":
    sys.exit(main())
