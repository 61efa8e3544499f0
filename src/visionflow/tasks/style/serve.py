"""Serving a style model: `POST /v1/restore` (the route the page's before/after view uses), one
image in, the repainted PNG out (or JSON with it), with `?style=NAME` and `?strength=0..1`.

Requests run one at a time in their own thread, with the restoration service's limits
(`visionflow.tasks.restoration.serve`): inputs capped by `max_pixels` before decoding.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

import numpy as np

from fastapi import Request

from visionflow.serve.errors import ServeError
from visionflow.tasks.restoration.serve import ServedRestorer


def load(task, run: str | Path, cfg, say: Callable[[str], None]) -> ServedRestorer:
    """The "service" part's loading: the style model of a run or export folder, warmed up."""
    from visionflow.export.exporter import sha256
    from visionflow.tasks.style.styler import Styler

    styler = Styler.load(run)
    side = 8 * styler.multiple
    styler.paint_all(np.zeros((side, side, 3), np.uint8))  # traces the model once
    artifact = Path(styler.source)
    served = ServedRestorer(styler, str(styler.meta.get("model") or Path(run).name), str(artifact), sha256(artifact))
    say(f"model ready: {served.name} (style: {', '.join(styler.styles)}, {served.artifact})")
    return served


def mount(app, service) -> None:
    import base64

    from fastapi import Query
    from fastapi.responses import JSONResponse, Response

    from visionflow.errors import DataError
    from visionflow.serve.app import PREDICT_BODY, read_images
    from visionflow.tasks.restoration.serve import restore_bytes
    from visionflow.tasks.style.predict import _Painter

    cfg = service.cfg

    @app.post("/v1/restore", summary="Repaint one image (style models): the PNG, or JSON with it.",
              openapi_extra=PREDICT_BODY, response_class=Response,
              responses={200: {"content": {"image/png": {}, "application/json": {}},
                               "description": "The repainted image as PNG (headers X-Elapsed-Ms, X-Model-Ms, "
                                              "X-Style), or with format=json: sizes, timings and the PNG as a data URL."}})
    async def restyle(request: Request, format: str = Query("png", pattern="^(png|json)$"),
                      style: str | None = Query(None, description="The style's name or number (default: the first)."),
                      strength: float = Query(1.0, ge=0.0, le=1.0, description="0: the photo, 1: the full style.")):
        start = time.perf_counter()
        served = service.served_or_503()
        styler = served.predictor
        try:
            chosen = styler.styles[styler.index(style)]
        except DataError as exc:
            raise ServeError(400, "unknown_style", str(exc)) from None
        items = await read_images(request, cfg)
        if len(items) != 1:
            raise ServeError(400, "one_image", f"Send exactly one image to /v1/restore. Received: {len(items)}")
        name, data = items[0]
        bound = dataclasses.replace(served, predictor=_Painter(styler, chosen, strength))
        png, facts = await service.one_at_a_time(
            start, "send a smaller image or serve with a longer --timeout", restore_bytes, bound, name, data,
            cfg.max_pixels, cfg.max_output_pixels)
        elapsed = round((time.perf_counter() - start) * 1000, 2)
        if format == "json":
            return JSONResponse({"model": served.name, "task": "style", "style": chosen, "strength": strength, **facts,
                                 "elapsed_ms": elapsed,
                                 "image": "data:image/png;base64," + base64.b64encode(png).decode("ascii")})
        return Response(png, media_type="image/png", headers={
            "X-Elapsed-Ms": str(elapsed), "X-Model-Ms": str(facts["model_ms"]), "X-Style": chosen,
            "X-Image-Width": str(facts["width"]), "X-Image-Height": str(facts["height"])})
