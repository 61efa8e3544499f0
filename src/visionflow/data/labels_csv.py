"""Labels in a CSV beside the images: one row per image, its label(s), and any further columns.

The header names an `image` column (a path relative to the folder the CSV describes; a name
without extension also finds name.jpg, .png, ...) and the target column: `label` (one class per
image) or `labels` (any labels, separated by spaces; Kaggle's "Planet" convention). Every other
column is kept as it was written (`Record.values`): `--columns` feeds them to a model beside the
image (`visionflow.tabular`). Layouts: DIR/labels.csv (or `--labels FILE`) with `--val-split`, or
DIR/train, DIR/validation (or val) and optionally DIR/test, each with its own labels.csv.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from visionflow.data.decode import IMAGE_EXTENSIONS
from visionflow.data.scan import VALIDATION_DIRS, Record
from visionflow.errors import DataError

LABELS_FILE = "labels.csv"
IMAGE = "image"
TARGETS = {"label": "one class per image", "labels": "labels separated by spaces"}


@dataclass
class Row:
    """One data row: the image named, its label(s), and the other columns as written."""

    image: str
    labels: tuple[str, ...]
    values: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass
class Table:
    """A labels CSV as read: its header (as written) and rows."""

    path: Path
    header: list[str]
    rows: list[Row]

    @property
    def extra(self) -> list[str]:
        """The columns beside the image and target ones."""
        return [h for h in self.header if _key(h) not in (IMAGE, *TARGETS)]


def _key(name: str) -> str:
    return name.strip().lower()


def read_header(path: Path) -> list[str] | None:
    """The header of a CSV file, or None when it is missing or unreadable."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return [h.strip() for h in next(csv.reader(fh), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def read_table(path: Path, target: str | None = "labels") -> Table:
    """The rows of a labels CSV whose target column is `target` ("label", "labels", or None for a
    table of images and columns only, as prediction reads).

    Raises:
        DataError: a missing or unreadable file, no image or target column, a repeated column
            name, a row of the wrong length, or no rows; each in one sentence.
    """
    shape = f"'image,{target}'" if target else "'image'"
    if not path.is_file():
        raise DataError(f"No labels file at {path}; give a CSV with the header {shape} (and any further columns), "
                        f"or pass --labels FILE.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"Cannot read {path}: {exc}.") from None
    if header is None:
        raise DataError(f"{path} is empty; it needs the header {shape} and one row per image.")
    header = [h.strip() for h in header]
    keys = [_key(h) for h in header]
    for needed in (IMAGE, target):
        if needed and needed not in keys:
            others = [h for h in header if _key(h) not in (IMAGE, *TARGETS)]
            found = f" (it has {', '.join(repr(h) for h in header)})" if header else ""
            raise DataError(f"{path} has no {needed!r} column{found}; the header needs {shape}"
                            + (f" ({TARGETS[target]})" if target else "")
                            + (f", and the unknown column(s) {', '.join(repr(o) for o in others)} are only read as "
                               f"--columns" if others and needed != IMAGE else "") + ".")
    repeated = sorted({h for h in keys if keys.count(h) > 1})
    if repeated:
        raise DataError(f"{path} names the column {repeated[0]!r} twice; give each column one name.")
    if not rows:
        raise DataError(f"{path} lists no images; add one row per image.")
    image_at, target_at = keys.index(IMAGE), (keys.index(target) if target else None)
    out = []
    for line, row in rows:
        if len(row) != len(header):
            raise DataError(f"{path}, row {line}: expected {len(header)} fields ({','.join(header)}), found "
                            f"{len(row)}: {row!r}.")
        labels = tuple(dict.fromkeys(row[target_at].split())) if target_at is not None else ()
        values = {h: row[i].strip() for i, h in enumerate(header) if i not in (image_at, target_at)}
        out.append(Row(row[image_at].strip(), labels, values, line))
    return Table(path, header, out)


def find_image(root: Path, name: str) -> Path | None:
    """The file `name` under `root`; a name without extension also finds name.jpg, .png, ..."""
    path = root / name
    if path.is_file():
        return path
    if not Path(name).suffix:
        for ext in IMAGE_EXTENSIONS:
            for candidate in (root / f"{name}{ext}", root / f"{name}{ext.upper()}"):
                if candidate.is_file():
                    return candidate
    return None


def csv_records(root: Path, csv_path: Path, split: str, target: str = "labels") -> list[Record]:
    """A Record per CSV row (not yet decoded); rows naming a missing file or one already listed are
    skipped records with the reason. A `label` table gives each record its one label (a row
    without one, or with several, is skipped and says so)."""
    table = read_table(csv_path, target)
    records, seen = [], set()
    for row in table.rows:
        joined = " ".join(row.labels)
        found = find_image(root, row.image)
        rec = Record(path=str(found or root / row.image), label=joined, split=split,
                     labels=row.labels if target == "labels" else None, values=row.values)
        key = os.path.normcase(os.path.abspath(found)) if found else None
        if found is None:
            rec.status, rec.reason = "skipped", f"listed in {csv_path.name} but not found"
        elif key in seen:
            rec.status, rec.reason = "skipped", f"listed twice in {csv_path.name}"
        elif not found.name.lower().endswith(IMAGE_EXTENSIONS):
            rec.status, rec.reason = "skipped", "not an image file extension"
        elif target == "label" and len(row.labels) != 1:
            rec.status, rec.reason = "skipped", (f"row {row.line} of {csv_path.name} has no label" if not row.labels
                                                 else f"row {row.line} of {csv_path.name} has several labels")
        seen.add(key)
        records.append(rec)
    return records


def csv_layout(root: Path, val_split: float, labels: str | Path | None) -> tuple[str, dict[str, tuple[Path, Path]]]:
    """("split" or "classes", {split: (image folder, labels CSV)}) of a folder described by CSVs."""
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
        read_table(csv_path, None)  # a missing or malformed file is the first thing to say
        raise DataError(f"{root} has no validation set: pass --val-split 0.2 to hold out 20% of the images, or add "
                        f"{root}/train/ and {root}/validation/ with their own {LABELS_FILE}.")
    return "classes", {"train": (root, csv_path)}


def has_label_table(root: Path, labels: str | Path | None) -> bool:
    """Whether a classification folder is described by a CSV with a `label` column (DIR/labels.csv,
    DIR/train/labels.csv or --labels) rather than by class folders."""
    candidates = [Path(labels)] if labels else [root / LABELS_FILE, root / "train" / LABELS_FILE]
    for path in candidates:
        header = read_header(path) if path.is_file() else None
        if header is not None and "label" in [_key(h) for h in header]:
            return True
    return bool(labels)
