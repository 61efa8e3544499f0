"""Whole-image inference for restoration models: any size in, padded to what the network needs,
tiled with overlap past a pixel limit, never resized."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.errors import ModelError

MAX_TILE_PIXELS = 1024 * 1024  # input pixels per model call; larger images are restored in tiles
OVERLAP = 48  # input pixels of context each tile borrows from its neighbours (more than the models' reach)


class Restorer:
    """A restoration model with its metadata: `restore(image)` -> the restored uint8 image."""

    def __init__(self, model, meta: dict, source: str = "", max_tile_pixels: int = MAX_TILE_PIXELS,
                 runtime: Callable[[np.ndarray], np.ndarray] | None = None, backend: str = "keras"):
        from visionflow import tasks

        self.model, self.meta, self.source, self.backend = model, meta, source, backend
        self.task = tasks.of(meta)
        self.scale = int(meta.get("scale", 1)) if self.task.name == "superres" else 1
        self.multiple = int(meta.get("multiple", 1))
        self.channels = int(meta.get("input_channels", 3))
        self.max_tile_pixels = max_tile_pixels
        if runtime is None:
            import tensorflow as tf

            fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                             input_signature=[tf.TensorSpec([None, None, None, self.channels], tf.float32)])
            runtime = lambda batch: fn(batch).numpy()  # noqa: E731
        self.runtime = runtime

    @classmethod
    def load(cls, run: str | Path, unsafe: bool = False) -> "Restorer":
        """The model of a run folder (or a .keras file with labels.json beside it), or an export
        folder written by `visionflow export` (run in its format's runtime)."""
        import visionflow.models.layers  # noqa: F401  (registers the custom layers)
        import visionflow.tasks.restoration.losses  # noqa: F401
        from visionflow.predictor import exported_format, load_keras, model_files
        from visionflow.runtime import open_artifact

        exported = exported_format(Path(run))
        if exported is not None:
            artifact, meta = exported
            _check_task(run, meta)
            if not artifact.exists():
                raise ModelError(f"No exported model at {artifact}.")
            return cls(None, meta, str(artifact), runtime=open_artifact(str(meta["format"]), artifact, meta),
                       backend=str(meta["format"]))
        model_path, meta = model_files(Path(run))
        _check_task(run, meta)
        return cls(load_keras(model_path, unsafe), meta, str(model_path))

    def padded(self, given: np.ndarray) -> np.ndarray:
        """`given` (h, w, channels) as float32, padded (by reflection) to the network's multiple."""
        if given.ndim != 3 or given.shape[2] != self.channels:
            raise ModelError(f"This {self.task.name} model takes images with {self.channels} channels; "
                             f"received shape {tuple(given.shape)}.")
        h, w = given.shape[:2]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        mode = "reflect" if min(h, w) > max(ph, pw) else "edge"
        return np.pad(given.astype(np.float32), ((0, ph), (0, pw), (0, 0)), mode=mode)

    def _run(self, x: np.ndarray) -> np.ndarray:
        """The model on one padded float32 image (h, w, c) -> (h*s, w*s, 3)."""
        return np.asarray(self.runtime(x[None].astype(np.float32)))[0]

    def restore(self, given: np.ndarray) -> np.ndarray:
        """`given` (h, w, channels) uint8 -> the restored (h*scale, w*scale, 3) uint8 image (a style
        model's: 3 channels per style)."""
        h, w = given.shape[:2]
        x = self.padded(given)
        out = self._tiled(x) if x.shape[0] * x.shape[1] > self.max_tile_pixels else self._run(x)
        s = self.scale
        return np.clip(np.round(out[:h * s, :w * s]), 0, 255).astype(np.uint8)

    def _tiled(self, x: np.ndarray) -> np.ndarray:
        """Restores `x` tile by tile: each tile is run with OVERLAP pixels of context on every side
        that has a neighbour, and only its own part is kept."""
        H, W = x.shape[:2]
        s, m = self.scale, self.multiple
        # At least 4 x OVERLAP a side, so that at least half of every tile is its own part (a
        # smaller tile would be mostly borrowed context: thousands of model calls per image).
        side = max(4 * OVERLAP, int(np.sqrt(self.max_tile_pixels))) // m * m
        core = max(m, side - 2 * OVERLAP) // m * m
        margin = OVERLAP // m * m + m
        out = None  # as many channels as the model gives (a style model: 3 per style)
        for top in range(0, H, core):
            for left in range(0, W, core):
                bottom, right = min(H, top + core), min(W, left + core)
                y0, x0 = max(0, top - margin), max(0, left - margin)
                y1, x1 = min(H, bottom + margin), min(W, right + margin)
                tile = x[y0:y1, x0:x1]
                th, tw = (-tile.shape[0]) % m, (-tile.shape[1]) % m
                tile = np.pad(tile, ((0, th), (0, tw), (0, 0)), mode="edge")
                done = self._run(tile)
                if out is None:
                    out = np.zeros((H * s, W * s, done.shape[-1]), np.float32)
                out[top * s:bottom * s, left * s:right * s] = done[(top - y0) * s:(bottom - y0) * s,
                                                                   (left - x0) * s:(right - x0) * s]
        return out


def _check_task(run, meta: dict) -> None:
    from visionflow import tasks

    if tasks.of(meta).outputs != "image":
        raise ModelError(f"{run} holds a {tasks.of(meta).name} model, not a restoration model.")

