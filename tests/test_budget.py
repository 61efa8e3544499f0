"""The time budget is the run's wall time (`--budget 90s|3m|1h`): what it parses, how it plans
epochs with the finishing kept in reserve, and a short run that stops within it."""

from __future__ import annotations

import json
import time

import pytest

from visionflow.config import TrainConfig
from visionflow.settings import parse_minutes
from visionflow.errors import ConfigError
from visionflow.training.budget import WallClock, clock_text


@pytest.mark.parametrize("text, minutes", [("90s", 1.5), ("3m", 3.0), ("1h", 60.0), ("1h30m", 90.0), ("2.5", 2.5),
                                           (10, 10.0), ("45 s", 0.75), ("10min", 10.0)])
def test_durations_parse_to_minutes(text, minutes):
    assert parse_minutes(text) == pytest.approx(minutes)
    assert TrainConfig.from_dict({"time_budget": text}).time_budget == pytest.approx(minutes)


@pytest.mark.parametrize("text", ["soon", "3q", "", "m", "-5m"])
def test_bad_durations_are_one_sentence(text):
    with pytest.raises(ConfigError, match="a duration such as 90s, 3m, 1h"):
        parse_minutes(text)


def test_the_cli_takes_budget_as_the_flag(capsys):
    from visionflow.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "--time-budget DURATION, --budget DURATION" in out and "Wall time of the whole run" in out


def test_the_clock_keeps_the_finishing_in_reserve():
    clock = WallClock(budget_s=100.0, finish_s=10.0)
    clock.started -= 39.5  # 39.5 s spent: 60.5 left, minus 4 fixed + 10 task + 2 x 3 s of validation = 40.5 s
    assert clock.epochs_left(per_epoch_s=10.0, validation_s=3.0) == 4
    assert clock.epochs_left(per_epoch_s=50.0, validation_s=3.0) == 0
    resumed = WallClock(budget_s=100.0, before_s=95.0)  # earlier sessions count too
    assert resumed.epochs_left(1.0, 0.0) == 0
    assert WallClock().epochs_left(1.0, 0.0) > 10**6  # no budget
    assert clock_text(42) == "42s" and clock_text(185) == "3m05s" and clock_text(3720) == "1h02m"
    assert "of a 1m40s budget" in clock.line()


def test_a_denoiser_with_a_40_second_budget_finishes_within_it(tmp_path, monkeypatch):
    import visionflow
    from synthetic import smooth_folder
    from visionflow.tasks.restoration import data as patches

    monkeypatch.setattr(patches, "EPOCH_PATCHES", (96, 4096))  # epochs of a fraction of a second: many of them
    data = smooth_folder(tmp_path / "photos", images=24, side=48)
    lines: list[str] = []
    t0 = time.perf_counter()
    # 40 s: on 2 cores shared with another test worker the setup takes about 2 s, the first epoch
    # (tracing) about 9 s, each later one about 4 s and the finishing evaluation (the baselines on
    # whole images) about 6 s: 20 s left room for one epoch
    run = visionflow.train(data=str(data), task="denoise", time_budget="40s", epochs=500, patch=32,
                           project=str(tmp_path / "runs"), name="dn", say=lines.append)
    wall = time.perf_counter() - t0
    assert run.stopped.startswith("time budget: another epoch would pass the 40s budget"), lines
    assert wall <= 40 * 1.1 and run.metrics["wall_seconds"] <= wall + 0.01, (wall, lines)  # metrics round to 0.01 s
    assert lines[-1].startswith("wall time") and "of a 40s budget (" in lines[-1]
    assert len(run.history) >= 3, lines
    state = json.loads((run.run_dir / "checkpoints" / "state.json").read_text())
    # Checkpoints come every 30 s, not every epoch, but the last epoch is always saved
    assert state["epoch"] == len(run.history) and state["checkpoint"] == f"epoch-{len(run.history):04d}.keras"
    assert len(list((run.run_dir / "checkpoints").glob("epoch-*.keras"))) == 1
