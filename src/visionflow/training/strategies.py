"""Ways of training that change how the loop runs, composed by the trainer instead of branching it.

Each `Strategy` is asked at fixed points of a run (`training.trainer`): to check the settings, to
settle them once the recipe has run, to adapt the freshly built model, to supply the datasets, to
run before the epochs, to compile the model, and to add callbacks around the run's own. A run
uses the strategies its settings ask for (`for_run`): table columns beside the images
(`--columns`), DP-SGD (`--dp`), distillation
(`--teacher`), the head phase on cached backbone features (`--head-epochs`) and precise
batch-norm statistics (from-scratch models with batch normalisation). Multi-worker training
(`--distributed`) replaces the loop itself (`training.distributed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from visionflow.errors import ConfigError


@dataclass
class Run:
    """What a strategy may read of the run it takes part in."""

    cfg: object  # TrainConfig
    task: object  # visionflow.tasks.Task
    folder: object  # ImageFolder
    paths: object  # RunPaths
    state: dict
    say: Callable[[str], None]
    batch: int = 0  # the global batch
    images: int = 0  # training examples per epoch
    class_weight: dict | None = None
    distributed: bool = False
    notes: dict = field(default_factory=dict)


class Strategy:
    """The hooks the trainer calls; each does nothing unless a strategy overrides it."""

    def check(self, cfg, task, distributed: bool) -> None:
        """ConfigError for settings the strategy cannot honour (before any data is read)."""

    def settle(self, cfg, new_run: bool, backbone: bool):
        """`cfg` once the recipe has filled it in."""
        return cfg

    def data(self, folder, cfg, say: Callable[[str], None]) -> None:
        """The scanned and split data of the run (a fold's, in cross-validation), before any model."""

    def prepare(self, model, cfg, say: Callable[[str], None]):
        """The freshly built model of a new run, adapted (or as it is)."""
        return model

    def datasets(self, run: Run):
        """(training, validation) datasets in place of the task's, or None."""
        return None

    def begin(self, run: Run, model, val_ds) -> None:
        """Before the first epoch (after a resume too)."""

    def compile(self, run: Run, model, learning_rate: float) -> bool:
        """Compiles `model` in place of the task; False where the task compiles it."""
        return False

    def after_compile(self, run: Run, model) -> None:
        """After every compile (a fresh phase)."""

    def callbacks(self, run: Run, model) -> tuple[list, list]:
        """(callbacks before the run keeper, callbacks after it): the keeper writes history.csv, so
        what a strategy adds to an epoch's logs runs before it."""
        return [], []

    def finish(self, paths, state: dict) -> None:
        """After the last epoch, once state.json says the run finished."""


class Private(Strategy):
    """DP-SGD (`--dp`): per-example clipped, noised gradients, and the privacy spent each epoch."""

    def check(self, cfg, task, distributed):
        from visionflow.privacy import training as privacy

        privacy.check(cfg, task, distributed)

    def settle(self, cfg, new_run, backbone):
        from visionflow.privacy import training as privacy

        return privacy.settle(cfg, pretrained=cfg.weights != "none" and backbone) if new_run else cfg

    def prepare(self, model, cfg, say):
        from visionflow.privacy import training as privacy

        return privacy.private_model(model, cfg, say) if model is not None else model

    def begin(self, run, model, val_ds):
        from visionflow.privacy import training as privacy

        run.notes["budget"] = privacy.start(run.cfg, run.state, run.images, run.batch, run.say)

    def after_compile(self, run, model):
        from visionflow.privacy.dpsgd import make_private

        budget = run.notes["budget"]
        make_private(model, model.loss, budget.clip, budget.noise_multiplier, budget.batch_size)

    def callbacks(self, run, model):
        from visionflow.privacy import training as privacy

        return [privacy.ledger(run.notes["budget"], model)], []

    def finish(self, paths, state):
        from visionflow.privacy.training import summary
        from visionflow.rundir import read_json, write_json

        if state.get("privacy"):  # the model's metadata (and so its exports) says how private it is
            write_json(paths.labels, {**read_json(paths.labels), **summary(state)})


class Distilled(Strategy):
    """Distillation (`--teacher RUN`): the teacher's softened answers join the labels, and the
    loss blends both."""

    def check(self, cfg, task, distributed):
        from visionflow import distillation

        distillation.check(cfg, task)
        if distributed:
            raise ConfigError("--teacher does not train with --distributed yet; train it on one worker.")

    def settle(self, cfg, new_run, backbone):
        return cfg.replace(head_epochs=0) if cfg.head_epochs else cfg  # the head phase trains on labels alone

    def datasets(self, run):
        from visionflow import distillation  # also registers the distillation loss a checkpoint names

        return distillation.datasets(run.cfg, run.folder, run.paths, run.batch, run.say)

    def compile(self, run, model, learning_rate):
        from visionflow import distillation

        distillation.compile_student(model, run.cfg, run.folder.classes, learning_rate)
        return True


class HeadPhase(Strategy):
    """Transfer learning's head phase (`--head-epochs`): the classifier trained alone on the frozen
    backbone's cached features before fine-tuning."""

    def begin(self, run, model, val_ds):
        from visionflow.models import MODELS
        from visionflow.training.head import train_head

        state, cfg = run.state, run.cfg
        if MODELS.get(cfg.model).backbone and cfg.head_epochs and state["epoch"] == 0 and not state["checkpoint"]:
            state["head"] = train_head(model, cfg, run.folder, run.batch, run.class_weight, val_ds, run.say)
            state["train_seconds"] = state.get("train_seconds", 0.0) + state["head"]["seconds"]


class PreciseStatistics(Strategy):
    """Batch-norm statistics re-estimated on unaugmented training images before every validation
    (from-scratch models with batch normalisation; the distributed loop keeps moving averages)."""

    def __init__(self):
        self.kept = None

    def keep(self, kept) -> None:
        """The part of the model whose statistics are re-estimated (what model.keras holds)."""
        self.kept = kept

    def callbacks(self, run, model):
        from visionflow.training.precise_bn import PreciseBN, has_batchnorm

        if run.distributed or run.cfg.weights != "none" or self.kept is None or not has_batchnorm(self.kept):
            return [], []
        stats = run.task.statistics_dataset(run.cfg, run.folder, run.batch)
        return [], ([PreciseBN(stats)] if stats is not None else [])


class Fused(Strategy):
    """Table columns beside the images (`--columns`, `visionflow.tabular`): the columns chosen from
    the labels CSV and their preprocessing learnt on the training rows (`data`; the ImageFolder
    then holds it, so the datasets carry the columns), the fresh model rebuilt with the column
    network (`prepare`), and the preprocessing with the training means of both inputs written into
    labels.json (`begin`), where prediction, export, serving and evaluation read them."""

    REFUSED = {"dp": "--dp (DP-SGD clips the per-example gradients of image models only)",
               "teacher": "--teacher (the teacher sees the images only)"}

    def __init__(self):
        self.table = None
        self.classes: list[str] = []

    def check(self, cfg, task, distributed):
        if not task.takes_columns:
            raise ConfigError(f"--columns feeds table columns to classification and multi-label models; --task "
                              f"{task.name} does not read them.")
        if distributed:
            raise ConfigError("--columns does not train with --distributed yet; train it on one worker.")
        for flag, what in self.REFUSED.items():
            if getattr(cfg, flag):
                raise ConfigError(f"--columns cannot be combined with {what}.")
        if cfg.mixup:
            raise ConfigError("--columns cannot be combined with --mixup (blending two images would leave their "
                              "columns unblended); drop --mixup.")

    def settle(self, cfg, new_run, backbone):
        return cfg.replace(mixup=0.0)

    def data(self, folder, cfg, say):
        from visionflow.tabular.columns import choose, fit

        header = folder.report.get("table_columns")
        if header is None:
            raise ConfigError(f"--columns reads the columns of a labels CSV, and {cfg.data} has none: write "
                              f"DIR/labels.csv with the header image,label and the columns (or pass --labels CSV).")
        reserved = ("image", "label", "labels")  # the key and target columns of a labels CSV
        names = choose([*header, *reserved], cfg.columns, reserved)
        self.table = fit([r.values or {} for r in folder.splits["train"]], names)
        self.classes = list(folder.classes)
        folder.table = self.table
        folder.report["columns"] = self.table.to_dict()
        say(f"columns: {len(names)} beside the images, {self.table.width} features")
        for column in self.table.columns:
            say(f"  {column.describe()}")

    def prepare(self, model, cfg, say):
        from visionflow import tasks
        from visionflow.models import MODELS
        from visionflow.models.registry import make_regularizer
        from visionflow.tabular.fusion import fuse

        if model is None:
            return model
        dropout = MODELS.get(cfg.model).default_dropout if cfg.dropout is None else cfg.dropout
        return fuse(model, self.table, tasks.get(cfg.task), self.classes, dropout, make_regularizer(cfg.l1, cfg.l2))

    def begin(self, run, model, val_ds):
        from visionflow.rundir import read_json, write_json
        from visionflow.tabular.fusion import meta

        write_json(run.paths.labels, {**read_json(run.paths.labels), **meta(self.table, run.folder.splits["train"])})


def for_run(cfg) -> list[Strategy]:
    """The strategies `cfg` asks for, in the order their hooks run."""
    chosen: list[Strategy] = []
    if cfg.columns:
        chosen.append(Fused())
    if cfg.dp:
        chosen.append(Private())
    if cfg.teacher:
        chosen.append(Distilled())
    chosen += [HeadPhase(), PreciseStatistics()]
    return chosen
