"""A trained detector, loaded: images in, boxes out (`Detector.predict`, `visionflow.load(run)`).

Whatever runs the network (TensorFlow, or ONNX Runtime / LiteRT through the run's cached,
parity-checked export, the default where installed), it returns the decoded rows; the
thresholds, NMS and scaling back to the original image happen here, identically for each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visionflow.data.decode import DecodeError, decode
from visionflow.errors import ConfigError, ModelError
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


class Detector:
    """A detection model with its classes and input size. `conf` and `iou` are the score
    threshold and NMS overlap of its answers (settable)."""

    def __init__(self, runtime: Callable[[np.ndarray], np.ndarray], classes: Sequence[str], image_size: tuple[int, int],
                 backend: str, source: str, meta: dict, keras_model=None):
        self.runtime, self.classes, self.image_size = runtime, list(classes), (int(image_size[0]), int(image_size[1]))
        self.backend, self.source, self.meta = backend, source, meta
        self.keras_model = keras_model
        self.conf = float(meta.get("conf", CONF))  # fitted on validation after training (best F1)
        self.iou = float(meta.get("iou", IOU))
        self.max_detections = MAX_DETECTIONS

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, backend: str = "auto", unsafe: bool = False,
             say: Callable[[str], None] | None = None) -> Detector:
        """A run folder (its model.keras, in the fast runtime by default), a `.keras` file, or an
        export folder written by `visionflow export`."""
        from visionflow.loading import open_network
        from visionflow.tasks.detection.models import with_decoding

        net = open_network(path, backend, unsafe, say, wrap=with_decoding, what="detector")
        try:
            classes, size = net.meta["classes"], net.meta["image_size"]
        except KeyError:
            raise ModelError(f"{net.source}: its labels.json is not a visionflow model description.") from None
        return cls(net.run, classes, size, net.backend, net.source, net.meta, net.keras_model)

    # -- predicting ---------------------------------------------------------------------------
    def prepare(self, image: np.ndarray) -> np.ndarray:
        import cv2

        h, w = self.image_size
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if image.shape[0] * image.shape[1] > h * w
                          else cv2.INTER_LINEAR)

    def decoded(self, batch: np.ndarray) -> np.ndarray:
        """The network's decoded rows (n, points, 4 + classes) for prepared images."""
        return np.asarray(self.runtime(np.asarray(batch, np.float32)))

    def detect_arrays(self, images: list[np.ndarray], batch_size: int = 8) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(boxes, scores, class indices) per RGB uint8 image, boxes in the image's pixels."""
        out = []
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            rows = self.decoded(np.stack([self.prepare(im) for im in chunk]))
            for image, r in zip(chunk, rows):
                h, w = image.shape[:2]
                scale = (w / self.image_size[1], h / self.image_size[0])
                out.append(select(r, self.conf, self.iou, scale, (w, h), self.max_detections))
        return out

    def to_boxes(self, found) -> list[dict]:
        boxes, scores, labels = found
        return [{"label": self.classes[int(c)], "score": round(float(s), 4), "box": [round(float(v), 1) for v in b]}
                for b, s, c in zip(boxes, scores, labels)]

    def predict(self, inputs, batch_size: int = 8):
        """Detections for one image (a path, bytes, PIL image or uint8 array) or a list of them."""
        single = not isinstance(inputs, (list, tuple))
        out = list(self.iter_predict([inputs] if single else inputs, batch_size))
        return out[0] if single else out

    def iter_predict(self, items: Iterable, batch_size: int = 8) -> Iterator[Detections]:
        """Detections per input in order, decoding the next batch while the model runs."""
        items = iter(items)
        with ThreadPoolExecutor(max_workers=2) as pool:
            while True:
                chunk = [item for _, item in zip(range(batch_size), items)]
                if not chunk:
                    return
                decoded = list(pool.map(_decode, chunk))
                good = [(i, d) for i, d in enumerate(decoded) if not isinstance(d, str)]
                found = dict(zip((i for i, _ in good), self.detect_arrays([d for _, d in good], batch_size)))
                for i, (item, d) in enumerate(zip(chunk, decoded)):
                    name = _describe(item)
                    if isinstance(d, str):
                        yield Detections(name, error=d)
                    else:
                        yield Detections(name, self.to_boxes(found[i]), int(d.shape[1]), int(d.shape[0]))

    def info(self) -> dict:
        return {"task": "detection", "outputs": "boxes", "labels": self.classes, "image_size": list(self.image_size),
                "backend": self.backend, "conf": self.conf, "iou": self.iou}


def _decode(item) -> np.ndarray | str:
    try:
        return decode(item)
    except DecodeError as exc:
        return str(exc)


def _describe(item) -> str:
    if isinstance(item, (str, Path)):
        return str(item)
    return f"<{type(item).__name__}>"
