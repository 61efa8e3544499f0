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
    clock: object = None  # training.budget.WallClock: the run's wall time against its budget
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

    def keeping(self, run: Run) -> dict | None:
        """What the run keeper watches instead of the run's settings: monitor, keep, patience."""
        return None

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
        from visionflow import (
            distillation,  # also registers the distillation loss a checkpoint names
        )

        return distillation.datasets(run.task, run.cfg, run.folder, run.paths, run.batch, run.say)

    def compile(self, run, model, learning_rate):
        from visionflow import distillation

        distillation.compile_student(model, run.cfg, run.folder.classes, learning_rate)
        return True


class HeadPhase(Strategy):
    """Transfer learning's head phase (`--head-epochs`): the classifier trained alone on the frozen
    backbone's cached features before fine-tuning; with `--fine-tune auto`, a slice of the training
    images held out to decide whether fine-tuning pays and when it stops (`training.decision`)."""

    def __init__(self):
        self.held_out: list = []
        self.slice_ds = None

    def _active(self, run) -> bool:
        from visionflow.models import MODELS

        return bool(MODELS.get(run.cfg.model).backbone and run.cfg.head_epochs)

    def datasets(self, run):
        from dataclasses import replace

        from visionflow.training import decision

        cfg, folder = run.cfg, run.folder
        if not self._active(run) or cfg.fine_tune != "auto" or run.distributed:
            return None
        self.held_out = decision.hold_out(folder.splits["train"], cfg.seed)
        run.notes["decide"] = True
        if not self.held_out:
            return None
        kept = {r.path for r in self.held_out}
        rest = replace(folder, splits={**folder.splits, "train": [r for r in folder.splits["train"] if r.path not in kept]})
        run.images = len(rest.splits["train"])
        self.slice_ds = decision.slice_dataset(self.held_out, cfg, folder, run.batch, run.task)
        return run.task.datasets(cfg, rest, run.paths, run.batch)

    def begin(self, run, model, val_ds):
        from visionflow.training.head import train_head

        state, cfg = run.state, run.cfg
        if not self._active(run) or state["epoch"] != 0 or state["checkpoint"]:
            return
        head = train_head(model, cfg, run.folder, run.batch, run.class_weight, val_ds, run.say, self.held_out, run.task)
        refit = head.pop("_refit", None)
        state["head"] = head
        state["train_seconds"] = state.get("train_seconds", 0.0) + head["seconds"]
        if cfg.fine_tune == "never":
            run.notes["done"] = "--fine-tune never: the head alone is kept"
        elif run.notes.get("decide"):
            self._decide(run, model, head, refit)
        if run.notes.get("done"):
            from visionflow.rundir import save_model

            save_model(run.task.kept_model(model), run.paths.model)
            state["best"] = {"metric": "head", "value": None, "epoch": 0, "val_loss": head["val_loss"]}

    def _decide(self, run, model, head: dict, refit) -> None:
        """Fine-tune or not, from the head's scores on the held-out slice and the time left."""
        from visionflow.recipe import TRANSFER_RATES
        from visionflow.rundir import save_model
        from visionflow.training import decision

        cfg, state = run.cfg, run.state
        metric = run.task.curve_metric[0]
        features, steps = TRANSFER_RATES.get(cfg.image_size[0], TRANSFER_RATES[min(TRANSFER_RATES)])
        val = len(run.folder.splits["validation"])
        epoch_s = run.images / steps + (val + len(self.held_out)) / features  # predicted, before any tracing
        fits = run.clock.epochs_left(epoch_s, val / features) if run.clock else cfg.epochs
        why = decision.skip_reason(head, metric, fits, cfg.epochs)
        state["fine_tune"] = {"slice_images": len(self.held_out), "head_slice_loss": head.get("slice_loss"),
                              f"head_slice_{metric}": head.get(f"slice_{metric}"), "decision": why or "fine-tune"}
        if why and refit is None:  # nothing was held out: the head already trained on every image
            run.notes["done"] = why
            run.say(why)
            return
        if why:
            head["refit"] = refit()
            run.notes["done"] = why
            run.say(f"{why}; the head trained again on all {head['refit']['train_images']} training images: "
                    f"val_{metric} {head['refit'][f'val_{metric}']:.4f}")
            return
        patience = run.cfg.patience if "patience" in run.state.get("given", ()) else decision.PATIENCE
        stops = (f"it stops once their loss has not improved for {patience} epochs" if patience
                 else "--patience 0: every epoch runs")
        run.say(f"fine-tuning: each epoch scored on the {len(self.held_out)} held-out training images; {stops}, and "
                f"the head alone (loss {head['slice_loss']:.4f}) stays kept unless an epoch beats it")
        save_model(run.task.kept_model(model), run.paths.model)
        state["best"] = {"metric": "slice_loss", "value": head["slice_loss"], "epoch": 0,
                         "val_loss": head["val_loss"]}

    def callbacks(self, run, model):
        from visionflow.training.decision import SliceScore

        if self.slice_ds is None:
            return [], []
        return [SliceScore(self.slice_ds, run.cfg, run.folder.classes, run.task)], []

    def keeping(self, run):
        from visionflow.training.decision import PATIENCE

        if self.slice_ds is None:
            return None
        return {"monitor": "slice_loss", "keep": "best", "patience": PATIENCE}


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
        self.task = None  # the run's, from `check`
        self.classes: list[str] = []

    def check(self, cfg, task, distributed):
        self.task = task  # one whose options have --columns (classification, multilabel)
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
        from visionflow.models import MODELS
        from visionflow.models.registry import make_regularizer
        from visionflow.tabular.fusion import fuse

        if model is None:
            return model
        dropout = MODELS.get(cfg.model).default_dropout if cfg.dropout is None else cfg.dropout
        return fuse(model, self.table, self.task, self.classes, dropout, make_regularizer(cfg.l1, cfg.l2))

    def begin(self, run, model, val_ds):
        from visionflow.rundir import read_json, write_json
        from visionflow.tabular.fusion import meta

        write_json(run.paths.labels, {**read_json(run.paths.labels), **meta(self.table, run.folder.splits["train"])})


def for_run(cfg) -> list[Strategy]:
    """The strategies `cfg` asks for, in the order their hooks run."""
    chosen: list[Strategy] = []
    if getattr(cfg, "columns", ""):
        chosen.append(Fused())
    if cfg.dp:
        chosen.append(Private())
    if cfg.teacher:
        chosen.append(Distilled())
    chosen += [HeadPhase(), PreciseStatistics()]
    return chosen
