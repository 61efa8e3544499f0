"""Grad-CAM: localisation on a synthetic task, every registered model, the explain command."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

import visionflow
from visionflow.cli import main
from visionflow.errors import ModelError
from visionflow.gradcam import GradCam, find_layer
from visionflow.models import MODELS, build_model, names_for
from visionflow.predict import Predictor

SIZE = 64
SIDE = 14


def square_image(rng: np.random.Generator, at: tuple[int, int] | None) -> np.ndarray:
    """Dark noise; with `at` = (row, col), a bright square there: the only signal in the image."""
    img = rng.integers(0, 50, size=(SIZE, SIZE, 3), dtype=np.uint8)
    if at is not None:
        r, c = at
        img[r:r + SIDE, c:c + SIDE] = 235
    return img


@pytest.fixture(scope="module")
def square_run(tmp_path_factory):
    """A seed_cnn trained to tell 'square' images from 'plain' ones."""
    root = tmp_path_factory.mktemp("gradcam")
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("validation", 10)):
        for label in ("plain", "square"):
            folder = root / "data" / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                at = tuple(int(v) for v in rng.integers(0, SIZE - SIDE, size=2)) if label == "square" else None
                Image.fromarray(square_image(rng, at)).save(folder / f"{i}.png")
    run = visionflow.train(data=str(root / "data"), project=str(root / "runs"), model="seed_cnn", epochs=6,
                           image_size=SIZE, batch_size=16, augment="none", learning_rate=5e-4, patience=0,
                           say=lambda s: None)
    assert run.metrics["validation"]["accuracy"] >= 0.9
    return run.run_dir


@pytest.mark.parametrize("at", [(6, 8), (10, 12), (40, 38), (12, 40), (38, 12), (25, 25), (44, 42)])
def test_heatmap_peaks_inside_the_bright_square(square_run, at):
    cam = GradCam(visionflow.load(square_run))
    image = square_image(np.random.default_rng(7), at)
    e = cam.explain(image)
    assert e.predicted == "square" and e.label == "square"
    assert e.heatmap.shape == (SIZE, SIZE) and e.heatmap.dtype == np.float32
    assert 0.0 <= e.heatmap.min() and e.heatmap.max() == pytest.approx(1.0)
    # The peak: centre of the pixels within 2% of the maximum (near a border, the map is flat
    # between the last cell centre and the edge).
    rows, cols = np.nonzero(e.heatmap >= 0.98)
    peak = (rows.mean(), cols.mean())
    r, c = at
    assert r <= peak[0] < r + SIDE and c <= peak[1] < c + SIDE, f"peak {peak} outside square at {at}"
    inside = e.heatmap[r:r + SIDE, c:c + SIDE].mean()
    outside = (e.heatmap.sum() - e.heatmap[r:r + SIDE, c:c + SIDE].sum()) / (SIZE * SIZE - SIDE * SIDE)
    assert inside > 3 * outside


def test_class_logits_match_the_model(square_run):
    """The score Grad-CAM differentiates is the logit behind the model's own probability."""
    predictor = visionflow.load(square_run)
    cam = GradCam(predictor)
    image = square_image(np.random.default_rng(3), (10, 10))
    _, features = cam._model(image[None].astype(np.float32), training=False)
    logit = np.asarray(features) @ cam._kernel + cam._bias  # (1, 1): sigmoid model
    expected = predictor.predict_arrays(image[None])[0, 1]
    assert 1 / (1 + np.exp(-logit[0, 0])) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("name", names_for("classification"))
def test_every_registered_model_gets_a_heatmap(name):
    size = max(48, MODELS.get(name).min_size)
    model = build_model(name, (size, size), 3)
    predictor = Predictor(model, ["a", "b", "c"], (size, size))
    cam = GradCam(predictor)
    owner, layer = find_layer(model)
    assert cam.layer == layer.name
    assert len(layer.output.shape) == 4
    e = cam.explain(np.random.default_rng(1).integers(0, 255, (70, 90, 3), dtype=np.uint8), class_name="b")
    assert e.label == "b" and e.heatmap.shape == (size, size)
    assert np.isfinite(e.heatmap).all() and e.heatmap.min() >= 0 and e.heatmap.max() <= 1


def test_layer_override_and_unknown_layer(square_run):
    predictor = visionflow.load(square_run)
    assert GradCam(predictor, layer="conv2").layer == "conv2"
    with pytest.raises(ModelError, match="No layer named 'nope'.*conv3"):
        GradCam(predictor, layer="nope")


def test_explain_cli_writes_overlays(square_run, tmp_path, capsys):
    img = tmp_path / "in.png"
    Image.fromarray(square_image(np.random.default_rng(5), (20, 30))).save(img)
    before = img.read_bytes()
    out = tmp_path / "overlay.png"
    assert main(["explain", str(square_run), str(img), "--out", str(out)]) == 0
    overlay = Image.open(out)
    assert overlay.size == (SIZE, SIZE) and overlay.mode == "RGB"
    assert img.read_bytes() == before  # the source image is untouched
    assert "square" in capsys.readouterr().out
    # Several images go to a folder; --class picks the explained label; a bad file is reported.
    (tmp_path / "bad.png").write_text("not an image")
    code = main(["explain", str(square_run), str(img), str(tmp_path / "bad.png"), "--out", str(tmp_path / "many"),
                 "--class", "plain"])
    captured = capsys.readouterr()
    assert code == 1
    assert (tmp_path / "many" / "in_gradcam.png").exists()
    assert "plain" in captured.out and "bad.png" in captured.err
    assert main(["explain", str(square_run), str(img), "--class", "cats"]) == 2
    assert "Unknown class 'cats'. Choose one of: plain, square." in capsys.readouterr().err


def test_explain_refuses_exported_models(trained, tmp_path):
    from visionflow.export import export

    run, _ = trained
    export(run, "onnx", out=tmp_path / "exp", samples=8, say=lambda s: None)
    with pytest.raises(ModelError, match="Grad-CAM needs the run's .keras model"):
        GradCam(visionflow.load(tmp_path / "exp" / "onnx"))


def test_cell_centres_follow_the_network_geometry():
    """The tutorial CNN's unpadded convolutions put its last map's cell i at input pixel 4i + 8.5
    (even tiling would say 5.3i + 2.2); "same"-padded networks tile evenly."""
    seed = GradCam(Predictor(build_model("seed_cnn", (64, 64), 2), ["a", "b"], (64, 64)))
    assert seed._axes == ((4.0, 8.5), (4.0, 8.5))
    small = GradCam(Predictor(build_model("small_cnn", (64, 96), 2), ["a", "b"], (64, 96)))
    assert small._axes == ((16.0, 8.0), (16.0, 8.0))


def test_top_level_explain(square_run):
    e = visionflow.explain(square_run, square_image(np.random.default_rng(2), (20, 20)), class_name="plain")
    assert e.label == "plain" and e.predicted == "square"
    assert e.overlay().size == (SIZE, SIZE)
