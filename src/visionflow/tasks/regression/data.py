"""Regression data: images and the numbers to predict from them.

Two layouts:
- a labels CSV (`visionflow.data.labels_csv`: DIR/labels.csv with `--val-split`, or train/ and
  validation/ each with its own) with an `image` column and numeric target columns: `--targets
  angle,speed`, or by default every column of numbers (at least 80% of its filled cells);
- class folders whose names are numbers (DIR/18/, DIR/25.5/, ...; or under train/ and
  validation/): the folder's number is the target, named `value`.

Rows whose target is missing or not a finite number are skipped and listed. A held-out split is
random over near-duplicate groups, stratified by quantile bins of the first target, so the
validation images cover the whole range.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from visionflow.data.dataset import ImageFolder, make_folder
from visionflow.data.labels_csv import LABELS_FILE, csv_layout, csv_records, read_table
from visionflow.data.scan import Record, check_records, find_layout, scan_split
from visionflow.data.split import stratified_group_split
from visionflow.errors import DataError

FOLDER_TARGET = "value"  # the target's name when class-folder names are the numbers
MIN_TRAIN_IMAGES = 4
NUMERIC_SHARE = 0.8  # a column is a target by default when this share of its filled cells are numbers
BINS = 5  # quantile bins of the first target the held-out split is stratified by


def number(text: str) -> float | None:
    """`text` as a finite float, or None."""
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def numeric_columns(rows, columns: list[str]) -> list[str]:
    """The columns of numbers: at least NUMERIC_SHARE of their filled cells are numbers (the rest,
    typos, are skipped rows), with at least two distinct values."""
    out = []
    for c in columns:
        filled = [v for v in (row.values.get(c, "").strip() for row in rows) if v]
        parsed = [p for p in map(number, filled) if p is not None]
        if filled and len(parsed) >= NUMERIC_SHARE * len(filled) and len(set(parsed)) > 1:
            out.append(c)
    return out


def choose_targets(csv_path: Path, given: str) -> list[str]:
    """The target columns of a labels CSV: `given` (comma-separated names, checked) or every
    numeric column."""
    table = read_table(csv_path, None)
    columns = [h for h in table.header if h.strip().lower() != "image"]
    by_key = {c.lower(): c for c in columns}
    if given:
        names = [n.strip() for n in given.split(",") if n.strip()]
        missing = [n for n in names if n.lower() not in by_key]
        if missing:
            raise DataError(f"--targets {missing[0]!r} is not a column of {csv_path} (its columns: "
                            f"{', '.join(columns) or 'none besides image'}).")
        chosen = [by_key[n.lower()] for n in names]
        if len(set(chosen)) != len(chosen):
            raise DataError(f"--targets names a column twice: {given}.")
        return chosen
    found = numeric_columns(table.rows, columns)
    if not found:
        raise DataError(f"{csv_path} has no numeric column to predict (its columns: {', '.join(columns) or 'none'}); "
                        f"add one (e.g. image,angle) or name it with --targets.")
    return found


def mark_targets(records: list[Record], targets: list[str]) -> list[Record]:
    """Records whose target values are missing or not numbers marked skipped, saying which."""
    for rec in records:
        if not rec.ok:
            continue
        for t in targets:
            raw = (rec.values or {}).get(t, "")
            if not raw.strip():
                rec.status, rec.reason = "skipped", f"no {t!r} value"
                break
            if number(raw) is None:
                rec.status, rec.reason = "skipped", f"{t!r} is {raw.strip()!r}, not a number"
                break
    return records


def values(records: list[Record], targets: list[str]) -> np.ndarray:
    """(n, len(targets)) float64: each record's target values."""
    return np.array([[number((r.values or {})[t]) for t in targets] for r in records], np.float64).reshape(
        len(records), len(targets))


def _folder_records(root: Path, val_split: float, image_size) -> tuple[str, dict[str, Path], dict[str, list[Record]]]:
    layout = find_layout(root, val_split)
    scanned = {}
    for split, folder in layout.splits.items():
        recs = scan_split(folder, split, image_size)
        for rec in recs:
            if rec.label and number(rec.label) is None:
                raise DataError(f"Class folder {folder / rec.label} is not a number; a regression folder's "
                                f"subfolders are the values (e.g. 18/, 25.5/), or give {root}/{LABELS_FILE} with "
                                f"an image column and numeric columns.")
            rec.values = {FOLDER_TARGET: rec.label}
        scanned[split] = recs
    return layout.kind, dict(layout.splits), scanned


