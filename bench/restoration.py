"""Image restoration from the defaults, beside the classical baselines.

Usage: python bench/restoration.py [--cases denoise superres inpaint deblur@blur:gaussian:2 ...]
       [--data hymenoptera] [--out NAME]

A case is a task, or TASK@SPEC for a task trained with `--degrade SPEC`.

Each case runs `visionflow train ../shared/datasets/DATA --task TASK` with nothing else (the
task's defaults, including the training budget: 10 minutes, inpainting 15): hymenoptera trains
on train/ (245 photos, class folders ignored) and is measured on val/ (153 photos the model never
trained on;
the run does not pick an epoch on them: the last epoch is kept). The run's own evaluation
restores every validation photo whole and scores it with scikit-image's PSNR/SSIM beside each
baseline at its best setting (tried on the first 8 photos). Targets: denoising (gaussian:25)
>= 1.0 dB over the best baseline; 2x super-resolution >= 0.5 dB over bicubic; inpainting above
OpenCV's Telea in the holes; deblurring >= 2 dB over unsharp masking and >= 1 dB over the best
blind baseline (the deconvolutions told the true kernel are upper bounds, shown, not targets).
Writes results/NAME.{md,json} (default: restoration).
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
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import dataset, machine_info  # noqa: E402

RESULTS = HERE / "results"
TARGETS = {"denoise": [("best baseline", 1.0)], "superres": [("bicubic", 0.5)], "inpaint": [("Telea (OpenCV)", 0.0)],
           "deblur": [("unsharp masking", 2.0), ("best baseline", 1.0)]}


def run_case(case: str, data: Path, project: Path) -> dict:
    from visionflow.workflow import train

    task, _, spec = case.partition("@")
    lines: list[str] = []
    t0 = time.perf_counter()
    name = f"{task}-{len(list(project.glob('*')))}" if project.exists() else task  # one folder per case
    run = train(data=str(data), task=task, project=str(project), name=name, say=lines.append,
                **({"degrade": spec} if spec else {}))
    minutes = (time.perf_counter() - t0) / 60
    val = run.metrics["validation"]
    key, model = val["metric"], val["model"]
    checks = []
    for against, needed in TARGETS[task]:
        reference = val["best_baseline"] if against == "best baseline" else against
        gain = round(val["methods"][model][key] - val["methods"][reference][key], 3)
        blind = "blind " if task == "deblur" else ""  # deblurring also shows upper bounds, never the one to beat
        shown = f"the best {blind}baseline ({reference})" if against == "best baseline" else reference
        checks.append({"reference": shown, "gain_db": gain, "target_db": needed,
                       "met": gain >= needed if needed else gain > 0})
    return {"task": task, "degradation": run.metrics["degradation"], "images": val["images"], "metric": key,
            "minutes": round(minutes, 2), "train_minutes": round(run.metrics["train_seconds"] / 60, 2),
            "epochs": run.metrics["epochs_run"], "methods": val["methods"], "checks": checks,
            "met": all(c["met"] for c in checks), "seconds_per_megapixel": val["seconds_per_megapixel"],
            "model_line": next((line for line in lines if line.startswith("model: ")), "")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["denoise", "superres", "inpaint"])
    parser.add_argument("--data", default="hymenoptera")
    parser.add_argument("--out", default="restoration")
    args = parser.parse_args()
    data = dataset(args.data)
    if data is None:
        sys.exit(f"../shared/datasets/{args.data} not found")
    rows = []
    with tempfile.TemporaryDirectory(prefix="vf-restoration-") as tmp:
        for case in args.cases:
            rows.append(run_case(case, data, Path(tmp)))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "methods"}), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"machine": machine_info(), "data": args.data,
                                                          "results": rows}, indent=2))
    lines = ["# Image restoration from the defaults", "",
             f"`python bench/restoration.py --cases {' '.join(args.cases)}`: `visionflow train "
             f"../shared/datasets/{args.data} --task TASK [--degrade SPEC]`, nothing else; every validation photo restored whole and scored against its clean original.", ""]
    for r in rows:
        label = "PSNR in the holes dB" if r["metric"] == "hole_psnr" else "PSNR dB"
        lines += [f"## {r['task']}: {r['degradation']}, {r['images']} photos, {r['train_minutes']} min training "
                  f"({r['epochs']} epochs), {r['minutes']} min in all", "",
                  f"| method | {label} | SSIM | setting |", "|---|---|---|---|"]
        for name, m in sorted(r["methods"].items(), key=lambda kv: -kv[1][r["metric"]]):
            lines.append(f"| {name} | {m[r['metric']]:.2f} | {m['ssim']:.4f} | {m.get('setting', '') or ''} |")
        verdicts = "; ".join(f"against {c['reference']}: {c['gain_db']:+.2f} dB (target {c['target_db']:+.1f}: "
                             f"{'met' if c['met'] else 'NOT met'})" for c in r["checks"])
        lines += ["", f"Model {verdicts}; {r['seconds_per_megapixel']:.3f} s per output megapixel.", ""]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
