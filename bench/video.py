"""Video timelines: decode speed (PyAV vs imageio-ffmpeg), model speed, and the pipeline against both.

Usage: python bench/video.py [--seconds 20] [--image-size 128]

1. A 1280x720 H.264 clip at 30 fps (`--seconds` long) is made from ../shared/datasets/hymenoptera
   photos panned and zoomed (generated pictures where that folder is missing), so the decoder
   works on photo-like content.
2. A small_cnn run is trained for one epoch on generated images at `--image-size` (its weights do
   not matter for speed).
3. Measured in this process, one after another, frames per second:
   - decode only: PyAV (every frame to RGB), imageio-ffmpeg (FFmpeg in a pipe, RGB), and PyAV
     decoding every frame but converting only those of the 2 fps sampling: the floors;
   - converting and resizing on one thread: FFmpeg's scaler (`to_input`, what the pipeline does)
     and whole frames resized by Pillow (what images get), for comparison;
   - model only: the run's predictor (LiteRT through its cached export, as `predict` runs it) on
     frames already at the input size, batches of 32;
   - the pipeline (`visionflow.video.VideoAnalysis`: reader thread, converter threads, model) at
     every frame and at 2 fps, with the peak memory as it goes.
   Target: the pipeline within 1.5x of max(decode time, model time) for the same frames.
Writes results/video.{md,json}.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import arguments, dataset, generated_binary, machine_info, peak_rss_mb  # noqa: E402

RESULTS = HERE / "results"
W, H, FPS = 1280, 720, 30


def make_clip(path: Path, seconds: float) -> str:
    """Pans and zooms across photos, 3 s per photo; returns where the pictures came from."""
    from PIL import Image

    import av

    photos = []
    source = dataset("hymenoptera")
    if source is not None:
        photos = sorted((source / "val").rglob("*.jpg"))[:: 7][:12]
    rng = np.random.default_rng(0)
    if not photos:
        pictures = [Image.fromarray((rng.random((90, 160, 3)) * 255).astype(np.uint8)).resize((1920, 1080),
                                                                                             Image.Resampling.BICUBIC)
                    for _ in range(8)]
        origin = "generated smooth noise pictures"
    else:
        pictures = [Image.open(p).convert("RGB") for p in photos]
        origin = f"{len(pictures)} photos of hymenoptera/val"
    frames = int(seconds * FPS)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for i in range(frames):
            pic = pictures[(i // (3 * FPS)) % len(pictures)]
            t = (i % (3 * FPS)) / (3 * FPS)
            zoom = 1.0 + 0.3 * t
            pw, ph = pic.size
            cw, ch = pw / zoom, min(ph, pw / zoom * H / W)
            left, top = (pw - cw) * t, (ph - ch) / 2
            frame = pic.resize((W, H), Image.Resampling.BILINEAR, box=(left, top, left + cw, top + ch))
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return origin


def decode_pyav(path: Path, sample_fps: float | None = None) -> tuple[int, float]:
    from visionflow.video.reader import Sampling, VideoReader, to_rgb

    start = time.perf_counter()
    n = 0
    with VideoReader(path) as video:
        keep = Sampling(fps=sample_fps).keeper()
        for frame in video.frames(raw=True):
            if keep(frame.index, frame.time):
                to_rgb(frame.pixels)
                n += 1
    return n, time.perf_counter() - start


def decode_imageio(path: Path) -> tuple[int, float]:
    import imageio_ffmpeg

    start = time.perf_counter()
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(reader)
    w, h = meta["size"]
    n = 0
    for raw in reader:
        np.frombuffer(raw, np.uint8).reshape(h, w, 3)
        n += 1
    return n, time.perf_counter() - start


def model_only(predictor, frames: int) -> tuple[int, float]:
    h, w = predictor.image_size
    batch = np.random.default_rng(0).integers(0, 255, (32, h, w, 3), dtype=np.uint8)
    predictor.predict_arrays(batch)  # warm up
    start = time.perf_counter()
    done = 0
    while done < frames:
        n = min(32, frames - done)
        predictor.predict_arrays(batch[:n], batch_size=32)
        done += n
    return done, time.perf_counter() - start


def prepare_only(predictor, path: Path, frames: int) -> tuple[int, float]:
    """Converting and resizing alone (one thread), on decoded frames held in memory."""
    from visionflow.video.reader import VideoReader, to_input

    with VideoReader(path) as video:
        raw = [f.pixels for _, f in zip(range(min(frames, 60)), video.frames(raw=True))]
        start = time.perf_counter()
        for f in raw:
            to_input(f, predictor.image_size, predictor.resize)
        elapsed = time.perf_counter() - start
    return len(raw), elapsed


def prepare_pillow(predictor, path: Path, frames: int) -> tuple[int, float]:
    """What to_input replaces: the whole frame converted to RGB, then resized by Pillow (one thread)."""
    from visionflow.video.reader import VideoReader, to_rgb

    with VideoReader(path) as video:
        raw = [f.pixels for _, f in zip(range(min(frames, 60)), video.frames(raw=True))]
        start = time.perf_counter()
        for f in raw:
            predictor.prepare(to_rgb(f))
        elapsed = time.perf_counter() - start
    return len(raw), elapsed


def scaler_difference(predictor, path: Path) -> float:
    """Mean absolute difference (grey levels) between FFmpeg's scaler and the Pillow path, 60 frames."""
    from visionflow.video.reader import VideoReader, to_input, to_rgb

    with VideoReader(path) as video:
        raw = [f.pixels for _, f in zip(range(60), video.frames(raw=True))]
    a = np.stack([to_input(f, predictor.image_size, predictor.resize) for f in raw]).astype(np.int16)
    b = np.stack([predictor.prepare(to_rgb(f)) for f in raw]).astype(np.int16)
    return float(np.abs(a - b).mean())


