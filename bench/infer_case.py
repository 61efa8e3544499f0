"""Inference latency and throughput of one model: naive Keras, visionflow's predictor, ONNX Runtime, LiteRT.

Usage: python bench/infer_case.py [--model seed_cnn] [--image-size 150] [--calls 100]
Prints one JSON object on the last line. The weights are random: latency does not depend on them.
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


def _throughput(fn, images: int, repeats: int = 3) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return images * repeats / (time.perf_counter() - t0)


def _first_export_peak_rss(run: Path) -> float:
    """Peak RSS (MiB) of a fresh process that makes the run's cached ONNX export, as the first
    `visionflow.load(run)` does."""
    import subprocess

    code = ("import sys; sys.path.insert(0, %r); from common import peak_rss_mb; "
            "from visionflow.export.cached import cached_export, fast_format; cached_export(%r, fast_format()); "
            "print(peak_rss_mb())"
            % (str(Path(__file__).resolve().parent), str(run)))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="seed_cnn")
    parser.add_argument("--image-size", type=int, default=150)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    import keras
    from PIL import Image

    from visionflow.models import build_model
    from visionflow.predict import Predictor
    from visionflow.runtime import latency

    size = (args.image_size, args.image_size)
    keras.utils.set_random_seed(0)
    model = build_model(args.model, size, 2)
    predictor = Predictor(model, ["a", "b"], size)
    rng = np.random.default_rng(0)
    one = rng.integers(0, 256, (1, *size, 3), dtype=np.uint8)
    many = rng.integers(0, 256, (args.batch, *size, 3), dtype=np.uint8)
    photo = Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8))
    jpeg_path = Path(os.environ.get("TMPDIR", "/tmp")) / "visionflow-bench.jpg"
    photo.save(jpeg_path, quality=90)

    out = {
        "model": args.model, "image_size": args.image_size,
        "naive_predict": latency(lambda: model.predict(one.astype("float32"), verbose=0), args.calls),
        "predictor_array": latency(lambda: predictor.predict_arrays(one), args.calls),
        "predictor_jpeg_500x375": latency(lambda: predictor.predict(str(jpeg_path)), args.calls),
        "naive_batched_images_per_s": _throughput(
            lambda: model.predict(many.astype("float32"), batch_size=args.batch, verbose=0), args.batch),
        "predictor_batched_images_per_s": _throughput(lambda: predictor.predict_arrays(many, batch_size=args.batch),
                                                      args.batch),
    }
    # The same network exported (with the parity check) and run by ONNX Runtime and LiteRT.
    import tempfile

    from visionflow.export import export
    from visionflow.predict import load
    from visionflow.rundir import save_model, write_json

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        save_model(model, run / "model.keras")
        write_json(run / "labels.json", {"classes": ["a", "b"], "image_size": list(size)})
        export(run, "onnx,tflite", samples=16, say=lambda line: None)
        for fmt in ("onnx", "tflite"):
            exported = load(run / "export" / fmt)
            out[f"{fmt}_array"] = latency(lambda: exported.predict_arrays(one), args.calls)
            out[f"{fmt}_batched_images_per_s"] = _throughput(
                lambda: exported.predict_arrays(many, batch_size=args.batch), args.batch)
    # The default path a user gets: visionflow.load(run) on a run folder (LiteRT through the run's
    # cached export where the [export] extra is installed), one image as a uint8 array.
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        save_model(model, run / "model.keras")
        write_json(run / "labels.json", {"classes": ["a", "b"], "image_size": list(size)})
        export_rss = _first_export_peak_rss(run)
        default = load(run)
        out["default_backend"] = default.backend
        out["default_load"] = latency(lambda: default.predict(one[0]), args.calls)
        out["first_export_peak_rss_mb"] = export_rss
    out["default_speedup_p50"] = out["naive_predict"]["p50_ms"] / out["default_load"]["p50_ms"]
    out["speedup_p50"] = out["naive_predict"]["p50_ms"] / out["predictor_array"]["p50_ms"]
    out["peak_rss_mb"] = peak_rss_mb()
    jpeg_path.unlink(missing_ok=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
