"""One training benchmark case, run in its own process so that its peak memory is its own.

Usage: python bench/train_case.py CASE --data DIR --epochs N [--image-size 150] [--batch-size 32]
Prints one JSON object on the last line of standard output.

Cases:
  tutorial            ImageDataGenerator(rescale=1/255).flow_from_directory + the tutorial CNN, Adam,
                      binary cross-entropy, full epochs (the tutorial's literal steps_per_epoch=100
                      runs out of data after 63 batches of a 2,000-image set in Keras 3).
  visionflow_seed     visionflow.train with seed_cnn and the same size, batch, epochs, no augmentation.
  compute_bound       seed_cnn's training step on decoded images already in memory: no input pipeline.
  visionflow_default  visionflow.train with its defaults (the auto recipe), plus the --extra settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from common import peak_rss_mb, steady  # noqa: E402


def _split_dirs(data: Path) -> tuple[Path, Path]:
    val = next(data / d for d in ("validation", "val") if (data / d).is_dir())
    return data / "train", val


class EpochClock:
    """Keras callback measuring each epoch's training time (without validation)."""

    def __new__(cls):
        import keras

        class _Clock(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.train_s: list[float] = []
                self.epoch_s: list[float] = []

            def on_epoch_begin(self, epoch, logs=None):
                self._t0 = time.perf_counter()
                self._t_train = None

            def on_test_begin(self, logs=None):
                self._t_train = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                now = time.perf_counter()
                self.train_s.append((self._t_train or now) - self._t0)
                self.epoch_s.append(now - self._t0)

        return _Clock()


def tutorial(data: Path, epochs: int, size: int, batch: int) -> dict:
    import tensorflow as tf
    from tensorflow import keras

    train_dir, val_dir = _split_dirs(data)
    gen = tf.keras.preprocessing.image.ImageDataGenerator(rescale=1.0 / 255)
    train = gen.flow_from_directory(train_dir, target_size=(size, size), batch_size=batch, class_mode="binary")
    val = gen.flow_from_directory(val_dir, target_size=(size, size), batch_size=batch, class_mode="binary")
    model = keras.Sequential([
        keras.Input((size, size, 3)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(128, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dense(512, activation="relu"), keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(), metrics=["accuracy"])
    clock = EpochClock()
    hist = model.fit(train, epochs=epochs, validation_data=val, verbose=0, callbacks=[clock])
    n = train.samples
    return {"train_images": n, "train_s": clock.train_s, "epoch_s": clock.epoch_s,
            "val_accuracy": float(hist.history["val_accuracy"][-1]),
            "best_val_accuracy": float(max(hist.history["val_accuracy"]))}


def _visionflow(data: Path, epochs: int, **settings) -> dict:
    import visionflow

    with tempfile.TemporaryDirectory() as tmp:
        if epochs:  # 0: the recipe chooses
            settings["epochs"] = epochs
        run = visionflow.train(data=str(data), project=tmp, say=lambda s: None, **settings)
        n = run.metrics["validation"]["images"]
        hist = run.history
        train_images = json.loads((run.run_dir / "data_report.json").read_text())["counts"]["train"]["images"]
        import yaml

        config = yaml.safe_load((run.run_dir / "config.yaml").read_text())
    head = run.metrics.get("head") or {}
    return {"train_images": train_images, "val_images": n, "model": config["model"], "weights": config["weights"],
            "image_size": config["image_size"][0], "head_val_accuracy": head.get("val_accuracy"),
            "head_seconds": head.get("seconds"),
            "train_s": [train_images / r["images_per_s"] for r in hist],
            "epoch_s": [r["seconds"] for r in hist],
            "val_accuracy": float(hist[-1]["val_accuracy"]),
            "best_val_accuracy": float(run.metrics["validation"]["accuracy"]),
            "epochs_run": len(hist), "stopped": run.stopped}


def visionflow_seed(data: Path, epochs: int, size: int, batch: int) -> dict:
    return _visionflow(data, epochs, model="seed_cnn", image_size=size, batch_size=batch, augment="none",
                       patience=0, learning_rate=1e-3, optimizer="adam", recipe="tutorial")


def visionflow_default(data: Path, epochs: int, size: int, batch: int, **extra) -> dict:
    return _visionflow(data, epochs, **extra)


def compute_bound(data: Path, epochs: int, size: int, batch: int) -> dict:
    import keras

    from visionflow.config import TrainConfig
    from visionflow.data.dataset import load_folder
    from visionflow.data.decode import decode
    from visionflow.models import build_model
    from visionflow import tasks

    folder = load_folder(data, (size, size))
    recs = folder.splits["train"]
    x = np.stack([decode(r.path, (size, size)) for r in recs]).astype("float32")  # (n, h, w, 3) in [0, 255]
    y = np.asarray(folder.labels("train"), "float32")[:, None]
    keras.utils.set_random_seed(0)
    model = build_model("seed_cnn", (size, size), 2)
    tasks.get("classification").compile(model, TrainConfig(), 2, 1e-3)
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]
    model.train_on_batch(*batches[0])  # trace once, outside the clock
    train_s = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for bx, by in batches:
            model.train_on_batch(bx, by)
        train_s.append(time.perf_counter() - t0)
    return {"train_images": len(x), "train_s": train_s, "epoch_s": train_s, "val_accuracy": None,
            "best_val_accuracy": None}


CASES = {"tutorial": tutorial, "visionflow_seed": visionflow_seed, "compute_bound": compute_bound,
         "visionflow_default": visionflow_default}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--epochs", type=int, required=True, help="0: as the recipe chooses (visionflow_default)")
    parser.add_argument("--image-size", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--extra", default="{}", help="JSON settings for visionflow_default")
    args = parser.parse_args()
    t0 = time.perf_counter()
    fn = CASES[args.case]
    kwargs = json.loads(args.extra) if args.case == "visionflow_default" else {}
    out = fn(args.data, args.epochs, args.image_size, args.batch_size, **kwargs)
    out.update(case=args.case, wall_s=time.perf_counter() - t0, peak_rss_mb=peak_rss_mb(), epochs=args.epochs)
    st = steady(out["train_s"])
    out["steady_images_per_s"] = out["train_images"] / st if st else None
    out["steady_train_s_per_epoch"] = st
    out["steady_epoch_s"] = steady(out["epoch_s"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
