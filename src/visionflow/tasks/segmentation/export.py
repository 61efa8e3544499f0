"""`visionflow export` for segmentation models: the network (images at the input size in, logits
per pixel and class out), checked pixel by pixel against the .keras model.

Parity: on sample images (the run's validation images, at their own size), the export's mask
must give the same class as the .keras model's at >= 99.5% of the pixels (MIN_AGREEMENT). Int8
is written only where it passes the same check.
"""

from __future__ import annotations

import numpy as np

from visionflow.network.export import ParityExport
from visionflow.tasks.segmentation.segmenter import Segmenter

MIN_AGREEMENT = 0.995


def pixel_agreement(reference: list[np.ndarray], got: list[np.ndarray]) -> float:
    same = sum(int((r == g).sum()) for r, g in zip(reference, got))
    return same / max(1, sum(r.size for r in reference))


class SegmenterExport(ParityExport):
    predictor = Segmenter
    max_samples = 16
    parity = "pixels"

    def output(self, predictor, model):
        h, w = predictor.image_size
        return {"shape": [None, h, w, len(predictor.classes)], "layout": "per pixel: one logit per class",
                "postprocess": "logits resized (bilinear) to the image's size, then the class with the highest"}

    def compare(self, predictor, reference, got):
        share = pixel_agreement(reference, got)
        return share, share >= MIN_AGREEMENT, f"the same class at >= {MIN_AGREEMENT:.1%} of the pixels"

    def failed(self):
        return f"its masks agree with the .keras model's at fewer than {MIN_AGREEMENT:.1%} of the pixels"


export = SegmenterExport()  # the task's "exporter" part
