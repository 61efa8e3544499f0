"""`visionflow generate RUN`: new images from a trained generator (--task gan)."""

from __future__ import annotations

import argparse

from visionflow.cli.common import add_options, add_run, options
from visionflow.options import GenerateOptions


def add(sub) -> None:
    g = sub.add_parser("generate", help="Generate images with a trained GAN (PNG files and a grid).")
    add_run(g, "Run folder of a --task gan model, its model.keras (labels.json beside it), or one of its export "
               "folders (RUN/export/onnx, ...).")
    g.add_argument("--class", dest="class_name", metavar="CLASS", default=argparse.SUPPRESS,
                   help="Conditional models: the class to generate (its name or index); unset: every class in turn.")
    add_options(g, GenerateOptions, skip=("class_name",))


def run(args: argparse.Namespace) -> int:
    from visionflow.generation.sampler import load_sampler
    from visionflow.generation.write import write_samples, write_strip

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
