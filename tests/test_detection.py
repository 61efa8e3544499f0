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
    # an image whose every box was unusable is skipped, not taught as background
    (ann / "edge.xml").write_text(voc_xml("edge", boxes[1:3], 128))
    g = load_boxes(root)
    assert str(img / "edge.png") not in g.truth
    assert "every box" in {Path(r.path).name: r.reason for r in g.skipped}["edge.png"]


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


# -- a trained detector ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def detector_run(tmp_path_factory):
    """fcos_small trained once on generated scenes (YOLO layout) with train/validation/test splits."""
    import visionflow

    root = tmp_path_factory.mktemp("det")
    data = make_scenes(root / "scenes", {"train": 96, "validation": 24, "test": 12}, layout="yolo", seed=11)
    result = visionflow.train(data=str(data), task="detection", model="fcos_small", image_size=96, epochs=EPOCHS,
                              batch_size=8, project=str(root / "runs"), name="run", say=lambda line: None)
    return Path(result.run_dir), data


EPOCHS = 40


def test_training_on_generated_scenes_finds_the_shapes(detector_run):
    run, data = detector_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["task"] == "detection" and metrics["classes"] == list(CLASSES)
    for split in ("validation", "test"):
        m = metrics[split]
        assert m["map50"] >= 0.9, (split, m["map50"])
        assert 0 < m["map50_95"] <= m["map50"]
        assert set(m["per_class"]) == set(CLASSES) and all(c["ap50"] >= 0.8 for c in m["per_class"].values())
        assert m["operating_point"]["recall"] >= 0.85
    meta = json.loads((run / "labels.json").read_text())
    assert meta["task"] == "detection" and meta["image_size"] == [96, 96]
    history = (run / "history.csv").read_text().splitlines()
    assert history[0].split(",")[:4] == ["epoch", "loss", "val_loss", "val_map50"] and len(history) == EPOCHS + 1
    page = (run / "report.html").read_text()
    assert "mAP@0.5" in page and "Precision-recall" in page and "AP per class" in page
    assert (run / "plots" / "validation_pr.png").stat().st_size > 5_000
    rows = (run / "predictions" / "test.csv").read_text().splitlines()
    assert rows[0].startswith("source,label,score,x1,y1,x2,y2") and len(rows) > 12


def test_predict_lists_boxes_as_json_csv_and_table_and_draws_them(detector_run, tmp_path):
    import visionflow

    run, data = detector_run
    images = sorted((data / "test" / "images").iterdir())[:3]
    before = [p.read_bytes() for p in images]
    r = vf("predict", run, *images, "--format", "json", "--backend", "keras")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    direct = visionflow.load(run, backend="keras").predict([str(p) for p in images])
    assert [row["source"] for row in rows] == [str(p) for p in images]
    for row, det in zip(rows, direct):
        assert row["boxes"] == det.boxes and row["width"] == 128
        for b in row["boxes"]:
            assert b["label"] in CLASSES and 0.25 <= b["score"] <= 1 and len(b["box"]) == 4
            assert 0 <= b["box"][0] < b["box"][2] <= 128
    truth = [line.split() for line in (data / "test" / "labels" / (images[0].stem + ".txt")).read_text().splitlines()]
    assert len(rows[0]["boxes"]) == len(truth)  # each shape found once
    r = vf("predict", run, *images, "--format", "csv", "--backend", "keras", "--conf", "0.5")
    lines = r.stdout.splitlines()
    assert lines[0] == "source,frame,time,id,label,score,x1,y1,x2,y2,error"
    assert len(lines) - 1 == sum(max(1, len([b for b in row["boxes"] if b["score"] >= 0.5])) for row in rows)
    r = vf("predict", run, images[0], "--backend", "keras", "--annotate", tmp_path / "drawn")
    assert r.returncode == 0 and str(images[0]) in r.stdout and ("square" in r.stdout or "disc" in r.stdout)
    from PIL import Image

    drawn = np.asarray(Image.open(tmp_path / "drawn" / f"{images[0].stem}.jpg"))
    assert drawn.shape == (128, 128, 3) and not np.array_equal(drawn, np.asarray(Image.open(images[0])))
    assert [p.read_bytes() for p in images] == before
    bad = vf("predict", run, images[0], "--conf", "1.5", "--backend", "keras")
    assert bad.returncode != 0 and "--conf" in bad.stderr and "Traceback" not in bad.stderr


