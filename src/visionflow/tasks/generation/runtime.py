"""Running a generator back from its file: the Keras model or an export (SavedModel, ONNX, TFLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.errors import ModelError


def _by_role(names: list[str]) -> tuple[int, int | None]:
    """Positions of the latent and class inputs among a runtime's input names."""
    lat = next((i for i, n in enumerate(names) if "latent" in n), 0)
    cls = next((i for i, n in enumerate(names) if "class" in n), None)
    return lat, cls


def open_generator(path: Path, meta: dict) -> Callable:
    """A callable (latents, classes or None) -> images for an exported generator artifact."""
    from visionflow import runtime

    fmt = meta.get("format", "keras")
    if fmt == "keras":
        import keras

        import visionflow.tasks.generation.layers  # noqa: F401  (registers the generator's layers)

        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        return lambda z, y: np.asarray(model([z, y] if y is not None else z, training=False))
    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))

        def run_saved(z, y, _keep=loaded):
            out = loaded.serve([tf.constant(z), tf.constant(y)] if y is not None else tf.constant(z))
            return np.asarray(next(iter(out.values())) if isinstance(out, dict) else out)

        return run_saved
    if fmt == "onnx":
        ort = runtime.need("onnxruntime")
        ort.set_default_logger_severity(3)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        lat, cls = _by_role(names)

        def run_onnx(z, y):
            feed = {names[lat]: np.asarray(z, np.float32)}
            if cls is not None:
                feed[names[cls]] = np.asarray(y, np.int32)
            return session.run(None, feed)[0]

        return run_onnx
    if fmt == "tflite":
        import threading

        interpreter_mod = runtime.need("ai_edge_litert.interpreter")
        with runtime.silenced():
            interpreter = interpreter_mod.Interpreter(model_path=str(path))
        inputs = interpreter.get_input_details()
        lat, cls = _by_role([d["name"] for d in inputs])
        output = interpreter.get_output_details()[0]
        lock = threading.Lock()

        def run_tflite(z, y):
            with lock:
                interpreter.resize_tensor_input(inputs[lat]["index"], list(z.shape))
                if cls is not None:
                    interpreter.resize_tensor_input(inputs[cls]["index"], [len(z)])
                interpreter.allocate_tensors()
                interpreter.set_tensor(inputs[lat]["index"], np.asarray(z, np.float32))
                if cls is not None:
                    interpreter.set_tensor(inputs[cls]["index"], np.asarray(y, inputs[cls]["dtype"]))
                interpreter.invoke()
                return interpreter.get_tensor(output["index"]).copy()

        return run_tflite
    raise ModelError(f"Unknown generator export format {fmt!r}.")
