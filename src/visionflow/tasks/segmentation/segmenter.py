"""A trained segmentation model, loaded: images in, a class index per pixel out, at each image's
own size (`Segmenter.predict`, `visionflow.load(run)`).

Whatever runs the network (TensorFlow, or ONNX Runtime / LiteRT through the run's cached,
parity-checked export, the default where installed), the image is resized to the input size,
the logits resized back to the image's size (bilinear) and the class with the highest logit
taken, identically for each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from visionflow.data.decode import decode
from visionflow.network.predictor import NetworkPredictor
from visionflow.tasks.segmentation.masks import Scheme, colours_of


@dataclass
class Segmentation:
    """One image's answer: `mask` (h, w) class indices at the image's size, each class's share of
    the pixels; `error` set (and no mask) when it could not be read."""

    source: str
    mask: np.ndarray | None = None
    classes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def areas(self) -> dict[str, float]:
        counts = np.bincount(self.mask.ravel(), minlength=len(self.classes))[:len(self.classes)]
        return {name: round(float(c) / self.mask.size, 5) for name, c in zip(self.classes, counts)}

    def to_dict(self) -> dict:
        if not self.ok:
            return {"source": self.source, "error": self.error}
        return {"source": self.source, "width": int(self.mask.shape[1]), "height": int(self.mask.shape[0]),
                "areas": self.areas()}

    def text(self) -> str:
        shown = sorted(self.areas().items(), key=lambda kv: -kv[1])
        return ", ".join(f"{name} {share:.1%}" for name, share in shown if share > 0)


class Segmenter(NetworkPredictor):
    """A segmentation model with its classes, input size and colours (those of the dataset's colour
    map, else a palette): what its mask PNGs are drawn in. An answer is the (h, w) uint8 class
    index of each pixel at the image's own size."""

    task, outputs, what = "segmentation", "mask", "segmentation model"

    def __init__(self, runtime: Callable[[np.ndarray], np.ndarray], meta: dict, backend: str, source: str,
                 keras_model=None):
        super().__init__(runtime, meta, backend, source, keras_model)
        self.colours = colours_of(meta)

    @property
    def scheme(self) -> Scheme:
        return Scheme.from_dict({"kind": "index", "classes": self.classes, **(self.meta.get("scheme") or {})})

    def answer(self, raw: np.ndarray, image: np.ndarray) -> np.ndarray:
        return to_mask(raw, image.shape[:2])

    def result(self, source: str, answer, image: np.ndarray) -> Segmentation:
        return Segmentation(source, answer, self.classes)

    def failure(self, source: str, error: str) -> Segmentation:
        return Segmentation(source, error=error)

    def predict(self, inputs, batch_size: int = 8):
        """The class-index array (h, w) of one image (a path, bytes, PIL image or uint8 array), or
        a list of them for a list of images; an image that cannot be read raises DecodeError."""
        single = not isinstance(inputs, (list, tuple))
        images = [decode(x) for x in ([inputs] if single else inputs)]
        out = self.answers(images, batch_size)
        return out[0] if single else out

    def overlay(self, image: np.ndarray, mask: np.ndarray, opacity: float = 0.5) -> np.ndarray:
        """`image` with each pixel tinted by its class's colour (a black-and-white model's
        background left as it is, its foreground in orange: black and white tints hide little)."""
        colours = np.array(self.colours, np.float32)
        weight = np.full(len(colours), opacity, np.float32)
        if self.meta.get("scheme", {}).get("kind") == "binary":
            colours[1], weight[0] = (255, 90, 20), 0.0
        w = weight[mask][..., None]
        tinted = image.astype(np.float32) * (1 - w) + colours[mask] * w
        return np.clip(tinted, 0, 255).astype(np.uint8)

    def info(self) -> dict:
        return {**super().info(), "colours": ["#%02x%02x%02x" % tuple(c) for c in self.colours]}


def to_mask(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The class with the highest logit at each pixel of an image of `size` (h, w): logits resized
    bilinearly (a few channels at a time: OpenCV takes at most 4 per call at full speed)."""
    h, w = size
    if logits.shape[:2] == (h, w):
        return logits.argmax(-1).astype(np.uint8)
    c = logits.shape[-1]
    if c == 2:  # two classes: the sign of their difference is the answer
        diff = cv2.resize(np.ascontiguousarray(logits[..., 1] - logits[..., 0]), (w, h), interpolation=cv2.INTER_LINEAR)
        return (diff > 0).astype(np.uint8)
    best = np.full((h, w), -np.inf, np.float32)
    out = np.zeros((h, w), np.uint8)
    for start in range(0, c, 4):
        part = np.ascontiguousarray(logits[..., start:start + 4], dtype=np.float32)
        up = cv2.resize(part, (w, h), interpolation=cv2.INTER_LINEAR)
        up = up.reshape(h, w, -1)
        idx = up.argmax(-1)
        val = np.take_along_axis(up, idx[..., None], -1)[..., 0]
        better = val > best
        out[better] = (idx[better] + start).astype(np.uint8)
        best = np.maximum(best, val)
    return out
