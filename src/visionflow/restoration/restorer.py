"""Whole-image inference for restoration models: any size in, padded to what the network needs,
tiled with overlap past a pixel limit, never resized."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.errors import ModelError

MAX_TILE_PIXELS = 1024 * 1024  # input pixels per model call; larger images are restored in tiles
OVERLAP = 48  # input pixels of context each tile borrows from its neighbours (more than the models' reach)


class Restorer:
    """A restoration model with its metadata: `restore(image)` -> the restored uint8 image."""

    def __init__(self, model, meta: dict, source: str = "", max_tile_pixels: int = MAX_TILE_PIXELS):
        import tensorflow as tf

        from visionflow import tasks

        self.model, self.meta, self.source = model, meta, source
        self.task = tasks.of(meta)
        self.scale = int(meta.get("scale", 1)) if self.task.name == "superres" else 1
        self.multiple = int(meta.get("multiple", 1))
        self.channels = int(meta.get("input_channels", 3))
        self.max_tile_pixels = max_tile_pixels
        self._call = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                                 input_signature=[tf.TensorSpec([None, None, None, self.channels], tf.float32)])

    @classmethod
    def load(cls, run: str | Path, unsafe: bool = False) -> "Restorer":
        """The model of a run folder (or a .keras file with labels.json beside it)."""
        import visionflow.models.layers  # noqa: F401  (registers the custom layers)
        import visionflow.restoration.losses  # noqa: F401
        from visionflow.predictor import load_keras, model_files

        from visionflow import tasks

        model_path, meta = model_files(Path(run))

        if tasks.of(meta).outputs != "image":
            raise ModelError(f"{run} holds a {tasks.of(meta).name} model, not a restoration model.")
        return cls(load_keras(model_path, unsafe), meta, str(model_path))

    def _run(self, x: np.ndarray) -> np.ndarray:
        """The model on one padded float32 image (h, w, c) -> (h*s, w*s, 3)."""
        return self._call(x[None].astype(np.float32)).numpy()[0]

    def restore(self, given: np.ndarray) -> np.ndarray:
        """`given` (h, w, channels) uint8 -> the restored (h*scale, w*scale, 3) uint8 image."""
        if given.ndim != 3 or given.shape[2] != self.channels:
            raise ModelError(f"This {self.task.name} model takes images with {self.channels} channels; "
                             f"received shape {tuple(given.shape)}.")
        h, w = given.shape[:2]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        mode = "reflect" if min(h, w) > max(ph, pw) else "edge"
        x = np.pad(given.astype(np.float32), ((0, ph), (0, pw), (0, 0)), mode=mode)
        out = self._tiled(x) if x.shape[0] * x.shape[1] > self.max_tile_pixels else self._run(x)
        s = self.scale
        return np.clip(np.round(out[:h * s, :w * s]), 0, 255).astype(np.uint8)

    def _tiled(self, x: np.ndarray) -> np.ndarray:
        """Restores `x` tile by tile: each tile is run with OVERLAP pixels of context on every side
        that has a neighbour, and only its own part is kept."""
        H, W = x.shape[:2]
        s, m = self.scale, self.multiple
        side = max(m, int(np.sqrt(self.max_tile_pixels)) // m * m)
        core = max(m, side - 2 * OVERLAP) // m * m
        margin = OVERLAP // m * m + m
        out = np.zeros((H * s, W * s, 3), np.float32)
        for top in range(0, H, core):
            for left in range(0, W, core):
                bottom, right = min(H, top + core), min(W, left + core)
                y0, x0 = max(0, top - margin), max(0, left - margin)
                y1, x1 = min(H, bottom + margin), min(W, right + margin)
                tile = x[y0:y1, x0:x1]
                th, tw = (-tile.shape[0]) % m, (-tile.shape[1]) % m
                tile = np.pad(tile, ((0, th), (0, tw), (0, 0)), mode="edge")
                done = self._run(tile)
                out[top * s:bottom * s, left * s:right * s] = done[(top - y0) * s:(bottom - y0) * s,
                                                                   (left - x0) * s:(right - x0) * s]
        return out
