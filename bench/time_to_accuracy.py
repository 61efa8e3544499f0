"""Time to accuracy: `visionflow train DIR` with no flags, timed from the command line as a user
runs it (process start to exit), and the accuracy of the model it kept.

Usage: python bench/time_to_accuracy.py [--cases colours,hymenoptera,digits,flowers5,budget] [--extra JSON]
       [--out NAME]

- colours: a generated folder far from ImageNet: red and blue pictures (shades, blobs, noise),
  26 training and 8 validation images per class, 4 of each class's training images greyscale;
  target >= 0.95 validation accuracy with >= 0.9 mean probability of the true class, and frames of
  the same colours at another size (128x96) answered right.
- hymenoptera: ../shared/datasets/hymenoptera (train/ + val/); target >= 0.94 in <= 90 s.
- digits: scikit-learn's handwritten digits as 32 px PNGs (`visionflow demo`'s folder, 20% held
  out): small images, where small_cnn from scratch challenges the pretrained model.
- flowers5: ../shared/datasets/flowers5, 20% held out (near-duplicates kept on one side); target
  >= 0.88 in <= 10 minutes.
- budget: a denoiser and a GAN on 52 generated images with `--budget 1m`; target: the whole run
  within 66 s of wall time.
`--extra` adds flags to every training command (e.g. '{"fine-tune": "always"}' for a side-by-side
run of the previous behaviour). Writes results/NAME.{md,json} (default: time_to_accuracy).
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
sys.path.insert(0, str(HERE.parent / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import dataset, machine_info  # noqa: E402

RESULTS = HERE / "results"
RED, BLUE = (219, 48, 48), (40, 60, 210)


def colour_folder(root: Path, train: int = 26, validation: int = 8, grey: int = 4, seed: int = 3) -> Path:
    """Red and blue pictures: a base shade varied per image, a few blobs of a nearby shade, noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("validation", validation)):
        for name, base in (("red", RED), ("blue", BLUE)):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                h, w = int(rng.integers(80, 200)), int(rng.integers(80, 200))
                shade = np.clip(np.array(base) + rng.normal(0, 18, 3), 0, 255)
                img = np.ones((h, w, 3)) * shade
                for _ in range(int(rng.integers(1, 5))):
                    cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(8, 40)
                    yy, xx = np.ogrid[:h, :w]
                    img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = np.clip(shade + rng.normal(0, 40, 3), 0, 255)
                img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
                picture = Image.fromarray(img)
                if split == "train" and i < grey:
                    picture = picture.convert("L")
                picture.save(folder / f"{name}_{i:03d}.jpg", quality=92)
    return root


