"""`visionflow launch --workers N -- train ...`: local multi-worker training.

Run `visionflow train ... --distributed` as N worker processes on this machine, each with a
TF_CONFIG on 127.0.0.1 ports: for trying multi-worker training locally (the same command runs on
real clusters with their own TF_CONFIG). Worker 0 (the chief) prints to the console and writes
the run folder; if any worker fails, the others are stopped and the exit code is non-zero.
"""

from __future__ import annotations

import argparse

from visionflow.cli.common import command


def add(sub) -> None:
    la = command(sub, __doc__, "Start N local training workers with a generated TF_CONFIG.")
    la.add_argument("--workers", type=int, default=2, help="Number of worker processes (default: 2).")
    la.add_argument("worker_command", nargs=argparse.REMAINDER, metavar="-- train DIR [FLAGS]",
                    help="The train command to run on every worker.")


def run(args: argparse.Namespace) -> int:
    from visionflow.launch import launch

    command = list(args.worker_command)
    if command[:1] == ["--"]:
        command = command[1:]
    return launch(command, workers=args.workers)
