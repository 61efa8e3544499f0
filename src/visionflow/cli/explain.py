"""`visionflow explain RUN IMAGE...`: Grad-CAM overlays of what drove a prediction."""

from __future__ import annotations

import argparse
import sys

from visionflow.cli.common import add_run
from visionflow.errors import VisionflowError
from visionflow.options import UNSAFE_HELP


def add(sub) -> None:
    g = sub.add_parser("explain", help="Grad-CAM heat map of what drove a prediction.",
                       description="Write a Grad-CAM overlay per image: the regions that drove the predicted "
                                   "(or --class) label, in red.")
    add_run(g)
    g.add_argument("inputs", nargs="+", metavar="IMAGE", help="Image files, folders or quoted globs.")
    g.add_argument("--out", metavar="PATH", help="Overlay file for one image, or a folder for several "
                                                 "(default: RUN/explain/<image name>_gradcam.png).")
    g.add_argument("--class", dest="class_name", metavar="NAME",
                   help="Explain this class (or label) instead of the most probable one.")
    g.add_argument("--layer", metavar="NAME", help="Convolutional layer to use (default: the last one).")
    g.add_argument("--unsafe", action="store_true", help=UNSAFE_HELP)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from visionflow.data.decode import DecodeError
    from visionflow.gradcam import GradCam, explain_to_file
    from visionflow.predict import expand_inputs, load

    predictor = load(args.run, unsafe=args.unsafe, backend="keras")
    cam = GradCam(predictor, args.layer)
    if args.class_name is not None and args.class_name not in predictor.classes:
        from visionflow.registry import unknown_message

        raise VisionflowError(unknown_message("class", args.class_name, predictor.classes))
    paths = expand_inputs(args.inputs)
    run_dir = Path(args.run) if Path(args.run).is_dir() else Path(args.run).parent
    if args.out and len(paths) == 1 and Path(args.out).suffix:
        targets = [Path(args.out)]
    else:
        folder = Path(args.out) if args.out else run_dir / "explain"
        targets = [folder / f"{Path(p).stem}_gradcam.png" for p in paths]
    failed = 0
    for path, target in zip(paths, targets):
        try:
            e = explain_to_file(predictor, path, target, args.class_name, cam=cam)
        except DecodeError as exc:
            print(f"{path}\tERROR: {exc.reason}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}\t{e.label} {e.probability:.3f} (predicted {e.predicted})\t-> {target}")
    print(f"layer: {cam.layer}", file=sys.stderr)
    return 1 if failed else 0
