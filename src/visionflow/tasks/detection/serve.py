"""Serving a detector: `POST /v1/predict` answers each image with its boxes.

Images are decoded (capped by the server's max_pixels before decoding) and detected one request
at a time in the service's whole-image worker, with the queue and timeout limits of the other
routes; every input problem is a 4xx with the shared error body.
"""

from __future__ import annotations

import time

from fastapi import Request

from visionflow.network.serve import NetworkService, decode_items
from visionflow.tasks.detection.detector import Detector


def detect_items(served, items: list[tuple[str, bytes]], max_pixels: int, conf: float, iou: float) -> list[dict]:
    images = decode_items(items, max_pixels)
    d = served.predictor
    old = d.conf, d.iou
    d.conf, d.iou = conf, iou
    try:
        found = d.answers(images)
    finally:
        d.conf, d.iou = old
    out = []
    for (name, _), image, got in zip(items, images, found):
        det = d.result(name, got, image)
        out.append({"filename": name, **{k: v for k, v in det.to_dict().items() if k != "source"}})
    return out


class DetectorService(NetworkService):
    predictor = Detector

    def mount(self, app, service) -> None:
        """`POST /v1/predict` of a detection model (mounted before the shared routes, so it answers there)."""
        from fastapi import Query

        from visionflow.serve.app import PREDICT_BODY

        @app.post("/v1/predict", summary="Boxes in one or more images (detection models): label, score and "
                                         "[x1, y1, x2, y2] in the image's pixels.", openapi_extra=PREDICT_BODY)
        async def predict(request: Request, conf: float | None = Query(None, ge=0.0, lt=1.0),
                          iou: float | None = Query(None, gt=0.0, le=1.0)):
            d = service.served_or_503().predictor
            served, predictions, start = await self.answer_images(service, request, detect_items,
                                                                  d.conf if conf is None else conf,
                                                                  d.iou if iou is None else iou)
            return {"model": served.name, "task": "detection", "predictions": predictions,
                    "elapsed_ms": round((time.perf_counter() - start) * 1000, 2)}


service = DetectorService()  # the task's "service" part
