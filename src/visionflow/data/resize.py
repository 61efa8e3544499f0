"""How an image of any shape becomes the model's input size: stretch, centre crop or letterbox pad.

The mode is part of the model's metadata (labels.json), so training, evaluation, predict, serve
and every export prepare pixels the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from visionflow.errors import ConfigError

MODES = ("stretch", "crop", "pad")
# Measured best on hymenoptera with both recipes (bench/resize.py); on square photos all modes agree.
DEFAULT_MODE = "stretch"
# Letterbox bars: mid grey, as Ultralytics pads; a plain colour the network learns to ignore.
DEFAULT_FILL = (114, 114, 114)


@dataclass(frozen=True)
class Resize:
    """`mode`: stretch (both sides scaled independently), crop (scale the short side to fit, cut the
    centre) or pad (scale the long side to fit, fill the rest with `fill`)."""

    mode: str = DEFAULT_MODE
    fill: tuple[int, int, int] = DEFAULT_FILL

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            from visionflow.registry import unknown_message

            raise ConfigError(unknown_message("resize mode", str(self.mode), list(MODES)))
        fill = tuple(int(v) for v in self.fill)
        if len(fill) != 3 or not all(0 <= v <= 255 for v in fill):
            raise ConfigError(f"The pad colour must be three values in 0-255. Received: {self.fill!r}")
        object.__setattr__(self, "fill", fill)

    @classmethod
    def from_meta(cls, meta: dict) -> "Resize":
        """The resize of a model's metadata; files written before resize modes existed stretch."""
        return cls(str(meta.get("resize", DEFAULT_MODE)), tuple(meta.get("pad_color", DEFAULT_FILL)))

    def to_meta(self) -> dict:
        return {"resize": self.mode, "pad_color": list(self.fill)}

    def apply(self, img: Image.Image, size: tuple[int, int]) -> Image.Image:
        """`img` (RGB) brought to `size` (height, width)."""
        h, w = size
        if img.size == (w, h):
            return img
        if self.mode == "stretch":
            return img.resize((w, h), Image.Resampling.BILINEAR)
        iw, ih = img.size
        scale = (max if self.mode == "crop" else min)(w / iw, h / ih)
        sw, sh = max(1, round(iw * scale)), max(1, round(ih * scale))
        scaled = img.resize((sw, sh), Image.Resampling.BILINEAR)
        if self.mode == "crop":
            left, top = (sw - w) // 2, (sh - h) // 2
            return scaled.crop((left, top, left + w, top + h))
        canvas = Image.new("RGB", (w, h), self.fill)
        canvas.paste(scaled, ((w - sw) // 2, (h - sh) // 2))
        return canvas


STRETCH = Resize()
