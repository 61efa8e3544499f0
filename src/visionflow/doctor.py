"""The dataset doctor: what is wrong with an image folder before (and after) training on it.

It reuses the training scan (`data/scan.py`), so every file is decoded once by the same decoder
that training uses, and reports:
- unreadable files (with the scan's reason) and images stored in unusual colour modes;
- exact duplicates (same bytes) and near-duplicates (difference hashes a few bits apart, e.g. a
  photo saved again at another size), sorted into copies within a class, the same picture under
  two classes (label conflicts), and copies across train/validation/test (leakage);
- class imbalance, tiny classes, and extreme image sizes or aspect ratios;
- likely label errors, when out-of-fold probabilities from `visionflow cv` are given: images
  whose given label the model disagrees with confidently (confident learning, Northcutt et al.,
  2021: an image labelled i is suspect when the probability of another class j reaches that
  class's own average self-confidence), ranked by how little probability the given label got.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from visionflow.data.scan import VALIDATION_DIRS, Record, scan_split
from visionflow.data.split import MAX_DISTANCE, hamming, similar_pairs, thumb_difference
from visionflow.errors import DataError
from visionflow.rundir import write_json

COMMON_MODES = ("RGB", "L")
TINY_CLASS = 20  # fewer training images than this in a class is flagged
SMALL_SIDE = 32  # pixels; images with a shorter side are flagged
LARGE_PIXELS = 40_000_000
EXTREME_ASPECT = 3.0
IMBALANCE_RATIO = 3.0  # largest / smallest class
MAX_LISTED = 500  # pairs or files listed per finding in doctor.json; counts are always complete
CHECKS = ("leakage", "conflicts", "duplicates", "unreadable", "label-errors", "imbalance")
SCAN_SIZE = (64, 64)  # decode size for the perceptual hash when scanning on its own


def scan_data(root: str | Path, size: tuple[int, int] = SCAN_SIZE) -> list[Record]:
    """Scans every split of `root` (DIR/train, validation or val, test; or DIR/<class>/ as one
    split named "all"), including files that would be skipped.

    Raises:
        DataError: the folder does not exist or has no class folders.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"Data folder {root} does not exist or is not a folder.")
    if (root / "train").is_dir():
        splits = {"train": root / "train"}
        val = next((root / d for d in VALIDATION_DIRS if (root / d).is_dir()), None)
        if val is not None:
            splits["validation"] = val
        if (root / "test").is_dir():
            splits["test"] = root / "test"
    else:
        splits = {"all": root}
    records: list[Record] = []
    for split, folder in splits.items():
        records.extend(scan_split(folder, split, size))
    if not any(r.label for r in records):
        raise DataError(f"No class folders in {root}: expected {root}/<class>/ or {root}/train/<class>/.")
    return records


def _pair(a: Record, b: Record, distance: int) -> dict:
    kinds = []
    if a.label != b.label:
        kinds.append("conflict")
    if a.split != b.split:
        kinds.append("leakage")
    if not kinds:
        kinds.append("within_class")
    return {"a": a.path, "b": b.path, "labels": [a.label, b.label], "splits": [a.split, b.split],
            "distance": distance, "kinds": kinds}


def _summarise_pairs(pairs: list[dict]) -> dict:
    counts = Counter(k for p in pairs for k in p["kinds"])
    return {"pairs": len(pairs), "within_class": counts["within_class"], "conflicts": counts["conflict"],
            "leakage": counts["leakage"], "images": len({x for p in pairs for x in (p["a"], p["b"])}),
            "listed": pairs[:MAX_LISTED]}


def duplicates(records: list[Record], max_distance: int = MAX_DISTANCE) -> tuple[dict, dict]:
    """(exact, near) duplicate findings among usable records, with the splitter's definition of
    the same picture (`data/split.py`); near excludes byte-identical pairs."""
    exact_pairs = []
    by_digest: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_digest[r.digest].append(r)
    for members in by_digest.values():
        exact_pairs.extend(_pair(a, b, 0) for k, a in enumerate(members) for b in members[k + 1:])
    near = []
    for i, j in similar_pairs(records, max_distance):
        a, b = records[i], records[j]
        if a.digest != b.digest:
            pair = _pair(a, b, hamming(a.hash, b.hash))
            pair["thumb_difference"] = round(thumb_difference(a.thumb, b.thumb), 2)
            near.append(pair)
    near.sort(key=lambda p: (p["distance"], p["thumb_difference"], p["a"]))
    return _summarise_pairs(exact_pairs), _summarise_pairs(near)


def balance(records: list[Record]) -> dict:
    """Images per class in each split, the imbalance ratio of the training split, tiny classes."""
    per_split: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        per_split[r.split][r.label] += 1
    train = per_split.get("train") or per_split.get("all") or Counter()
    classes = sorted({r.label for r in records})
    counts = [train.get(c, 0) for c in classes]
    ratio = (max(counts) / min(counts)) if counts and min(counts) > 0 else None
    return {"per_split": {s: dict(sorted(c.items())) for s, c in per_split.items()},
            "imbalance_ratio": ratio, "imbalanced": ratio is None or ratio >= IMBALANCE_RATIO,
            "tiny_classes": [c for c, n in zip(classes, counts) if n < TINY_CLASS]}


