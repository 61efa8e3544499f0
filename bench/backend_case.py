"""Training and inference speed of one model on one Keras 3 backend, on tensors in memory.

Usage: KERAS_BACKEND=jax python bench/backend_case.py --model seed_cnn [--image-size 150] [--steps 24]
Prints one JSON object on the last line. The backend is chosen by KERAS_BACKEND before Keras is
imported; the model is built from visionflow's registry, so the network is the same on each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from common import peak_rss_mb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="seed_cnn")
    parser.add_argument("--image-size", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=24, help="Training steps per timed epoch (default: 24).")
    args = parser.parse_args()

    import keras

    from visionflow.models import build_model

    keras.utils.set_random_seed(0)
    size = (args.image_size, args.image_size)
    model = build_model(args.model, size, 2)
    loss = "binary_crossentropy" if model.outputs[0].shape[-1] == 1 else "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, metrics=["accuracy"])
    n = args.steps * args.batch_size
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, *size, 3)).astype("float32")
    y = rng.integers(0, 2, (n, 1)).astype("float32")

    # train_on_batch on ready batches: no data adapter in the way (Keras' numpy adapter builds a
    # tf.data pipeline whose autotuner halves the speed of some epochs on 2 cores).
    batches = [(x[i:i + args.batch_size], y[i:i + args.batch_size]) for i in range(0, n, args.batch_size)]
    times = []
    for _ in range(3):  # the first pass compiles/traces; the next two are timed
        t0 = time.perf_counter()
        for xb, yb in batches:
            model.train_on_batch(xb, yb)
        times.append(time.perf_counter() - t0)
    train_ips = n / float(np.mean(times[1:]))
    batch = x[:64]
    model.predict(batch, batch_size=64, verbose=0)
    t0 = time.perf_counter()
    for _ in range(3):
        model.predict(batch, batch_size=64, verbose=0)
    infer_ips = 3 * 64 / (time.perf_counter() - t0)
    print(json.dumps({"backend": keras.backend.backend(), "model": args.model, "image_size": args.image_size,
                      "train_images_per_s": round(train_ips, 1), "first_epoch_s": round(times[0], 1),
                      "predict_batched_images_per_s": round(infer_ips, 1), "peak_rss_mb": round(peak_rss_mb())}))


if __name__ == "__main__":
    main()
