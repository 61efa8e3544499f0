"""Callbacks that keep a run safe and visible: checkpoints, best model, early stopping, progress."""

from __future__ import annotations

import math
import sys
import time
from typing import Callable, TextIO

import keras

from visionflow.rundir import RunPaths, save_model, write_csv, write_json
from visionflow.training.budget import CHECKPOINT_EVERY_S, WallClock, clock_text
from visionflow.training.setup import schedule_factor, steady_malloc

PLATEAU_FACTOR = 0.2


def _finite(logs: dict) -> bool:
    return all(math.isfinite(float(v)) for k, v in logs.items() if "loss" in k)


class RunKeeper(keras.callbacks.Callback):
    """Owns the run's state across epochs and resumes.

    Each epoch it sets the learning rate, writes history.csv, keeps the model when the monitored
    metric improves (every epoch with keep="last") in a twin model without optimizer state, and
    decides about early stopping and the wall-time budget (`training.budget`). To disk, atomically,
    go model.keras (the kept twin) and a full checkpoint plus state.json for `--resume`: after the
    session's first epoch, then at most every `CHECKPOINT_EVERY_S` seconds, and after the last
    epoch, so that short epochs are not dominated by saving. A NaN or infinite loss stops training without touching any saved file.
    """

    def __init__(self, paths: RunPaths, state: dict, *, monitor: str, keep: str = "best", patience: int, epochs: int,
                 lr_schedule: str, base_lr: float, phase_start: int, clock: WallClock | None,
                 best_model: keras.Model, train_images: int, source: keras.Model | None = None,
                 phase_end: int | None = None):
        super().__init__()
        self.paths, self.state = paths, state
        self.monitor, self.keep, self.patience, self.epochs = monitor, keep, patience, epochs
        self.lr_schedule, self.base_lr, self.phase_start = lr_schedule, base_lr, phase_start
        self.clock, self.best_model, self.train_images = clock or WallClock(), best_model, train_images
        self.phase_end = phase_end or epochs
        self.source = source  # the model whose weights model.keras holds; None: the trained model
        self.nan_at: tuple[int, int] | None = None
        self.improved = False
        self._t0 = 0.0
        self._epoch = 0
        self._ends: list[float] = []  # when each epoch of this session reached its end (wall clock)
        self._validation_s = 0.0  # the last validation pass
        self._first_step_end: float | None = None  # the session's first training step (which traces) ended
        self._steps = 0  # training steps of the current epoch so far
        self._saved_at = time.perf_counter()
        self._unsaved_model = False
        self._unsaved_epoch: int | None = None  # the last epoch, when its checkpoint is still to be written

    # -- learning rate -------------------------------------------------------------------------
    def current_lr(self, epoch: int) -> float:
        # With a time budget the cosine schedule ends where the budget is expected to run out.
        horizon = self.state.get("planned_epochs") or self.epochs
        factor = schedule_factor(self.lr_schedule, epoch, horizon, self.phase_start)
        return self.base_lr * factor * self.state.get("lr_factor", 1.0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self.model.optimizer.learning_rate.assign(self.current_lr(epoch))
        self._t0 = time.perf_counter()
        self._train_end = None
        self._steps = 0

    def on_test_begin(self, logs=None):
        self._train_end = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            steady_malloc()

    def on_train_batch_end(self, batch, logs=None):
        self._steps = batch + 1
        if batch == 0 and not self._ends:
            self._first_step_end = time.perf_counter()
        if logs and "loss" in logs and not math.isfinite(float(logs["loss"])):
            self.nan_at = (self._epoch + 1, batch + 1)
            self.model.stop_training = True

    # -- end of epoch --------------------------------------------------------------------------
    def _is_better(self, logs: dict) -> bool:
        best = self.state.get("best")
        value = logs.get(self.monitor)
        if value is None:
            return False
        if best is None or self.keep == "last":
            return True
        if self.monitor.endswith("loss"):
            return value < best["value"]
        # Accuracy ties are common on small sets: break them by the lower validation loss.
        return value > best["value"] or (value == best["value"] and logs.get("val_loss", math.inf) < best["val_loss"])

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.nan_at is not None or not _finite(logs):
            self.nan_at = self.nan_at or (epoch + 1, 0)
            self.model.stop_training = True
            return
        now = time.perf_counter()
        train_s = (self._train_end or now) - self._t0
        self._validation_s = now - self._train_end if self._train_end else 0.0
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items() if k != "learning_rate"},
               "lr": float(self.model.optimizer.learning_rate.numpy()), "seconds": round(now - self._t0, 3),
               "images_per_s": round(self.train_images / train_s, 2) if train_s > 0 else None}
        st = self.state
        st["history"].append(row)
        st["epoch"] = epoch + 1
        st["train_seconds"] = st.get("train_seconds", 0.0) + (now - self._t0)

        self.improved = self._is_better(logs)
        if self.improved:
            self.best_model.set_weights((self.source or self.model).get_weights())
            self._unsaved_model = True
            st["best"] = {"metric": self.monitor, "value": float(logs[self.monitor]), "epoch": epoch + 1,
                          "val_loss": float(logs.get("val_loss", math.nan))}
            st["wait"] = 0
        else:
            st["wait"] = st.get("wait", 0) + 1

        if self.lr_schedule == "plateau":
            loss = float(logs.get("val_loss", math.inf))
            if loss < st.get("plateau_best", math.inf):
                st["plateau_best"], st["plateau_wait"] = loss, 0
            else:
                st["plateau_wait"] = st.get("plateau_wait", 0) + 1
                if st["plateau_wait"] >= max(2, self.patience // 2):
                    st["lr_factor"] = st.get("lr_factor", 1.0) * PLATEAU_FACTOR
                    st["plateau_wait"] = 0

        if self.patience and st["wait"] >= self.patience:
            st["stopped"] = f"early stopping: no {self.monitor} improvement for {self.patience} epochs"
            self.model.stop_training = True
        elif self.clock.budget_s:
            st["planned_epochs"] = min(self.epochs, epoch + 1 + self.clock.epochs_left(self._per_epoch(now),
                                                                                      self._validation_s))
            if st["planned_epochs"] <= epoch + 1 < self.epochs:
                st["stopped"] = (f"time budget: another epoch would pass the {clock_text(self.clock.budget_s)} "
                                 f"budget (the evaluation and report included)")
                self.model.stop_training = True

        write_csv(self.paths.history, st["history"])
        self._ends.append(now)
        last = self.model.stop_training or epoch + 1 >= self.phase_end
        first = len(self._ends) == 1  # a session's first epoch is always saved: --resume has something early
        if last or first or time.perf_counter() - self._saved_at >= CHECKPOINT_EVERY_S:
            self._checkpoint(epoch + 1)
        else:
            self._unsaved_epoch = epoch + 1

    def _per_epoch(self, now: float) -> float:
        """Wall seconds an epoch costs with everything around it (monitors, checkpoints), judging by
        this session's epochs after the first (which traces the model)."""
        ends = self._ends + [now]
        if len(ends) >= 3:
            return (ends[-1] - ends[1]) / (len(ends) - 2)
        if len(ends) == 1 and self._first_step_end and self._train_end and self._steps >= 2:
            # The first epoch: its steps after the first (which traced the model) at the same pace,
            # and its validation pass. A 20 s denoiser budget otherwise stopped after one epoch, as
            # if every epoch cost the 9 s of tracing.
            steps_s = (self._train_end - self._first_step_end) * self._steps / (self._steps - 1)
            return min(now - self._t0, steps_s + self._validation_s)
        return now - self._t0

    def on_train_end(self, logs=None):
        """After the phase's last epoch (or a stop): what is still unsaved goes to disk."""
        if self.nan_at is None and self._unsaved_epoch is not None:
            self._checkpoint(self._unsaved_epoch)
        self.flush()

    def flush(self) -> None:
        """Writes the kept model if a newer one is held in memory (also after a NaN or Ctrl-C: it is
        the last good one)."""
        if self._unsaved_model:
            save_model(self.best_model, self.paths.model)
            self._unsaved_model = False

    def _checkpoint(self, epoch: int) -> None:
        """model.keras (when newer), then the full model (with optimizer state) under a per-epoch
        name, then state.json pointing at it.

        state.json is replaced last, so it always names a complete checkpoint.
        """
        self.flush()
        ckpt = self.paths.checkpoints / f"epoch-{epoch:04d}.keras"
        save_model(self.model, ckpt)
        old = self.state.get("checkpoint")
        self.state["checkpoint"] = ckpt.name
        self.state["wall_seconds"] = round(self.clock.elapsed(), 2)
        write_json(self.paths.state, self.state)
        if old and old != ckpt.name:
            (self.paths.checkpoints / old).unlink(missing_ok=True)
        self._saved_at = time.perf_counter()
        self._unsaved_epoch = None


class Progress(keras.callbacks.Callback):
    """Live progress on a terminal (one redrawn line per epoch); plain epoch lines otherwise."""

    def __init__(self, keeper: RunKeeper, epochs: int, steps: int, batch_size: int, train_images: int,
                 stream: TextIO | None = None, interactive: bool | None = None,
                 print_fn: Callable[[str], None] | None = None):
        super().__init__()
        self.keeper, self.epochs, self.steps = keeper, epochs, steps
        self.batch_size, self.train_images = batch_size, train_images
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.print = print_fn or (lambda s: print(s, file=self.stream, flush=True))
        self._last_draw = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._t0 = epoch, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if not self.interactive:
            return
        now = time.perf_counter()
        if now - self._last_draw < 0.25 and batch + 1 < self.steps:
            return
        self._last_draw = now
        elapsed = now - self._t0
        done = min(self.train_images, (batch + 1) * self.batch_size)
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.train_images - done) / rate if rate > 0 else 0.0
        logs = logs or {}
        keys = sorted(logs, key=lambda k: (k != "loss", k))
        metrics = "  ".join(f"{k} {float(logs[k]):.4f}" for k in keys)
        line = (f"epoch {self._epoch + 1}/{self.epochs}  step {batch + 1}/{self.steps}  {metrics}  "
                f"{rate:.1f} img/s  ETA {_clock(eta)}")
        self.stream.write("\r" + line[:200].ljust(100))
        self.stream.flush()

    def clear_line(self) -> None:
        if self.interactive:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        self.clear_line()
        row = self.keeper.state["history"][-1] if self.keeper.state["history"] else {}
        if self.keeper.nan_at is not None or row.get("epoch") != epoch + 1:
            return
        order = ("loss", "accuracy", "mae", "psnr", "d_loss", "g_loss", "diversity", "val_loss", "val_accuracy", "val_mae",
                 "val_psnr",
                 "val_map50", "val_miou", "epsilon", "clipped")
        metrics = "  ".join(f"{k} {row[k]:.4f}" for k in order if k in row)
        mark = ("  saved" if self.keeper.keep == "last" else "  * best, saved") if self.keeper.improved else ""
        self.print(f"epoch {epoch + 1}/{self.epochs}  {metrics}  lr {row['lr']:.2g}  "
                   f"{row['seconds']:.1f}s  {row['images_per_s'] or 0:.1f} img/s{mark}")


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"
