"""Object detection: boxes with a class and a score, learnt from a folder of annotated images
(YOLO, Pascal VOC or COCO), on images and on video (tracking, counting).

The network is an anchor-free one-stage detector (`models`); its targets are assigned per
feature-map point (`assign`) from boxes augmented with their images (`augment`). It is scored
by the COCO protocol (`metrics`, `evaluate`), answers through `Detector` (`visionflow.load(run)`),
exports with box decoding in the graph (`export`) and serves boxes on POST /v1/predict (`serve`).

The box family (keypoints, instance masks) builds on these parts: `Detection`, `Detector`,
`BoxEvaluator`, `DetectorExport` and `DetectorService` are the classes to subclass.
"""

from __future__ import annotations

from visionflow.tasks.base import TASKS
from visionflow.tasks.network import DECLINED, NetworkTask, network_parts

SIDE = 320  # default input side: 2,100 feature points; ~20 ms per image in ONNX Runtime on 2 cores
SCRATCH_SIDE = 256


class Detection(NetworkTask):
    name = "detection"
    description = "Boxes around objects, with class and score (COCO mAP), on images and videos."
    data_help = ("a folder of images with boxes: YOLO (images/ + labels/*.txt, data.yaml), Pascal VOC "
                 "(annotations/*.xml + images/) or COCO (annotations.json beside the images); optionally split into "
                 "train/, validation/ (or val/, valid/) and test/")
    monitor = "val_map50"
    parity = "the same boxes (matched IoU >= 0.9, score within 0.01)"
    outputs = "boxes"
    usage = ("which finds boxes: `visionflow predict RUN IMAGES` lists them (--annotate DIR draws them), "
             "`visionflow evaluate RUN DIR` scores them (COCO mAP); explain does not take detection models.")
    networks = "visionflow.tasks.detection.models"
    pretrained, scratch = "fcos_lite0", "fcos_small"
    learns = "learns boxes from the annotations"
    reader = "visionflow.tasks.detection.data:load_boxes"
    pipeline = "visionflow.tasks.detection.pipeline"
    augment_help = "box-aware augmentation: crop, zoom-out, flip, colour"
    learning_rates = (1e-3, 5e-4)
    declines = (*DECLINED, "class_weight")
    parts = network_parts("visionflow.tasks.detection", "detector:Detector")
    routes = ("/v1/predict",)
    refusal = ("detection_model", "This server runs a detection model: POST images to /v1/predict for their boxes; "
                                  "explain and video routes do not take it.")

    def default_size(self, cfg, facts):
        side = SIDE if cfg.model != self.scratch else SCRATCH_SIDE
        return side, side

    def callbacks(self, cfg, paths, folder, state, say):
        from visionflow.tasks.detection.evaluate import ValidationMap

        return [ValidationMap(folder, tuple(cfg.image_size))]

    def loss(self, cfg, classes):
        from visionflow.tasks.detection.models import detection_loss

        return detection_loss

    def units(self, classes):
        return len(classes) + 5

    def meta(self, cfg, classes):
        from visionflow.tasks.detection.detector import CONF, IOU

        return {**super().meta(cfg, classes), "conf": CONF, "iou": IOU}


TASKS.add("detection", Detection())
