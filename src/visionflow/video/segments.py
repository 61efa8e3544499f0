"""Turning per-frame answers into segments: smoothing, then runs of the same label, then short runs
merged away.

A classifier's frames each hold one label, so its segments tile the video; a multi-label model's
frames hold any set of labels, so each label gets its own runs, which may overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Segment:
    """A stretch of the video with one label: `start` is its first frame's time, `end` the time
    where the next sampled frame (or the video) begins; `confidence` the label's mean probability
    over the segment's frames, before smoothing."""

    start: float
    end: float
    label: str
    confidence: float
    frames: int

    def to_dict(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "label": self.label,
                "confidence": round(self.confidence, 6), "frames": self.frames}


def moving_average(probs: np.ndarray, times: np.ndarray, seconds: float) -> np.ndarray:
    """Each frame's probabilities averaged with those of the frames within `seconds`/2 of it
    (a centred window in time, so it means the same at any sampling rate). 0 leaves them as they are."""
    if seconds <= 0 or len(probs) < 2:
        return probs
    cumulative = np.concatenate([np.zeros((1, probs.shape[1])), np.cumsum(probs, axis=0)])
    lo = np.searchsorted(times, times - seconds / 2, side="left")
    hi = np.searchsorted(times, times + seconds / 2, side="right")
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)[:, None]


def ends_of(times: np.ndarray, end_time: float) -> np.ndarray:
    """Where each sampled frame's stretch ends: the next sampled frame's time, the video's end for the last."""
    if not len(times):
        return times
    return np.append(times[1:], max(float(end_time), float(times[-1])))


def exclusive_segments(labels: list[str], probs: np.ndarray, classes: list[str], times: np.ndarray,
                       end_time: float, min_seconds: float = 0.0) -> list[Segment]:
    """Segments of a one-label-per-frame sequence. Runs shorter than `min_seconds` are merged into
    a neighbour (the shortest first, into the longer neighbour), so a flicker of one frame does
    not split a scene; a video shorter than `min_seconds` keeps one segment."""
    if not labels:
        return []
    ends = ends_of(times, end_time)
    runs = _runs(labels)  # [label, first, last] index ranges
    while min_seconds > 0 and len(runs) > 1:
        lengths = [ends[last] - times[first] for _, first, last in runs]
        shortest = int(np.argmin(lengths))
        if lengths[shortest] >= min_seconds:
            break
        if shortest == 0:
            into = 1
        elif shortest == len(runs) - 1:
            into = shortest - 1
        else:
            into = shortest - 1 if lengths[shortest - 1] >= lengths[shortest + 1] else shortest + 1
        lo, hi = min(shortest, into), max(shortest, into)
        runs[lo:hi + 1] = [[runs[into][0], runs[lo][1], runs[hi][2]]]
        runs = _merge(runs)  # the merged run may now touch another run of its label
    index = {c: i for i, c in enumerate(classes)}
    return [Segment(float(times[first]), float(ends[last]), label,
                    float(probs[first:last + 1, index[label]].mean()), last - first + 1)
            for label, first, last in runs]


def label_segments(present: np.ndarray, probs: np.ndarray, classes: list[str], times: np.ndarray,
                   end_time: float, min_seconds: float = 0.0) -> list[Segment]:
    """Segments of a multi-label sequence, per label: `present` is (frames, labels) bool. Gaps
    shorter than `min_seconds` inside a label's presence are closed, then its runs shorter than
    `min_seconds` dropped. Sorted by start time, then label order."""
    ends = ends_of(times, end_time)
    out = []
    for j, name in enumerate(classes):
        runs = [[on, a, b] for on, a, b in _runs(list(present[:, j]))]
        if min_seconds > 0:
            for k in range(1, len(runs) - 1):  # close short gaps between two stretches of the label
                on, a, b = runs[k]
                if not on and ends[b] - times[a] < min_seconds:
                    runs[k][0] = True
            runs = _merge(runs)
            runs = [r for r in runs if not r[0] or ends[r[2]] - times[r[1]] >= min_seconds]
        for on, a, b in runs:
            if on:
                out.append(Segment(float(times[a]), float(ends[b]), name, float(probs[a:b + 1, j].mean()), b - a + 1))
    return sorted(out, key=lambda s: (s.start, classes.index(s.label)))


def _runs(values: list) -> list[list]:
    """[value, first index, last index] for each run of equal consecutive values."""
    runs: list[list] = []
    for i, v in enumerate(values):
        if runs and runs[-1][0] == v:
            runs[-1][2] = i
        else:
            runs.append([v, i, i])
    return runs


def _merge(runs: list[list]) -> list[list]:
    merged: list[list] = []
    for run in runs:
        if merged and merged[-1][0] == run[0]:
            merged[-1][2] = run[2]
        else:
            merged.append(list(run))
    return merged
