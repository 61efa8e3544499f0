"""The slices CSV: `image` (a path relative to the image folder, or a file name) plus one column
per attribute, e.g. camera, site, skin_tone, lighting. Rows are matched to the scanned images."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from visionflow.errors import DataError

IMAGE_COLUMNS = ("image", "path", "file", "filename")
MISSING = "(no value)"


@dataclass
class Slices:
    """Each image's value of each attribute; images without a row are counted in `unmatched`."""

    attributes: list[str]
    values: dict[str, list[str]]  # attribute -> one value per image, in the order given
    unmatched: list[str]  # image paths the CSV has no row for
    unused_rows: int  # CSV rows that name no image of the folder


def _key(text: str) -> str:
    key = text.strip().replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    return key


def read(csv_path: str | Path, root: str | Path, images: list[str]) -> Slices:
    """Matches the rows of `csv_path` to `images` (paths under `root`): by path relative to `root`,
    else by file name where that name is unique in the CSV."""
    return match(load(csv_path), root, images)


@dataclass
class Table:
    """The rows of a slices CSV: its path, image column, attribute columns and rows."""

    path: Path
    image_col: str
    attributes: list[str]
    rows: list[dict]


def load(csv_path: str | Path) -> Table:
    """Reads and checks a slices CSV (before any image is predicted); DataError in one sentence."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"Slices file {csv_path} does not exist; give a CSV with an image column and one column "
                        f"per attribute (e.g. image,camera,site).")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{csv_path} is not a readable CSV ({exc}).") from None
    image_col = next((h for h in header if h.lower() in IMAGE_COLUMNS), None)
    if image_col is None:
        raise DataError(f"{csv_path} has no image column; its header must name one of {', '.join(IMAGE_COLUMNS)} "
                        f"(found: {', '.join(header) or 'nothing'}).")
    attributes = [h for h in header if h != image_col and h]
    if not attributes:
        raise DataError(f"{csv_path} has no attribute columns besides {image_col}; add one per attribute, "
                        f"e.g. {image_col},camera,site.")
    if not rows:
        raise DataError(f"{csv_path} has a header but no rows; add one row per image.")
    return Table(csv_path, image_col, attributes, rows)


def match(table: Table, root: str | Path, images: list[str]) -> Slices:
    """Each image's row of `table`: by path relative to `root`, else by unique file name."""
    csv_path, image_col, attributes, rows = table.path, table.image_col, table.attributes, table.rows
    by_path = {_key(r[image_col]): r for r in rows if r.get(image_col)}
    names: dict[str, list[dict]] = {}
    for r in rows:
        if r.get(image_col):
            names.setdefault(os.path.basename(_key(r[image_col])), []).append(r)
    root = Path(root)
    values = {a: [] for a in attributes}
    unmatched, used = [], set()
    for path in images:
        try:
            rel = Path(os.path.relpath(path, root)).as_posix()
        except ValueError:
            rel = Path(path).name
        row = by_path.get(rel)
        if row is None:
            same = names.get(Path(path).name, [])
            row = same[0] if len(same) == 1 else None
        if row is None:
            unmatched.append(path)
        else:
            used.add(id(row))
        for a in attributes:
            values[a].append((row.get(a) or MISSING) if row is not None else MISSING)
    if len(unmatched) == len(images):
        example = next(iter(by_path), "")
        raise DataError(f"No image of {root} has a row in {csv_path} (e.g. {example!r}); the {image_col} column "
                        f"must hold paths relative to {root} (like {Path(os.path.relpath(images[0], root)).as_posix()!r}) "
                        f"or file names.")
    return Slices(attributes, values, unmatched, sum(1 for r in rows if id(r) not in used))
