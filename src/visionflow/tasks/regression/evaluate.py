"""How well a regression model predicts its numbers: MAE, RMSE and R^2 per target and overall,
predicted-against-true and residual plots, and the images it missed most.

"Overall" figures average the targets' own (each in its units; with one target they are that
target's). R^2 is 1 for a perfect model and 0 for one that always answers the mean of the
evaluated images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.report.html import esc, img, plot, table, thumbnail, tiles

GALLERY = 12  # images with the largest errors shown in the report


def _per_target(y: np.ndarray, p: np.ndarray) -> dict:
    from sklearn.metrics import r2_score

    err = p - y
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))),
            "r2": float(r2_score(y, p)) if len(y) > 1 and np.ptp(y) > 0 else float("nan"),
            "median_ae": float(np.median(np.abs(err))), "max_error": float(np.max(np.abs(err))),
            "bias": float(np.mean(err)), "true_mean": float(np.mean(y)), "true_std": float(np.std(y))}


def compute_metrics(y: np.ndarray, pred: np.ndarray, targets: list[str]) -> dict:
    """Metrics of predictions `pred` against truths `y`, both (n, len(targets))."""
    y, pred = np.asarray(y, np.float64).reshape(len(y), -1), np.asarray(pred, np.float64).reshape(len(y), -1)
    per = {t: _per_target(y[:, i], pred[:, i]) for i, t in enumerate(targets)}
    out = {key: float(np.nanmean([per[t][key] for t in targets])) for key in ("mae", "rmse", "r2")}
    return {**out, "images": int(len(y)), "per_target": per}


def format_table(m: dict, targets: list[str]) -> str:
    width = max(8, *(len(t) for t in targets))
    lines = [f"{'target':<{width}} {'MAE':>10} {'RMSE':>10} {'R^2':>7} {'bias':>10} {'max error':>10}"]
    for t in targets:
        r = m["per_target"][t]
        lines.append(f"{t:<{width}} {r['mae']:>10.4g} {r['rmse']:>10.4g} {r['r2']:>7.3f} {r['bias']:>+10.3g} "
                     f"{r['max_error']:>10.4g}")
    if len(targets) > 1:
        lines.append(f"{'overall':<{width}} {m['mae']:>10.4g} {m['rmse']:>10.4g} {m['r2']:>7.3f}")
    lines.append(f"{m['images']} images")
    return "\n".join(lines)


def prediction_rows(paths: list[str], y: np.ndarray, pred: np.ndarray, targets: list[str]) -> list[dict]:
    """One row per image: path, then true:<t>, pred:<t> and error:<t> (predicted minus true) per target."""
    rows = []
    for path, truth, p in zip(paths, np.asarray(y).reshape(len(paths), -1), np.asarray(pred).reshape(len(paths), -1)):
        row: dict = {"path": path}
        for t, a, b in zip(targets, truth, p):
            row.update({f"true:{t}": round(float(a), 6), f"pred:{t}": round(float(b), 6),
                        f"error:{t}": round(float(b - a), 6)})
        rows.append(row)
    return rows


def _arrays(rows: list[dict], t: str) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([float(r[f"true:{t}"]) for r in rows]), np.array([float(r[f"pred:{t}"]) for r in rows]))


def write_plots(result: dict, targets: list[str], folder: Path, name: str, prefix: str = "") -> list[Path]:
    """Predicted against true (with the identity line) and residuals against the true value, a row
    per target, as `folder/{prefix}regression.png`."""
    import matplotlib.pyplot as plt

    from visionflow.plots import save

    rows = result.get("predictions") or []
    if not rows:
        return []
    fig, axes = plt.subplots(len(targets), 2, figsize=(10, 4 * len(targets)), squeeze=False)
    for (left, right), t in zip(axes, targets):
        y, p = _arrays(rows, t)
        lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        left.scatter(y, p, s=10, alpha=0.6)
        left.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1, label="predicted = true")
        left.set(title=f"{name}: {t}, predicted against true", xlabel=f"true {t}", ylabel=f"predicted {t}")
        left.legend()
        right.scatter(y, p - y, s=10, alpha=0.6)
        right.axhline(0.0, color="grey", linestyle="--", linewidth=1)
        if len(y) >= 10:  # the mean residual along the range: where the model is biased
            edges = np.quantile(y, np.linspace(0, 1, 11))
            mids, means = [], []
            for a, b in zip(edges[:-1], edges[1:]):
                inside = (y >= a) & (y <= b)
                if inside.any():
                    mids.append((a + b) / 2)
                    means.append(float(np.mean((p - y)[inside])))
            right.plot(mids, means, "o-", color="C3", label="mean residual per tenth of the range")
            right.legend()
        right.set(title=f"{name}: {t}, residuals by value", xlabel=f"true {t}", ylabel="predicted - true")
        for ax in (left, right):
            ax.grid(alpha=0.3)
    out = folder / f"{prefix}regression.png"
    save(fig, out)
    return [out]


def summary_tiles(m: dict) -> list[tuple[str, object]]:
    return [("MAE", m.get("mae")), ("RMSE", m.get("rmse")), ("R²", m.get("r2"))]


def report_sections(page, prefix: str, title: str, m: dict, rows: list[dict], targets: list[str], plots: Path,
                    plot_prefix: str, resolve, explainer=None) -> None:
    """The report's sections of a regression (`explainer` unused: Grad-CAM explains classes)."""
    body = tiles([("MAE", m["mae"]), ("RMSE", m["rmse"]), ("R²", m["r2"]), ("images", m["images"])]) + table(
        ("target", "MAE", "RMSE", "R²", "median AE", "max error", "bias", "true mean", "true std"),
        [(t, r["mae"], r["rmse"], r["r2"], r["median_ae"], r["max_error"], r["bias"], r["true_mean"], r["true_std"])
         for t, r in ((t, m["per_target"][t]) for t in targets)], numeric=[False] + [True] * 8)
    body += ('<p class="note">Errors are in each target\'s own units; bias is the mean of predicted minus true. '
             'R² is 1 for a perfect model and 0 for one that always answers the mean.</p>')
    page.add(f"{prefix}metrics", f"{title}: errors per target", body)
    page.add(f"{prefix}scatter", f"{title}: predicted against true, residuals",
             plot(plots / f"{plot_prefix}regression.png", "predicted against true"))
    if not rows:
        return

    def worst(r: dict) -> float:  # the largest error in standard deviations of its target
        return max(abs(float(r[f"error:{t}"])) / (m["per_target"][t]["true_std"] or 1.0) for t in targets)

    cards = []
    for r in sorted(rows, key=worst, reverse=True)[:GALLERY]:
        lines = "".join(f'<div>{esc(t)}: true {float(r[f"true:{t}"]):.4g}, predicted {float(r[f"pred:{t}"]):.4g} '
                        f'(<span class="bad">{float(r[f"error:{t}"]):+.3g}</span>)</div>' for t in targets)
        cards.append(f'<div class="card">{img(thumbnail(str(resolve(r["path"]))), "image", "")}{lines}'
                     f'<div class="path">{esc(r["path"])}</div></div>')
    page.add(f"{prefix}gallery", f"{title}: the largest errors",
             f'<p class="note">The {len(cards)} images with the largest errors (in standard deviations of the '
             f'target).</p><div class="gallery">' + "".join(cards) + "</div>")
