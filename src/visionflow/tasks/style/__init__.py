"""Style transfer: photos repainted in the style of a picture, by a network trained for that picture.

`visionflow train PHOTOS --task style --style painting.jpg` trains a feed-forward network
(`models.johnson_s`) on random crops of any folder of photos with the perceptual loss
(`losses.PerceptualLoss`: Gram-matrix style and activation content on the offline ImageNet
EfficientNet-Lite0, `features`), so that one pass repaints any photo at its own size. Several
`--style` pictures train one network with one output per style. The run keeps each style picture
(`styles/NAME.png`), and the evaluation holds the network's outputs against the untouched photos
and against Gatys et al.'s per-image optimisation of the same loss (`gatys`), with the time
each takes.

The restoration machinery does the rest: random crops and validation crops, whole-image
inference with padding and tiling (`Restorer`), export with PSNR parity, and the service's
`POST /v1/restore` with the page's before/after view.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visionflow.errors import ConfigError
from visionflow.settings import check, option
from visionflow.tasks.base import TASKS
from visionflow.tasks.restoration import CropOptions, Restoration
from visionflow.tasks.network import BACKBONE

STYLE_SIDE = 256  # the style picture's longer side as the loss sees it (the scale of its strokes in the outputs)
STYLE_WEIGHT = 5.0  # bench/README.md "Style transfer": the weight that meets the style target at 10 minutes
TV_WEIGHT = 0.0


@dataclass(frozen=True)
class StyleOptions(CropOptions):
    style: tuple[str, ...] = option((), "The picture whose style the model paints photos in; give --style once per "
                                        "picture to learn several in one model (predict then picks one with --style "
                                        "NAME).", metavar="IMAGE", shown="none", many=True)
    style_weight: float | None = option(None, "Weight of the style term against the content term (higher: more of "
                                              "the painting, less of the photo).", kind=float, shown=f"{STYLE_WEIGHT:g}")

    def check(self) -> None:
        super().check()
        check(self.style_weight is None or self.style_weight > 0,
              f"style_weight must be positive. Received: style_weight={self.style_weight}")


class Style(Restoration):
    name = "style"
    options = StyleOptions
    description = ("Repaint photos in the style of a picture (style and content distances against the untouched "
                   "photos and Gatys' per-image optimisation).")
    networks = "visionflow.tasks.style.models"
    monitor = "val_loss"
    parity = "PSNR against the .keras model's output"
    usage = ("which repaints images instead of labelling them: `visionflow predict RUN IMAGES --out DIR` writes "
             "the restyled images and `visionflow evaluate RUN DIR` measures it (from Python: "
             "visionflow.load(RUN).predict(image)); explain does not take style models.")
    data_help = "any folder of photos to learn from (searched recursively; class folders are ignored), plus --style IMAGE"
    model = "johnson_s"
    patch = 128
    # 8 crops a step: the same crops per second as 32 on 2 cores (21 either way), four times the
    # steps; after 3 minutes at 8 the distances beat 10 minutes at 32 (bench/README.md)
    batch_size = 8
    learning_rate = 1e-3
    loss = None
    time_budget = 10.0
    predict_options = ("style", "strength")
    mirrorable = False
    parts = {"finish": "visionflow.tasks.style.evaluate:finish_run",
             "report": "visionflow.tasks.style.report:rebuild",
             "loader": "visionflow.tasks.style.styler:Styler.load",
             "verbs": "visionflow.tasks.style.cli",
             "exporter": "visionflow.tasks.restoration.export:export",
             "service": "visionflow.tasks.style.serve"}
    refusal = ("style_model", "This server runs a style model, which repaints images: POST one image to "
                              "/v1/restore (?style=NAME&strength=0..1).")

    def refused(self):
        return self.refusal

    # -- settings -----------------------------------------------------------------------------
    def check_config(self, cfg):
        from visionflow.data.decode import DecodeError, decode

        if not cfg.style:
            raise ConfigError("--task style needs --style IMAGE: the picture whose style the model paints photos in.")
        if cfg.monitor not in (None, "val_loss"):
            raise ConfigError(f"--monitor for style is val_loss (the perceptual loss). Received: {cfg.monitor}")
        if cfg.weights not in (None, "none"):
            raise ConfigError(f"A style network trains from scratch (its loss network is the ImageNet "
                              f"{BACKBONE}); drop --weights {cfg.weights}.")
        paths = []
        for given in cfg.style:
            try:
                decode(given)
            except DecodeError as exc:
                raise ConfigError(f"--style {given}: {exc.reason}.") from None
            except OSError as exc:
                raise ConfigError(f"--style {given}: {exc.strerror or exc}.") from None
            paths.append(os.path.abspath(given))  # a run resumed from elsewhere still finds them
        cfg = super().check_config(cfg.replace(monitor="val_loss"))
        return cfg.replace(style=tuple(paths), style_weight=cfg.style_weight if cfg.style_weight is not None else STYLE_WEIGHT)

    def describe(self, cfg) -> str:
        return f"style of {', '.join(style_names(cfg.style))} (style weight {cfg.style_weight:g})"

    def degrade(self, clean, seed, cfg, context=None):
        return clean, clean  # the photo in, and the photo is the content target

    def degrade_image(self, clean, meta, seed):
        return clean, clean, None

    # -- model --------------------------------------------------------------------------------
    def build(self, cfg, classes):
        from visionflow.models import MODELS

        return MODELS.get(cfg.model).build(styles=len(cfg.style))

    def compile(self, model, cfg, classes, learning_rate):
        from visionflow.tasks.style.losses import PerceptualLoss, encode_png
        from visionflow.training.setup import make_optimizer

        loss = PerceptualLoss([encode_png(style_pixels(p)) for p in cfg.style], cfg.style_weight, TV_WEIGHT)
        model.compile(optimizer=make_optimizer(cfg, learning_rate), loss=loss)

    def meta(self, cfg, classes):
        return {**super().meta(cfg, classes), "styles": style_names(cfg.style), "style_weight": cfg.style_weight,
                "perceptual": BACKBONE}

    def write_styles(self, root: Path, cfg) -> None:
        """Keeps each style picture, as the loss saw it, in RUN/styles/NAME.png."""
        from PIL import Image

        from visionflow.rundir import atomic_write_bytes

        import io

        folder = Path(root) / "styles"
        folder.mkdir(parents=True, exist_ok=True)
        for name, path in zip(style_names(cfg.style), cfg.style):
            buf = io.BytesIO()
            Image.fromarray(style_pixels(path)).save(buf, format="PNG")
            atomic_write_bytes(folder / f"{name}.png", buf.getvalue())

    def baselines(self, given, meta):
        return {}


def style_names(paths) -> list[str]:
    """A name per style picture: its file stem, numbered where two share one."""
    names: list[str] = []
    for path in paths:
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(path).stem) or "style"
        name, n = stem, 1
        while name in names:
            n += 1
            name = f"{stem}_{n}"
        names.append(name)
    return names


def style_pixels(path) -> np.ndarray:
    """The style picture as the loss sees it: RGB, its longer side STYLE_SIDE pixels (never enlarged)."""
    from PIL import Image

    from visionflow.data.decode import decode

    pixels = decode(path)
    h, w = pixels.shape[:2]
    scale = STYLE_SIDE / max(h, w)
    if scale >= 1:
        return pixels
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))


TASKS.add("style", Style())
