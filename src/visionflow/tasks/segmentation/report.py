"""report.html of a segmentation run or evaluation: mIoU and pixel accuracy, IoU and accuracy per
class, the confusion matrix (share of each true class's pixels), and the worst images as
image | truth | prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.report.html import Page, esc, image_uri, plot, split_results, table, tiles

SIDE = 300  # pixels of the longer side of each picture in the gallery


def _small(pixels: np.ndarray, nearest: bool = False) -> np.ndarray:
    import cv2

    scale = SIDE / max(pixels.shape[:2])
    if scale >= 1:
        return pixels
    size = (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def coloured(mask: np.ndarray, colours: list[tuple[int, int, int]]) -> np.ndarray:
    """A class-index mask in its classes' colours (void pixels grey-white)."""
    table_ = np.full((256, 3), 224, np.uint8)
    table_[:len(colours)] = np.array(colours, np.uint8)
    return table_[mask]


def gallery(result: dict, colours: list) -> str:
    cards = []
    for miou, path, image, truth, got in result.get("_worst", []):
        strip = [image_uri(_small(image)), image_uri(_small(coloured(truth, colours), True)),
                 image_uri(_small(coloured(got, colours), True))]
        cards.append('<div class="card">' + "".join(f'<img src="{u}" alt="{a}">' for u, a in
                                                     zip(strip, ("image", "truth", "prediction")))
                     + f'<div>mIoU {miou:.3f}</div><div class="path">{esc(path)}</div></div>')
    if not cards:
        return ""
    return ('<p class="note">The images with the lowest mIoU: image | truth | prediction (void pixels light grey).</p>'
            '<div class="gallery">' + "".join(cards) + "</div>")


def legend(classes: list[str], colours: list) -> str:
    swatches = "".join(f'<span style="display:inline-block;margin-right:12px"><span style="display:inline-block;'
                       f'width:12px;height:12px;background:rgb{tuple(colours[i])};border:1px solid #999"></span> '
                       f'{esc(name)}</span>' for i, name in enumerate(classes))
    return f'<p class="note">{swatches}</p>'


def write_report(folder: Path, metrics: dict, meta: dict, results: dict | None = None, title: str | None = None) -> Path:
    """folder/report.html from metrics.json (and, where given, the full results, which the gallery needs)."""
    from visionflow import plots as plotting
    from visionflow.tasks.segmentation.masks import colours_of

    folder = Path(folder)
    results = results or {}
    classes = list(metrics.get("classes") or meta.get("classes") or [])
    colours = colours_of(meta)
    page = Page(title or f"segmentation · {folder.name}", f"{meta.get('model', '')} · {', '.join(classes)}")
    plots = folder / "plots"
    for split, result in split_results(metrics):
        page.add(f"{split}-summary", f"{split.capitalize()}: {result['images']} images at their own size", tiles([
            ("mIoU", result["miou"]), ("pixel accuracy", result["pixel_accuracy"]),
            ("mean class accuracy", result["mean_accuracy"]), ("frequency-weighted IoU", result["fw_iou"]),
            ("s per image", result["seconds_per_image"])]))
        total = max(1, sum(result["pixels"].values()))
        page.add(f"{split}-classes", "IoU per class", legend(classes, colours) + table(
            ["class", "share of pixels", "IoU", "accuracy"],
            [[name, result["pixels"][name] / total, result["iou"][name], result["accuracy"][name]] for name in classes],
            numeric=[False, True, True, True]))
        plots.mkdir(parents=True, exist_ok=True)
        plotting.confusion_normalised(np.array(result["confusion"]), classes, plots / f"{split}_confusion.png",
                                      title="Confusion matrix (share of each true class's pixels)")
        page.add(f"{split}-confusion", "Confusion matrix", plot(plots / f"{split}_confusion.png", "confusion matrix"))
        if split in results and results[split].get("_worst"):
            page.add(f"{split}-gallery", "Worst images", gallery(results[split], colours))
    return page.save(folder)
