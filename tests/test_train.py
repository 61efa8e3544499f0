"""Training through the Python API: the run folder, determinism, resume, NaN, budgets, backbones."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

import visionflow
from visionflow.errors import ConfigError, TrainingFailed
from visionflow.training import callbacks as cb
from visionflow.training.trainer import Interrupted

FAST = dict(image_size=24, batch_size=8, augment="light", seed=3, recipe="tutorial")  # fixed, quick settings


def _train(data, tmp_path, **kw):
    lines: list[str] = []
    run = visionflow.train(data=str(data), project=str(tmp_path / "runs"), say=lines.append, **{**FAST, **kw})
    return run, lines


def _history(run_dir):
    with open(run_dir / "history.csv") as fh:
        return list(csv.DictReader(fh))


def test_run_folder_is_complete_and_consistent(split_data, tmp_path):
    run, lines = _train(split_data, tmp_path, epochs=2)
    d = run.run_dir
    assert d.name == "exp1"
    for name in ("config.yaml", "model.keras", "labels.json", "history.csv", "metrics.json", "data_report.json",
                 "manifest.csv",
                 "plots/training_curves.png", "plots/validation_confusion_matrix.png", "checkpoints/state.json"):
        assert (d / name).is_file() and (d / name).stat().st_size > 0, name
    assert any(p.name.startswith("events") for p in (d / "tensorboard").rglob("*"))
    with open(d / "manifest.csv") as fh:
        manifest = list(csv.DictReader(fh))
    assert len(manifest) == 44 and {r["split"] for r in manifest} == {"train", "validation"}
    assert all(r["status"] == "ok" and r["width"] == "24" for r in manifest)
    config = yaml.safe_load((d / "config.yaml").read_text())
    assert config["dropout"] == 0.3 and config["image_size"] == [24, 24] and config["data"] == str(split_data)
    assert json.loads((d / "labels.json").read_text()) == {
        "task": "classification", "classes": ["green", "red"], "image_size": [24, 24], "model": "small_cnn",
        "resize": "stretch", "pad_color": [114, 114, 114]}
    rows = _history(d)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images_per_s"} <= set(rows[0])
    metrics = json.loads((d / "metrics.json").read_text())
    best = metrics["best_epoch"]
    # The saved model is the best epoch's: its accuracy on validation matches that epoch's log.
    assert metrics["validation"]["accuracy"] == pytest.approx(float(rows[best - 1]["val_accuracy"]), abs=1e-6)
    assert metrics["validation"]["images"] == 12
    assert sum(map(sum, metrics["validation"]["confusion_matrix"])) == 12
    assert any(l.startswith("epoch 2/2") for l in lines) and "run: " + str(d) in lines
    again, _ = _train(split_data, tmp_path, epochs=1)
    assert again.run_dir.name == "exp2"


def test_same_seed_same_metrics(split_data, tmp_path):
    a, _ = _train(split_data, tmp_path / "a", epochs=2)
    b, _ = _train(split_data, tmp_path / "b", epochs=2)
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    assert [[r[k] for k in keys] for r in _history(a.run_dir)] == [[r[k] for k in keys] for r in _history(b.run_dir)]


def test_interrupt_then_resume_at_the_right_epoch(split_data, tmp_path, monkeypatch):
    original = cb.RunKeeper.on_train_batch_end

    def interrupt_in_epoch_2(self, batch, logs=None):
        if self._epoch == 1 and batch == 1:
            raise KeyboardInterrupt
        return original(self, batch, logs)

    monkeypatch.setattr(cb.RunKeeper, "on_train_batch_end", interrupt_in_epoch_2)
    with pytest.raises(Interrupted, match="Interrupted after epoch 1.*--resume"):
        _train(split_data, tmp_path, epochs=3, name="r")
    run_dir = tmp_path / "runs" / "r"
    assert (run_dir / "model.keras").is_file()
    visionflow.load(run_dir).predict(next((split_data / "validation" / "red").iterdir()))  # usable
    monkeypatch.setattr(cb.RunKeeper, "on_train_batch_end", original)
    lines: list[str] = []
    run = visionflow.train(resume=str(run_dir), say=lines.append)
    assert [int(r["epoch"]) for r in _history(run_dir)] == [1, 2, 3]
    assert any("resuming after epoch 1" in l for l in lines)
    assert len(list((run_dir / "checkpoints").glob("epoch-*.keras"))) == 1
    with pytest.raises(ConfigError, match="already finished after 3 epochs"):
        visionflow.train(resume=str(run_dir), say=lines.append)
    with pytest.raises(ConfigError, match="Cannot change learning_rate"):
        visionflow.train(resume=str(run_dir), learning_rate=0.5, epochs=4, say=lines.append)
    longer = visionflow.train(resume=str(run_dir), epochs=4, say=lines.append)
    assert [r["epoch"] for r in longer.history] == [1, 2, 3, 4]


def test_nan_loss_stops_with_clear_error_and_keeps_best_model(split_data, tmp_path, monkeypatch):
    original = cb.RunKeeper.on_train_batch_end

    def nan_in_epoch_2(self, batch, logs=None):
        if self._epoch == 1:
            logs = {**(logs or {}), "loss": float("nan")}
        return original(self, batch, logs)

    monkeypatch.setattr(cb.RunKeeper, "on_train_batch_end", nan_in_epoch_2)
    with pytest.raises(TrainingFailed, match=r"Loss became NaN at epoch 2, step 1; the best model so far is intact"):
        _train(split_data, tmp_path, epochs=3, name="nan")
    run_dir = tmp_path / "runs" / "nan"
    assert [int(r["epoch"]) for r in _history(run_dir)] == [1]
    assert visionflow.load(run_dir).predict(next((split_data / "validation" / "red").iterdir())).ok


def test_real_divergence_is_caught(split_data, tmp_path):
    with pytest.raises(TrainingFailed, match="Loss became NaN"):
        _train(split_data, tmp_path, epochs=2, model="seed_cnn", optimizer="sgd", learning_rate=1e38, augment="none")


def test_time_budget_cosine_schedule_and_class_weights(split_data, tmp_path):
    run, lines = _train(split_data, tmp_path, epochs=3, time_budget=1e-6, lr_schedule="cosine",
                        class_weight="auto", learning_rate=0.01)
    assert run.stopped and run.stopped.startswith("time budget")
    assert len(run.history) == 1 and run.history[0]["lr"] == pytest.approx(0.01)
    assert any(l.startswith("stopped: time budget") for l in lines)
    with pytest.raises(ConfigError, match=r"already finished after 1 epochs \(time budget"):
        visionflow.train(resume=str(run.run_dir), say=lines.append)
    more = visionflow.train(resume=str(run.run_dir), time_budget=10, say=lines.append)
    assert [r["epoch"] for r in more.history] == [1, 2, 3] and more.stopped is None
    cos, _ = _train(split_data, tmp_path, epochs=3, lr_schedule="cosine", learning_rate=0.01, patience=0)
    lrs = [r["lr"] for r in cos.history]
    assert lrs[0] == pytest.approx(0.01) and lrs[0] > lrs[1] > lrs[2]


def test_val_split_run_records_split_and_resume_reuses_it(three_class_data, tmp_path):
    run, _ = _train(three_class_data, tmp_path, epochs=1, val_split=0.25, name="vs")
    report = json.loads((run.run_dir / "data_report.json").read_text())
    assert report["split"]["val_split"] == 0.25 and len(report["validation_files"]) == 12
    assert report["counts"]["validation"]["images"] == 12
    metrics = json.loads((run.run_dir / "metrics.json").read_text())
    assert metrics["validation"]["images"] == 12 and len(metrics["validation"]["per_class"]) == 3


def test_backbone_freeze_then_fine_tune(split_data, tmp_path):
    run, lines = _train(split_data, tmp_path, epochs=2, model="mobilenet_v3_small", freeze_epochs=1,
                        image_size=32, augment="none")
    assert "backbone frozen: training the classifier head" in lines
    assert "backbone unfrozen: fine-tuning all layers" in lines
    assert [r["lr"] for r in run.history] == pytest.approx([1e-3, 1e-4])


def test_bad_settings_fail_before_anything_is_written(split_data, tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'small_cnn'"):
        _train(split_data, tmp_path, model="smal_cnn")
    with pytest.raises(ConfigError, match="No data folder given"):
        visionflow.train(epochs=1)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_disk_cache_trains_and_is_removed(split_data, tmp_path):
    run, _ = _train(split_data, tmp_path, epochs=1, cache="disk")
    assert not (run.run_dir / "cache").exists()
    assert run.metrics["validation"]["images"] == 12
