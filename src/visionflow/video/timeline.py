"""Timelines: an image model run over a video's frames, one answer per sampled frame, and segments.

Three stages overlap so both cores stay busy: a reader thread decodes (with FFmpeg's own
threads), a small pool converts each kept frame to RGB at the model's input size (its resize mode;
`visionflow.video.reader.to_input`), and the calling thread runs the model on batches. Queues between them are bounded, so memory stays flat on videos of any length; only
the per-frame probabilities are kept (a few bytes per frame), for the segments.

Example:
    >>> model = visionflow.load("runs/exp1")
    >>> timeline = visionflow.video.analyse(model, "clip.mp4", fps=2)
    >>> [(s.start, s.end, s.label) for s in timeline.segments()]
"""

from __future__ import annotations

import queue
import threading
import time as clock
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from visionflow.errors import ConfigError, ModelError
from visionflow.video.reader import Sampling, Stop, VideoInfo, VideoReader, VideoSource, to_input
from visionflow.video.segments import Segment, exclusive_segments, label_segments, moving_average

# Segment defaults: probabilities averaged over 1 s, stretches shorter than 1 s merged away.
SMOOTH_SECONDS = 1.0
MIN_SEGMENT_SECONDS = 1.0
CONVERTERS = 2  # threads converting and resizing frames (decoding has FFmpeg's own threads)


@dataclass
class FrameResult:
    """The model's answer for one sampled frame: its time (seconds), index among all decoded
    frames, and the task's prediction (`Prediction`, or `LabelsPrediction` for multi-label)."""

    time: float
    frame: int
    prediction: object

    def to_dict(self) -> dict:
        row = self.prediction.to_dict()
        row.pop("source", None), row.pop("error", None)
        return {"time": round(self.time, 3), "frame": self.frame, **row}

    def csv_row(self, classes: list[str]) -> list[str]:
        row = self.prediction.csv_row(classes)  # [source, ..., error]
        return [row[0], f"{self.time:.3f}", str(self.frame), *row[1:-1]]


@dataclass
class Timeline:
    """What a video gave: its facts, how frames were sampled, every frame's answer (`frames`, or
    none when only counted), their probabilities (for `segments`) and where reading stopped early."""

    source: str
    info: VideoInfo
    sampling: str
    classes: list[str]
    task: object
    times: np.ndarray  # (n,) seconds
    probs: np.ndarray  # (n, classes)
    frames: list[FrameResult] = field(default_factory=list)
    stopped: Stop | None = None
    seconds: float = 0.0  # wall time of the analysis
    thresholds: np.ndarray | None = None  # a multi-label model's threshold per label

    @property
    def end(self) -> float:
        """Where the video ends: its duration, or past the last frame when it stopped early."""
        last = float(self.times[-1]) if len(self.times) else 0.0
        if self.stopped is not None or not self.info.duration:
            step = float(np.median(np.diff(self.times))) if len(self.times) > 1 else 1.0 / (self.info.fps or 25.0)
            return last + step
        return max(float(self.info.duration), last)

    def segments(self, smooth: float = SMOOTH_SECONDS, min_seconds: float = MIN_SEGMENT_SECONDS) -> list[Segment]:
        """The timeline merged into segments: probabilities averaged over `smooth` seconds, then
        runs of the same label, then runs shorter than `min_seconds` merged into a neighbour (a
        classifier) or gaps closed and short runs dropped per label (multi-label). Confidences are
        the label's mean probability over the segment before smoothing."""
        if smooth < 0 or min_seconds < 0:
            raise ConfigError(f"smooth and min_segment must not be negative. Received: {smooth}, {min_seconds}")
        if not len(self.times) or not self.task.segmentable:  # numbers per frame (regression) make no segments
            return []
        smoothed = moving_average(self.probs, self.times, smooth)
        if self.task.exclusive:  # a tie in the window (a cut between scenes) goes to the frame's own answer
            labels = [self.classes[i] for i in np.argmax(smoothed + 1e-6 * self.probs, axis=1)]
            return exclusive_segments(labels, self.probs, self.classes, self.times, self.end, min_seconds)
        present = smoothed >= (self.thresholds if self.thresholds is not None else 0.5)[None, :]
        return label_segments(present, self.probs, self.classes, self.times, self.end, min_seconds)

    def summary(self) -> dict:
        return {"source": self.source, "video": self.info.to_dict(), "sampling": self.sampling,
                "frames_used": int(len(self.times)), "seconds": round(self.seconds, 3),
                "frames_per_second": round(len(self.times) / self.seconds, 2) if self.seconds > 0 else None,
                "stopped": None if self.stopped is None else {"time": round(self.stopped.time, 3),
                                                              "frame": self.stopped.frame,
                                                              "reason": self.stopped.reason}}

    def to_dict(self, segments: bool = True, frames: bool = True, smooth: float = SMOOTH_SECONDS,
                min_seconds: float = MIN_SEGMENT_SECONDS) -> dict:
        out = self.summary()
        out["classes"] = self.classes
        if frames:
            out["frames"] = [f.to_dict() for f in self.frames]
        if segments:
            out["segments"] = [s.to_dict() for s in self.segments(smooth, min_seconds)]
        return out


