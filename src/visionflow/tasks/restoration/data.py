"""Clean images for restoration: any folder of pictures, class folders or not, and patches of them.

Layouts: DIR/train + DIR/validation (or val; test optional), each searched recursively, or DIR
alone, searched recursively, with `--val-split` of it held out (10% when not given). Files are
scanned like classification data (broken ones skipped and listed); training images smaller than
the training patch are skipped with that reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.data.dataset import ImageFolder
from visionflow.data.decode import decode
from visionflow.data.scan import Record
from visionflow.data.unlabelled import load_unlabelled
CACHE_BYTES = 1.5 * 2**30  # decoded training images kept in memory up to this; past it, read per patch
EPOCH_PATCHES = (1024, 4096)  # patches per epoch: one per training image, within these bounds
VALIDATION_PATCHES = 256


def load_images(root: str | Path, patch: int, val_split: float = 0.0, seed: int = 42,
                split_file: dict | None = None, pairs: str | Path | None = None, scale: int = 1,
                purpose: str = "restoration") -> ImageFolder:
    """The usable clean images of `root` split into train/validation(/test), as an ImageFolder
    without classes (`visionflow.data.unlabelled`). With `pairs` (a folder of degraded images,
    `visionflow.tasks.restoration.pairs`), only clean images with a usable partner are kept, and
    `folder.pairs` maps each to it."""
    pair = None
    if pairs:
        from visionflow.tasks.restoration.pairs import pair_records

        def pair(scanned: dict) -> dict:
            mapping: dict[str, str] = {}
            for recs in scanned.values():
                mapping.update(pair_records([r for r in recs if r.ok], Path(root), pairs, scale, patch)[1])
            return mapping

    return load_unlabelled(root, patch, val_split, seed, split_file, pair=pair,
                           partner=f"with a degraded partner in {pairs}" if pairs else "", purpose=purpose)


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

