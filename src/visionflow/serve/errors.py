"""HTTP errors of the service: each becomes one JSON body and a 4xx/5xx status, never a traceback."""

from __future__ import annotations

from visionflow.data.decode import DecodeError

# What a decoding failure means to a client: its status code and error code.
DECODE_STATUS = {
    "empty": (400, "empty_image"),
    "corrupt": (400, "corrupt_image"),
    "unreadable": (400, "corrupt_image"),
    "not_image": (415, "not_an_image"),
    "format": (415, "unsupported_format"),
    "too_large": (413, "image_too_large"),
}
# What a video that cannot be read means (`visionflow.video.reader.VideoError.kind`).
VIDEO_STATUS = {
    "empty": (400, "empty_video"),
    "missing": (400, "empty_video"),
    "not_video": (415, "not_a_video"),
    "no_video_stream": (415, "no_video_stream"),
    "too_large": (413, "video_too_large"),
    "corrupt": (400, "corrupt_video"),
}


class ServeError(Exception):
    """An error response: `status`, a stable machine-readable `code`, and a message for people."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"status": self.status, "code": self.code, "message": self.message}}


class BodyTooLarge(ServeError):
    def __init__(self, limit: int):
        super().__init__(413, "body_too_large", f"Request body is over the {limit / 1024 / 1024:g} MB limit.")


def video_error(message: str, kind: str) -> ServeError:
    status, code = VIDEO_STATUS.get(kind, (400, "bad_video"))
    return ServeError(status, code, message)


def decode_error(name: str, exc: DecodeError) -> ServeError:
    status, code = DECODE_STATUS.get(exc.kind, (400, "bad_image"))
    return ServeError(status, code, f"{name}: {exc.reason}")
