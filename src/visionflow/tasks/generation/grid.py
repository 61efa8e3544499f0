"""Sample grids: many images in one picture, a row per class for conditional models."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_grid(images: np.ndarray, columns: int, gap: int = 2) -> np.ndarray:
    """(n, h, w, 3) uint8 images -> one (rows*h + gaps, columns*w + gaps, 3) uint8 picture, row
    by row, on a white background."""
    images = np.asarray(images)
    n, h, w = images.shape[:3]
    rows = -(-n // columns)
    out = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = image
    return out


def save_png(picture: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    """Writes a uint8 picture as PNG (enlarged `scale` times, nearest neighbour), atomically."""
    import os

    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.asarray(picture, np.uint8))
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    tmp = path.with_name(f".{path.name}.partial")
    image.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def display_scale(side: int) -> int:
    """Enlargement that shows small samples at a readable size (about 64 px each)."""
    return max(1, 64 // side)