def test_evaluate_writes_coco_metrics_for_a_folder_in_another_layout(detector_run, tmp_path):
    from visionflow.tasks.detection.data import load_boxes

    run, data = detector_run
    # the test split written again as COCO: the same images and boxes, another layout
    folder = load_boxes(data)
    from PIL import Image
    from scenes import WRITERS

    items = []
    for rec in folder.splits["test"]:
        t = folder.truth[rec.path]
        items.append((Path(rec.path).stem, Image.open(rec.path).convert("RGB"),
                      [(CLASSES[c], [int(round(v)) for v in b]) for b, c in zip(t.boxes, t.labels)]))
    WRITERS["coco"](tmp_path / "coco", items, 128)
    r = vf("evaluate", run, tmp_path / "coco", "--out", tmp_path / "ev", "--backend", "keras")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    reference = json.loads((run / "metrics.json").read_text())["test"]
    assert m["map50"] == pytest.approx(reference["map50"], abs=1e-3)
    assert m["map50_95"] == pytest.approx(reference["map50_95"], abs=1e-3)
    assert set(m["per_class"]) == set(CLASSES)
    assert "mAP@0.5" in r.stdout and (tmp_path / "ev" / "report.html").exists()
    # a dataset root is scored on its test split
    r = vf("evaluate", run, data, "--out", tmp_path / "ev2", "--backend", "keras")
    assert r.returncode == 0 and json.loads((tmp_path / "ev2" / "metrics.json").read_text())["split"] == "test"


def _moving_square_clip(path: Path, frames: int = 24) -> Path:
    from synthetic import write_video

    rng = np.random.default_rng(0)
    out = []
    for i in range(frames):
        frame = rng.integers(0, 90, size=(128, 192, 3), dtype=np.uint8)
        x = 8 + i * 6
        frame[44:80, x:x + 36] = (230, 200, 60)
        out.append(frame)
    return write_video(path, out, fps=8)


def test_video_boxes_tracking_and_line_counting(detector_run, tmp_path):
    run, _ = detector_run
    clip = _moving_square_clip(tmp_path / "clip.mp4")
    r = vf("predict", run, clip, "--format", "json", "--backend", "keras", "--track", "--count-line", "96,0,96,128",
           "--annotate", tmp_path / "out.mp4")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    frames, summary = rows[:-1], rows[-1]
    assert len(frames) == 24 and summary["summary"] and summary["frames"] == 24
    ids = {b["id"] for f in frames for b in f["boxes"] if b["label"] == "square"}
    assert len(ids) == 1  # one square, one id
    assert sum(1 for f in frames if any(b["label"] == "square" for b in f["boxes"])) >= 20
    # the square's centre crosses x=96 once, moving right: "out" for a line drawn downwards
    assert summary["counts"] == {"square": {"in": 0, "out": 1}}
    assert (tmp_path / "out.mp4").stat().st_size > 1_000
    r = vf("predict", run, clip, "--fps", "2", "--backend", "keras")
    assert r.returncode == 0 and r.stdout.count("@") == 6 and "6 frames" in r.stdout  # 3 s at 2 per second


def test_export_keeps_the_boxes_and_is_the_default_runtime(detector_run, tmp_path):
    import visionflow

    run, data = detector_run
    r = vf("export", run, "--format", "onnx,tflite", "--out", tmp_path / "export")
    assert r.returncode == 0, r.stdout + r.stderr
    for fmt in ("onnx", "tflite"):
        meta = json.loads((tmp_path / "export" / fmt / "labels.json").read_text())
        assert meta["parity"]["passed"] and meta["parity"]["agreement"] == 1.0 and meta["task"] == "detection"
    images = [str(p) for p in sorted((data / "test" / "images").iterdir())[:4]]
    keras_boxes = visionflow.load(run, backend="keras").predict(images)
    onnx_model = visionflow.load(tmp_path / "export" / "onnx")
    assert onnx_model.backend == "onnx"
    for a, b in zip(keras_boxes, onnx_model.predict(images)):
        assert [x["label"] for x in a.boxes] == [x["label"] for x in b.boxes]
        assert np.allclose([x["box"] for x in a.boxes], [x["box"] for x in b.boxes], atol=1.0)
    fast = visionflow.load(run)  # the default runtime: the run's cached, parity-checked export
    assert fast.backend in ("onnx", "tflite") and len(fast.predict(images[0]).boxes) == len(keras_boxes[0].boxes)


