"""Image generation (--task gan): training, sampling, quality metrics, evaluation and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthetic import two_colour_folder
from test_cli import vf

RED, BLUE = np.array([210, 30, 30]), np.array([30, 40, 210])


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    """A conditional GAN trained for 20 short epochs on red and blue images (16x16)."""
    import visionflow

    root = tmp_path_factory.mktemp("gan")
    data = two_colour_folder(root / "data")
    lines: list[str] = []
    result = visionflow.train(data=str(data), task="gan", conditional=True, image_size=16, epochs=20, batch_size=16,
                              learning_rate=1e-3, time_budget=0, project=str(root / "runs"), say=lines.append)
    return root, data, result, lines


def test_conditional_gan_makes_each_class_in_its_colour(gan_run):
    import visionflow

    _, _, result, _ = gan_run
    for name, colour, other in (("red", RED, BLUE), ("blue", BLUE, RED)):
        images = visionflow.generate(result.run_dir, n=8, class_name=name, seed=1)
        assert images.shape == (8, 16, 16, 3) and images.dtype == np.uint8
        mean = images.reshape(-1, 3).mean(0)
        assert np.linalg.norm(mean - colour) < 60 < np.linalg.norm(mean - other), (name, mean)


def test_gan_run_folder_holds_samples_metrics_and_report(gan_run):
    _, _, result, lines = gan_run
    run = Path(result.run_dir)
    labels = json.loads((run / "labels.json").read_text())
    assert labels["task"] == "gan" and labels["conditional"] is True and labels["classes"] == ["blue", "red"]
    assert labels["image_size"] == [16, 16] and labels["latent_dim"] == 128
    assert (run / "samples" / "epoch-0001.png").exists() and (run / "samples" / "epoch-0020.png").exists()
    grid = Image.open(run / "samples" / "final.png")
    assert grid.size[0] > 8 * 16 and grid.size[1] > 2 * 16  # 2 class rows of 8, enlarged
    history = (run / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch") and "d_loss" in history[0] and "diversity" in history[0]
    assert len(history) == 21
    metrics = json.loads((run / "metrics.json").read_text())
    q = metrics["validation"]
    assert q["features"] == "visionflow features" and set(q["rows"]) == {"real (held out)", "model", "noise", "copies"}
    rows = q["rows"]
    assert rows["copies"]["copies"] == 1.0  # training images returned as they are are all flagged
    assert rows["noise"]["fd"] > rows["model"]["fd"] and rows["noise"]["fd"] > rows["real (held out)"]["fd"]
    assert q["conditional"]["accuracy"] >= 0.9 and set(q["conditional"]["per_class"]) == {"blue", "red"}
    assert (run / "judge.keras").exists() and metrics["feature_network"]["class_accuracy"] == 1.0
    html = (run / "report.html").read_text()
    assert "not ImageNet Inception" in html and "Memorisation" in html and "copies" in html
    assert (run / "plots" / "validation_nearest.png").exists()
    from visionflow.report import rebuild

    (run / "report.html").unlink()
    assert rebuild(run) == run / "report.html" and "Samples labelled as their class" in (run / "report.html").read_text()
    assert any("generator" in line and "discriminator" in line for line in lines)
    assert any(line.startswith("quality on visionflow features") for line in "\n".join(lines).splitlines())


def test_generate_cli_writes_pngs_and_repeats_with_a_seed(gan_run, tmp_path):
    _, _, result, _ = gan_run
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        proc = vf("generate", result.run_dir, "--n", 4, "--class", "red", "--seed", 3, "--out", out)
        assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in a.iterdir())
    assert files == ["grid.png", "seed3_0000_red.png", "seed3_0001_red.png", "seed3_0002_red.png", "seed3_0003_red.png"]
    for name in files:
        assert np.array_equal(np.asarray(Image.open(a / name)), np.asarray(Image.open(b / name)))
    assert np.asarray(Image.open(a / "seed3_0000_red.png")).shape == (16, 16, 3)
    proc = vf("generate", result.run_dir, "--interpolate", 5, "--class", "1", "--out", tmp_path / "walk.png")
    assert proc.returncode == 0, proc.stderr
    strip = Image.open(tmp_path / "walk.png")
    assert strip.size[0] > 4 * strip.size[1]  # one row of 5 images


def test_generate_refuses_bad_classes_in_one_line(gan_run, tmp_path):
    _, _, result, _ = gan_run
    proc = vf("generate", result.run_dir, "--class", "rde", "--out", tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "red" in proc.stderr and "class" in proc.stderr
    proc = vf("generate", result.run_dir, "--class", "7", "--out", tmp_path)
    assert proc.returncode != 0 and "out of range" in proc.stderr
    proc = vf("predict", result.run_dir, tmp_path)
    assert proc.returncode != 0 and "visionflow generate" in proc.stderr and "Traceback" not in proc.stderr


def test_evaluate_gan_on_a_folder_of_real_images(gan_run, tmp_path):
    root, _, result, _ = gan_run
    real = two_colour_folder(tmp_path / "real", per_class=12, seed=5)
    proc = vf("evaluate", result.run_dir, real, "--out", tmp_path / "ev")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    q = metrics["evaluation"]
    assert q["images"] == 12 and q["reference_images"] == 12
    assert q["conditional"]["accuracy"] >= 0.9
    assert (tmp_path / "ev" / "report.html").exists() and (tmp_path / "ev" / "plots" / "evaluation_nearest.png").exists()
    again = vf("report", tmp_path / "ev")
    assert again.returncode == 0 and "reference half of the evaluation folder" in (tmp_path / "ev" / "report.html").read_text()
    assert "FD" in proc.stdout and "progress" in proc.stdout


def test_gan_resumes_from_its_checkpoint(tmp_path):
    import visionflow

    data = two_colour_folder(tmp_path / "data", per_class=10)
    first = visionflow.train(data=str(data), task="gan", image_size=16, epochs=1, batch_size=8, time_budget=0,
                             project=str(tmp_path / "runs"), say=lambda s: None)
    assert json.loads((first.run_dir / "labels.json").read_text())["conditional"] is False
    lines: list[str] = []
    again = visionflow.train(resume=first.run_dir, epochs=2, say=lines.append)
    assert [r["epoch"] for r in again.history] == [1, 2]
    assert any(line.startswith("resuming after epoch 1") for line in lines)
    images = visionflow.generate(first.run_dir, n=3, seed=0)
    assert images.shape == (3, 16, 16, 3)


@pytest.mark.parametrize("flags, message", [
    (["--image-size", "48"], "--image-size for a GAN is one of 16, 32, 64, 128"),
    (["--conditional"], "--conditional needs one folder per class"),
    (["--diffaugment", "colour"], "DiffAugment parts are color, translation, cutout"),
    (["--mixup", "0.2"], "--mixup is for classifiers"),
])
def test_gan_settings_are_refused_in_one_sentence(tmp_path, flags, message):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(12):
        Image.new("RGB", (20, 20), (i * 20, 0, 0)).save(flat / f"{i}.png")
    proc = vf("train", flat, "--task", "gan", *flags, "--project", tmp_path / "runs")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_export_writes_every_float_format_with_pixel_parity(gan_run, tmp_path):
    import visionflow
    from visionflow.export.exporter import export
    from visionflow.tasks.generation.sampler import load_sampler

    _, _, result, _ = gan_run
    lines: list[str] = []
    results = export(result.run_dir, "onnx,tflite", out=tmp_path / "export", samples=8, say=lines.append)
    assert [r.format for r in results] == ["onnx", "tflite"] and all(r.passed for r in results)
    assert all(r.parity == "PSNR" and r.agreement >= 50 for r in results)
    meta = json.loads((tmp_path / "export" / "onnx" / "labels.json").read_text())
    assert meta["task"] == "gan" and set(meta["input"]) == {"latent", "class_index"}
    assert meta["output"]["shape"] == [None, 16, 16, 3]
    reference = visionflow.generate(result.run_dir, n=4, class_name="blue", seed=9)
    for fmt in ("onnx", "tflite"):
        sampler = load_sampler(tmp_path / "export" / fmt)
        images, labels = sampler.generate(4, "blue", 9)
        assert sampler.backend == fmt and labels.tolist() == [0, 0, 0, 0]
        assert np.abs(images.astype(int) - reference).max() <= 1
    proc = vf("export", result.run_dir, "--format", "tflite-int8", "--out", tmp_path / "int8")
    assert proc.returncode != 0 and "8-bit generator" in proc.stderr


def test_serve_generates_pngs_with_a_cap_on_n(gan_run):
    import base64
    import io
    import time

    from fastapi.testclient import TestClient

    from visionflow.serve.app import create_app
    from visionflow.serve.settings import ServeConfig

    _, _, result, _ = gan_run
    with TestClient(create_app(result.run_dir, ServeConfig(max_generate=8)), raise_server_exceptions=False) as client:
        end = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < end
            time.sleep(0.05)
        info = client.get("/v1/model").json()
        assert info["task"] == "gan" and info["outputs"] == "samples" and info["labels"] == ["blue", "red"]
        r = client.post("/v1/generate", params={"n": 3, "class": "red", "seed": 4})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["n"] == 3 and body["seed"] == 4 and [i["class"] for i in body["images"]] == ["red"] * 3
        first = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["images"][0]["image"].split(",", 1)[1]))))
        assert first.shape == (16, 16, 3)
        assert np.array_equal(first, visionflow_generate(result.run_dir, 3, "red", 4)[0])
        grid = client.post("/v1/generate", params={"n": 4, "format": "png"})
        assert grid.status_code == 200 and grid.headers["content-type"] == "image/png" and "x-seed" in grid.headers
        too_many = client.post("/v1/generate", params={"n": 9})
        assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "bad_n"
        bad = client.post("/v1/generate", params={"class": "green"})
        assert bad.status_code == 400 and "red" in bad.json()["error"]["message"]
        wrong = client.post("/v1/predict", files={"file": ("a.png", b"x", "image/png")})
        assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "generator_model"
        restore = client.post("/v1/restore", files={"file": ("a.png", b"x", "image/png")})  # an image route too
        assert restore.status_code == 409 and restore.json()["error"]["code"] == "generator_model"


def visionflow_generate(run, n, class_name, seed):
    import visionflow

    return visionflow.generate(run, n=n, class_name=class_name, seed=seed)


def test_inception_features_give_fid_or_a_one_line_refusal(gan_run, tmp_path):
    from visionflow.tasks.generation.quality import distance_names

    _, data, result, _ = gan_run
    assert distance_names("visionflow features") == ("FD", "KD")
    assert distance_names("Inception-v3 (Keras ImageNet weights)") == ("FID", "KID")
    proc = vf("evaluate", result.run_dir, data, "--features", "inception", "--out", tmp_path / "ev")
    if proc.returncode == 0:  # the weights could be downloaded
        assert "FID" in proc.stdout and "Inception-v3" in proc.stdout
    else:
        assert "Could not load the ImageNet weights of InceptionV3" in proc.stderr and "Traceback" not in proc.stderr
    classifier = vf("evaluate", result.run_dir.parent / "nothing", data, "--features", "inception")
    assert classifier.returncode != 0 and "Traceback" not in classifier.stderr
