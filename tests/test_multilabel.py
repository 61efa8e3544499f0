"""Multi-label classification: the labels CSV, the split, thresholds, and train -> evaluate ->
predict -> export through the real CLI on generated shapes (each image holds any subset of disc,
square and triangle)."""

from __future__ import annotations

import csv
import io
import json
import os

import numpy as np
import pytest

from synthetic import SHAPES, shapes_folder, shapes_image
from visionflow.tasks.multilabel.labels_csv import csv_records, load_multilabel, multilabel_split, read_labels_csv
from visionflow.data.scan import Record
from visionflow.errors import ConfigError, DataError
from visionflow.tasks.multilabel import evaluate as ev
from clirun import vf


# -- the labels CSV -------------------------------------------------------------------------------
@pytest.mark.parametrize("text,message", [
    ("", "is empty"),
    ("image,labels\n", "lists no images"),
    ("image,tags\na.png,x\n", "has no 'labels' column (it has 'image', 'tags')"),
    ("image,labels,image\na.png,x,b.png\n", "names the column 'image' twice"),
    ("image,labels\na.png,x,extra\n", "row 2: expected 2 fields"),
])
def test_bad_labels_csv_is_one_sentence(tmp_path, text, message):
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(DataError, match="^[^\n]+$") as err:
        read_labels_csv(tmp_path / "labels.csv")
    assert message in str(err.value)


def test_rows_naming_missing_or_repeated_files_are_skipped_with_a_reason(tmp_path):
    shapes_image(["disc"], np.random.default_rng(0)).save(tmp_path / "a.png")
    shapes_image([], np.random.default_rng(1)).save(tmp_path / "b.jpg")
    (tmp_path / "labels.csv").write_text("image,labels\na.png,disc disc\nb,\nmissing.png,square\na.png,disc\n")
    recs = csv_records(tmp_path, tmp_path / "labels.csv", "train")
    assert [(os.path.basename(r.path), r.status, r.labels) for r in recs] == [
        ("a.png", "ok", ("disc",)),  # a label given twice counts once
        ("b.jpg", "ok", ()),  # a name without extension finds the file; an empty field means no label
        ("missing.png", "skipped", ("square",)),
        ("a.png", "skipped", ("disc",)),
    ]
    assert recs[2].reason == "listed in labels.csv but not found" and recs[3].reason == "listed twice in labels.csv"


def test_folder_without_validation_or_with_a_rare_label_says_what_to_do(tmp_path):
    shapes_folder(tmp_path, images=20)
    with pytest.raises(DataError, match="pass --val-split 0.2"):
        load_multilabel(tmp_path, (32, 32))
    rows = (tmp_path / "labels.csv").read_text().splitlines()
    rows[1] = rows[1].split(",")[0] + ",unicorn"
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="Label 'unicorn' has 1 usable training image"):
        load_multilabel(tmp_path, (32, 32), val_split=0.2)


def test_train_and_validation_folders_each_with_their_own_csv(tmp_path):
    shapes_folder(tmp_path, images=30, split=True, validation=12, seed=4)
    folder = load_multilabel(tmp_path, (32, 32))
    assert folder.classes == list(SHAPES) and folder.report["noun"] == "labels"
    assert len(folder.splits["train"]) == 30 and len(folder.splits["validation"]) == 12
    assert folder.report["counts"]["train"]["classes"]["disc"] == sum("disc" in r.labels for r in folder.splits["train"])
    assert folder.report["labels_files"]["validation"].endswith("validation/labels.csv")
    with pytest.raises(DataError, match="already has a validation folder"):
        load_multilabel(tmp_path, (32, 32), val_split=0.2)
    (tmp_path / "validation" / "labels.csv").write_text("image,labels\nimages/img_0000.png,hexagon disc\n")
    with pytest.raises(DataError, match="validation images have label\\(s\\) the training images lack: hexagon"):
        load_multilabel(tmp_path, (32, 32))


def test_iterative_split_puts_rare_labels_on_both_sides():
    rng = np.random.default_rng(0)
    records = []
    for i in range(120):
        labels = tuple(s for s in ("common", "mid") if rng.random() < (0.6 if s == "common" else 0.3))
        if i % 30 == 0:  # 4 images of 120 carry the rare label
            labels += ("rare",)
        records.append(Record(path=f"/x/{i}.png", label=" ".join(labels), split="train", labels=labels,
                              hash=i * 0x9E3779B97F4A7C15 % (1 << 64), thumb=bytes([i % 256]) * 192))
    train, val, _ = multilabel_split(records, 0.25, seed=3)
    assert len(train) + len(val) == 120 and 25 <= len(val) <= 35
    for label in ("common", "mid", "rare"):
        assert any(label in r.labels for r in train) and any(label in r.labels for r in val), label


