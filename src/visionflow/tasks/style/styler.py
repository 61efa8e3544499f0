"""A trained style model for prediction: any image in, the same image repainted out.

    styler = visionflow.load("runs/style1")
    painted = styler.predict("photo.jpg")                    # (h, w, 3) uint8, the photo's own size
    softer = styler.predict(pixels, strength=0.5)             # halfway between photo and painting
    other = styler.predict(pixels, style="wave")              # a model that learnt several styles

The network runs whole images up to `MAX_TILE_PIXELS` in one call (instance normalisation sees the
whole picture, so no seams), larger ones in overlapping tiles (`Restorer`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.errors import DataError, ModelError

MAX_TILE_PIXELS = 4096 * 4096 // 4  # 4.2 megapixels in one call (about 1.5 GB of activations)


class Styler:
    """A style model (`Restorer` underneath) with the names of the styles it learnt."""

    def __init__(self, restorer):
        self.restorer = restorer
        self.meta = restorer.meta
        self.styles: list[str] = list(restorer.meta.get("styles") or ["style"])
        self.source = restorer.source
        # what the restoration helpers read (the service, files written with transparency kept)
        self.channels, self.scale, self.task, self.backend = 3, 1, restorer.task, restorer.backend
        self.multiple = restorer.multiple

    @classmethod
    def load(cls, run: str | Path, unsafe: bool = False, backend: str = "auto", say=None) -> "Styler":
        """The style model of a run folder, a model file with labels.json beside it, or an export folder
        (an export runs in its own runtime, a run in TensorFlow: `backend` and `say` are not used)."""
        from visionflow.tasks.restoration.restorer import Restorer

        restorer = Restorer.load(run, unsafe=unsafe)
        if restorer.task.name != "style":
            raise ModelError(f"{run} holds a {restorer.task.name} model, not a style model.")
        restorer.max_tile_pixels = MAX_TILE_PIXELS
        return cls(restorer)

    def index(self, style: str | int | None) -> int:
        """The position of `style` (its name, its number, or a path whose file stem is its name); the
        first style for None."""
        if style is None or style == "":
            return 0
        if isinstance(style, (int, np.integer)) or str(style).isdigit():
            k = int(style)
            if 0 <= k < len(self.styles):
                return k
        else:
            text = str(style)
            for candidate in (text, Path(text).stem):
                if candidate in self.styles:
                    return self.styles.index(candidate)
        raise DataError(f"style {style!r}: this model learnt {', '.join(self.styles)} (give a name or a number "
                        f"from 0 to {len(self.styles) - 1}); a new style picture needs a model trained on it "
                        f"(visionflow train PHOTOS --task style --style IMAGE).")

    def paint_all(self, image: np.ndarray) -> np.ndarray:
        """(h, w, 3 * styles) uint8: `image` (h, w, 3 uint8) in every style at once."""
        return self.restorer.restore(np.asarray(image))

    def paint(self, image: np.ndarray, style: str | int | None = None, strength: float = 1.0) -> np.ndarray:
        """`image` (h, w, 3) uint8 repainted in `style`, blended with the photo by `strength` (0: the
        photo, 1: the network's output)."""
        check_strength(strength)
        k = self.index(style)
        image = np.asarray(image)
        if strength == 0:
            return image.copy()
        out = self.paint_all(image)[..., 3 * k:3 * k + 3]
        if strength == 1:
            return out
        mixed = strength * out.astype(np.float32) + (1 - strength) * image.astype(np.float32)
        return np.clip(np.round(mixed), 0, 255).astype(np.uint8)

    def restore(self, given: np.ndarray, style: str | int | None = None, strength: float = 1.0) -> np.ndarray:
        """`paint`, under the name the restoration helpers call."""
        return self.paint(given, style, strength)

    def predict(self, image, style: str | int | None = None, strength: float = 1.0) -> np.ndarray:
        """`image` (a path, bytes, a PIL image or an array, any colour mode) repainted: (h, w, 3) uint8."""
        from visionflow.data.decode import decode

        return self.paint(decode(image), style, strength)


def check_strength(strength: float) -> None:
    if not (isinstance(strength, (int, float)) and 0 <= strength <= 1):
        raise DataError(f"strength must be between 0 (the photo) and 1 (the full style). Received: {strength!r}")
