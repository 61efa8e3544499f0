"""Shared helpers for the benchmarks: machine facts, memory, datasets, epoch timing."""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"


def machine_info() -> dict:
    import keras
    import tensorflow as tf

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = " ".join(f for f in ("avx2", "avx512f", "fma") if f" {f}" in text)
    except OSError:
        pass
    return {"cpu": cpu, "cpu_flags": flags, "cores": os.cpu_count(), "python": sys.version.split()[0],
            "tensorflow": tf.__version__, "keras": keras.__version__, "keras_backend": keras.backend.backend(),
            "platform": platform.platform()}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Read from /proc/self/status (VmHWM) on Linux: getrusage's ru_maxrss survives execve there, so
    a case started by a parent that had imported TensorFlow would report at least the parent's peak.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dataset(name: str) -> Path | None:
    path = SHARED / name
    return path if path.is_dir() else None


def generated_binary(root: Path, per_class: int = 120, size: int = 160, seed: int = 0) -> Path:
    """A two-class folder (train/validation) of synthetic photos, for machines without ../shared."""
    from PIL import Image, ImageDraw

    if (root / "train").is_dir():
        return root
    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), ("validation", per_class // 2)):
        for label in ("circles", "squares"):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = Image.fromarray(rng.integers(0, 120, (size, size, 3), dtype=np.uint8))
                draw = ImageDraw.Draw(img)
                s = int(rng.integers(size // 4, size // 2))
                x, y = (int(v) for v in rng.integers(0, size - s, 2))
                colour = tuple(int(c) for c in rng.integers(120, 255, 3))
                (draw.ellipse if label == "circles" else draw.rectangle)([x, y, x + s, y + s], fill=colour)
                img.save(folder / f"{i:04d}.jpg", quality=90)
    return root


def steady(values: list[float]) -> float | None:
    """Mean of all epochs but the first (which includes tracing and the first decode), or the only one."""
    if not values:
        return None
    rest = values[1:] or values
    return float(np.mean(rest))
