"""Training: folder -> checked data -> model -> run directory with the best (or last) model.

Only training happens here; `visionflow.workflow` chains it with evaluation, the task's fitted
decisions (thresholds, calibration) and the report.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from visionflow.config import TrainConfig, load_yaml
from visionflow.data.dataset import ImageFolder, absolute_data, manifest, relative_digests
from visionflow.doctor import examine
from visionflow.errors import ConfigError, TrainingFailed, VisionflowError
from visionflow.recipe import DataFacts, fixed as fixed_recipe
from visionflow.rundir import RunPaths, locate, new_run_dir, read_json, write_csv, write_json, write_yaml
from visionflow.training.budget import WallClock

# Settings that may change when a run is resumed; everything else must match the original run.
RESUMABLE = ("epochs", "patience", "time_budget")
MAX_LISTED_SKIPS = 20


class Interrupted(VisionflowError):
    """Ctrl-C during training: the best model and the last checkpoint are kept."""

    exit_code = 130


@dataclass
class Fitted:
    """What `fit` leaves: the run folder (None on distributed workers other than the chief), the
    data it trained on, its state (history, best epoch, ...) and the resolved settings."""

    paths: RunPaths | None
    folder: ImageFolder
    state: dict
    cfg: TrainConfig
    clock: WallClock | None = None
    chosen: tuple[str, ...] = ()  # the settings the recipe chose in this call (a new run's unset ones)
    task: object = None  # the visionflow.tasks.Task it trained, resolved once


def _seed_everything(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def print_data_summary(folder: ImageFolder, say: Callable[[str], None]) -> None:
    counts = folder.report["counts"]
    noun = folder.report.get("noun", "classes")
    if folder.classes:
        say(f"data: {len(folder.classes)} {noun}: {', '.join(folder.classes)}")
    else:
        say(f"data: {folder.report['root']} (every image, class folders ignored)")
    unit = folder.report.get("unit", "images")
    for split, c in counts.items():
        per_class = ", ".join(f"{k} {v}" for k, v in sorted(c["classes"].items()) if k)
        say(f"  {split:<10} {c['images']:6d} {unit}" + (f" ({per_class})" if per_class else ""))
    split = folder.report["split"]
    if split.get("kind") == "classes":
        grouped = split.get("duplicates_grouped")
        say(f"  split: {split['val_split']:.0%} held out for validation ({split['strategy']}), seed {split['seed']}"
            + (f"; {grouped} near-duplicate images kept on one side" if grouped is not None else ""))
    for line in folder.report.get("details", []):  # what a task adds (e.g. boxes per class)
        say(f"  {line}")
    decoded = folder.report.get("decoded")
    if decoded:
        say(f"  decoded: {decoded['frames']} frames per clip at {decoded['size'][0]}x{decoded['size'][1]}, "
            f"{decoded['megabytes']:g} MB in memory, in {decoded['seconds']:.1f}s")
    skipped = folder.report["skipped"]
    if skipped:
        say(f"  skipped {len(skipped)} file(s):")
        for item in skipped[:MAX_LISTED_SKIPS]:
            say(f"    {item['path']}: {item['reason']}")
        if len(skipped) > MAX_LISTED_SKIPS:
            say(f"    ... and {len(skipped) - MAX_LISTED_SKIPS} more (all listed in data_report.json)")


def _resolve(config: TrainConfig | None, resume: str | Path | None,
             overrides: dict) -> tuple[TrainConfig, RunPaths | None, dict | None]:
    """The effective config, and for a resumed run its paths and saved state.

    The data folder is recorded as an absolute path, so a run resumes from any working folder.
    Resuming with `data` (the folder moved) continues on it once the scan confirms the images are
    the same ones (see `_check_same_images`).
    """
    if resume is None:
        base = config.to_dict() if config else {}
        cfg = TrainConfig.from_dict({**base, **overrides})
        if not cfg.data:
            raise ConfigError("No data folder given: pass DIR (visionflow train DIR) or data='DIR'.")
        cfg = cfg.replace(data=absolute_data(cfg.data))
        return (cfg.replace(teacher=os.path.abspath(cfg.teacher)) if cfg.teacher else cfg), None, None
    paths = RunPaths(Path(resume))
    if not paths.config.exists():
        raise ConfigError(f"{resume} is not a run folder (no config.yaml); give the folder of the run to continue.")
    if not paths.state.exists():
        raise ConfigError(f"{resume} has no checkpoint yet (it stopped before finishing an epoch); start it again instead.")
    # strict=False: a run of an earlier version may hold another task's settings it never used
    cfg = TrainConfig.from_dict(load_yaml(paths.config), source=str(paths.config), strict=False)
    cfg = fixed_recipe(cfg, "tutorial")  # settings a run from an older version did not record had these values
    overrides = dict(overrides)
    moved_to = overrides.pop("data", None)
    data = Path(moved_to) if moved_to else locate(cfg.data, paths.root)  # older runs recorded relative paths
    if not data.is_dir():
        if moved_to:
            raise ConfigError(f"Data folder {moved_to} does not exist.")
        raise ConfigError(f"The data of {resume} was at {cfg.data}, which does not exist any more; if it moved, "
                          f"continue with: visionflow train --resume {resume} --data NEW_DIR")
    changed = {}
    for key, value in overrides.items():
        new = getattr(TrainConfig.from_dict({"task": cfg.task, key: value}), key)
        if new != getattr(cfg, key):
            changed[key] = new
    locked = sorted(set(changed) - set(RESUMABLE))
    if locked:
        raise ConfigError(f"Cannot change {', '.join(locked)} when resuming {resume}; only "
                          f"{', '.join(RESUMABLE)} may change (and --data, where the same images moved). "
                          f"Start a new run for other settings.")
    return cfg.replace(data=os.path.abspath(data), **changed), paths, read_json(paths.state)


def _rebased_split(previous: dict, data: str) -> dict | None:
    """The original validation files of a --val-split run, moved under `data` if the folder moved."""
    if previous["split"].get("kind") != "classes":
        return None
    old_root = previous.get("root") or data
    return {"validation": [os.path.join(data, os.path.relpath(p, old_root)) for p in previous["validation_files"]]}


def _check_same_images(paths: RunPaths, previous: dict, folder: ImageFolder, data: str) -> None:
    """Refuses to resume on images other than the ones the run was trained on (content fingerprint)."""
    recorded = previous.get("fingerprint")
    if recorded is None or folder.report["fingerprint"] == recorded:
        return  # runs from before fingerprints were recorded resume unchecked
    import csv

    with open(paths.manifest, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("status") == "ok" and r.get("digest")]
    old_root = previous.get("root") or data
    old = {Path(os.path.relpath(r["path"], old_root)).as_posix(): r["digest"] for r in rows}
    new = relative_digests([r for recs in folder.splits.values() for r in recs], data)
    added, removed = len(new.keys() - old.keys()), len(old.keys() - new.keys())
    edited = sum(old[k] != new[k] for k in old.keys() & new.keys())
    raise ConfigError(f"The images in {data} are not the ones {paths.root} was trained on ({added} added, "
                      f"{removed} missing or moved to another class, {edited} changed); resume only on the same "
                      f"images, or start a new run.")


def fit(config: TrainConfig | None = None, *, resume: str | Path | None = None,
        folder: ImageFolder | None = None, callbacks: list | None = None, distributed: bool = False,
        say: Callable[[str], None] = print, **overrides) -> Fitted:
    """Trains a model on an image folder into a run folder: the best (or last) model, checkpoints,
    history, config, labels and data report. Evaluating it is the workflow's next step
    (`visionflow.workflow.train` runs both).

    Args:
        config: the settings; keyword `overrides` replace single fields (e.g. `epochs=5`).
        resume: a run folder to continue from its last checkpoint (only epochs, patience and
            time_budget may change). The time budget is wall time from this call on (plus what earlier
            sessions of a resumed run spent), evaluation and report included (`training.budget`).
        folder: an already scanned and split ImageFolder (cross-validation folds) to train on
            instead of scanning `config.data`; not with `resume`.
        callbacks: extra Keras callbacks for `model.fit` (e.g. a tuner's pruning callback); an
            exception one raises stops the run, keeping what was written so far.
        distributed: train on tf.distribute.MultiWorkerMirroredStrategy as configured by TF_CONFIG
            (every worker calls `train` with the same settings; `batch_size` is per worker). Only
            the chief (worker 0) writes the run folder and returns its figures; the other workers
            return a Fitted whose paths is None.
        say: where progress lines go; the live step line is drawn only when this is `print` and
            standard output is a terminal.

    Raises:
        DataError / ConfigError: bad folder or settings (no run folder is created).
        TrainingFailed: the loss became NaN; model.keras keeps the last good best model.
        Interrupted: Ctrl-C; the best model and last checkpoint are kept for --resume.
    """
    clock = WallClock()
    cfg, paths, state = _resolve(config, resume, overrides)
    clock.before_s = float(state.get("wall_seconds", 0.0)) if state else 0.0
    from visionflow import augment as augment_lib
    from visionflow import tasks
    from visionflow.models import check_model

    from visionflow.training import strategies as strategies_lib

    task = tasks.get(cfg.task)  # the one look-up of the run: the Task is handed on from here
    cfg = task.check_config(cfg)
    strategies = strategies_lib.for_run(cfg)
    for strategy in strategies:
        strategy.check(cfg, task, distributed)

    cluster = None
    if distributed:
        from visionflow.training.distributed import setup

        _check_distributed(cfg, task)
        cluster = setup()  # before any other TensorFlow operation
        if not cluster.chief:
            say = _quiet
            if paths is not None:  # read the chief's checkpoint, write nothing into its run folder
                paths, state = _worker_copy(paths)
    _seed_everything(cfg.seed)
    if cfg.model is not None:  # fail before scanning a big folder
        check_model(cfg.model, cfg.image_size, cfg.weights or "none", cfg.head_epochs or 0, task=cfg.task)
    if cfg.augment is not None:
        augment_lib.PRESETS.get(cfg.augment)
    if folder is None:
        previous = read_json(paths.data_report) if paths is not None else None
        split_file = _rebased_split(previous, cfg.data) if previous else None  # the original split, exactly
        t_scan = time.perf_counter()
        folder = task.load_data(cfg, split_file=split_file)
        print_data_summary(folder, say)
        say(f"  scanned in {time.perf_counter() - t_scan:.1f}s")
        if previous is not None:
            _check_same_images(paths, previous, folder, cfg.data)
            if previous.get("root") != folder.report["root"] and (cluster is None or cluster.chief):
                say(f"data: same images as before, now at {cfg.data}")
                write_yaml(paths.config, cfg.to_dict())  # later resumes, reports and exports look there
                write_json(paths.data_report, folder.report)
                write_csv(paths.manifest, manifest(folder))
    elif paths is not None:
        raise ConfigError("Pass either resume or folder, not both.")
    if not folder.splits.get("validation"):
        raise ConfigError("The validation set has no usable images; add some or use --val-split.")
    for strategy in strategies:
        strategy.data(folder, cfg, say)
    from visionflow.recipe import MANAGED

    unset = tuple(name for name in MANAGED if getattr(cfg, name) is None) if paths is None else ()
    cfg, chosen = task.complete(cfg, DataFacts.of(folder))
    if chosen:
        for line in chosen.splitlines():
            say(line)
        check_model(cfg.model, cfg.image_size, cfg.weights, cfg.head_epochs, task=cfg.task)
    from visionflow.models import MODELS

    for strategy in strategies:
        cfg = strategy.settle(cfg, new_run=paths is None, backbone=MODELS.get(cfg.model).backbone)
    if cluster and cfg.head_epochs:
        say("distributed: no head phase on cached features; the head trains together with the backbone")
        cfg = cfg.replace(head_epochs=0)

    model = None
    if paths is None:
        # Built before the run folder exists, so a failed weights download leaves nothing behind
        # (a distributed run builds it inside the strategy's scope instead).
        model = None if cluster else task.build(cfg, folder.classes)
        for strategy in strategies:
            model = strategy.prepare(model, cfg, say)
        if cluster and not cluster.chief:
            import tempfile

            cfg = cfg.replace(project=tempfile.mkdtemp(prefix="visionflow-worker-"), name="run")
        cfg, paths, state = _start_run(task, cfg, folder, given=tuple(n for n in MANAGED if n not in unset))
        if task.inputs == "image" and task.examines_data:  # the doctor compares pictures (hashes, thumbnails)
            _doctor(paths, folder, say)
    elif state.get("finished") or state["epoch"] >= cfg.epochs:
        more = state["epoch"] < cfg.epochs and bool(overrides)
        if more:  # e.g. --epochs raised after the run ended: early stopping counts afresh
            state["wait"], state["finished"] = 0, False
            state.pop("planned_epochs", None)
        elif paths.metrics.exists():
            raise ConfigError(f"{paths.root} already finished after {state['epoch']} epochs "
                              f"({state.get('stopped') or 'all epochs run'}); pass --epochs N with N > "
                              f"{state['epoch']} to go on.")
        # else: it stopped during the final evaluation, which runs again below
    clock.budget_s, clock.finish_s = (cfg.time_budget or 0.0) * 60, task.finish_reserve_s(cfg)
    if unset and cluster is None:  # small_cnn from scratch may challenge the model after its epochs: time kept for it
        from visionflow.training.versus import aside_seconds

        clock.aside_s = aside_seconds(cfg, folder, {"model", "weights"} <= set(unset), task)
    say(f"run: {paths.root}")
    if cluster:
        state["workers"] = cluster.workers
    if cluster and not cluster.chief:
        try:
            if not state.get("finished") and state["epoch"] < cfg.epochs:
                _fit(task, cfg, folder, paths, state, say, model, callbacks or [], cluster, strategies, clock)
        finally:
            shutil.rmtree(paths.root.parent, ignore_errors=True)  # the worker's private copy
        return Fitted(None, folder, state, cfg, clock, task=task)
    if not state.get("finished") and state["epoch"] < cfg.epochs:
        _fit(task, cfg, folder, paths, state, say, model, callbacks or [], cluster, strategies, clock)
    state["finished"] = True
    state["wall_seconds"] = round(clock.elapsed(), 2)
    write_json(paths.state, state)
    for strategy in strategies:
        strategy.finish(paths, state)
    return Fitted(paths, folder, state, cfg, clock, unset, task)


def _quiet(text: str) -> None:
    """Where the output of workers other than the chief goes."""


def _check_distributed(cfg: TrainConfig, task) -> None:
    if not task.distributable:
        raise ConfigError(f"--task {cfg.task} does not train with --distributed yet; train it on one worker.")
    if cfg.freeze_epochs or cfg.head_epochs:
        raise ConfigError("--freeze-epochs and --head-epochs are not supported with --distributed yet; train the "
                          "backbone in one phase (--freeze-epochs 0 --head-epochs 0).")
    if cfg.class_weight != "none":
        raise ConfigError("--class-weight auto is not supported with --distributed yet.")


def _worker_copy(paths: RunPaths) -> tuple[RunPaths, dict]:
    """A private copy of a run folder for a non-chief worker resuming it."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="visionflow-worker-")) / "run"
    shutil.copytree(paths.root, root, ignore=shutil.ignore_patterns("tensorboard", "cache", "export", "evaluations"))
    copy = RunPaths(root)
    return copy, read_json(copy.state)


def _start_run(task, cfg: TrainConfig, folder: ImageFolder, given: tuple[str, ...] = ()) -> tuple[TrainConfig, RunPaths, dict]:
    """Creates the run folder with its resolved config, labels, data report and manifest. `given`:
    the recipe's settings the user set, kept in state.json so that they win over a strategy's
    choice in every session of the run (a resume included)."""
    from visionflow.models import MODELS

    spec = MODELS.get(cfg.model)
    cfg = cfg.replace(dropout=spec.default_dropout if cfg.dropout is None else cfg.dropout)
    paths = new_run_dir(cfg.project, cfg.name)
    write_yaml(paths.config, cfg.to_dict())
    write_json(paths.labels, task.meta(cfg, folder.classes))
    write_json(paths.data_report, folder.report)
    write_csv(paths.manifest, manifest(folder))
    state = {"epoch": 0, "history": [], "best": None, "stopped": None, "checkpoint": None, "finished": False,
             "given": list(given)}
    return cfg, paths, state


def _doctor(paths: RunPaths, folder: ImageFolder, say: Callable[[str], None]) -> None:
    """The dataset doctor's findings on the scanned data: doctor.json, and warnings that matter."""
    found = examine([r for recs in folder.splits.values() for r in recs] + folder.skipped)
    write_json(paths.root / "doctor.json", found)
    problems = found["problems"]
    ex, near = found["exact_duplicates"], found["near_duplicates"]
    say(f"doctor: {ex['pairs']} exact and {near['pairs']} near-duplicate pair(s); "
        f"{problems['leakage']} across splits (leakage), {problems['conflicts']} across classes (label conflict)"
        + (f"; largest/smallest class {found['balance']['imbalance_ratio']:.1f}x"
           if found["balance"]["imbalance_ratio"] else "") + "  (doctor.json)")
    if problems["leakage"]:
        say("  warning: validation/test images have copies in training, so their accuracy is overstated; "
            "see doctor.json or `visionflow doctor DATA`")


def _phases(cfg: TrainConfig, backbone: bool) -> list[tuple[int, int, float, bool | None]]:
    """(first epoch, end epoch, learning rate, backbone frozen or None: as built) per phase: frozen
    backbone first, then fine-tuning. After a head phase on cached features every epoch fine-tunes,
    at the fine-tuning rate; --freeze-epochs of at least --epochs keeps the backbone frozen throughout."""
    if backbone and cfg.head_epochs:
        return [(0, cfg.epochs, cfg.learning_rate * cfg.fine_tune_lr_scale, None)]
    if backbone and 0 < cfg.freeze_epochs < cfg.epochs:
        return [(0, cfg.freeze_epochs, cfg.learning_rate, True),
                (cfg.freeze_epochs, cfg.epochs, cfg.learning_rate * cfg.fine_tune_lr_scale, False)]
    if backbone and cfg.freeze_epochs >= cfg.epochs:
        return [(0, cfg.epochs, cfg.learning_rate, True)]
    return [(0, cfg.epochs, cfg.learning_rate, None)]


def _fit(task, cfg: TrainConfig, folder: ImageFolder, paths: RunPaths, state: dict, say: Callable[[str], None],
         model=None, extra: list | None = None, cluster=None, strategies: list | None = None,
         clock: WallClock | None = None) -> None:
    """Runs the remaining epochs, phase by phase, with the run's callbacks.

    `model` is the freshly built model of a new run; a resumed run loads its checkpoint instead.
    With a `cluster` (multi-worker), the model lives in the strategy's scope and
    `training.distributed.fit` runs the epochs. `strategies` (`training.strategies`) supply the
    datasets, the compile, callbacks and what runs before the epochs where the run asks for them.
    """
    import contextlib

    import keras

    from visionflow.models import MODELS
    from visionflow.models.backbones import freeze_batchnorm, set_backbone_trainable
    from visionflow.training.callbacks import Progress, RunKeeper
    from visionflow.training.setup import build_optimizer
    from visionflow.training.strategies import PreciseStatistics, Run, for_run

    n_train = task.epoch_size(cfg, folder)
    workers = cluster.workers if cluster else 1
    batch = cfg.batch_size * workers  # the global batch; each worker takes cfg.batch_size of it
    if cfg.cache == "disk" and paths.cache.exists():
        shutil.rmtree(paths.cache)  # a cache left by an interrupted run may be incomplete
    strategies = for_run(cfg) if strategies is None else strategies
    weights = task.class_weights(folder) if cfg.class_weight == "auto" else None
    run = Run(cfg, task, folder, paths, state, say, batch=batch, images=n_train, class_weight=weights,
              distributed=cluster is not None, clock=clock or WallClock((cfg.time_budget or 0.0) * 60))
    supplied = [d for d in (s.datasets(run) for s in strategies) if d is not None]
    train_ds, val_ds = supplied[0] if supplied else task.datasets(cfg, folder, paths, batch)
    n_train = run.images  # a strategy may train on fewer (the head phase's decision slice)

    def scope():  # a fresh context each time: a strategy scope cannot be entered twice
        return cluster.strategy.scope() if cluster else contextlib.nullcontext()

    with scope():
        if state["checkpoint"]:
            model = keras.saving.load_model(paths.checkpoints / state["checkpoint"], safe_mode=True)
            say(f"resuming after epoch {state['epoch']} from {paths.checkpoints / state['checkpoint']}")
        elif model is None:
            model = task.build(cfg, folder.classes)
        if not state["checkpoint"]:
            task.adapt(model, folder)
    pretrained = cfg.weights != "none"
    if pretrained:
        freeze_batchnorm(model)
    kept = task.kept_model(model)  # what model.keras holds (a GAN keeps its EMA generator)
    best_model = keras.models.clone_model(kept)  # same architecture, no optimizer
    for strategy in strategies:
        if isinstance(strategy, PreciseStatistics):
            strategy.keep(kept)

    spec = MODELS.get(cfg.model)
    phases = _phases(cfg, spec.backbone)
    steps = -(-n_train // batch)
    for strategy in strategies:
        strategy.begin(run, model, val_ds)
    if run.notes.get("done"):  # no epoch to run (the head alone is kept)
        state["stopped"] = run.notes["done"]
        write_json(paths.state, {**state, "wall_seconds": round(run.clock.elapsed(), 2)})
        say(f"stopped: {state['stopped']}")
        return
    keeping = {"monitor": cfg.monitor, "keep": cfg.keep, "patience": cfg.patience}
    given = set(state.get("given", ()))  # what the user set wins over a strategy's choice
    for strategy in strategies:
        keeping.update({k: v for k, v in (strategy.keeping(run) or {}).items() if k not in given})
    before, after = [], []
    for strategy in strategies:
        first, then = strategy.callbacks(run, model)
        before, after = before + first, after + then
    per_worker = f" ({workers} workers x {cfg.batch_size})" if cluster else ""
    epochs = f"up to {cfg.epochs} epochs (the budget decides)" if run.clock.budget_s else f"{cfg.epochs} epochs"
    say(f"model: {cfg.model} ({task.describe_size(model)}), {epochs}, "
        f"batch {batch}{per_worker}, {cfg.image_size[0]}x{cfg.image_size[1]}, {steps} steps per epoch")
    tensorboard = keras.callbacks.TensorBoard(str(paths.tensorboard), write_graph=False, profile_batch=0)
    interactive = None if say is print else False
    state["stopped"] = None
    keeper = progress = None
    try:
        for start, end, lr, frozen in phases:
            if state["epoch"] >= end:
                continue
            # A phase starts fresh unless a checkpoint from inside it was loaded (with its optimizer).
            fresh = state["epoch"] == start and not (start == 0 and state["checkpoint"])
            if frozen is not None and fresh:
                set_backbone_trainable(model, not frozen)
                if pretrained:
                    freeze_batchnorm(model)
                say("backbone frozen: training the classifier head" if frozen
                    else "backbone unfrozen: fine-tuning all layers")
            if fresh or model.optimizer is None:
                with scope():
                    if not any(strategy.compile(run, model, lr) for strategy in strategies):
                        task.compile(model, cfg, folder.classes, lr)
            for strategy in strategies:
                strategy.after_compile(run, model)
            keeper = RunKeeper(paths, state, **keeping, epochs=cfg.epochs,
                               lr_schedule=cfg.lr_schedule, base_lr=lr, phase_start=start,
                               clock=run.clock, best_model=best_model, train_images=n_train, source=kept,
                               phase_end=end)
            progress = Progress(keeper, cfg.epochs, steps, cfg.batch_size, n_train, interactive=interactive,
                                print_fn=say)
            if cluster:
                from visionflow.training import distributed

                try:
                    distributed.fit(model, cluster, train_ds, val_ds, state["epoch"], end,
                                    [*task.callbacks(cfg, paths, folder, state, say), keeper, *(extra or [])], say)
                except distributed.worker_errors() as exc:
                    kept = (f"the last checkpoint is kept: continue with visionflow launch ... train --resume "
                            f"{paths.root}" if state["checkpoint"] else "no epoch finished")
                    raise TrainingFailed(f"Another worker stopped responding during epoch {state['epoch'] + 1} "
                                         f"({type(exc).__name__}); {kept}.") from None
            else:
                build_optimizer(model)
                model.fit(train_ds, validation_data=val_ds, epochs=end, initial_epoch=state["epoch"], verbose=0,
                          shuffle=False, class_weight=weights,
                          callbacks=[*task.callbacks(cfg, paths, folder, state, say), *before, keeper, *after, progress,
                                     tensorboard, *(extra or [])])
            if keeper.nan_at is not None or state["stopped"]:
                break
    except KeyboardInterrupt:
        if progress is not None:
            progress.clear_line()
        best = f"best model so far: {paths.model}; " if paths.model.exists() else ""
        saved = read_json(paths.state)["epoch"] if paths.state.exists() else 0  # the last checkpoint's
        raise Interrupted(f"Interrupted after epoch {saved}; {best}continue with: "
                          f"visionflow train --resume {paths.root}") from None
    finally:
        if keeper is not None:  # the kept model held in memory (Ctrl-C, a NaN, a callback's exception)
            keeper.flush()
        if cfg.cache == "disk":
            shutil.rmtree(paths.cache, ignore_errors=True)

    if keeper is not None and keeper.nan_at is not None:
        epoch, step = keeper.nan_at
        kept = f"the best model so far is intact at {paths.model}" if paths.model.exists() else "no model was saved"
        raise TrainingFailed(f"Loss became NaN at epoch {epoch}, step {step}; {kept}. Lower --learning-rate "
                             f"(now {cfg.learning_rate:g}) or check the data.")
    if state["stopped"]:
        say(f"stopped: {state['stopped']}")
