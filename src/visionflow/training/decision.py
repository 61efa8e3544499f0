"""Whether fine-tuning pays, decided on training images held out for that decision.

After the head phase (the classifier trained on the frozen backbone's cached features), a run of
a pretrained backbone has a model that is often already as good as it gets: on 2,000 cats and
dogs photos the head reached 98.8% in 90 s and ten fine-tuning epochs (8 minutes) ended where it
began; on a tiny red/blue folder fine-tuning brought the saved model from 1.000 down to 0.875.
So a slice of the training images (`SHARE` of each class, at most `MOST` in all) is held out of
the head's and the fine-tuning's training, and decides, never the validation images whose
figures the run reports:

- the head alone answers every slice image right with fair confidence (`CONFIDENT_LOSS`; tasks
  whose metric is accuracy: a regression's slice only stops fine-tuning): no
  fine-tuning, which could only make it surer, not righter; the head is trained again on every
  training image, slice included, and kept (hymenoptera: its 37 slice images all right at loss
  0.10; fine-tuning them anyway ended at 0.935 on validation against the head's 0.941). The
  same where it gets at most `TOLERATED_ERROR` of a larger slice wrong: on 2,000 cats and dogs
  photos the head reached 98.8% and ten fine-tuning epochs (8 minutes) ended where it began;
- the time budget leaves no room for `MIN_EPOCHS` fine-tuning epochs: the same;
- no class has `FEWEST_PER_CLASS` training images, so nothing can be held out: the head alone,
  trained on every image (with a handful of images per class, fine-tuning has nothing to be
  judged on and most to lose);
- otherwise fine-tuning runs, each epoch scored on the slice, and stops once the slice's loss
  has not improved for `PATIENCE` epochs; the kept model is the one the slice liked best, the
  head alone included (epoch 0), so fine-tuning can only replace the head where it paid.
"""

from __future__ import annotations

import math
from collections import defaultdict

import keras
import numpy as np

SHARE = 0.15
MOST = 250
FEWEST_PER_CLASS = 8  # classes with fewer training images keep them all for training
PATIENCE = 2
MIN_EPOCHS = 2
TOLERATED_ERROR = 0.02  # a head this close to all right keeps itself: fine-tuning's epochs cost more than it can win
CONFIDENT_LOSS = 0.2  # mean cross-entropy on the slice (no smoothing): the true class at ~82% (geometric mean)


def hold_out(records: list, seed: int) -> list:
    """The decision slice: `SHARE` of each class's training records (at least one where the class
    has `FEWEST_PER_CLASS`), at most `MOST` in all, chosen with `seed`."""
    by_label: dict[str, list] = defaultdict(list)
    for r in records:
        by_label[str(r.label)].append(r)
    rng = np.random.default_rng(seed + 7)
    share = min(SHARE, MOST / max(1, len(records)))
    chosen = []
    for label in sorted(by_label):
        group = by_label[label]
        if len(group) < FEWEST_PER_CLASS:
            continue
        take = max(1, int(round(share * len(group))))
        chosen += [group[i] for i in sorted(rng.permutation(len(group))[:take])]
    return chosen


def skip_reason(head: dict, metric: str, epochs_that_fit: int, epochs: int) -> str | None:
    """Why fine-tuning would not pay (None: it may): from the head's scores on the slice, the
    fine-tuning epochs the budget leaves and the run's `epochs`."""
    if not head.get("slice_images"):
        return (f"fine-tuning skipped: no class has {FEWEST_PER_CLASS} training images, too few to hold some out "
                f"and judge whether fine-tuning pays")
    if epochs_that_fit < min(MIN_EPOCHS, epochs):
        return (f"fine-tuning skipped: the time budget leaves room for {epochs_that_fit} fine-tuning epoch(s), "
                f"fewer than {MIN_EPOCHS}")
    score, loss = head.get(f"slice_{metric}"), head.get("slice_loss", math.inf)
    if metric != "accuracy" or score is None or loss > CONFIDENT_LOSS:
        return None
    images = head["slice_images"]
    wrong = int(round((1.0 - score) * images))
    if wrong == 0:
        return (f"fine-tuning skipped: the head alone answers all {images} held-out training images right "
                f"(loss {loss:.3f}), so fine-tuning could only make it surer, not righter")
    if wrong <= TOLERATED_ERROR * images:
        return (f"fine-tuning skipped: the head alone answers {images - wrong} of {images} held-out training images "
                f"right (loss {loss:.3f}); fine-tuning could win back at most {wrong / images:.1%}, not worth its "
                f"epochs (--fine-tune always to run them)")
    return None


def slice_scores(model, batches, cfg, classes: list[str], metric: str, task) -> dict:
    """{"slice_loss", "slice_<metric>"} of `model` on `batches` ((inputs, targets) pairs): the task's
    own loss and metric, but without label smoothing and weight penalties, which `evaluate` adds
    and which put a floor under the loss (smoothing 0.1 over 10 classes: ~0.5) that no model
    could get below `CONFIDENT_LOSS`, and that would differ between the models compared."""
    loss_fn, scorer = task.compile_for(model, cfg.replace(label_smoothing=0.0), classes)
    targets, outputs = [], []
    for x, y in batches:
        outputs.append(np.asarray(model.predict_on_batch(x), np.float32))
        targets.append(np.asarray(y, np.float32))
    y, p = np.concatenate(targets), np.concatenate(outputs)
    scorer.update_state(y, p)
    return {"slice_loss": float(keras.ops.convert_to_numpy(keras.ops.mean(loss_fn(y, p)))),
            f"slice_{metric}": float(keras.ops.convert_to_numpy(scorer.result()))}


def slice_dataset(records: list, cfg, folder, batch_size: int, task):
    """The held-out `records` as `cfg`'s model reads them: unaugmented, cached in memory."""
    from visionflow.data.pipeline import make_dataset
    from visionflow.data.resize import Resize
    from visionflow.tabular.fusion import matrix
    from visionflow.training.setup import training_targets

    return make_dataset(records, training_targets(task, folder, records), cfg.image_size, batch_size, training=False,
                        cache="memory", resize=Resize(cfg.resize), columns=matrix(folder, records))


class SliceScore(keras.callbacks.Callback):
    """Adds `slice_loss` and `slice_<metric>` (the model on the held-out slice, `slice_scores`) to
    each epoch's logs."""

    def __init__(self, dataset, cfg, classes: list[str], task):
        super().__init__()
        self.dataset, self.cfg, self.classes, self.task = dataset, cfg, classes, task
        self.metric = task.curve_metric[0]

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs.update(slice_scores(self.model, self.dataset, self.cfg, self.classes, self.metric, self.task))
