"""The run directory: numbering, file names, and writes that never leave half a file behind."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from visionflow.errors import ConfigError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; run files get the usual permissions instead.
FILE_MODE = 0o666 & ~_umask()


@dataclass(frozen=True)
class RunPaths:
    """Every file a run writes, by name."""

    root: Path

    @property
    def config(self) -> Path: return self.root / "config.yaml"
    @property
    def model(self) -> Path: return self.root / "model.keras"
    @property
    def labels(self) -> Path: return self.root / "labels.json"
    @property
    def history(self) -> Path: return self.root / "history.csv"
    @property
    def metrics(self) -> Path: return self.root / "metrics.json"
    @property
    def data_report(self) -> Path: return self.root / "data_report.json"
    @property
    def manifest(self) -> Path: return self.root / "manifest.csv"
    @property
    def tensorboard(self) -> Path: return self.root / "tensorboard"
    @property
    def plots(self) -> Path: return self.root / "plots"
    @property
    def checkpoints(self) -> Path: return self.root / "checkpoints"
    @property
    def state(self) -> Path: return self.checkpoints / "state.json"
    @property
    def cache(self) -> Path: return self.root / "cache"


def new_run_dir(project: str | Path, name: str = "", prefix: str = "exp") -> RunPaths:
    """Creates runs/<name> (an error if it exists and is not empty) or the next free runs/<prefix>N."""
    project = Path(project)
    project.mkdir(parents=True, exist_ok=True)
    if name:
        root = project / name
        if root.exists() and any(root.iterdir()):
            raise ConfigError(f"Run folder {root} already exists; pick another --name, or continue it with --resume {root}.")
        root.mkdir(exist_ok=True)
        return RunPaths(root)
    taken = [int(m.group(1)) for p in project.iterdir() if (m := re.fullmatch(re.escape(prefix) + r"(\d+)", p.name))]
    n = max(taken, default=0) + 1
    while True:
        root = project / f"{prefix}{n}"
        try:
            root.mkdir()
            return RunPaths(root)
        except FileExistsError:  # another run took it meanwhile
            n += 1


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, then renames it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=_jsonable) + "\n")


def write_yaml(path: Path, data: dict) -> None:
    write_text(path, yaml.safe_dump(data, sort_keys=False))


def write_csv(path: Path, rows: list[dict], digits: int | None = None) -> None:
    """`rows` as a CSV file (the columns in the order they first appear), floats rounded to
    `digits` where given."""
    if digits is not None:
        rows = [{k: (round(v, digits) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def locate(path: str | Path, run_root: Path) -> Path:
    """Finds a data file a run recorded. Paths are written as given at training time: relative
    ones are relative to the folder training ran in, usually the one holding runs/ (the run's
    grandparent), else the current folder. Returns the path as given when neither has it."""
    path = Path(path)
    if path.is_absolute():
        return path
    for base in (Path.cwd(), Path(run_root).resolve().parent.parent):
        if (base / path).exists():
            return base / path
    return path


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_model(model, path: Path) -> None:
    """Saves a Keras model atomically: a crash mid-save leaves the previous file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot write {type(value).__name__} as JSON")
