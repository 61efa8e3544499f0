"""Restore images to files: `visionflow predict RUN IMAGES --out DIR` for restoration models.

Each input is restored whole at its own size (super-resolution: `scale` times larger) and
written to DIR/<stem>.png (a name already taken in this call gets _2, _3, ...); sources are only
read. Transparency is kept: the alpha channel is carried over (enlarged with the image for
super-resolution). Inpainting takes its holes from transparency: pixels with alpha below 128 are
the holes to fill, and the output is opaque.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from visionflow.errors import DataError
from visionflow.network.cli import named


@dataclass
class Restored:
    source: str
    output: str | None = None
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {"source": self.source, "output": self.output, "width": self.width, "height": self.height,
                "seconds": round(self.seconds, 4), "error": self.error}


def read_rgba(source) -> tuple[np.ndarray, np.ndarray | None]:
    """(RGB uint8 image, alpha uint8 or None) of a file: upright (EXIF), any colour mode or bit
    depth read as classification reads it; alpha only where the image has transparency."""
    from visionflow.data.decode import alpha, decode

    return decode(source), alpha(source)


def prepare(restorer, rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """The model input of an image: the RGB pixels, or for inpainting the image with its
    transparent pixels as holes."""
    if restorer.channels == 3:
        return rgb
    from visionflow.tasks.restoration.degrade import with_hole

    if alpha is None or not (alpha < 128).any():
        raise DataError("no holes to fill: mark them transparent (alpha 0) in a PNG or WebP")
    mask = (alpha < 128).astype(np.float32)
    return np.round(with_hole(rgb[None].astype(np.float32), mask[None]).numpy()[0]).astype(np.uint8)


def finish(restorer, out: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """The restored pixels with the source's transparency carried over (not for inpainting)."""
    if alpha is None or restorer.channels != 3:
        return out
    from PIL import Image

    if alpha.shape != out.shape[:2]:
        alpha = np.asarray(Image.fromarray(alpha).resize((out.shape[1], out.shape[0]), Image.Resampling.BICUBIC))
    return np.dstack([out, alpha])


def restore_files(restorer, sources: Iterable[str], out_dir: str | Path) -> Iterator[Restored]:
    """Restores each source into `out_dir`, yielding one Restored per source (with `error` set,
    and nothing written, for one that could not be read)."""
    from PIL import Image

    from visionflow.data.decode import DecodeError
    from visionflow.rundir import atomic_write_bytes

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    for source in sources:
        t0 = time.perf_counter()
        try:
            rgb, alpha = read_rgba(source)
            pixels = finish(restorer, restorer.restore(prepare(restorer, rgb, alpha)), alpha)
        except DecodeError as exc:
            yield Restored(str(source), error=exc.reason)
            continue
        except (DataError, OSError) as exc:
            yield Restored(str(source), error=str(exc))
            continue
        target = named(out_dir, str(source), taken, ".png")
        if target.resolve() == Path(source).resolve():
            yield Restored(str(source), error=f"{target} is the source itself; choose another --out folder")
            continue
        import io

        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG")
        atomic_write_bytes(target, buf.getvalue())
        yield Restored(str(source), str(target), pixels.shape[1], pixels.shape[0], time.perf_counter() - t0)
