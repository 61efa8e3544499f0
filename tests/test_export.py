"""Export: every format reproduces the .keras model, carries its labels and input spec, loads
for prediction, and a failed parity check writes nothing and replaces nothing."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import visionflow
from conftest import shape_image
from visionflow.errors import ConfigError, ExportFailed, ModelError
from visionflow.export import exporter, export, parse_formats
from visionflow.runtime import need
from visionflow.models import build_model
from visionflow.rundir import save_model, write_json


def _images(n: int = 6, size: int = 24) -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.stack([np.asarray(shape_image(("red", "green", "blue")[i % 3], rng, size)) for i in range(n)])


@pytest.mark.parametrize("fmt", ["keras", "savedmodel", "onnx", "tflite"])
def test_float_formats_match_the_keras_model(trained, tmp_path, fmt):
    run_dir, _ = trained
    lines = []
    [result] = export(run_dir, fmt, out=tmp_path, samples=24, say=lines.append)
    assert result.passed and result.max_abs_diff <= 1e-4 and result.agreement == 1.0
    # The run's own 12 validation images come first; the rest are generated.
    assert result.sample_source == "12 validation images of the run + 12 generated"
    assert lines[0] == "parity check on 12 validation images of the run + 12 generated"
    assert lines[1].startswith(f"{fmt:<12} ok")

    folder = tmp_path / fmt
    meta = json.loads((folder / "labels.json").read_text())
    assert meta["classes"] == ["blue", "green", "red"] and meta["image_size"] == [24, 24]
    assert meta["format"] == fmt and meta["input"]["shape"] == [None, 24, 24, 3]
    assert meta["input"]["dtype"] == "float32" and meta["output"]["activation"] == "softmax"
    assert meta["parity"]["max_abs_diff"] == result.max_abs_diff
    source = (run_dir / "model.keras").read_bytes()
    assert meta["source"]["sha256"] == hashlib.sha256(source).hexdigest()
    artifact = folder / meta["artifact"]
    if artifact.is_file():
        assert meta["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folders left behind"

    # The export folder loads like a run and predicts what the run predicts.
    images = _images()
    original = visionflow.load(run_dir).predict_arrays(images)
    exported = visionflow.load(folder).predict_arrays(images)
    assert exported.shape == (6, 3)
    np.testing.assert_allclose(exported, original, atol=1e-4)


def test_int8_takes_uint8_pixels_and_reports_agreement(trained, tmp_path):
    run_dir, _ = trained
    [result] = export(run_dir, "tflite-int8", out=tmp_path, samples=12, min_agreement=0.0, say=lambda s: None)
    assert result.sample_source == "12 validation images of the run"
    meta = json.loads((tmp_path / "tflite-int8" / "labels.json").read_text())
    assert meta["input"]["dtype"] == "uint8"
    size_float = export(run_dir, "tflite", out=tmp_path, samples=12, say=lambda s: None)[0].size_bytes
    assert result.size_bytes < size_float / 2  # int8 weights
    images = _images()
    original = visionflow.load(run_dir).predict_arrays(images)
    quantized = visionflow.load(tmp_path / "tflite-int8" / "model_int8.tflite").predict_arrays(images)
    assert np.abs(quantized - original).max() < 0.15
    assert result.agreement >= 0.75


def test_two_class_sigmoid_model_without_manifest(tmp_path):
    # A model file with labels.json and nothing else: parity runs on generated images.
    model = build_model("seed_cnn", (24, 24), 2)
    save_model(model, tmp_path / "m" / "model.keras")
    write_json(tmp_path / "m" / "labels.json", {"classes": ["cat", "dog"], "image_size": [24, 24]})
    [result] = export(tmp_path / "m" / "model.keras", "onnx", samples=8, say=lambda s: None)
    assert result.passed and result.sample_source == "8 generated images"
    meta = json.loads((tmp_path / "m" / "export" / "onnx" / "labels.json").read_text())
    assert meta["output"] == {"activation": "sigmoid", "shape": [None, 1], "meaning": "probability of classes[1]"}
    pred = visionflow.load(tmp_path / "m" / "export" / "onnx").predict(_images(1)[0])
    assert set(pred.probabilities) == {"cat", "dog"} and sum(pred.probabilities.values()) == pytest.approx(1.0)


def test_failed_parity_writes_nothing_and_keeps_the_previous_export(trained, tmp_path, monkeypatch):
    run_dir, _ = trained
    export(run_dir, "onnx", out=tmp_path, samples=8, say=lambda s: None)
    before = (tmp_path / "onnx" / "model.onnx").read_bytes()
    monkeypatch.setattr(exporter, "FLOAT_TOLERANCE", -1.0)  # nothing can pass
    lines = []
    with pytest.raises(ExportFailed, match="Parity check failed for onnx"):
        export(run_dir, "onnx", out=tmp_path, samples=8, say=lines.append)
    assert "FAILED" in lines[-1] and "(not written)" in lines[-1]
    assert (tmp_path / "onnx" / "model.onnx").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onnx"]


def test_format_names_are_checked():
    assert parse_formats("onnx, tflite") == ["onnx", "tflite"]
    assert parse_formats("all") == ["keras", "savedmodel", "onnx", "tflite", "tflite-int8"]
    with pytest.raises(ConfigError, match="Did you mean 'onnx'"):
        parse_formats("onxx")
    with pytest.raises(ConfigError, match="at least one export format"):
        parse_formats(" , ")


def test_missing_optional_package_names_the_extra():
    with pytest.raises(ModelError, match=r"pip install 'visionflow\[export\]'"):
        need("visionflow_no_such_package")


def test_exporting_an_export_is_refused(trained, tmp_path):
    run_dir, _ = trained
    export(run_dir, "tflite", out=tmp_path, samples=4, say=lambda s: None)
    with pytest.raises(ModelError, match="already an export"):
        export(tmp_path / "tflite", "onnx", say=lambda s: None)


def test_cli_export(trained, tmp_path):
    run_dir, _ = trained
    from clirun import vf

    out = vf("export", run_dir, "--format", "onnx", "--out", tmp_path, "--samples", "8")
    assert out.returncode == 0, out.stderr
    assert "onnx         ok" in out.stdout and (tmp_path / "onnx" / "model.onnx").stat().st_size > 10_000
    bad = vf("export", run_dir, "--format", "tflite8")
    assert bad.returncode == 2 and "Unknown export format 'tflite8'" in bad.stderr and "Traceback" not in bad.stderr
    missing = vf("export", tmp_path / "nope")
    assert missing.returncode == 2 and "No model file" in missing.stderr
