"""Masks as people have them, read into class-index arrays (uint8, VOID where no class is known).

- index PNGs (mode L or P, or 16-bit): the pixel value is the class index; a value beyond the
  listed classes, and 255, is void (ignored by the loss and the metrics, as the benchmarks do);
- black-and-white masks (0/255, or 0/1) without a class list: background and foreground
  (grey pixels of a compressed or anti-aliased mask go to the nearer of the two);
- RGB colour masks with a colour map: `labelmap.txt` as CVAT and Pascal VOC export it
  (`name:r,g,b:parts:actions`), or a CSV of name,r,g,b (`classes.csv`, `class_dict.csv`);
  colours not in the map are void (and counted).

The class list comes from `classes.txt` (one name per line, in index order), else from the
colour map, else from the masks themselves.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from visionflow.errors import DataError

VOID = 255
CLASS_FILES = ("classes.txt",)
COLOUR_FILES = ("labelmap.txt", "classes.csv", "class_dict.csv")
BINARY = ["background", "foreground"]
MAX_CLASSES = 254  # indices 0..253 (255 is void; 254 is kept free)


class MaskError(ValueError):
    """A mask that cannot be used, with the reason in one sentence."""


@dataclass
class Scheme:
    """How masks are read: `kind` index, binary or colour; the class names; the colour of each
    class (the colour map's, else a palette), used for the PNGs predictions are written as."""

    kind: str
    classes: list[str]
    colours: list[tuple[int, int, int]] = field(default_factory=list)
    source: str = ""  # the file the classes came from, or "masks"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "classes": self.classes, "colours": [list(c) for c in self.colours],
                "source": self.source}

    @classmethod
    def from_dict(cls, d: dict) -> Scheme:
        return cls(d["kind"], list(d["classes"]), [tuple(c) for c in d.get("colours") or []], d.get("source", ""))


def palette(n: int) -> list[tuple[int, int, int]]:
    """Pascal VOC's colour map: n distinct colours, black first (the colours VOC masks are drawn in)."""
    out = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out.append((r, g, b))
    return out


def colours_for(kind: str, n: int) -> list[tuple[int, int, int]]:
    return [(0, 0, 0), (255, 255, 255)] if kind == "binary" else palette(n)


def colours_of(meta: dict) -> list[tuple[int, int, int]]:
    """The colours of a model's classes, from its labels.json."""
    scheme = meta.get("scheme") or {}
    n = len(meta.get("classes") or [])
    return [tuple(c) for c in scheme.get("colours") or colours_for(scheme.get("kind", "index"), n)]


# -- class lists and colour maps --------------------------------------------------------------
def read_classes(path: Path) -> list[str]:
    names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    names = [n for n in names if n and not n.startswith("#")]
    if not names:
        raise DataError(f"{path} lists no class; write one class name per line, in index order.")
    if len(set(names)) != len(names):
        raise DataError(f"{path} names a class twice: {sorted({n for n in names if names.count(n) > 1})}.")
    if len(names) > MAX_CLASSES:
        raise DataError(f"{path} lists {len(names)} classes; masks hold at most {MAX_CLASSES}.")
    return names


