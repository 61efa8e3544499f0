"""Sampling from a trained generator: seeded latents, classes by name or index, interpolation.

Latent vectors come from NumPy's seeded generator, so the same (n, class, seed) gives the same
images from the .keras model, its exports and the service.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.errors import ConfigError, ModelError

MAX_SAMPLES = 10_000  # per call of `generate`


def latents(n: int, dim: int, seed: int) -> np.ndarray:
    """(n, dim) float32 standard-normal latent vectors from `seed`."""
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """(steps, dim) points on the great circle from a to b (a Gaussian latent's typical set is a
    shell, which straight lines cut through)."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float64)[:, None]
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cos = np.dot(a64, b64) / (np.linalg.norm(a64) * np.linalg.norm(b64))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return ((1 - t) * a64 + t * b64).astype(np.float32)
    return ((np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)).astype(np.float32)


class Sampler:
    """A trained generator and its metadata (`load_sampler` opens one from a run folder).

    Args:
        model: the Keras generator (latent [+ class] -> pixels in [0, 255]), or None for an export.
        meta: the run's labels.json (classes, conditional, latent_dim, image_size).
        source: where it was loaded from.
        call: how to run it, `call(latents, classes or None) -> pixels`; default the Keras model.
    """

    def __init__(self, model, meta: dict, source: str = "", call=None):
        self.model, self.meta, self.source = model, meta, source
        # (latents, class indices or None) -> pixels: the Keras model's, or an export's runtime
        self.call = call or (lambda z, y: model([z, y] if y is not None else z, training=False))
        self.backend = meta.get("format", "keras")
        self.classes: list[str] = list(meta.get("classes") or [])
        self.conditional = bool(meta.get("conditional"))
        self.latent_dim = int(meta["latent_dim"])
        self.image_size = tuple(meta["image_size"])

    def class_index(self, name) -> int:
        """The index of class `name` (its name, or its index as an int or digit string)."""
        if not self.conditional:
            raise ConfigError(f"{self.source or 'this model'} is unconditional: it takes no class. Train with "
                              f"--conditional on class folders for that.")
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            index = int(name)
        elif str(name) in self.classes:
            return self.classes.index(str(name))
        elif str(name).lstrip("-").isdigit():
            index = int(name)
        else:
            from visionflow.registry import unknown_message

            raise ConfigError(unknown_message("class", str(name), self.classes))
        if not 0 <= index < len(self.classes):
            raise ConfigError(f"class index {index} is out of range: the model has {len(self.classes)} classes "
                              f"(0-{len(self.classes) - 1}: {', '.join(self.classes)}).")
        return index

    def run(self, z: np.ndarray, y: np.ndarray | None = None, batch_size: int = 64) -> np.ndarray:
        """Images (n, h, w, 3) uint8 for latents `z` (n, latent_dim) and class indices `y` (n,)."""
        out = []
        for i in range(0, len(z), batch_size):
            classes = y[i:i + batch_size].astype(np.int32) if self.conditional else None
            pixels = self.call(z[i:i + batch_size], classes)
            out.append(np.clip(np.round(np.asarray(pixels, np.float32)), 0, 255).astype(np.uint8))
        return np.concatenate(out) if out else np.zeros((0, *self.image_size, 3), np.uint8)

    def labels_for(self, n: int, class_=None) -> np.ndarray | None:
        """Class indices for n samples: all `class_`, or (None) cycling through every class."""
        if not self.conditional:
            if class_ is not None:
                self.class_index(class_)  # raises with the reason
            return None
        if class_ is None:
            return np.arange(n) % len(self.classes)
        return np.full(n, self.class_index(class_))

    def generate(self, n: int = 16, class_=None, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
        """(images (n, h, w, 3) uint8, class index of each or None). Conditional models cycle
        through the classes unless `class_` (a name or index) is given."""
        if not 1 <= n <= MAX_SAMPLES:
            raise ConfigError(f"n must be between 1 and {MAX_SAMPLES}. Received: n={n}")
        y = self.labels_for(n, class_)
        return self.run(latents(n, self.latent_dim, seed), y), y

    def interpolate(self, steps: int = 8, class_=None, seed: int = 0) -> np.ndarray:
        """(steps, h, w, 3): a walk between two latent vectors of `seed` (spherical interpolation),
        at one class for a conditional model (the first where none is given)."""
        if steps < 2:
            raise ConfigError(f"--interpolate needs at least 2 steps. Received: {steps}")
        ends = latents(2, self.latent_dim, seed)
        y = self.labels_for(steps, class_ if class_ is not None else (0 if self.conditional else None))
        return self.run(slerp(ends[0], ends[1], steps), y)




def generate(model, n: int = 16, class_name=None, seed: int = 0, unsafe: bool = False) -> np.ndarray:
    """(n, h, w, 3) uint8 images from the generator of `model` (`visionflow.generate`)."""
    return load_sampler(model, unsafe=unsafe).generate(n, class_name, seed)[0]


def load_sampler(run: str | Path, unsafe: bool = False) -> Sampler:
    """The generator of a run folder (its model.keras), of a .keras file with labels.json beside it,
    or of an export folder (RUN/export/onnx, ...; run with that format's runtime).

    Raises:
        ModelError: not a GAN run, or a model that cannot be loaded.
    """
    import keras

    import visionflow.tasks.generation.layers  # noqa: F401  (registers the generator's layers)
    from visionflow.rundir import read_json

    path = Path(run)
    exported = read_json(path / "labels.json") if path.is_dir() and (path / "labels.json").exists() else {}
    if exported.get("task") == "gan" and exported.get("format") not in (None, "keras"):
        from visionflow.tasks.generation.runtime import open_generator

        try:
            return Sampler(None, exported, str(run), call=open_generator(path / exported["artifact"], exported))
        except Exception as exc:  # noqa: BLE001 - any loading failure is the file's problem
            raise ModelError(f"Cannot load {path / exported['artifact']}: {str(exc).splitlines()[0]}") from None
    model_file = path / "model.keras" if path.is_dir() else path
    labels = model_file.parent / "labels.json"
    if not model_file.exists():
        raise ModelError(f"{run} has no model.keras (training has not finished an epoch?)." if path.is_dir()
                         else f"Model file {run} does not exist.")
    try:
        meta = read_json(labels)
    except (OSError, ValueError):
        raise ModelError(f"{labels} is missing or unreadable; a generator needs the labels.json of its run.") from None
    if meta.get("task") != "gan":
        raise ModelError(f"{run} holds a {meta.get('task') or 'classification'} model, not an image generator "
                         f"(train one with --task gan).")
    try:
        model = keras.saving.load_model(model_file, compile=False, safe_mode=not unsafe)
    except Exception as exc:  # noqa: BLE001 - any loading failure is the file's problem
        raise ModelError(f"Cannot load {model_file}: {str(exc).splitlines()[0]}") from None
    return Sampler(model, meta, str(run))
