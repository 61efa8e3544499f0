"""Resuming a run from another working folder, and after its data folder moved."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml
from PIL import Image

import visionflow
from visionflow.errors import ConfigError

from conftest import make_class_folder

FAST = dict(image_size=24, batch_size=8, seed=3, val_split=0.25)


def test_resume_from_another_folder_and_after_the_data_moved(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    b.mkdir()
    make_class_folder(a / "data", classes=("red", "green", "blue"), per_class=8, seed=4)
    monkeypatch.chdir(a)
    first = visionflow.train(data="data", epochs=1, project="runs", name="r", say=lambda s: None, **FAST)
    run = a / "runs" / "r"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["data"] == str(a / "data")  # recorded absolute, not as typed
    report = json.loads((run / "data_report.json").read_text())
    assert report["fingerprint"].startswith("blake2b:") and len(report["validation_files"]) == 6
    validation = {p.split("/data/", 1)[1] for p in report["validation_files"]}

    monkeypatch.chdir(b)  # another working folder, the run given by its absolute path
    more = visionflow.train(resume=str(run), epochs=2, say=lambda s: None)
    assert [r["epoch"] for r in more.history] == [1, 2] and (a / first.run_dir) == more.run_dir == run

    moved = tmp_path / "c" / "moved"
    shutil.move(str(a / "data"), moved)
    with pytest.raises(ConfigError, match=r"was at .*/a/data, which does not exist any more; .*--data NEW_DIR"):
        visionflow.train(resume=str(run), epochs=3, say=lambda s: None)
    lines: list[str] = []
    again = visionflow.train(resume=str(run), data=str(moved), epochs=3, say=lines.append)
    assert [r["epoch"] for r in again.history] == [1, 2, 3]
    assert f"data: same images as before, now at {moved}" in lines
    assert yaml.safe_load((run / "config.yaml").read_text())["data"] == str(moved)
    report = json.loads((run / "data_report.json").read_text())
    assert {p.split("/moved/", 1)[1] for p in report["validation_files"]} == validation  # the same split
    assert all(str(moved) in row for row in (run / "manifest.csv").read_text().splitlines()[1:])

    # An edited image and an added one: refused, saying what differs; nothing about the run changes.
    target = next((moved / "red").iterdir())
    pixels = np.asarray(Image.open(target).convert("RGB")).copy()
    pixels[0, 0] = 255 - pixels[0, 0]
    Image.fromarray(pixels).save(target)
    shutil.copy(target, moved / "blue" / "extra.png")
    state = (run / "checkpoints" / "state.json").read_text()
    with pytest.raises(ConfigError, match=r"not the ones .* trained on \(1 added, 0 missing or moved to another "
                                          r"class, 1 changed\)"):
        visionflow.train(resume=str(run), epochs=4, say=lambda s: None)
    assert (run / "checkpoints" / "state.json").read_text() == state


def test_resume_cli_with_moved_data_and_wrong_data(tmp_path):
    from clirun import vf

    data = make_class_folder(tmp_path / "data", classes=("red", "green"), per_class=8, seed=5)
    other = make_class_folder(tmp_path / "other", classes=("red", "green"), per_class=8, seed=6)
    args = ["--val-split", "0.25", "--image-size", "24", "--batch-size", "8", "--epochs", "1",
            "--project", str(tmp_path / "runs"), "--name", "r"]
    assert vf("train", data, *args).returncode == 0
    run = str(tmp_path / "runs" / "r")
    wrong = vf("train", "--resume", run, "--data", other, "--epochs", "2", cwd=tmp_path / "other")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "are not the ones" in wrong.stderr and "start a new run" in wrong.stderr
    moved = tmp_path / "moved"
    shutil.move(str(data), moved)
    ok = vf("train", "--resume", run, "--data", "moved", "--epochs", "2", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "epoch 2/2" in ok.stdout and f"now at {moved}" in ok.stdout
