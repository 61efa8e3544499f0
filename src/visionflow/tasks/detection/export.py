"""`visionflow export` for detectors: the network with `Decode` in the graph (images in; boxes in
input pixels and class scores out), checked box by box against the .keras model.

Parity: on each sample image, every box the .keras model gives at the default score threshold
must come out of the export with IoU >= 0.9 and a score within 0.01, and no other box (boxes
whose score is within 0.01 of the threshold may fall either side). Int8 is written only where
it passes the same check.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from visionflow.errors import ExportFailed

MIN_IOU, MAX_SCORE_DIFF = 0.9, 0.01
MAX_SAMPLES = 32


def same_boxes(reference: tuple, got: tuple, conf: float) -> bool:
    """Whether two (boxes, scores, labels) answers of one image are the same by the parity rule."""
    from visionflow.tasks.detection.boxes import iou

    rb, rs, rl = reference
    gb, gs, gl = got
    used = np.zeros(len(gb), bool)
    overlaps = iou(rb, gb) if len(rb) and len(gb) else np.zeros((len(rb), len(gb)))
    for i in range(len(rb)):
        ok = (gl == rl[i]) & ~used & (np.abs(gs - rs[i]) <= MAX_SCORE_DIFF)
        cand = np.where(ok, overlaps[i], -1.0)
        j = int(cand.argmax()) if len(cand) else -1
        if j >= 0 and cand[j] >= MIN_IOU:
            used[j] = True
        elif rs[i] > conf + MAX_SCORE_DIFF:
            return False
    return bool(np.all(used | (gs <= conf + MAX_SCORE_DIFF)))


def export_detector(run: str | Path, names: list[str], out: str | Path | None, samples: int, unsafe: bool,
                    say: Callable[[str], None]) -> list:
    from visionflow.export.exporter import export_folders, sha256, write_checked
    from visionflow.export.formats import FORMATS
    from visionflow.export.samples import whole_images
    from visionflow.tasks.detection.detector import Detector
    from visionflow.tasks.detection.models import with_decoding

    detector = Detector.load(run, backend="keras", unsafe=unsafe)
    paths, out_dir = export_folders(run, detector.keras_model, out)
    images, where = whole_images(paths.manifest, detector.image_size, max(1, min(samples, MAX_SAMPLES)))
    say(f"parity check on {where}")
    reference = detector.detect_arrays(images)
    model = with_decoding(detector.keras_model)
    prepared = np.stack([detector.prepare(im) for im in images])
    reference_rows = np.asarray(model(prepared[:1].astype(np.float32), training=False))  # also builds it for tf2onnx
    source = Path(detector.source)
    n_points = int(model.output_shape[1])
    meta = {**detector.meta, "input": {"name": model.inputs[0].name, "shape": [None, *detector.image_size, 3],
                                       "dtype": "float32", "range": [0, 255], "resize": "stretch"},
            "output": {"shape": [None, n_points, 4 + len(detector.classes)],
                       "layout": "per point: x1, y1, x2, y2 in input pixels, then one score per class",
                       "postprocess": "scores over conf, class-wise NMS at iou, boxes scaled to the image"},
            "source": {"path": str(source), "sha256": sha256(source)}}
    results = []
    for name in names:
        fmt = FORMATS.get(name)

        def check(run_export, fmt=fmt) -> dict:
            other = Detector(run_export, detector.classes, detector.image_size, fmt.name, "", detector.meta)
            got = other.detect_arrays(images)
            agree = [same_boxes(r, g, detector.conf) for r, g in zip(reference, got)]
            share = float(np.mean(agree))
            rows = np.asarray(run_export(prepared[:1].astype(np.float32)))
            return {"max_abs_diff": float(np.abs(rows[..., 4:] - reference_rows[..., 4:]).max()), "agreement": share,
                    "samples": len(images), "sample_source": where, "passed": share == 1.0,
                    "criterion": f"every box matched (IoU >= {MIN_IOU}, score within {MAX_SCORE_DIFF})",
                    "parity": "boxes"}

        result = write_checked(fmt, model, out_dir, meta, check, calibration=prepared if fmt.quantized else None)
        say(result.line())
        results.append(result)
    failed = [r.format for r in results if not r.passed]
    if failed:
        raise ExportFailed(f"Parity check failed for {', '.join(failed)}: its boxes differ from the .keras model's "
                           f"(IoU < {MIN_IOU} or score off by more than {MAX_SCORE_DIFF}), so it was not written.")
    return results
