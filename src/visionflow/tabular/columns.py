"""Table columns beside images: which columns, of what kind, and how each becomes numbers.

`fit` learns the preprocessing from the training rows and `Columns.transform` applies it to any
rows, identically in training, evaluation, prediction and the service (it is saved with the
model as `to_dict()`):

- a numeric column (every filled value parses as a number) is standardised by the training mean
  and spread; a missing value becomes the mean, and a missing-indicator column (1 where it was
  missing) goes beside it;
- a categorical column becomes one-hot over its training categories (the MAX_CATEGORIES most
  frequent), plus "other" (a category unseen in training, or a rare one) and "missing".

A named column that is not in the table, or that holds a single value in training, is refused
in one sentence naming it; a value that does not fit (text in a numeric column) is refused
naming its row and column.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from visionflow.errors import DataError

MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-"}
MAX_CATEGORIES = 50
OTHER, ABSENT = "other", "missing"


class ColumnError(DataError):
    """A column or value that cannot be used, named in one sentence."""


def is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in MISSING


def _number(value) -> float | None:
    """The value as a finite float, or None when it is not a number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
    else:
        try:
            v = float(str(value).strip())
        except ValueError:
            return None
    return v if math.isfinite(v) else None


@dataclass
class Column:
    name: str
    kind: str  # "numeric" or "categorical"
    mean: float = 0.0
    std: float = 1.0
    categories: list[str] = field(default_factory=list)
    missing_in_training: int = 0

    @property
    def width(self) -> int:
        return 2 if self.kind == "numeric" else len(self.categories) + 2

    def describe(self) -> str:
        if self.kind == "numeric":
            text = f"{self.name}: numeric (mean {self.mean:.4g}, sd {self.std:.4g})"
        else:
            shown = ", ".join(self.categories[:6]) + (", ..." if len(self.categories) > 6 else "")
            text = f"{self.name}: categorical, {len(self.categories)} categories ({shown})"
        return text + (f", {self.missing_in_training} missing" if self.missing_in_training else "")


@dataclass
class Columns:
    """The fitted preprocessing of the chosen columns."""

    columns: list[Column]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def width(self) -> int:
        return sum(c.width for c in self.columns)

    def features(self) -> list[str]:
        """The name of each number `transform` gives, in order."""
        out = []
        for c in self.columns:
            if c.kind == "numeric":
                out += [c.name, f"{c.name} missing"]
            else:
                out += [f"{c.name}={v}" for v in (*c.categories, OTHER, ABSENT)]
        return out

    def transform(self, rows: list[dict], where: list[str] | None = None) -> np.ndarray:
        """(len(rows), width) float32 features; `where` names each row for errors (default: row N)."""
        out = np.zeros((len(rows), self.width), np.float32)
        for r, row in enumerate(rows):
            at = 0
            for c in self.columns:
                if c.name not in row:
                    raise ColumnError(f"{_row_name(where, r)} has no column {c.name!r}; the model was trained with "
                                      f"the columns {', '.join(self.names)}.")
                value = row[c.name]
                if c.kind == "numeric":
                    if is_missing(value):
                        out[r, at + 1] = 1.0
                    else:
                        v = _number(value)
                        if v is None:
                            raise ColumnError(f"{_row_name(where, r)}, column {c.name!r}: {value!r} is not a number "
                                              f"(the column is numeric; leave it empty where it is unknown).")
                        out[r, at] = (v - c.mean) / c.std
                else:
                    text = "" if is_missing(value) else str(value).strip()
                    slot = (len(c.categories) + 1 if not text else
                            c.categories.index(text) if text in c.categories else len(c.categories))
                    out[r, at + slot] = 1.0
                at += c.width
        return out

    def to_dict(self) -> dict:
        return {"columns": [{"name": c.name, "kind": c.kind, "mean": c.mean, "std": c.std,
                             "categories": c.categories, "missing_in_training": c.missing_in_training}
                            for c in self.columns]}

    @classmethod
    def from_dict(cls, d: dict) -> Columns:
        return cls([Column(**c) for c in d["columns"]])


def _row_name(where: list[str] | None, r: int) -> str:
    return where[r] if where else f"row {r + 1}"


def choose(header: list[str], asked: str, reserved: tuple[str, ...]) -> list[str]:
    """The columns `asked` names (comma-separated, or "auto": every column but `reserved`)."""
    extra = [h for h in header if h not in reserved]
    if asked.strip().lower() == "auto":
        if not extra:
            raise ColumnError(f"--columns auto found no column beside {', '.join(reserved)} in the table.")
        return extra
    names = [n.strip() for n in asked.split(",") if n.strip()]
    if not names:
        raise ColumnError("--columns names no column; give NAME,NAME,... or auto.")
    for n in names:
        if n in reserved:
            raise ColumnError(f"--columns {n}: that column is the target, not an input.")
        if n not in header:
            raise ColumnError(f"--columns {n}: the table has no such column (it has {', '.join(extra) or 'none'}).")
    if len(set(names)) != len(names):
        raise ColumnError(f"--columns names a column twice: {asked}.")
    return names


def fit(rows: list[dict], names: list[str]) -> Columns:
    """The preprocessing of columns `names` learnt from the training `rows`."""
    columns = []
    for name in names:
        values = [row.get(name) for row in rows]
        filled = [v for v in values if not is_missing(v)]
        missing = len(values) - len(filled)
        if len({str(v).strip() for v in filled}) < 2:
            raise ColumnError(f"Column {name!r} holds a single value in the training rows"
                              f"{' (or none)' if not filled else f' ({str(filled[0]).strip()!r})'}; it tells the "
                              f"model nothing: leave it out of --columns.")
        numbers = [_number(v) for v in filled]
        if all(n is not None for n in numbers):
            arr = np.array(numbers, np.float64)
            std = float(arr.std())
            columns.append(Column(name, "numeric", float(arr.mean()), std if std > 0 else 1.0,
                                  missing_in_training=missing))
        else:
            counts = Counter(str(v).strip() for v in filled)
            kept = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CATEGORIES]]
            columns.append(Column(name, "categorical", categories=kept, missing_in_training=missing))
    return Columns(columns)
