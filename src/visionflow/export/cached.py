"""The run's own export, kept fresh: what `load(run)` and `serve --backend onnx` run.

RUN/export/<format> is written once by `visionflow export` (with its parity check) and reused for
as long as its recorded source hash matches the run's model.keras; a retrained or replaced model
makes it stale, and it is exported again on the next use.

Which format `load(run)` prefers: LiteRT (TFLite float32) and ONNX Runtime answer one image
equally fast here (bench/README.md: 4.9 vs 5.2 ms p50 for the tutorial CNN, 2-3x TensorFlow's
traced call), but making the export is not equally cheap: converting the tutorial CNN (19M
parameters) peaked at 5.4 GB with tf2onnx against 1.6 GB with the TFLite converter. So TFLite
comes first, ONNX where only the ONNX packages are installed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Callable

from visionflow.rundir import RunPaths

# The packages each fast format needs beyond TensorFlow (all in the [export] extra), in order of preference.
FAST_FORMATS = {"tflite": ("ai_edge_litert",), "onnx": ("onnxruntime", "tf2onnx", "onnx")}


def available(fmt: str) -> bool:
    """Whether the packages to export to and run `fmt` are installed."""
    return all(importlib.util.find_spec(m) is not None for m in FAST_FORMATS[fmt])


def fast_format() -> str | None:
    """The preferred fast format whose packages are installed, or None."""
    return next((fmt for fmt in FAST_FORMATS if available(fmt)), None)


def cached_export(run: str | Path, fmt: str, say: Callable[[str], None] | None = None) -> Path:
    """RUN/export/<fmt>, exported with the parity check first when missing or made from another
    model.keras. Returns the export folder.

    Raises:
        ExportFailed: the parity check failed (nothing is written).
        ModelError: the run cannot be loaded, or the format's packages are missing.
        OSError: the run folder cannot be written.
    """
    from visionflow.export.exporter import export, sha256

    paths = RunPaths(Path(run))
    folder = paths.root / "export" / fmt
    current = sha256(paths.model)
    labels = folder / "labels.json"
    if labels.exists():
        try:
            done = json.loads(labels.read_text(encoding="utf-8"))
        except ValueError:
            done = {}
        if done.get("source", {}).get("sha256") == current and (folder / str(done.get("artifact", ""))).exists():
            return folder
    if say is not None:
        say(f"exporting {paths.model} to {fmt} once (with a parity check); later loads reuse {folder}")
    export(paths.root, fmt, say=lambda line: None)
    return folder
