"""Style transfer's parts: Gram matrices and distances computed by hand, the network keeps any
size, the perceptual loss round-trips through a saved config and falls as Gatys' optimisation
moves a photo toward a style."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from visionflow.tasks.style import features as F
from visionflow.tasks.style.losses import PerceptualLoss, decode_png, encode_png, total_variation
from visionflow.tasks.style.models import johnson_s


def stripes(side: int = 64, period: int = 8) -> np.ndarray:
    """Vertical stripes of two colours: a style whose statistics are easy to check."""
    out = np.empty((side, side, 3), np.uint8)
    on = (np.arange(side) // (period // 2)) % 2 == 0
    out[:, on] = (220, 40, 30)
    out[:, ~on] = (20, 60, 200)
    return out


def test_gram_and_distances_match_hand_computation():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    flat = a.reshape(2, 12, 5)
    expected = np.einsum("bpi,bpj->bij", flat, flat) / 12
    np.testing.assert_allclose(np.asarray(F.gram(a)), expected, rtol=1e-5)
    b = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    got = np.asarray(F.content_distance(a, b))
    want = ((a - b) ** 2).mean(axis=(1, 2, 3)) / (b ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.asarray(F.content_distance(b, b)).max() == 0.0
    grams = [F.gram(a)]
    assert np.asarray(F.style_distance(grams, grams)).max() == 0.0
    np.testing.assert_allclose(np.asarray(F.style_distance([np.zeros((2, 5, 5), np.float32)], grams)), [1.0, 1.0],
                               rtol=1e-5)


def test_total_variation_is_zero_on_flat_images_and_grows_with_stripes():
    flat = np.full((1, 16, 16, 3), 128.0, np.float32)
    striped = stripes(16, 4)[None].astype(np.float32)
    assert float(total_variation(flat)[0]) == 0.0
    # 7 of the 15 horizontal neighbour pairs per row change colour, by (200 + 20 + 170) / 3 a channel
    assert float(total_variation(striped)[0]) == pytest.approx(7 / 15 * 130 / 255, rel=1e-5)


@pytest.mark.parametrize("size", [(64, 64), (36, 52)])
def test_the_network_returns_an_image_of_its_input_size_in_range(size):
    net = johnson_s()
    x = np.random.default_rng(1).uniform(0, 255, (1, *size, 3)).astype(np.float32)
    out = np.asarray(net(x))
    assert out.shape == x.shape and out.min() >= 0.0 and out.max() <= 255.0


def test_the_png_round_trip_is_exact():
    pixels = stripes(24, 6)
    np.testing.assert_array_equal(decode_png(encode_png(pixels)), pixels)


def test_the_loss_survives_its_config_and_falls_as_pixels_move_toward_the_style():
    from visionflow.tasks.style import gatys

    keras.utils.set_random_seed(0)  # the untrained extractor (weights="none") is the same when rebuilt
    loss = PerceptualLoss(encode_png(stripes()), style_weight=10.0, tv_weight=0.0, weights="none")
    keras.utils.set_random_seed(0)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert (again.style_weight, again.tv_weight, again.styles) == (10.0, 0.0, loss.styles)
    photo = np.random.default_rng(2).uniform(60, 200, (48, 48, 3)).astype(np.float32)
    batch = photo[None]
    assert float(again(batch, batch)) == pytest.approx(float(loss(batch, batch)), rel=1e-5)
    before = loss.terms(batch, batch)[0]
    assert float(before["content"][0]) == 0.0 and float(before["style"][0]) > 0.0
    out, seconds = gatys.restyle(photo.astype(np.uint8), loss, steps=30, rate=4.0)
    after = loss.terms(batch, out[None].astype(np.float32))[0]
    assert out.shape == photo.shape and out.dtype == np.uint8 and seconds > 0
    assert float(after["style"][0]) < 0.8 * float(before["style"][0])


def test_several_styles_are_one_output_each_and_the_loss_is_their_mean():
    keras.utils.set_random_seed(0)
    net = F.extractor(weights="none")
    other = np.roll(stripes(), 3, axis=2)  # the same stripes in other colours
    both = PerceptualLoss([encode_png(stripes()), encode_png(other)], style_weight=3.0, weights="none", net=net)
    one = PerceptualLoss([encode_png(stripes())], style_weight=3.0, weights="none", net=net)
    two = PerceptualLoss([encode_png(other)], style_weight=3.0, weights="none", net=net)
    rng = np.random.default_rng(3)
    photo = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    a, b = rng.uniform(0, 255, (2, 2, 32, 32, 3)).astype(np.float32)
    got = np.asarray(both(photo, np.concatenate([a, b], -1)))
    want = (np.asarray(one(photo, a)) + np.asarray(two(photo, b))) / 2
    np.testing.assert_allclose(got, want, rtol=1e-4)
    model = johnson_s(styles=2)
    assert model.output_shape == (None, None, None, 6)
    assert np.asarray(model(photo)).shape == (2, 32, 32, 6)


def test_the_residual_network_starts_as_the_photo_itself():
    photo = np.random.default_rng(4).uniform(0, 255, (1, 24, 40, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(johnson_s(residual=True)(photo)), photo, atol=1e-3)
