"""Fixtures: tiny image folders generated per test (no real datasets, nothing downloaded)."""

from __future__ import annotations

import io
import os
from html.parser import HTMLParser
import struct
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Runs without --model train from scratch here (a pretrained backbone at 224 px would take minutes
# per test); tests of the pretrained path turn this back on. Converted weights go to a temporary
# folder, never the user's cache. Subprocesses inherit both.
os.environ["VISIONFLOW_AUTO_PRETRAINED"] = "0"
import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

os.environ["VISIONFLOW_WEIGHTS"] = tempfile.mkdtemp(prefix="visionflow-weights-")
atexit.register(shutil.rmtree, os.environ["VISIONFLOW_WEIGHTS"], True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}

# The files whose tests take longest (measured with --durations), started first: `make test` runs
# several processes that each take whole files, and a long file started last keeps one process busy
# while the other waits.
LONGEST_FIRST = ("test_detection.py", "test_pretrained.py", "test_style_task.py", "test_restoration.py", "test_train.py",
                 "test_segmentation.py", "test_web.py", "test_models.py", "test_small_data.py", "test_gan.py",
                 "test_video_task.py", "test_distill.py", "test_tune.py", "test_fusion.py", "test_cli.py",
                 "test_video_audio.py", "test_deblur.py", "test_regression.py",
                 "test_distributed.py", "test_resume.py", "test_privacy.py", "test_fairness.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the other files keep their order


def shape_image(label: str, rng: np.random.Generator, size: int = 24) -> Image.Image:
    """A coloured shape on a noisy background: square (red), circle (green), triangle (blue)."""
    bg = rng.integers(0, 80, size=(size, size, 3), dtype=np.uint8)
    img = Image.fromarray(bg, "RGB")
    draw = ImageDraw.Draw(img)
    s = int(rng.integers(size // 3, size // 2))
    x, y = (int(v) for v in rng.integers(1, size - s - 1, size=2))
    colour = COLOURS[label]
    if label == "red":
        draw.rectangle([x, y, x + s, y + s], fill=colour)
    elif label == "green":
        draw.ellipse([x, y, x + s, y + s], fill=colour)
    else:
        draw.polygon([(x, y + s), (x + s, y + s), (x + s // 2, y)], fill=colour)
    return img


def make_class_folder(root: Path, classes=("red", "green"), per_class: int = 12, seed: int = 0,
                      ext: str = "png", size: int = 24) -> Path:
    rng = np.random.default_rng(seed)
    for label in classes:
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape_image(label, rng, size).save(folder / f"{label}_{i:03d}.{ext}")
    return root


def make_split_folder(root: Path, train: int = 12, validation: int = 5, **options) -> Path:
    """root/train and root/validation class folders (`make_class_folder` with seeds 1 and 2)."""
    make_class_folder(root / "train", per_class=train, seed=1, **options)
    make_class_folder(root / "validation", per_class=validation, seed=2, **options)
    return root


@pytest.fixture
def short_epochs(monkeypatch):
    """128 patches an epoch instead of at least 1,024 for image-to-image tasks, in tests that check
    what a run writes, not how well it restores (the commands run in this process)."""
    from visionflow.tasks.restoration import data

    monkeypatch.setattr(data, "EPOCH_PATCHES", (128, 4096))


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(run folder, data folder): a 3-class model trained for 2 epochs at 24x24, shared by the
    prediction, export and serving tests, which only read it."""
    import visionflow

    root = tmp_path_factory.mktemp("trained")
    data = root / "data"
    make_split_folder(data, train=10, validation=4, classes=("red", "green", "blue"))
    run = visionflow.train(data=str(data), project=str(root / "runs"), epochs=2, image_size=24, batch_size=8,
                           say=lambda s: None)
    return run.run_dir, data


@pytest.fixture
def split_data(tmp_path) -> Path:
    """DIR/train/<class> (16 each) + DIR/validation/<class> (6 each), two classes."""
    root = tmp_path / "data"
    make_split_folder(root, train=16, validation=6)
    return root


@pytest.fixture
def three_class_data(tmp_path) -> Path:
    """DIR/<class>/ with three classes of 14 images, for --val-split."""
    return make_class_folder(tmp_path / "shapes", classes=("red", "green", "blue"), per_class=14, seed=3)


def png_with_huge_header(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG file whose header claims enormous dimensions (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_bytes(img: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, **kwargs)
    return buf.getvalue()


def write_bad_corpus(folder: Path) -> dict[str, str]:
    """Writes files that must be skipped; returns {file name: expected reason fragment}."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    (folder / "empty.jpg").write_bytes(b"")
    expected["empty.jpg"] = "empty file"
    good = jpeg_bytes(Image.new("RGB", (64, 64), (10, 200, 30)))
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    expected["truncated.jpg"] = "truncated"
    (folder / "notes.jpg").write_text("this is not an image, just some text\n")
    expected["notes.jpg"] = "holds text"
    (folder / "bomb.png").write_bytes(png_with_huge_header())
    expected["bomb.png"] = "decompression bomb"
    (folder / ".hidden.jpg").write_bytes(good)
    expected[".hidden.jpg"] = "hidden file"
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    expected[".DS_Store"] = "system file"
    (folder / "readme.txt").write_text("notes")
    expected["readme.txt"] = "not an image file extension"
    return expected


class ParsedPage(HTMLParser):
    """The ids of a page's <section> elements, its <img> sources and <a>/<link>/<script> targets."""

    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.ids.append(attrs.get("id", ""))
        elif tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag in ("a", "link", "script"):
            self.links.append(attrs.get("href") or attrs.get("src") or "")


def parse_html(html: str) -> ParsedPage:
    page = ParsedPage()
    page.feed(html)
    return page
