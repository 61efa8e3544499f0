"""report.html of a detection run or evaluation: the COCO figures, AP per class and by size, the
PR curves at IoU 0.5, and a gallery of the worst images with true (green) and predicted (red)
boxes drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.report.html import Page, image_uri, plot, split_results, table, tiles

GALLERY = 8  # worst images shown
TRUE, PREDICTED, IGNORED = (40, 200, 60), (230, 40, 40), (150, 150, 150)


def pr_curves(result: dict, path: Path) -> bool:
    from visionflow.plots import plt, save

    curves = result.get("pr_curves") or {}
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, c in curves.items():
        ap = result["per_class"].get(name, {}).get("ap50", -1)
        ax.plot(c["recall"], c["precision"], label=f"{name} (AP {ap:.3f})" if ap >= 0 else name)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("precision-recall at IoU 0.5")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, path)
    return True


def draw(image: np.ndarray, boxes: list[tuple], width: int = 0) -> np.ndarray:
    """`image` with each (box, colour, text) drawn; text above the box's top-left corner."""
    from PIL import Image, ImageDraw

    from visionflow.video.annotate import font_for

    pil = Image.fromarray(image)
    pen = ImageDraw.Draw(pil)
    font = font_for(pil.size, 30)
    width = width or max(2, round(max(image.shape[:2]) / 250))
    for box, colour, text in boxes:
        x1, y1, x2, y2 = [float(v) for v in box]
        pen.rectangle([x1, y1, x2, y2], outline=colour, width=width)
        if text:
            _, _, right, bottom = pen.textbbox((0, 0), text, font=font)
            y = y1 - bottom - 4 if y1 - bottom - 4 >= 0 else y1
            pen.rectangle([x1, y, x1 + right + 4, y + bottom + 4], fill=colour)
            pen.text((x1 + 2, y + 2), text, fill=(255, 255, 255), font=font)
    return np.asarray(pil)


def gallery(result: dict, classes: list[str]) -> str:
    from visionflow.data.decode import decode
    from visionflow.report.html import esc

    rows = result["rows"]
    order = sorted(range(len(rows)), key=lambda i: -(rows[i]["false_positives"] + rows[i]["missed"]))
    cards = []
    for i in order[:GALLERY]:
        row = rows[i]
        if not row["false_positives"] and not row["missed"]:
            break
        image = decode(row["path"])
        truth = result["_truths"][i]
        b, s, c = result["_found"][i]
        marks = [(box, IGNORED if hard else TRUE, "") for box, hard in zip(truth.boxes, truth.ignore)]
        marks += [(box, PREDICTED, f"{classes[int(k)]} {score:.2f}") for box, score, k in zip(b, s, c)]
        shown = draw(image, marks)
        scale = 360 / max(shown.shape[:2])
        if scale < 1:
            import cv2

            shown = cv2.resize(shown, (round(shown.shape[1] * scale), round(shown.shape[0] * scale)),
                               interpolation=cv2.INTER_AREA)
        cards.append(f'<div class="card"><img src="{image_uri(shown)}" alt="{esc(row["path"])}">'
                     f'<div>{row["boxes"]} true, {row["detected"]} detected: {row["false_positives"]} false positive(s), '
                     f'{row["missed"]} missed</div><div class="path">{esc(row["path"])}</div></div>')
    if not cards:
        return '<p class="note">Every image was answered without a false positive or a missed box.</p>'
    return ('<p class="note">The images with the most errors at the operating threshold: true boxes green '
            '(difficult ones grey), detections red.</p><div class="gallery">' + "".join(cards) + "</div>")


def write_report(folder: Path, metrics: dict, meta: dict, results: dict | None = None, title: str | None = None) -> Path:
    """folder/report.html from metrics.json (and, where given, the full results with per-image
    rows, which the gallery needs)."""
    folder = Path(folder)
    results = results or {}
    classes = list(metrics.get("classes") or meta.get("classes") or [])
    page = Page(title or f"detection · {folder.name}", f"{meta.get('model', '')} · {', '.join(classes)}")
    plots = folder / "plots"
    for split, result in split_results(metrics):
        op = result["operating_point"]
        page.add(f"{split}-summary", f"{split.capitalize()}: {result['images']} images, {result['boxes']} boxes", tiles([
            ("mAP@0.5", result["map50"]), ("mAP@0.5:0.95", result["map50_95"]),
            (f"precision at {op['conf']:g}", op["precision"]), (f"recall at {op['conf']:g}", op["recall"]),
            ("s per image", result["seconds_per_image"])]))
        page.add(f"{split}-classes", "AP per class", table(
            ["class", "boxes", "AP@0.5", "AP@0.5:0.95"],
            [[name, c["boxes"], c["ap50"], c["ap50_95"]] for name, c in result["per_class"].items()],
            numeric=[False, True, True, True]))
        page.add(f"{split}-sizes", "AP@0.5:0.95 by box size (COCO: small < 32², medium < 96² pixels)", table(
            ["size", "AP"], [[k, v] for k, v in result["by_size"].items()], numeric=[False, True]))
        if pr_curves(result, plots / f"{split}_pr.png"):
            page.add(f"{split}-pr", "Precision-recall", plot(plots / f"{split}_pr.png", "PR curves"))
        if split in results:
            page.add(f"{split}-gallery", "Worst images", gallery(results[split], classes))
    return page.save(folder)
