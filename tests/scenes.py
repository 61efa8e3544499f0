"""Generated detection data: scenes of squares and discs, written as YOLO, Pascal VOC or COCO."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("square", "disc")


def scene(rng: np.random.Generator, size: int = 128, objects: int | None = None) -> tuple[Image.Image, list]:
    """An image with 1-3 non-overlapping shapes on a noisy background, and [(class, [x1, y1, x2, y2])]."""
    bg = rng.integers(0, 90, size=(size, size, 3), dtype=np.uint8)
    img = Image.fromarray(bg, "RGB")
    draw = ImageDraw.Draw(img)
    boxes: list = []
    want = int(rng.integers(1, 4)) if objects is None else objects
    for _ in range(50):
        if len(boxes) == want:
            break
        s = int(rng.integers(size // 6, size // 3))
        x, y = (int(v) for v in rng.integers(2, size - s - 2, size=2))
        box = [x, y, x + s, y + s]
        if any(not (box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3]) for _, b in boxes):
            continue
        label = CLASSES[int(rng.integers(0, 2))]
        colour = tuple(int(v) for v in rng.integers(140, 256, size=3))
        (draw.rectangle if label == "square" else draw.ellipse)([x, y, x + s - 1, y + s - 1], fill=colour)
        boxes.append((label, box))
    return img, boxes


def write_yolo(folder: Path, items: list, size: int) -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    for name, img, boxes in items:
        img.save(folder / "images" / f"{name}.png")
        rows = [f"{CLASSES.index(c)} {(b[0] + b[2]) / 2 / size:.6f} {(b[1] + b[3]) / 2 / size:.6f} "
                f"{(b[2] - b[0]) / size:.6f} {(b[3] - b[1]) / size:.6f}" for c, b in boxes]
        (folder / "labels" / f"{name}.txt").write_text("\n".join(rows) + "\n")


def voc_xml(name: str, boxes: list, size: int, difficult: set[int] = frozenset()) -> str:
    objects = "".join(f"<object><name>{c}</name><difficult>{int(i in difficult)}</difficult><bndbox><xmin>{b[0]}</xmin>"
                      f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
                      for i, (c, b) in enumerate(boxes))
    return (f"<annotation><filename>{name}.png</filename><size><width>{size}</width><height>{size}</height>"
            f"<depth>3</depth></size>{objects}</annotation>")


def write_voc(folder: Path, items: list, size: int) -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    for name, img, boxes in items:
        img.save(folder / "images" / f"{name}.png")
        (folder / "annotations" / f"{name}.xml").write_text(voc_xml(name, boxes, size))


def write_coco(folder: Path, items: list, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i, (name, img, boxes) in enumerate(items):
        img.save(folder / f"{name}.png")
        images.append({"id": i + 10, "file_name": f"{name}.png", "width": size, "height": size})
        for c, b in boxes:
            anns.append({"id": len(anns) + 1, "image_id": i + 10, "category_id": CLASSES.index(c) + 5,
                         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "area": (b[2] - b[0]) * (b[3] - b[1]),
                         "iscrowd": 0})
    cats = [{"id": k + 5, "name": n} for k, n in enumerate(CLASSES)]
    (folder / "annotations.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))


WRITERS = {"yolo": write_yolo, "voc": write_voc, "coco": write_coco}


def make_scenes(root: Path, counts: dict[str, int], layout: str = "yolo", size: int = 128, seed: int = 0) -> Path:
    """root/<split>/ for each split in `counts` (or root itself for {"": n}), in `layout`; YOLO
    gets a data.yaml with the class names."""
    rng = np.random.default_rng(seed)
    for split, n in counts.items():
        items = [(f"{split or 'img'}_{i:03d}", *scene(rng, size)) for i in range(n)]
        WRITERS[layout](root / split if split else root, items, size)
    if layout == "yolo":
        (root / "data.yaml").write_text("names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(CLASSES)))
    return root