def load_regression(root: str | Path, image_size: tuple[int, int], val_split: float = 0.0, seed: int = 42,
                    labels: str | Path | None = None, targets: str = "", split_file: dict | None = None) -> ImageFolder:
    """Scans a regression folder (module docstring), splits it if asked, and checks there is
    enough to learn from; the folder's `classes` are the target names.

    Raises:
        DataError: a missing or malformed CSV, no numeric target, too few usable images, or a
            target that does not vary.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"Data folder {root} does not exist." if not root.exists() else
                        f"Data folder {root} is a file; give the folder of images that holds {LABELS_FILE}.")
    has_csv = bool(labels) or (root / LABELS_FILE).is_file() or (root / "train" / LABELS_FILE).is_file()
    if has_csv:
        kind, layout = csv_layout(root, val_split, labels)
        names = choose_targets(layout["train"][1], targets)
        scanned = {split: mark_targets(check_records(csv_records(folder, csv_path, split, target=None), image_size),
                                       names) for split, (folder, csv_path) in layout.items()}
        folders = {s: f for s, (f, _) in layout.items()}
    else:
        if targets and [t.strip() for t in targets.split(",")] != [FOLDER_TARGET]:
            raise DataError(f"--targets names columns of a labels CSV, and {root} has no {LABELS_FILE}; with number "
                            f"folders the one target is {FOLDER_TARGET!r}.")
        kind, folders, scanned = _folder_records(root, val_split, image_size)
        names = [FOLDER_TARGET]
    usable = {s: [r for r in recs if r.ok] for s, recs in scanned.items()}
    if len(usable["train"]) < MIN_TRAIN_IMAGES:
        raise DataError(f"{folders['train']} has {len(usable['train'])} usable training image(s) with numeric "
                        f"{', '.join(names)}; regression needs at least {MIN_TRAIN_IMAGES}"
                        f"{' (see the skipped files above)' if any(not r.ok for r in scanned['train']) else ''}.")
    split_info: dict = {"kind": kind}
    if kind == "classes":
        train, val, grouped = _split(usable["train"], names, val_split, seed, split_file)
        usable["train"], usable["validation"] = train, val
        split_info.update(val_split=val_split, seed=seed, duplicates_grouped=grouped,
                          strategy=f"random, stratified by {BINS} value bins of {names[0]}, near-duplicates grouped")
    if not usable.get("validation"):
        raise DataError(f"No usable validation images in {root}: add more images, or a validation/ folder.")
    y = values(usable["train"], names)
    flat = [t for t, col in zip(names, y.T) if np.ptp(col) == 0]
    if flat:
        raise DataError(f"Every training image has the same {flat[0]!r} ({y[0, names.index(flat[0])]:g}); there is "
                        f"nothing to learn. Drop it from --targets or add images with other values.")
    for recs in usable.values():
        for r in recs:
            r.label = ""  # the doctor's class checks do not apply to numbers
    skipped = [r for recs in scanned.values() for r in recs if not r.ok]
    folder = make_folder(root, {s: str(f) for s, f in folders.items()}, names, usable, skipped, split_info)
    folder.report["noun"] = "target" if len(names) == 1 else "targets"
    folder.report["validation_files"] = [r.path for r in usable["validation"]] if kind == "classes" else None
    if has_csv:
        folder.report["labels_files"] = {s: str(c) for s, (_, c) in layout.items()}
    folder.report["details"] = [f"{t}: {col.min():g} to {col.max():g}, mean {col.mean():.4g}, std {col.std():.4g} "
                                f"(training images)" for t, col in zip(names, y.T)]
    return folder


def _split(records: list[Record], names: list[str], fraction: float, seed: int, split_file: dict | None):
    """(train, validation, images in duplicate groups): `split_file`'s validation images, or a
    random split over near-duplicate groups stratified by quantile bins of the first target."""
    if split_file:
        keep = set(split_file.get("validation", []))
        val = [r for r in records if r.path in keep]
        for r in val:
            r.split = "validation"
        return [r for r in records if r.path not in keep], val, split_file.get("duplicates_grouped", 0)
    first = values(records, names[:1])[:, 0]
    edges = np.unique(np.quantile(first, np.linspace(0, 1, BINS + 1)[1:-1]))
    for r, v in zip(records, first):
        r.label = f"bin{int(np.searchsorted(edges, v, side='right'))}"
    return stratified_group_split(records, fraction, seed)
