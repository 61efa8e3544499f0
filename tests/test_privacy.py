"""Differentially private training (--dp), its accountant, and the membership-inference audit."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import make_class_folder, make_split_folder
from test_cli import vf


def test_rdp_epsilon_matches_the_published_reference():
    """Opacus' compute_dp_sgd_privacy documentation: sampling rate 1%, noise multiplier 1.0, 300
    steps, delta 1e-5, RDP orders 2, 5, 10, 20, 100 -> epsilon 2.39."""
    from visionflow.privacy.accountant import epsilon

    assert epsilon(0.01, 1.0, 300, 1e-5, "rdp", orders=[2, 5, 10, 20, 100]) == pytest.approx(2.39, abs=0.005)
    rdp = epsilon(0.01, 1.0, 300, 1e-5, "rdp")
    pld = epsilon(0.01, 1.0, 300, 1e-5, "pld")
    assert 0 < pld < rdp < 2.39  # all orders search tighter; PLD is tighter still


def test_solved_noise_spends_the_target_and_no_more():
    from visionflow.privacy.accountant import auto_delta, epsilon, plan

    budget = plan(8.0, None, 1.0, batch_size=32, images=500, epochs=10)
    assert budget.delta == pytest.approx(auto_delta(500)) == pytest.approx(2e-4)
    assert budget.planned_steps == 16 * 10 and budget.steps_per_epoch == 16
    spent = epsilon(32 / 500, budget.noise_multiplier, budget.planned_steps, budget.delta)
    assert 7.9 <= spent <= 8.0
    assert budget.spent(budget.planned_steps // 2) < spent  # epsilon grows with the steps
    assert plan(2.0, None, 1.0, 32, 500, 10).noise_multiplier > budget.noise_multiplier


def test_dp_step_is_the_ordinary_step_without_noise_or_clipping_and_clips_otherwise():
    import keras

    from visionflow.privacy.dpsgd import make_private

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 5)).astype("float32"), np.eye(3)[rng.integers(0, 3, 8)].astype("float32")

    def model():
        keras.utils.set_random_seed(1)
        m = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
        m.compile(keras.optimizers.SGD(0.5), keras.losses.CategoricalCrossentropy())
        return m

    plain, private, clipped = model(), model(), model()
    start = [w.copy() for w in plain.get_weights()]
    plain.train_on_batch(x, y)
    make_private(private, private.loss, clip=1e6, noise_multiplier=0.0, batch_size=8)
    private.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(plain.get_weights(), private.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    make_private(clipped, clipped.loss, clip=0.01, noise_multiplier=0.0, batch_size=8)
    clipped.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    moved = np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(clipped.get_weights(), start)))
    assert 0 < moved <= 0.5 * 0.01 + 1e-6  # learning rate x clip: no example moves it further


@pytest.fixture(scope="module")
def dp_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("dp")
    data = root / "data"
    make_split_folder(data, train=16, validation=6)
    other = root / "elsewhere"
    other.mkdir()
    proc = vf("train", data, "--dp", "--target-epsilon", "4", "--epochs", "3", "--model", "small_cnn", "--weights",
              "none", "--image-size", "24", "--batch-size", "8", "--project", root / "runs", "--name", "dp", cwd=other)
    return root, data, proc


def test_dp_run_records_epsilon_every_epoch_and_in_its_metadata(dp_run):
    import keras

    root, _, proc = dp_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "group normalisation" in proc.stdout and "noise multiplier" in proc.stdout
    run = root / "runs" / "dp"
    with open(run / "history.csv") as fh:
        eps = [float(r["epsilon"]) for r in csv.DictReader(fh)]
    assert len(eps) == 3 and eps[0] < eps[1] < eps[2] <= 4.0 and eps[2] > 3.9
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epsilon"] == pytest.approx(eps[2], abs=1e-3)
    assert metrics["delta"] == pytest.approx(1 / (10 * 32))
    assert metrics["privacy"]["accountant"] == "pld" and "Poisson" in metrics["privacy"]["sampling"]
    assert json.loads((run / "labels.json").read_text())["epsilon"] == metrics["epsilon"]
    model = keras.saving.load_model(run / "model.keras")
    kinds = {type(layer).__name__ for layer in model.layers}
    assert "GroupNormalization" in kinds and "BatchNormalization" not in kinds
    assert "DP-SGD, target epsilon 4" in (run / "report.html").read_text()
    from visionflow.export.exporter import export

    (result,) = export(run, "onnx", say=lambda s: None)
    carried = json.loads((Path(result.path).parent / "labels.json").read_text())
    assert carried["epsilon"] == metrics["epsilon"] and carried["privacy"]["noise_multiplier"] > 0


def test_audit_reports_attacks_on_members_and_held_out_images(dp_run):
    root, _, proc = dp_run
    assert proc.returncode == 0
    audit = vf("audit", root / "runs" / "dp")
    assert audit.returncode == 0, audit.stderr[-2000:]
    assert "likelihood ratio" in audit.stdout and "bound TPR" in audit.stdout
    found = json.loads((root / "runs" / "dp" / "audit" / "audit.json").read_text())
    assert found["members"] == 32 and found["non_members"] == 12
    for attack in ("loss", "confidence", "likelihood ratio"):
        a = found["attacks"][attack]
        assert 0 <= a["auc"] <= 1 and a["auc_95"][0] <= a["auc"] <= a["auc_95"][1]
        assert a["tpr_at_0.01_fpr"] is None  # 12 held-out images cannot measure a 1% false-positive rate
    assert found["dp"]["epsilon"] <= 4.0
    assert (root / "runs" / "dp" / "audit" / "roc.png").stat().st_size > 1000


def test_attacks_separate_a_memorising_model_and_not_a_coin():
    from visionflow.privacy.audit import _roc, image_scores, likelihood_ratio

    rng = np.random.default_rng(0)
    labels = np.array([1] * 300 + [0] * 300)
    targets = rng.integers(0, 3, 600)
    p_true = np.where(labels == 1, rng.uniform(0.8, 1.0, 600), rng.uniform(0.3, 0.95, 600))
    probs = np.full((600, 3), 0.0)
    probs[np.arange(600), targets] = p_true
    probs[np.arange(600), (targets + 1) % 3] = 1 - p_true
    s = image_scores(probs, targets, exclusive=True)
    assert _roc(labels, -s["loss"])["auc"] > 0.75
    assert _roc(labels, likelihood_ratio(s["phi"], labels, targets))["auc"] > 0.75
    coin = rng.permutation(labels)
    assert abs(_roc(coin, likelihood_ratio(s["phi"], coin, targets))["auc"] - 0.5) < 0.08


@pytest.mark.parametrize("settings, words", [
    ({"task": "denoise"}, "classification and multilabel"),
    ({"dp_delta": "2"}, "dp_delta"),
    ({"class_weight": "auto"}, "class counts"),
    ({"head_epochs": 3}, "--head-epochs"),
])
def test_dp_refusals_name_the_setting(tmp_path, settings, words):
    import visionflow
    from visionflow.errors import ConfigError

    make_class_folder(tmp_path / "d" / "train", per_class=4)
    make_class_folder(tmp_path / "d" / "validation", per_class=2)
    with pytest.raises(ConfigError, match=words):
        visionflow.train(data=str(tmp_path / "d"), dp=True, epochs=1, project=str(tmp_path / "runs"),
                         say=lambda s: None, **settings)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_dp_refusal_on_the_command_line_is_one_sentence(tmp_path):
    make_class_folder(tmp_path / "d" / "train", per_class=4)
    make_class_folder(tmp_path / "d" / "validation", per_class=2)
    proc = vf("train", tmp_path / "d", "--dp", "--mixup", "0.2", "--epochs", "1", "--project", tmp_path / "runs")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "--mixup blends pairs" in proc.stderr, proc.stderr


def test_audit_refuses_what_it_cannot_measure(tmp_path):
    proc = vf("audit", tmp_path)
    assert proc.returncode != 0 and "not a finished run folder" in proc.stderr and "Traceback" not in proc.stderr
