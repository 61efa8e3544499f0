"""Blur made on the fly from sharp images: the degradations a deblurring model learns to undo.

A blur spec is `blur:KIND:LEVEL` (a range `LOW-HIGH` draws a level per image):

    blur:gaussian:2        Gaussian blur, sigma in pixels
    blur:motion:9          straight camera shake: a line LENGTH pixels long at a random angle
    blur:motion:9:30       ... at 30 degrees (counter-clockwise from the x axis)
    blur:defocus:3         out of focus: a uniform disk of RADIUS pixels

Kernels are built in NumPy, antialiased (sub-pixel samples), and sum to 1; images are convolved
with their edges reflected, so a flat image stays flat. `blur_batch` draws each image's level
(and motion angle) from a seed, so training sees fresh blur every batch while evaluation blurs
the same image the same way every time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from visionflow.errors import ConfigError
from visionflow.tasks.restoration.degrade import parse_level

# kind: (lowest, highest level allowed, example)
KINDS = {"gaussian": (0.1, 20.0, "blur:gaussian:2"), "motion": (1.0, 64.0, "blur:motion:9"),
         "defocus": (0.5, 20.0, "blur:defocus:3")}
SUPERSAMPLE = 8  # sub-pixel samples per pixel side when drawing motion and defocus kernels


@dataclass(frozen=True)
class Blur:
    """One blur: `kind` at a level drawn uniformly from [low, high]; a motion blur's `angle` in
    degrees, or None for a random angle per image."""

    kind: str
    low: float
    high: float
    angle: float | None = None

    def text(self) -> str:
        level = f"{self.low:g}" if self.low == self.high else f"{self.low:g}-{self.high:g}"
        return f"blur:{self.kind}:{level}" + (f":{self.angle:g}" if self.angle is not None else "")


def parse_blur(spec: str) -> Blur:
    """`blur:motion:9:30` -> Blur; ConfigError naming the accepted forms otherwise."""
    parts = str(spec).strip().split(":")
    forms = ", ".join(v[2] for v in KINDS.values())
    if len(parts) < 3 or parts[0] != "blur" or parts[1] not in KINDS:
        raise ConfigError(f"Blur {spec!r} is not blur:KIND:LEVEL with KIND one of {', '.join(KINDS)} (e.g. {forms}, "
                          f"blur:motion:9:30 for a fixed angle).")
    kind, level = parts[1], parts[2]
    if len(parts) > 4 or (len(parts) == 4 and kind != "motion"):
        raise ConfigError(f"Blur {spec!r}: only motion blur takes a fourth part (the angle in degrees).")
    low, high = parse_level(level, spec, f"{kind} blur", KINDS[kind])
    try:
        angle = float(parts[3]) if len(parts) == 4 else None
    except ValueError:
        raise ConfigError(f"Blur {spec!r}: the angle must be a number of degrees.") from None
    return Blur(kind, low, high, angle)


def kernel(kind: str, level: float, angle: float = 0.0) -> np.ndarray:
    """The (k, k) float32 blur kernel, k odd, summing to 1."""
    if kind == "gaussian":
        radius = max(1, math.ceil(3 * level))
        r = np.arange(-radius, radius + 1, dtype=np.float64)
        g = np.exp(-(r ** 2) / (2 * level ** 2))
        k = np.outer(g, g)
    elif kind == "motion":
        radius = max(1, math.ceil(level / 2))
        size = 2 * radius + 1
        k = np.zeros((size, size))
        t = np.linspace(-level / 2, level / 2, max(2, int(level * SUPERSAMPLE)))
        theta = math.radians(angle)
        xs, ys = radius + t * math.cos(theta), radius - t * math.sin(theta)  # y grows downwards
        for x, y in zip(xs, ys):  # bilinear splat of each sample along the line
            x0, y0 = int(math.floor(x)), int(math.floor(y))
            fx, fy = x - x0, y - y0
            for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
                if 0 <= y0 + dy < size and 0 <= x0 + dx < size:
                    k[y0 + dy, x0 + dx] += w
    elif kind == "defocus":
        radius = max(1, math.ceil(level))
        offsets = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
        r = np.arange(-radius, radius + 1, dtype=np.float64)
        yy = r[:, None, None, None] + offsets[None, None, :, None]
        xx = r[None, :, None, None] + offsets[None, None, None, :]
        k = ((xx ** 2 + yy ** 2) <= level ** 2).mean(axis=(2, 3))  # the share of each pixel inside the disk
    else:
        raise ConfigError(f"Unknown blur kind {kind!r}; the kinds are {', '.join(KINDS)}.")
    return (k / k.sum()).astype(np.float32)


def blur_image(image: np.ndarray, k: np.ndarray) -> np.ndarray:
    """`image` (h, w, c) convolved with kernel `k`, edges reflected; float32, not rounded. (OpenCV
    correlates; every kernel here is symmetric about its centre, so that is the convolution.)"""
    import cv2

    x = np.ascontiguousarray(image, np.float32)
    pad = k.shape[0] // 2
    border = cv2.BORDER_REFLECT_101 if pad < min(x.shape[:2]) else cv2.BORDER_REFLECT
    out = cv2.filter2D(x, -1, np.asarray(k, np.float32), borderType=border)
    return out.reshape(x.shape)


def draw(blur: Blur, rng: np.random.Generator) -> tuple[float, float]:
    """(level, angle) of one image's blur."""
    level = float(rng.uniform(blur.low, blur.high)) if blur.high > blur.low else blur.low
    angle = blur.angle if blur.angle is not None else float(rng.uniform(0.0, 180.0))
    return level, angle


def blur_batch(batch: np.ndarray, blur: Blur, seed) -> np.ndarray:
    """The blurred version of a batch (n, h, w, 3) of pixels in [0, 255]: each image its own level
    (and angle) drawn from `seed` (anything numpy's default_rng takes), rounded and clipped as a
    saved image would be."""
    rng = np.random.default_rng(seed)
    out = np.empty(np.shape(batch), np.float32)
    for i, image in enumerate(np.asarray(batch, np.float32)):
        out[i] = blur_image(image, kernel(blur.kind, *draw(blur, rng)))
    return np.round(np.clip(out, 0.0, 255.0))
