"""Boxes as numpy arrays: (n, 4) float32 [x1, y1, x2, y2] in pixels, x to the right, y down.

Overlap, non-maximum suppression and the last step of a detector's answer (threshold, NMS,
back to the original image's pixels) live here, shared by every runtime: the exported graphs
decode boxes and scores, and this module picks the detections from them the same way for each.
"""

from __future__ import annotations

import numpy as np

MAX_DETECTIONS = 100  # per image, after NMS (the COCO protocol's limit)
PRE_NMS = 1000  # highest-scoring candidates per image that reach NMS


def area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union."""
    a, b = np.asarray(a, np.float32).reshape(-1, 4), np.asarray(b, np.float32).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, limit: int | None = None) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, highest score first; the first
    `limit` of them when given (the search stops there: an untrained detector's 1,000 candidates
    otherwise cost a thousand passes per image)."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size and (limit is None or len(keep) < limit):
        i = order[0]
        keep.append(i)
        if order.size == 1:
            break
        overlap = iou(boxes[i:i + 1], boxes[order[1:]])[0]
        order = order[1:][overlap <= threshold]
    return np.asarray(keep, np.int64)


def select(decoded: np.ndarray, conf: float, iou_threshold: float, scale: tuple[float, float],
           limit: tuple[int, int] | None = None, max_detections: int = MAX_DETECTIONS
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes, scores, class indices) of one image from the decoded model output (n, 4 + classes):
    scores over `conf`, class-wise NMS at `iou_threshold`, the best `max_detections`, boxes scaled
    by `scale` (x, y) to the original image and clipped to `limit` (width, height)."""
    boxes, scores = decoded[:, :4], decoded[:, 4:]
    point, cls = np.nonzero(scores > conf)
    conf_scores = scores[point, cls]
    if conf_scores.size > PRE_NMS:
        top = np.argpartition(-conf_scores, PRE_NMS)[:PRE_NMS]
        point, cls, conf_scores = point[top], cls[top], conf_scores[top]
    candidates = boxes[point]
    # class-wise NMS in one pass: boxes of different classes are moved apart so they never overlap
    offset = cls[:, None].astype(np.float32) * (candidates.max() + 1 if candidates.size else 0)
    kept = nms(candidates + offset, conf_scores, iou_threshold, max_detections)
    out = candidates[kept] * np.array([scale[0], scale[1], scale[0], scale[1]], np.float32)
    if limit is not None:
        out = np.clip(out, 0, [limit[0], limit[1], limit[0], limit[1]])
    return out.astype(np.float32), conf_scores[kept].astype(np.float32), cls[kept].astype(np.int64)


def size_class(boxes: np.ndarray) -> np.ndarray:
    """COCO's size of each box: 0 small (< 32^2 pixels), 1 medium (< 96^2), 2 large."""
    a = area(np.asarray(boxes, np.float32).reshape(-1, 4))
    return np.digitize(a, [32 ** 2, 96 ** 2])


SIZES = ("small", "medium", "large")
