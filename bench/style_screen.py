"""Style transfer screening: johnson_s trained directly on the perceptual loss, against Gatys.

Usage: python bench/style_screen.py [--style PATH] [--style-weight 1 5] [--seconds 180] [--patch 128]
       [--photos 8] [--gatys-steps 200] [--residual] [--batch 8] [--content-layer block5_expand_relu]
       [--out style_screen]

Before `--task style` exists as a command, this measures its parts
(`visionflow.tasks.style`): for each style weight, the network trains for `--seconds` on random
crops of hymenoptera's training photos, then restyles the centre crops (192 px) of `--photos`
validation photos; Gatys' optimisation restyles the same crops with the same loss. Prints and
writes the mean style distance (to the style image) and content distance (to the photo) of the
inputs, the network's outputs and Gatys' outputs, and the seconds per image of each. Without
`--style`, the style is a generated stained-glass picture (coloured cells, dark lead lines).
Writes results/NAME.{md,json} and NAME_W.jpg triptychs (photo | network | Gatys).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import dataset, machine_info  # noqa: E402

RESULTS = HERE / "results"
CROP = 192


def stained_glass(side: int = 256, cells: int = 60, seed: int = 0) -> np.ndarray:
    """Voronoi cells of six saturated colours with dark borders and some grain."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, side, (cells, 2))
    palette = np.array([[200, 30, 40], [30, 60, 180], [240, 190, 30], [40, 140, 60], [120, 40, 150], [230, 110, 20]],
                       float)
    colours = palette[rng.integers(len(palette), size=cells)] * rng.uniform(0.7, 1.1, (cells, 1))
    yy, xx = np.mgrid[:side, :side]
    d = np.sqrt((yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2)
    near = np.sort(d, -1)
    image = colours[np.argmin(d, -1)]
    image[(near[..., 1] - near[..., 0]) < 2.5] = 25  # lead lines where two cells meet
    return np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)


def centre(image: np.ndarray, side: int = CROP) -> np.ndarray:
    h, w = image.shape[:2]
    s = min(h, w, side) // 4 * 4
    return image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]


def screen(style, weight: float, tv: float, seconds: float, patch: int, train, photos, gatys_steps: int, out: Path,
           residual: bool = False, batch: int = 8, content_layer: str = "block5_expand_relu"):
    import keras
    import tensorflow as tf
    from PIL import Image

    from visionflow.tasks.style import gatys
    from visionflow.tasks.style.losses import PerceptualLoss, encode_png
    from visionflow.tasks.style.models import johnson_s

    keras.utils.set_random_seed(0)
    loss = PerceptualLoss(encode_png(style), style_weight=weight, tv_weight=tv, content_layer=content_layer)
    net = johnson_s(residual=residual)
    net.compile(keras.optimizers.Adam(1e-3), loss=loss)
    rng = np.random.default_rng(0)

    def crops():
        while True:
            items = []
            for _ in range(batch):
                im = train[rng.integers(len(train))]
                y, x = rng.integers(im.shape[0] - patch + 1), rng.integers(im.shape[1] - patch + 1)
                items.append(im[y:y + patch, x:x + patch])
            items = np.stack(items).astype(np.float32)
            yield items, items

    steps = []
    start = time.perf_counter()
    stop = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: (
        steps.append(b), setattr(net, "stop_training", time.perf_counter() - start > seconds)))
    data = tf.data.Dataset.from_generator(crops, output_signature=(tf.TensorSpec((batch, patch, patch, 3), tf.float32),) * 2)
    net.fit(data, steps_per_epoch=10**6, epochs=1, verbose=0, callbacks=[stop])
    run = tf.function(lambda x: net(x, training=False))

    from visionflow.tasks.style import features as F

    fixed = F.Measure(loss.net if content_layer == F.CONTENT_LAYER else F.extractor(), style)

    def distances(image, photo):  # style, content at the trained tap, content at block5 (the default's)
        t = loss.terms(photo[None].astype(np.float32), np.asarray(image, np.float32)[None])[0]
        return float(t["style"][0]), float(t["content"][0]), fixed.distances(image, photo)["content"]

    rows = {"input": [], "network": [], "gatys": []}
    seconds_per = {"network": [], "gatys": []}
    strips = []
    for photo in photos:
        rows["input"].append(distances(photo, photo))
        run(photo[None].astype(np.float32))  # traced once per size, not timed
        t0 = time.perf_counter()
        made = np.clip(np.round(np.asarray(run(photo[None].astype(np.float32)))[0]), 0, 255).astype(np.uint8)
        seconds_per["network"].append(time.perf_counter() - t0)
        rows["network"].append(distances(made, photo))
        optimised, took = gatys.restyle(photo, loss, steps=gatys_steps)
        seconds_per["gatys"].append(took)
        rows["gatys"].append(distances(optimised, photo))
        if len(strips) < 3:
            strips.append(np.concatenate([photo, made, optimised], 1))
    Image.fromarray(np.concatenate([s[:min(x.shape[0] for x in strips)] for s in strips], 0)).save(out, quality=88)
    means = {k: dict(zip(("style", "content", "content_block5"), np.mean(v, 0).round(4).tolist()))
             for k, v in rows.items()}
    return {"style_weight": weight, "tv_weight": tv, "residual": residual, "batch": batch, "content_layer": content_layer, "train_steps": len(steps), "distances": means,
            "seconds_per_image": {k: round(float(np.mean(v)), 4) for k, v in seconds_per.items()}}


