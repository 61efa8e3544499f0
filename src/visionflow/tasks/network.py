"""What the tasks with a network and outputs of their own share (detection, segmentation and the
tasks built on them): settings, the recipe's choice of network, data reading, the tf.data
pipeline, the model and its metadata.

`NetworkTask` is the `Task` of such a model: a registered network (pretrained on the offline
ImageNet backbone where its weights are installed, else from scratch), trained under a wall-time
budget with the best epoch kept by the task's validation metric. A subclass names its networks,
its data reader and pipeline (`reader`, `pipeline`: "module:function" / "module"), its loss
(`loss`) and the words of its recipe line; its parts (`Task.parts`) come from
`visionflow.network`'s bases.
"""

from __future__ import annotations

import importlib

from visionflow.errors import ConfigError
from visionflow.registry import located
from visionflow.tasks.base import Task

BACKBONE = "efficientnet_lite0"  # whose offline ImageNet weights the pretrained networks start from
TIME_BUDGET = 12.0  # minutes of training by default (the whole run then fits about 15 minutes)
STRIDE = 32  # the coarsest feature map's stride: input sides are multiples of it

# Settings of label models that such a model does not take.
DECLINED = ("calibrate", "head_epochs", "mixup", "label_smoothing", "dp", "teacher")


def network_parts(package: str, loader: str) -> dict[str, str]:
    """The parts of a task laid out as detection and segmentation are: `package`.evaluate holds
    EVALUATOR (finish and report), `loader` ("module:Class") opens a model, `package`.cli its
    verbs, `package`.export `export`, `package`.serve `service`."""
    return {"finish": f"{package}.evaluate:EVALUATOR.finish_run", "report": f"{package}.evaluate:EVALUATOR.rebuild",
            "loader": f"{package}.{loader}.load", "verbs": f"{package}.cli", "exporter": f"{package}.export:export",
            "service": f"{package}.serve:service"}


