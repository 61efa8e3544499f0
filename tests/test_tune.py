"""Hyperparameter search: the space, a 3-trial study with a pruned trial, resume, the CLI."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from conftest import make_split_folder, parse_html
from visionflow.cli import main
from visionflow.config import TrainConfig
from visionflow.errors import ConfigError
from visionflow.recipe import fixed
from visionflow.tuning.space import DEFAULT_SPACE, baseline, parse_space

optuna = pytest.importorskip("optuna", reason="optuna is not installed (pip install -e '.[tune]')")

BASE = dict(epochs=4, image_size=24, batch_size=8, model="seed_cnn", augment="none")
LR_SPACE = {"learning_rate": {"low": 1e-7, "high": 1e-2, "log": True}}


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data"
    make_split_folder(root, train=16, validation=6)
    return root


def test_space_parsing_and_errors():
    params = {p.name: p for p in parse_space(DEFAULT_SPACE)}
    assert params["batch_size"].choices == (16, 32, 64)
    lr = params["learning_rate"]
    assert lr.log and lr.grid() == pytest.approx([3e-4, 9.48683e-4, 3e-3], rel=1e-4)
    epochs = parse_space({"epochs": {"low": 2, "high": 10, "step": 2, "grid_points": 5}})[0]
    assert epochs.is_int and epochs.grid() == [2, 4, 6, 8, 10]
    with pytest.raises(ConfigError, match="Did you mean 'learning_rate'"):
        parse_space({"learning_rat": [1e-3]})
    with pytest.raises(ConfigError, match="seed cannot be tuned"):
        parse_space({"seed": [1, 2]})
    with pytest.raises(ConfigError, match="low < high"):
        parse_space({"dropout": {"low": 0.5, "high": 0.1}})
    with pytest.raises(ConfigError, match="augment value 'heavy'"):
        parse_space({"augment": ["light", "heavy"]})
    with pytest.raises(ConfigError, match="log: true needs low > 0"):
        parse_space({"l2": {"low": 0, "high": 1e-3, "log": True}})


def test_baseline_is_the_base_config_when_the_space_holds_it():
    params = parse_space(DEFAULT_SPACE)
    assert baseline(params, fixed(TrainConfig(), "tutorial")) == {  # what tune() bases trials on
        "learning_rate": 1e-3, "batch_size": 32, "dropout": 0.3, "l2": 0.0, "augment": "light", "optimizer": "adam",
        "label_smoothing": 0.0}  # dropout unset: the model's own default
    assert baseline(params, fixed(TrainConfig(l2=0.5))) is None  # outside the space: no baseline trial
    params = parse_space({"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "augment": ["none", "light"]})
    assert baseline(params, fixed(TrainConfig())) == {"learning_rate": 1e-3, "augment": "light"}


def test_three_trials_with_pruning_then_resume(data, tmp_path):
    from visionflow.tuning.study import tune

    out = tmp_path / "tune"
    lines = []
    summary = tune(data, trials=3, space=LR_SPACE, out=out, say=lines.append,
                   enqueue=[{"learning_rate": 3e-3}, {"learning_rate": 1e-7}], **BASE)
    study = optuna.load_study(study_name="visionflow", storage=f"sqlite:///{out / 'study.db'}")
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert study.trials[0].params == {"learning_rate": 1e-3} and study.trials[0].user_attrs["baseline"]
    pruned = study.trials[2]
    assert pruned.params == {"learning_rate": 1e-7} and len(pruned.intermediate_values) < BASE["epochs"]
    assert any("pruned after epoch" in line for line in lines)
    assert summary["complete"] == 2 and summary["pruned"] == 1 and summary["baseline"] == summary["best_value"]
    with open(out / "leaderboard.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["rank"] for r in rows] == ["1", "2", "3"] and rows[-1]["state"] == "pruned"
    best = TrainConfig.from_dict(yaml.safe_load((out / "best.yaml").read_text()))
    assert best.learning_rate == summary["best_params"]["learning_rate"] and best.epochs == 4
    assert (out / "trials" / "trial0" / "model.keras").exists()
    page = parse_html((out / "report.html").read_text())
    assert {"summary", "leaderboard", "history"} <= set(page.ids)
    assert json.loads((out / "tune.json").read_text())["trials"] == 3

    # The same folder without --resume is refused; with it the study goes on to 4 trials.
    with pytest.raises(ConfigError, match="already holds a study"):
        tune(data, trials=4, space=LR_SPACE, out=out, say=lambda s: None, **BASE)
    with pytest.raises(ConfigError, match="different data folder, space or epoch count"):
        tune(data, trials=4, space=LR_SPACE, out=out, resume=True, say=lambda s: None, **{**BASE, "epochs": 5})
    resumed = tune(data, trials=4, space=LR_SPACE, out=out, resume=True, say=lambda s: None, **BASE)
    study = optuna.load_study(study_name="visionflow", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 4 and [t.state.name for t in study.trials[:3]] == states
    assert resumed["trials"] == 4


def test_cli_grid_search_and_retrain(data, tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("augment: [none, light]\n")
    code = main(["tune", str(data), "--search", "grid", "--space", str(space), "--trials", "5", "--epochs", "2",
                 "--image-size", "24", "--batch-size", "8", "--model", "seed_cnn", "--out", str(tmp_path / "t"),
                 "--project", str(tmp_path / "runs"), "--retrain"])
    out = capsys.readouterr().out
    assert code == 0
    tried = json.loads((tmp_path / "t" / "tune.json").read_text())["leaderboard"]
    assert sorted(r["augment"] for r in tried) == ["light", "none"]  # the grid ran out after 2 trials
    assert "retraining the best settings" in out
    assert (tmp_path / "runs" / "exp1" / "model.keras").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", str(data), "--space", str(space), "--search", "grd"])
    assert exit_info.value.code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rat: [0.001]\n")
    assert main(["tune", str(data), "--space", str(bad), "--out", str(tmp_path / "t2")]) == 2
    assert "Did you mean 'learning_rate'" in capsys.readouterr().err


def test_processes_share_one_study_through_storage(data, tmp_path):
    from visionflow.tuning.study import tune

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    space = {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}
    first = tune(data, trials=1, space=space, out=tmp_path / "a", storage=url, say=lambda s: None, **BASE)
    second = tune(data, trials=2, space=space, out=tmp_path / "b", storage=url, say=lambda s: None, **BASE)
    assert first["trials"] == 1 and second["trials"] == 2  # the second process saw the first one's trial
    study = optuna.load_study(study_name="visionflow", storage=url)
    assert len(study.trials) == 2
    assert (tmp_path / "a" / "trials" / "trial0").is_dir() and (tmp_path / "b" / "trials" / "trial1").is_dir()
    assert not (tmp_path / "a" / "study.db").exists()
