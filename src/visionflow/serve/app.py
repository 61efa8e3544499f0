"""The FastAPI application: prediction with micro-batching, model info, health, metrics, a web page.

Every error is a JSON body `{"error": {"status", "code", "message"}}` with a 4xx status (or 503/504
for load and time limits); the service goes on serving after each one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from visionflow.data.decode import DecodeError, decode
from visionflow.serve.batcher import MicroBatcher
from visionflow.serve.errors import ServeError, decode_error, video_error
from visionflow.serve.limits import BodyLimit
from visionflow.serve.metrics import Metrics, MetricsMiddleware
from visionflow.serve.model import ServedModel, load_served, warm_up
from visionflow.serve.limits import WaitQueue
from visionflow.serve.settings import ServeConfig
from visionflow.serve.video import analyse_file, receive_video

log = logging.getLogger("visionflow.serve")

PREDICT_BODY = {
    "requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "array", "items": {"type": "string", "format": "binary"},
                     "description": "One or more images (any field name)."}}}},
        "application/json": {"schema": {"type": "object", "properties": {
            "images": {"type": "array", "items": {"type": "string", "format": "byte"},
                       "description": "Base64-encoded image files."},
            "image": {"type": "string", "format": "byte", "description": "One base64-encoded image file."}}}},
    }},
}
VIDEO_BODY = {
    "requestBody": {"required": True, "content": {
        "video/mp4": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary", "description": "One video file."}}}},
    }},
}
VIDEO_FPS = 2.0  # frames per second a /v1/video request labels when it asks for no sampling


class Service:
    """The state behind the routes: the model (once loaded), the batcher and the metrics.

    A model that labels images is served by the shared routes (/v1/predict, /v1/explain,
    /v1/video) through `model` and the micro-batcher; a task with routes of its own (`Task.mount`)
    is served through `served`, what its task's service part loaded.
    """

    def __init__(self, run: str | Path, cfg: ServeConfig, on_fatal: Callable[[str], None]):
        from visionflow import tasks

        self.run = run
        self.cfg = cfg
        self.on_fatal = on_fatal
        self.task = tasks.of_path(run)  # None: unreadable metadata; loading says what is wrong
        self.metrics = Metrics()
        self.model: ServedModel | None = None
        self.served = None  # a task's own served model (its "service" part), instead of `model`
        self.batcher: MicroBatcher | None = None
        self.decoders = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="decode")
        self.explainer = ThreadPoolExecutor(1, thread_name_prefix="explain")  # Grad-CAM, one at a time
        self.single = ThreadPoolExecutor(1, thread_name_prefix="single")  # whole-image work (a task's own routes), one at a time
        self.single_queue = WaitQueue(cfg.max_queue)
        self.videos = ThreadPoolExecutor(1, thread_name_prefix="video")  # timelines, one video at a time
        self.video_queue = WaitQueue(cfg.max_queue, "videos are waiting to be analysed")
        self._cam = None
        self.load_error: str | None = None

    def load(self) -> None:
        """Loads and warms the model (in a thread, while /healthz already answers)."""
        from visionflow.errors import VisionflowError

        try:
            own = self.task.part("service") if self.task is not None else None
            if own is not None:  # a task with routes of its own
                self.served = own.load(self.task, self.run, self.cfg, say=log.info)
                return
            model = load_served(self.run, self.cfg.backend, say=log.info)
            warm_up(model.predictor, (1, self.cfg.max_batch))
        except VisionflowError as exc:
            self.load_error = str(exc)
            self.on_fatal(str(exc))
            return
        self.model = model
        log.info("model ready: %s (%s backend, %s)", model.name, model.backend, model.artifact)

    def ready_or_503(self) -> ServedModel:
        """The model of the shared image routes; 409 where the server runs a task's own model."""
        if self.served is not None:
            raise ServeError(409, *self.task.refused())
        if self.model is None or self.batcher is None:
            raise ServeError(503, "not_ready", "The model is still loading; retry shortly.", headers={"Retry-After": "1"})
        return self.model

    def served_or_503(self):
        """The task's own served model, for the task's routes."""
        if self.served is None:
            raise ServeError(503, "not_ready", "The model is still loading; retry shortly.", headers={"Retry-After": "1"})
        return self.served

    async def one_at_a_time(self, start: float, advice: str, fn, *args):
        """`fn(*args)` in the one-at-a-time worker (a task's whole-image work: restorations,
        generations), admitted by the queue and cut off at the request's --timeout (504 with `advice`)."""
        self.single_queue.admit()
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self.single, fn, *args),
                                          max(0.0, start + self.cfg.timeout - time.perf_counter()))
        except asyncio.TimeoutError:
            raise ServeError(504, "timeout", f"The request took longer than {self.cfg.timeout:g} s; {advice}.") from None
        finally:
            self.single_queue.done()

    def explain(self, pixels: np.ndarray, class_name: str | None) -> dict:
        """Grad-CAM for one decoded image (runs in the explain thread)."""
        import io

        from visionflow.gradcam import GradCam

        if self._cam is None:  # Grad-CAM differentiates the Keras model, whatever runtime answers /v1/predict
            predictor = self.model.predictor
            if self.model.backend != "keras":
                from visionflow.predict import load

                predictor = load(self.run, backend="keras")
            self._cam = GradCam(predictor)
        e = self._cam.explain(pixels, class_name)
        buf = io.BytesIO()
        e.overlay(pixels).save(buf, format="PNG")
        return {"label": e.label, "probability": e.probability, "predicted": e.predicted, "layer": e.layer,
                "overlay": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")}

    def decode_all(self, items: list[tuple[str, bytes]], predictor):
        """The images brought to the model's input as it was trained (size and resize mode); for a
        clip model that hears, (clips, their sound)."""
        images, sounds = [], []
        for name, data in items:
            try:
                if predictor.frames:  # a clip model: each upload is a video
                    images.append(predictor.prepare(data))
                    if predictor.audio:
                        sound = predictor.task.second_input(data, predictor)
                        if isinstance(sound, str):
                            raise video_error(f"{name}: {sound}", "corrupt")
                        sounds.append(sound)
                else:
                    images.append(decode(data, size=predictor.image_size, max_pixels=self.cfg.max_pixels,
                                         resize=predictor.resize))
            except DecodeError as exc:
                if predictor.frames:
                    raise video_error(f"{name}: {exc.reason}", exc.kind) from None
                raise decode_error(name, exc) from None
        return (np.stack(images), np.stack(sounds)) if predictor.audio else np.stack(images)


async def read_images(request: Request, cfg: ServeConfig) -> list[tuple[str, bytes]]:
    """(name, bytes) of each image in a multipart or JSON request."""
    return (await read_request(request, cfg))[0]


async def read_request(request: Request, cfg: ServeConfig) -> tuple[list[tuple[str, bytes]], object]:
    """((name, bytes) of each image, the table columns sent beside them or None) of a multipart or
    JSON request. Columns: a JSON "columns" member (an object, or a list of one per image), or in a
    form a "columns" field holding that JSON, or plain fields (column=value) for a single image."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    columns = None
    if kind == "multipart/form-data":
        form = await request.form(max_files=cfg.max_files, max_fields=cfg.max_files + 64)
        items, fields = [], {}
        for key, value in form.multi_items():
            if hasattr(value, "read"):
                items.append((value.filename or key, await value.read()))
            else:
                fields[key] = value
        await form.close()
        if "columns" in fields:
            try:
                columns = json.loads(fields["columns"])
            except ValueError:
                raise ServeError(400, "bad_columns", 'The "columns" field is not valid JSON: send an object of '
                                                     'column values (or a list of one per image).') from None
        elif fields:
            columns = fields
    elif kind == "application/json":
        try:
            payload = await request.json()
        except ValueError:
            raise ServeError(400, "bad_json", "The body is not valid JSON.") from None
        if not isinstance(payload, dict) or not ("images" in payload or "image" in payload):
            raise ServeError(400, "bad_json", 'Send {"images": ["<base64>", ...]} or {"image": "<base64>"}.')
        columns = payload.get("columns")
        encoded = payload.get("images", [payload.get("image")])
        if not isinstance(encoded, list) or not all(isinstance(e, str) for e in encoded):
            raise ServeError(400, "bad_json", '"images" must be a list of base64 strings.')
        if len(encoded) > cfg.max_files:
            raise _too_many(len(encoded), cfg.max_files)
        items = []
        for i, text in enumerate(encoded):
            try:
                items.append((f"images[{i}]", base64.b64decode(text, validate=True)))
            except (binascii.Error, ValueError):
                raise ServeError(400, "bad_base64", f"images[{i}] is not valid base64.") from None
    else:
        raise ServeError(415, "unsupported_media_type",
                         "Send images as multipart/form-data, or JSON with base64 images.")
    if not items:
        raise ServeError(400, "no_images", "The request holds no image.")
    if len(items) > cfg.max_files:
        raise _too_many(len(items), cfg.max_files)
    return items, columns


def column_features(predictor, items: list[tuple[str, bytes]], columns) -> np.ndarray | None:
    """The column features of each image of a request to a model that reads table columns (None
    for a model of images alone); 400 naming the image and column when they cannot be had."""
    fusion = predictor.fusion
    if fusion is None:
        return None
    if columns is None:
        raise ServeError(400, "no_columns", f"The model reads the columns {', '.join(fusion.names)} beside each image; "
                                            f'send them as "columns" (an object, or a list of one per image) or as '
                                            f"form fields.")
    rows = columns if isinstance(columns, list) else [columns] * len(items) if len(items) == 1 else None
    if rows is None or len(rows) != len(items):
        raise ServeError(400, "bad_columns", f"Send one object of columns per image: {len(items)} image(s), "
                                             f"{len(rows) if rows is not None else 'one object'} given.")
    out = []
    for (name, _), row in zip(items, rows):
        features = fusion.vector(row, name)
        if isinstance(features, str):
            raise ServeError(400, "bad_columns", features if features.endswith(".") else f"{name}: {features}.")
        out.append(features)
    return np.stack(out)


def _decode_within(item: tuple[str, bytes], side: int, max_pixels: int, predictor) -> np.ndarray:
    """The image as upright RGB with its longest side at most `side` pixels, framed as the model
    sees it (see `gradcam.framed`)."""
    from visionflow.gradcam import framed

    name, data = item
    try:
        return framed(predictor, data, side, max_pixels)
    except DecodeError as exc:
        raise decode_error(name, exc) from None


def _refuse(app: FastAPI, service: Service, path: str, code: str, who: str, takes_images: bool) -> None:
    """`path`, a route of another task's models, answering 409 `code` on this server (a route that
    takes images, on the server of a task with routes of its own: that task's refusal)."""

    @app.post(path, include_in_schema=False)
    async def refused():
        if service.model is None and service.served is None:
            raise ServeError(503, "not_ready", "The model is still loading; retry shortly.", headers={"Retry-After": "1"})
        if takes_images and service.served is not None:
            raise ServeError(409, *service.task.refused())
        what = service.task.name if service.task is not None else "different"
        takes = ("POST images to /v1/predict" if service.served is None else "see GET /v1/model for what it takes")
        raise ServeError(409, code, f"This server runs a {what} model: {path} is for {who}; {takes}.")


def _too_many(n: int, limit: int) -> ServeError:
    return ServeError(400, "too_many_files", f"{n} images in one request; the limit is {limit}.")


def create_app(run: str | Path, cfg: ServeConfig | None = None,
               on_fatal: Callable[[str], None] = lambda message: None) -> FastAPI:
    """The service for `run` (a run folder or an exported model). The model loads in the background
    once the app starts; `/readyz` says 503 until it is loaded and warmed up.

    Args:
        run: what to serve.
        cfg: limits, batching and backend.
        on_fatal: called with the message when the model cannot be loaded (the CLI stops the server).
    """
    from visionflow import tasks
    from visionflow.version import __version__

    cfg = cfg or ServeConfig()
    service = Service(run, cfg, on_fatal)

    async def lifespan(app: FastAPI):
        service.batcher = None
        loading = asyncio.get_running_loop().run_in_executor(None, service.load)

        async def start_batcher():
            await loading
            if service.model is not None:
                batcher = MicroBatcher(_batch_predict(service.model.predictor),
                                       cfg.max_batch, cfg.max_wait_ms / 1000, cfg.max_queue,
                                       on_batch=service.metrics.observe_batch)
                batcher.start()
                service.batcher = batcher

        starter = asyncio.create_task(start_batcher())
        yield
        starter.cancel()
        if service.batcher is not None:
            await service.batcher.stop()
        service.decoders.shutdown(wait=False)
        service.explainer.shutdown(wait=False)
        service.single.shutdown(wait=False)
        service.videos.shutdown(wait=False)

    own = ", ".join(f"{path} ({who})" for path, (_, who, _) in tasks.ROUTES.items())
    app = FastAPI(title="visionflow", version=__version__, lifespan=lifespan,
                  description=f"A visionflow model: POST images to /v1/predict and videos to /v1/video (models that "
                              f"label images); routes of other models: {own}.")
    app.state.service = service

    _error_handlers(app, service, cfg)
    _status_routes(app, service, cfg)
    own = service.task.part("service") if service.task is not None else None
    if own is not None:
        own.mount(app, service)  # the task's own routes (first: a route it shares, /v1/predict, is its)
    _image_routes(app, service, cfg)  # models that label images
    for path, (code, who, takes_images) in tasks.ROUTES.items():
        if not any(getattr(route, "path", None) == path for route in app.routes):
            _refuse(app, service, path, code, who, takes_images)

    app.add_middleware(BodyLimit, max_bytes=cfg.max_body_bytes, paths={"/v1/video": cfg.max_video_bytes})
    app.add_middleware(MetricsMiddleware, metrics=service.metrics)
    return app


def _batch_predict(predictor):
    """The batcher's model call: images, or (images, second input) for a model with two (table
    columns, or a clip model's sound)."""
    if not predictor.second:
        return lambda x: predictor.predict_arrays(x, batch_size=len(x))
    return lambda x: predictor.predict_arrays(x[0], batch_size=len(x[0]), columns=x[1])


def _error_handlers(app: FastAPI, service: Service, cfg: ServeConfig) -> None:
    """Every error as the JSON body `{"error": {status, code, message}}`; never a bare 500 page."""

    @app.exception_handler(ServeError)
    async def serve_error(request: Request, exc: ServeError):
        if exc.status >= 400 and exc.code not in ("not_ready",):
            service.metrics.rejections.labels(exc.code).inc()
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        message = str(exc.detail)
        if "Too many files" in message:
            code, message = "too_many_files", f"Too many images in one request; the limit is {cfg.max_files}."
        return await serve_error(request, ServeError(exc.status_code, code, message))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return await serve_error(request, ServeError(400, "bad_request", f"{where}: {first.get('msg', 'invalid')}"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse(ServeError(500, "internal", "Internal error; the server logged it.").body(),
                            status_code=500)


def _status_routes(app: FastAPI, service: Service, cfg: ServeConfig) -> None:
    """The web page, liveness, readiness, the model's description and Prometheus metrics."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return HTMLResponse(resources.files("visionflow.serve").joinpath("page.html").read_text(encoding="utf-8"))

    @app.get("/healthz", summary="Liveness: the process answers.")
    async def healthz():
        return {"status": "alive"}

    @app.get("/readyz", summary="Readiness: 200 once the model is loaded and warmed up, 503 before.")
    async def readyz():
        if service.load_error:
            raise ServeError(503, "load_failed", service.load_error)
        if service.served is None:
            service.ready_or_503()
        return {"status": "ready"}

    @app.get("/v1/model", summary="The served model: name, labels, input size, backend, version, hash.")
    async def model_info():
        info = (service.served or service.ready_or_503()).info()
        if service.served is not None:  # a task with routes of its own answers those only
            info["routes"] = list(service.task.routes)
        info["limits"] = {k: getattr(cfg, k) for k in ("max_batch", "max_wait_ms", "max_queue", "timeout",
                                                       "max_body_mb", "max_files", "max_pixels", "max_output_pixels",
                                                       "max_video_mb", "max_video_seconds", "video_timeout")}
        return info

    @app.get("/metrics", summary="Prometheus metrics.")
    async def metrics():
        service.metrics.queue_depth.set(service.batcher.queued if service.batcher else 0)
        return Response(service.metrics.render(), media_type=service.metrics.content_type)


def _image_routes(app: FastAPI, service: Service, cfg: ServeConfig) -> None:
    """The shared routes of models that label images: /v1/predict, /v1/explain, /v1/video."""

    @app.post("/v1/predict", summary="Predict one or more images: classes, or labels for a multi-label model.",
              openapi_extra=PREDICT_BODY)
    async def predict(request: Request, top_k: int = 5):
        start = time.perf_counter()
        model = service.ready_or_503()
        if top_k < 1:
            raise ServeError(400, "bad_request", f"top_k must be at least 1. Received: top_k={top_k}")
        deadline = start + cfg.timeout
        items, columns = await read_request(request, cfg)
        features = column_features(model.predictor, items, columns)
        batcher = service.batcher
        batcher.admit(len(items))
        submitted = False
        try:
            loop = asyncio.get_running_loop()
            images = await asyncio.wait_for(
                loop.run_in_executor(service.decoders, service.decode_all, items, model.predictor),
                max(0.0, deadline - time.perf_counter()))
            future = batcher.enqueue(images if features is None else (images, features))  # sound: (clips, sound)
            submitted = True
            probs = await asyncio.wait_for(future, max(0.0, deadline - time.perf_counter()))
        except asyncio.TimeoutError:
            raise ServeError(504, "timeout", f"The request took longer than {cfg.timeout:g} s.") from None
        finally:
            if not submitted:
                batcher.withdraw()
        predictions = []
        for (name, _), p in zip(items, probs):
            row = model.predictor.task.prediction(name, p, model.predictor, top_k).to_dict()
            row.pop("source"), row.pop("error")
            predictions.append({"filename": name, **row})
        return {"model": model.name, "predictions": predictions,
                "elapsed_ms": round((time.perf_counter() - start) * 1000, 2)}

    @app.post("/v1/explain", summary="Grad-CAM heat map of one image (Keras backend).", openapi_extra=PREDICT_BODY)
    async def explain(request: Request, class_name: str | None = Query(None, alias="class")):
        start = time.perf_counter()
        model = service.ready_or_503()
        if not model.explainable:
            raise ServeError(409, "explain_unavailable", f"Grad-CAM needs the Keras model, which this server does "
                                                         f"not have (it serves {model.artifact} in {model.backend}); "
                                                         f"serve the run folder with --backend auto or keras.")
        classes = model.predictor.classes
        if class_name is not None and class_name not in classes:
            raise ServeError(400, "unknown_class", f"Unknown class {class_name!r}; the model's classes are "
                                                   f"{', '.join(classes)}.")
        items = await read_images(request, cfg)
        if len(items) != 1:
            raise ServeError(400, "one_image", f"Send exactly one image to /v1/explain. Received: {len(items)}")
        side = max(model.predictor.image_size)
        shown = max(side, 384)  # the overlay is drawn over the image at up to this size
        loop = asyncio.get_running_loop()
        deadline = start + cfg.timeout
        try:
            pixels = await asyncio.wait_for(loop.run_in_executor(
                service.decoders, lambda: _decode_within(items[0], shown, cfg.max_pixels, model.predictor)),
                max(0.0, deadline - time.perf_counter()))
            result = await asyncio.wait_for(loop.run_in_executor(service.explainer, service.explain, pixels, class_name),
                                            max(0.0, deadline - time.perf_counter()))
        except asyncio.TimeoutError:
            raise ServeError(504, "timeout", f"The request took longer than {cfg.timeout:g} s.") from None
        result["elapsed_ms"] = round((time.perf_counter() - start) * 1000, 2)
        return result

    @app.post("/v1/video", summary="Label the frames of one video: the timeline (per-frame answers and segments).",
              openapi_extra=VIDEO_BODY)
    async def video(request: Request, fps: float | None = Query(None, description="Frames per second to label "
                                                                                  "(default 2 unless every is given)."),
                    every: int | None = Query(None, description="Label every Nth frame instead."),
                    smooth: float = Query(1.0, description="Seconds over which segments average probabilities."),
                    min_segment: float = Query(1.0, description="Shortest segment in seconds."),
                    frames: bool = Query(True, description="Include the per-frame rows.")):
        start = time.perf_counter()
        model = service.ready_or_503()
        if model.predictor.frames:
            raise ServeError(409, "clip_model", "This server runs a clip classifier, which takes a video whole: POST "
                                                "it to /v1/predict.")
        if model.predictor.fusion is not None:
            raise ServeError(409, "columns_model", "This model reads table columns beside each image; it labels "
                                                   "images with their columns on /v1/predict, not video frames.")
        if fps is None and every is None:
            fps = VIDEO_FPS
        service.video_queue.admit()
        cancel = threading.Event()
        try:
            name, path = await receive_video(request, cfg.max_video_bytes)
            try:
                loop = asyncio.get_running_loop()
                result = await asyncio.wait_for(loop.run_in_executor(
                    service.videos, analyse_file, model.predictor, path, name, fps, every, smooth, min_segment, frames,
                    cfg.max_video_seconds, cancel), max(0.0, start + cfg.video_timeout - time.perf_counter()))
            except asyncio.TimeoutError:
                cancel.set()
                raise ServeError(504, "timeout", f"The video took longer than {cfg.video_timeout:g} s; send a shorter "
                                                 f"one, sample fewer frames (fps), or serve with a longer "
                                                 f"--video-timeout.") from None
            finally:
                os.unlink(path)  # an analysis still running keeps its open file until it stops
        finally:
            service.video_queue.done()
        return {"model": model.name, **result, "elapsed_ms": round((time.perf_counter() - start) * 1000, 2)}