def sizes(records: list[Record]) -> dict:
    """Width/height spread, and the images that are very small, very large, or very elongated."""
    if not records:
        return {"width": None, "height": None, "small": [], "large": [], "elongated": []}
    w = np.array([r.width for r in records])
    h = np.array([r.height for r in records])
    spread = lambda v: {"min": int(v.min()), "median": float(np.median(v)), "max": int(v.max())}  # noqa: E731
    small = [r for r in records if min(r.width, r.height) < SMALL_SIDE]
    large = [r for r in records if r.width * r.height > LARGE_PIXELS]
    long_ = [r for r in records if max(r.width, r.height) / max(1, min(r.width, r.height)) >= EXTREME_ASPECT]
    item = lambda r: {"path": r.path, "width": r.width, "height": r.height}  # noqa: E731
    return {"width": spread(w), "height": spread(h),
            "small": [item(r) for r in small[:MAX_LISTED]], "small_count": len(small),
            "large": [item(r) for r in large[:MAX_LISTED]], "large_count": len(large),
            "elongated": [item(r) for r in long_[:MAX_LISTED]], "elongated_count": len(long_)}


def modes(records: list[Record]) -> dict:
    """Counts of image formats and colour modes; files in modes other than RGB/L are listed (they
    are converted when decoded: alpha composited on white, CMYK and 16-bit scaled to 8-bit RGB)."""
    odd = [r for r in records if r.mode not in COMMON_MODES]
    return {"formats": dict(Counter(r.format for r in records).most_common()),
            "modes": dict(Counter(r.mode for r in records).most_common()),
            "odd_count": len(odd), "odd": [{"path": r.path, "mode": r.mode, "format": r.format}
                                           for r in odd[:MAX_LISTED]]}


