"""Training and validation batches of a segmentation model: images and their masks decoded once
(kept in memory while they fit), augmented identically (nearest-neighbour for the masks), at the
model's input size.

The input size is the scale predictions are made at (the whole image resized to it), so a
training view is the whole image at that scale, zoomed by a random factor (a random crop where
it is zoomed in, void borders where zoomed out), flipped left-right, with its colours jittered.
Seeded: the same run draws the same views in the same order.
"""

from __future__ import annotations

import cv2
import numpy as np

from visionflow.data.decode import decode
from visionflow.tasks.segmentation.masks import VOID

MIN_EPOCH = 256  # views per epoch at least (small folders repeat), so that an epoch is worth a checkpoint
MAX_EPOCH = 2000  # and at most, so that big sets still get epochs and a kept best one in the time budget
CACHE_BYTES = 2 * 1024 ** 3
KEEP_SCALE = 2.0  # cached images are at most this many times the input size (zoomed crops keep detail)
ZOOM = (0.7, 1.6)  # random zoom of a training view, relative to the whole image at the input size


def epoch_size(n: int) -> int:
    return min(max(n, MIN_EPOCH), MAX_EPOCH)


def resize_pair(image: np.ndarray, mask: np.ndarray | None, size: tuple[int, int]):
    """`image` (area or linear) and `mask` (nearest) resized to `size` (h, w)."""
    h, w = size
    shrink = image.shape[0] * image.shape[1] > h * w
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if mask is not None:
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    return image, mask


class Pairs:
    """The images and masks of a split, decoded (and shrunk to KEEP_SCALE x the input size) on first use."""

    def __init__(self, records: list, folder, size: tuple[int, int]):
        self.paths = [r.path for r in records]
        self.folder, self.size = folder, size
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i in self._cache:
            return self._cache[i]
        image, mask = decode(self.paths[i]), self.folder.mask(self.paths[i])
        h, w = image.shape[:2]
        scale = min(1.0, KEEP_SCALE * self.size[0] / h, KEEP_SCALE * self.size[1] / w)
        if scale < 1.0:
            image, mask = resize_pair(image, mask, (max(1, round(h * scale)), max(1, round(w * scale))))
        if self._bytes + image.nbytes + mask.nbytes <= CACHE_BYTES:
            self._cache[i] = (image, mask)
            self._bytes += image.nbytes + mask.nbytes
        return image, mask


def augment(image: np.ndarray, mask: np.ndarray, size: tuple[int, int], rng: np.random.Generator):
    """A random view of (image, mask) at `size`: zoom (crop or void border), flip, colour."""
    h, w = size
    zoom = float(np.exp(rng.uniform(*np.log(ZOOM))))
    th, tw = max(1, round(h * zoom)), max(1, round(w * zoom))
    image, mask = resize_pair(image, mask, (th, tw))
    out_img = np.empty((h, w, 3), np.uint8)
    out_img[:] = np.array([124, 116, 104], np.uint8)  # ImageNet mean grey outside the picture
    out_mask = np.full((h, w), VOID, np.uint8)
    y0 = int(rng.integers(0, th - h + 1)) if th >= h else -int(rng.integers(0, h - th + 1))
    x0 = int(rng.integers(0, tw - w + 1)) if tw >= w else -int(rng.integers(0, w - tw + 1))
    sy, sx = max(0, y0), max(0, x0)  # source corner
    dy, dx = max(0, -y0), max(0, -x0)  # destination corner
    ch, cw = min(h - dy, th - sy), min(w - dx, tw - sx)
    out_img[dy:dy + ch, dx:dx + cw] = image[sy:sy + ch, sx:sx + cw]
    out_mask[dy:dy + ch, dx:dx + cw] = mask[sy:sy + ch, sx:sx + cw]
    if rng.random() < 0.5:
        out_img, out_mask = out_img[:, ::-1], out_mask[:, ::-1]
    gain, bias = rng.uniform(0.75, 1.25), rng.uniform(-20, 20)
    jitter = rng.uniform(0.9, 1.1, size=3)
    out_img = np.clip(out_img.astype(np.float32) * gain * jitter + bias, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out_img), np.ascontiguousarray(out_mask)


class Views:
    """A generator of (image, mask) examples for tf.data: augmented views in a new seeded order each
    epoch (training), or the whole images resized (validation)."""

    def __init__(self, pairs: Pairs, seed: int, train: bool, augmented: bool = True):
        self.pairs, self.seed, self.train, self.augmented = pairs, seed, train, augmented
        self.epoch = 0

    def __call__(self):
        size = self.pairs.size
        if not self.train:
            for i in range(len(self.pairs)):
                yield resize_pair(*self.pairs.get(i), size)
            return
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        n = len(self.pairs)
        order = np.concatenate([rng.permutation(n) for _ in range(-(-epoch_size(n) // n))])[:epoch_size(n)]
        for i in order:
            image, mask = self.pairs.get(int(i))
            yield augment(image, mask, size, rng) if self.augmented else resize_pair(image, mask, size)


def datasets(folder, size: tuple[int, int], seed: int, batch_size: int, augmented: bool = True):
    """(training, validation) tf.data datasets of (float32 images, uint8 masks) batches."""
    import tensorflow as tf

    from visionflow.data.pipeline import steady

    spec = (tf.TensorSpec((*size, 3), tf.uint8), tf.TensorSpec(size, tf.uint8))
    out = []
    for split, train in (("train", True), ("validation", False)):
        pairs = Pairs(folder.splits[split], folder, size)
        ds = tf.data.Dataset.from_generator(Views(pairs, seed, train, augmented), output_signature=spec)
        ds = ds.apply(tf.data.experimental.assert_cardinality(epoch_size(len(pairs)) if train else len(pairs)))
        out.append(steady(ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))))
    return out[0], out[1]
