"""Resize modes (stretch, centre crop, letterbox pad) and model metadata that carries them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import make_split_folder
from visionflow.data.decode import decode
from visionflow.data.resize import DEFAULT_FILL, Resize
from visionflow.errors import ConfigError


def _wide() -> np.ndarray:
    """40 wide, 20 high: left half red, right half blue."""
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20, 0] = 255
    a[:, 20:, 2] = 255
    return a


def test_pad_letterboxes_with_the_fill_colour():
    out = decode(_wide(), (20, 20), resize=Resize("pad"))
    assert out.shape == (20, 20, 3)
    assert (out[:4] == DEFAULT_FILL).all() and (out[-4:] == DEFAULT_FILL).all()  # bars above and below
    assert out[10, 2, 0] > 200 and out[10, 17, 2] > 200  # the whole picture is inside, both halves
    black = decode(_wide(), (20, 20), resize=Resize("pad", (0, 0, 0)))
    assert (black[:4] == 0).all()


def test_crop_keeps_the_centre_and_stretch_keeps_everything():
    crop = decode(_wide(), (20, 20), resize=Resize("crop"))
    assert crop.shape == (20, 20, 3)
    assert crop[:, :8, 0].min() > 200 and crop[:, 12:, 2].min() > 200  # the centre 20 columns: 10 red, 10 blue
    stretch = decode(_wide(), (20, 20))
    assert stretch[:, :8, 0].min() > 200 and stretch[:, 12:, 2].min() > 200
    tall = decode(_wide().transpose(1, 0, 2).copy(), (10, 30), resize=Resize("crop"))
    assert tall.shape == (10, 30, 3)


def test_bad_modes_and_colours_are_config_errors():
    with pytest.raises(ConfigError, match="Did you mean 'pad'"):
        Resize("padd")
    with pytest.raises(ConfigError, match="three values in 0-255"):
        Resize("pad", (0, 300, 0))
    assert Resize.from_meta({}) == Resize("stretch")
    assert Resize.from_meta({"resize": "pad", "pad_color": [1, 2, 3]}).to_meta() == {"resize": "pad",
                                                                                      "pad_color": [1, 2, 3]}


def test_a_padded_model_pads_in_predict_and_keeps_the_mode(tmp_path):
    import visionflow

    data = tmp_path / "data"
    make_split_folder(data, train=8, validation=3)
    run = visionflow.train(data=str(data), project=str(tmp_path / "runs"), epochs=1, image_size=24, batch_size=8,
                           resize="pad", say=lambda s: None).run_dir
    meta = json.loads((run / "labels.json").read_text())
    assert meta["resize"] == "pad" and meta["pad_color"] == list(DEFAULT_FILL) and meta["task"] == "classification"
    predictor = visionflow.load(run, backend="keras")
    assert predictor.resize == Resize("pad")
    wide = np.ascontiguousarray(np.repeat(np.asarray(decode(str(next((data / "validation" / "red").iterdir())))),
                                          3, axis=1))
    got = predictor.predict(wide).probabilities
    padded = predictor.predict_arrays(decode(wide, (24, 24), resize=Resize("pad"))[None])[0]
    stretched = predictor.predict_arrays(decode(wide, (24, 24))[None])[0]
    assert [got[c] for c in predictor.classes] == pytest.approx(padded.tolist(), abs=1e-6)
    assert not np.allclose(padded, stretched, atol=1e-6)

    from visionflow.export import export

    [result] = export(run, "tflite", out=tmp_path / "export", samples=6, say=lambda s: None)
    assert result.passed
    exported = visionflow.load(tmp_path / "export" / "tflite")
    assert exported.resize == Resize("pad")
    assert [exported.predict(wide).probabilities[c] for c in predictor.classes] == pytest.approx(padded.tolist(),
                                                                                                abs=1e-4)


def test_run_folders_from_before_tasks_load_as_stretching_classifiers(trained, tmp_path):
    import visionflow

    run, data = trained
    old = tmp_path / "old"
    shutil.copytree(run, old, ignore=shutil.ignore_patterns("export", "evaluations"))
    meta = json.loads((old / "labels.json").read_text())
    (old / "labels.json").write_text(json.dumps({"classes": meta["classes"], "image_size": meta["image_size"]}))
    predictor = visionflow.load(old, backend="keras")
    assert predictor.task.name == "classification" and predictor.resize == Resize("stretch")
    image = str(sorted((data / "validation" / "red").iterdir())[0])
    assert predictor.predict(image).label == visionflow.load(run, backend="keras").predict(image).label
    (old / "labels.json").write_text(json.dumps({**meta, "task": "keypoints"}))
    with pytest.raises(visionflow.ModelError, match="'keypoints' model"):
        visionflow.load(old, backend="keras")
