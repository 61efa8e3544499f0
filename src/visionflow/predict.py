"""Predicting: `load` a run folder, model file or export (a run runs through its cached,
parity-checked export where a fast runtime is installed), and the inputs a prediction takes
(files, folders, globs, @lists)."""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path
from typing import Callable, Iterator, Sequence

from visionflow import options
from visionflow.data.decode import IMAGE_EXTENSIONS
from visionflow.errors import ConfigError, ModelError
from visionflow.predictor import Predictor, exported_format, load_export, model_files, open_model, settings
from visionflow.video.reader import VIDEO_EXTENSIONS

BACKENDS = options.BACKENDS


def load(path: str | Path, unsafe: bool = False, backend: str = "auto",
         say: Callable[[str], None] | None = None, tta: bool = False) -> Predictor:
    """Loads a run directory (or its model file), or an exported model, for prediction. A detection
    model loads as a `visionflow.tasks.detection.detector.Detector` (`.predict(img).boxes`), a
    segmentation model as a `visionflow.tasks.segmentation.segmenter.Segmenter` (`.predict(img)`:
    the class-index array at the image's size).

    Args:
        path: `runs/exp1`; a `.keras` file with `labels.json` beside it; or a folder written by
            `visionflow export` (`runs/exp1/export/onnx`) or the model file inside it.
        unsafe: allow legacy `.h5` files and models that need Keras safe mode off (Lambda layers).
            Such files can run arbitrary code: only for files you trust.
        backend: for a run folder, what computes the predictions. "auto" (default): LiteRT, or
            ONNX Runtime, where the [export] extra is installed (2-3x faster than TensorFlow for
            one image; `visionflow.export.cached` says why LiteRT first), through the run's own
            export, which is made once with the parity check and made again when model.keras
            changes; TensorFlow otherwise, or when the export fails (a note goes to `say`).
            "keras": always TensorFlow. "tflite" / "onnx": that runtime or an error. Exported
            folders and `.keras`/`.h5` files always run in their own runtime.
        say: where notes about exporting go (default: standard error).
        tta: flip test-time augmentation: every image is also predicted mirrored left to right
            and the two answers are averaged. Twice the model calls; +1.2 points of accuracy on
            flowers5 (0.763 -> 0.774, bench/README.md). For photos, not for text or digits, where
            the mirror image is another thing. Settable later as `predictor.tta`.

    Raises:
        ModelError: missing files, a refused file, or labels that do not fit the model.
        ConfigError: an unknown backend.
    """
    from visionflow import tasks

    task = tasks.of_path(path)
    loader = task.part("loader") if task is not None else None
    if loader is not None:  # a model that answers with something else than labels (a detector's boxes)
        own = loader(path, unsafe=unsafe, backend=backend, say=say)
        if tta:
            raise ConfigError(f"tta is for models that label images; {path} holds a {task.name} model.")
        return own
    if tta and task is not None and not task.mirrorable:
        raise ConfigError(f"tta averages each image with its mirror image; {path} holds a {task.name} model, whose "
                          f"answers a mirror changes (an angle turns the other way).")
    predictor = _load(path, unsafe, backend, say)
    predictor.tta = bool(tta)
    return predictor


def _load(path: str | Path, unsafe: bool, backend: str, say: Callable[[str], None] | None) -> Predictor:
    if backend not in BACKENDS:
        from visionflow.registry import unknown_message

        raise ConfigError(unknown_message("backend", str(backend), list(BACKENDS)))
    path = Path(path)
    if path.is_dir() and exported_format(path) is None and backend != "keras":
        model_path, meta = model_files(path)
        settings(meta)  # a model this loader cannot serve is refused before anything is exported
        if meta.get("frames") and backend == "auto":
            return open_model(path, unsafe)  # clip models: TensorFlow (export them for ONNX Runtime)
        if model_path.suffix == ".keras":
            fast = _load_fast(path, model_path, meta, backend, say)
            if fast is not None:
                return fast
    return open_model(path, unsafe)


def _load_fast(run: Path, model_path: Path, meta: dict, backend: str,
               say: Callable[[str], None] | None) -> Predictor | None:
    """The run's model in a fast runtime through its cached, parity-checked export; None (with a
    note) where that cannot be had and `backend` is "auto"."""
    from visionflow.errors import ExportFailed
    from visionflow.export import cached

    say = say or (lambda line: print(line, file=sys.stderr))
    fmt = cached.fast_format() if backend == "auto" else backend
    if fmt is None:
        return None
    if not cached.available(fmt):
        raise ModelError(f"The {fmt} backend needs {', '.join(cached.FAST_FORMATS[fmt])}: "
                         f"pip install 'visionflow[export]'.")
    try:
        folder = cached.cached_export(run, fmt, say=say)
        artifact, export_meta = exported_format(folder)
        predictor = load_export(artifact, export_meta)
    except (ExportFailed, ModelError, OSError) as exc:
        if backend == "onnx":
            raise
        say(f"note: running {model_path} in TensorFlow: no {fmt} export could be used "
            f"({str(exc).splitlines()[0]})")
        return None
    # The run's labels.json is the truth for fitted decisions (a later --calibrate changes them).
    predictor.temperature = float(meta.get("temperature", 1.0))
    predictor.thresholds = settings(meta)["thresholds"] or predictor.thresholds
    predictor.source, predictor._keras_path = str(model_path), model_path
    return predictor


def expand_inputs(args: Sequence[str]) -> list[str]:
    """Files as given, folders searched recursively for images, globs expanded (sorted).

    A name that matches nothing is kept, so that it is reported as an error row.
    """
    return list(iter_inputs(args))


def iter_inputs(args: Sequence[str], videos: bool = False) -> Iterator[str]:
    """`expand_inputs` as a generator: folders are walked one directory at a time (each sorted),
    so listing a folder of millions of images never holds all the names at once. `@FILE` reads
    paths from FILE, one per line (blank lines and lines starting with # are skipped), also lazily:
    the way to hand each machine its shard of a large job. With `videos`, folder walks also yield
    video files (`visionflow.video.VIDEO_EXTENSIONS`)."""
    endings = IMAGE_EXTENSIONS + (VIDEO_EXTENSIONS if videos else ())
    for arg in args:
        p = Path(arg)
        if arg.startswith("@") and len(arg) > 1:
            yield from _read_list(arg[1:])
        elif p.is_dir():
            yield from _walk_images(str(p), endings)
        elif p.exists():
            yield arg
        elif glob.has_magic(arg):
            matches = sorted(m for m in glob.glob(arg, recursive=True) if Path(m).is_file())
            yield from (matches if matches else [arg])
        else:
            yield arg


def _read_list(path: str) -> Iterator[str]:
    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"Cannot read the list of images {path}: {exc.strerror or exc}.") from None
    with fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#"):
                yield line


def _walk_images(folder: str, endings: tuple[str, ...] = IMAGE_EXTENSIONS) -> Iterator[str]:
    """Image files (files with `endings`) under `folder` in sorted path order, skipping hidden
    files and folders."""
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _walk_images(entry.path, endings)
        elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in endings:
            yield entry.path
