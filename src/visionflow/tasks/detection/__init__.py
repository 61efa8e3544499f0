"""Object detection: boxes with a class and a score, learnt from a folder of annotated images
(YOLO, Pascal VOC or COCO), on images and on video (tracking, counting).

The network is an anchor-free one-stage detector (`models`); its targets are assigned per
feature-map point (`assign`) from boxes augmented with their images (`augment`). It is scored
by the COCO protocol (`metrics`), answers through `Detector` (`visionflow.load(run)`), exports
with box decoding in the graph (`export`) and serves boxes on POST /v1/predict (`serve`).
"""

from __future__ import annotations

from pathlib import Path

from visionflow.errors import ConfigError
from visionflow.tasks.base import TASKS, Task

PRETRAINED = "fcos_lite0"
BACKBONE = "efficientnet_lite0"  # whose offline ImageNet weights PRETRAINED starts from  # the default where the offline ImageNet weights are installed
SCRATCH = "fcos_small"
SIDE = 320  # default input side: 2,100 feature points; ~20 ms per image in ONNX Runtime on 2 cores
TIME_BUDGET = 12.0  # minutes of training by default (the whole run then fits 15 minutes)


class Detection(Task):
    name = "detection"
    description = "Boxes around objects, with class and score (COCO mAP), on images and videos."
    data_help = ("a folder of images with boxes: YOLO (images/ + labels/*.txt, data.yaml), Pascal VOC "
                 "(annotations/*.xml + images/) or COCO (annotations.json beside the images); optionally split into "
                 "train/, validation/ (or val/, valid/) and test/")
    monitor = "val_map50"
    parity = "the same boxes (matched IoU >= 0.9, score within 0.01)"
    outputs = "boxes"
    batch_size = 8
    usage = ("which finds boxes: `visionflow predict RUN IMAGES` lists them (--annotate DIR draws them), "
             "`visionflow evaluate RUN DIR` scores them (COCO mAP); explain does not take detection models.")
    networks = "visionflow.tasks.detection.models"
    distributable = True

    # -- settings -----------------------------------------------------------------------------
    def check_config(self, cfg):
        from visionflow.models import check_model

        for flag, given in (("--labels", cfg.labels), ("--threshold", cfg.threshold is not None),
                            ("--calibrate", cfg.calibrate), ("--class-weight auto", cfg.class_weight != "none"),
                            ("--head-epochs", cfg.head_epochs), ("--mixup", cfg.mixup),
                            ("--label-smoothing", cfg.label_smoothing), ("--pairs", cfg.pairs),
                            ("--dp", cfg.dp), ("--teacher", cfg.teacher)):
            if given:
                raise ConfigError(f"{flag} is not for detection models; a detector learns boxes from the annotations.")
        if cfg.monitor not in (None, "val_map50", "val_loss"):
            raise ConfigError(f"--monitor for detection is val_map50 or val_loss. Received: {cfg.monitor}")
        if cfg.augment not in (None, "none", "light"):
            raise ConfigError(f"--augment for detection is light (box-aware: crop, zoom-out, flip, colour; the "
                              f"default) or none. Received: {cfg.augment}")
        if cfg.image_size is not None and (cfg.image_size[0] % 32 or cfg.image_size[1] % 32):
            raise ConfigError(f"--image-size for a detector must be a multiple of 32 (the coarsest map's stride). "
                              f"Received: {cfg.image_size[0]}x{cfg.image_size[1]}")
        if cfg.model is not None:
            check_model(cfg.model, cfg.image_size, cfg.weights or "none", task=self.name)
        filled = {"epochs": 300, "head_epochs": 0, "freeze_epochs": 0, "optimizer": "adamw", "weight_decay": 1e-4,
                  "lr_schedule": "cosine", "mixup": 0.0, "dropout": 0.0, "label_smoothing": 0.0,
                  "patience": 0, "keep": "best", "monitor": "val_map50"}
        return cfg.replace(**{k: v for k, v in filled.items() if getattr(cfg, k) is None},
                           augment=cfg.augment or "light",
                           **({"time_budget": TIME_BUDGET} if cfg.time_budget is None and cfg.epochs is None else {}))

    def complete(self, cfg, facts):
        """The network (pretrained where the weights are here, else from scratch), input size and
        learning rate, with the line saying so."""
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
        if cfg.image_size is None:
            cfg = cfg.replace(image_size=(SIDE, SIDE) if cfg.model != SCRATCH else (256, 256))
        if cfg.learning_rate is None:
            cfg = cfg.replace(learning_rate=1e-3 if cfg.weights == "none" else 5e-4)
        if cfg.time_budget is None:
            cfg = cfg.replace(time_budget=0.0)
        if not chosen and not why:
            return cfg, None
        backbone = "ImageNet EfficientNet-Lite0 backbone" if cfg.weights != "none" else "trained from scratch"
        line = (f"recipe detection: {facts.images:,} training images, {facts.classes} {'class' if facts.classes == 1 else 'classes'} "
                f"-> {cfg.model} ({backbone}), {cfg.image_size[0]}x{cfg.image_size[1]}, batch {cfg.batch_size}, "
                f"{cfg.optimizer} {cfg.learning_rate:g} cosine, "
                + (f"{cfg.time_budget:g} min budget" if cfg.time_budget else f"{cfg.epochs} epochs")
                + (", box-aware augmentation" if cfg.augment != "none" else ", no augmentation")
                + "; best epoch by validation mAP@0.5")
        if why:
            line += f"\n{why}"
        return cfg, line

    # -- data ---------------------------------------------------------------------------------
    def load_data(self, cfg, split_file=None):
        from visionflow.tasks.detection.data import load_boxes

        return load_boxes(cfg.data, cfg.val_split, cfg.seed, split_file=split_file)

    def datasets(self, cfg, folder, paths, batch_size):
        from visionflow.tasks.detection.pipeline import datasets

        return datasets(folder, tuple(cfg.image_size), cfg.seed, batch_size, augmented=cfg.augment != "none")

    def epoch_size(self, cfg, folder):
        from visionflow.tasks.detection.pipeline import epoch_images

        return epoch_images(len(folder.splits["train"]))

    def callbacks(self, cfg, paths, folder, state, say):
        from visionflow.tasks.detection.evaluate import ValidationMap

        return [ValidationMap(folder, tuple(cfg.image_size))]

    # -- model --------------------------------------------------------------------------------
    def build(self, cfg, classes):
        from visionflow.models import MODELS

        spec = MODELS.get(cfg.model)
        kwargs = {"weights": cfg.weights} if spec.backbone else {}
        return spec.build(input_shape=(*cfg.image_size, 3), classes=len(classes), **kwargs)

    def compile(self, model, cfg, classes, learning_rate):
        from visionflow.tasks.detection.models import detection_loss
        from visionflow.training.setup import make_optimizer

        model.compile(optimizer=make_optimizer(cfg, learning_rate), loss=detection_loss)

    def units(self, classes):
        return len(classes) + 5

    def meta(self, cfg, classes):
        from visionflow.tasks.detection.detector import CONF, IOU

        return {"task": self.name, "model": cfg.model, "classes": list(classes), "image_size": list(cfg.image_size),
                "resize": "stretch", "conf": CONF, "iou": IOU}

    def finish_run(self, paths, folder, state, cfg, say):
        from visionflow.tasks.detection.evaluate import finish_run

        return finish_run(paths, folder, state, cfg, say)

    def rebuild_report(self, folder, meta, metrics):
        from visionflow.tasks.detection.report import write_report

        return write_report(Path(folder), metrics, meta)

    # -- loading and the command line ----------------------------------------------------------
    def load_model(self, path, unsafe=False, backend="auto", say=None):
        from visionflow.tasks.detection.detector import Detector

        return Detector.load(path, backend=backend, unsafe=unsafe, say=say)

    def predict_command(self, args, o):
        from visionflow.tasks.detection.cli import predict

        return predict(args, o)

    def evaluate_command(self, args, o):
        from visionflow.tasks.detection.cli import evaluate

        return evaluate(args, o)

    # -- export -------------------------------------------------------------------------------
    def export(self, run, names, out, samples, min_agreement, unsafe, say):
        from visionflow.tasks.detection.export import export_detector

        return export_detector(run, names, out, samples, unsafe, say)

    # -- service ------------------------------------------------------------------------------
    def serve_load(self, run, cfg, say):
        from visionflow.tasks.detection.serve import load_served

        return load_served(run, cfg, say)

    def mount(self, app, service):
        from visionflow.tasks.detection.serve import mount

        mount(app, service)

    def serve_refusal(self, served):
        return "detection_model", ("This server runs a detection model: POST images to /v1/predict for their boxes; "
                                   "explain and video routes do not take it.")


TASKS.add("detection", Detection())
