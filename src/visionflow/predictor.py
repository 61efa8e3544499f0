"""A loaded model and what it predicts: `Predictor` (any runtime, batched, threaded decoding) and
opening model files (run folders, `.keras` files, export folders) safely.

Shared by prediction, evaluation, export and serving; `visionflow.predict.load` adds the fast
path through a run's cached export.
"""

from __future__ import annotations

import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from visionflow import tasks
from visionflow.data.decode import DecodeError, ImageSource, decode
from visionflow.data.resize import STRETCH, Resize
from visionflow.errors import ConfigError, ModelError
from visionflow.rundir import RunPaths, read_json
from visionflow.tabular.fusion import Fusion
from visionflow.runtime import Runtime, keras_runtime, open_artifact


class Predictor:
    """A loaded model with its task, labels, input size and how images reach that size.

    Example:
        >>> model = visionflow.load("runs/exp1")
        >>> model.predict("cat.jpg").label
        'cats'
    """

    def __init__(self, model, classes: Sequence[str], image_size: tuple[int, int], source: str = "",
                 runtime: Runtime | None = None, outputs: int | None = None, temperature: float = 1.0,
                 backend: str = "keras", artifact: str = "", keras_path: str | Path | None = None,
                 task: str = tasks.DEFAULT, thresholds: dict[str, float] | None = None, resize: Resize = STRETCH,
                 frames: int | None = None, fusion: Fusion | None = None, audio: dict | None = None,
                 means: dict | None = None):
        """A Keras `model`, or `model=None` with a `runtime` (an exported format) and its output width.

        `task` names what the model predicts (`visionflow.tasks`); `thresholds` are a multi-label
        model's decision threshold per label; `resize` how images reach `image_size`; `frames`, for
        a clip model, how many frames it takes from each video (its inputs are then videos).
        `temperature` rescales a classifier's probabilities (fitted by `visionflow train --calibrate`).
        `fusion` is the table-column preprocessing of a model that reads columns beside its images
        (`visionflow.tabular.fusion`); its predictions then need each image's columns. `audio`
        (a clip model that hears its clips' sound) says how the sound is read (the task derives
        it from each video); `means` holds the training means of both inputs of such a model
        ("image_mean", "audio_mean").
        `backend` names what computes the predictions and `artifact` the file it runs (default:
        `source`). With `keras_path` (a run's model.keras behind its ONNX export), `model` loads
        that Keras model on first use, for Grad-CAM.
        """
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ModelError(f"{source or 'The model'}: temperature must be a positive number. "
                             f"Received: {temperature!r}")
        self.temperature = float(temperature)
        try:
            self.task = tasks.get(task)
        except ConfigError as exc:
            raise ModelError(f"{source or 'The model'} is a {task!r} model, which this version of visionflow does "
                             f"not know ({exc}).") from None
        self.thresholds = {str(k): float(v) for k, v in thresholds.items()} if thresholds else None
        self.resize = resize
        self.frames = int(frames) if frames else None
        self.fusion = fusion
        self.audio = dict(audio) if audio else None
        self.means = dict(means or {})
        self.rows: dict[str, tuple] = {}  # (a table's columns, the row's name) by image path (see `use_table`)
        self._by_name: dict[str, tuple] = {}
        self._model = model
        self._keras_path = keras_path
        self.backend = backend
        self.artifact = artifact or source
        self.classes = list(classes)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.source = source
        out = int(model.outputs[0].shape[-1]) if model is not None else int(outputs or 0)
        expected = self.task.units(self.classes)
        if out != expected:
            raise ModelError(f"{source or 'The model'} has {out} output(s) but labels.json lists "
                             f"{len(self.classes)} classes for {self.task.name}; they do not belong together.")
        self._call = runtime if runtime is not None else keras_runtime(model, self.image_size, frames=self.frames)
        self.tta = False  # flip test-time augmentation: see `load`

    @property
    def model(self):
        """The Keras model (None for an exported format); loaded on first use when predictions run
        in ONNX Runtime."""
        if self._model is None and self._keras_path is not None:
            self._model = load_keras(Path(self._keras_path), unsafe=False)
        return self._model

    def meta(self) -> dict:
        """The model's metadata as labels.json holds it: task, classes, input size, resize, and the
        fitted temperature or thresholds."""
        out = {"task": self.task.name, "classes": self.classes, "image_size": list(self.image_size),
               **self.resize.to_meta(), "temperature": self.temperature}
        if self.thresholds is not None:
            out["thresholds"] = self.thresholds
        if self.frames:
            out["frames"] = self.frames
        if self.fusion is not None:
            out.update(self.fusion.to_meta())
        if self.audio:
            out.update(audio=self.audio, **self.means)
        return out

    @property
    def second(self) -> bool:
        """Whether the model takes a second input beside its images: table columns or sound."""
        return self.fusion is not None or bool(self.audio)

    def use_table(self, rows: dict[str, dict], where: dict[str, str] | None = None) -> None:
        """The columns of images given by path: {image path: {column: value}} (a labels CSV's rows),
        read when `predict` and `iter_predict` get no `columns` of their own. An image is found by
        its path, else by its file name where only one row has that name. `where` names each path's
        row in errors (e.g. "row 7 of data.csv")."""
        where = where or {}
        self.rows = {_path_key(k): (v, where.get(k)) for k, v in rows.items()}
        names: dict[str, list] = {}
        for k, v in rows.items():
            names.setdefault(os.path.basename(str(k)), []).append((v, where.get(k)))
        self._by_name = {n: v[0] for n, v in names.items() if len(v) == 1}

    def columns_of(self, item: ImageSource, row: dict | None) -> np.ndarray | str:
        """The column features of one image (`row`, else the table's row for its path), or the reason
        they cannot be had."""
        name = _describe(item)
        if row is None and isinstance(item, (str, Path)):
            row, where = self.rows.get(_path_key(item)) or self._by_name.get(os.path.basename(str(item)), (None, None))
            name = where or name
        return self.fusion.vector(row, name)

    def prepare(self, item: ImageSource) -> np.ndarray:
        """`item` decoded and brought to the model's input, (h, w, 3) uint8 (a clip model: the
        video's frames, (frames, h, w, 3)); raises DecodeError."""
        if self.frames:
            from visionflow.video.frames import load_clip
            from visionflow.video.reader import VideoError

            if isinstance(item, np.ndarray) and item.ndim == 4:
                return np.stack([decode(f, size=self.image_size, resize=self.resize) for f in item])
            try:
                return load_clip(item, self.frames, self.image_size, self.resize)
            except VideoError as exc:
                raise DecodeError(str(exc).split(": ", 1)[-1], exc.kind) from None
        return decode(item, size=self.image_size, resize=self.resize)

    def predict_arrays(self, images: np.ndarray, batch_size: int = 64, columns: np.ndarray | None = None) -> np.ndarray:
        """Probabilities, shape (n, len(classes)), for prepared uint8 images of shape (n, h, w, 3)
        (and, for a model with a second input, its batch: (n, width) column features, or the
        clips' sound)."""
        if self.second == (columns is None):
            raise ModelError(f"{self.source or 'The model'} takes a second input beside its images (table columns or "
                             f"sound); pass it." if columns is None else
                             f"{self.source or 'The model'} reads images alone, not a second input.")
        outs = []
        for start in range(0, len(images), batch_size):
            batch = np.asarray(images[start:start + batch_size], dtype=np.float32)
            extra = () if columns is None else (np.asarray(columns[start:start + batch_size], np.float32),)
            out = np.asarray(self._call(batch, *extra))
            if self.tta:  # the mean with the mirror image's answer (width is the second-last axis)
                out = (out + np.asarray(self._call(np.ascontiguousarray(batch[..., ::-1, :]), *extra))) / 2
            outs.append(out)
        if not outs:
            return np.zeros((0, len(self.classes)), np.float32)
        return self.task.probabilities(np.concatenate(outs), self)

    def predict(self, inputs: ImageSource | Sequence[ImageSource], top_k: int = 5, batch_size: int = 32,
                columns: dict | Sequence[dict] | None = None):
        """Predicts one image (returns a Prediction) or a list of images (returns a list).

        Args:
            inputs: a path, bytes, PIL image, uint8 array (h, w[, c]), a (n, h, w, 3) uint8 batch,
                or a list of any of these. Unreadable images give a prediction with `error` set.
            top_k: how many classes to keep in a classification's `Prediction.top`.
            columns: a model that reads table columns: the image's {column: value} (a list of them
                for a list of images); a value may be None or "" where it is unknown. Without it,
                the rows of `use_table` are looked up by path.

        Returns:
            The task's prediction type: `Prediction` (label, confidence, top) for classification,
            `LabelsPrediction` (labels over their thresholds) for multilabel.
            batch_size: images per model call.
        """
        batch_rank = 5 if self.frames else 4
        single = not isinstance(inputs, (list, tuple)) and not (isinstance(inputs, np.ndarray) and inputs.ndim == batch_rank)
        if single:  # decoded here: starting decoding threads would cost about as much as the model call
            if columns is not None and not isinstance(columns, dict):
                raise TypeError(f"columns for one image is a dict of column values, not {type(columns).__name__}")
            decoded = self._with_columns(inputs, self._decode(inputs), columns)
            if isinstance(decoded, str):
                return self.task.failure(_describe(inputs), decoded)
            image, features = decoded
            probs = self.predict_arrays(image[None], columns=None if features is None else features[None])[0]
            return self._prediction(_describe(inputs), probs, top_k)
        inputs = list(inputs)
        if columns is not None and (isinstance(columns, dict) or len(columns) != len(inputs)):
            raise TypeError(f"columns for {len(inputs)} images is a list of {len(inputs)} dicts, one per image")
        return list(self.iter_predict(inputs, top_k=top_k, batch_size=batch_size, columns=columns))

    def iter_predict(self, items: Iterable[ImageSource], top_k: int = 5, batch_size: int = 32,
                     columns: Iterable[dict] | None = None):
        """Yields a Prediction per item, decoding each batch in parallel threads.

        `items` is consumed lazily, one batch at a time, so a generator over millions of files
        keeps memory bounded: at most one batch is decoded while the previous one is predicted.
        `columns` (a model that reads table columns) gives each item's {column: value}, in order.
        """
        source = iter(items) if columns is None else zip(items, columns)
        with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
            pending = self._next_batch(pool, source, batch_size, columns is not None)
            while pending is not None:
                chunk, future = pending
                decoded = future.result()
                pending = self._next_batch(pool, source, batch_size, columns is not None)  # decode the next meanwhile
                good = [d for d in decoded if not isinstance(d, str)]
                features = None if not self.second or not good else np.stack([f for _, f in good])
                probs = iter(self.predict_arrays(np.stack([image for image, _ in good]), columns=features)
                             if good else [])
                for item, d in zip(chunk, decoded):
                    name = _describe(item)
                    if isinstance(d, str):
                        yield self.task.failure(name, d)
                        continue
                    yield self._prediction(name, next(probs), top_k)

    def _prediction(self, source: str, p: np.ndarray, top_k: int):
        return self.task.prediction(source, p, self, top_k)

    def _next_batch(self, pool: ThreadPoolExecutor, source, batch_size: int, paired: bool = False):
        """(items, future of their list of (image, column features or None) or reasons) for the next
        batch, or None when `source` is empty; `paired`: `source` yields (item, columns) pairs."""
        chunk = list(islice(source, batch_size))
        if not chunk:
            return None
        items = [c[0] for c in chunk] if paired else chunk
        rows = [c[1] for c in chunk] if paired else [None] * len(chunk)
        work = lambda item, row: self._with_columns(item, self._decode(item), row)  # noqa: E731
        return items, pool.submit(lambda: list(pool.map(work, items, rows)))

    def prepare_both(self, item: ImageSource, row: dict | None = None):
        """(the model's image or clip input, its second input or None) for one item, or the reason it
        cannot be predicted (`row`: a model that reads columns, the item's {column: value})."""
        return self._with_columns(item, self._decode(item), row)

    def _with_columns(self, item: ImageSource, decoded: np.ndarray | str, row: dict | None):
        """(image, column features or None), or the reason the item cannot be predicted."""
        if isinstance(decoded, str):
            return decoded
        if self.audio:
            features = self.task.second_input(item, self)
        elif self.fusion is None:
            return decoded, None
        else:
            features = self.columns_of(item, row)
        return features if isinstance(features, str) else (decoded, features)

    def _decode(self, item: ImageSource) -> np.ndarray | str:
        try:
            return self.prepare(item)
        except DecodeError as exc:
            return exc.reason
        except TypeError as exc:
            return str(exc)


