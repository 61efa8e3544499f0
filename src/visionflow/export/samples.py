"""Images for parity checks and int8 calibration: the run's own data when it can be found."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from visionflow.data.decode import DecodeError, decode
from visionflow.data.resize import STRETCH, Resize
from visionflow.rundir import locate


def run_images(manifest: Path, split: str, image_size: tuple[int, int], count: int, seed: int = 0,
               resize: Resize = STRETCH) -> np.ndarray:
    """Up to `count` decoded images of `split` listed in a run's manifest.csv, in a seeded order.

    Files that moved or no longer decode are passed over. Returns uint8 (n, h, w, 3), n <= count.
    """
    rows = []
    if manifest.exists():
        with open(manifest, newline="", encoding="utf-8") as fh:
            rows = [r["path"] for r in csv.DictReader(fh) if r.get("split") == split and r.get("status") == "ok"]
    rng = np.random.default_rng(seed)
    images = []
    for i in rng.permutation(len(rows)):
        path = locate(rows[i], manifest.parent)
        try:
            images.append(decode(path, size=image_size, resize=resize))
        except DecodeError:
            continue
        if len(images) == count:
            break
    return np.stack(images) if images else np.zeros((0, *image_size, 3), np.uint8)


def generated_images(image_size: tuple[int, int], count: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour fields (not white noise, so activations look more like photos')."""
    rng = np.random.default_rng(seed)
    h, w = image_size
    coarse = rng.integers(0, 256, (count, max(2, h // 8), max(2, w // 8), 3)).astype(np.float32)
    rows = np.linspace(0, coarse.shape[1] - 1, h).round().astype(int)
    cols = np.linspace(0, coarse.shape[2] - 1, w).round().astype(int)
    images = coarse[:, rows][:, :, cols] + rng.normal(0, 12, (count, h, w, 3))
    return np.clip(images, 0, 255).astype(np.uint8)


def sample_images(manifest: Path, split: str, image_size: tuple[int, int], count: int,
                  seed: int = 0, resize: Resize = STRETCH) -> tuple[np.ndarray, str]:
    """`count` images: the run's own first (brought to size by the model's `resize`), topped up with
    generated ones; and where they came from."""
    real = run_images(manifest, split, image_size, count, seed, resize)
    missing = count - len(real)
    if missing == 0:
        return real, f"{len(real)} {split} images of the run"
    fill = generated_images(image_size, missing, seed)
    where = f"{len(real)} {split} images of the run + {missing} generated" if len(real) else f"{missing} generated images"
    return np.concatenate([real, fill]), where


def whole_images(manifest: Path, image_size: tuple[int, int], count: int) -> tuple[list[np.ndarray], str]:
    """`count` images at their own size for the parity check of a model that answers in the image's
    pixels (boxes, masks): the run's first validation images, topped up with generated ones at
    `image_size`; and where they came from."""
    rows = []
    if manifest.exists():
        with open(manifest, newline="", encoding="utf-8") as fh:
            rows = [r["path"] for r in csv.DictReader(fh) if r.get("split") == "validation" and r.get("status") == "ok"]
    images = []
    for path in rows[:count]:
        try:
            images.append(decode(locate(path, manifest.parent)))
        except DecodeError:
            continue
    real = len(images)
    if real < count:
        images += list(generated_images(image_size, count - real, seed=1))
    where = (f"{real} validation images of the run" + (f" + {count - real} generated" if count > real else "")
             if real else f"{count} generated images")
    return images, where


def sample_clips(manifest: Path, split: str, frames: int, image_size: tuple[int, int], count: int, seed: int = 0,
                 resize: Resize = STRETCH) -> tuple[np.ndarray, str]:
    """`count` clips of `frames` frames for a clip model's parity check: the run's own videos of
    `split` first, topped up with clips of generated frames; and where they came from."""
    from visionflow.errors import DataError
    from visionflow.video.frames import load_clip

    rows = []
    if manifest.exists():
        with open(manifest, newline="", encoding="utf-8") as fh:
            rows = [r["path"] for r in csv.DictReader(fh) if r.get("split") == split and r.get("status") == "ok"]
    clips = []
    for i in np.random.default_rng(seed).permutation(len(rows)):
        try:
            clips.append(load_clip(locate(rows[i], manifest.parent), frames, image_size, resize))
        except (DataError, OSError):
            continue
        if len(clips) == count:
            break
    missing = count - len(clips)
    real = np.stack(clips) if clips else np.zeros((0, frames, *image_size, 3), np.uint8)
    if missing == 0:
        return real, f"{len(real)} {split} clips of the run"
    fill = generated_images(image_size, missing * frames, seed).reshape(missing, frames, *image_size, 3)
    where = f"{len(real)} {split} clips of the run + {missing} generated" if len(real) else f"{missing} generated clips"
    return np.concatenate([real, fill]), where
