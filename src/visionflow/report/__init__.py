"""report.html for a run, an evaluation, a cross-validation or a doctor check.

Each report is rebuilt from the files its command wrote (metrics.json, predictions CSVs, plots,
doctor.json, ...), so `visionflow report PATH` can redo it at any time; only the Grad-CAM
overlays need the model, and the thumbnails the images. The page is one self-contained file.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

from visionflow.errors import ConfigError
from visionflow.report import sections as sec
from visionflow.report.html import Page, esc, tiles
from visionflow.rundir import RunPaths, locate, read_json, write_text

REPORT = "report.html"
THUMB = 120


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _head_note(head: dict | None) -> str:
    """One sentence on the head phase of a transfer-learning run (empty without one)."""
    if not head:
        return ""
    return (f" Before the epochs above, the classifier head trained alone for {head['epochs']} epochs on the "
            f"pretrained backbone's features of {head['train_images']} training images ({head['seconds']:.0f} s): "
            + (f"validation accuracy {head['val_accuracy']:.4f}." if "val_accuracy" in head
               else f"validation MAE {head['val_mae']:.4g}." if "val_mae" in head else "held-out figures not kept."))


def _versus_note(versus: dict | None) -> str:
    """One sentence on the from-scratch challenger of a small pretrained run (empty without one)."""
    if not versus:
        return ""
    scores = {"pretrained": versus["pretrained"], "scratch": versus["scratch"]}
    said = " against ".join(f"{s['model']} {s['slice_accuracy']:.1%} (loss {s['slice_loss']:.3f})"
                            for s in scores.values())
    return (f" On the {versus['slice_images']} training images held out to decide, {said}: {versus['winner']} is "
            f"the run's model, the other is in runner_up/.")


def _explainer(predictor) -> Callable | None:
    """(image path, class) -> Grad-CAM overlay at thumbnail size; None without a Keras model."""
    if predictor is None or predictor.model is None:
        return None
    from visionflow.gradcam import GradCam, framed

    try:
        cam = GradCam(predictor)
    except Exception:  # a model Grad-CAM cannot handle still gets its report
        return None

    def explain(path: Path, class_name: str):
        return cam.explain(path, class_name).overlay(framed(predictor, path, THUMB))

    return explain


def _evaluation(page: Page, prefix: str, title: str, m: dict, rows: list[dict], classes: list[str],
                plots: Path, plot_prefix: str, resolve: Callable[[str], Path], explainer,
                calibration: dict | None = None, task: str | None = None) -> None:
    from visionflow import tasks

    tasks.get(task).report_sections(page, prefix, title, m, rows, classes, plots, plot_prefix, resolve, explainer,
                                    {"calibration": calibration})
    if m.get("modalities"):
        first, second = m["modalities"].get("inputs", ("image", "columns"))
        sec.modalities_section(page, f"{prefix}modalities", f"{title}: {first} and {second}", m["modalities"])


def run_report(run: str | Path, predictor=None) -> Path:
    """Writes RUN/report.html from the run's files; `predictor` (loaded if None) draws Grad-CAM."""
    import yaml

    paths = RunPaths(Path(run))
    if not paths.config.exists():
        raise ConfigError(f"{run} is not a run folder (no config.yaml).")
    config = yaml.safe_load(paths.config.read_text(encoding="utf-8")) or {}
    labels = read_json(paths.labels) if paths.labels.exists() else {}
    metrics = read_json(paths.metrics) if paths.metrics.exists() else {}
    data = read_json(paths.data_report) if paths.data_report.exists() else {}
    history = _rows(paths.history)
    classes = labels.get("classes") or data.get("classes") or []
    resolve = lambda p: locate(p, paths.root)  # noqa: E731
    if predictor is None and paths.model.exists():
        from visionflow.predict import load

        try:
            predictor = load(paths.root, backend="keras")
        except Exception:  # the report still renders without Grad-CAM
            predictor = None
    from visionflow import tasks

    task = tasks.get(labels.get("task"))
    val = metrics.get("validation") or {}
    counts = data.get("counts", {})
    noun = data.get("noun", "classes").capitalize()
    page = Page(f"Run {paths.root.name}", f"{config.get('model', '?')} on {config.get('data', '?')}")
    page.add("summary", "Summary", tiles([
        *((f"validation {name}", value) for name, value in task.summary_tiles(val)),
        ("best epoch", metrics.get("best_epoch")),
        ("epochs run", metrics.get("epochs_run")),
        ("training seconds", metrics.get("train_seconds")),
        ("train images", counts.get("train", {}).get("images")),
        ("validation images", counts.get("validation", {}).get("images")),
    ]) + (f'<p class="note">{noun}: {", ".join(classes)}. Stopped: {metrics.get("stopped") or "all epochs run"}. '
          f'Skipped files: {data.get("skipped_count", 0)}.{_head_note(metrics.get("head"))}'
          f'{_versus_note(metrics.get("versus_scratch"))}</p>' if metrics else
          '<p class="note">The run has not finished: no final metrics yet.</p>'))
    sec.config_section(page, config)
    sec.curves_section(page, paths.plots / "training_curves.png", history)
    audit = paths.root / "audit" / "audit.json"
    sec.privacy_section(page, metrics, read_json(audit) if audit.exists() else None, audit.parent / "roc.png")
    explainer = _explainer(predictor)
    for split, prefix in (("validation", ""), ("test", "test-")):
        if split in metrics:
            _evaluation(page, prefix, split.capitalize(), metrics[split], _rows(paths.root / "predictions" / f"{split}.csv"),
                        classes, paths.plots, f"{split}_", resolve, explainer,
                        metrics.get("calibration") if split == "validation" else None, task.name)
    doctor_file = paths.root / "doctor.json"
    if doctor_file.exists():
        sec.doctor_section(page, read_json(doctor_file), resolve)
    out = paths.root / REPORT
    write_text(out, page.render())
    return out