def label_issues(paths: Sequence[str], y_true: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict:
    """Likely label errors from out-of-fold probabilities (confident learning).

    Class j's threshold is the mean probability of j over images labelled j. An image labelled i
    is flagged when some other class j has probability >= threshold_j; the suggested label is the
    most probable such j. Flagged images are ranked by the probability of their given label,
    lowest first.
    """
    y_true, probs = np.asarray(y_true), np.asarray(probs, dtype=np.float64)
    k = len(classes)
    thresholds = np.array([probs[y_true == j, j].mean() if (y_true == j).any() else 1.0 for j in range(k)])
    above = probs >= thresholds[None, :]  # (n, k)
    above[np.arange(len(y_true)), y_true] = False
    flagged = np.nonzero(above.any(axis=1))[0]
    issues = []
    for i in flagged:
        masked = np.where(above[i], probs[i], -1.0)
        j = int(masked.argmax())
        issues.append({"path": paths[i], "label": classes[int(y_true[i])], "suggested": classes[j],
                       "p_label": float(probs[i, y_true[i]]), "p_suggested": float(probs[i, j])})
    issues.sort(key=lambda d: (d["p_label"], -d["p_suggested"]))
    return {"count": len(issues), "images": int(len(y_true)),
            "thresholds": {c: float(t) for c, t in zip(classes, thresholds)}, "listed": issues[:MAX_LISTED]}


def examine(records: list[Record], oof: tuple[Sequence[str], np.ndarray, np.ndarray, list[str]] | None = None) -> dict:
    """The doctor's findings for scanned records (usable and skipped); `oof` = (paths, true class
    indices, out-of-fold probabilities, classes) adds likely label errors."""
    usable = [r for r in records if r.ok]
    bad = [r for r in records if not r.ok]
    exact, near = duplicates(usable)
    out = {
        "images": len(usable), "files": len(records),
        "classes": sorted({r.label for r in usable}),
        "unreadable": {"count": len(bad), "listed": [{"path": r.path, "split": r.split, "reason": r.reason}
                                                     for r in bad[:MAX_LISTED]],
                       "reasons": dict(Counter(r.reason.split(" (")[0] for r in bad).most_common())},
        "modes": modes(usable),
        "exact_duplicates": exact,
        "near_duplicates": near,
        "balance": balance(usable),
        "sizes": sizes(usable),
    }
    if oof is not None:
        out["label_issues"] = label_issues(*oof)
    out["problems"] = problems(out)
    return out


def problems(report: dict) -> dict[str, int]:
    """The count behind each `--fail-on` check (0 = clean)."""
    ex, near = report["exact_duplicates"], report["near_duplicates"]
    return {
        "leakage": ex["leakage"] + near["leakage"],
        "conflicts": ex["conflicts"] + near["conflicts"],
        "duplicates": ex["pairs"] + near["pairs"],
        "unreadable": report["unreadable"]["count"],
        "label-errors": report.get("label_issues", {}).get("count", 0),
        "imbalance": int(report["balance"]["imbalanced"]) + len(report["balance"]["tiny_classes"]),
    }


def parse_fail_on(value: str | Sequence[str] | None) -> list[str]:
    """'leakage,conflicts' -> ["leakage", "conflicts"]; unknown names are an error naming the choices."""
    from visionflow.errors import ConfigError
    from visionflow.registry import unknown_message

    if not value:
        return []
    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    for name in names:
        if name not in CHECKS:
            raise ConfigError(unknown_message("--fail-on check", name, list(CHECKS)))
    return names


def summary_lines(report: dict) -> list[str]:
    """The console summary: one line per finding."""
    ex, near, bal = report["exact_duplicates"], report["near_duplicates"], report["balance"]
    lines = [f"{report['images']} usable images in {len(report['classes'])} classes, "
             f"{report['unreadable']['count']} unreadable file(s)"]
    if report["unreadable"]["count"]:
        reasons = ", ".join(f"{n} {r}" for r, n in report["unreadable"]["reasons"].items())
        lines.append(f"  unreadable: {reasons}")
    for name, d in (("exact duplicates", ex), ("near-duplicates", near)):
        lines.append(f"{name}: {d['pairs']} pair(s) over {d['images']} images: {d['within_class']} within a class, "
                     f"{d['conflicts']} across classes (label conflict), {d['leakage']} across splits (leakage)")
    ratio = bal["imbalance_ratio"]
    lines.append(f"classes: largest/smallest {ratio:.1f}x" if ratio else "classes: one class has no training images")
    if bal["tiny_classes"]:
        lines.append(f"  tiny classes (< {TINY_CLASS} training images): {', '.join(bal['tiny_classes'])}")
    m, s = report["modes"], report["sizes"]
    lines.append("colour modes: " + ", ".join(f"{k} {v}" for k, v in m["modes"].items()))
    if s["width"]:
        lines.append(f"sizes: width {s['width']['min']}-{s['width']['max']} (median {s['width']['median']:.0f}), "
                     f"height {s['height']['min']}-{s['height']['max']}; {s['small_count']} small "
                     f"(< {SMALL_SIDE} px), {s['large_count']} very large, {s['elongated_count']} elongated "
                     f"(aspect >= {EXTREME_ASPECT:g})")
    if "label_issues" in report:
        li = report["label_issues"]
        lines.append(f"likely label errors: {li['count']} of {li['images']} (out-of-fold predictions)")
        for item in li["listed"][:5]:
            lines.append(f"  {item['path']}: labelled {item['label']} ({item['p_label']:.2f}), "
                         f"looks like {item['suggested']} ({item['p_suggested']:.2f})")
    return lines


def doctor(data: str | Path, out: str | Path = "doctor", predictions: str | Path | None = None,
           say: Callable[[str], None] = print, report: bool = True, slices: str | Path | None = None) -> dict:
    """Examines an image folder and writes OUT/doctor.json (and OUT/report.html).

    Args:
        data: DIR/train (+ validation/val, test) or DIR/<class>/.
        out: folder for doctor.json and report.html.
        predictions: an out-of-fold predictions.csv from `visionflow cv` (paths must match the
            scan) to list likely label errors.
        say: receives the console summary.
        report: also write the HTML report.
        slices: a CSV of image (path relative to `data`, or file name) plus attribute columns: each
            slice's size and classes, and whether an attribute goes with the label ("slices").

    Returns:
        The findings (as written to doctor.json).
    """
    from visionflow.predictions import read_predictions

    records = scan_data(data)
    oof = None
    if predictions is not None:
        predictions = Path(predictions)
        if not predictions.is_file():
            raise DataError(f"Predictions file {predictions} does not exist; give the oof_predictions.csv "
                            f"written by `visionflow cv`.")
        classes = sorted({r.label for r in records if r.ok})
        try:
            paths, y, probs = read_predictions(predictions, classes)
        except (KeyError, ValueError) as exc:
            raise DataError(f"{predictions} does not match the classes of {data} ({exc}).") from None
        oof = (paths, y, probs, classes)
    found = examine(records, oof)
    found["data"] = str(data)
    if slices is not None:
        from visionflow.fairness import balance, meta

        usable = [r for r in records if r.ok]
        groups = meta.read(slices, data, [r.path for r in usable])
        found["slices"] = {"file": str(slices), **balance.slice_balance(groups, [r.label for r in usable],
                                                                         [r.split for r in usable])}
    out = Path(out)
    write_json(out / "doctor.json", found)
    for line in summary_lines(found):
        say(line)
    if slices is not None:
        from visionflow.fairness.balance import format_table

        for line in format_table(found["slices"]):
            say(line)
    if report:
        from visionflow.report import doctor_report

        doctor_report(out)
    say(f"written: {out / 'doctor.json'}" + (f", {out / 'report.html'}" if report else ""))
    return found
