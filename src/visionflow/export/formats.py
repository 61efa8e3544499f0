"""Export formats, registered by name: how each one is written and how it is run back.

Every format holds the whole model including its preprocessing (the `Rescaling` layer), so
each takes the same input as the `.keras` model: float32 RGB pixels in [0, 255], NHWC, any
batch size (`tflite-int8` takes uint8 pixels; its runtime converts).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from visionflow import runtime
from visionflow.registry import Registry


@dataclass(frozen=True)
class ExportFormat:
    """A registered export format.

    Attributes:
        name: the `--format` value.
        artifact: file (or folder) name of the exported model inside the format's folder.
        write: `write(model, path, calibration)` writes the artifact at `path`; `calibration` is a
            uint8 batch (n, h, w, 3) of representative images (used by quantized formats).
        open: `open(path, meta)` returns a `Runtime` for the artifact.
        quantized: parity is judged by top-1 agreement instead of max |Δprob|.
        description: one line for `--help`.
    """

    name: str
    artifact: str
    write: Callable[..., None]
    open: Callable[..., runtime.Runtime]
    quantized: bool
    description: str


FORMATS: Registry[ExportFormat] = Registry("export format")


def _write_keras(model, path: Path, calibration) -> None:
    model.save(path)


def _write_savedmodel(model, path: Path, calibration) -> None:
    with runtime.silenced():
        model.export(str(path), format="tf_saved_model", verbose=False)


def _write_onnx(model, path: Path, calibration) -> None:
    runtime.need("tf2onnx")
    with runtime.silenced():
        model.export(str(path), format="onnx", verbose=False)


def _tflite_converter(model, workdir: Path):
    import tensorflow as tf

    saved = workdir / "saved_model"
    _write_savedmodel(model, saved, None)
    return tf.lite.TFLiteConverter.from_saved_model(str(saved))


def _write_tflite(model, path: Path, calibration) -> None:
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp, runtime.silenced():
        path.write_bytes(_tflite_converter(model, Path(tmp)).convert())


def _write_tflite_int8(model, path: Path, calibration: np.ndarray) -> None:
    import tensorflow as tf

    # Calibration sets each tensor's range from these images. One extra image spanning 0..255
    # makes the uint8 input scale exactly 1.0, so raw pixels go in unchanged.
    extremes = np.zeros((1, *calibration.shape[1:]), np.float32)
    extremes[:, ::2] = 255.0
    samples = np.concatenate([calibration.astype(np.float32), extremes])

    def representative():
        for image in samples:
            yield [image[None]]

    with tempfile.TemporaryDirectory(dir=path.parent) as tmp, runtime.silenced():
        converter = _tflite_converter(model, Path(tmp))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32
        path.write_bytes(converter.convert())


FORMATS.add("keras", ExportFormat(
    "keras", "model.keras", _write_keras, runtime.OPENERS["keras"], False,
    "Keras 3 .keras file (loads with visionflow.load or keras.saving.load_model)."))
FORMATS.add("savedmodel", ExportFormat(
    "savedmodel", "saved_model", _write_savedmodel, runtime.OPENERS["savedmodel"], False,
    "TensorFlow SavedModel with a `serve` signature (TF Serving, TF.js/TFLite converters)."))
FORMATS.add("onnx", ExportFormat(
    "onnx", "model.onnx", _write_onnx, runtime.OPENERS["onnx"], False,
    "ONNX (opset chosen by tf2onnx), run with onnxruntime; dynamic batch size."))
FORMATS.add("tflite", ExportFormat(
    "tflite", "model.tflite", _write_tflite, runtime.OPENERS["tflite"], False,
    "TensorFlow Lite float32, run with the LiteRT interpreter."))
FORMATS.add("tflite-int8", ExportFormat(
    "tflite-int8", "model_int8.tflite", _write_tflite_int8, runtime.OPENERS["tflite-int8"], True,
    "TensorFlow Lite full-integer (int8 weights and activations, uint8 input), calibrated on the run's images."))


def remove(path: Path) -> None:
    """Deletes a file or folder artifact."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
