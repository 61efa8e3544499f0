"""`visionflow train --calibrate` for classifiers: temperature scaling fitted on the validation set."""

from __future__ import annotations

from typing import Callable

import numpy as np

from visionflow.rundir import RunPaths, read_json, write_json


def calibrate_run(paths: RunPaths, predictor, result: dict, say: Callable[[str], None]) -> dict:
    """Fits temperature scaling on the validation predictions and stores it in labels.json."""
    from visionflow import plots
    from visionflow.calibration import apply_temperature, calibrate, reliability

    classes = predictor.classes
    rows = result["predictions"]
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[r["label"]] for r in rows])
    probs = np.array([[r[f"prob:{c}"] for c in classes] for r in rows], dtype=np.float64)
    found = calibrate(probs, y)
    labels = read_json(paths.labels)
    labels["temperature"] = found["temperature"]
    write_json(paths.labels, labels)
    predictor.temperature = found["temperature"]
    t = found["temperature"]
    plots.reliability({"model": reliability(probs, y), f"temperature {t:.2f}": reliability(apply_temperature(probs, t), y)},
                      paths.plots / "validation_reliability.png")
    say(f"calibration: temperature {t:.3f}; ECE {found['ece_before']:.4f} -> {found['ece_after']:.4f}, "
        f"NLL {found['nll_before']:.4f} -> {found['nll_after']:.4f} (fitted and measured on the validation set)")
    if found["at_limit"]:
        say("  note: the temperature reached the end of its search range: the model's confidences carry little "
            "information (too few epochs or validation images?)")
    return {"calibration": found}
