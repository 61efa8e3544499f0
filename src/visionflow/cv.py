"""Cross-validation: k models on stratified folds, mean ± std of each metric, one report.

Folds come from scikit-learn's StratifiedGroupKFold with near-duplicate groups (the splitter's
difference-hash groups) as the groups, so copies of one picture stay inside one fold. Every fold
is a normal run folder (OUT/fold1, ...). The out-of-fold probabilities of all images (each
predicted by the model that did not train on it) are pooled into one evaluation and handed to
the dataset doctor, which ranks likely label errors from them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import numpy as np

from visionflow import tasks
from visionflow.config import TrainConfig
from visionflow.data.dataset import absolute_data, make_folder
from visionflow.data.scan import Record
from visionflow.data.split import record_groups
from visionflow.errors import ConfigError, DataError
from visionflow.options import CvOptions
from visionflow.rundir import new_run_dir, write_csv, write_json

FOLD_METRICS = ("accuracy", "macro_f1", "log_loss", "ece", "roc_auc")


def make_folds(records: list[Record], folds: int, seed: int) -> tuple[list[int], int]:
    """A fold number (0..folds-1) per record, stratified by label, near-duplicate groups kept
    together; and how many images are in groups of two or more.

    Raises:
        ConfigError: fewer than 2 folds, or a class with fewer groups than folds.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    if folds < 2:
        raise ConfigError(f"--folds must be at least 2. Received: {folds}")
    groups = record_groups(records)
    labels = [r.label for r in records]
    for label in sorted(set(labels)):
        n = len({g for g, lab in zip(groups, labels) if lab == label})
        if n < folds:
            raise DataError(f"Class {label} has {n} distinct image(s) (after grouping duplicates); "
                            f"--folds {folds} needs at least {folds} per class. Use fewer folds or add images.")
    sizes = np.bincount(groups)
    grouped = int(sum(sizes[g] for g in set(groups) if sizes[g] > 1))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    assignment = [0] * len(records)
    for k, (_, val_idx) in enumerate(splitter.split(np.zeros(len(records)), labels, groups)):
        for i in val_idx:
            assignment[i] = k
    return assignment, grouped


def _fold_row(k: int, result, train_n: int, val_n: int) -> dict:
    m = result.metrics["validation"]
    row = {"fold": k + 1, "train_images": train_n, "validation_images": val_n, "best_epoch": result.metrics["best_epoch"],
           "accuracy": m["accuracy"], "macro_f1": m["macro_avg"]["f1-score"], "log_loss": m["log_loss"], "ece": m["ece"]}
    if "roc_auc" in m:
        row["roc_auc"] = m["roc_auc"]
    return row


