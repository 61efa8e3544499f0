"""Generated image folders shared by tests and benchmarks (no real data, nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# Hues of the "easy" classes: plainly different colours a user would expect any model to tell apart.
EASY_COLOURS = {"red": (200, 40, 40), "blue": (40, 60, 200), "green": (40, 180, 60), "yellow": (220, 200, 40),
                "purple": (140, 50, 170)}


def easy_image(colour: tuple[int, int, int], rng: np.random.Generator) -> Image.Image:
    """A mostly solid colour photo-like image: random size and aspect, brightness drift, noise, a darker blob."""
    h, w = int(rng.integers(48, 160)), int(rng.integers(48, 160))
    base = np.array(colour, np.float32) * rng.uniform(0.75, 1.15)
    ramp = np.linspace(-25, 25, w, dtype=np.float32)[None, :, None] * rng.choice([-1, 1])
    img = base[None, None, :] + ramp + rng.normal(0, 18, size=(h, w, 3))
    cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(6, 20)
    yy, xx = np.ogrid[:h, :w]
    img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] *= 0.6
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def easy_folder(root: Path, classes: int = 2, train: int = 25, validation: int = 8, seed: int = 0,
                odd_files: bool = True) -> Path:
    """root/{train,validation}/<colour>/ with `train` and `validation` images per class.

    With `odd_files`, each training class also gets a greyscale-palette, an RGBA and a CMYK image
    (valid, other colour modes) and one truncated JPEG (skipped by the scan).
    """
    rng = np.random.default_rng(seed)
    names = list(EASY_COLOURS)[:classes]
    for split, count in (("train", train), ("validation", validation)):
        for name in names:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                easy_image(EASY_COLOURS[name], rng).save(folder / f"{name}_{i:03d}.jpg", quality=90)
            if odd_files and split == "train":
                img = easy_image(EASY_COLOURS[name], rng)
                img.convert("P").save(folder / "odd_palette.png")
                img.convert("RGBA").save(folder / "odd_rgba.png")
                img.convert("CMYK").save(folder / "odd_cmyk.jpg")
                (folder / "broken.jpg").write_bytes((folder / f"{name}_000.jpg").read_bytes()[:300])
    return root


SHAPES = ("disc", "square", "triangle")


def _draw_shape(draw, shape: str, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
    x0, y0, x1, y1 = box
    if shape == "disc":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([((x0 + x1) // 2, y0), (x1, y1), (x0, y1)], fill=colour)


def shapes_image(present: list[str], rng: np.random.Generator, side: int = 96) -> Image.Image:
    """A noisy background holding each shape of `present` once, of random colour, size and place
    (one per quadrant, so they never overlap); a random aspect ratio around `side`."""
    from PIL import ImageDraw

    h, w = int(side * rng.uniform(0.8, 1.25)), int(side * rng.uniform(0.8, 1.25))
    background = rng.integers(0, 90, 3).astype(np.float32)
    pixels = np.clip(background[None, None, :] + rng.normal(0, 14, (h, w, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(img)
    cells = rng.permutation(4)[:len(present)]
    for shape, cell in zip(present, cells):
        cy, cx = (cell // 2) * h // 2, (cell % 2) * w // 2
        size = int(rng.integers(min(h, w) // 5, min(h, w) // 3))
        y0 = cy + int(rng.integers(2, max(3, h // 2 - size - 2)))
        x0 = cx + int(rng.integers(2, max(3, w // 2 - size - 2)))
        colour = tuple(int(v) for v in rng.integers(120, 256, 3))
        _draw_shape(draw, shape, (x0, y0, x0 + size, y0 + size), colour)
    return img


def shapes_folder(root: Path, images: int = 200, seed: int = 0, side: int = 96, split: bool = False,
                  validation: int = 60) -> Path:
    """A multi-label set: each image holds any subset of SHAPES (empty included), with labels.csv
    (header image,labels; labels separated by spaces). `split` writes root/train and
    root/validation (`validation` images), each with its own labels.csv; else root/labels.csv."""
    rng = np.random.default_rng(seed)
    parts = {"train": images, "validation": validation} if split else {"": images}
    for part, count in parts.items():
        folder = root / part if part else root
        (folder / "images").mkdir(parents=True, exist_ok=True)
        rows = ["image,labels"]
        for i in range(count):
            present = [s for s in SHAPES if rng.random() < 0.5]
            name = f"images/img_{i:04d}.png"
            shapes_image(present, rng, side).save(folder / name)
            rows.append(f"{name},{' '.join(present)}")
        (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def smooth_image(rng: np.random.Generator, height: int = 96, width: int = 96) -> Image.Image:
    """A clean photo-like image: smooth colour gradients plus a few soft-edged discs and bars, the
    kind of content a denoiser can learn in a few epochs (no noise of its own)."""
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        a, b = rng.uniform(-1.5, 1.5, 2)
        img[..., c] = 128 + 60 * np.sin(a * xx / width * np.pi + rng.uniform(0, 6)) * np.cos(b * yy / height * np.pi)
    for _ in range(int(rng.integers(2, 5))):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(6, 24)
        inside = 1.0 / (1.0 + np.exp((np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) - r) / 1.5))
        img = img * (1 - inside[..., None]) + rng.uniform(20, 235, 3)[None, None, :] * inside[..., None]
    top = int(rng.integers(0, height - 8))
    img[top:top + int(rng.integers(3, 8))] = rng.uniform(20, 235, 3)
    return Image.fromarray(np.clip(np.round(img), 0, 255).astype(np.uint8), "RGB")


def smooth_folder(root: Path, images: int = 40, seed: int = 0, side: int = 96, subfolders: bool = True) -> Path:
    """root/ with `images` smooth_image PNGs (in two subfolders when `subfolders`, which restoration
    ignores), varied sizes around `side`."""
    rng = np.random.default_rng(seed)
    for i in range(images):
        folder = root / (f"set{i % 2}" if subfolders else "")
        folder.mkdir(parents=True, exist_ok=True)
        h, w = side + int(rng.integers(0, side // 2)), side + int(rng.integers(0, side // 2))
        smooth_image(rng, h, w).save(folder / f"img{i:03d}.png")
    return root


def write_video(path: Path, frames, fps: float = 10, codec: str = "libx264", pix_fmt: str = "yuv420p",
                rotation: int = 0, times: list[float] | None = None) -> Path:
    """Encodes `frames` (uint8 (h, w, 3) arrays, even sides) with PyAV; `times` (seconds) gives each
    frame its own timestamp (a variable frame rate), `rotation` sets the display rotation."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        first = frames[0]
        stream.width, stream.height, stream.pix_fmt = first.shape[1], first.shape[0], pix_fmt
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for i, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = int(round(times[i] * 1000)), Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def colour_frames(colours: list[tuple[int, int, int]], size: tuple[int, int] = (48, 64)) -> list[np.ndarray]:
    """One flat frame per colour, (h, w, 3) uint8."""
    return [np.full((*size, 3), c, np.uint8) for c in colours]


