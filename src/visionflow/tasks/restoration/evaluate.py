"""How well a restoration model restores, beside the classical methods a user would otherwise use.

Every clean image is degraded as the model's task does it (seeded per image, so every run and
every baseline sees the same degraded pixels), restored whole at its own size by the model and
by each baseline at its best setting (tried on the first few images), and scored against the
clean image with scikit-image's PSNR and SSIM; inpainting also scores the holes alone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.data.decode import DecodeError, decode
from visionflow.errors import DataError

TUNING_IMAGES = 8  # images each baseline's settings are tried on
MAX_IMAGES = 200  # images evaluated after training (all of them with `visionflow evaluate`)
EVAL_SEED = 2024  # seed of the degradations, independent of the training seed
PSNR_CAP = 100.0  # dB reported for a pixel-perfect result


def psnr(clean: np.ndarray, out: np.ndarray, where: np.ndarray | None = None) -> float:
    """PSNR in dB (peak 255) over the whole image, or over the pixels where `where` is true."""
    from skimage.metrics import peak_signal_noise_ratio

    if where is not None:
        diff = clean[where].astype(np.float64) - out[where].astype(np.float64)
        mse = float(np.mean(diff ** 2)) if diff.size else 0.0
        return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * np.log10(255.0 ** 2 / mse))
    if np.array_equal(clean, out):
        return PSNR_CAP
    return float(min(PSNR_CAP, peak_signal_noise_ratio(clean, out, data_range=255)))


def ssim(clean: np.ndarray, out: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    side = min(clean.shape[:2])
    window = min(7, side if side % 2 else side - 1)
    if window < 3:
        return float("nan")
    return float(structural_similarity(clean, out, channel_axis=2, data_range=255, win_size=window))


def upper_bound(name: str) -> bool:
    """Whether baseline `name` is told what a user cannot know (see `baselines`)."""
    return "upper bound" in name


def _scores(clean, out, mask) -> dict:
    row = {"psnr": psnr(clean, out), "ssim": ssim(clean, out)}
    if mask is not None:
        row["hole_psnr"] = psnr(clean, out, mask)
    return row


def _tune(baselines: dict, items: list, facts: dict) -> dict[str, object]:
    """Each baseline's setting with the best mean PSNR (in the holes, for inpainting) on the first
    TUNING_IMAGES images; `facts` the metadata each image's baselines see, by image index."""
    chosen = {}
    for name, (fn, settings) in baselines.items():
        if len(settings) == 1:
            chosen[name] = settings[0]
            continue
        key = "hole_psnr" if items[0][3] is not None else "psnr"
        means = [np.mean([_scores(clean, fn(given, facts[index], s), mask)[key]
                          for _, given, clean, mask, index in items[:TUNING_IMAGES]]) for s in settings]
        chosen[name] = settings[int(np.argmax(means))]
    return chosen


