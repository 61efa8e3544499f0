"""`visionflow models`: the registered models."""

from __future__ import annotations

import argparse
import json


def add(sub) -> None:
    m = sub.add_parser("models", help="List the registered models.")
    m.add_argument("--image-size", default="150", help="Input size for the parameter count (default: 150).")
    m.add_argument("--format", choices=("table", "json"), default="table")
    m.add_argument("--task", metavar="TASK", help="Only the models that train for TASK (default: every task's).")


def run(args: argparse.Namespace) -> int:
    from visionflow.settings import parse_image_size
    from visionflow.models import model_table

    rows = model_table(parse_image_size(args.image_size), task=args.task)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<20} {'task':<26} {'params':>11}  {'input':<10} {'pretrained':<10} description")
    for r in rows:
        print(f"{r['name']:<20} {r['task']:<26} {r['params']:>11,}  {r['input']:<10} {r['pretrained']:<10} "
              f"{r['description']}")
    return 0
