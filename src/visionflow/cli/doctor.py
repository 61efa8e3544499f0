"""`visionflow doctor DIR`: check an image folder before training.

Check an image folder before training: unreadable files, odd colour modes, exact and
near-duplicates (within a class, across classes, across splits), class imbalance, extreme sizes;
likely label errors with --predictions.
"""

from __future__ import annotations

import argparse

from visionflow.cli.common import command
import sys


def add(sub) -> None:
    from visionflow.doctor import CHECKS

    dr = command(sub, __doc__, "Check an image folder: corrupt files, duplicates, leakage, imbalance.")
    dr.add_argument("data", metavar="DIR", help="DIR/train (+ validation/val, test), or DIR/<class>/.")
    dr.add_argument("--out", default="doctor", metavar="DIR", help="Folder for doctor.json and report.html (default: doctor).")
    dr.add_argument("--predictions", metavar="CSV", help="oof_predictions.csv from `visionflow cv` to list likely label errors.")
    dr.add_argument("--slices", metavar="CSV",
                    help="A CSV of image (path relative to DIR, or file name) plus attribute columns (camera, site, "
                         "...): each slice's size and classes, and attributes that go with the label.")
    dr.add_argument("--fail-on", metavar="CHECK[,CHECK]", default="",
                    help="Exit 1 when any of these is found: " + ", ".join(CHECKS) + ".")


def run(args: argparse.Namespace) -> int:
    from visionflow.doctor import doctor, parse_fail_on

    fail_on = parse_fail_on(args.fail_on)
    found = doctor(args.data, out=args.out, predictions=args.predictions, slices=args.slices)
    failing = [f"{name} ({found['problems'][name]})" for name in fail_on if found["problems"][name]]
    if failing:
        print(f"failed checks: {', '.join(failing)}", file=sys.stderr)
        return 1
    return 0
