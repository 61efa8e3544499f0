"""Clip classification (`--task video`): generated clips whose class is the direction of motion, so
no single frame tells the classes apart. The recurrent model must learn it; the frame-pooling
baseline cannot. Then the same verbs as for images: predict, evaluate, export, serve, report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthetic import motion_folder, motion_frames, write_video
from clirun import vf

FRAMES, SIZE = 8, 32


@pytest.fixture(scope="module")
def motion(tmp_path_factory):
    return motion_folder(tmp_path_factory.mktemp("motion") / "clips", per_class=32, frames=FRAMES, size=SIZE,
                         splits=(("train", 1.0), ("validation", 0.375)))  # 12 validation clips per class


@pytest.fixture(scope="module")
def gru_run(motion, tmp_path_factory):
    import visionflow

    root = tmp_path_factory.mktemp("runs")
    result = visionflow.train(data=str(motion), task="video", model="cnn_gru", frames=FRAMES, image_size=SIZE,
                              epochs=10, batch_size=8, time_budget=0, project=str(root), name="gru",
                              say=lambda line: None)
    return result


def test_clip_sampling_takes_frames_uniformly(tmp_path):
    from visionflow.video.frames import clip_indices, load_clip

    assert clip_indices(16, 4).tolist() == [2, 6, 10, 14]
    assert clip_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]  # a short clip repeats frames
    frames = [np.full((32, 32, 3), 10 * i, np.uint8) for i in range(16)]
    path = write_video(tmp_path / "ramp.mp4", frames, fps=8)
    clip = load_clip(path, 4, (16, 16))
    assert clip.shape == (4, 16, 16, 3) and clip.dtype == np.uint8
    assert [round(float(f.mean()) / 10) for f in clip] == [2, 6, 10, 14]


def test_the_recurrent_model_learns_the_direction_of_motion(gru_run):
    val = gru_run.metrics["validation"]
    assert val["accuracy"] >= 0.9, val["accuracy"]
    labels = json.loads((gru_run.run_dir / "labels.json").read_text())
    assert labels["task"] == "video" and labels["frames"] == FRAMES and labels["classes"] == ["left", "right"]


def test_frame_pooling_cannot_tell_the_direction(motion, tmp_path):
    import visionflow

    result = visionflow.train(data=str(motion), task="video", model="frame_pool", frames=FRAMES, image_size=SIZE,
                              epochs=10, batch_size=8, time_budget=0, project=str(tmp_path), name="pool",
                              say=lambda line: None)
    assert result.metrics["validation"]["accuracy"] <= 0.75  # 24 clips: near the 0.5 of chance


def test_predict_evaluate_export_and_report_take_clips(gru_run, motion, tmp_path):
    run = gru_run.run_dir
    out = vf("predict", run, motion / "validation", "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = json.loads(out.stdout)
    assert len(rows) == 24 and all(r["source"].endswith(".mp4") for r in rows)
    right = sum(r["label"] == r["source"].split("/")[-2] for r in rows)
    assert right >= 21
    out = vf("predict", run, motion / "validation", "--fps", "2", cwd=tmp_path)
    assert out.returncode == 2 and "classifies whole clips" in out.stderr
    out = vf("evaluate", run, motion / "validation", "--out", tmp_path / "ev", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["images"] == 24 and metrics["accuracy"] >= 0.9
    out = vf("export", run, "--format", "onnx", "--out", tmp_path / "ex", cwd=tmp_path)
    assert out.returncode == 0 and "validation clips of the run" in out.stdout, out.stdout + out.stderr[-2000:]
    meta = json.loads((tmp_path / "ex" / "onnx" / "labels.json").read_text())
    assert meta["input"]["shape"] == [None, FRAMES, SIZE, SIZE, 3] and meta["parity"]["passed"]
    import visionflow

    exported = visionflow.load(tmp_path / "ex" / "onnx")
    clip = sorted((motion / "validation" / "left").glob("*.mp4"))[0]
    assert exported.backend == "onnx" and exported.predict(str(clip)).label == visionflow.load(run).predict(str(clip)).label
    import base64
    import io

    from PIL import Image

    from visionflow.report.html import thumbnail

    uri = thumbnail(str(clip), 40)  # the report's gallery shows a clip as a strip of 6 frames
    strip = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert strip.size == (6 * 40 + 5 * 3, 40)
    assert "gallery" in (run / "report.html").read_text()


def test_serving_a_clip_model_takes_video_uploads(gru_run, motion):
    from service import service

    from visionflow.serve.settings import ServeConfig

    clip = sorted((motion / "validation" / "right").glob("*.mp4"))[0].read_bytes()
    with service(gru_run.run_dir, ServeConfig(backend="keras")) as client:
        assert client.get("/v1/model").json()["frames"] == FRAMES
        r = client.post("/v1/predict", files={"file": ("c.mp4", clip, "video/mp4")})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"][0]["label"] == "right"
        bad = client.post("/v1/predict", files={"file": ("c.mp4", b"not a video" * 20, "video/mp4")})
        assert bad.status_code == 415 and bad.json()["error"]["code"] == "not_a_video"
        timeline = client.post("/v1/video", content=clip, headers={"content-type": "video/mp4"})
        assert timeline.status_code == 409 and timeline.json()["error"]["code"] == "clip_model"
    import visionflow
    from visionflow.errors import ModelError

    with pytest.raises(ModelError, match="classifies whole clips"):
        visionflow.timeline(gru_run.run_dir, str(motion / "validation" / "right" / "right_000.mp4"))


@pytest.mark.parametrize("settings, message", [
    ({"weights": "imagenet"}, "video models train from scratch"),
    ({"model": "small_cnn"}, "not for --task video"),
    ({"frames": 1}, "--frames must be at least 2"),
])
def test_video_settings_are_checked(motion, tmp_path, settings, message):
    import visionflow
    from visionflow.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        visionflow.train(data=str(motion), task="video", project=str(tmp_path), say=lambda line: None, **settings)
    assert not (tmp_path / "exp1").exists()  # refused before a run folder is made


def test_unreadable_clips_are_skipped_and_listed(tmp_path):
    from visionflow.tasks.video.clips import load_clip_folder

    root = motion_folder(tmp_path / "clips", per_class=3, frames=FRAMES, size=SIZE)
    (root / "train" / "left" / "broken.mp4").write_bytes(b"not a video at all" * 10)
    (root / "train" / "left" / "notes.txt").write_text("hello")
    folder = load_clip_folder(root)
    reasons = {s["path"].split("/")[-1]: s["reason"] for s in folder.report["skipped"]}
    assert "not a video FFmpeg can read" in reasons["broken.mp4"] and reasons["notes.txt"] == "not a video file extension"
    assert len(folder.splits["train"]) == 6 and folder.classes == ["left", "right"]
    rng = np.random.default_rng(0)
    assert len(motion_frames("up", rng, FRAMES, SIZE)) == FRAMES
