"""Progress output: a redrawn line with step, metrics, images/s and ETA on a terminal; epoch lines otherwise."""

from __future__ import annotations

import io

from visionflow.training.callbacks import Progress


class FakeKeeper:
    improved = True
    nan_at = None
    keep = "best"

    def __init__(self):
        self.state = {"history": [{"epoch": 1, "loss": 0.5, "accuracy": 0.75, "val_loss": 0.6, "val_accuracy": 0.7,
                                   "lr": 0.001, "seconds": 2.0, "images_per_s": 40.0}]}


def _run(interactive: bool) -> tuple[str, list[str]]:
    stream, printed = io.StringIO(), []
    p = Progress(FakeKeeper(), epochs=3, steps=4, batch_size=10, train_images=40, stream=stream,
                 interactive=interactive, print_fn=printed.append)
    p.on_epoch_begin(0)
    for step in range(4):
        p.on_train_batch_end(step, {"loss": 0.5, "accuracy": 0.75})
    p.on_epoch_end(0, {})
    return stream.getvalue(), printed


def test_terminal_gets_live_step_line_with_rate_and_eta():
    live, printed = _run(interactive=True)
    assert "\repoch 1/3  step 1/4  loss 0.5000  accuracy 0.7500" in live
    assert "step 4/4" in live and "img/s  ETA 0:00" in live
    assert printed == ["epoch 1/3  loss 0.5000  accuracy 0.7500  val_loss 0.6000  val_accuracy 0.7000  lr 0.001  "
                       "2.0s  40.0 img/s  * best, saved"]


def test_plain_output_has_only_epoch_lines():
    live, printed = _run(interactive=False)
    assert live == "" and len(printed) == 1 and printed[0].startswith("epoch 1/3  loss 0.5000")
