"""`visionflow predict RUN INPUT...`: streamed predictions as a table, JSON or CSV."""

from __future__ import annotations

import argparse
import csv
import itertools
import sys

from visionflow.cli.common import JsonArray, add_options, add_run, options
from visionflow.cli.progress import Progress
from visionflow.errors import VisionflowError
from visionflow.options import PredictOptions


def add(sub) -> None:
    p = sub.add_parser("predict", help="Predict the classes (or labels) of images, folders or globs, and of the frames "
                                       "of videos (a timeline, or --segments); restoration and style models write the "
                                       "restored or repainted images to --out DIR.")
    add_run(p)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="Image or video files, folders (searched recursively), quoted globs, or @FILE: a list of paths, "
                        "one per line.")
    add_options(p, PredictOptions)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="Progress bar on standard error (default: when it is a terminal).")


def run(args: argparse.Namespace) -> int:
    """Streams: inputs are listed lazily and each row is written as soon as it is predicted, so
    memory stays flat however many images there are (the JSON array is written piece by piece).
    Videos (named, or found in folders) are labelled after the images, frame by frame."""
    from visionflow.predict import iter_inputs, load
    from visionflow.video.reader import is_video

    from visionflow import tasks

    o = options(args, PredictOptions)
    task = tasks.of_path(args.run)
    own = [f"--{name}" for name, on in (("style", o.style is not None), ("strength", o.strength != 1.0))
           if on and (task is None or name not in task.predict_options)]
    if own:
        raise VisionflowError(f"{', '.join(own)} {'is' if len(own) == 1 else 'are'} for style models; {args.run} "
                              f"holds a {task.name if task else 'classification'} model.")
    own = task.verb("predict") if task is not None else None
    if own is not None:  # a task that answers with something else than labels
        return own(args, o)
    detection_flags = [f for f, on in (("--conf", o.conf is not None), ("--iou", o.iou is not None),
                                       ("--track", o.track), ("--count-line", o.count_line)) if on]
    if detection_flags:
        raise VisionflowError(f"{', '.join(detection_flags)} are for detection models; {args.run} labels images.")
    if o.overlay:
        raise VisionflowError(f"--overlay is for segmentation models; {args.run} labels images.")
    if o.out:
        raise VisionflowError("--out is for models that write images; the predictions of a model that labels images "
                              "go to standard output (--format json or csv to save them).")
    if o.video_flags() and not any(is_video(a) or may_hold_many(a) for a in args.inputs):
        raise _no_video(o)
    predictor = load(args.run, unsafe=o.unsafe, backend=o.backend, tta=o.tta)
    _columns(predictor, o.labels, args.run)
    videos: list[str] = []

    def images():  # the image inputs, lazily; videos are set aside for afterwards
        for path in iter_inputs(args.inputs, videos=True):
            if is_video(path):
                videos.append(path)
            else:
                yield path

    if predictor.frames:  # a clip model: each video is one input, predicted like an image
        if o.video_flags():
            raise VisionflowError(f"{', '.join(o.video_flags())} label the frames of a video with an image model; "
                                  f"{args.run} classifies whole clips ({predictor.frames} frames each).")
        paths = iter_inputs(args.inputs, videos=True)
    else:
        paths = images()
    first = next(paths, None)
    if first is None and not videos:
        raise VisionflowError("No input images or videos found.")
    show_progress = args.progress or (args.progress is None and sys.stderr.isatty())
    out = JsonArray() if o.format == "json" else None
    failed = seen = 0
    if first is not None:
        total = sum(1 for p in iter_inputs(args.inputs, videos=True) if predictor.frames or not is_video(p)) \
            if show_progress else None
        progress = Progress(total, unit="clips" if predictor.frames else "images") if show_progress else None
        writer = None
        for pred in predictor.iter_predict(itertools.chain([first], paths), top_k=o.top_k, batch_size=o.batch_size):
            failed += not pred.ok
            if out is not None:
                out.write(pred.to_dict())
            elif o.format == "csv":
                if writer is None:
                    writer = csv.writer(sys.stdout)
                    writer.writerow(predictor.task.csv_header(predictor.classes))
                writer.writerow(pred.csv_row(predictor.classes))
            elif pred.ok:
                print(f"{pred.source}\t{pred.text()}")
            else:
                print(f"{pred.source}\tERROR: {pred.error}")
            seen += 1
            if progress:
                progress.update(seen)
        if progress:
            progress.done(seen)
        if failed:
            print(f"{failed} of {seen} image(s) could not be predicted.", file=sys.stderr)
    if not videos and o.video_flags():
        raise _no_video(o)
    if videos and predictor.fusion is not None:
        raise VisionflowError(f"{args.run} reads table columns beside each image; it predicts images with their rows, "
                              f"not the frames of videos.")
    if videos:
        from visionflow.cli.video import predict_videos

        if o.format == "csv" and seen:
            raise VisionflowError("CSV output holds either images or videos (their columns differ): predict the "
                                  "videos in a command of their own.")
        failed += predict_videos(predictor, videos, o, out, show_progress)
    if out is not None:
        out.close()
    return 1 if failed else 0


def _columns(predictor, labels: str | None, run: str) -> None:
    """Gives a model that reads table columns the rows of `labels`; refuses a table the model has
    no use for, and a missing one."""
    if predictor.fusion is None:
        if labels:
            raise VisionflowError(f"--labels gives table columns to models trained with --columns; {run} reads images "
                                  f"alone.")
        return
    if not labels:
        raise VisionflowError(f"{run} reads the columns {', '.join(predictor.fusion.names)} beside each image; pass "
                              f"--labels CSV with an image column and those columns, one row per image.")
    from pathlib import Path

    from visionflow.data.labels_csv import read_table

    table = read_table(Path(labels), target=None)
    missing = [n for n in predictor.fusion.names if n not in table.header]
    if missing:
        raise VisionflowError(f"{labels} has no column {missing[0]!r}, which {run} reads (it reads "
                              f"{', '.join(predictor.fusion.names)}).")
    root = Path(labels).parent
    predictor.use_table({str(root / row.image): row.values for row in table.rows},
                        where={str(root / row.image): f"row {row.line} of {labels}" for row in table.rows})


def may_hold_many(arg: str) -> bool:
    """A folder, glob or @list: what it holds is known only when it is read."""
    import glob
    from pathlib import Path

    return Path(arg).is_dir() or arg.startswith("@") or glob.has_magic(arg)


def _no_video(o: PredictOptions) -> VisionflowError:
    return VisionflowError(f"{', '.join(o.video_flags())} apply to videos, and no video was given (video files end "
                           f"in .mp4, .mov, .mkv, .avi, .webm, ...).")
