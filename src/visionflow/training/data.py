"""The training and validation datasets of label tasks (classification, multi-label)."""

from __future__ import annotations


def labelled_datasets(task, cfg, folder, paths, batch_size: int):
    """(training, validation) datasets of (image, target) batches of the ImageFolder `folder`:
    decoded at the run's size and resize mode, cached as `cfg.cache` says, the training one
    shuffled, augmented and mixed as configured. A run that reads table columns gets them beside
    each image (`visionflow.tabular.fusion.matrix`)."""
    from visionflow import augment as augment_lib
    from visionflow.data.pipeline import make_dataset
    from visionflow.data.resize import Resize
    from visionflow.tabular.fusion import matrix
    from visionflow.training.setup import training_targets

    train, val = folder.splits["train"], folder.splits["validation"]
    train_ds = make_dataset(train, training_targets(task, folder, train), cfg.image_size, batch_size,
                            training=True, seed=cfg.seed, cache=cfg.cache, cache_path=paths.cache / "train",
                            augment=augment_lib.build(cfg.augment, cfg.seed), mixup=cfg.mixup,
                            resize=Resize(cfg.resize), columns=matrix(folder, train))
    val_ds = make_dataset(val, training_targets(task, folder, val), cfg.image_size, batch_size, training=False,
                          cache=cfg.cache, cache_path=paths.cache / "validation", resize=Resize(cfg.resize),
                          columns=matrix(folder, val))
    return train_ds, val_ds
