"""Knowledge distillation: a small student with and without a teacher, and the teacher beside it.

Usage: python bench/distill.py [--out NAME]

On ../shared/datasets/hymenoptera (245 training, 153 validation images): the teacher is
`visionflow train DIR` (efficientnet_lite0 with ImageNet weights, the auto recipe); the student is
small_cnn from scratch at 96x96 for 40 epochs (AdamW 2e-3, cosine, strong augmentation), once alone
and once with `visionflow distill TEACHER DIR` (temperature 4, soft weight 0.8). Target: the
distilled student's validation accuracy above the student alone. The teacher/student table
(accuracy, parameters, ONNX and TFLite int8 size and single-image latency) is distill's own.
Writes results/NAME.{md,json} (default NAME: distill).
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
STUDENT = {"model": "small_cnn", "weights": "none", "image_size": 96, "epochs": 40, "optimizer": "adamw",
           "learning_rate": 2e-3, "lr_schedule": "cosine", "augment": "strong", "time_budget": 0, "patience": 0,
           "keep": "last"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="distill")
    args = parser.parse_args()
    data = dataset("hymenoptera")
    if data is None:
        sys.exit("../shared/datasets/hymenoptera not found")
    import visionflow
    from visionflow.distillation import compare, format_table

    quiet = lambda s: None  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        teacher = visionflow.train(data=str(data), project=tmp, name="teacher", say=quiet)
        t_teacher = time.perf_counter() - t0
        t0 = time.perf_counter()
        alone = visionflow.train(data=str(data), project=tmp, name="alone", say=quiet, **STUDENT)
        t_alone = time.perf_counter() - t0
        t0 = time.perf_counter()
        student = visionflow.distill(teacher.run_dir, data, project=tmp, name="student", compare=False, say=quiet,
                                     **STUDENT)
        t_student = time.perf_counter() - t0
        table = compare(teacher.run_dir, student.run_dir, say=quiet)
        alone_acc = alone.metrics["validation"]["accuracy"]
    result = {"teacher_seconds": round(t_teacher, 1), "alone_seconds": round(t_alone, 1),
              "student_seconds": round(t_student, 1), "alone_accuracy": alone_acc, "table": table,
              "machine": machine_info()}
    lines = ["# Knowledge distillation: hymenoptera", "", "```", format_table(table), "```", "",
             f"- small_cnn alone (same settings, no teacher): validation accuracy {alone_acc:.3f}; distilled "
             f"{table['student']['accuracy']:.3f} ({table['student']['accuracy'] - alone_acc:+.3f}).",
             f"- training time: teacher {t_teacher:.0f} s, student alone {t_alone:.0f} s, distilled student "
             f"{t_student:.0f} s (soft targets included).",
             f"- Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores."]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=1, default=str))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
