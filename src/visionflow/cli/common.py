"""Pieces the command modules share: the RUN argument, option dataclasses from parsed flags, and
training settings from --config plus flags."""

from __future__ import annotations

import argparse
import json
import sys

RUN_HELP = "Run folder (or .keras file with labels.json beside it)."
TASK_SETTINGS = ("Each task has settings of its own beside these (a denoiser's --noise, a GAN's --latent-dim): "
                 "`visionflow train --task TASK --help` lists them; without --task, classification's are taken.")
# The commands that take training settings: the task their command line names adds its own flags.
TRAINING_COMMANDS = ("train", "tune", "cv")


def named_task(argv: list[str]) -> str | None:
    """The task a training command line names: --task TASK, else its --config file's, else its
    --resume run's config.yaml's; None where it names none (or they cannot be read: the command
    then says why)."""
    from pathlib import Path

    from visionflow.config import load_yaml
    from visionflow.errors import VisionflowError

    def value(flag: str) -> str | None:
        for i, arg in enumerate(argv):
            if arg == flag and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
        return None

    if value("--task"):
        return value("--task")
    for flag, file in (("--config", Path), ("--resume", lambda run: Path(run) / "config.yaml")):
        if value(flag):
            try:
                task = load_yaml(file(value(flag))).get("task")
            except (VisionflowError, OSError):
                task = None
            if task:
                return str(task)
    return None


def command(sub, doc: str, help: str) -> argparse.ArgumentParser:
    """The parser of the command whose module docstring is `doc`: its first line names the command
    (`visionflow NAME ...`), its second paragraph is the command's --help description."""
    name = doc.split("`visionflow ", 1)[1].split()[0].rstrip("`:")
    description = " ".join(doc.split("\n\n")[1].split())
    return sub.add_parser(name, help=help, description=description)


def add_run(parser: argparse.ArgumentParser, help: str = RUN_HELP) -> None:
    parser.add_argument("run", metavar="RUN", help=help)


def add_options(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of the options dataclass `cls` (see `config.add_arguments`)."""
    from visionflow.settings import add_arguments

    add_arguments(parser, cls, skip=skip)


def options(args: argparse.Namespace, cls: type):
    """The options dataclass `cls` with the flags that were given, defaults for the rest."""
    from visionflow.config import overrides_from_args
    from visionflow.settings import from_mapping

    return from_mapping(cls, overrides_from_args(args, cls), source="command line")


def add_config(parser: argparse.ArgumentParser, what: str = "settings") -> None:
    parser.add_argument("--config", metavar="FILE", help=f"YAML file of {what}; flags override it.")


def train_settings(args: argparse.Namespace):
    """(base TrainConfig from --config or None, the training flags given)."""
    from visionflow.config import TrainConfig, load_yaml, overrides_from_args

    base = TrainConfig.from_dict(load_yaml(args.config), source=args.config) if args.config else None
    values = overrides_from_args(args)
    values.pop("data", None)  # the positional DIR, passed on its own
    return base, values


class JsonArray:
    """A JSON array written to standard output one element at a time."""

    def __init__(self):
        self.count = 0

    def write(self, item: dict) -> None:
        text = json.dumps(item, indent=2)
        sys.stdout.write(("[\n" if self.count == 0 else ",\n") + "  " + text.replace("\n", "\n  "))
        sys.stdout.flush()
        self.count += 1

    def close(self) -> None:
        sys.stdout.write("[]\n" if self.count == 0 else "\n]\n")
