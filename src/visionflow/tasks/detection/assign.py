"""Training targets of the anchor-free detector (FCOS, Tian et al. 2019): which feature-map
points are responsible for which box.

Every point of the strides-8/16/32 maps looks at the image around its centre. A point is
positive for a box when it lies inside the box, within 1.5 strides of the box centre (centre
sampling), and the box's extent from it fits the point's level (small boxes on the fine map,
large ones on the coarse one); of several such boxes it takes the smallest. A box that no point
takes (very small, or thin) gets its nearest point on the finest map. Points of boxes marked
difficult (VOC) are neither positive nor negative: their classification is not scored.

Target row per point: class one-hot (C), distances left/top/right/bottom in strides (4),
centre-ness (1), positive flag (1), classification weight (1).
"""

from __future__ import annotations

import numpy as np

STRIDES = (8, 16, 32)
CENTRE_RADIUS = 1.5  # strides


def level_ranges(side: int) -> list[tuple[float, float]]:
    """The extent (largest distance from a point to a box side) each level answers for, scaled
    from FCOS' ranges for 800-pixel inputs (64, 128, ...) to `side`."""
    edge = side / 5.0  # 64 at 320 pixels
    return [(0.0, edge), (edge, 2 * edge), (2 * edge, np.inf)]


def points(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centres (n, 2) x, y in input pixels, stride per point (n,), level per point (n,)) for an
    input of `size` (height, width)."""
    centres, strides, levels = [], [], []
    for level, s in enumerate(STRIDES):
        h, w = -(-size[0] // s), -(-size[1] // s)
        ys, xs = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
        centres.append(np.stack([xs.ravel(), ys.ravel()], 1) * s + s // 2)
        strides.append(np.full(h * w, s, np.float32))
        levels.append(np.full(h * w, level, np.int32))
    return np.concatenate(centres), np.concatenate(strides), np.concatenate(levels)


class Assigner:
    """Target rows for one input size; `__call__` encodes one image's boxes."""

    def __init__(self, size: tuple[int, int], classes: int):
        self.size, self.classes = size, classes
        self.centres, self.strides, self.levels = points(size)
        ranges = np.array(level_ranges(min(size)), np.float32)
        self.low, self.high = ranges[self.levels, 0], ranges[self.levels, 1]

    @property
    def width(self) -> int:
        return self.classes + 7

    def __call__(self, boxes: np.ndarray, labels: np.ndarray, ignore: np.ndarray | None = None) -> np.ndarray:
        c = self.classes
        n = len(self.centres)
        out = np.zeros((n, c + 7), np.float32)
        out[:, c + 6] = 1.0
        if len(boxes) == 0:
            return out
        boxes = np.asarray(boxes, np.float32)
        ignore = np.zeros(len(boxes), bool) if ignore is None else np.asarray(ignore, bool)
        px, py = self.centres[:, 0:1], self.centres[:, 1:2]
        ltrb = np.stack([px - boxes[None, :, 0], py - boxes[None, :, 1], boxes[None, :, 2] - px,
                         boxes[None, :, 3] - py], -1)  # (n, m, 4)
        inside = ltrb.min(-1) > 0
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        radius = self.strides[:, None] * CENTRE_RADIUS
        central = (np.abs(px - cx[None]) < radius) & (np.abs(py - cy[None]) < radius)
        extent = ltrb.max(-1)
        fits = (extent >= self.low[:, None]) & (extent <= self.high[:, None])
        candidate = inside & central & fits
        areas = np.broadcast_to(((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None], candidate.shape)
        cost = np.where(candidate, areas, np.inf)
        untaken = ~candidate.any(0)
        if untaken.any():  # boxes no point answers for: the nearest point of the finest level
            fine = np.nonzero(self.levels == 0)[0]
            for j in np.nonzero(untaken)[0]:
                d = (self.centres[fine, 0] - cx[j]) ** 2 + (self.centres[fine, 1] - cy[j]) ** 2
                i = fine[np.argmin(d)]
                if not np.isfinite(cost[i]).any():
                    cost[i, j] = 0.0
                    ltrb[i, j] = np.maximum(ltrb[i, j], 0.5)  # the point may sit just outside a tiny box
        best = cost.argmin(1)
        positive = np.isfinite(cost[np.arange(n), best])
        chosen = np.nonzero(positive)[0]
        j = best[chosen]
        difficult = ignore[j]
        keep, skip = chosen[~difficult], chosen[difficult]
        jk = j[~difficult]
        d = ltrb[keep, jk]
        out[keep, labels[jk].astype(np.int64)] = 1.0
        out[keep, c:c + 4] = d / self.strides[keep, None]
        lr, tb = d[:, [0, 2]], d[:, [1, 3]]
        out[keep, c + 4] = np.sqrt(np.clip(lr.min(1) / np.maximum(lr.max(1), 1e-6), 0, 1)
                                   * np.clip(tb.min(1) / np.maximum(tb.max(1), 1e-6), 0, 1))
        out[keep, c + 5] = 1.0
        out[skip, c + 6] = 0.0
        if ignore.any():  # every point inside a difficult box is left unscored
            within = (inside[:, ignore]).any(1) & (out[:, c + 5] == 0)
            out[within, c + 6] = 0.0
        return out
