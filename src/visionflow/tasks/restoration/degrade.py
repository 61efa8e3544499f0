"""Degradations made on the fly from clean images: noise, JPEG, downscaling, holes.

A noise spec is a comma-separated chain applied in order, each `kind:level` or
`kind:low-high` (a range draws a level per image, which trains a blind model):

    gaussian:25        additive Gaussian noise, sigma in pixel levels (0-255)
    poisson:30         shot noise; the level is the photon count at white (lower is noisier)
    saltpepper:0.05    that fraction of pixels set to black or white
    jpeg:10-40         JPEG compression at that quality

Every function is stateless in TensorFlow and takes a `seed` (shape [2] int32), so training
draws fresh degradations per batch while evaluation makes the same degraded image for the same
(seed, image) every time. Results are clipped to [0, 255] and rounded: what a degraded image
saved to a file holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from visionflow.errors import ConfigError

# kind: (lowest, highest level allowed, example)
KINDS = {"gaussian": (0.0, 255.0, "gaussian:25"), "poisson": (0.1, 1e6, "poisson:30"),
         "saltpepper": (0.0, 1.0, "saltpepper:0.05"), "jpeg": (1.0, 100.0, "jpeg:10-40")}
MASK_FILL = 127.5  # the grey a hole is filled with before the inpainting network sees it


@dataclass(frozen=True)
class Noise:
    """One link of a noise chain: `kind` at a level drawn uniformly from [low, high]."""

    kind: str
    low: float
    high: float

    def text(self) -> str:
        level = f"{self.low:g}" if self.low == self.high else f"{self.low:g}-{self.high:g}"
        return f"{self.kind}:{level}"


def parse_noise(spec: str) -> list[Noise]:
    """`gaussian:25,jpeg:30-90` -> [Noise, ...]; ConfigError naming the accepted forms otherwise."""
    chain = []
    for part in (p.strip() for p in str(spec).split(",")):
        kind, sep, level = part.partition(":")
        if kind not in KINDS or not sep:
            raise ConfigError(f"Noise {part!r} is not KIND:LEVEL or KIND:LOW-HIGH with KIND one of "
                              f"{', '.join(KINDS)} (e.g. {', '.join(v[2] for v in KINDS.values())}).")
        chain.append(Noise(kind, *parse_level(level, part, kind, KINDS[kind])))
    return chain


def parse_level(level: str, part: str, kind: str, limits: tuple[float, float, str]) -> tuple[float, float]:
    """(low, high) of a level written `LEVEL` or `LOW-HIGH`, within `limits` (lowest, highest,
    example); ConfigError naming `part` otherwise."""
    lo_s, _, hi_s = level.partition("-")
    try:
        low, high = float(lo_s), float(hi_s or lo_s)
    except ValueError:
        raise ConfigError(f"The level {level!r} of {part!r} is not a number or a LOW-HIGH range.") from None
    floor, ceiling, example = limits
    if not floor <= low <= high <= ceiling:
        raise ConfigError(f"{kind} levels must lie in {floor:g}-{ceiling:g} with LOW <= HIGH (e.g. {example}). "
                          f"Received: {part}")
    return low, high


def noise_text(chain: list[Noise]) -> str:
    return ",".join(n.text() for n in chain)


def _levels(noise: Noise, n, seed):
    import tensorflow as tf

    return tf.random.stateless_uniform([n], seed, noise.low, noise.high) if noise.high > noise.low \
        else tf.fill([n], tf.constant(noise.low, tf.float32))


def add_noise(batch, chain: list[Noise], seed):
    """The noisy version of a float32 batch (n, h, w, 3) of pixels in [0, 255]."""
    import tensorflow as tf

    x = tf.convert_to_tensor(batch, tf.float32)
    n = tf.shape(x)[0]
    for i, noise in enumerate(chain):
        s_level, s_draw = [tf.random.experimental.stateless_fold_in(seed, 2 * i + k) for k in (1, 2)]
        level = tf.reshape(_levels(noise, n, s_level), [-1, 1, 1, 1])
        if noise.kind == "gaussian":
            x = x + tf.random.stateless_normal(tf.shape(x), s_draw) * level
        elif noise.kind == "poisson":
            x = tf.random.stateless_poisson(tf.shape(x), s_draw, x / 255.0 * level, dtype=tf.float32) * 255.0 / level
        elif noise.kind == "saltpepper":
            u = tf.random.stateless_uniform(tf.shape(x)[:3], s_draw)[..., None]
            hit = u < level
            white = tf.random.stateless_uniform(tf.shape(x)[:3], tf.random.experimental.stateless_fold_in(s_draw, 7))
            x = tf.where(hit, tf.where(white[..., None] < 0.5, 0.0, 255.0), x)
        elif noise.kind == "jpeg":
            x = _jpeg(tf.round(tf.clip_by_value(x, 0.0, 255.0)), tf.reshape(level, [-1]))
        x = tf.round(tf.clip_by_value(x, 0.0, 255.0))
    return x


def _jpeg(x, quality):
    import tensorflow as tf

    return tf.map_fn(lambda a: _jpeg_one(*a), (x, quality), fn_output_signature=tf.float32)


def _jpeg_one(image, quality):
    import tensorflow as tf

    q = tf.cast(tf.round(quality), tf.int32)
    return tf.cast(tf.image.adjust_jpeg_quality(tf.cast(image, tf.uint8), q), tf.float32)


def downscale(batch, scale: int):
    """Bicubic downscaling with antialiasing by an integer `scale`, rounded to pixel levels (the
    low-resolution images a super-resolution model learns to enlarge); sides must be multiples of
    `scale`."""
    import tensorflow as tf

    x = tf.convert_to_tensor(batch, tf.float32)
    size = tf.shape(x)[1:3] // scale
    small = tf.image.resize(x, size, method="bicubic", antialias=True)
    return tf.round(tf.clip_by_value(small, 0.0, 255.0))


def random_masks(n: int, height: int, width: int, rng: np.random.Generator, coverage: tuple[float, float] = (0.05, 0.25),
                 unit: int | None = None) -> np.ndarray:
    """(n, height, width) float32 masks, 1 in the holes: boxes and free-form strokes (brush lines of
    random width along a random walk, as in Yu et al. 2019) covering about `coverage` of the image.

    Hole sizes are fractions of `unit` pixels (boxes 10-40% of it a side, brushes 3-10% wide); unit
    None: the image's shorter side. Training draws them on patches (unit = the patch), and
    evaluation on whole images passes the same unit, so that the holes a model is measured on are
    the sizes it learnt to fill, however large the image (more of them on a larger image)."""
    from PIL import Image, ImageDraw

    masks = np.zeros((n, height, width), np.float32)
    short = unit or min(height, width)
    shapes = max(12, int(12 * height * width / short ** 2))
    for i in range(n):
        target = rng.uniform(*coverage)
        img = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(img)
        for _ in range(shapes):
            if rng.random() < 0.4:
                bw, bh = (min(d, int(rng.uniform(0.1, 0.4) * (unit or d)) + 1) for d in (width, height))
                x0, y0 = int(rng.integers(0, width - bw + 1)), int(rng.integers(0, height - bh + 1))
                draw.rectangle([x0, y0, x0 + bw - 1, y0 + bh - 1], fill=255)
            else:
                x, y = rng.uniform(0, width), rng.uniform(0, height)
                brush = max(2, int(rng.uniform(0.03, 0.1) * short))
                points = [(x, y)]
                for _ in range(int(rng.integers(3, 8))):
                    angle, step = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.3) * short
                    x = float(np.clip(x + step * np.cos(angle), 0, width - 1))
                    y = float(np.clip(y + step * np.sin(angle), 0, height - 1))
                    points.append((x, y))
                draw.line(points, fill=255, width=brush, joint="curve")
            if np.mean(np.asarray(img) > 0) >= target:
                break
        masks[i] = np.asarray(img, np.float32) / 255.0 > 0.5
    return masks


def with_hole(batch, masks):
    """The inpainting model's 4-channel input: the image with its holes filled grey, and the mask
    scaled to 0-255 as the fourth channel."""
    import tensorflow as tf

    x = tf.convert_to_tensor(batch, tf.float32)
    m = tf.convert_to_tensor(masks, tf.float32)[..., None]
    return tf.concat([x * (1.0 - m) + MASK_FILL * m, m * 255.0], axis=-1)
