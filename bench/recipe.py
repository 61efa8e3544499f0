"""The no-flags defaults on data the project does not tune on: tiny generated sets and real photos.

Usage: python bench/recipe.py [--cases tiny,hymenoptera,rose_tulip,flowers5] [--recipes auto,scratch,tutorial] [--out NAME]

- tiny: generated easy 2- and 5-class sets (tests/synthetic.py) with 5, 10 and 25 training
  images per class plus odd-mode and broken files, 8 validation images per class: the defaults
  must reach >= 95% validation accuracy, >= 0.9 mean probability of the right class, and never
  fall back to chance once learnt.
- hymenoptera: ../shared/datasets/hymenoptera (train/ + val/).
- rose_tulip: 700 roses and 700 tulips from ../shared/datasets/flowers5 (sorted by name, the
  photos filed under both classes left out), 20% held out: a 2-class ~1,400-image set.
- flowers5: ../shared/datasets/flowers5, 20% held out.
`--recipes auto,scratch,tutorial` runs each real set as a user gets it with no flags (`auto`:
transfer learning from efficientnet_lite0's ImageNet weights where they are installed or
installable), with the auto recipe from scratch (`--weights none`), and with `--recipe tutorial`.
The accuracy reported is the model the run kept: the last epoch for `auto`; for `tutorial` the
best epoch picked on the validation images (its last epoch is reported beside it).
Writes results/NAME.{md,json} (default: recipe).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
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
TINY = [(2, 5), (2, 10), (2, 25), (5, 5), (5, 10), (5, 25)]


def tiny_case(root: Path, classes: int, per_class: int) -> dict:
    import numpy as np

    import visionflow
    from synthetic import easy_folder

    data = easy_folder(root / f"easy{classes}_{per_class}", classes=classes, train=per_class, validation=8,
                       seed=1000 + classes * 100 + per_class)
    t0 = time.perf_counter()
    lines: list[str] = []
    run = visionflow.train(data=str(data), project=str(root / "runs"), say=lines.append)
    wall = time.perf_counter() - t0
    val = [r["val_accuracy"] for r in run.history]
    chance = 1 / classes
    risen = next((i for i, v in enumerate(val) if v > chance + 0.2), None)
    images = sorted((data / "validation").rglob("*.jpg"))
    preds = visionflow.load(run.run_dir, backend="keras").predict(images)
    right = float(np.mean([p.probabilities[path.parent.name] for p, path in zip(preds, images)]))
    return {"case": f"tiny {classes} classes x {per_class}", "recipe": next(l for l in lines if l.startswith("recipe")),
            "epochs_run": len(val), "val_accuracy": val[-1], "first_val_accuracy": val[0],
            "min_after_learnt": min(val[risen:]) if risen is not None else None, "mean_right_probability": right,
            "wall_s": wall}


def rose_tulip(root: Path, flowers: Path, per_class: int = 700) -> Path:
    """700 + 700 symlinks, without the photos filed under both classes."""
    digests = {c: {hashlib.blake2b(p.read_bytes(), digest_size=16).hexdigest(): p
                   for p in sorted((flowers / c).iterdir())} for c in ("rose", "tulip")}
    both = digests["rose"].keys() & digests["tulip"].keys()
    for c in ("rose", "tulip"):
        (root / c).mkdir(parents=True, exist_ok=True)
        keep = sorted(p for d, p in digests[c].items() if d not in both)[:per_class]
        for p in keep:
            (root / c / p.name).symlink_to(p)
    return root


# What each --recipes entry runs: the auto recipe as a user gets it (pretrained where the weights
# are installed or installable), the same from scratch, and the classic tutorial settings.
VARIANTS = {"auto": {"recipe": "auto"}, "scratch": {"recipe": "auto", "weights": "none"},
            "tutorial": {"recipe": "tutorial"}}


def real_case(name: str, data: Path, extra: dict) -> dict:
    cmd = [sys.executable, str(HERE / "train_case.py"), "visionflow_default", "--data", str(data), "--epochs", "0",
           "--extra", json.dumps(extra)]
    print("  $", " ".join(cmd[1:]), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"case {name} failed:\n" + "\n".join((proc.stderr or proc.stdout).splitlines()[-5:]))
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["case"] = name
    return out


def render(info: dict, tiny: list[dict], real: list[dict]) -> str:
    """The results as Markdown tables."""
    lines = ["# The defaults (bench/recipe.py)", "",
             f"Machine: {info['cpu']}, {info['cores']} cores; TensorFlow {info['tensorflow']}, Keras {info['keras']}. "
             f"Date: {time.strftime('%Y-%m-%d')}. Accuracy on the validation images: the kept model (auto: the last epoch; "
             "tutorial: the best epoch, picked on those images) and the last epoch.", ""]
    if tiny:
        lines += ["| tiny set | epochs | first-epoch val acc | val acc | lowest after learnt | right-class probability | wall s |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['epochs_run']} | {r['first_val_accuracy']:.3f} | {r['val_accuracy']:.3f} | "
                  f"{r['min_after_learnt'] if r['min_after_learnt'] is None else format(r['min_after_learnt'], '.3f')} | "
                  f"{r['mean_right_probability']:.3f} | {r['wall_s']:.0f} |" for r in tiny]
        lines.append("")
    if real:
        lines += ["| data | recipe | model | size | train images | epochs | head-only val acc | steady img/s | "
                  "val acc (kept model) | val acc (last epoch) | wall min | peak RSS MiB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['recipe']} | {r.get('model', '')}{' + ImageNet' if r.get('weights') == 'imagenet' else ''} "
                  f"| {r.get('image_size', '')} | {r['train_images']} | {r['epochs_run']} | "
                  f"{'-' if r.get('head_val_accuracy') is None else format(r['head_val_accuracy'], '.3f')} | "
                  f"{r['steady_images_per_s'] or 0:.0f} | {r['best_val_accuracy']:.3f} | {r['val_accuracy']:.3f} | "
                  f"{r['wall_s'] / 60:.1f} | {r['peak_rss_mb']:.0f} |" for r in real]
    text = "\n".join(lines) + "\n"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="tiny,hymenoptera,rose_tulip,flowers5")
    parser.add_argument("--recipes", default="auto", help="for the real sets, comma-separated: auto (pretrained where "
                                                         "weights exist), scratch (auto with --weights none), tutorial")
    parser.add_argument("--out", default="recipe", help="results file name (results/NAME.md, .json)")
    args = parser.parse_args()
    cases = args.cases.split(",")
    info = machine_info()
    print(f"machine: {info['cpu']} ({info['cores']} cores), TensorFlow {info['tensorflow']}, Keras {info['keras']}",
          flush=True)
    tmp = tempfile.TemporaryDirectory()
    root = Path(tmp.name)
    tiny, real = [], []
    if "tiny" in cases:
        for classes, per_class in TINY:
            r = tiny_case(root, classes, per_class)
            print(f"  {r['case']}: val acc {r['val_accuracy']:.3f}, right-class probability "
                  f"{r['mean_right_probability']:.3f}, {r['epochs_run']} epochs, {r['wall_s']:.0f} s", flush=True)
            tiny.append(r)
    flowers, hymen = dataset("flowers5"), dataset("hymenoptera")
    sets = {"hymenoptera": (hymen, {}),
            "rose_tulip": (rose_tulip(root / "rose_tulip", flowers) if flowers else None, {"val_split": 0.2}),
            "flowers5": (flowers, {"val_split": 0.2})}
    for name in [c for c in cases if c in sets]:
        data, extra = sets[name]
        if data is None:
            print(f"  {name}: dataset not found, skipped")
            continue
        for recipe in args.recipes.split(","):
            r = real_case(name, data, {**extra, **VARIANTS[recipe]})
            r["recipe"] = recipe
            print(f"  {name} ({recipe}): val acc {r['best_val_accuracy']:.3f} kept, {r['val_accuracy']:.3f} last, "
                  f"after {r['epochs_run']} epochs, "
                  f"{r['wall_s'] / 60:.1f} min", flush=True)
            real.append(r)
    text = render(info, tiny, real)
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.md").write_text(text)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"machine": info, "tiny": tiny, "real": real}, indent=2) + "\n")


if __name__ == "__main__":
    main()
