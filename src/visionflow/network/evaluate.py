"""The figures of a model of a task with its own outputs: after training, on the validation (and
test) images of the run (`finish_run`, the task's "finish" part), and on any folder with
`visionflow evaluate RUN DIR` (`evaluate_folder`). Both write metrics.json, a predictions CSV
and report.html the same way; a task's `Evaluator` subclass says how its answers are scored,
tabled, written and reported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from visionflow.errors import DataError


def epoch_outputs(model, batch: np.ndarray, trained=None) -> np.ndarray:
    """`model`'s outputs for an in-memory batch of validation images at an epoch's end (`trained`:
    the model in training, when `model` wraps it): through predict_on_batch, traced once and then
    ~0.15 s a pass where an eager call took ~1 s every epoch, unless training runs under a
    distribution strategy (multi-worker), whose predict answers once per replica."""
    if getattr(trained if trained is not None else model, "_distribute_strategy", None) is not None:
        return np.asarray(model(batch, training=False))
    return np.asarray(model.predict_on_batch(batch))


class Evaluator:
    """Subclasses set `predictor` (a NetworkPredictor class), `metric` and `metric_title` (the
    per-epoch validation figure, for the training curve), `headline` (the figures metrics.json of
    an evaluation holds at its top) and implement the methods that raise NotImplementedError."""

    predictor: type = None
    metric, metric_title = "", ""
    headline: tuple[str, ...] = ()
    report = ""  # "module:function" of write_report(folder, metrics, meta, results) -> report.html's Path
    where_scored = ""  # how the figures are taken, after the split's name (", at each image's own size")

    # -- what a task says ---------------------------------------------------------------------
    def evaluate(self, predictor, records: list, folder) -> dict:
        """The figures of `records` (of `folder`, which holds their truth), with per-image `rows`."""
        raise NotImplementedError

    def format_table(self, result: dict) -> str:
        raise NotImplementedError

    def write_rows(self, path: Path, result: dict, classes: list[str]) -> None:
        """The per-image predictions CSV."""
        raise NotImplementedError

    def write_report(self, folder: Path, metrics: dict, meta: dict, results: dict | None = None) -> Path:
        """report.html in `folder`, by the task's `report` function."""
        from visionflow.registry import located

        return located(self.report)(folder, metrics, meta, results)

    def read_folder(self, data: Path, predictor) -> tuple[object, list, Path, str | None]:
        """(the folder read, the records to score, where they are, the split picked or None) of an
        evaluation folder: a dataset root (its test split, else its validation split) or one folder."""
        raise NotImplementedError

    def findings(self, folder) -> dict:
        """What reading an evaluation folder found wrong, for its metrics.json."""
        return {}

    def fitted(self, predictor, result: dict, paths, say: Callable[[str], None]) -> None:
        """Decisions fitted on the validation result after training (a detector's score threshold)."""

    def configure(self, predictor, **settings) -> None:
        """Settings of `visionflow evaluate` applied to the loaded model (a detector's --conf)."""

    @staticmethod
    def public(result: dict) -> dict:
        """The result as metrics.json holds it (no per-image rows or pictures)."""
        return {k: v for k, v in result.items() if k != "rows" and not k.startswith("_")}

    # -- shared -------------------------------------------------------------------------------
    def finish_run(self, task, paths, folder, state: dict, cfg, say: Callable[[str], None]) -> dict:
        """After training: the kept model on the validation (and test) images: metrics.json,
        predictions/<split>.csv, plots and report.html."""
        from visionflow import plots
        from visionflow.rundir import write_json

        predictor = self.predictor.load(paths.root, backend="keras")
        plots.training_curves(state["history"], paths.plots / "training_curves.png",
                              best_epoch=state["best"]["epoch"] if state["best"] else None, metric=self.metric,
                              title=self.metric_title)
        metrics: dict = {"task": task.name, "model": cfg.model, "classes": folder.classes,
                         "best_epoch": state["best"]["epoch"] if state["best"] else None, "epochs_run": state["epoch"],
                         "stopped": state["stopped"], "train_seconds": round(state.get("train_seconds", 0.0), 2)}
        results = {}
        for split in ("validation", "test"):
            recs = folder.splits.get(split)
            if not recs:
                continue
            result = results[split] = self.evaluate(predictor, recs, folder)
            if split == "validation":
                self.fitted(predictor, result, paths, say)
            self.write_rows(paths.root / "predictions" / f"{split}.csv", result, folder.classes)
            metrics[split] = self.public(result)
            say(f"\n{split}, kept epoch {metrics['best_epoch'] or state['epoch']}{self.where_scored}:")
            say(self.format_table(result))
        write_json(paths.metrics, metrics)
        self.write_report(paths.root, metrics, predictor.meta, results)
        say(f"\nrun folder: {paths.root}  (model.keras, metrics.json, report.html, predictions/, plots/, history.csv)")
        return metrics

    def evaluate_folder(self, run: str | Path, data: str | Path, out: str | Path | None = None, unsafe: bool = False,
                        backend: str = "auto", **settings) -> dict:
        """`visionflow evaluate RUN DIR`: metrics.json (the `headline` figures at its top),
        predictions.csv and report.html in `out` (default RUN/evaluations/<DIR name>)."""
        from visionflow.rundir import write_json

        data = Path(data)
        if not data.is_dir():
            raise DataError(f"Evaluation folder {data} does not exist or is not a folder.")
        predictor = self.predictor.load(run, backend=backend, unsafe=unsafe)
        self.configure(predictor, **settings)
        folder, recs, where, pick = self.read_folder(data, predictor)
        result = self.evaluate(predictor, recs, folder)
        run_path = Path(run)
        root = run_path if run_path.is_dir() else run_path.parent
        target = Path(out) if out else root / "evaluations" / (data.resolve().name or "data")
        target.mkdir(parents=True, exist_ok=True)
        self.write_rows(target / "predictions.csv", result, predictor.classes)
        metrics = {"task": predictor.task, "data": str(where), "split": pick or "all", "model": predictor.source,
                   "backend": predictor.backend, "classes": predictor.classes, "skipped": len(folder.skipped),
                   **self.findings(folder), "evaluation": self.public(result),
                   **{k: result[k] for k in self.headline}}
        write_json(target / "metrics.json", metrics)
        self.write_report(target, metrics, predictor.meta, {"evaluation": result})
        return {**result, "out": str(target), "data": str(where), "skipped": folder.skipped,
                "problems": folder.report.get("problems", [])}

    def rebuild(self, task, folder: Path, meta: dict, metrics: dict) -> Path:
        """The task's "report" part: report.html of a run or evaluation folder from its metrics.json."""
        return self.write_report(Path(folder), metrics, meta)
