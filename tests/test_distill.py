"""Knowledge distillation: the student learns the teacher's answers; the comparison table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import shape_image
from test_cli import vf


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """A small set whose labels mislead: 6 of the 8 red shapes sit in the blue folder (and 2 in
    red), so red's majority label is wrong; the validation images are labelled right."""
    root = tmp_path_factory.mktemp("distill")
    rng = np.random.default_rng(5)
    for split, n in (("train", 8), ("validation", 4)):
        for label in ("red", "green", "blue"):
            folder = root / "small" / split / label
            folder.mkdir(parents=True)
            for i in range(2 if (split, label) == ("train", "red") else n):
                shape_image(label, rng, 24).save(folder / f"{i}.png")
            if (split, label) == ("train", "blue"):
                for i in range(6):
                    shape_image("red", rng, 24).save(folder / f"mislabelled_{i}.png")
    return root, root / "small"


def test_distilled_student_beats_the_same_model_alone(trained, small_set):
    """The teacher (trained on correctly labelled shapes) knows red; the student alone learns the
    folders' wrong majority, the distilled one follows the teacher."""
    import visionflow

    teacher, _ = trained
    root, data = small_set
    common = dict(model="small_cnn", weights="none", epochs=15, image_size=24, batch_size=8, project=str(root / "runs"),
                  say=lambda s: None)
    alone = visionflow.train(data=str(data), name="alone", **common)
    student = visionflow.distill(teacher, data, name="student", compare=False, **common)
    assert student.metrics["validation"]["accuracy"] >= alone.metrics["validation"]["accuracy"] + 0.15
    assert student.metrics["validation"]["per_class"]["red"]["recall"] > alone.metrics["validation"]["per_class"]["red"]["recall"]
    config = (student.run_dir / "config.yaml").read_text()
    assert f"teacher: {teacher.resolve()}" in config and "distill_temperature: 4.0" in config


def test_distill_cli_writes_the_teacher_student_table(trained, small_set):
    teacher, _ = trained
    root, data = small_set
    proc = vf("distill", teacher, data, "--epochs", "2", "--image-size", "16", "--weights", "none", "--batch-size",
              "8", "--project", root / "runs", "--name", "cli")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "teacher vs student" in proc.stdout and "ONNX ms" in proc.stdout
    table = json.loads((root / "runs" / "cli" / "distillation.json").read_text())
    assert table["images"] == 12
    assert table["student"]["model"] == "small_cnn" and table["student"]["image_size"] == [16, 16]
    assert table["teacher"]["image_size"] == [24, 24]
    for side in ("teacher", "student"):
        assert table[side]["parameters"] > 100_000
        onnx = table[side]["formats"]["onnx"]
        assert onnx["ms_per_image"] > 0 and onnx["megabytes"] > 0.1
        assert "tflite-int8" in table[side]["formats"]


def test_distill_refuses_a_teacher_of_other_classes(tmp_path, small_set, trained):
    from conftest import make_class_folder

    teacher, _ = trained
    other = make_class_folder(tmp_path / "other", classes=("red", "green"), per_class=4)
    proc = vf("distill", teacher, other, "--val-split", "0.25", "--epochs", "1", "--project", tmp_path / "runs")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "teacher's classes" in proc.stderr, proc.stderr
