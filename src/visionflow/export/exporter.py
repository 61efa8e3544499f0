"""`visionflow export`: write a run's model in another format and prove it computes the same thing."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from visionflow.errors import ConfigError, ExportFailed, ModelError
from visionflow.export.formats import FORMATS
from visionflow.export.samples import sample_clips, sample_images
from visionflow.options import ExportOptions
from visionflow.rundir import FILE_MODE, RunPaths, write_json

DIR_MODE = FILE_MODE | 0o111  # mkdtemp makes owner-only folders; exports get the usual mode

# Parity thresholds: float formats must match the .keras model's probabilities this closely;
# quantized formats must make the task's decisions as it does (a classifier's top-1 class, a
# multi-label model's label-by-label yes/no) on this share of them.
FLOAT_TOLERANCE = 1e-4
CALIBRATION_IMAGES = 128
CLIP_SAMPLES = 32  # clips for a clip model's parity check (each is `frames` images)


@dataclass
class ExportResult:
    """One exported format and its parity check against the `.keras` model."""

    format: str
    path: str
    max_abs_diff: float
    agreement: float  # share of the task's decisions made as the .keras model makes them (restoration: PSNR dB)
    samples: int
    sample_source: str
    passed: bool
    criterion: str
    size_bytes: int
    seconds: float
    note: str = ""

    parity: str = "top-1 agreement"  # what `agreement` compares, in words (the task's)

    def line(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        compared = (f"max |Δpixel| {self.max_abs_diff:.2e}  lowest PSNR {self.agreement:.1f} dB" if self.parity == "PSNR"
                    else f"max |Δprob| {self.max_abs_diff:.2e}  {self.parity} {self.agreement:.1%}")
        return (f"{self.format:<12} {verdict:<6} {compared} on {self.samples} images  (needs {self.criterion})  "
                f"{self.size_bytes / 1e6:.2f} MB  {self.seconds:.1f}s  -> {self.path}"
                + (f"\n{'':<12} {self.note}" if self.note else ""))


def parse_formats(text: str | Sequence[str]) -> list[str]:
    """'onnx,tflite' or ['onnx', 'tflite'] or 'all' -> checked format names, in the order given."""
    items = text.split(",") if isinstance(text, str) else [t for part in text for t in part.split(",")]
    names = [t.strip() for t in items if t.strip()]
    if names == ["all"]:
        return FORMATS.names()
    if not names:
        raise ConfigError(f"Name at least one export format: {', '.join(FORMATS.names())} (or all).")
    for name in names:
        FORMATS.get(name)
    return list(dict.fromkeys(names))


def sha256(path: Path) -> str:
    """Hex digest of a file, or of a folder's files (names and contents, in sorted order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _run_batched(run, images: np.ndarray, batch_size: int = 32, columns: np.ndarray | None = None) -> np.ndarray:
    """`run` over `images` (and their table `columns`, for a model that reads them) in batches."""
    extra = lambda i: () if columns is None else (columns[i:i + batch_size],)  # noqa: E731
    return np.concatenate([np.asarray(run(images[i:i + batch_size].astype(np.float32), *extra(i)))
                           for i in range(0, len(images), batch_size)])


