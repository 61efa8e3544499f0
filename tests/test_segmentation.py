"""Semantic segmentation: masks in every form (index, palette, colour map, black-and-white) and their
problems, void pixels, the metrics, training on generated shapes, predicting (CLI, Python, video),
evaluating, export parity, the service and the page."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from clirun import vf
from maskscenes import CLASSES, COLOURS, make_masks, scene, write_mask
from PIL import Image


def _masks(folder) -> dict[str, np.ndarray]:
    return {Path(p).stem: folder.mask(p) for p in folder.masks}


# -- reading --------------------------------------------------------------------------------------
def test_index_palette_and_colour_masks_read_as_the_same_classes(tmp_path):
    from visionflow.tasks.segmentation.data import load_masks

    loaded = {form: load_masks(make_masks(tmp_path / form, {"train": 5, "val": 2}, form, seed=1, void_border=True))
              for form in ("index", "palette", "colour")}
    reference = _masks(loaded["index"])
    assert len(reference) == 7 and any((m == 255).any() for m in reference.values())  # the void rings
    for form, folder in loaded.items():
        assert folder.classes == list(CLASSES), form
        assert {k: len(v) for k, v in folder.splits.items()} == {"train": 5, "validation": 2}
        got = _masks(folder)
        assert got.keys() == reference.keys() and all(np.array_equal(got[k], reference[k]) for k in got), form
    assert loaded["colour"].scheme.kind == "colour" and loaded["colour"].scheme.colours[1] == COLOURS["square"]
    # the colours not in the map (the white rings) are counted as void
    assert loaded["colour"].report["findings"]["pixels outside the classes (void)"] == sum(
        int((m == 255).sum()) for m in reference.values())
    # a name,r,g,b CSV (with a header) works as labelmap.txt does
    root = tmp_path / "colour"
    (root / "labelmap.txt").unlink()
    (root / "classes.csv").write_text("name,r,g,b\n" + "".join(f"{c},{','.join(map(str, COLOURS[c]))}\n" for c in CLASSES))
    assert all(np.array_equal(m, reference[k]) for k, m in _masks(load_masks(root)).items())


def test_camvid_style_folders_with_labels_beside_each_split(tmp_path):
    import shutil

    from visionflow.tasks.segmentation.data import load_masks

    src = make_masks(tmp_path / "src", {"train": 4, "val": 2}, "colour", seed=7)
    camvid = tmp_path / "camvid"
    for split in ("train", "val"):
        shutil.copytree(src / split / "images", camvid / split)
        (camvid / f"{split}_labels").mkdir()
        for mask in (src / split / "masks").iterdir():
            shutil.copy(mask, camvid / f"{split}_labels" / f"{mask.stem}_L.png")
    (camvid / "class_dict.csv").write_text("name,r,g,b\n" + "".join(
        f"{c},{','.join(map(str, COLOURS[c]))}\n" for c in CLASSES))
    folder = load_masks(camvid)
    assert folder.classes == list(CLASSES) and {k: len(v) for k, v in folder.splits.items()} == {"train": 4,
                                                                                               "validation": 2}
    reference = _masks(load_masks(src))
    assert all(np.array_equal(m, reference[k]) for k, m in _masks(folder).items())


def test_black_and_white_masks_are_background_and_foreground(tmp_path):
    from visionflow.tasks.segmentation.data import load_masks

    root = make_masks(tmp_path / "bw", {"": 20}, "bw", seed=2)
    folder = load_masks(root, seed=3)
    assert folder.classes == ["background", "foreground"] and folder.scheme.kind == "binary"
    assert len(folder.splits["validation"]) == 4 and len(folder.splits["train"]) == 16  # 20% held out
    one = next(iter(folder.masks))
    raw = np.asarray(Image.open(folder.masks[one]))
    assert set(np.unique(folder.mask(one))) <= {0, 1} and np.array_equal(folder.mask(one), (raw == 255).astype(np.uint8))
    # 0/1 masks, and a few grey pixels (a resaved, anti-aliased mask) go to the nearer side
    path = Path(folder.masks[one])
    soft = raw.copy()
    soft[0, :3] = (100, 128, 200)
    Image.fromarray(soft).save(path)
    assert folder.mask(one)[0, :3].tolist() == [0, 1, 1]
    shares = folder.report["counts"]["train"]["pixel_share"]
    assert set(shares) == {"background", "foreground"} and abs(sum(shares.values()) - 1) < 1e-3


def test_train_and_test_without_validation_hold_out_a_fifth_of_train(tmp_path):
    from visionflow.tasks.segmentation.data import load_masks

    folder = load_masks(make_masks(tmp_path / "d", {"train": 10, "test": 3}, "index", seed=8), seed=1)
    assert {k: len(v) for k, v in folder.splits.items()} == {"train": 8, "validation": 2, "test": 3}
    assert folder.report["split"]["val_split"] == 0.2


def test_mask_problems_are_listed_and_skipped_and_nothing_is_changed(tmp_path):
    from visionflow.tasks.segmentation.data import load_masks

    root = make_masks(tmp_path / "d", {"train": 6, "validation": 2}, "index", seed=4)
    images, masks = root / "train" / "images", root / "train" / "masks"
    rng = np.random.default_rng(0)
    image, mask = scene(rng)
    Image.fromarray(image).save(images / "lonely.jpg")  # an image without a mask
    write_mask(masks / "ghost.png", mask, "index")  # a mask without an image
    Image.fromarray(image).save(images / "small.jpg")
    write_mask(masks / "small.png", mask[:40, :50], "index")  # its mask has another size
    Image.fromarray(image).save(images / "broken.jpg")
    (masks / "broken.png").write_bytes(b"not a png")  # unreadable
    Image.fromarray(image).save(images / "beyond.jpg")
    beyond = mask.copy()
    beyond[:4, :4] = 7  # a value beyond the three classes: void
    write_mask(masks / "beyond.png", beyond, "index")
    before = {p: p.read_bytes() for p in [*images.iterdir(), *masks.iterdir()]}
    folder = load_masks(root)
    reasons = {Path(p["path"]).name: p["reason"] for p in folder.report["problems"]}
    assert "without a mask" in reasons["lonely.jpg"] and "without an image" in reasons["ghost.png"]
    assert "50x40" in reasons["small.jpg"] and "64x64" in reasons["small.jpg"]
    assert "cannot be read" in reasons["broken.jpg"]
    assert {Path(r.path).name for r in folder.skipped} == {"small.jpg", "broken.jpg"}
    kept = {Path(r.path).name for r in folder.splits["train"]}
    assert "beyond.jpg" in kept and len(kept) == 7
    assert (folder.mask(str(images / "beyond.jpg"))[:4, :4] == 255).all()
    findings = folder.report["findings"]
    assert findings["image without mask"] == 1 and findings["mask without image"] == 1
    assert findings["mask size differs"] == 1 and findings["unreadable mask"] == 1
    assert findings["pixels outside the classes (void)"] == 16
    assert any("lonely.jpg" in line for line in folder.report["details"])
    assert {p: p.read_bytes() for p in before} == before and set(before) == {*images.iterdir(), *masks.iterdir()}


def test_colour_masks_without_a_colour_map_and_folders_without_masks_are_refused(tmp_path):
    root = make_masks(tmp_path / "c", {"train": 3, "val": 1}, "colour", seed=5)
    (root / "labelmap.txt").unlink()
    r = vf("train", root, "--task", "segmentation", "--project", tmp_path / "runs")
    assert r.returncode != 0 and "Traceback" not in r.stderr and "colour map" in r.stderr
    (tmp_path / "x").mkdir()
    Image.fromarray(scene(np.random.default_rng(0))[0]).save(tmp_path / "x" / "a.png")
    r = vf("train", tmp_path / "x", "--task", "segmentation", "--project", tmp_path / "runs")
    assert r.returncode != 0 and "Traceback" not in r.stderr and "masks" in r.stderr
    assert not (tmp_path / "runs").exists()


def test_metrics_leave_void_out_and_average_over_the_classes_present():
    from visionflow.tasks.segmentation.metrics import confusion, scores

    truth = np.array([[0, 0, 1, 1], [0, 255, 1, 2]], np.uint8)
    got = np.array([[0, 1, 1, 1], [0, 0, 1, 1]], np.uint8)
    s = scores(confusion(truth, got, 4), ["a", "b", "c", "d"])
    # a: tp 2, fp 0, fn 1 -> 2/3; b: tp 3, fp 2 -> 3/5; c: tp 0 -> 0; d never occurs: left out
    assert s["iou"] == {"a": pytest.approx(2 / 3, abs=1e-4), "b": 0.6, "c": 0.0, "d": None}
    assert s["miou"] == pytest.approx((2 / 3 + 0.6 + 0) / 3, abs=1e-4)
    assert s["pixel_accuracy"] == pytest.approx(5 / 7, abs=1e-4)  # the void pixel is not counted
    assert s["pixels"] == {"a": 3, "b": 3, "c": 1, "d": 0}


def test_input_size_keeps_the_images_shape():
    from visionflow.tasks.segmentation import input_size

    assert input_size(360, 480) == (288, 384)
    assert input_size(512, 512) == (384, 384)
    assert input_size(64, 64) == (64, 64)
    assert input_size(1024, 2048) == (192, 384)


def test_every_segmentation_network_gives_logits_at_the_input_size():
    from visionflow import tasks
    from visionflow.models import MODELS, names_for

    tasks.get("segmentation")  # registers the task's networks
    assert set(names_for("segmentation")) == {"unet_lite0", "lraspp_lite0", "unet_small"}
    for name in names_for("segmentation"):
        model = MODELS.get(name).build(input_shape=(64, 96, 3), classes=5)
        out = model(np.zeros((1, 64, 96, 3), np.float32), training=False)
        assert tuple(out.shape) == (1, 64, 96, 5), name


# -- a trained model -------------------------------------------------------------------------------
EPOCHS = 12


@pytest.fixture(scope="session")
def segmenter_run(tmp_path_factory):
    """unet_small trained once on generated shapes (index masks, void rings) with train/validation/test."""
    import visionflow

    root = tmp_path_factory.mktemp("seg")
    data = make_masks(root / "shapes", {"train": 96, "validation": 24, "test": 12}, "index", seed=11, void_border=True)
    result = visionflow.train(data=str(data), task="segmentation", model="unet_small", image_size=64, epochs=EPOCHS,
                              project=str(root / "runs"), name="run", say=lambda line: None)
    return Path(result.run_dir), data


def test_training_on_generated_shapes_separates_them(segmenter_run):
    run, data = segmenter_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["task"] == "segmentation" and metrics["classes"] == list(CLASSES)
    for split in ("validation", "test"):
        m = metrics[split]
        assert m["miou"] >= 0.9, (split, m["miou"])
        assert m["pixel_accuracy"] >= 0.97 and all(v >= 0.8 for v in m["iou"].values())
        assert np.array(m["confusion"]).shape == (3, 3)
    meta = json.loads((run / "labels.json").read_text())
    assert meta["task"] == "segmentation" and meta["image_size"] == [64, 64]
    assert meta["scheme"]["kind"] == "index" and meta["scheme"]["source"] == "classes.txt"
    history = (run / "history.csv").read_text().splitlines()
    assert history[0].split(",")[:4] == ["epoch", "loss", "val_loss", "val_miou"] and len(history) == EPOCHS + 1
    page = (run / "report.html").read_text()
    assert "IoU per class" in page and "Confusion matrix" in page and "Worst images" in page
    assert (run / "plots" / "validation_confusion.png").stat().st_size > 5_000
    assert len((run / "predictions" / "test.csv").read_text().splitlines()) == 13


def test_predict_writes_index_pngs_at_the_images_size_and_rows_with_areas(segmenter_run, tmp_path):
    import visionflow

    run, data = segmenter_run
    images = sorted((data / "test" / "images").iterdir())[:3]
    big = tmp_path / "big.jpg"  # another size than the model's input
    Image.open(images[0]).resize((150, 100)).save(big)
    sources = [*images, big]
    before = [p.read_bytes() for p in sources]
    out = tmp_path / "out"
    r = vf("predict", run, *sources, "--out", out, "--overlay", "--format", "json", "--backend", "keras")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    model = visionflow.load(run, backend="keras")
    assert [row["source"] for row in rows] == [str(p) for p in sources]
    for row, src in zip(rows, sources):
        png = Image.open(row["mask"])
        assert png.mode == "P" and png.size == Image.open(src).size
        index = np.asarray(png)
        assert np.array_equal(index, model.predict(str(src)))  # the pixel values are the class indices
        assert set(np.unique(index)) <= {0, 1, 2}
        assert row["areas"] == pytest.approx({c: float((index == i).mean()) for i, c in enumerate(CLASSES)}, abs=1e-4)
        assert Path(row["overlay"]).exists() and Image.open(row["overlay"]).size == png.size
    truth = np.asarray(Image.open(data / "test" / "masks" / (images[0].stem + ".png")))
    labelled = truth != 255
    assert (np.asarray(Image.open(rows[0]["mask"]))[labelled] == truth[labelled]).mean() > 0.95
    assert [p.read_bytes() for p in sources] == before
    r = vf("predict", run, images[0], "--format", "csv", "--backend", "keras")
    lines = r.stdout.splitlines()
    assert lines[0] == "source,frame,time,mask,overlay,background,square,disc,error" and len(lines) == 2
    bad = vf("predict", run, images[0], "--overlay", "--backend", "keras")
    assert bad.returncode != 0 and "--out" in bad.stderr and "Traceback" not in bad.stderr
    bad = vf("predict", run, images[0], "--conf", "0.5", "--backend", "keras")
    assert bad.returncode != 0 and "detection" in bad.stderr


def test_evaluate_scores_a_dataset_root_on_its_test_split(segmenter_run, tmp_path):
    run, data = segmenter_run
    r = vf("evaluate", run, data, "--out", tmp_path / "ev", "--backend", "keras")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    reference = json.loads((run / "metrics.json").read_text())["test"]
    assert m["split"] == "test" and m["miou"] == pytest.approx(reference["miou"], abs=1e-3)
    assert set(m["iou"]) == set(CLASSES) and 0 < m["pixel_accuracy"] <= 1
    assert "mIoU" in r.stdout and (tmp_path / "ev" / "report.html").exists()
    # one folder of images and masks, without splits
    r = vf("evaluate", run, data / "test", "--out", tmp_path / "ev2", "--backend", "keras")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "ev2" / "metrics.json").read_text())["miou"] == pytest.approx(m["miou"], abs=1e-3)


def _red_then_blue_clip(path: Path) -> Path:
    from synthetic import write_video

    frames = []
    for i in range(16):
        frame = np.full((64, 96, 3), 30, np.uint8)
        frame[16:48, 10 + 3 * i:42 + 3 * i] = (230, 100, 30)  # a warm square moving right
        frames.append(frame)
    return write_video(path, frames, fps=8)


def test_video_areas_per_frame_and_the_overlaid_copy(segmenter_run, tmp_path):
    run, _ = segmenter_run
    clip = _red_then_blue_clip(tmp_path / "clip.mp4")
    r = vf("predict", run, clip, "--fps", "4", "--format", "json", "--backend", "keras", "--annotate", tmp_path / "out.mp4")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 8 and [row["time"] for row in rows] == sorted(row["time"] for row in rows)
    for row in rows:
        assert set(row["areas"]) == set(CLASSES) and abs(sum(row["areas"].values()) - 1) < 1e-3
        assert row["areas"]["square"] == pytest.approx(32 * 32 / (64 * 96), abs=0.05)
    assert (tmp_path / "out.mp4").stat().st_size > 1_000


def test_export_keeps_the_masks_and_is_the_default_runtime(segmenter_run, tmp_path):
    import visionflow

    run, data = segmenter_run
    r = vf("export", run, "--format", "onnx,tflite", "--out", tmp_path / "export")
    assert r.returncode == 0, r.stdout + r.stderr
    for fmt in ("onnx", "tflite"):
        meta = json.loads((tmp_path / "export" / fmt / "labels.json").read_text())
        assert meta["parity"]["passed"] and meta["parity"]["agreement"] >= 0.995 and meta["task"] == "segmentation"
    images = [str(p) for p in sorted((data / "test" / "images").iterdir())[:4]]
    reference = visionflow.load(run, backend="keras").predict(images)
    onnx_model = visionflow.load(tmp_path / "export" / "onnx")
    assert onnx_model.backend == "onnx"
    agree = np.mean([(a == b).mean() for a, b in zip(reference, onnx_model.predict(images))])
    assert agree >= 0.995
    fast = visionflow.load(run)  # the run's cached, parity-checked export
    assert fast.backend in ("onnx", "tflite") and (fast.predict(images[0]) == reference[0]).mean() >= 0.995


def test_the_service_answers_masks_and_refuses_other_routes(segmenter_run):
    from service import service

    run, data = segmenter_run
    image = sorted((data / "test" / "images").iterdir())[0]
    with service(run) as client:
        info = client.get("/v1/model").json()
        assert info["task"] == "segmentation" and info["outputs"] == "mask" and info["labels"] == list(CLASSES)
        assert info["routes"] == ["/v1/predict"]
        r = client.post("/v1/predict", files={"file": (image.name, image.read_bytes(), "image/jpeg")})
        assert r.status_code == 200, r.text
        body = r.json()
        got = body["predictions"][0]
        assert body["classes"] == list(CLASSES) and len(body["colours"]) == 3
        assert got["filename"] == image.name and (got["width"], got["height"]) == (64, 64)
        mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(got["mask"].split(",", 1)[1]))))
        assert mask.shape == (64, 64)
        assert got["areas"] == pytest.approx({c: float((mask == i).mean()) for i, c in enumerate(CLASSES)}, abs=1e-4)
        png = client.post("/v1/predict?format=png", files={"file": (image.name, image.read_bytes(), "image/jpeg")})
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(png.content))), mask)
        two = client.post("/v1/predict?format=png", files=[("file", (image.name, image.read_bytes())),
                                                            ("file", (image.name, image.read_bytes()))])
        assert two.status_code == 400
        bad = client.post("/v1/predict", files={"file": ("x.png", b"not an image", "image/png")})
        assert bad.status_code in (400, 415) and "error" in bad.json()
        refused = client.post("/v1/explain", files={"file": (image.name, image.read_bytes(), "image/jpeg")})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "segmentation_model"
        assert client.post("/v1/restore", files={"file": (image.name, image.read_bytes())}).status_code == 409


def test_the_page_overlays_the_mask_with_a_legend_and_an_opacity_slider(segmenter_run):
    from test_web import CHROMIUM, DRIVER

    if not (CHROMIUM and DRIVER):
        pytest.skip("Chromium and ChromeDriver are not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.common.by import By
    from test_web import page_of

    run, data = segmenter_run
    image = sorted((data / "test" / "images").iterdir())[0]
    with page_of(run, "segmentation of 3 classes") as (browser, wait):
        browser.find_element(By.ID, "file").send_keys(str(image))
        wait.until(lambda d: (d.find_element(By.ID, "mask-image").get_attribute("src") or "").startswith("data:image/png"))
        wait.until(lambda d: d.execute_script("return document.getElementById('mask-image').naturalWidth") == 64)
        legend = [s.text for s in browser.find_elements(By.CSS_SELECTOR, "#mask-legend span")]
        assert [t.split()[0] for t in legend] == list(CLASSES) and all(t.endswith("%") for t in legend)
        # the mask lies exactly over the shown picture, and the slider sets its opacity
        assert browser.find_element(By.ID, "mask-image").size == browser.find_element(By.ID, "mask-photo").size
        slider = browser.find_element(By.ID, "opacity")
        browser.execute_script("arguments[0].value = 20; arguments[0].dispatchEvent(new Event('input'));", slider)
        assert float(browser.find_element(By.ID, "mask-image").value_of_css_property("opacity")) == pytest.approx(0.2)
        assert "answered in" in browser.find_element(By.ID, "status").text


def test_a_black_and_white_run_resumes_from_another_folder(tmp_path):
    data = make_masks(tmp_path / "flat", {"": 20}, "bw", seed=9)
    runs = tmp_path / "runs"
    r = vf("train", data, "--task", "segmentation", "--model", "unet_small", "--epochs", "1", "--project", runs,
           "--name", "r")
    assert r.returncode == 0, r.stderr
    assert "background" in r.stdout and "foreground" in r.stdout and "64x64" in r.stdout
    report = json.loads((runs / "r" / "data_report.json").read_text())
    assert len(report["validation_files"]) == 4
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = vf("train", "--resume", runs / "r", "--epochs", "2", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert "resuming after epoch 1" in r.stdout
    assert json.loads((runs / "r" / "data_report.json").read_text())["validation_files"] == report["validation_files"]
    meta = json.loads((runs / "r" / "labels.json").read_text())
    assert meta["scheme"]["kind"] == "binary" and meta["scheme"]["colours"] == [[0, 0, 0], [255, 255, 255]]


def test_two_workers_train_a_segmentation_model(tmp_path):
    import subprocess
    import sys

    data = make_masks(tmp_path / "d", {"train": 16, "validation": 4}, "index", size=32, seed=6)
    proc = subprocess.run([sys.executable, "-m", "visionflow", "launch", "--workers", "2", "--", "train", str(data),
                           "--task", "segmentation", "--model", "unet_small", "--epochs", "1", "--distributed",
                           "--project", str(tmp_path / "runs"), "--name", "r"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "(2 workers x 8)" in proc.stdout and "val_miou" in proc.stdout
    metrics = json.loads((tmp_path / "runs" / "r" / "metrics.json").read_text())
    assert metrics["task"] == "segmentation" and 0 < metrics["validation"]["miou"] <= 1
