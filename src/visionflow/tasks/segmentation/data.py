"""A segmentation dataset: each split's images paired with their masks, checked, and what was left out.

Layouts: `DIR/{train,validation,test}/images/` with the masks in `DIR/<split>/masks/` (also
`labels/`, `annotations/`, `SegmentationClass/` ...), or the images in `DIR/<split>/` with the
masks in a sibling `DIR/<split>_labels/` (or `<split>annot/`, `<split>_masks/`), or one folder
`DIR/images/` + `DIR/masks/` split by a seeded draw (near-duplicate photos kept on one side).
A mask belongs to the image with its stem (`a.jpg` - `a.png`; `_mask`, `_L`, `_label`, `_gt`
suffixes of the mask's stem are allowed).

Every image is decoded once (broken files are skipped with the reason, as the classification
scan does) and every mask read once: masks without an image, images without a mask, masks whose
size differs from their image's and unreadable masks are listed and skipped; colours or values
outside the classes are counted and become void. The summary gives each class's share of the
pixels and the number of images it occurs in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visionflow.data.dataset import ImageFolder, make_folder
from visionflow.data.scan import IMAGE_EXTENSIONS, Record, check_records
from visionflow.data.split import image_split
from visionflow.errors import DataError
from visionflow.tasks.segmentation.masks import (
    VOID,
    MaskError,
    Scheme,
    find_scheme_files,
    infer_scheme,
    open_mask,
    to_index,
)

DEFAULT_VAL_SPLIT = 0.2
LISTED = 10  # problems printed in the data summary (data_report.json has them all)
SPLITS = {"train": ("train", "training"), "validation": ("validation", "val", "valid"), "test": ("test", "testing")}
IMAGE_DIRS = ("images", "image", "imgs", "img", "JPEGImages")
MASK_DIRS = ("masks", "mask", "labels", "label", "annotations", "annotation", "annot", "gt", "ground_truth",
             "SegmentationClass")
MASK_SUFFIXES = ("_mask", "-mask", "_masks", "_L", "_label", "_labels", "_gt", "_seg", "_segmentation", "_annotation")
SIBLING_SUFFIXES = ("_labels", "_label", "annot", "_annot", "_masks", "_mask", "_gt")
LAYOUT_HELP = ("DIR/train/images + DIR/train/masks (and validation/, test/), or DIR/images + DIR/masks, with each "
               "mask named as its image (PNG)")


@dataclass
class MaskFolder(ImageFolder):
    """An ImageFolder whose images have masks: `masks[image path] = mask path`, read by `scheme`."""

    masks: dict[str, str] = field(default_factory=dict)
    scheme: Scheme | None = None

    def mask(self, image_path: str) -> np.ndarray:
        return to_index(open_mask(self.masks[image_path]), self.scheme)[0]


def _child(folder: Path, names: tuple[str, ...]) -> Path | None:
    lower = {p.name.lower(): p for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else {}
    return next((lower[n.lower()] for n in names if n.lower() in lower), None)


def _pair_dirs(folder: Path) -> tuple[Path, Path] | None:
    """(images, masks) folders of one split folder, or None."""
    images, masks = _child(folder, IMAGE_DIRS), _child(folder, MASK_DIRS)
    if images is not None and masks is not None:
        return images, masks
    if images is None and masks is not None:  # images loose in the split folder, masks in a subfolder
        return folder, masks
    return None


def find_splits(root: Path) -> dict[str, tuple[Path, Path]]:
    """{split: (images folder, masks folder)}; {"all": ...} for a folder without splits."""
    found: dict[str, tuple[Path, Path]] = {}
    for split, names in SPLITS.items():
        folder = _child(root, names)
        if folder is None:
            continue
        pair = _pair_dirs(folder)
        if pair is None:
            sibling = _child(root, tuple(folder.name + s for s in SIBLING_SUFFIXES))
            pair = (folder, sibling) if sibling is not None else None
        if pair is None:
            raise DataError(f"{folder} holds no masks: expected {folder}/images + {folder}/masks, or the masks in "
                            f"{root}/{folder.name}_labels.")
        found[split] = pair
    if found:
        if "train" not in found:
            raise DataError(f"{root} has {', '.join(found)} but no train/ split.")
        return found
    pair = _pair_dirs(root)
    if pair is None:
        raise DataError(f"No masks found in {root}. Expected {LAYOUT_HELP}.")
    return {"all": pair}


def _files(folder: Path, masks: bool = False) -> dict[str, Path]:
    """{key: path} of the image (or mask) files under `folder`; the key is the stem (with its
    subfolder), a mask's known suffix removed."""
    out: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        key = path.relative_to(folder).with_suffix("").as_posix()
        if masks:
            for suffix in MASK_SUFFIXES:
                if key.endswith(suffix) and len(key) > len(suffix):
                    key = key[: -len(suffix)]
                    break
        out[key] = path
    return out