def test_the_service_answers_boxes_and_refuses_other_routes(detector_run):
    from service import service

    run, data = detector_run
    image = sorted((data / "test" / "images").iterdir())[0]
    with service(run) as client:
        info = client.get("/v1/model").json()
        assert info["task"] == "detection" and info["outputs"] == "boxes" and info["labels"] == list(CLASSES)
        assert info["routes"] == ["/v1/predict"]  # /v1/video, /v1/explain, /v1/restore answer 409 here
        assert client.post("/v1/explain", files={"file": (image.name, image.read_bytes(), "image/png")}).status_code == 409
        r = client.post("/v1/predict", files={"file": (image.name, image.read_bytes(), "image/png")})
        assert r.status_code == 200, r.text
        got = r.json()["predictions"][0]
        assert got["filename"] == image.name and got["width"] == 128 and got["boxes"]
        assert got["boxes"][0]["label"] in CLASSES and len(got["boxes"][0]["box"]) == 4
        strict = client.post("/v1/predict?conf=0.99", files={"file": (image.name, image.read_bytes(), "image/png")})
        assert len(strict.json()["predictions"][0]["boxes"]) <= len(got["boxes"])
        bad = client.post("/v1/predict", files={"file": ("x.png", b"not an image", "image/png")})
        assert bad.status_code in (400, 415) and "error" in bad.json()
        assert client.post("/v1/predict?conf=2", files={"file": (image.name, image.read_bytes())}).status_code == 400
        refused = client.post("/v1/explain", files={"file": (image.name, image.read_bytes(), "image/png")})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "detection_model"
        assert client.post("/v1/restore", files={"file": (image.name, image.read_bytes())}).status_code == 409


def test_the_page_draws_the_boxes_over_the_image(detector_run):
    from test_web import CHROMIUM, DRIVER

    if not (CHROMIUM and DRIVER):
        pytest.skip("Chromium and ChromeDriver are not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.common.by import By

    import visionflow
    from test_web import page_of

    run, data = detector_run
    image = sorted((data / "test" / "images").iterdir())[0]
    expected = visionflow.load(run, backend="keras").predict(str(image)).boxes
    with page_of(run, "detector of 2 classes") as (browser, wait):
        browser.find_element(By.ID, "file").send_keys(str(image))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#scene-boxes rect.box"))
        rects = browser.find_elements(By.CSS_SELECTOR, "#scene-boxes rect.box")
        assert len(rects) == len(expected)
        for rect, box in zip(rects, expected):
            x1, _, x2, _ = box["box"]
            assert float(rect.get_attribute("x")) == pytest.approx(x1, abs=0.2)
            assert float(rect.get_attribute("width")) == pytest.approx(x2 - x1, abs=0.2)
        # drawn to scale over the picture: the overlay covers the shown image exactly
        shown = browser.find_element(By.ID, "scene-image").size
        overlay = browser.find_element(By.ID, "scene-boxes").size
        assert overlay == shown and shown["width"] > 128
        items = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#box-list li")]
        assert items and items[0].startswith(expected[0]["label"])
        assert "answered in" in browser.find_element(By.ID, "status").text
        # each box's label on a filled tag, none over another
        tags = [(float(r.get_attribute("x")), float(r.get_attribute("y")), float(r.get_attribute("width")),
                 float(r.get_attribute("height"))) for r in browser.find_elements(By.CSS_SELECTOR, "#scene-boxes g.tag rect")]
        assert len(tags) == len(expected)
        assert not any(a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
                       for i, a in enumerate(tags) for b in tags[i + 1:])
        # the footer names only the routes this model answers; no empty table-columns box
        footer = browser.find_element(By.TAG_NAME, "footer").text
        assert "POST /v1/predict" in footer and "/v1/video" not in footer and "/v1/restore" not in footer
        assert not browser.find_element(By.ID, "columns").is_displayed()


def test_a_run_resumes_from_another_folder_and_keeps_its_split(tmp_path):
    data = make_scenes(tmp_path / "flat", {"": 20}, layout="coco", size=64, seed=9)
    runs = tmp_path / "runs"
    r = vf("train", data, "--task", "detection", "--model", "fcos_small", "--image-size", "64", "--epochs", "1",
           "--project", runs, "--name", "r")
    assert r.returncode == 0, r.stderr
    report = json.loads((runs / "r" / "data_report.json").read_text())
    assert report["split"]["val_split"] == 0.2 and len(report["validation_files"]) == 4
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = vf("train", "--resume", runs / "r", "--epochs", "2", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert "resuming after epoch 1" in r.stdout
    assert len((runs / "r" / "history.csv").read_text().splitlines()) == 3
    assert json.loads((runs / "r" / "data_report.json").read_text())["validation_files"] == report["validation_files"]
    assert json.loads((runs / "r" / "metrics.json").read_text())["epochs_run"] == 2
