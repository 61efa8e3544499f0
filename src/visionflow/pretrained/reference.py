"""The generated images on which a conversion is checked against the source framework.

Numpy only, so that the script which records the source framework's outputs
(bench/pretrained_reference.py, run once where PyTorch is installed) makes exactly the same images.
"""

from __future__ import annotations

import numpy as np

# The EfficientNet-Lite input normalisation (models.efficientnet_lite's, kept here so this module
# needs numpy alone; a test checks that the two agree).
MEAN, SCALE = 127.0, 128.0


def reference_inputs(size: int = 224, seed: int = 0) -> np.ndarray:
    """Six generated RGB images (uint8, size x size) that exercise every channel and spatial
    frequency and that the ImageNet networks tell apart: colour blocks, stripes, rings, smooth
    waves, a checkerboard and fine noise, each with some noise on top. PyTorch's outputs on exactly
    these images are stored in `references/`."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    colours = rng.uniform(0, 255, size=(6, 2, 3))

    def two_tone(mask: np.ndarray, k: int) -> np.ndarray:  # (size, size) in [0, 1] -> RGB
        return mask[..., None] * colours[k, 0] + (1 - mask[..., None]) * colours[k, 1]

    blocks = np.kron(rng.uniform(0, 255, size=(8, 8, 3)), np.ones((-(-size // 8), -(-size // 8), 1)))[:size, :size]
    r = np.hypot(x - 0.5, y - 0.5)
    patterns = [blocks,
                two_tone((np.sin(2 * np.pi * 6 * y) > 0).astype(float), 1),
                two_tone(0.5 + 0.5 * np.sin(2 * np.pi * 10 * r), 2),
                two_tone(0.5 + 0.25 * np.sin(2 * np.pi * 2 * x) + 0.25 * np.cos(2 * np.pi * 3 * y), 3),
                two_tone(((x * 7).astype(int) + (y * 7).astype(int)) % 2 * 1.0, 4),
                rng.uniform(0, 255, size=(size, size, 3))]
    images = np.stack(patterns) + rng.normal(0, 8, size=(len(patterns), size, size, 3))
    return np.clip(images, 0, 255).astype(np.uint8)


def normalise(images: np.ndarray) -> np.ndarray:
    """Pixels as the Lite networks take them after their first layer: (x - 127) / 128, float32."""
    return ((images.astype(np.float32) - MEAN) / SCALE).astype(np.float32)
