"""`make demo`: scikit-learn's handwritten digits as an image folder, trained end to end.

The 1,797 8x8 digit scans that ship with scikit-learn are written as 32x32 PNGs into
DIR/digits/{train,validation}/<digit>/, then small_cnn is trained, evaluated and used to predict.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from visionflow.config import TrainConfig

DEMO_SIZE = 32
DEMO_CONFIG = dict(model="small_cnn", image_size=DEMO_SIZE, epochs=12, batch_size=32, learning_rate=3e-3,
                   lr_schedule="cosine", augment="none", patience=0, seed=0)


def export_digits(root: Path, val_fraction: float = 0.2, seed: int = 0) -> Path:
    """Writes the digits as PNG files; returns the dataset folder. Existing files are reused."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = root / "digits"
    if (data / "train").is_dir() and (data / "validation").is_dir():
        return data
    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).astype(np.uint8)  # (1797, 8, 8), 0..16 -> 0..255
    idx = np.arange(len(images))
    train_idx, val_idx = train_test_split(idx, test_size=val_fraction, stratify=digits.target, random_state=seed)
    tmp = root / ".digits.partial"
    for split, ids in (("train", train_idx), ("validation", val_idx)):
        for i in ids:
            folder = tmp / split / str(digits.target[i])
            folder.mkdir(parents=True, exist_ok=True)
            img = Image.fromarray(255 - images[i], mode="L").resize((DEMO_SIZE, DEMO_SIZE), Image.Resampling.BICUBIC)
            img.save(folder / f"{i:04d}.png")
    tmp.rename(data)
    return data


def run_demo(out: str | Path = "demo", epochs: int | None = None) -> int:
    """Exports the digits, trains, evaluates and predicts; prints where everything is."""
    from visionflow.evaluation import evaluate
    from visionflow.predict import load
    from visionflow.workflow import train

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = export_digits(out)
    print(f"digits written as PNG images to {data}/(train|validation)/<digit>/")
    cfg = TrainConfig(data=str(data), project=str(out / "runs"), **DEMO_CONFIG)
    if epochs:
        cfg = cfg.replace(epochs=epochs)
    run = train(cfg)
    result = evaluate(run.run_dir, data / "validation")
    print(f"\nevaluate: accuracy {result['accuracy']:.4f} on {result['images']} validation images "
          f"-> {result['out']}/metrics.json")
    model = load(run.run_dir)
    samples = sorted((data / "validation").glob("*/*.png"))[::72][:5]
    print("\npredict:")
    for pred in model.predict([str(p) for p in samples], top_k=2):
        truth = Path(pred.source).parent.name
        top = ", ".join(f"{label} {p:.3f}" for label, p in pred.top)
        print(f"  {pred.source}  true {truth}  ->  {top}")
    print(f"\nresults: {run.run_dir}")
    print(f"  model        {run.run_dir / 'model.keras'}")
    print(f"  metrics      {run.run_dir / 'metrics.json'}  (validation accuracy {run.metrics['validation']['accuracy']:.4f})")
    print(f"  report       {run.run_dir / 'report.html'}  (open in a browser)")
    print(f"  plots        {run.run_dir / 'plots'}")
    print(f"  tensorboard  {run.run_dir / 'tensorboard'}")
    return 0