def colour_model_run(folder: Path, classes=("red", "green", "blue"), image_size: int = 16) -> Path:
    """A run folder whose model answers by mean colour (channel i -> class i): exact and
    deterministic, for checking what a pipeline does with its answers."""
    import json

    import keras

    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    dense = keras.layers.Dense(len(classes), activation="softmax")
    model = keras.Model(inputs, dense(x))
    dense.set_weights([np.eye(3, len(classes), dtype=np.float32) * 20, np.full(len(classes), -10, np.float32)])
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    (folder / "labels.json").write_text(json.dumps({"task": "classification", "classes": list(classes),
                                                    "image_size": [image_size, image_size]}))
    return folder


MOTIONS = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}


def motion_frames(direction: str, rng: np.random.Generator, frames: int = 12, size: int = 32) -> list[np.ndarray]:
    """A bright square moving steadily in `direction` over a noisy background, from a random
    start: no single frame (and no average of frames) tells which way it goes."""
    dy, dx = MOTIONS[direction]
    side = size // 5
    speed = rng.uniform(0.4, 0.8) * (size - side) / frames
    y0, x0 = (float(v) for v in rng.uniform(0, size - side, 2))
    # start far enough from the edge it moves towards to keep moving for the whole clip
    travel = speed * (frames - 1)
    if dy:
        y0 = rng.uniform(0, size - side - travel) if dy > 0 else rng.uniform(travel, size - side)
    if dx:
        x0 = rng.uniform(0, size - side - travel) if dx > 0 else rng.uniform(travel, size - side)
    colour = rng.integers(150, 255, 3)
    out = []
    for t in range(frames):
        img = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
        y, x = int(round(y0 + dy * speed * t)), int(round(x0 + dx * speed * t))
        img[max(0, y):y + side, max(0, x):x + side] = colour
        out.append(img)
    return out


