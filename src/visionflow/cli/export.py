"""`visionflow export RUN`: other formats, each checked against the .keras model."""

from __future__ import annotations

import argparse

from visionflow.cli.common import add_options, add_run, options
from visionflow.options import ExportOptions


def add(sub) -> None:
    from visionflow.export.formats import FORMATS

    x = sub.add_parser("export", help="Export a run's model (ONNX, TFLite, SavedModel, ...) with a parity check.",
                       description="Export a run's model and check it against the .keras model on sample "
                                   "images; a failed check exits non-zero and writes nothing. Formats: "
                                   + ", ".join(FORMATS.names()) + ".")
    add_run(x)
    add_options(x, ExportOptions)


def run(args: argparse.Namespace) -> int:
    from visionflow.export import export

    o = options(args, ExportOptions)
    export(args.run, o.format, out=o.out, samples=o.samples, min_agreement=o.min_agreement, unsafe=o.unsafe)
    return 0
