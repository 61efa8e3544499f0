"""`visionflow export` for segmentation models: the network (images at the input size in, logits
per pixel and class out), checked pixel by pixel against the .keras model.

Parity: on sample images (the run's validation images, at their own size), the export's mask
must give the same class as the .keras model's at >= 99.5% of the pixels (MIN_AGREEMENT). Int8
is written only where it passes the same check.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from visionflow.errors import ExportFailed

MIN_AGREEMENT = 0.995
MAX_SAMPLES = 16


def pixel_agreement(reference: list[np.ndarray], got: list[np.ndarray]) -> float:
    same = sum(int((r == g).sum()) for r, g in zip(reference, got))
    return same / max(1, sum(r.size for r in reference))


def export_segmenter(run: str | Path, names: list[str], out: str | Path | None, samples: int, unsafe: bool,
                     say: Callable[[str], None]) -> list:
    from visionflow.export.exporter import export_folders, sha256, write_checked
    from visionflow.export.formats import FORMATS
    from visionflow.export.samples import whole_images
    from visionflow.tasks.segmentation.segmenter import Segmenter

    segmenter = Segmenter.load(run, backend="keras", unsafe=unsafe)
    model = segmenter.keras_model
    paths, out_dir = export_folders(run, model, out)
    images, where = whole_images(paths.manifest, segmenter.image_size, max(1, min(samples, MAX_SAMPLES)))
    say(f"parity check on {where}")
    reference = segmenter.masks(images)
    prepared = np.stack([segmenter.prepare(im) for im in images])
    reference_logits = np.asarray(model(prepared[:1].astype(np.float32), training=False))  # also builds it for tf2onnx
    source = Path(segmenter.source)
    h, w = segmenter.image_size
    meta = {**segmenter.meta, "input": {"name": model.inputs[0].name, "shape": [None, h, w, 3], "dtype": "float32",
                                        "range": [0, 255], "resize": "stretch"},
            "output": {"shape": [None, h, w, len(segmenter.classes)], "layout": "per pixel: one logit per class",
                       "postprocess": "logits resized (bilinear) to the image's size, then the class with the highest"},
            "source": {"path": str(source), "sha256": sha256(source)}}
    results = []
    for name in names:
        fmt = FORMATS.get(name)

        def check(run_export, fmt=fmt) -> dict:
            other = Segmenter(run_export, segmenter.meta, fmt.name, "")
            share = pixel_agreement(reference, other.masks(images))
            logits = np.asarray(run_export(prepared[:1].astype(np.float32)))
            return {"max_abs_diff": float(np.abs(logits - reference_logits).max()), "agreement": share,
                    "samples": len(images), "sample_source": where, "passed": share >= MIN_AGREEMENT,
                    "criterion": f"the same class at >= {MIN_AGREEMENT:.1%} of the pixels", "parity": "pixels"}

        result = write_checked(fmt, model, out_dir, meta, check, calibration=prepared if fmt.quantized else None)
        say(result.line())
        results.append(result)
    failed = [r.format for r in results if not r.passed]
    if failed:
        raise ExportFailed(f"Parity check failed for {', '.join(failed)}: its masks agree with the .keras model's at "
                           f"fewer than {MIN_AGREEMENT:.1%} of the pixels, so it was not written.")
    return results
