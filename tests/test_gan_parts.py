"""The parts of image generation: distances between feature sets, DiffAugment, the GAN model."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.tasks.generation.metrics import frechet_distance, kernel_distance, nearest, precision_recall
from visionflow.tasks.generation.sampler import latents, slerp


def test_frechet_distance_of_a_shifted_set_is_the_squared_shift():
    a = np.random.default_rng(0).normal(size=(2000, 8))
    shift = np.array([3.0, 0, 0, 0, 0, 0, 0, 4.0])
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + shift) == pytest.approx(25.0, rel=1e-6)
    scaled = frechet_distance(a, a * 2.0)  # same mean; Tr(S + 4S - 2*2S) = Tr(S) ~ 8
    assert scaled == pytest.approx(8.0, rel=0.1)


def test_kernel_distance_is_near_zero_for_one_distribution_and_positive_across_two():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(500, 16)), rng.normal(size=(500, 16))
    same = kernel_distance(a, b, subset=200, subsets=20)
    apart = kernel_distance(a, b + 1.0, subset=200, subsets=20)
    assert abs(same) < 0.05 and apart > 1.0


def test_precision_and_recall_see_coverage_and_quality_apart():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(400, 4))
    assert precision_recall(real, real.copy()) == (1.0, 1.0)
    assert precision_recall(real, real + 50.0) == (0.0, 0.0)
    # Samples from one small corner of the real data: all plausible (precision 1), most of the data missed.
    corner = real[np.argsort(real[:, 0])[:40]] + 1e-3
    precision, recall = precision_recall(real, corner)
    assert precision == 1.0 and recall < 0.5


def test_nearest_finds_each_rows_neighbour():
    a = np.array([[0.0, 0.0], [10.0, 0.0]])
    b = np.array([[9.0, 0.0], [0.5, 0.0], [100.0, 0.0]])
    dist, idx = nearest(a, b)
    assert idx.tolist() == [1, 0] and dist.tolist() == [0.5, 1.0]


def test_latents_repeat_by_seed_and_slerp_ends_at_both_points():
    assert np.array_equal(latents(4, 16, 7), latents(4, 16, 7))
    assert not np.array_equal(latents(4, 16, 7), latents(4, 16, 8))
    a, b = latents(2, 32, 0)
    path = slerp(a, b, 5)
    assert path.shape == (5, 32)
    assert np.allclose(path[0], a, atol=1e-5) and np.allclose(path[-1], b, atol=1e-5)


def test_diffaugment_keeps_shape_passes_gradients_and_cuts_a_quarter_out():
    import tensorflow as tf

    from visionflow.tasks.generation.layers import diff_augment, parse_policy

    x = tf.ones((16, 32, 32, 3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = diff_augment(x, ("cutout",))
    assert y.shape == x.shape
    zeros = float(tf.reduce_mean(tf.cast(tf.equal(y, 0.0), tf.float32)))
    assert 0.1 < zeros <= 0.25  # a 16x16 hole, partly off the edge at times
    assert float(tf.reduce_sum(tape.gradient(y, x))) > 0
    moved = diff_augment(tf.random.uniform((4, 16, 16, 3), -1, 1), parse_policy("color,translation,cutout"))
    assert moved.shape == (4, 16, 16, 3)
    with pytest.raises(ValueError, match="color, translation, cutout"):
        parse_policy("colour")
    assert parse_policy("none") == ()


@pytest.mark.parametrize("family", ["sngan", "dcgan"])
def test_gan_trains_a_step_and_round_trips_through_a_checkpoint(tmp_path, family):
    import keras
    import tensorflow as tf

    from visionflow.models import MODELS

    gan = MODELS.get(family).build(size=16, classes=3, latent=8)
    gan.compile(optimizer=gan.make_optimizer(2e-4))
    images = np.random.default_rng(0).uniform(0, 255, (16, 16, 16, 3)).astype(np.float32)
    labels = np.arange(16, dtype=np.float32)[:, None] % 3
    history = gan.fit(tf.data.Dataset.from_tensor_slices((images, labels)).batch(8), epochs=1, verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(history.history)
    z, y = latents(4, 8, 0), np.array([0, 1, 2, 0], np.int32)
    before = np.asarray(gan([z, y]))
    assert before.shape == (4, 16, 16, 3) and before.min() >= 0 and before.max() <= 255
    gan.save(tmp_path / "ckpt.keras")
    again = keras.saving.load_model(tmp_path / "ckpt.keras", safe_mode=True)
    assert np.allclose(np.asarray(again([z, y])), before, atol=1e-4)
    assert again.optimizer.iterations.numpy() == gan.optimizer.iterations.numpy() > 0
