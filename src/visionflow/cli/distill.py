"""`visionflow distill TEACHER_RUN DIR`: train a small student on a teacher's softened answers.

Train a student (default small_cnn) on DIR with the teacher run's softened answers beside the
labels (Hinton et al.), then compare teacher and student: accuracy on the same validation images,
parameters, and the latency of their ONNX and TFLite int8 exports. The student is an ordinary run
folder (predict, export, serve); the comparison is STUDENT/distillation.json.
"""

from __future__ import annotations

import argparse

from visionflow.cli.common import command


def add(sub) -> None:
    from visionflow.config import TrainConfig
    from visionflow.settings import add_arguments

    d = command(sub, __doc__, "Knowledge distillation: a small model learns from a trained one.")
    d.add_argument("teacher", metavar="TEACHER_RUN", help="A trained classification run.")
    d.add_argument("data", metavar="DIR", help="Images of the teacher's classes, as visionflow train takes them.")
    d.add_argument("--no-compare", dest="compare", action="store_false",
                   help="Skip the teacher/student table (and its exports).")
    # the student's common training flags, less those distillation refuses (a student is a classifier of
    # images: no task of its own, no labels CSV or table columns)
    add_arguments(d, TrainConfig, skip=("data", "teacher", "task", "mixup", "dp", "target_epsilon", "dp_clip", "dp_delta",
                                        "dp_accountant", "head_epochs"))


def run(args: argparse.Namespace) -> int:
    from visionflow.config import overrides_from_args
    from visionflow.distillation import compare
    from visionflow.workflow import train

    values = {**overrides_from_args(args), "data": args.data, "teacher": args.teacher}
    values.setdefault("model", "small_cnn")
    result = train(**values)
    if args.compare:
        print()
        compare(args.teacher, result.run_dir)
    return 0
