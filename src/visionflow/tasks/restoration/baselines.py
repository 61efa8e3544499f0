"""The classical methods a restoration model is measured against, as a user would run them.

Each baseline is `(function(given, meta, setting) -> restored uint8 RGB, settings to try)`; the
evaluation tries every setting on a few images and keeps each baseline's best, so a model is
compared with every filter at its best strength for the data, not at an arbitrary default.
Denoising and inpainting use OpenCV (cv2 works in BGR order, hence the flips); the total-variation
denoiser and the deconvolutions are scikit-image's. Deconvolution with the image's true blur
kernel (`meta["kernel"]`) is an upper bound a user with a blurred photo does not have: they do not
know the kernel; the blind baselines (unsharp masking, scikit-image's unsupervised Wiener with a guessed Gaussian
kernel) are what such a user can run.
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


def _per_channel(fn, image: np.ndarray) -> np.ndarray:
    """`fn` on each colour channel of an RGB uint8 image scaled to [0, 1]; uint8 back."""
    x = image[..., :3].astype(np.float64) / 255.0
    out = np.stack([fn(x[..., c]) for c in range(3)], axis=-1)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def unsharp(given, meta, setting):
    """Unsharp masking: the image plus `amount` times its difference from a Gaussian blur of
    `radius` (sigma) pixels. (scikit-image 0.26's `unsharp_mask` shifted the mean of colour
    images here, so it is written out with OpenCV's blur.)"""
    radius, amount = setting
    x = given[..., :3].astype(np.float32)
    out = x + amount * (x - _cv2().GaussianBlur(x, (0, 0), radius))
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def wiener_known(given, meta, balance):
    """Wiener deconvolution with the image's true kernel (an upper bound: see the module docstring)."""
    from skimage.restoration import wiener

    return _per_channel(lambda c: wiener(c, meta["kernel"], balance, clip=False), given)


def richardson_lucy_known(given, meta, iterations):
    """Richardson-Lucy deconvolution with the image's true kernel (an upper bound)."""
    from skimage.restoration import richardson_lucy

    return _per_channel(lambda c: richardson_lucy(c, meta["kernel"], num_iter=iterations, clip=False), given)


def unsupervised_wiener_guess(given, meta, sigma):
    """scikit-image's unsupervised Wiener (it estimates the regularisation itself) with a guessed
    Gaussian kernel of `sigma` pixels: blind, as a user without the true kernel would run it."""
    from skimage.restoration import unsupervised_wiener

    from visionflow.tasks.restoration.blur import kernel

    psf = kernel("gaussian", sigma).astype(np.float64)
    return _per_channel(lambda c: unsupervised_wiener(c, psf, clip=False, rng=0)[0], given)


DEBLUR = {
    "blurred input": (noisy_input, [None]),
    "unsharp masking": (unsharp, [(1, 1.0), (2, 1.0), (2, 2.0), (3, 1.5)]),
    "unsupervised Wiener, guessed kernel (scikit-image)": (unsupervised_wiener_guess, [1.0, 1.5, 2.0, 3.0]),
    "Wiener, true kernel (scikit-image; an upper bound)": (wiener_known, [0.003, 0.01, 0.03, 0.1]),
    "Richardson-Lucy, true kernel (scikit-image; an upper bound)": (richardson_lucy_known, [10, 30]),
}
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
