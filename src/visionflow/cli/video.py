"""`visionflow predict RUN clip.mp4`: a video's frames labelled by an image model, as rows per frame
or merged segments, and an annotated copy."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from visionflow.errors import VisionflowError
from visionflow.options import PredictOptions


def predict_videos(predictor, videos: list[str], o: PredictOptions, out, show_progress: bool) -> int:
    """Labels each video's sampled frames and writes them (table, CSV rows or `out`, a JSON array
    writer); returns how many videos failed or stopped early."""
    from visionflow.cli.progress import Progress
    from visionflow.video.annotate import annotate
    from visionflow.video.reader import Sampling
    from visionflow.video.timeline import VideoAnalysis

    if o.segments and not predictor.task.segmentable:
        raise VisionflowError(f"--segments merges labelled frames; a {predictor.task.name} model gives numbers per "
                              f"frame: drop --segments (and see them over time with --plot PNG).")
    sampling = Sampling(fps=o.fps, every=o.every)
    targets = annotate_targets(o.annotate, videos)
    drawings = plot_targets(o.plot, videos)
    cam = None
    if o.cam:
        from visionflow.gradcam import GradCam

        cam = GradCam(predictor)
    failed = 0
    writer = csv.writer(sys.stdout) if o.format == "csv" else None
    if writer is not None:
        writer.writerow(["source", "start", "end", "label", "confidence", "frames"] if o.segments else
                        ["source", "time", "frame", *predictor.task.csv_header(predictor.classes)[1:-1]])
    for video in videos:
        try:
            analysis = VideoAnalysis(predictor, video, sampling, o.batch_size,
                                     keep_frames=bool(targets) or (out is not None and not o.segments))
        except VisionflowError as exc:
            failed += 1
            _error(video, str(exc), o, out)
            continue
        progress = Progress(_expected(analysis.reader.info, sampling), unit="frames") if show_progress else None
        try:
            for i, r in enumerate(analysis.results(), 1):
                if not o.segments:
                    if writer is not None:
                        writer.writerow(r.csv_row(predictor.classes))
                    elif out is None:
                        print(f"{video}\t{r.time:9.3f}s\t#{r.frame}\t{r.prediction.text()}")
                if progress:
                    progress.update(i)
        except VisionflowError as exc:
            failed += 1
            _error(video, str(exc), o, out)
            continue
        timeline = analysis.timeline()
        if progress:
            progress.done(len(timeline.times))
        segments = timeline.segments(o.smooth, o.min_segment) if o.segments else None
        if out is not None:
            out.write(timeline.to_dict(segments=o.segments, frames=not o.segments, smooth=o.smooth,
                                       min_seconds=o.min_segment))
        elif segments is not None:
            for s in segments:
                if writer is not None:
                    writer.writerow([video, f"{s.start:.3f}", f"{s.end:.3f}", s.label, f"{s.confidence:.6f}", s.frames])
                else:
                    print(f"{video}\t{s.start:9.3f}s - {s.end:9.3f}s\t{s.label} {s.confidence:.3f}")
        rate = f", {len(timeline.times) / timeline.seconds:.1f} frames/s" if timeline.seconds > 0 else ""
        print(f"{video}: {len(timeline.times)} frame(s) labelled ({timeline.sampling}) in {timeline.seconds:.1f} s{rate}",
              file=sys.stderr)
        if timeline.stopped is not None:
            failed += 1
            print(timeline.stopped.sentence(video), file=sys.stderr)
        if targets:
            written = annotate(timeline, video, targets[video], segments=segments, cam=cam)
            print(f"{video}: annotated copy written to {written}", file=sys.stderr)
        if drawings:
            from visionflow.plots import timeline_plot

            timeline_plot(timeline, drawings[video])
            print(f"{video}: timeline plot written to {drawings[video]}", file=sys.stderr)
    if failed:
        print(f"{failed} of {len(videos)} video(s) could not be read to the end.", file=sys.stderr)
    return failed


def annotate_targets(annotate: str | None, videos: list[str]) -> dict[str, Path]:
    """Where each video's annotated copy goes: the file itself for one video, else DIR/<stem>.annotated.mp4
    (DIR is made; two videos with one stem are refused rather than overwritten)."""
    from visionflow.video.annotate import CONTAINERS, check_output

    return _per_video("--annotate", annotate, videos, CONTAINERS, ".annotated.mp4", "annotate", check_output)


def plot_targets(plot: str | None, videos: list[str]) -> dict[str, Path]:
    """Where each video's timeline plot goes: the .png itself for one video, else DIR/<stem>.timeline.png."""
    def checked(path: Path, video: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    return _per_video("--plot", plot, videos, (".png",), ".timeline.png", "plot", checked)


def _per_video(flag: str, given: str | None, videos: list[str], suffixes, ending: str, verb: str,
               check) -> dict[str, Path]:
    """The file each video's output of `flag` goes to: `given` itself (ending in one of `suffixes`)
    for one video, else given/<stem><ending> (the folder is made); `check(path, video)` vets each."""
    if not given:
        return {}
    target = Path(given)
    if target.suffix.lower() in suffixes:
        if len(videos) != 1:
            raise VisionflowError(f"{flag} {given} names one file, for {len(videos)} videos: give a folder.")
        return {videos[0]: check(target, videos[0])}
    if (target.exists() and not target.is_dir()) or (not target.exists() and target.suffix):
        raise VisionflowError(f"{flag} {given}: give a file ending in {', '.join(suffixes)}, or a folder.")
    target.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for video in videos:
        path = target / f"{Path(video).stem}{ending}"
        if path in out.values():
            raise VisionflowError(f"Two videos are named {Path(video).stem}: {verb} them into separate folders.")
        out[video] = check(path, video)
    return out


def _expected(info, sampling) -> int | None:
    """How many frames the sampling will keep, where the container says enough to tell."""
    if sampling.fps is not None:
        return int(info.duration * sampling.fps) + 1 if info.duration else None
    if info.frames is None:
        return None
    return -(-info.frames // sampling.every) if sampling.every else info.frames


def _error(video: str, message: str, o: PredictOptions, out) -> None:
    if out is not None:
        out.write({"source": video, "error": message})
    elif o.format == "csv":
        print(f"ERROR: {message}", file=sys.stderr)
    else:
        print(f"{video}\tERROR: {message}")
