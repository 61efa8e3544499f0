"""A degradation chain (`--degrade SPEC`): blur, noise and JPEG links applied in order.

A spec is comma-separated links, each a blur (`blur:KIND:LEVEL[:ANGLE]`, see
`visionflow.tasks.restoration.blur`) or a noise kind (`KIND:LEVEL`, see
`visionflow.tasks.restoration.degrade`), e.g. `blur:motion:5-15,gaussian:2-8,jpeg:60-95`: a shaken
camera, sensor noise, then a JPEG file. Every level may be a `LOW-HIGH` range drawn per image.

`apply` runs inside the tf.data pipeline (noise as TensorFlow ops, blur through NumPy and OpenCV);
`apply_one` degrades one image for evaluation and also returns the blur kernel it used, so the
deconvolution baselines that are given the true kernel (upper bounds) can have it.
"""

from __future__ import annotations

import numpy as np

from visionflow.errors import ConfigError
from visionflow.tasks.restoration.blur import Blur, draw, kernel, parse_blur
from visionflow.tasks.restoration.degrade import Noise, add_noise, parse_noise


def parse_chain(spec: str) -> list[Blur | Noise]:
    """`blur:gaussian:2,jpeg:40` -> [Blur, Noise]; ConfigError naming the link otherwise."""
    links: list[Blur | Noise] = []
    for part in (p.strip() for p in str(spec).split(",")):
        if not part:
            raise ConfigError(f"--degrade {spec!r} has an empty link; separate links with single commas "
                              f"(e.g. blur:motion:9,gaussian:5).")
        links.extend([parse_blur(part)] if part.startswith("blur:") else parse_noise(part))
    return links


def text(chain: list[Blur | Noise]) -> str:
    return ",".join(link.text() for link in chain)


def blurs(chain) -> list[Blur]:
    return [link for link in chain if isinstance(link, Blur)]


def _rng(seed, index: int) -> np.random.Generator:
    return np.random.default_rng([int(s) & 0xFFFFFFFF for s in np.ravel(seed)] + [index])


def _blur_draws(blur: Blur, rng: np.random.Generator, n: int) -> list[tuple[float, float]]:
    return [draw(blur, rng) for _ in range(n)]


def _blur_numpy(batch: np.ndarray, blur: Blur, seed, index: int) -> np.ndarray:
    from visionflow.tasks.restoration.blur import blur_image

    out = np.empty(batch.shape, np.float32)
    for i, (level, angle) in enumerate(_blur_draws(blur, _rng(seed, index), len(batch))):
        out[i] = blur_image(batch[i], kernel(blur.kind, level, angle))
    return np.round(np.clip(out, 0.0, 255.0))


def _noise(x, link: Noise, seed, index: int):
    import tensorflow as tf

    return add_noise(x, [link], tf.random.experimental.stateless_fold_in(seed, 100 + index))


def apply(batch, chain, seed):
    """The degraded float32 batch (n, h, w, 3) of pixels in [0, 255], a TensorFlow tensor; `seed` a
    [2] int32 tensor (the same seed degrades the same way)."""
    import tensorflow as tf

    x = tf.convert_to_tensor(batch, tf.float32)
    for i, link in enumerate(chain):
        if isinstance(link, Blur):
            shape = x.shape
            x = tf.numpy_function(lambda b, s, link=link, i=i: _blur_numpy(b, link, s, i), [x, seed], tf.float32,
                                  stateful=False)
            x.set_shape(shape)
        else:
            x = _noise(x, link, seed, i)
    return x


def blur_kernel(chain, seed: tuple[int, int]) -> np.ndarray | None:
    """The one kernel that the chain's blurs apply to an image degraded with `seed` (several
    blurs: their convolution); None without blur."""
    k = None
    for i, link in enumerate(chain):
        if isinstance(link, Blur):
            this = kernel(link.kind, *_blur_draws(link, _rng(seed, i), 1)[0])
            k = this if k is None else _combine(k, this)
    return k


def apply_one(clean: np.ndarray, chain, seed: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """(degraded uint8 image, the blur kernel applied or None) of one clean uint8 image (h, w, 3):
    what `apply` makes of a batch of that one image with `seed`."""
    import tensorflow as tf

    x = clean[None].astype(np.float32)
    for i, link in enumerate(chain):
        if isinstance(link, Blur):
            x = _blur_numpy(x, link, seed, i)
        else:
            x = _noise(x, link, tf.constant(seed, tf.int32), i).numpy()
    return x[0].astype(np.uint8), blur_kernel(chain, seed)


def _combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The kernel of blurring with `a` then `b`."""
    import cv2

    side = a.shape[0] + b.shape[0] - 1
    padded = np.zeros((side, side), np.float32)
    o = b.shape[0] // 2
    padded[o:o + a.shape[0], o:o + a.shape[1]] = a
    out = cv2.filter2D(padded, -1, b, borderType=cv2.BORDER_CONSTANT)
    return (out / out.sum()).astype(np.float32)


def check(spec: str, flag: str = "--degrade") -> list[Blur | Noise]:
    """The parsed chain, or ConfigError saying what the flag takes."""
    try:
        return parse_chain(spec)
    except ConfigError as exc:
        raise ConfigError(f"{flag}: {exc}") from None
