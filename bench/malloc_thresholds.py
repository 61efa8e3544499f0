"""Training with and without `visionflow.training.setup.steady_malloc`, side by side.

TensorFlow's generator datasets set glibc's M_TRIM_THRESHOLD to 128 KB, which also pins the mmap
threshold there: every tensor buffer over 128 KB is then mapped and unmapped at each step.
Training calls `steady_malloc` at each epoch's first batch to put both thresholds back where
glibc's own adaptation ends. This benchmark trains the same small detector on generated scenes
(tests/scenes.py) in two fresh processes, one with the call turned off, and prints the epoch
times (after the first, which traces the model), the system CPU time and the final losses,
which must be the same.

    python bench/malloc_thresholds.py [--epochs 8] [--images 96]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, arguments, write_results

RUN = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from scenes import make_scenes
import visionflow
if {off!r}:
    import visionflow.training.callbacks as callbacks
    callbacks.steady_malloc = lambda: None
data = make_scenes(Path({root!r}) / "scenes", {{"train": {images}, "validation": 24}}, layout="yolo", seed=11)
visionflow.train(data=str(data), task="detection", model="fcos_small", image_size=96, epochs={epochs}, batch_size=8,
                 project={root!r} + "/runs", name="run", say=lambda line: None)
"""


def case(off: bool, epochs: int, images: int) -> dict:
    with tempfile.TemporaryDirectory() as root:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        code = RUN.format(tests=str(ROOT / "tests"), off=off, root=root, images=images, epochs=epochs)
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        rows = [line.split(",") for line in (Path(root) / "runs" / "run" / "history.csv").read_text().splitlines()]
    head, rows = rows[0], rows[1:]
    seconds = [float(r[head.index("seconds")]) for r in rows]
    steady = seconds[1:]
    return {"epoch_seconds": seconds, "mean_after_first": round(sum(steady) / len(steady), 2),
            "max_after_first": max(steady), "user_s": round(after.ru_utime - before.ru_utime, 1),
            "system_s": round(after.ru_stime - before.ru_stime, 1), "last_loss": float(rows[-1][head.index("loss")])}


def main() -> None:
    args = arguments(__doc__, epochs=8, images=96, out="malloc_thresholds")
    off = case(True, args.epochs, args.images)
    on = case(False, args.epochs, args.images)
    lines = [f"# glibc malloc thresholds during training (fcos_small, {args.images} generated scenes, 96 px, "
             f"{args.epochs} epochs)", "",
             "| | TensorFlow's (off) | steady_malloc (default) | ratio |", "|---|---|---|---|"]
    for key, label in (("mean_after_first", "epoch s, mean after the first"), ("max_after_first", "epoch s, slowest"),
                       ("system_s", "system CPU s"), ("user_s", "user CPU s"), ("last_loss", "last training loss")):
        lines.append(f"| {label} | {off[key]} | {on[key]} | {on[key] / off[key]:.2f} |")
    write_results(args.out, {"off": off, "on": on, "epochs": args.epochs, "images": args.images}, lines)
    print(json.dumps({"same_losses": off["last_loss"] == on["last_loss"]}))


if __name__ == "__main__":
    main()
