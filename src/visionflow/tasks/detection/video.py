"""A detector over a video: boxes per sampled frame, optional tracking (ids across frames),
counting across a line, and an annotated copy with boxes, ids and short trails drawn.

One pass over the file: every frame is decoded (the annotated copy has them all), the sampled
ones (--fps / --every) go through the detector, and the frames between keep the last boxes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128), (170, 110, 40)]


@dataclass
class VideoResult:
    """What a video gave: frames analysed, tracks, line counts, and why it ended early (if it did)."""

    source: str
    frames: int = 0
    tracks: int = 0
    counts: dict = field(default_factory=dict)
    crossings: list = field(default_factory=list)
    stopped: str | None = None
    annotated: str | None = None

    def to_dict(self) -> dict:
        out = {"source": self.source, "summary": True, "frames": self.frames}
        if self.tracks:
            out["tracks"] = self.tracks
        if self.counts or self.crossings:
            out["counts"], out["crossings"] = self.counts, self.crossings
        if self.stopped:
            out["warning"] = self.stopped
        if self.annotated:
            out["annotated"] = self.annotated
        return out


def analyse(detector, source: str, sampling=None, track: bool = False, line=None, annotate: str | Path | None = None,
            result: VideoResult | None = None) -> Iterator[dict]:
    """Yields one row per sampled frame ({"source", "frame", "time", "boxes"}; boxes carry "id"
    when tracking); `result` (a VideoResult) is filled as it goes. Counting needs tracking."""
    from visionflow.tasks.detection.track import LineCounter, Tracker
    from visionflow.video.annotate import FrameWriter
    from visionflow.video.reader import Sampling, VideoReader

    result = result if result is not None else VideoResult(source)
    tracker = Tracker(low=min(0.1, detector.conf)) if (track or line is not None) else None
    counter = LineCounter(line, detector.classes) if line is not None else None
    keep = (sampling or Sampling()).keeper()
    conf = detector.conf
    if tracker is not None:
        detector.conf = tracker.low  # the tracker takes low-score boxes too; rows keep conf
    writer = FrameWriter(annotate, source) if annotate else None
    drawn: list = []
    try:
        with VideoReader(source) as video:
            for frame in video.frames():
                if keep(frame.index, frame.time):
                    boxes, scores, labels = detector.answers([frame.pixels])[0]
                    rows = []
                    if tracker is not None:
                        tracks = tracker.update(boxes, scores, labels)
                        tracks = [t for t in tracks if t.score >= conf or t.hits > 2]
                        rows = [{"id": t.id, "label": detector.classes[t.label], "score": round(t.score, 4),
                                 "box": [round(float(v), 1) for v in t.box]} for t in tracks]
                        drawn = [(t.box, t.id, detector.classes[t.label], t.score, list(t.trail)) for t in tracks]
                        if counter is not None:
                            counter.update(tracks, frame.time)
                    else:
                        keep_mask = scores >= conf
                        rows = detector.to_boxes((boxes[keep_mask], scores[keep_mask], labels[keep_mask]))
                        drawn = [(b["box"], 0, b["label"], b["score"], []) for b in rows]
                    result.frames += 1
                    yield {"source": source, "frame": frame.index, "time": round(frame.time, 3), "boxes": rows}
                if writer is not None:
                    writer.write(draw_frame(frame.pixels, drawn, counter), frame.time, video.info.fps)
            if video.stopped is not None:
                result.stopped = video.stopped.sentence(source)
        if writer is not None:
            result.annotated = str(writer.close())
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        detector.conf = conf
    if tracker is not None:
        result.tracks = tracker.next_id - 1
    if counter is not None:
        result.counts, result.crossings = counter.counts, counter.events


def draw_frame(pixels: np.ndarray, drawn: list, counter=None) -> np.ndarray:
    """The frame with each (box, id, label, score, trail) drawn, and the count line with its tallies."""
    from PIL import Image, ImageDraw

    from visionflow.video.annotate import font_for

    img = Image.fromarray(pixels)
    pen = ImageDraw.Draw(img)
    font = font_for(img.size, 36)
    width = max(2, round(max(pixels.shape[:2]) / 320))
    for box, ident, label, score, trail in drawn:
        colour = COLOURS[ident % len(COLOURS)] if ident else COLOURS[0]
        x1, y1, x2, y2 = [float(v) for v in box]
        pen.rectangle([x1, y1, x2, y2], outline=colour, width=width)
        text = f"{label} #{ident} {score:.2f}" if ident else f"{label} {score:.2f}"
        left, top, right, bottom = pen.textbbox((0, 0), text, font=font)
        y = max(0, y1 - bottom - 4)
        pen.rectangle([x1, y, x1 + right + 4, y + bottom + 4], fill=colour)
        pen.text((x1 + 2, y + 2), text, fill=(0, 0, 0), font=font)
        if len(trail) > 1:
            pen.line(trail, fill=colour, width=width)
    if counter is not None:
        x1, y1, x2, y2 = counter.line
        pen.line([(x1, y1), (x2, y2)], fill=(255, 255, 0), width=width + 1)
        tally = "  ".join(f"{k}: in {v['in']} out {v['out']}" for k, v in sorted(counter.counts.items())) or "in 0 out 0"
        left, top, right, bottom = pen.textbbox((8, 6), tally, font=font)
        pen.rectangle([4, 4, right + 4, bottom + 4], fill=(0, 0, 0))
        pen.text((8, 6), tally, fill=(255, 255, 0), font=font)
    return np.asarray(img)
