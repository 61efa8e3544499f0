"""Calibration: expected calibration error, reliability bins, and temperature scaling.

A model is calibrated when, of the images it labels with 80% confidence, about 80% are right.
Temperature scaling (Guo et al., 2017) divides the logits by one number T fitted on validation
data: T > 1 softens an over-confident model, T < 1 sharpens an under-confident one. The
predicted class never changes, only the confidences. visionflow models end in softmax (or a
sigmoid for two classes), so the logits are recovered as log-probabilities, which softmax maps
back to the same probabilities.
"""

from __future__ import annotations

import numpy as np

BINS = 15
EPS = 1e-12
T_RANGE = (0.05, 20.0)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities (n, k) rescaled by `temperature` (1.0 returns them unchanged)."""
    probs = np.asarray(probs, dtype=np.float64)
    if temperature == 1.0 or len(probs) == 0:
        return probs
    z = np.log(np.clip(probs, EPS, 1.0)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, y_true: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    p = np.clip(np.asarray(probs)[np.arange(len(y_true)), np.asarray(y_true)], EPS, 1.0)
    return float(-np.log(p).mean())


def fit_temperature(probs: np.ndarray, y_true: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of `y_true` (a 1-D search on
    log T with scipy), within T_RANGE.

    Raises:
        ValueError: fewer than 2 images, or probabilities and labels of different lengths.
    """
    from scipy.optimize import minimize_scalar

    probs, y_true = np.asarray(probs, dtype=np.float64), np.asarray(y_true)
    if len(probs) != len(y_true):
        raise ValueError(f"Expected one label per row of probabilities. Received: {len(probs)} rows, "
                         f"{len(y_true)} labels")
    if len(probs) < 2:
        raise ValueError(f"Temperature scaling needs at least 2 validation images. Received: {len(probs)}")
    lo, hi = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    res = minimize_scalar(lambda log_t: nll(apply_temperature(probs, float(np.exp(log_t))), y_true),
                          bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def reliability(probs: np.ndarray, y_true: np.ndarray, bins: int = BINS) -> dict:
    """Expected calibration error and the per-bin table behind a reliability diagram.

    Images are binned by top-1 confidence into `bins` equal-width bins; ECE is the image-weighted
    mean of |accuracy - mean confidence| over the bins.

    Returns:
        {"ece", "bins": [{"lower", "upper", "count", "confidence", "accuracy"}, ...]}
    """
    probs, y_true = np.asarray(probs), np.asarray(y_true)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Right-closed bins: confidence 1.0 falls into the last one.
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        n = int(mask.sum())
        row = {"lower": float(edges[b]), "upper": float(edges[b + 1]), "count": n,
               "confidence": float(conf[mask].mean()) if n else None,
               "accuracy": float(correct[mask].mean()) if n else None}
        if n:
            ece += n / len(conf) * abs(row["accuracy"] - row["confidence"])
        table.append(row)
    return {"ece": float(ece), "bins": table}


def calibrate(probs: np.ndarray, y_true: np.ndarray) -> dict:
    """Fits a temperature and reports ECE and NLL before and after it."""
    t = fit_temperature(probs, y_true)
    after = apply_temperature(probs, t)
    at_limit = not (T_RANGE[0] * 1.01 < t < T_RANGE[1] * 0.99)
    return {"temperature": t, "images": int(len(y_true)), "at_limit": at_limit,
            "ece_before": reliability(probs, y_true)["ece"], "ece_after": reliability(after, y_true)["ece"],
            "nll_before": nll(probs, y_true), "nll_after": nll(after, y_true)}
