"""Box-aware augmentation for detector training, in NumPy and OpenCV: what moves the pixels
moves the boxes.

Each training image gets, in order: a random crop (half the time; 30-100% of the area, aspect
3:4 to 4:3; boxes keep the part inside, and a box that keeps less than 40% of itself is dropped)
or a zoom-out onto a larger grey canvas (a quarter of the time, up to 1.6x, so that objects are
seen smaller), the resize to the input size, a left-right flip (half the time) and a colour
jitter (brightness, contrast, saturation +-25%, hue +-5 degrees). Validation images are only resized.
"""

from __future__ import annotations

import cv2
import numpy as np

from visionflow.tasks.detection.annotations import Truth

KEEP_FRACTION = 0.4  # a cropped box keeping less than this share of its area is dropped
GREY = 114  # canvas colour of zoom-out (the value YOLO's letterbox uses)


def resize(image: np.ndarray, truth: Truth, size: tuple[int, int]) -> tuple[np.ndarray, Truth]:
    """`image` stretched to `size` (height, width) and its boxes with it."""
    h, w = image.shape[:2]
    out = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA if h * w > size[0] * size[1]
                     else cv2.INTER_LINEAR)
    scale = np.array([size[1] / w, size[0] / h, size[1] / w, size[0] / h], np.float32)
    return out, Truth(truth.boxes * scale, truth.labels, truth.ignore)


def _crop(image, truth: Truth, rng) -> tuple[np.ndarray, Truth]:
    h, w = image.shape[:2]
    for _ in range(10):
        frac, ratio = rng.uniform(0.3, 1.0), np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        cw, ch = int(round(w * np.sqrt(frac * ratio))), int(round(h * np.sqrt(frac / ratio)))
        if 8 <= cw <= w and 8 <= ch <= h:
            break
    else:
        return image, truth
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    boxes = truth.boxes.copy()
    before = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]] - x0, 0, cw)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]] - y0, 0, ch)
    after = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = after >= KEEP_FRACTION * np.maximum(before, 1e-6)
    return image[y0:y0 + ch, x0:x0 + cw], Truth(boxes[keep], truth.labels[keep], truth.ignore[keep])


def _zoom_out(image, truth: Truth, rng) -> tuple[np.ndarray, Truth]:
    h, w = image.shape[:2]
    s = rng.uniform(1.1, 1.6)
    ch, cw = int(h * s), int(w * s)
    y0, x0 = int(rng.integers(0, ch - h + 1)), int(rng.integers(0, cw - w + 1))
    canvas = np.full((ch, cw, 3), GREY, np.uint8)
    canvas[y0:y0 + h, x0:x0 + w] = image
    shift = np.array([x0, y0, x0, y0], np.float32)
    return canvas, Truth(truth.boxes + shift, truth.labels, truth.ignore)


def _colour(image: np.ndarray, rng) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-5, 5) / 2) % 180  # OpenCV's hue is in half degrees
    hsv[..., 1] *= rng.uniform(0.75, 1.25)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    mean = out.mean()
    out = (out - mean) * rng.uniform(0.75, 1.25) + mean * rng.uniform(0.75, 1.25)
    return np.clip(out, 0, 255).astype(np.uint8)


def augment(image: np.ndarray, truth: Truth, size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, Truth]:
    """One random training view of `image` at `size` with its boxes (see the module docstring)."""
    pick = rng.uniform()
    if pick < 0.5:
        image, truth = _crop(image, truth, rng)
    elif pick < 0.75:
        image, truth = _zoom_out(image, truth, rng)
    image, truth = resize(image, truth, size)
    if rng.uniform() < 0.5:
        image = image[:, ::-1]
        boxes = truth.boxes.copy()
        boxes[:, [0, 2]] = size[1] - truth.boxes[:, [2, 0]]
        truth = Truth(boxes, truth.labels, truth.ignore)
    return _colour(np.ascontiguousarray(image), rng), truth
