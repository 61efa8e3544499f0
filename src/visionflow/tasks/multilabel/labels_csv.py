"""Multi-label data: a folder of images and a CSV naming each image's labels.

The CSV has the header `image,labels`: `image` is a path relative to the folder the CSV
describes (a name without extension also finds name.jpg, .png, ...), `labels` the image's labels
separated by spaces (Kaggle's "Planet" convention); an empty field means no label. Layouts:
DIR/labels.csv (or `--labels FILE`) with `--val-split`, or DIR/train, DIR/validation (or val) and
optionally DIR/test, each with its own labels.csv.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from visionflow.data.dataset import MIN_PER_CLASS, ImageFolder, make_folder
from visionflow.data.decode import IMAGE_EXTENSIONS
from visionflow.data.scan import VALIDATION_DIRS, Record, check_records
from visionflow.errors import DataError

LABELS_FILE = "labels.csv"
COLUMNS = ("image", "labels")


def read_labels_csv(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(image, labels) per data row of a labels CSV, in file order.

    Raises:
        DataError: a missing or unreadable file, another header, or no rows.
    """
    if not path.is_file():
        raise DataError(f"No labels file at {path}; a multi-label folder needs a CSV with the header "
                        f"'image,labels' (labels separated by spaces), or pass --labels FILE.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows = [row for row in reader if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"Cannot read {path}: {exc}.") from None
    if header is None:
        raise DataError(f"{path} is empty; it needs the header 'image,labels' and one row per image.")
    columns = [c.strip().lower() for c in header]
    if columns != list(COLUMNS):
        unknown = [c for c in header if c.strip().lower() not in COLUMNS]
        what = f"unknown column(s) {', '.join(repr(c) for c in unknown)}" if unknown else f"columns {header}"
        raise DataError(f"{path} has {what}; the header must be exactly 'image,labels' "
                        f"(labels separated by spaces).")
    if not rows:
        raise DataError(f"{path} lists no images; add one row per image: image,labels.")
    out = []
    for number, row in enumerate(rows, start=2):
        if len(row) != 2:
            raise DataError(f"{path}, row {number}: expected 2 fields (image,labels), found {len(row)}: {row!r}.")
        out.append((row[0].strip(), tuple(dict.fromkeys(row[1].split()))))
    return out


def _find(root: Path, name: str) -> Path | None:
    path = root / name
    if path.is_file():
        return path
    if not Path(name).suffix:
        for ext in IMAGE_EXTENSIONS:
            for candidate in (root / f"{name}{ext}", root / f"{name}{ext.upper()}"):
                if candidate.is_file():
                    return candidate
    return None


def csv_records(root: Path, csv_path: Path, split: str) -> list[Record]:
    """A Record per CSV row (not yet decoded); rows naming a missing file or one already listed are
    skipped records with the reason."""
    records, seen = [], set()
    for name, labels in read_labels_csv(csv_path):
        found = _find(root, name)
        if found is None:
            records.append(Record(path=str(root / name), label=" ".join(labels), split=split, status="skipped",
                                  reason=f"listed in {csv_path.name} but not found", labels=labels))
            continue
        key = os.path.normcase(os.path.abspath(found))
        rec = Record(path=str(found), label=" ".join(labels), split=split, labels=labels)
        if key in seen:
            rec.status, rec.reason = "skipped", f"listed twice in {csv_path.name}"
        elif not found.name.lower().endswith(IMAGE_EXTENSIONS):
            rec.status, rec.reason = "skipped", "not an image file extension"
        seen.add(key)
        records.append(rec)
    return records


def _layout(root: Path, val_split: float, labels: str | Path | None) -> tuple[str, dict[str, tuple[Path, Path]]]:
    """("split" or "classes", {split: (image folder, labels CSV)})."""
    if not root.is_dir():
        raise DataError(f"Data folder {root} does not exist." if not root.exists() else
                        f"Data folder {root} is a file; give the folder of images that holds {LABELS_FILE}.")
    train = root / "train"
    if (train / LABELS_FILE).is_file():
        if labels:
            raise DataError(f"{root} has train/ and validation/ folders with their own {LABELS_FILE}; --labels "
                            f"names the CSV of a single folder.")
        val = next((root / d for d in VALIDATION_DIRS if (root / d / LABELS_FILE).is_file()), None)
        if val is not None and val_split > 0:
            raise DataError(f"{root} already has a validation folder ({val.name}/); drop --val-split or remove it.")
        if val is None and val_split == 0:
            raise DataError(f"{root} has train/{LABELS_FILE} but no validation/{LABELS_FILE}: add one, or pass "
                            f"--val-split 0.2 to hold out 20% of train/.")
        splits = {"train": (train, train / LABELS_FILE)}
        if val is not None:
            splits["validation"] = (val, val / LABELS_FILE)
        if (root / "test" / LABELS_FILE).is_file():
            splits["test"] = (root / "test", root / "test" / LABELS_FILE)
        return ("split" if val is not None else "classes"), splits
    csv_path = Path(labels) if labels else root / LABELS_FILE
    if val_split == 0:
        read_labels_csv(csv_path)  # a missing or malformed file is the first thing to say
        raise DataError(f"{root} has no validation set: pass --val-split 0.2 to hold out 20% of the images, or add "
                        f"{root}/train/ and {root}/validation/ with their own {LABELS_FILE}.")
    return "classes", {"train": (root, csv_path)}


def label_matrix(records: list[Record], classes: list[str]) -> np.ndarray:
    """(n, len(classes)) 0/1: which labels each record has (labels outside `classes` are ignored)."""
    index = {c: i for i, c in enumerate(classes)}
    y = np.zeros((len(records), len(classes)), np.float32)
    for row, rec in enumerate(records):
        for label in rec.labels or ():
            if label in index:
                y[row, index[label]] = 1.0
    return y


def multilabel_split(records: list[Record], fraction: float, seed: int) -> tuple[list[Record], list[Record], int]:
    """(train, validation, images in duplicate groups): iterative stratification (Sechidis et al.,
    2011, via `iterative-stratification`) over groups of near-duplicate images, so that rare labels
    land on both sides and copies of one picture on one side only."""
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    from visionflow.data.split import record_groups

    groups = record_groups(records)
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    keys = sorted(members)
    grouped = sum(len(m) for m in members.values() if len(m) > 1)
    classes = sorted({label for r in records for label in r.labels or ()})
    per_record = label_matrix(records, classes)
    y = np.stack([per_record[members[k]].max(axis=0) for k in keys]) if classes else np.zeros((len(keys), 1))
    if len(keys) < 2:
        raise DataError("Too few distinct images to hold out a validation set; add images.")
    test = min(max(fraction, 1.0 / len(keys)), (len(keys) - 1) / len(keys))
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=test, random_state=seed)
    _, val_groups = next(splitter.split(np.zeros((len(keys), 1)), y))
    val_idx = sorted(i for g in val_groups for i in members[keys[g]])
    taken = set(val_idx)
    train = [r for i, r in enumerate(records) if i not in taken]
    val = [records[i] for i in val_idx]
    for r in val:
        r.split = "validation"
    return train, val, grouped


