"""Generated segmentation data: squares and discs over a noisy background, with their masks written
in every form people have (index PNGs with classes.txt, palette PNGs, colour masks with a colour
map, black-and-white masks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("background", "square", "disc")
COLOURS = {"background": (0, 0, 0), "square": (200, 40, 40), "disc": (40, 40, 200)}


def scene(rng: np.random.Generator, size: int = 64, void_border: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(RGB image, class-index mask) with 1-3 shapes; `void_border`: a 1-pixel 255 ring around
    each shape, as Pascal VOC draws its masks."""
    img = Image.fromarray(rng.integers(0, 90, size=(size, size, 3), dtype=np.uint8), "RGB")
    mask = Image.new("L", (size, size), 0)
    pen, ink = ImageDraw.Draw(img), ImageDraw.Draw(mask)
    for _ in range(int(rng.integers(1, 4))):
        s = int(rng.integers(size // 5, size // 2.5))
        x, y = (int(v) for v in rng.integers(1, size - s - 1, size=2))
        label = int(rng.integers(1, 3))
        warm = label == 1
        colour = (int(rng.integers(170, 256)), int(rng.integers(60, 140)), int(rng.integers(0, 80))) if warm else \
                 (int(rng.integers(0, 80)), int(rng.integers(60, 140)), int(rng.integers(170, 256)))
        draw = (lambda d: d.rectangle) if warm else (lambda d: d.ellipse)
        draw(pen)([x, y, x + s - 1, y + s - 1], fill=colour)
        if void_border:
            draw(ink)([x - 1, y - 1, x + s, y + s], fill=255)
        draw(ink)([x, y, x + s - 1, y + s - 1], fill=label)
    return np.asarray(img), np.asarray(mask)


def write_mask(path: Path, mask: np.ndarray, form: str) -> None:
    """`mask` (class indices, 255 void) as an index (L), palette (P), colour (RGB) or
    black-and-white (0/255, every shape foreground) PNG."""
    if form == "index":
        Image.fromarray(mask, "L").save(path)
    elif form == "palette":
        img = Image.fromarray(mask, "P")
        img.putpalette([v for c in CLASSES for v in COLOURS[c]] + [0] * (768 - 9))
        img.save(path)
    elif form == "colour":
        table = np.zeros((256, 3), np.uint8)
        for i, c in enumerate(CLASSES):
            table[i] = COLOURS[c]
        table[255] = (255, 255, 255)  # void: a colour the map does not list
        Image.fromarray(table[mask], "RGB").save(path)
    elif form == "bw":
        Image.fromarray(np.where((mask > 0) & (mask != 255), 255, 0).astype(np.uint8), "L").save(path)
    else:
        raise ValueError(form)


def make_masks(root: Path, splits: dict[str, int], form: str = "index", size: int = 64, seed: int = 0,
               void_border: bool = False) -> Path:
    """DIR/<split>/images + DIR/<split>/masks (split "" : DIR/images + DIR/masks), with the class
    list or colour map the form needs beside the splits."""
    rng = np.random.default_rng(seed)
    for split, n in splits.items():
        base = root / split if split else root
        (base / "images").mkdir(parents=True, exist_ok=True)
        (base / "masks").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            image, mask = scene(rng, size, void_border)
            Image.fromarray(image).save(base / "images" / f"{split or 'img'}{i:03d}.jpg", quality=95)
            write_mask(base / "masks" / f"{split or 'img'}{i:03d}.png", mask, form)
    if form in ("index", "palette"):
        (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    elif form == "colour":
        (root / "labelmap.txt").write_text("# label:color_rgb:parts:actions\n" + "".join(
            f"{c}:{','.join(map(str, COLOURS[c]))}::\n" for c in CLASSES))
    return root
