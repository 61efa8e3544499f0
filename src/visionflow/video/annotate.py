"""`--annotate OUT`: a copy of the video with the model's answer drawn on every frame.

The copy is made in a second pass over the video, after the timeline: every decoded frame is
written (at its own time, so the copy plays at the original speed), labelled with the segment
it falls in (`--segments`) or the last sampled frame's answer, and optionally overlaid with that
frame's Grad-CAM heat map. Video only: the sound is not copied. The file is written beside OUT
under a temporary name and renamed when complete, so a failed run leaves no half-written video.
"""

from __future__ import annotations

import bisect
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from visionflow.errors import DataError
from visionflow.video.reader import VideoReader, to_image
from visionflow.video.segments import Segment
from visionflow.video.timeline import Timeline

# Containers the copy can be written in, by file ending; H.264 where the FFmpeg build has an encoder for it.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
CODECS = ("libx264", "h264", "mpeg4")


def check_output(out: str | Path, source: str | Path | None = None) -> Path:
    """The output path, checked before any work: a known video ending, a folder that exists, and
    not the input itself."""
    out = Path(out)
    if out.suffix.lower() not in CONTAINERS:
        raise DataError(f"--annotate {out}: give a file ending in {', '.join(CONTAINERS)}.")
    if not out.parent.is_dir():
        raise DataError(f"--annotate {out}: the folder {out.parent} does not exist.")
    if source is not None and out.exists() and Path(source).exists() and out.resolve() == Path(source).resolve():
        raise DataError(f"--annotate {out} is the input video itself; choose another file name.")
    return out


def annotate(timeline: Timeline, source, out: str | Path, segments: list[Segment] | None = None,
             cam=None, crf: int = 23) -> Path:
    """Writes `source` to `out` with the labels of `timeline` drawn on (see the module docstring).

    Args:
        segments: label each frame with its segment (else with the last sampled frame's answer).
        cam: a `visionflow.gradcam.GradCam`: each sampled frame's heat map is blended over the
            frames until the next sample.
        crf: H.264 quality (lower is better and larger).

    Returns:
        The written file.
    """
    import av

    out = check_output(out, source if isinstance(source, (str, Path)) else None)
    times = timeline.times
    if len(timeline.frames) != len(times):
        raise DataError("annotate() needs the timeline's frames: analyse the video with keep_frames=True.")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part{out.suffix}")
    reader = VideoReader(source, name=timeline.source)
    try:
        with av.open(str(tmp), mode="w", format=CONTAINERS[out.suffix.lower()]) as container:
            stream = None
            heat = None
            last_pts = -1
            font = None
            for frame in reader.frames(raw=True):
                img = to_image(frame.pixels)
                if stream is None:
                    stream, size = open_stream(container, img.size, reader.info.fps, crf)
                    font = font_for(img.size)
                k = bisect.bisect_right(times, frame.time + 1e-6) - 1  # the last sampled frame at or before this one
                row = timeline.frames[k] if k >= 0 else None
                if cam is not None and row is not None and row.frame == frame.index:
                    heat = cam.explain(np.asarray(img)).heatmap
                if heat is not None:
                    img = _overlay(img, heat, timeline, cam)
                text = _caption(frame.time, row, segments, timeline)
                img = _draw(img, text, font)
                if img.size != size:
                    img = _pad_even(img, size)
                vf = av.VideoFrame.from_image(img)
                pts = max(last_pts + 1, int(round(frame.time * 1000)))
                vf.pts, vf.time_base, last_pts = pts, Fraction(1, 1000), pts
                for packet in stream.encode(vf):
                    container.mux(packet)
            if stream is None:
                raise DataError(f"{timeline.source}: no frame to annotate.")
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        reader.close()
    return out


def open_stream(container, size: tuple[int, int], fps: float | None, crf: int):
    import av

    w, h = size
    even = (w + w % 2, h + h % 2)  # 4:2:0 needs even sides: pad one pixel, never crop
    for name in CODECS:
        if name in av.codecs_available:
            try:
                stream = container.add_stream(name, rate=Fraction(fps or 25).limit_denominator(1001))
            except (av.FFmpegError, ValueError):
                continue
            stream.width, stream.height, stream.pix_fmt = even[0], even[1], "yuv420p"
            stream.codec_context.time_base = Fraction(1, 1000)
            if name == "libx264":
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            return stream, even
    raise DataError("This FFmpeg build has no H.264 or MPEG-4 encoder, so --annotate cannot write a video.")


