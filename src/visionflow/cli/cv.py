"""`visionflow cv DIR`: k models on stratified folds, mean ± std, one report.

Train one model per fold (stratified, near-duplicates kept in one fold) and write cv.json,
oof_predictions.csv, report.html and a doctor check with likely label errors. Takes the same
settings as train.
"""

from __future__ import annotations

import argparse

from visionflow.cli.common import add_config, add_options, command, options, train_settings
from visionflow.options import CvOptions


def add(sub) -> None:
    from visionflow.config import TrainConfig
    from visionflow.settings import add_arguments

    c = command(sub, __doc__, "Cross-validate: k models on stratified folds, mean ± std, one report.")
    c.add_argument("data", metavar="DIR", help="DIR/<class>/, or DIR/train + DIR/validation (pooled; test/ is left out).")
    add_options(c, CvOptions)
    add_config(c)
    add_arguments(c, TrainConfig, skip=("data", "val_split", "calibrate"))


def run(args: argparse.Namespace) -> int:
    from visionflow.cv import cross_validate

    o = options(args, CvOptions)
    base, values = train_settings(args)
    for name in ("folds", "out"):  # CvOptions, not training settings
        values.pop(name, None)
    cross_validate(args.data, folds=o.folds, config=base, out=o.out, **values)
    return 0