def main() -> None:
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="")
    parser.add_argument("--style-weight", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--tv-weight", type=float, default=0.0)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--gatys-steps", type=int, default=200)
    parser.add_argument("--out", default="style_screen")
    parser.add_argument("--residual", action="store_true", help="johnson_s(residual=True): the photo plus a learnt change")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--content-layer", default="block5_expand_relu")
    args = parser.parse_args()
    data = dataset("hymenoptera")
    if data is None:
        sys.exit("../shared/datasets/hymenoptera not found")
    style = np.asarray(Image.open(args.style).convert("RGB")) if args.style else stained_glass()
    load = lambda p: np.asarray(Image.open(p).convert("RGB"))  # noqa: E731
    train = [load(p) for p in sorted((data / "train").glob("*/*"))]
    train = [im for im in train if min(im.shape[:2]) >= args.patch]
    val = sorted((data / "val").glob("*/*"))
    photos = [centre(load(p)) for p in val[::max(1, len(val) // args.photos)][:args.photos]]
    RESULTS.mkdir(exist_ok=True)
    rows = []
    for weight in args.style_weight:
        rows.append(screen(style, weight, args.tv_weight, args.seconds, args.patch, train, photos, args.gatys_steps,
                           RESULTS / f"{args.out}_{weight:g}.jpg", args.residual, args.batch,
                           args.content_layer))
        print(json.dumps(rows[-1]), flush=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"machine": machine_info(), "args": vars(args), "results": rows},
                                                         indent=2))
    lines = ["# Style transfer screening", "", f"`python bench/style_screen.py {' '.join(sys.argv[1:])}`: johnson_s "
             f"trained {args.seconds:g} s on {args.patch}-px crops of hymenoptera/train, {len(photos)} validation photos "
             f"(centre {CROP}-px crops); style: {args.style or 'generated stained glass'}.", "",
             "| style weight | steps | input style | network style (change) | network content | Gatys style | "
             "Gatys content | network content / Gatys | s/image network | s/image Gatys | speed-up |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        d, s = r["distances"], r["seconds_per_image"]
        lines.append(f"| {r['style_weight']:g} | {r['train_steps']} | {d['input']['style']:.3f} | "
                     f"{d['network']['style']:.3f} ({d['network']['style'] / d['input']['style'] - 1:+.0%}) | "
                     f"{d['network']['content']:.3f} | {d['gatys']['style']:.3f} | {d['gatys']['content']:.3f} | "
                     f"{d['network']['content'] / max(d['gatys']['content'], 1e-9):.1f}x | {s['network']:.3f} | "
                     f"{s['gatys']:.2f} | {s['gatys'] / max(s['network'], 1e-9):.0f}x |")
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
