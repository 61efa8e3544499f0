"""predictions.csv of a model that gives one class per image: one row per image (path, label,
prob:<class> for every class, ...), as evaluations and runs write it; read back for
cross-validation, the dataset doctor and distillation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Labelling:
    """What a task's metrics read of a model besides its answers (a `Predictor`'s classes,
    temperature and thresholds), for answers read back from files."""

    classes: list[str]
    temperature: float = 1.0
    thresholds: list[float] | None = None


def read_predictions(path: Path, classes: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(paths, true class indices, probabilities (n, k)) from a predictions.csv."""
    import csv

    index = {c: i for i, c in enumerate(classes)}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    paths = [r["path"] for r in rows]
    y = np.array([index[r["label"]] for r in rows], dtype=int)
    probs = np.array([[float(r[f"prob:{c}"]) for c in classes] for r in rows], dtype=np.float64).reshape(len(rows), len(classes))
    return paths, y, probs
