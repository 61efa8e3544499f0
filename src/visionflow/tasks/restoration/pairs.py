"""Real degraded/clean pairs: `--pairs DIR` for denoising and super-resolution.

The clean images come from the data folder as usual; each is paired with the file in the pairs
folder that has the same relative path (any extension), or else the same name stem when exactly one
file there has it. A denoising pair must have the same size; a super-resolution pair must have the
clean image `scale` times the degraded one (a clean side up to scale-1 pixels longer is cropped).
Clean images without a usable partner are skipped with the reason, as broken files are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.data.decode import IMAGE_EXTENSIONS, DecodeError, decode, probe
from visionflow.data.scan import Record
from visionflow.errors import DataError


def index(folder: str | Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """({relative path without extension: file}, {stem: [files]}) of the images under `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"--pairs folder {folder} does not exist or is not a folder.")
    by_path: dict[str, str] = {}
    by_stem: dict[str, list[str]] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name.lower().endswith(IMAGE_EXTENSIONS) and not p.name.startswith("."):
            by_path[p.relative_to(folder).with_suffix("").as_posix()] = str(p)
            by_stem.setdefault(p.stem, []).append(str(p))
    if not by_path:
        raise DataError(f"No images in the --pairs folder {folder} (searched recursively).")
    return by_path, by_stem


def partner(clean: str, root: Path, by_path: dict[str, str], by_stem: dict[str, list[str]]) -> str | None:
    """The degraded file paired with the clean file `clean` (under `root`), or None."""
    path = Path(clean)
    try:
        key = path.relative_to(root).with_suffix("").as_posix()
    except ValueError:
        key = path.stem
    if key in by_path:
        return by_path[key]
    found = by_stem.get(path.stem, [])
    return found[0] if len(found) == 1 else None


def mismatch(clean_wh: tuple[int, int], given_wh: tuple[int, int], scale: int, name: str) -> str:
    """Why a degraded image of size `given_wh` (width, height) cannot pair with a clean one of
    `clean_wh`; "" when it can."""
    want = (clean_wh[0] // scale, clean_wh[1] // scale)
    if tuple(given_wh) == want:
        return ""
    return (f"its degraded partner {name} is {given_wh[0]}x{given_wh[1]}; a {clean_wh[0]}x{clean_wh[1]} clean "
            f"image needs {want[0]}x{want[1]}" + (f" (1/{scale} of it)" if scale > 1 else ""))


def pair_records(records: list[Record], root: str | Path, pairs: str | Path, scale: int, patch: int) -> tuple[list[Record], dict[str, str], list[Record]]:
    """(records with a usable partner, {clean path: degraded path}, records skipped with the reason)."""
    by_path, by_stem = index(pairs)
    root = Path(root)
    kept, mapping, skipped = [], {}, []
    for rec in records:
        other = partner(rec.path, root, by_path, by_stem)
        reason = ""
        if other is None:
            reason = f"no degraded image with its name in {pairs}"
        else:
            try:
                _, w, h, _ = probe(other)
            except DecodeError as exc:
                reason = f"its degraded partner {Path(other).name} is unusable: {exc.reason}"
            else:
                reason = mismatch((rec.width, rec.height), (w, h), scale, Path(other).name)
                if not reason and min(w, h) * scale < patch:
                    reason = f"smaller than the {patch}-pixel training patch"
        if reason:
            rec.status, rec.reason = "skipped", reason
            skipped.append(rec)
        else:
            kept.append(rec)
            mapping[rec.path] = other
    return kept, mapping, skipped


def load_pair(clean_path: str, degraded_path: str, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(degraded, clean) pixels of a pair, the clean image cropped to exactly `scale` times the degraded.

    Raises:
        DataError: the sizes do not pair (see `mismatch`).
    """
    given, clean = decode(degraded_path), decode(clean_path)
    h, w = given.shape[:2]
    reason = mismatch((clean.shape[1], clean.shape[0]), (w, h), scale, Path(degraded_path).name)
    if reason:
        raise DataError(f"{clean_path}: {reason}")
    return given, clean[:h * scale, :w * scale]


class PairSampler:
    """Aligned random crops of real pairs: a `patch`-pixel clean crop and the degraded crop over the
    same place (patch/scale pixels for super-resolution), flipped and rotated together."""

    def __init__(self, pairs: list[tuple[str, str]], patch: int, scale: int, per_epoch: int, seed: int):
        self.pairs, self.patch, self.scale, self.per_epoch = pairs, patch, scale, per_epoch
        self.rng = np.random.default_rng(seed)
        self.cache = [load_pair(c, d, scale) for c, d in pairs] if len(pairs) <= 2000 else None
        self.order: list[int] = []

    def _next(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.order:
            self.order = list(self.rng.permutation(len(self.pairs)))
        i = self.order.pop()
        return self.cache[i] if self.cache is not None else load_pair(*self.pairs[i], self.scale)

    def crop(self, given, clean, y: int, x: int, flip: bool, turns: int):
        s, q = self.scale, self.patch // self.scale
        a = given[y:y + q, x:x + q]
        b = clean[y * s:(y + q) * s, x * s:(x + q) * s]
        if flip:
            a, b = a[:, ::-1], b[:, ::-1]
        return np.ascontiguousarray(np.rot90(a, turns)), np.ascontiguousarray(np.rot90(b, turns))

    def __call__(self):
        q = self.patch // self.scale
        for _ in range(self.per_epoch):
            given, clean = self._next()
            y = int(self.rng.integers(0, given.shape[0] - q + 1))
            x = int(self.rng.integers(0, given.shape[1] - q + 1))
            yield self.crop(given, clean, y, x, self.rng.random() < 0.5, int(self.rng.integers(0, 4)))


def validation_pairs(pairs: list[tuple[str, str]], patch: int, scale: int, seed: int, limit: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Fixed aligned crops of the validation pairs (the centre, then seeded places), at most `limit`."""
    sampler = PairSampler([], patch, scale, 0, seed)
    rng = np.random.default_rng(seed)
    per_image = max(1, -(-limit // max(1, len(pairs))))
    q = patch // scale
    given_crops, clean_crops = [], []
    for clean_path, degraded_path in pairs:
        given, clean = load_pair(clean_path, degraded_path, scale)
        h, w = given.shape[:2]
        places = [((h - q) // 2, (w - q) // 2)]
        places += [(int(rng.integers(0, h - q + 1)), int(rng.integers(0, w - q + 1))) for _ in range(per_image - 1)]
        for y, x in places:
            a, b = sampler.crop(given, clean, y, x, False, 0)
            given_crops.append(a)
            clean_crops.append(b)
        if len(given_crops) >= limit:
            break
    return np.stack(given_crops[:limit]), np.stack(clean_crops[:limit])
