"""`visionflow export` for detectors: the network with `Decode` in the graph (images in; boxes in
input pixels and class scores out), checked box by box against the .keras model.

Parity: on each sample image, every box the .keras model gives at the default score threshold
must come out of the export with IoU >= 0.9 and a score within 0.01, and no other box (boxes
whose score is within 0.01 of the threshold may fall either side). Int8 is written only where
it passes the same check.
"""

from __future__ import annotations

import numpy as np

from visionflow.network.export import ParityExport
from visionflow.tasks.detection.detector import Detector

MIN_IOU, MAX_SCORE_DIFF = 0.9, 0.01


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


class DetectorExport(ParityExport):
    predictor = Detector
    max_samples = 32
    parity = "boxes"

    def output(self, predictor, model):
        return {"shape": [None, int(model.output_shape[1]), 4 + len(predictor.classes)],
                "layout": "per point: x1, y1, x2, y2 in input pixels, then one score per class",
                "postprocess": "scores over conf, class-wise NMS at iou, boxes scaled to the image"}

    def compare(self, predictor, reference, got):
        share = float(np.mean([same_boxes(r, g, predictor.conf) for r, g in zip(reference, got)]))
        return share, share == 1.0, f"every box matched (IoU >= {MIN_IOU}, score within {MAX_SCORE_DIFF})"

    def raw_difference(self, reference, got):
        return float(np.abs(got[..., 4:] - reference[..., 4:]).max())  # the scores (boxes move with them)

    def failed(self):
        return (f"its boxes differ from the .keras model's (IoU < {MIN_IOU} or score off by more than "
                f"{MAX_SCORE_DIFF})")


export = DetectorExport()  # the task's "exporter" part
