"""`visionflow report FOLDER`: rebuild report.html from the files a command wrote."""

from __future__ import annotations

import argparse


def add(sub) -> None:
    r = sub.add_parser("report", help="Rebuild report.html of a run, evaluation, cv or doctor folder.")
    r.add_argument("folder", metavar="FOLDER", help="runs/exp1, an evaluation folder, a cv folder or a doctor folder.")


def run(args: argparse.Namespace) -> int:
    from visionflow.report import rebuild

    print(f"written: {rebuild(args.folder)}")
    return 0
