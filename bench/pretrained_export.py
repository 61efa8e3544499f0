"""The pretrained classifier exported: int8 agreement on real photos, and latency beside the CNNs.

Usage: python bench/pretrained_export.py [--run RUN] [--calls 100]

1. A no-flags run on ../shared/datasets/hymenoptera (efficientnet_lite0 with its offline ImageNet
   weights; or `--run RUN`, any finished run) is exported to ONNX, TFLite and int8 TFLite, each
   checked against the Keras model on 400 images (the run's validation photos, topped up with
   generated images where there are fewer): top-1 agreement and the largest probability difference.
2. One-image latency and batched throughput (`infer_case.py`, each model in its own process) of
   efficientnet_lite0 at 224 px beside small_cnn at 128 px (the from-scratch default on these
   photos) and the tutorial CNN (seed_cnn) at 150 px: naive `model.predict`, visionflow's traced
   Keras call, ONNX Runtime, LiteRT, and `visionflow.load(run).predict` as a user gets it.
Writes results/pretrained_export.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import dataset, machine_info  # noqa: E402

RESULTS = HERE / "results"
MODELS = (("efficientnet_lite0", 224), ("small_cnn", 128), ("seed_cnn", 150))


def _export_agreement(run: Path, out: Path) -> list[dict]:
    from visionflow.export import export

    results = export(run, "onnx,tflite,tflite-int8", out=out, samples=400, min_agreement=0.0, say=print)
    return [{"format": r.format, "samples": r.samples, "top1_agreement": r.agreement,
             "max_abs_diff": r.max_abs_diff, "size_mb": r.size_bytes / 2**20} for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=None, help="a finished run to export (default: train hymenoptera, no flags)")
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    info = machine_info()
    tmp = tempfile.TemporaryDirectory()
    run = Path(args.run) if args.run else None
    if run is None:
        import visionflow

        data = dataset("hymenoptera")
        if data is None:
            raise SystemExit("../shared/datasets/hymenoptera not found; pass --run RUN")
        t0 = time.perf_counter()
        result = visionflow.train(data=str(data), project=tmp.name)
        run = result.run_dir
        print(f"trained {run} in {(time.perf_counter() - t0) / 60:.1f} min, "
              f"val acc {result.metrics['validation']['accuracy']:.3f}", flush=True)
    config = json.loads((run / "labels.json").read_text())
    exports = _export_agreement(run, Path(tmp.name) / "export")
    latency = []
    for model, size in MODELS:
        cmd = [sys.executable, str(HERE / "infer_case.py"), "--model", model, "--image-size", str(size),
               "--calls", str(args.calls)]
        print("  $", " ".join(cmd[1:]), flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        latency.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    lines = ["# The pretrained classifier exported (bench/pretrained_export.py)", "",
             f"Machine: {info['cpu']}, {info['cores']} cores; TensorFlow {info['tensorflow']}, Keras {info['keras']}. "
             f"Date: {time.strftime('%Y-%m-%d')}. Run: {config.get('model')} at "
             f"{config['image_size'][0]} px, classes {', '.join(config['classes'])}.", "",
             "| format | parity images | top-1 agreement with Keras | max abs prob diff | size MB |",
             "|---|---|---|---|---|"]
    lines += [f"| {e['format']} | {e['samples']} | {e['top1_agreement']:.2%} | {e['max_abs_diff']:.2e} | "
              f"{e['size_mb']:.1f} |" for e in exports]
    lines += ["", "| model | size | naive predict p50 ms | traced Keras p50 ms | ONNX p50 ms | LiteRT p50 ms | "
                  "default `load(run).predict` p50 ms | batched img/s (Keras) | batched img/s (ONNX) | batched img/s (LiteRT) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['image_size']} | {r['naive_predict']['p50_ms']:.1f} | "
              f"{r['predictor_array']['p50_ms']:.1f} | {r['onnx_array']['p50_ms']:.1f} | {r['tflite_array']['p50_ms']:.1f} | "
              f"{r['default_load']['p50_ms']:.1f} | {r['predictor_batched_images_per_s']:.0f} | "
              f"{r['onnx_batched_images_per_s']:.0f} | {r['tflite_batched_images_per_s']:.0f} |" for r in latency]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pretrained_export.md").write_text(text)
    (RESULTS / "pretrained_export.json").write_text(
        json.dumps({"machine": info, "run": str(run), "exports": exports, "latency": latency}, indent=2) + "\n")


if __name__ == "__main__":
    main()
