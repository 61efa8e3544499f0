"""The command line of style models: `visionflow predict RUN IMAGES --out DIR [--style NAME]
[--strength S]` writes each image repainted (a PNG at its own size), `visionflow predict RUN
clip.mp4 --annotate out.mp4` a repainted copy of a video, and `visionflow evaluate RUN DIR`
measures the style and content distances beside the photos and Gatys' optimisation."""

from __future__ import annotations

import argparse
import itertools
import os
import sys

from visionflow.errors import VisionflowError
from visionflow.network.cli import exit_code


def _refuse(o) -> None:
    refused = [flag for flag, on in (("--overlay", o.overlay), ("--conf", o.conf is not None), ("--iou", o.iou is not None),
                                     ("--track", o.track), ("--count-line", o.count_line), ("--segments", o.segments),
                                     ("--cam", o.cam), ("--plot", o.plot is not None), ("--tta", o.tta),
                                     ("--labels", o.labels is not None)) if on]
    if refused:
        raise VisionflowError(f"{', '.join(refused)} {'is' if len(refused) == 1 else 'are'} not for style models, "
                              f"which repaint images (--out DIR) and videos (--annotate OUT.mp4).")


def predict(args: argparse.Namespace, o) -> int:
    from visionflow.cli.common import JsonArray
    from visionflow.predict import iter_inputs
    from visionflow.tasks.style.predict import paint_files, paint_video
    from visionflow.tasks.style.styler import Styler
    from visionflow.video.reader import VideoError, is_video

    _refuse(o)
    inputs = list(iter_inputs(args.inputs, videos=True))
    videos = [p for p in inputs if is_video(p)]
    images = [p for p in inputs if not is_video(p)]
    if not inputs:
        raise VisionflowError("No input images or videos found.")
    if images and not o.out:
        raise VisionflowError(f"{args.run} holds a style model: give --out DIR, the folder for the repainted images.")
    if videos and not o.annotate:
        raise VisionflowError("A style model repaints a video into a copy: give --annotate OUT.mp4 (one video at a time).")
    if len(videos) > 1:
        raise VisionflowError(f"--annotate writes one copy: give one video at a time (received {len(videos)}).")
    if o.annotate and not videos:
        raise VisionflowError("--annotate is for videos; images are written to --out DIR.")
    styler = Styler.load(args.run, unsafe=o.unsafe)
    styler.index(o.style)  # an unknown style is refused before any work
    failed = seen = 0
    out = JsonArray() if o.format == "json" else None
    rows = paint_files(styler, itertools.chain(images), o.out, style=o.style, strength=o.strength) if images else iter(())
    if o.format == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(["source", "output", "width", "height", "seconds", "error"])
    for done in rows:
        failed += not done.ok
        seen += 1
        row = done.to_dict()
        if out is not None:
            out.write(row)
        elif o.format == "csv":
            writer.writerow([row[k] if row[k] is not None else "" for k in ("source", "output", "width", "height", "seconds", "error")])
        elif done.ok:
            print(f"{done.source}\t-> {done.output} ({done.width}x{done.height}, {done.seconds:.2f}s)")
        else:
            print(f"{done.source}\tERROR: {done.error}")
    for video in videos:
        seen += 1
        try:
            result = paint_video(styler, video, o.annotate, style=o.style, strength=o.strength)
        except VideoError as exc:
            failed += 1
            result = {"source": video, "output": None, "error": str(exc)}
        if out is not None:
            out.write(result)
        elif result.get("error"):
            print(f"{video}\tERROR: {result['error']}")
        else:
            print(f"{video}\t-> {result['output']} ({result['frames']} frames, {result['width']}x{result['height']}, "
                  f"{result['seconds']:.1f}s)" + (f"\n{result['warning']}" if result.get("warning") else ""))
    if out is not None:
        out.close()
    return exit_code(failed, seen, "input(s) could not be repainted.")


def evaluate(args: argparse.Namespace, o) -> int:
    from visionflow.tasks.style.evaluate import evaluate_folder, format_table

    if o.slices or o.pairs or o.conf is not None:
        raise VisionflowError("--slices, --pairs and --conf are not for style models.")
    if o.features != "visionflow":
        raise VisionflowError("--features is for GANs; this run holds a style model.")
    result = evaluate_folder(args.run, args.data, out=o.out, unsafe=o.unsafe,
                             say=lambda m: print(m, file=sys.stderr))
    print(format_table(result))
    for item in result["skipped"]:
        print(f"skipped {item['path']}: {item['reason']}", file=sys.stderr)
    print(f"\nwritten: {os.path.join(result['out'], 'report.html')}, metrics.json and predictions.csv beside it")
    return 0