def test_thresholds_maximise_f1_per_label():
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0], [1, 1], [0, 0]])
    probs = np.array([[0.9, 0.1], [0.35, 0.2], [0.3, 0.7], [0.1, 0.65], [0.8, 0.9], [0.2, 0.1]])
    t = ev.fit_thresholds(y, probs)
    assert 0.3 < t[0] <= 0.35  # takes in the 0.35 positive, leaves out the 0.3 negative
    assert 0.65 < t[1] <= 0.7  # between the negative at 0.65 and the positive at 0.7, F1 = 1
    m = ev.compute_metrics(y, probs, ["a", "b"], t)
    assert m["macro_avg"]["f1-score"] == 1.0 and m["exact_match"] == 1.0 and m["mAP"] == 1.0
    assert m["label_cardinality"] == pytest.approx(5 / 6)
    # Without positives a label keeps 0.5 and gets no AP.
    assert ev.fit_thresholds(np.zeros((3, 1)), np.full((3, 1), 0.9))[0] == 0.5


# -- end to end -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ml_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("multilabel")
    data = shapes_folder(root / "shapes", images=320, seed=1, side=64)
    proc = vf("train", data, "--task", "multilabel", "--val-split", "0.25", "--model", "small_cnn",
              "--image-size", "48", "--epochs", "14", "--batch-size", "16", "--learning-rate", "0.003",
              "--optimizer", "adam", "--lr-schedule", "cosine", "--augment", "none", "--time-budget", "0",
              "--project", root / "runs", "--name", "ml", cwd=root)
    return root, data, root / "runs" / "ml", proc


def test_training_learns_every_shape_and_writes_a_multilabel_run(ml_run):
    root, data, run, proc = ml_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "data: 3 labels: disc, square, triangle" in proc.stdout
    assert "iterative stratification" in proc.stdout and "thresholds: fitted per label" in proc.stdout
    meta = json.loads((run / "labels.json").read_text())
    assert meta["task"] == "multilabel" and meta["classes"] == list(SHAPES)
    assert set(meta["thresholds"]) == set(SHAPES) and all(0 < t < 1 for t in meta["thresholds"].values())
    val = json.loads((run / "metrics.json").read_text())["validation"]
    assert val["macro_avg"]["f1-score"] >= 0.9 and val["mAP"] >= 0.9, val
    assert set(val["per_label"]["disc"]) == {"precision", "recall", "f1-score", "average_precision", "support",
                                              "threshold"}
    assert 1.0 < val["label_cardinality"] < 2.0  # each shape is present half the time
    rows = list(csv.DictReader(open(run / "predictions" / "validation.csv")))
    assert len(rows) == val["images"] and {"labels", "predicted", "missed", "extra", "prob:disc"} <= set(rows[0])
    assert (run / "plots" / "validation_pr_curves.png").stat().st_size > 5_000
    report = (run / "report.html").read_text()
    assert "per-label metrics" in report and "validation mAP" in report


def test_an_image_with_two_shapes_gets_both_labels(ml_run, tmp_path):
    root, data, run, proc = ml_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    rng = np.random.default_rng(99)
    for i in range(3):
        shapes_image(["disc", "triangle"], rng, 64).save(tmp_path / f"two_{i}.png")
    shapes_image([], rng, 64).save(tmp_path / "none.png")
    out = vf("predict", run, *sorted(tmp_path.glob("*.png")), "--format", "json", "--backend", "keras")
    assert out.returncode == 0, out.stderr
    rows = {os.path.basename(r["source"]): r for r in json.loads(out.stdout)}
    for i in range(3):
        assert sorted(rows[f"two_{i}.png"]["labels"]) == ["disc", "triangle"], rows[f"two_{i}.png"]
        assert set(rows[f"two_{i}.png"]["probabilities"]) == set(SHAPES)
    assert rows["none.png"]["labels"] == []
    table = list(csv.reader(io.StringIO(vf("predict", run, tmp_path / "two_0.png", "--format", "csv",
                                           "--backend", "keras").stdout)))
    assert table[0] == ["path", "labels", "disc", "square", "triangle", "error"]
    assert sorted(table[1][1].split()) == ["disc", "triangle"]