def _replace_dir(new: Path, final: Path) -> None:
    """Moves `new` to `final`, replacing an older export only once the new one is complete."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
        os.replace(final, old / final.name)
    os.replace(new, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export(run: str | Path, formats: str | Sequence[str] = ExportOptions.format, out: str | Path | None = None,
           samples: int = ExportOptions.samples, min_agreement: float = ExportOptions.min_agreement, unsafe: bool = False,
           say: Callable[[str], None] = print) -> list[ExportResult]:
    """Exports a run's model to each format and checks it against the `.keras` model.

    Each format goes to `OUT/<format>/` with the model and a `labels.json` (classes, input and
    output spec, hashes, parity). It is written to a temporary folder first and moved into place
    only when its parity check passes, so a failed export never replaces a good one. Restoration
    models export the float formats with dynamic height and width, checked by PSNR against the
    .keras model (`visionflow.tasks.restoration.export`).

    Args:
        run: the run folder (or a `.keras` file with `labels.json` beside it).
        formats: names from `FORMATS`, comma-separated, or "all".
        out: destination folder (default: RUN/export).
        samples: images for the parity check (the run's validation images, topped up with
            generated ones when they cannot be found).
        min_agreement: the share of decisions (top-1 class; per-label yes/no for multi-label
            models) a quantized format must make as the `.keras` model does.
        unsafe: see `visionflow.load`.
        say: receives one line per format.

    Returns:
        One ExportResult per format.

    Raises:
        ExportFailed: at least one format failed its parity check (the others are still written).
        ModelError: the run cannot be loaded, or a format's optional packages are missing.
    """
    from visionflow import tasks
    from visionflow.predictor import open_model

    names = parse_formats(formats)
    if samples < 1:
        raise ConfigError(f"samples must be at least 1. Received: {samples}")
    if not 0.0 <= min_agreement <= 1.0:
        raise ConfigError(f"min_agreement must be between 0 and 1. Received: {min_agreement}")
    task = tasks.of_path(run)
    if task is not None:
        if not task.quantizable and (formats == "all" or list(formats) == ["all"]):
            names = [n for n in names if not FORMATS.get(n).quantized]
        own = task.part("exporter")
        if own is not None:
            return own(run, names, out, samples, min_agreement, unsafe, say)
    predictor = open_model(run, unsafe=unsafe)
    if predictor.model is None:
        raise ModelError(f"{run} is already an export; export from the run folder or its .keras file.")
    run_path = Path(run)
    paths = RunPaths(run_path if run_path.is_dir() else run_path.parent)
    source = Path(predictor.source)
    out_dir = Path(out) if out else paths.root / "export"
    out_dir.mkdir(parents=True, exist_ok=True)

    task = predictor.task
    fusion = predictor.fusion
    if predictor.second:
        quantized = [n for n in names if FORMATS.get(n).quantized]
        if quantized and len(names) > len(quantized) and formats in ("all", ["all"]):
            names = [n for n in names if n not in quantized]
        elif quantized:
            raise ConfigError(f"{', '.join(quantized)} cannot be written for a model with a second input (table "
                              f"columns or sound; its calibration takes images alone); export onnx, tflite, "
                              f"savedmodel or keras.")
    images, where = _samples(predictor, paths.manifest, "validation", samples)
    columns = None
    if fusion is not None:
        columns = fusion.sample_features(len(images), seed=0)
        where += f", each with seeded random values of the columns {', '.join(fusion.names)}"
    elif predictor.audio:
        columns = task.sample_second_input(predictor, len(images), seed=0)
        where += ", each with seeded random sound features"
    say(f"parity check on {where}")
    probabilities = lambda raw: task.probabilities(raw, predictor)  # noqa: E731
    reference = probabilities(_run_batched(predictor._call, images, columns=columns))  # batched: bounded memory
    calibration = None
    meta_base = {
        # task, classes, image size, resize mode, and the fitted temperature (classifiers trained
        # with --calibrate) or per-label thresholds (multi-label) that visionflow.load applies.
        **predictor.meta(),
        "input": {"name": predictor.model.inputs[0].name,
                  "shape": [None, *((predictor.frames,) if predictor.frames else ()), *predictor.image_size, 3],
                  "dtype": "float32", "range": [0, 255], "layout": "NTHWC" if predictor.frames else "NHWC",
                  "color": "RGB"},
        "output": task.output_spec(predictor.classes),
        "source": {"path": str(source), "sha256": sha256(source)},
        **_carried(paths, task),
    }
    if predictor.audio:
        second = predictor.model.inputs[1]
        meta_base["audio_input"] = {"name": second.name, "shape": [None, *second.shape[1:]], "dtype": "float32",
                                    "meaning": "the clip's sound track: log-mel energies over time (bands as channels) "
                                               "and a last channel that is 1 where the clip has sound "
                                               "(visionflow.tasks.video.audio)"}
    if fusion is not None:
        meta_base["columns_input"] = {"name": "columns", "shape": [None, fusion.table.width], "dtype": "float32",
                                      "features": fusion.table.features(),
                                      "meaning": "the labels.json 'columns' preprocessing applied to each image's "
                                                 "table row (visionflow.tabular.columns)"}
    results = []
    for name in names:
        fmt = FORMATS.get(name)
        if fmt.quantized and calibration is None:
            calibration, _ = _samples(predictor, paths.manifest, "train", CALIBRATION_IMAGES, seed=1)
        meta = dict(meta_base)
        if fmt.quantized:
            meta["input"] = {**meta["input"], "dtype": "uint8"}

        def check(runtime, fmt=fmt) -> dict:
            got = probabilities(_run_batched(runtime, images, columns=columns))
            diff = float(np.abs(got - reference).max())
            agree = task.agreement(reference, got, predictor)
            close, criterion = task.float_parity(reference, got, predictor, FLOAT_TOLERANCE)
            passed = agree >= min_agreement if fmt.quantized else close
            return {"max_abs_diff": diff, "agreement": agree, "samples": len(images), "sample_source": where,
                    "passed": passed, "parity": task.parity,
                    "criterion": f"{task.parity} >= {min_agreement:.1%}" if fmt.quantized else criterion,
                    "note": task.disagreement_note(reference, got, predictor) if fmt.quantized and not passed else ""}

        result = write_checked(fmt, predictor.model, out_dir, meta, check, calibration)
        say(result.line())
        results.append(result)
    unwritable = [r.format for r in results if not r.passed and r.samples == 0]
    if unwritable:
        raise ExportFailed(f"{', '.join(unwritable)} cannot hold this network (see above); nothing was written for "
                           f"it. Export another format (onnx, savedmodel, keras).")
    failed = [r.format for r in results if not r.passed]
    if failed:
        hint = (" A quantized model may only differ on near-ties: accept that with a lower --min-agreement, "
                "or export the float tflite format." if any(FORMATS.get(f).quantized for f in failed) else "")
        raise ExportFailed(f"Parity check failed for {', '.join(failed)}: the exported model does not compute "
                           f"what the .keras model does, so it was not written.{hint}")
    return results


def _carried(paths, task) -> dict:
    """What the run's labels.json holds that its exports carry: the DP-SGD guarantee (epsilon,
    delta and its settings) and the task's own keys (`Task.carried`)."""
    from visionflow.rundir import read_json

    if not paths.labels.exists():
        return {}
    meta = read_json(paths.labels)
    return {k: meta[k] for k in ("epsilon", "delta", "privacy", *task.carried) if k in meta}


