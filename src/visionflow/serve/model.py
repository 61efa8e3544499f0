"""Loading the model the service runs, in the chosen backend, and warming it up."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.errors import ExportFailed, ModelError
from visionflow.predict import Predictor, load


@dataclass
class ServedModel:
    """The predictor and what `GET /v1/model` says about it."""

    predictor: Predictor
    name: str
    backend: str
    artifact: str
    sha256: str
    explainable: bool = False  # Grad-CAM works: a Keras model, or a run folder whose Keras model loads for it

    def info(self) -> dict:
        from visionflow.version import __version__

        h, w = self.predictor.image_size
        return {"name": self.name, "task": self.predictor.task.name, "labels": self.predictor.classes,
                "input_size": [h, w], "resize": self.predictor.resize.mode, "backend": self.backend,
                "artifact": self.artifact, "sha256": self.sha256, "temperature": self.predictor.temperature,
                "thresholds": self.predictor.thresholds, "frames": self.predictor.frames,
                "explain": "/v1/explain" in self.routes(),
                "columns": self.predictor.fusion.table.to_dict()["columns"] if self.predictor.fusion else None,
                "routes": self.routes(), "version": __version__}

    def routes(self) -> list[str]:
        """The POST routes that answer this model (the shared image routes it can take)."""
        p = self.predictor
        explain = self.explainable and not p.frames and p.fusion is None
        return ["/v1/predict", *(["/v1/explain"] if explain else []), *(["/v1/video"] if not p.frames and p.fusion is None else [])]


def check_source(run: str | Path) -> None:
    """Fails fast, before the server starts, when `run` cannot hold a model."""
    path = Path(run)
    if not path.exists():
        raise ModelError(f"{path} does not exist; give a run folder (runs/exp1) or an exported model.")
    folder = path if path.is_dir() else path.parent
    if not (folder / "labels.json").exists():
        raise ModelError(f"No labels.json in {folder}; give a run folder written by `visionflow train` "
                         f"or a folder written by `visionflow export`.")


def load_served(run: str | Path, backend: str, say: Callable[[str], None] = print) -> ServedModel:
    """Loads `run` for serving.

    With backend "onnx" (or "auto", the default, where the ONNX packages of the [export] extra are
    installed) and a run folder, the run's ONNX export (RUN/export/onnx) is used when it was made
    from the current model.keras; otherwise it is exported first, with its parity check
    (`visionflow.export.cached`). ONNX Runtime, not LiteRT, because the service runs batches of
    concurrent requests: at 16 clients it answered with p99 93 ms against TensorFlow's 264 ms
    (bench/README.md). "auto" falls back to TensorFlow, with a note, where the export cannot be
    had, and keeps clip models in TensorFlow. A path that already is an export folder is served in
    its own format.
    """
    from visionflow.export import cached
    from visionflow.export.exporter import sha256

    path = Path(run)
    folder = path if path.is_dir() else path.parent
    meta = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    exported = meta.get("format") is not None
    runtime = "keras"
    if backend == "onnx" or (backend == "auto" and not meta.get("frames") and cached.available("onnx")):
        runtime = "onnx"
    predictor = None
    if runtime == "onnx" and not exported:
        try:
            predictor = load(path, backend="onnx", say=say)
        except (ExportFailed, ModelError) as exc:
            if backend == "onnx":
                raise
            say(f"note: serving in TensorFlow: no ONNX export could be used ({str(exc).splitlines()[0]})")
    if predictor is None:
        predictor = load(path, backend="keras", say=say)
    artifact = Path(predictor.artifact)
    return ServedModel(predictor, name=str(meta.get("model") or folder.name), backend=predictor.backend,
                       artifact=str(artifact), sha256=sha256(artifact),
                       explainable=predictor.backend == "keras" or (backend == "auto" and not exported))


def warm_up(predictor: Predictor, sizes: tuple[int, ...]) -> None:
    """Runs the model once per batch size, so the first real requests do not pay for tracing."""
    shape = (*((predictor.frames,) if predictor.frames else ()), *predictor.image_size, 3)
    for n in sizes:
        columns = None
        if predictor.fusion is not None:
            columns = np.tile(predictor.fusion.columns_mean, (n, 1))
        elif predictor.audio:
            columns = predictor.task.sample_second_input(predictor, n)
        predictor.predict_arrays(np.zeros((n, *shape), np.uint8), batch_size=n, columns=columns)
