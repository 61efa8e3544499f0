"""Regression: a number per image. Generated lines at an angle in [-60, 60] degrees over noise,
learnt once (small_cnn, 48 px) to within 3 degrees on held-out images; then every verb on that
model (evaluate, predict of images and of a video with its plot, export with parity, the
service), the data layouts (labels.csv, folders named by numbers), and the refusals."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from clirun import vf
from synthetic import line_folder, line_image, write_video
from visionflow.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def lines(tmp_path_factory):
    """(run folder, a held-out folder of 40 lines): the model trained once from another folder."""
    import visionflow

    root = tmp_path_factory.mktemp("regression")
    line_folder(root / "data", 360, seed=0)
    line_folder(root / "holdout", 40, seed=7)
    run = visionflow.train(data=str(root / "data"), task="regression", targets="angle", val_split=0.2,
                           model="small_cnn", image_size=48, epochs=20, project=str(root / "runs"), say=lambda s: None)
    return run.run_dir, root / "holdout"


def test_the_angle_is_learnt_to_within_three_degrees_on_held_out_lines(lines, tmp_path):
    run, holdout = lines
    r = vf("evaluate", run, holdout, "--out", tmp_path / "ev", "--backend", "keras")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["images"] == 40 and m["mae"] <= 3.0 and m["r2"] > 0.98, m
    assert m["per_target"]["angle"]["rmse"] >= m["mae"]
    rows = (tmp_path / "ev" / "predictions.csv").read_text().splitlines()
    assert rows[0] == "path,true:angle,pred:angle,error:angle" and len(rows) == 41
    assert (tmp_path / "ev" / "regression.png").stat().st_size > 10_000


def test_the_run_records_what_a_regression_user_needs(lines):
    run, _ = lines
    meta = json.loads((run / "labels.json").read_text())
    assert meta["task"] == "regression" and meta["classes"] == ["angle"]
    stats = meta["targets"]["angle"]
    assert -60 <= stats["min"] < -50 and 50 < stats["max"] <= 60 and 25 < stats["std"] < 45
    metrics = json.loads((run / "metrics.json").read_text())["validation"]
    assert {"mae", "rmse", "r2"} <= set(metrics) and metrics["mae"] <= 4.0
    config = (run / "config.yaml").read_text()
    assert "augment: gentle" in config and "loss: huber" in config  # no flips or turns: they change the angle
    report = (run / "report.html").read_text()
    assert "errors per target" in report and "the largest errors" in report
    assert (run / "plots" / "validation_regression.png").exists()
    history = (run / "history.csv").read_text().splitlines()[0]
    assert "val_mae" in history


def test_predict_writes_values_in_json_and_a_column_per_target_in_csv(lines, tmp_path):
    run, holdout = lines
    truth = {line.split(",")[0]: float(line.split(",")[1]) for line in (holdout / "labels.csv").read_text().split()[1:]}
    names = sorted(truth)[:3]
    r = vf("predict", run, *(holdout / n for n in names), "--format", "json", "--backend", "keras", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [set(row) for row in rows] == [{"source", "values", "error"}] * 3
    assert all(abs(row["values"]["angle"] - truth[Path(row["source"]).name]) < 8 for row in rows)
    r = vf("predict", run, holdout / names[0], "--format", "csv", "--backend", "keras")
    header, row = r.stdout.splitlines()
    assert header == "path,angle,error" and float(row.split(",")[1]) == pytest.approx(rows[0]["values"]["angle"], abs=1e-3)
    r = vf("predict", run, holdout / names[0], "--tta")
    assert r.returncode != 0 and "whose answers a mirror changes" in r.stderr


def test_a_video_gives_the_angle_over_time_and_a_plot(lines, tmp_path):
    run, _ = lines
    rng = np.random.default_rng(3)
    angles = np.linspace(-50, 50, 20)
    write_video(tmp_path / "turn.mp4", [np.asarray(line_image(a, rng)) for a in angles], fps=10)
    r = vf("predict", run, tmp_path / "turn.mp4", "--fps", "5", "--format", "json", "--plot", tmp_path / "turn.png",
           "--backend", "keras")
    assert r.returncode == 0, r.stderr
    timeline = json.loads(r.stdout)[0]
    got = [f["values"]["angle"] for f in timeline["frames"]]
    assert len(got) == 10
    assert np.all(np.diff(got) > 0), got  # the line turns one way all along
    assert abs(got[0] - angles[0]) < 10 and abs(got[-1] - angles[-2]) < 10
    assert (tmp_path / "turn.png").stat().st_size > 5_000
    r = vf("predict", run, tmp_path / "turn.mp4", "--segments")
    assert r.returncode != 0 and "gives numbers per frame" in r.stderr


def test_export_answers_in_degrees_with_parity_and_refuses_int8_for_all(lines, tmp_path):
    import visionflow

    run, holdout = lines
    r = vf("export", run, "--format", "onnx", "--out", tmp_path / "ex")
    assert r.returncode == 0, r.stderr + r.stdout
    meta = json.loads((tmp_path / "ex" / "onnx" / "labels.json").read_text())
    assert meta["output"]["activation"] == "linear" and meta["parity"]["passed"]
    assert "within 1% of its target's std" in meta["parity"]["criterion"]
    image = str(sorted(holdout.glob("*.png"))[0])
    keras_value = visionflow.load(run, backend="keras").predict(image).values["angle"]
    onnx_value = visionflow.load(tmp_path / "ex" / "onnx").predict(image).values["angle"]
    assert onnx_value == pytest.approx(keras_value, abs=0.01 * meta["targets"]["angle"]["std"])


def test_the_service_answers_values_for_images_and_video_frames(lines, tmp_path):
    from fastapi.testclient import TestClient

    from visionflow.serve.app import create_app

    run, holdout = lines
    rng = np.random.default_rng(4)
    write_video(tmp_path / "v.mp4", [np.asarray(line_image(a, rng)) for a in np.linspace(-40, 40, 10)], fps=10)
    image = sorted(holdout.glob("*.png"))[0]
    with TestClient(create_app(run)) as client:
        end = time.monotonic() + 120
        while client.get("/readyz").status_code != 200 and time.monotonic() < end:
            time.sleep(0.05)
        info = client.get("/v1/model").json()
        assert info["task"] == "regression" and info["labels"] == ["angle"]
        r = client.post("/v1/predict", files={"file": (image.name, image.read_bytes())})
        assert r.status_code == 200 and set(r.json()["predictions"][0]["values"]) == {"angle"}
        r = client.post("/v1/video?fps=5", files={"file": ("v.mp4", (tmp_path / "v.mp4").read_bytes(), "video/mp4")})
        assert r.status_code == 200, r.text
        assert r.json()["segments"] == [] and len(r.json()["frames"]) == 5
        assert "angle" in r.json()["frames"][0]["values"]
    page = (Path(__file__).parent.parent / "src" / "visionflow" / "serve" / "page.html").read_text()
    assert 'info.task === "regression"' in page and "prediction.values" in page


def test_folders_named_by_numbers_and_bad_rows_are_read_as_a_user_means(tmp_path):
    from visionflow.tasks.regression.data import load_regression

    rng = np.random.default_rng(0)
    for value in ("10", "20.5", "-3"):
        (tmp_path / "ages" / value).mkdir(parents=True)
        for i in range(4):
            line_image(float(value), rng, 16).save(tmp_path / "ages" / value / f"{i}.png")
    folder = load_regression(tmp_path / "ages", (16, 16), val_split=0.25)
    assert folder.classes == ["value"]
    got = sorted({float(r.values["value"]) for recs in folder.splits.values() for r in recs})
    assert got == [-3.0, 10.0, 20.5] and len(folder.splits["validation"]) >= 2
    (tmp_path / "ages" / "old").mkdir()
    line_image(0.0, rng, 16).save(tmp_path / "ages" / "old" / "0.png")
    with pytest.raises(DataError, match="Class folder .*old is not a number"):
        load_regression(tmp_path / "ages", (16, 16), val_split=0.25)

    data = tmp_path / "csv"
    data.mkdir()
    rows = ["image,angle,speed,camera"]
    for i in range(12):
        line_image(i * 5.0, rng, 16).save(data / f"{i}.png")
        rows.append(f"{i}.png,{i * 5.0},{i % 3 + 0.5},cam{i % 2}")
    rows += ["0.png,nan,1,cam1", "missing.png,3,1,cam0"]
    (data / "labels.csv").write_text("\n".join(rows[:4] + ["3.png,,1,cam1", "4.png,fast,1,cam0"] + rows[6:]) + "\n")
    folder = load_regression(data, (16, 16), val_split=0.25)
    assert folder.classes == ["angle", "speed"]  # every numeric column; camera is text
    reasons = {Path(r["path"]).name: r["reason"] for r in folder.report["skipped"]}
    assert reasons["3.png"] == "no 'angle' value" and reasons["4.png"] == "'angle' is 'fast', not a number"
    assert "listed twice" in reasons["0.png"] and "not found" in reasons["missing.png"]
    assert load_regression(data, (16, 16), val_split=0.25, targets="speed").classes == ["speed"]
    with pytest.raises(DataError, match="--targets 'age' is not a column of .* \\(its columns: angle, speed, camera\\)"):
        load_regression(data, (16, 16), val_split=0.25, targets="age")


@pytest.mark.parametrize("settings,error,message", [
    ({"calibrate": True}, ConfigError, "--calibrate is for classifiers"),
    ({"loss": "l1"}, ConfigError, "Unknown loss value 'l1'. Choose one of: huber, mae, mse."),
    ({"columns": "noise"}, ConfigError, "--columns is a setting of --task classification or multilabel; --task "
                                        "regression does not take it."),
    ({"targets": "speed"}, DataError, "--targets 'speed' is not a column"),
])
def test_refusals_name_the_problem(tmp_path, settings, error, message):
    import visionflow

    line_folder(tmp_path / "d", 8)
    with pytest.raises(error, match="^[^\n]+$") as err:
        visionflow.train(data=str(tmp_path / "d"), task="regression", val_split=0.25, model="small_cnn", image_size=16,
                         epochs=1, project=str(tmp_path / "runs"), say=lambda s: None, **settings)
    assert message in str(err.value)


def test_a_constant_target_is_refused_and_the_losses_are_taken_on_standardised_residuals(tmp_path):
    import keras

    from visionflow.tasks.regression.data import load_regression
    from visionflow.tasks.regression.layers import StandardizedLoss

    line_folder(tmp_path / "d", 8)
    text = (tmp_path / "d" / "labels.csv").read_text().splitlines()
    (tmp_path / "d" / "labels.csv").write_text("\n".join([text[0]] + [",".join(r.split(",")[:2] + ["1.0"])
                                                                       for r in text[1:]]) + "\n")
    with pytest.raises(DataError, match="Every training image has the same 'noise'"):
        load_regression(tmp_path / "d", (16, 16), val_split=0.25, targets="angle,noise")
    y, p = np.array([[0.0, 0.0], [10.0, 1.0]]), np.array([[1.0, 0.5], [40.0, 1.0]])
    std = [10.0, 1.0]
    r = (y - p) / np.array(std)
    for kind, expected in (("mse", (r ** 2).mean(axis=1)), ("mae", np.abs(r).mean(axis=1)),
                           ("huber", np.where(np.abs(r) <= 1, 0.5 * r ** 2, np.abs(r) - 0.5).mean(axis=1))):
        loss = StandardizedLoss(kind, std, reduction=None)
        assert np.allclose(keras.ops.convert_to_numpy(loss(y, p)), expected, atol=1e-6), kind
        assert StandardizedLoss.from_config(loss.get_config()).std == std
