"""Generated image folders shared by tests and benchmarks (no real data, nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# Hues of the "easy" classes: plainly different colours a user would expect any model to tell apart.
EASY_COLOURS = {"red": (200, 40, 40), "blue": (40, 60, 200), "green": (40, 180, 60), "yellow": (220, 200, 40),
                "purple": (140, 50, 170)}


def easy_image(colour: tuple[int, int, int], rng: np.random.Generator) -> Image.Image:
    """A mostly solid colour photo-like image: random size and aspect, brightness drift, noise, a darker blob."""
    h, w = int(rng.integers(48, 160)), int(rng.integers(48, 160))
    base = np.array(colour, np.float32) * rng.uniform(0.75, 1.15)
    ramp = np.linspace(-25, 25, w, dtype=np.float32)[None, :, None] * rng.choice([-1, 1])
    img = base[None, None, :] + ramp + rng.normal(0, 18, size=(h, w, 3))
    cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(6, 20)
    yy, xx = np.ogrid[:h, :w]
    img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] *= 0.6
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def easy_folder(root: Path, classes: int = 2, train: int = 25, validation: int = 8, seed: int = 0,
                odd_files: bool = True) -> Path:
    """root/{train,validation}/<colour>/ with `train` and `validation` images per class.

    With `odd_files`, each training class also gets a greyscale-palette, an RGBA and a CMYK image
    (valid, other colour modes) and one truncated JPEG (skipped by the scan).
    """
    rng = np.random.default_rng(seed)
    names = list(EASY_COLOURS)[:classes]
    for split, count in (("train", train), ("validation", validation)):
        for name in names:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                easy_image(EASY_COLOURS[name], rng).save(folder / f"{name}_{i:03d}.jpg", quality=90)
            if odd_files and split == "train":
                img = easy_image(EASY_COLOURS[name], rng)
                img.convert("P").save(folder / "odd_palette.png")
                img.convert("RGBA").save(folder / "odd_rgba.png")
                img.convert("CMYK").save(folder / "odd_cmyk.jpg")
                (folder / "broken.jpg").write_bytes((folder / f"{name}_000.jpg").read_bytes()[:300])
    return root
