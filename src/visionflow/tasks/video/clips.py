"""Clip data for `--task video`: folders of labelled clips, and a fixed number of frames per clip.

Layouts as for images: DIR/train/<class>/*.mp4 + DIR/validation/<class>/ (or val/, test/
optional), or DIR/<class>/ with `--val-split`. Every file is opened once by the scan: files that
are not videos, hold no video stream or no decodable frame are skipped and listed with the
reason, like broken images.
Each clip is read as `frames` frames by `visionflow.video.frames`.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from visionflow.data.dataset import ImageFolder, make_folder
from visionflow.data.scan import JUNK_NAMES, Record, find_layout
from visionflow.errors import DataError
from visionflow.video.reader import VIDEO_EXTENSIONS, VideoError, VideoReader

MIN_CLIPS_PER_CLASS = 2


def load_clip_folder(root: str | Path, val_split: float = 0.0, seed: int = 42,
                     split_file: dict | None = None) -> ImageFolder:
    """The usable clips of `root`, split into train/validation(/test), with classes from the
    training folder's class folders.

    Raises:
        DataError: no clips, a missing validation set, or a class with too few usable clips.
    """
    layout = find_layout(root, val_split)
    scanned: dict[str, list[Record]] = {}
    classes: list[str] | None = None
    for split, folder in layout.splits.items():
        records = _list_clips(Path(folder), split, classes)
        if split == "train":
            classes = sorted({r.label for r in records if r.ok})
        scanned[split] = records
    with ThreadPoolExecutor(2) as pool:
        for records in scanned.values():
            list(pool.map(_check_clip, records))
    classes = classes or []
    usable = {s: [r for r in recs if r.ok] for s, recs in scanned.items()}
    if not usable["train"]:
        bad = sum(not r.ok for r in scanned["train"])
        extra = f" ({bad} file(s) were skipped: see the list above)" if bad else ""
        raise DataError(f"No usable video clips found in {layout.splits['train']}{extra}; expected "
                        f"<class>/*.mp4 (or .mov, .mkv, .avi, .webm, ...).")
    counts = {c: sum(r.label == c for r in usable["train"]) for c in classes}
    few = [c for c, n in counts.items() if n < MIN_CLIPS_PER_CLASS]
    if few:
        raise DataError(f"Class folder {layout.splits['train'] / few[0]} has {counts[few[0]]} usable clip(s); each class "
                        f"needs at least {MIN_CLIPS_PER_CLASS}. Add clips or remove the folder.")
    if len(classes) < 2:
        raise DataError(f"Only one class ({classes[0]}) found in {layout.splits['train']}; a classifier needs at least "
                        f"two class folders.")
    split_info: dict = {"kind": layout.kind}
    if layout.kind == "classes":
        if split_file:
            keep = set(split_file.get("validation", []))
        else:
            keep = _stratified(usable["train"], val_split, seed)
        usable["validation"] = [r for r in usable["train"] if r.path in keep]
        usable["train"] = [r for r in usable["train"] if r.path not in keep]
        for r in usable["validation"]:
            r.split = "validation"
        split_info.update(val_split=val_split, seed=seed, strategy="stratified by class")
    skipped = [r for recs in scanned.values() for r in recs if not r.ok]
    folder = make_folder(root, {s: str(p) for s, p in layout.splits.items()}, classes, usable, skipped, split_info)
    folder.report["unit"] = "clips"
    folder.report["validation_files"] = [r.path for r in usable.get("validation", [])] if layout.kind == "classes" else None
    return folder


def _stratified(records: list[Record], fraction: float, seed: int) -> set[str]:
    """Paths held out for validation: `fraction` of each class (at least one clip per class)."""
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    by_class: dict[str, list[Record]] = {}
    for r in records:
        by_class.setdefault(r.label, []).append(r)
    for label in sorted(by_class):
        group = sorted(by_class[label], key=lambda r: r.path)
        n = min(len(group) - 1, max(1, round(len(group) * fraction)))
        for i in rng.permutation(len(group))[:n]:
            held.add(group[i].path)
    return held


def _list_clips(folder: Path, split: str, classes: list[str] | None) -> list[Record]:
    """A Record per file under `folder`/<class>/ (searched recursively)."""
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder.")
    records = []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if classes is not None and class_dir.name not in classes:
            raise DataError(f"{class_dir} is a class the training folder does not have ({', '.join(classes)}).")
        for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                rec = Record(path=os.path.join(dirpath, name), label=class_dir.name, split=split, format="video")
                if name in JUNK_NAMES or name.startswith("."):
                    rec.status, rec.reason = "skipped", "hidden or system file"
                elif not name.lower().endswith(VIDEO_EXTENSIONS):
                    rec.status, rec.reason = "skipped", "not a video file extension"
                records.append(rec)
    return records


def _check_clip(rec: Record) -> Record:
    """Opens the clip (size, frame count) and digests its bytes; a clip that cannot be read is skipped."""
    if not rec.ok:
        return rec
    try:
        with VideoReader(rec.path) as video:
            rec.width, rec.height = video.info.width, video.info.height
            rec.mode = video.info.pixel_format or ""
        digest = hashlib.blake2b(digest_size=16)
        with open(rec.path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        rec.digest = digest.hexdigest()
    except (VideoError, OSError) as exc:
        rec.status, rec.reason = "skipped", str(exc).split(": ", 1)[-1]
    return rec
