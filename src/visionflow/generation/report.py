"""report.html of a GAN run or evaluation: samples, the quality table beside its baselines, the
conditional accuracy per class, memorisation (samples beside their nearest training image), and
the training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.report.html import Page, esc, image_uri, plot, table, tiles
from visionflow.rundir import write_text

ROW_NOTES = {"real (held out)": "the floor: real images the generator never saw",
             "model": "the generator's samples",
             "noise": "per-pixel Gaussian noise with the real images' mean and spread",
             "copies": "training images returned unchanged (memorisation)"}


def _enlarged(image: np.ndarray, side: int = 96) -> np.ndarray:
    k = max(1, side // image.shape[0])
    return np.repeat(np.repeat(image, k, 0), k, 1)


def write_report(folder: Path, sampler, metrics: dict, results: dict, title: str | None = None) -> Path:
    """Writes folder/report.html; `results` maps a section name to (generated images, the real
    images searched for nearest neighbours, quality dict)."""
    folder = Path(folder)
    kind = "conditional GAN" if sampler.conditional else "GAN"
    page = Page(title or f"gan · {folder.name}", f"{kind} {sampler.meta.get('model', '')}, "
                                                 f"{sampler.image_size[0]}x{sampler.image_size[1]}")
    final = folder / "samples" / "final.png"
    if final.exists():
        page.add("samples", "Samples" + (" (a row per class)" if sampler.conditional else ""),
                 plot(final, "sample grid"))
    for split, (generated, training, q) in results.items():
        model = q["rows"]["model"]
        items = [("FD (lower is better)", model["fd"]), ("progress noise -> real", q.get("progress")),
                 ("precision", model["precision"]), ("recall", model["recall"]), ("likely copies", model["copies"])]
        if q.get("conditional"):
            items.insert(1, ("samples of their class", q["conditional"]["accuracy"]))
        page.add(f"{split}-summary", f"{split.capitalize()}: quality on {q['features']}", tiles(items) +
                 f'<p class="note">Fréchet and kernel distances (FD, KD) computed as FID and KID are, on the features '
                 f'of {esc(q["features"])} - a network trained on this run\'s real images, not ImageNet Inception: '
                 f'compare them between models on the same data, not with published FID. {q["images"]} images per '
                 f'row against {q["reference_images"]} real reference images. A sample counts as a likely copy when '
                 f'it is nearer a training image than 99% of held-out real images are.</p>')
        page.add(f"{split}-table", "Model beside the baselines", table(
            ["", "FD", "KD", "precision", "recall", "likely copies", "what it is"],
            [[name, r["fd"], r["kd"], r["precision"], r["recall"], r["copies"], ROW_NOTES.get(name, "")]
             for name, r in q["rows"].items()], numeric=[False, True, True, True, True, True, False]))
        c = q.get("conditional")
        if c:
            real = f" (held-out real images: {c['real_accuracy']:.1%})" if "real_accuracy" in c else ""
            page.add(f"{split}-classes", "Samples labelled as their class",
                     f'<p>The feature network labels {c["accuracy"]:.1%} of the samples as the class they were '
                     f'generated for{real}.</p>' + table(["class", "share"], sorted(c["per_class"].items()),
                                                         numeric=[False, True]))
        cards = []
        for pair in q.get("nearest", []):
            a = _enlarged(generated[pair["sample"]])
            b = _enlarged(training[pair["training"]])
            cards.append(f'<div class="card"><img src="{image_uri(a)}" alt="sample"><img src="{image_uri(b)}" '
                         f'alt="nearest real image"><div>sample · nearest real · distance {pair["distance"]:.2f}'
                         f'</div></div>')
        page.add(f"{split}-nearest", "Memorisation: the samples nearest a real image",
                 f'<p class="note">The {len(cards)} samples closest to any image of the searched set (in feature '
                 f'space), each beside that image. Near-identical pairs mean the generator copies. '
                 f'Threshold for a likely copy: {q["copy_threshold"]}.</p><div class="gallery">{"".join(cards)}</div>')
    if metrics.get("warnings"):
        page.add("warnings", "Warnings", "<ul>" + "".join(f"<li>{esc(w)}</li>" for w in metrics["warnings"]) + "</ul>")
    curves = folder / "plots" / "training_curves.png"
    if curves.exists():
        page.add("training", "Training", plot(curves, "losses and sample diversity per epoch"))
    path = folder / "report.html"
    write_text(path, page.render())
    return path
