"""Folders of images without labels: any pictures, class folders or not, split for training.

Layouts: DIR/train + DIR/validation (or val; test optional), each searched recursively, or DIR
alone, searched recursively, with `val_split` of it held out (10% when not given; near-duplicates
kept on one side). Files are scanned like labelled data (broken ones skipped and listed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from visionflow.data.dataset import ImageFolder, make_folder
from visionflow.data.scan import VALIDATION_DIRS, _list_files, check_records
from visionflow.data.split import stratified_group_split
from visionflow.errors import DataError

DEFAULT_VAL_SPLIT = 0.1
MIN_TRAIN_IMAGES = 2


def load_unlabelled(root: str | Path, patch: int, val_split: float = 0.0, seed: int = 42,
                    split_file: dict | None = None, pair: Callable[[dict], dict] | None = None,
                    partner: str = "", purpose: str = "this task") -> ImageFolder:
    """The usable images of `root` split into train/validation(/test), as an ImageFolder without
    classes. Training and validation images smaller than `patch` pixels are skipped with that reason.

    Args:
        pair: optional; given the scanned records of each split, marks those it cannot use as
            skipped and returns {image path: its partner} (kept as `folder.pairs`).
        partner: what `pair` needs, in words, for the error when too few images are left.
        purpose: what the images are for, in words, for that error ("denoise needs at least 2").
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"Data folder {root} does not exist." if not root.exists() else
                        f"Data folder {root} is a file; give the folder that holds the images.")
    layout: dict[str, Path] = {}
    if (root / "train").is_dir():
        layout["train"] = root / "train"
        val = next((root / d for d in VALIDATION_DIRS if (root / d).is_dir()), None)
        if val is not None and val_split > 0:
            raise DataError(f"{root} already has a validation folder ({val.name}/); drop --val-split or remove that folder.")
        if val is not None:
            layout["validation"] = val
        if (root / "test").is_dir():
            layout["test"] = root / "test"
    else:
        layout["train"] = root
    scanned = {split: check_records(_list_files(folder, "", split), None) for split, folder in layout.items()}
    for split in ("train", "validation"):
        for rec in scanned.get(split, []):
            if rec.ok and min(rec.width, rec.height) < patch:
                rec.status, rec.reason = "skipped", f"smaller than the {patch}-pixel training patch"
    mapping: dict[str, str] = pair(scanned) if pair else {}
    usable = {s: [r for r in recs if r.ok] for s, recs in scanned.items()}
    skipped = [r for recs in scanned.values() for r in recs if not r.ok]
    split_info: dict = {"kind": "split" if "validation" in layout else "images"}
    if "validation" not in layout:
        fraction = val_split or DEFAULT_VAL_SPLIT
        if split_file:
            keep = set(split_file.get("validation", []))
            val_recs = [r for r in usable["train"] if r.path in keep]
            train = [r for r in usable["train"] if r.path not in keep]
            grouped = split_file.get("duplicates_grouped", 0)
        elif len(usable["train"]) >= MIN_TRAIN_IMAGES + 1:
            train, val_recs, grouped = stratified_group_split(usable["train"], fraction, seed)
        else:
            train, val_recs, grouped = usable["train"], [], 0
        for r in val_recs:
            r.split = "validation"
        usable["train"], usable["validation"] = train, val_recs
        split_info.update(val_split=fraction, seed=seed, strategy="random, near-duplicates grouped",
                          duplicates_grouped=grouped)
    if len(usable["train"]) < MIN_TRAIN_IMAGES:
        what = f" {partner}" if partner else ""
        raise DataError(f"{layout['train']} has {len(usable['train'])} usable training image(s) of at least "
                        f"{patch}x{patch} pixels{what}; {purpose} needs at least {MIN_TRAIN_IMAGES} (any photos: "
                        f"class folders are ignored){' — see the skipped files above' if skipped else ''}.")
    if not usable.get("validation"):
        raise DataError(f"No usable validation images in {root}: add DIR/validation/ or more images for --val-split.")
    folder = make_folder(root, {s: str(p) for s, p in layout.items()}, [], usable, skipped, split_info)
    folder.report["noun"] = "images"
    folder.pairs = mapping
    folder.report["validation_files"] = (
        [r.path for r in usable["validation"]] if split_info["kind"] == "images" else None)
    return folder
