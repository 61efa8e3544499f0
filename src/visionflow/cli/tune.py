"""`visionflow tune DIR`: search training settings with Optuna."""

from __future__ import annotations

import argparse

from visionflow.cli.common import add_config, add_options, options, train_settings
from visionflow.options import TuneOptions


def add(sub) -> None:
    from visionflow.config import TrainConfig
    from visionflow.settings import add_arguments

    tn = sub.add_parser("tune", help="Search training settings with Optuna; each trial is a small run.",
                        description="Hyperparameter search on Optuna (TPE, random or grid) with pruning of bad "
                                    "trials. Every train flag sets the base config of all trials; the search space "
                                    "comes from --space or the default. Writes leaderboard.csv, best.yaml, "
                                    "report.html and the study (SQLite) into the tune folder.")
    tn.add_argument("data", metavar="DIR", help="The image folder, as for train.")
    add_options(tn, TuneOptions)
    add_config(tn, "base settings")
    add_arguments(tn, TrainConfig, skip=("data", "calibrate"))


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from visionflow.tuning.study import tune

    o = options(args, TuneOptions)
    base, values = train_settings(args)
    tune(args.data, config=base, **asdict(o), **values)
    return 0
