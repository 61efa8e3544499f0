"""Image generation (--task gan) from the defaults, beside the real-vs-real floor and trivial
generators.

Usage: python bench/gan.py [--cases digits,flowers5] [--minutes 20] [--out NAME]

- digits: scikit-learn's handwritten digits written out as 32x32 class folders (as `make demo`
  does; 1,437 train / 360 validation), `visionflow train DIR --task gan --conditional`. Target:
  the feature network (trained on the real training digits) labels >= 90% of the samples as the
  class they were generated for.
- flowers5: ../shared/datasets/flowers5, `visionflow train DIR --task gan --image-size 64`
  (unconditional; 20% held out). Target: the Fréchet distance on visionflow's feature network at
  least halfway from the noise generator to held-out real images (progress >= 0.5).
Each run trains for --minutes (the task's default budget, 20) and is measured by its own
evaluation; generation speed is timed after it (Keras, batch 64). Writes results/NAME.{md,json}
and the final sample grids as results/NAME_<case>.png (default NAME: gan).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import arguments, dataset, machine_info  # noqa: E402

RESULTS = HERE / "results"


def generation_speed(run: Path, n: int = 512) -> float:
    from visionflow.tasks.generation.sampler import load_sampler

    sampler = load_sampler(run)
    sampler.generate(64, seed=0)  # traced once
    t0 = time.perf_counter()
    sampler.generate(n, seed=1)
    return n / (time.perf_counter() - t0)


def run_case(case: str, tmp: Path, minutes: float, out: str) -> dict:
    from visionflow.workflow import train

    if case == "digits":
        from visionflow.demo import export_digits

        data, settings, target = export_digits(tmp), {"conditional": True}, ("conditional accuracy", 0.90)
    else:
        data = dataset(case)
        if data is None:
            sys.exit(f"../shared/datasets/{case} not found")
        settings, target = {"image_size": 64}, ("progress", 0.5)
    lines: list[str] = []
    t0 = time.perf_counter()
    run = train(data=str(data), task="gan", time_budget=minutes, project=str(tmp / "runs"), name=case,
                say=lines.append, **settings)
    total = (time.perf_counter() - t0) / 60
    q = run.metrics["validation"]
    got = q["conditional"]["accuracy"] if target[0] == "conditional accuracy" else q["progress"]
    shutil.copy(run.run_dir / "samples" / "final.png", RESULTS / f"{out}_{case}.png")
    return {"case": case, "settings": settings, "train_minutes": round(run.metrics["train_seconds"] / 60, 2),
            "minutes": round(total, 2), "epochs": run.metrics["epochs_run"], "quality": q,
            "feature_network": run.metrics["feature_network"], "warnings": run.metrics["warnings"],
            "target": target[0], "needed": target[1], "got": got, "met": got is not None and got >= target[1],
            "samples_per_s": round(generation_speed(run.run_dir), 1),
            "model_line": next((line for line in lines if line.startswith("model: ")), "")}


def main() -> None:
    args = arguments(__doc__, cases="digits,flowers5", minutes=20.0, out="gan")
    RESULTS.mkdir(exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vf-gan-") as tmp:
        for case in args.cases.split(","):
            rows.append(run_case(case, Path(tmp), args.minutes, args.out))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "quality"}), flush=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"machine": machine_info(), "results": rows}, indent=2))
    lines = ["# Image generation from the defaults", "",
             "`python bench/gan.py`: `visionflow train DIR --task gan` (digits: `--conditional`; flowers5: "
             "`--image-size 64`), measured by the run's own evaluation against its held-out images.", ""]
    for r in rows:
        q = r["quality"]
        lines += [f"## {r['case']}: {r['train_minutes']} min training ({r['epochs']} epochs), {r['minutes']} min in all",
                  "", f"{r['model_line']}", "",
                  f"Quality on {q['features']} ({q['images']} images per row, against {q['reference_images']} "
                  f"real training images):", "",
                  "| generator | FD | KD | precision | recall | likely copies |", "|---|---|---|---|---|---|"]
        for name, m in q["rows"].items():
            lines.append(f"| {name} | {m['fd']:.3f} | {m['kd']:.4f} | {m['precision']:.3f} | {m['recall']:.3f} | "
                         f"{m['copies']:.1%} |")
        lines.append("")
        lines.append(f"Progress from noise (0) to held-out real (1) on FD: {q['progress']}.")
        c = q.get("conditional")
        if c:
            lines.append(f"Samples labelled as their class: {c['accuracy']:.1%} (the feature network on held-out real "
                         f"digits: {c.get('real_accuracy', float('nan')):.1%}); per class: "
                         + ", ".join(f"{k} {v:.0%}" for k, v in c["per_class"].items()) + ".")
        lines += [f"Target: {r['target']} >= {r['needed']}: {'met' if r['met'] else 'NOT met'} ({r['got']}).",
                  f"Generation: {r['samples_per_s']} samples/s (Keras, batch 64).",
                  *(f"Warning: {w}" for w in r["warnings"]), "", f"![samples]({args.out}_{r['case']}.png)", ""]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
