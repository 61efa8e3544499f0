"""Serving a segmentation model: `POST /v1/predict` answers each image with its mask.

JSON by default: per image its size, each class's area fraction and the mask as a palette PNG
data URL (pixel values = class indices); `?format=png` answers one image with the PNG itself.
Images are decoded (capped by the server's max_pixels before decoding) and segmented one
request at a time in the service's whole-image worker, with the queue and timeout limits of the
other routes; every input problem is a 4xx with the shared error body.
"""

from __future__ import annotations

import base64
import io
import time

import numpy as np
from fastapi import Request

from visionflow.network.serve import NetworkService, decode_items
from visionflow.serve.errors import ServeError
from visionflow.tasks.segmentation.segmenter import Segmentation, Segmenter


def png_bytes(mask: np.ndarray, colours) -> bytes:
    from visionflow.tasks.segmentation.masks import write_png

    buf = io.BytesIO()
    write_png(buf, mask, colours)
    return buf.getvalue()


def segment_items(served, items: list[tuple[str, bytes]], max_pixels: int, format: str = "json") -> list[dict]:
    if format == "png" and len(items) != 1:
        raise ServeError(400, "one_image", f"format=png answers one image; send exactly one. Received: {len(items)}")
    images = decode_items(items, max_pixels)
    s = served.predictor
    t0 = time.perf_counter()
    masks = s.answers(images)
    model_ms = round((time.perf_counter() - t0) * 1000, 2)
    out = []
    for (name, _), mask in zip(items, masks):
        areas = Segmentation(name, mask, s.classes).areas()
        out.append({"filename": name, "width": int(mask.shape[1]), "height": int(mask.shape[0]), "areas": areas,
                    "_png": png_bytes(mask, s.colours), "model_ms": model_ms})
    return out


class SegmenterService(NetworkService):
    predictor = Segmenter

    def mount(self, app, service) -> None:
        """`POST /v1/predict` of a segmentation model (mounted before the shared routes, so it answers there)."""
        from fastapi import Query
        from fastapi.responses import JSONResponse, Response

        from visionflow.serve.app import PREDICT_BODY

        @app.post("/v1/predict", summary="The mask of one or more images (segmentation models): JSON with each class's "
                                         "area and the mask as a PNG data URL, or with format=png one image's mask PNG.",
                  openapi_extra=PREDICT_BODY, response_class=Response,
                  responses={200: {"content": {"application/json": {}, "image/png": {}},
                                   "description": "JSON (default), or the palette PNG whose pixel values are class indices."}})
        async def predict(request: Request, format: str = Query("json", pattern="^(json|png)$")):
            served, rows, start = await self.answer_images(service, request, segment_items, format)
            elapsed = round((time.perf_counter() - start) * 1000, 2)
            if format == "png":
                row = rows[0]
                return Response(row["_png"], media_type="image/png", headers={
                    "X-Elapsed-Ms": str(elapsed), "X-Image-Width": str(row["width"]), "X-Image-Height": str(row["height"])})
            predictions = [{**{k: v for k, v in row.items() if k != "_png"},
                            "mask": "data:image/png;base64," + base64.b64encode(row["_png"]).decode("ascii")} for row in rows]
            return JSONResponse({"model": served.name, "task": "segmentation", "classes": served.predictor.classes,
                                 "colours": served.info()["colours"], "predictions": predictions, "elapsed_ms": elapsed})


service = SegmenterService()  # the task's "service" part
