"""Style transfer as a task (--task style): a short training toward a generated style (stripes of two
colours) moves the outputs' colours and Gram matrices toward it, and the verbs work on the model:
predict (images at their own size, --strength, videos), the Python API, evaluate, export with
parity, the service; a two-style network answers each style by name; bad input is refused in one
sentence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from clirun import vf
from synthetic import smooth_folder, smooth_image, write_video

INK = ((220, 40, 30), (20, 60, 200))  # the stripes' two colours


def stripes(side: int = 64, period: int = 8) -> np.ndarray:
    out = np.empty((side, side, 3), np.uint8)
    on = (np.arange(side) // (period // 2)) % 2 == 0
    out[:, on], out[:, ~on] = INK
    return out


def colour_gap(pixels: np.ndarray, style: np.ndarray) -> float:
    """Relative distance between the colour statistics of two images: their pixels' second moments
    E[rgb rgb^T] (the Gram matrix of the pixels themselves: which colours come together)."""
    def moments(x):
        flat = x.reshape(-1, 3).astype(np.float64) / 255
        return flat.T @ flat / len(flat)

    return float(np.linalg.norm(moments(pixels) - moments(style)) / np.linalg.norm(moments(style)))


@pytest.fixture(scope="module")
def styled(tmp_path_factory):
    from visionflow.tasks.restoration import data as patches
    from visionflow.tasks.style import evaluate

    root = tmp_path_factory.mktemp("style")
    smooth_folder(root / "photos", images=16, side=64)
    Image.fromarray(stripes()).save(root / "ink.png")
    (root / "elsewhere").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(patches, "EPOCH_PATCHES", (384, 4096))  # a short training, in this process
        mp.setattr(evaluate, "GATYS_IMAGES", 1)
        out = vf("train", "../photos", "--task", "style", "--style", "../ink.png", "--val-split", "0.25",
                 "--patch", 48, "--epochs", 6, "--learning-rate", "3e-3", "--project", root / "runs", "--name", "st",
                 cwd=root / "elsewhere")
    assert out.returncode == 0, out.stderr[-3000:]
    return root, root / "runs" / "st", out.stdout


@pytest.fixture(scope="module")
def two_styles(tmp_path_factory):
    """A run folder of an untrained two-style network: what choosing a style by name does."""
    import keras

    from visionflow.tasks.style.models import johnson_s

    run = tmp_path_factory.mktemp("two") / "run"
    run.mkdir()
    keras.utils.set_random_seed(0)
    johnson_s(styles=2).save(run / "model.keras")
    (run / "labels.json").write_text(json.dumps({"task": "style", "model": "johnson_s", "classes": [], "image_size": None,
                                                 "input_channels": 3, "multiple": 4, "patch": 32,
                                                 "styles": ["ink", "sun"], "style_weight": 5.0}))
    return run


def test_a_short_training_moves_outputs_toward_the_style(styled):
    import visionflow

    _, run, stdout = styled
    meta = json.loads((run / "labels.json").read_text())
    assert meta["task"] == "style" and meta["styles"] == ["ink"] and meta["model"] == "johnson_s"
    assert [p.name for p in (run / "styles").iterdir()] == ["ink.png"]
    config = (run / "config.yaml").read_text()
    assert str(run.parent.parent / "ink.png") in config  # stored absolute: a resume from elsewhere finds it
    val = json.loads((run / "metrics.json").read_text())["validation"]
    s = val["styles"]["ink"]
    assert s["network"]["style"] < 0.5 * s["input"]["style"], s  # the Gram distance halved at least
    assert s["gatys"]["images"] == 1 and s["content_vs_gatys"] > 0
    assert val["speedup"] > 1 and "faster" in stdout
    styler = visionflow.load(run)
    before = after = 0.0
    for seed in (7, 8):
        photo = np.asarray(smooth_image(np.random.default_rng(seed), 52, 76))
        out = styler.predict(photo)
        assert out.shape == photo.shape and out.dtype == np.uint8
        assert colour_gap(out, stripes()) < colour_gap(photo, stripes())  # each photo's colours moved toward the style's
        before, after = before + colour_gap(photo, stripes()), after + colour_gap(out, stripes())
    assert after < 0.8 * before  # by a fifth at least over both (a 6-epoch network: 0.68 here)
    report = (run / "report.html").read_text()
    assert "Examples: ink" in report and "Gatys" in report


def test_a_two_style_network_answers_each_style_by_name(two_styles, tmp_path):
    import visionflow
    from visionflow.errors import DataError

    styler = visionflow.load(two_styles)
    photo = np.asarray(smooth_image(np.random.default_rng(1), 40, 44))
    both = styler.paint_all(photo)
    assert both.shape == (40, 44, 6)
    np.testing.assert_array_equal(styler.predict(photo, style="sun"), both[..., 3:])
    np.testing.assert_array_equal(styler.predict(photo, style=0), both[..., :3])
    np.testing.assert_array_equal(styler.predict(photo, style="styles/sun.png"), both[..., 3:])  # a file of that name
    with pytest.raises(DataError, match="this model learnt ink, sun"):
        styler.predict(photo, style="monet")
    image = tmp_path / "p.png"
    Image.fromarray(photo).save(image)
    out = vf("predict", two_styles, image, "--out", tmp_path / "out", "--style", "sun")
    assert out.returncode == 0, out.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "p.png")), both[..., 3:])
    out = vf("export", two_styles, "--format", "onnx", "--out", tmp_path / "export")
    assert out.returncode == 0, out.stderr
    meta = json.loads((tmp_path / "export" / "onnx" / "labels.json").read_text())
    assert meta["output"]["shape"][-1] == 6 and meta["parity"]["passed"]


def test_strength_blends_and_an_unknown_style_is_refused(styled):
    import visionflow
    from visionflow.errors import DataError

    _, run, _ = styled
    styler = visionflow.load(run)
    photo = np.asarray(smooth_image(np.random.default_rng(8), 40, 40))
    np.testing.assert_array_equal(styler.predict(photo, strength=0.0), photo)
    full, half = styler.predict(photo).astype(int), styler.predict(photo, strength=0.5).astype(int)
    assert np.abs(half - (full + photo) / 2).max() <= 1
    with pytest.raises(DataError, match="this model learnt ink"):
        styler.predict(photo, style="monet")
    with pytest.raises(DataError, match="strength"):
        styler.predict(photo, strength=1.5)


def test_predict_writes_pngs_at_their_own_size_and_a_repainted_video(styled, tmp_path):
    _, run, _ = styled
    odd = tmp_path / "odd.jpg"
    smooth_image(np.random.default_rng(3), 37, 61).save(odd)
    before = odd.read_bytes()
    (tmp_path / "notes.txt").write_text("not an image")
    out = vf("predict", run, odd, tmp_path / "notes.txt", "--out", tmp_path / "out", "--style", "ink",
             "--strength", "0.8", "--format", "json")
    assert out.returncode == 1  # the text file failed, the image did not
    rows = json.loads(out.stdout)
    assert rows[0]["error"] is None and rows[1]["error"]
    assert Image.open(tmp_path / "out" / "odd.png").size == (61, 37) and odd.read_bytes() == before
    frames = [np.asarray(smooth_image(np.random.default_rng(i), 48, 64)) for i in range(8)]
    write_video(tmp_path / "clip.mp4", frames, fps=8)
    out = vf("predict", run, tmp_path / "clip.mp4", "--annotate", tmp_path / "painted.mp4")
    assert out.returncode == 0, out.stderr
    assert "8 frames" in out.stdout
    from visionflow.video.reader import VideoReader

    with VideoReader(tmp_path / "painted.mp4") as video:
        got = [f.pixels for f in video.frames()]
    assert len(got) == 8 and got[0].shape == (48, 64, 3)
    assert colour_gap(got[0], stripes()) < 0.8 * colour_gap(frames[0], stripes())  # repainted
    for args, message in (((odd, "--out", tmp_path / "o2", "--style", "monet"), "this model learnt ink"),
                          ((odd,), "give --out DIR"), ((tmp_path / "clip.mp4",), "give --annotate OUT.mp4"),
                          ((odd, "--out", tmp_path / "o3", "--conf", "0.3"), "not for style models")):
        out = vf("predict", run, *args)
        assert out.returncode != 0 and message in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


def test_evaluate_and_export_with_parity(styled, tmp_path):
    from visionflow.tasks.style import evaluate

    root, run, _ = styled
    result = evaluate.evaluate_folder(run, root / "photos", out=tmp_path / "ev", gatys_images=0)
    assert result["images"] == 16 and set(result["styles"]) == {"ink"}
    assert result["speedup"] is None and "gatys" not in result["seconds_per_image"]
    assert result["styles"]["ink"]["network"]["style"] < result["styles"]["ink"]["input"]["style"]
    report = (tmp_path / "ev" / "report.html").read_text()
    assert "Examples: ink" in report and report.count('<div class="card">') == 4  # photo | style | model
    out = vf("export", run, "--format", "onnx", "--out", tmp_path / "export")
    assert out.returncode == 0, out.stderr
    meta = json.loads((tmp_path / "export" / "onnx" / "labels.json").read_text())
    assert meta["parity"]["passed"] and meta["parity"]["agreement"] >= 40.0  # PSNR between export and Keras
    assert meta["output"]["shape"][-1] == 3
    import visionflow

    exported, kept = visionflow.load(tmp_path / "export" / "onnx"), visionflow.load(run)
    photo = np.asarray(smooth_image(np.random.default_rng(5), 44, 60))
    a, b = exported.predict(photo).astype(int), kept.predict(photo).astype(int)
    assert a.shape == (44, 60, 3) and np.abs(a - b).max() <= 2


def test_the_service_repaints_with_a_style_and_strength(two_styles):
    import time

    from fastapi.testclient import TestClient

    from visionflow.serve.app import create_app

    run = two_styles
    photo = smooth_image(np.random.default_rng(6), 50, 70)
    import io

    buf = io.BytesIO()
    photo.save(buf, format="PNG")
    with TestClient(create_app(run)) as client:
        end = time.monotonic() + 120
        while client.get("/readyz").status_code != 200 and time.monotonic() < end:
            time.sleep(0.05)
        info = client.get("/v1/model").json()
        assert info["task"] == "style" and info["styles"] == ["ink", "sun"] and info["outputs"] == "image"
        r = client.post("/v1/restore?style=sun&strength=0.7", files={"file": ("p.png", buf.getvalue())})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.headers["X-Style"] == "sun"
        assert Image.open(io.BytesIO(r.content)).size == (70, 50)
        r = client.post("/v1/restore?style=monet", files={"file": ("p.png", buf.getvalue())})
        assert r.status_code == 400 and "ink, sun" in r.json()["error"]["message"]
        r = client.post("/v1/restore?strength=2", files={"file": ("p.png", buf.getvalue())})
        assert 400 <= r.status_code < 500
        r = client.post("/v1/restore", files={"file": ("t.txt", b"hello")})
        assert 400 <= r.status_code < 500
        r = client.post("/v1/predict", files={"file": ("p.png", buf.getvalue())})
        assert r.status_code == 409 and "/v1/restore" in r.text


@pytest.mark.parametrize("flags, message", [
    ((), "needs --style IMAGE"),
    (("--style", "missing.png"), "--style missing.png:"),
    (("--style", "notes.txt"), "--style notes.txt:"),
    (("--style", "ok.png", "--loss", "l1"), "--task style does not take it"),
    (("--style", "ok.png", "--weights", "imagenet"), "trains from scratch"),
    (("--style", "ok.png", "--style-weight", "-1"), "style_weight must be positive"),
])
def test_bad_settings_are_refused_in_one_sentence(tmp_path, flags, message):
    data = smooth_folder(tmp_path / "photos", images=4, side=40)
    Image.fromarray(stripes(16, 4)).save(tmp_path / "ok.png")
    (tmp_path / "notes.txt").write_text("not a picture")
    out = vf("train", data, "--task", "style", "--val-split", "0.25", *flags, "--project", tmp_path / "runs",
             cwd=tmp_path)
    assert out.returncode != 0 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "runs").exists()


def test_style_flags_are_refused_for_other_models(tmp_path):
    from synthetic import colour_model_run

    run = colour_model_run(tmp_path / "run")
    image = tmp_path / "x.png"
    smooth_image(np.random.default_rng(0), 32, 32).save(image)
    out = vf("predict", run, image, "--strength", "0.5")
    assert out.returncode != 0 and "--strength is for style models" in out.stderr
