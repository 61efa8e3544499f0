"""The classical methods a restoration model is measured against, as a user would run them.

Each baseline is `(function(given, meta, setting) -> restored uint8 RGB, settings to try)`; the
evaluation tries every setting on a few images and keeps each baseline's best, so a model is
compared with every filter at its best strength for the data, not at an arbitrary default.
Denoising and inpainting use OpenCV (cv2 works in BGR order, hence the flips); the total-variation
denoiser is scikit-image's.
"""

from __future__ import annotations

import numpy as np


def _cv2():
    import cv2

    return cv2


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[..., ::-1])


def noisy_input(given, meta, setting):
    return given[..., :3]


def gaussian_blur(given, meta, sigma):
    return _cv2().GaussianBlur(given[..., :3], (0, 0), sigma)


def median(given, meta, size):
    return _cv2().medianBlur(np.ascontiguousarray(given[..., :3]), size)


def nl_means(given, meta, h):
    """OpenCV's fast non-local means (Buades et al. 2005) on colour images."""
    return _bgr(_cv2().fastNlMeansDenoisingColored(_bgr(given[..., :3]), None, h, h, 7, 21))


def total_variation(given, meta, weight):
    """scikit-image's total-variation denoising (Chambolle 2004), per colour channel."""
    from skimage.restoration import denoise_tv_chambolle

    out = denoise_tv_chambolle(given[..., :3].astype(np.float64) / 255.0, weight=weight, channel_axis=-1)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def _upscale(interpolation: str):
    def upscale(given, meta, setting):
        cv2 = _cv2()
        s = int(meta["scale"])
        h, w = given.shape[:2]
        return cv2.resize(given[..., :3], (w * s, h * s), interpolation=getattr(cv2, interpolation))

    return upscale


def _inpaint(flag: str):
    def inpaint(given, meta, radius):
        cv2 = _cv2()
        mask = (given[..., 3] > 127).astype(np.uint8)
        return _bgr(cv2.inpaint(_bgr(given[..., :3]), mask, radius, getattr(cv2, flag)))

    return inpaint


DENOISE = {
    "noisy input": (noisy_input, [None]),
    "gaussian blur": (gaussian_blur, [0.6, 0.9, 1.3, 1.8, 2.5]),
    "median filter": (median, [3, 5]),
    "non-local means (OpenCV)": (nl_means, [4, 7, 10, 14, 19, 25]),
    "total variation (scikit-image)": (total_variation, [0.03, 0.06, 0.1, 0.15]),
}
UPSCALE = {
    "nearest": (_upscale("INTER_NEAREST"), [None]),
    "bilinear": (_upscale("INTER_LINEAR"), [None]),
    "bicubic": (_upscale("INTER_CUBIC"), [None]),
}
INPAINT = {
    "Telea (OpenCV)": (_inpaint("INPAINT_TELEA"), [3, 7]),
    "Navier-Stokes (OpenCV)": (_inpaint("INPAINT_NS"), [3, 7]),
}
