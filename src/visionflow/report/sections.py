"""The report's sections, each built from files a run, evaluation, cv or doctor wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.report.html import Page, esc, image_uri, img, plot, table, thumbnail, tiles

GALLERY = 12  # most confidently wrong images shown per evaluation
LISTED_PAIRS = 12
LISTED_ISSUES = 24


def config_section(page: Page, config: dict) -> None:
    rows = [(k, "x".join(map(str, v)) if isinstance(v, list) else ("" if v is None else str(v))) for k, v in config.items()]
    page.add("config", "Configuration", table(("setting", "value"), rows) +
             '<p class="note">As written to config.yaml; <code>visionflow train --config config.yaml</code> '
             "repeats the run.</p>")


def curves_section(page: Page, png: Path, history: list[dict]) -> None:
    body = plot(png, "training curves")
    if history:
        last = history[-1]
        keys = [k for k in ("loss", "accuracy", "mae", "val_loss", "val_accuracy", "val_mae", "lr", "seconds") if k in last]
        body += table(("epoch", *keys), [(r.get("epoch"), *(_num(r.get(k)) for k in keys)) for r in history],
                      numeric=[True] * (len(keys) + 1))
    page.add("curves", "Training curves", body)


def _num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def metrics_section(page: Page, sid: str, title: str, m: dict, classes: list[str]) -> None:
    head = [("accuracy", m["accuracy"]), ("macro F1", m["macro_avg"]["f1-score"]), ("log loss", m["log_loss"]),
            ("ECE", m.get("ece")), ("images", m["images"])]
    if "roc_auc" in m:
        head.insert(2, ("ROC-AUC", m["roc_auc"]))
    for key, value in m.items():
        if key.startswith("top_") and key.endswith("_accuracy"):
            head.insert(1, (key.replace("_", " ").replace("top ", "top-"), value))
    rows = [(c, m["per_class"][c]["precision"], m["per_class"][c]["recall"], m["per_class"][c]["f1-score"],
             m["per_class"][c]["support"]) for c in classes]
    for key, name in (("macro_avg", "macro avg"), ("weighted_avg", "weighted avg")):
        r = m[key]
        rows.append((name, r["precision"], r["recall"], r["f1-score"], m["images"]))
    body = tiles(head) + table(("class", "precision", "recall", "F1", "images"), rows,
                               numeric=[False, True, True, True, True])
    failed = m.get("failed") or []
    if failed:
        body += f'<p class="note">{len(failed)} image(s) could not be read and are left out.</p>'
    page.add(sid, title, body)


def confusion_section(page: Page, sid: str, title: str, plots: Path, prefix: str, m: dict, classes: list[str]) -> None:
    matrix = np.array(m["confusion_matrix"])
    rows = [(f"true {c}", *matrix[i].tolist()) for i, c in enumerate(classes)]
    body = ('<div class="row">' + plot(plots / f"{prefix}confusion_matrix.png", "confusion matrix (counts)")
            + plot(plots / f"{prefix}confusion_normalised.png", "confusion matrix (normalised)") + "</div>"
            + table(("", *(f"predicted {c}" for c in classes)), rows, numeric=[False] + [True] * len(classes)))
    page.add(sid, title, body)


def roc_section(page: Page, sid: str, title: str, plots: Path, prefix: str, m: dict) -> None:
    body = tiles([("ROC-AUC", m.get("roc_auc")), ("average precision", m.get("average_precision"))])
    page.add(sid, title, body + plot(plots / f"{prefix}roc_pr.png", "ROC and precision-recall curves"))


def calibration_section(page: Page, sid: str, title: str, plots: Path, prefix: str, m: dict,
                        calibration: dict | None) -> None:
    items = [("ECE", m.get("ece"))]
    note = ('<p class="note">Expected calibration error: the gap between confidence and accuracy, averaged over '
            "15 confidence bins weighted by images. 0 is perfectly calibrated.")
    if calibration:
        items = [("ECE before", calibration["ece_before"]), ("ECE after", calibration["ece_after"]),
                 ("temperature", calibration["temperature"]), ("NLL before", calibration["nll_before"]),
                 ("NLL after", calibration["nll_after"])]
        note += (f" Temperature scaling was fitted on these {calibration['images']} validation images and is "
                 "stored in labels.json; <code>predict</code>, <code>serve</code> and exports apply it. The "
                 "figures after it are measured on the same images it was fitted on, so they flatter it; "
                 "the accuracy is unchanged. The tables above show the model's probabilities before scaling.")
    else:
        note += " Train with <code>--calibrate</code> to fit temperature scaling on the validation set."
    page.add(sid, title, tiles(items) + plot(plots / f"{prefix}reliability.png", "reliability diagram") + note + "</p>")


def gallery_section(page: Page, sid: str, title: str, rows: list[dict], resolve: Callable[[str], Path],
                    explainer=None) -> None:
    """The most confidently wrong images, with Grad-CAM overlays for the predicted class."""
    wrong = sorted((r for r in rows if r["label"] != r["predicted"]), key=lambda r: -float(r["confidence"]))
    if not wrong:
        page.add(sid, title, '<p class="good">No misclassified images.</p>')
        return
    cards = []
    for r in wrong[:GALLERY]:
        path = resolve(r["path"])
        overlay = None
        if explainer is not None and path.exists():
            try:
                overlay = image_uri(explainer(path, r["predicted"]))
            except Exception:  # an image that fails here must not cost the whole report
                overlay = None
        cards.append(f'<div class="card">{img(thumbnail(str(path)), "image", "")}{img(overlay, "Grad-CAM", "") if explainer else ""}'
                     f'<div>true <b>{esc(r["label"])}</b>, predicted <span class="bad">{esc(r["predicted"])}</span> '
                     f'({float(r["confidence"]):.2f})</div><div class="path">{esc(r["path"])}</div></div>')
    note = (f'<p class="note">{len(wrong)} misclassified; the {min(len(wrong), GALLERY)} most confident shown'
            + (", each with its Grad-CAM heat map for the predicted class (red: the regions that drove it)."
               if explainer else ".") + "</p>")
    page.add(sid, title, note + '<div class="gallery">' + "".join(cards) + "</div>")


def _pair_cards(pairs: list[dict], resolve: Callable[[str], Path]) -> str:
    cards = []
    for p in pairs[:LISTED_PAIRS]:
        a, b = resolve(p["a"]), resolve(p["b"])
        cards.append(f'<div class="card">{img(thumbnail(str(a)), "a", "")}{img(thumbnail(str(b)), "b", "")}'
                     f'<div>{esc(" / ".join(p["labels"]))} · {esc(" / ".join(p["splits"]))} · '
                     f'distance {p["distance"]} · <b>{esc(", ".join(k.replace("_", " ") for k in p["kinds"]))}</b></div>'
                     f'<div class="path">{esc(p["a"])}<br>{esc(p["b"])}</div></div>')
    return '<div class="gallery">' + "".join(cards) + "</div>"


def doctor_section(page: Page, d: dict, resolve: Callable[[str], Path]) -> None:
    ex, near, bal, sizes, modes = d["exact_duplicates"], d["near_duplicates"], d["balance"], d["sizes"], d["modes"]
    ratio = bal["imbalance_ratio"]
    body = tiles([("usable images", d["images"]), ("unreadable", d["unreadable"]["count"]),
                  ("exact duplicate pairs", ex["pairs"]), ("near-duplicate pairs", near["pairs"]),
                  ("leakage pairs", ex["leakage"] + near["leakage"]),
                  ("label conflicts", ex["conflicts"] + near["conflicts"]),
                  ("largest / smallest class", f"{ratio:.1f}x" if ratio else None)])
    splits = list(bal["per_split"])
    classes = d["classes"]
    body += "<h3>Images per class</h3>" + table(
        ("class", *splits), [(c, *(bal["per_split"][s].get(c, 0) for s in splits)) for c in classes],
        numeric=[False] + [True] * len(splits))
    if bal["tiny_classes"]:
        body += f'<p class="bad">Tiny classes: {esc(", ".join(bal["tiny_classes"]))}</p>'
    body += "<h3>Duplicates</h3>" + table(
        ("", "pairs", "images", "within a class", "across classes (label conflict)", "across splits (leakage)"),
        [(name, x["pairs"], x["images"], x["within_class"], x["conflicts"], x["leakage"])
         for name, x in (("exact (same bytes)", ex), ("near (perceptual hash)", near))],
        numeric=[False] + [True] * 5)
    serious = [p for p in ex["listed"] + near["listed"] if "within_class" not in p["kinds"]]
    if serious:
        body += "<h3>Leakage and label conflicts</h3>" + _pair_cards(serious, resolve)
    elif near["listed"] or ex["listed"]:
        body += "<h3>Examples</h3>" + _pair_cards(ex["listed"] + near["listed"], resolve)
    body += "<h3>Formats, colour modes and sizes</h3>" + table(
        ("", "counts"), [("formats", ", ".join(f"{k} {v}" for k, v in modes["formats"].items())),
                         ("colour modes", ", ".join(f"{k} {v}" for k, v in modes["modes"].items()))])
    if sizes["width"]:
        body += table(("", "min", "median", "max"),
                      [("width", sizes["width"]["min"], sizes["width"]["median"], sizes["width"]["max"]),
                       ("height", sizes["height"]["min"], sizes["height"]["median"], sizes["height"]["max"])],
                      numeric=[False, True, True, True])
        body += (f'<p class="note">{sizes["small_count"]} small, {sizes["large_count"]} very large and '
                 f'{sizes["elongated_count"]} elongated images; {modes["odd_count"]} in a colour mode other than '
                 f"RGB or greyscale (converted to RGB when decoded).</p>")
    if d["unreadable"]["count"]:
        body += "<h3>Unreadable files</h3>" + table(
            ("file", "split", "reason"), [(u["path"], u["split"], u["reason"]) for u in d["unreadable"]["listed"][:50]])
    page.add("doctor", "Dataset doctor", body)
    if "label_issues" in d:
        issues_section(page, d["label_issues"], resolve)


def issues_section(page: Page, li: dict, resolve: Callable[[str], Path]) -> None:
    cards = []
    for item in li["listed"][:LISTED_ISSUES]:
        cards.append(f'<div class="card">{img(thumbnail(str(resolve(item["path"]))), "image", "")}'
                     f'<div>labelled <b>{esc(item["label"])}</b> ({item["p_label"]:.2f}), looks like '
                     f'<span class="bad">{esc(item["suggested"])}</span> ({item["p_suggested"]:.2f})</div>'
                     f'<div class="path">{esc(item["path"])}</div></div>')
    note = (f'<p class="note">{li["count"]} of {li["images"]} images are likely mislabelled, judged by out-of-fold '
            "predictions (each image predicted by a model that never trained on it): another class reached its "
            "typical confidence. Lowest probability of the given label first. Check them by eye; some will be "
            "hard images, not wrong labels.</p>")
    page.add("label-issues", "Likely label errors", note + '<div class="gallery">' + "".join(cards) + "</div>")


def folds_section(page: Page, cv: dict) -> None:
    keys = [k for k in ("accuracy", "macro_f1", "log_loss", "ece", "roc_auc") if k in cv["mean"]]
    items = [(f"{k.replace('_', ' ')} (mean ± std)", f"{cv['mean'][k]:.3f} ± {cv['std'][k]:.3f}") for k in keys]
    rows = [(f["fold"], f["train_images"], f["validation_images"], f["best_epoch"], *(f[k] for k in keys))
            for f in cv["folds"]]
    body = tiles(items) + table(("fold", "train images", "validation images", "best epoch", *keys), rows,
                                numeric=[True] * (4 + len(keys)))
    body += (f'<p class="note">{cv["folds_count"]} stratified folds (seed {cv["seed"]}); near-duplicate groups '
             f"({cv['duplicates_grouped']} images) are kept inside one fold. The sections below pool the "
             f"out-of-fold predictions of all {cv['images']} images.</p>")
    page.add("folds", "Cross-validation", body)


def slices_section(page: Page, s: dict, png: Path, classes: list[str]) -> None:
    """Per-slice figures (one row per attribute value) and the largest gaps with their intervals."""
    rows = []
    for attribute, block in s["attributes"].items():
        for r in block["slices"]:
            lo, hi = r["accuracy_95"]
            rows.append((f"{attribute}={r['value']}" + (" *" if r["small"] else ""), r["count"], r["accuracy"],
                         "-" if lo is None else f"{lo:.3f}-{hi:.3f}", r["macro_f1"], r.get("ece"),
                         *[r.get(f"recall:{c}") for c in classes]))
    body = plot(png, "accuracy by slice") + table(
        ("slice", "images", "accuracy", "95% interval", "macro F1", "ECE", *[f"recall {c}" for c in classes]), rows,
        numeric=[False, True, True, False, True, True, *[True] * len(classes)])
    gaps = [(attribute, metric, g["difference"], f"{g['difference_95'][0]}-{g['difference_95'][1]}", g["ratio"],
             g["worst"], g["best"])
            for attribute, block in s["attributes"].items() for metric, g in block["gaps"].items()
            if g["difference"] is not None]
    body += "<h3>Gaps between slices</h3>" + table(
        ("attribute", "metric", "difference (best - worst)", "95% interval", "ratio (worst / best)", "worst", "best"),
        gaps, numeric=[False, False, True, False, True, False, False])
    body += (f'<p class="note">Slices from {esc(s.get("file", ""))}; intervals from {s["bootstrap"]} bootstrap '
             f"resamples of the images (Fairlearn MetricFrame); * marks slices under 30 images."
             + (f" {s['unmatched']} image(s) had no row and count in no slice." if s["unmatched"] else "") + "</p>")
    page.add("slices", "Slices", body)


def modalities_section(page: Page, sid: str, title: str, m: dict) -> None:
    """A model with two inputs (images and table columns, frames and sound): the score with both,
    with each alone, and the permutation importance of every input (`visionflow.tabular.evaluate`)."""
    metric = m["metric"]
    first, second = m.get("inputs", ("image", "columns"))
    views = table(("view", metric), [(f"{first} and {second} (the model)", m["fused"]),
                                     (f"{first} only ({second} at the training mean)", m[f"{first}_only"]),
                                     (f"{second} only ({first} at the training mean colour)", m[f"{second}_only"])],
                  numeric=[False, True])
    ranked = table(("input", f"{metric} lost when shuffled", "spread (sd)"),
                   [(name, v["mean"], v["std"]) for name, v in m["importance"].items()], numeric=[False, True, True])
    note = (f'<p class="note">On {m["rows"]} examples. Permutation importance: the {esc(metric)} lost when one '
            f"input's values are shuffled across the examples (mean of {m['repeats']} shuffles); an input the model "
            f"ignores loses nothing.</p>")
    page.add(sid, title, views + ranked + note)


def privacy_section(page: Page, metrics: dict, audit: dict | None, roc: Path) -> None:
    """DP-SGD's budget (when the run trained with --dp) and the membership-inference audit (when
    `visionflow audit` ran)."""
    body = ""
    p = metrics.get("privacy")
    if p:
        body += tiles([("epsilon", metrics["epsilon"]), ("delta", f"{metrics['delta']:.2g}"),
                       ("noise multiplier", p["noise_multiplier"]), ("clip", p["clip"]),
                       ("sampling rate", p["sampling_rate"]), ("steps", p["steps"])])
        body += (f'<p class="note">DP-SGD, target epsilon {p["target_epsilon"]:g} over {p["planned_steps"]} '
                 f'steps; {esc(p["accountant"].upper())} accountant (dp-accounting), {esc(p["sampling"])}. '
                 f'Protects {esc(p["protects"])}.</p>')
    if audit:
        rows = [(name, a["auc"], f"{a['auc_95'][0]:.3f}-{a['auc_95'][1]:.3f}", a["tpr_at_0.01_fpr"],
                 a["tpr_at_0.001_fpr"], a["advantage"]) for name, a in audit["attacks"].items()]
        body += "<h3>Membership-inference audit</h3>" + plot(roc, "attack ROC curves") + table(
            ("attack", "AUC", "95% interval", "TPR at 1% FPR", "TPR at 0.1% FPR", "advantage"), rows,
            numeric=[False, True, False, True, True, True])
        body += (f'<p class="note">{audit["members"]} training images against {audit["non_members"]} held-out '
                 f'images ({esc(audit["non_member_source"])}); accuracy {audit["accuracy"]["members"]:.3f} on the '
                 f'training images, {audit["accuracy"]["non_members"]:.3f} held out. AUC 0.5: no better than a coin; '
                 f'empty cells: too few held-out images to measure that rate.</p>')
    if body:
        page.add("privacy", "Privacy", body)
