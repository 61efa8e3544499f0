"""The config dataclass: validation, YAML, generated CLI flags, and the registries' errors."""

from __future__ import annotations

import argparse

import pytest

from visionflow.augment import PRESETS
from visionflow import tasks
from visionflow.cli import build_parser, main
from visionflow.config import COMMON, TrainConfig, load_yaml, overrides_from_args
from visionflow.settings import add_arguments, parse_image_size
from visionflow.errors import ConfigError
from visionflow.models import MODELS, build_model, register
from visionflow.registry import Registry


def test_defaults_and_image_size_forms():
    cfg = TrainConfig()
    # The recipe-managed settings stay unset until the data is scanned (visionflow.recipe).
    assert cfg.image_size is None and cfg.epochs is None and cfg.model is None and cfg.recipe == "auto"
    assert parse_image_size("160x120") == (160, 120)
    assert parse_image_size(64) == (64, 64)
    assert parse_image_size([32, 48]) == (32, 48)
    with pytest.raises(ConfigError, match="HxW"):
        parse_image_size("big")


def test_from_dict_coerces_strings_and_rejects_unknown_keys():
    cfg = TrainConfig.from_dict({"epochs": "3", "learning-rate": "0.01", "image_size": "32"})
    assert cfg.epochs == 3 and cfg.learning_rate == 0.01 and cfg.image_size == (32, 32)
    with pytest.raises(ConfigError, match="Unknown setting 'epocs'. Did you mean 'epochs'?"):
        TrainConfig.from_dict({"epocs": 3})
    with pytest.raises(ConfigError, match="epochs must be int"):
        TrainConfig.from_dict({"epochs": "many"})


@pytest.mark.parametrize("changes,message", [
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"val_split": 1.5}, r"val_split must be in \[0, 1\)"),
    ({"optimizer": "adamm"}, "Did you mean 'adam'"),
    ({"lr_schedule": "cosin"}, "Did you mean 'cosine'"),
    ({"l2": -1}, "l2 must not be negative"),
])
def test_invalid_values_are_rejected(changes, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**changes)


