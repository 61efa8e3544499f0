"""Runtimes that execute a model or an exported model: one call signature for every format.

Shared by prediction (which runs them) and export (which writes the formats and checks them).

A runtime takes a float32 batch of shape (n, h, w, 3) with RGB pixel values in [0, 255] (the
model holds its own preprocessing) and returns the model's raw outputs: (n, 1) sigmoid
probabilities for two classes, (n, k) softmax probabilities otherwise. A model that reads table
columns beside its images (`visionflow.tabular.fusion`) takes them as a second argument, a float32
(n, width) batch of column features; a clip model that hears takes its clips' sound there.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.errors import ModelError

Runtime = Callable[..., np.ndarray]  # (images) or (images, columns) -> outputs


def latency(call: Callable[[], object], calls: int = 50, warmup: int = 5) -> dict[str, float]:
    """Milliseconds of `call()` after `warmup` calls: p50, p90, p99 and mean of `calls` calls."""
    import time

    for _ in range(warmup):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return {**{f"p{q}_ms": round(float(np.percentile(times, q)), 2) for q in (50, 90, 99)},
            "mean_ms": round(float(np.mean(times)), 2)}


def need(module: str, extra: str = "export"):
    """Imports an optional dependency or says which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelError(f"This needs the '{module.split('.')[0]}' package: "
                         f"pip install 'visionflow[{extra}]'.") from None


