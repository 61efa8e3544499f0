"""Pieces the command modules share: the RUN argument, option dataclasses from parsed flags, and
training settings from --config plus flags."""

from __future__ import annotations

import argparse

RUN_HELP = "Run folder (or .keras file with labels.json beside it)."


def add_run(parser: argparse.ArgumentParser, help: str = RUN_HELP) -> None:
    parser.add_argument("run", metavar="RUN", help=help)


def restoration_run(run: str) -> bool:
    """Whether RUN (a run folder, model file or export folder) holds a restoration model; False
    where it cannot be told (the command's own loading then says what is wrong)."""
    from visionflow.tasks.restoration.restorer import holds_restoration

    return holds_restoration(run)


def add_options(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of the options dataclass `cls` (see `config.add_arguments`)."""
    from visionflow.config import add_arguments

    add_arguments(parser, cls, skip=skip)


def options(args: argparse.Namespace, cls: type):
    """The options dataclass `cls` with the flags that were given, defaults for the rest."""
    from visionflow.config import from_mapping, overrides_from_args

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
