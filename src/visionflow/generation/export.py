"""`visionflow export` for GAN runs: the EMA generator (latent [+ class] -> RGB pixels in
[0, 255]) in the float formats, each checked by PSNR between its images and the .keras
generator's for the same latent vectors. An 8-bit generator is refused (its images would drift
from the model's visibly).

Exported inputs: `latent` float32 (n, latent_dim) and, for a conditional model, `class_index` int32 (n,);
output float32 (n, h, w, 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.errors import ConfigError, ExportFailed, ModelError

MIN_PSNR = 50.0  # dB between an export's images and the .keras generator's, on every sample
PARITY_SEED = 12345


def _by_role(names: list[str]) -> tuple[int, int | None]:
    """Positions of the latent and class inputs among a runtime's input names."""
    lat = next((i for i, n in enumerate(names) if "latent" in n), 0)
    cls = next((i for i, n in enumerate(names) if "class" in n), None)
    return lat, cls


def open_generator(path: Path, meta: dict) -> Callable:
    """A callable (latents, classes or None) -> images for an exported generator artifact."""
    from visionflow import runtime

    fmt = meta.get("format", "keras")
    if fmt == "keras":
        import keras

        import visionflow.models.gan_layers  # noqa: F401  (registers the generator's layers)

        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        return lambda z, y: np.asarray(model([z, y] if y is not None else z, training=False))
    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))

        def run_saved(z, y, _keep=loaded):
            out = loaded.serve([tf.constant(z), tf.constant(y)] if y is not None else tf.constant(z))
            return np.asarray(next(iter(out.values())) if isinstance(out, dict) else out)

        return run_saved
    if fmt == "onnx":
        ort = runtime.need("onnxruntime")
        ort.set_default_logger_severity(3)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        lat, cls = _by_role(names)

        def run_onnx(z, y):
            feed = {names[lat]: np.asarray(z, np.float32)}
            if cls is not None:
                feed[names[cls]] = np.asarray(y, np.int32)
            return session.run(None, feed)[0]

        return run_onnx
    if fmt == "tflite":
        import threading

        interpreter_mod = runtime.need("ai_edge_litert.interpreter")
        with runtime.silenced():
            interpreter = interpreter_mod.Interpreter(model_path=str(path))
        inputs = interpreter.get_input_details()
        lat, cls = _by_role([d["name"] for d in inputs])
        output = interpreter.get_output_details()[0]
        lock = threading.Lock()

        def run_tflite(z, y):
            with lock:
                interpreter.resize_tensor_input(inputs[lat]["index"], list(z.shape))
                if cls is not None:
                    interpreter.resize_tensor_input(inputs[cls]["index"], [len(z)])
                interpreter.allocate_tensors()
                interpreter.set_tensor(inputs[lat]["index"], np.asarray(z, np.float32))
                if cls is not None:
                    interpreter.set_tensor(inputs[cls]["index"], np.asarray(y, inputs[cls]["dtype"]))
                interpreter.invoke()
                return interpreter.get_tensor(output["index"]).copy()

        return run_tflite
    raise ModelError(f"Unknown generator export format {fmt!r}.")


def export_generator(run: str | Path, names: list[str], out: str | Path | None, samples: int, unsafe: bool,
                     say: Callable[[str], None]) -> list:
    """Writes each format of a GAN run's generator (see `visionflow.export.export`); parity is the
    lowest PSNR between the format's images and the .keras generator's over `samples` latents."""
    from visionflow.export.exporter import sha256, write_formats
    from visionflow.export.formats import FORMATS
    from visionflow.generation.sampler import latents, load_sampler
    from visionflow.restoration.export import psnr_between
    from visionflow.rundir import RunPaths

    quantized = [n for n in names if FORMATS.get(n).quantized]
    if quantized:
        raise ConfigError(f"{', '.join(quantized)} is for classifiers: an 8-bit generator's images drift visibly from "
                          f"the model's; export tflite (float32) instead.")
    sampler = load_sampler(run, unsafe=unsafe)
    if sampler.model is None:
        raise ModelError(f"{run} is already an export; export from the run folder or its .keras file.")
    run_path = Path(run)
    paths = RunPaths(run_path if run_path.is_dir() else run_path.parent)
    out_dir = Path(out) if out else paths.root / "export"
    out_dir.mkdir(parents=True, exist_ok=True)
    n = max(2, min(samples, 64))
    z = latents(n, sampler.latent_dim, PARITY_SEED)
    y = sampler.labels_for(n)
    y = None if y is None else y.astype(np.int32)
    reference = np.asarray(sampler.call(z, y))
    source = Path(sampler.source) / "model.keras" if Path(sampler.source).is_dir() else Path(sampler.source)
    say(f"parity check on {n} latent vectors (seed {PARITY_SEED})")
    meta_base = {
        **sampler.meta,
        "input": {"latent": {"shape": [None, sampler.latent_dim], "dtype": "float32", "distribution": "N(0, 1)"},
                  **({"class_index": {"shape": [None], "dtype": "int32", "classes": sampler.classes}}
                     if sampler.conditional else {})},
        "output": {"shape": [None, *sampler.image_size, 3], "range": [0, 255], "dtype": "float32", "layout": "NHWC"},
        "source": {"path": str(source), "sha256": sha256(source)},
    }

    def check(run_export) -> dict:
        got = np.asarray(run_export(z, y))
        if got.shape != reference.shape:
            raise ExportFailed(f"The export returned images of shape {got.shape[1:]} instead of {reference.shape[1:]}.")
        worst = min(psnr_between(r, g) for r, g in zip(reference, got))
        return {"max_abs_diff": float(np.abs(reference - got).max()), "agreement": worst, "samples": n,
                "sample_source": f"{n} latent vectors", "passed": worst >= MIN_PSNR,
                "criterion": f"PSNR >= {MIN_PSNR:g} dB", "parity": "PSNR"}

    return write_formats(names, sampler.model, out_dir, meta_base, check, say,
                         f"the exported generator's images differ from the .keras model's (below {MIN_PSNR:g} dB "
                         f"PSNR)", opener=open_generator)