def evaluate_images(restorer, paths: list[str], seed: int = EVAL_SEED, limit: int | None = None,
                    say: Callable[[str], None] | None = None, pairs: dict[str, str] | None = None) -> dict:
    """Scores of `restorer` and of its task's baselines on the images `paths` (clean originals),
    degraded as the task does, or with `pairs` ({clean path: degraded path}) the real degraded files.

    Returns {"images", "methods": {name: {"psnr", "ssim"[, "hole_psnr"], "setting"}}, "model":
    name of the model's entry, "best_baseline", "gain_db", "rows": per image, "skipped",
    "seconds_per_megapixel"}.
    """
    task, meta = restorer.task, restorer.meta
    items, skipped = [], []
    for i, path in enumerate(paths[:limit] if limit else paths):
        if pairs is not None:
            from visionflow.tasks.restoration.pairs import load_pair

            if str(path) not in pairs:
                skipped.append({"path": str(path), "reason": "no degraded image with its name"})
                continue
            try:
                given, clean = load_pair(str(path), pairs[str(path)], restorer.scale)
            except DecodeError as exc:
                skipped.append({"path": str(path), "reason": exc.reason})
                continue
            except DataError as exc:
                skipped.append({"path": str(path), "reason": str(exc).split(": ", 1)[-1]})
                continue
            items.append((str(path), given, clean, None, i))
            continue
        try:
            clean = decode(path)
        except DecodeError as exc:
            skipped.append({"path": str(path), "reason": exc.reason})
            continue
        if min(clean.shape[:2]) < 2 * max(1, restorer.scale):
            skipped.append({"path": str(path), "reason": "too small to degrade"})
            continue
        given, clean, mask = task.degrade_image(clean, meta, (seed, i))
        items.append((str(path), given, clean, mask, i))
    if not items:
        raise DataError("No usable images to evaluate" + (f" ({len(skipped)} skipped)." if skipped else "."))
    meta = {**meta, "kernel_known": pairs is None}
    baselines = task.baselines(items[0][1], meta)
    facts = {index: {**meta, **task.image_facts(meta, (seed, index), clean.shape)} if pairs is None else meta
             for _, _, clean, _, index in items}
    settings = _tune(baselines, items, facts)
    model_name = f"{meta.get('model', 'model')} (this model)"
    rows, model_seconds, megapixels = [], 0.0, 0.0
    for path, given, clean, mask, index in items:
        t0 = time.perf_counter()
        out = restorer.restore(given)
        model_seconds += time.perf_counter() - t0
        megapixels += out.shape[0] * out.shape[1] / 1e6
        row = {"path": path, "index": index, "width": clean.shape[1], "height": clean.shape[0],
               **{f"{model_name}:{k}": v for k, v in _scores(clean, out, mask).items()}}
        for name, (fn, _) in baselines.items():
            row.update({f"{name}:{k}": v for k, v in _scores(clean, fn(given, facts[index], settings[name]), mask).items()})
        rows.append(row)
        if say and len(rows) % 50 == 0:
            say(f"  evaluated {len(rows)}/{len(items)} images")
    key = "hole_psnr" if items[0][3] is not None else "psnr"
    methods = {}
    for name in [model_name, *baselines]:
        entry = {metric: round(float(np.nanmean([r[f"{name}:{metric}"] for r in rows])), 4)
                 for metric in ("psnr", "ssim", "hole_psnr") if f"{name}:{metric}" in rows[0]}
        if name in settings and settings[name] is not None:
            entry["setting"] = settings[name]
        methods[name] = entry
    # an upper bound (a baseline told what a user cannot know, as the true blur kernel) is shown
    # beside the others but is not the baseline the model has to beat
    best = max((n for n in baselines if not upper_bound(n)), key=lambda n: methods[n][key])
    return {"task": task.name, "images": len(rows), "metric": key, "methods": methods, "model": model_name,
            "best_baseline": best, "gain_db": round(methods[model_name][key] - methods[best][key], 4),
            "seconds_per_megapixel": round(model_seconds / max(megapixels, 1e-9), 4), "rows": rows,
            "skipped": skipped, "seed": seed}


def format_table(result: dict) -> str:
    """The methods side by side, best first."""
    key = result["metric"]
    holes = key == "hole_psnr"
    width = max(34, *(len(n) for n in result["methods"]))
    lines = [f"{'method':<{width}} " + ("hole PSNR dB " if holes else "") + f"{'PSNR dB':>8} {'SSIM':>7}  setting"]
    for name, m in sorted(result["methods"].items(), key=lambda kv: -kv[1][key]):
        setting = "" if m.get("setting") is None else str(m["setting"])
        lines.append(f"{name:<{width}} " + (f"{m[key]:>12.2f} " if holes else "") + f"{m['psnr']:>8.2f} {m['ssim']:>7.4f}  {setting}")
    bounds = " (upper bounds not counted)" if any(upper_bound(n) for n in result["methods"]) else ""
    lines.append(f"{result['images']} images; {result['model']} vs the best baseline{bounds} ({result['best_baseline']}): "
                 f"{result['gain_db']:+.2f} dB; {result['seconds_per_megapixel']:.3f} s per output megapixel")
    return "\n".join(lines)


