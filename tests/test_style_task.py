"""Style transfer as a task (--task style): a short training toward generated styles (stripes of two
colours, a checkerboard of two others) moves the outputs' colours and Gram matrices toward each
style, one network holds both, and the verbs work on the model: predict (images at their own size,
--style, --strength, videos), the Python API, evaluate, export with parity, the service; bad
input is refused in one sentence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from clirun import vf
from synthetic import smooth_folder, smooth_image, write_video

INK = ((220, 40, 30), (20, 60, 200))  # the stripes' two colours
SUN = ((240, 200, 40), (40, 150, 60))  # the checkerboard's


def stripes(side: int = 64, period: int = 8) -> np.ndarray:
    out = np.empty((side, side, 3), np.uint8)
    on = (np.arange(side) // (period // 2)) % 2 == 0
    out[:, on], out[:, ~on] = INK
    return out


def checks(side: int = 64, cell: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[:side, :side]
    on = ((yy // cell + xx // cell) % 2 == 0)
    out = np.empty((side, side, 3), np.uint8)
    out[on], out[~on] = SUN
    return out


def near(pixels: np.ndarray, colours, within: float = 60.0) -> float:
    """Share of pixels within `within` (Euclidean, 0-255) of either colour."""
    flat = pixels.reshape(-1, 3).astype(np.float32)
    d = np.min([np.linalg.norm(flat - np.array(c, np.float32), axis=1) for c in colours], axis=0)
    return float(np.mean(d < within))


@pytest.fixture(scope="module")
def styled(tmp_path_factory):
    from visionflow.tasks.restoration import data as patches
    from visionflow.tasks.style import evaluate

    root = tmp_path_factory.mktemp("style")
    smooth_folder(root / "photos", images=16, side=56)
    Image.fromarray(stripes()).save(root / "ink.png")
    Image.fromarray(checks()).save(root / "sun.png")
    (root / "elsewhere").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(patches, "EPOCH_PATCHES", (256, 4096))  # a short training, in this process
        mp.setattr(evaluate, "GATYS_IMAGES", 1)
        out = vf("train", "../photos", "--task", "style", "--style", "../ink.png", "--style", "../sun.png",
                 "--val-split", "0.25", "--patch", 32, "--epochs", 6, "--batch-size", 16, "--learning-rate", "3e-3",
                 "--project", root / "runs", "--name", "st", cwd=root / "elsewhere")
    assert out.returncode == 0, out.stderr[-3000:]
    return root, root / "runs" / "st", out.stdout


def test_a_short_training_moves_outputs_toward_each_style(styled):
    import visionflow

    _, run, stdout = styled
    meta = json.loads((run / "labels.json").read_text())
    assert meta["task"] == "style" and meta["styles"] == ["ink", "sun"] and meta["model"] == "johnson_s"
    assert sorted(p.name for p in (run / "styles").iterdir()) == ["ink.png", "sun.png"]
    val = json.loads((run / "metrics.json").read_text())["validation"]
    for name in ("ink", "sun"):
        s = val["styles"][name]
        assert s["network"]["style"] < 0.6 * s["input"]["style"], s  # the Gram distance fell by 40% or more
        assert s["gatys"]["images"] == 1 and s["content_vs_gatys"] > 0
    assert val["speedup"] > 1 and "faster" in stdout
    styler = visionflow.load(run)
    photo = np.asarray(smooth_image(np.random.default_rng(7), 52, 76))
    for name, colours in (("ink", INK), ("sun", SUN)):
        out = styler.predict(photo, style=name)
        assert out.shape == photo.shape and out.dtype == np.uint8
        assert near(out, colours) > near(photo, colours) + 0.3, name  # its colours are the style's
    ink, sun = styler.predict(photo, style=0), styler.predict(photo, style="sun")
    assert np.abs(ink.astype(int) - sun.astype(int)).mean() > 30  # two styles, two paintings


def test_strength_blends_and_an_unknown_style_is_refused(styled):
    import visionflow
    from visionflow.errors import DataError

    _, run, _ = styled
    styler = visionflow.load(run)
    photo = np.asarray(smooth_image(np.random.default_rng(8), 40, 40))
    np.testing.assert_array_equal(styler.predict(photo, strength=0.0), photo)
    full, half = styler.predict(photo).astype(int), styler.predict(photo, strength=0.5).astype(int)
    assert np.abs(half - (full + photo) / 2).max() <= 1
    with pytest.raises(DataError, match="this model learnt ink, sun"):
        styler.predict(photo, style="monet")
    with pytest.raises(DataError, match="strength"):
        styler.predict(photo, strength=1.5)


def test_predict_writes_pngs_at_their_own_size_and_a_repainted_video(styled, tmp_path):
    _, run, _ = styled
    odd = tmp_path / "odd.jpg"
    smooth_image(np.random.default_rng(3), 37, 61).save(odd)
    before = odd.read_bytes()
    (tmp_path / "notes.txt").write_text("not an image")
    out = vf("predict", run, odd, tmp_path / "notes.txt", "--out", tmp_path / "out", "--style", "sun",
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
    assert near(got[0], INK) > near(frames[0], INK) + 0.2  # the first style, repainted
    for args, message in (((odd, "--out", tmp_path / "o2", "--style", "monet"), "this model learnt ink, sun"),
                          ((odd,), "give --out DIR"), ((tmp_path / "clip.mp4",), "give --annotate OUT.mp4"),
                          ((odd, "--out", tmp_path / "o3", "--conf", "0.3"), "not for style models")):
        out = vf("predict", run, *args)
        assert out.returncode != 0 and message in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


def test_evaluate_and_export_with_parity(styled, tmp_path):
    from visionflow.tasks.style import evaluate

    root, run, _ = styled
    result = evaluate.evaluate_folder(run, root / "photos", out=tmp_path / "ev", gatys_images=0)
    assert result["images"] == 16 and set(result["styles"]) == {"ink", "sun"}
    assert result["speedup"] is None and "gatys" not in result["seconds_per_image"]
    assert (tmp_path / "ev" / "report.html").read_text().count("Examples:") == 2
    out = vf("export", run, "--format", "onnx", "--out", tmp_path / "export")
    assert out.returncode == 0, out.stderr
    meta = json.loads((tmp_path / "export" / "onnx" / "labels.json").read_text())
    assert meta["parity"]["passed"] and meta["parity"]["agreement"] >= 40.0  # PSNR between export and Keras
    assert meta["output"]["shape"][-1] == 6  # three channels per style
    import visionflow

    exported, kept = visionflow.load(tmp_path / "export" / "onnx"), visionflow.load(run)
    photo = np.asarray(smooth_image(np.random.default_rng(5), 44, 60))
    a, b = exported.predict(photo, style="sun").astype(int), kept.predict(photo, style="sun").astype(int)
    assert a.shape == (44, 60, 3) and np.abs(a - b).max() <= 2


def test_the_service_repaints_with_a_style_and_strength(styled):
    import time

    from fastapi.testclient import TestClient

    from visionflow.serve.app import create_app

    _, run, _ = styled
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
    (("--style", "ok.png", "--loss", "l1"), "--loss is for restoration models"),
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
