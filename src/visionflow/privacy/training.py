"""What `visionflow train --dp` changes in a run: checks, settings, the model, the per-epoch ledger.

The trainer calls these and nothing else of DP-SGD; the step itself is `dpsgd.make_private`,
the budget `accountant.plan`.
"""

from __future__ import annotations

from typing import Callable

from visionflow.errors import ConfigError
from visionflow.privacy.accountant import SAMPLING_NOTE, Budget, plan


def check(cfg, task, distributed: bool = False) -> None:
    """ConfigError, in one sentence, for settings DP-SGD cannot honour."""
    if not task.private:
        from visionflow import tasks

        able = " and ".join(t.name for t in tasks.load_all() if t.private)
        raise ConfigError(f"--dp trains {able} models; --task {cfg.task} has no private training yet.")
    if distributed:
        raise ConfigError("--dp does not train with --distributed yet; train it on one worker.")
    if cfg.mixup:
        raise ConfigError("--mixup blends pairs of training images, so one image would reach two gradients and "
                          "DP-SGD's bound would not hold; leave --mixup unset with --dp.")
    if cfg.class_weight != "none":
        raise ConfigError("--class-weight auto reads class counts from the private training images; use --class-weight "
                          "none with --dp.")
    if cfg.head_epochs:
        raise ConfigError("--head-epochs trains on cached features outside DP-SGD; with --dp use --freeze-epochs N "
                          "(the head with the frozen backbone in the loop), or leave both unset.")


def settle(cfg, pretrained: bool):
    """`cfg` once the recipe has run: a pretrained backbone stays frozen for every epoch unless
    --freeze-epochs says when to unfreeze it (per-example gradients of the head only: the recipe
    that keeps most accuracy under DP)."""
    cfg = cfg.replace(head_epochs=0)
    if pretrained and not cfg.freeze_epochs:
        cfg = cfg.replace(freeze_epochs=cfg.epochs)
    return cfg


def private_model(model, cfg, say: Callable[[str], None]):
    """`model` made trainable by DP-SGD: from scratch, batch normalisation becomes group
    normalisation; pretrained, it stays frozen (the trainer freezes it)."""
    from visionflow.privacy.dpsgd import batchnorm_layers, replace_batchnorm

    if cfg.weights == "none" and batchnorm_layers(model):
        count = len(batchnorm_layers(model))
        model = replace_batchnorm(model)
        say(f"privacy: {count} batch normalisation layers replaced by group normalisation (batch statistics "
            f"mix the examples of a batch, so no gradient would be one image's own)")
    return model


def start(cfg, state: dict, images: int, batch: int, say: Callable[[str], None]) -> Budget:
    """The run's Budget: solved and stored in state.json on its first epoch, read back on resume."""
    if state.get("privacy"):
        return Budget.from_dict(state["privacy"])
    budget = plan(cfg.target_epsilon, cfg.delta_value(), cfg.dp_clip, batch, images, cfg.epochs, cfg.dp_accountant)
    state["privacy"] = budget.to_dict()
    say(f"privacy: DP-SGD to epsilon {budget.target_epsilon:g} at delta {budget.delta:.2g} over {cfg.epochs} epochs x "
        f"{budget.steps_per_epoch} steps: noise multiplier {budget.noise_multiplier:.3f}, clip {budget.clip:g}, "
        f"sampling rate {budget.q:.3g} ({budget.accountant.upper()}; {SAMPLING_NOTE})")
    return budget


def ledger(budget: Budget, model):
    """A Keras callback adding `epsilon` (spent so far) and `clipped` (share of per-example
    gradients clipped this epoch) to every epoch's logs, so they reach the progress line and
    history.csv."""
    import keras

    from visionflow.privacy.dpsgd import clipped_share

    class Ledger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["epsilon"] = budget.spent((epoch + 1) * budget.steps_per_epoch)
                share = clipped_share(model)
                if share is not None:
                    logs["clipped"] = share

    return Ledger()


def summary(state: dict) -> dict:
    """metrics.json's privacy figures: `epsilon` spent by the epochs run, `delta`, and the settings."""
    budget = Budget.from_dict(state["privacy"])
    steps = state["epoch"] * budget.steps_per_epoch
    spent = budget.spent(steps)
    return {"epsilon": round(spent, 4), "delta": budget.delta,
            "privacy": {**budget.to_dict(), "steps": steps, "epsilon": round(spent, 4),
                        "protects": "the training images; validation and test images pick the kept epoch and "
                                    "are not protected"}}
