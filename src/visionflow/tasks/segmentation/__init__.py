"""Semantic segmentation: a class for every pixel, learnt from images with masks (index,
black-and-white or colour masks with a colour map), on images and on video.

The network is an encoder-decoder (`models`) trained on views augmented identically for image
and mask (`pipeline`), with cross-entropy over the labelled pixels (void ignored) and soft Dice.
It is scored at each image's own size (`metrics`, `evaluate`), answers through `Segmenter`
(`visionflow.load(run)`), writes palette PNGs whose pixel values are class indices, exports with
pixel parity (`export`) and serves masks on POST /v1/predict (`serve`).
"""

from __future__ import annotations

from dataclasses import dataclass

from visionflow.settings import TaskOptions, option
from visionflow.tasks.base import TASKS
from visionflow.tasks.network import STRIDE, NetworkTask, network_parts

MAX_SIDE = 384  # the longer input side by default (images are resized to the input size, keeping their shape)
MIN_SIDE = 64
DICE = 1.0  # weight of the soft Dice term in ce+dice
MAX_WEIGHT = 10.0  # --class-weight auto: no class weighs more than this many times the median one


def input_size(height: int, width: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """The default input size for images of median size (height, width): their shape kept, the
    longer side at most `max_side`, both sides multiples of 32."""
    if not height or not width:
        return (256, 256)
    scale = min(1.0, max_side / max(height, width))

    def side(v: float) -> int:
        return int(max(MIN_SIDE, round(v * scale / STRIDE) * STRIDE))

    return side(height), side(width)


LOSSES = ("ce+dice", "ce")  # the first is the default


@dataclass(frozen=True)
class SegmentationOptions(TaskOptions):
    loss: str | None = option(None, "Training loss: ce (cross-entropy over the labelled pixels) or ce+dice (plus soft "
                                    "Dice, which lifts small and thin classes).", choices=LOSSES, kind=str,
                              shown=LOSSES[0])


class Segmentation(NetworkTask):
    name = "segmentation"
    options = SegmentationOptions
    description = "A class for every pixel (mIoU), on images and videos."
    data_help = ("a folder of images with masks: DIR/train/images + DIR/train/masks (and validation/, test/), or "
                 "DIR/images + DIR/masks; masks are index PNGs (classes.txt names them), black-and-white masks, or "
                 "colour masks with labelmap.txt / classes.csv")
    monitor = "val_miou"
    parity = "the same class at >= 99.5% of the pixels"
    outputs = "mask"
    usage = ("which labels every pixel: `visionflow predict RUN IMAGES --out DIR` writes the masks, "
             "`visionflow evaluate RUN DIR` scores them (mIoU); explain does not take segmentation models.")
    networks = "visionflow.tasks.segmentation.models"
    pretrained, scratch = "unet_lite0", "unet_small"
    learns = "learns every pixel's class from the masks"
    reader = "visionflow.tasks.segmentation.data:load_masks"
    pipeline = "visionflow.tasks.segmentation.pipeline"
    augment_help = "zoom and crop, flip, colour, the same for image and mask"
    learning_rates = (2e-3, 1e-3)
    losses = LOSSES
    parts = network_parts("visionflow.tasks.segmentation", "segmenter:Segmenter")
    routes = ("/v1/predict",)
    refusal = ("segmentation_model", "This server runs a segmentation model: POST images to /v1/predict for their "
                                     "masks; explain and video routes do not take it.")

    def __init__(self):
        self._weights: list[float] | None = None  # --class-weight auto, from the training pixels (class_weights)

    def default_size(self, cfg, facts):
        return input_size(facts.height, facts.width)

    def recipe_words(self, cfg, facts, sized):
        h, w = cfg.image_size
        return (f"{h}x{w}" + (f" (the images' median {facts.height}x{facts.width}, longer side at most {MAX_SIDE})"
                              if sized else "")
                + f", loss {cfg.loss} (void pixels ignored)")

    def callbacks(self, cfg, paths, folder, state, say):
        from visionflow.tasks.segmentation.data import keep_scheme
        from visionflow.tasks.segmentation.evaluate import ValidationIoU

        if paths is not None:
            keep_scheme(paths, folder)
        return [ValidationIoU(folder, tuple(cfg.image_size))]

    def class_weights(self, folder):
        """Median-frequency class weights (Eigen & Fergus 2015) from the training pixels, capped at
        MAX_WEIGHT; they go into the loss (`loss`), so the trainer gets None."""
        import numpy as np

        share = folder.report["counts"]["train"]["pixel_share"]
        freq = np.array([share[c] for c in folder.classes], np.float64)
        seen = freq > 0
        weights = np.ones_like(freq)
        weights[seen] = np.median(freq[seen]) / freq[seen]
        self._weights = [round(float(w), 4) for w in np.clip(weights, 1.0 / MAX_WEIGHT, MAX_WEIGHT)]
        return None

    def loss(self, cfg, classes):
        from visionflow.tasks.segmentation.models import SegmentationLoss

        weights = self._weights if cfg.class_weight == "auto" else None
        return SegmentationLoss(len(classes), dice=DICE if cfg.loss == "ce+dice" else 0.0, weights=weights)


TASKS.add("segmentation", Segmentation())