def test_evaluate_on_a_new_labelled_folder_and_unknown_labels(ml_run, tmp_path):
    root, data, run, proc = ml_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    fresh = shapes_folder(tmp_path / "fresh", images=40, seed=7, side=64)
    out = vf("evaluate", run, fresh, "--backend", "keras", "--out", tmp_path / "ev")
    assert out.returncode == 0, out.stderr
    assert "mAP" in out.stdout and "macro F1" in out.stdout
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["task"] == "multilabel" and m["images"] == 40 and m["macro_avg"]["f1-score"] >= 0.85
    (fresh / "labels.csv").write_text("image,labels\nimages/img_0000.png,hexagon\n")
    bad = vf("evaluate", run, fresh, "--backend", "keras")
    assert bad.returncode != 0 and "does not know: hexagon" in bad.stderr and "Traceback" not in bad.stderr


def test_export_checks_per_label_decisions(ml_run):
    root, data, run, proc = ml_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    from visionflow.export import export

    results = export(run, "onnx", say=lambda s: None)
    assert results[0].passed and results[0].parity == "per-label decision agreement"
    meta = json.loads((run / "export" / "onnx" / "labels.json").read_text())
    assert meta["task"] == "multilabel" and meta["output"]["activation"] == "sigmoid" and "thresholds" in meta
    import visionflow

    image = sorted((data / "images").glob("*.png"))[0]
    assert visionflow.load(run / "export" / "onnx").predict(str(image)).labels == \
        visionflow.load(run, backend="keras").predict(str(image)).labels


def test_classifier_only_options_are_refused(tmp_path):
    shapes_folder(tmp_path / "d", images=12)
    for extra, message in ((["--calibrate"], "per-label decision thresholds"),
                           (["--class-weight", "auto"], "not supported with --task multilabel")):
        out = vf("train", tmp_path / "d", "--task", "multilabel", "--val-split", "0.2", *extra,
                 "--project", tmp_path / "runs")
        assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists()  # nothing was started
    out = vf("cv", tmp_path / "d", "--task", "multilabel", "--folds", "2")
    assert out.returncode != 0 and "--task multilabel is not supported there yet" in out.stderr
    with pytest.raises(ConfigError, match="threshold must be between 0 and 1"):
        from visionflow.config import TrainConfig

        TrainConfig.from_dict({"task": "multilabel", "threshold": 1.5})


def test_the_service_answers_with_labels(ml_run, tmp_path):
    root, data, run, proc = ml_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    from fastapi.testclient import TestClient

    from test_serve import _wait_ready
    from visionflow.serve.app import create_app
    from visionflow.serve.settings import ServeConfig

    shapes_image(["square", "triangle"], np.random.default_rng(5), 64).save(tmp_path / "two.png")
    with TestClient(create_app(run, ServeConfig()), raise_server_exceptions=False) as client:
        _wait_ready(client)
        info = client.get("/v1/model").json()
        assert info["task"] == "multilabel" and set(info["thresholds"]) == set(SHAPES)
        response = client.post("/v1/predict", files={"file": ("two.png", (tmp_path / "two.png").read_bytes(),
                                                              "image/png")})
        assert response.status_code == 200, response.text
        row = response.json()["predictions"][0]
        assert row["filename"] == "two.png" and sorted(row["labels"]) == ["square", "triangle"]
        assert set(row["probabilities"]) == set(SHAPES) and "label" not in row
        heat = client.post("/v1/explain?class=square", files={"file": ("two.png", (tmp_path / "two.png").read_bytes(),
                                                                      "image/png")})
        assert heat.status_code == 200 and heat.json()["label"] == "square"


def test_one_threshold_for_every_label_overrides_the_fitted_ones(ml_run, tmp_path):
    root, data, run, proc = ml_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    import shutil

    import visionflow
    from visionflow import tasks
    from visionflow.config import TrainConfig
    from visionflow.rundir import RunPaths

    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("export", "evaluations", "tensorboard"))
    predictor = visionflow.load(copy, backend="keras")
    said: list[str] = []
    found = tasks.get("multilabel").fit_thresholds(RunPaths(copy), predictor, None, TrainConfig.from_dict({"task": "multilabel", "threshold": 0.3}),
                                                   said.append)
    assert found == {"thresholds": {c: 0.3 for c in SHAPES}} and "--threshold 0.3 for every label" in said[0]
    assert json.loads((copy / "labels.json").read_text())["thresholds"] == {c: 0.3 for c in SHAPES}
    assert visionflow.load(copy, backend="keras").thresholds == {c: 0.3 for c in SHAPES}
