"""`visionflow predict RUN INPUT...`: streamed predictions as a table, JSON or CSV."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from visionflow.cli.common import add_options, add_run, options, restoration_run
from visionflow.errors import VisionflowError
from visionflow.options import PredictOptions


def add(sub) -> None:
    p = sub.add_parser("predict", help="Predict the classes (or labels) of images, folders or globs; restoration "
                                       "models write the restored images to --out DIR.")
    add_run(p)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="Image files, folders (searched recursively), quoted globs, or @FILE: a list of paths, one per line.")
    add_options(p, PredictOptions)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="Progress bar on standard error (default: when it is a terminal).")


def run(args: argparse.Namespace) -> int:
    """Streams: inputs are listed lazily and each row is written as soon as it is predicted, so
    memory stays flat however many images there are (the JSON array is written piece by piece)."""
    import itertools

    from visionflow.predict import iter_inputs, load

    o = options(args, PredictOptions)
    if restoration_run(args.run):
        return _restore(args, o)
    if o.out:
        raise VisionflowError("--out is for restoration models, which write images; a classifier's predictions go to "
                              "standard output (--format json or csv to save them).")
    predictor = load(args.run, unsafe=o.unsafe, backend=o.backend, tta=o.tta)
    paths = iter_inputs(args.inputs)
    first = next(paths, None)
    if first is None:
        raise VisionflowError("No input images found.")
    show_progress = args.progress or (args.progress is None and sys.stderr.isatty())
    total = sum(1 for _ in iter_inputs(args.inputs)) if show_progress else None
    progress = Progress(total) if show_progress else None
    failed = seen = 0
    writer = None
    for pred in predictor.iter_predict(itertools.chain([first], paths), top_k=o.top_k, batch_size=o.batch_size):
        failed += not pred.ok
        if o.format == "json":
            text = json.dumps(pred.to_dict(), indent=2)
            sys.stdout.write(("[\n" if seen == 0 else ",\n") + "  " + text.replace("\n", "\n  "))
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
    if o.format == "json":
        sys.stdout.write("\n]\n")
    if progress:
        progress.done(seen)
    if failed:
        print(f"{failed} of {seen} image(s) could not be predicted.", file=sys.stderr)
    return 1 if failed else 0


def _restore(args: argparse.Namespace, o: PredictOptions) -> int:
    import itertools

    from visionflow.predict import iter_inputs
    from visionflow.restoration.predict import restore_files
    from visionflow.restoration.restorer import Restorer

    if not o.out:
        raise VisionflowError(f"{args.run} holds a restoration model: give --out DIR, the folder for the restored images.")
    restorer = Restorer.load(args.run, unsafe=o.unsafe)
    paths = iter_inputs(args.inputs)
    first = next(paths, None)
    if first is None:
        raise VisionflowError("No input images found.")
    failed = seen = 0
    for done in restore_files(restorer, itertools.chain([first], paths), o.out):
        failed += not done.ok
        if o.format == "json":
            text = json.dumps(done.to_dict(), indent=2)
            sys.stdout.write(("[\n" if seen == 0 else ",\n") + "  " + text.replace("\n", "\n  "))
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
    if o.format == "json":
        sys.stdout.write("\n]\n")
    if failed:
        print(f"{failed} of {seen} image(s) could not be restored.", file=sys.stderr)
    return 1 if failed else 0


class Progress:
    """A one-line progress bar on standard error: done/total, images per second, time left."""

    def __init__(self, total: int | None):
        import time

        self.total = total
        self.start = time.perf_counter()
        self.last = 0.0

    def update(self, done: int) -> None:
        import time

        now = time.perf_counter()
        if now - self.last < 0.2 and done != self.total:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        if self.total:
            width = 30
            filled = int(width * done / self.total)
            left = (self.total - done) / rate if rate > 0 else 0
            line = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}  {rate:.0f} img/s  {left:.0f}s left"
        else:
            line = f"{done} images  {rate:.0f} img/s"
        sys.stderr.write("\r" + line)
        sys.stderr.flush()

    def done(self, seen: int) -> None:
        import time

        self.update(seen)
        sys.stderr.write(f"\n{seen} images in {time.perf_counter() - self.start:.1f}s\n")
