"""Image generation: a GAN learnt from a folder of images, optionally one class per folder.

The model (`visionflow.tasks.generation.models.GAN`) trains a generator against a discriminator; model.keras
holds the generator's moving average (latent [+ class] -> RGB pixels). Quality is measured after
training against held-out real images (`visionflow.tasks.generation.quality`), never by a loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visionflow.errors import ConfigError
from visionflow.settings import TaskOptions, check, option
from visionflow.tasks.base import TASKS, Task

DEFAULTS = {"model": "sngan", "weights": "none", "head_epochs": 0, "epochs": 2000, "time_budget": 20.0,
            "optimizer": "adam", "learning_rate": 2e-4, "weight_decay": 0.0, "lr_schedule": "constant",
            "augment": "none", "mixup": 0.0, "dropout": 0.0, "label_smoothing": 0.0, "patience": 0, "keep": "last",
            "monitor": "val_loss"}
VAL_SPLIT = 0.2  # held-out real images: the real-vs-real floor of the quality metrics
SAMPLE_EVERY = 5  # epochs between sample grids in the run folder and TensorBoard


@dataclass(frozen=True)
class GanOptions(TaskOptions):
    conditional: bool = option(False, "Learn one generator per class folder (class-conditional); generate then takes "
                                      "--class.")
    latent_dim: int = option(128, "Length of the generator's random latent vector.")
    diffaugment: str = option("color,translation,cutout", "DiffAugment policy, the differentiable augmentation of "
                                                          "every image the discriminator sees (any of color, "
                                                          "translation, cutout, comma-separated, or none).",
                              metavar="POLICY")

    def check(self) -> None:
        check(self.latent_dim >= 1, f"latent_dim must be at least 1. Received: latent_dim={self.latent_dim}")


class Generation(Task):
    name = "gan"
    options = GanOptions
    description = "Generate new images like the folder's (GAN; class-conditional with --conditional), " \
                  "with feature-distance, precision/recall and memorisation checks against held-out images."
    data_help = "any folder of images (searched recursively); with --conditional, one folder per class"
    networks = "visionflow.tasks.generation.models"
    parts = {"finish": "visionflow.tasks.generation.evaluate:finish_run",
             "report": "visionflow.tasks.generation.report:rebuild",
             "verbs": "visionflow.tasks.generation.cli",
             "exporter": "visionflow.tasks.generation.export:export",
             "service": "visionflow.tasks.generation.serve"}
    routes = ("/v1/generate",)
    monitor = "val_loss"
    parity = "PSNR of the export's images against the .keras generator's, for the same latent vectors"
    outputs = "samples"
    usage = ("an image generator, which takes no images: `visionflow generate RUN --n 16 --out DIR` makes images "
             "and `visionflow evaluate RUN DIR` measures them against real ones (from Python: visionflow.generate).")
    batch_size = 64  # measured: 2.3x the images per second of 32 on 2 cores (sngan, 32x32)
    distributable = False  # two optimizer steps per batch and an EMA copy: not in the distributed loop
    examines_data = False  # leakage between splits does not flatter a generator's figures
    declines = ("calibrate", "class_weight", "head_epochs", "freeze_epochs", "mixup", "label_smoothing")
    decline_reason = "is for classifiers; a GAN does not take it."

    # -- settings -----------------------------------------------------------------------------
    def check_config(self, cfg):
        from visionflow.tasks.generation.models import SIZES
        from visionflow.tasks.generation.layers import parse_policy

        self.check_declined(cfg)
        if cfg.weights not in (None, "none"):
            raise ConfigError(f"GANs train from scratch; drop --weights {cfg.weights}.")
        if cfg.monitor not in (None, "val_loss"):
            raise ConfigError(f"--monitor for a GAN is val_loss (the discriminator's, on held-out images). "
                              f"Received: {cfg.monitor}")
        if cfg.augment not in (None, "none"):
            raise ConfigError("--augment is for classifiers; a GAN augments what its discriminator sees with "
                              "--diffaugment.")
        try:
            parse_policy(cfg.diffaugment)
        except ValueError as exc:
            raise ConfigError(f"--diffaugment: {exc}") from None
        if cfg.image_size is not None and (cfg.image_size[0] != cfg.image_size[1] or cfg.image_size[0] not in SIZES):
            raise ConfigError(f"--image-size for a GAN is one of {', '.join(map(str, SIZES))} (square). "
                              f"Received: {cfg.image_size[0]}x{cfg.image_size[1]}")
        filled = {k: v for k, v in DEFAULTS.items() if getattr(cfg, k) is None}
        cfg = cfg.replace(**filled)
        if not cfg.val_split and not (Path(cfg.data) / "train").is_dir():
            cfg = cfg.replace(val_split=VAL_SPLIT)
        return cfg

    def complete(self, cfg, facts):
        """The image size, where not given: 64 for images at least that big, else 32 (or 16)."""
        if cfg.image_size is not None:
            return cfg, None
        side = 64 if facts.short_side >= 64 else 32 if facts.short_side >= 32 else 16
        return cfg.replace(image_size=(side, side)), (f"gan: {side}x{side} images (median short side "
                                                     f"{facts.short_side} px; set --image-size 16, 32, 64 or 128)")

    # -- data ---------------------------------------------------------------------------------
    def load_data(self, cfg, split_file=None):
        """Class folders with --conditional (at least 2 classes), else every image under the folder."""
        if cfg.conditional:
            from visionflow.data.dataset import load_folder

            root = Path(cfg.data)
            if root.is_dir() and not any(d.is_dir() and not d.name.startswith(".") for d in root.iterdir()):
                raise ConfigError(f"--conditional needs one folder per class (at least 2) in {cfg.data}; it has "
                                  f"no subfolders. Drop --conditional to learn every image together.")

            folder = load_folder(cfg.data, cfg.image_size or (64, 64), cfg.val_split, cfg.seed, split_file=split_file)
            if len(folder.classes) < 2:
                raise ConfigError(f"--conditional needs one folder per class (at least 2) in {cfg.data}; found "
                                  f"{len(folder.classes)}. Drop --conditional to learn every image together.")
            return folder
        from visionflow.data.unlabelled import load_unlabelled

        return load_unlabelled(cfg.data, 8, cfg.val_split, cfg.seed, split_file=split_file, purpose="a GAN")

    def targets(self, records, classes):
        if not classes:
            return np.zeros(len(records), np.int64)
        index = {c: i for i, c in enumerate(classes)}
        return np.array([index[r.label] for r in records], np.int64)

    def datasets(self, cfg, folder, paths, batch_size: int):
        from visionflow.data.pipeline import make_dataset
        from visionflow.data.resize import Resize

        def dataset(split: str, training: bool):
            recs = folder.splits[split]
            y = self.targets(recs, folder.classes)[:, None].astype(np.float32)
            return make_dataset(recs, y, cfg.image_size, batch_size, training=training, seed=cfg.seed,
                                cache=cfg.cache, cache_path=paths.cache / split if cfg.cache == "disk" else None,
                                resize=Resize(cfg.resize))

        return dataset("train", True), dataset("validation", False)

    def statistics_dataset(self, cfg, folder, batch_size: int):
        return None  # the generator's batch norm is re-estimated from latents (generation.monitor)

    # -- model --------------------------------------------------------------------------------
    def build(self, cfg, classes):
        from visionflow.models import MODELS

        return MODELS.get(cfg.model).build(size=cfg.image_size[0], classes=len(classes) if cfg.conditional else 0,
                                           latent=cfg.latent_dim, diffaugment=cfg.diffaugment)

    def compile(self, model, cfg, classes, learning_rate):
        model.compile(optimizer=model.make_optimizer(learning_rate))

    def describe_size(self, model) -> str:
        return (f"generator {model.generator.count_params():,} and discriminator "
                f"{model.discriminator.count_params():,} parameters")

    def kept_model(self, model):
        return model.ema

    def finish_reserve_s(self, cfg):
        from visionflow.tasks.generation.judge import judge_seconds

        return judge_seconds(cfg) + 5.0  # the feature network, then samples, figures and the report

    def callbacks(self, cfg, paths, folder, state, say):
        from visionflow.tasks.generation.monitor import GanMonitor

        return [GanMonitor(paths, folder, cfg, state, say, every=SAMPLE_EVERY)]

    def meta(self, cfg, classes):
        from visionflow.data.resize import Resize

        return {"task": self.name, "model": cfg.model, "classes": list(classes) if cfg.conditional else [],
                "conditional": bool(cfg.conditional), "image_size": list(cfg.image_size),
                "latent_dim": int(cfg.latent_dim), **Resize(cfg.resize).to_meta()}

    # -- export -------------------------------------------------------------------------------
    quantizable = False


    # -- service ------------------------------------------------------------------------------
    refusal = ("generator_model", "This server runs an image generator (GAN), which takes no images: POST to "
                                  "/v1/generate.")


TASKS.add("gan", Generation())
