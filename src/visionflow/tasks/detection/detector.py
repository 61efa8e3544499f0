"""A trained detector, loaded: images in, boxes out (`Detector.predict`, `visionflow.load(run)`).

Whatever runs the network (TensorFlow, or ONNX Runtime / LiteRT through the run's cached,
parity-checked export, the default where installed), it returns the decoded rows; the
thresholds, NMS and scaling back to the original image happen here, identically for each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from visionflow.errors import ConfigError
from visionflow.network.predictor import NetworkPredictor
from visionflow.tasks.detection.boxes import MAX_DETECTIONS, select

CONF = 0.25  # score threshold of predictions until one is fitted on validation (Ultralytics' default)
IOU = 0.5  # default NMS overlap


@dataclass
class Detections:
    """One image's answer: `boxes` [{"label", "score", "box": [x1, y1, x2, y2]}] in the original
    image's pixels, highest score first; `error` set (and no boxes) when it could not be read."""

    source: str
    boxes: list[dict] = field(default_factory=list)
    width: int = 0
    height: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for b in self.boxes:
            out[b["label"]] = out.get(b["label"], 0) + 1
        return out

    def to_dict(self) -> dict:
        if not self.ok:
            return {"source": self.source, "error": self.error, "boxes": []}
        return {"source": self.source, "width": self.width, "height": self.height, "boxes": self.boxes,
                "counts": self.counts()}

    def text(self) -> str:
        if not self.boxes:
            return "no objects"
        return ", ".join(f"{b['label']} {b['score']:.2f} [{', '.join(f'{v:.0f}' for v in b['box'])}]"
                         for b in self.boxes)


def check_thresholds(conf: float, iou: float) -> None:
    if not 0.0 <= conf < 1.0:
        raise ConfigError(f"--conf must be in [0, 1). Received: {conf}")
    if not 0.0 < iou <= 1.0:
        raise ConfigError(f"--iou must be in (0, 1]. Received: {iou}")


class Detector(NetworkPredictor):
    """A detection model with its classes and input size. `conf` and `iou` are the score
    threshold and NMS overlap of its answers (settable); an answer is (boxes, scores, class
    indices) in the image's pixels."""

    task, outputs, what = "detection", "boxes", "detector"
    decoding = "visionflow.tasks.detection.models:with_decoding"

    def __init__(self, runtime: Callable[[np.ndarray], np.ndarray], meta: dict, backend: str, source: str,
                 keras_model=None):
        super().__init__(runtime, meta, backend, source, keras_model)
        self.conf = float(meta.get("conf", CONF))  # fitted on validation after training (best F1)
        self.iou = float(meta.get("iou", IOU))
        self.max_detections = MAX_DETECTIONS

    def answer(self, raw: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes, scores, class indices) of one image from its decoded rows (points, 4 + classes)."""
        h, w = image.shape[:2]
        scale = (w / self.image_size[1], h / self.image_size[0])
        return select(raw, self.conf, self.iou, scale, (w, h), self.max_detections)

    def to_boxes(self, found) -> list[dict]:
        boxes, scores, labels = found
        return [{"label": self.classes[int(c)], "score": round(float(s), 4), "box": [round(float(v), 1) for v in b]}
                for b, s, c in zip(boxes, scores, labels)]

    def result(self, source: str, answer, image: np.ndarray) -> Detections:
        return Detections(source, self.to_boxes(answer), int(image.shape[1]), int(image.shape[0]))

    def failure(self, source: str, error: str) -> Detections:
        return Detections(source, error=error)

    def predict(self, inputs, batch_size: int = 8):
        """Detections for one image (a path, bytes, PIL image or uint8 array) or a list of them."""
        single = not isinstance(inputs, (list, tuple))
        out = list(self.iter_predict([inputs] if single else inputs, batch_size))
        return out[0] if single else out

    def info(self) -> dict:
        return {**super().info(), "conf": self.conf, "iou": self.iou}
