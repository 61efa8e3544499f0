"""Every colour mode and format arrives as correct 8-bit RGB; broken files raise DecodeError with a reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import jpeg_bytes, png_with_huge_header, write_bad_corpus
from visionflow.data.decode import DecodeError, decode, dhash, probe


def _save(img: Image.Image, path, **kwargs):
    img.save(path, **kwargs)
    return path


def test_exif_rotated_jpeg_comes_out_rotated(tmp_path):
    # 40 wide x 20 high: left half red, right half blue; EXIF orientation 6 = rotate 90 degrees clockwise.
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)
    pixels[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(Image.fromarray(pixels), tmp_path / "rotated.jpg", exif=exif, quality=95)
    out = decode(path)
    assert out.shape == (40, 20, 3) and out.dtype == np.uint8
    top, bottom = out[5, 10], out[35, 10]
    assert top[0] > 200 and top[2] < 60, f"top should be red after rotation, got {top}"
    assert bottom[2] > 200 and bottom[0] < 60, f"bottom should be blue after rotation, got {bottom}"


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    path = _save(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), tmp_path / "cmyk.jpg", quality=95)
    with Image.open(path) as img:
        assert img.mode == "CMYK"
    out = decode(path)
    assert out.shape == (32, 32, 3)
    r, g, b = out[16, 16].astype(int)
    assert r > 200 and g < 60 and b < 60, f"CMYK red should decode as red, got {(r, g, b)}"


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    values = np.full((16, 16), 32896, dtype=np.uint16)  # 32896 / 257 = 128
    values[:, :8] = 65535
    path = _save(Image.fromarray(values), tmp_path / "deep.png")
    with Image.open(path) as img:
        assert img.mode.startswith("I")
    out = decode(path)
    assert out.dtype == np.uint8 and out.shape == (16, 16, 3)
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[0, 12]) == (128, 128, 128)


def test_palette_png_with_transparency_composites_on_white(tmp_path):
    img = Image.new("P", (10, 10), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 5, 10))  # left half palette index 1 (red), right half index 0
    path = _save(img, tmp_path / "palette.png", transparency=0)
    out = decode(path)
    assert tuple(out[5, 2]) == (255, 0, 0)
    assert tuple(out[5, 8]) == (255, 255, 255), "transparent pixels must become white"


def test_rgba_composites_on_white(tmp_path):
    path = _save(Image.new("RGBA", (8, 8), (255, 0, 0, 128)), tmp_path / "rgba.png")
    r, g, b = decode(path)[0, 0].astype(int)
    assert r == 255 and 120 <= g <= 135 and 120 <= b <= 135


def test_grayscale_becomes_three_equal_channels(tmp_path):
    path = _save(Image.new("L", (8, 8), 100), tmp_path / "grey.png")
    out = decode(path)
    assert out.shape == (8, 8, 3) and tuple(out[3, 3]) == (100, 100, 100)


@pytest.mark.parametrize("fmt,ext", [("BMP", "bmp"), ("WEBP", "webp"), ("TIFF", "tif"), ("PNG", "png")])
def test_other_formats_decode_and_resize(tmp_path, fmt, ext):
    path = _save(Image.new("RGB", (30, 20), (10, 20, 30)), tmp_path / f"x.{ext}", format=fmt)
    out = decode(path, size=(12, 16))
    assert out.shape == (12, 16, 3)
    assert np.abs(out.astype(int) - (10, 20, 30)).max() <= 3


def test_gif_first_frame(tmp_path):
    frames = [Image.new("P", (8, 8), i) for i in (1, 2)]
    palette = [0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759
    for f in frames:
        f.putpalette(palette)
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    out = decode(tmp_path / "anim.gif")
    assert tuple(out[0, 0]) == (255, 0, 0)


def test_bad_corpus_reasons(tmp_path):
    expected = write_bad_corpus(tmp_path)
    for name in ("empty.jpg", "truncated.jpg", "notes.jpg", "bomb.png"):
        with pytest.raises(DecodeError) as info:
            decode(tmp_path / name, size=(24, 24))
        assert expected[name] in info.value.reason, (name, info.value.reason)


def test_bomb_is_refused_from_the_header_alone():
    with pytest.raises(DecodeError, match="decompression bomb"):
        probe(png_with_huge_header())
    # Just over our own cap but under Pillow's hard limit is refused too.
    with pytest.raises(DecodeError, match="decompression bomb"):
        probe(png_with_huge_header(10_000, 9_500))


def test_disallowed_format_is_refused(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, format="ICO")
    with pytest.raises(DecodeError, match="unsupported image format ICO"):
        decode(buf.getvalue())


def test_arrays_bytes_and_pil_images_are_accepted():
    arr = np.full((10, 12, 3), 7, np.uint8)
    assert decode(arr).shape == (10, 12, 3)
    assert decode(arr[..., 0]).shape == (10, 12, 3)
    assert decode(Image.fromarray(arr), size=(5, 6)).shape == (5, 6, 3)
    assert decode(jpeg_bytes(Image.fromarray(arr))).shape == (10, 12, 3)
    with pytest.raises(TypeError, match="uint8"):
        decode(arr.astype(np.float32))
    with pytest.raises(TypeError, match="Received: int"):
        decode(5)


def test_source_file_is_never_modified(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(Image.new("RGB", (20, 10), (1, 2, 3)), tmp_path / "keep.jpg", exif=exif)
    before = path.read_bytes()
    decode(path, size=(8, 8))
    assert path.read_bytes() == before


def test_dhash_matches_resized_copies_and_differs_otherwise():
    rng = np.random.default_rng(0)
    base = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).resize((128, 128))
    a = decode(base, size=(32, 32))
    b = decode(base.resize((97, 97)), size=(32, 32))
    other = decode(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), size=(32, 32))
    assert bin(dhash(a) ^ dhash(b)).count("1") <= 4
    assert bin(dhash(a) ^ dhash(other)).count("1") > 10
