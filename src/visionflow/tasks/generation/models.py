"""Generative adversarial networks: a generator (latent [+ class] -> RGB pixels in [0, 255]), a
discriminator, and the `GAN` model that trains them against each other.

Two registered families share DCGAN's generator (Radford et al. 2016: a dense projection to 4x4,
then transposed convolutions with batch norm) and differ in the discriminator and the loss:
- `sngan` (the default): spectral normalisation on every discriminator layer and the hinge loss
  (Miyato et al. 2018, their "standard CNN" shape).
- `dcgan`: batch norm in the discriminator and the non-saturating logistic loss.
Built with `classes > 0`, both condition on a class: the generator through a class embedding
beside the latent and class-conditional batch norm, the discriminator through a projection term
(Miyato & Koyama 2018) plus an auxiliary classifier (Odena et al. 2017) whose loss both networks
share. Residual networks as in the SN-GAN paper trained 8x slower here (31 vs 267 img/s at
32x32 on 2 cores), so the plain convolutional shape is the one registered.

The `GAN` keeps an exponential moving average (EMA) of the generator's weights: that copy makes
the samples, is what `model.keras` holds, and is what exports and the service run.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from visionflow.tasks.generation.layers import ConditionalBatchNorm, Projection, diff_augment, parse_policy
from visionflow.models.layers import PACKAGE
from visionflow.models.registry import BN_MOMENTUM, register

GAN_TASKS = ("gan",)
LATENT = 128
WIDTH = 32  # channels at the highest resolution: 64 trained 3.4x slower on 2 cores (32x32)
SIZES = (16, 32, 64, 128)  # 4x4 doubled: the generators start at 4x4


def blocks_for(size: int) -> int:
    """Upsampling blocks from 4x4 to `size` (a power of two, 16 to 128)."""
    if size not in SIZES:
        raise ValueError(f"GAN image size must be one of {', '.join(map(str, SIZES))}. Received: {size}")
    return int(math.log2(size // 4))


def _widths(size: int, width: int) -> list[int]:
    """Channels per generator resolution, from 4x4 up: wide at the bottom, `width` at the top."""
    n = blocks_for(size)
    return [min(8, 2 ** (n - i)) * width for i in range(n + 1)]


def _norm(x, y, classes: int, name: str):
    if classes:
        return ConditionalBatchNorm(classes, name=name)([x, y])
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)(x)


def generator(size: int, classes: int = 0, latent: int = LATENT, width: int = 64) -> keras.Model:
    """DCGAN's generator: a dense projection to 4x4, then 4x4 transposed convolutions with stride
    2, each with (class-conditional) batch norm and ReLU, up to `size`; a 3x3 convolution to RGB.
    Output: pixels in [0, 255], shape (n, size, size, 3)."""
    z = keras.Input((latent,), name="latent")
    inputs, h, y = [z], z, None
    if classes:
        y = keras.Input((), dtype="int32", name="class_index")
        inputs.append(y)
        # N(0, 1) codes, as large as the latent from the first step: Keras' default uniform(+-0.05)
        # left every class's samples alike for hundreds of steps (Adam moves each weight ~lr a step).
        code = layers.Embedding(classes, min(latent, 64), embeddings_initializer=keras.initializers.RandomNormal(
            stddev=1.0), name="class_embedding")(y)
        h = layers.Concatenate(name="latent_and_class")([z, code])
    chans = _widths(size, width)
    h = layers.Dense(4 * 4 * chans[0], use_bias=False, name="project")(h)
    h = layers.Reshape((4, 4, chans[0]))(h)
    h = layers.ReLU()(_norm(h, y, classes, "bn0"))
    for i, c in enumerate(chans[1:], 1):
        h = layers.Conv2DTranspose(c, 4, strides=2, padding="same", use_bias=False, name=f"up{i}")(h)
        h = layers.ReLU()(_norm(h, y, classes, f"bn{i}"))
    h = layers.Conv2D(3, 3, padding="same", activation="tanh", name="to_rgb")(h)
    # One input is passed bare, not as a list of one: calls with a tensor then match its structure.
    return keras.Model(inputs if classes else z, layers.Rescaling(127.5, offset=127.5, name="pixels")(h),
                       name="generator")


def discriminator(size: int, classes: int = 0, width: int = 64, spectral: bool = False) -> keras.Model:
    """Strided 4x4 convolutions from `size` down to 4x4, then a score per image (plus the
    projection term for a conditional model). `spectral`: spectral normalisation on every layer
    and LeakyReLU 0.1 (SN-GAN's standard CNN); else batch norm after the first layer and LeakyReLU
    0.2 (DCGAN). Input: pixels in [0, 255]."""
    x = keras.Input((size, size, 3), name="image")
    h = layers.Rescaling(1 / 127.5, offset=-1.0)(x)

    def wrap(layer):
        return layers.SpectralNormalization(layer, name=f"sn_{layer.name}") if spectral else layer

    chans = list(reversed(_widths(size, width)))[1:]
    for i, c in enumerate(chans):
        h = wrap(layers.Conv2D(c, 4, strides=2, padding="same", use_bias=spectral or i == 0, name=f"down{i + 1}"))(h)
        if i and not spectral:
            h = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i + 1}")(h)
        h = layers.LeakyReLU(0.1 if spectral else 0.2)(h)
    if spectral:
        h = layers.LeakyReLU(0.1)(wrap(layers.Conv2D(chans[-1], 3, padding="same", name="top"))(h))
    h_side = int(h.shape[1])
    h = layers.GlobalAveragePooling2D()(h)
    if spectral:  # SN-GAN sums over positions: with every layer 1-Lipschitz, an average stays too small to
        h = layers.Rescaling(float(h_side * h_side), name="sum_pool")(h)  # reach the hinge's margin
    out = wrap(layers.Dense(1, name="score"))(h)
    if classes:
        y = keras.Input((), dtype="int32", name="class_index")
        out = layers.Add(name="with_projection")([out, Projection(classes, name="projection")([h, y])])
        # An auxiliary classifier (AC-GAN, Odena et al. 2017) beside the projection: the projection
        # alone left the samples of every class alike for 700+ steps on 32x32 digits.
        return keras.Model([x, y], [out, layers.Dense(classes, name="class_logits")(h)], name="discriminator")
    return keras.Model(x, out, name="discriminator")


FAMILIES = {  # discriminator with spectral norm, loss, Adam's betas
    "dcgan": (False, "bce", (0.5, 0.999)),
    "sngan": (True, "hinge", (0.0, 0.9)),
}


@keras.saving.register_keras_serializable(package=PACKAGE)
class GAN(keras.Model):
    """A generator and a discriminator trained against each other, with an EMA generator.

    `model(inputs)` runs the EMA generator: inputs are latent vectors (n, latent) and, for a
    conditional model, class indices (n,) as a list [z, y]. `fit` takes batches of (real images
    in [0, 255], class indices) and alternates one discriminator step and one generator step.

    Args:
        family: "dcgan" or "sngan" (see the module docstring).
        size: image side (16, 32, 64 or 128).
        classes: number of classes to condition on (0: unconditional).
        latent: length of the latent vector.
        width: channels of the highest-resolution layers (the others are multiples).
        diffaugment: DiffAugment policy, e.g. "color,translation,cutout" ("" for none).
        ema_decay: decay of the generator's moving average (warmed up over the first steps).
    """

    def __init__(self, family: str = "sngan", size: int = 32, classes: int = 0, latent: int = LATENT,
                 width: int = WIDTH, diffaugment: str = "color,translation,cutout", ema_decay: float = 0.999, **kwargs):
        super().__init__(**kwargs)
        if family not in FAMILIES:
            raise ValueError(f"GAN family must be one of {', '.join(FAMILIES)}. Received: {family}")
        self.family, self.size, self.classes, self.latent = family, int(size), int(classes), int(latent)
        self.width, self.diffaugment, self.ema_decay = int(width), str(diffaugment), float(ema_decay)
        self.policy = parse_policy(diffaugment)
        spectral, self.loss_kind, self.betas = FAMILIES[family]
        self.generator = generator(self.size, self.classes, self.latent, self.width)
        self.discriminator = discriminator(self.size, self.classes, self.width, spectral)
        self.ema = generator(self.size, self.classes, self.latent, self.width)
        self.ema.set_weights(self.generator.get_weights())
        self.ema.trainable = False
        self.updates = self.add_weight(shape=(), initializer="zeros", trainable=False, name="ema_updates")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "d_loss", "g_loss", "d_real", "d_fake")}
        self.built = True

    # -- inference ----------------------------------------------------------------------------
    def call(self, inputs, training=False):
        return self.ema(inputs, training=training)

    def latents(self, n, seed=None):
        import tensorflow as tf

        return tf.random.normal((n, self.latent), seed=seed)

    # -- training -----------------------------------------------------------------------------
    @property
    def metrics(self):
        return list(self.trackers.values())

    def _inputs(self, z, y):
        return [z, y] if self.classes else z

    def _d(self, images, y, training: bool, augment: bool = True):
        """(score (n, 1), class logits (n, classes) or None) of images in [0, 255]."""
        if augment:
            images = (diff_augment(images / 127.5 - 1.0, self.policy) + 1.0) * 127.5
        if not self.classes:
            return self.discriminator(images, training=training), None
        score, logits = self.discriminator([images, y], training=training)
        return score, logits

    def _class_loss(self, logits, y):
        from keras import ops

        if logits is None:
            return 0.0
        return ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))

    def _d_loss(self, real, fake):
        from keras import ops

        if self.loss_kind == "hinge":
            return ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake))
        return ops.mean(ops.softplus(-real)) + ops.mean(ops.softplus(fake))

    def _g_loss(self, fake):
        from keras import ops

        return -ops.mean(fake) if self.loss_kind == "hinge" else ops.mean(ops.softplus(-fake))

    def train_step(self, data):
        import tensorflow as tf

        real, y = data
        y = tf.cast(tf.reshape(y, [-1]), tf.int32)
        n = tf.shape(real)[0]
        z = tf.random.normal((n, self.latent))
        with tf.GradientTape() as tape:
            fake = self.generator(self._inputs(z, y), training=True)
            d_real, real_logits = self._d(real, y, True)
            d_fake, _ = self._d(fake, y, True)
            d_loss = self._d_loss(d_real, d_fake)
            d_total = d_loss + self._class_loss(real_logits, y)
        d_vars = self.discriminator.trainable_variables
        self.optimizer.apply(tape.gradient(d_total, d_vars), d_vars)
        z = tf.random.normal((n, self.latent))
        with tf.GradientTape() as tape:
            fake = self.generator(self._inputs(z, y), training=True)
            score, logits = self._d(fake, y, True)
            g_loss = self._g_loss(score)
            g_total = g_loss + self._class_loss(logits, y)
        g_vars = self.generator.trainable_variables
        self.optimizer.apply(tape.gradient(g_total, g_vars), g_vars)
        self._update_ema()
        return self._log(d_loss, g_loss, d_real, d_fake)

    def _update_ema(self):
        from keras import ops

        # The decay warms up (TF's ExponentialMovingAverage with num_updates), so a short run's
        # EMA is not stuck near the initial weights.
        self.updates.assign_add(1.0)
        decay = ops.minimum(self.ema_decay, (1.0 + self.updates) / (10.0 + self.updates))
        for avg, var in zip(self.ema.weights, self.generator.weights):
            avg.assign(decay * avg + (1.0 - decay) * var)

    def _log(self, d_loss, g_loss, d_real, d_fake):
        from keras import ops

        values = {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss, "d_real": ops.mean(d_real),
                  "d_fake": ops.mean(d_fake)}
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def test_step(self, data):
        """On held-out real images: the discriminator's loss and mean score against fresh samples
        (a discriminator that scores held-out reals far below training reals is memorising them)."""
        import tensorflow as tf

        real, y = data
        y = tf.cast(tf.reshape(y, [-1]), tf.int32)
        fake = self.ema(self._inputs(self.latents(tf.shape(real)[0]), y), training=False)
        d_real, _ = self._d(real, y, False, augment=False)
        d_fake, _ = self._d(fake, y, False, augment=False)
        d_loss = self._d_loss(d_real, d_fake)
        return self._log(d_loss, self._g_loss(d_fake), d_real, d_fake)

    def make_optimizer(self, learning_rate: float) -> keras.optimizers.Optimizer:
        """Adam with the family's betas; one optimizer holds both networks' moments (each
        network's step updates only its own variables)."""
        return keras.optimizers.Adam(learning_rate, beta_1=self.betas[0], beta_2=self.betas[1])

    def compile(self, optimizer=None, **kwargs):
        """Compiles with `optimizer` (default: `make_optimizer(2e-4)`), built at once for both
        networks' variables (each step then updates its own subset)."""
        super().compile(optimizer=optimizer or self.make_optimizer(2e-4), **kwargs)
        self.optimizer.build(self.trainable_variables)

    # -- saving -------------------------------------------------------------------------------
    def get_compile_config(self):
        return {"optimizer": keras.saving.serialize_keras_object(self.optimizer)} if self.optimizer else {}

    def compile_from_config(self, config):
        """Restores the optimizer of a checkpoint (its moments are loaded after this)."""
        if config.get("optimizer"):
            self.compile(optimizer=keras.saving.deserialize_keras_object(config["optimizer"]))

    def get_config(self):
        return {"family": self.family, "size": self.size, "classes": self.classes, "latent": self.latent,
                "width": self.width, "diffaugment": self.diffaugment, "ema_decay": self.ema_decay,
                "name": self.name}


def _builder(family: str):
    def build(size: int = 32, classes: int = 0, latent: int = LATENT, width: int = WIDTH,
              diffaugment: str = "color,translation,cutout", ema_decay: float = 0.999, **_) -> GAN:
        return GAN(family, size, classes, latent, width, diffaugment, ema_decay, name=family)

    return build


def _listing(family: str):
    """(generator + discriminator parameters at 32x32, "latent N") for `visionflow models`."""

    def listing() -> tuple[int, str]:
        model = _builder(family)()
        return model.generator.count_params() + model.discriminator.count_params(), f"latent {model.latent}"

    return listing


register("sngan", "GAN default: DCGAN generator, spectral-norm discriminator, hinge loss (Miyato et al. 2018); "
                 "parameters: generator and discriminator at 32x32",
         0.0, 16, tasks=GAN_TASKS, listing=_listing("sngan"))(_builder("sngan"))
register("dcgan", "GAN: DCGAN generator, batch-norm discriminator, logistic loss (Radford et al. 2016); parameters: "
                  "generator and discriminator at 32x32",
         0.0, 16, tasks=GAN_TASKS, listing=_listing("dcgan"))(_builder("dcgan"))
