"""A detection dataset: the images of each split with their checked boxes, and what was left out.

`load_boxes` reads every split in its own layout (`annotations`), decodes every image once (as
the classification scan does: broken files are skipped with the reason), checks each box against
its image's real size, and splits a folder without splits by a seeded random draw of images
(near-duplicate photos kept on one side). The data report counts images, boxes per class, box
sizes (COCO's small/medium/large), negatives, and lists each problem.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visionflow.data.dataset import ImageFolder, make_folder
from visionflow.data.scan import Record, check_records
from visionflow.data.split import image_split
from visionflow.errors import DataError
from visionflow.tasks.detection.annotations import Split, Truth, find_splits, read
from visionflow.tasks.detection.boxes import SIZES, size_class

DEFAULT_VAL_SPLIT = 0.2  # held out when the folder has no validation split and --val-split is not given
MIN_SIDE = 1.0  # boxes narrower or lower than this many pixels (after clipping) are dropped


@dataclass
class BoxFolder(ImageFolder):
    """An ImageFolder whose images carry boxes: `truth[path]`."""

    truth: dict[str, Truth] = field(default_factory=dict)
    layout: str = ""


def _check_boxes(entry, rec: Record, index: dict[str, int], names: list[str], findings: Counter,
                 listed: list[dict]) -> Truth:
    """The entry's objects as a Truth in the image's pixels: clipped, with bad boxes dropped (and listed)."""
    w, h = rec.width, rec.height
    boxes, labels, ignore = [], [], []
    for name, box, hard in entry.objects or []:
        if entry.normalised:
            if name.isdigit() and names:
                if int(name) >= len(names):
                    findings["unknown class"] += 1
                    listed.append({"path": rec.path, "reason": f"class id {name} is not in the {len(names)} class names; box dropped"})
                    continue
                name = names[int(name)]
            cx, cy, bw, bh = box
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
        if name not in index:
            findings["unknown class"] += 1
            listed.append({"path": rec.path, "reason": f"class {name!r} is not one of the classes; box dropped"})
            continue
        x1, y1, x2, y2 = box
        if not all(np.isfinite(box)) or x2 <= x1 or y2 <= y1:
            findings["inverted or zero-area"] += 1
            listed.append({"path": rec.path, "reason": f"box {[round(v, 1) for v in box]} of {name} is inverted or "
                                                       f"has zero area; dropped"})
            continue
        clipped = [min(max(x1, 0), w), min(max(y1, 0), h), min(max(x2, 0), w), min(max(y2, 0), h)]
        if clipped != [x1, y1, x2, y2]:
            findings["clipped"] += 1
        if clipped[2] - clipped[0] < MIN_SIDE or clipped[3] - clipped[1] < MIN_SIDE:
            findings["outside the image"] += 1
            listed.append({"path": rec.path, "reason": f"box {[round(v, 1) for v in box]} of {name} lies outside the "
                                                       f"{w}x{h} image; dropped"})
            continue
        boxes.append(clipped)
        labels.append(index[name])
        ignore.append(bool(hard))
    if not boxes:
        return Truth.empty()
    return Truth(np.array(boxes, np.float32), np.array(labels, np.int64), np.array(ignore, bool))


def class_names(splits: dict[str, Split]) -> list[str]:
    """The classes: the layout's own list (YOLO names, COCO categories), else every VOC name, sorted."""
    for split in splits.values():
        if split.names:
            return list(split.names)
    found = sorted({o[0] for s in splits.values() for e in s.entries for o in e.objects or []})
    if all(n.isdigit() for n in found):  # YOLO without names: the ids are the names
        return [str(i) for i in range(max(map(int, found)) + 1)] if found else []
    return found


