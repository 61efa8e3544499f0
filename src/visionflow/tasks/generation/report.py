"""report.html of a GAN run or evaluation: samples, the quality table beside its baselines, the
conditional accuracy per class, memorisation (samples beside their nearest training image), and
the training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.report.html import Page, esc, plot, table, tiles

ROW_NOTES = {"real (held out)": "the floor: real images the generator never saw",
             "model": "the generator's samples",
             "noise": "per-pixel Gaussian noise with the real images' mean and spread",
             "copies": "training images returned unchanged (memorisation)"}


def _enlarged(image: np.ndarray, side: int = 96) -> np.ndarray:
    k = max(1, side // image.shape[0])
    return np.repeat(np.repeat(image, k, 0), k, 1)


def save_nearest(generated: np.ndarray, searched: np.ndarray, q: dict, path: Path) -> Path | None:
    """The samples nearest a real image (top row) above those real images (bottom row), as PNG."""
    from visionflow.tasks.generation.grid import display_scale, make_grid, save_png

    pairs = q.get("nearest") or []
    if not pairs:
        return None
    top = [generated[p["sample"]] for p in pairs]
    bottom = [searched[p["training"]] for p in pairs]
    return save_png(make_grid(np.stack(top + bottom), len(pairs)), path, display_scale(generated.shape[1]))


def rebuild(task, folder: Path, meta: dict, metrics: dict) -> Path:
    """The "report" part: report.html of a run or evaluation folder from its files."""
    return write_report(folder, meta, metrics)


def write_report(folder: Path, meta: dict, metrics: dict, title: str | None = None) -> Path:
    """Writes folder/report.html from metrics.json's quality sections ("validation" for a run,
    "evaluation" for `visionflow evaluate`), the model's labels.json `meta`, and the PNGs beside
    it (samples/final.png, plots/<section>_nearest.png, plots/training_curves.png)."""
    folder = Path(folder)
    conditional = bool(meta.get("conditional"))
    size = meta.get("image_size") or ["?", "?"]
    page = Page(title or f"gan · {folder.name}", f"{'conditional GAN' if conditional else 'GAN'} "
                                                 f"{meta.get('model', '')}, {size[0]}x{size[1]}")
    final = folder / "samples" / "final.png"
    if final.exists():
        page.add("samples", "Samples" + (" (a row per class)" if conditional else ""), plot(final, "sample grid"))
    for split in ("validation", "evaluation"):
        q = metrics.get(split)
        if not q:
            continue
        from visionflow.tasks.generation.quality import distance_names

        fd, kd = distance_names(q["features"])
        model = q["rows"]["model"]
        items = [(f"{fd} (lower is better)", model["fd"]), ("progress noise -> real", q.get("progress")),
                 ("precision", model["precision"]), ("recall", model["recall"]), ("likely copies", model["copies"])]
        if q.get("conditional"):
            items.insert(1, ("samples of their class", q["conditional"]["accuracy"]))
        about = (f"Fréchet and kernel inception distances on {esc(q['features'])}: Keras' port of the ImageNet "
                 f"Inception network, close to the reference FID code's but not the same weights."
                 if fd == "FID" else
                 f"Fréchet and kernel distances (FD, KD) computed as FID and KID are, on the features of "
                 f"{esc(q['features'])} - a network trained on this run's real images, not ImageNet Inception: "
                 f"compare them between models on the same data, not with published FID.")
        page.add(f"{split}-summary", f"{split.capitalize()}: quality on {q['features']}", tiles(items) +
                 f'<p class="note">{about} {q["images"]} images per '
                 f'row against {q["reference_images"]} real reference images.{" Note: " + esc(q["note"]) + "." if q.get("note") else ""} A sample counts as a likely copy when '
                 f'it is nearer a real image than 99% of held-out real images are.</p>')
        page.add(f"{split}-table", "Model beside the baselines", table(
            ["", fd, kd, "precision", "recall", "likely copies", "what it is"],
            [[name, r["fd"], r["kd"], r["precision"], r["recall"], r["copies"], ROW_NOTES.get(name, "")]
             for name, r in q["rows"].items()], numeric=[False, True, True, True, True, True, False]))
        c = q.get("conditional")
        if c:
            real = f" (held-out real images: {c['real_accuracy']:.1%})" if "real_accuracy" in c else ""
            page.add(f"{split}-classes", "Samples labelled as their class",
                     f'<p>The feature network labels {c["accuracy"]:.1%} of the samples as the class they were '
                     f'generated for{real}.</p>' + table(["class", "share"], sorted(c["per_class"].items()),
                                                         numeric=[False, True]))
        searched = "training images" if split == "validation" else "reference half of the evaluation folder"
        distances = ", ".join(f"{p['distance']:.2f}" for p in q.get("nearest", []))
        page.add(f"{split}-nearest", "Memorisation: the samples nearest a real image",
                 f'<p class="note">Top row: the {len(q.get("nearest", []))} samples closest (in feature space) to any '
                 f'of the {searched}; bottom row: that real image. Near-identical pairs mean the generator copies. '
                 f'Distances: {distances}; a likely copy is nearer than {q["copy_threshold"]}.</p>'
                 + plot(folder / "plots" / f"{split}_nearest.png", "samples above their nearest real images"))
    if metrics.get("warnings"):
        page.add("warnings", "Warnings", "<ul>" + "".join(f"<li>{esc(w)}</li>" for w in metrics["warnings"]) + "</ul>")
    return page.save(folder, "losses and sample diversity per epoch")
