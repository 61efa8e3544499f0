"""Loading (safe mode, .h5 only with unsafe), prediction on every input type, and evaluation figures."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from PIL import Image

import visionflow
from conftest import make_class_folder
from visionflow.errors import DataError, ModelError
from visionflow.predict import expand_inputs


def test_every_input_type_gives_the_same_answer(trained):
    run_dir, data = trained
    model = visionflow.load(run_dir)
    path = sorted((data / "validation" / "red").iterdir())[0]
    by_path = model.predict(str(path), top_k=3)
    assert by_path.ok and by_path.source == str(path)
    assert sum(by_path.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert [l for l, _ in by_path.top] == sorted(by_path.probabilities, key=by_path.probabilities.get, reverse=True)
    img = Image.open(path)
    arr = np.asarray(img.convert("RGB"))
    for other in (img, arr, path.read_bytes()):
        assert model.predict(other).probabilities == pytest.approx(by_path.probabilities, abs=1e-6)
    batch = model.predict(np.stack([arr, arr]))
    assert len(batch) == 2 and batch[1].label == by_path.label
    # The traced predictor agrees with the Keras model itself.
    direct = np.asarray(model.model(arr[None].astype("float32"), training=False))[0]
    assert [by_path.probabilities[c] for c in model.classes] == pytest.approx(direct.tolist(), abs=1e-6)


def test_unreadable_inputs_get_error_rows_and_the_rest_are_predicted(trained, tmp_path):
    run_dir, data = trained
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    good = sorted((data / "validation" / "green").iterdir())[:2]
    results = visionflow.load(run_dir).predict([str(good[0]), str(bad), str(tmp_path / "missing.png"), str(good[1])])
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[1].error == "not an image: the file holds text" and results[2].error == "file not found"


def test_lambda_model_is_refused_unless_unsafe(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    model.save(tmp_path / "model.keras")
    (tmp_path / "labels.json").write_text(json.dumps({"classes": ["a", "b"], "image_size": [8, 8]}))
    with pytest.raises(ModelError, match="Refused to load .*Lambda layer.*--unsafe"):
        visionflow.load(tmp_path)
    assert visionflow.load(tmp_path, unsafe=True).predict(np.zeros((8, 8, 3), np.uint8)).ok


def test_legacy_h5_needs_unsafe(trained, tmp_path):
    run_dir, _ = trained
    model = visionflow.load(run_dir).model
    model.save(tmp_path / "model.h5")
    (tmp_path / "labels.json").write_text((run_dir / "labels.json").read_text())
    with pytest.raises(ModelError, match="legacy .h5 file.*--unsafe"):
        visionflow.load(tmp_path / "model.h5")
    assert visionflow.load(tmp_path / "model.h5", unsafe=True).predict(np.zeros((24, 24, 3), np.uint8)).ok


def test_load_errors_are_clear(tmp_path, trained):
    with pytest.raises(ModelError, match="No model file at"):
        visionflow.load(tmp_path)
    (tmp_path / "model.keras").write_bytes(b"garbage")
    (tmp_path / "labels.json").write_text(json.dumps({"classes": ["a", "b"], "image_size": [8, 8]}))
    with pytest.raises(ModelError, match="damaged or not a Keras model"):
        visionflow.load(tmp_path)
    run_dir, _ = trained
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "model.keras").write_bytes((run_dir / "model.keras").read_bytes())
    (wrong / "labels.json").write_text(json.dumps({"classes": ["a", "b"], "image_size": [24, 24]}))
    with pytest.raises(ModelError, match="3 output\\(s\\) but labels.json lists 2 classes"):
        visionflow.load(wrong)


def test_evaluate_figures_agree_with_each_other(trained, tmp_path):
    import shutil

    run_dir, shared = trained
    data = tmp_path / "data"  # a copy: the shared fixture is read-only for tests
    shutil.copytree(shared, data)
    (data / "validation" / "red" / "broken.png").write_bytes(b"")
    result = visionflow.evaluate(run_dir, data / "validation", out=tmp_path / "ev")
    cm = np.array(result["confusion_matrix"])
    assert cm.sum() == result["images"] == 12
    assert result["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert [result["per_class"][c]["support"] for c in ("blue", "green", "red")] == cm.sum(axis=1).tolist()
    assert result["skipped"] == [{"path": str(data / "validation" / "red" / "broken.png"), "reason": "empty file (0 bytes)"}]
    written = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert written["accuracy"] == result["accuracy"]
    assert (tmp_path / "ev" / "confusion_matrix.png").stat().st_size > 1000
    with pytest.raises(DataError, match="not one of the model's classes"):
        visionflow.evaluate(run_dir, data)  # the dataset root, not a folder of class folders


def test_binary_metrics_include_roc_auc():
    from visionflow.tasks.classification.evaluate import compute_metrics

    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    m = compute_metrics(np.array([0, 1, 1, 1]), probs, ["a", "b"])
    assert m["accuracy"] == 0.75 and m["roc_auc"] == 1.0
    many = compute_metrics(np.arange(7), np.eye(7)[[0, 1, 2, 3, 4, 5, 0]], list("abcdefg"))
    assert many["top_5_accuracy"] == 1.0 and many["accuracy"] == pytest.approx(6 / 7)


def test_expand_inputs(tmp_path):
    make_class_folder(tmp_path / "imgs", per_class=2)
    (tmp_path / "imgs" / "red" / ".hidden.png").write_bytes(b"x")
    (tmp_path / "imgs" / "notes.txt").write_text("x")
    found = expand_inputs([str(tmp_path / "imgs")])
    assert len(found) == 4 and all(f.endswith(".png") for f in found)
    assert expand_inputs([str(tmp_path / "imgs" / "*" / "red_*.png")]) == sorted(
        str(p) for p in (tmp_path / "imgs" / "red").glob("red_*.png"))
    assert expand_inputs([str(tmp_path / "nothing*.jpg")]) == [str(tmp_path / "nothing*.jpg")]


def test_iter_predict_pulls_inputs_one_batch_at_a_time(trained):
    run, data = trained
    predictor = visionflow.load(run)
    images = sorted(str(p) for p in (data / "train").rglob("*.png"))
    pulled = []

    def source():
        for path in images * 4:  # 120 paths
            pulled.append(path)
            yield path

    stream = predictor.iter_predict(source(), batch_size=8)
    first = next(stream)
    assert first.ok
    assert len(pulled) <= 16  # the first batch and the one decoding behind it, not all 120
    assert sum(1 for _ in stream) == 119 and len(pulled) == 120


def test_predict_cli_streams_json_with_progress(trained, capsys):
    from visionflow.cli import main

    run, data = trained
    code = main(["predict", str(run), str(data / "validation"), "--format", "json", "--progress", "--batch-size", "5"])
    captured = capsys.readouterr()
    assert code == 0
    rows = json.loads(captured.out)
    assert len(rows) == 12 and all(r["error"] is None for r in rows)
    assert [r["source"] for r in rows] == sorted(r["source"] for r in rows)
    assert "12/12" in captured.err and "12 images in" in captured.err


def test_inputs_from_a_list_file(trained, tmp_path, capsys):
    from visionflow.cli import main

    run, data = trained
    images = sorted(str(p) for p in (data / "validation").rglob("*.png"))[:5]
    listing = tmp_path / "shard0.txt"
    listing.write_text("# shard 0 of 2\n" + "\n".join(images) + "\n\n")
    assert main(["predict", str(run), f"@{listing}", "--format", "csv"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split(",")[0] for line in out[1:]] == images
    assert main(["predict", str(run), f"@{tmp_path / 'missing.txt'}"]) == 2
    assert "Cannot read the list of images" in capsys.readouterr().err
