"""Serving a detector: `POST /v1/predict` answers each image with its boxes.

Images are decoded (capped by the server's max_pixels before decoding) and detected one request
at a time in the service's whole-image worker, with the queue and timeout limits of the other
routes; every input problem is a 4xx with the shared error body.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import Request

from visionflow.data.decode import DecodeError
from visionflow.serve.errors import decode_error


@dataclass
class ServedDetector:
    detector: object  # visionflow.tasks.detection.detector.Detector
    name: str
    artifact: str
    sha256: str

    def info(self) -> dict:
        from visionflow.version import __version__

        d = self.detector
        h, w = d.image_size
        return {"name": self.name, "task": "detection", "outputs": "boxes", "labels": d.classes, "input_size": [h, w],
                "backend": d.backend, "artifact": self.artifact, "sha256": self.sha256, "conf": d.conf, "iou": d.iou,
                "explain": False, "version": __version__}


def load_served(run: str | Path, cfg, say: Callable[[str], None]) -> ServedDetector:
    from visionflow.export.exporter import sha256
    from visionflow.tasks.detection.detector import Detector

    detector = Detector.load(run, backend=cfg.backend, say=say)
    detector.detect_arrays([np.zeros((*detector.image_size, 3), np.uint8)])  # traces the model once
    artifact = Path(detector.source)
    say(f"model ready: detector ({detector.backend}, {artifact})")
    name = str(detector.meta.get("model") or Path(run).name)
    return ServedDetector(detector, name, str(artifact), sha256(artifact) if artifact.is_file() else "")


def detect_items(served: ServedDetector, items: list[tuple[str, bytes]], max_pixels: int, conf: float, iou: float) -> list[dict]:
    from visionflow.data.decode import decode

    images = []
    for name, data in items:
        try:
            images.append(decode(data, max_pixels=max_pixels))
        except DecodeError as exc:
            raise decode_error(name, exc) from None
    d = served.detector
    old = d.conf, d.iou
    d.conf, d.iou = conf, iou
    try:
        found = d.detect_arrays(images)
    finally:
        d.conf, d.iou = old
    out = []
    for (name, _), image, got in zip(items, images, found):
        boxes = d.to_boxes(got)
        counts: dict[str, int] = {}
        for b in boxes:
            counts[b["label"]] = counts.get(b["label"], 0) + 1
        out.append({"filename": name, "width": int(image.shape[1]), "height": int(image.shape[0]), "boxes": boxes,
                    "counts": counts})
    return out


def mount(app, service) -> None:
    """`POST /v1/predict` of a detection model (mounted before the shared routes, so it answers there)."""
    from fastapi import Query

    from visionflow.serve.app import PREDICT_BODY, read_images

    cfg = service.cfg

    @app.post("/v1/predict", summary="Boxes in one or more images (detection models): label, score and "
                                     "[x1, y1, x2, y2] in the image's pixels.", openapi_extra=PREDICT_BODY)
    async def predict(request: Request, conf: float | None = Query(None, ge=0.0, lt=1.0),
                      iou: float | None = Query(None, gt=0.0, le=1.0)):
        start = time.perf_counter()
        served = service.served_or_503()
        items = await read_images(request, cfg)
        d = served.detector
        predictions = await service.one_at_a_time(start, "send fewer or smaller images, or serve with a longer --timeout",
                                                  detect_items, served, items, cfg.max_pixels,
                                                  d.conf if conf is None else conf, d.iou if iou is None else iou)
        return {"model": served.name, "task": "detection", "predictions": predictions,
                "elapsed_ms": round((time.perf_counter() - start) * 1000, 2)}
