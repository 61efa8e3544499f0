"""From a folder to checked train/validation(/test) manifests and the run's data report."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from visionflow.data.scan import Record, find_layout, record_to_dict, scan_split, summarize
from visionflow.data.split import stratified_group_split
from visionflow.errors import DataError

MIN_PER_CLASS = 2


@dataclass
class ImageFolder:
    """The usable images of each split, the class names, and what was skipped."""

    classes: list[str]
    splits: dict[str, list[Record]]
    skipped: list[Record]
    report: dict = field(default_factory=dict)
    table: object = None  # the fitted `visionflow.tabular.columns.Columns` of a run that reads table columns

    def labels(self, split: str) -> list[int]:
        """Class index per image of `split` (single-label data)."""
        index = {c: i for i, c in enumerate(self.classes)}
        return [index[r.label] for r in self.splits[split]]


def load_folder(root: str | Path, image_size: tuple[int, int], val_split: float = 0.0, seed: int = 42,
                split_file: dict | None = None) -> ImageFolder:
    """Scans `root`, splits it if asked, and checks every class has enough usable images.

    Args:
        root: DIR/train + DIR/validation (or val, optional test), or DIR/<class>/.
        image_size: (height, width) the scan decodes at (also used for duplicate hashes).
        val_split: fraction held out per class when there is no validation folder.
        seed: seed of the split.
        split_file: a previous run's {"validation": [paths]} to reproduce its split exactly.

    Raises:
        DataError: no images, a missing validation set, or a class with too few usable images.
    """
    layout = find_layout(root, val_split)
    scanned: dict[str, list[Record]] = {}
    classes: list[str] | None = None
    for split, folder in layout.splits.items():
        recs = scan_split(folder, split, image_size, classes=classes)
        if split == "train":
            classes = sorted({r.label for r in recs if r.label})
        scanned[split] = recs
    return _checked(root, {s: str(p) for s, p in layout.splits.items()}, layout.kind, scanned, val_split, seed,
                    split_file, where=lambda c: f"Class folder {layout.splits['train'] / c}",
                    expected="expected <class>/*.jpg (or png, bmp, gif, webp, tiff)")


def load_label_table(root: str | Path, image_size: tuple[int, int], val_split: float = 0.0, seed: int = 42,
                     labels: str | Path | None = None, split_file: dict | None = None) -> ImageFolder:
    """A classification folder described by a labels CSV (`image,label` and any further columns;
    `visionflow.data.labels_csv`) instead of class folders: scanned, split and checked as
    `load_folder` does.

    Raises:
        DataError: a missing or malformed CSV, or the refusals of `load_folder`.
    """
    from visionflow.data.labels_csv import csv_layout, csv_records, read_table
    from visionflow.data.scan import check_records

    root = Path(root)
    kind, layout = csv_layout(root, val_split, labels)
    scanned = {split: check_records(csv_records(folder, csv_path, split, target="label"), image_size)
               for split, (folder, csv_path) in layout.items()}
    train_csv = layout["train"][1]
    folder = _checked(root, {s: str(f) for s, (f, _) in layout.items()}, kind, scanned, val_split, seed, split_file,
                      where=lambda c: f"Class {c!r} of {train_csv}", expected=f"see {train_csv}")
    folder.report["labels_files"] = {s: str(c) for s, (_, c) in layout.items()}
    folder.report["table_columns"] = read_table(train_csv, "label").extra
    return folder


def _checked(root, layout: dict[str, str], kind: str, scanned: dict[str, list[Record]], val_split: float, seed: int,
             split_file: dict | None, where, expected: str) -> ImageFolder:
    """The ImageFolder of scanned single-label records: classes from the training images, each with
    enough usable images, and the validation split made (or reproduced from `split_file`)."""
    usable = {s: [r for r in recs if r.ok] for s, recs in scanned.items()}
    classes = sorted({r.label for r in usable["train"] if r.label})
    if not usable["train"]:
        bad = sum(not r.ok for r in scanned["train"])
        extra = f" ({bad} file(s) were skipped: see the list above)" if bad else ""
        raise DataError(f"No usable images found in {layout['train']}{extra}; {expected}.")
    counts = {c: sum(r.label == c for r in usable["train"]) for c in classes}
    empty = [c for c, n in counts.items() if n < MIN_PER_CLASS]
    if empty:
        c = empty[0]
        raise DataError(f"{where(c)} has {counts[c]} usable image(s); each class needs at least {MIN_PER_CLASS}. "
                        f"Add images or remove the class.")
    if len(classes) < 2:
        raise DataError(f"Only one class ({classes[0]}) found in {layout['train']}; a classifier needs at least two classes.")
    for split in ("validation", "test"):
        unknown = sorted({r.label for r in usable.get(split, [])} - set(classes))
        if unknown and kind != "classes":
            raise DataError(f"The {split} images have class(es) the training images lack: {', '.join(unknown)}; "
                            f"a model cannot learn them.")

    split_info: dict = {"kind": kind}
    if kind == "classes":
        if split_file:
            keep = set(split_file.get("validation", []))
            val = [r for r in usable["train"] if r.path in keep]
            train = [r for r in usable["train"] if r.path not in keep]
            for r in val:
                r.split = "validation"
            grouped = split_file.get("duplicates_grouped", 0)
        else:
            train, val, grouped = stratified_group_split(usable["train"], val_split, seed)
        usable["train"], usable["validation"] = train, val
        split_info.update(val_split=val_split, seed=seed, strategy="stratified, near-duplicates grouped",
                          duplicates_grouped=grouped)
    skipped = [r for recs in scanned.values() for r in recs if not r.ok]
    folder = make_folder(root, layout, classes, usable, skipped, split_info)
    folder.report["validation_files"] = [r.path for r in usable.get("validation", [])] if kind == "classes" else None
    return folder


def make_folder(root: str | Path, layout: dict[str, str], classes: list[str], splits: dict[str, list[Record]],
                skipped: list[Record], split_info: dict) -> ImageFolder:
    """An ImageFolder with its data report, from records already scanned and split."""
    folder = ImageFolder(classes=classes, splits=splits, skipped=skipped)
    summary = summarize([r for recs in splits.values() for r in recs] + skipped)
    folder.report = {
        "root": str(Path(root)),
        "layout": layout,
        "classes": classes,
        "split": split_info,
        "counts": summary["splits"],
        "skipped_count": len(skipped),
        "skipped": summary["skipped"],
        "validation_files": [r.path for r in splits.get("validation", [])],
        "fingerprint": fingerprint([r for recs in splits.values() for r in recs], root),
    }
    return folder


def absolute_data(path: str | Path) -> str:
    """`path` made absolute when it is a folder, so that runs, folds and studies record where their
    data really is and can be used from any working folder; a missing path stays as given, so the
    error about it names what the user typed."""
    return os.path.abspath(path) if Path(path).is_dir() else str(path)


def relative_digests(records: list[Record], root: str | Path) -> dict[str, str]:
    """{path relative to `root` (with /): content digest} of the usable records."""
    return {Path(os.path.relpath(r.path, root)).as_posix(): r.digest for r in records if r.ok}


def fingerprint(records: list[Record], root: str | Path) -> str:
    """A content fingerprint of the usable images: their paths relative to `root`, classes and
    file digests. It survives moving the folder and changes when any image is added, removed,
    relabelled (moved to another class folder) or edited."""
    lines = sorted(f"{rel}\t{digest}" for rel, digest in relative_digests(records, root).items())
    tagged = [r for r in records if r.ok and r.labels is not None]  # multi-label: the CSV's labels count too
    lines += sorted(f"{Path(os.path.relpath(r.path, root)).as_posix()}\t{' '.join(sorted(r.labels))}" for r in tagged)
    described = [r for r in records if r.ok and r.values]  # a labels CSV: its label and other columns count too
    lines += sorted(f"{Path(os.path.relpath(r.path, root)).as_posix()}\t{r.label}\t"
                    + "\t".join(f"{k}={v}" for k, v in sorted(r.values.items())) for r in described)
    return "blake2b:" + hashlib.blake2b("\n".join(lines).encode("utf-8"), digest_size=16).hexdigest()


def manifest(folder: ImageFolder) -> list[dict]:
    """Every scanned file as a row: path, class, split, size, status, reason, and the content digest
    of usable images (what a resumed run checks its data against)."""
    rows = [{**record_to_dict(r), "digest": r.digest} for recs in folder.splits.values() for r in recs]
    return rows + [record_to_dict(r) for r in folder.skipped]
