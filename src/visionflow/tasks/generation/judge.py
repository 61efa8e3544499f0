"""The feature network that generated images are measured with.

Standard FID/KID use an ImageNet Inception network; its weights are a download that this package
does not ship. Where they are not on the machine, quality is measured on features of a network
visionflow trains on the run's real training images: a small CNN that learns to tell the image's
rotation (0/90/180/270 degrees, self-supervised, so it works without classes) and, where the
images have classes, the class. Its class head also labels generated samples of a conditional
model. Figures on these features are named `FD (visionflow features)` and `KD (visionflow
features)`: they rank models on the same data, but are not comparable with published FID or KID.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
from keras import layers

from visionflow.models.registry import BN_MOMENTUM

FEATURES = "visionflow features"  # how the figures are named
INCEPTION = "Inception-v3 (Keras ImageNet weights)"
INCEPTION_SIDE = 299
EPOCHS = 30
TIME_BUDGET_S = 120.0
BATCH = 64


def _trunk(size: int) -> keras.Model:
    x = keras.Input((size, size, 3), name="image")
    h = layers.Rescaling(1 / 127.5, offset=-1.0)(x)
    for i, c in enumerate((32, 64, 128, 256)):
        h = layers.Conv2D(c, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(h)
        h = layers.ReLU()(layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i + 1}")(h))
        if h.shape[1] > 4:
            h = layers.MaxPooling2D(name=f"pool{i + 1}")(h)
    return keras.Model(x, layers.GlobalAveragePooling2D(name="features")(h), name="trunk")


def _rotated(x, k):
    """Each square image of x (n, s, s, 3) turned k[i] quarter turns."""
    import tensorflow as tf

    turns = tf.stack([tf.image.rot90(x, i) for i in range(4)], axis=1)  # (n, 4, s, s, 3)
    return tf.gather(turns, k, axis=1, batch_dims=1)


class Judge:
    """The trained feature network: `features(images)` (n, 256) and, with classes,
    `classify(images)` (n, classes) probabilities."""

    def __init__(self, model: keras.Model, info: dict):
        self.model, self.info = model, info
        self.classes: list[str] = list(info.get("classes") or [])
        self.trunk = model.get_layer("trunk")
        self.class_head = model.get_layer("class") if self.classes else None
        self.name = info.get("name", FEATURES)

    def _batches(self, images: np.ndarray):
        for i in range(0, len(images), 256):
            yield np.asarray(images[i:i + 256], np.float32)

    def features(self, images: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(self.trunk(b, training=False)) for b in self._batches(images)]) \
            if len(images) else np.zeros((0, 256), np.float32)

    def classify(self, images: np.ndarray) -> np.ndarray:
        if self.class_head is None:
            raise ValueError("this feature network was trained without classes")
        out = [np.asarray(keras.ops.softmax(self.class_head(self.trunk(b, training=False)))) for b in self._batches(images)]
        return np.concatenate(out)

    def save(self, folder: Path) -> None:
        from visionflow.rundir import save_model, write_json

        save_model(self.model, folder / "judge.keras")
        write_json(folder / "judge.json", self.info)


def judge_seconds(cfg) -> float:
    """The feature network's training time after a run: `TIME_BUDGET_S`, or within a run's time
    budget a share of it (15%, at least 10 s), since the budget counts the evaluation too."""
    budget = (cfg.time_budget or 0.0) * 60
    return min(TIME_BUDGET_S, max(10.0, 0.15 * budget)) if budget else TIME_BUDGET_S


def train_judge(images: np.ndarray, labels: np.ndarray | None, classes: list[str], seed: int = 0,
                heldout: tuple[np.ndarray, np.ndarray | None] | None = None, epochs: int = EPOCHS,
                time_budget_s: float = TIME_BUDGET_S) -> Judge:
    """Trains the feature network on real images (n, s, s, 3) uint8 (and their class indices
    where `classes` has at least 2), for `epochs` or until `time_budget_s` would be overrun;
    `heldout` images measure its accuracy (stored in `info`)."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    size = images.shape[1]
    trunk = _trunk(size)
    up = keras.Input((size, size, 3), name="upright")
    turned = keras.Input((size, size, 3), name="turned")
    outputs = {"rotation": layers.Dense(4, name="rotation")(trunk(turned))}
    with_classes = len(classes) >= 2 and labels is not None
    if with_classes:
        outputs["class"] = layers.Dense(len(classes), name="class")(trunk(up))
    from visionflow.training.setup import build_optimizer

    model = keras.Model([up, turned], outputs, name="judge")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(1e-3), loss={k: loss for k in outputs},
                  metrics={k: ["accuracy"] for k in outputs})
    build_optimizer(model)

    def pairs(x, y, shuffle: bool):
        n = len(x)
        ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(n, np.int64) if y is None else y.astype(np.int64)))
        if shuffle:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)

        def make(xb, yb):
            xb = tf.cast(xb, tf.float32)
            k = tf.random.uniform([tf.shape(xb)[0]], 0, 4, dtype=tf.int32)
            targets = {"rotation": k, **({"class": yb} if with_classes else {})}
            return {"upright": xb, "turned": _rotated(xb, k)}, targets

        return ds.batch(BATCH).map(make).prefetch(2)

    started = time.perf_counter()

    class Clock(keras.callbacks.Callback):
        """Stops after the epoch that leaves no time for another within `time_budget_s`."""

        done = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.done = epoch + 1
            now = time.perf_counter()
            if now - started + (now - self.t0) > time_budget_s:
                self.model.stop_training = True

    # one fit for every epoch: a fit per epoch cost ~0.3 s of Keras' setup each
    clock = Clock()
    model.fit(pairs(images, labels, True), epochs=epochs, verbose=0, callbacks=[clock])
    done = clock.done
    info = {"name": FEATURES, "classes": list(classes) if with_classes else [], "image_size": [size, size],
            "trained_on": int(len(images)), "epochs": done, "seconds": round(time.perf_counter() - started, 1)}
    if heldout is not None and len(heldout[0]):
        result = model.evaluate(pairs(heldout[0], heldout[1], False), verbose=0, return_dict=True)
        info["heldout_images"] = int(len(heldout[0]))
        info["rotation_accuracy"] = round(float(result.get("rotation_accuracy", np.nan)), 4)
        if with_classes:
            info["class_accuracy"] = round(float(result.get("class_accuracy", np.nan)), 4)
    return Judge(model, info)