def load_multilabel(root: str | Path, image_size: tuple[int, int], val_split: float = 0.0, seed: int = 42,
                    labels: str | Path | None = None, split_file: dict | None = None) -> ImageFolder:
    """Scans a multi-label folder (module docstring), splits it if asked, and checks every label
    has enough usable training images.

    Raises:
        DataError: a missing or malformed CSV, no usable images, a label with too few training
            images, or validation/test labels the training set lacks.
    """
    root = Path(root)
    kind, layout = _layout(root, val_split, labels)
    scanned = {split: check_records(csv_records(folder, csv_path, split), image_size)
               for split, (folder, csv_path) in layout.items()}
    usable = {s: [r for r in recs if r.ok] for s, recs in scanned.items()}
    if not usable["train"]:
        raise DataError(f"No usable images listed in {layout['train'][1]} ({len(scanned['train'])} row(s), all "
                        f"skipped: see the list above).")
    classes = sorted({label for r in usable["train"] for label in r.labels or ()})
    if not classes:
        raise DataError(f"{layout['train'][1]} gives no image any label; a multi-label model needs labels to learn.")
    split_info: dict = {"kind": kind}
    if kind == "classes":
        if split_file:
            keep = set(split_file.get("validation", []))
            val = [r for r in usable["train"] if r.path in keep]
            usable["train"] = [r for r in usable["train"] if r.path not in keep]
            for r in val:
                r.split = "validation"
            grouped = split_file.get("duplicates_grouped", 0)
        else:
            usable["train"], val, grouped = multilabel_split(usable["train"], val_split, seed)
        usable["validation"] = val
        split_info.update(val_split=val_split, seed=seed, duplicates_grouped=grouped,
                          strategy="iterative stratification (multi-label), near-duplicates grouped")
    counts = label_matrix(usable["train"], classes).sum(axis=0)
    few = [(c, int(n)) for c, n in zip(classes, counts) if n < MIN_PER_CLASS]
    if few:
        c, n = few[0]
        raise DataError(f"Label '{c}' has {n} usable training image(s); each label needs at least {MIN_PER_CLASS}. "
                        f"Label more images with it, or remove it from {layout['train'][1].name}.")
    for split in ("validation", "test"):
        unknown = sorted({label for r in usable.get(split, []) for label in r.labels or ()} - set(classes))
        if unknown:
            raise DataError(f"The {split} images have label(s) the training images lack: {', '.join(unknown)}; "
                            f"a model cannot learn them.")
    skipped = [r for recs in scanned.values() for r in recs if not r.ok]
    folder = make_folder(root, {s: str(f) for s, (f, _) in layout.items()}, classes, usable, skipped, split_info)
    folder.report["labels_files"] = {s: str(c) for s, (_, c) in layout.items()}
    folder.report["noun"] = "labels"
    folder.report["validation_files"] = [r.path for r in usable.get("validation", [])] if kind == "classes" else None
    return folder
