"""Multi-label data: a folder of images and a CSV naming each image's labels.

The CSV (`visionflow.data.labels_csv`) has the columns `image,labels` and any others (read as
`--columns`): `image` is a path relative to the folder the CSV describes (a name without extension
also finds name.jpg, .png, ...), `labels` the image's labels separated by spaces (Kaggle's "Planet"
convention); an empty field means no label. Layouts:
DIR/labels.csv (or `--labels FILE`) with `--val-split`, or DIR/train, DIR/validation (or val) and
optionally DIR/test, each with its own labels.csv.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from visionflow.data.dataset import MIN_PER_CLASS, ImageFolder, make_folder
from visionflow.data.labels_csv import LABELS_FILE, csv_layout, csv_records, read_table
from visionflow.data.scan import Record, check_records
from visionflow.errors import DataError

__all__ = ["LABELS_FILE", "csv_records", "label_matrix", "load_multilabel", "multilabel_split", "read_labels_csv"]


def read_labels_csv(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(image, labels) per data row of a labels CSV, in file order (`visionflow.data.labels_csv`).

    Raises:
        DataError: a missing or unreadable file, no image or labels column, or no rows.
    """
    return [(row.image, row.labels) for row in read_table(path, "labels").rows]


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
    kind, layout = csv_layout(root, val_split, labels)
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
    folder.report["table_columns"] = read_table(layout["train"][1], "labels").extra
    folder.report["noun"] = "labels"
    folder.report["validation_files"] = [r.path for r in usable.get("validation", [])] if kind == "classes" else None
    return folder
