"""Image restoration (denoise, superres, inpaint): degradations, models, whole-image inference,
and train -> evaluate -> predict through the real CLI on generated smooth images."""

from __future__ import annotations

import json
from pathlib import Path
import os

import numpy as np
import pytest
from PIL import Image

from synthetic import smooth_folder, smooth_image
from visionflow.errors import ConfigError, DataError, ModelError
from visionflow.tasks.restoration.degrade import add_noise, downscale, parse_noise, random_masks, with_hole
from clirun import vf


# -- degradations ---------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, message", [
    ("gauss:25", "KIND:LEVEL"), ("gaussian", "KIND:LEVEL"), ("gaussian:x", "not a number"),
    ("jpeg:0-200", "1-100"), ("gaussian:30-10", "LOW <= HIGH")])
def test_bad_noise_specs_are_one_sentence(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_noise(spec)


def test_noise_is_seeded_clipped_and_at_the_asked_level():
    import tensorflow as tf

    clean = np.full((4, 64, 64, 3), 128.0, np.float32)
    noisy = add_noise(clean, parse_noise("gaussian:25"), tf.constant([3, 4])).numpy()
    again = add_noise(clean, parse_noise("gaussian:25"), tf.constant([3, 4])).numpy()
    other = add_noise(clean, parse_noise("gaussian:25"), tf.constant([3, 5])).numpy()
    assert np.array_equal(noisy, again) and not np.array_equal(noisy, other)
    assert noisy.min() >= 0 and noisy.max() <= 255 and np.array_equal(noisy, np.round(noisy))
    assert np.std(noisy - clean) == pytest.approx(25, rel=0.05)
    blind = add_noise(clean, parse_noise("gaussian:5-50"), tf.constant([1, 1])).numpy()
    levels = np.std(blind - clean, axis=(1, 2, 3))
    assert levels.max() - levels.min() > 3  # a level drawn per image
    jpeg = add_noise(clean + np.random.default_rng(0).normal(0, 20, clean.shape).astype(np.float32),
                     parse_noise("jpeg:10"), tf.constant([1, 1])).numpy()
    assert jpeg.shape == clean.shape


def test_downscale_and_holes():
    small = downscale(np.zeros((2, 30, 24, 3), np.float32), 3).numpy()
    assert small.shape == (2, 10, 8, 3)
    masks = random_masks(6, 64, 48, np.random.default_rng(0))
    assert masks.shape == (6, 64, 48) and set(np.unique(masks)) <= {0.0, 1.0}
    assert all(0.03 < m.mean() < 0.5 for m in masks)
    given = with_hole(np.full((1, 64, 48, 3), 200.0, np.float32), masks[:1]).numpy()[0]
    hole = masks[0] > 0
    assert np.all(given[hole, :3] == 127.5) and np.all(given[~hole, :3] == 200) and np.all(given[hole, 3] == 255)


# -- models and whole-image inference --------------------------------------------------------------

@pytest.mark.parametrize("name, kwargs, channels, scale", [
    ("ffdnet_s", {}, 3, 1), ("espcn_s", {"scale": 3}, 3, 3), ("unet_inpaint", {}, 4, 1)])
def test_image_models_take_any_size_and_load_safely(tmp_path, name, kwargs, channels, scale):
    import keras

    from visionflow.models import MODELS
    from visionflow.rundir import save_model

    spec = MODELS.get(name)
    model = spec.build(**kwargs)
    side = 8 * spec.multiple
    x = np.random.default_rng(0).uniform(0, 255, (1, side, side + spec.multiple, channels)).astype(np.float32)
    y = model.predict(x, verbose=0)
    assert y.shape == (1, side * scale, (side + spec.multiple) * scale, 3)
    assert y.min() >= 0 and y.max() <= 255
    save_model(model, tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert np.allclose(again.predict(x, verbose=0), y, atol=1e-3)


def test_tiles_give_the_whole_image_result_and_odd_sizes_are_padded():
    from visionflow.models import MODELS
    from visionflow.tasks.restoration.restorer import Restorer

    model = MODELS.get("ffdnet_s").build()
    meta = {"task": "denoise", "multiple": 2, "input_channels": 3, "noise": "gaussian:25"}
    image = np.asarray(smooth_image(np.random.default_rng(1), 201, 257))
    whole = Restorer(model, meta).restore(image)
    tiled = Restorer(model, meta, max_tile_pixels=96 * 96).restore(image)
    assert whole.shape == image.shape == tiled.shape  # odd sides padded for the 2x2 sub-images, then cropped
    assert np.abs(whole.astype(int) - tiled).max() <= 1


# -- training, evaluation and prediction through the CLI ------------------------------------------

@pytest.fixture(scope="module")
def denoiser(tmp_path_factory):
    root = tmp_path_factory.mktemp("denoise")
    data = smooth_folder(root / "photos", images=24, side=64)
    (data / "notes.txt").write_text("not an image")
    Image.new("RGB", (20, 20)).save(data / "tiny.png")  # smaller than the patch: skipped with the reason
    from visionflow.tasks.restoration import data as patches

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(patches, "EPOCH_PATCHES", (384, 4096))  # a short training, in this process
        out = vf("train", data, "--task", "denoise", "--noise", "gaussian:25", "--patch", 32, "--epochs", 4,
                 "--batch-size", 16, "--project", root / "runs", "--name", "dn", cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    return root, root / "runs" / "dn", out.stdout


def test_a_few_epochs_beat_the_noisy_input_and_the_run_says_so(denoiser):
    root, run, stdout = denoiser
    assert "tiny.png: smaller than the 32-pixel training patch" in stdout
    assert "notes.txt: not an image file extension" in stdout
    meta = json.loads((run / "labels.json").read_text())
    assert meta["task"] == "denoise" and meta["noise"] == "gaussian:25" and meta["model"] == "ffdnet_s"
    metrics = json.loads((run / "metrics.json").read_text())
    val = metrics["validation"]
    model, noisy = val["methods"][val["model"]], val["methods"]["noisy input"]
    assert model["psnr"] > noisy["psnr"] + 3.0  # measurably better than doing nothing
    assert {"gaussian blur", "median filter", "non-local means (OpenCV)", "total variation (scikit-image)"} <= set(val["methods"])
    assert val["best_baseline"] != "noisy input" and val["methods"]["non-local means (OpenCV)"]["setting"] in (4, 7, 10, 14, 19, 25)
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 5 and "val_psnr" in history[0]
    page = (run / "report.html").read_text()
    assert "Model and baselines" in page and "Best and worst cases" in page and "non-local means" in page
    rows = (run / "predictions" / "validation.csv").read_text().splitlines()
    assert len(rows) == val["images"] + 1


def test_predict_writes_same_size_pngs_keeps_alpha_and_never_touches_sources(denoiser, tmp_path):
    root, run, _ = denoiser
    src = tmp_path / "in"
    src.mkdir()
    smooth_image(np.random.default_rng(5), 75, 121).save(src / "plain.jpg", quality=95)
    rgba = np.dstack([np.asarray(smooth_image(np.random.default_rng(6), 50, 60)), np.full((50, 60), 255, np.uint8)])
    rgba[:10, :10, 3] = 0
    Image.fromarray(rgba, "RGBA").save(src / "clear.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    out = vf("predict", run, src, "--out", tmp_path / "restored", "--format", "json", cwd=tmp_path)
    assert out.returncode == 1  # one input could not be read
    rows = {os.path.basename(r["source"]): r for r in json.loads(out.stdout)}
    assert rows["broken.png"]["error"] and rows["broken.png"]["output"] is None
    plain = Image.open(tmp_path / "restored" / "plain.png")
    assert plain.size == (121, 75) and plain.mode == "RGB"
    clear = np.asarray(Image.open(tmp_path / "restored" / "clear.png"))
    assert clear.shape == (50, 60, 4) and np.array_equal(clear[..., 3], rgba[..., 3])
    assert sorted(p.name for p in (tmp_path / "restored").iterdir()) == ["clear.png", "plain.png"]
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


def test_evaluate_a_new_folder_from_another_directory(denoiser, tmp_path):
    root, run, _ = denoiser
    new = smooth_folder(tmp_path / "new", images=3, side=64, seed=9, subfolders=False)
    out = vf("evaluate", run, new, "--out", tmp_path / "ev", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "non-local means (OpenCV)" in out.stdout and "3 images" in out.stdout
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())["evaluation"]
    assert metrics["images"] == 3 and metrics["metric"] == "psnr"
    assert metrics["gain_db"] == pytest.approx(
        metrics["methods"][metrics["model"]]["psnr"] - metrics["methods"][metrics["best_baseline"]]["psnr"], abs=1e-3)
    assert (tmp_path / "ev" / "report.html").exists()


def test_restoration_runs_are_refused_where_classifiers_are_expected(denoiser, tmp_path):
    import visionflow

    root, run, _ = denoiser
    with pytest.raises(ModelError, match="restores images"):
        visionflow.load(run)
    out = vf("predict", run, tmp_path, cwd=tmp_path)
    assert out.returncode != 0 and "--out DIR" in out.stderr and "Traceback" not in out.stderr


def test_exports_take_any_size_match_by_psnr_and_predict_like_the_run(denoiser, tmp_path):
    from visionflow.tasks.restoration.restorer import Restorer

    root, run, _ = denoiser
    out = vf("export", run, "--format", "onnx,tflite", "--out", tmp_path / "ex", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("lowest PSNR") == 2 and "FAILED" not in out.stdout
    image = np.asarray(smooth_image(np.random.default_rng(8), 53, 88))  # sides the training never saw, one odd
    reference = Restorer.load(run).restore(image)
    for fmt in ("onnx", "tflite"):
        meta = json.loads((tmp_path / "ex" / fmt / "labels.json").read_text())
        assert meta["task"] == "denoise" and meta["input"]["shape"] == [None, None, None, 3]
        assert meta["parity"]["passed"] and meta["parity"]["agreement"] >= 50.0  # lowest PSNR, dB
        exported = Restorer.load(tmp_path / "ex" / fmt)
        assert exported.backend == fmt and exported.model is None
        got = exported.restore(image)
        assert got.shape == reference.shape == image.shape and np.abs(got.astype(int) - reference).max() <= 1
    out = vf("export", run, "--format", "tflite-int8", "--out", tmp_path / "ex", cwd=tmp_path)
    assert out.returncode == 2 and "for classifiers" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "ex" / "tflite-int8").exists()


def _served(run, **limits):
    import time

    from fastapi.testclient import TestClient

    from visionflow.serve.app import create_app
    from visionflow.serve.settings import ServeConfig

    client = TestClient(create_app(run, ServeConfig(**limits)), raise_server_exceptions=False)
    client.__enter__()
    end = time.monotonic() + 120
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < end, "the service never became ready"
        time.sleep(0.05)
    return client


def _png_bytes(image) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def test_serve_returns_the_restored_png_with_timings_and_keeps_every_limit(denoiser):
    import base64
    import io

    from visionflow.tasks.restoration.restorer import Restorer

    root, run, _ = denoiser
    image = np.asarray(smooth_image(np.random.default_rng(11), 45, 70))
    expected = Restorer.load(run).restore(image)
    client = _served(run, max_pixels=4000, max_output_pixels=3500, max_body_mb=0.5)
    try:
        info = client.get("/v1/model").json()
        assert info["task"] == "denoise" and info["outputs"] == "image" and info["noise"] == "gaussian:25"
        r = client.post("/v1/restore", files={"file": ("noisy.png", _png_bytes(image), "image/png")})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
        got = np.asarray(Image.open(io.BytesIO(r.content)))
        assert got.shape == image.shape and np.abs(got.astype(int) - expected).max() <= 1
        assert float(r.headers["X-Model-Ms"]) > 0 and float(r.headers["X-Elapsed-Ms"]) >= float(r.headers["X-Model-Ms"])
        j = client.post("/v1/restore?format=json", json={"image": base64.b64encode(_png_bytes(image)).decode()}).json()
        assert (j["width"], j["height"], j["input"]) == (70, 45, {"width": 70, "height": 45}) and j["model_ms"] > 0
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(j["image"].split(",")[1])))), got)
        big = np.zeros((50, 75, 3), np.uint8)  # 3,750 pixels: within the input cap, over the output cap
        r = client.post("/v1/restore", files={"file": ("big.png", _png_bytes(big), "image/png")})
        assert r.status_code == 413 and r.json()["error"]["code"] == "output_too_large" and "3,500" in r.text
        huge = np.zeros((80, 80, 3), np.uint8)
        r = client.post("/v1/restore", files={"file": ("huge.png", _png_bytes(huge), "image/png")})
        assert r.status_code == 413 and r.json()["error"]["code"] == "image_too_large"
        r = client.post("/v1/restore", files={"file": ("bad.png", b"\x89PNG\r\n\x1a\nbroken", "image/png")})
        assert r.status_code in (400, 415) and "error" in r.json()  # as classification answers it
        two = [("a", ("a.png", _png_bytes(image), "image/png")), ("b", ("b.png", _png_bytes(image), "image/png"))]
        assert client.post("/v1/restore", files=two).json()["error"]["code"] == "one_image"
        assert client.post("/v1/restore?format=gif", files={"file": ("x.png", _png_bytes(image))}).status_code == 400
        r = client.post("/v1/predict", files={"file": ("x.png", _png_bytes(image), "image/png")})
        assert r.status_code == 409 and "/v1/restore" in r.json()["error"]["message"]
        assert client.post("/v1/restore", files={"file": ("noisy.png", _png_bytes(image))}).status_code == 200  # still serving
        assert "/v1/restore" in client.get("/").text
    finally:
        client.__exit__(None, None, None)


