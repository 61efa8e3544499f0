"""PNG plots for a run: training curves and confusion matrices (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save(fig, path: Path) -> None:
    """Writes a figure as PNG atomically and closes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


def training_curves(history: list[dict], path: Path, best_epoch: int | None = None, metric: str = "accuracy",
                    title: str = "Accuracy") -> None:
    """Loss and `metric` per epoch, training against validation; `best_epoch` gets a dashed line."""
    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, title in ((axes[0], "loss", "Loss"), (axes[1], metric, title)):
        if any(key in row for row in history):
            ax.plot(epochs, [row.get(key, np.nan) for row in history], "o-", label="training")
        if any(f"val_{key}" in row for row in history):
            ax.plot(epochs, [row.get(f"val_{key}", np.nan) for row in history], "o-", label="validation")
        if any(f"slice_{key}" in row for row in history):  # the training images held out to decide fine-tuning
            ax.plot(epochs, [row.get(f"slice_{key}", np.nan) for row in history], "o--", label="held-out training slice")
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"best (epoch {best_epoch})")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    save(fig, path)


def _row_share(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    rows = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)


def _matrix_plot(share: np.ndarray, cells: list[list[str]], classes: list[str], path: Path, title: str,
                 colorbar: str) -> None:
    """Rows are true classes, columns predictions; colours from `share`, text from `cells`."""
    n = len(classes)
    side = max(4.0, 0.6 * n + 2)
    fig, ax = plt.subplots(figsize=(side, side * 0.85))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=colorbar)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, cells[i][j], ha="center", va="center",
                        color="white" if share[i, j] > 0.5 else "black", fontsize=9)
    save(fig, path)


def confusion_matrix(matrix: np.ndarray, classes: list[str], path: Path, title: str = "Confusion matrix") -> None:
    """Counts with row-normalised colours: rows are true classes, columns predictions."""
    matrix = np.asarray(matrix)
    _matrix_plot(_row_share(matrix), [[str(v) for v in row] for row in matrix], classes, path, title,
                 "share of true class")


def confusion_normalised(matrix: np.ndarray, classes: list[str], path: Path,
                         title: str = "Confusion matrix (share of true class)") -> None:
    """Each row divided by its total: the recall of each class on the diagonal."""
    share = _row_share(matrix)
    _matrix_plot(share, [[f"{v:.2f}" for v in row] for row in share], classes, path, title, "")


def roc_pr(y_true: np.ndarray, scores: np.ndarray, positive: str, path: Path) -> dict:
    """ROC and precision-recall curves of a two-class model (scores = probability of `positive`).

    Returns the areas: {"roc_auc", "average_precision"}.
    """
    from sklearn import metrics as skm

    fpr, tpr, _ = skm.roc_curve(y_true, scores)
    precision, recall, _ = skm.precision_recall_curve(y_true, scores)
    auc = float(skm.auc(fpr, tpr))
    ap = float(skm.average_precision_score(y_true, scores))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(fpr, tpr, label=f"AUC {auc:.3f}")
    axes[0].plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    axes[0].set(title=f"ROC ({positive} positive)", xlabel="false positive rate", ylabel="true positive rate")
    axes[1].plot(recall, precision, label=f"AP {ap:.3f}")
    axes[1].axhline(float(np.mean(y_true)), color="grey", linestyle="--", linewidth=1, label="chance")
    axes[1].set(title=f"Precision-recall ({positive} positive)", xlabel="recall", ylabel="precision")
    for ax in axes:
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is axes[0] else "lower left")
    save(fig, path)
    return {"roc_auc": auc, "average_precision": ap}


def reliability(curves: dict[str, dict], path: Path) -> None:
    """Reliability diagram: accuracy against confidence per bin, one line per entry of `curves`
    (e.g. {"model": reliability(...), "temperature 1.6": reliability(...)}), with counts below."""
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5.5, 6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    for name, rel in curves.items():
        used = [b for b in rel["bins"] if b["count"]]
        ax.plot([b["confidence"] for b in used], [b["accuracy"] for b in used], "o-",
                label=f"{name} (ECE {rel['ece']:.3f})")
    first = next(iter(curves.values()))
    widths = [b["upper"] - b["lower"] for b in first["bins"]]
    hist.bar([b["lower"] for b in first["bins"]], [b["count"] for b in first["bins"]], width=widths, align="edge",
             color="#9ab", edgecolor="white")
    ax.set(title="Reliability", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.02))
    hist.set(xlabel="confidence (top-1 probability)", ylabel="images")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    save(fig, path)


def label_pr_curves(y: np.ndarray, probs: np.ndarray, labels: list[str], thresholds: list[float], path: Path,
                    title: str = "Precision-recall per label") -> None:
    """One precision-recall curve per label of a multi-label model, its threshold marked with a dot."""
    from sklearn import metrics as skm

    fig, ax = plt.subplots(figsize=(6.5, 5))
    for j, label in enumerate(labels):
        if not y[:, j].any():
            continue
        precision, recall, cuts = skm.precision_recall_curve(y[:, j], probs[:, j])
        ap = skm.average_precision_score(y[:, j], probs[:, j])
        line, = ax.plot(recall, precision, label=f"{label} (AP {ap:.3f})")
        at = int(np.clip(np.searchsorted(cuts, thresholds[j]), 0, len(cuts) - 1)) if len(cuts) else 0
        ax.plot(recall[at], precision[at], "o", color=line.get_color())
    ax.set(title=title, xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    if labels:
        ax.legend(loc="lower left", fontsize=8)
    save(fig, path)


def timeline_plot(timeline, path: Path) -> None:
    """A video's timeline (`visionflow.video.timeline.Timeline`): every class's probability over
    time on one panel, or, for a model of numbers (regression), a panel per target with its value."""
    names, times, answers = timeline.classes, timeline.times, timeline.probs
    values = not timeline.task.segmentable
    panels = len(names) if values else 1
    fig, axes = plt.subplots(panels, 1, figsize=(10, 2.6 * panels + 0.6), squeeze=False, sharex=True)
    for i, name in enumerate(names):
        ax = axes[i if values else 0, 0]
        ax.plot(times, answers[:, i] if len(answers) else [], "-", linewidth=1.5, label=name,
                color=f"C{i % 10}")
        if values:
            ax.set_ylabel(name)
    if not values:
        axes[0, 0].set(ylabel="probability", ylim=(-0.02, 1.02))
        axes[0, 0].legend(loc="upper right", fontsize="small", ncol=min(4, len(names)))
    for ax in axes[:, 0]:
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)")
    axes[0, 0].set_title(f"{Path(timeline.source).name}: {len(times)} frames ({timeline.sampling})")
    save(fig, path)