def _samples(predictor, manifest: Path, split: str, count: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """Model inputs for a parity check or int8 calibration: images, or clips for a clip model."""
    if predictor.frames:
        clips = min(count, CLIP_SAMPLES)
        return sample_clips(manifest, split, predictor.frames, predictor.image_size, clips, seed, predictor.resize)
    return sample_images(manifest, split, predictor.image_size, count, seed=seed, resize=predictor.resize)


def psnr_between(reference: np.ndarray, got: np.ndarray) -> float:
    """PSNR (peak 255) of an export's raw image output against the .keras model's; 100 when identical."""
    mse = float(np.mean((reference.astype(np.float64) - got.astype(np.float64)) ** 2))
    return 100.0 if mse == 0 else min(100.0, 10 * np.log10(255.0 ** 2 / mse))


def export_folders(run: str | Path, model, out: str | Path | None) -> tuple[RunPaths, Path]:
    """(the run's paths, the export folder, made) for a task's own export of `run`; ModelError when
    `model` is None (`run` is already an export)."""
    if model is None:
        raise ModelError(f"{run} is already an export; export from the run folder or its .keras file.")
    run_path = Path(run)
    paths = RunPaths(run_path if run_path.is_dir() else run_path.parent)
    out_dir = Path(out) if out else paths.root / "export"
    out_dir.mkdir(parents=True, exist_ok=True)
    return paths, out_dir


def write_checked(fmt, model, out_dir: Path, meta: dict, check: Callable, calibration=None,
                  opener: Callable | None = None) -> ExportResult:
    """Writes `model` in format `fmt` to a temporary folder beside `out_dir/<format>`, runs
    `check(runtime)` (-> the parity fields of ExportResult) on it, and moves it into place with its
    labels.json (`meta` plus format, hashes and parity) only when the check passed. `opener(path,
    meta)` opens the written artifact (default: the format's own, for single-input models)."""
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{fmt.name}.partial-"))
    os.chmod(tmp, DIR_MODE)
    try:
        artifact = tmp / fmt.artifact
        try:
            fmt.write(model, artifact, calibration)
        except ModelError:
            raise
        except Exception as exc:  # a converter that cannot translate some layer of this network
            import re

            ops = sorted(set(re.findall(r"'([\w.]+)' op is neither a custom op nor a flex op", str(exc))))
            reason = (f"it has no {', '.join(ops)}" if ops else
                      (str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
            return ExportResult(fmt.name, "(not written)", 0.0, 0.0, 0, "", False, "a model the converter can write",
                                0, round(time.perf_counter() - start, 2),
                                note=f"the {fmt.name} converter cannot translate this network: {reason[:300]}")
        meta = {**meta, "format": fmt.name, "artifact": fmt.artifact}
        parity = check((opener or fmt.open)(artifact, meta))
        final = out_dir / fmt.name
        size = sum(p.stat().st_size for p in artifact.rglob("*") if p.is_file()) if artifact.is_dir() \
            else artifact.stat().st_size
        result = ExportResult(fmt.name, str(final / fmt.artifact), size_bytes=size,
                              seconds=round(time.perf_counter() - start, 2), **parity)
        if result.passed:
            result.note = ""
            meta.update(sha256=sha256(artifact), parity=asdict(result),
                        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), versions=_versions())
            write_json(tmp / "labels.json", meta)
            _replace_dir(tmp, final)
        else:
            result.path = "(not written)"
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_formats(names: list[str], model, out_dir: Path, meta: dict, check: Callable, say: Callable[[str], None],
                  failure: str, opener: Callable | None = None) -> list[ExportResult]:
    """`write_checked` for each format name, a line said for each; ExportFailed naming the formats
    whose check failed, followed by `failure` (what differs, and the bar)."""
    results = []
    for name in names:
        result = write_checked(FORMATS.get(name), model, out_dir, meta, check, opener=opener)
        say(result.line())
        results.append(result)
    return all_passed(results, failure)


def all_passed(results: list, failure: str) -> list:
    """`results` where every format passed its parity check; otherwise ExportFailed naming the
    formats that did not, with `failure` (what their check asks)."""
    failed = [r.format for r in results if not r.passed]
    if failed:
        raise ExportFailed(f"Parity check failed for {', '.join(failed)}: {failure}, so it was not written.")
    return results


def _versions() -> dict:
    import keras
    import tensorflow as tf

    from visionflow.version import __version__

    return {"visionflow": __version__, "tensorflow": tf.__version__, "keras": keras.__version__}
