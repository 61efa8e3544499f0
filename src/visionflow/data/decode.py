"""Decoding any common image into the model's input: 8-bit RGB at a fixed size.

Training, `predict`, evaluation and the HTTP service all go through `load_image`, so an image is
turned into pixels the same way everywhere. Pillow does the decoding because it handles what
`tf.image` does not: EXIF orientation, CMYK, 16-bit, palette transparency, BMP/TIFF/WebP.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from visionflow.data.resize import STRETCH, Resize

# File name endings that are scanned as images; the decoder also checks the content.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Pillow format names accepted; anything else (EPS, PDF, ICO, PSD, ...) is refused.
ALLOWED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "BMP", "GIF", "WEBP", "TIFF"})
# Images with more pixels than this are refused before decoding (decompression bombs).
MAX_PIXELS = 90_000_000

ImageSource = Union[str, Path, bytes, Image.Image, np.ndarray]


class DecodeError(ValueError):
    """An image could not be turned into pixels.

    Attributes:
        reason: a short phrase for reports.
        kind: what went wrong, for callers that react differently (the HTTP service maps it to a
            status code): "empty", "not_image", "format", "too_large", "corrupt" or "unreadable".
    """

    def __init__(self, reason: str, kind: str = "corrupt"):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def _open(source: str | Path | bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    if isinstance(source, bytes):
        if not source:
            raise DecodeError("empty file (0 bytes)", "empty")
        head, stream = source[:64], io.BytesIO(source)
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise DecodeError("file not found", "unreadable") from None
        except OSError as exc:
            raise DecodeError(f"cannot read file: {exc.strerror or exc}", "unreadable") from None
        if size == 0:
            raise DecodeError("empty file (0 bytes)", "empty")
        with open(path, "rb") as fh:
            head = fh.read(64)
        stream = path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(stream)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DecodeError(f"image dimensions exceed the {max_pixels:,}-pixel limit (possible decompression bomb)",
                          "too_large") from None
    except UnidentifiedImageError:
        if _looks_like_text(head):
            raise DecodeError("not an image: the file holds text", "not_image") from None
        raise DecodeError("not an image: unrecognised or corrupt format", "not_image") from None
    except OSError as exc:
        if "truncat" in str(exc).lower():
            raise DecodeError(f"truncated or corrupt image data ({exc})") from None
        raise DecodeError(f"cannot read file: {exc}", "unreadable") from None


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c >= 32 or c in (9, 10, 13) for c in head)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited on white."""
    mode = img.mode
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode.startswith("I;16") or mode == "I":
        # 16-bit greyscale: scale 0..65535 down to 0..255 (Pillow's convert would clip at 255).
        values = np.asarray(img, dtype=np.uint32)
        grey = (values // 257).clip(0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode == "F":
        values = np.asarray(img, dtype=np.float32)
        top = float(values.max()) if values.size else 1.0
        scale = 255.0 if top <= 1.0 else 255.0 / top
        return Image.fromarray((values * scale).clip(0, 255).astype(np.uint8), mode="L").convert("RGB")
    if mode != "RGB":
        return img.convert("RGB")
    return img


def probe(source: str | Path | bytes) -> tuple[str, int, int, str]:
    """Reads only the header: returns (format, width, height, Pillow mode) or raises DecodeError."""
    img = _open(source)
    try:
        return (*_check_header(img), img.mode)
    finally:
        img.close()


def _check_header(img: Image.Image, max_pixels: int = MAX_PIXELS) -> tuple[str, int, int]:
    fmt = img.format or "unknown"
    if fmt not in ALLOWED_FORMATS:
        raise DecodeError(f"unsupported image format {fmt}", "format")
    width, height = img.size
    if width < 1 or height < 1:
        raise DecodeError(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise DecodeError(
            f"image is {width}x{height} pixels, over the {max_pixels:,}-pixel limit (possible decompression bomb)",
            "too_large")
    return fmt, width, height


def decode(source: ImageSource, size: tuple[int, int] | None = None, max_pixels: int = MAX_PIXELS,
           resize: Resize = STRETCH) -> np.ndarray:
    """Decodes an image to an RGB uint8 array, optionally resized.

    Args:
        source: a file path, the file's bytes, a PIL image, or a uint8 array of shape (h, w),
            (h, w, 1), (h, w, 3) or (h, w, 4).
        size: (height, width) to resize to with antialiasing bilinear filtering, or None.
        max_pixels: files with more pixels than this are refused before decoding.
        resize: how the image reaches `size`: stretched (default), centre-cropped or padded.

    Returns:
        Array of shape (height, width, 3) and dtype uint8.

    Raises:
        DecodeError: the source is not a usable image; `reason` says why.
    """
    if isinstance(source, np.ndarray):
        img = _from_array(source)
    elif isinstance(source, Image.Image):
        img = source
    elif isinstance(source, (str, Path, bytes)):
        img = _open(source, max_pixels)
        _check_header(img, max_pixels)
        if size is not None and img.format == "JPEG":
            # Let libjpeg decode at a reduced scale that still covers the target size (much faster
            # for large photos); max() keeps this valid when EXIF rotates the image by 90 degrees.
            side = max(size)
            img.draft("RGB", (side, side))
        try:
            img.seek(0)  # first frame of animations
            img.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise DecodeError(f"truncated or corrupt image data ({exc})") from None
    else:
        raise TypeError(
            f"Expected a path, bytes, PIL image or uint8 array. Received: {type(source).__name__}")
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block must not lose an otherwise good image
        pass
    img = _to_rgb(img)
    if size is not None:
        img = resize.apply(img, size)
    return np.asarray(img, dtype=np.uint8)


def alpha(source: str | Path | bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray | None:
    """The transparency of an image file as a (height, width) uint8 array, upright as `decode`
    returns the pixels, or None when the image has none (or every pixel is opaque)."""
    img = _open(source, max_pixels)
    if img.mode not in ("RGBA", "LA", "PA", "La", "RGBa") and "transparency" not in img.info:
        return None
    try:
        img.seek(0)
        img.load()
        try:
            img = ImageOps.exif_transpose(img)
        except Exception:
            pass
        a = np.asarray(img.convert("RGBA"))[..., 3]
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DecodeError(f"truncated or corrupt image data ({exc})") from None
    return a if a.min() < 255 else None


def _from_array(array: np.ndarray) -> Image.Image:
    if array.dtype != np.uint8:
        raise TypeError(f"Expected a uint8 image array. Received dtype={array.dtype}")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return Image.fromarray(array, mode="L")
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        return Image.fromarray(array, mode="RGB" if array.shape[-1] == 3 else "RGBA")
    raise TypeError(f"Expected an image array of shape (h, w), (h, w, 3) or (h, w, 4). Received: {array.shape}")


def thumb(pixels: np.ndarray, side: int = 8) -> bytes:
    """An RGB `side`x`side` thumbnail as bytes: confirms that two images with close hashes really
    show the same picture (the difference hash alone ignores colour and matches some unrelated
    photos with similar light-dark layouts)."""
    small = Image.fromarray(pixels).resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.uint8).tobytes()


def dhash(pixels: np.ndarray) -> int:
    """64-bit difference hash of an RGB array: equal for the same photo saved at another size."""
    grey = Image.fromarray(pixels).convert("L").resize((9, 8), Image.Resampling.BILINEAR)
    g = np.asarray(grey, dtype=np.int16)
    bits = (g[:, 1:] > g[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])
