"""Resize modes side by side: stretch, centre crop and letterbox pad with the no-flags defaults.

Usage: python bench/resize.py [--cases hymenoptera,hymenoptera-scratch] [--modes stretch,crop,pad] [--out NAME]

Each case trains `visionflow train DIR` with nothing but `--resize MODE` and reports the
validation accuracy of the kept model and the minutes it took; `hymenoptera-scratch` is the same
data with the automatic pretrained backbone turned off (VISIONFLOW_AUTO_PRETRAINED=0), i.e. the
from-scratch recipe. flowers5 is not a case: its photos are all 128x128, and on square images the
three modes give the same pixels. Writes results/NAME.{md,json} (default: resize).
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
CASES = {"hymenoptera": "hymenoptera", "hymenoptera-scratch": "hymenoptera"}


def main() -> None:
    import visionflow

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="hymenoptera,hymenoptera-scratch")
    parser.add_argument("--modes", default="stretch,crop,pad")
    parser.add_argument("--out", default="resize")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="vf-resize-") as tmp:
        for case in args.cases.split(","):
            data = dataset(CASES[case])
            if data is None:
                print(f"{case}: skipped (../shared/datasets/{CASES[case]} not found)")
                continue
            if case.endswith("-scratch"):
                os.environ["VISIONFLOW_AUTO_PRETRAINED"] = "0"
            else:
                os.environ.pop("VISIONFLOW_AUTO_PRETRAINED", None)
            for mode in args.modes.split(","):
                lines: list[str] = []
                t0 = time.perf_counter()
                run = visionflow.train(data=str(data), resize=mode, project=str(Path(tmp) / case), name=mode,
                                       say=lines.append)
                val = run.metrics["validation"]
                row = {"case": case, "resize": mode, "accuracy": round(val["accuracy"], 4),
                       "macro_f1": round(val["macro_avg"]["f1-score"], 4), "images": val["images"],
                       "minutes": round((time.perf_counter() - t0) / 60, 2),
                       "recipe": next((line for line in lines if line.startswith("recipe ")), "")}
                rows.append(row)
                print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"machine": machine_info(), "results": rows}, indent=2))
    lines = ["# Resize modes with the no-flags defaults", "",
             "`python bench/resize.py`: `visionflow train DIR --resize MODE`, nothing else; validation accuracy of "
             "the kept model.", "", "| case | resize | validation accuracy | macro F1 | images | minutes | recipe |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['resize']} | {r['accuracy']} | {r['macro_f1']} | {r['images']} | {r['minutes']} | {r['recipe'].split(' -> ')[-1]} |"
              for r in rows]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
