"""Training and validation batches of a detector: decoded images (kept in memory while they fit),
augmented with their boxes (`augment`), and each image's boxes encoded as per-point targets
(`assign`). Seeded: the same run draws the same views in the same order."""

from __future__ import annotations

import numpy as np

from visionflow.data.decode import decode
from visionflow.tasks.detection.annotations import Truth
from visionflow.tasks.detection.assign import Assigner
from visionflow.tasks.detection.augment import augment, resize

EPOCH_IMAGES = 2000  # training images per epoch at most (a new random draw each epoch), so that big
# sets still get epochs, validation scores and a kept best epoch within the time budget
CACHE_BYTES = 2 * 1024 ** 3  # decoded images kept in memory up to this size
KEEP_SCALE = 2.0  # cached images are at most this many times the input side (crops still have detail)


class Images:
    """The images of a split, decoded (and shrunk to KEEP_SCALE x the input side) on first use,
    each with its boxes in the shrunk image's pixels."""

    def __init__(self, records: list, truth: dict[str, Truth], size: tuple[int, int]):
        self.paths = [r.path for r in records]
        self.truth = [truth[p] for p in self.paths]
        self.size = size
        self._cache: dict[int, tuple[np.ndarray, Truth]] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, i: int) -> tuple[np.ndarray, Truth]:
        if i in self._cache:
            return self._cache[i]
        image = decode(self.paths[i])
        truth = self.truth[i]
        h, w = image.shape[:2]
        limit = KEEP_SCALE * max(self.size)
        if max(h, w) > limit:
            s = limit / max(h, w)
            image, truth = resize(image, truth, (max(1, round(h * s)), max(1, round(w * s))))
        if self._bytes + image.nbytes <= CACHE_BYTES:
            self._cache[i] = (image, truth)
            self._bytes += image.nbytes
        return image, truth


def epoch_size(n: int) -> int:
    return min(n, EPOCH_IMAGES)


class Batches:
    """A generator of (image, targets) per example for tf.data: augmented views in a new seeded
    order each epoch (training), or the plain resized images in order (validation)."""

    def __init__(self, images: Images, assigner: Assigner, seed: int, train: bool, augmented: bool = True):
        self.images, self.assigner, self.seed, self.train = images, assigner, seed, train
        self.augmented = augmented
        self.epoch = 0

    def __call__(self):
        size = self.images.size
        if not self.train:
            for i in range(len(self.images)):
                image, truth = resize(*self.images.get(i), size)
                yield image, self.assigner(truth.boxes, truth.labels, truth.ignore)
            return
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        for i in rng.permutation(len(self.images))[:epoch_size(len(self.images))]:
            image, truth = (augment if self.augmented else lambda im, t, sz, _: resize(im, t, sz))(
                *self.images.get(int(i)), size, rng)
            yield image, self.assigner(truth.boxes, truth.labels, truth.ignore)


def datasets(folder, size: tuple[int, int], seed: int, batch_size: int, augmented: bool = True):
    """(training, validation) tf.data datasets of (uint8 images, float32 targets) batches; the
    training images augmented with their boxes unless `augmented` is False."""
    import tensorflow as tf

    from visionflow.data.pipeline import steady

    assigner = Assigner(size, len(folder.classes))
    spec = (tf.TensorSpec((*size, 3), tf.uint8), tf.TensorSpec((len(assigner.centres), assigner.width), tf.float32))
    out = []
    for split, train in (("train", True), ("validation", False)):
        images = Images(folder.splits[split], folder.truth, size)
        ds = tf.data.Dataset.from_generator(Batches(images, assigner, seed, train, augmented), output_signature=spec)
        ds = ds.apply(tf.data.experimental.assert_cardinality(epoch_size(len(images)) if train else len(images)))
        out.append(steady(ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))))
    return out[0], out[1]
