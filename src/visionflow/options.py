"""Options of the commands after training: one frozen dataclass each, the one source of their
defaults. The command line generates its flags from them (`config.add_arguments`), and the Python
functions take their defaults from them (`evaluate(..., batch_size=EvaluateOptions.batch_size)`).
"""

from __future__ import annotations

from dataclasses import dataclass

from visionflow.settings import check, option

# What runs a run folder's model (see `predict.load`).
BACKENDS = ("auto", "keras", "tflite", "onnx")
BACKEND_HELP = ("What runs a run folder's model: auto uses LiteRT (or ONNX Runtime) through the run's own "
                "parity-checked export, made once and remade when model.keras changes, where the [export] extra "
                "is installed, else TensorFlow; keras forces TensorFlow.")
TTA_HELP = ("Flip test-time augmentation: also predict each image mirrored left to right and average the two "
            "answers (twice the model calls, usually a point or so more accurate on photos; not for text or digits).")
UNSAFE_HELP = "Allow legacy .h5 files and Lambda layers (trusted files only)."


@dataclass(frozen=True)
class EvaluateOptions:
    """`visionflow evaluate RUN DIR` flags."""

    out: str | None = option(None, "Where to write report.html, metrics.json, predictions.csv and the plots.",
                           metavar="DIR", kind=str, shown="RUN/evaluations/<DIR name>")
    labels: str | None = option(None, "The labels CSV: image,label (classifiers) or image,labels (multi-label), with "
                                    "the columns of a model that reads them.", metavar="CSV", kind=str,
                              shown="DIR/labels.csv")
    pairs: str | None = option(None, "Denoise/deblur/superres models: a folder of real degraded images named as DIR's clean "
                                   "ones; measures on them instead of degrading DIR.", metavar="DIR", kind=str,
                            shown="none")
    features: str = option("visionflow", "GANs: the network samples are measured on: visionflow (the feature network "
                                       "the run trained on its real images) or inception (Keras' InceptionV3 with "
                                       "ImageNet weights, a download on first use: FID and KID).",
                         choices=("visionflow", "inception"))
    slices: str | None = option(None, "Classifiers: a CSV of image (path relative to DIR, or file name) plus one column "
                                    "per attribute (camera, site, ...): every metric per attribute value, the gaps "
                                    "between them with bootstrap 95%% intervals (Fairlearn), a report section.",
                              metavar="CSV", kind=str, shown="none")
    fail_on_gap: float | None = option(None, "With --slices: exit 1 when an attribute's accuracy differs by more than "
                                           "this between its best and worst slice (e.g. 0.1).", kind=float,
                                     shown="off")
    conf: float | None = option(None, "Detection models: the score threshold of the precision/recall operating point "
                                    "(mAP ranks every box).", kind=float, shown="0.25")
    batch_size: int = option(64, "Images per model call.")
    backend: str = option("auto", BACKEND_HELP, choices=BACKENDS)
    tta: bool = option(False, TTA_HELP)
    unsafe: bool = option(False, UNSAFE_HELP)

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, f"batch_size must be at least 1. Received: batch_size={self.batch_size}")
        check(self.fail_on_gap is None or 0 <= self.fail_on_gap <= 1,
               f"fail_on_gap must be between 0 and 1. Received: fail_on_gap={self.fail_on_gap}")
        check(self.fail_on_gap is None or self.slices is not None, "--fail-on-gap needs --slices CSV.")


