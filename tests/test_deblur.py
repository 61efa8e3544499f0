"""Deblurring (--task deblur, --degrade chains): a short training beats the blurred input, the
baselines told the true kernel are shown as upper bounds but never the one to beat, the verbs
work on the model (predict, evaluate on real blurred/sharp pairs, export, service), and bad chains
are refused in one sentence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from clirun import vf
from synthetic import smooth_folder
from visionflow.errors import ConfigError


def blocks_folder(root, images: int, side: int = 64, seed: int = 0):
    """Sharp-edged pictures (rectangles of flat colour over a gradient): what blur visibly spoils."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:side, :side]
    for i in range(images):
        pixels = np.stack([40 + 150 * xx / side, 60 + 120 * yy / side, np.full((side, side), 100.0)], -1)
        for _ in range(8):
            y0, x0 = rng.integers(0, side - 8, 2)
            h, w = rng.integers(4, 24, 2)
            pixels[y0:y0 + h, x0:x0 + w] = rng.uniform(0, 255, 3)
        Image.fromarray(pixels.astype(np.uint8)).save(root / f"b{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def deblurrer(tmp_path_factory):
    from visionflow.tasks.restoration import data as patches

    root = tmp_path_factory.mktemp("deblur")
    data = blocks_folder(root / "photos", 20)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(patches, "EPOCH_PATCHES", (384, 4096))  # a short training, in this process
        out = vf("train", data, "--task", "deblur", "--degrade", "blur:gaussian:1.5-2.5,gaussian:2", "--patch", 32,
                 "--epochs", 8, "--batch-size", 16, "--learning-rate", "2e-3", "--project", root / "runs",
                 "--name", "db", cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    return root, root / "runs" / "db", out.stdout


def test_a_short_training_beats_the_blurred_input_and_names_the_upper_bounds(deblurrer):
    root, run, stdout = deblurrer
    meta = json.loads((run / "labels.json").read_text())
    assert meta["task"] == "deblur" and meta["degrade"] == "blur:gaussian:1.5-2.5,gaussian:2"
    assert meta["model"] == "unet_deblur"
    val = json.loads((run / "metrics.json").read_text())["validation"]
    model, blurred = val["methods"][val["model"]], val["methods"]["blurred input"]
    assert model["psnr"] > blurred["psnr"] + 1.0, val["methods"]
    bounds = [n for n in val["methods"] if "upper bound" in n]
    assert len(bounds) == 2 and all("true kernel" in n for n in bounds)
    assert "upper bound" not in val["best_baseline"] and val["best_baseline"] != val["model"]
    assert "unsharp masking" in val["methods"] and "(upper bounds not counted)" in stdout


def test_predict_and_evaluate_on_real_pairs_from_another_directory(deblurrer, tmp_path):
    from visionflow.tasks.restoration.blur import blur_image, kernel

    root, run, _ = deblurrer
    sharp = blocks_folder(tmp_path / "sharp", 4, side=48, seed=9)
    (tmp_path / "blurred").mkdir()
    for p in sorted(sharp.iterdir()):
        pixels = blur_image(np.asarray(Image.open(p).convert("RGB")), kernel("gaussian", 2.0))
        Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8)).save(tmp_path / "blurred" / p.name)
    before = {p.name: p.read_bytes() for p in (tmp_path / "blurred").iterdir()}
    out = vf("predict", run, tmp_path / "blurred", "--out", tmp_path / "sharpened", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "sharpened").iterdir()) == sorted(before)
    assert Image.open(tmp_path / "sharpened" / sorted(before)[0]).size == (48, 48)
    assert {p.name: p.read_bytes() for p in (tmp_path / "blurred").iterdir()} == before  # sources untouched
    out = vf("evaluate", run, sharp, "--pairs", tmp_path / "blurred", "--out", tmp_path / "ev", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    methods = json.loads((tmp_path / "ev" / "metrics.json").read_text())["evaluation"]["methods"]
    assert not any("true kernel" in n for n in methods)  # nobody knows the kernel of a real pair
    assert {"blurred input", "unsharp masking"} <= set(methods)


def test_export_and_service_restore_at_any_size(deblurrer, tmp_path):
    from fastapi.testclient import TestClient

    from visionflow.serve.app import create_app

    root, run, _ = deblurrer
    out = vf("export", run, "--format", "onnx", "--out", tmp_path / "ex", cwd=tmp_path)
    assert out.returncode == 0 and "lowest PSNR" in out.stdout, out.stderr[-2000:]
    image = next(blocks_folder(tmp_path / "one", 1, side=40).iterdir())
    with TestClient(create_app(run)) as client:
        import time

        end = time.monotonic() + 120
        while client.get("/readyz").status_code != 200 and time.monotonic() < end:
            time.sleep(0.05)
        info = client.get("/v1/model").json()
        assert info["task"] == "deblur" and info["degrade"] == "blur:gaussian:1.5-2.5,gaussian:2"
        r = client.post("/v1/restore", files={"file": (image.name, image.read_bytes(), "image/png")})
        assert r.status_code == 200
        assert Image.open(__import__("io").BytesIO(r.content)).size == (40, 40)


@pytest.mark.parametrize("flags, message", [
    (["--task", "deblur", "--degrade", "gaussian:25"], "has no blur: a deblur model needs a blur:KIND:LEVEL link"),
    (["--task", "denoise", "--degrade", "blur:gaussian:2"], "train --task deblur for that"),
    (["--task", "superres", "--degrade", "blur:gaussian:2"], "--degrade is a setting of --task denoise or deblur; "
                                                             "--task superres does not take it."),
    (["--task", "deblur", "--degrade", "blur:gaussian:2,,jpeg:30"], "has an empty link"),
    (["--task", "deblur", "--degrade", "blur:zoom:2"], "KIND one of gaussian, motion, defocus"),
])
def test_bad_degradations_are_one_sentence(tmp_path, flags, message):
    data = smooth_folder(tmp_path / "photos", images=4, side=64)
    out = vf("train", data, *flags, "--project", tmp_path / "runs", cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "runs").exists()


def test_chains_degrade_in_order_the_same_way_for_the_same_seed():
    import tensorflow as tf

    from visionflow.tasks.restoration.chain import apply, apply_one, parse_chain, text

    chain = parse_chain("blur:motion:5-15,gaussian:2-8,jpeg:60-95")
    assert text(chain) == "blur:motion:5-15,gaussian:2-8,jpeg:60-95"
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (40, 48, 3)).astype(np.uint8)
    one, k = apply_one(clean, chain, (3, 4))
    assert k is not None and k.sum() == pytest.approx(1.0, abs=1e-5)
    batch = apply(clean[None].astype(np.float32), chain, tf.constant([3, 4])).numpy()[0]
    assert np.array_equal(one, batch.astype(np.uint8))  # evaluation sees what training would have made
    assert not np.array_equal(one, apply_one(clean, chain, (3, 5))[0])
    both = apply_one(clean, parse_chain("blur:gaussian:1,blur:defocus:2"), (1, 1))[1]
    assert both.shape == (11, 11) and both.sum() == pytest.approx(1.0, abs=1e-5)  # two blurs make one kernel
    with pytest.raises(ConfigError, match="^--degrade: The level"):
        from visionflow.tasks.restoration.chain import check

        check("blur:gaussian:x")
