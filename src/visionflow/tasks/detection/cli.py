"""The command line of detection models: `visionflow predict RUN INPUT...` lists the boxes of
images (and of the sampled frames of videos, with --track ids and --count-line counts), and
`visionflow evaluate RUN DIR` scores them by the COCO protocol."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from visionflow.cli.common import JsonArray
from visionflow.errors import VisionflowError
from visionflow.network.cli import Inputs, analyse_videos, exit_code, label_flags, named, refuse, save
from visionflow.network.cli import evaluate as evaluate_command

CSV_HEADER = ["source", "frame", "time", "id", "label", "score", "x1", "y1", "x2", "y2", "error"]


class _Rows:
    """Writes detections as a table, JSON array or CSV (one row per box)."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        self.json = JsonArray() if fmt == "json" else None
        self.csv = None

    def image(self, det) -> None:
        if self.json is not None:
            self.json.write(det.to_dict())
        elif self.fmt == "csv":
            self._csv_boxes(det.source, "", "", det.boxes, det.error)
        elif det.ok:
            print(f"{det.source}\t{det.text()}")
        else:
            print(f"{det.source}\tERROR: {det.error}")

    def frame(self, row: dict) -> None:
        if self.json is not None:
            self.json.write(row)
        elif self.fmt == "csv":
            self._csv_boxes(row["source"], row["frame"], row["time"], row["boxes"], None)
        else:
            text = ", ".join(f"{b['label']}{' #' + str(b['id']) if b.get('id') else ''} {b['score']:.2f} "
                             f"[{', '.join(f'{v:.0f}' for v in b['box'])}]" for b in row["boxes"]) or "no objects"
            print(f"{row['source']}@{row['time']:.2f}s\t{text}")

    def summary(self, result) -> None:
        if self.json is not None:
            self.json.write(result.to_dict())
        elif self.fmt != "csv":
            parts = [f"{result.frames} frames"]
            if result.tracks:
                parts.append(f"{result.tracks} tracks")
            for label, c in sorted(result.counts.items()):
                parts.append(f"{label}: in {c['in']}, out {c['out']}")
            if result.annotated:
                parts.append(f"annotated copy: {result.annotated}")
            print(f"{result.source}\t" + "; ".join(parts))
        if result.stopped:
            print(f"warning: {result.stopped}", file=sys.stderr)

    def _csv_boxes(self, source, frame, time, boxes, error) -> None:
        if self.csv is None:
            self.csv = csv.writer(sys.stdout)
            self.csv.writerow(CSV_HEADER)
        if not boxes:
            self.csv.writerow([source, frame, time, "", "", "", "", "", "", "", error or ""])
        for b in boxes:
            self.csv.writerow([source, frame, time, b.get("id", ""), b["label"], b["score"], *b["box"], ""])

    def close(self) -> None:
        if self.json is not None:
            self.json.close()


def _annotated_image(out_dir: Path, source: str, det, used: set) -> None:
    from PIL import Image

    from visionflow.data.decode import decode
    from visionflow.tasks.detection.video import draw_frame

    drawn = [(b["box"], 0, b["label"], b["score"], []) for b in det.boxes]
    picture = Image.fromarray(draw_frame(decode(source), drawn))
    save(named(out_dir, source, used, ".jpg"), source, lambda buf: picture.save(buf, format="JPEG", quality=92))


def predict(args: argparse.Namespace, o) -> int:
    from visionflow.cli.predict import may_hold_many
    from visionflow.tasks.detection.detector import Detector, check_thresholds
    from visionflow.tasks.detection.track import parse_line
    from visionflow.video.reader import Sampling, is_video

    if o.out:
        raise VisionflowError("--out is for models that write images; a detector's boxes go to standard output "
                              "(--annotate DIR draws them).")
    if o.overlay:
        raise VisionflowError("--overlay is for segmentation models; a detector's boxes are drawn with --annotate DIR.")
    refuse(label_flags(o), "is for classifiers; a detector lists boxes.")
    line = parse_line(o.count_line) if o.count_line else None
    if (o.track or line) and not any(is_video(a) or may_hold_many(a) for a in args.inputs):
        raise VisionflowError("--track and --count-line follow objects through a video; no video was given.")
    check_thresholds(0.25 if o.conf is None else o.conf, 0.5 if o.iou is None else o.iou)
    detector = Detector.load(args.run, backend=o.backend, unsafe=o.unsafe)
    detector.conf = detector.conf if o.conf is None else o.conf
    detector.iou = detector.iou if o.iou is None else o.iou
    inputs = Inputs(args.inputs)
    inputs.check()
    first, videos = inputs.first, inputs.videos
    if (o.track or line) and first is not None and not videos:
        raise VisionflowError("--track and --count-line follow objects through a video; no video was given.")
    from visionflow.cli.video import annotate_targets

    image_dir = None
    targets: dict = {}
    rows = _Rows(o.format)
    failed = seen = 0
    if first is not None and o.annotate:
        image_dir = Path(o.annotate)
        if image_dir.suffix:
            raise VisionflowError(f"--annotate {o.annotate}: images are drawn into a folder; give a folder name.")
        image_dir.mkdir(parents=True, exist_ok=True)
    used: set = set()
    if first is not None:
        for det in detector.iter_predict(inputs.images(), batch_size=o.batch_size):
            failed += not det.ok
            rows.image(det)
            if image_dir is not None and det.ok:
                _annotated_image(image_dir, det.source, det, used)
            seen += 1
    if videos:
        if o.format == "csv" and seen:
            raise VisionflowError("CSV output holds either images or videos (their columns differ): predict the "
                                  "videos in a command of their own.")
        targets = annotate_targets(o.annotate, videos) if o.annotate else {}
        sampling = Sampling(fps=o.fps, every=o.every)
        from visionflow.tasks.detection.video import VideoResult, analyse

        results = {video: VideoResult(video) for video in videos}
        failed += analyse_videos(videos, lambda v: analyse(detector, v, sampling, track=o.track, line=line,
                                                           annotate=targets.get(v), result=results[v]),
                                 rows.frame, lambda v: rows.summary(results[v]))
    rows.close()
    return exit_code(failed, seen + len(videos), "input(s) could not be read.",
                     f"annotated images: {image_dir}" if image_dir is not None else "")


def evaluate(args: argparse.Namespace, o) -> int:
    from visionflow.tasks.detection.detector import check_thresholds
    from visionflow.tasks.detection.evaluate import EVALUATOR

    if o.conf is not None:
        check_thresholds(o.conf, 0.5)
    return evaluate_command(EVALUATOR, args, o, (), conf=o.conf)