@dataclass(frozen=True)
class PredictOptions:
    """`visionflow predict RUN INPUT...` flags."""

    top_k: int = option(1, "Classifiers: classes shown per image; a multi-label model shows every label over its "
                         "threshold.")
    out: str | None = option(None, "Restoration and style models (required for their images): the folder the restored "
                                 "(or repainted) images are written "
                                 "to, as PNG named after each input. Segmentation models: the folder each image's "
                                 "mask is written to (OUT/<stem>.png, class indices as a palette PNG).",
                           metavar="DIR", kind=str, shown="none")
    overlay: bool = option(False, "Segmentation models, with --out: also write OUT/<stem>_overlay.jpg, the image with "
                                "its mask blended over it.")
    labels: str | None = option(None, "Models that read table columns (trained with --columns): a CSV with an image "
                                    "column (a path relative to the CSV's folder, or a file name) and the columns "
                                    "of each input image.", metavar="CSV", kind=str, shown="none")
    format: str = option("table", "Output format.", choices=("table", "json", "csv"))
    batch_size: int = option(32, "Images (or video frames) per model call.")
    backend: str = option("auto", BACKEND_HELP, choices=BACKENDS)
    tta: bool = option(False, TTA_HELP)
    unsafe: bool = option(False, UNSAFE_HELP)
    fps: float | None = option(None, "Videos: frames per second to label, by the frames' own times.", kind=float,
                             shown="every frame")
    every: int | None = option(None, "Videos: label every Nth frame instead.", metavar="N", kind=int, shown="off")
    segments: bool = option(False, "Videos: print merged segments (start, end, label, mean confidence) instead of "
                                 "one row per frame.")
    smooth: float = option(1.0, "Videos, --segments: seconds over which frame probabilities are averaged (0: none).",
                         metavar="SECONDS")
    min_segment: float = option(1.0, "Videos, --segments: shortest segment in seconds; shorter ones are merged into "
                                   "a neighbour.", metavar="SECONDS")
    annotate: str | None = option(None, "Videos: write a copy with the answer drawn on every frame: a .mp4/.mkv/.mov/.avi "
                                      "file for one video, or a folder for several (no sound). Detection models: "
                                      "images too, drawn into the folder OUT. Style models: the video "
                                      "repainted frame by frame (one video, a file).", metavar="OUT", kind=str,
                                shown="none")
    plot: str | None = option(None, "Videos: also draw each video's timeline as a PNG: every class's probability over "
                                  "time (regression: every target's value, a panel each); a .png file for one video, "
                                  "or a folder for several (DIR/<stem>.timeline.png).", metavar="PNG|DIR", kind=str,
                            shown="none")
    cam: bool = option(False, "Videos, --annotate: also blend each sampled frame's Grad-CAM heat map over the copy "
                            "(runs the Keras model; slower).")
    conf: float | None = option(None, "Detection models: the lowest score of a box shown.", kind=float, shown="0.25")
    iou: float | None = option(None, "Detection models: boxes of one class overlapping more than this are merged "
                                   "(non-maximum suppression).", kind=float, shown="0.5")
    track: bool = option(False, "Detection models, videos: give each object an id that follows it across frames "
                              "(ByteTrack-style association).")
    count_line: str | None = option(None, "Detection models, videos: count tracked objects crossing the segment "
                                        "x1,y1,x2,y2 (frame pixels), per class and direction (in: to the right of the "
                                        "segment walking from x1,y1 to x2,y2).", metavar="X1,Y1,X2,Y2", kind=str,
                                  shown="none")
    style: str | None = option(None, "Style models that learnt several styles: which one paints, by name or number.",
                             metavar="NAME", kind=str, shown="the first")
    strength: float = option(1.0, "Style models: how much of the style, from 0 (the photo as it is) to 1 (the "
                                "network's painting); between, the two are blended.")

    def __post_init__(self) -> None:
        check(0 <= self.strength <= 1, f"--strength must be between 0 and 1. Received: {self.strength}")
        check(self.top_k >= 1, f"--top-k must be at least 1. Received: {self.top_k}")
        check(self.batch_size >= 1, f"batch_size must be at least 1. Received: batch_size={self.batch_size}")
        check(self.fps is None or self.fps > 0, f"--fps must be positive. Received: {self.fps}")
        check(self.every is None or self.every >= 1, f"--every must be at least 1. Received: {self.every}")
        check(self.fps is None or self.every is None, "Give --fps or --every, not both.")
        check(self.smooth >= 0, f"--smooth must not be negative. Received: {self.smooth}")
        check(self.min_segment >= 0, f"--min-segment must not be negative. Received: {self.min_segment}")
        check(not self.cam or self.annotate, "--cam draws heat maps on the --annotate copy: give --annotate OUT too.")

    def video_flags(self) -> list[str]:
        """The video-only flags that were changed from their defaults, as --names."""
        defaults = PredictOptions()
        return [f"--{name.replace('_', '-')}" for name in ("fps", "every", "segments", "smooth", "min_segment",
                                                            "annotate", "plot", "cam", "track", "count_line")
                if getattr(self, name) != getattr(defaults, name)]


@dataclass(frozen=True)
class ExportOptions:
    """`visionflow export RUN` flags."""

    format: str = option("onnx", "One or more of the formats above, comma-separated, or all.",
                       metavar="F[,F...]")
    out: str | None = option(None, "Destination; each format goes to DIR/<format>/.", metavar="DIR", kind=str,
                           shown="RUN/export")
    samples: int = option(200, "Images for the parity check.")
    min_agreement: float = option(0.99, "Share of the task's decisions (top-1 class, or each label's yes/no) a "
                                      "quantized format must make as the .keras model does.")
    unsafe: bool = option(False, UNSAFE_HELP)

    def __post_init__(self) -> None:
        check(self.samples >= 1, f"samples must be at least 1. Received: {self.samples}")
        check(0.0 <= self.min_agreement <= 1.0,
               f"min_agreement must be between 0 and 1. Received: {self.min_agreement}")


@dataclass(frozen=True)
class CvOptions:
    """`visionflow cv DIR` flags besides the training settings."""

    folds: int = option(5, "Number of folds.")
    out: str | None = option(None, "Output folder.", metavar="DIR", kind=str, shown="the next free <project>/cvN")


@dataclass(frozen=True)
class TuneOptions:
    """`visionflow tune DIR` flags besides the training settings (the base config of every trial)."""

    trials: int = option(20, "Finished trials the study should hold.")
    search: str = option("bayes", "bayes (TPE), random or grid.", choices=("bayes", "random", "grid"))
    space: str | None = option(None, "YAML search space.", metavar="FILE", kind=str, shown="the built-in space")
    budget_minutes: float = option(0.0, "Stop starting trials after this long (0: no limit).")
    pruner: str = option("median", "Stop bad trials early.", choices=("median", "hyperband", "none"))
    out: str | None = option(None, "Tune folder.", metavar="DIR", kind=str, shown="the next free <project>/tuneN")
    storage: str | None = option(None, "Optuna storage shared by several tune processes, e.g. sqlite:///study.db.",
                               metavar="URL", kind=str, shown="OUT/study.db")
    resume: bool = option(False, "Continue the study in --out (or --storage).")
    retrain: bool = option(False, "Train the best settings into a normal run folder.")
