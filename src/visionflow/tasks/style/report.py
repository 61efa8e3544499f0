"""report.html of a style run or evaluation: the distances of the outputs beside the untouched photos
and Gatys' per-image optimisation, the time each takes, content | style | result examples, and the
training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.report.html import Page, esc, image_uri, split_results, table, tiles

SIDE = 200  # pixels a side of each picture in the examples


def _fit(image: np.ndarray, side: int = SIDE) -> np.ndarray:
    from PIL import Image

    h, w = image.shape[:2]
    scale = side / max(h, w)
    return np.asarray(Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                    Image.Resampling.LANCZOS))


def examples(name: str, picture: np.ndarray | None, shown: list) -> str:
    """Cards of photo | style picture | network output (| Gatys where it ran)."""
    cards = []
    for photo, out, optimised in shown:
        pics = [(photo, "photo (content)")]
        if picture is not None:
            pics.append((picture, f"style: {name}"))
        pics.append((out, "this model"))
        if optimised is not None:
            pics.append((optimised, "Gatys (per-image optimisation)"))
        cards.append('<div class="card">' + "".join(
            f'<img src="{image_uri(_fit(im))}" alt="{esc(label)}" title="{esc(label)}">' for im, label in pics)
            + f'<div>{" · ".join(esc(label) for _, label in pics)}</div></div>')
    return '<div class="gallery">' + "".join(cards) + "</div>"


def rebuild(task, folder: Path, meta: dict, metrics: dict) -> Path:
    """The "report" part: report.html of a run or evaluation folder from its metrics.json."""
    return write_report(Path(folder), metrics, {})


def write_report(folder: Path, metrics: dict, results: dict[str, dict], pictures: dict[str, np.ndarray] | None = None,
                 title: str | None = None) -> Path:
    """Writes folder/report.html from a run's (or an evaluation's) metrics and, where given, the
    full results of each split (with their example pictures); returns its path."""
    folder = Path(folder)
    pictures = pictures or {}
    if not pictures and (folder / "styles").is_dir():
        from visionflow.data.decode import decode

        pictures = {p.stem: decode(p) for p in sorted((folder / "styles").glob("*.png"))}
    page = Page(title or f"style · {folder.name}", metrics.get("degradation", ""))
    for split, result in split_results(metrics):
        first = next(iter(result["styles"].values()))
        sec = result["seconds_per_image"]
        items = [("style distance change", f"{first['style_change']:+.0%}"),
                 ("content distance", first["network"]["content"])]
        if first.get("content_vs_gatys") is not None:
            items.append(("content vs Gatys", f"{first['content_vs_gatys']:.2f}x"))
        items.append(("s per photo", sec["network"]))
        if result.get("speedup"):
            items.append(("faster than Gatys", f"{result['speedup']:g}x"))
        page.add(f"{split}-summary", f"{split.capitalize()}: {result['images']} photos "
                                     f"({result['side']} px centres)", tiles(items))
        rows = []
        for name, s in result["styles"].items():
            g = s["gatys"]
            rows.append([name, "photo as it is", s["input"]["style"], 0.0, ""])
            rows.append([name, "this model", s["network"]["style"], s["network"]["content"], sec["network"]])
            if g["images"]:
                rows.append([name, f"Gatys, {result['gatys_steps']} steps ({g['images']} photos)", g["style"], g["content"],
                             sec.get("gatys", "")])
                rows.append([name, f"this model on those {g['images']} photos", s["network_on_gatys_images"]["style"],
                             s["network_on_gatys_images"]["content"], ""])
        page.add(f"{split}-distances", "Style and content distances", table(
            ["style", "images", "style distance", "content distance", "s per photo"], rows,
            numeric=[False, False, True, True, True])
            + '<p class="note">Relative squared errors of the loss network\'s features: style (Gram matrices) to '
              'the style picture, content to the photo; 0 is identical, 1 as far as a blank image. Gatys et al. '
              'optimise each photo\'s pixels for the same loss: what the network does in one pass.</p>')
        with_pictures = results.get(split)
        if with_pictures is not None:
            for name, shown in with_pictures["examples"].items():
                page.add(f"{split}-examples-{name}", f"Examples: {name}", examples(name, pictures.get(name), shown))
    return page.save(folder)
