"""Calibration: ECE, temperature fitting, and the temperature travelling with the model."""

from __future__ import annotations

import json

import numpy as np
import pytest

import visionflow
from visionflow.calibration import apply_temperature, calibrate, fit_temperature, nll, reliability
from visionflow.errors import ModelError
from visionflow.predict import Predictor


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sampled(n: int, temperature: float, seed: int = 0):
    """Labels drawn from softmax(logits / temperature) and the model's probabilities softmax(logits):
    a model whose confidences are off by exactly `temperature`."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, size=(n, 4))
    truth = softmax(logits / temperature)
    y = np.array([rng.choice(4, p=p) for p in truth])
    return softmax(logits), y


def test_ece_of_hand_made_cases():
    # Two images at confidence 0.9, one right, one wrong: |0.5 - 0.9| = 0.4.
    probs = np.array([[0.9, 0.1], [0.9, 0.1]])
    rel = reliability(probs, np.array([0, 1]))
    assert rel["ece"] == pytest.approx(0.4)
    used = [b for b in rel["bins"] if b["count"]]
    assert len(used) == 1 and used[0]["count"] == 2 and used[0]["accuracy"] == 0.5
    assert used[0]["lower"] < 0.9 <= used[0]["upper"]
    # All right at confidence 1.0 (lands in the last bin): perfectly calibrated.
    assert reliability(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1]))["ece"] == 0.0
    assert len(rel["bins"]) == 15


@pytest.mark.parametrize("true_t", [0.6, 2.5])
def test_fitted_temperature_recovers_the_miscalibration(true_t):
    probs, y = sampled(4000, true_t)
    t = fit_temperature(probs, y)
    assert t == pytest.approx(true_t, rel=0.1)
    result = calibrate(probs, y)
    assert result["ece_after"] < result["ece_before"]
    assert result["nll_after"] < result["nll_before"]
    assert result["nll_after"] == pytest.approx(nll(apply_temperature(probs, t), y))


def test_temperature_keeps_the_ranking_and_sums_to_one():
    probs, _ = sampled(200, 1.0, seed=3)
    for t in (0.3, 1.0, 4.0):
        scaled = apply_temperature(probs, t)
        assert np.allclose(scaled.sum(axis=1), 1.0)
        assert (scaled.argmax(axis=1) == probs.argmax(axis=1)).all()
    assert np.array_equal(apply_temperature(probs, 1.0), probs)
    # T > 1 softens: the top probability never rises.
    assert (apply_temperature(probs, 2.0).max(axis=1) <= probs.max(axis=1) + 1e-12).all()


def test_fit_temperature_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        fit_temperature(np.array([[0.5, 0.5]]), np.array([0]))
    with pytest.raises(ValueError, match="one label per row"):
        fit_temperature(np.array([[0.5, 0.5], [0.2, 0.8]]), np.array([0]))


def test_predictor_applies_its_temperature(trained):
    run, data = trained
    raw = visionflow.load(run)
    images = np.stack([np.asarray(raw._decode(p)) for p in sorted((data / "validation" / "red").iterdir())[:4]])
    warm = Predictor(raw.model, raw.classes, raw.image_size, temperature=2.0)
    assert np.allclose(warm.predict_arrays(images), apply_temperature(raw.predict_arrays(images), 2.0))
    with pytest.raises(ModelError, match="temperature must be a positive number"):
        Predictor(raw.model, raw.classes, raw.image_size, temperature=0)


def test_train_calibrate_stores_the_temperature_and_predict_uses_it(tmp_path):
    from conftest import make_split_folder

    data = tmp_path / "data"
    make_split_folder(data, train=12, validation=6)
    lines = []
    run = visionflow.train(data=str(data), project=str(tmp_path / "runs"), epochs=3, image_size=24, batch_size=8,
                           model="seed_cnn", augment="none", calibrate=True, say=lines.append)
    labels = json.loads((run.run_dir / "labels.json").read_text())
    t = labels["temperature"]
    cal = run.metrics["calibration"]
    assert cal["temperature"] == t and t > 0
    assert cal["images"] == 12
    assert cal["nll_after"] <= cal["nll_before"] + 1e-9
    assert any(line.startswith(f"calibration: temperature {t:.3f}") for line in lines)
    # predict applies it: the same model without the temperature gives the raw probabilities.
    calibrated = visionflow.load(run.run_dir)
    assert calibrated.temperature == t
    image = next((data / "validation" / "red").iterdir())
    raw = Predictor(calibrated.model, calibrated.classes, calibrated.image_size)
    p_raw = raw.predict(image).probabilities
    p_cal = calibrated.predict(image).probabilities
    expected = apply_temperature(np.array([[p_raw[c] for c in raw.classes]]), t)[0]
    assert [p_cal[c] for c in raw.classes] == pytest.approx(expected.tolist(), abs=1e-6)
    # Exports carry it, so the ONNX model served gives the calibrated figures too.
    from visionflow.export import export

    export(run.run_dir, "onnx", samples=8, say=lambda s: None)
    onnx_meta = json.loads((run.run_dir / "export" / "onnx" / "labels.json").read_text())
    assert onnx_meta["temperature"] == t
    p_onnx = visionflow.load(run.run_dir / "export" / "onnx").predict(image).probabilities
    assert [p_onnx[c] for c in raw.classes] == pytest.approx(expected.tolist(), abs=1e-4)
    # The report shows the before/after figures.
    html = (run.run_dir / "report.html").read_text()
    assert "ECE before" in html and "temperature" in html
