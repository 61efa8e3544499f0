"""How far a style model moves photos toward its style, and how much of the photo it keeps.

On each photo (its centre, at most EVAL_SIDE pixels a side, at its own resolution: the scale the
network trained and runs at) three images are measured with the loss network's distances
(`visionflow.tasks.style.features`): the untouched photo (how far the style is to begin with), the
network's output, and on the first GATYS_IMAGES photos Gatys et al.'s per-image optimisation of the
same loss from the same photo (`gatys`: what the network approximates in one pass, and how long
that takes). Style distance is to the style picture, content distance to the photo.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.data.decode import DecodeError, decode
from visionflow.errors import DataError

EVAL_SIDE = 256  # pixels a side of the measured centre of each photo
MAX_IMAGES = 50  # photos measured after training (all of them with `visionflow evaluate`)
GATYS_IMAGES = 4  # photos also optimised per image (about 10 s each at 256 px)
EXAMPLES = 4  # photos shown in the report per style


def centre(image: np.ndarray, side: int = EVAL_SIDE, multiple: int = 4) -> np.ndarray:
    h, w = image.shape[:2]
    s = min(h, w, side) // multiple * multiple
    top, left = (h - s) // 2, (w - s) // 2
    return image[top:top + s, left:left + s]


def load_loss(root: Path, meta: dict):
    """The perceptual loss of a run, rebuilt from its kept style pictures (RUN/styles/NAME.png)."""
    from visionflow.tasks.style import STYLE_WEIGHT, TV_WEIGHT
    from visionflow.tasks.style.losses import PerceptualLoss, encode_png

    pictures = []
    for name in meta.get("styles") or []:
        path = Path(root) / "styles" / f"{name}.png"
        if not path.exists():
            raise DataError(f"{path} is missing: a style model is measured from its run folder, which keeps its "
                            f"style pictures in styles/.")
        pictures.append(decode(path))
    loss = PerceptualLoss([encode_png(p) for p in pictures], float(meta.get("style_weight", STYLE_WEIGHT)), TV_WEIGHT)
    return loss, pictures


def evaluate_images(styler, paths: list[str], loss, limit: int | None = None, gatys_images: int = GATYS_IMAGES,
                    say: Callable[[str], None] | None = None, examples: int = EXAMPLES) -> dict:
    """Distances and timings of `styler` on the photos `paths`, per style.

    Returns {"images", "side", "styles": {name: {"input": {"style"}, "network": {"style", "content"},
    "gatys": {"style", "content", "images"}, "network_on_gatys_images": {"content"}, "style_change",
    "content_vs_gatys"}}, "seconds_per_image": {"network", "gatys"}, "speedup", "rows", "skipped",
    "examples": {name: [(photo, output, gatys or None), ...]}}.
    """
    from visionflow.tasks.style import gatys

    photos, skipped = [], []
    for path in paths[:limit] if limit else paths:
        try:
            image = decode(path)
        except DecodeError as exc:
            skipped.append({"path": str(path), "reason": exc.reason})
            continue
        if min(image.shape[:2]) < 16:
            skipped.append({"path": str(path), "reason": "smaller than 16 pixels"})
            continue
        photos.append((str(path), centre(image)))
    if not photos:
        raise DataError("No usable photos to evaluate" + (f" ({len(skipped)} skipped)." if skipped else "."))
    names = styler.styles
    styler.paint_all(photos[0][1])  # traced once, not timed
    rows, net_seconds, gatys_seconds = [], [], []
    shown = {name: [] for name in names}
    for i, (path, photo) in enumerate(photos):
        t0 = time.perf_counter()
        painted = styler.paint_all(photo)
        net_seconds.append(time.perf_counter() - t0)
        x = photo[None].astype(np.float32)
        terms_in = loss.terms(x, np.concatenate([x] * len(names), axis=-1))
        terms_out = loss.terms(x, painted[None].astype(np.float32))
        row = {"path": path, "side": photo.shape[0]}
        for k, name in enumerate(names):
            out = painted[..., 3 * k:3 * k + 3]
            row.update({f"{name}:input_style": float(terms_in[k]["style"][0]),
                        f"{name}:network_style": float(terms_out[k]["style"][0]),
                        f"{name}:network_content": float(terms_out[k]["content"][0])})
            optimised = None
            if i < gatys_images:
                optimised, took = gatys.restyle(photo, loss, style=k)
                gatys_seconds.append(took)
                t = loss.terms(x, np.concatenate([optimised[None].astype(np.float32)] * len(names), axis=-1))[k]
                row.update({f"{name}:gatys_style": float(t["style"][0]), f"{name}:gatys_content": float(t["content"][0]),
                            f"{name}:gatys_seconds": round(took, 3)})
            if len(shown[name]) < examples:
                shown[name].append((photo, out, optimised))
        row["network_seconds"] = round(net_seconds[-1], 4)
        rows.append(row)
        if say and (i + 1) % 10 == 0:
            say(f"  measured {i + 1}/{len(photos)} photos")
    styles = {}
    for name in names:
        def mean(key, subset=rows):
            values = [r[f"{name}:{key}"] for r in subset if f"{name}:{key}" in r]
            return round(float(np.mean(values)), 4) if values else None

        with_gatys = [r for r in rows if f"{name}:gatys_style" in r]
        entry = {"input": {"style": mean("input_style")},
                 "network": {"style": mean("network_style"), "content": mean("network_content")},
                 "gatys": {"style": mean("gatys_style", with_gatys), "content": mean("gatys_content", with_gatys),
                           "images": len(with_gatys)},
                 "network_on_gatys_images": {"style": mean("network_style", with_gatys),
                                             "content": mean("network_content", with_gatys)}}
        entry["style_change"] = round(entry["network"]["style"] / max(entry["input"]["style"], 1e-12) - 1, 4)
        if with_gatys:
            entry["content_vs_gatys"] = round(entry["network_on_gatys_images"]["content"]
                                              / max(entry["gatys"]["content"], 1e-12), 3)
        styles[name] = entry
    seconds = {"network": round(float(np.mean(net_seconds)), 4)}
    if gatys_seconds:
        seconds["gatys"] = round(float(np.mean(gatys_seconds)), 3)
    return {"task": "style", "images": len(rows), "side": int(np.median([r["side"] for r in rows])), "styles": styles,
            "seconds_per_image": seconds, "speedup": round(seconds["gatys"] / max(seconds["network"], 1e-9), 1)
            if gatys_seconds else None, "gatys_steps": gatys.STEPS, "rows": rows, "skipped": skipped,
            "examples": shown}


def summary(result: dict) -> dict:
    """The result without its per-image rows and pictures (what metrics.json keeps)."""
    return {k: v for k, v in result.items() if k not in ("rows", "examples")}


def format_table(result: dict) -> str:
    lines = [f"{'style':<16} {'photo style':>11} {'output style':>12} {'change':>7} {'content':>8} "
             f"{'Gatys style':>11} {'Gatys content':>13} {'content/Gatys':>13}"]
    for name, s in result["styles"].items():
        g = s["gatys"]
        lines.append(f"{name:<16} {s['input']['style']:>11.4f} {s['network']['style']:>12.4f} {s['style_change']:>+7.0%} "
                     f"{s['network']['content']:>8.4f} "
                     + (f"{g['style']:>11.4f} {g['content']:>13.4f} {s['content_vs_gatys']:>12.2f}x" if g["images"] else
                        f"{'-':>11} {'-':>13} {'-':>13}"))
    sec = result["seconds_per_image"]
    tail = f"{result['images']} photos ({result['side']} px centres); network {sec['network']:.3f} s per photo (every style)"
    if "gatys" in sec:
        tail += (f", Gatys {sec['gatys']:.2f} s per photo and style ({result['gatys_steps']} steps, "
                 f"{next(iter(result['styles'].values()))['gatys']['images']} photos): {result['speedup']:g}x faster")
    lines.append(tail)
    lines.append("distances: 0 identical, 1 as far as a blank image; style to the style picture, content to the photo")
    return "\n".join(lines)


def finish_run(task, paths, folder, state: dict, cfg, say: Callable[[str], None]) -> dict:
    """After training: the kept model measured on the validation (and test) photos; metrics.json,
    predictions/<split>.csv and report.html."""
    from visionflow import plots
    from visionflow.rundir import write_csv, write_json
    from visionflow.tasks.style.report import write_report
    from visionflow.tasks.style.styler import Styler

    task.write_styles(paths.root, cfg)
    styler = Styler.load(paths.root)
    plots.training_curves(state["history"], paths.plots / "training_curves.png",
                          best_epoch=state["best"]["epoch"] if state["best"] else None, metric="lr",
                          title="Learning rate")  # the loss (perceptual) is the first panel
    metrics: dict = {"task": task.name, "best_epoch": state["best"]["epoch"] if state["best"] else None,
                     "epochs_run": state["epoch"], "stopped": state["stopped"],
                     "train_seconds": round(state.get("train_seconds", 0.0), 2), "degradation": task.describe(cfg),
                     "styles": styler.styles}
    loss, pictures = load_loss(paths.root, styler.meta)
    results = {}
    for split in ("validation", "test"):
        recs = folder.splits.get(split)
        if not recs:
            continue
        result = results[split] = evaluate_images(styler, [r.path for r in recs], loss, limit=MAX_IMAGES, say=say,
                                                  gatys_images=GATYS_IMAGES)
        write_csv(paths.root / "predictions" / f"{split}.csv", result["rows"], digits=5)
        metrics[split] = summary(result)
        say(f"\n{split} ({result['images']} photos), last epoch {state['epoch']}:")
        say(format_table(result))
    write_json(paths.metrics, metrics)
    write_report(paths.root, metrics, results, pictures=dict(zip(styler.styles, pictures)))
    say(f"\nrun folder: {paths.root}  (model.keras, styles/, metrics.json, report.html, plots/, history.csv)")
    return metrics


def evaluate_folder(run: str | Path, data: str | Path, out: str | Path | None = None, unsafe: bool = False,
                    say: Callable[[str], None] | None = None, gatys_images: int = GATYS_IMAGES) -> dict:
    """`visionflow evaluate RUN DIR` for style models: every photo under DIR (searched recursively)
    measured as after training; writes metrics.json, predictions.csv and report.html to `out`
    (default RUN/evaluations/<DIR name>) and returns the result with "out" added."""
    from visionflow.data.decode import IMAGE_EXTENSIONS
    from visionflow.predict import iter_inputs
    from visionflow.rundir import write_csv, write_json
    from visionflow.tasks.style.report import write_report
    from visionflow.tasks.style.styler import Styler

    data = Path(data)
    if not data.is_dir():
        raise DataError(f"Evaluation folder {data} does not exist or is not a folder.")
    files = [p for p in iter_inputs([str(data)]) if p.lower().endswith(IMAGE_EXTENSIONS)]
    if not files:
        raise DataError(f"No images in {data} (searched recursively).")
    styler = Styler.load(run, unsafe=unsafe)
    run_path = Path(run)
    root = run_path if run_path.is_dir() else run_path.parent
    loss, pictures = load_loss(root, styler.meta)
    result = evaluate_images(styler, files, loss, say=say, gatys_images=gatys_images)
    folder = Path(out) if out else root / "evaluations" / (data.resolve().name or "data")
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    write_csv(folder / "predictions.csv", result["rows"], digits=5)
    metrics = {"task": "style", "data": str(data), "model": styler.source, "styles": styler.styles,
               "degradation": f"style of {', '.join(styler.styles)}", "evaluation": summary(result)}
    write_json(folder / "metrics.json", metrics)
    write_report(folder, metrics, {"evaluation": result}, pictures=dict(zip(styler.styles, pictures)),
                 title=f"style · {data.name}")
    return {**result, "out": str(folder)}
