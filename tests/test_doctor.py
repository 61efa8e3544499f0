"""The dataset doctor on generated data with planted problems."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import jpeg_bytes, make_class_folder, make_split_folder, parse_html, shape_image
from visionflow.cli import main
from visionflow.doctor import doctor, label_issues, parse_fail_on
from visionflow.errors import ConfigError


def ramp(channel: int) -> Image.Image:
    """A left-to-right ramp in one colour channel: ramps in different channels have the same
    difference hash (same light-dark layout) but are different pictures."""
    a = np.zeros((32, 32, 3), np.uint8)
    a[..., channel] = np.linspace(0, 255, 32, dtype=np.uint8)[None, :]
    return Image.fromarray(a)


@pytest.fixture
def planted(tmp_path) -> Path:
    root = tmp_path / "data"
    make_split_folder(root, train=12, validation=5, size=32)
    train = root / "train"
    shutil.copy(train / "red" / "red_000.png", train / "red" / "dup.png")  # exact, within a class
    shutil.copy(train / "red" / "red_001.png", train / "green" / "conflict.png")  # exact, across classes
    leak = Image.open(train / "green" / "green_002.png").resize((48, 48), Image.Resampling.LANCZOS)
    (root / "validation" / "green" / "leak.jpg").write_bytes(jpeg_bytes(leak))  # near, across splits
    good = (train / "red" / "red_003.png").read_bytes()
    (train / "red" / "broken.png").write_bytes(good[: len(good) // 2])  # unreadable
    shape_image("red", np.random.default_rng(77), 32).convert("CMYK").save(train / "red" / "cmyk.jpg")  # odd mode
    ramp(0).save(train / "red" / "ramp_r.png")  # same hash as ramp_g, different picture
    ramp(1).save(train / "green" / "ramp_g.png")
    return root


def test_doctor_finds_the_planted_problems(planted, tmp_path):
    lines = []
    found = doctor(planted, out=tmp_path / "out", say=lines.append)
    written = json.loads((tmp_path / "out" / "doctor.json").read_text())
    assert written["problems"] == found["problems"]
    name = lambda p: Path(p).name  # noqa: E731

    ex = found["exact_duplicates"]
    assert ex["pairs"] == 2 and ex["within_class"] == 1 and ex["conflicts"] == 1 and ex["leakage"] == 0
    pairs = {frozenset((name(p["a"]), name(p["b"]))): p for p in ex["listed"]}
    assert pairs[frozenset(("red_000.png", "dup.png"))]["kinds"] == ["within_class"]
    conflict = pairs[frozenset(("red_001.png", "conflict.png"))]
    assert conflict["kinds"] == ["conflict"] and sorted(conflict["labels"]) == ["green", "red"]

    near = found["near_duplicates"]
    assert near["pairs"] == 1 and near["leakage"] == 1 and near["conflicts"] == 0
    leak = near["listed"][0]
    assert {name(leak["a"]), name(leak["b"])} == {"green_002.png", "leak.jpg"}
    assert sorted(leak["splits"]) == ["train", "validation"] and leak["kinds"] == ["leakage"]
    assert leak["distance"] <= 4 and leak["thumb_difference"] <= 10
    # The colour ramps share a hash but are not reported as the same picture.
    everything = {name(x) for p in ex["listed"] + near["listed"] for x in (p["a"], p["b"])}
    assert not everything & {"ramp_r.png", "ramp_g.png"}

    assert found["unreadable"]["count"] == 1
    assert name(found["unreadable"]["listed"][0]["path"]) == "broken.png"
    assert "truncated" in found["unreadable"]["listed"][0]["reason"]
    assert found["modes"]["modes"]["CMYK"] == 1
    assert [name(o["path"]) for o in found["modes"]["odd"]] == ["cmyk.jpg"]
    bal = found["balance"]
    assert bal["per_split"]["train"] == {"green": 14, "red": 15}  # 12 + planted files that decode
    assert bal["per_split"]["validation"] == {"green": 6, "red": 5}
    assert bal["tiny_classes"] == ["green", "red"]
    assert found["problems"] == {"leakage": 1, "conflicts": 1, "duplicates": 3, "unreadable": 1,
                                 "label-errors": 0, "imbalance": 2}
    assert any("near-duplicates: 1 pair(s)" in line and "1 across splits (leakage)" in line for line in lines)

    html = (tmp_path / "out" / "report.html").read_text()
    assert "doctor" in parse_html(html).ids
    assert "leak.jpg" in html and "conflict.png" in html


def test_fail_on_gives_exit_codes(planted, tmp_path, capsys):
    out = str(tmp_path / "o")
    assert main(["doctor", str(planted), "--out", out]) == 0
    assert main(["doctor", str(planted), "--out", out, "--fail-on", "leakage"]) == 1
    assert "failed checks: leakage (1)" in capsys.readouterr().err
    assert main(["doctor", str(planted), "--out", out, "--fail-on", "label-errors"]) == 0
    assert main(["doctor", str(planted), "--out", out, "--fail-on", "leakge"]) == 2
    assert "Did you mean 'leakage'?" in capsys.readouterr().err
    assert main(["doctor", str(tmp_path / "missing"), "--out", out]) == 2


def test_clean_folder_passes(tmp_path):
    root = make_class_folder(tmp_path / "clean", per_class=25, seed=4)
    found = doctor(root, out=tmp_path / "o", say=lambda s: None, report=False)
    assert found["problems"] == {"leakage": 0, "conflicts": 0, "duplicates": 0, "unreadable": 0,
                                 "label-errors": 0, "imbalance": 0}
    assert found["balance"]["per_split"] == {"all": {"green": 25, "red": 25}}
    assert not (tmp_path / "o" / "report.html").exists()


def test_label_issues_rank_confident_disagreements():
    classes = ["cat", "dog", "fox"]
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0])
    probs = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.7, 0.2, 0.1],
                      [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.05, 0.9, 0.05],
                      [0.1, 0.1, 0.8], [0.2, 0.1, 0.7], [0.3, 0.1, 0.6],
                      [0.05, 0.9, 0.05]])  # the last one: labelled cat, confidently a dog
    found = label_issues([f"img{i}" for i in range(10)], y, probs, classes)
    assert found["count"] == 1
    assert found["listed"][0] == {"path": "img9", "label": "cat", "suggested": "dog", "p_label": 0.05,
                                  "p_suggested": 0.9}
    # Thresholds are each class's mean self-confidence.
    assert found["thresholds"]["dog"] == pytest.approx(0.8)


def test_doctor_reads_cv_predictions_and_checks_them(planted, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label,predicted,confidence,prob:red\nx.png,red,red,1.0,1.0\n")
    with pytest.raises(Exception, match="does not match the classes"):
        doctor(planted, out=tmp_path / "o", predictions=bad, say=lambda s: None)
    with pytest.raises(Exception, match="does not exist"):
        doctor(planted, out=tmp_path / "o", predictions=tmp_path / "none.csv", say=lambda s: None)


def test_parse_fail_on():
    assert parse_fail_on("leakage, conflicts") == ["leakage", "conflicts"]
    assert parse_fail_on("") == []
    with pytest.raises(ConfigError, match="Choose one of"):
        parse_fail_on("everything")
