"""report.html of a restoration run or evaluation: the model beside the baselines, the per-image
PSNR spread, and crops of the best and worst cases (degraded / best baseline / model / clean)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.report.html import Page, image_uri, plot, split_results, table, tiles

GALLERY = 4  # images shown at each end (best and worst gain over the best baseline)
CROP = 160  # side of the gallery crops, in output pixels


def psnr_histogram(result: dict, path: Path) -> None:
    """Per-image PSNR of the model and of the best baseline, overlaid."""
    from visionflow.plots import plt, save

    key, model, base = result["metric"], result["model"], result["best_baseline"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for name in (base, model):
        ax.hist([r[f"{name}:{key}"] for r in result["rows"]], bins=20, alpha=0.6, label=name)
    ax.set_xlabel({"psnr": "PSNR (dB)", "hole_psnr": "PSNR in the holes (dB)"}[key])
    ax.set_ylabel("images")
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, path)


def _crop(image: np.ndarray, top: int, left: int, side: int) -> np.ndarray:
    return image[top:top + side, left:left + side]


def gallery(restorer, result: dict) -> str:
    """Cards of the GALLERY images where the model gained most and least over the best baseline."""
    from visionflow.data.decode import decode
    from visionflow.report.html import esc

    task, meta = restorer.task, restorer.meta
    key, model, base = result["metric"], result["model"], result["best_baseline"]
    fn, _ = task.baselines(None, meta)[base]
    setting = result["methods"][base].get("setting")
    order = sorted(range(len(result["rows"])), key=lambda i: result["rows"][i][f"{model}:{key}"] - result["rows"][i][f"{base}:{key}"])
    picks = order[-GALLERY:][::-1] + [i for i in order[:GALLERY] if i not in order[-GALLERY:]]
    cards = []
    for i in picks:
        row = result["rows"][i]
        given, clean, mask = task.degrade_image(decode(row["path"]), meta, (result["seed"], row["index"]))
        seen = {**meta, **task.image_facts(meta, (result["seed"], row["index"]), clean.shape)}
        out, baseline = restorer.restore(given), fn(given, seen, setting)
        s = restorer.scale
        shown = np.repeat(np.repeat(given[..., :3], s, 0), s, 1)  # the degraded input at output size
        side = min(CROP, *clean.shape[:2])
        if mask is not None and mask.any():
            ys, xs = np.nonzero(mask)
            cy, cx = int(np.median(ys)), int(np.median(xs))
        else:
            cy, cx = clean.shape[0] // 2, clean.shape[1] // 2
        top = int(np.clip(cy - side // 2, 0, clean.shape[0] - side))
        left = int(np.clip(cx - side // 2, 0, clean.shape[1] - side))
        pics = "".join(f'<img src="{image_uri(_crop(im, top, left, side))}" alt="{esc(label)}" title="{esc(label)}">'
                       for im, label in ((shown, "degraded"), (baseline, base), (out, "model"), (clean, "clean")))
        gain = row[f"{model}:{key}"] - row[f"{base}:{key}"]
        cards.append(f'<div class="card">{pics}<div>degraded · {esc(base)} · model · clean</div>'
                     f'<div>model {row[f"{model}:{key}"]:.2f} dB, {esc(base)} {row[f"{base}:{key}"]:.2f} dB '
                     f'(<span class="{"good" if gain >= 0 else "bad"}">{gain:+.2f} dB</span>)</div>'
                     f'<div class="path">{esc(row["path"])}</div></div>')
    return ('<p class="note">Crops of the images where the model gained most over the best baseline, then least '
            '(degraded input, best baseline, model, clean).</p><div class="gallery">' + "".join(cards) + "</div>")


def rebuild(task, folder: Path, meta: dict, metrics: dict) -> Path | None:
    """The "report" part: report.html of a run (or an evaluation) folder from its metrics.json: the
    tables and the training curves (the per-image histogram and gallery need the images, so only a
    new run or evaluation draws them)."""
    from visionflow.tasks.restoration.restorer import Restorer

    folder = Path(folder)
    run = folder if (folder / "labels.json").exists() else metrics.get("model")
    if not run:
        return None
    title = f"{task.name} · {Path(metrics['data']).name}" if metrics.get("data") else None
    return write_report(folder, Restorer.load(run), metrics, {}, title=title)


def write_report(folder: Path, restorer, metrics: dict, results: dict[str, dict], title: str | None = None) -> Path:
    """Writes folder/report.html from a run's (or an evaluation's) metrics and the full results
    (with per-image rows) of each split in `results`; returns its path."""
    folder = Path(folder)
    page = Page(title or f"{restorer.task.name} · {folder.name}", metrics.get("degradation", ""))
    plots = folder / "plots"
    for split, result in split_results(metrics):
        key = result["metric"]
        model, base = result["model"], result["best_baseline"]
        page.add(f"{split}-summary", f"{split.capitalize()}: {result['images']} whole images", tiles([
            ("model " + key.replace("_", " ") + " dB", result["methods"][model][key]),
            (f"best baseline: {base}", result["methods"][base][key]),
            ("gain dB", result["gain_db"]),
            ("model SSIM", result["methods"][model]["ssim"]),
            ("s per output megapixel", result["seconds_per_megapixel"])]))
        rows = sorted(result["methods"].items(), key=lambda kv: -kv[1][key])
        headers = ["method", *(["PSNR in holes dB"] if key == "hole_psnr" else []), "PSNR dB", "SSIM", "setting"]
        page.add(f"{split}-methods", "Model and baselines", table(
            headers, [[name, *([m["hole_psnr"]] if key == "hole_psnr" else []), m["psnr"], m["ssim"],
                       "" if m.get("setting") is None else str(m["setting"])] for name, m in rows],
            numeric=[False, *([True] if key == "hole_psnr" else []), True, True, False]))
        with_rows = results.get(split)
        if with_rows is not None:
            psnr_histogram(with_rows, plots / f"{split}_psnr_histogram.png")
            page.add(f"{split}-spread", "Per-image PSNR", plot(plots / f"{split}_psnr_histogram.png", "PSNR histogram"))
            page.add(f"{split}-gallery", "Best and worst cases", gallery(restorer, with_rows))
    return page.save(folder)
