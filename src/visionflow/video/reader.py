"""Reading videos: frames streamed from any file FFmpeg decodes (PyAV), upright, as RGB, with times.

PyAV was chosen over imageio-ffmpeg by measurement (bench/video.py decodes the same 720p clip
with both) and because it gives what a pipe of raw frames cannot: each frame's own timestamp
(variable frame rate), the display rotation, the stream's facts before decoding (duration, frame
count, codec, pixel format), and errors at the packet where a file stops being readable.

Frames are decoded one at a time with FFmpeg's own threads (`thread_type="AUTO"`) and dropped
as soon as they are used, so memory stays flat however long the video is.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Union

import numpy as np

from visionflow.errors import ConfigError, DataError

# File name endings treated as videos by `predict` and folder walks; the decoder checks the content.
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",
                    ".ts", ".mts")
VideoSource = Union[str, Path, bytes, BinaryIO]


class VideoError(DataError):
    """A video that cannot be read; `kind` says why, for callers that react differently (the HTTP
    service maps it to a status code): "missing", "empty", "not_video", "no_video_stream",
    "too_large" or "corrupt"."""

    def __init__(self, message: str, kind: str = "corrupt"):
        super().__init__(message)
        self.kind = kind


def is_video(path: str | Path) -> bool:
    """True when the file name ends like a video (`VIDEO_EXTENSIONS`)."""
    return Path(str(path)).suffix.lower() in VIDEO_EXTENSIONS


def _av():
    try:
        import av
    except ImportError:
        raise DataError("Reading videos needs PyAV: pip install 'visionflow[video]'.") from None
    return av


@dataclass
class VideoInfo:
    """What the container says about its first video stream, before anything is decoded.

    `duration` and `frames` are None where the container does not know them (some streams); `fps`
    is the average frame rate (a variable-rate video's frames carry their own times).
    """

    source: str
    width: int
    height: int
    fps: float | None
    duration: float | None
    frames: int | None
    codec: str
    pixel_format: str | None
    rotation: int = 0  # display rotation in degrees counter-clockwise, known once a frame is decoded

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("width", "height", "fps", "duration", "frames", "codec",
                                              "pixel_format", "rotation")}


@dataclass
class Frame:
    """One decoded frame: its index among all decoded frames, its time in seconds from the start
    of the stream, and its pixels, upright RGB uint8 (h, w, 3)."""

    index: int
    time: float
    pixels: np.ndarray


@dataclass
class Stop:
    """Where a video stopped being readable before its end: the time and frame index reached and
    FFmpeg's reason. Set on `VideoReader.stopped` when a truncated or damaged file ends early."""

    time: float
    frame: int
    reason: str

    def sentence(self, source: str) -> str:
        return (f"{source}: the video could not be read past {self.time:.2f} s (frame {self.frame}): {self.reason}; "
                f"the frames before it were used.")


@dataclass
class Sampling:
    """Which frames are used: `fps` keeps the first frame of every 1/fps-second slot (by the frames'
    own times, so variable frame rates sample evenly); `every` keeps every Nth decoded frame; with
    neither, every frame."""

    fps: float | None = None
    every: int | None = None

    def __post_init__(self) -> None:
        if self.fps is not None and self.every is not None:
            raise ConfigError("Give --fps or --every, not both.")
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise ConfigError(f"--fps must be a positive number. Received: {self.fps}")
        if self.every is not None and self.every < 1:
            raise ConfigError(f"--every must be at least 1. Received: {self.every}")

    def keeper(self):
        """A function (index, time) -> bool, stateful: call it once per decoded frame in order."""
        if self.every is not None:
            every = self.every
            return lambda index, time: index % every == 0
        if self.fps is None:
            return lambda index, time: True
        last = [-1]
        fps = self.fps

        def keep(index: int, time: float) -> bool:
            slot = math.floor(time * fps + 1e-6)
            if slot > last[0]:
                last[0] = slot
                return True
            return False

        return keep

    def describe(self) -> str:
        if self.every is not None:
            return f"every {self.every} frame(s)" if self.every > 1 else "every frame"
        return f"{self.fps:g} frame(s) per second" if self.fps is not None else "every frame"


class VideoReader:
    """A video opened for reading: `info`, then `frames()` once.

    Example:
        >>> with VideoReader("clip.mp4") as video:
        ...     for frame in video.frames(Sampling(fps=2)):
        ...         print(frame.time, frame.pixels.shape)

    Raises:
        VideoError: the file is missing, empty, not a video, holds no video stream (audio only),
            or its video stream cannot be decoded.
    """

    def __init__(self, source: VideoSource, name: str | None = None, max_pixels: int = 40_000_000):
        av = _av()
        self.source = name or (str(source) if isinstance(source, (str, Path)) else "<video>")
        self.stopped: Stop | None = None
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise VideoError(f"{self.source}: file not found.", "missing")
            if path.stat().st_size == 0:
                raise VideoError(f"{self.source}: empty file (0 bytes).", "empty")
            target = str(path)
        elif isinstance(source, bytes):
            if not source:
                raise VideoError(f"{self.source}: empty upload (0 bytes).", "empty")
            target = io.BytesIO(source)
        else:
            target = source
        try:
            self._container = av.open(target, mode="r", metadata_errors="ignore")
        except (av.FFmpegError, ValueError, OSError) as exc:
            hint = ""
            if Path(self.source).suffix.lower() in (".mp4", ".m4v", ".mov", ".3gp"):
                hint = "; an MP4 or MOV file cut short before its index was written cannot be read at all"
            raise VideoError(f"{self.source}: not a video FFmpeg can read ({_reason(exc)}){hint}.", "not_video") from None
        streams = self._container.streams.video
        if not streams:
            kinds = sorted({s.type for s in self._container.streams}) or ["nothing"]
            self._container.close()
            raise VideoError(f"{self.source}: no video stream (the file holds {', '.join(kinds)}).", "no_video_stream")
        self._stream = stream = streams[0]
        stream.thread_type = "AUTO"  # FFmpeg decodes frames (or slices) on every core
        ctx = stream.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width <= 0 or height <= 0:
            self._container.close()
            raise VideoError(f"{self.source}: the video stream has no frame size; it cannot be decoded.")
        if width * height > max_pixels:
            self._container.close()
            raise VideoError(f"{self.source}: frames of {width}x{height} exceed the {max_pixels:,}-pixel limit.",
                             "too_large")
        rate = stream.average_rate or stream.guessed_rate
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / 1_000_000  # microseconds (AV_TIME_BASE)
        self.info = VideoInfo(self.source, width, height, float(rate) if rate else None, duration,
                              int(stream.frames) if stream.frames else None, ctx.name,
                              ctx.format.name if ctx.format is not None else None)
        self._start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        self._used = False

    def frames(self, sampling: Sampling | None = None, max_seconds: float | None = None,
               raw: bool = False) -> Iterator[Frame]:
        """Yields the sampled frames in order. A file that stops being readable ends the stream
        early and sets `stopped` (the frames before it are yielded). With `max_seconds`, reading
        stops at that time (the service's duration limit for streams that do not declare one).

        With `raw=True`, `pixels` is PyAV's frame itself, not converted (the caller converts it
        with `to_rgb`, e.g. in another thread).

        Raises:
            VideoError: not a single frame could be decoded.
        """
        if self._used:
            raise RuntimeError("VideoReader.frames() can be read only once; open the video again.")
        self._used = True
        av = _av()
        keep = (sampling or Sampling()).keeper()
        index, time, fallback_step = -1, 0.0, 1.0 / (self.info.fps or 25.0)
        try:
            for frame in self._container.decode(self._stream):
                index += 1
                if frame.time is not None:
                    time = max(0.0, float(frame.time) - self._start)
                elif index:
                    time += fallback_step
                if max_seconds is not None and time > max_seconds:
                    self.stopped = Stop(time, index, f"the {max_seconds:g}-second limit was reached")
                    break
                if index == 0:
                    self.info.rotation = _quarter_turns(getattr(frame, "rotation", 0) or 0) * 90
                if keep(index, time):
                    yield Frame(index, time, frame if raw else to_rgb(frame))
        except (av.FFmpegError, EOFError, ValueError) as exc:
            self.stopped = Stop(time, max(index, 0), _reason(exc))
        if self.stopped is None and index >= 0 and max_seconds is None:
            self.stopped = self._ended_early(index, time)
        if index < 0:
            reason = f" ({self.stopped.reason})" if self.stopped else ""
            raise VideoError(f"{self.source}: the video holds no decodable frame{reason}.")

    def _ended_early(self, index: int, time: float) -> Stop | None:
        """A Stop where the frames ran out well before the duration or frame count the container
        declares (a file cut short ends quietly: FFmpeg just meets the end of the data)."""
        info = self.info
        step = 1.0 / (info.fps or 25.0)
        if info.duration and time + step < info.duration - max(2 * step, 0.25):
            return Stop(time, index, f"the file ends after {time:.2f} s of the {info.duration:.2f} s it declares "
                                     f"(cut short?)")
        if info.frames and index + 1 < info.frames - 1:
            return Stop(time, index, f"the file ends after {index + 1} of the {info.frames} frames it declares "
                                     f"(cut short?)")
        return None

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def to_rgb(frame) -> np.ndarray:
    """A PyAV frame as upright RGB uint8 (h, w, 3): any pixel format (yuv420p, yuvj, 10-bit, ...)
    through FFmpeg's converter, then turned by its display rotation. (PyAV's `to_image` is about
    5x slower on 720p frames: bench/video.py.)"""
    pixels = frame.to_ndarray(format="rgb24")
    turns = _quarter_turns(getattr(frame, "rotation", 0) or 0)
    return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels


def to_input(frame, size: tuple[int, int], resize=None) -> np.ndarray:
    """A PyAV frame brought to a model's input: upright RGB uint8 of `size` (height, width), by the
    model's resize mode (stretch, centre crop or letterbox pad; `visionflow.data.resize`).

    FFmpeg's scaler resizes while it converts the pixel format (its bilinear filter, widened
    when shrinking, like Pillow's): 7x faster than converting the whole frame and resizing it
    with Pillow on 720p frames, and within 1.6 grey levels of it on average (bench/video.py).
    """
    from visionflow.data.resize import STRETCH

    mode = (resize or STRETCH).mode
    turns = _quarter_turns(getattr(frame, "rotation", 0) or 0)
    h, w = size
    uh, uw = (frame.height, frame.width) if turns % 2 == 0 else (frame.width, frame.height)  # upright sides
    if mode == "stretch":
        th, tw = h, w
    else:
        scale = (max if mode == "crop" else min)(w / uw, h / uh)
        th, tw = max(1, round(uh * scale)), max(1, round(uw * scale))
    ch, cw = (th, tw) if turns % 2 == 0 else (tw, th)  # the size before turning upright
    pixels = frame.to_ndarray(format="rgb24", width=cw, height=ch, interpolation="BILINEAR")
    if turns:
        pixels = np.rot90(pixels, turns)
    if mode == "crop":
        top, left = (th - h) // 2, (tw - w) // 2
        pixels = pixels[top:top + h, left:left + w]
    elif mode == "pad":
        canvas = np.empty((h, w, 3), np.uint8)
        canvas[:] = resize.fill
        top, left = (h - th) // 2, (w - tw) // 2
        canvas[top:top + th, left:left + tw] = pixels
        pixels = canvas
    return np.ascontiguousarray(pixels)


def to_image(frame):
    """A PyAV frame as an upright RGB PIL image (see `to_rgb`)."""
    from PIL import Image

    return Image.fromarray(to_rgb(frame))


def _quarter_turns(degrees: float) -> int:
    """Counter-clockwise quarter turns for a display rotation (FFmpeg's display matrix angle is
    counter-clockwise; odd angles are rounded to the nearest quarter turn)."""
    return int(round(float(degrees) / 90.0)) % 4


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.strip().rstrip(".")