class VideoAnalysis:
    """One video going through a model. Iterate `results()` to get each frame's answer as soon as
    it is computed (nothing but the probabilities is kept); then `timeline()` holds the rest.

    Args:
        predictor: a loaded classifier or multi-label model (`visionflow.load`).
        source: a video path, its bytes or a binary file object.
        sampling: which frames to use (`Sampling(fps=2)`, `Sampling(every=10)`; default every frame).
        batch_size: frames per model call.
        max_seconds: stop reading at this time (the service's duration limit).
        name: how the video is named in rows and messages (default: its path).

    Raises:
        VideoError: the video cannot be opened (see `VideoReader`).
        ModelError: the model does not label images (a restoration model).
    """

    def __init__(self, predictor, source: VideoSource, sampling: Sampling | None = None, batch_size: int = 32,
                 max_seconds: float | None = None, name: str | None = None, keep_frames: bool = False):
        if not hasattr(predictor, "predict_arrays"):
            raise ModelError("Timelines need a model that labels images (a classifier or multi-label model).")
        if getattr(predictor, "frames", None):
            raise ModelError(f"{predictor.source} classifies whole clips ({predictor.frames} frames each): predict the "
                             f"video as one input instead of a timeline.")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1. Received: {batch_size}")
        self.predictor = predictor
        self.sampling = sampling or Sampling()
        self.batch_size = batch_size
        self.max_seconds = max_seconds
        self.keep_frames = keep_frames
        self.reader = VideoReader(source, name=name)
        self.source = self.reader.source
        self._times: list[float] = []
        self._probs: list[np.ndarray] = []
        self._kept: list[FrameResult] = []
        self._seconds = 0.0

    def results(self, on_frame: Callable[[FrameResult, np.ndarray], None] | None = None) -> Iterator[FrameResult]:
        """Yields each sampled frame's `FrameResult` in order. `on_frame(result, pixels)` is called
        with the model-sized pixels too (used by `--annotate`)."""
        start = clock.perf_counter()
        p = self.predictor
        batch: list[tuple[int, float, np.ndarray]] = []

        def flush():
            probs = p.predict_arrays(np.stack([b[2] for b in batch]), batch_size=len(batch))
            for (index, time, pixels), row in zip(batch, probs):
                result = FrameResult(time, index, p.task.prediction(f"{self.source}", row, p, 1))
                self._times.append(time)
                self._probs.append(np.asarray(row, np.float32))
                if self.keep_frames:
                    self._kept.append(result)
                if on_frame is not None:
                    on_frame(result, pixels)
                yield result
            batch.clear()

        try:
            for item in self._prepared():
                batch.append(item)
                if len(batch) >= self.batch_size:
                    yield from flush()
            if batch:
                yield from flush()
        finally:
            self._seconds += clock.perf_counter() - start
            self.reader.close()

    def run(self) -> "Timeline":
        """Analyses the whole video and returns its timeline (frames kept)."""
        self.keep_frames = True
        for _ in self.results():
            pass
        return self.timeline()

    def timeline(self) -> Timeline:
        """The timeline of what `results()` went through."""
        p = self.predictor
        thresholds = None
        if not p.task.exclusive:
            given = p.thresholds or {}
            thresholds = np.array([float(given.get(c, 0.5)) for c in p.classes])
        probs = np.stack(self._probs) if self._probs else np.zeros((0, len(p.classes)), np.float32)
        return Timeline(self.source, self.reader.info, self.sampling.describe(), list(p.classes), p.task,
                        np.asarray(self._times, np.float64), probs, list(self._kept), self.reader.stopped,
                        self._seconds, thresholds)

    def _prepared(self) -> Iterator[tuple[int, float, np.ndarray]]:
        """(frame index, time, model-sized uint8 pixels) of each sampled frame, in order: decoded in
        a reader thread, converted in a small pool, at most a few batches ahead of the model."""
        depth = max(2 * self.batch_size, 8)
        futures: queue.Queue = queue.Queue(maxsize=depth)
        stop = threading.Event()
        DONE = object()
        size, resize = self.predictor.image_size, self.predictor.resize

        def convert(frame) -> tuple[int, float, np.ndarray]:
            return frame.index, frame.time, to_input(frame.pixels, size, resize)

        def read(pool: ThreadPoolExecutor) -> None:
            try:
                for frame in self.reader.frames(self.sampling, max_seconds=self.max_seconds, raw=True):
                    future = pool.submit(convert, frame)
                    while not stop.is_set():
                        try:
                            futures.put(future, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                futures.put(DONE)
            except BaseException as exc:  # handed to the consuming thread, which raises it
                failed: Future = Future()
                failed.set_exception(exc)
                futures.put(failed)
                futures.put(DONE)

        with ThreadPoolExecutor(CONVERTERS, thread_name_prefix="frames") as pool:
            reader = threading.Thread(target=read, args=(pool,), name="video-reader", daemon=True)
            reader.start()
            try:
                while True:
                    item = futures.get()
                    if item is DONE:
                        break
                    yield item.result()
            finally:
                stop.set()
                while reader.is_alive():  # unblock a reader waiting on a full queue
                    try:
                        futures.get(timeout=0.05)
                    except queue.Empty:
                        pass
                reader.join()


def analyse(model, source: VideoSource, fps: float | None = None, every: int | None = None,
            batch_size: int = 32, max_seconds: float | None = None, name: str | None = None) -> Timeline:
    """The timeline of one video: `model` is a run folder (or export) or a loaded Predictor.

    Args:
        fps: sample this many frames per second (by the frames' own times); or
        every: every Nth decoded frame; neither: every frame.

    Raises:
        VideoError: the video cannot be read at all (a file that stops early is read up to there:
            see `Timeline.stopped`).
    """
    if not hasattr(model, "predict_arrays"):
        from visionflow.predict import load

        model = load(model)
    return VideoAnalysis(model, source, Sampling(fps=fps, every=every), batch_size, max_seconds, name).run()
