"""A model of a task with its own outputs, opened for prediction: images in, one answer per image.

Whatever runs the network (TensorFlow, or ONNX Runtime / LiteRT through the run's cached,
parity-checked export, the default where installed), each image is resized to the input size,
the batch runs, and the subclass turns each image's raw output into its answer (`answer`) and
its result object (`result`); decoding of the next batch overlaps the model's run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from visionflow.data.decode import DecodeError, decode
from visionflow.errors import ModelError


class NetworkPredictor:
    """A loaded model with its classes and input size. Subclasses set `task`, `outputs` and `what`
    and implement `answer` and `result` (and `failure` where their result type differs)."""

    task = ""  # the task's name, for info()
    outputs = ""  # what it answers with: "boxes", "mask", ...
    what = "model"  # the model in words, for messages ("detector")

    def __init__(self, runtime: Callable[[np.ndarray], np.ndarray], meta: dict, backend: str, source: str,
                 keras_model=None):
        self.runtime, self.meta, self.backend, self.source = runtime, meta, backend, source
        self.keras_model = keras_model
        try:
            self.classes = list(meta["classes"])
            self.image_size = (int(meta["image_size"][0]), int(meta["image_size"][1]))
        except (KeyError, TypeError, IndexError):
            raise ModelError(f"{source}: its labels.json is not a visionflow {self.what} description.") from None

    decoding = ""  # "module:function" wrapping the saved network in what TensorFlow runs (a detector's box decoding)

    @classmethod
    def graph(cls, keras_model):
        """What TensorFlow runs of the saved network: itself, or `decoding` of it."""
        from visionflow.registry import located

        return located(cls.decoding)(keras_model) if cls.decoding else keras_model

    @classmethod
    def load(cls, path: str | Path, backend: str = "auto", unsafe: bool = False,
             say: Callable[[str], None] | None = None):
        """A run folder (in the fast runtime by default), a `.keras` file, or an export folder."""
        from visionflow.loading import open_network

        net = open_network(path, backend, unsafe, say, wrap=cls.graph, what=cls.what)
        return cls(net.run, net.meta, net.backend, net.source, net.keras_model)

    # -- predicting ---------------------------------------------------------------------------
    def prepare(self, image: np.ndarray) -> np.ndarray:
        """`image` (h, w, 3) uint8 stretched to the input size."""
        import cv2

        h, w = self.image_size
        shrink = image.shape[0] * image.shape[1] > h * w
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)

    def raw(self, batch: np.ndarray) -> np.ndarray:
        """The network's outputs for prepared images (n, h, w, 3)."""
        return np.asarray(self.runtime(np.asarray(batch, np.float32)))

    def answer(self, raw: np.ndarray, image: np.ndarray):
        """One image's answer (in its own pixels) from its row of `raw`."""
        raise NotImplementedError

    def answers(self, images: list[np.ndarray], batch_size: int = 8) -> list:
        """The answer of each RGB uint8 image, in order."""
        out = []
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            rows = self.raw(np.stack([self.prepare(im) for im in chunk]))
            out.extend(self.answer(r, im) for r, im in zip(rows, chunk))
        return out

    def warm_up(self) -> None:
        """Runs the model once (the first call traces it)."""
        self.answers([np.zeros((*self.image_size, 3), np.uint8)])

    def result(self, source: str, answer, image: np.ndarray):
        """The result object of one image (its `to_dict()` is the JSON row)."""
        raise NotImplementedError

    def failure(self, source: str, error: str):
        """The result of an input that could not be read."""
        raise NotImplementedError

    def iter_predict(self, items: Iterable, batch_size: int = 8) -> Iterator:
        """A result per input in order (unreadable ones included), decoding the next batch while
        the model runs."""
        items = iter(items)
        with ThreadPoolExecutor(max_workers=2) as pool:
            while True:
                chunk = [item for _, item in zip(range(batch_size), items)]
                if not chunk:
                    return
                decoded = list(pool.map(_decode, chunk))
                good = [(i, d) for i, d in enumerate(decoded) if not isinstance(d, str)]
                found = dict(zip((i for i, _ in good), self.answers([d for _, d in good], batch_size)))
                for i, (item, d) in enumerate(zip(chunk, decoded)):
                    name = describe(item)
                    yield self.failure(name, d) if isinstance(d, str) else self.result(name, found[i], d)

    def info(self) -> dict:
        return {"task": self.task, "outputs": self.outputs, "labels": self.classes,
                "image_size": list(self.image_size), "backend": self.backend}


def _decode(item) -> np.ndarray | str:
    try:
        return decode(item)
    except DecodeError as exc:
        return str(exc)


def describe(item) -> str:
    """How an input is named in results: its path, or its type."""
    if isinstance(item, (str, Path)):
        return str(item)
    return f"<{type(item).__name__}>"
