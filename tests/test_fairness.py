"""Slices: evaluate --slices (per-slice metrics, gaps with bootstrap intervals, --fail-on-gap) and doctor --slices."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_class_folder
from test_cli import vf


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def sliced(trained, tmp_path_factory):
    """An evaluation folder of the trained model's classes in which the `night` lighting slice is
    harder: its images lost their colour (greyscale), which the model relies on."""
    run, _ = trained
    root = tmp_path_factory.mktemp("slices")
    data = make_class_folder(root / "eval", classes=("red", "green", "blue"), per_class=24, seed=7)
    rows = []
    for i, path in enumerate(sorted(data.rglob("*.png"))):
        night = i % 3 == 0
        if night:
            Image.open(path).convert("L").convert("RGB").save(path)
        rows.append({"image": path.relative_to(data).as_posix(), "lighting": "night" if night else "day",
                     "camera": "a" if i % 2 else "b"})
    return run, data, _write_csv(root / "meta.csv", rows)


def test_slice_table_shows_the_harder_slice_and_its_gap(sliced, tmp_path):
    import visionflow

    run, data, meta = sliced
    result = visionflow.evaluate(run, data, out=tmp_path / "ev", slices=meta, backend="keras")
    lighting = result["slices"]["attributes"]["lighting"]
    by = {r["value"]: r for r in lighting["slices"]}
    assert by["night"]["count"] == 24 and by["day"]["count"] == 48
    assert by["day"]["accuracy"] - by["night"]["accuracy"] >= 0.3
    gap = lighting["gaps"]["accuracy"]
    assert gap["worst"] == "night" and gap["best"] == "day"
    assert gap["difference"] == pytest.approx(by["day"]["accuracy"] - by["night"]["accuracy"], abs=1e-3)
    assert gap["difference_95"][0] <= gap["difference"] <= gap["difference_95"][1]
    assert gap["ratio"] == pytest.approx(by["night"]["accuracy"] / by["day"]["accuracy"], abs=1e-3)
    assert set(by["night"]) >= {"recall:red", "recall:green", "recall:blue", "ece", "macro_f1", "accuracy_95"}
    written = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert written["slices"]["attributes"]["lighting"]["gaps"]["accuracy"]["worst"] == "night"
    assert "camera" in written["slices"]["attributes"]
    assert (tmp_path / "ev" / "slices.png").stat().st_size > 1000
    assert "Gaps between slices" in (tmp_path / "ev" / "report.html").read_text()


def test_fail_on_gap_exits_1_with_the_reason(sliced, tmp_path):
    run, data, meta = sliced
    proc = vf("evaluate", run, data, "--slices", meta, "--fail-on-gap", "0.1", "--out", tmp_path / "ev",
              "--backend", "keras")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "lighting=night" in proc.stdout and "largest gaps" in proc.stdout
    assert "over lighting (worst night" in proc.stderr
    loose = vf("evaluate", run, data, "--slices", meta, "--fail-on-gap", "1", "--out", tmp_path / "ev2",
               "--backend", "keras")
    assert loose.returncode == 0, loose.stderr[-2000:]


def test_slices_file_problems_are_one_sentence(sliced, tmp_path):
    import visionflow
    from visionflow.errors import DataError

    run, data, _ = sliced
    no_image = _write_csv(tmp_path / "a.csv", [{"file_id": "x.png", "site": "n"}])
    no_match = _write_csv(tmp_path / "b.csv", [{"image": "nowhere/x.png", "site": "n"}])
    for csv_path, words in ((no_image, "no image column"), (no_match, "has a row in")):
        with pytest.raises(DataError, match=words):
            visionflow.evaluate(run, data, out=tmp_path / "ev", slices=csv_path, backend="keras")
    proc = vf("evaluate", run, data, "--slices", tmp_path / "missing.csv", "--out", tmp_path / "ev", "--backend", "keras")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "does not exist" in proc.stderr, proc.stderr
    proc = vf("evaluate", run, data, "--fail-on-gap", "0.1")
    assert proc.returncode != 0 and "--fail-on-gap needs --slices" in proc.stderr


def test_doctor_slices_counts_and_flags_an_attribute_that_goes_with_the_label(tmp_path):
    data = make_class_folder(tmp_path / "d", classes=("red", "green"), per_class=20)
    rows = []
    for i, path in enumerate(sorted(data.rglob("*.png"))):
        phone = (path.parent.name == "red") != (i % 10 == 0)  # red images come from the phone, 1 in 10 aside
        rows.append({"image": path.name, "camera": "phone" if phone else "dslr", "site": "n" if i % 2 else "s"})
    meta = _write_csv(tmp_path / "meta.csv", rows)
    proc = vf("doctor", data, "--slices", meta, "--out", tmp_path / "doc")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "camera goes with the label" in proc.stdout and "site goes with" not in proc.stdout
    found = json.loads((tmp_path / "doc" / "doctor.json").read_text())
    cam = {r["value"]: r for r in found["slices"]["attributes"]["camera"]["slices"]}
    assert cam["phone"]["images"] + cam["dslr"]["images"] == 40
    assert cam["phone"]["classes"]["red"] == 18 and cam["phone"]["classes"]["green"] == 2
    assert found["slices"]["attributes"]["camera"]["cramers_v"] > 0.6
    assert any("under 30" in w for w in found["slices"]["warnings"])