def test_superres_output_is_scale_times_the_input(tmp_path, short_epochs):
    data = smooth_folder(tmp_path / "photos", images=10, side=64)
    out = vf("train", data, "--task", "superres", "--scale", 2, "--patch", 32, "--epochs", 1, "--batch-size", 16,
             "--project", tmp_path / "runs", "--name", "sr", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "runs" / "sr"
    val = json.loads((run / "metrics.json").read_text())["validation"]
    assert {"nearest", "bilinear", "bicubic"} <= set(val["methods"])
    smooth_image(np.random.default_rng(3), 41, 67).save(tmp_path / "small.png")
    out = vf("predict", run, tmp_path / "small.png", "--out", tmp_path / "big", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert Image.open(tmp_path / "big" / "small.png").size == (134, 82)
    out = vf("export", run, "--format", "tflite", cwd=tmp_path)  # the sub-pixel layer at any size
    assert out.returncode == 0 and "lowest PSNR" in out.stdout, out.stderr[-2000:]
    out = vf("predict", run / "export" / "tflite", tmp_path / "small.png", "--out", tmp_path / "big2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert Image.open(tmp_path / "big2" / "small.png").size == (134, 82)
    client = _served(run / "export" / "tflite", max_output_pixels=10_000)  # an export serves too
    try:
        small = (tmp_path / "small.png").read_bytes()
        r = client.post("/v1/restore", files={"file": ("small.png", small, "image/png")})
        assert r.status_code == 413 and "134x82 = 10,988 pixels" in r.json()["error"]["message"]
        assert client.get("/v1/model").json()["scale"] == 2
    finally:
        client.__exit__(None, None, None)
    client = _served(run / "export" / "tflite", max_output_pixels=20_000)
    try:
        r = client.post("/v1/restore", files={"file": ("small.png", small, "image/png")})
        assert r.status_code == 200 and Image.open(__import__("io").BytesIO(r.content)).size == (134, 82)
    finally:
        client.__exit__(None, None, None)


def test_inpainting_fills_transparent_holes_and_keeps_the_rest(tmp_path, short_epochs):
    data = smooth_folder(tmp_path / "photos", images=10, side=64)
    out = vf("train", data, "--task", "inpaint", "--patch", 48, "--epochs", 1, "--batch-size", 16,
             "--project", tmp_path / "runs", "--name", "ip", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "runs" / "ip"
    val = json.loads((run / "metrics.json").read_text())["validation"]
    assert val["metric"] == "hole_psnr" and {"Telea (OpenCV)", "Navier-Stokes (OpenCV)"} <= set(val["methods"])
    pixels = np.asarray(smooth_image(np.random.default_rng(4), 70, 90))
    rgba = np.dstack([pixels, np.full((70, 90), 255, np.uint8)])
    rgba[30:40, 20:50, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "holey.png")
    Image.fromarray(pixels).save(tmp_path / "whole.png")
    out = vf("predict", run, tmp_path / "holey.png", tmp_path / "whole.png", "--out", tmp_path / "filled", cwd=tmp_path)
    assert out.returncode == 1 and "no holes to fill" in out.stdout
    filled = np.asarray(Image.open(tmp_path / "filled" / "holey.png"))
    assert filled.shape == (70, 90, 3)
    known = rgba[..., 3] == 255
    assert np.abs(filled[known].astype(int) - pixels[known]).max() <= 1  # known pixels kept
    assert not (tmp_path / "filled" / "whole.png").exists()
    from visionflow.export.exporter import parse_formats

    assert "tflite-int8" in parse_formats("all")  # "all" for a restoration model leaves the 8-bit format out:
    out = vf("export", run, "--format", "all", "--out", tmp_path / "ex", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]  # the U-Net (push-pull fill, nearest upsampling) at any size
    assert sorted(p.name for p in (tmp_path / "ex").iterdir()) == ["keras", "onnx", "savedmodel", "tflite"]


@pytest.mark.parametrize("flags, message", [
    (["--task", "denoise", "--weights", "imagenet"], "train from scratch"),
    (["--task", "denoise", "--model", "small_cnn"], "not for --task denoise"),
    (["--task", "denoise", "--patch", "33"], "multiple of 2"),
    (["--task", "superres", "--scale", "3", "--patch", "64"], "multiple of 3"),
    (["--task", "denoise", "--noise", "pink:3"], "KIND:LEVEL"),
    (["--task", "inpaint", "--calibrate"], "for classifiers"),
])
def test_bad_restoration_settings_are_one_sentence(tmp_path, flags, message):
    data = smooth_folder(tmp_path / "photos", images=4, side=64)
    out = vf("train", data, *flags, "--project", tmp_path / "runs", cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists()


def test_too_few_usable_images_says_what_is_needed(tmp_path):
    from visionflow.tasks.restoration.data import load_images

    Image.new("RGB", (20, 20)).save(tmp_path / "a.png")
    with pytest.raises(DataError, match="at least 2"):
        load_images(tmp_path, patch=32)


def _pairs(root, scale: int = 1, sigma: float = 20.0):
    """Clean smooth images and their degraded partners: noisy (scale 1) or box-downscaled, as PNGs
    under another folder with the same stems."""
    clean = smooth_folder(root / "clean", images=10, side=64, subfolders=False)
    degraded = root / "degraded"
    degraded.mkdir()
    rng = np.random.default_rng(0)
    for p in sorted(clean.iterdir()):
        image = Image.open(p).convert("RGB")
        if scale == 1:
            noisy = np.asarray(image).astype(float) + rng.normal(0, sigma, (image.height, image.width, 3))
            Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(degraded / f"{p.stem}.png")
        else:
            even = image.crop((0, 0, image.width // scale * scale, image.height // scale * scale))
            even.resize((image.width // scale, image.height // scale), Image.Resampling.BOX).save(degraded / f"{p.stem}.png")
    return clean, degraded


def test_real_pairs_train_and_evaluate_on_the_files_themselves(tmp_path, short_epochs):
    clean, noisy = _pairs(tmp_path)
    Image.new("RGB", (64, 64)).save(clean / "lonely.png")  # no partner
    Image.new("RGB", (64, 64)).save(clean / "odd.png")
    Image.new("RGB", (60, 64)).save(noisy / "odd.png")  # another size
    out = vf("train", clean, "--task", "denoise", "--pairs", noisy, "--patch", 32, "--epochs", 1, "--batch-size", 16,
             "--project", tmp_path / "runs", "--name", "dn", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "lonely.png: no degraded image with its name" in out.stdout
    assert "odd.png: its degraded partner odd.png is 60x64; a 64x64 clean image needs 64x64" in out.stdout
    run = tmp_path / "runs" / "dn"
    meta = json.loads((run / "labels.json").read_text())
    assert meta["pairs"] == str(noisy.resolve())
    val = json.loads((run / "metrics.json").read_text())["validation"]
    assert "real noisy/clean pairs" in json.loads((run / "metrics.json").read_text())["degradation"]
    # The noisy input is the real file: its PSNR is that of the noise written above (sigma 20: ~22 dB).
    assert 21.0 < val["methods"]["noisy input"]["psnr"] < 23.5
    out = vf("evaluate", run, clean, "--pairs", noisy, "--out", tmp_path / "ev", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads((tmp_path / "ev" / "metrics.json").read_text())["evaluation"]
    assert result["images"] == 10 and {s["path"].rsplit("/", 1)[-1] for s in result["skipped"]} == {"lonely.png", "odd.png"}
    assert 21.0 < result["methods"]["noisy input"]["psnr"] < 23.5


@pytest.mark.parametrize("task", ["inpaint", "classification"])
def test_pairs_are_refused_where_they_mean_nothing(tmp_path, task):
    clean, low = _pairs(tmp_path, scale=2)
    out = vf("train", clean, "--task", task, "--pairs", low, "--project", tmp_path / "runs", cwd=tmp_path)
    message = f"--pairs is a setting of --task denoise, deblur or superres; --task {task} does not take it."
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists()


def test_superres_pairs_are_cropped_aligned_and_checked_for_size(tmp_path):
    from visionflow.tasks.restoration.pairs import PairSampler, load_pair, pair_records
    from visionflow.data.scan import Record

    clean, low = _pairs(tmp_path, scale=2)
    Image.new("RGB", (65, 64)).save(clean / "wide.png")
    Image.new("RGB", (32, 32)).save(low / "wide.png")  # 65 // 2 = 32: a one-pixel longer clean side is cropped
    given, big = load_pair(str(clean / "wide.png"), str(low / "wide.png"), 2)
    assert given.shape == (32, 32, 3) and big.shape == (64, 64, 3)
    Image.new("RGB", (20, 32)).save(low / "img000.png")
    recs = [Record(str(p), "", "train", width=Image.open(p).width, height=Image.open(p).height) for p in sorted(clean.iterdir())]
    kept, mapping, skipped = pair_records(recs, clean, low, 2, 32)
    assert [Path(r.path).name for r in skipped] == ["img000.png"] and "is 20x32" in skipped[0].reason and "(1/2 of it)" in skipped[0].reason
    sampler = PairSampler([(r.path, mapping[r.path]) for r in kept], 32, 2, 6, seed=1)
    for a, b in sampler():
        assert a.shape == (16, 16, 3) and b.shape == (32, 32, 3)
        # box downscaling of the clean crop gives the degraded crop: the two are the same place
        down = b.reshape(16, 2, 16, 2, 3).astype(float).mean(axis=(1, 3))
        assert np.abs(down - a).max() <= 1.0  # rounding only; one pixel off gives ~10


def test_report_rebuilds_a_restoration_run_and_its_evaluation(denoiser, tmp_path):
    root, run, _ = denoiser
    (run / "report.html").unlink()
    out = vf("report", run)
    assert out.returncode == 0, out.stderr[-2000:]
    page = (run / "report.html").read_text()
    assert "Model and baselines" in page and "non-local means (OpenCV)" in page and "training curves" in page
    ev = vf("evaluate", run, root / "photos", "--out", tmp_path / "ev")
    assert ev.returncode == 0, ev.stderr[-2000:]
    (tmp_path / "ev" / "report.html").unlink()
    again = vf("report", tmp_path / "ev")
    assert again.returncode == 0 and "denoise · photos" in (tmp_path / "ev" / "report.html").read_text()
