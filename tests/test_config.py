"""The config dataclass: validation, YAML, generated CLI flags, and the registries' errors."""

from __future__ import annotations

import argparse

import pytest

from visionflow.augment import PRESETS
from visionflow.config import TrainConfig, add_arguments, load_yaml, overrides_from_args, parse_image_size
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
    add_arguments(parser)
    args = parser.parse_args(["--epochs", "9", "--image-size", "64x48"])
    cfg = TrainConfig.from_dict({**load_yaml(path), **overrides_from_args(args)})
    assert (cfg.epochs, cfg.batch_size, cfg.model, cfg.image_size) == (9, 8, "seed_cnn", (64, 48))
    path.write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_yaml(path)


def test_every_field_has_a_flag_with_help():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    text = parser.format_help()
    for name in TrainConfig.__dataclass_fields__:
        if name != "data":
            assert "--" + name.replace("_", "-") in text


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