class NetworkTask(Task):
    """A task whose models are its own registered networks with their own outputs."""

    pretrained = ""  # the network trained from the ImageNet backbone by default
    scratch = ""  # the network trained from scratch where no weights are installed
    learns = ""  # what the model learns from, after "a ... model": "learns boxes from the annotations"
    reader = ""  # "module:function": load(root, val_split, seed, split_file=) -> the split ImageFolder
    pipeline = ""  # module with datasets(folder, size, seed, batch, augmented) and epoch_size(train images)
    augment_help = ""  # what --augment light does, for the refusal of another preset
    learning_rates = (1e-3, 5e-4)  # (from scratch, pretrained)
    declines = DECLINED
    decline_reason = "is not for {task.name} models; a {task.name} model {task.learns}."
    losses: tuple[str, ...] = ()  # the --loss choices of its options, the first the default (none: no --loss)
    batch_size = 8
    distributable = True

    # -- settings -----------------------------------------------------------------------------
    def check_config(self, cfg):
        from visionflow.models import check_model

        self.check_declined(cfg)
        if cfg.monitor not in (None, self.monitor, "val_loss"):
            raise ConfigError(f"--monitor for {self.name} is {self.monitor} or val_loss. Received: {cfg.monitor}")
        if cfg.augment not in (None, "none", "light"):
            raise ConfigError(f"--augment for {self.name} is light ({self.augment_help}; the default) or none. "
                              f"Received: {cfg.augment}")
        if cfg.image_size is not None and (cfg.image_size[0] % STRIDE or cfg.image_size[1] % STRIDE):
            raise ConfigError(f"--image-size for {self.name} must be a multiple of {STRIDE} (the coarsest feature "
                              f"map's stride). Received: {cfg.image_size[0]}x{cfg.image_size[1]}")
        if cfg.model is not None:
            check_model(cfg.model, cfg.image_size, cfg.weights or "none", task=self.name)
        filled = {"epochs": 300, "head_epochs": 0, "freeze_epochs": 0, "optimizer": "adamw", "weight_decay": 1e-4,
                  "lr_schedule": "cosine", "mixup": 0.0, "dropout": 0.0, "label_smoothing": 0.0,
                  "patience": 0, "keep": "best", "monitor": self.monitor,
                  **({"loss": self.losses[0]} if self.losses else {})}
        return cfg.replace(**{k: v for k, v in filled.items() if getattr(cfg, k) is None},
                           augment=cfg.augment or "light",
                           **({"time_budget": TIME_BUDGET} if cfg.time_budget is None and cfg.epochs is None else {}))

    def class_weights(self, folder):
        """Keras class weights: these tasks weigh their classes inside their own loss, if at all."""
        raise ConfigError(f"--class-weight auto is not supported for {self.name} yet.")

    def default_size(self, cfg, facts) -> tuple[int, int]:
        """The input size where none is given, from the scanned data's facts."""
        raise NotImplementedError

    def recipe_words(self, cfg, facts, sized: bool) -> str:
        """What the recipe line says of the input size and loss, after the network's name."""
        return f"{cfg.image_size[0]}x{cfg.image_size[1]}"

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
            chosen = ({"model": self.scratch, "weights": "none"} if why
                      else {"model": self.pretrained, "weights": cfg.weights or "imagenet"})
            if why:
                why += f"; training {self.scratch} from scratch"
        elif cfg.weights is None:
            chosen = {"weights": "imagenet" if MODELS.get(cfg.model).backbone and pretrained.available(BACKBONE) else "none"}
        cfg = cfg.replace(**chosen)
        sized = cfg.image_size is None
        if sized:
            cfg = cfg.replace(image_size=self.default_size(cfg, facts))
        if cfg.learning_rate is None:
            cfg = cfg.replace(learning_rate=self.learning_rates[cfg.weights != "none"])
        if cfg.time_budget is None:
            cfg = cfg.replace(time_budget=0.0)
        if not chosen and not why and not sized:
            return cfg, None
        backbone = "ImageNet EfficientNet-Lite0 backbone" if cfg.weights != "none" else "trained from scratch"
        noun = "class" if facts.classes == 1 else "classes"
        line = (f"recipe {self.name}: {facts.images:,} training images, {facts.classes} {noun} -> {cfg.model} "
                f"({backbone}), {self.recipe_words(cfg, facts, sized)}, batch {cfg.batch_size}, "
                f"{cfg.optimizer} {cfg.learning_rate:g} cosine, "
                + (f"up to {cfg.time_budget:g} min (budget)" if cfg.time_budget else f"{cfg.epochs} epochs")
                + (f", {self.augment_help}" if cfg.augment != "none" else ", no augmentation")
                + f"; best epoch by {self.monitor}")
        if why:
            line += f"\n{why}"
        return cfg, line

    # -- data ---------------------------------------------------------------------------------
    def load_data(self, cfg, split_file=None):
        return located(self.reader)(cfg.data, cfg.val_split, cfg.seed, split_file=split_file)

    def datasets(self, cfg, folder, paths, batch_size):
        pipeline = importlib.import_module(self.pipeline)
        return pipeline.datasets(folder, tuple(cfg.image_size), cfg.seed, batch_size, augmented=cfg.augment != "none")

    def epoch_size(self, cfg, folder):
        return importlib.import_module(self.pipeline).epoch_size(len(folder.splits["train"]))

    # -- model --------------------------------------------------------------------------------
    def build(self, cfg, classes):
        from visionflow.models import MODELS

        spec = MODELS.get(cfg.model)
        kwargs = {"weights": cfg.weights} if spec.backbone else {}
        return spec.build(input_shape=(*cfg.image_size, 3), classes=len(classes), **kwargs)

    def loss(self, cfg, classes):
        """The Keras loss the model trains with."""
        raise NotImplementedError

    def compile(self, model, cfg, classes, learning_rate):
        from visionflow.training.setup import make_optimizer

        model.compile(optimizer=make_optimizer(cfg, learning_rate), loss=self.loss(cfg, classes))

    def units(self, classes):
        return len(classes)

    def meta(self, cfg, classes):
        return {"task": self.name, "model": cfg.model, "classes": list(classes), "image_size": list(cfg.image_size),
                "resize": "stretch"}
