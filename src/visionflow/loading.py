"""Opening a model of a task that answers with its own outputs (boxes, masks) for prediction: an
export folder as written; a run folder through its cached, parity-checked export in the fastest
runtime installed, else in TensorFlow; a `.keras` file in TensorFlow."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from visionflow.errors import ModelError
from visionflow.runtime import Runtime, keras_runtime, open_artifact


class Network:
    """A model ready to run, however it was found: `run` (a Runtime), its labels.json `meta`, the
    backend that runs it, the file it came from, and the Keras model where TensorFlow runs it."""

    def __init__(self, run: Runtime, meta: dict, backend: str, source: str, keras_model=None):
        self.run, self.meta, self.backend, self.source, self.keras_model = run, meta, backend, source, keras_model


def open_network(path: str | Path, backend: str = "auto", unsafe: bool = False, say: Callable[[str], None] | None = None,
                 wrap: Callable | None = None, what: str = "model") -> Network:
    """The model at `path` for a task that answers with its own outputs (boxes, masks): an export
    folder as written; a run folder through its cached, parity-checked export in the fastest
    runtime installed (backend auto; or the one named), else in TensorFlow; a `.keras` file in
    TensorFlow. `wrap(keras_model)` is what TensorFlow runs (e.g. with decoding added); the
    run's labels.json is the metadata in every case."""
    from visionflow.predictor import exported_format, load_keras, model_files, read_labels

    path = Path(path)
    exported = exported_format(path)
    if exported is not None:
        artifact, meta = exported
        if not artifact.exists():
            raise ModelError(f"No exported model at {artifact}.")
        read_labels(artifact.parent / "labels.json")
        return Network(open_artifact(str(meta["format"]), artifact, meta), meta, str(meta["format"]), str(artifact))
    model_path, meta = model_files(path)
    if backend not in ("keras", "auto") or (backend == "auto" and path.is_dir() and model_path.suffix == ".keras"):
        fast = _fast(path, backend, say, what)
        if fast is not None:
            fast.meta = meta
            return fast
    model = load_keras(model_path, unsafe)
    read_labels(model_path.parent / "labels.json")
    size = tuple(meta["image_size"])
    return Network(keras_runtime(wrap(model) if wrap else model, size), meta, "keras", str(model_path), model)


def _fast(run: Path, backend: str, say, what: str) -> Network | None:
    from visionflow.errors import ConfigError, ExportFailed
    from visionflow.export import cached
    from visionflow.predictor import exported_format

    say = say or (lambda line: print(line, file=sys.stderr))
    fmt = cached.fast_format() if backend == "auto" else backend
    if fmt is None:
        return None
    if fmt not in cached.FAST_FORMATS:
        raise ConfigError(f"--backend for a {what} is auto, keras, {', '.join(cached.FAST_FORMATS)}. Received: {backend}")
    if not cached.available(fmt):
        raise ModelError(f"The {fmt} backend needs {', '.join(cached.FAST_FORMATS[fmt])}: pip install 'visionflow[export]'.")
    try:
        artifact, meta = exported_format(cached.cached_export(run, fmt, say=say))
    except (ExportFailed, ModelError, OSError) as exc:
        if backend != "auto":
            raise
        say(f"note: running {run} in TensorFlow: no {fmt} export could be used ({str(exc).splitlines()[0]})")
        return None
    return Network(open_artifact(str(meta["format"]), artifact, meta), meta, str(meta["format"]), str(artifact))
