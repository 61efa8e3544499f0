"""`visionflow evaluate RUN DIR`: the task's metrics, report and plots on labelled images."""

from __future__ import annotations

import argparse
import os
import sys

from visionflow.cli.common import add_options, add_run, options
from visionflow.options import EvaluateOptions


def add(sub) -> None:
    e = sub.add_parser("evaluate", help="Evaluate a trained model on labelled images.")
    add_run(e)
    e.add_argument("data", metavar="DIR", help="Classifier: a folder whose subfolders are the model's classes, e.g. "
                                               "data/validation, or a folder with labels.csv (image,label and the columns of a "
                                               "model that reads them); multi-label model: a folder with labels.csv; "
                                               "restoration model: any folder of clean images; GAN: real images "
                                               "to measure samples against (class folders for a conditional one).")
    add_options(e, EvaluateOptions)


def run(args: argparse.Namespace) -> int:
    from visionflow import tasks
    from visionflow.errors import VisionflowError
    from visionflow.evaluation import evaluate

    o = options(args, EvaluateOptions)
    task = tasks.of_path(args.run)
    own = task.verb("evaluate") if task is not None else None
    if own is not None:  # a task measured otherwise than by its labels
        return own(args, o)
    what = f"a {task.name} model" if task is not None else "a model that labels images"
    if o.features != "visionflow":
        raise VisionflowError(f"--features is for image generators (GANs); this run holds {what}.")
    if o.pairs:
        raise VisionflowError(f"--pairs is for models that restore images (denoise, deblur, superres); this run holds {what}.")
    result = evaluate(args.run, args.data, out=o.out, batch_size=o.batch_size, unsafe=o.unsafe, backend=o.backend,
                      tta=o.tta, labels=o.labels, slices=o.slices)
    print(tasks.get(result["task"]).format_table(result, result["classes"]))
    if result.get("modalities"):
        from visionflow.tabular.evaluate import format_lines

        print("\n".join(format_lines(result["modalities"])))
    if result.get("slices"):
        from visionflow.fairness.slices import format_table as slice_table

        print("\nby slice:")
        print(slice_table(result["slices"], result["classes"]))
    if result["tta"]:
        print("with flip test-time augmentation (each image and its mirror, averaged)")
    for item in result["skipped"] + result["failed"]:
        print(f"skipped {item['path']}: {item['reason']}", file=sys.stderr)
    print(f"\nwritten: {os.path.join(result['out'], 'report.html')}, metrics.json, predictions.csv and plots beside it")
    if o.fail_on_gap is not None:
        return _gap_check(result["slices"], o.fail_on_gap)
    return 0


def _gap_check(slices: dict, limit: float) -> int:
    """1 (with the reason on stderr) when some attribute's accuracy gap exceeds `limit`."""
    failing = [(a, b["gaps"]["accuracy"]) for a, b in slices["attributes"].items()
               if b["gaps"].get("accuracy", {}).get("difference") is not None
               and b["gaps"]["accuracy"]["difference"] > limit]
    for attribute, g in failing:
        print(f"accuracy gap {g['difference']:.3f} over {attribute} (worst {g['worst']}, best {g['best']}; 95% "
              f"interval {g['difference_95'][0]:.3f}-{g['difference_95'][1]:.3f}) is above --fail-on-gap {limit:g}",
              file=sys.stderr)
    return 1 if failing else 0
