"""Single-label classification: each image belongs to exactly one class.

Data: DIR/<class>/*.jpg (or DIR/train + DIR/validation holding class folders), or a labels CSV
(`image,label`, with any further columns for `--columns`). Two classes are
learnt with one sigmoid output (the probability of classes[1]) and binary cross-entropy; more
with a softmax and categorical cross-entropy. This module is the only place that knows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import visionflow.tasks.classification.evaluate as ev
from visionflow.tasks.base import TASKS, EvaluationData
from visionflow.tasks.labelled import ColumnOptions, LabelTask


@dataclass
class Prediction:
    """The result for one image; `error` is set (and the rest empty) when it could not be read."""

    source: str
    label: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    top: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {"source": self.source, "label": self.label, "confidence": self.confidence,
                "top": [{"label": l, "probability": p} for l, p in self.top],
                "probabilities": self.probabilities, "error": self.error}

    def csv_row(self, classes: list[str]) -> list[str]:
        probs = [f"{self.probabilities[c]:.6f}" if self.ok else "" for c in classes]
        return [self.source, self.label or "", f"{self.confidence:.6f}" if self.ok else "", *probs, self.error or ""]

    def text(self) -> str:
        return "  ".join(f"{label} {p:.3f}" for label, p in self.top)


class Classification(LabelTask):
    distillable = True
    name = "classification"
    description = "One class per image: softmax (sigmoid for two classes), cross-entropy, accuracy."
    data_help = ("DIR/<class>/*.jpg, or DIR/train + DIR/validation holding class folders, or DIR/labels.csv "
                 "(image,label and any further columns)")
    monitor = "val_accuracy"
    parity = "top-1 agreement"
    private = True
    options = ColumnOptions
    evaluation = ev
    scratch_challenger = True

    # -- data ---------------------------------------------------------------------------------
    def load_data(self, cfg, split_file=None):
        from visionflow.data.dataset import load_folder, load_label_table
        from visionflow.data.labels_csv import has_label_table

        if has_label_table(Path(cfg.data), cfg.labels or None):
            return load_label_table(cfg.data, cfg.image_size, cfg.val_split, cfg.seed, labels=cfg.labels or None,
                                    split_file=split_file)
        return load_folder(cfg.data, cfg.image_size, cfg.val_split, cfg.seed, split_file=split_file)

    def targets(self, records, classes):
        index = {c: i for i, c in enumerate(classes)}
        return np.array([index[r.label] for r in records], dtype=np.int64)

    def encode(self, targets, classes):
        return encode_labels(targets, len(classes))

    def evaluation_data(self, data, predictor, labels=None):
        from visionflow.data.labels_csv import LABELS_FILE, csv_records, has_label_table
        from visionflow.data.scan import check_records, scan_split
        from visionflow.errors import DataError

        data = Path(data)
        if has_label_table(data, labels):  # image,label (and columns) in a CSV
            csv_path = Path(labels) if labels else data / LABELS_FILE
            records = check_records(csv_records(data, csv_path, "evaluation", target="label"), predictor.image_size)
            unknown = sorted({r.label for r in records if r.ok} - set(predictor.classes))
            if unknown:
                raise DataError(f"{csv_path} has class(es) the model does not know: {', '.join(unknown)}; its classes "
                                f"are {', '.join(predictor.classes)}.")
            where = f"listed in {csv_path}"
        else:
            records = scan_split(data, "evaluation", predictor.image_size, classes=predictor.classes)
            where = f"in {data}; expected {data}/<class>/*.jpg (or a labels.csv)"
        good = [r for r in records if r.ok]
        if not good:
            raise DataError(f"No usable images {where} with the model's classes ({', '.join(predictor.classes)}).")
        return EvaluationData(records, good, self.targets(good, predictor.classes))

    def class_weights(self, folder):
        return class_weights([folder.report["counts"]["train"]["classes"].get(c, 0) for c in folder.classes])

    # -- model --------------------------------------------------------------------------------
    def units(self, classes):
        return 1 if len(classes) == 2 else len(classes)

    def head(self, x, classes, dropout, regularizer=None):
        from visionflow.errors import ConfigError
        from visionflow.models.heads import dense_head

        if len(classes) < 2:
            raise ConfigError(f"A classifier needs at least 2 classes. Received: num_classes={len(classes)}")
        activation = "sigmoid" if len(classes) == 2 else "softmax"
        return dense_head(x, self.units(classes), activation, dropout, regularizer)

    def compile_parts(self, classes, label_smoothing: float):
        """(loss, accuracy metric) for `len(classes)` classes."""
        import keras

        if len(classes) == 2:
            return (keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing),
                    keras.metrics.BinaryAccuracy(name="accuracy"))
        return (keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
                keras.metrics.CategoricalAccuracy(name="accuracy"))

    # -- outputs ------------------------------------------------------------------------------
    def probabilities(self, raw, predictor):
        from visionflow.calibration import apply_temperature

        probs = np.asarray(raw, np.float64)
        if probs.shape[1] == 1:  # the sigmoid's probability of classes[1]
            probs = np.concatenate([1.0 - probs, probs], axis=1)
        return apply_temperature(probs, predictor.temperature)

    def prediction(self, source, probs, predictor, top_k):
        classes = predictor.classes
        k = max(1, min(top_k, len(classes)))
        order = np.argsort(-probs, kind="stable")
        return Prediction(source=source, label=classes[order[0]], confidence=float(probs[order[0]]),
                          probabilities={c: float(v) for c, v in zip(classes, probs)},
                          top=[(classes[i], float(probs[i])) for i in order[:k]])

    def failure(self, source, error):
        return Prediction(source=source, error=error)

    def csv_header(self, classes):
        return ["path", "label", "confidence", *classes, "error"]

    def score(self, logits, index, classes):
        if len(classes) == 2:  # one sigmoid logit: evidence for classes[1], against classes[0]
            return logits[:, 0] if index == 1 else -logits[:, 0]
        return logits[:, index]

    # -- evaluation and report ---------------------------------------------------------------
    def after_validation(self, paths, predictor, result, cfg, say: Callable[[str], None]):
        """Temperature scaling fitted on the validation predictions (with --calibrate)."""
        if not cfg.calibrate:
            return None
        from visionflow.tasks.classification.calibrate import calibrate_run

        return calibrate_run(paths, predictor, result, say)

    def summary_tiles(self, m):
        return [("accuracy", m.get("accuracy")), ("macro F1", (m.get("macro_avg") or {}).get("f1-score")),
                ("ECE", m.get("ece"))]

    def report_sections(self, page, prefix, title, m, rows, classes, plots, plot_prefix, resolve, explainer,
                        extra=None):
        import visionflow.report.sections as sec

        sec.metrics_section(page, f"{prefix}metrics", f"{title}: per-class metrics", m, classes)
        sec.confusion_section(page, f"{prefix}confusion", f"{title}: confusion matrix", plots, plot_prefix, m, classes)
        if len(classes) == 2 and "roc_auc" in m:
            sec.roc_section(page, f"{prefix}roc", f"{title}: ROC and precision-recall", plots, plot_prefix, m)
        sec.calibration_section(page, f"{prefix}calibration", f"{title}: calibration", plots, plot_prefix, m,
                                (extra or {}).get("calibration"))
        sec.gallery_section(page, f"{prefix}gallery", f"{title}: most confidently wrong", rows, resolve, explainer)

    # -- export -------------------------------------------------------------------------------
    def output_spec(self, classes):
        if len(classes) == 2:
            return {"activation": "sigmoid", "shape": [None, 1], "meaning": "probability of classes[1]"}
        return {"activation": "softmax", "shape": [None, len(classes)],
                "meaning": "probability of each class, in the order of classes"}

    def agreement(self, reference, got, predictor):
        return float((got.argmax(1) == reference.argmax(1)).mean())

    def disagreement_note(self, reference, got, predictor):
        flips = got.argmax(1) != reference.argmax(1)
        if not flips.any():
            return ""
        top2 = np.sort(reference[flips], axis=1)[:, -2:]
        return (f"the {int(flips.sum())} changed answers had a top-2 margin of at most "
                f"{float((top2[:, 1] - top2[:, 0]).max()):.3f} in the .keras model")


def class_weights(counts: list[int]) -> dict[int, float]:
    """Inverse-frequency weights, scaled so that a balanced dataset gets 1.0 for every class."""
    total, n = sum(counts), len(counts)
    return {i: total / (n * c) for i, c in enumerate(counts) if c > 0}


def encode_labels(labels, num_classes: int) -> np.ndarray:
    """Binary: (n, 1) float 0/1 for a sigmoid output; otherwise (n, num_classes) one-hot."""
    y = np.asarray(labels, dtype=np.int64)
    if num_classes == 2:
        return y.astype(np.float32)[:, None]
    return np.eye(num_classes, dtype=np.float32)[y]


TASKS.add(Classification.name, Classification())
