"""Clean images for restoration: any folder of pictures, class folders or not, and patches of them.

Layouts: DIR/train + DIR/validation (or val; test optional), each searched recursively, or DIR
alone, searched recursively, with `--val-split` of it held out (10% when not given). Files are
scanned like classification data (broken ones skipped and listed); training images smaller than
the training patch are skipped with that reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.data.dataset import ImageFolder, make_folder
from visionflow.data.decode import decode
from visionflow.data.scan import VALIDATION_DIRS, Record, _list_files, check_records
from visionflow.data.split import stratified_group_split
from visionflow.errors import DataError

DEFAULT_VAL_SPLIT = 0.1
MIN_TRAIN_IMAGES = 2
CACHE_BYTES = 1.5 * 2**30  # decoded training images kept in memory up to this; past it, read per patch
EPOCH_PATCHES = (1024, 4096)  # patches per epoch: one per training image, within these bounds
VALIDATION_PATCHES = 256


def load_images(root: str | Path, patch: int, val_split: float = 0.0, seed: int = 42,
                split_file: dict | None = None, pairs: str | Path | None = None, scale: int = 1) -> ImageFolder:
    """The usable clean images of `root` split into train/validation(/test), as an ImageFolder
    without classes. With `pairs` (a folder of degraded images, `visionflow.restoration.pairs`),
    only clean images with a usable partner are kept, and `folder.pairs` maps each to it."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"Data folder {root} does not exist." if not root.exists() else
                        f"Data folder {root} is a file; give the folder that holds the images.")
    layout: dict[str, Path] = {}
    if (root / "train").is_dir():
        layout["train"] = root / "train"
        val = next((root / d for d in VALIDATION_DIRS if (root / d).is_dir()), None)
        if val is not None and val_split > 0:
            raise DataError(f"{root} already has a validation folder ({val.name}/); drop --val-split or remove that folder.")
        if val is not None:
            layout["validation"] = val
        if (root / "test").is_dir():
            layout["test"] = root / "test"
    else:
        layout["train"] = root
    scanned = {split: check_records(_list_files(folder, "", split), None) for split, folder in layout.items()}
    for split in ("train", "validation"):
        for rec in scanned.get(split, []):
            if rec.ok and min(rec.width, rec.height) < patch:
                rec.status, rec.reason = "skipped", f"smaller than the {patch}-pixel training patch"
    mapping: dict[str, str] = {}
    if pairs:
        from visionflow.restoration.pairs import pair_records

        for split, recs in scanned.items():
            mapping.update(pair_records([r for r in recs if r.ok], root, pairs, scale, patch)[1])
    usable = {s: [r for r in recs if r.ok] for s, recs in scanned.items()}
    skipped = [r for recs in scanned.values() for r in recs if not r.ok]
    split_info: dict = {"kind": "split" if "validation" in layout else "images"}
    if "validation" not in layout:
        fraction = val_split or DEFAULT_VAL_SPLIT
        if split_file:
            keep = set(split_file.get("validation", []))
            val_recs = [r for r in usable["train"] if r.path in keep]
            train = [r for r in usable["train"] if r.path not in keep]
            grouped = split_file.get("duplicates_grouped", 0)
        elif len(usable["train"]) >= MIN_TRAIN_IMAGES + 1:
            train, val_recs, grouped = stratified_group_split(usable["train"], fraction, seed)
        else:
            train, val_recs, grouped = usable["train"], [], 0
        for r in val_recs:
            r.split = "validation"
        usable["train"], usable["validation"] = train, val_recs
        split_info.update(val_split=fraction, seed=seed, strategy="random, near-duplicates grouped",
                          duplicates_grouped=grouped)
    if len(usable["train"]) < MIN_TRAIN_IMAGES:
        what = f" with a degraded partner in {pairs}" if pairs else ""
        raise DataError(f"{layout['train']} has {len(usable['train'])} usable training image(s) of at least "
                        f"{patch}x{patch} pixels{what}; restoration needs at least {MIN_TRAIN_IMAGES} (any photos: "
                        f"class folders are ignored){' — see the skipped files above' if skipped else ''}.")
    if not usable.get("validation"):
        raise DataError(f"No usable validation images in {root}: add DIR/validation/ or more images for --val-split.")
    folder = make_folder(root, {s: str(p) for s, p in layout.items()}, [], usable, skipped, split_info)
    folder.report["noun"] = "images"
    folder.pairs = mapping
    folder.report["validation_files"] = (
        [r.path for r in usable["validation"]] if split_info["kind"] == "images" else None)
    return folder


class PatchSampler:
    """Random `patch` x `patch` crops of the training images, flipped and rotated at random (a
    picture upside down is still a picture to restore), one image after another in a reshuffled
    order, `per_epoch` crops per call; the order carries on across epochs, so every image is
    visited however short an epoch is."""

    def __init__(self, records: list[Record], patch: int, per_epoch: int, seed: int):
        self.paths = [r.path for r in records]
        self.patch, self.per_epoch = patch, per_epoch
        self.rng = np.random.default_rng(seed)
        size = sum(r.width * r.height * 3 for r in records)
        self.images = [decode(p) for p in self.paths] if size <= CACHE_BYTES else None
        self.order: list[int] = []

    def _next_image(self) -> np.ndarray:
        if not self.order:
            self.order = list(self.rng.permutation(len(self.paths)))
        i = self.order.pop()
        return self.images[i] if self.images is not None else decode(self.paths[i])

    def __call__(self):
        p = self.patch
        for _ in range(self.per_epoch):
            img = self._next_image()
            y = int(self.rng.integers(0, img.shape[0] - p + 1))
            x = int(self.rng.integers(0, img.shape[1] - p + 1))
            crop = img[y:y + p, x:x + p]
            if self.rng.random() < 0.5:
                crop = crop[:, ::-1]
            yield np.ascontiguousarray(np.rot90(crop, int(self.rng.integers(0, 4))))


def epoch_patches(train_images: int) -> int:
    return int(np.clip(train_images, *EPOCH_PATCHES))


def validation_patches(records: list[Record], patch: int, seed: int, limit: int = VALIDATION_PATCHES) -> np.ndarray:
    """Fixed crops of the validation images (the centre, then seeded random places), at most
    `limit`, for the per-epoch validation PSNR."""
    rng = np.random.default_rng(seed)
    fits = records
    per_image = max(1, -(-limit // max(1, len(fits))))
    crops = []
    for rec in fits:
        img = decode(rec.path)
        h, w = img.shape[:2]
        places = [((h - patch) // 2, (w - patch) // 2)]
        places += [(int(rng.integers(0, h - patch + 1)), int(rng.integers(0, w - patch + 1))) for _ in range(per_image - 1)]
        crops += [img[y:y + patch, x:x + patch] for y, x in places]
        if len(crops) >= limit:
            break
    return np.stack(crops[:limit])

