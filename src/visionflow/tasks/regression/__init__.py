"""Regression: one or more numbers per image (a steering angle, an age, a ripeness, a count).

Data: a labels CSV with an `image` column and numeric target columns, or class folders named by
numbers (`visionflow.tasks.regression.data`). The model is a registered feature network with a
linear output per target; it predicts standardised targets and its last layer
(`layers.Destandardize`) restores their units, so every saved or exported model answers in the
targets' own units. The loss is Huber (or `--loss mse|mae`) on standardised residuals. Mirroring
or turning an image changes what many targets measure (a mirrored road turns the other way), so
the default augmentation (`gentle`) neither flips nor rotates; `--augment` still chooses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.errors import ConfigError
import visionflow.tasks.regression.evaluate as ev
from visionflow.tasks.base import TASKS, EvaluationData
from visionflow.settings import option
from visionflow.tasks.labelled import LabelOptions, LabelTask
from visionflow.tasks.regression.data import load_regression, values

OUTPUT_LAYER = "values"  # the Destandardize layer: the model's output in the targets' units
PARITY_SHARE = 0.01  # an export's values must lie within this share of each target's spread (std)


@dataclass
class ValuesPrediction:
    """The numbers predicted for one image, by target name; `error` set when it could not be read."""

    source: str
    values: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def probabilities(self) -> dict[str, float]:
        """The model's outputs by name, as the shared evaluation reads every task's predictions."""
        return self.values

    def to_dict(self) -> dict:
        return {"source": self.source, "values": self.values, "error": self.error}

    def csv_row(self, classes: list[str]) -> list[str]:
        return [self.source, *(f"{self.values[c]:.6g}" if self.ok else "" for c in classes), self.error or ""]

    def text(self) -> str:
        return "  ".join(f"{name} {value:.4g}" for name, value in self.values.items())


def statistics(model) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of the training targets, as the model's output layer holds them."""
    return model.get_layer(OUTPUT_LAYER).statistics()


@dataclass(frozen=True)
class RegressionOptions(LabelOptions):
    targets: str = option("", "The numeric columns of the labels CSV to predict, NAME,NAME,...; unset: every column "
                              "of numbers (class folders named by numbers: the folder's number, 'value').",
                          metavar="COLS", shown="every numeric column")
    loss: str | None = option(None, "Training loss on standardised targets: huber (quadratic within one standard "
                                    "deviation, linear beyond), mse or mae.", choices=("huber", "mse", "mae"),
                              kind=str, shown="huber")


