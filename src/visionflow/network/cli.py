"""What `visionflow predict` and `visionflow evaluate` of a model with its own outputs share: the
inputs split into images and videos (listed lazily), refusals of flags that are for other
models, output files named uniquely and written atomically (never over their own source), and
the evaluate command around the task's `Evaluator`."""

from __future__ import annotations

import io
import itertools
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from visionflow.errors import VisionflowError


def refuse(flags: Iterable[tuple[str, bool]], why: str) -> None:
    """VisionflowError naming the first flag that is on: "{flag} {why}"."""
    for flag, on in flags:
        if on:
            raise VisionflowError(f"{flag} {why}")


def label_flags(o) -> list[tuple[str, bool]]:
    """The `visionflow predict` flags of models that label images."""
    return [("--segments", o.segments), ("--cam", o.cam), ("--top-k", o.top_k != 1), ("--tta", o.tta)]


class Inputs:
    """The images and videos named on the command line (files, folders, globs), split lazily:
    iterate `images()` first; `videos` fills as they are met."""

    def __init__(self, inputs: list[str]):
        from visionflow.predict import iter_inputs

        self.videos: list[str] = []
        self._rest = self._split(iter_inputs(inputs, videos=True))
        self.first = next(self._rest, None)

    def _split(self, found: Iterable[str]) -> Iterator[str]:
        from visionflow.video.reader import is_video

        for path in found:
            if is_video(path):
                self.videos.append(path)
            else:
                yield path

    def images(self) -> Iterator[str]:
        return itertools.chain([self.first], self._rest) if self.first is not None else iter(())

    def check(self) -> None:
        if self.first is None and not self.videos:
            raise VisionflowError("No input images or videos found.")


def analyse_videos(videos: list[str], analyse, write, after=lambda video: None) -> int:
    """Writes the rows `analyse(video)` yields for each video, then calls `after(video)`; a video
    that cannot be read is said on stderr and skipped. Returns how many could not be read."""
    from visionflow.video.reader import VideoError

    failed = 0
    for video in videos:
        try:
            for row in analyse(video):
                write(row)
        except VideoError as exc:
            failed += 1
            print(f"{video}\tERROR: {exc}", file=sys.stderr)
            continue
        after(video)
    return failed


def exit_code(failed: int, seen: int, what: str, written: str = "") -> int:
    """Says on stderr how many of `seen` inputs failed ("3 of 9 `what`") and where the outputs went
    (`written`, if any); 1 where any failed, else 0."""
    if failed:
        print(f"{failed} of {seen} {what}", file=sys.stderr)
    if written:
        print(written, file=sys.stderr)
    return 1 if failed else 0


def named(out_dir: Path, source: str, taken: set[str], suffix: str) -> Path:
    """A file in `out_dir` named after `source` with `suffix`, numbered where the name is taken."""
    stem = Path(source).stem or "image"
    name, n = f"{stem}{suffix}", 1
    while name in taken:
        n += 1
        name = f"{stem}_{n}{suffix}"
    taken.add(name)
    return out_dir / name


def save(path: Path, source: str, pil_save) -> None:
    """Writes an image atomically (`pil_save(buffer)` writes its bytes), never over its own source."""
    from visionflow.rundir import atomic_write_bytes

    if Path(source).exists() and path.exists() and path.resolve() == Path(source).resolve():
        raise VisionflowError(f"{path} would overwrite the input {source}; choose another output folder.")
    buf = io.BytesIO()
    pil_save(buf)
    atomic_write_bytes(path, buf.getvalue())


def evaluate(evaluator, args, o, refused: Iterable[tuple[str, bool]], **settings) -> int:
    """`visionflow evaluate RUN DIR` of the task whose `evaluator` scores it: the table on standard
    output, what was skipped on standard error, and where the files went."""
    refuse([("--slices", o.slices), ("--labels", o.labels), ("--pairs", o.pairs), ("--tta", o.tta),
            ("--features", o.features != "visionflow"), *refused],
           f"does not apply to {evaluator.predictor.task} models.")
    result = evaluator.evaluate_folder(args.run, args.data, out=o.out, unsafe=o.unsafe, backend=o.backend, **settings)
    print(f"{result['data']}:")
    print(evaluator.format_table(result))
    for rec in result["skipped"]:
        print(f"skipped {rec.path}: {rec.reason}", file=sys.stderr)
    for item in result["problems"]:
        print(f"{item['path']}: {item['reason']}", file=sys.stderr)
    print(f"\nwritten: {os.path.join(result['out'], 'report.html')}, metrics.json and predictions.csv beside it")
    return 0
