"""Semantic segmentation: a class for every pixel, learnt from images with masks (index,
black-and-white or colour masks with a colour map), on images and on video.

The network is an encoder-decoder (`models`) trained on views augmented identically for image
and mask (`pipeline`), with cross-entropy over the labelled pixels (void ignored) and soft Dice.
It is scored at each image's own size (`metrics`, `evaluate`), answers through `Segmenter`
(`visionflow.load(run)`), writes palette PNGs whose pixel values are class indices, exports with
pixel parity (`export`) and serves masks on POST /v1/predict (`serve`).
"""

from __future__ import annotations

from pathlib import Path

from visionflow.errors import ConfigError
from visionflow.tasks.base import TASKS, Task

PRETRAINED = "unet_lite0"
BACKBONE = "efficientnet_lite0"
SCRATCH = "unet_small"
MAX_SIDE = 384  # the longer input side by default (images are resized to the input size, keeping their shape)
MIN_SIDE = 64
TIME_BUDGET = 12.0  # minutes of training by default (the whole run then fits about 15 minutes)
DICE = 1.0  # weight of the soft Dice term in ce+dice
MAX_WEIGHT = 10.0  # --class-weight auto: no class weighs more than this many times the median one


def input_size(height: int, width: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """The default input size for images of median size (height, width): their shape kept, the
    longer side at most `max_side`, both sides multiples of 32."""
    if not height or not width:
        return (256, 256)
    scale = min(1.0, max_side / max(height, width))

    def side(v: float) -> int:
        return int(max(MIN_SIDE, round(v * scale / 32) * 32))

    return side(height), side(width)


class Segmentation(Task):
    name = "segmentation"
    description = "A class for every pixel (mIoU), on images and videos."
    data_help = ("a folder of images with masks: DIR/train/images + DIR/train/masks (and validation/, test/), or "
                 "DIR/images + DIR/masks; masks are index PNGs (classes.txt names them), black-and-white masks, or "
                 "colour masks with labelmap.txt / classes.csv")
    monitor = "val_miou"
    parity = "the same class at >= 99.5% of the pixels"
    outputs = "mask"
    batch_size = 8
    usage = ("which labels every pixel: `visionflow predict RUN IMAGES --out DIR` writes the masks, "
             "`visionflow evaluate RUN DIR` scores them (mIoU); explain does not take segmentation models.")
    networks = "visionflow.tasks.segmentation.models"
    distributable = True

    def __init__(self):
        self._weights: list[float] | None = None  # --class-weight auto, from the training pixels (class_weights)

    # -- settings -----------------------------------------------------------------------------
    def check_config(self, cfg):
        from visionflow.models import check_model

        for flag, given in (("--labels", cfg.labels), ("--threshold", cfg.threshold is not None),
                            ("--calibrate", cfg.calibrate), ("--head-epochs", cfg.head_epochs), ("--mixup", cfg.mixup),
                            ("--label-smoothing", cfg.label_smoothing), ("--pairs", cfg.pairs), ("--dp", cfg.dp),
                            ("--teacher", cfg.teacher)):
            if given:
                raise ConfigError(f"{flag} is not for segmentation models; they learn every pixel's class from the masks.")
        if cfg.monitor not in (None, "val_miou", "val_loss"):
            raise ConfigError(f"--monitor for segmentation is val_miou or val_loss. Received: {cfg.monitor}")
        if cfg.loss not in (None, "ce", "ce+dice"):
            raise ConfigError(f"--loss for segmentation is ce or ce+dice. Received: {cfg.loss}")
        if cfg.augment not in (None, "none", "light"):
            raise ConfigError(f"--augment for segmentation is light (zoom and crop, flip, colour, the same for image "
                              f"and mask; the default) or none. Received: {cfg.augment}")
        if cfg.image_size is not None and (cfg.image_size[0] % 32 or cfg.image_size[1] % 32):
            raise ConfigError(f"--image-size for segmentation must be a multiple of 32 (the encoder's coarsest "
                              f"stride). Received: {cfg.image_size[0]}x{cfg.image_size[1]}")
        if cfg.model is not None:
            check_model(cfg.model, cfg.image_size, cfg.weights or "none", task=self.name)
        filled = {"epochs": 300, "head_epochs": 0, "freeze_epochs": 0, "optimizer": "adamw", "weight_decay": 1e-4,
                  "lr_schedule": "cosine", "mixup": 0.0, "dropout": 0.0, "label_smoothing": 0.0,
                  "patience": 0, "keep": "best", "monitor": "val_miou", "loss": "ce+dice"}
        return cfg.replace(**{k: v for k, v in filled.items() if getattr(cfg, k) is None},
                           augment=cfg.augment or "light",
                           **({"time_budget": TIME_BUDGET} if cfg.time_budget is None and cfg.epochs is None else {}))

    def complete(self, cfg, facts):
        """The network (pretrained where the weights are here, else from scratch), the input size
        (the images' own shape, at most MAX_SIDE) and learning rate, with the line saying so."""
        from visionflow import pretrained
        from visionflow.models import MODELS

        chosen, why = {}, None
        if cfg.model is None:
            if not pretrained.auto_allowed():
                why = f"${pretrained.AUTO_ENV} is off"
            elif not pretrained.available(BACKBONE):
                why = f"no ImageNet weights for {BACKBONE} on this machine ({pretrained.install_hint(BACKBONE)})"
            chosen = {"model": SCRATCH, "weights": "none"} if why else {"model": PRETRAINED, "weights": cfg.weights or "imagenet"}
            if why:
                why += f"; training {SCRATCH} from scratch"
        elif cfg.weights is None:
            chosen = {"weights": "imagenet" if MODELS.get(cfg.model).backbone and pretrained.available(BACKBONE) else "none"}
        cfg = cfg.replace(**chosen)
        sized = cfg.image_size is None
        if sized:
            cfg = cfg.replace(image_size=input_size(facts.height, facts.width))
        if cfg.learning_rate is None:
            cfg = cfg.replace(learning_rate=2e-3 if cfg.weights == "none" else 1e-3)
        if cfg.time_budget is None:
            cfg = cfg.replace(time_budget=0.0)
        if not chosen and not why and not sized:
            return cfg, None
        backbone = "ImageNet EfficientNet-Lite0 encoder" if cfg.weights != "none" else "trained from scratch"
        h, w = cfg.image_size
        line = (f"recipe segmentation: {facts.images:,} training images, {facts.classes} classes -> {cfg.model} "
                f"({backbone}), {h}x{w}"
                + (f" (the images' median {facts.height}x{facts.width}, longer side at most {MAX_SIDE})" if sized else "")
                + f", batch {cfg.batch_size}, {cfg.optimizer} {cfg.learning_rate:g} cosine, "
                + (f"{cfg.time_budget:g} min budget" if cfg.time_budget else f"{cfg.epochs} epochs")
                + f", loss {cfg.loss} (void pixels ignored)"
                + (", augmented image and mask alike" if cfg.augment != "none" else ", no augmentation")
                + "; best epoch by validation mIoU at each image's own size")
        if why:
            line += f"\n{why}"
        return cfg, line

    # -- data ---------------------------------------------------------------------------------
    def load_data(self, cfg, split_file=None):
        from visionflow.tasks.segmentation.data import load_masks

        return load_masks(cfg.data, cfg.val_split, cfg.seed, split_file=split_file)

    def datasets(self, cfg, folder, paths, batch_size):
        from visionflow.tasks.segmentation.pipeline import datasets

        return datasets(folder, tuple(cfg.image_size), cfg.seed, batch_size, augmented=cfg.augment != "none")

    def epoch_size(self, cfg, folder):
        from visionflow.tasks.segmentation.pipeline import epoch_views

        return epoch_views(len(folder.splits["train"]))

    def callbacks(self, cfg, paths, folder, state, say):
        from visionflow.tasks.segmentation.evaluate import ValidationIoU

        if paths is not None:
            _keep_scheme(paths, folder)
        return [ValidationIoU(folder, tuple(cfg.image_size))]

    def class_weights(self, folder):
        """Median-frequency class weights (Eigen & Fergus 2015) from the training pixels, capped at
        MAX_WEIGHT; they go into the loss (`compile`), so the trainer gets None."""
        import numpy as np

        share = folder.report["counts"]["train"]["pixel_share"]
        freq = np.array([share[c] for c in folder.classes], np.float64)
        seen = freq > 0
        weights = np.ones_like(freq)
        weights[seen] = np.median(freq[seen]) / freq[seen]
        self._weights = [round(float(w), 4) for w in np.clip(weights, 1.0 / MAX_WEIGHT, MAX_WEIGHT)]
        return None

    # -- model --------------------------------------------------------------------------------
    def build(self, cfg, classes):
        from visionflow.models import MODELS

        spec = MODELS.get(cfg.model)
        kwargs = {"weights": cfg.weights} if spec.backbone else {}
        return spec.build(input_shape=(*cfg.image_size, 3), classes=len(classes), **kwargs)

    def compile(self, model, cfg, classes, learning_rate):
        from visionflow.tasks.segmentation.models import SegmentationLoss
        from visionflow.training.setup import make_optimizer

        weights = self._weights if cfg.class_weight == "auto" else None
        loss = SegmentationLoss(len(classes), dice=DICE if cfg.loss == "ce+dice" else 0.0, weights=weights)
        model.compile(optimizer=make_optimizer(cfg, learning_rate), loss=loss)

    def units(self, classes):
        return len(classes)

    def meta(self, cfg, classes):
        return {"task": self.name, "model": cfg.model, "classes": list(classes), "image_size": list(cfg.image_size),
                "resize": "stretch"}

    def finish_run(self, paths, folder, state, cfg, say):
        from visionflow.tasks.segmentation.evaluate import finish_run

        _keep_scheme(paths, folder)
        return finish_run(paths, folder, state, cfg, say)

    def rebuild_report(self, folder, meta, metrics):
        from visionflow.tasks.segmentation.report import write_report

        return write_report(Path(folder), metrics, meta)

    # -- loading and the command line ----------------------------------------------------------
    def load_model(self, path, unsafe=False, backend="auto", say=None):
        from visionflow.tasks.segmentation.segmenter import Segmenter

        return Segmenter.load(path, backend=backend, unsafe=unsafe, say=say)

    def predict_command(self, args, o):
        from visionflow.tasks.segmentation.cli import predict

        return predict(args, o)

    def evaluate_command(self, args, o):
        from visionflow.tasks.segmentation.cli import evaluate

        return evaluate(args, o)

    # -- export -------------------------------------------------------------------------------
    def export(self, run, names, out, samples, min_agreement, unsafe, say):
        from visionflow.tasks.segmentation.export import export_segmenter

        return export_segmenter(run, names, out, samples, unsafe, say)

    # -- service ------------------------------------------------------------------------------
    def serve_load(self, run, cfg, say):
        from visionflow.tasks.segmentation.serve import load_served

        return load_served(run, cfg, say)

    def mount(self, app, service):
        from visionflow.tasks.segmentation.serve import mount

        mount(app, service)

    def serve_refusal(self, served):
        return "segmentation_model", ("This server runs a segmentation model: POST images to /v1/predict for their "
                                      "masks; explain and video routes do not take it.")


def _keep_scheme(paths, folder) -> None:
    """labels.json gets how the masks were read: their kind, classes and colours (those of the
    PNGs predictions are written as)."""
    from visionflow.rundir import read_json, write_json

    meta = read_json(paths.labels)
    if meta.get("scheme") != folder.scheme.to_dict():
        meta["scheme"] = folder.scheme.to_dict()
        write_json(paths.labels, meta)


TASKS.add("segmentation", Segmentation())
