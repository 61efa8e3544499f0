"""What a GAN run watches every epoch: the EMA generator's batch-norm statistics, sample grids
from fixed latents, sample diversity, and the signs of a collapsed run."""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np

from visionflow.tasks.generation.grid import display_scale, make_grid, save_png
from visionflow.tasks.generation.sampler import latents

GRID_PER_CLASS = 8  # samples per class row (conditional) or per row (unconditional)
MAX_GRID_CLASSES = 10
STAT_BATCHES, STAT_BATCH = 8, 64  # latents for the EMA generator's batch-norm statistics
DIVERSITY_IMAGES = 64
COLLAPSE_RATIO = 0.4  # samples varying less than this share of real images' variety ...
COLLAPSE_FALL = 0.5  # ... and less than half as much as at their most varied: collapsed
D_WINS = 0.05  # an epoch's discriminator loss below this: it separates real and fake outright


def diversity(images: np.ndarray) -> float:
    """Mean pairwise distance between images (downsampled to 16x16, pixels in [0, 1])."""
    import tensorflow as tf

    x = tf.image.resize(np.asarray(images, np.float32) / 255.0, (16, 16), antialias=True).numpy().reshape(len(images), -1)
    sq = (x * x).sum(1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0))
    n = len(x)
    return float(d.sum() / max(1, n * (n - 1)))


def grid_inputs(meta_classes: int, latent_dim: int, seed: int) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(latents, class indices or None, columns) of the run's fixed sample grid."""
    if meta_classes:
        rows = min(meta_classes, MAX_GRID_CLASSES)
        z = np.tile(latents(GRID_PER_CLASS, latent_dim, seed), (rows, 1))
        return z, np.repeat(np.arange(rows), GRID_PER_CLASS), GRID_PER_CLASS
    return latents(GRID_PER_CLASS * GRID_PER_CLASS, latent_dim, seed), None, GRID_PER_CLASS


class GanMonitor(keras.callbacks.Callback):
    """Runs before the run's own callbacks each epoch: re-estimates the EMA generator's batch-norm
    statistics from random latents (so model.keras samples as the averaged weights do), adds
    `diversity` (of the fixed-latent samples relative to real images; class by class for a
    conditional model) to the epoch's logs, writes the fixed-latent sample grid
    every `every` epochs (samples/epoch-NNNN.png and TensorBoard), and warns once of collapse."""

    def __init__(self, paths, folder, cfg, state: dict, say: Callable[[str], None], every: int = 5):
        super().__init__()
        self.paths, self.folder, self.cfg, self.state, self.say, self.every = paths, folder, cfg, state, say, every
        self.classes = len(folder.classes) if cfg.conditional else 0
        self.z, self.y, self.columns = grid_inputs(self.classes, cfg.latent_dim, cfg.seed)
        self._estimator = None
        self._real = None
        self._writer = None
        self.peak = max([r.get("diversity", 0.0) for r in state.get("history", [])], default=0.0)  # so far

    def _real_diversity(self) -> float:
        """The variety of real training images: of the grid's classes, each within itself, for a
        conditional model (whose samples are compared class by class)."""
        if self._real is None:
            from visionflow.data.decode import decode
            from visionflow.data.resize import Resize

            recs = self.folder.splits["train"]
            order = np.random.default_rng(self.cfg.seed).permutation(len(recs))
            groups = ([[i for i in order if recs[i].label == c][:GRID_PER_CLASS]
                       for c in self.folder.classes[:MAX_GRID_CLASSES]] if self.classes else [order[:DIVERSITY_IMAGES]])
            values = []
            for group in groups:
                if len(group) >= 2:
                    images = np.stack([decode(recs[i].path, size=self.cfg.image_size, resize=Resize(self.cfg.resize))
                                       for i in group])
                    values.append(diversity(images))
            self._real = float(np.mean(values)) if values else 1.0
        return self._real

    def _sample_diversity(self, samples: np.ndarray) -> float:
        if not self.classes:
            return diversity(samples[:DIVERSITY_IMAGES])
        return float(np.mean([diversity(samples[self.y == c]) for c in np.unique(self.y)]))

    def _standing_statistics(self) -> None:
        from visionflow.training.precise_bn import StatisticsEstimator

        rng = np.random.default_rng(self.cfg.seed + 7)
        batches = []
        for _ in range(STAT_BATCHES):
            z = rng.standard_normal((STAT_BATCH, self.cfg.latent_dim)).astype(np.float32)
            if self.classes:
                batches.append({"latent": z, "class_index": rng.integers(0, self.classes, STAT_BATCH).astype(np.int32)})
            else:
                batches.append(z)
        # The EMA copy is never trained (not trainable), but batch norm only takes batch statistics
        # from a trainable layer.
        self.model.ema.trainable = True
        try:
            if self._estimator is None:
                self._estimator = StatisticsEstimator(self.model.ema)
            self._estimator(batches)
        finally:
            self.model.ema.trainable = False

    def _samples(self) -> np.ndarray:
        inputs = [self.z, self.y.astype(np.int32)] if self.classes else self.z
        return np.clip(np.round(np.asarray(self.model.ema(inputs, training=False))), 0, 255).astype(np.uint8)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        self._standing_statistics()
        samples = self._samples()
        ratio = self._sample_diversity(samples) / max(self._real_diversity(), 1e-9)
        logs["diversity"] = ratio
        done = epoch + 1
        if done == 1 or done % self.every == 0:
            self.write_grid(samples, done)
        warnings = self.state.setdefault("warnings", [])
        d_loss = logs.get("d_loss")
        if d_loss is not None and float(d_loss) < D_WINS and not any(w.startswith("discriminator") for w in warnings):
            warnings.append(f"discriminator wins outright from epoch {done} (d_loss {float(d_loss):.3f}): the "
                            f"generator gets no useful gradient. Try more --diffaugment, a lower --learning-rate "
                            f"or more images.")
            self.say(f"  warning: {warnings[-1]}")
        # An untrained generator's samples are alike too: collapse is diversity lost, not never had.
        self.peak = max(self.peak, ratio)
        if (ratio < COLLAPSE_FALL * self.peak and ratio < COLLAPSE_RATIO
                and not any(w.startswith("mode collapse") for w in warnings)):
            warnings.append(f"mode collapse at epoch {done}: the fixed-latent samples vary {ratio:.2f}x as much as "
                            f"real images, down from {self.peak:.2f}x. Use an earlier epoch's grid to judge, lower "
                            f"--learning-rate, or try --model dcgan.")
            self.say(f"  warning: {warnings[-1]}")

    def write_grid(self, samples: np.ndarray, epoch: int) -> None:
        picture = make_grid(samples, self.columns)
        save_png(picture, self.paths.root / "samples" / f"epoch-{epoch:04d}.png", display_scale(samples.shape[1]))
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.paths.tensorboard / "samples"))
        with self._writer.as_default():
            tf.summary.image("samples", picture[None], step=epoch)
        self._writer.flush()

