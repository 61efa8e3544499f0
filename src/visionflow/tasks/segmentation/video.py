"""A segmentation model over a video: each class's share of the picture per sampled frame, and an
annotated copy with the masks blended over every frame (frames between samples keep the last mask).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

OPACITY = 0.45


def analyse(segmenter, source: str, sampling=None, annotate: str | Path | None = None, result: dict | None = None,
            opacity: float = OPACITY) -> Iterator[dict]:
    """Yields one row per sampled frame ({"source", "frame", "time", "areas"}); `result` gets the
    frame count, the annotated copy's path and why the video ended early (if it did)."""
    from visionflow.video.annotate import FrameWriter
    from visionflow.video.reader import Sampling, VideoReader

    result = result if result is not None else {}
    result.update(source=source, frames=0)
    keep = (sampling or Sampling()).keeper()
    writer = FrameWriter(annotate, source) if annotate else None
    mask = None
    try:
        with VideoReader(source) as video:
            for frame in video.frames():
                if keep(frame.index, frame.time):
                    mask = segmenter.answers([frame.pixels])[0]
                    counts = np.bincount(mask.ravel(), minlength=len(segmenter.classes))
                    result["frames"] += 1
                    yield {"source": source, "frame": frame.index, "time": round(frame.time, 3),
                           "areas": {c: round(float(n) / mask.size, 5) for c, n in zip(segmenter.classes, counts)}}
                if writer is not None:
                    shown = frame.pixels if mask is None or mask.shape != frame.pixels.shape[:2] else \
                        segmenter.overlay(frame.pixels, mask, opacity)
                    writer.write(shown, frame.time, video.info.fps)
            if video.stopped is not None:
                result["warning"] = video.stopped.sentence(source)
        if writer is not None:
            result["annotated"] = str(writer.close())
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