def motion_folder(root: Path, per_class: int = 12, directions=("left", "right"), frames: int = 12, size: int = 32,
                  seed: int = 0, splits=(("train", 1.0), ("validation", 0.5))) -> Path:
    """root/<split>/<direction>/*.mp4: clips whose class is the direction of motion."""
    rng = np.random.default_rng(seed)
    for split, share in splits:
        for direction in directions:
            folder = root / split / direction
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(max(2, int(per_class * share))):
                write_video(folder / f"{direction}_{i:03d}.mp4", motion_frames(direction, rng, frames, size), fps=10)
    return root


def two_colour_folder(root: Path, per_class: int = 24, side: int = 16, seed: int = 0,
                      colours: dict | None = None) -> Path:
    """root/<colour>/ of flat-colour images with a little noise: the smallest data a conditional
    generator must get right (each class's samples in its own colour)."""
    colours = colours or {"red": (210, 30, 30), "blue": (30, 40, 210)}
    rng = np.random.default_rng(seed)
    for name, colour in colours.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.array(colour, np.float32) * rng.uniform(0.85, 1.1) + rng.normal(0, 10, (side, side, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(folder / f"{name}_{i:03d}.png")
    return root


def write_clip_with_sound(path: Path, frames, tone_hz: float | None, fps: float = 10, rate: int = 16000,
                          amplitude: float = 0.5) -> Path:
    """A clip of `frames` (uint8 (h, w, 3), even sides) with a sine tone of `tone_hz` Hz as its sound
    track (AAC), as long as the frames; `tone_hz` 0 writes a silent track, None no audio stream."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        video.width, video.height, video.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        audio = out.add_stream("aac", rate=rate) if tone_hz is not None else None
        for pixels in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            t = np.arange(int(len(frames) / fps * rate)) / rate
            wave = (amplitude * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
            for start in range(0, wave.size, 1024):
                chunk = np.zeros((1, 1024), np.float32)
                part = wave[start:start + 1024]
                chunk[0, :part.size] = part
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate = rate
                frame.pts = start
                for packet in audio.encode(frame):
                    out.mux(packet)
            for packet in audio.encode():
                out.mux(packet)
    return path


def line_image(angle: float, rng: np.random.Generator, side: int = 48) -> Image.Image:
    """A bright line at `angle` degrees (counter-clockwise from the x axis) through a point near the
    centre, over noise: the regression tests' image, whose target is the angle."""
    pixels = rng.integers(0, 90, (side, side, 3)).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    cx, cy = side / 2 + rng.uniform(-4, 4), side / 2 + rng.uniform(-4, 4)
    dx, dy = np.cos(np.radians(angle)) * side, -np.sin(np.radians(angle)) * side
    colour = tuple(int(v) for v in rng.integers(180, 256, 3))
    draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=colour, width=int(rng.integers(2, 4)))
    return image


def line_folder(root: Path, images: int = 400, seed: int = 0, side: int = 48, low: float = -60.0,
                high: float = 60.0) -> Path:
    """`images` line images with labels.csv (image,angle,noise): angle uniform in [low, high], and
    a numeric column unrelated to the picture."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = ["image,angle,noise"]
    for i in range(images):
        angle = float(rng.uniform(low, high))
        line_image(angle, rng, side).save(root / f"line_{i:04d}.png")
        rows.append(f"line_{i:04d}.png,{angle:.3f},{rng.normal():.4f}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root
