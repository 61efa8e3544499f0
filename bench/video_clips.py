"""Clip classification (`--task video`): what the recurrent model adds over frame pooling.

Usage: python bench/video_clips.py [--cases motion,camera] [--models frame_pool,cnn_gru,cnn_lstm,r2plus1d_s]
                                   [--per-class 60] [--minutes 4]

Cases (clips generated into a temporary folder, H.264 at 10 fps):
- motion: a square moving left, right, up or down over noise from a random start (16 frames, 64x64):
  no single frame, and no average of frames, tells the direction.
- camera: slow camera moves over ../shared/datasets/flowers5 photos (pan left, pan right, zoom in,
  zoom out; 16 frames, 64x64 from 128x128 photos, different photos in train and validation):
  real footage-like content where the class is the motion, not the picture.
Each model trains with the task's defaults except `--minutes` of budget (`visionflow.train(...,
task="video", model=M, time_budget=minutes)`), then is scored on the validation clips, and its
prediction speed (clips per second, batches of 16, TensorFlow) is measured.
Writes results/video_clips.{md,json}.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from common import arguments, dataset, machine_info  # noqa: E402

RESULTS = HERE / "results"
FRAMES, SIZE = 16, 64


def motion_case(root: Path, per_class: int) -> Path:
    from synthetic import motion_folder

    return motion_folder(root, per_class=per_class, directions=("left", "right", "up", "down"), frames=FRAMES,
                         size=SIZE, splits=(("train", 1.0), ("validation", 1 / 3)))


def camera_case(root: Path, per_class: int) -> Path | None:
    from PIL import Image

    from synthetic import write_video

    flowers = dataset("flowers5")
    if flowers is None:
        return None
    photos = sorted(flowers.rglob("*.jpg"))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(photos))
    n_val = max(2, per_class // 3)
    cursor = 0
    for split, n in (("train", per_class), ("validation", n_val)):
        for move in ("pan_left", "pan_right", "zoom_in", "zoom_out"):
            folder = root / split / move
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = Image.open(photos[order[cursor % len(order)]]).convert("RGB")
                cursor += 1
                w, h = img.size
                frames = []
                crop = rng.uniform(0.55, 0.7)  # the window is this share of the photo's side
                cx, cy = rng.uniform(0.35, 0.65, 2)
                for t in np.linspace(0, 1, FRAMES):
                    side = crop
                    x = cx
                    if move == "pan_left":
                        x = cx + 0.15 * (0.5 - t)
                    elif move == "pan_right":
                        x = cx - 0.15 * (0.5 - t)
                    elif move == "zoom_in":
                        side = crop * (1.15 - 0.3 * t)
                    else:
                        side = crop * (0.85 + 0.3 * t)
                    half = side / 2
                    box = (max(0.0, x - half) * w, max(0.0, cy - half) * h, min(1.0, x + half) * w,
                           min(1.0, cy + half) * h)
                    frames.append(np.asarray(img.resize((SIZE, SIZE), Image.Resampling.BILINEAR, box=box)))
                write_video(folder / f"{move}_{i:03d}.mp4", frames, fps=10)
    return root


def clips_per_second(run: Path, data: Path) -> float:
    import visionflow

    model = visionflow.load(run, backend="keras")
    paths = sorted(str(p) for p in (data / "validation").rglob("*.mp4"))[:32]
    clips = np.stack([model.prepare(p) for p in paths])
    model.predict_arrays(clips[:16], batch_size=16)
    start = time.perf_counter()
    model.predict_arrays(clips, batch_size=16)
    return len(clips) / (time.perf_counter() - start)


def decode_clips_per_second(data: Path) -> float:
    from visionflow.video.frames import load_clip

    paths = sorted((data / "validation").rglob("*.mp4"))[:32]
    start = time.perf_counter()
    for p in paths:
        load_clip(p, FRAMES, (SIZE, SIZE))
    return len(paths) / (time.perf_counter() - start)


def main() -> None:
    args = arguments(__doc__, cases="motion,camera", models="frame_pool,cnn_gru,cnn_lstm,r2plus1d_s", per_class=60,
                     minutes=4.0, out="video_clips")
    import visionflow

    info = machine_info()
    work = Path(tempfile.mkdtemp(prefix="bench-clips-"))
    rows = []
    for case in args.cases.split(","):
        start = time.perf_counter()
        data = (motion_case if case == "motion" else camera_case)(work / case, args.per_class)
        if data is None:
            print(f"{case}: skipped (../shared/datasets/flowers5 not found)")
            continue
        made = time.perf_counter() - start
        decode_rate = decode_clips_per_second(data)
        print(f"{case}: clips made in {made:.0f} s; decoding {decode_rate:.1f} clips/s", flush=True)
        for model in args.models.split(","):
            t0 = time.perf_counter()
            result = visionflow.train(data=str(data), task="video", model=model, time_budget=args.minutes,
                                      project=str(work / "runs"), name=f"{case}_{model}", say=lambda line: None)
            val = result.metrics["validation"]
            row = {"case": case, "model": model, "accuracy": val["accuracy"], "clips": val["images"],
                   "epochs": result.metrics["epochs_run"], "train_minutes": result.metrics["train_seconds"] / 60,
                   "minutes": (time.perf_counter() - t0) / 60, "clips_per_second": clips_per_second(result.run_dir, data),
                   "decode_clips_per_second": decode_rate}
            rows.append(row)
            print(f"  {model:12s} accuracy {row['accuracy']:.3f} on {row['clips']} clips, {row['epochs']} epochs in "
                  f"{row['train_minutes']:.1f} min; {row['clips_per_second']:.0f} clips/s (model), "
                  f"{decode_rate:.1f} clips/s (decoding)", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"machine": info, "rows": rows, "args": vars(args)}, indent=2))
    lines = ["# Clip classification (bench/video_clips.py)", "",
             f"{info['cpu']}, {info['cores']} cores; {FRAMES} frames at {SIZE}x{SIZE}, {args.per_class} training clips "
             f"per class, {args.minutes:g} min budget per model.", "",
             "| case | model | validation accuracy | clips | epochs | train min | model clips/s | decode clips/s |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['model']} | {r['accuracy']:.3f} | {r['clips']} | {r['epochs']} | "
              f"{r['train_minutes']:.1f} | {r['clips_per_second']:.0f} | {r['decode_clips_per_second']:.1f} |" for r in rows]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / args.out}.md")


if __name__ == "__main__":
    main()