@contextlib.contextmanager
def silenced():
    """Silences Python and native (C++) output to stdout/stderr: converters and interpreters print
    progress lines ("Created TensorFlow Lite XNNPACK delegate", tf2onnx's log) a user cannot act on."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def keras_runtime(model, image_size: tuple[int, int] | None, channels: int = 3, frames: int | None = None) -> Runtime:
    """A traced call with a fixed input signature: no retracing, ~5-10x faster than model.predict.
    `image_size` None: any height and width (image-to-image models); `frames`: a clip model's
    input, (batch, frames, h, w, channels)."""
    import tensorflow as tf

    h, w = image_size or (None, None)
    shape = (None, frames, h, w, channels) if frames else (None, h, w, channels)
    if len(model.inputs) == 2:  # images (or clips) and a second input (table columns, sound), by rank
        first, other = sorted(model.inputs, key=lambda t: -len(t.shape))
        names = (first.name, other.name)
        both = tf.function(lambda x, c: model({names[0]: x, names[1]: c}, training=False), reduce_retracing=True,
                           input_signature=[tf.TensorSpec(shape, tf.float32),
                                            tf.TensorSpec((None, *other.shape[1:]), tf.float32)])
        return lambda batch, columns: np.asarray(both(batch, np.asarray(columns, np.float32)))
    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                     input_signature=[tf.TensorSpec(shape, tf.float32)])
    return lambda batch: np.asarray(fn(batch))


def savedmodel_runtime(path: Path) -> Runtime:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    serve = loaded.signatures.get("serving_default") if not hasattr(loaded, "serve") else loaded.serve
    if serve is None:
        raise ModelError(f"{path} has no serving function.")

    def run(batch: np.ndarray, columns: np.ndarray | None = None, _keep=loaded) -> np.ndarray:
        # _keep: the function needs its variables alive
        if columns is None:
            out = serve(tf.constant(batch, tf.float32))
        else:
            out = serve([tf.constant(batch, tf.float32), tf.constant(columns, tf.float32)])
        if isinstance(out, dict):
            out = next(iter(out.values()))
        return np.asarray(out)

    return run


def onnx_runtime(path: Path, threads: int = 0) -> Runtime:
    ort = need("onnxruntime")
    ort.set_default_logger_severity(3)  # no warnings a user cannot act on (e.g. deprecated resize attributes)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or (os.cpu_count() or 1)
    options.log_severity_level = 3
    # Idle worker threads sleep instead of spinning: spinning threads would take the CPU that
    # image decoding and the HTTP server need between model calls.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for damaged files
        raise ModelError(f"Could not load {path}: {str(exc).splitlines()[0]}") from None
    inputs = session.get_inputs()
    if len(inputs) == 2:  # images (or clips) and table columns (or sound), told apart by rank
        image = max(inputs, key=lambda i: len(i.shape)).name
        table = next(i.name for i in inputs if i.name != image)
        return lambda batch, columns: session.run(None, {image: np.asarray(batch, np.float32),
                                                         table: np.asarray(columns, np.float32)})[0]
    name = inputs[0].name
    return lambda batch: session.run(None, {name: np.asarray(batch, np.float32)})[0]


class _TFLiteRuntime:
    """The LiteRT interpreter, resized to each input shape (batch size; height and width for models
    exported with dynamic sides); one call at a time (it is not thread-safe)."""

    def __init__(self, path: Path):
        interpreter_mod = need("ai_edge_litert.interpreter")
        try:
            with silenced():
                self.interpreter = interpreter_mod.Interpreter(model_path=str(path), num_threads=os.cpu_count() or 1)
                details = max(self.interpreter.get_input_details(), key=lambda d: len(d["shape"]))
                if (details["shape_signature"][1:3] < 0).any():  # dynamic sides: prepare at a size every net takes
                    self.interpreter.resize_tensor_input(details["index"], [1, 64, 64, int(details["shape"][3])])
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"Could not load {path}: {str(exc).splitlines()[0]}") from None
        inputs = self.interpreter.get_input_details()
        self.input = max(inputs, key=lambda d: len(d["shape"]))  # the images (or clips); a second input beside
        self.columns = next((d for d in inputs if d is not self.input), None)  # table columns beside the images
        self.output = self.interpreter.get_output_details()[0]
        self.shape = None
        self.lock = threading.Lock()

    def __call__(self, batch: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        batch = np.asarray(batch, np.float32)
        with self.lock:
            if self.shape != batch.shape:
                self.interpreter.resize_tensor_input(self.input["index"], list(batch.shape))
                if self.columns is not None:
                    self.interpreter.resize_tensor_input(self.columns["index"],
                                                         [batch.shape[0], *map(int, self.columns["shape"][1:])])
                self.interpreter.allocate_tensors()
                self.shape = batch.shape
            if self.columns is not None:
                self.interpreter.set_tensor(self.columns["index"], np.asarray(columns, np.float32))
            dtype = self.input["dtype"]
            if dtype != np.float32:  # integer input: quantize with the model's own scale/zero point
                scale, zero = self.input["quantization"]
                info = np.iinfo(dtype)
                batch = np.clip(np.round(batch / scale + zero), info.min, info.max).astype(dtype)
            self.interpreter.set_tensor(self.input["index"], batch)
            self.interpreter.invoke()
            out = self.interpreter.get_tensor(self.output["index"])
            if out.dtype != np.float32:
                scale, zero = self.output["quantization"]
                out = (out.astype(np.float32) - zero) * scale
            return out.copy()


def tflite_runtime(path: Path) -> Runtime:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _TFLiteRuntime(path)


def _open_keras(path: Path, meta: dict) -> Runtime:
    import keras

    import visionflow.models.layers  # noqa: F401  (registers the shared layers networks use)
    from visionflow import tasks

    if tasks.known(meta.get("task") or tasks.DEFAULT):
        tasks.of(meta)  # loading the task registers the layers of its own networks

    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    size = meta.get("image_size")
    return keras_runtime(model, tuple(size) if size else None, int(meta.get("input_channels", 3)),
                         frames=meta.get("frames"))


# How each export format's artifact is run back: open(path, meta) -> Runtime.
OPENERS: dict[str, Callable[[Path, dict], Runtime]] = {
    "keras": _open_keras,
    "savedmodel": lambda path, meta: savedmodel_runtime(path),
    "onnx": lambda path, meta: onnx_runtime(path),
    "tflite": lambda path, meta: tflite_runtime(path),
    "tflite-int8": lambda path, meta: tflite_runtime(path),
}


def open_artifact(fmt: str, path: Path, meta: dict) -> Runtime:
    """A runtime for the exported artifact at `path` of format `fmt`.

    Raises:
        ModelError: a format this version cannot run.
    """
    if fmt not in OPENERS:
        raise ModelError(f"{path} is in format {fmt!r}, which this version of visionflow cannot run; it runs "
                         f"{', '.join(OPENERS)}.")
    return OPENERS[fmt](path, meta)

