"""A run's time budget is wall time: everything the run spends, not only the seconds inside `fit`.

The clock starts when `fit` is called (a resumed run adds the seconds its earlier sessions spent)
and counts the data scan, the feature pass and head phase, every epoch with its checkpoints and
monitors, and the evaluation and report after the last epoch, for which a reserve is kept: the
epochs stop early enough that the finished run lands within its budget. What one epoch costs is
measured between the ends of successive epochs, so a checkpoint or a GAN's sample grid counts;
after the first epoch, whose first step traces the model, by its later steps and its validation.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

# After the last epoch the run evaluates the kept model and writes its report: a reserve of this
# many validation passes (timed during the epochs) plus a fixed part for plots and the report.
FINISH_VALIDATIONS = 2.0
FINISH_FIXED_S = 4.0
# Checkpoints (the full model with its optimizer) are written at most this often, and after the
# last epoch: a GAN's 0.5 s epochs were followed by 0.4 s of checkpoint each.
CHECKPOINT_EVERY_S = 30.0


@dataclass
class WallClock:
    """Seconds spent by a run against its budget (0: no budget)."""

    budget_s: float = 0.0
    before_s: float = 0.0  # wall seconds of earlier sessions of a resumed run
    finish_s: float = 0.0  # what the task's finishing spends beyond the validation passes (Task.finish_reserve_s)
    aside_s: float = 0.0  # kept from the epochs for a model trained after them (training.versus)
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return self.before_s + time.perf_counter() - self.started

    def left(self) -> float:
        return self.budget_s - self.elapsed() if self.budget_s else math.inf

    def reserve(self, validation_s: float) -> float:
        """Seconds to keep for the evaluation and report after the last epoch (and `aside_s`)."""
        return FINISH_FIXED_S + self.finish_s + self.aside_s + FINISH_VALIDATIONS * max(0.0, validation_s)

    def epochs_left(self, per_epoch_s: float, validation_s: float) -> int:
        """Whole epochs of `per_epoch_s` that still fit, the finishing reserve kept."""
        if not self.budget_s:
            return 1 << 30
        spare = self.left() - self.reserve(validation_s)
        return max(0, int(spare // max(per_epoch_s, 1e-6)))

    def line(self) -> str:
        """The closing line: wall time against the budget."""
        spent = self.elapsed()
        if not self.budget_s:
            return f"wall time {clock_text(spent)} (no time budget)"
        return (f"wall time {clock_text(spent)} of a {clock_text(self.budget_s)} budget "
                f"({spent / self.budget_s:.0%})")


def clock_text(seconds: float) -> str:
    """1h02m, 3m05s or 42s."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
