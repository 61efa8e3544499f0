"""`visionflow tune`: hyperparameter search on Optuna, each trial a normal (small) run.

Samplers: TPE for "bayes", Optuna's random and grid samplers for the others. Bad trials are
pruned from their per-epoch validation metric (median or Hyperband pruner). The study lives in
SQLite inside the tune folder (or any database URL given with `storage`), so a crashed search
continues with `resume`, and several processes pointed at one storage share the work.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Callable

from visionflow import tasks
from visionflow.config import TrainConfig
from visionflow.errors import ConfigError, TrainingFailed
from visionflow.options import TuneOptions
from visionflow.recipe import fixed
from visionflow.rundir import new_run_dir, write_csv, write_json, write_yaml
from visionflow.tuning.space import Param, baseline, load_space, parse_space

SEARCHES = TuneOptions.__dataclass_fields__["search"].metadata["choices"]
PRUNERS = TuneOptions.__dataclass_fields__["pruner"].metadata["choices"]
STUDY = "visionflow"


def _optuna():
    from visionflow.runtime import need

    optuna = need("optuna", "tune")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def pruning_callback(trial, monitor: str):
    """A Keras callback reporting `monitor` after each epoch and stopping the run when the pruner
    says the trial is doing worse than the others did at the same epoch."""
    import keras

    optuna = _optuna()

    class Prune(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(monitor)
            if value is None:
                return
            trial.report(float(value), epoch + 1)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch + 1} ({monitor} {value:.4f})")

    return Prune()


def _sampler(optuna, search: str, params: list[Param], seed: int):
    if search == "bayes":
        return optuna.samplers.TPESampler(seed=seed)
    if search == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.GridSampler({p.name: p.grid() for p in params}, seed=seed)


def _pruner(optuna, name: str, epochs: int):
    if name == "median":
        # Not before half the epochs: on flowers5 the first epochs ranked trials poorly (strong
        # augmentation starts slow), and pruning from epoch 1 stopped 9 of 12 trials there.
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=max(1, epochs // 2))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs)
    return optuna.pruners.NopPruner()


def _storage(optuna, url: str):
    # Heartbeats let a later process mark the trials of a crashed one as failed.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, heartbeat_interval=30, grace_period=90)


def tune(data: str | Path, trials: int = TuneOptions.trials, search: str = TuneOptions.search,
         space: str | Path | dict | None = None, config: TrainConfig | None = None, out: str | Path | None = None,
         storage: str | None = None, resume: bool = False, budget_minutes: float = TuneOptions.budget_minutes,
         pruner: str = TuneOptions.pruner, retrain: bool = False,
         enqueue: list[dict] | None = None, say: Callable[[str], None] = print, **overrides) -> dict:
    """Searches training settings for the best validation score and writes a tune folder.

    Args:
        data: the image folder, as for `train` (with `val_split` when it has no validation folder).
        trials: finished (complete or pruned) trials the study should hold; with `resume` the
            earlier ones count.
        search: "bayes" (TPE), "random" or "grid".
        space: a YAML file or a mapping (see `tuning/space.py`); None uses DEFAULT_SPACE.
        config: the settings every trial starts from (epochs, image size, ...); `overrides`
            replace single fields.
        out: the tune folder (default: the next free <project>/tuneN).
        storage: an Optuna storage URL shared by several processes (default: OUT/study.db).
        resume: continue the study in `out` (or `storage`) instead of refusing an existing one.
        budget_minutes: stop starting trials after this many minutes (0: no limit).
        pruner: "median", "hyperband" or "none".
        retrain: train the best settings into a normal run folder afterwards.
        enqueue: settings to try first, in order (the base config's own values go first anyway,
            when the space holds them, so the leaderboard shows what tuning gained).
        say: progress lines.

    Returns:
        Summary: best value and settings, the baseline's value, counts, paths.

    Raises:
        ConfigError: bad settings or space, a search/pruner name, or an existing study without resume.
    """
    optuna = _optuna()
    if search not in SEARCHES:
        from visionflow.registry import unknown_message

        raise ConfigError(unknown_message("search", search, list(SEARCHES)))
    if pruner not in PRUNERS:
        from visionflow.registry import unknown_message

        raise ConfigError(unknown_message("pruner", pruner, list(PRUNERS)))
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1. Received: {trials}")
    base = config.to_dict() if config else {}
    from visionflow.data.dataset import absolute_data

    cfg = TrainConfig.from_dict({**base, **overrides, "data": absolute_data(data)})  # resumable from anywhere
    # Trials are short comparable runs: settings neither given nor searched take the tutorial
    # recipe's fixed values (the auto recipe's time budget would make every trial as long as a run).
    cfg = fixed(cfg, "tutorial")
    cfg = tasks.supported(cfg, "visionflow tune")
    params = parse_space(space, "search space") if isinstance(space, dict) else load_space(space)
    root = _tune_dir(cfg, out, storage, resume)
    url = storage or f"sqlite:///{(root / 'study.db').resolve()}"
    maximize = cfg.monitor == "val_accuracy"
    study = optuna.create_study(study_name=STUDY, storage=_storage(optuna, url), load_if_exists=True,
                                sampler=_sampler(optuna, search, params, cfg.seed),
                                pruner=_pruner(optuna, pruner, cfg.epochs),
                                direction="maximize" if maximize else "minimize")
    _check_same_search(study, cfg, params)
    if not study.trials:
        # The grid holds the base config's values when they are grid points; other searches try it first.
        start = baseline(params, cfg) if search != "grid" else None
        for values in ([start] if start else []) + list(enqueue or []):
            study.enqueue_trial(values, user_attrs={"baseline": values is start}, skip_if_exists=True)
    metric = "accuracy" if maximize else "log loss"
    say(f"tune: {search} search over {', '.join(p.name for p in params)}; {trials} trials of up to {cfg.epochs} "
        f"epochs; validation {metric}; {pruner} pruning; study {url}")

    def objective(trial) -> float:
        import keras

        from visionflow.workflow import train

        values = {p.name: p.suggest(trial) for p in params}
        trial_cfg = cfg.replace(**values, project=str(root / "trials"), name=f"trial{trial.number}")
        trial_cfg = TrainConfig.from_dict(trial_cfg.to_dict())  # coerce, e.g. image_size 64 -> (64, 64)
        shown = ", ".join(f"{k}={_short(v)}" for k, v in values.items())
        t0 = time.perf_counter()
        try:
            result = train(trial_cfg, callbacks=[pruning_callback(trial, cfg.monitor)], say=lambda s: None)
        except optuna.TrialPruned as exc:
            trial.set_user_attr("seconds", round(time.perf_counter() - t0, 1))
            say(f"  trial {trial.number:3d}  pruned   {exc}  ({shown})")
            raise
        finally:
            keras.backend.clear_session()
        m = result.metrics["validation"]
        value = m["accuracy"] if maximize else m["log_loss"]
        trial.set_user_attr("seconds", round(time.perf_counter() - t0, 1))
        trial.set_user_attr("epochs", result.metrics["epochs_run"])
        trial.set_user_attr("run", str(result.run_dir))
        say(f"  trial {trial.number:3d}  {metric} {value:.4f}  {trial.user_attrs['seconds']:6.1f}s  ({shown})")
        return value

    done = _finished(study, optuna)
    if done < trials:
        stop = optuna.study.MaxTrialsCallback(trials, states=(optuna.trial.TrialState.COMPLETE,
                                                              optuna.trial.TrialState.PRUNED))
        try:
            study.optimize(objective, callbacks=[stop], timeout=budget_minutes * 60 or None,
                           catch=(TrainingFailed,), gc_after_trial=True)
        except KeyboardInterrupt:
            say(f"interrupted; continue with: visionflow tune {data} --out {root} --resume")
            raise
    else:
        say(f"the study already holds {done} finished trials; raise --trials to run more")
    summary = write_results(study, cfg, params, root, optuna, say)
    if retrain and summary.get("best_config"):
        from visionflow.workflow import train

        say("\nretraining the best settings into a run folder")
        run = train(TrainConfig.from_dict(summary["best_config"]).replace(name=""), say=say)
        summary["retrained"] = str(run.run_dir)
    return summary


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _finished(study, optuna) -> int:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return sum(t.state in states for t in study.trials)


def _tune_dir(cfg: TrainConfig, out: str | Path | None, storage: str | None, resume: bool) -> Path:
    if out is None:
        if resume:
            raise ConfigError("--resume needs --out DIR: the tune folder to continue.")
        return new_run_dir(cfg.project, cfg.name, prefix="tune").root
    root = Path(out)
    if (root / "study.db").exists() and storage is None and not resume:
        raise ConfigError(f"{root} already holds a study; continue it with --resume, or pick another --out.")
    if resume and storage is None and not (root / "study.db").exists():
        raise ConfigError(f"{root} holds no study to resume (no study.db).")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _check_same_search(study, cfg: TrainConfig, params: list[Param]) -> None:
    """Stores what the study searches on first use; a later process must search the same."""
    described = {"data": cfg.data, "space": {p.name: list(p.choices) if p.choices else [p.low, p.high, p.log]
                                             for p in params}, "epochs": cfg.epochs}
    stored = study.user_attrs.get("search")
    if stored is None:
        study.set_user_attr("search", described)
    elif stored != described:
        raise ConfigError("This study searched a different data folder, space or epoch count "
                          f"({stored}); use another --out or --storage for a new search.")


def leaderboard(study, optuna) -> list[dict]:
    """Finished trials, best first (pruned ones after complete ones, by their last reported value)."""
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    rows = []
    for t in study.trials:
        if t.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                           optuna.trial.TrialState.FAIL):
            continue
        last = t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None
        rows.append({"trial": t.number, "state": t.state.name.lower(), "value": t.value,
                     "last_epoch_value": last, "epochs": t.user_attrs.get("epochs", len(t.intermediate_values)),
                     "seconds": t.user_attrs.get("seconds"), "baseline": bool(t.user_attrs.get("baseline")),
                     **t.params})
    sign = -1 if maximize else 1

    def key(r):
        complete = r["state"] == "complete"
        v = r["value"] if complete else r["last_epoch_value"]
        return (not complete, r["state"] == "fail", sign * v if v is not None else float("inf"))

    rows.sort(key=key)
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows


def write_results(study, cfg: TrainConfig, params: list[Param], root: Path, optuna,
                  say: Callable[[str], None]) -> dict:
    """leaderboard.csv, best.yaml, tune.json and report.html; prints the leaderboard."""
    from visionflow.tuning.report import tune_report

    rows = leaderboard(study, optuna)
    write_csv(root / "leaderboard.csv", [{k: r[k] for k in ("rank", "trial", "state", "value", "epochs", "seconds",
                                                            "baseline", *(p.name for p in params)) if k in r}
                                         for r in rows])
    complete = [r for r in rows if r["state"] == "complete"]
    summary: dict = {"trials": len(rows), "complete": len(complete),
                     "pruned": sum(r["state"] == "pruned" for r in rows),
                     "failed": sum(r["state"] == "fail" for r in rows),
                     "metric": "validation accuracy" if cfg.monitor == "val_accuracy" else "validation log loss",
                     "out": str(root)}
    base = next((r for r in rows if r["baseline"]), None)
    summary["baseline"] = base["value"] if base else None
    if complete:
        best = complete[0]
        best_values = {p.name: best[p.name] for p in params}
        best_cfg = TrainConfig.from_dict({**cfg.to_dict(), **best_values, "name": ""})
        write_yaml(root / "best.yaml", best_cfg.to_dict())
        summary.update(best_value=best["value"], best_trial=best["trial"], best_params=best_values,
                       best_config=best_cfg.to_dict())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "importances will be equal" on flat objectives
            summary["importances"] = {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError):  # fewer than two complete trials, or nothing varied
        summary["importances"] = {}
    write_json(root / "tune.json", {**summary, "leaderboard": rows})
    tune_report(root, summary, rows, params)
    say("\n" + format_leaderboard(rows, params, summary))
    if complete:
        say(f"\nbest: trial {summary['best_trial']}, {summary['metric']} {summary['best_value']:.4f}"
            + (f" (baseline {summary['baseline']:.4f})" if summary["baseline"] is not None else ""))
    say(f"written: {root / 'leaderboard.csv'}, {root / 'best.yaml'}, {root / 'report.html'}")
    return summary


def format_leaderboard(rows: list[dict], params: list[Param], summary: dict, top: int = 15) -> str:
    names = [p.name for p in params]
    head = f"{'rank':>4} {'trial':>5} {'state':<8} {'value':>7} {'epochs':>6} {'sec':>6}  " + "  ".join(names)
    lines = [head]
    for r in rows[:top]:
        value = r["value"] if r["value"] is not None else r["last_epoch_value"]
        shown = f"{value:7.4f}" if value is not None else "      -"
        mark = " (baseline)" if r["baseline"] else ""
        lines.append(f"{r['rank']:>4} {r['trial']:>5} {r['state']:<8} {shown} {r['epochs'] or 0:>6} "
                     f"{r['seconds'] or 0:>6.0f}  " + "  ".join(_short(r.get(n)) for n in names) + mark)
    if len(rows) > top:
        lines.append(f"... {len(rows) - top} more in leaderboard.csv")
    return "\n".join(lines)
