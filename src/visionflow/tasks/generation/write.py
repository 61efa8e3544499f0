"""Generated images to files: one PNG per sample plus a grid, or an interpolation strip."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.errors import ConfigError
from visionflow.tasks.generation.grid import display_scale, make_grid, save_png


def write_samples(images: np.ndarray, labels: np.ndarray | None, classes: list[str], out: str | Path,
                  columns: int = 8, seed: int = 0) -> list[Path]:
    """Writes OUT/<index>[_<class>].png for every image and OUT/grid.png; returns the grid's path
    first, then the images'. Existing files of the same names are replaced."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the samples.")
    out.mkdir(parents=True, exist_ok=True)
    written = [save_png(make_grid(images, min(columns, len(images))), out / "grid.png",
                        display_scale(images.shape[1]))]
    for i, image in enumerate(images):
        tag = f"_{_safe(classes[int(labels[i])])}" if labels is not None and classes else ""
        written.append(save_png(image, out / f"seed{seed}_{i:04d}{tag}.png"))
    return written


def write_strip(images: np.ndarray, out: str | Path) -> Path:
    """Writes the interpolation strip to OUT (a .png file, or OUT/interpolation.png for a folder)."""
    out = Path(out)
    if out.is_dir() or not out.suffix:
        out = out / "interpolation.png"
    elif out.suffix.lower() != ".png":
        raise ConfigError(f"--out for --interpolate is a .png file or a folder. Received: {out}")
    return save_png(make_grid(images, len(images)), out, display_scale(images.shape[1]))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40]
