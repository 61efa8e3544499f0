"""Multi-worker training: 2 local workers through `visionflow launch`, against one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import visionflow
from conftest import make_class_folder, make_split_folder
from visionflow.cli import main

TRAIN = ["--epochs", "3", "--image-size", "24", "--model", "seed_cnn", "--augment", "none"]


def _env():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    return env


def test_two_workers_write_one_run_close_to_one_process(tmp_path):
    data = tmp_path / "data"
    make_split_folder(data, train=16, validation=6)
    project = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "visionflow", "launch", "--workers", "2", "--", "train", str(data),
                           *TRAIN, "--batch-size", "8", "--project", str(project), "--name", "dist"],
                          capture_output=True, text=True, timeout=600, env=_env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "launch: 2 workers" in proc.stdout and "(2 workers x 8)" in proc.stdout
    assert sorted(p.name for p in project.iterdir()) == ["dist"]  # only the chief wrote a run folder
    run = project / "dist"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["workers"] == 2 and metrics["epochs_run"] == 3
    history = (run / "history.csv").read_text().strip().splitlines()
    assert len(history) == 4
    model = visionflow.load(run)
    image = next((data / "validation" / "red").iterdir())
    assert model.predict(str(image)).label in ("red", "green")
    # One process with the same global batch (2 x 8) and settings.
    single = visionflow.train(data=str(data), project=str(tmp_path / "single"), epochs=3, image_size=24,
                              model="seed_cnn", augment="none", batch_size=16, say=lambda s: None)
    assert metrics["validation"]["accuracy"] == pytest.approx(single.metrics["validation"]["accuracy"], abs=0.2)
    assert metrics["validation"]["accuracy"] >= 0.75


def test_distributed_needs_tf_config_and_launch_needs_train(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    data = make_class_folder(tmp_path / "d", per_class=4)
    assert main(["train", str(data), "--val-split", "0.25", "--distributed", "--project", str(tmp_path / "r")]) == 2
    assert "--distributed needs TF_CONFIG" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    assert main(["launch", "--workers", "2", "--", "evaluate", "runs/exp1", "data"]) == 2
    assert "launch runs training" in capsys.readouterr().err


def test_a_failing_worker_fails_the_launch(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "visionflow", "launch", "--workers", "2", "--", "train",
                           str(tmp_path / "missing")], capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 2
    assert "failed (exit code 2); stopped the others" in proc.stderr
    assert "does not exist" in proc.stderr
