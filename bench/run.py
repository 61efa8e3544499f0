"""`make bench` / `make bench-quick`: every case side by side in one run, one table.

Each case runs in its own process (so peak memory is its own), on the same data and settings:
  1. tutorial           ImageDataGenerator + the tutorial CNN (the baseline)
  2. visionflow_seed    visionflow with the same network, size, batch and epochs
  3. compute_bound      the same network's training step on tensors in memory
  4. visionflow_default visionflow's default recipe
  5. visionflow_budget64 (full run only) the budget recipe BUDGET_RECIPE: flowers5 15 minutes, hymenoptera 5
then inference latency of the tutorial CNN. Results go to bench/results/<mode>.json and .md.

Data: ../shared/datasets/hymenoptera (binary, like the tutorial) when present, otherwise a
generated two-class image folder; flowers5 is used for the default recipe in the full run.
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

from common import dataset, generated_binary, machine_info  # noqa: E402

RESULTS = HERE / "results"
# The best from-scratch recipe found for a 15-minute budget (see bench/README.md): low resolution,
# many epochs, strong regularisation, a cosine schedule fitted to the budget.
BUDGET_RECIPE = {"image_size": 64, "augment": "strong", "dropout": 0.5, "optimizer": "adamw", "weight_decay": 5e-4,
                 "learning_rate": 2e-3, "label_smoothing": 0.1, "lr_schedule": "cosine", "patience": 0}
SEED_CASES = ("tutorial", "visionflow_seed", "compute_bound")  # the tutorial network: comparable to the bound


def run_case(script: str, *args: str, timeout: int = 3600) -> dict:
    cmd = [sys.executable, str(HERE / script), *args]
    print("  $", " ".join(cmd[1:]), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"benchmark case failed ({' '.join(args[:1])}):\n" + "\n".join(tail))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt(v, spec=".1f", none="-"):
    return none if v is None else format(v, spec)


def training_table(rows: list[dict], bound: dict | None) -> list[str]:
    lines = ["| case | data | epochs | steady img/s | s/epoch (train) | x bound (same net) | wall s | val acc (last / best) | peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        same_model = r["case"] in SEED_CASES and bound and r["data"] == bound["data"]
        ratio = r["steady_train_s_per_epoch"] / bound["steady_train_s_per_epoch"] if same_model else None
        acc = "-" if r["val_accuracy"] is None else f"{r['val_accuracy']:.3f} / {r['best_val_accuracy']:.3f}"
        lines.append(f"| {r['case']} | {r['data']} | {r.get('epochs_run', r['epochs'])} | {fmt(r['steady_images_per_s'])} | "
                     f"{fmt(r['steady_train_s_per_epoch'], '.2f')} | {fmt(ratio, '.2f')} | {fmt(r['wall_s'], '.0f')} | "
                     f"{acc} | {fmt(r['peak_rss_mb'], '.0f')} |")
    return lines


def inference_table(r: dict) -> list[str]:
    return [
        f"Inference, {r['model']} at {r['image_size']}x{r['image_size']} (random weights):",
        "",
        "| path | p50 ms | p99 ms |",
        "|---|---|---|",
        f"| naive `model.predict`, one image | {r['naive_predict']['p50_ms']:.1f} | {r['naive_predict']['p99_ms']:.1f} |",
        f"| visionflow Predictor, one decoded image | {r['predictor_array']['p50_ms']:.1f} | {r['predictor_array']['p99_ms']:.1f} |",
        f"| visionflow Predictor, one 500x375 JPEG file (decode + resize + model) | {r['predictor_jpeg_500x375']['p50_ms']:.1f} | {r['predictor_jpeg_500x375']['p99_ms']:.1f} |",
        f"| ONNX Runtime (exported, parity-checked), one image | {r['onnx_array']['p50_ms']:.1f} | {r['onnx_array']['p99_ms']:.1f} |",
        f"| LiteRT float32 (exported, parity-checked), one image | {r['tflite_array']['p50_ms']:.1f} | {r['tflite_array']['p99_ms']:.1f} |",
        f"| `visionflow.load(run).predict(image)`, the default ({r['default_backend']}, cached export), one image | "
        f"{r['default_load']['p50_ms']:.1f} | {r['default_load']['p99_ms']:.1f} |",
        "",
        f"Default path {r['default_speedup_p50']:.1f}x below naive at p50; its first export peaked at "
        f"{r['first_export_peak_rss_mb']:.0f} MiB.",
        "",
        f"Single-image p50 speed-up over naive: Predictor {r['speedup_p50']:.1f}x, ONNX Runtime "
        f"{r['naive_predict']['p50_ms'] / r['onnx_array']['p50_ms']:.1f}x. Batched (64): naive "
        f"{r['naive_batched_images_per_s']:.0f} img/s, Predictor {r['predictor_batched_images_per_s']:.0f} img/s, "
        f"ONNX Runtime {r['onnx_batched_images_per_s']:.0f} img/s, LiteRT {r['tflite_batched_images_per_s']:.0f} img/s.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 epochs per case on hymenoptera only: a few minutes in all")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per case (default: 3 quick, 15 full)")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    epochs = args.epochs or (3 if args.quick else 15)
    info = machine_info()
    print(f"machine: {info['cpu']} ({info['cores']} cores, {info['cpu_flags']}), TensorFlow {info['tensorflow']}, "
          f"Keras {info['keras']}", flush=True)

    tmp = tempfile.TemporaryDirectory()
    binary = dataset("hymenoptera")
    binary_name = "hymenoptera"
    if binary is None:
        binary, binary_name = generated_binary(Path(tmp.name) / "generated"), "generated"
    common = ["--data", str(binary), "--epochs", str(epochs), "--image-size", "150", "--batch-size", "32"]
    t0 = time.perf_counter()
    rows = []
    for case in ("tutorial", "visionflow_seed", "compute_bound", "visionflow_default"):
        r = run_case("train_case.py", case, *common)
        r["data"] = binary_name
        rows.append(r)
    flowers = dataset("flowers5")
    if flowers is not None and not args.quick:
        extra = json.dumps({"val_split": 0.2, "time_budget": 15})
        r = run_case("train_case.py", "visionflow_default", "--data", str(flowers), "--epochs", "60",
                     "--image-size", "150", "--extra", extra)
        r["data"] = "flowers5"
        rows.append(r)
        recipe = json.dumps({**BUDGET_RECIPE, "val_split": 0.2, "time_budget": 15})
        r = run_case("train_case.py", "visionflow_default", "--data", str(flowers), "--epochs", "300",
                     "--extra", recipe)
        r.update(data="flowers5", case="visionflow_budget64")
        rows.append(r)
    if not args.quick:
        recipe = json.dumps({**BUDGET_RECIPE, "time_budget": 5})
        r = run_case("train_case.py", "visionflow_default", "--data", str(binary), "--epochs", "300", "--extra", recipe)
        r.update(data=binary_name, case="visionflow_budget64")
        rows.append(r)
    bound = next(r for r in rows if r["case"] == "compute_bound")
    infer = run_case("infer_case.py", "--calls", "50" if args.quick else "200")

    lines = [f"# visionflow benchmark ({mode})", "",
             f"Machine: {info['cpu']}, {info['cores']} cores ({info['cpu_flags']}), {info['platform']}; "
             f"Python {info['python']}, TensorFlow {info['tensorflow']}, Keras {info['keras']} ({info['keras_backend']}).",
             f"Date: {time.strftime('%Y-%m-%d')}. Training: 150x150, batch 32, {epochs} epochs per case "
             f"(steady state = mean of epochs after the first). Total {time.perf_counter() - t0:.0f} s.", ""]
    lines += training_table(rows, bound)
    lines += [""] + inference_table(infer)
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{mode}.md").write_text(text)
    (RESULTS / f"{mode}.json").write_text(json.dumps({"machine": info, "epochs": epochs, "training": rows,
                                                       "inference": infer}, indent=2) + "\n")
    print(f"written: {RESULTS / (mode + '.md')}, {RESULTS / (mode + '.json')}")


if __name__ == "__main__":
    main()
