"""A one-line progress bar for commands that work through many images or frames."""

from __future__ import annotations

import sys


class Progress:
    """A one-line progress bar on standard error: done/total, items per second, time left."""

    def __init__(self, total: int | None, unit: str = "images"):
        import time

        self.total = total
        self.unit = unit
        self.start = time.perf_counter()
        self.last = 0.0

    def update(self, done: int) -> None:
        import time

        now = time.perf_counter()
        if now - self.last < 0.2 and done != self.total:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        per = "img" if self.unit == "images" else self.unit
        if self.total:
            width = 30
            filled = min(width, int(width * done / self.total))
            left = max(0, self.total - done) / rate if rate > 0 else 0
            line = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}  {rate:.0f} {per}/s  {left:.0f}s left"
        else:
            line = f"{done} {self.unit}  {rate:.0f} {per}/s"
        sys.stderr.write("\r" + line)
        sys.stderr.flush()

    def done(self, seen: int) -> None:
        import time

        self.update(seen)
        sys.stderr.write(f"\n{seen} {self.unit} in {time.perf_counter() - self.start:.1f}s\n")
