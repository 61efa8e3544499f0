"""`visionflow train`: a folder of images -> a run folder (model, metrics, report)."""

from __future__ import annotations

import argparse

from visionflow.cli.common import TASK_SETTINGS
from visionflow.errors import VisionflowError


def add(sub) -> None:
    from visionflow.config import TrainConfig
    from visionflow.settings import add_arguments

    t = sub.add_parser("train", help="Train a model on an image folder.",
                       description="Train a model on an image folder and write a run folder "
                                   "(model.keras, metrics.json, history.csv, plots/, tensorboard/).",
                       epilog=TASK_SETTINGS)
    t.add_argument("data", nargs="?", default=argparse.SUPPRESS, metavar="DIR",
                   help="DIR/train + DIR/validation (or val, optional test), or DIR/<class>/ with --val-split; "
                        "with --task multilabel, DIR/labels.csv beside the images; with --task denoise, deblur, "
                        "superres or inpaint, any folder of clean images (10%% held out unless DIR/validation exists).")
    t.add_argument("--config", metavar="FILE", help="YAML file of settings; flags override it.")
    t.add_argument("--data", dest="data", default=argparse.SUPPRESS, metavar="DIR",
                   help="The data folder, as DIR above; with --resume, where the run's images are now if the "
                        "folder moved (checked against the run's fingerprint of its images).")
    t.add_argument("--resume", metavar="RUN", help="Continue RUN from its last checkpoint, from any working folder "
                                                   "(only --epochs, --patience and --time-budget may change).")
    t.add_argument("--distributed", action="store_true",
                   help="Train on tf.distribute.MultiWorkerMirroredStrategy as described by TF_CONFIG (every worker "
                        "runs the same command; --batch-size is per worker). See `visionflow launch`.")
    add_arguments(t, TrainConfig, skip=("data",))


def run(args: argparse.Namespace) -> int:
    from visionflow.config import TrainConfig, load_yaml, overrides_from_args
    from visionflow.workflow import train

    values = overrides_from_args(args)
    if getattr(args, "data", None):
        values["data"] = args.data
    if args.resume:
        if args.config:
            raise VisionflowError("--resume takes the settings from the run's config.yaml; drop --config.")
        train(resume=args.resume, distributed=args.distributed, **values)
        return 0
    base = TrainConfig.from_dict(load_yaml(args.config), source=args.config) if args.config else None
    train(base, distributed=args.distributed, **values)
    return 0
