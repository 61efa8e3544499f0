"""A self-contained HTML page: inline CSS, images as data URIs, no scripts, nothing fetched."""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

CSS = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #e3e7ee; --bg: #f6f8fb; --card: #fff; --good: #1f7a4d;
        --bad: #b3261e; --accent: #2f5fd0; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); }
header { background: #1d2330; color: #fff; padding: 20px 32px; }
header h1 { margin: 0; font-size: 22px; font-weight: 600; }
header p { margin: 4px 0 0; color: #b9c1d0; font-size: 13px; }
nav { padding: 8px 32px; background: #fff; border-bottom: 1px solid var(--line); position: sticky; top: 0; }
nav a { color: var(--accent); text-decoration: none; margin-right: 16px; font-size: 13px; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 32px 48px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px;
          margin: 18px 0; }
section h2 { margin: 0 0 12px; font-size: 18px; }
section h3 { margin: 18px 0 8px; font-size: 15px; color: var(--muted); }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 150px; }
.tile .v { font-size: 22px; font-weight: 600; }
.tile .k { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 10px; text-align: left; vertical-align: top; }
th { background: #f0f3f8; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
img.plot { max-width: 100%; border: 1px solid var(--line); border-radius: 6px; margin: 6px 8px 6px 0; }
.row { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 8px; font-size: 12px; }
.card img { width: 120px; height: auto; border-radius: 4px; margin-right: 4px; }
.card .path { color: var(--muted); word-break: break-all; }
.bad { color: var(--bad); font-weight: 600; }
.good { color: var(--good); font-weight: 600; }
.note { color: var(--muted); font-size: 13px; }
code { background: #f0f3f8; padding: 1px 4px; border-radius: 3px; }
"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def fmt(value, digits: int = 3) -> str:
    """Numbers rounded for display; None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return f"{v:.{digits}f}" if v == 0 or 10 ** -digits * 10 <= abs(v) < 1e6 else f"{v:.{digits}g}"
    return esc(value)


def png_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def image_uri(pixels: np.ndarray | object, quality: int = 85) -> str:
    """A JPEG data URI for an RGB uint8 array or a PIL image."""
    from PIL import Image

    img = pixels if isinstance(pixels, Image.Image) else Image.fromarray(np.asarray(pixels, dtype=np.uint8))
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail(path: str, side: int = 120) -> str | None:
    """A data URI of the image at `path` with its longest side `side` pixels; None if unreadable."""
    from visionflow.data.decode import DecodeError, decode
    from visionflow.video.reader import is_video

    if is_video(path):
        return clip_strip(path, side)
    try:
        pixels = decode(path)
    except (DecodeError, OSError):
        return None
    h, w = pixels.shape[:2]
    scale = side / max(h, w)
    if scale < 1:
        pixels = decode(path, size=(max(1, round(h * scale)), max(1, round(w * scale))))
    return image_uri(pixels)


def clip_strip(path: str, side: int = 120, frames: int = 6) -> str | None:
    """A data URI of `frames` frames taken uniformly over the video at `path`, side by side, each
    `side` pixels high; None if unreadable."""
    import numpy as np

    from visionflow.errors import DataError
    from visionflow.video.reader import VideoReader

    from visionflow.video.frames import load_clip

    try:
        with VideoReader(path) as video:
            w = max(1, round(side * video.info.width / video.info.height))
        clip = load_clip(path, frames, (side, w))
    except (DataError, OSError):
        return None
    gap = np.full((clip.shape[1], 3, 3), 255, np.uint8)
    return image_uri(np.concatenate([part for f in clip for part in (f, gap)][:-1], axis=1))


def img(uri: str | None, alt: str, cls: str = "plot") -> str:
    if uri is None:
        return f'<span class="note">({esc(alt)}: image not available)</span>'
    return f'<img class="{cls}" src="{uri}" alt="{esc(alt)}">'


def plot(path: Path, alt: str) -> str:
    """An inlined PNG, or a note when the file is missing."""
    return img(png_uri(path) if Path(path).exists() else None, alt)


def table(headers: Sequence[str], rows: Iterable[Sequence], numeric: Sequence[bool] | None = None,
          raw: bool = False) -> str:
    """An HTML table; cells are escaped and numbers formatted unless `raw` (cells already HTML)."""
    numeric = numeric or [False] * len(headers)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for value, is_num in zip(row, numeric):
            text = value if raw and isinstance(value, str) else fmt(value)
            cells.append(f'<td class="n">{text}</td>' if is_num else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def tiles(items: Sequence[tuple[str, object]]) -> str:
    return '<div class="tiles">' + "".join(
        f'<div class="tile"><div class="v">{fmt(v)}</div><div class="k">{esc(k)}</div></div>' for k, v in items) + "</div>"


SPLITS = ("validation", "test", "evaluation")  # the figures a run's or an evaluation's metrics.json holds


def split_results(metrics: dict) -> list[tuple[str, dict]]:
    """(split, its result) for each split `metrics` holds, in report order."""
    return [(split, metrics[split]) for split in SPLITS if metrics.get(split)]


class Page:
    """Sections added in order, rendered as one HTML document with a table of contents."""

    def __init__(self, title: str, subtitle: str = ""):
        self.title = title
        self.subtitle = subtitle
        self.sections: list[tuple[str, str, str]] = []

    def add(self, section_id: str, title: str, body: str) -> None:
        self.sections.append((section_id, title, body))

    def save(self, folder: Path, curves: str = "training curves") -> Path:
        """folder/report.html, with the run's training curves (plots/training_curves.png, alt text
        `curves`) as the last section where they exist; returns its path."""
        from visionflow.rundir import write_text

        picture = Path(folder) / "plots" / "training_curves.png"
        if picture.exists():
            self.add("training", "Training", plot(picture, curves))
        path = Path(folder) / "report.html"
        write_text(path, self.render())
        return path

    def render(self) -> str:
        from visionflow.version import __version__

        made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        nav = "".join(f'<a href="#{sid}">{esc(t)}</a>' for sid, t, _ in self.sections)
        body = "".join(f'<section id="{sid}"><h2>{esc(t)}</h2>{b}</section>' for sid, t, b in self.sections)
        sub = f"{esc(self.subtitle)} · " if self.subtitle else ""
        return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{esc(self.title)}</title><style>{CSS}</style></head><body>"
                f"<header><h1>{esc(self.title)}</h1><p>{sub}visionflow {esc(__version__)} · {made}</p></header>"
                f"<nav>{nav}</nav><main>{body}</main></body></html>\n")
