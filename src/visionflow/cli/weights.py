"""`visionflow weights install|list`: offline ImageNet weights."""

from __future__ import annotations

import argparse
import json


def add(sub) -> None:
    w = sub.add_parser("weights", help="Install or list offline ImageNet weights (converted once, verified).",
                       description="ImageNet weights shipped as packages on the package index, converted once into "
                                   "Keras weights in $VISIONFLOW_WEIGHTS (default: ~/.cache/visionflow/weights) and "
                                   "checked against the source framework's outputs.")
    wsub = w.add_subparsers(dest="action", metavar="ACTION")
    wsub.required = True
    wi = wsub.add_parser("install", help="Convert and verify the weights of a model.")
    wi.add_argument("name", metavar="NAME", help="Model name (see `visionflow weights list`).")
    wi.add_argument("--from", dest="source", metavar="FILE", default=None,
                    help="The PyTorch checkpoint to convert (default: the one in the installed weights package).")
    wi.add_argument("--force", action="store_true", help="Convert again even if intact weights are installed.")
    wl = wsub.add_parser("list", help="Models with offline weights: installed, installable, or what to install.")
    wl.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    import visionflow.models  # noqa: F401  (the networks register how their checkpoints convert)
    from visionflow import pretrained

    if args.action == "install":
        pretrained.install(args.name, source=args.source, force=args.force)
        return 0
    rows = pretrained.status()
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    print(f"weights folder: {pretrained.weights_dir()}  (set ${pretrained.ENV} to move it)")
    for r in rows:
        hint = "" if r["state"] != "not available" else f"  ({pretrained.install_hint(r['model'])})"
        print(f"  {r['model']:<20} {r['state']:<14}{hint}")
    return 0