def test_yaml_file_then_flags_override(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 4\nbatch_size: 8\nmodel: seed_cnn\n")
    parser = argparse.ArgumentParser()
    add_arguments(parser, TrainConfig, skip=("data",))
    args = parser.parse_args(["--epochs", "9", "--image-size", "64x48"])
    cfg = TrainConfig.from_dict({**load_yaml(path), **overrides_from_args(args)})
    assert (cfg.epochs, cfg.batch_size, cfg.model, cfg.image_size) == (9, 8, "seed_cnn", (64, 48))
    path.write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_yaml(path)


def test_every_field_has_a_flag_with_help():
    parser = argparse.ArgumentParser()
    add_arguments(parser, TrainConfig, skip=("data",))
    text = parser.format_help()
    for name in COMMON:
        if name != "data":
            assert "--" + name.replace("_", "-") in text


def _help(*argv: str) -> str:
    return build_parser(["train", *argv, "--help"]).commands["train"].format_help()


def test_train_help_shows_the_common_settings_and_a_tasks_own_with_its_task():
    bare = _help()
    assert "--epochs" in bare and "--task TASK --help" in bare and "settings of --task" not in bare
    owned = {name: set(tasks.options(name).__dataclass_fields__) for name in tasks.names()}
    assert not set().union(*owned.values()) & set(COMMON)  # a setting is common or a task's, not both
    for name, own in owned.items():
        text = _help("--task", name)
        assert all(f"[--{o.replace('_', '-')}" in text for o in own), name  # in the usage line
        others = set().union(*(o for n, o in owned.items() if n != name)) - own
        assert not any(f"[--{o.replace('_', '-')}" in text for o in others), name
        assert ("settings of --task " + name in text) == bool(own)
    assert {"noise", "degrade", "pairs", "patch", "loss"} == owned["denoise"] and owned["detection"] == set()
    assert owned["inpaint"] == {"patch", "loss"} and {"latent_dim", "diffaugment", "conditional"} == owned["gan"]


@pytest.mark.parametrize("argv, message", [
    (["train", "d", "--noise", "gaussian:5"], "--noise is a setting of --task denoise; --task classification does "
                                              "not take it."),
    (["train", "d", "--task", "inpaint", "--pairs=x"], "--pairs is a setting of --task denoise, deblur or superres; "
                                                       "--task inpaint does not take it."),
    (["tune", "d", "--frames", "4"], "--frames is a setting of --task video; --task classification"),
])
def test_a_setting_of_another_task_is_refused_by_name(argv, message, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2 and message in capsys.readouterr().err


def test_a_tasks_settings_are_read_checked_and_written_beside_the_common_ones():
    cfg = TrainConfig.from_dict({"task": "superres", "scale": "3", "epochs": 2})
    assert (cfg.scale, cfg.patch, cfg.epochs) == (3, None, 2)
    written = cfg.to_dict()
    assert list(written)[:6] == ["data", "task", "patch", "loss", "pairs", "scale"]  # right after the task
    assert TrainConfig.from_dict(written) == cfg and cfg.replace(scale=4).scale == 4
    assert cfg.replace(task="gan").latent_dim == 128  # a new task starts from its own defaults
    with pytest.raises(ConfigError, match="scale value"):
        TrainConfig.from_dict({"task": "superres", "scale": 5})
    with pytest.raises(ConfigError, match="--frames is a setting of --task video; --task superres"):
        cfg.replace(frames=8)
    with pytest.raises(AttributeError, match="'latent_dim' is not a setting of --task superres"):
        cfg.latent_dim  # noqa: B018
    with pytest.raises(ConfigError, match="--loss: .*|loss value"):
        TrainConfig.from_dict({"task": "segmentation", "loss": "l1"})


def test_config_files_of_earlier_versions_still_load():
    # Earlier versions wrote every task's settings into every run's config.yaml.
    old = {**TrainConfig().to_dict(), "noise": "gaussian:25", "degrade": "", "scale": 2, "pairs": "", "patch": None,
           "frames": 16, "audio": False, "conditional": False, "latent_dim": 128,
           "diffaugment": "color,translation,cutout", "loss": None, "style": [], "style_weight": None, "targets": "",
           "threshold": None}
    assert TrainConfig.from_dict(old) == TrainConfig()
    with pytest.raises(ConfigError, match="config: --frames is a setting of --task video"):
        TrainConfig.from_dict({**old, "frames": 8})  # a value someone chose: said, not dropped
    assert TrainConfig.from_dict({**old, "frames": 8}, strict=False) == TrainConfig()  # resuming such a run


def test_round_trip_through_dict():
    cfg = TrainConfig(data="x", image_size=(40, 30), dropout=0.25)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_registry_rejects_duplicates_and_suggests():
    reg: Registry[int] = Registry("thing")
    reg.add("alpha", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("alpha", 2)
    with pytest.raises(ConfigError, match="Unknown thing 'alpah'. Did you mean 'alpha'"):
        reg.get("alpah")
    with pytest.raises(ValueError, match="already registered"):
        register("seed_cnn", "again", 0.0, min_size=8)(lambda **kw: None)


def test_model_and_preset_names():
    assert {"seed_cnn", "small_cnn", "mobilenet_v3_small", "efficientnet_v2_b0"} <= set(MODELS.names())
    assert set(PRESETS.names()) == {"none", "light", "strong", "gentle"}
    with pytest.raises(ConfigError, match="Did you mean 'small_cnn'"):
        build_model("smal_cnn", (32, 32), 2)
    with pytest.raises(ConfigError, match="only applies to pretrained backbones"):
        build_model("seed_cnn", (32, 32), 2, weights="imagenet")