class InceptionFeatures:
    """Keras' InceptionV3 with ImageNet weights, pooled (2048 features at 299x299): the network
    FID and KID are defined on. These weights are Keras' own port, not the TF-slim graph the
    reference FID code uses, so figures land close to published FID but not exactly on it.
    Quality on these features is named FID/KID."""

    name = INCEPTION
    class_head = None
    classes: list[str] = []

    def __init__(self):
        from visionflow.errors import ModelError

        try:
            self.model = keras.applications.InceptionV3(include_top=False, weights="imagenet", pooling="avg",
                                                        input_shape=(INCEPTION_SIDE, INCEPTION_SIDE, 3))
        except Exception as exc:  # network errors and bad cached files alike
            raise ModelError("Could not load the ImageNet weights of InceptionV3 (a download on first use: is there "
                             "internet access?); use --features visionflow.") from exc
        self.info = {"name": INCEPTION}

    def features(self, images: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        out = []
        for i in range(0, len(images), 32):
            x = tf.image.resize(np.asarray(images[i:i + 32], np.float32), (INCEPTION_SIDE, INCEPTION_SIDE))
            out.append(np.asarray(self.model(keras.applications.inception_v3.preprocess_input(x), training=False)))
        return np.concatenate(out) if out else np.zeros((0, 2048), np.float32)


def load_judge(folder: Path) -> Judge:
    """The feature network a run trained (judge.keras and judge.json in its folder)."""
    from visionflow.errors import ModelError
    from visionflow.rundir import read_json

    path = Path(folder) / "judge.keras"
    if not path.exists():
        raise ModelError(f"{folder} has no judge.keras (the feature network quality is measured with); it is "
                         f"written when training ends.")
    return Judge(keras.saving.load_model(path, compile=False, safe_mode=True), read_json(Path(folder) / "judge.json"))
