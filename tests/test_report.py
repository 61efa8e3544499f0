"""report.html: written by train and evaluate, rebuilt by `visionflow report`, self-contained."""

from __future__ import annotations

import csv
import shutil

import pytest

import visionflow
from conftest import make_split_folder, parse_html
from visionflow.cli import main

RUN_SECTIONS = ("summary", "config", "curves", "metrics", "confusion", "calibration", "gallery", "doctor")


def wrong_rows(path) -> list[dict]:
    with open(path, newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["label"] != r["predicted"]]


def check_self_contained(html: str) -> None:
    page = parse_html(html)
    assert page.images and all(src.startswith("data:image/") for src in page.images)
    # Nothing to fetch: no scripts or stylesheets; links only jump to the page's own sections.
    assert page.links == [f"#{sid}" for sid in page.ids]
    assert "http://" not in html and "https://" not in html


def test_train_writes_a_full_report(trained):
    run, _ = trained
    html = (run / "report.html").read_text()
    page = parse_html(html)
    for sid in RUN_SECTIONS:
        assert sid in page.ids, sid
    assert "roc" not in page.ids  # three classes: no ROC/PR section
    check_self_contained(html)
    for name in ("training_curves", "validation_confusion_matrix", "validation_confusion_normalised",
                 "validation_reliability"):
        assert (run / "plots" / f"{name}.png").stat().st_size > 1000
    wrong = wrong_rows(run / "predictions" / "validation.csv")
    if wrong:
        assert f"{len(wrong)} misclassified" in html
        shown = min(len(wrong), 12)
        assert html.count('alt="Grad-CAM"') == shown
        assert wrong[0]["path"] in html
    else:
        assert "No misclassified images" in html
    # The per-class table holds the figures of metrics.json.
    metrics = visionflow.rundir.read_json(run / "metrics.json")
    assert f"{metrics['validation']['accuracy']:.3f}" in html


def test_two_class_report_has_roc_and_pr(tmp_path):
    data = tmp_path / "data"
    make_split_folder(data, train=10, validation=5)
    run = visionflow.train(data=str(data), project=str(tmp_path / "runs"), epochs=1, image_size=24, batch_size=8,
                           say=lambda s: None)
    page = parse_html((run.run_dir / "report.html").read_text())
    assert "roc" in page.ids
    assert (run.run_dir / "plots" / "validation_roc_pr.png").exists()
    m = run.metrics["validation"]
    assert 0 <= m["roc_auc"] <= 1 and 0 <= m["average_precision"] <= 1


def test_evaluate_writes_report_and_predictions(trained, tmp_path, capsys):
    run, data = trained
    out = tmp_path / "eval"
    assert main(["evaluate", str(run), str(data / "validation"), "--out", str(out)]) == 0
    assert "report.html" in capsys.readouterr().out
    html = (out / "report.html").read_text()
    page = parse_html(html)
    for sid in ("summary", "config", "curves", "metrics", "confusion", "calibration", "gallery"):
        assert sid in page.ids, sid
    check_self_contained(html)
    with open(out / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12
    assert set(rows[0]) == {"path", "label", "predicted", "confidence", "prob:blue", "prob:green", "prob:red"}
    for r in rows:
        probs = [float(r[f"prob:{c}"]) for c in ("blue", "green", "red")]
        assert sum(probs) == pytest.approx(1.0, abs=1e-5)
        assert float(r["confidence"]) == pytest.approx(max(probs), abs=1e-6)
    for name in ("confusion_matrix", "confusion_normalised", "reliability"):
        assert (out / f"{name}.png").exists()


def test_report_command_rebuilds(trained, tmp_path, capsys):
    run, _ = trained
    copy = tmp_path / "exp"
    shutil.copytree(run, copy)
    (copy / "report.html").unlink()
    assert main(["report", str(copy)]) == 0
    assert str(copy / "report.html") in capsys.readouterr().out
    assert parse_html((copy / "report.html").read_text()).ids == parse_html((run / "report.html").read_text()).ids
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no run" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nope")]) == 2
