"""What each input of a model with two inputs brings (images and table columns, or a clip model's
frames and sound): single-modality views and permutation importance, measured on labelled data.

- fused: the model as it is, both inputs;
- image only (video only): every row's columns (every clip's sound) replaced by the training mean
  of their features;
- columns only (audio only): every image (clip) replaced by a flat one of the training mean colour;
- permutation importance (Breiman 2001; scikit-learn's `permutation_importance` measures the same):
  the score lost when one column's values (the sound, or the images) are shuffled across the rows,
  breaking their link to the label, averaged over REPEATS shuffles. A modality the model ignores
  loses nothing; one it needs loses most of the score.

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


def _parts(predictor) -> tuple[str, str, list[tuple[str, slice]]]:
    """(the first input's name, the second's, (name, slice of the second input) per part)."""
    if predictor.fusion is not None:
        out, at = [], 0
        for column in predictor.fusion.table.columns:
            out.append((column.name, slice(at, at + column.width)))
            at += column.width
        return "image", "columns", out
    return "video", "audio", [("audio", slice(None))]


def _means(predictor) -> tuple[np.ndarray, np.ndarray]:
    """(the training mean colour, the training mean of the second input)."""
    if predictor.fusion is not None:
        return np.asarray(predictor.fusion.image_mean, np.float32), predictor.fusion.columns_mean
    return (np.asarray(predictor.means.get("image_mean", (127.5,) * 3), np.float32),
            np.asarray(predictor.means["audio_mean"], np.float32))


def load_rows(predictor, paths: list[str], rows: list[dict]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(images, second inputs, the indices of the rows read) of labelled images or clips; rows whose
    file or second input cannot be read are left out."""
    def one(i):
        both = predictor.prepare_both(paths[i], rows[i])
        return None if isinstance(both, str) else (i, *both)

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        done = [d for d in pool.map(one, range(len(paths))) if d is not None]
    if not done:
        return np.zeros(0), np.zeros(0), []
    return np.stack([d[1] for d in done]), np.stack([d[2] for d in done]), [d[0] for d in done]


def modalities(predictor, paths: list[str], rows: list[dict], targets: np.ndarray, seed: int = 0) -> dict | None:
    """The fused and single-input scores and the permutation importance of each part of the second
    input and of the first, on labelled `paths` (with their table `rows`, for a model that reads
    columns) and task `targets`; None for a model of one input, or when nothing could be read."""
    if not predictor.second or not paths or (predictor.audio and "audio_mean" not in predictor.means):
        return None
    first, second, parts = _parts(predictor)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(paths))[:MAX_ROWS]
    order.sort()
    images, features, kept = load_rows(predictor, [paths[i] for i in order], [rows[i] for i in order])
    if not kept:
        return None
    y = np.asarray(targets)[order][kept]

    def score(imgs, cols) -> tuple[str, float]:
        return _score(predictor, y, predictor.predict_arrays(imgs, columns=cols))

    colour, second_mean = _means(predictor)
    metric, fused = score(images, features)
    flat = np.ascontiguousarray(np.broadcast_to(colour.round().astype(np.uint8), images.shape))
    first_only = score(images, np.ascontiguousarray(np.broadcast_to(second_mean, features.shape)))[1]
    second_only = score(flat, features)[1]
    importance = {}
    for name, part in [(first, None), *parts]:
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
    return {"metric": metric, "rows": len(kept), "inputs": [first, second], "fused": round(fused, 4),
            f"{first}_only": round(first_only, 4), f"{second}_only": round(second_only, 4), "repeats": REPEATS,
            "importance": dict(sorted(importance.items(), key=lambda kv: -kv[1]["mean"]))}


def format_lines(m: dict) -> list[str]:
    """The modality figures in words, for the terminal."""
    first, second = m.get("inputs", ("image", "columns"))
    ranked = ", ".join(f"{k} {v['mean']:+.3f}" for k, v in m["importance"].items())
    return [f"modalities ({m['metric']} on {m['rows']} examples): fused {m['fused']:.4f}, {first} only "
            f"{m[f'{first}_only']:.4f}, {second} only {m[f'{second}_only']:.4f}",
            f"permutation importance ({m['metric']} lost when shuffled, mean of {m['repeats']}): {ranked}"]
