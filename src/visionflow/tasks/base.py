"""What every task provides: the `Task` interface the shared core calls.

The core (scan, decode, tf.data pipeline, training loop, run folder, runtimes, HTTP transport)
never asks which task it runs; whatever differs between tasks is a method here, or one of the
task's *parts*. A new task is one package under `visionflow/tasks/` that subclasses `Task`,
registers an instance in `TASKS` and is named in the task map (`visionflow.tasks.WHERE`).

The methods are grouped by what they serve (settings, data, training, model, outputs,
evaluation and report, export); none only forwards a call. A task's larger pieces (what runs
after training, its command-line verbs, its loader, exporter and service) are parts: declared
once in `Task.parts` as "module:attribute" paths, loaded on first use by `Task.part(role)` and
called by the core directly (`PARTS` says each role's signature).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from visionflow.errors import ConfigError
from visionflow.registry import Registry, located
from visionflow.settings import TaskOptions, flag

DEFAULT = "classification"  # the task of models whose metadata names none (written before tasks existed)


@dataclass
class EvaluationData:
    """The images of an evaluation folder: every scanned record, the usable ones and their targets."""

    records: list  # every Record scanned, skipped ones included
    usable: list  # the Records that decoded
    targets: np.ndarray  # the task's targets for `usable` (see Task.targets)
    source: dict = field(default_factory=dict)  # where the labels came from, for metrics.json


# The roles of a task's parts (`Task.parts`), with what the core calls on each. A role the task
# does not declare is done by the core's shared code for models that label images.
PARTS: dict[str, str] = {
    "finish": "finish_run(task, paths, folder, state, cfg, say) -> metrics: after training, the kept model "
              "evaluated into metrics.json, plots and report.html",
    "report": "write_report(task, folder, meta, metrics) -> Path | None: report.html of a run or evaluation "
              "folder rebuilt from its files (`visionflow report`)",
    "loader": "load(path, backend=, unsafe=, say=): what `visionflow.load(path)` returns for the task's models",
    "verbs": "a module with predict(args, o) and/or evaluate(args, o): `visionflow predict` / `evaluate` for "
             "the task's models (o: PredictOptions / EvaluateOptions) -> exit code",
    "exporter": "export(run, names, out, samples, min_agreement, unsafe, say) -> [ExportResult]: "
                "`visionflow export` of the task's models, parity checked",
    "service": "a module with load(task, run, cfg, say) -> the served model (`name`, `info()`), and "
               "mount(app, service): the task's own HTTP routes",
}


class Task:
    """A kind of model output: its data, head, loss, predictions, metrics, report and export check.

    Subclasses set `name`, `description` and `data_help`, implement the methods below and declare
    their parts (`parts`). `predictor` arguments are `visionflow.predictor.Predictor` objects
    (classes, thresholds, temperature, ...).
    """

    name: str = ""
    options: type[TaskOptions] = TaskOptions  # the task's own training settings (visionflow train --task NAME --help)
    description: str = ""
    data_help: str = ""  # what the data folder holds, for error messages and --help
    monitor: str = "val_accuracy"  # the validation metric that picks the best epoch by default
    parity: str = ""  # what the export parity check compares, in words
    outputs: str = "labels"  # what a model of the task gives: "labels" (classes, scores) or "image"
    exclusive: bool = True  # one label per image (segments of a video tile it) or any number of labels
    inputs: str = "image"  # what one example is: "image", or "clip" (a video's frames)
    batch_size: int = 32  # examples per training step unless --batch-size is given
    usage: str = ""  # a model that gives no labels: what it does and which commands take it, for refusals
    distributable: bool = True  # trains with --distributed (multi-worker)
    examines_data: bool = True  # the dataset doctor's duplicate and leakage check runs on the training images
    private: bool = False  # trains with --dp (DP-SGD): the task's loss gives one value per example
    distillable: bool = False  # a run of it teaches, and it learns from, a teacher's softened answers (distill)
    on_features: bool = False  # its models are a registered feature network plus the task's head
    scratch_challenger: bool = False  # a small pretrained run may be challenged by small_cnn from scratch (training.versus)
    mirrorable: bool = True  # a mirrored image has the same answer (flip test-time augmentation applies)
    segmentable: bool = True  # a video timeline of its answers merges into labelled segments
    curve_metric: tuple[str, str] = ("accuracy", "Accuracy")  # the metric logged each epoch, and its title
    carried: tuple[str, ...] = ()  # keys of a run's labels.json that its exports carry too
    predict_options: tuple[str, ...] = ()  # PredictOptions only its models take (e.g. style: style, strength)
    networks: str = ""  # the module of the task's own networks (and their layers), imported with the task
    parts: dict[str, str] = {}  # role (PARTS) -> "module:attribute" or "module"
    routes: tuple[str, ...] = ()  # the service routes its models answer beyond GET /v1/model (the page's footer)
    refusal: tuple[str, str] = ("", "")  # (code, message) of the 409 the shared image routes answer for its models

    # -- parts --------------------------------------------------------------------------------
    def part(self, role: str):
        """The task's part `role` (PARTS), imported on first use; None where the task declares none."""
        if role not in PARTS:
            raise ValueError(f"Unknown part {role!r}; the roles are {', '.join(PARTS)}.")
        where = self.parts.get(role)
        return located(where) if where else None

    def verb(self, name: str):
        """The task's own `visionflow NAME` for its models (`predict`, `evaluate`), or None."""
        verbs = self.part("verbs")
        return getattr(verbs, name, None) if verbs is not None else None

    # -- settings and data ---------------------------------------------------------------------
    declines: tuple[str, ...] = ()  # common settings (TrainConfig fields) its models do not take
    decline_reason = "is for classifiers; a {task.name} model does not take it."  # after the flag

    def check_config(self, cfg):
        """`cfg` with the task's defaults filled in; ConfigError for settings it cannot honour."""
        self.check_declined(cfg)
        return cfg if cfg.monitor is not None else cfg.replace(monitor=self.monitor)

    def check_declined(self, cfg) -> None:
        """ConfigError naming the first of `declines` that `cfg` sets: "--mixup is for classifiers; ..."."""
        for name in self.declines:
            value = getattr(cfg, name)
            if value not in (None, False, "", 0, 0.0, (), "none"):
                shown = flag(name) + (f" {value}" if cfg.__dataclass_fields__[name].metadata.get("choices") else "")
                raise ConfigError(f"{shown} {self.decline_reason.format(task=self)}")

    def second_input(self, item, predictor):
        """A model with a second input the task derives from each item itself (a clip's sound):
        its array for `item`, or the reason it cannot be had; None for models without one."""
        return None

    def sample_second_input(self, predictor, count: int, seed: int = 0):
        """`count` seeded second inputs that exercise the model (an export's parity check)."""
        raise NotImplementedError(f"{self.name} models take no second input")

    def load_data(self, cfg, split_file: dict | None = None):
        """The scanned, split `ImageFolder` of `cfg.data`."""
        raise NotImplementedError

    def targets(self, records: list, classes: list[str]) -> np.ndarray:
        """The truth of each record in the task's own form (class indices, label matrix, ...)."""
        raise NotImplementedError

    def encode(self, targets: np.ndarray, classes: list[str]) -> np.ndarray:
        """`targets` as float32 training targets for the model's output."""
        raise NotImplementedError

    def evaluation_data(self, data: Path, predictor, labels: str | Path | None = None) -> EvaluationData:
        """The images and targets of an evaluation folder."""
        raise NotImplementedError

    # -- training (the shared loop in visionflow.training.trainer calls these) ----------------
    def kept_model(self, model):
        """The part of the trained model that model.keras holds (and best/last epochs are copied from)."""
        return model

    def adapt(self, model, folder) -> None:
        """Sets what a new model learns from the training data before its first epoch (a regression
        model's target statistics); nothing by default."""

    def describe_size(self, model) -> str:
        """The model's size in a few words, for the line that starts training."""
        return f"{model.count_params():,} parameters"

    def callbacks(self, cfg, paths, folder, state: dict, say: Callable[[str], None]) -> list:
        """Keras callbacks of the task, run each epoch before the run's own (so that what they add
        to the epoch's logs reaches history.csv)."""
        return []

    def epoch_size(self, cfg, folder) -> int:
        """Training examples per epoch."""
        return len(folder.splits["train"])

    def build(self, cfg, classes: list[str]):
        """The untrained Keras model of `cfg` for `classes`."""
        raise NotImplementedError

    def datasets(self, cfg, folder, paths, batch_size: int):
        """(training, validation) tf.data datasets of (input, target) batches."""
        raise NotImplementedError

    def statistics_dataset(self, cfg, folder, batch_size: int):
        """Unaugmented training batches for precise batch-norm statistics (None: the model keeps
        its moving averages)."""
        return None

    def complete(self, cfg, facts):
        """(cfg with the settings that depend on the scanned data filled in, a line saying what was
        chosen or None)."""
        return cfg, None

    def compile(self, model, cfg, classes: list[str], learning_rate: float) -> None:
        raise NotImplementedError

    def meta(self, cfg, classes: list[str]) -> dict:
        """labels.json: what a saved model needs besides its weights."""
        raise NotImplementedError

    def finish_reserve_s(self, cfg) -> float:
        """Seconds `finish_run` spends beyond evaluating the validation images (which the time
        budget measures during the epochs), kept free of training within the run's budget."""
        return 0.0

    # -- model --------------------------------------------------------------------------------
    def units(self, classes: list[str]) -> int:
        """Width of the model's output."""
        raise NotImplementedError

    def head(self, x, classes: list[str], dropout: float, regularizer=None):
        """The output layers on top of the feature tensor `x`."""
        raise NotImplementedError

    def compile_parts(self, classes: list[str], label_smoothing: float):
        """(Keras loss, Keras metric logged as `curve_metric` every epoch)."""
        raise NotImplementedError

    def compile_for(self, model, cfg, classes: list[str]):
        """(loss, metric) that `model` compiles with: `compile_parts`'s, unless the loss depends on
        the model's own settings (a regression model's target spread)."""
        return self.compile_parts(classes, cfg.label_smoothing or 0.0)

    def class_weights(self, folder) -> dict[int, float] | None:
        """Keras class weights for `--class-weight auto`; ConfigError where the task has none."""
        raise ConfigError(f"--class-weight auto is not supported for {self.name} yet.")

    # -- outputs ------------------------------------------------------------------------------
    def probabilities(self, raw: np.ndarray, predictor) -> np.ndarray:
        """(n, len(classes)) probabilities from the model's raw outputs."""
        raise NotImplementedError

    def prediction(self, source: str, probs: np.ndarray, predictor, top_k: int):
        """The typed prediction of one image from its probabilities."""
        raise NotImplementedError

    def failure(self, source: str, error: str):
        """The prediction of an input that could not be read: its source and why."""
        raise NotImplementedError

    def csv_header(self, classes: list[str]) -> list[str]:
        """The columns of `visionflow predict --format csv`; each prediction's `csv_row` fills them."""
        raise NotImplementedError

    def explain_target(self, probs: np.ndarray) -> int:
        """The output Grad-CAM explains when no class is named: the most probable one."""
        return int(np.argmax(probs))

    def score(self, logits, index: int, classes: list[str]):
        """Grad-CAM's target: the logit (pre-activation) that drives output `index`, shape (batch,)."""
        return logits[:, index]

    # -- evaluation and report ---------------------------------------------------------------
    def compute_metrics(self, targets: np.ndarray, probs: np.ndarray, predictor) -> dict:
        raise NotImplementedError

    def format_table(self, m: dict, classes: list[str]) -> str:
        raise NotImplementedError

    def prediction_rows(self, paths: list[str], targets: np.ndarray, probs: np.ndarray, predictor) -> list[dict]:
        raise NotImplementedError

    def write_plots(self, result: dict, classes: list[str], folder: Path, name: str, prefix: str = "") -> list[Path]:
        raise NotImplementedError

    def fit_thresholds(self, paths, predictor, folder, cfg, say: Callable[[str], None]) -> dict | None:
        """Fitted before the final evaluation (e.g. decision thresholds); stored in labels.json."""
        return None

    def after_validation(self, paths, predictor, result: dict, cfg, say: Callable[[str], None]) -> dict | None:
        """Fitted on the validation result (e.g. temperature scaling); stored in labels.json."""
        return None

    def summary_tiles(self, m: dict) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def report_sections(self, page, prefix: str, title: str, m: dict, rows: list[dict], classes: list[str],
                        plots: Path, plot_prefix: str, resolve, explainer, extra: dict | None = None) -> None:
        raise NotImplementedError

    # -- export -------------------------------------------------------------------------------
    quantizable: bool = True  # int8 formats make sense for its models (`export --format all` includes them)

    def output_spec(self, classes: list[str]) -> dict:
        """What the exported model's output holds (labels.json `output`)."""
        raise NotImplementedError

    def agreement(self, reference: np.ndarray, got: np.ndarray, predictor) -> float:
        """Share of decisions an export makes as the Keras model does, from both probabilities."""
        raise NotImplementedError

    def float_parity(self, reference: np.ndarray, got: np.ndarray, predictor, tolerance: float) -> tuple[bool, str]:
        """Whether a float export's outputs `got` match the .keras model's `reference`, and the
        criterion in words: every probability within the exporter's `tolerance`, unless the task
        says otherwise."""
        return bool(np.abs(got - reference).max() <= tolerance), f"max |Δprob| <= {tolerance:g}"

    def disagreement_note(self, reference: np.ndarray, got: np.ndarray, predictor) -> str:
        """Why a quantized export's decisions may differ, in one line (empty: nothing to say)."""
        return ""

    # -- service ------------------------------------------------------------------------------
    def refused(self) -> tuple[str, str]:
        """(code, message) of the 409 that the shared image routes answer on a server of this
        task's model (one with a service of its own)."""
        return self.refusal if self.refusal[0] else ("wrong_route", f"This server runs a {self.name} model; see GET /v1/model.")


TASKS: Registry[Task] = Registry("task")
