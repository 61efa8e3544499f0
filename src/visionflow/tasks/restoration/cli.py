"""The command line of restoration models: `visionflow predict RUN IMAGES --out DIR` writes the
restored images; `visionflow evaluate RUN DIR` measures PSNR/SSIM against classical baselines."""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import sys

from visionflow.cli.common import JsonArray
from visionflow.errors import VisionflowError
from visionflow.network.cli import exit_code


def predict(args: argparse.Namespace, o) -> int:
    """`visionflow predict` of a restoration model: the restored images written to --out."""
    from visionflow.predict import iter_inputs
    from visionflow.tasks.restoration.predict import restore_files
    from visionflow.tasks.restoration.restorer import Restorer

    if o.overlay:
        raise VisionflowError("--overlay is for segmentation models; a restoration model writes restored images to --out.")
    if not o.out:
        raise VisionflowError(f"{args.run} holds a restoration model: give --out DIR, the folder for the restored images.")
    from visionflow.video.reader import is_video

    if o.video_flags() or any(is_video(a) for a in args.inputs):
        raise VisionflowError("Restoration models restore images, not videos.")
    restorer = Restorer.load(args.run, unsafe=o.unsafe)
    paths = iter_inputs(args.inputs)
    first = next(paths, None)
    if first is None:
        raise VisionflowError("No input images found.")
    failed = seen = 0
    out = JsonArray() if o.format == "json" else None
    for done in restore_files(restorer, itertools.chain([first], paths), o.out):
        failed += not done.ok
        if out is not None:
            out.write(done.to_dict())
        elif o.format == "csv":
            if seen == 0:
                csv.writer(sys.stdout).writerow(["source", "output", "width", "height", "seconds", "error"])
            row = done.to_dict()
            csv.writer(sys.stdout).writerow([row[k] if row[k] is not None else "" for k in
                                             ("source", "output", "width", "height", "seconds", "error")])
        elif done.ok:
            print(f"{done.source}\t-> {done.output} ({done.width}x{done.height}, {done.seconds:.2f}s)")
        else:
            print(f"{done.source}\tERROR: {done.error}")
        seen += 1
    if out is not None:
        out.close()
    return exit_code(failed, seen, "image(s) could not be restored.")


def evaluate(args: argparse.Namespace, o) -> int:
    """`visionflow evaluate` of a restoration model: PSNR/SSIM against the baselines, report and metrics."""
    from visionflow.tasks.restoration.evaluate import evaluate_folder, format_table

    if o.slices:
        raise VisionflowError("--slices measures models that label images; this run makes images.")
    if o.features != "visionflow":
        raise VisionflowError("--features is for GANs; this run holds a model that takes images.")
    result = evaluate_folder(args.run, args.data, out=o.out, unsafe=o.unsafe, pairs=o.pairs)
    print(format_table(result))
    for item in result["skipped"]:
        print(f"skipped {item['path']}: {item['reason']}", file=sys.stderr)
    print(f"\nwritten: {os.path.join(result['out'], 'report.html')}, metrics.json and predictions.csv beside it")
    return 0
