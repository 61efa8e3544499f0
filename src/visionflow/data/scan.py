"""Scan an image folder into a manifest before anything is trained.

Every file under the class folders is opened and fully decoded once (in a thread pool), so broken
files are found here, skipped, and listed with a reason, instead of stopping training later.
Source files are only ever read.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from visionflow.data.decode import IMAGE_EXTENSIONS, DecodeError, decode, dhash, probe, thumb
from visionflow.errors import DataError

VALIDATION_DIRS = ("validation", "val")
JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


@dataclass
class Record:
    """One file found by the scan."""

    path: str
    label: str
    split: str
    status: str = "ok"  # "ok" or "skipped"
    reason: str = ""
    format: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""  # Pillow mode as stored: RGB, L, RGBA, P, CMYK, I;16, ...
    hash: int = field(default=0, repr=False)  # 64-bit difference hash of the picture
    digest: str = field(default="", repr=False)  # BLAKE2b of the file's bytes
    thumb: bytes = field(default=b"", repr=False)  # 8x8 RGB thumbnail, to confirm near-duplicates
    labels: tuple[str, ...] | None = None  # multi-label data: every label of the image (`label` joins them)
    values: dict[str, str] | None = field(default=None, repr=False)  # a labels CSV's other columns, as written

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class Layout:
    """Where each split's class folders are."""

    root: Path
    kind: str  # "split" (DIR/train + DIR/validation) or "classes" (DIR/<class>/)
    splits: dict[str, Path]


def find_layout(root: str | Path, val_split: float) -> Layout:
    """Works out the folder layout, or raises DataError saying what to change."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"Data folder {root} does not exist.")
    if not root.is_dir():
        raise DataError(f"Data folder {root} is a file; give the folder that holds the class folders.")
    train = root / "train"
    if train.is_dir():
        splits = {"train": train}
        val = next((root / d for d in VALIDATION_DIRS if (root / d).is_dir()), None)
        if val is not None and val_split > 0:
            raise DataError(
                f"{root} already has a validation folder ({val.name}/); drop --val-split or remove that folder.")
        if val is None and val_split == 0:
            raise DataError(
                f"{root} has train/ but no validation/ or val/ folder: add one, or pass --val-split 0.2 "
                f"to hold out 20% of train/.")
        if val is not None:
            splits["validation"] = val
        if (root / "test").is_dir():
            splits["test"] = root / "test"
        return Layout(root, "split", splits)
    if val_split == 0:
        if not _class_dirs(root):
            raise DataError(
                f"No class folders in {root}: expected {root}/train/<class>/ and {root}/validation/<class>/, "
                f"or {root}/<class>/ with --val-split.")
        raise DataError(
            f"{root} has class folders but no validation set: pass --val-split 0.2 to hold out 20% of each "
            f"class, or add {root}/train/ and {root}/validation/.")
    return Layout(root, "classes", {"train": root})


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _list_files(folder: Path, label: str, split: str) -> list[Record]:
    records = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rec = Record(path=path, label=label, split=split)
            if name in JUNK_NAMES or name.startswith("._"):
                rec.status, rec.reason = "skipped", "system file"
            elif name.startswith("."):
                rec.status, rec.reason = "skipped", "hidden file"
            elif not name.lower().endswith(IMAGE_EXTENSIONS):
                rec.status, rec.reason = "skipped", "not an image file extension"
            records.append(rec)
    return records


def _check(rec: Record, size: tuple[int, int] | None) -> Record:
    if not rec.ok:
        return rec
    try:
        with open(rec.path, "rb") as fh:
            data = fh.read()  # read once: hashed, probed and decoded from memory
    except OSError as exc:
        rec.status, rec.reason = "skipped", f"cannot read file: {exc.strerror or exc}"
        return rec
    try:
        rec.digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        rec.format, rec.width, rec.height, rec.mode = probe(data)
        pixels = decode(data, size=size or (64, 64))
        rec.hash, rec.thumb = dhash(pixels), thumb(pixels)
    except DecodeError as exc:
        rec.status, rec.reason = "skipped", exc.reason
    return rec


def scan_split(folder: Path, split: str, size: tuple[int, int] | None, classes: list[str] | None = None,
               workers: int | None = None) -> list[Record]:
    """Scans DIR/<class>/** into records, decoding each image to find broken ones.

    Files sitting directly in `folder` (outside any class folder) are reported as skipped.
    """
    records: list[Record] = []
    for entry in sorted(folder.iterdir()):
        if entry.is_file():
            records.append(Record(path=str(entry), label="", split=split, status="skipped",
                                  reason="not inside a class folder"))
    for class_dir in _class_dirs(folder):
        if classes is not None and class_dir.name not in classes:
            raise DataError(
                f"{class_dir} is not one of the model's classes ({', '.join(classes)}); point at a folder "
                f"whose subfolders are those classes.")
        records.extend(_list_files(class_dir, class_dir.name, split))
    return check_records(records, size, workers)


def check_records(records: list[Record], size: tuple[int, int] | None, workers: int | None = None) -> list[Record]:
    """Opens and decodes every record not already skipped, in a thread pool, marking broken ones."""
    workers = workers or min(8, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda r: _check(r, size), records))


def summarize(records: list[Record]) -> dict:
    """Counts per split and class, and the list of skipped files with reasons."""
    splits: dict[str, dict] = {}
    for rec in records:
        s = splits.setdefault(rec.split, {"images": 0, "skipped": 0, "classes": {}})
        if rec.ok:
            s["images"] += 1
            for label in (rec.label,) if rec.labels is None else rec.labels:
                s["classes"][label] = s["classes"].get(label, 0) + 1
        else:
            s["skipped"] += 1
    skipped = [{"path": r.path, "split": r.split, "reason": r.reason} for r in records if not r.ok]
    return {"splits": splits, "skipped": skipped}


def record_to_dict(rec: Record) -> dict:
    out = asdict(rec)
    for key in ("hash", "digest", "thumb", "labels", "values"):
        out.pop(key)
    return out
