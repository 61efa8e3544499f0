"""Following detected objects through a video, and counting them across a line.

`Tracker` is ByteTrack's association (Zhang et al. 2022) on a constant-velocity motion model:
each frame, confident detections are matched to the tracks' predicted boxes first (Hungarian
assignment on IoU, same class only), then the remaining tracks take the low-score detections
that overlap them well (an object partly hidden scores lower but is still there); unmatched
confident detections start new tracks, and a track unseen for `max_missed` sampled frames ends.
A track gets its id when it is seen in two sampled frames (or in the first frame), so a one-frame
false positive takes no id.

`LineCounter` counts each track's centre crossing a segment, per class and direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from visionflow.errors import ConfigError
from visionflow.tasks.detection.boxes import iou

TRAIL = 30  # centres kept per track (drawn as its trail)


@dataclass
class Track:
    box: np.ndarray
    label: int
    score: float
    id: int = 0  # 0 until confirmed
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    hits: int = 1
    missed: int = 0
    trail: list = field(default_factory=list)

    def predicted(self) -> np.ndarray:
        return self.box + self.velocity * (1 + self.missed)

    def centre(self) -> tuple[float, float]:
        return float(self.box[0] + self.box[2]) / 2, float(self.box[1] + self.box[3]) / 2


class Tracker:
    """Feed `update` each sampled frame's detections in order; it returns the confirmed tracks
    seen in that frame."""

    def __init__(self, high: float = 0.5, low: float = 0.1, match_iou: float = 0.2, max_missed: int = 30):
        self.high, self.low, self.match_iou, self.max_missed = high, low, match_iou, max_missed
        self.tracks: list[Track] = []
        self.next_id = 1
        self.frames = 0

    def _assign(self, tracks: list[Track], boxes, labels, threshold: float) -> list[tuple[int, int]]:
        from scipy.optimize import linear_sum_assignment

        if not tracks or not len(boxes):
            return []
        overlap = iou(np.stack([t.predicted() for t in tracks]), boxes)
        overlap[np.array([t.label for t in tracks])[:, None] != np.asarray(labels)[None, :]] = 0.0
        rows, cols = linear_sum_assignment(-overlap)
        return [(r, c) for r, c in zip(rows, cols) if overlap[r, c] >= threshold]

    def _confirm(self, track: Track) -> None:
        if not track.id and (track.hits >= 2 or self.frames == 1):
            track.id, self.next_id = self.next_id, self.next_id + 1

    def update(self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> list[Track]:
        self.frames += 1
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores, labels = np.asarray(scores, np.float32), np.asarray(labels, np.int64)
        strong, weak = np.nonzero(scores >= self.high)[0], np.nonzero((scores < self.high) & (scores >= self.low))[0]
        seen: list[Track] = []
        free = list(self.tracks)
        for pool, threshold in ((strong, self.match_iou), (weak, 0.5)):
            pairs = self._assign(free, boxes[pool], labels[pool], threshold)
            taken = set()
            for r, c in pairs:
                t, d = free[r], pool[c]
                new = boxes[d]
                t.velocity = 0.6 * t.velocity + 0.4 * (new - t.box) / (1 + t.missed)
                t.box, t.score, t.hits, t.missed = new, float(scores[d]), t.hits + 1, 0
                seen.append(t)
                taken.add(r)
            free = [t for i, t in enumerate(free) if i not in taken]
            if pool is strong:
                used = {pool[c] for _, c in pairs}
                fresh = [d for d in strong if d not in used]
        for t in free:
            t.missed += 1
        for d in fresh:
            t = Track(boxes[d].copy(), int(labels[d]), float(scores[d]))
            self.tracks.append(t)
            seen.append(t)
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed and (t.id or t.missed == 0)]
        for t in seen:
            self._confirm(t)
            t.trail = (t.trail + [t.centre()])[-TRAIL:]
        return [t for t in seen if t.id]


def parse_line(text: str) -> tuple[float, float, float, float]:
    """"x1,y1,x2,y2" in pixels of the video frame -> the segment; ConfigError otherwise."""
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not all(np.isfinite(values)):
        raise ConfigError(f"--count-line takes four numbers x1,y1,x2,y2 (pixels of the video frame). Received: {text}")
    if values[:2] == values[2:]:
        raise ConfigError(f"--count-line needs two different end points. Received: {text}")
    return values  # type: ignore[return-value]


class LineCounter:
    """Crossings of a segment by track centres. Direction "in" is from the left of the segment to
    its right as seen walking from (x1, y1) to (x2, y2) in image coordinates (y down): for a
    horizontal line drawn left to right, moving down the picture; "out" is the other way."""

    def __init__(self, line: tuple[float, float, float, float], classes: list[str]):
        self.line = line
        self.classes = classes
        self.counts: dict[str, dict[str, int]] = {}
        self.events: list[dict] = []
        self._last: dict[int, tuple[float, float]] = {}

    def _side(self, p) -> float:
        x1, y1, x2, y2 = self.line
        return (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1)

    def _crosses(self, a, b) -> bool:
        """Whether the movement a -> b crosses the segment (not just its infinite line)."""
        x1, y1, x2, y2 = self.line
        sa, sb = self._side(a), self._side(b)
        if (sa > 0) == (sb > 0) or sa == sb:
            return False
        t = sa / (sa - sb)  # where along a -> b the line is met
        px, py = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
        dx, dy = x2 - x1, y2 - y1
        u = ((px - x1) * dx + (py - y1) * dy) / (dx * dx + dy * dy)
        return 0.0 <= u <= 1.0

    def update(self, tracks: list[Track], time: float = 0.0) -> list[dict]:
        """The crossings of this frame's tracks since their last position."""
        found = []
        for t in tracks:
            here = t.centre()
            before = self._last.get(t.id)
            self._last[t.id] = here
            if before is None or not self._crosses(before, here):
                continue
            direction = "in" if self._side(here) > 0 else "out"
            label = self.classes[t.label]
            per = self.counts.setdefault(label, {"in": 0, "out": 0})
            per[direction] += 1
            event = {"id": t.id, "label": label, "direction": direction, "time": round(time, 3)}
            self.events.append(event)
            found.append(event)
        return found
