"""Serving timelines: `POST /v1/video` takes one video and answers with its timeline JSON.

The upload streams to a temporary file (never held whole in memory), capped by `max_video_mb`
while it arrives; the container's declared duration is checked against `max_video_seconds`
before any frame is decoded, and decoding also stops there for streams that declare none. Videos
are analysed one at a time in their own thread (the pipeline already keeps every core busy), at
most `max_queue` waiting, and a request past `video_timeout` gets 504 and stops its analysis.
"""

from __future__ import annotations

import os
import tempfile
import threading

from fastapi import Request

from visionflow.serve.errors import ServeError, video_error

CHUNK = 1 << 20


async def receive_video(request: Request, limit_bytes: int) -> tuple[str, str]:
    """(name, temporary file path) of the uploaded video: the body itself (any `video/*` or
    `application/octet-stream` type), or the one file of a multipart form. The caller deletes the file."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fd, path = tempfile.mkstemp(prefix="visionflow-video-", suffix=".upload")
    try:
        size = 0
        with os.fdopen(fd, "wb") as fh:
            if kind == "multipart/form-data":
                form = await request.form(max_files=2, max_fields=8)
                files = [(key, value) for key, value in form.multi_items() if hasattr(value, "read")]
                if len(files) != 1:
                    await form.close()
                    raise ServeError(400, "one_video", f"Send exactly one video file. Received: {len(files)}")
                key, upload = files[0]
                name = upload.filename or key
                while chunk := await upload.read(CHUNK):
                    size += len(chunk)
                    fh.write(chunk)
                await form.close()
            elif kind.startswith("video/") or kind in ("application/octet-stream", ""):
                name = request.headers.get("x-filename") or "video"
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit_bytes:
                        raise ServeError(413, "body_too_large", f"The video is over the "
                                                                f"{limit_bytes / 1024 / 1024:g} MB limit.")
                    fh.write(chunk)
            else:
                raise ServeError(415, "unsupported_media_type", "Send the video as the request body (Content-Type "
                                                                "video/mp4 etc.) or as one file of a multipart form.")
        if size == 0:
            raise ServeError(400, "empty_video", "The request holds no video (0 bytes).")
        return name, path
    except BaseException:
        os.unlink(path)
        raise


def analyse_file(predictor, path: str, name: str, fps: float | None, every: int | None, smooth: float,
                 min_segment: float, frames: bool, max_seconds: float, cancel: threading.Event) -> dict:
    """The timeline JSON of one uploaded video; every input problem is a 4xx ServeError."""
    from visionflow.errors import ConfigError
    from visionflow.video.reader import Sampling, VideoError
    from visionflow.video.timeline import VideoAnalysis

    try:
        sampling = Sampling(fps=fps, every=every)
        analysis = VideoAnalysis(predictor, path, sampling, max_seconds=max_seconds, name=name, keep_frames=frames)
    except ConfigError as exc:
        raise ServeError(400, "bad_request", str(exc)) from None
    except VideoError as exc:
        raise video_error(str(exc), exc.kind) from None
    duration = analysis.reader.info.duration
    if duration is not None and duration > max_seconds:
        analysis.reader.close()
        raise ServeError(413, "video_too_long", f"{name}: the video lasts {duration:.1f} s; this server's limit is "
                                                f"{max_seconds:g} s.")
    try:
        for _ in analysis.results():
            if cancel.is_set():
                break
    except VideoError as exc:
        raise video_error(str(exc), exc.kind) from None
    timeline = analysis.timeline()
    if timeline.stopped is not None and timeline.stopped.time > max_seconds:
        raise ServeError(413, "video_too_long", f"{name}: the video runs past this server's {max_seconds:g}-second "
                                                f"limit.")
    try:
        return timeline.to_dict(segments=True, frames=frames, smooth=smooth, min_seconds=min_segment)
    except ConfigError as exc:
        raise ServeError(400, "bad_request", str(exc)) from None
