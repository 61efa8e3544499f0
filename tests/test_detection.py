"""Object detection: reading YOLO/VOC/COCO folders and their bad annotations, training on generated
scenes of squares and discs, predicting (CLI, Python, videos with tracking and counting),
evaluating by the COCO protocol, export parity and the service."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from clirun import vf
from scenes import CLASSES, make_scenes, scene, voc_xml


def _key(folder):
    """{image stem: (boxes, class names)} of a loaded dataset."""
    return {Path(p).stem: (t.boxes.round(1).tolist(), [folder.classes[c] for c in t.labels])
            for p, t in folder.truth.items()}


# -- reading ------------------------------------------------------------------------------------
def test_the_same_boxes_read_from_yolo_voc_and_coco_give_the_same_dataset(tmp_path):
    from visionflow.tasks.detection.data import load_boxes

    loaded = {layout: load_boxes(make_scenes(tmp_path / layout, {"train": 6, "val": 3}, layout=layout, seed=3))
              for layout in ("yolo", "voc", "coco")}
    keys = {layout: _key(f) for layout, f in loaded.items()}
    assert keys["yolo"] == keys["voc"] == keys["coco"]
    assert len(keys["yolo"]) == 9 and sum(len(v[0]) for v in keys["yolo"].values()) >= 9
    for layout, f in loaded.items():
        assert {k: len(v) for k, v in f.splits.items()} == {"train": 6, "validation": 3}, layout
        assert set(f.classes) == set(CLASSES)
    assert loaded["yolo"].classes == list(CLASSES)  # data.yaml's order
    assert loaded["coco"].classes == list(CLASSES)  # the categories' id order


def test_ultralytics_split_folders_and_a_folder_without_splits(tmp_path):
    from visionflow.tasks.detection.data import load_boxes

    src = make_scenes(tmp_path / "src", {"train": 5, "val": 2}, layout="yolo", seed=1)
    ultra = tmp_path / "ultra"
    for split in ("train", "val"):
        shutil.copytree(src / split / "images", ultra / "images" / split)
        shutil.copytree(src / split / "labels", ultra / "labels" / split)
    shutil.copy(src / "data.yaml", ultra / "data.yaml")
    f = load_boxes(ultra)
    assert {k: len(v) for k, v in f.splits.items()} == {"train": 5, "validation": 2}
    assert _key(f) == _key(load_boxes(src))
    flat = make_scenes(tmp_path / "flat", {"": 20}, layout="voc", seed=2)
    g = load_boxes(flat, seed=7)
    assert len(g.splits["validation"]) == 4 and len(g.splits["train"]) == 16  # 20% held out by default
    assert [r.path for r in load_boxes(flat, seed=7).splits["validation"]] == [r.path for r in g.splits["validation"]]


def test_bad_annotations_are_counted_listed_and_never_guessed(tmp_path):
    from visionflow.tasks.detection.data import load_boxes

    root = make_scenes(tmp_path / "d", {"train": 4, "validation": 2}, layout="voc", seed=4)
    ann, img = root / "train" / "annotations", root / "train" / "images"
    rng = np.random.default_rng(0)
    # outside the image (clipped), inverted and zero-area (dropped), a difficult one (kept, not scored)
    picture, _ = scene(rng)
    picture.save(img / "edge.png")
    boxes = [("square", [-10, 5, 40, 50]), ("disc", [60, 60, 50, 90]), ("disc", [20, 20, 20, 40]),
             ("square", [70, 70, 100, 100]), ("disc", [300, 300, 400, 400])]
    (ann / "edge.xml").write_text(voc_xml("edge", boxes, 128, difficult={3}))
    # an annotation whose image is missing, an image without annotation (a negative)
    (ann / "ghost.xml").write_text(voc_xml("ghost", [("disc", [1, 1, 20, 20])], 128))
    scene(rng)[0].save(img / "negative.png")
    # XML that does not parse, and one declaring entities (the billion-laughs bomb)
    scene(rng)[0].save(img / "broken.png")
    (ann / "broken.xml").write_text("<annotation><object><name>disc</name>")
    scene(rng)[0].save(img / "bomb.png")
    (ann / "bomb.xml").write_text('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                                  '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
                                  '<annotation><filename>&lol2;</filename></annotation>')
    before = {p.name: p.read_bytes() for p in ann.iterdir()}
    f = load_boxes(root)
    edge = f.truth[str(img / "edge.png")]
    assert edge.boxes.tolist() == [[0.0, 5.0, 40.0, 50.0], [70.0, 70.0, 100.0, 100.0]]
    assert edge.ignore.tolist() == [False, True]
    findings = f.report["findings"]
    assert findings["clipped"] == 2 and findings["inverted or zero-area"] == 2
    assert findings["outside the image"] == 1 and findings["annotation without image"] == 1
    reasons = [p["reason"] for p in f.report["problems"]]
    assert any("missing image (ghost.png)" in r for r in reasons)
    assert sum("inverted or has zero area" in r for r in reasons) == 2
    skipped = {Path(r.path).name: r.reason for r in f.skipped}
    assert "not valid XML" in skipped["broken.png"]
    assert "entities" in skipped["bomb.png"] and "refused" in skipped["bomb.png"]
    assert f.truth[str(img / "negative.png")].boxes.shape == (0, 4)
    assert f.report["counts"]["train"]["negatives"] == 1
    assert f.report["counts"]["train"]["ignored_boxes"] == 1
    assert any("1 negative image" in line for line in f.report["details"])
    assert {p.name: p.read_bytes() for p in ann.iterdir()} == before  # nothing was rewritten


def test_yolo_unknown_class_ids_and_polygon_rows(tmp_path):
    from visionflow.tasks.detection.data import load_boxes

    root = make_scenes(tmp_path / "d", {"train": 3, "val": 1}, layout="yolo", seed=5)
    labels = root / "train" / "labels"
    first = sorted(labels.iterdir())[0]
    first.write_text("7 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3\n")
    f = load_boxes(root)
    t = f.truth[str(root / "train" / "images" / (first.stem + ".png"))]
    assert np.allclose(t.boxes, [[12.8, 12.8, 38.4, 38.4]], atol=1e-4) and t.labels.tolist() == [1]
    assert f.report["findings"]["unknown class"] == 1
    assert any("class id 7" in p["reason"] for p in f.report["problems"])


def test_a_folder_without_boxes_is_refused_with_what_it_needs(tmp_path):
    (tmp_path / "x").mkdir()
    scene(np.random.default_rng(0))[0].save(tmp_path / "x" / "a.png")
    r = vf("train", tmp_path / "x", "--task", "detection", "--project", tmp_path / "runs")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "YOLO" in r.stderr and "VOC" in r.stderr and "COCO" in r.stderr
    assert not (tmp_path / "runs").exists()


# -- tracking and counting -------------------------------------------------------------------------
def test_the_tracker_keeps_one_id_for_an_object_through_misses_and_noise():
    from visionflow.tasks.detection.track import Tracker

    tracker = Tracker()
    ids = []
    for step in range(40):
        x = 10 + 12 * step
        boxes = [[x, 50, x + 40, 90], [300, 300 - step, 340, 340 - step]]
        scores = [0.3 if step % 7 == 3 else 0.9, 0.8]  # every 7th frame the mover is half hidden (low score)
        if step in (20, 21):
            boxes, scores = boxes[1:], scores[1:]  # missed entirely for two frames
        seen = tracker.update(np.array(boxes, np.float32), np.array(scores), np.zeros(len(boxes), int))
        ids.append({t.id for t in seen if t.box[1] < 200})
    mover = set().union(*ids)
    assert len(mover) == 1  # one id from the first frame to the last, across the gap
    assert ids[0] == ids[-1] and ids[20] == set()


def test_the_count_line_counts_each_crossing_exactly():
    from visionflow.tasks.detection.track import LineCounter, Track

    counter = LineCounter((100, 0, 100, 200), ["car", "person"])  # vertical, drawn downwards: "in" is leftwards
    path = [20, 60, 95, 105, 140, 110, 90, 60, 120]  # right at 95->105, left at 110->90, right at 60->120
    for x in path:
        counter.update([Track(np.array([x - 5, 40, x + 5, 60], np.float32), 0, 0.9, id=1)])
    for x in (150, 180):  # a track passing beside the segment's end does not count
        counter.update([Track(np.array([x - 5, 300, x + 5, 320], np.float32), 1, 0.9, id=2)])
    assert counter.counts == {"car": {"in": 1, "out": 2}}
    assert [e["direction"] for e in counter.events] == ["out", "in", "out"]
