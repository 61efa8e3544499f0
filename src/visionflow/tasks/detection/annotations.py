"""Reading boxes: YOLO, Pascal VOC and COCO folders, detected from what the folder holds.

One split folder is in one of these layouts:
- YOLO (Ultralytics' convention): `images/` + `labels/*.txt` (`class cx cy w h`, normalised;
  polygon rows `class x1 y1 x2 y2 ...` become their bounding box), class names from a
  `data.yaml` (`names`: a list or an {id: name} map) or `classes.txt`; also the whole dataset as
  `images/<split>/` + `labels/<split>/`.
- Pascal VOC: `annotations/*.xml` or `Annotations/*.xml` with `images/` or `JPEGImages/`, or
  the XML files beside the images. Parsed with defusedxml: a file declaring entities (the
  "billion laughs" expansion bomb) is refused, never expanded.
- COCO: `annotations.json`, `_annotations.coco.json`, `annotations/instances_*.json` or any JSON
  with `images`, `annotations` and `categories`, beside the images.

What does not fit is kept out with a reason and counted, never guessed: unreadable images and
annotation files, annotations naming missing images, unknown class ids, zero-area or inverted
boxes (dropped), boxes outside the image (clipped). Images with no annotation file (YOLO, VOC)
are negatives: they train as background. VOC `difficult` and COCO `iscrowd` objects are kept
as "ignore": neither rewarded nor penalised in training and scoring, as the VOC protocol does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visionflow.data.decode import IMAGE_EXTENSIONS
from visionflow.errors import DataError

SPLIT_NAMES = {"train": "train", "training": "train", "validation": "validation", "val": "validation",
               "valid": "validation", "test": "test", "testing": "test"}
YAML_NAMES = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")
CLASS_FILES = ("classes.txt", "obj.names", "classes.names", "labels.txt")
COCO_NAMES = ("annotations.json", "_annotations.coco.json", "instances.json", "coco.json")


@dataclass
class Truth:
    """One image's boxes in its own pixels."""

    boxes: np.ndarray  # (m, 4) float32 x1, y1, x2, y2
    labels: np.ndarray  # (m,) int64 class index
    ignore: np.ndarray  # (m,) bool: difficult/crowd, not scored

    @classmethod
    def empty(cls) -> Truth:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, bool))

    def to_rows(self, classes: list[str]) -> list[str]:
        """Rows "class x1 y1 x2 y2[ difficult]" (the fingerprint of a run's annotations)."""
        return [f"{classes[c]} {' '.join(f'{v:.1f}' for v in b)}{' difficult' if i else ''}"
                for b, c, i in zip(self.boxes, self.labels, self.ignore)]


@dataclass
class Entry:
    """An image and its raw annotation before checking: boxes (x1, y1, x2, y2) in pixels, or
    normalised centre form for YOLO (checked once the image size is known)."""

    image: str
    objects: list[tuple[str, list[float], bool]] | None  # (class name, box, ignore); None: no annotation file
    normalised: bool = False  # YOLO rows: cx, cy, w, h in [0, 1]
    problem: str = ""  # the annotation could not be used: the image is skipped with this reason


@dataclass
class Split:
    """What a split folder's layout gave: entries, class names in file order, and findings."""

    layout: str
    entries: list[Entry]
    names: list[str] = field(default_factory=list)  # class names as the layout orders them (YOLO, COCO)
    problems: list[dict] = field(default_factory=list)  # annotation files that name no image, ...


def _images_in(folder: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / n for n in sorted(filenames)
                if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".")]
    return out


def _by_stem(images: list[Path], root: Path) -> dict[str, Path]:
    """{path relative to `root` without its extension: image}."""
    return {str(p.relative_to(root).with_suffix("")): p for p in images}


# -- class names ----------------------------------------------------------------------------
def _yaml_names(folder: Path) -> list[str] | None:
    import yaml

    for where in (folder, folder.parent, folder.parent.parent):
        for name in YAML_NAMES:
            path = where / name
            if not path.is_file():
                continue
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
                raise DataError(f"{path} could not be read as YAML: {str(exc).splitlines()[0]}") from None
            names = data.get("names") if isinstance(data, dict) else None
            if isinstance(names, dict):
                try:
                    return [str(names[k]) for k in sorted(names, key=int)]
                except (TypeError, ValueError):
                    raise DataError(f"{path}: `names` must map class ids (0, 1, ...) to names.") from None
            if isinstance(names, list):
                return [str(n) for n in names]
            if names is not None:
                raise DataError(f"{path}: `names` must be a list of class names or an {{id: name}} map.")
        for name in CLASS_FILES:
            path = where / name
            if path.is_file():
                return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return None