def _path_key(path: str | Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def _describe(item: ImageSource) -> str:
    if isinstance(item, (str, Path)):
        return str(item)
    if isinstance(item, bytes):
        return f"<{len(item)} bytes>"
    if isinstance(item, np.ndarray):
        return f"<array {item.shape}>"
    return f"<{type(item).__name__}>"


def open_model(path: str | Path, unsafe: bool = False) -> Predictor:
    """The model at `path` in its own runtime: an export folder (or the model file inside one) in
    its format's runtime; a run folder or `.keras`/`.h5` file in TensorFlow.

    Raises:
        ModelError: missing files, a refused file, or labels that do not fit the model.
    """
    path = Path(path)
    exported = exported_format(path)
    if exported is not None:
        return load_export(*exported)
    model_path, meta = model_files(path)
    kwargs = settings(meta)  # refuses models that are not label models before loading anything
    return Predictor(load_keras(model_path, unsafe), meta["classes"], tuple(meta["image_size"]),
                     source=str(model_path), **kwargs)


def model_files(path: Path) -> tuple[Path, dict]:
    """(model file, its labels.json metadata) of a run folder or a model file.

    Raises:
        ModelError: no model file, no labels.json, or one that is not visionflow's.
    """
    if path.is_dir():
        model_path = RunPaths(path).model
        if not model_path.exists() and (path / "model.h5").exists():
            model_path = path / "model.h5"
        labels_path = RunPaths(path).labels
    else:
        model_path, labels_path = path, path.parent / "labels.json"
    if not model_path.exists():
        hint = " (training may not have finished an epoch yet)" if path.is_dir() else ""
        raise ModelError(f"No model file at {model_path}{hint}.")
    if not labels_path.exists():
        raise ModelError(f"No labels.json beside {model_path}; it lists the class names the model predicts.")
    return model_path, read_labels(labels_path)


def settings(meta: dict) -> dict:
    """The Predictor keywords a labels.json gives beyond classes and size. Files written before tasks
    and resize modes existed are classifiers that stretch. A restoration model is refused with
    what to run instead."""
    name = str(meta.get("task") or tasks.DEFAULT)
    task = tasks.get(name) if tasks.known(name) else None  # an unknown task: Predictor says so
    if task is not None and task.outputs != "labels":
        raise ModelError(f"This is a {task.name} model, {task.usage}")
    try:
        resize = Resize.from_meta(meta)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ModelError(f"labels.json has an unusable resize setting: {exc}") from None
    try:
        fusion = Fusion.from_meta(meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"labels.json has an unusable table-column description: {exc}") from None
    means = {k: meta[k] for k in ("image_mean", "audio_mean") if meta.get(k) is not None}
    return {"temperature": meta.get("temperature", 1.0), "task": str(meta.get("task") or tasks.DEFAULT),
            "thresholds": meta.get("thresholds"), "resize": resize, "frames": meta.get("frames"), "fusion": fusion,
            "audio": meta.get("audio"), "means": means}


def read_labels(labels_path: Path) -> dict:
    try:
        meta = read_json(labels_path)
        if not {"classes", "image_size"} <= set(meta):
            raise KeyError
    except (ValueError, KeyError, TypeError):
        raise ModelError(f"{labels_path} is not a visionflow labels file (needs 'classes' and 'image_size').") from None
    return meta


def load_keras(model_path: Path, unsafe: bool):
    import keras

    suffix = model_path.suffix.lower()
    if suffix == ".h5" and not unsafe:
        raise ModelError(f"{model_path} is a legacy .h5 file, which can run arbitrary code when loaded; "
                         f"pass --unsafe (unsafe=True) only if you trust it.")
    if suffix not in (".keras", ".h5"):
        raise ModelError(f"{model_path} is not a .keras model file.")
    if suffix == ".keras" and not zipfile.is_zipfile(model_path):
        raise ModelError(f"Could not load {model_path}: the file is damaged or not a Keras model.")
    import visionflow.models.layers  # noqa: F401  (registers the custom layers some models hold)

    try:
        return keras.saving.load_model(model_path, compile=False, safe_mode=not unsafe)
    except (ValueError, TypeError) as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text or "lambda" in text:
            raise ModelError(f"Refused to load {model_path}: it contains code (e.g. a Lambda layer) that only loads "
                             f"with safe mode off; pass --unsafe only if you trust the file.") from None
        raise ModelError(f"Could not load {model_path}: {text.splitlines()[0] if text else type(exc).__name__}") from None
    except Exception as exc:  # zip/h5 corruption surfaces as many exception types
        raise ModelError(f"Could not load {model_path}: the file is damaged or not a Keras model ({type(exc).__name__}).") from None


def exported_format(path: Path) -> tuple[Path, dict] | None:
    """(artifact, metadata) when `path` is a non-Keras export folder or the model inside one."""
    folder = path if path.is_dir() else path.parent
    labels = folder / "labels.json"
    if not labels.exists():
        return None
    try:
        meta = read_json(labels)
    except ValueError:
        return None
    if not isinstance(meta, dict) or meta.get("format") in (None, "keras"):
        return None
    artifact = folder / str(meta.get("artifact", ""))
    if path != folder and path != artifact:
        return None
    return artifact, meta


def load_export(artifact: Path, meta: dict) -> Predictor:
    if not artifact.exists():
        raise ModelError(f"No exported model at {artifact}.")
    try:
        classes, image_size, outputs = meta["classes"], meta["image_size"], meta["output"]["shape"][-1]
    except (KeyError, TypeError, IndexError):
        raise ModelError(f"{artifact.parent / 'labels.json'} is not a visionflow export description.") from None
    return Predictor(None, classes, tuple(image_size), source=str(artifact),
                     runtime=open_artifact(str(meta.get("format")), artifact, meta), outputs=outputs,
                     backend=str(meta["format"]), **settings(meta))
