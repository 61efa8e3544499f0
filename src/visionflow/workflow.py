"""The training workflow: train -> evaluate -> fit the task's decisions -> report.

Each step is usable alone (`training.trainer.fit`, `evaluation.evaluate_paths`, the task's
`fit_thresholds` / `after_validation`, `report.run_report`); `train` chains them into the run
folder a user gets from `visionflow train`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from visionflow.config import TrainConfig
from visionflow.data.dataset import ImageFolder
from visionflow.rundir import RunPaths, write_csv, write_json


@dataclass
class RunResult:
    """What `train` returns: where the run is, and its final figures."""

    run_dir: Path | None  # None on distributed workers other than the chief
    metrics: dict
    history: list[dict]
    stopped: str | None


def train(config: TrainConfig | None = None, *, resume: str | Path | None = None,
          folder: ImageFolder | None = None, callbacks: list | None = None, distributed: bool = False,
          say: Callable[[str], None] = print, **overrides) -> RunResult:
    """Trains a model on an image folder and writes a complete run directory: the model, its
    evaluation on the validation (and test) images, the task's fitted decisions and report.html.

    The arguments are those of `visionflow.training.trainer.fit` (config and keyword overrides,
    resume, folder, callbacks, distributed, say), which trains; this then evaluates, fits the
    task's decisions (thresholds, temperature) and writes the report.

    Returns:
        RunResult with the run folder, validation metrics and per-epoch history.

    Raises:
        DataError / ConfigError: bad folder or settings (no run folder is created).
        TrainingFailed: the loss became NaN; model.keras keeps the last good best model.
        Interrupted: Ctrl-C; the best model and last checkpoint are kept for --resume.

    Example:
        >>> visionflow.train(data="data/", epochs=15, model="small_cnn")
    """
    from visionflow.training.trainer import fit

    fitted = fit(config, resume=resume, folder=folder, callbacks=callbacks, distributed=distributed, say=say,
                 **overrides)
    if fitted.paths is None:
        return RunResult(None, {}, fitted.state["history"], fitted.state["stopped"])
    if not fitted.state.get("versus_scratch"):  # small pretrained runs: from scratch may do better
        from visionflow.training.challenge import challenge

        fitted = challenge(fitted, {"model", "weights"} <= set(fitted.chosen), say)
    metrics = finish_run(fitted.task, fitted.paths, fitted.folder, fitted.state, fitted.cfg, say)
    if fitted.clock is not None:  # everything the run spent, against its budget
        metrics = {**metrics, "wall_seconds": round(fitted.clock.elapsed(), 2),
                   "time_budget_minutes": fitted.cfg.time_budget or 0.0}
        write_json(fitted.paths.metrics, metrics)
        say(fitted.clock.line())
    return RunResult(fitted.paths.root, metrics, fitted.state["history"], fitted.state["stopped"])


def finish_run(task, paths: RunPaths, folder: ImageFolder, state: dict, cfg: TrainConfig,
               say: Callable[[str], None]) -> dict:
    """Evaluates the kept model as its task does (its "finish" part) and returns metrics.json."""
    return task.part("finish")(task, paths, folder, state, cfg, say)


def evaluate_labels(task, paths: RunPaths, folder: ImageFolder, state: dict, cfg: TrainConfig,
                    say: Callable[[str], None]) -> dict:
    """Label tasks (their "finish" part): evaluates the kept model on the validation (and test)
    images with the task's decisions fitted on validation, and writes metrics.json,
    predictions/<split>.csv, the plots and report.html."""
    from visionflow import plots
    from visionflow.evaluation import evaluate_paths
    from visionflow.predict import load
    from visionflow.report import run_report

    predictor = load(paths.root, backend="keras")  # Grad-CAM in the report needs it; no export mid-training
    plots.training_curves(state["history"], paths.plots / "training_curves.png",
                          best_epoch=state["best"]["epoch"] if state["best"] else None, metric=task.curve_metric[0],
                          title=task.curve_metric[1])
    metrics: dict = {"best_epoch": state["best"]["epoch"] if state["best"] else None,
                     "epochs_run": state["epoch"], "stopped": state["stopped"],
                     **({"head": state["head"]} if state.get("head") else {}),
                     **({"fine_tune": state["fine_tune"]} if state.get("fine_tune") else {}),
                     **({"versus_scratch": state["versus_scratch"]} if state.get("versus_scratch") else {}),
                     "train_seconds": round(state.get("train_seconds", 0.0), 2), "workers": state.get("workers", 1)}
    if state.get("privacy"):
        from visionflow.privacy.training import summary

        metrics.update(summary(state))
        p = metrics["privacy"]
        say(f"privacy: epsilon {p['epsilon']:.3g} of the target {p['target_epsilon']:g} spent at delta {p['delta']:.2g} "
            f"({p['steps']} of {p['planned_steps']} planned steps)")
    if predictor.fusion is not None:  # the columns of every image, by path
        predictor.use_table({r.path: r.values or {} for recs in folder.splits.values() for r in recs})
    metrics.update(task.fit_thresholds(paths, predictor, folder, cfg, say) or {})
    for split in ("validation", "test"):
        recs = folder.splits.get(split)
        if not recs:
            continue
        result = evaluate_paths(predictor, [r.path for r in recs], task.targets(recs, folder.classes), batch_size=64)
        write_csv(paths.root / "predictions" / f"{split}.csv", result["predictions"])
        task.write_plots(result, folder.classes, paths.plots, name=split, prefix=f"{split}_")
        if predictor.second:
            from visionflow.tabular.evaluate import modalities

            result["modalities"] = modalities(predictor, [r.path for r in recs], [r.values or {} for r in recs],
                                              task.targets(recs, folder.classes), seed=cfg.seed)
        metrics[split] = {k: v for k, v in result.items() if k != "predictions"}
        kept = "last" if cfg.keep == "last" else "best"
        which = (f"{kept} epoch {metrics['best_epoch']}" if metrics["best_epoch"]
                 else "the head alone" if state.get("head") else f"epoch {metrics['best_epoch']}")
        if state.get("fine_tune") and metrics["best_epoch"]:
            which = f"epoch {metrics['best_epoch']} (the held-out training slice's best)"
        say(f"\n{split} ({result['images']} {folder.report.get('unit', 'images')}), {which}:")
        say(task.format_table(result, folder.classes))
        if result.get("modalities"):
            from visionflow.tabular.evaluate import format_lines

            for line in format_lines(result["modalities"]):
                say(line)
        if split == "validation":
            metrics.update(task.after_validation(paths, predictor, result, cfg, say) or {})
    write_json(paths.metrics, metrics)
    run_report(paths.root, predictor)
    say(f"\nrun folder: {paths.root}  (model.keras, metrics.json, report.html, plots/, history.csv, tensorboard/)")
    return metrics
