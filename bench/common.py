"""Shared helpers for the benchmarks: machine facts, memory, datasets, epoch timing."""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"


def machine_info() -> dict:
    import keras
    import tensorflow as tf

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = " ".join(f for f in ("avx2", "avx512f", "fma") if f" {f}" in text)
    except OSError:
        pass
    return {"cpu": cpu, "cpu_flags": flags, "cores": os.cpu_count(), "python": sys.version.split()[0],
            "tensorflow": tf.__version__, "keras": keras.__version__, "keras_backend": keras.backend.backend(),
            "platform": platform.platform()}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Read from /proc/self/status (VmHWM) on Linux: getrusage's ru_maxrss survives execve there, so
    a case started by a parent that had imported TensorFlow would report at least the parent's peak.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dataset(name: str) -> Path | None:
    path = SHARED / name
    return path if path.is_dir() else None


def required_dataset(name: str) -> Path:
    """../shared/datasets/NAME, or exit saying it is not there."""
    path = dataset(name)
    if path is None:
        sys.exit(f"../shared/datasets/{name} not found")
    return path


def train_command(data: Path, project: str, flags: list[str]) -> tuple[Path, float, float, str]:
    """`visionflow train DATA FLAGS` in a subprocess, as a user types it: (the run folder, wall
    minutes of the command, peak resident GB of the child, its standard output); exits with the
    output where training fails."""
    import subprocess
    import time

    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "visionflow", "train", str(data), *flags, "--project", project,
                           "--name", "run"], capture_output=True, text=True, check=False)
    minutes = (time.perf_counter() - start) / 60
    rss_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
    if proc.returncode:
        sys.exit(f"training failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return Path(project) / "run", minutes, rss_gb, proc.stdout


def arguments(doc: str, extra: bool = False, **defaults):
    """The parsed flags of a benchmark: one --NAME per keyword, its default and type from the
    value (--data, the dataset; --out, the results' name; ...) and, with `extra`, more flags for
    visionflow train after --. `doc` (the benchmark's docstring) is the --help description."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in defaults.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(default) if default is not None else str, default=default)
    if extra:
        parser.add_argument("extra", nargs="*", help="more flags for visionflow train (after --)")
    return parser.parse_args()


def command_rows(row: dict, targets: dict, what: str, inputs: str = "") -> list[str]:
    """Markdown table rows of a training command's wall time and peak memory (row: minutes,
    epochs, best_epoch, peak_rss_gb) and of one `what`'s latency in the default runtime and in
    TensorFlow (row: runtime, latency, keras_latency), against `targets`."""
    fast, keras = row["latency"], row["keras_latency"]
    return [f"| wall time of the command | {row['minutes']:.1f} min ({row['epochs']} epochs, best {row['best_epoch']}) "
            f"| <= {targets['minutes']:g} min |",
            f"| peak RSS of training | {row['peak_rss_gb']:.2f} GB | <= {targets['rss_gb']:g} GB |",
            f"| {what}, default runtime ({row['runtime']}{inputs}) p50 / p90 | {fast['p50_ms']} / {fast['p90_ms']} ms "
            f"| p50 <= {targets['p50_ms']:g} ms |",
            f"| {what}, TensorFlow p50 / p90 | {keras['p50_ms']} / {keras['p90_ms']} ms | |"]


def write_results(out: str, payload: dict, lines: list[str]) -> None:
    """results/OUT.json (the payload with this machine's facts) and results/OUT.md (`lines`, also
    printed)."""
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"{out}.json").write_text(__import__("json").dumps({"machine": machine_info(), **payload}, indent=2))
    (results / f"{out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def recipe_line(stdout: str) -> str:
    """The `recipe ...` line a training command printed."""
    return next((line for line in stdout.splitlines() if line.startswith("recipe")), "")


def generated_binary(root: Path, per_class: int = 120, size: int = 160, seed: int = 0) -> Path:
    """A two-class folder (train/validation) of synthetic photos, for machines without ../shared."""
    from PIL import Image, ImageDraw

    if (root / "train").is_dir():
        return root
    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), ("validation", per_class // 2)):
        for label in ("circles", "squares"):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = Image.fromarray(rng.integers(0, 120, (size, size, 3), dtype=np.uint8))
                draw = ImageDraw.Draw(img)
                s = int(rng.integers(size // 4, size // 2))
                x, y = (int(v) for v in rng.integers(0, size - s, 2))
                colour = tuple(int(c) for c in rng.integers(120, 255, 3))
                (draw.ellipse if label == "circles" else draw.rectangle)([x, y, x + s, y + s], fill=colour)
                img.save(folder / f"{i:04d}.jpg", quality=90)
    return root


def steady(values: list[float]) -> float | None:
    """Mean of all epochs but the first (which includes tracing and the first decode), or the only one."""
    if not values:
        return None
    rest = values[1:] or values
    return float(np.mean(rest))