class Regression(LabelTask):
    name = "regression"
    description = "Numbers per image: a linear output per target, Huber loss on standardised targets; MAE, RMSE, R^2."
    data_help = ("DIR/labels.csv (image and numeric columns; --targets picks them), or class folders named by "
                 "numbers (DIR/18/, DIR/25.5/)")
    monitor = "val_loss"
    parity = f"values within {PARITY_SHARE:.0%} of each target's spread"
    mirrorable = False
    segmentable = False
    curve_metric = ("mae", "MAE (targets' units)")
    carried = ("targets",)
    networks = "visionflow.tasks.regression.layers"
    options = RegressionOptions
    evaluation = ev
    declines = ("calibrate", "class_weight", "mixup", "label_smoothing")

    def check_config(self, cfg):
        self.check_declined(cfg)
        if cfg.monitor not in (None, "val_loss"):
            raise ConfigError(f"--monitor for regression is val_loss. Received: {cfg.monitor}")
        if cfg.targets and not cfg.targets.strip(", "):
            raise ConfigError("--targets names one or more columns: NAME,NAME,...")
        filled = {"loss": cfg.loss or "huber", "mixup": 0.0, "label_smoothing": 0.0,
                  "augment": cfg.augment or "gentle"}
        return super().check_config(cfg.replace(**filled))

    # -- data ---------------------------------------------------------------------------------
    def load_data(self, cfg, split_file=None):
        return load_regression(cfg.data, cfg.image_size, cfg.val_split, cfg.seed, labels=cfg.labels or None,
                               targets=cfg.targets, split_file=split_file)

    targets = staticmethod(values)  # a column per target (the "classes" of a regression are its targets)

    def encode(self, targets, classes):
        return np.asarray(targets, np.float32)

    def evaluation_data(self, data, predictor, labels=None):
        from visionflow.data.labels_csv import LABELS_FILE, csv_records
        from visionflow.data.scan import check_records
        from visionflow.errors import DataError
        from visionflow.tasks.regression.data import FOLDER_TARGET, _folder_records, mark_targets

        data = Path(data)
        csv_path = Path(labels) if labels else data / LABELS_FILE
        if csv_path.is_file():
            from visionflow.data.labels_csv import read_header

            header = [h.strip() for h in read_header(csv_path) or []]
            missing = [c for c in predictor.classes if c not in header]
            if missing:
                raise DataError(f"{csv_path} has no {missing[0]!r} column; the model predicts "
                                f"{', '.join(predictor.classes)}.")
            records = check_records(csv_records(data, csv_path, "evaluation", target=None), predictor.image_size)
        elif predictor.classes == [FOLDER_TARGET]:
            records = [r for recs in _folder_records(data, 0.1, predictor.image_size)[2].values() for r in recs]
        else:
            raise DataError(f"No {LABELS_FILE} in {data}: give one with an image column and the model's targets "
                            f"({', '.join(predictor.classes)}), or pass --labels CSV.")
        good = [r for r in mark_targets(records, predictor.classes) if r.ok]
        if not good:
            raise DataError(f"No usable images with numeric {', '.join(predictor.classes)} in {data}.")
        return EvaluationData(records, good, self.targets(good, predictor.classes),
                              {"labels_file": str(csv_path)} if csv_path.is_file() else {})

    # -- model --------------------------------------------------------------------------------
    def units(self, classes):
        return len(classes)

    def head(self, x, classes, dropout, regularizer=None):
        from visionflow.models.heads import dense_head
        from visionflow.tasks.regression.layers import Destandardize

        if not classes:
            raise ConfigError("A regression model needs at least one target.")
        standardized = dense_head(x, len(classes), None, dropout, regularizer)
        return Destandardize(len(classes), name=OUTPUT_LAYER)(standardized)

    def adapt(self, model, folder) -> None:
        """The output layer's statistics from the training targets (before the first epoch)."""
        y = self.targets(folder.splits["train"], folder.classes)
        std = y.std(axis=0)
        model.get_layer(OUTPUT_LAYER).set_statistics(y.mean(axis=0), np.where(std > 0, std, 1.0))

    def compile_for(self, model, cfg, classes):
        import keras

        from visionflow.tasks.regression.layers import StandardizedLoss

        _, std = statistics(model)
        return StandardizedLoss(cfg.loss or "huber", std), keras.metrics.MeanAbsoluteError(name="mae")

    def compile_parts(self, classes, label_smoothing):
        raise ConfigError("A regression model's loss depends on its targets' spread: compile it with compile_for.")

    def explain_target(self, probs):
        return 0

    # -- outputs ------------------------------------------------------------------------------
    def probabilities(self, raw, predictor):
        return np.asarray(raw, np.float64)

    def prediction(self, source, probs, predictor, top_k):
        return ValuesPrediction(source=source, values={c: float(v) for c, v in zip(predictor.classes, probs)})

    def failure(self, source, error):
        return ValuesPrediction(source=source, error=error)

    def csv_header(self, classes):
        return ["path", *classes, "error"]

    # -- evaluation and report ---------------------------------------------------------------
    def fit_thresholds(self, paths, predictor, folder, cfg, say: Callable[[str], None]):
        """The training targets' statistics into labels.json (what the model was taught to expect)."""
        from visionflow.rundir import read_json, write_json

        y = self.targets(folder.splits["train"], folder.classes)
        stats = {c: {"mean": float(col.mean()), "std": float(col.std()), "min": float(col.min()),
                     "max": float(col.max())} for c, col in zip(folder.classes, y.T)}
        meta = read_json(paths.labels)
        meta["targets"] = stats
        write_json(paths.labels, meta)
        return {"targets": stats}


    # -- export -------------------------------------------------------------------------------
    def output_spec(self, classes):
        return {"activation": "linear", "shape": [None, len(classes)],
                "meaning": "each target's predicted value in its own units, in the order of classes (the "
                           "targets); labels.json 'targets' holds their training mean, std, min and max"}

    def _tolerance(self, predictor) -> np.ndarray:
        _, std = statistics(predictor.model)
        return PARITY_SHARE * std

    quantizable = False  # int8 moves values by a few percent of their spread (measured: 85% within 1%)

    def disagreement_note(self, reference, got, predictor):
        worst = np.abs(got - reference).max(axis=0) / np.maximum(self._tolerance(predictor) / PARITY_SHARE, 1e-12)
        return ("int8 moved the values by up to " + ", ".join(f"{w:.1%}" for w in worst) +
                " of their targets' std; export a float format (onnx, tflite) for regression.")

    def agreement(self, reference, got, predictor):
        return float((np.abs(got - reference) <= self._tolerance(predictor)[None, :]).mean())

    def float_parity(self, reference, got, predictor, tolerance):
        tolerance = self._tolerance(predictor)
        ok = bool((np.abs(got - reference) <= tolerance[None, :]).all())
        return ok, f"every value within {PARITY_SHARE:.0%} of its target's std ({', '.join(f'{t:.3g}' for t in tolerance)})"


TASKS.add(Regression.name, Regression())
