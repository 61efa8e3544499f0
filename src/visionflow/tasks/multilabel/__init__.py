"""Multi-label classification: each image holds any subset of the labels (none, one or several).

Data: images plus a labels CSV (`visionflow.tasks.multilabel.labels_csv`). The model ends in one sigmoid per
label, trained with binary cross-entropy; a label is predicted where its probability reaches its
threshold, fitted per label on the validation images (highest F1) and stored in labels.json, or
one `--threshold` for all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.errors import ConfigError
import visionflow.tasks.multilabel.evaluate as ev
from visionflow.tasks.base import TASKS, EvaluationData
from visionflow.settings import check, option
from visionflow.tasks.labelled import ColumnOptions, LabelTask
from visionflow.tasks.multilabel.labels_csv import label_matrix, load_multilabel


@dataclass
class LabelsPrediction:
    """The labels found in one image: every label whose probability reaches its threshold."""

    source: str
    labels: list[str] = field(default_factory=list)
    probabilities: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {"source": self.source, "labels": self.labels, "probabilities": self.probabilities, "error": self.error}

    def csv_row(self, classes: list[str]) -> list[str]:
        probs = [f"{self.probabilities[c]:.6f}" if self.ok else "" for c in classes]
        return [self.source, " ".join(self.labels), *probs, self.error or ""]

    def text(self) -> str:
        found = "  ".join(f"{label} {self.probabilities[label]:.3f}" for label in self.labels)
        return found or "(no label)"


def thresholds_of(predictor) -> np.ndarray:
    """The predictor's decision threshold per label, in the order of its classes."""
    given = predictor.thresholds or {}
    return np.array([float(given.get(c, ev.DEFAULT_THRESHOLD)) for c in predictor.classes])


@dataclass(frozen=True)
class MultiLabelOptions(ColumnOptions):
    threshold: float | None = option(None, "One decision threshold for every label; unset: fitted per label on the "
                                           "validation images (highest F1).", kind=float, shown="fitted")

    def check(self) -> None:
        check(self.threshold is None or 0 < self.threshold < 1,
              f"threshold must be between 0 and 1. Received: threshold={self.threshold}")


class MultiLabel(LabelTask):
    name = "multilabel"
    private = True
    options = MultiLabelOptions
    evaluation = ev
    description = "Any number of labels per image: one sigmoid per label, binary cross-entropy, mAP and F1."
    data_help = "DIR/labels.csv (header image,labels; labels separated by spaces) beside the images"
    monitor = "val_loss"
    parity = "per-label decision agreement"
    exclusive = False

    def check_config(self, cfg):
        if cfg.calibrate:
            raise ConfigError("--calibrate fits a softmax temperature for classifiers; a multi-label model gets "
                              "per-label decision thresholds instead (or --threshold).")
        if cfg.class_weight != "none":
            raise ConfigError("--class-weight auto is for single-label classes; it is not supported with --task multilabel.")
        return super().check_config(cfg)

    # -- data ---------------------------------------------------------------------------------
    def load_data(self, cfg, split_file=None):
        return load_multilabel(cfg.data, cfg.image_size, cfg.val_split, cfg.seed, labels=cfg.labels or None,
                               split_file=split_file)

    targets = staticmethod(label_matrix)  # a 0/1 matrix: a column per label

    def encode(self, targets, classes):
        return np.asarray(targets, np.float32)

    def evaluation_data(self, data, predictor, labels=None):
        from visionflow.tasks.multilabel.labels_csv import LABELS_FILE, csv_records
        from visionflow.data.scan import check_records
        from visionflow.errors import DataError

        data = Path(data)
        csv_path = Path(labels) if labels else data / LABELS_FILE
        records = check_records(csv_records(data, csv_path, "evaluation"), predictor.image_size)
        good = [r for r in records if r.ok]
        if not good:
            raise DataError(f"No usable images listed in {csv_path}.")
        unknown = sorted({label for r in good for label in r.labels or ()} - set(predictor.classes))
        if unknown:
            raise DataError(f"{csv_path} has label(s) the model does not know: {', '.join(unknown)}; its labels are "
                            f"{', '.join(predictor.classes)}.")
        return EvaluationData(records, good, self.targets(good, predictor.classes), {"labels_file": str(csv_path)})

    # -- model --------------------------------------------------------------------------------
    def units(self, classes):
        return len(classes)

    def head(self, x, classes, dropout, regularizer=None):
        from visionflow.models.heads import dense_head

        if not classes:
            raise ConfigError("A multi-label model needs at least one label.")
        return dense_head(x, len(classes), "sigmoid", dropout, regularizer, name="probabilities")

    def compile_parts(self, classes, label_smoothing):
        import keras

        return (keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing),
                keras.metrics.BinaryAccuracy(name="accuracy"))  # the share of label decisions right at 0.5

    # -- outputs ------------------------------------------------------------------------------
    def probabilities(self, raw, predictor):
        return np.asarray(raw, np.float64)

    def prediction(self, source, probs, predictor, top_k):
        thresholds = thresholds_of(predictor)
        order = np.argsort(-probs, kind="stable")
        return LabelsPrediction(source=source,
                                labels=[predictor.classes[i] for i in order if probs[i] >= thresholds[i]],
                                probabilities={c: float(v) for c, v in zip(predictor.classes, probs)})

    def failure(self, source, error):
        return LabelsPrediction(source=source, error=error)

    def csv_header(self, classes):
        return ["path", "labels", *classes, "error"]

    # -- evaluation and report ---------------------------------------------------------------
    def decisions(self, predictor):
        return {"thresholds": thresholds_of(predictor)}

    def fit_thresholds(self, paths, predictor, folder, cfg, say: Callable[[str], None]):
        """Per-label thresholds from the validation images (or --threshold), into labels.json."""
        from visionflow.rundir import read_json, write_json

        classes = predictor.classes
        if cfg.threshold is not None:
            found = np.full(len(classes), float(cfg.threshold))
            how = f"--threshold {cfg.threshold:g} for every label"
        else:
            records = folder.splits["validation"]
            probs = np.stack([self._probs(p, predictor) for p in predictor.iter_predict([r.path for r in records])])
            found = ev.fit_thresholds(self.targets(records, classes), probs)
            how = f"fitted per label on {len(records)} validation images (highest F1)"
        thresholds = {c: float(t) for c, t in zip(classes, found)}
        meta = read_json(paths.labels)
        meta["thresholds"] = thresholds
        write_json(paths.labels, meta)
        predictor.thresholds = thresholds
        say(f"thresholds: {how}: " + ", ".join(f"{c} {t:.2f}" for c, t in thresholds.items()))
        return {"thresholds": thresholds}

    def _probs(self, prediction, predictor) -> np.ndarray:
        if not prediction.ok:  # the scan decoded it; it changed since: counts as all-zero
            return np.zeros(len(predictor.classes))
        return np.array([prediction.probabilities[c] for c in predictor.classes])


    # -- export -------------------------------------------------------------------------------
    def output_spec(self, classes):
        return {"activation": "sigmoid", "shape": [None, len(classes)],
                "meaning": "independent probability of each label, in the order of classes; a label is present "
                           "where its probability reaches thresholds[label]"}

    def agreement(self, reference, got, predictor):
        t = thresholds_of(predictor)[None, :]
        return float(((got >= t) == (reference >= t)).mean())


TASKS.add(MultiLabel.name, MultiLabel())
