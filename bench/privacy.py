"""Differentially private training (--dp) beside the same data trained without it, with the
membership-inference audit of each.

Usage: python bench/privacy.py [--cases pretrained,scratch] [--epsilon 8] [--out NAME]

On ../shared/datasets/hymenoptera (245 training, 153 validation images; the audit's members
and non-members):
- pretrained: `visionflow train DIR` (the auto recipe: efficientnet_lite0 with ImageNet weights,
  head on cached features, then fine-tuning) against `visionflow train DIR --dp --target-epsilon 8`
  (the DP recipe: frozen backbone, the head alone under DP-SGD). Target: the DP model within 10
  points of the non-private model's validation accuracy.
- scratch: small_cnn from scratch at 64x64 for 40 epochs, Adam 1e-3, no augmentation (a model
  that memorises its training images, the audit's worst case), with and without --dp. Targets:
  audit AUC of the DP model closer to 0.5 than the non-private one; DP-SGD's time per epoch
  against the non-private one on the same model (median of epochs 2+).
Writes results/NAME.{md,json} (default NAME: privacy).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import arguments, machine_info, required_dataset  # noqa: E402

RESULTS = HERE / "results"
SCRATCH = {"model": "small_cnn", "weights": "none", "image_size": 64, "epochs": 40, "optimizer": "adam",
           "learning_rate": 1e-3, "lr_schedule": "constant", "augment": "none", "time_budget": 0, "patience": 0,
           "keep": "last", "dropout": 0.0, "label_smoothing": 0.0}


def one_run(data: Path, project: Path, name: str, settings: dict) -> dict:
    from visionflow.privacy.audit import audit
    from visionflow.workflow import train

    t0 = time.perf_counter()
    result = train(data=str(data), project=str(project), name=name, say=lambda s: None, **settings)
    seconds = time.perf_counter() - t0
    history = result.history
    per_epoch = statistics.median([r["seconds"] for r in history[1:]] or [history[0]["seconds"]])
    found = audit(result.run_dir, say=lambda s: None)
    row = {"run": name, "accuracy": result.metrics["validation"]["accuracy"], "epochs": len(history),
           "seconds_per_epoch": round(per_epoch, 2), "wall_seconds": round(seconds, 1),
           "train_accuracy_audit": found["accuracy"]["members"],
           "audit": {k: {m: v[m] for m in ("auc", "auc_95", "tpr_at_0.01_fpr", "advantage")}
                     for k, v in found["attacks"].items()}}
    if "epsilon" in result.metrics:
        row.update(epsilon=result.metrics["epsilon"], delta=result.metrics["delta"],
                   noise_multiplier=result.metrics["privacy"]["noise_multiplier"])
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    args = arguments(__doc__, cases="pretrained,scratch", epsilon=8.0, out="privacy")
    data = required_dataset("hymenoptera")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            base = {} if case == "pretrained" else dict(SCRATCH)
            rows.append({"case": case, "dp": False, **one_run(data, Path(tmp), f"{case}-plain", base)})
            rows.append({"case": case, "dp": True, **one_run(data, Path(tmp), f"{case}-dp",
                                                               {**base, "dp": True, "target_epsilon": args.epsilon})})
    lines = [f"# DP-SGD and membership inference: hymenoptera (epsilon target {args.epsilon:g})", "",
             "| case | DP | val accuracy | epsilon (delta) | noise | s/epoch | epochs | audit AUC loss [95%] | "
             "AUC likelihood ratio | TPR@1%FPR (loss) | train acc |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, lr = r["audit"]["loss"], r["audit"]["likelihood ratio"]
        eps = f"{r['epsilon']:.2f} ({r['delta']:.1g})" if r["dp"] else "-"
        lines.append(f"| {r['case']} | {'yes' if r['dp'] else 'no'} | {r['accuracy']:.3f} | {eps} | "
                     f"{r.get('noise_multiplier', '-')} | {r['seconds_per_epoch']} | {r['epochs']} | "
                     f"{a['auc']:.3f} [{a['auc_95'][0]:.3f}-{a['auc_95'][1]:.3f}] | {lr['auc']:.3f} | "
                     f"{a['tpr_at_0.01_fpr'] if a['tpr_at_0.01_fpr'] is not None else 'n/a'} | "
                     f"{r['train_accuracy_audit']:.3f} |")
    for case in dict.fromkeys(r["case"] for r in rows):
        plain, dp = [r for r in rows if r["case"] == case]
        lines.append("")
        lines.append(f"- {case}: accuracy DP - non-private {dp['accuracy'] - plain['accuracy']:+.3f}; "
                     f"loss-attack AUC distance from 0.5: non-private {abs(plain['audit']['loss']['auc'] - 0.5):.3f}, "
                     f"DP {abs(dp['audit']['loss']['auc'] - 0.5):.3f}; time per epoch DP / non-private "
                     f"{dp['seconds_per_epoch'] / plain['seconds_per_epoch']:.2f}x")
    info = machine_info()
    lines += ["", f"Machine: {info['cpu']}, {info['cores']} cores; TensorFlow {info['tensorflow']}, Keras {info['keras']}."]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"rows": rows, "machine": info}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