def load_boxes(root: str | Path, val_split: float = 0.0, seed: int = 42, classes: list[str] | None = None,
               split_file: dict | None = None, only: str | None = None) -> BoxFolder:
    """Reads, checks and splits the detection dataset at `root`.

    `classes` fixes the class list (a trained model's); `only` reads one split folder as given
    (evaluation). DataError when the folder holds no usable boxes."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"Data folder {root} does not exist or is not a folder.")
    places = {"all": root} if only else find_splits(root)
    splits = {name: read(where, root) for name, where in places.items()}
    names = list(classes) if classes else class_names(splits)
    if not names:
        raise DataError(f"{root} has annotation files but no boxes in them; a detector learns from boxes.")
    index = {n: i for i, n in enumerate(names)}
    if not classes:  # YOLO ids without names are names too
        index.update({str(i): i for i in range(len(names)) if str(i) not in index})
    records: dict[str, list[Record]] = {}
    truth: dict[str, Truth] = {}
    findings: Counter = Counter()
    listed: list[dict] = []
    skipped: list[Record] = []
    negatives = Counter()
    for split_name, split in splits.items():
        target = "train" if split_name == "all" else split_name
        recs = check_records([Record(path=e.image, label="", split=target, reason=e.problem,
                                     status="skipped" if e.problem else "ok") for e in split.entries], None)
        listed.extend(split.problems)
        findings["annotation without image"] += sum("missing image" in p["reason"] or "does not exist" in p["reason"]
                                                   for p in split.problems)
        ok = []
        for entry, rec in zip(split.entries, recs):
            if not rec.ok:
                skipped.append(rec)
                continue
            t = _check_boxes(entry, rec, index, names if split.layout == "yolo" else [], findings, listed)
            if entry.objects and not len(t.boxes):  # its objects were all unusable: not a picture of nothing
                rec.status, rec.reason = "skipped", "every box of its annotation was unusable (listed in problems)"
                skipped.append(rec)
                continue
            if not entry.objects:  # no annotation file, or one listing no object: background only
                negatives[target] += 1
            rec.labels = tuple(t.to_rows(names)) or ("negative",)
            truth[rec.path] = t
            ok.append(rec)
        records[target] = records.get(target, []) + ok
    split_info: dict = {"kind": "folders", "layout": {n: splits[n].layout for n in splits}}
    if "all" in splits and not only:
        records, split_info = image_split(records["train"], split_file, val_split or DEFAULT_VAL_SPLIT, seed)
        split_info["layout"] = {"all": splits["all"].layout}
    if only:
        records = {"test": records.pop("train", [])}
        for rec in records["test"]:
            rec.split = "test"
    if not any(len(t.boxes) for t in truth.values()):
        raise DataError(f"No usable box in {root} ({len(listed)} problem(s); first: "
                        f"{listed[0]['reason'] if listed else 'none'}).")
    layouts = sorted({s.layout for s in splits.values()})
    folder = make_folder(root, {"layout": ", ".join(layouts)}, names, records, skipped, split_info)
    box_folder = BoxFolder(classes=folder.classes, splits=folder.splits, skipped=folder.skipped, report=folder.report,
                           truth=truth, layout=", ".join(layouts))
    _report(box_folder, findings, listed, negatives)
    return box_folder


def _report(folder: BoxFolder, findings: Counter, listed: list[dict], negatives: Counter) -> None:
    """Box counts per split and class, sizes and findings in the data report; the summary lines."""
    details = []
    for split, recs in folder.splits.items():
        truths = [folder.truth[r.path] for r in recs]
        per_class = Counter(folder.classes[c] for t in truths for c, i in zip(t.labels, t.ignore) if not i)
        sizes = Counter(SIZES[s] for t in truths for s in size_class(t.boxes[~t.ignore]))
        hard = int(sum(t.ignore.sum() for t in truths))
        counts = folder.report["counts"].setdefault(split, {"images": len(recs), "skipped": 0, "classes": {}})
        counts["classes"] = {}
        counts.update({"boxes": dict(per_class), "sizes": dict(sizes), "negatives": int(negatives.get(split, 0)),
                       "ignored_boxes": hard})
        details.append(f"{split:<10} {sum(per_class.values()):6d} boxes ("
                       + ", ".join(f"{k} {v}" for k, v in sorted(per_class.items()))
                       + "); sizes: " + ", ".join(f"{k} {sizes.get(k, 0)}" for k in SIZES)
                       + (f"; {negatives[split]} negative image(s) (no boxes)" if negatives.get(split) else "")
                       + (f"; {hard} difficult/crowd box(es) not scored" if hard else ""))
    if any(findings.values()):
        details.append("annotations: " + ", ".join(f"{v} {k}" for k, v in sorted(findings.items()) if v))
    folder.report.update({"task": "detection", "layout": folder.layout, "findings": dict(findings),
                          "problems": listed, "details": details, "noun": "classes"})
