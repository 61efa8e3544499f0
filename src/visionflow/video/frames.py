"""A video as a clip: a fixed number of frames taken uniformly over its length.

A clip becomes `frames` pictures taken uniformly over its length (the middle of each of
`frames` equal stretches; a clip with fewer frames repeats some), each brought to the model's
input size with the run's resize mode, so a model sees every clip, long or short, the same way.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from visionflow.data.resize import STRETCH, Resize
from visionflow.video.reader import VideoReader, to_input


def clip_indices(total: int, frames: int) -> np.ndarray:
    """Which of `total` frames to take for `frames` uniform samples: the middle frame of each of
    `frames` equal stretches (repeats when the clip is shorter)."""
    return np.minimum(((np.arange(frames) + 0.5) * total / frames).astype(np.int64), total - 1)


def load_clip(source, frames: int, size: tuple[int, int], resize: Resize = STRETCH, name: str | None = None) -> np.ndarray:
    """`frames` uniformly sampled frames of a video, upright RGB at `size`: (frames, h, w, 3) uint8.

    Frames are decoded in order and only the chosen ones are converted and resized (where the
    container says how many frames it holds; otherwise every frame is kept small until the end).

    Raises:
        VideoError: the video cannot be read or holds no frame (a file cut short gives the
            frames it has, spread over what could be read).
    """
    with VideoReader(source, name=name) as video:
        declared = video.info.frames
        kept: dict[int, np.ndarray] = {}
        wanted = set(clip_indices(declared, frames).tolist()) if declared else None
        last = -1
        for frame in video.frames(raw=True):
            last = frame.index
            if wanted is None or frame.index in wanted:
                kept[frame.index] = to_input(frame.pixels, size, resize)
        count = last + 1
    if wanted is not None and count < declared:  # fewer frames than declared: resample what was read
        wanted = None
    picks = clip_indices(count, frames)
    if wanted is None or any(i not in kept for i in picks):
        have = sorted(kept)
        picks = [have[min(len(have) - 1, int(j * len(have) / count))] for j in picks]
    return np.stack([kept[int(i)] for i in picks])


def load_clips(paths: list[str], frames: int, size: tuple[int, int], resize: Resize = STRETCH,
               workers: int = 2) -> np.ndarray:
    """Every clip of `paths` as (n, frames, h, w, 3) uint8, decoded in `workers` threads."""
    out = np.empty((len(paths), frames, *size, 3), np.uint8)

    def one(i: int) -> None:
        out[i] = load_clip(paths[i], frames, size, resize)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(one, range(len(paths))))
    return out