def train_cli(data: Path, project: Path, flags: dict) -> tuple[float, Path, str]:
    """(wall seconds, run folder, stdout) of `visionflow train DATA` with `flags`."""
    cmd = [sys.executable, "-m", "visionflow", "train", str(data), "--project", str(project), "--name", "run"]
    for key, value in flags.items():
        cmd += [f"--{key}"] + ([] if value is True else [str(value)])
    print("  $", " ".join(cmd[3:]), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit("training failed:\n" + "\n".join((proc.stderr or proc.stdout).splitlines()[-8:]))
    return wall, project / "run", proc.stdout


def summary(run: Path, stdout: str) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    lines = stdout.splitlines()
    return {"val_accuracy": metrics["validation"]["accuracy"], "epochs_run": metrics.get("epochs_run"),
            "stopped": metrics.get("stopped"), "head": metrics.get("head"), "fine_tune": metrics.get("fine_tune"),
            "versus_scratch": metrics.get("versus_scratch"),
            "log": [line for line in lines if line.startswith(("head:", "fine-tun", "epoch ", "stopped", "recipe", "versus"))],
            "recipe": next((line for line in lines if line.startswith("recipe")), ""),
            "closing": next((line for line in lines if line.startswith("wall time")), "")}


def colours_case(root: Path, extra: dict) -> dict:
    import numpy as np

    import visionflow

    data = colour_folder(root / "colours")
    wall, run, out = train_cli(data, root / "colours_runs", extra)
    r = {"case": "colours (26+26, 8 greyscale)", "wall_s": wall, **summary(run, out)}
    model = visionflow.load(run, backend="keras")
    images = sorted((data / "validation").rglob("*.jpg"))
    preds = model.predict(images)
    r["mean_true_probability"] = float(np.mean([p.probabilities[path.parent.name] for p, path in zip(preds, images)]))
    frames = {name: np.tile(np.array(colour, np.uint8), (96, 128, 1)) for name, colour in (("red", RED), ("blue", BLUE))}
    answers = {name: model.predict(frame) for name, frame in frames.items()}
    r["frames"] = {name: [p.label, round(float(p.probabilities[name]), 3)] for name, p in answers.items()}
    r["frames_right"] = all(p.label == name for name, p in answers.items())
    return r


def budget_case(root: Path, task: str) -> dict:
    from synthetic import smooth_folder

    data = smooth_folder(root / f"budget_{task}", images=52, side=64)
    flags = {"task": task, "budget": "1m"}
    if task == "gan":
        flags["image-size"] = 32
    wall, run, out = train_cli(data, root / f"budget_{task}_runs", flags)
    metrics = json.loads((run / "metrics.json").read_text())
    return {"case": f"{task}, --budget 1m", "wall_s": wall, "epochs_run": metrics.get("epochs_run"),
            "stopped": metrics.get("stopped"), "run_wall_s": metrics.get("wall_seconds"),
            "closing": next((line for line in out.splitlines() if line.startswith("wall time")), "")}


def _versus(record: dict | None) -> str:
    """Who won the from-scratch challenge, by how much on the held-out slice ("-": none ran)."""
    if not record:
        return "-"
    p, s = record["pretrained"], record["scratch"]
    return (f"{record['winner']} kept: small_cnn {s['slice_accuracy']:.3f} (loss {s['slice_loss']:.3f}) vs "
            f"{p['model']} {p['slice_accuracy']:.3f} (loss {p['slice_loss']:.3f}) on {record['slice_images']}")


def render(info: dict, rows: list[dict]) -> str:
    lines = ["# Time to accuracy (bench/time_to_accuracy.py)", "",
             f"Machine: {info['cpu']}, {info['cores']} cores; TensorFlow {info['tensorflow']}, Keras {info['keras']}. "
             f"Date: {time.strftime('%Y-%m-%d')}. Wall time of the whole command, process start to exit.", "",
             "| case | val acc | true-class prob | other-size frames | epochs | decision | versus scratch (slice) | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = f"{r['val_accuracy']:.3f}" if "val_accuracy" in r else "-"
        prob = f"{r['mean_true_probability']:.3f}" if "mean_true_probability" in r else "-"
        frames = ("right" if r["frames_right"] else "WRONG") + f" {r['frames']}" if "frames" in r else "-"
        decision = (r.get("fine_tune") or {}).get("decision") or r.get("stopped") or ""
        lines.append(f"| {r['case']} | {acc} | {prob} | {frames} | {r.get('epochs_run')} | {decision} | "
                     f"{_versus(r.get('versus_scratch'))} | {r['wall_s']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="colours,hymenoptera,digits,flowers5,budget")
    parser.add_argument("--extra", default="{}", help="flags added to every classification run, as JSON")
    parser.add_argument("--out", default="time_to_accuracy")
    args = parser.parse_args()
    extra = json.loads(args.extra)
    info = machine_info()
    print(f"machine: {info['cpu']} ({info['cores']} cores), TensorFlow {info['tensorflow']}", flush=True)
    tmp = tempfile.TemporaryDirectory()
    root = Path(tmp.name)
    rows = []
    cases = args.cases.split(",")
    if "colours" in cases:
        rows.append(colours_case(root, extra))
    if "digits" in cases:
        from visionflow.demo import export_digits

        data = export_digits(root / "digits")
        wall, run, out = train_cli(data, root / "digits_runs", extra)
        rows.append({"case": "digits (sklearn, 32 px)", "wall_s": wall, **summary(run, out)})
    for name, flags in (("hymenoptera", {}), ("flowers5", {"val-split": 0.2})):
        data = dataset(name)
        if name not in cases or data is None:
            continue
        wall, run, out = train_cli(data, root / f"{name}_runs", {**flags, **extra})
        rows.append({"case": name, "wall_s": wall, **summary(run, out)})
    if "budget" in cases:
        rows += [budget_case(root, "denoise"), budget_case(root, "gan")]
    for r in rows:
        print(f"  {r['case']}: " + ", ".join(f"{k} {v}" for k, v in r.items() if k not in ("case", "head", "log")), flush=True)
        for line in r.get("log", []):
            print(f"    {line}", flush=True)
    text = render(info, rows)
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.md").write_text(text)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
