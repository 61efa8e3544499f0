"""Serving a model of a task with its own outputs: the served model's description, its loading
(warmed up once), and the uploaded images decoded under the server's pixel cap. The task mounts
its own `POST /v1/predict` (its service part) and answers with its rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visionflow.data.decode import DecodeError
from visionflow.serve.errors import decode_error


@dataclass
class Served:
    """A loaded, warmed model behind a server of a task's own: `predictor` (what answers: a
    NetworkPredictor, a restorer, a GAN's sampler), its name, the file that runs and that file's
    checksum."""

    predictor: object
    name: str
    artifact: str
    sha256: str

    def own(self) -> dict:
        """What GET /v1/model says of this kind of model: its predictor's `info()`, the input size
        named as the service names it."""
        own = self.predictor.info()
        return {**own, "input_size": own.pop("image_size")}

    def info(self) -> dict:
        """GET /v1/model: what the model is and answers, with the file that runs and the version."""
        from visionflow.version import __version__

        return {"name": self.name, **self.own(), "artifact": self.artifact, "sha256": self.sha256, "explain": False,
                "version": __version__}


class NetworkService:
    """A task's "service" part: `load` opens its `predictor` class; subclasses `mount` the routes."""

    predictor: type = None  # a NetworkPredictor class

    def load(self, task, run: str | Path, cfg, say: Callable[[str], None]) -> Served:
        """The model of `run` on the server's backend, warmed up, described."""
        from visionflow.export.exporter import sha256

        predictor = self.predictor.load(run, backend=cfg.backend, say=say)
        predictor.warm_up()
        artifact = Path(predictor.source)
        say(f"model ready: {task.name} ({predictor.backend}, {artifact})")
        name = str(predictor.meta.get("model") or Path(run).name)
        return Served(predictor, name, str(artifact), sha256(artifact) if artifact.is_file() else "")

    def mount(self, app, service) -> None:
        """Adds the task's routes to the FastAPI `app` (`service`: visionflow.serve.app.Service)."""
        raise NotImplementedError

    @staticmethod
    async def answer_images(service, request, answer: Callable, *args) -> tuple[Served, list, float]:
        """(served model, `answer(served, items, max_pixels, *args)`, start time) for the images of
        `request`, answered one request at a time within the server's --timeout."""
        import time

        from visionflow.serve.app import read_images

        start = time.perf_counter()
        served = service.served_or_503()
        items = await read_images(request, service.cfg)
        rows = await service.one_at_a_time(start, "send fewer or smaller images, or serve with a longer --timeout",
                                           answer, served, items, service.cfg.max_pixels, *args)
        return served, rows, start


def decode_items(items: list[tuple[str, bytes]], max_pixels: int) -> list[np.ndarray]:
    """The uploaded (name, bytes) images decoded; the first that cannot be is a 4xx naming it."""
    from visionflow.data.decode import decode

    images = []
    for name, data in items:
        try:
            images.append(decode(data, max_pixels=max_pixels))
        except DecodeError as exc:
            raise decode_error(name, exc) from None
    return images
