"""Blur kernels and specs for deblurring: kernels of the right shape that sum to 1, flat images
stay flat, blur removes fine detail, the same seed blurs the same way, and bad specs say why."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.errors import ConfigError
from visionflow.tasks.restoration.blur import Blur, blur_batch, blur_image, kernel, parse_blur


def test_specs_parse_and_bad_ones_say_why():
    assert parse_blur("blur:gaussian:2") == Blur("gaussian", 2.0, 2.0)
    assert parse_blur("blur:motion:5-15") == Blur("motion", 5.0, 15.0)
    assert parse_blur("blur:motion:9:30").text() == "blur:motion:9:30"
    for bad, message in [("blur:smear:2", "KIND one of gaussian, motion, defocus"),
                         ("blur:gaussian:two", "is not a number or a LOW-HIGH range"),
                         ("blur:motion:9:left", "the angle must be a number"),
                         ("blur:defocus:3:10", "only motion blur takes a fourth part"),
                         ("blur:gaussian:50", "must lie in 0.1-20")]:
        with pytest.raises(ConfigError, match="^[^\n]+$") as err:
            parse_blur(bad)
        assert message in str(err.value)


def test_kernels_have_the_shape_of_their_blur():
    g = kernel("gaussian", 2.0)
    assert g.shape == (13, 13) and g.sum() == pytest.approx(1.0) and np.allclose(g, g.T)
    r = np.arange(-6, 7)
    assert float((g.sum(axis=0) * r ** 2).sum()) == pytest.approx(4.0, rel=0.02)  # variance sigma^2
    m = kernel("motion", 9.0, 0.0)
    assert m.sum() == pytest.approx(1.0)
    assert m[m.shape[0] // 2].sum() > 0.99 and np.count_nonzero(m[m.shape[0] // 2]) >= 9  # a horizontal line
    vertical = kernel("motion", 9.0, 90.0)
    assert vertical[:, vertical.shape[1] // 2].sum() > 0.99
    d = kernel("defocus", 4.0)
    assert float((d / d.max()).sum()) == pytest.approx(np.pi * 16, rel=0.01)  # the area of a disk of radius 4
    assert d.sum() == pytest.approx(1.0) and d[0, 0] == 0 and d[4, 4] == d.max()


def test_blur_keeps_flat_images_flat_removes_detail_and_repeats_with_its_seed():
    flat = np.full((20, 24, 3), 90.0, np.float32)
    for kind, level in [("gaussian", 2.0), ("motion", 9.0), ("defocus", 3.0)]:
        assert np.allclose(blur_image(flat, kernel(kind, level, 45.0)), 90.0, atol=1e-3)
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    spec = parse_blur("blur:motion:5-15")
    blurred = blur_batch(sharp, spec, seed=3)
    assert blurred.shape == sharp.shape and blurred.min() >= 0 and blurred.max() <= 255
    assert np.abs(np.diff(blurred, axis=2)).mean() < 0.5 * np.abs(np.diff(sharp, axis=2)).mean()
    assert np.array_equal(blurred, blur_batch(sharp, spec, seed=3))
    assert not np.array_equal(blurred, blur_batch(sharp, spec, seed=4))


def test_the_deblurring_baselines_undo_some_of_the_blur():
    from visionflow.tasks.restoration.baselines import DEBLUR

    yy, xx = np.mgrid[0:48, 0:48]
    sharp = np.stack([(np.sin(xx / 3.0) * 80 + 128), (np.cos(yy / 4.0) * 80 + 128),
                      ((xx + yy) % 16 < 8) * 150.0 + 50], axis=-1).astype(np.float32)
    k = kernel("gaussian", 2.0)
    blurred = np.round(np.clip(blur_image(sharp, k), 0, 255)).astype(np.uint8)

    def psnr(image):
        return 10 * np.log10(255.0 ** 2 / np.mean((image[6:-6, 6:-6].astype(float) - sharp[6:-6, 6:-6]) ** 2))

    scores = {name: max(psnr(fn(blurred, {"kernel": k}, s)) for s in settings)
              for name, (fn, settings) in DEBLUR.items()}
    base = scores.pop("blurred input")
    assert all(score > base + 0.5 for score in scores.values()), (base, scores)
