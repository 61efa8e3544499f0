"""Folder layouts, the scan's skip reasons and report, and the duplicate-aware split."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import make_class_folder, write_bad_corpus
from visionflow.data.dataset import load_folder, manifest
from visionflow.data.split import duplicate_groups
from visionflow.errors import DataError

SIZE = (24, 24)


def test_split_layout_counts(split_data):
    folder = load_folder(split_data, SIZE)
    assert folder.classes == ["green", "red"]
    assert len(folder.splits["train"]) == 32 and len(folder.splits["validation"]) == 12
    assert folder.report["counts"]["train"]["classes"] == {"green": 16, "red": 16}
    assert folder.report["skipped_count"] == 0
    assert folder.labels("validation").count(0) == 6


def test_val_folder_name_and_test_split(tmp_path):
    make_class_folder(tmp_path / "d" / "train", per_class=4)
    make_class_folder(tmp_path / "d" / "val", per_class=2, seed=5)
    make_class_folder(tmp_path / "d" / "test", per_class=3, seed=6)
    folder = load_folder(tmp_path / "d", SIZE)
    assert [len(folder.splits[s]) for s in ("train", "validation", "test")] == [8, 4, 6]


def test_bad_files_are_skipped_with_reasons(split_data):
    expected = write_bad_corpus(split_data / "train" / "red")
    folder = load_folder(split_data, SIZE)
    reasons = {p["path"].rsplit("/", 1)[-1]: p["reason"] for p in folder.report["skipped"]}
    assert set(reasons) == set(expected)
    for name, fragment in expected.items():
        assert fragment in reasons[name], (name, reasons[name])
    assert folder.report["counts"]["train"]["skipped"] == len(expected)
    assert len(folder.splits["train"]) == 32  # the good images are all still there
    rows = manifest(folder)
    assert len(rows) == 32 + 12 + len(expected)
    assert {r["status"] for r in rows} == {"ok", "skipped"}
    assert all(r["width"] == 24 for r in rows if r["status"] == "ok")


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_folder(tmp_path / "nope", SIZE)


def test_missing_validation_names_the_fix(tmp_path):
    make_class_folder(tmp_path / "d" / "train", per_class=4)
    with pytest.raises(DataError, match=r"no validation/ or val/ folder.*--val-split 0.2"):
        load_folder(tmp_path / "d", SIZE)


def test_class_folders_without_split_ask_for_val_split(three_class_data):
    with pytest.raises(DataError, match="pass --val-split 0.2"):
        load_folder(three_class_data, SIZE)


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "d" / "train" / "a").mkdir(parents=True)
    (tmp_path / "d" / "validation").mkdir()
    with pytest.raises(DataError, match="No usable images found in"):
        load_folder(tmp_path / "d", SIZE)


def test_class_with_one_usable_image_names_the_folder(split_data):
    lonely = split_data / "train" / "blue"
    lonely.mkdir()
    shutil.copy(next((split_data / "train" / "red").iterdir()), lonely / "only.png")
    (lonely / "broken.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"train/blue has 1 usable image\(s\); each class needs at least 2"):
        load_folder(split_data, SIZE)


def test_validation_class_unknown_to_training_is_an_error(split_data):
    make_class_folder(split_data / "validation", classes=("blue",), per_class=2)
    with pytest.raises(DataError, match="blue is not one of the model's classes"):
        load_folder(split_data, SIZE)


def test_val_split_is_stratified_seeded_and_recorded(three_class_data):
    a = load_folder(three_class_data, SIZE, val_split=0.25, seed=7)
    b = load_folder(three_class_data, SIZE, val_split=0.25, seed=7)
    c = load_folder(three_class_data, SIZE, val_split=0.25, seed=8)
    val = lambda f: sorted(r.path for r in f.splits["validation"])  # noqa: E731
    assert val(a) == val(b) and val(a) != val(c)
    assert a.report["counts"]["validation"]["classes"] == {"blue": 4, "green": 4, "red": 4}  # round(0.25 * 14)
    assert not set(val(a)) & {r.path for r in a.splits["train"]}
    assert a.report["split"]["val_split"] == 0.25 and a.report["split"]["seed"] == 7
    assert sorted(a.report["validation_files"]) == val(a)


def test_near_duplicates_stay_on_one_side(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        d = tmp_path / "d" / label
        d.mkdir(parents=True)
        for i in range(10):
            img = Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).resize((64, 64))
            img.save(d / f"{i}.jpg", quality=95)
            img.resize((48, 48)).save(d / f"{i}_1.jpg", quality=90)  # the same photo, smaller
    folder = load_folder(tmp_path / "d", SIZE, val_split=0.2, seed=1)
    assert folder.report["split"]["duplicates_grouped"] == 40
    stems = lambda recs: {(r.label, r.path.rsplit("/", 1)[-1].split(".")[0].split("_")[0]) for r in recs}  # noqa: E731
    assert not stems(folder.splits["train"]) & stems(folder.splits["validation"])
    assert folder.report["counts"]["validation"]["classes"] == {"a": 4, "b": 4}


def test_duplicate_groups_by_hamming_distance():
    groups = duplicate_groups([0b0, 0b1, 0b111111111111, 0b111111111110, 0xFFFF << 48])
    assert groups[0] == groups[1] and groups[2] == groups[3]
    assert len({groups[0], groups[2], groups[4]}) == 3


def test_split_keeps_one_training_image_per_class(tmp_path):
    make_class_folder(tmp_path / "d", per_class=2)
    folder = load_folder(tmp_path / "d", SIZE, val_split=0.9)
    assert folder.report["counts"]["train"]["classes"] == {"green": 1, "red": 1}
