"""What the tasks that label images share: how they build, feed, compile and finish a run.

`LabelTask` is the `Task` of a model that gives labels (classes, or any number of labels) from a
registered network plus the task's head: the recipe completes its settings from the scanned data,
the shared tf.data pipeline feeds it, and after training the kept model is evaluated on the
validation (and test) images into metrics.json, plots and report.html (`visionflow.workflow`).
"""

from __future__ import annotations


import numpy as np

from dataclasses import dataclass

from visionflow.settings import TaskOptions, option
from visionflow.tasks.base import Task


@dataclass(frozen=True)
class LabelOptions(TaskOptions):
    """The settings of tasks that read their labels from a labels CSV."""

    labels: str = option("", "The labels CSV of a single-folder DIR: header image,label (classification), "
                             "image,labels (multi-label; labels separated by spaces) or image and numeric columns "
                             "(regression), plus any further columns; default DIR/labels.csv (classification reads "
                             "class folders when there is none).", metavar="CSV")


@dataclass(frozen=True)
class ColumnOptions(LabelOptions):
    """Label settings of tasks whose models may read table columns beside each image."""

    columns: str = option("", "Table columns of the labels CSV the model reads beside each image: NAME,NAME,... or "
                              "auto (every column but image and the label); numeric or categorical, detected; missing "
                              "values imputed with an indicator.", metavar="COLS")


class LabelTask(Task):
    """A task whose models label images: a registered feature network plus the task's head."""

    on_features = True
    options = LabelOptions
    parts = {"finish": "visionflow.workflow:evaluate_labels"}  # the shared evaluation of labels

    def build(self, cfg, classes: list[str]):
        """The untrained Keras model of `cfg` for `classes`: a registered network plus the head."""
        from visionflow.models import build_model

        return build_model(cfg.model, cfg.image_size, classes, cfg.dropout, cfg.l1, cfg.l2, cfg.weights,
                           task=self)

    def datasets(self, cfg, folder, paths, batch_size: int):
        """(training, validation) datasets of (image, target) batches of the ImageFolder `folder`:
        decoded at the run's size and resize mode, cached as `cfg.cache` says, the training one
        shuffled, augmented and mixed as configured. A run that reads table columns gets them beside
        each image (`visionflow.tabular.fusion.matrix`)."""
        from visionflow import augment as augment_lib
        from visionflow.data.pipeline import make_dataset
        from visionflow.data.resize import Resize
        from visionflow.tabular.fusion import matrix
        from visionflow.training.setup import training_targets

        train, val = folder.splits["train"], folder.splits["validation"]
        train_ds = make_dataset(train, training_targets(self, folder, train), cfg.image_size, batch_size,
                                training=True, seed=cfg.seed, cache=cfg.cache, cache_path=paths.cache / "train",
                                augment=augment_lib.build(cfg.augment, cfg.seed), mixup=cfg.mixup,
                                resize=Resize(cfg.resize), columns=matrix(folder, train))
        val_ds = make_dataset(val, training_targets(self, folder, val), cfg.image_size, batch_size, training=False,
                              cache=cfg.cache, cache_path=paths.cache / "validation", resize=Resize(cfg.resize),
                              columns=matrix(folder, val))
        return train_ds, val_ds

    def statistics_dataset(self, cfg, folder, batch_size: int):
        """Unaugmented training batches for precise batch-norm statistics: a seeded sample of at
        most PRECISE_BN_IMAGES training images, cached in memory.

        The images are shuffled once: batches in folder order hold one class each, and averaging
        such single-class batch variances gave statistics that broke a 5-class model at inference
        (40% accuracy on its own training images).
        """
        from visionflow.data.pipeline import make_dataset
        from visionflow.data.resize import Resize
        from visionflow.tabular.fusion import matrix
        from visionflow.training.precise_bn import PRECISE_BN_IMAGES
        from visionflow.training.setup import training_targets

        records = folder.splits["train"]
        order = np.random.default_rng(cfg.seed).permutation(len(records))[:PRECISE_BN_IMAGES]
        sample = [records[i] for i in order]
        return make_dataset(sample, training_targets(self, folder, sample), cfg.image_size, batch_size,
                            training=False, cache="memory", resize=Resize(cfg.resize), columns=matrix(folder, sample))

    def complete(self, cfg, facts):
        """(cfg with the settings that depend on the scanned data filled in, a line saying what was
        chosen or None); by default the recipe's (`visionflow.recipe.resolve`)."""
        from visionflow.recipe import resolve

        return resolve(cfg, facts)

    def compile(self, model, cfg, classes: list[str] | int, learning_rate: float) -> None:
        """Compiles with the task's loss and metric for `classes` (names, or a count) and the run's
        optimizer."""
        from visionflow.training.setup import make_optimizer

        names = [f"class_{i}" for i in range(classes)] if isinstance(classes, int) else list(classes)
        loss, metric = self.compile_for(model, cfg, names)
        model.compile(optimizer=make_optimizer(cfg, learning_rate), loss=loss, metrics=[metric])

    def meta(self, cfg, classes: list[str]) -> dict:
        """labels.json: what a saved model needs besides its weights."""
        from visionflow.data.resize import Resize

        return {"task": cfg.task, "classes": classes, "image_size": list(cfg.image_size), "model": cfg.model,
                **Resize(cfg.resize).to_meta()}

    # -- evaluation and report: the task's `evaluation` module ---------------------------------
    evaluation = None  # the module of the task's metrics: compute_metrics, format_table, prediction_rows, write_plots

    def decisions(self, predictor) -> dict:
        """The fitted decisions its metrics and prediction rows take beside the classes (a
        multi-label model's thresholds); none by default."""
        return {}

    def compute_metrics(self, targets, probs, predictor):
        return self.evaluation.compute_metrics(targets, probs, predictor.classes, **self.decisions(predictor))

    def format_table(self, m, classes):
        return self.evaluation.format_table(m, classes)

    def prediction_rows(self, paths, targets, probs, predictor):
        return self.evaluation.prediction_rows(paths, targets, probs, predictor.classes, **self.decisions(predictor))

    def write_plots(self, result, classes, folder, name, prefix=""):
        return self.evaluation.write_plots(result, classes, folder, name, prefix)

    def summary_tiles(self, m):
        return self.evaluation.summary_tiles(m)

    def report_sections(self, page, prefix, title, m, rows, classes, plots, plot_prefix, resolve, explainer,
                        extra=None):
        self.evaluation.report_sections(page, prefix, title, m, rows, classes, plots, plot_prefix, resolve, explainer)
