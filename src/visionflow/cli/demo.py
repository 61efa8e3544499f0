"""`visionflow demo`: train, evaluate and predict on scikit-learn's handwritten digits."""

from __future__ import annotations

import argparse


def add(sub) -> None:
    d = sub.add_parser("demo", help="Train, evaluate and predict on scikit-learn's handwritten digits.")
    d.add_argument("--out", default="demo", metavar="DIR", help="Folder for the digits images and the run (default: demo).")
    d.add_argument("--epochs", type=int, default=None, help="Epochs (default: the demo's own setting).")


def run(args: argparse.Namespace) -> int:
    from visionflow.demo import run_demo

    return run_demo(args.out, epochs=args.epochs)