def cross_validate(data: str | Path, folds: int = CvOptions.folds, config: TrainConfig | None = None,
                   out: str | Path | None = None,
                   say: Callable[[str], None] = print, **overrides) -> dict:
    """Trains `folds` models on stratified folds of `data` and writes OUT/cv.json, OUT/report.html.

    Args:
        data: DIR/<class>/, or DIR/train + DIR/validation (pooled; DIR/test is left out).
        folds: number of folds (each image is validated exactly once).
        config: training settings (val_split is ignored); `overrides` replace single fields.
        out: output folder (default: the next free <project>/cvN).
        say: progress lines; each fold's training output is indented under its heading.

    Returns:
        The cv.json contents: per-fold rows, mean and std, pooled out-of-fold metrics.

    Raises:
        ConfigError / DataError: bad settings, or too few images per class for the folds.
    """
    from visionflow.doctor import examine, scan_data, summary_lines
    from visionflow.predictions import Labelling, read_predictions
    from visionflow.report import cv_report
    from visionflow.workflow import train

    data = absolute_data(data)  # the folds' runs and cv.json are usable from any working folder
    base = config.to_dict() if config else {}
    cfg = tasks.supported(TrainConfig.from_dict({**base, **overrides, "data": data, "val_split": 0.0}),
                          "visionflow cv")
    if getattr(cfg, "columns", ""):
        raise ConfigError("visionflow cv folds class folders; --columns (a labels CSV's columns) is not supported by "
                          "cv yet: train with --columns and a validation split instead.")
    task = tasks.get(cfg.task)
    records = scan_data(data, cfg.image_size)
    pool = sorted((r for r in records if r.ok and r.split in ("train", "validation", "all")), key=lambda r: r.path)
    skipped = [r for r in records if not r.ok]
    classes = sorted({r.label for r in pool})
    if len(classes) < 2:
        raise DataError(f"Cross-validation needs at least 2 classes with images in {data}.")
    assignment, grouped = make_folds(pool, folds, cfg.seed)
    root = new_run_dir(cfg.project, cfg.name, prefix="cv").root if out is None else _fresh(Path(out))
    say(f"cross-validation: {len(pool)} images, {len(classes)} classes, {folds} folds (seed {cfg.seed}); "
        f"{grouped} near-duplicate images kept inside one fold; output {root}")
    rows, fold_rows = [], []
    for k in range(folds):
        train_r, val_r = [], []
        for r, f in zip(pool, assignment):
            r = copy.copy(r)
            r.split = "validation" if f == k else "train"
            (val_r if f == k else train_r).append(r)
        info = {"kind": "cv", "fold": k + 1, "folds": folds, "seed": cfg.seed,
                "strategy": "stratified group k-fold, near-duplicates grouped", "duplicates_grouped": grouped}
        folder = make_folder(data, {"pool": str(data)}, classes, {"train": train_r, "validation": val_r}, skipped, info)
        say(f"\nfold {k + 1}/{folds}: {len(train_r)} train, {len(val_r)} validation images")
        result = train(cfg.replace(project=str(root), name=f"fold{k + 1}"), folder=folder,
                       say=lambda text: say(_indent(text)))
        fold_rows.append(_fold_row(k, result, len(train_r), len(val_r)))
        # Images that failed to decode at training time are absent from predictions.csv.
        rows.extend(task.prediction_rows(*read_predictions(result.run_dir / "predictions" / "validation.csv", classes),
                                         Labelling(classes)))
    index = {c: i for i, c in enumerate(classes)}
    y_all = np.array([index[r["label"]] for r in rows])
    p_all = np.array([[r[f"prob:{c}"] for c in classes] for r in rows], dtype=np.float64)
    oof = task.compute_metrics(y_all, p_all, Labelling(classes))
    write_csv(root / "oof_predictions.csv", rows)
    task.write_plots({**oof, "predictions": rows}, classes, root / "plots", name="out-of-fold", prefix="oof_")
    keys = [k for k in FOLD_METRICS if all(k in f for f in fold_rows)]
    summary = {
        "data": str(data), "classes": classes, "config": cfg.to_dict(), "folds_count": folds, "seed": cfg.seed,
        "images": len(rows), "duplicates_grouped": grouped, "folds": fold_rows,
        "mean": {k: float(np.mean([f[k] for f in fold_rows])) for k in keys},
        "std": {k: float(np.std([f[k] for f in fold_rows], ddof=1)) for k in keys},
        "oof": oof,
    }
    write_json(root / "cv.json", summary)
    found = examine(records, ([r["path"] for r in rows], y_all, p_all, classes))
    found["data"] = str(data)
    write_json(root / "doctor.json", found)
    cv_report(root)
    say("\n" + format_folds(summary))
    for line in summary_lines(found)[-6:]:
        if line.startswith(("likely label errors", "  ")):
            say(line)
    say(f"\nwritten: {root / 'cv.json'}, {root / 'report.html'}, {root / 'oof_predictions.csv'}, fold runs in {root}/fold*")
    summary["out"] = str(root)
    return summary


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.split("\n"))


def _fresh(folder: Path) -> Path:
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"Output folder {folder} already exists and is not empty; pick another --out.")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def format_folds(summary: dict) -> str:
    """Per-fold figures and mean ± std as a plain-text table."""
    keys = list(summary["mean"])
    lines = ["fold  " + "  ".join(f"{k:>9}" for k in keys)]
    for f in summary["folds"]:
        lines.append(f"{f['fold']:>4}  " + "  ".join(f"{f[k]:9.4f}" for k in keys))
    lines.append("mean  " + "  ".join(f"{summary['mean'][k]:9.4f}" for k in keys))
    lines.append(" std  " + "  ".join(f"{summary['std'][k]:9.4f}" for k in keys))
    return "\n".join(lines)