def finish_run(task, paths, folder, state: dict, cfg, say: Callable[[str], None]) -> dict:
    """After training: the kept model on the validation (and test) images against the baselines:
    metrics.json, predictions/<split>.csv and report.html."""
    from visionflow import plots
    from visionflow.tasks.restoration.restorer import Restorer
    from visionflow.rundir import write_csv, write_json

    restorer = Restorer.load(paths.root)
    plots.training_curves(state["history"], paths.plots / "training_curves.png",
                          best_epoch=state["best"]["epoch"] if state["best"] else None, metric="psnr",
                          title="PSNR (dB)")
    metrics: dict = {"task": task.name, "best_epoch": state["best"]["epoch"] if state["best"] else None,
                     "epochs_run": state["epoch"], "stopped": state["stopped"],
                     "train_seconds": round(state.get("train_seconds", 0.0), 2), "degradation": task.describe(cfg)}
    results = {}
    for split in ("validation", "test"):
        recs = folder.splits.get(split)
        if not recs:
            continue
        result = results[split] = evaluate_images(restorer, [r.path for r in recs], limit=MAX_IMAGES, say=say,
                                                  pairs=getattr(folder, "pairs", None) or None)
        write_csv(paths.root / "predictions" / f"{split}.csv", result["rows"], digits=4)
        metrics[split] = {k: v for k, v in result.items() if k != "rows"}
        say(f"\n{split} ({result['images']} whole images, {task.describe(cfg)}), last epoch {state['epoch']}:")
        say(format_table(result))
    write_json(paths.metrics, metrics)
    from visionflow.tasks.restoration.report import write_report

    write_report(paths.root, restorer, metrics, results)
    say(f"\nrun folder: {paths.root}  (model.keras, metrics.json, report.html, plots/, history.csv, tensorboard/)")
    return metrics


def evaluate_folder(run: str | Path, data: str | Path, out: str | Path | None = None, unsafe: bool = False,
                    say: Callable[[str], None] | None = None, pairs: str | Path | None = None) -> dict:
    """`visionflow evaluate RUN DIR [--pairs DEGRADED]` for restoration models: every image under
    DIR (searched recursively) degraded as the model's task does (or its partner in `pairs`, see
    `visionflow.tasks.restoration.pairs`), restored, and scored beside the baselines;
    writes metrics.json, predictions.csv and report.html to `out` (default
    RUN/evaluations/<DIR name>) and returns the result with "out" added."""
    from visionflow.data.decode import IMAGE_EXTENSIONS
    from visionflow.predict import iter_inputs
    from visionflow.tasks.restoration.report import write_report
    from visionflow.tasks.restoration.restorer import Restorer
    from visionflow.rundir import write_csv, write_json

    data = Path(data)
    if not data.is_dir():
        raise DataError(f"Evaluation folder {data} does not exist or is not a folder.")
    paths = [p for p in iter_inputs([str(data)]) if p.lower().endswith(IMAGE_EXTENSIONS)]
    if not paths:
        raise DataError(f"No images in {data} (searched recursively).")
    restorer = Restorer.load(run, unsafe=unsafe)
    mapping = None
    if pairs:
        from visionflow.tasks.restoration.pairs import index, partner

        if restorer.task.name == "inpaint":
            raise DataError("--pairs is for denoise, deblur and superres models; inpainting is measured on holes it makes.")
        by_path, by_stem = index(pairs)
        mapping = {p: q for p in paths if (q := partner(p, data, by_path, by_stem)) is not None}
    result = evaluate_images(restorer, paths, say=say, pairs=mapping)
    run_path = Path(run)
    root = run_path if run_path.is_dir() else run_path.parent
    folder = Path(out) if out else root / "evaluations" / (data.resolve().name or "data")
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "predictions.csv", result["rows"], digits=4)
    metrics = {"task": result["task"], "data": str(data), "model": restorer.source,
               "degradation": f"real pairs ({pairs})" if pairs else _degradation(restorer.meta), "evaluation": {k: v for k, v in result.items() if k != "rows"}}
    write_json(folder / "metrics.json", metrics)
    (folder / "plots").mkdir(exist_ok=True)
    write_report(folder, restorer, metrics, {"evaluation": result}, title=f"{result['task']} · {data.name}")
    return {**result, "out": str(folder)}


def _degradation(meta: dict) -> str:
    if meta.get("task") == "denoise":
        return f"noise {meta.get('noise')}"
    if meta.get("task") == "deblur":
        return str(meta.get("degrade"))
    if meta.get("task") == "superres":
        return f"{meta.get('scale')}x bicubic downscaling"
    return "random holes"