def _pairs(images_dir: Path, masks_dir: Path, split: str, listed: list[dict], findings: Counter) -> list[tuple[Path, Path]]:
    images = _files(images_dir)
    if images_dir == masks_dir.parent:  # images loose beside the mask folder: skip files inside it
        images = {k: v for k, v in images.items() if masks_dir not in v.parents}
    masks = _files(masks_dir, masks=True)
    for key in sorted(set(masks) - set(images)):
        findings["mask without image"] += 1
        listed.append({"path": str(masks[key]), "reason": "mask without an image of the same name; skipped"})
    for key in sorted(set(images) - set(masks)):
        findings["image without mask"] += 1
        listed.append({"path": str(images[key]), "reason": "image without a mask of the same name; skipped"})
    return [(images[k], masks[k]) for k in sorted(set(images) & set(masks))]


def load_masks(root: str | Path, val_split: float = 0.0, seed: int = 42, scheme: Scheme | None = None,
               split_file: dict | None = None, only: str | None = None) -> MaskFolder:
    """Reads, checks and splits the segmentation dataset at `root`.

    `scheme` fixes how masks are read (a trained model's); `only` reads `root` as one folder of
    images and masks (evaluation). DataError when nothing usable is left."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"Data folder {root} does not exist or is not a folder.")
    places = find_splits(root)
    if only and list(places) != ["all"]:
        raise DataError(f"{root} is split into {', '.join(places)}; give one split folder to evaluate on.")
    listed: list[dict] = []
    findings: Counter = Counter()
    pairs = {split: _pairs(i, m, split, listed, findings) for split, (i, m) in places.items()}
    if scheme is None:
        first = places.get("train", places.get("all"))
        classes_file, colour_file = find_scheme_files(root, first[1].parent, first[1])
        samples = []
        for _, mask in pairs.get("train", pairs.get("all", []))[:200]:
            try:
                samples.append(open_mask(mask))
            except MaskError:
                continue
        scheme = infer_scheme(classes_file, colour_file, samples)
    records: dict[str, list[Record]] = {}
    skipped: list[Record] = []
    masks: dict[str, str] = {}
    stats: dict[str, dict] = {}
    for split, items in pairs.items():
        target = "train" if split == "all" else split
        recs = check_records([Record(path=str(i), label="", split=target) for i, _ in items], None)
        ok = []
        pixels = np.zeros(len(scheme.classes) + 1, np.int64)  # the last: void
        present = np.zeros(len(scheme.classes), np.int64)
        for rec, (_, mask_path) in zip(recs, items):
            if not rec.ok:
                skipped.append(rec)
                continue
            reason = None
            try:
                mask, void = to_index(open_mask(mask_path), scheme)
            except MaskError as exc:
                reason, void = f"{mask_path}: {exc}", 0
                findings["unreadable mask"] += 1
            else:
                if mask.shape != (rec.height, rec.width):
                    reason = (f"its mask {mask_path} is {mask.shape[1]}x{mask.shape[0]}, the image "
                              f"{rec.width}x{rec.height}")
                    findings["mask size differs"] += 1
            if reason:
                rec.status, rec.reason = "skipped", reason
                skipped.append(rec)
                listed.append({"path": rec.path, "reason": reason + "; skipped"})
                continue
            if void:
                findings["pixels outside the classes (void)"] += void
            counts = np.bincount(np.where(mask == VOID, len(scheme.classes), mask).ravel(),
                                 minlength=len(scheme.classes) + 1)
            pixels += counts
            present += counts[:-1] > 0
            rec.labels = tuple(scheme.classes[c] for c in np.flatnonzero(counts[:-1]))
            masks[rec.path] = str(mask_path)
            ok.append(rec)
        records[target] = records.get(target, []) + ok
        stats[target] = {"pixels": pixels, "present": present}
    split_info: dict = {"kind": "folders"}
    if not only and "validation" not in pairs:  # one folder, or train/ (and test/) without validation/
        held, split_info = image_split(records["train"], split_file, val_split or DEFAULT_VAL_SPLIT, seed)
        records.update(held)
        stats.update({name: _stats(recs, masks, scheme) for name, recs in held.items()})
    if only:
        records = {"test": records.pop("train", [])}
        stats = {"test": stats.pop("train")}
        for rec in records["test"]:
            rec.split = "test"
    if not any(records.values()):
        raise DataError(f"No image in {root} has a usable mask ({len(listed)} problem(s); first: "
                        f"{listed[0]['reason'] if listed else 'none'}).")
    layout = {name: f"{i} + {m}" for name, (i, m) in places.items()}
    folder = make_folder(root, layout, list(scheme.classes), records, skipped, split_info)
    out = MaskFolder(classes=folder.classes, splits=folder.splits, skipped=folder.skipped, report=folder.report,
                     masks=masks, scheme=scheme)
    _report(out, stats, findings, listed)
    return out


def _stats(records: list[Record], masks: dict[str, str], scheme: Scheme) -> dict:
    """Pixel counts per class (and void) and images per class, recounted after a split."""
    pixels = np.zeros(len(scheme.classes) + 1, np.int64)
    present = np.zeros(len(scheme.classes), np.int64)
    index = {n: i for i, n in enumerate(scheme.classes)}
    for rec in records:
        for name in rec.labels or ():
            present[index[name]] += 1
    mask_counts = [np.bincount(np.where(m == VOID, len(scheme.classes), m).ravel(), minlength=len(scheme.classes) + 1)
                   for m in (to_index(open_mask(masks[r.path]), scheme)[0] for r in records)]
    if mask_counts:
        pixels = np.sum(mask_counts, axis=0)
    return {"pixels": pixels, "present": present}


def _report(folder: MaskFolder, stats: dict, findings: Counter, listed: list[dict]) -> None:
    scheme = folder.scheme
    details = [f"masks: {scheme.kind} ({len(scheme.classes)} classes from {scheme.source})"]
    for split, recs in folder.splits.items():
        s = stats.get(split)
        if s is None or not recs:
            continue
        total = max(1, int(s["pixels"].sum()))
        share = {name: round(float(s["pixels"][i]) / total, 4) for i, name in enumerate(scheme.classes)}
        images = {name: int(s["present"][i]) for i, name in enumerate(scheme.classes)}
        counts = folder.report["counts"].setdefault(split, {"images": len(recs), "skipped": 0, "classes": {}})
        counts.update({"classes": {}, "images_per_class": images, "pixel_share": share, "void_share": round(float(s["pixels"][-1]) / total, 4)})
        details.append(f"{split:<10} " + ", ".join(f"{n} {share[n]:.1%} ({images[n]} img)" for n in scheme.classes)
                       + (f", void {s['pixels'][-1] / total:.1%}" if s["pixels"][-1] else ""))
    if any(findings.values()):
        details.append("masks: " + ", ".join(f"{v:,} {k}" for k, v in sorted(findings.items()) if v))
    for item in listed[:LISTED]:
        details.append(f"  {item['path']}: {item['reason']}")
    if len(listed) > LISTED:
        details.append(f"  ... and {len(listed) - LISTED} more (data_report.json lists them all)")
    folder.report.update({"task": "segmentation", "scheme": scheme.to_dict(), "findings": dict(findings),
                          "problems": listed, "details": details, "noun": "classes"})


def keep_scheme(paths, folder) -> None:
    """labels.json gets how the masks were read: their kind, classes and colours (those of the
    PNGs predictions are written as)."""
    from visionflow.rundir import read_json, write_json

    meta = read_json(paths.labels)
    if meta.get("scheme") != folder.scheme.to_dict():
        meta["scheme"] = folder.scheme.to_dict()
        write_json(paths.labels, meta)