def _rgb(text: str, path: Path, line: int) -> tuple[int, int, int]:
    try:
        rgb = tuple(int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        rgb = ()
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise DataError(f"{path}, line {line}: {text!r} is not a colour r,g,b (each 0-255).")
    return rgb  # type: ignore[return-value]


def read_colour_map(path: Path) -> list[tuple[str, tuple[int, int, int]]]:
    """(name, colour) per class, in index order, from labelmap.txt (name:r,g,b:...) or a name,r,g,b CSV."""
    rows: list[tuple[str, tuple[int, int, int]]] = []
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".txt":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, _, rest = line.partition(":")
            rows.append((name.strip(), _rgb(rest.split(":")[0], path, n)))
    else:
        for n, row in enumerate(csv.reader(text.splitlines()), 1):
            if not row or not "".join(row).strip():
                continue
            if n == 1 and not row[-1].strip().isdigit():  # a header row (name,r,g,b)
                continue
            if len(row) < 4:
                raise DataError(f"{path}, line {n}: expected name,r,g,b; got {','.join(row)!r}.")
            rows.append((row[0].strip(), _rgb(",".join(row[1:4]), path, n)))
    if not rows:
        raise DataError(f"{path} holds no class colours.")
    names = [r[0] for r in rows]
    if len(set(names)) != len(names) or len({r[1] for r in rows}) != len(rows):
        raise DataError(f"{path} names a class or a colour twice; each class needs its own colour.")
    return rows


def find_scheme_files(*folders: Path) -> tuple[Path | None, Path | None]:
    """(classes.txt, colour map) found in the first of `folders` that holds one."""
    classes = colours = None
    for folder in folders:
        classes = classes or next((folder / n for n in CLASS_FILES if (folder / n).is_file()), None)
        colours = colours or next((folder / n for n in COLOUR_FILES if (folder / n).is_file()), None)
    return classes, colours


# -- reading masks ----------------------------------------------------------------------------
def open_mask(path: str | Path) -> np.ndarray:
    """The mask's raw values: (h, w) for index and grey masks, (h, w, 3) for colour ones."""
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("P", "L", "I;16", "I;16B", "I;16L", "I"):
                values = np.asarray(img)
            elif mode == "1":
                values = np.asarray(img).astype(np.uint8)
            elif mode == "LA":
                values = np.asarray(img)[..., 0]
            else:
                values = np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise MaskError(f"the mask cannot be read ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if values.ndim == 3 and np.array_equal(values[..., 0], values[..., 1]) and np.array_equal(values[..., 0], values[..., 2]):
        values = values[..., 0]  # a grey mask stored as RGB
    if values.size == 0:
        raise MaskError("the mask is empty")
    return values


def to_index(values: np.ndarray, scheme: Scheme) -> tuple[np.ndarray, int]:
    """(class-index mask with VOID, pixels made void: unknown colours or values beyond the classes)."""
    if scheme.kind == "colour":
        if values.ndim != 3:
            raise MaskError("the mask is grey, but the classes are given as colours (a colour map)")
        key = (values[..., 0].astype(np.int32) << 16) | (values[..., 1].astype(np.int32) << 8) | values[..., 2]
        codes = np.array([(r << 16) | (g << 8) | b for r, g, b in scheme.colours], np.int32)
        order = np.argsort(codes)
        pos = np.clip(np.searchsorted(codes[order], key), 0, len(codes) - 1)
        found = codes[order][pos] == key
        out = np.where(found, order[pos], VOID).astype(np.uint8)
        return out, int((~found).sum())
    if values.ndim == 3:
        raise MaskError("the mask is in colour, but there is no colour map (labelmap.txt, or classes.csv with "
                        "name,r,g,b) to say which colour is which class")
    if scheme.kind == "binary":
        return (values >= (128 if values.max() > 1 else 1)).astype(np.uint8), 0
    beyond = (values >= len(scheme.classes)) & (values != VOID)
    out = np.where(beyond | (values > VOID), VOID, values).astype(np.uint8)
    return out, int(beyond.sum())


def read_mask(path: str | Path, scheme: Scheme) -> tuple[np.ndarray, int]:
    """(class-index mask, void pixels made from unknown values) of the mask file at `path`."""
    return to_index(open_mask(path), scheme)


def infer_scheme(classes_file: Path | None, colour_file: Path | None, samples: list[np.ndarray]) -> Scheme:
    """The scheme of a dataset from its class list or colour map, else from sample masks' values."""
    if colour_file is not None:
        rows = read_colour_map(colour_file)
        names = [n for n, _ in rows]
        if classes_file is not None and read_classes(classes_file) != names:
            raise DataError(f"{classes_file} and {colour_file} list different classes; keep one of them.")
        if any(s.ndim == 3 for s in samples) or not samples:
            return Scheme("colour", names, [c for _, c in rows], colour_file.name)
        return Scheme("index", names, [c for _, c in rows], colour_file.name)  # index masks beside a colour map
    grey = [s for s in samples if s.ndim == 2]
    if len(grey) < len(samples):
        raise DataError("The masks are in colour, but there is no colour map: add labelmap.txt (name:r,g,b per line) "
                        "or classes.csv (name,r,g,b) beside the split folders.")
    binary = bool(grey) and all(_two_level(s) for s in grey)
    if classes_file is not None:
        names = read_classes(classes_file)
        if len(names) == 2 and binary and any(s.max() > 1 for s in grey):  # 0/255 masks with two classes
            return Scheme("binary", names, colours_for("binary", 2), classes_file.name)
        return Scheme("index", names, palette(len(names)), classes_file.name)
    if binary:
        return Scheme("binary", list(BINARY), colours_for("binary", 2), "masks")
    top = max((int(s[s != VOID].max()) if (s != VOID).any() else 0) for s in grey) if grey else 0
    if top >= MAX_CLASSES:
        raise DataError(f"The masks hold values up to {top}; index masks hold class indices (0, 1, 2, ...). "
                        f"Add classes.txt, or a colour map for colour masks.")
    return Scheme("index", [str(i) for i in range(top + 1)], palette(top + 1), "masks")


def _two_level(values: np.ndarray) -> bool:
    """Black-and-white: 0/1 or 0/255, allowing 1% grey pixels (compression, anti-aliasing)."""
    if values.max() <= 1:
        return True
    extremes = np.count_nonzero((values == 0) | (values == 255))
    return extremes >= 0.99 * values.size and values.max() == 255


def write_png(path: Path, mask: np.ndarray, colours: list[tuple[int, int, int]]) -> None:
    """`mask` (class indices) as a palette PNG: its pixel values are the indices, shown in `colours`."""
    img = Image.fromarray(mask.astype(np.uint8), mode="P")
    flat = [v for c in colours for v in c]
    img.putpalette(flat + [0] * (768 - len(flat)))
    img.save(path, format="PNG", optimize=False)
