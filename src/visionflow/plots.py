"""PNG plots for a run: training curves and confusion matrices (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


def training_curves(history: list[dict], path: Path, best_epoch: int | None = None) -> None:
    """Loss and accuracy per epoch, training against validation; `best_epoch` gets a dashed line."""
    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, title in ((axes[0], "loss", "Loss"), (axes[1], "accuracy", "Accuracy")):
        if any(key in row for row in history):
            ax.plot(epochs, [row.get(key, np.nan) for row in history], "o-", label="training")
        if any(f"val_{key}" in row for row in history):
            ax.plot(epochs, [row.get(f"val_{key}", np.nan) for row in history], "o-", label="validation")
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"best (epoch {best_epoch})")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)


def confusion_matrix(matrix: np.ndarray, classes: list[str], path: Path, title: str = "Confusion matrix") -> None:
    """Counts with row-normalised colours: rows are true classes, columns predictions."""
    matrix = np.asarray(matrix)
    n = len(classes)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    side = max(4.0, 0.6 * n + 2)
    fig, ax = plt.subplots(figsize=(side, side * 0.85))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                        color="white" if share[i, j] > 0.5 else "black", fontsize=9)
    _save(fig, path)
