"""Style transfer on real photos: `visionflow train` with --style and nothing else, then measured.

Usage: python bench/style.py [--style PATH] [--gatys 12] [--out style] [-- EXTRA TRAIN FLAGS]

Trains `visionflow train hymenoptera --task style --style STYLE` (the default 10-minute budget,
johnson_s, 128-px crops of the 244 training photos), then `visionflow.tasks.style.evaluate`
measures it on the 153 validation photos (256-px centres at their own resolution): the style
distance of the outputs against the untouched photos', their content distance against Gatys'
per-image optimisation of the same loss on the first `--gatys` photos, and the seconds per photo
of each. Without `--style`, the style is the generated stained-glass picture of
`style_screen.py`. Writes results/NAME.{md,json} and NAME.jpg (photo | style | network | Gatys).
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

from common import dataset, machine_info  # noqa: E402
from style_screen import stained_glass  # noqa: E402

RESULTS = HERE / "results"
TARGETS = {"style_change": -0.60, "content_vs_gatys": 2.0, "speedup": 100.0}


def strip(examples: list, picture: np.ndarray) -> np.ndarray:
    """Rows of photo | style | network | Gatys, each picture 192 px high."""
    from PIL import Image

    def fit(im):
        h, w = im.shape[:2]
        return np.asarray(Image.fromarray(im).resize((max(1, round(w * 192 / h)), 192), Image.Resampling.LANCZOS))

    rows = []
    for photo, out, optimised in examples:
        parts = [fit(photo), fit(picture), fit(out)] + ([fit(optimised)] if optimised is not None else [])
        rows.append(np.concatenate(parts, 1))
    width = min(r.shape[1] for r in rows)
    return np.concatenate([r[:, :width] for r in rows], 0)


def main() -> None:
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="")
    parser.add_argument("--gatys", type=int, default=12)
    parser.add_argument("--out", default="style")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    data = dataset("hymenoptera")
    if data is None:
        sys.exit("../shared/datasets/hymenoptera not found")
    work = Path(tempfile.mkdtemp(prefix="style-bench-"))
    style = args.style
    if not style:
        style = str(work / "stained_glass.png")
        Image.fromarray(stained_glass()).save(style)
    cmd = [sys.executable, "-m", "visionflow", "train", str(data), "--task", "style", "--style", style,
           "--project", str(work / "runs"), "--name", "run", *extra]
    print(" ".join(cmd), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - start
    run = work / "runs" / "run"
    metrics = json.loads((run / "metrics.json").read_text())

    from visionflow.tasks.style.evaluate import evaluate_folder, summary

    result = evaluate_folder(run, data / "val", out=work / "evaluation", gatys_images=args.gatys,
                             say=lambda m: print(m, flush=True))
    name, entry = next(iter(result["styles"].items()))
    Image.fromarray(strip(result["examples"][name], np.asarray(Image.open(run / "styles" / f"{name}.png")))).save(
        RESULTS / f"{args.out}.jpg", quality=88)
    figures = {"style_change": entry["style_change"], "content_vs_gatys": entry["content_vs_gatys"],
               "speedup": result["speedup"]}
    met = {"style_change": figures["style_change"] <= TARGETS["style_change"],
           "content_vs_gatys": figures["content_vs_gatys"] <= TARGETS["content_vs_gatys"],
           "speedup": figures["speedup"] >= TARGETS["speedup"]}
    out = {"machine": machine_info(), "command": " ".join(cmd[2:]), "train_wall_seconds": round(wall, 1),
           "epochs_run": metrics["epochs_run"], "train_seconds": metrics["train_seconds"],
           "evaluation": summary(result), "figures": figures, "targets": TARGETS, "met": met}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(out, indent=2))
    s, sec = entry, result["seconds_per_image"]
    lines = ["# Style transfer on hymenoptera", "",
             f"`python bench/style.py {' '.join(sys.argv[1:])}`: `visionflow train hymenoptera --task style --style "
             f"{args.style or 'stained_glass.png'}` ({wall / 60:.1f} min wall, {metrics['epochs_run']} epochs), measured "
             f"on {result['images']} validation photos ({result['side']} px centres), Gatys on the first "
             f"{s['gatys']['images']} ({result['gatys_steps']} Adam steps each).", "",
             "| images | style distance | content distance | s per photo |", "|---|---|---|---|",
             f"| photos as they are | {s['input']['style']:.4f} | 0 | |",
             f"| this model ({result['images']} photos) | {s['network']['style']:.4f} | {s['network']['content']:.4f} | "
             f"{sec['network']:.3f} |",
             f"| this model (the {s['gatys']['images']} Gatys photos) | {s['network_on_gatys_images']['style']:.4f} | "
             f"{s['network_on_gatys_images']['content']:.4f} | |",
             f"| Gatys | {s['gatys']['style']:.4f} | {s['gatys']['content']:.4f} | {sec['gatys']:.2f} |", "",
             "| target | needed | measured | met |", "|---|---|---|---|",
             f"| style distance vs the photos' | <= -60% | {figures['style_change']:+.1%} | {met['style_change']} |",
             f"| content distance vs Gatys' | <= 2x | {figures['content_vs_gatys']:.2f}x | {met['content_vs_gatys']} |",
             f"| speed vs Gatys | >= 100x | {figures['speedup']:g}x | {met['speedup']} |", ""]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