def evaluation_report(folder: str | Path, predictor=None) -> Path:
    """Writes FOLDER/report.html for a `visionflow evaluate` output folder."""
    folder = Path(folder)
    m = read_json(folder / "metrics.json")
    classes = m["classes"]
    source = Path(m.get("model", ""))
    run_root = source.parent if source.name else folder
    resolve = lambda p: locate(p, run_root)  # noqa: E731
    if predictor is None and source.name and source.exists():
        from visionflow.predict import load

        try:
            predictor = load(source)
        except Exception:
            predictor = None
    from visionflow import tasks

    task = tasks.get(m.get("task"))
    page = Page(f"Evaluation: {folder.name}", f"{m.get('model', '')} on {m.get('data', '')}")
    page.add("summary", "Summary", tiles([*task.summary_tiles(m), ("images", m["images"]),
                                          ("skipped", len(m.get("skipped", [])) + len(m.get("failed", [])))]))
    run = RunPaths(run_root)
    if run.config.exists():
        import yaml

        sec.config_section(page, yaml.safe_load(run.config.read_text(encoding="utf-8")) or {})
        sec.curves_section(page, run.plots / "training_curves.png", _rows(run.history))
    _evaluation(page, "", folder.name, m, _rows(folder / "predictions.csv"), classes, folder, "", resolve,
                _explainer(predictor), task=task.name)
    if m.get("slices"):
        sec.slices_section(page, m["slices"], folder / "slices.png", classes)
    out = folder / REPORT
    write_text(out, page.render())
    return out


def doctor_report(folder: str | Path) -> Path:
    """Writes FOLDER/report.html for a `visionflow doctor` output folder."""
    folder = Path(folder)
    d = read_json(folder / "doctor.json")
    page = Page(f"Dataset doctor: {Path(d.get('data', folder)).name}", str(d.get("data", "")))
    sec.doctor_section(page, d, lambda p: Path(p))
    if d.get("slices"):
        from visionflow.fairness.balance import format_table

        page.add("slices", "Slices", "<pre>" + esc("\n".join(format_table(d["slices"]))) + "</pre>")
    out = folder / REPORT
    write_text(out, page.render())
    return out


def cv_report(folder: str | Path, predictor=None) -> Path:
    """Writes FOLDER/report.html for a `visionflow cv` output folder (folds, pooled out-of-fold
    evaluation, doctor findings with likely label errors)."""
    folder = Path(folder)
    cv = read_json(folder / "cv.json")
    classes = cv["classes"]
    page = Page(f"Cross-validation: {cv['folds_count']} folds", f"{cv['config'].get('model')} on {cv['data']}")
    sec.folds_section(page, cv)
    sec.config_section(page, cv["config"])
    resolve = lambda p: Path(p)  # noqa: E731
    _evaluation(page, "", "Out-of-fold", cv["oof"], _rows(folder / "oof_predictions.csv"), classes,
                folder / "plots", "oof_", resolve, None)
    if (folder / "doctor.json").exists():
        sec.doctor_section(page, read_json(folder / "doctor.json"), resolve)
    out = folder / REPORT
    write_text(out, page.render())
    return out


def rebuild(path: str | Path) -> Path:
    """Rebuilds report.html in a run, evaluation, cv or doctor folder (recognised by its files).

    Raises:
        ConfigError: the folder holds none of those.
    """
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"{path} is not a folder; give a run folder (runs/exp1), an evaluation, cv or doctor folder.")
    from visionflow import tasks

    labels = read_json(path / "labels.json") if (path / "labels.json").exists() else {}
    metrics = read_json(path / "metrics.json") if (path / "metrics.json").exists() else {}
    name = (labels.get("task") if isinstance(labels, dict) else None) or (
        metrics.get("task") if isinstance(metrics, dict) else None)  # a run's labels, or an evaluation's metrics
    if metrics and tasks.known(name or tasks.DEFAULT):  # a report of the task's own, where it has one
        task = tasks.get(name)
        rebuild = task.part("report")
        out = rebuild(task, path, labels if isinstance(labels, dict) else {}, metrics) if rebuild else None
        if out is not None:
            return out
    if (path / "config.yaml").exists():
        return run_report(path)
    if (path / "cv.json").exists():
        return cv_report(path)
    if (path / "metrics.json").exists() and (path / "predictions.csv").exists():
        return evaluation_report(path)
    if (path / "doctor.json").exists():
        return doctor_report(path)
    raise ConfigError(f"{path} holds no run (config.yaml), evaluation (metrics.json + predictions.csv), "
                      f"cross-validation (cv.json) or doctor (doctor.json) results to report on.")
