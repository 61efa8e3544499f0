"""The command line of segmentation models: `visionflow predict RUN INPUT... [--out DIR]` gives
each image's class areas (and writes its mask as a palette PNG, with --overlay a blended view),
each sampled video frame's class areas (--annotate out.mp4 overlays the masks); `visionflow
evaluate RUN DIR` scores the masks of a folder (mIoU)."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from visionflow.cli.common import JsonArray
from visionflow.errors import VisionflowError
from visionflow.network.cli import Inputs, analyse_videos, exit_code, label_flags, named, refuse, save
from visionflow.network.cli import evaluate as evaluate_command


class _Rows:
    """Writes one row per image or video frame as a table, JSON array or CSV (a column per class)."""

    def __init__(self, fmt: str, classes: list[str]):
        self.fmt, self.classes = fmt, classes
        self.json = JsonArray() if fmt == "json" else None
        self.csv = None

    def write(self, row: dict) -> None:
        if self.json is not None:
            self.json.write(row)
        elif self.fmt == "csv":
            if self.csv is None:
                self.csv = csv.writer(sys.stdout)
                self.csv.writerow(["source", "frame", "time", "mask", "overlay", *self.classes, "error"])
            areas = row.get("areas") or {}
            self.csv.writerow([row["source"], row.get("frame", ""), row.get("time", ""), row.get("mask", ""),
                               row.get("overlay", ""), *(areas.get(c, "") for c in self.classes), row.get("error", "")])
        elif row.get("error"):
            print(f"{row['source']}\tERROR: {row['error']}")
        else:
            where = f"@{row['time']:.2f}s" if "time" in row else ""
            shown = ", ".join(f"{c} {v:.1%}" for c, v in sorted(row["areas"].items(), key=lambda kv: -kv[1]) if v > 0)
            print(f"{row['source']}{where}\t{shown}" + (f"\t-> {row['mask']}" if row.get("mask") else ""))

    def close(self) -> None:
        if self.json is not None:
            self.json.close()


def write_outputs(segmenter, seg, out_dir: Path, taken: set[str], overlay: bool) -> dict:
    """The mask PNG (and overlay JPEG) of one image in `out_dir`; their paths for its row."""
    from PIL import Image

    from visionflow.data.decode import decode
    from visionflow.tasks.segmentation.masks import write_png

    row = {}
    target = named(out_dir, seg.source, taken, ".png")
    save(target, seg.source, lambda buf: write_png(buf, seg.mask, segmenter.colours))
    row["mask"] = str(target)
    if overlay:
        blend = segmenter.overlay(decode(seg.source), seg.mask)
        target = named(out_dir, seg.source, taken, "_overlay.jpg")
        save(target, seg.source, lambda buf: Image.fromarray(blend).save(buf, format="JPEG", quality=90))
        row["overlay"] = str(target)
    return row


def predict(args: argparse.Namespace, o) -> int:
    from visionflow.cli.predict import may_hold_many
    from visionflow.tasks.segmentation.segmenter import Segmenter
    from visionflow.video.reader import Sampling, is_video

    refuse([("--conf", o.conf is not None), ("--iou", o.iou is not None), ("--track", o.track),
            ("--count-line", o.count_line)], "is for detection models; a segmentation model labels every pixel.")
    refuse(label_flags(o), "is for classifiers; a segmentation model labels every pixel.")
    if o.overlay and not o.out:
        raise VisionflowError("--overlay writes blended images beside the masks: give --out DIR too.")
    if (o.fps or o.every) and not any(is_video(a) or may_hold_many(a) for a in args.inputs):
        raise VisionflowError("--fps and --every sample the frames of a video; no video was given.")
    out_dir = Path(o.out) if o.out else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise VisionflowError(f"--out {o.out} is a file; give a folder for the masks.")
    segmenter = Segmenter.load(args.run, backend=o.backend, unsafe=o.unsafe)
    inputs = Inputs(args.inputs)
    inputs.check()
    first, videos = inputs.first, inputs.videos
    if o.annotate and first is not None and not videos:
        raise VisionflowError("--annotate overlays the masks on a video's frames; for images give --out DIR "
                              "(with --overlay for blended views).")
    rows = _Rows(o.format, segmenter.classes)
    failed = seen = 0
    taken: set[str] = set()
    if out_dir is not None and first is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    if first is not None:
        for seg in segmenter.iter_predict(inputs.images(), batch_size=min(o.batch_size, 8)):
            row = seg.to_dict()
            if seg.ok and out_dir is not None:
                row.update(write_outputs(segmenter, seg, out_dir, taken, o.overlay))
            failed += not seg.ok
            rows.write(row)
            seen += 1
    if videos:
        from visionflow.cli.video import annotate_targets
        from visionflow.tasks.segmentation.video import analyse

        targets = annotate_targets(o.annotate, videos) if o.annotate else {}
        results: dict[str, dict] = {video: {} for video in videos}

        def said(video: str) -> None:
            result = results[video]
            if result.get("warning"):
                print(f"warning: {result['warning']}", file=sys.stderr)
            if result.get("annotated"):
                print(f"{video}: {result['frames']} frames; annotated copy: {result['annotated']}", file=sys.stderr)

        sampling = Sampling(fps=o.fps, every=o.every)
        failed += analyse_videos(videos, lambda v: analyse(segmenter, v, sampling, annotate=targets.get(v),
                                                           result=results[v]), rows.write, said)
    rows.close()
    return exit_code(failed, seen + len(videos), "input(s) could not be read.",
                     f"masks: {out_dir} (palette PNGs: pixel value = class index)" if out_dir is not None and seen
                     else "")


def evaluate(args: argparse.Namespace, o) -> int:
    from visionflow.tasks.segmentation.evaluate import EVALUATOR

    return evaluate_command(EVALUATOR, args, o, [("--conf", o.conf is not None)])
