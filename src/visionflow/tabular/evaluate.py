"""What each input of a model that reads table columns brings: single-modality views and
permutation importance, measured on labelled images.

- fused: the model as it is, images and columns;
- image only: every row's columns replaced by the training mean of their features;
- columns only: every image replaced by a flat image of the training images' mean colour;
- permutation importance (Breiman 2001; scikit-learn's `permutation_importance` measures the same):
  the score lost when one column's values (or the images) are shuffled across the rows, breaking
  their link to the label, averaged over REPEATS shuffles. A modality the model ignores loses
  nothing; one it needs loses most of the score.

The score is the task's headline metric: accuracy for classification, mAP for multi-label.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MAX_ROWS = 1000  # rows measured (a seeded sample of larger sets): each view predicts every row again
REPEATS = 3


def _score(predictor, targets: np.ndarray, probs: np.ndarray) -> tuple[str, float]:
    metrics = predictor.task.compute_metrics(targets, probs, predictor)
    if predictor.task.exclusive:
        return "accuracy", float(metrics["accuracy"])
    if metrics.get("mAP") is not None:
        return "mAP", float(metrics["mAP"])
    return "micro F1", float(metrics["micro_avg"]["f1-score"])


def _slices(table) -> list[tuple[str, slice]]:
    """(column name, its features' slice) for each column."""
    out, at = [], 0
    for column in table.columns:
        out.append((column.name, slice(at, at + column.width)))
        at += column.width
    return out


def load_rows(predictor, paths: list[str], rows: list[dict]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(images, column features, the indices of the rows read) of labelled images; rows whose image
    or columns cannot be read are left out."""
    def one(i):
        try:
            image = predictor.prepare(paths[i])
        except Exception:  # noqa: BLE001  the evaluation already listed unreadable files
            return None
        features = predictor.fusion.vector(rows[i], paths[i])
        return None if isinstance(features, str) else (i, image, features)

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        done = [d for d in pool.map(one, range(len(paths))) if d is not None]
    if not done:
        return np.zeros((0, *predictor.image_size, 3), np.uint8), np.zeros((0, predictor.fusion.table.width)), []
    return np.stack([d[1] for d in done]), np.stack([d[2] for d in done]), [d[0] for d in done]


def modalities(predictor, paths: list[str], rows: list[dict], targets: np.ndarray, seed: int = 0) -> dict | None:
    """The fused, image-only and columns-only scores and the permutation importance of each column
    and of the image, on labelled images `paths` with their table `rows` and task `targets`; None
    when the model reads no columns or no row could be read."""
    fusion = predictor.fusion
    if fusion is None or not paths:
        return None
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(paths))[:MAX_ROWS]
    order.sort()
    images, features, kept = load_rows(predictor, [paths[i] for i in order], [rows[i] for i in order])
    if not kept:
        return None
    y = np.asarray(targets)[order][kept]

    def score(imgs, cols) -> tuple[str, float]:
        return _score(predictor, y, predictor.predict_arrays(imgs, columns=cols))

    metric, fused = score(images, features)
    flat = np.broadcast_to(np.asarray(fusion.image_mean, np.float32).round().astype(np.uint8), images.shape)
    image_only = score(images, np.broadcast_to(fusion.columns_mean, features.shape))[1]
    columns_only = score(np.ascontiguousarray(flat), features)[1]
    importance = {}
    for name, part in [("image", None), *_slices(fusion.table)]:
        drops = []
        for _ in range(REPEATS):
            shuffled = rng.permutation(len(kept))
            if part is None:
                drops.append(fused - score(images[shuffled], features)[1])
            else:
                cols = features.copy()
                cols[:, part] = features[shuffled][:, part]
                drops.append(fused - score(images, cols)[1])
        importance[name] = {"mean": round(float(np.mean(drops)), 4), "std": round(float(np.std(drops)), 4)}
    return {"metric": metric, "rows": len(kept), "fused": round(fused, 4), "image_only": round(image_only, 4),
            "columns_only": round(columns_only, 4), "repeats": REPEATS,
            "importance": dict(sorted(importance.items(), key=lambda kv: -kv[1]["mean"]))}


def format_lines(m: dict) -> list[str]:
    """The modality figures in words, for the terminal."""
    ranked = ", ".join(f"{k} {v['mean']:+.3f}" for k, v in m["importance"].items())
    return [f"modalities ({m['metric']} on {m['rows']} images): fused {m['fused']:.4f}, image only "
            f"{m['image_only']:.4f}, columns only {m['columns_only']:.4f}",
            f"permutation importance ({m['metric']} lost when shuffled, mean of {m['repeats']}): {ranked}"]
