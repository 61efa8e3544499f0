"""Fast prediction by default: a run folder runs in LiteRT (or ONNX Runtime) through its cached,
parity-checked export."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import visionflow
from visionflow.errors import ConfigError, ModelError
from visionflow.export import cached
from clirun import vf


@pytest.fixture
def run(trained, tmp_path):
    """A private copy of the shared trained run (these tests write its export folder)."""
    run_dir, data = trained
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("export"))
    return copy, data


def test_auto_backend_exports_once_reuses_and_rebuilds_when_the_model_changes(run):
    run_dir, data = run
    images = sorted((data / "validation").rglob("*.png"))
    notes: list[str] = []
    fast = visionflow.load(run_dir, say=notes.append)
    assert fast.backend == "tflite" and fast.artifact.endswith("export/tflite/model.tflite")
    assert fast.source == str(run_dir / "model.keras")
    artifact = run_dir / "export" / "tflite" / "model.tflite"
    assert len(notes) == 1 and "exporting" in notes[0] and artifact.is_file()
    slow = visionflow.load(run_dir, backend="keras")
    assert slow.backend == "keras"
    got = np.array([[p.probabilities[c] for c in fast.classes] for p in fast.predict(images)])
    want = np.array([[p.probabilities[c] for c in slow.classes] for p in slow.predict(images)])
    assert np.abs(got - want).max() <= 1e-4 and (got.argmax(1) == want.argmax(1)).all()

    onnx = visionflow.load(run_dir, backend="onnx", say=notes.append)  # what `serve --backend onnx` runs
    assert onnx.backend == "onnx" and len(notes) == 2
    assert np.abs(onnx.predict_arrays(np.zeros((2, 24, 24, 3), np.uint8))
                  - slow.predict_arrays(np.zeros((2, 24, 24, 3), np.uint8))).max() <= 1e-4

    stamp = artifact.stat().st_mtime_ns
    again = visionflow.load(run_dir, say=notes.append)
    assert len(notes) == 2 and artifact.stat().st_mtime_ns == stamp
    assert again.model is not None and again.model.name == slow.model.name  # Keras on demand (Grad-CAM)
    assert visionflow.explain(again, images[0]).heatmap.ndim == 2

    # A changed model.keras (retrained, replaced) makes the export stale: it is made again.
    model = slow.model
    model.set_weights([w * 1.01 for w in model.get_weights()])
    model.save(run_dir / "model.keras")
    fresh = visionflow.load(run_dir, say=notes.append)
    assert len(notes) == 3 and fresh.backend == "tflite"
    changed = visionflow.load(run_dir, backend="keras").predict_arrays(np.zeros((1, 24, 24, 3), np.uint8))
    assert np.abs(fresh.predict_arrays(np.zeros((1, 24, 24, 3), np.uint8)) - changed).max() <= 1e-4


def test_without_the_export_packages_auto_falls_back_and_a_named_backend_says_what_to_install(run, monkeypatch):
    run_dir, _ = run
    monkeypatch.setattr(cached, "available", lambda fmt: fmt == "onnx")  # no LiteRT: ONNX Runtime instead
    assert visionflow.load(run_dir, say=lambda s: None).backend == "onnx"
    with pytest.raises(ModelError, match=r"The tflite backend needs ai_edge_litert: pip install 'visionflow\[export\]'"):
        visionflow.load(run_dir, backend="tflite")
    monkeypatch.setattr(cached, "available", lambda fmt: False)
    shutil.rmtree(run_dir / "export")
    assert visionflow.load(run_dir).backend == "keras"
    assert not (run_dir / "export").exists()
    with pytest.raises(ConfigError, match="Did you mean 'onnx'"):
        visionflow.load(run_dir, backend="onx")


def test_a_failed_export_falls_back_to_tensorflow_with_a_note(run, monkeypatch):
    from visionflow.errors import ExportFailed

    run_dir, _ = run

    def fail(*args, **kwargs):
        raise ExportFailed("Parity check failed for onnx")

    monkeypatch.setattr(cached, "cached_export", fail)
    notes: list[str] = []
    predictor = visionflow.load(run_dir, say=notes.append)
    assert predictor.backend == "keras"
    assert notes == [f"note: running {run_dir / 'model.keras'} in TensorFlow: no tflite export could be used "
                     f"(Parity check failed for onnx)"]


def test_cli_predict_and_evaluate_backends(run):
    run_dir, data = run
    image = str(sorted((data / "validation" / "red").iterdir())[0])
    fast = vf("predict", run_dir, image, "--format", "csv")
    keras = vf("predict", run_dir, image, "--format", "csv", "--backend", "keras")
    assert fast.returncode == keras.returncode == 0, fast.stderr + keras.stderr
    assert "exporting" in fast.stderr and "exporting" not in keras.stderr
    a, b = (np.array(p.stdout.splitlines()[1].split(",")[2:-1], float) for p in (fast, keras))
    assert np.abs(a - b).max() <= 1e-4
    ev = vf("evaluate", run_dir, data / "validation", "--out", run_dir / "ev")
    assert ev.returncode == 0, ev.stderr
    import json

    assert json.loads((run_dir / "ev" / "metrics.json").read_text())["backend"] == "tflite"
    bad = vf("predict", run_dir, image, "--backend", "tf")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_flip_tta_averages_the_image_and_its_mirror_in_every_runtime(run):
    run_dir, data = run
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    images[:, :, :12] = 0  # left half dark: the mirror image is a different input
    for backend in ("keras", "tflite"):
        plain = visionflow.load(run_dir, backend=backend, say=lambda line: None)
        a, b = plain.predict_arrays(images), plain.predict_arrays(images[:, :, ::-1])
        assert np.abs(a - b).max() > 1e-3, "the test images must not be symmetric for the model"
        tta = visionflow.load(run_dir, backend=backend, tta=True, say=lambda line: None)
        assert tta.tta and not plain.tta
        np.testing.assert_allclose(tta.predict_arrays(images), (a + b) / 2, atol=1e-5)
        one = tta.predict(images[0])
        assert abs(one.probabilities[tta.classes[1]] - (a[0, 1] + b[0, 1]) / 2) <= 1e-5

    ev = vf("evaluate", run_dir, data / "validation", "--tta", "--out", run_dir / "ev")
    assert ev.returncode == 0, ev.stderr
    assert "with flip test-time augmentation" in ev.stdout
    import json

    metrics = json.loads((run_dir / "ev" / "metrics.json").read_text())
    assert metrics["tta"] is True and metrics["images"] > 0


def test_a_first_predict_prints_visionflow_s_lines_only(run):
    """A new process, as a user runs it, with no TF_CPP_MIN_LOG_LEVEL of its own: stderr holds the
    export note and nothing of TensorFlow's (oneDNN, absl, cpu_feature_guard notices)."""
    import os
    import subprocess
    import sys

    run_dir, data = run
    image = str(sorted((data / "validation" / "red").iterdir())[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    out = subprocess.run([sys.executable, "-m", "visionflow", "predict", str(run_dir), image], capture_output=True,
                         text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(image)
    assert out.stderr.splitlines() == [f"exporting {run_dir}/model.keras to tflite once (with a parity check); later "
                                       f"loads reuse {run_dir}/export/tflite"]
