"""Serving a GAN: `POST /v1/generate` with n, class and seed -> PNG images (JSON with data URLs,
or one grid PNG). Requests run one at a time in their own thread, with at most `max_queue`
waiting; n is capped by `max_generate`."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.errors import ConfigError
from visionflow.network.serve import Served
from visionflow.serve.errors import ServeError


class ServedGenerator(Served):
    """A GAN's sampler (`predictor`: visionflow.tasks.generation.sampler.Sampler) behind the server."""

    def own(self) -> dict:
        s = self.predictor
        return {"task": "gan", "outputs": "samples", "labels": s.classes, "conditional": s.conditional,
                "image_size": list(s.image_size), "latent_dim": s.latent_dim, "backend": s.backend,
                "model": s.meta.get("model")}


def load(task, run: str | Path, cfg, say: Callable[[str], None]) -> ServedGenerator:
    """The "service" part's loading: the generator of a run, model file or export folder, warmed up."""
    from visionflow.export.exporter import sha256
    from visionflow.tasks.generation.sampler import load_sampler

    sampler = load_sampler(run)
    sampler.generate(1)  # traces the model once
    path = Path(run)
    meta = sampler.meta
    artifact = path / meta["artifact"] if meta.get("artifact") and path.is_dir() else \
        (path / "model.keras" if path.is_dir() else path)
    say(f"generator {meta.get('model')} ({sampler.backend})")
    served = ServedGenerator(sampler, str(meta.get("model") or path.name), str(artifact), sha256(artifact))
    say(f"model ready: {served.name} (gan, {served.artifact})")
    return served


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def generate(served: ServedGenerator, n: int, class_name: str | None, seed: int, max_n: int,
             grid: bool = False) -> tuple[bytes | list[dict], dict]:
    """(one grid PNG, or a list of {"image": data URL, "class": name}), facts) for a request."""
    from visionflow.tasks.generation.grid import make_grid

    if not 1 <= n <= max_n:
        raise ServeError(400, "bad_n", f"n must be between 1 and {max_n} (the server's --max-generate). Received: {n}")
    sampler = served.predictor
    start = time.perf_counter()
    try:
        images, labels = sampler.generate(n, class_name, seed)
    except ConfigError as exc:
        raise ServeError(400, "bad_class", str(exc)) from None
    model_ms = round((time.perf_counter() - start) * 1000, 2)
    facts = {"n": n, "seed": seed, "width": int(images.shape[2]), "height": int(images.shape[1]), "model_ms": model_ms}
    if grid:
        return png_bytes(make_grid(images, min(8, n))), facts
    names = [sampler.classes[int(c)] for c in labels] if labels is not None else [None] * n
    return [{"image": "data:image/png;base64," + base64.b64encode(png_bytes(im)).decode("ascii"), "class": c}
            for im, c in zip(images, names)], facts


def mount(app, service) -> None:
    """`POST /v1/generate` on the service of a GAN."""
    from fastapi import Query
    from fastapi.responses import JSONResponse, Response

    cfg = service.cfg

    @app.post("/v1/generate", summary="New images from a GAN: n, class and seed; PNGs as data URLs, or one grid PNG.",
              response_class=Response,
              responses={200: {"content": {"application/json": {}, "image/png": {}},
                               "description": "JSON: images (data URLs with each one's class), n, seed, model_ms, "
                                              "elapsed_ms; with format=png: a grid of the images."}})
    async def generate_route(n: int | None = Query(None, description="Images to generate: at most the server's "
                                                                      "--max-generate; unset: 16 or that cap."),
                             class_name: str | None = Query(None, alias="class", description="Conditional GANs: the "
                                                            "class (name or index); unset: every class in turn."),
                             seed: int | None = Query(None, description="Seed of the latent vectors (the same seed "
                                                                        "gives the same images); unset: a random one."),
                             format: str = Query("json", pattern="^(json|png)$")):
        start = time.perf_counter()
        served = service.served_or_503()
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        n = min(16, cfg.max_generate) if n is None else n
        out, facts = await service.one_at_a_time(start, "ask for fewer images", generate, served,
                                                 n, class_name, seed, cfg.max_generate, format == "png")
        elapsed = round((time.perf_counter() - start) * 1000, 2)
        if format == "png":
            return Response(out, media_type="image/png", headers={"X-Elapsed-Ms": str(elapsed),
                                                                  "X-Model-Ms": str(facts["model_ms"]),
                                                                  "X-Seed": str(seed)})
        return JSONResponse({"model": served.name, **facts, "elapsed_ms": elapsed, "images": out})