def pipeline(predictor, path: Path, fps: float | None) -> dict:
    from visionflow.video import Sampling, VideoAnalysis

    analysis = VideoAnalysis(predictor, path, Sampling(fps=fps), batch_size=32)
    rss = []
    start = time.perf_counter()
    for i, _ in enumerate(analysis.results()):
        if i % 50 == 0:
            rss.append(peak_rss_mb())
    elapsed = time.perf_counter() - start
    timeline = analysis.timeline()
    return {"frames": int(len(timeline.times)), "seconds": elapsed, "rss_first_mb": rss[0] if rss else None,
            "rss_peak_mb": peak_rss_mb()}


def main() -> None:
    args = arguments(__doc__, seconds=20.0, image_size=128, out="video")
    import visionflow

    info = machine_info()
    work = Path(tempfile.mkdtemp(prefix="bench-video-"))
    clip = work / "clip720p.mp4"
    t0 = time.perf_counter()
    origin = make_clip(clip, args.seconds)
    print(f"clip: {clip.stat().st_size / 1e6:.1f} MB, {args.seconds:g} s of {W}x{H} at {FPS} fps from {origin} "
          f"(made in {time.perf_counter() - t0:.0f} s)", flush=True)
    data = generated_binary(work / "data", per_class=40, size=args.image_size)
    cmd = [sys.executable, "-m", "visionflow", "train", str(data), "--model", "small_cnn", "--epochs", "1",
           "--image-size", str(args.image_size), "--project", str(work / "runs")]
    subprocess.run(cmd, check=True, capture_output=True)
    run = work / "runs" / "exp1"
    predictor = visionflow.load(run, say=lambda line: None)
    print(f"model: small_cnn {args.image_size}x{args.image_size}, {predictor.backend} backend", flush=True)

    frames = int(args.seconds * FPS)
    sampled = int(args.seconds * 2)
    results = {}
    for name, fn in [("decode_pyav", lambda: decode_pyav(clip)),
                     ("decode_imageio_ffmpeg", lambda: decode_imageio(clip)),
                     ("decode_pyav_2fps", lambda: decode_pyav(clip, 2.0)),
                     ("prepare_one_thread", lambda: prepare_only(predictor, clip, frames)),
                     ("prepare_pillow_one_thread", lambda: prepare_pillow(predictor, clip, frames)),
                     ("model_every_frame", lambda: model_only(predictor, frames)),
                     ("model_2fps", lambda: model_only(predictor, sampled))]:
        best = min((fn() for _ in range(2)), key=lambda r: r[1])
        results[name] = {"frames": best[0], "seconds": best[1], "fps": best[0] / best[1]}
        print(f"{name:24s} {best[0]:5d} frames in {best[1]:6.2f} s = {best[0] / best[1]:7.1f} frames/s", flush=True)
    difference = scaler_difference(predictor, clip)
    print(f"FFmpeg's scaler vs Pillow: {difference:.2f} grey levels apart on average", flush=True)
    for name, fps in (("pipeline_every_frame", None), ("pipeline_2fps", 2.0)):
        r = min((pipeline(predictor, clip, fps) for _ in range(2)), key=lambda r: r["seconds"])
        r["fps"] = r["frames"] / r["seconds"]
        results[name] = r
        print(f"{name:24s} {r['frames']:5d} frames in {r['seconds']:6.2f} s = {r['fps']:7.1f} frames/s "
              f"(RSS {r['rss_first_mb']:.0f} MB at the first frame, peak {r['rss_peak_mb']:.0f} MB)", flush=True)

    ratios, sums = {}, {}  # on 2 cores both stages use every core, so their sum is the other bound
    for case, decode, model in (("every frame", "decode_pyav", "model_every_frame"),
                                ("2 fps", "decode_pyav_2fps", "model_2fps")):
        key = "pipeline_every_frame" if case == "every frame" else "pipeline_2fps"
        floor = max(results[decode]["seconds"], results[model]["seconds"])
        total = results[decode]["seconds"] + results[model]["seconds"]
        ratios[case] = results[key]["seconds"] / floor
        sums[case] = results[key]["seconds"] / total
        print(f"{case}: pipeline {results[key]['seconds']:.2f} s vs max(decode {results[decode]['seconds']:.2f} s, "
              f"model {results[model]['seconds']:.2f} s) = {ratios[case]:.2f}x (target <= 1.5x); "
              f"vs their sum {total:.2f} s = {sums[case]:.2f}x", flush=True)

    RESULTS.mkdir(exist_ok=True)
    payload = {"machine": info, "clip": {"seconds": args.seconds, "width": W, "height": H, "fps": FPS,
                                         "source": origin, "bytes": clip.stat().st_size},
               "model": {"name": "small_cnn", "image_size": args.image_size, "backend": predictor.backend},
               "results": results, "ratio_to_floor": ratios, "ratio_to_sum": sums,
               "scaler_vs_pillow_mean_abs_levels": difference}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(payload, indent=2))
    lines = [f"# Video timelines (bench/video.py)", "",
             f"{info['cpu']}, {info['cores']} cores. Clip: {args.seconds:g} s of {W}x{H} H.264 at {FPS} fps "
             f"({origin}); model: small_cnn at {args.image_size}x{args.image_size}, {predictor.backend} backend.", "",
             "| stage | frames | seconds | frames/s |", "|---|---|---|---|"]
    for name, r in results.items():
        memory = f" (RSS {r['rss_first_mb']:.0f} MB at the first frame, peak {r['rss_peak_mb']:.0f} MB)" \
            if "rss_peak_mb" in r else ""
        lines.append(f"| {name}{memory} | {r['frames']} | {r['seconds']:.2f} | {r['fps']:.1f} |")
    lines += ["", f"FFmpeg's scaler (`to_input`) vs the Pillow path: {difference:.2f} grey levels apart on average.", "",
              "| sampling | pipeline / max(decode, model) | target | pipeline / (decode + model) |",
              "|---|---|---|---|"]
    lines += [f"| {case} | {ratio:.2f}x | <= 1.5x | {sums[case]:.2f}x |" for case, ratio in ratios.items()]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / args.out}.md")


if __name__ == "__main__":
    main()
