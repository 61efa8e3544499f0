"""After training and on demand: a GAN's samples measured against real images.

`finish_run` (the end of `visionflow train --task gan`) trains the feature network on the
training images, measures samples against them with the validation images as the real-vs-real
floor, and writes metrics.json, samples/final.png and report.html. `evaluate_folder` (`visionflow
evaluate RUN DIR`) does the same on any folder of real images: half of them are the reference,
the other half the floor.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.errors import DataError

MAX_REFERENCE = 5000  # real images decoded as the reference set
MIN_HELDOUT = 10


def decode_all(records: list, size: tuple[int, int], resize: str) -> np.ndarray:
    """(n, h, w, 3) uint8 pixels of every record at the model's size."""
    from visionflow.data.decode import decode
    from visionflow.data.resize import Resize

    mode = Resize(resize)
    return np.stack([decode(r.path, size=size, resize=mode) for r in records]) if records \
        else np.zeros((0, *size, 3), np.uint8)


def _labels(records: list, classes: list[str]) -> np.ndarray | None:
    if not classes:
        return None
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[r.label] for r in records], np.int64)


def _limit(records: list, limit: int, seed: int) -> list:
    if len(records) <= limit:
        return records
    keep = np.sort(np.random.default_rng(seed).permutation(len(records))[:limit])
    return [records[i] for i in keep]


