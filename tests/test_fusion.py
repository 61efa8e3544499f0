"""Images with table columns beside them (--columns): a generated set whose class is the XOR of the
image's colour and a column's sign, so that only a model that reads both gets it right; then every
verb on that model (evaluate, predict with a CSV, the Python API, export with parity, the service)
and the refusals that name what is wrong."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clirun import vf
from visionflow.errors import ConfigError, DataError

SITES = ("back", "arm", "leg")


def xor_folder(root: Path, n: int, seed: int, size: int = 24) -> dict[str, tuple[str, float, str]]:
    """DIR/*.png + DIR/labels.csv (image,label,x,site): red or blue noise; label yes where the
    image is red XOR x > 0; site is noise. Returns {image: (label, x, site)}."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows, truth = ["image,label,x,site"], {}
    for i in range(n):
        red, positive = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
        pixels = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        pixels[..., 0 if red else 2] += 170
        name = f"im{i:03d}.png"
        Image.fromarray(pixels).save(root / name)
        x = round(float(rng.uniform(0.1, 2.0)) * (1 if positive else -1), 3)
        label, site = ("yes" if red != positive else "no"), str(rng.choice(SITES))
        rows.append(f"{name},{label},{x},{site}")
        truth[name] = (label, x, site)
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return truth


@pytest.fixture(scope="module")
def fused(tmp_path_factory):
    """(run folder, a held-out XOR folder, its truth): the fused model trained once."""
    import visionflow

    root = tmp_path_factory.mktemp("fusion")
    xor_folder(root / "data", 200, seed=0)
    truth = xor_folder(root / "holdout", 40, seed=1)
    run = visionflow.train(data=str(root / "data"), val_split=0.25, columns="x,site", project=str(root / "runs"),
                           image_size=24, epochs=20, batch_size=16, say=lambda s: None)
    return run.run_dir, root / "holdout", truth


def test_the_fused_model_needs_both_inputs_and_says_what_each_brings(fused):
    run, _, _ = fused
    meta = json.loads((run / "labels.json").read_text())
    assert [c["name"] for c in meta["columns"]["columns"]] == ["x", "site"]
    assert len(meta["columns_mean"]) == 2 + len(SITES) + 2 and len(meta["image_mean"]) == 3
    m = json.loads((run / "metrics.json").read_text())["validation"]["modalities"]
    assert m["metric"] == "accuracy" and m["rows"] == 50
    assert m["fused"] >= 0.95
    assert m["image_only"] <= 0.65 and m["columns_only"] <= 0.65
    imp = m["importance"]
    assert imp["image"]["mean"] > 0.25 and imp["x"]["mean"] > 0.25 and abs(imp["site"]["mean"]) < 0.1
    assert "Validation: image and columns" in (run / "report.html").read_text()


def test_evaluate_reads_the_columns_from_the_folders_labels_csv(fused, tmp_path):
    run, holdout, _ = fused
    r = vf("evaluate", run, holdout, "--out", tmp_path / "ev", "--backend", "keras")
    assert r.returncode == 0, r.stderr
    assert "modalities (accuracy on 40 examples): fused" in r.stdout
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["accuracy"] >= 0.9 and m["modalities"]["fused"] == pytest.approx(m["accuracy"])


def test_predict_reads_each_images_row_from_labels(fused, tmp_path):
    run, holdout, truth = fused
    r = vf("predict", run, holdout, "--labels", holdout / "labels.csv", "--format", "json", "--backend", "keras")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 40
    right = sum(row["label"] == truth[Path(row["source"]).name][0] for row in rows)
    assert right >= 36

    r = vf("predict", run, holdout / "im000.png")
    assert r.returncode != 0 and "reads the columns x, site" in r.stderr and "--labels" in r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("image,x,site\nim000.png,lots,back\n")
    r = vf("predict", run, holdout / "im000.png", "--labels", bad, "--backend", "keras")
    assert r.returncode == 1 and f"row 2 of {bad}, column 'x': 'lots' is not a number" in r.stdout
    (tmp_path / "nox.csv").write_text("image,site\nim000.png,back\n")
    r = vf("predict", run, holdout / "im000.png", "--labels", tmp_path / "nox.csv")
    assert r.returncode != 0 and "has no column 'x'" in r.stderr


def test_the_python_api_takes_columns_and_they_change_the_answer(fused):
    import visionflow

    run, holdout, truth = fused
    model = visionflow.load(run, backend="keras")
    name = "im000.png"
    label, x, site = truth[name]
    assert model.predict(holdout / name, columns={"x": x, "site": site}).label == label
    flipped = model.predict(holdout / name, columns={"x": -x, "site": site})
    assert flipped.label != label  # the sign of x decides, with the colour
    unseen = model.predict(holdout / name, columns={"x": x, "site": "foot"})  # an unseen category: "other"
    assert unseen.ok and unseen.label == label
    missing = model.predict(holdout / name, columns={"x": None, "site": site})  # imputed, with its indicator
    assert missing.ok
    assert "no table columns" in model.predict(holdout / name).error
    assert "'x'" in model.predict(holdout / name, columns={"site": site}).error
    names = sorted(truth)[:4]
    batch = model.predict([holdout / n for n in names], columns=[{"x": truth[n][1], "site": truth[n][2]} for n in names])
    assert [p.label for p in batch] == [truth[n][0] for n in names]


def test_export_takes_both_inputs_with_parity(fused, tmp_path):
    from visionflow.export import export
    from visionflow.predictor import open_model

    run, holdout, truth = fused
    results = export(run, "onnx,tflite", out=tmp_path / "export", samples=16, say=lambda s: None)
    assert all(r.passed and r.max_abs_diff <= 1e-4 for r in results)
    meta = json.loads((tmp_path / "export" / "onnx" / "labels.json").read_text())
    assert meta["columns_input"]["shape"] == [None, 7] and meta["columns_input"]["features"][:2] == ["x", "x missing"]
    names = sorted(truth)[:8]
    columns = [{"x": truth[n][1], "site": truth[n][2]} for n in names]
    reference = open_model(run).predict([holdout / n for n in names], columns=columns)
    for fmt in ("onnx", "tflite"):
        got = open_model(tmp_path / "export" / fmt).predict([holdout / n for n in names], columns=columns)
        assert [p.label for p in got] == [p.label for p in reference]
    with pytest.raises(ConfigError, match="tflite-int8 cannot be written for a model with a second input"):
        export(run, "tflite-int8", out=tmp_path / "export", say=lambda s: None)


def test_the_service_takes_columns_as_form_fields_or_json(fused):
    from fastapi.testclient import TestClient

    from visionflow.serve.app import create_app

    run, holdout, truth = fused
    names = sorted(truth)[:2]
    data = [(holdout / n).read_bytes() for n in names]
    with TestClient(create_app(run)) as client:
        end = time.monotonic() + 120
        while client.get("/readyz").status_code != 200 and time.monotonic() < end:
            time.sleep(0.05)
        assert [c["name"] for c in client.get("/v1/model").json()["columns"]] == ["x", "site"]
        label, x, site = truth[names[0]]
        r = client.post("/v1/predict", files={"file": (names[0], data[0])}, data={"x": str(x), "site": site})
        assert r.status_code == 200 and r.json()["predictions"][0]["label"] == label
        body = {"images": [base64.b64encode(d).decode() for d in data],
                "columns": [{"x": truth[n][1], "site": truth[n][2]} for n in names]}
        r = client.post("/v1/predict", json=body)
        assert r.status_code == 200 and [p["label"] for p in r.json()["predictions"]] == [truth[n][0] for n in names]
        r = client.post("/v1/predict", files={"file": (names[0], data[0])})
        assert r.status_code == 400 and r.json()["error"]["code"] == "no_columns"
        r = client.post("/v1/predict", files={"file": (names[0], data[0])}, data={"x": "abc", "site": site})
        assert r.status_code == 400 and "column 'x': 'abc' is not a number" in r.json()["error"]["message"]
        r = client.post("/v1/predict", json={**body, "columns": body["columns"][:1]})
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_columns"


@pytest.mark.parametrize("settings,error,message", [
    ({"columns": "age"}, DataError, "--columns age: the table has no such column (it has x, site)"),
    ({"columns": "label"}, DataError, "that column is the target"),
    ({"columns": "x", "mixup": 0.2}, ConfigError, "cannot be combined with --mixup"),
    ({"columns": "x", "dp": True}, ConfigError, "cannot be combined with --dp"),
])
def test_refusals_name_the_problem(tmp_path, settings, error, message):
    from visionflow import train

    xor_folder(tmp_path / "data", 12, seed=3)
    with pytest.raises(error, match="^[^\n]+$") as err:
        train(data=str(tmp_path / "data"), val_split=0.25, project=str(tmp_path / "runs"), image_size=24, epochs=1,
              say=lambda s: None, **settings)
    assert message in str(err.value)
    assert not (tmp_path / "runs").exists()


def test_a_single_valued_column_or_class_folders_are_refused(tmp_path):
    from visionflow import train

    from conftest import make_class_folder

    data = tmp_path / "data"
    xor_folder(data, 12, seed=4)
    text = (data / "labels.csv").read_text().splitlines()
    (data / "labels.csv").write_text("\n".join([text[0] + ",ward"] + [t + ",B" for t in text[1:]]) + "\n")
    with pytest.raises(DataError, match="Column 'ward' holds a single value"):
        train(data=str(data), val_split=0.25, columns="auto", project=str(tmp_path / "runs"), epochs=1,
              say=lambda s: None)
    folders = make_class_folder(tmp_path / "folders", per_class=4)
    with pytest.raises(ConfigError, match="--columns reads the columns of a labels CSV"):
        train(data=str(folders), val_split=0.25, columns="auto", project=str(tmp_path / "runs"), epochs=1,
              say=lambda s: None)
    r = vf("train", folders, "--task", "video", "--columns", "x", "--project", tmp_path / "runs")
    assert r.returncode == 2 and ("--columns is a setting of --task classification or multilabel; --task video does not "
                                  "take it.") in r.stderr


def test_multilabel_models_read_columns_too(tmp_path):
    import visionflow

    rng = np.random.default_rng(5)
    data = tmp_path / "ml"
    data.mkdir()
    rows = ["image,labels,size"]
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(data / f"m{i}.png")
        rows.append(f"m{i}.png,{'big' if i % 2 else 'small'}{' odd' if i % 3 == 0 else ''},{i % 2 + rng.random():.2f}")
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    run = visionflow.train(data=str(data), task="multilabel", val_split=0.25, columns="size",
                           project=str(tmp_path / "runs"), image_size=24, epochs=2, say=lambda s: None)
    m = json.loads((run.run_dir / "metrics.json").read_text())["validation"]["modalities"]
    assert m["metric"] in ("mAP", "micro F1") and set(m["importance"]) == {"image", "size"}
    model = visionflow.load(run.run_dir, backend="keras")
    assert model.predict(data / "m1.png", columns={"size": 1.5}).ok


def test_a_labels_csv_with_a_label_column_is_a_classification_folder(tmp_path):
    from visionflow.data.dataset import load_label_table

    truth = xor_folder(tmp_path / "d", 12, seed=6)
    lines = (tmp_path / "d" / "labels.csv").read_text().splitlines()
    Image.new("RGB", (24, 24)).save(tmp_path / "d" / "im100.png")
    lines += ["gone.png,yes,1,arm", "im001.png,no,1,arm", "im100.png,,1,arm"]
    (tmp_path / "d" / "labels.csv").write_text("\n".join(lines) + "\n")
    folder = load_label_table(tmp_path / "d", (24, 24), val_split=0.25)
    assert folder.classes == ["no", "yes"] and folder.report["table_columns"] == ["x", "site"]
    kept = folder.splits["train"] + folder.splits["validation"]
    assert len(kept) == 12 and all(r.values["site"] in SITES for r in kept)
    assert {Path(r.path).name: r.label for r in kept} == {n: t[0] for n, t in truth.items()}
    reasons = sorted(r.reason for r in folder.skipped)
    assert reasons == ["listed in labels.csv but not found", "listed twice in labels.csv",
                       "row 16 of labels.csv has no label"]
