"""Knowledge distillation (Hinton et al. 2015): a small student learns from a trained teacher.

The teacher (any classification run) answers once for every training and validation image, at
its own input size and resize mode; its probabilities, softened by a temperature T (p^(1/T),
renormalised), join each image's one-hot label as the student's target. The student trains as
any run does (augmentation, schedule, checkpoints, report) on the loss

    alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy(label, student)

(T^2 keeps the soft term's gradients on the scale of the hard one's). Soft targets are computed
once rather than for every augmented batch: tried on hymenoptera (small_cnn at 96x96, strong
augmentation), the teacher answering every batch at its own 224x224 took more than twice the
training time and did no better (0.693 against 0.719 with soft targets computed once). `compare` then puts teacher and student side by side: accuracy on the
same validation images, parameters, and per-image latency of their ONNX and TFLite int8 exports.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from visionflow.errors import ConfigError


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities at temperature T: softmax(log p / T)."""
    logp = np.log(np.clip(np.asarray(probs, np.float64), 1e-7, 1.0)) / temperature
    logp -= logp.max(1, keepdims=True)
    out = np.exp(logp)
    return (out / out.sum(1, keepdims=True)).astype(np.float32)


def load_teacher(run: str | Path, classes: list[str]):
    """The teacher's Predictor; ConfigError unless it is a classifier of exactly `classes`."""
    from visionflow.predict import load

    path = Path(run)
    if not path.exists():
        raise ConfigError(f"Teacher {run} does not exist; give the run folder of a trained classifier.")
    teacher = load(path, backend="keras")
    if not teacher.task.distillable:
        raise ConfigError(f"The teacher {run} is a {teacher.task.name} model; distillation takes a run of "
                          f"{_distillable()}.")
    if teacher.fusion is not None:
        raise ConfigError(f"The teacher {run} reads table columns beside its images; distillation takes a teacher "
                          f"of images alone.")
    if sorted(teacher.classes) != sorted(classes):
        raise ConfigError(f"The teacher {run} knows the classes {', '.join(teacher.classes)}, the data has "
                          f"{', '.join(classes)}; distil on images of the teacher's classes.")
    return teacher


def teacher_probs(teacher, records: list, classes: list[str]) -> np.ndarray:
    """(n, len(classes)) teacher probabilities of `records`, columns in the order of `classes`."""
    order = [teacher.classes.index(c) for c in classes]
    rows = []
    for pred in teacher.iter_predict([r.path for r in records], batch_size=64):
        if not pred.ok:  # the scan read these files; a failure now means the file changed
            raise ConfigError(f"The teacher could not read {pred.source}: {pred.error}")
        rows.append([pred.probabilities[teacher.classes[i]] for i in order])
    return np.asarray(rows, np.float64)


