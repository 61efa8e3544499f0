"""Multi-label figures: mAP, macro/micro F1, per-label precision/recall/F1/AP/support, label
cardinality, exact-match ratio; per-image rows with missed and extra labels; decision thresholds
fitted per label on validation; the report's sections."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionflow.report.html import esc, img, image_uri, plot, table, thumbnail, tiles

GRID = np.round(np.arange(0.02, 0.99, 0.01), 2)  # candidate decision thresholds
DEFAULT_THRESHOLD = 0.5
GALLERY = 12


def fit_thresholds(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per label, the threshold on GRID with the highest F1 on (y, probs); the middle of the best
    range when several tie (a margin on both sides). Labels without a positive keep 0.5."""
    out = np.full(y.shape[1], DEFAULT_THRESHOLD)
    for j in range(y.shape[1]):
        if y[:, j].sum() == 0:
            continue
        truth = y[:, j] > 0
        pred = probs[:, j][None, :] >= GRID[:, None]  # (thresholds, n)
        tp = (pred & truth).sum(axis=1)
        fp = (pred & ~truth).sum(axis=1)
        fn = (~pred & truth).sum(axis=1)
        f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
        best = np.flatnonzero(f1 >= f1.max() - 1e-12)
        out[j] = float(GRID[best[len(best) // 2]])
    return out


def compute_metrics(y: np.ndarray, probs: np.ndarray, classes: list[str], thresholds: np.ndarray) -> dict:
    """Every multi-label figure for truth `y` (n, k) 0/1 and probabilities (n, k)."""
    from sklearn import metrics as skm

    y = np.asarray(y).astype(int)
    pred = (probs >= thresholds[None, :]).astype(int)
    p, r, f, support = skm.precision_recall_fscore_support(y, pred, average=None, zero_division=0)
    aps = [float(skm.average_precision_score(y[:, j], probs[:, j])) if y[:, j].any() else None
           for j in range(len(classes))]
    scored = [a for a in aps if a is not None]
    out: dict = {
        "images": int(len(y)),
        "mAP": float(np.mean(scored)) if scored else None,
        "per_label": {c: {"precision": float(p[j]), "recall": float(r[j]), "f1-score": float(f[j]),
                          "average_precision": aps[j], "support": int(support[j]), "threshold": float(thresholds[j])}
                      for j, c in enumerate(classes)},
        "exact_match": float((pred == y).all(axis=1).mean()),
        "hamming_loss": float(skm.hamming_loss(y, pred)),
        "label_cardinality": float(y.sum(axis=1).mean()),
        "predicted_cardinality": float(pred.sum(axis=1).mean()),
    }
    for average in ("macro", "micro", "samples"):
        # Per image ("samples"), no label given where none is true is exactly right: 0/0 counts as 1.
        ap, ar, af, _ = skm.precision_recall_fscore_support(y, pred, average=average,
                                                            zero_division=1 if average == "samples" else 0)
        out[f"{average}_avg"] = {"precision": float(ap), "recall": float(ar), "f1-score": float(af)}
    return out


def format_table(m: dict, classes: list[str]) -> str:
    width = max(12, *(len(c) for c in classes))
    lines = [f"{'label':<{width}}  precision  recall     f1     AP  threshold  support"]
    for c in classes:
        r = m["per_label"][c]
        ap = f"{r['average_precision']:6.3f}" if r["average_precision"] is not None else "     -"
        lines.append(f"{c:<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  {r['f1-score']:5.3f}  {ap}  "
                     f"{r['threshold']:9.2f}  {r['support']:7d}")
    for key in ("macro_avg", "micro_avg", "samples_avg"):
        r = m[key]
        lines.append(f"{key.replace('_avg', ' avg'):<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  "
                     f"{r['f1-score']:5.3f}")
    mAP = f"mAP {m['mAP']:.4f}" if m["mAP"] is not None else "mAP -"
    return "\n".join(lines + ["", f"{mAP}  macro F1 {m['macro_avg']['f1-score']:.4f}  micro F1 "
                                  f"{m['micro_avg']['f1-score']:.4f}  exact match {m['exact_match']:.4f}  labels per "
                                  f"image {m['label_cardinality']:.2f} (predicted {m['predicted_cardinality']:.2f})"])


def prediction_rows(paths: list[str], y: np.ndarray, probs: np.ndarray, classes: list[str],
                    thresholds: np.ndarray) -> list[dict]:
    """One row per image: path, labels (true), predicted, missed, extra (space-separated) and
    prob:<label> for each label."""
    rows = []
    for path, truth, p in zip(paths, y, probs):
        have = {c for c, t in zip(classes, truth) if t}
        said = {c for c, v, t in zip(classes, p, thresholds) if v >= t}
        row = {"path": path, "labels": " ".join(c for c in classes if c in have),
               "predicted": " ".join(c for c in classes if c in said),
               "missed": " ".join(c for c in classes if c in have - said),
               "extra": " ".join(c for c in classes if c in said - have)}
        row.update({f"prob:{c}": round(float(v), 6) for c, v in zip(classes, p)})
        rows.append(row)
    return rows


def write_plots(result: dict, classes: list[str], folder: Path, name: str, prefix: str = "") -> list[Path]:
    """Precision-recall curves of every label (with its threshold marked), as
    `folder/{prefix}pr_curves.png`."""
    from visionflow import plots

    rows = result.get("predictions") or []
    if not rows:
        return []
    y = np.array([[c in r["labels"].split() for c in classes] for r in rows], dtype=int)
    probs = np.array([[float(r[f"prob:{c}"]) for c in classes] for r in rows])
    thresholds = [result["per_label"][c]["threshold"] for c in classes]
    out = folder / f"{prefix}pr_curves.png"
    plots.label_pr_curves(y, probs, classes, thresholds, out, title=f"{name}: precision-recall per label")
    return [out]


def summary_tiles(m: dict) -> list[tuple[str, object]]:
    return [("mAP", m.get("mAP")), ("macro F1", (m.get("macro_avg") or {}).get("f1-score")),
            ("micro F1", (m.get("micro_avg") or {}).get("f1-score"))]


def report_sections(page, prefix: str, title: str, m: dict, rows: list[dict], classes: list[str], plots: Path,
                    plot_prefix: str, resolve, explainer) -> None:
    head = [("mAP", m["mAP"]), ("macro F1", m["macro_avg"]["f1-score"]), ("micro F1", m["micro_avg"]["f1-score"]),
            ("exact match", m["exact_match"]), ("labels per image", m["label_cardinality"]), ("images", m["images"])]
    body = tiles(head) + table(
        ("label", "precision", "recall", "F1", "AP", "threshold", "images with it"),
        [(c, r["precision"], r["recall"], r["f1-score"], r["average_precision"], r["threshold"], r["support"])
         for c, r in ((c, m["per_label"][c]) for c in classes)],
        numeric=[False] + [True] * 6)
    body += ('<p class="note">A label is given where its probability reaches its threshold, fitted per label on '
             'the validation images (highest F1) unless set with --threshold.</p>')
    page.add(f"{prefix}metrics", f"{title}: per-label metrics", body)
    page.add(f"{prefix}pr", f"{title}: precision-recall", plot(plots / f"{plot_prefix}pr_curves.png", "precision-recall"))
    wrong = [r for r in rows if r.get("missed") or r.get("extra")]
    wrong.sort(key=lambda r: -(len(r["missed"].split()) + len(r["extra"].split())))
    if not wrong:
        page.add(f"{prefix}gallery", f"{title}: missed and extra labels", '<p class="good">Every image got exactly its labels.</p>')
        return
    cards = []
    for r in wrong[:GALLERY]:
        path = resolve(r["path"])
        shown = (r["extra"] or r["missed"]).split()[0]
        overlay = None
        if explainer is not None and path.exists():
            try:
                overlay = image_uri(explainer(path, shown))
            except Exception:  # an image that fails here must not cost the whole report
                overlay = None
        cards.append(f'<div class="card">{img(thumbnail(str(path)), "image", "")}'
                     f'{img(overlay, "Grad-CAM", "") if explainer else ""}'
                     f'<div>labels <b>{esc(r["labels"] or "(none)")}</b></div>'
                     + (f'<div>missed <span class="bad">{esc(r["missed"])}</span></div>' if r["missed"] else "")
                     + (f'<div>extra <span class="bad">{esc(r["extra"])}</span></div>' if r["extra"] else "")
                     + f'<div class="path">{esc(r["path"])}</div></div>')
    note = (f'<p class="note">{len(wrong)} image(s) with a missed or an extra label; the {min(len(wrong), GALLERY)} '
            f'with the most shown' + (", with the Grad-CAM heat map of the first extra (else missed) label."
                                      if explainer else ".") + "</p>")
    page.add(f"{prefix}gallery", f"{title}: missed and extra labels", note + '<div class="gallery">' + "".join(cards) + "</div>")