def generate_like(sampler, labels: np.ndarray | None, n: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """n samples; a conditional model's follow `labels` (the real images' classes) in order."""
    from visionflow.tasks.generation.sampler import latents

    z = latents(n, sampler.latent_dim, seed)
    y = labels[:n] if sampler.conditional and labels is not None else sampler.labels_for(n)
    return sampler.run(z, y), y


def finish_run(task, paths, folder, state: dict, cfg, say: Callable[[str], None]) -> dict:
    """The quality of the kept generator: metrics.json, samples/final.png, plots and report.html."""
    from visionflow.tasks.generation.judge import judge_seconds, train_judge
    from visionflow.tasks.generation.quality import format_table, measure
    from visionflow.tasks.generation.sampler import load_sampler
    from visionflow.rundir import write_json

    sampler = load_sampler(paths.root)
    classes = sampler.classes
    size = tuple(cfg.image_size)
    t0 = time.perf_counter()
    train_recs = _limit(folder.splits["train"], MAX_REFERENCE, cfg.seed)
    val_recs = folder.splits["validation"]
    train, val = decode_all(train_recs, size, cfg.resize), decode_all(val_recs, size, cfg.resize)
    train_y, val_y = _labels(train_recs, classes), _labels(val_recs, classes)
    say(f"\nquality: training the feature network on {len(train)} real images ...")
    judge = train_judge(train, train_y, classes, cfg.seed, heldout=(val, val_y), time_budget_s=judge_seconds(cfg))
    judge.save(paths.root)
    generated, gen_y = generate_like(sampler, val_y, len(val), cfg.seed + 1)
    quality = measure(judge, generated, train, val, cfg.seed, gen_y, val_y)
    metrics = {"task": "gan", "model": cfg.model, "conditional": sampler.conditional, "epochs_run": state["epoch"],
               "stopped": state["stopped"], "train_seconds": round(state.get("train_seconds", 0.0), 2),
               "warnings": state.get("warnings", []), "feature_network": judge.info, "validation": quality,
               "evaluation_seconds": round(time.perf_counter() - t0, 1)}
    write_json(paths.metrics, metrics)
    _final_grid(sampler, paths.root / "samples" / "final.png", cfg.seed)
    _plots(state["history"], paths.plots)
    say(format_table(quality))
    for warning in metrics["warnings"]:
        say(f"warning: {warning}")
    from visionflow.tasks.generation.report import save_nearest, write_report

    save_nearest(generated, train, quality, paths.plots / "validation_nearest.png")
    write_report(paths.root, sampler.meta, metrics)
    say(f"\nrun folder: {paths.root}  (model.keras: the generator; samples/, metrics.json, report.html, "
        f"history.csv, tensorboard/)")
    return metrics


def _final_grid(sampler, path: Path, seed: int) -> None:
    from visionflow.tasks.generation.grid import display_scale, make_grid, save_png
    from visionflow.tasks.generation.monitor import grid_inputs

    z, y, columns = grid_inputs(len(sampler.classes) if sampler.conditional else 0, sampler.latent_dim, seed)
    images = sampler.run(z, y)
    save_png(make_grid(images, columns), path, display_scale(images.shape[1]))


def _plots(history: list[dict], folder: Path) -> None:
    from visionflow.plots import plt, save

    if not history:
        return
    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, label in (("d_loss", "discriminator"), ("g_loss", "generator")):
        axes[0].plot(epochs, [r.get(key, np.nan) for r in history], "-", label=label)
    axes[0].set_title("Losses")
    axes[1].plot(epochs, [r.get("diversity", np.nan) for r in history], "-", label="samples / real images")
    axes[1].axhline(1.0, color="grey", linestyle="--", linewidth=1)
    axes[1].set_title("Sample diversity")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    save(fig, folder / "training_curves.png")


def evaluate_folder(run: str | Path, data: str | Path, out: str | Path | None = None, unsafe: bool = False,
                    say: Callable[[str], None] | None = None, seed: int = 0, features: str = "visionflow") -> dict:
    """`visionflow evaluate RUN DIR` for a GAN: DIR's real images (class folders named as the
    model's classes for a conditional model) split in halves, one the reference and one the
    floor; samples measured against them on the run's feature network. Writes metrics.json and
    report.html to `out` (default RUN/evaluations/<DIR name>) and returns the result with "out".
    `features`: "visionflow" (the run's feature network) or "inception" (Keras' InceptionV3 with
    ImageNet weights, a download on first use: FID and KID proper; no class accuracy)."""
    from visionflow.tasks.generation.judge import load_judge
    from visionflow.tasks.generation.quality import measure
    from visionflow.tasks.generation.sampler import load_sampler
    from visionflow.rundir import write_json

    data = Path(data)
    if not data.is_dir():
        raise DataError(f"Evaluation folder {data} does not exist or is not a folder.")
    sampler = load_sampler(run, unsafe=unsafe)
    root = Path(run) if Path(run).is_dir() else Path(run).parent
    if features not in ("visionflow", "inception"):
        raise DataError(f"features must be visionflow or inception. Received: {features}")
    if features == "inception":
        from visionflow.tasks.generation.judge import InceptionFeatures

        judge = InceptionFeatures()
    else:
        judge = load_judge(root)
    size, resize = sampler.image_size, sampler.meta.get("resize", "stretch")
    if sampler.conditional:
        from visionflow.data.dataset import load_folder

        found = load_folder(data, size, 0.0 if (data / "train").is_dir() else 0.5, seed)
        unknown = sorted(set(found.classes) - set(sampler.classes))
        if unknown:
            raise DataError(f"{data} has class folders the model does not know: {', '.join(unknown)} (its classes: "
                            f"{', '.join(sampler.classes)}).")
        ref_recs, held_recs = found.splits["train"], found.splits["validation"]
    else:
        from visionflow.data.unlabelled import load_unlabelled

        found = load_unlabelled(data, 8, 0.0 if (data / "train").is_dir() else 0.5, seed, purpose="evaluating a GAN")
        ref_recs, held_recs = found.splits["train"], found.splits["validation"]
    if len(held_recs) < MIN_HELDOUT:
        raise DataError(f"{data} has too few usable images to measure against ({len(ref_recs) + len(held_recs)}); "
                        f"give at least {2 * MIN_HELDOUT}.")
    ref_recs = _limit(ref_recs, MAX_REFERENCE, seed)
    reference, heldout = decode_all(ref_recs, size, resize), decode_all(held_recs, size, resize)
    held_y = _labels(held_recs, sampler.classes) if sampler.conditional else None
    generated, gen_y = generate_like(sampler, held_y, len(heldout), seed + 1)
    quality = measure(judge, generated, reference, heldout, seed, gen_y, held_y)
    folder = Path(out) if out else root / "evaluations" / (data.resolve().name or "data")
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {"task": "gan", "data": str(data), "model": str(run), "feature_network": judge.info,
               "evaluation": quality}
    write_json(folder / "metrics.json", metrics)
    from visionflow.tasks.generation.report import save_nearest, write_report

    save_nearest(generated, reference, quality, folder / "plots" / "evaluation_nearest.png")
    write_json(folder / "labels.json", sampler.meta)  # what `visionflow report FOLDER` rebuilds from
    write_report(folder, sampler.meta, metrics, title=f"gan · {data.name}")
    return {**quality, "out": str(folder)}