@keras.saving.register_keras_serializable(package="visionflow")
class DistillationLoss(keras.losses.Loss):
    """The loss above; y_true holds the label's `units` columns (one sigmoid unit for two classes,
    one-hot otherwise), then the teacher's softened probabilities over all classes."""

    def __init__(self, units: int, temperature: float = 4.0, alpha: float = 0.8, label_smoothing: float = 0.0,
                 name: str = "distillation", **kwargs):
        super().__init__(name=name, **kwargs)
        self.units, self.temperature, self.alpha, self.label_smoothing = units, temperature, alpha, label_smoothing

    def call(self, y_true, y_pred):
        from keras import ops

        hard, soft = y_true[:, :self.units], y_true[:, self.units:]
        p = ops.clip(y_pred, 1e-7, 1 - 1e-7)
        if self.units == 1:
            ce = keras.losses.binary_crossentropy(hard, p, label_smoothing=self.label_smoothing)
            full = ops.concatenate([1 - p, p], axis=1)
        else:
            ce = keras.losses.categorical_crossentropy(hard, p, label_smoothing=self.label_smoothing)
            full = p
        student_t = ops.log_softmax(ops.log(full) / self.temperature, axis=1)
        kl = ops.sum(soft * (ops.log(ops.clip(soft, 1e-7, 1.0)) - student_t), axis=1)
        return self.alpha * self.temperature ** 2 * kl + (1 - self.alpha) * ce

    def get_config(self):
        return {**super().get_config(), "units": self.units, "temperature": self.temperature, "alpha": self.alpha,
                "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="visionflow")
class LabelAccuracy(keras.metrics.Metric):
    """Accuracy on the label columns of a distillation target (logged as `accuracy`)."""

    def __init__(self, units: int, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.units = units
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        from keras import ops

        hard = y_true[:, :self.units]
        if self.units == 1:
            right = ops.cast(ops.equal(hard[:, 0] > 0.5, y_pred[:, 0] > 0.5), "float32")
        else:
            right = ops.cast(ops.equal(ops.argmax(hard, 1), ops.argmax(y_pred, 1)), "float32")
        self.hits.assign_add(ops.sum(right))
        self.count.assign_add(ops.cast(ops.shape(right)[0], "float32"))

    def result(self):
        return self.hits / keras.ops.maximum(self.count, 1.0)

    def reset_state(self):
        self.hits.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def compile_student(model, cfg, classes: list[str], learning_rate: float) -> None:
    from visionflow.training.setup import make_optimizer

    units = 1 if len(classes) == 2 else len(classes)
    model.compile(optimizer=make_optimizer(cfg, learning_rate),
                  loss=DistillationLoss(units, cfg.distill_temperature, cfg.distill_alpha, cfg.label_smoothing or 0.0),
                  metrics=[LabelAccuracy(units)])


def datasets(task, cfg, folder, paths, batch_size: int, say: Callable[[str], None]):
    """The label datasets with the teacher's softened probabilities appended to every target."""
    from visionflow import augment as augment_lib
    from visionflow.data.pipeline import make_dataset
    from visionflow.data.resize import Resize
    from visionflow.training.setup import training_targets

    teacher = load_teacher(cfg.teacher, folder.classes)
    t0 = time.perf_counter()
    out = []
    for split in ("train", "validation"):
        records = folder.splits[split]
        soft = soften(teacher_probs(teacher, records, folder.classes), cfg.distill_temperature)
        out.append(np.concatenate([training_targets(task, folder, records), soft], axis=1))
    say(f"teacher {cfg.teacher}: soft targets (temperature {cfg.distill_temperature:g}, weight "
        f"{cfg.distill_alpha:g}) for {len(out[0]) + len(out[1]):,} images in {time.perf_counter() - t0:.0f}s")
    train, val = folder.splits["train"], folder.splits["validation"]
    train_ds = make_dataset(train, out[0], cfg.image_size, batch_size, training=True, seed=cfg.seed, cache=cfg.cache,
                            cache_path=paths.cache / "train", augment=augment_lib.build(cfg.augment, cfg.seed),
                            resize=Resize(cfg.resize))
    val_ds = make_dataset(val, out[1], cfg.image_size, batch_size, training=False, cache=cfg.cache,
                          cache_path=paths.cache / "validation", resize=Resize(cfg.resize))
    return train_ds, val_ds


def _distillable() -> str:
    """The tasks distillation takes, in words (from the task map)."""
    from visionflow import tasks

    return " or ".join(t.name for t in tasks.load_all() if t.distillable)


def check(cfg, task) -> None:
    """ConfigError for settings distillation cannot honour."""
    if not task.distillable:
        raise ConfigError(f"Distillation trains {_distillable()} students; --task {cfg.task} is not supported.")
    if cfg.mixup:
        raise ConfigError("--mixup is not supported with a teacher (the soft targets belong to single images).")
    if cfg.dp:
        raise ConfigError("--dp is not supported with a teacher: the teacher's answers on the training images "
                          "would carry them into the student unprotected.")
    if cfg.head_epochs:
        raise ConfigError("--head-epochs is not supported with a teacher; use --freeze-epochs.")


LATENCY_FORMATS = ("onnx", "tflite-int8")
LATENCY_RUNS = 50


def _latency_ms(folder: Path, image: np.ndarray) -> float:
    """Median milliseconds of one image through the exported model in `folder` (after a warm-up)."""
    from visionflow.predict import load
    from visionflow.runtime import latency

    predictor = load(folder)
    return latency(lambda: predictor.predict_arrays(image), LATENCY_RUNS)["p50_ms"]


def _describe(run: Path, paths: list[str], y: np.ndarray, classes: list[str], out: Path,
              say: Callable[[str], None]) -> dict:
    """Accuracy on `paths`, parameters, and per-format export size and latency of one run."""
    from visionflow.errors import ExportFailed
    from visionflow.export.exporter import export
    from visionflow.predict import load

    from types import SimpleNamespace

    from visionflow.rundir import read_json

    predictor = load(run, backend="keras")
    probs = teacher_probs(predictor, [SimpleNamespace(path=p) for p in paths], classes)
    row = {"run": str(run), "model": read_json(Path(run) / "labels.json").get("model"), "accuracy": round(float((probs.argmax(1) == y).mean()), 4),
           "parameters": int(keras.saving.load_model(Path(run) / "model.keras", compile=False).count_params()),
           "image_size": predictor.image_size, "formats": {}}
    image = np.full((1, *predictor.image_size, 3), 128, np.uint8)
    for fmt in LATENCY_FORMATS:
        try:
            (r,) = export(run, fmt, out=out / Path(run).name, say=lambda s: None)
        except ExportFailed as exc:
            say(f"{Path(run).name}: {str(exc).split(':')[0]}; no {fmt} latency")
            row["formats"][fmt] = {"megabytes": None, "agreement": None, "ms_per_image": None, "failed": True}
            continue
        row["formats"][fmt] = {"megabytes": round(r.size_bytes / 1e6, 2), "agreement": r.agreement,
                               "ms_per_image": round(_latency_ms(Path(r.path), image), 2)}
    return row


def compare(teacher: str | Path, student: str | Path, say: Callable[[str], None] = print) -> dict:
    """Teacher and student side by side on the student's validation images: accuracy, parameters,
    ONNX and TFLite int8 size and latency (batch of one, median of 50). Writes
    STUDENT/distillation.json; exports go to STUDENT/export/compare/."""
    from visionflow.rundir import RunPaths, read_json, write_json
    from visionflow.predictions import read_predictions

    paths = RunPaths(Path(student))
    classes = read_json(paths.labels)["classes"]
    files, y, _ = read_predictions(paths.root / "predictions" / "validation.csv", classes)
    out = paths.root / "export" / "compare"
    rows = {"teacher": _describe(Path(teacher), files, y, classes, out, say),
            "student": _describe(paths.root, files, y, classes, out, say)}
    result = {"images": len(files), **rows}
    write_json(paths.root / "distillation.json", result)
    say(format_table(result))
    return result


def format_table(result: dict) -> str:
    def ms(row, fmt):
        f = row["formats"].get(fmt)
        return "-" if not f or f["ms_per_image"] is None else f"{f['ms_per_image']:.2f}"

    def mb(row, fmt):
        f = row["formats"].get(fmt)
        return "-" if not f or f["megabytes"] is None else f"{f['megabytes']:.2f}"

    lines = [f"teacher vs student on {result['images']} validation images (latency: one image, median of "
             f"{LATENCY_RUNS} runs, this machine)",
             f"{'':<9}{'model':<20}{'input':>9}{'accuracy':>10}{'parameters':>12}{'ONNX ms':>9}"
             f"{'int8 ms':>9}{'ONNX MB':>9}{'int8 MB':>9}"]
    for name in ("teacher", "student"):
        r = result[name]
        size = "x".join(map(str, r["image_size"]))
        lines.append(f"{name:<9}{str(r['model'])[:19]:<20}{size:>9}{r['accuracy']:10.3f}{r['parameters']:12,d}"
                     f"{ms(r, 'onnx'):>9}{ms(r, 'tflite-int8'):>9}{mb(r, 'onnx'):>9}{mb(r, 'tflite-int8'):>9}")
    t, s = result["teacher"], result["student"]
    lines.append(f"student: {s['parameters'] / t['parameters']:.1%} of the teacher's parameters, accuracy "
                 f"{s['accuracy'] - t['accuracy']:+.3f}")
    return "\n".join(lines)