def _pad_even(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    canvas = Image.new("RGB", size)
    canvas.paste(img, (0, 0))
    return canvas


def font_for(size: tuple[int, int], lines: int = 22):
    """Pillow's default font scaled so that `lines` lines of text fill the image's shorter side
    (at least 12 pixels)."""
    px = max(12, min(size) // lines)
    try:
        return ImageFont.load_default(size=px)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _caption(time: float, row, segments: list[Segment] | None, timeline: Timeline) -> str:
    stamp = f"{int(time // 60)}:{time % 60:05.2f}"
    if segments is not None:
        here = [s for s in segments if s.start <= time + 1e-6 < s.end]
        if not here:
            return f"{stamp}  -"
        return f"{stamp}  " + "  ".join(f"{s.label} {s.confidence:.2f}" for s in here)
    if row is None:
        return f"{stamp}  -"
    text = row.prediction.text() if hasattr(row.prediction, "text") else str(row.prediction)
    return f"{stamp}  {text}"


def _draw(img: Image.Image, text: str, font) -> Image.Image:
    """The caption on a dark band across the top, readable on any picture."""
    draw = ImageDraw.Draw(img, "RGBA")
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = max(4, (bottom - top) // 3)
    draw.rectangle((0, 0, img.width, bottom + 2 * pad), fill=(0, 0, 0, 150))
    draw.text((pad, pad - top // 2), text, fill=(255, 255, 255, 255), font=font)
    return img


def _overlay(img: Image.Image, heat: np.ndarray, timeline: Timeline, cam) -> Image.Image:
    """The heat map (model-input geometry) blended over the frame where the model looked at it."""
    from matplotlib import colormaps

    predictor = cam.predictor
    full = heat_on_frame(heat, (img.height, img.width), predictor.resize.mode, predictor.image_size)
    colours = colormaps["jet"](full)[..., :3]
    base = np.asarray(img, dtype=np.float32) / 255.0
    alpha = 0.45 * (full > 0)[..., None] if predictor.resize.mode == "crop" else 0.45
    mixed = (1 - alpha) * base + alpha * colours
    return Image.fromarray((mixed.clip(0, 1) * 255).astype(np.uint8))


def heat_on_frame(heat: np.ndarray, frame_hw: tuple[int, int], mode: str, model_hw: tuple[int, int]) -> np.ndarray:
    """A heat map at the model's input size placed on a frame of `frame_hw`: stretched over it,
    over the centre crop the model saw (`crop`; zero elsewhere), or with the letterbox bars cut
    off (`pad`). Returns (h, w) float32 in [0, 1]."""
    fh, fw = frame_hw
    mh, mw = model_hw
    img = Image.fromarray((np.clip(heat, 0, 1) * 255).astype(np.uint8))
    if mode == "stretch":
        return np.asarray(img.resize((fw, fh), Image.Resampling.BILINEAR), np.float32) / 255.0
    if mode == "pad":
        scale = min(mw / fw, mh / fh)
        sw, sh = max(1, round(fw * scale)), max(1, round(fh * scale))
        left, top = (mw - sw) // 2, (mh - sh) // 2
        inner = img.crop((left, top, left + sw, top + sh))
        return np.asarray(inner.resize((fw, fh), Image.Resampling.BILINEAR), np.float32) / 255.0
    scale = max(mw / fw, mh / fh)  # crop: the model saw a centre box of the frame
    cw, ch = min(fw, round(mw / scale)), min(fh, round(mh / scale))
    out = np.zeros((fh, fw), np.float32)
    top, left = (fh - ch) // 2, (fw - cw) // 2
    out[top:top + ch, left:left + cw] = np.asarray(img.resize((cw, ch), Image.Resampling.BILINEAR), np.float32) / 255.0
    return out


class FrameWriter:
    """An annotated copy of a video, frame by frame: written to a hidden file beside `out` and
    moved into place when complete (`close`), deleted on `abort`; frames keep their own times."""

    def __init__(self, out: str | Path, source: str):
        import av

        self.out = check_output(out, source)
        self.tmp = self.out.with_name(f".{self.out.name}.{os.getpid()}.part{self.out.suffix}")
        self.container = av.open(str(self.tmp), mode="w", format=CONTAINERS[self.out.suffix.lower()])
        self.stream = None
        self.size = None
        self.last_pts = -1

    def write(self, pixels: np.ndarray, time: float, fps) -> None:
        """Adds the RGB frame `pixels` shown at `time` seconds (`fps`: the source's, for the stream)."""
        import av

        img = Image.fromarray(pixels)
        if self.stream is None:
            self.stream, self.size = open_stream(self.container, img.size, fps, 23)
        if img.size != self.size:
            canvas = Image.new("RGB", self.size)
            canvas.paste(img, (0, 0))
            img = canvas
        vf = av.VideoFrame.from_image(img)
        pts = max(self.last_pts + 1, int(round(time * 1000)))
        vf.pts, vf.time_base, self.last_pts = pts, Fraction(1, 1000), pts
        for packet in self.stream.encode(vf):
            self.container.mux(packet)

    def close(self) -> Path:
        if self.stream is None:
            self.abort()
            raise DataError(f"{self.out}: no frame to annotate.")
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        os.replace(self.tmp, self.out)
        return self.out

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # a half-written container may not close cleanly; it is deleted anyway
            pass
        self.tmp.unlink(missing_ok=True)
