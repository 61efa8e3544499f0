"""Clip models that hear (--task video --audio): a generated set whose class is the XOR of the
picture's colour and the sound's pitch, so that only a model that sees and hears gets it right;
then the verbs on that model, and the refusals."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from clirun import vf
from synthetic import write_clip_with_sound, write_video
from visionflow.errors import ConfigError, DataError

LOW, HIGH = 400.0, 2000.0


def xor_clips(root: Path, n: int, seed: int, tone=True) -> dict[str, str]:
    """root/<yes|no>/*.mp4: red or blue frames with a low or high tone; yes where red XOR high. The
    four kinds take turns, so every split of n (a multiple of 4) is balanced. {file name: class}."""
    rng = np.random.default_rng(seed)
    truth = {}
    for i in range(n):
        red, high = i % 2 == 0, (i // 2) % 2 == 0
        label = "yes" if red != high else "no"
        frames = []
        for _ in range(8):
            pixels = rng.integers(0, 50, (32, 32, 3), dtype=np.uint8)
            pixels[..., 0 if red else 2] += 170
            frames.append(pixels)
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        name = f"c{i:03d}.mp4"
        if tone:
            write_clip_with_sound(folder / name, frames, tone_hz=HIGH if high else LOW, fps=8)
        else:
            write_video(folder / name, frames, fps=8)
        truth[name] = label
    return truth


@pytest.fixture(scope="module")
def hearing(tmp_path_factory):
    """(run folder, a held-out folder, its truth): the clip model with sound, trained once."""
    import visionflow

    root = tmp_path_factory.mktemp("hearing")
    xor_clips(root / "data" / "train", 64, seed=0)
    xor_clips(root / "data" / "validation", 24, seed=1)
    truth = xor_clips(root / "holdout", 40, seed=2)
    run = visionflow.train(data=str(root / "data"), task="video", audio=True, frames=4, image_size=32, epochs=15,
                           batch_size=8, project=str(root / "runs"), say=lambda s: None)
    return run.run_dir, root / "holdout", truth


def test_the_clip_model_needs_both_the_picture_and_the_sound(hearing, tmp_path):
    run, holdout, _ = hearing
    meta = json.loads((run / "labels.json").read_text())
    assert meta["audio"]["rate"] == 16000 and len(meta["audio_mean"]) == meta["audio"]["steps"]
    validation = json.loads((run / "metrics.json").read_text())["validation"]
    assert validation["accuracy"] >= 0.9
    r = vf("evaluate", run, holdout, "--out", tmp_path / "ev")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())["modalities"]
    assert m["inputs"] == ["video", "audio"] and m["rows"] == 40
    assert m["fused"] >= 0.9 and m["video_only"] <= 0.65 and m["audio_only"] <= 0.65
    assert m["importance"]["video"]["mean"] > 0.25 and m["importance"]["audio"]["mean"] > 0.25
    assert "Evaluation" in (tmp_path / "ev" / "report.html").read_text()


def test_predict_export_and_serve_hear_the_clip(hearing, tmp_path):
    from fastapi.testclient import TestClient

    from visionflow.export import export
    from visionflow.predictor import open_model
    from visionflow.serve.app import create_app

    run, holdout, truth = hearing
    clips = sorted(holdout.rglob("*.mp4"))[:6]
    r = vf("predict", run, *clips, "--format", "json")
    assert r.returncode == 0, r.stderr
    assert [row["label"] for row in json.loads(r.stdout)] == [truth[c.name] for c in clips]
    results = export(run, "onnx", out=tmp_path / "export", samples=8, say=lambda s: None)
    assert results[0].passed
    assert json.loads((tmp_path / "export" / "onnx" / "labels.json").read_text())["audio_input"]["shape"] == [None, 96, 65]
    assert [p.label for p in open_model(tmp_path / "export" / "onnx").predict(clips)] == [truth[c.name] for c in clips]
    with pytest.raises(ConfigError, match="second input"):
        export(run, "tflite-int8", out=tmp_path / "export", say=lambda s: None)
    with TestClient(create_app(run)) as client:
        end = time.monotonic() + 120
        while client.get("/readyz").status_code != 200 and time.monotonic() < end:
            time.sleep(0.05)
        r = client.post("/v1/predict", files={"file": (clips[0].name, clips[0].read_bytes())})
        assert r.status_code == 200 and r.json()["predictions"][0]["label"] == truth[clips[0].name]


def test_soundless_clips_are_heard_as_flagged_silence_and_a_deaf_folder_is_refused(hearing, tmp_path):
    import visionflow

    run, _, _ = hearing
    mute = xor_clips(tmp_path / "mute", 4, seed=3, tone=False)
    model = visionflow.load(run, backend="keras")
    predictions = model.predict(sorted((tmp_path / "mute").rglob("*.mp4")))
    assert all(p.ok for p in predictions) and len(predictions) == len(mute)
    with pytest.raises(DataError, match="has sound .*drop --audio"):
        visionflow.train(data=str(tmp_path / "mute"), task="video", audio=True, val_split=0.5, frames=4,
                         image_size=32, epochs=1, project=str(tmp_path / "runs"), say=lambda s: None)
    r = vf("train", tmp_path / "mute", "--audio", "--val-split", "0.5", "--project", tmp_path / "runs")
    assert r.returncode == 2 and "--audio is a setting of --task video; --task classification" in r.stderr