# -- YOLO -----------------------------------------------------------------------------------
def _yolo(images_dir: Path, labels_dir: Path, names_from: Path) -> Split:
    names = _yaml_names(names_from)
    entries, problems = [], []
    images = _by_stem(_images_in(images_dir), images_dir)
    for rel, image in images.items():
        label_file = labels_dir / f"{rel}.txt"
        if not label_file.is_file():
            entries.append(Entry(str(image), None, normalised=True))
            continue
        objects, problem = [], ""
        try:
            lines = label_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            entries.append(Entry(str(image), None, problem=f"{label_file.name} cannot be read ({exc})"))
            continue
        for number, line in enumerate(lines, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                cid, values = int(parts[0]), [float(v) for v in parts[1:]]
            except ValueError:
                problem = f"{label_file.name} line {number} is not 'class cx cy w h' numbers: {line.strip()[:60]!r}"
                break
            if len(values) == 4:
                box = values
            elif len(values) >= 6 and len(values) % 2 == 0:  # a polygon: its bounding box
                xs, ys = values[0::2], values[1::2]
                box = [(min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)]
            else:
                problem = f"{label_file.name} line {number} has {len(values) + 1} values; a box row has 5"
                break
            objects.append((str(cid), box, False))
        entries.append(Entry(str(image), objects, normalised=True, problem=problem))
    known = set(images)
    for label_file in sorted(labels_dir.rglob("*.txt")):
        rel = str(label_file.relative_to(labels_dir).with_suffix(""))
        if rel not in known and label_file.name not in CLASS_FILES:
            problems.append({"path": str(label_file), "reason": "annotation names a missing image (no image with this name)"})
    return Split("yolo", entries, names or [], problems)


# -- Pascal VOC -----------------------------------------------------------------------------
def _read_voc(path: Path) -> tuple[str, list[tuple[str, list[float], bool]]]:
    """(the image's file name, objects) of one VOC file; ValueError with the reason otherwise."""
    import defusedxml.ElementTree as ET
    from defusedxml import DefusedXmlException

    try:
        root = ET.parse(str(path))
    except DefusedXmlException:
        raise ValueError("declares XML entities, which are refused (an entity-expansion bomb is never expanded)") from None
    except ET.ParseError as exc:
        raise ValueError(f"is not valid XML ({exc})") from None
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    root = root.getroot()
    objects = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        box = obj.find("bndbox")
        if not name or box is None:
            raise ValueError("has an <object> without <name> or <bndbox>")
        try:
            coords = [float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
        except (TypeError, ValueError):
            raise ValueError(f"has a <bndbox> of {name!r} without numeric xmin, ymin, xmax, ymax") from None
        difficult = (obj.findtext("difficult") or "0").strip() in ("1", "true", "True")
        objects.append((name, coords, difficult))
    return (root.findtext("filename") or "").strip(), objects


def _voc(xml_dir: Path, images_dir: Path) -> Split:
    entries, problems = [], []
    images = _by_stem(_images_in(images_dir), images_dir)
    by_name = {p.name: p for p in images.values()}
    annotated: set[Path] = set()
    for xml in sorted(xml_dir.rglob("*.xml")):
        rel = str(xml.relative_to(xml_dir).with_suffix(""))
        try:
            filename, objects = _read_voc(xml)
        except ValueError as exc:
            if rel in images:
                annotated.add(images[rel])
                entries.append(Entry(str(images[rel]), None, problem=f"{xml.name} {exc}"))
            else:
                problems.append({"path": str(xml), "reason": str(exc)})
            continue
        image = images.get(rel) or by_name.get(filename)
        if image is None:
            problems.append({"path": str(xml), "reason": f"annotation names a missing image ({filename or rel})"})
            continue
        annotated.add(image)
        entries.append(Entry(str(image), objects))
    for image in images.values():
        if image not in annotated:
            entries.append(Entry(str(image), None))
    entries.sort(key=lambda e: e.image)
    return Split("voc", entries, [], problems)


# -- COCO -----------------------------------------------------------------------------------
def _coco_file(folder: Path) -> Path | None:
    for name in COCO_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted((folder / "annotations").glob("instances_*.json")) if (folder / "annotations").is_dir() else []
    if len(found) == 1:
        return found[0]
    for path in sorted(folder.glob("*.json")):
        try:
            with open(path, encoding="utf-8") as fh:
                head = fh.read(4096)
        except (OSError, UnicodeDecodeError):
            continue
        if '"images"' in head or '"annotations"' in head or '"categories"' in head:
            return path
    return None


def _coco(path: Path, images_dir: Path) -> Split:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        images = {int(im["id"]): str(im["file_name"]) for im in data["images"]}
        categories = {int(c["id"]): str(c["name"]) for c in data["categories"]}
        annotations = data.get("annotations", [])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a COCO annotation file (needs images with id and file_name, categories "
                        f"with id and name): {type(exc).__name__}: {exc}") from None
    names = [categories[k] for k in sorted(categories)]
    objects: dict[int, list] = {k: [] for k in images}
    problems = []
    for a in annotations:
        try:
            image_id, bbox = int(a["image_id"]), [float(v) for v in a["bbox"]]
            cid = int(a["category_id"])
        except (KeyError, TypeError, ValueError):
            problems.append({"path": str(path), "reason": f"annotation {a.get('id')} lacks image_id, category_id or a "
                                                          f"4-number bbox"})
            continue
        if image_id not in images:
            problems.append({"path": str(path), "reason": f"annotation {a.get('id')} names a missing image (id {image_id})"})
            continue
        if len(bbox) != 4:
            problems.append({"path": str(path), "reason": f"annotation {a.get('id')} has a bbox of {len(bbox)} numbers"})
            continue
        name = categories.get(cid, f"#{cid}")
        x, y, w, h = bbox
        objects[image_id].append((name, [x, y, x + w, y + h], bool(a.get("iscrowd", 0))))
    entries = []
    for image_id, file_name in sorted(images.items(), key=lambda kv: kv[1]):
        candidates = [images_dir / file_name, images_dir / "images" / file_name, images_dir / Path(file_name).name,
                      images_dir / "images" / Path(file_name).name]
        image = next((c for c in candidates if c.is_file()), None)
        if image is None:
            problems.append({"path": str(images_dir / file_name), "reason": f"{path.name} names an image that does not exist"})
            continue
        entries.append(Entry(str(image), objects[image_id]))
    # categories nobody uses (Roboflow's supercategory "objects" row) are not classes
    used = {o[0] for e in entries for o in e.objects or []}
    return Split("coco", entries, [n for n in names if n in used] or names, problems)


# -- layouts --------------------------------------------------------------------------------
def _first_dir(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_dir()), None)


def read_split(folder: Path) -> Split:
    """The layout of one split folder, read. DataError when it holds no known layout."""
    coco = _coco_file(folder)
    if coco is not None:
        return _coco(coco, folder)
    labels, images = _first_dir(folder, ("labels",)), _first_dir(folder, ("images",))
    if labels is not None:
        return _yolo(images or folder, labels, folder)
    xml_dir = _first_dir(folder, ("annotations", "Annotations"))
    if xml_dir is not None:
        return _voc(xml_dir, _first_dir(folder, ("JPEGImages", "images")) or folder)
    if next(folder.glob("*.xml"), None) is not None:
        return _voc(folder, folder)
    if next(folder.glob("*.txt"), None) is not None:
        return _yolo(folder, folder, folder)
    raise DataError(f"{folder} holds no boxes in a layout visionflow reads: YOLO (images/ + labels/*.txt and a "
                    f"data.yaml), Pascal VOC (annotations/*.xml + images/) or COCO (annotations.json beside the "
                    f"images).")


def find_splits(root: Path) -> dict[str, Path | tuple[Path, Path]]:
    """{split: its folder} of a dataset root: train/ + validation|val|valid/ (+ test/) folders,
    Ultralytics' images/<split> + labels/<split> (a pair of folders), or {"all": root}."""
    images, labels = root / "images", root / "labels"
    if images.is_dir() and labels.is_dir():
        inner = {SPLIT_NAMES[p.name.lower()]: p for p in sorted(images.iterdir())
                 if p.is_dir() and p.name.lower() in SPLIT_NAMES}
        if inner:
            return {s: (p, labels / p.name) for s, p in inner.items()}
    found = {}
    for p in sorted(root.iterdir()) if root.is_dir() else []:
        if p.is_dir() and p.name.lower() in SPLIT_NAMES and SPLIT_NAMES[p.name.lower()] not in found:
            found[SPLIT_NAMES[p.name.lower()]] = p
    if "train" in found:
        return found
    return {"all": root}


def read(where: Path | tuple[Path, Path], root: Path) -> Split:
    if isinstance(where, tuple):
        return _yolo(where[0], where[1], root)
    return read_split(where)
