"""Settings of `visionflow serve`: one dataclass, which also generates the command's flags."""

from __future__ import annotations

from dataclasses import dataclass, fields

from visionflow.settings import check, option
from visionflow.errors import ConfigError
from visionflow.registry import unknown_message

BACKENDS = ("auto", "keras", "onnx")


@dataclass(frozen=True)
class ServeConfig:
    """Every `visionflow serve --flag`, with its default."""

    host: str = option("127.0.0.1", "Address to bind; 0.0.0.0 exposes the service to the network.", metavar="ADDR")
    port: int = option(8000, "TCP port.")
    backend: str = option("auto", "Model runtime: auto (ONNX Runtime through the run's cached, parity-checked "
                                "export where the [export] extra is installed, TensorFlow otherwise or when the "
                                "export fails), keras (always TensorFlow) or onnx (ONNX Runtime, or an error).",
                        choices=BACKENDS)
    max_batch: int = option(32, "Most images per model call when gathering concurrent requests.")
    max_wait_ms: float = option(5.0, "Longest a request waits for others to join its batch (only while "
                                   "more requests are arriving).")
    max_queue: int = option(256, "Images waiting for the model before new requests get 503 + Retry-After.")
    timeout: float = option(10.0, "Seconds a request may take before it gets 504.")
    max_body_mb: float = option(16.0, "Largest request body in MB (413 above it).")
    max_files: int = option(16, "Most images in one request (400 above it).")
    max_pixels: int = option(40_000_000, "Largest image in pixels, checked from the header before decoding (413 above it).")
    max_output_pixels: int = option(16_000_000, "Largest restored image in pixels (super-resolution enlarges "
                                              "scale^2 times; 413 above it, before the model runs).")
    max_generate: int = option(64, "Most images one POST /v1/generate may ask a GAN for (400 above it).")
    max_video_mb: float = option(200.0, "Largest video upload to /v1/video in MB (413 above it).")
    max_video_seconds: float = option(600.0, "Longest video /v1/video analyses, in seconds (413 above it).")
    video_timeout: float = option(300.0, "Seconds a /v1/video request may take before it gets 504.")
    access_log: bool = option(False, "Log one line per request.")

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(unknown_message("backend", self.backend, list(BACKENDS)))
        check(0 < self.port < 65536, f"port must be between 1 and 65535. Received: port={self.port}")
        for name in ("max_batch", "max_queue", "max_files", "max_pixels", "max_output_pixels", "max_generate"):
            check(getattr(self, name) >= 1, f"{name} must be at least 1. Received: {name}={getattr(self, name)}")
        for name in ("timeout", "max_body_mb", "max_video_mb", "max_video_seconds", "video_timeout"):
            check(getattr(self, name) > 0, f"{name} must be positive. Received: {name}={getattr(self, name)}")
        check(self.max_wait_ms >= 0, f"max_wait_ms must not be negative. Received: max_wait_ms={self.max_wait_ms}")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def max_video_bytes(self) -> int:
        return int(self.max_video_mb * 1024 * 1024)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
