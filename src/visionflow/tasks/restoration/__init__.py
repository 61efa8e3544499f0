"""Image restoration: denoising, deblurring, super-resolution and inpainting, learnt from clean images.

A restoration model maps a degraded image to a clean one. Training pairs are made on the fly
from any folder of clean photos: random patches, degraded by the task (noise, blur, bicubic
downscaling, holes) with seeded, stateless randomness, so the validation pairs are the same in
every epoch and every run. The model is fully convolutional: it trains on patches and restores
whole images at their own size (`visionflow.tasks.restoration.restorer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.errors import ConfigError
from visionflow.recipe import resolve
from visionflow.settings import TaskOptions, check, option
from visionflow.tasks.base import TASKS, Task
from visionflow.tasks.restoration.data import epoch_patches, load_images


@dataclass(frozen=True)
class CropOptions(TaskOptions):
    """The settings of tasks that train on crops of clean images (restoration, style)."""

    patch: int | None = option(None, "Side of the square training crops (of the clean image); unset: the task's "
                                     "(denoise 64, deblur 64, superres 32 x scale, inpaint 96, style 128).", kind=int,
                               shown="the task's")

    def check(self) -> None:
        check(self.patch is None or self.patch >= 8, f"patch must be at least 8. Received: patch={self.patch}")


@dataclass(frozen=True)
class RestorationOptions(CropOptions):
    loss: str | None = option(None, "Training loss: l1, l2 or ssim (0.84 (1 - SSIM) + 0.16 L1).",
                              choices=("l1", "l2", "ssim"), kind=str, shown="l1; inpaint l2")


@dataclass(frozen=True)
class PairOptions(RestorationOptions):
    """Restoration that may learn from real degraded images instead of degrading on the fly."""

    pairs: str = option("", "A folder of real degraded images, each named as its clean image in DIR (same relative "
                            "path or file stem, any extension); trains on these pairs instead of degrading on the "
                            "fly.", metavar="DIR")


DEGRADE_HELP = ("the degradation made on the fly from clean images, links applied in order: blur:gaussian:SIGMA, "
                "blur:motion:LENGTH[:ANGLE] (random angle when unset), blur:defocus:RADIUS, and the --noise kinds of "
                "--task denoise; LOW-HIGH ranges draw per image; e.g. blur:motion:5-15,gaussian:2-8,jpeg:60-95")


@dataclass(frozen=True)
class DenoiseOptions(PairOptions):
    noise: str = option("gaussian:25", "The noise made on the fly from clean images, a chain of KIND:LEVEL or "
                                       "KIND:LOW-HIGH (a range trains a blind model); KIND: gaussian (sigma), poisson "
                                       "(photons at white), saltpepper (fraction), jpeg (quality); e.g. "
                                       "gaussian:5-50,jpeg:30-90.", metavar="SPEC")
    degrade: str = option("", "The same chain as --noise, by the name deblur uses (noise and JPEG links only).",
                          metavar="SPEC", shown="--noise")


@dataclass(frozen=True)
class DeblurOptions(PairOptions):
    degrade: str = option("", DEGRADE_HELP[0].upper() + DEGRADE_HELP[1:] + ".", metavar="SPEC",
                          shown="blur:gaussian:1-3")


@dataclass(frozen=True)
class SuperResOptions(PairOptions):
    scale: int = option(2, "The upscaling factor.", choices=(2, 3, 4))


class Restoration(Task):
    """What the three restoration tasks share; each subclass says how a clean batch degrades."""

    networks = "visionflow.tasks.restoration.models"
    monitor = "val_psnr"
    parity = "PSNR against the .keras model's output"
    outputs = "image"
    usage = ("which restores images instead of labelling them: `visionflow predict RUN IMAGES --out DIR` writes the "
             "restored images and `visionflow evaluate RUN DIR` measures it (from Python: "
             "visionflow.tasks.restoration.restorer.Restorer); explain does not take restoration models.")
    data_help = "any folder of clean images (searched recursively; class folders are ignored), or DIR/train + DIR/validation"
    model = ""  # the default network
    patch = 64  # the default training crop side
    learning_rate = 1e-3  # the default; measured per task (bench/README.md "Image restoration")
    loss = "l1"
    time_budget = 10.0  # minutes of training by default
    input_channels = 3
    options = RestorationOptions
    declines = ("calibrate", "class_weight", "head_epochs", "freeze_epochs", "mixup", "label_smoothing")
    parts = {"finish": "visionflow.tasks.restoration.evaluate:finish_run",
             "report": "visionflow.tasks.restoration.report:rebuild",
             "verbs": "visionflow.tasks.restoration.cli",
             "exporter": "visionflow.tasks.restoration.export:export",
             "service": "visionflow.tasks.restoration.serve"}
    routes = ("/v1/restore",)

    # -- settings -----------------------------------------------------------------------------
    def patch_side(self, cfg) -> int:
        return cfg.patch or self.patch

    def check_config(self, cfg):
        from visionflow.models import check_model

        self.check_declined(cfg)
        if getattr(cfg, "pairs", ""):
            import os

            if not Path(cfg.pairs).is_dir():
                raise ConfigError(f"--pairs folder {cfg.pairs} does not exist or is not a folder.")
            cfg = cfg.replace(pairs=os.path.abspath(cfg.pairs))  # a run resumed from elsewhere still finds it
        if cfg.weights not in (None, "none"):
            raise ConfigError(f"{self.name} models train from scratch; drop --weights {cfg.weights}.")
        if cfg.monitor not in (None, "val_psnr", "val_loss"):
            raise ConfigError(f"--monitor for {self.name} is val_psnr or val_loss. Received: {cfg.monitor}")
        model = cfg.model or self.model
        spec = check_model(model, None, task=self.name)
        patch = self.patch_side(cfg)
        step = self.patch_multiple(cfg, spec.multiple)
        if patch % step:
            raise ConfigError(f"--patch must be a multiple of {step} for {model}"
                              f"{' at this scale' if self.name == 'superres' else ''}. Received: patch={patch}")
        filled = {"model": model, "weights": "none", "head_epochs": 0,
                  "epochs": 1000, "time_budget": self.time_budget, "optimizer": "adam", "learning_rate": self.learning_rate,
                  "weight_decay": 1e-4, "lr_schedule": "cosine", "augment": "none", "mixup": 0.0, "dropout": 0.0,
                  "label_smoothing": 0.0, "patience": 0, "keep": "last", "monitor": "val_psnr",
                  **({"loss": self.loss} if "loss" in cfg.options.__dataclass_fields__ else {})}
        return cfg.replace(**{k: v for k, v in filled.items() if getattr(cfg, k) is None}, patch=patch,
                           image_size=(patch, patch))

    complete = staticmethod(resolve)  # the shared recipe fills what is unset

    def patch_multiple(self, cfg, multiple: int) -> int:
        return multiple

    def upscale(self, cfg) -> int:
        """How many times larger the output is than the input (--scale of superres)."""
        return 1

    def describe(self, cfg) -> str:
        """The degradation in a few words, for the run's first line and the report."""
        raise NotImplementedError

    # -- data ---------------------------------------------------------------------------------
    def load_data(self, cfg, split_file=None):
        return load_images(cfg.data, self.patch_side(cfg), cfg.val_split, cfg.seed, split_file=split_file,
                           pairs=getattr(cfg, "pairs", "") or None, scale=self.upscale(cfg))

    def degrade(self, clean, seed, cfg, context=None):
        """(model input, target) of a float32 batch of clean pixels; `seed` a [2] int tensor."""
        raise NotImplementedError

    def context(self, cfg) -> dict:
        """What `degrade` needs besides the batch (e.g. a bank of hole masks)."""
        return {}

    def epoch_size(self, cfg, folder) -> int:
        return epoch_patches(len(folder.splits["train"]))

    def datasets(self, cfg, folder, paths, batch_size: int):
        import tensorflow as tf

        from visionflow.data.pipeline import steady
        from visionflow.tasks.restoration.data import PatchSampler, validation_patches

        patch = self.patch_side(cfg)
        per_epoch = self.epoch_size(cfg, folder)
        if getattr(cfg, "pairs", ""):
            return self._pair_datasets(cfg, folder, patch, per_epoch, batch_size)
        context = self.context(cfg)
        sampler = PatchSampler(folder.splits["train"], patch, per_epoch, cfg.seed)
        train = tf.data.Dataset.from_generator(sampler, output_signature=tf.TensorSpec((patch, patch, 3), tf.uint8))
        train = train.apply(tf.data.experimental.assert_cardinality(per_epoch))
        train = (train.batch(batch_size).enumerate()
                 .map(lambda i, x: self.degrade(tf.cast(x, tf.float32), tf.stack([cfg.seed, tf.cast(i, tf.int32)]),
                                                cfg, context), num_parallel_calls=tf.data.AUTOTUNE))
        crops = validation_patches(folder.splits["validation"], patch, cfg.seed)
        given, target = self.degrade(tf.constant(crops, tf.float32), tf.constant([cfg.seed + 1, 0]), cfg, context)
        val = tf.data.Dataset.from_tensor_slices((given, target)).batch(batch_size).cache()
        return steady(train), steady(val)

    def _pair_datasets(self, cfg, folder, patch: int, per_epoch: int, batch_size: int):
        """Training and validation batches from real degraded/clean pairs (`--pairs`)."""
        import tensorflow as tf

        from visionflow.data.pipeline import steady
        from visionflow.tasks.restoration.pairs import PairSampler, validation_pairs

        scale = self.upscale(cfg)
        pairs = {split: [(r.path, folder.pairs[r.path]) for r in folder.splits[split]] for split in ("train", "validation")}
        sampler = PairSampler(pairs["train"], patch, scale, per_epoch, cfg.seed)
        low = patch // scale
        train = tf.data.Dataset.from_generator(sampler, output_signature=(
            tf.TensorSpec((low, low, 3), tf.uint8), tf.TensorSpec((patch, patch, 3), tf.uint8)))
        train = (train.apply(tf.data.experimental.assert_cardinality(per_epoch)).batch(batch_size)
                 .map(lambda a, b: (tf.cast(a, tf.float32), tf.cast(b, tf.float32))))
        given, clean = validation_pairs(pairs["validation"], patch, scale, cfg.seed)
        val = tf.data.Dataset.from_tensor_slices((given.astype(np.float32), clean.astype(np.float32))).batch(batch_size).cache()
        return steady(train), steady(val)

    # -- model --------------------------------------------------------------------------------
    def build(self, cfg, classes):
        from visionflow.models import MODELS

        return MODELS.get(cfg.model).build(scale=self.upscale(cfg))

    def compile(self, model, cfg, classes, learning_rate):
        from visionflow.tasks.restoration.losses import LOSSES, psnr
        from visionflow.training.setup import make_optimizer

        model.compile(optimizer=make_optimizer(cfg, learning_rate), loss=LOSSES[cfg.loss], metrics=[psnr])

    def meta(self, cfg, classes):
        from visionflow.models import MODELS

        return {"task": self.name, "model": cfg.model, "classes": [], "image_size": None,
                "input_channels": self.input_channels,
                "multiple": MODELS.get(cfg.model).multiple, "patch": self.patch_side(cfg), **self.settings(cfg),
                **({"pairs": cfg.pairs} if getattr(cfg, "pairs", "") else {})}

    def settings(self, cfg) -> dict:
        """The degradation settings a model keeps in labels.json (evaluation degrades the same way)."""
        return {}

    # -- export -------------------------------------------------------------------------------
    quantizable = False

    # -- service ------------------------------------------------------------------------------
    def refused(self):
        return "restoration_model", (f"This server runs a {self.name} model, which restores images: POST one image "
                                     f"to /v1/restore.")

    # -- evaluation ---------------------------------------------------------------------------
    def degrade_image(self, clean: np.ndarray, meta: dict, seed: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(model input, clean target, hole mask or None) for one clean uint8 image, the same for the same seed."""
        raise NotImplementedError

    def image_facts(self, meta: dict, seed: tuple[int, int], shape: tuple[int, ...]) -> dict:
        """What the baselines may know about how one image was degraded (the deblurring baselines
        given the true kernel); the same `seed` as `degrade_image`'s."""
        return {}

    def baselines(self, given: np.ndarray, meta: dict) -> dict[str, Callable[[np.ndarray, dict], np.ndarray]]:
        raise NotImplementedError


class Denoise(Restoration):
    name = "denoise"
    options = DenoiseOptions
    description = "Remove noise: Gaussian, Poisson, salt-and-pepper, JPEG (PSNR/SSIM against classical filters)."
    model = "ffdnet_s"
    patch = 64
    learning_rate = 2e-3

    def check_config(self, cfg):
        from visionflow.tasks.restoration.chain import blurs, check, text

        if cfg.degrade:  # the same chain as --noise, by its general name
            chain = check(cfg.degrade)
            if blurs(chain):
                raise ConfigError(f"--degrade {cfg.degrade} blurs: train --task deblur for that (a denoiser learns "
                                  f"noise and JPEG only).")
            cfg = cfg.replace(noise=text(chain), degrade="")
        else:
            check(cfg.noise, "--noise")
        return super().check_config(cfg)

    def describe(self, cfg) -> str:
        return f"real noisy/clean pairs ({cfg.pairs})" if cfg.pairs else f"noise {cfg.noise}"

    def settings(self, cfg):
        return {"noise": cfg.noise}

    def degrade(self, clean, seed, cfg, context=None):
        from visionflow.tasks.restoration.degrade import add_noise, parse_noise

        return add_noise(clean, parse_noise(cfg.noise), seed), clean

    def degrade_image(self, clean, meta, seed):
        import tensorflow as tf

        from visionflow.tasks.restoration.degrade import add_noise, parse_noise

        noisy = add_noise(clean[None].astype(np.float32), parse_noise(meta["noise"]), tf.constant(seed, tf.int32))
        return noisy.numpy()[0].astype(np.uint8), clean, None

    def baselines(self, given, meta):
        from visionflow.tasks.restoration import baselines

        return baselines.DENOISE


class Deblur(Restoration):
    name = "deblur"
    options = DeblurOptions
    description = ("Remove blur: Gaussian, motion, defocus, optionally with noise and JPEG after it (PSNR/SSIM "
                   "against unsharp masking and Wiener / Richardson-Lucy deconvolution).")
    model = "unet_deblur"
    patch = 64  # measured: at 150 s, 64-px crops 27.89 dB, 96-px 27.54 (more steps beat more context)
    learning_rate = 1e-3
    DEFAULT = "blur:gaussian:1-3"  # a blind model over the blur of a slightly missed focus

    def chain_of(self, spec: str):
        from visionflow.tasks.restoration.chain import blurs, check

        chain = check(spec)
        if not blurs(chain):
            raise ConfigError(f"--degrade {spec} has no blur: a deblur model needs a blur:KIND:LEVEL link "
                              f"(e.g. blur:gaussian:2, blur:motion:9); noise alone is --task denoise.")
        return chain

    def check_config(self, cfg):
        from visionflow.tasks.restoration.chain import text

        cfg = cfg.replace(degrade=text(self.chain_of(cfg.degrade or self.DEFAULT)))
        return super().check_config(cfg)

    def describe(self, cfg) -> str:
        return f"real blurred/sharp pairs ({cfg.pairs})" if cfg.pairs else cfg.degrade

    def settings(self, cfg):
        return {"degrade": cfg.degrade}

    def degrade(self, clean, seed, cfg, context=None):
        from visionflow.tasks.restoration.chain import apply

        return apply(clean, self.chain_of(cfg.degrade), seed), clean

    def degrade_image(self, clean, meta, seed):
        from visionflow.tasks.restoration.chain import apply_one

        return apply_one(clean, self.chain_of(meta["degrade"]), seed)[0], clean, None

    def image_facts(self, meta, seed, shape):
        from visionflow.tasks.restoration.chain import blur_kernel

        return {"kernel": blur_kernel(self.chain_of(meta["degrade"]), seed)}

    def baselines(self, given, meta):
        from visionflow.tasks.restoration import baselines

        if meta.get("kernel_known", True):
            return baselines.DEBLUR
        return {name: entry for name, entry in baselines.DEBLUR.items() if "true kernel" not in name}


class SuperRes(Restoration):
    name = "superres"
    options = SuperResOptions
    description = "Enlarge 2x, 3x or 4x (PSNR/SSIM against nearest, bilinear and bicubic upscaling)."
    model = "espcn_s"

    def patch_side(self, cfg) -> int:
        return cfg.patch or 32 * cfg.scale

    def patch_multiple(self, cfg, multiple):
        return multiple * cfg.scale

    def upscale(self, cfg) -> int:
        return cfg.scale

    def describe(self, cfg) -> str:
        return f"{cfg.scale}x real low/high-resolution pairs ({cfg.pairs})" if cfg.pairs else f"{cfg.scale}x bicubic downscaling"

    def settings(self, cfg):
        return {"scale": cfg.scale}

    def check_config(self, cfg):
        cfg = super().check_config(cfg)
        # the trainer's input size is the low-resolution patch
        side = self.patch_side(cfg) // cfg.scale
        return cfg.replace(image_size=(side, side))

    def degrade(self, clean, seed, cfg, context=None):
        from visionflow.tasks.restoration.degrade import downscale

        return downscale(clean, cfg.scale), clean

    def degrade_image(self, clean, meta, seed):
        from visionflow.tasks.restoration.degrade import downscale

        s = int(meta["scale"])
        h, w = clean.shape[0] // s * s, clean.shape[1] // s * s
        clean = clean[:h, :w]
        return downscale(clean[None].astype(np.float32), s).numpy()[0].astype(np.uint8), clean, None

    def baselines(self, given, meta):
        from visionflow.tasks.restoration import baselines

        return baselines.UPSCALE


class Inpaint(Restoration):
    name = "inpaint"
    description = "Fill holes (boxes and brush strokes) with plausible pixels (PSNR in the holes against OpenCV's Telea and Navier-Stokes)."
    model = "unet_inpaint"
    patch = 96
    # PSNR in the holes is a mean-squared measure, and L2 is what minimises it (L1 finds the median
    # fill); the U-Net runs ~1 epoch of 1,024 crops a minute here, so it gets the 15 minutes the
    # others do not need.
    loss = "l2"
    time_budget = 15.0
    input_channels = 4
    MASK_BANK = 512

    def describe(self, cfg) -> str:
        return f"random holes: boxes and free-form strokes up to {int(0.4 * self.patch_side(cfg))} pixels, 5-25% of the image"

    def context(self, cfg):
        from visionflow.tasks.restoration.degrade import random_masks

        side = self.patch_side(cfg)
        return {"masks": random_masks(self.MASK_BANK, side, side, np.random.default_rng(cfg.seed))}

    def degrade(self, clean, seed, cfg, context=None):
        import tensorflow as tf

        from visionflow.tasks.restoration.degrade import with_hole

        bank = tf.constant(context["masks"])
        pick = tf.random.stateless_uniform([tf.shape(clean)[0]], seed, 0, self.MASK_BANK, dtype=tf.int32)
        return with_hole(clean, tf.gather(bank, pick)), clean

    def degrade_image(self, clean, meta, seed):
        from visionflow.tasks.restoration.degrade import random_masks, with_hole

        mask = random_masks(1, clean.shape[0], clean.shape[1], np.random.default_rng(list(seed)),
                            unit=meta.get("patch"))  # holes of the sizes the model trained on
        given = with_hole(clean[None].astype(np.float32), mask).numpy()[0]
        return np.round(given).astype(np.uint8), clean, mask[0] > 0.5

    def baselines(self, given, meta):
        from visionflow.tasks.restoration import baselines

        return baselines.INPAINT


TASKS.add("denoise", Denoise())
TASKS.add("deblur", Deblur())
TASKS.add("superres", SuperRes())
TASKS.add("inpaint", Inpaint())
