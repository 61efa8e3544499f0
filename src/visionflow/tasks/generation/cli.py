"""`visionflow generate RUN`: new images from a trained generator (--task gan)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from visionflow.cli.common import add_options, add_run, options
from visionflow.settings import check, option
from visionflow.options import UNSAFE_HELP


@dataclass(frozen=True)
class GenerateOptions:
    """`visionflow generate RUN` flags."""

    n: int = option(16, "Images to generate.")
    class_name: str | None = option(None, "Conditional models: the class to generate (its name or index); unset: "
                                        "every class in turn.", metavar="CLASS", kind=str, shown="every class in turn")
    seed: int = option(0, "Seed of the latent vectors: the same seed gives the same images.")
    out: str = option("samples", "Folder for one PNG per image and grid.png; with --interpolate, the strip's .png "
                               "file (or a folder to write interpolation.png into).", metavar="PATH")
    interpolate: int | None = option(None, "Write one strip of N images walking between two latent vectors instead.",
                                   metavar="N", kind=int, shown="off")
    columns: int = option(8, "Images per row of grid.png.")
    unsafe: bool = option(False, UNSAFE_HELP)

    def __post_init__(self) -> None:
        from visionflow.tasks.generation.sampler import MAX_SAMPLES

        check(1 <= self.n <= MAX_SAMPLES, f"--n must be between 1 and {MAX_SAMPLES}. Received: {self.n}")
        check(self.interpolate is None or self.interpolate >= 2,
               f"--interpolate needs at least 2 steps. Received: {self.interpolate}")
        check(self.columns >= 1, f"--columns must be at least 1. Received: {self.columns}")


def add(sub) -> None:
    g = sub.add_parser("generate", help="Generate images with a trained GAN (PNG files and a grid).")
    add_run(g, "Run folder of a --task gan model, its model.keras (labels.json beside it), or one of its export "
               "folders (RUN/export/onnx, ...).")
    g.add_argument("--class", dest="class_name", metavar="CLASS", default=argparse.SUPPRESS,
                   help="Conditional models: the class to generate (its name or index); unset: every class in turn.")
    add_options(g, GenerateOptions, skip=("class_name",))


def run(args: argparse.Namespace) -> int:
    from visionflow.tasks.generation.sampler import load_sampler
    from visionflow.tasks.generation.write import write_samples, write_strip

    o = options(args, GenerateOptions)
    sampler = load_sampler(args.run, unsafe=o.unsafe)
    if o.interpolate:
        path = write_strip(sampler.interpolate(o.interpolate, o.class_name, o.seed), o.out)
        print(f"written: {path} ({o.interpolate} images from one latent vector to another)")
        return 0
    images, labels = sampler.generate(o.n, o.class_name, o.seed)
    written = write_samples(images, labels, sampler.classes, o.out, o.columns, o.seed)
    which = ""
    if sampler.conditional:
        which = f" of class {sampler.classes[int(labels[0])]}" if o.class_name is not None else ", every class in turn"
    print(f"written: {len(images)} images{which} ({images.shape[1]}x{images.shape[2]}) to {o.out}/, and {written[0]}")
    return 0


def evaluate(args: argparse.Namespace, o) -> int:
    """`visionflow evaluate` of a GAN: its samples measured against a folder of real images."""
    import os

    from visionflow.errors import VisionflowError
    from visionflow.runtime import silenced
    from visionflow.tasks.generation.evaluate import evaluate_folder
    from visionflow.tasks.generation.quality import format_table

    if o.slices:
        raise VisionflowError("--slices measures models that label images; this run makes images.")
    if o.pairs or o.labels:
        raise VisionflowError("--pairs and --labels are not for a GAN; give a folder of real images.")
    with silenced():  # TensorFlow's load-time notices; a GAN is measured in TensorFlow
        import tensorflow  # noqa: F401
    result = evaluate_folder(args.run, args.data, out=o.out, unsafe=o.unsafe, features=o.features)
    print(format_table(result))
    print(f"\nwritten: {os.path.join(result['out'], 'report.html')} and metrics.json beside it")
    return 0
