"""Serving a restoration model: one image in, the restored PNG out (or JSON with it and timings).

Requests are restored one at a time in their own thread (a whole image already uses every core),
with at most `max_queue` waiting; inputs are capped by `max_pixels` before decoding and outputs
by `max_output_pixels` (super-resolution enlarges scale^2 times) before the model runs.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Callable

import numpy as np

from fastapi import Request

from visionflow.data.decode import DecodeError
from visionflow.errors import DataError
from visionflow.network.serve import Served
from visionflow.serve.errors import ServeError, decode_error


class ServedRestorer(Served):
    """A restorer (`predictor`: visionflow.tasks.restoration.restorer.Restorer, or a style model's
    Styler) behind the server."""

    def own(self) -> dict:
        r = self.predictor
        return {"task": r.task.name, "outputs": "image", "labels": [], "scale": r.scale, "input_channels": r.channels,
                "backend": r.backend, **{k: r.meta[k] for k in ("noise", "degrade", "model", "styles") if k in r.meta}}


def load(task, run: str | Path, cfg, say: Callable[[str], None]) -> ServedRestorer:
    """The "service" part's loading: the restoration model of a run or export folder, warmed up."""
    from visionflow.errors import ModelError
    from visionflow.predictor import exported_format

    if cfg.backend == "onnx" and exported_format(Path(run)) is None:  # auto: the Keras model, any size
        raise ModelError(f"--backend {cfg.backend} for a restoration model: export it first "
                         f"(visionflow export {run} --format onnx) and serve {run}/export/onnx.")
    served = load_restorer(run, say=say)
    say(f"model ready: {served.name} ({served.predictor.task.name}, {served.artifact})")
    return served


def load_restorer(run: str | Path, say: Callable[[str], None]) -> ServedRestorer:
    """Loads and warms up the restoration model of a run or export folder."""
    from visionflow.export.exporter import sha256
    from visionflow.tasks.restoration.restorer import Restorer

    restorer = Restorer.load(run)
    side = 8 * restorer.multiple
    restorer.restore(np.zeros((side, side, restorer.channels), np.uint8))  # traces the model once
    artifact = Path(restorer.source)
    say(f"restoration model {restorer.task.name} ({restorer.backend})")
    return ServedRestorer(restorer, str(restorer.meta.get("model") or Path(run).name), str(artifact), sha256(artifact))


def restore_bytes(served: ServedRestorer, name: str, data: bytes, max_pixels: int, max_output_pixels: int) -> tuple[bytes, dict]:
    """(PNG bytes, facts) for one uploaded image; every input problem is a 4xx ServeError."""
    from PIL import Image

    from visionflow.data.decode import alpha, decode
    from visionflow.tasks.restoration.predict import finish, prepare

    r = served.predictor
    try:
        rgb = decode(data, max_pixels=max_pixels)
        transparency = alpha(data, max_pixels=max_pixels)
    except DecodeError as exc:
        raise decode_error(name, exc) from None
    h, w = rgb.shape[:2]
    out_pixels = h * w * r.scale ** 2
    if out_pixels > max_output_pixels:
        raise ServeError(413, "output_too_large", f"{name}: the restored image would be {w * r.scale}x{h * r.scale} = "
                                                  f"{out_pixels:,} pixels; this server's limit is {max_output_pixels:,}.")
    try:
        given = prepare(r, rgb, transparency)
    except DataError as exc:
        raise ServeError(400, "no_holes", f"{name}: {exc}") from None
    start = time.perf_counter()
    pixels = finish(r, r.restore(given), transparency)
    model_ms = (time.perf_counter() - start) * 1000
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue(), {"filename": name, "width": int(pixels.shape[1]), "height": int(pixels.shape[0]),
                            "input": {"width": int(w), "height": int(h)}, "model_ms": round(model_ms, 2)}


def mount(app, service) -> None:
    """`POST /v1/restore` on the service of a restoration model (FastAPI reads the route's
    annotations from this module's globals: `Request` is imported at the top)."""
    import base64

    from fastapi import Query
    from fastapi.responses import JSONResponse, Response

    from visionflow.serve.app import PREDICT_BODY, read_images

    cfg = service.cfg

    @app.post("/v1/restore", summary="Restore one image (restoration models): the restored PNG, or JSON with it.",
              openapi_extra=PREDICT_BODY, response_class=Response,
              responses={200: {"content": {"image/png": {}, "application/json": {}},
                               "description": "The restored image as PNG (headers X-Elapsed-Ms, X-Model-Ms), "
                                              "or with format=json: sizes, timings and the PNG as a data URL."}})
    async def restore(request: Request, format: str = Query("png", pattern="^(png|json)$")):
        start = time.perf_counter()
        served = service.served_or_503()
        items = await read_images(request, cfg)
        if len(items) != 1:
            raise ServeError(400, "one_image", f"Send exactly one image to /v1/restore. Received: {len(items)}")
        name, data = items[0]
        png, facts = await service.one_at_a_time(
            start, "send a smaller image or serve with a longer --timeout", restore_bytes, served, name, data,
            cfg.max_pixels, cfg.max_output_pixels)
        elapsed = round((time.perf_counter() - start) * 1000, 2)
        if format == "json":
            return JSONResponse({"model": served.name, "task": served.predictor.task.name, **facts, "elapsed_ms": elapsed,
                                 "image": "data:image/png;base64," + base64.b64encode(png).decode("ascii")})
        return Response(png, media_type="image/png", headers={
            "X-Elapsed-Ms": str(elapsed), "X-Model-Ms": str(facts["model_ms"]),
            "X-Image-Width": str(facts["width"]), "X-Image-Height": str(facts["height"])})
