"""Cross-validation: fold assignment, and `visionflow cv` end to end with a planted mislabel."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import make_class_folder, parse_html, shape_image
from visionflow.cli import main
from visionflow.cv import make_folds
from visionflow.data.scan import Record
from visionflow.errors import ConfigError, DataError


def records(per_class: dict[str, int], groups: dict[int, int] | None = None) -> list[Record]:
    """Records with distinct hashes, except that record i copies the hash and thumbnail of
    record groups[i]."""
    out = []
    for label, n in per_class.items():
        for _ in range(n):
            k = len(out)
            out.append(Record(path=f"{label}/{k}.png", label=label, split="all", hash=(k * 0x9E3779B97F4A7C15) % 2**64,
                              thumb=bytes([k % 256]) * 192, digest=f"d{k}"))
    for i, j in (groups or {}).items():
        out[i].hash, out[i].thumb = out[j].hash, out[j].thumb
    return out


def test_folds_are_stratified_seeded_and_cover_every_image_once():
    recs = records({"a": 30, "b": 15})
    folds, grouped = make_folds(recs, 5, seed=0)
    assert grouped == 0 and sorted(set(folds)) == [0, 1, 2, 3, 4]
    for k in range(5):
        counts = Counter(r.label for r, f in zip(recs, folds) if f == k)
        assert counts == {"a": 6, "b": 3}
    assert make_folds(recs, 5, seed=0)[0] == folds
    assert make_folds(recs, 5, seed=1)[0] != folds


def test_duplicate_groups_stay_in_one_fold():
    # Images 1, 2, 3 are copies of image 0; 20 and 21 of 10.
    recs = records({"a": 20, "b": 20}, groups={1: 0, 2: 0, 3: 0, 21: 20, 22: 20})
    folds, grouped = make_folds(recs, 4, seed=3)
    assert grouped == 7
    assert len({folds[i] for i in (0, 1, 2, 3)}) == 1
    assert len({folds[i] for i in (20, 21, 22)}) == 1


def test_too_few_images_for_the_folds():
    with pytest.raises(DataError, match="Class b has 3 distinct image.*--folds 4 needs at least 4"):
        make_folds(records({"a": 10, "b": 3}), 4, seed=0)
    with pytest.raises(ConfigError, match="at least 2"):
        make_folds(records({"a": 10, "b": 10}), 1, seed=0)


def test_cv_end_to_end_finds_the_planted_mislabel(tmp_path, capsys):
    data = make_class_folder(tmp_path / "shapes", classes=("red", "green", "blue"), per_class=12, seed=5)
    shape_image("red", np.random.default_rng(99)).save(data / "green" / "planted_red.png")
    out = tmp_path / "cv"
    code = main(["cv", str(data), "--folds", "3", "--epochs", "6", "--image-size", "24", "--batch-size", "8",
                 "--model", "seed_cnn", "--augment", "none", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    cv = json.loads((out / "cv.json").read_text())
    assert cv["folds_count"] == 3 and len(cv["folds"]) == 3
    assert sum(f["validation_images"] for f in cv["folds"]) == 37 == cv["images"]
    accs = [f["accuracy"] for f in cv["folds"]]
    assert cv["mean"]["accuracy"] == pytest.approx(np.mean(accs))
    assert cv["std"]["accuracy"] == pytest.approx(np.std(accs, ddof=1))
    assert cv["mean"]["accuracy"] > 0.8
    for k in (1, 2, 3):
        assert (out / f"fold{k}" / "model.keras").exists()
    # Every image appears once in the out-of-fold predictions.
    rows = (out / "oof_predictions.csv").read_text().strip().splitlines()
    assert len(rows) == 38 and len({r.split(",")[0] for r in rows[1:]}) == 37
    assert cv["oof"]["images"] == 37
    # The doctor ranks the planted image first among likely label errors.
    doctor = json.loads((out / "doctor.json").read_text())
    issues = doctor["label_issues"]["listed"]
    assert issues and Path(issues[0]["path"]).name == "planted_red.png"
    assert issues[0]["label"] == "green" and issues[0]["suggested"] == "red"
    assert "planted_red.png" in printed and "mean" in printed
    page = parse_html((out / "report.html").read_text())
    for sid in ("folds", "config", "metrics", "confusion", "calibration", "gallery", "doctor", "label-issues"):
        assert sid in page.ids, sid
    assert all(src.startswith("data:image/") for src in page.images)
    # An existing output folder is refused.
    assert main(["cv", str(data), "--folds", "3", "--out", str(out)]) == 2
