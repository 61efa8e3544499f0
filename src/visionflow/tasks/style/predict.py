"""Repaint files: images to OUT/<stem>.png at their own size (transparency kept), videos to a
repainted copy frame by frame. Sources are only read; a copy is written under a temporary name
and moved into place when complete."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Iterator


class _Painter:
    """A styler bound to one style and strength, with what `restore_files` asks of a restorer."""

    channels, scale = 3, 1

    def __init__(self, styler, style, strength: float):
        self.styler, self.style, self.strength = styler, style, strength

    def restore(self, given):
        return self.styler.paint(given, self.style, self.strength)


def paint_files(styler, sources: Iterable[str], out_dir: str | Path, style=None, strength: float = 1.0) -> Iterator:
    """Repaints each source into `out_dir`, yielding one `Restored` per source (its `error` set,
    and nothing written, for one that could not be read)."""
    from visionflow.tasks.restoration.predict import restore_files

    styler.index(style)
    return restore_files(_Painter(styler, style, strength), sources, out_dir)


def paint_video(styler, source: str, out: str | Path, style=None, strength: float = 1.0) -> dict:
    """Every frame of `source` repainted into the video `out` (same times, no sound); returns
    {"source", "output", "frames", "width", "height", "seconds"[, "warning"]}."""
    from visionflow.video.annotate import FrameWriter
    from visionflow.video.reader import VideoReader

    styler.index(style)
    start = time.perf_counter()
    writer = FrameWriter(out, source)
    result: dict = {"source": source, "frames": 0}
    try:
        with VideoReader(source) as video:
            for frame in video.frames():
                writer.write(styler.paint(frame.pixels, style, strength), frame.time, video.info.fps)
                result["frames"] += 1
                result["height"], result["width"] = frame.pixels.shape[:2]
            if video.stopped is not None:
                result["warning"] = video.stopped.sentence(source)
        result["output"] = str(writer.close())
    except BaseException:
        writer.abort()
        raise
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result
