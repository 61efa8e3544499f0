"""The run's own ONNX export, kept fresh: what `load(run)` and `serve --backend onnx` run by default.

RUN/export/onnx is written once by `visionflow export` (with its parity check) and reused for as
long as its recorded source hash matches the run's model.keras; a retrained or replaced model
makes it stale, and it is exported again on the next use.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Callable

from visionflow.rundir import RunPaths

FAST_FORMAT = "onnx"


def fast_runtime_available() -> bool:
    """Whether the packages to export to and run ONNX are installed (the [export] extra)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "tf2onnx", "onnx"))


def cached_export(run: str | Path, fmt: str = FAST_FORMAT, say: Callable[[str], None] | None = None) -> Path:
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
