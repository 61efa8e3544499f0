"""`visionflow serve RUN`: the HTTP service and its web page.

Serve a run's model (or an exported model) over HTTP: POST /v1/predict (classifiers, detectors,
segmenters), POST /v1/restore (restoration and style models: the restored PNG), POST
/v1/generate (GANs), GET /v1/model, /healthz, /readyz, /metrics, a web page at /, API docs at
/docs.
"""

from __future__ import annotations

import argparse

from visionflow.cli.common import command


def add(sub) -> None:
    from visionflow.settings import add_arguments
    from visionflow.serve.settings import ServeConfig

    s = command(sub, __doc__, "Serve a model over HTTP (FastAPI): predictions, web page, metrics.")
    s.add_argument("run", metavar="RUN", help="Run folder, or a folder written by `visionflow export`.")
    add_arguments(s, ServeConfig, skip=())


def run(args: argparse.Namespace) -> int:
    from visionflow.config import overrides_from_args
    from visionflow.settings import from_mapping
    from visionflow.serve import serve
    from visionflow.serve.settings import ServeConfig

    cfg = from_mapping(ServeConfig, overrides_from_args(args, ServeConfig), source="serve")
    return serve(args.run, cfg)
