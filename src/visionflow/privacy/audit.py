"""Membership inference: can an attacker tell the run's training images from images it never saw?

Three attacks score every image; each is judged by how well its score separates members (the
run's training images) from non-members (its validation and test images, or a folder given):
- `loss`: the lower the loss on the image's own label, the likelier a member (Yeom et al. 2018).
- `confidence`: the model's top probability, needing no label (Salem et al. 2019).
- `likelihood ratio`: the true label's scaled logit log(p / (1 - p)) compared with Gaussians fitted
  to members' and non-members' values per class, with one pooled variance (LiRA's test, Carlini et al. 2022, without shadow
  models: the Gaussians come from half of the labelled images and score the other half, then the
  halves swap, so no image is scored by a fit that saw it).
The figures: ROC AUC (0.5: no better than a coin; with a bootstrap 95% interval), TPR at 1% and
0.1% FPR (the attack's hits when it may wrongly accuse 1 in 100 or 1 in 1000 non-members; shown
only with enough non-members to measure that rate), and the attacker's advantage, max(TPR - FPR).
For a DP run, (epsilon, delta) bound every attack: TPR <= e^epsilon * FPR + delta.

These attacks know which images are members for half of the fit, so they are an audit (an upper
bound for attackers of this kind), not a proof that weaker attackers fail.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.errors import ConfigError, DataError

MIN_IMAGES = 10
BOOTSTRAP = 200
FPRS = (0.01, 0.001)
EPS = 1e-6


def _roc(labels: np.ndarray, scores: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    out = {"auc": float(roc_auc_score(labels, scores)), "advantage": float(np.max(tpr - fpr))}
    negatives = int((labels == 0).sum())
    for rate in FPRS:
        key = f"tpr_at_{rate:g}_fpr"
        out[key] = float(tpr[fpr <= rate].max()) if negatives * rate >= 1 else None
    out["curve"] = {"fpr": fpr, "tpr": tpr}
    return out


def _interval(labels: np.ndarray, scores: np.ndarray, seed: int) -> list[float]:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    ins, outs = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    values = []
    for _ in range(BOOTSTRAP):
        pick = np.concatenate([rng.choice(ins, len(ins)), rng.choice(outs, len(outs))])
        values.append(roc_auc_score(labels[pick], scores[pick]))
    return [round(float(np.quantile(values, 0.025)), 4), round(float(np.quantile(values, 0.975)), 4)]


def _gaussian_logpdf(x, mean, std):
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std)


def likelihood_ratio(phi: np.ndarray, labels: np.ndarray, groups: np.ndarray, seed: int = 0) -> np.ndarray:
    """Cross-fitted log likelihood ratio of membership for each scaled logit `phi`: Gaussians of
    members' and non-members' values per group (class), fitted on one half and scoring the other."""
    rng = np.random.default_rng(seed)
    half = rng.permutation(len(phi)) % 2
    scores = np.zeros(len(phi))
    for fold in (0, 1):
        fit, score = half != fold, half == fold
        for g in np.unique(groups):
            sel_fit, sel = fit & (groups == g), score & (groups == g)
            if not sel.any():
                continue
            ins, outs = phi[sel_fit & (labels == 1)], phi[sel_fit & (labels == 0)]
            if len(ins) < 2 or len(outs) < 2:  # too few to fit this class: the pooled fit
                ins, outs = phi[fit & (labels == 1)], phi[fit & (labels == 0)]
            # one variance for both (pooled): with few images per class, two fitted variances added more
            # noise than signal (LiRA's "global variance" for few shadow models)
            std = max(float(np.sqrt((ins.var() * len(ins) + outs.var() * len(outs)) / (len(ins) + len(outs)))), 1e-3)
            scores[sel] = _gaussian_logpdf(phi[sel], ins.mean(), std) - _gaussian_logpdf(phi[sel], outs.mean(), std)
    return scores


def image_scores(probs: np.ndarray, targets: np.ndarray, exclusive: bool) -> dict[str, np.ndarray]:
    """Per image: loss on its own label(s), top probability, the true label's scaled logit, correct."""
    probs = np.clip(np.asarray(probs, np.float64), EPS, 1 - EPS)
    if exclusive:
        p_true = probs[np.arange(len(probs)), targets]
        loss, correct = -np.log(p_true), probs.argmax(1) == targets
        confidence = probs.max(1)
    else:  # multi-label: every label's decision
        y = np.asarray(targets, np.float64)
        p_each = np.where(y > 0.5, probs, 1 - probs)
        loss = -np.log(p_each).mean(1)
        p_true, correct = np.exp(-loss), (p_each > 0.5).all(1)
        confidence = np.maximum(probs, 1 - probs).mean(1)
    return {"loss": loss, "confidence": confidence, "phi": np.log(p_true) - np.log1p(-p_true), "correct": correct}


def _split_records(paths, cfg, task, data: str | None, predictor, say):
    """(member records, non-member records, where non-members came from)."""
    from visionflow.rundir import read_json
    from visionflow.training.trainer import _rebased_split

    if not Path(cfg.data).is_dir():
        raise DataError(f"The training images of {paths.root} were at {cfg.data}, which does not exist any more; "
                        f"the audit needs them (they are the members).")
    previous = read_json(paths.data_report)
    folder = task.load_data(cfg, split_file=_rebased_split(previous, cfg.data))
    members = folder.splits["train"]
    if data:
        outsiders = task.evaluation_data(Path(data), predictor).usable
        source = str(data)
    else:
        outsiders = [r for split in ("validation", "test") for r in folder.splits.get(split, [])]
        source = "the run's validation and test images"
    return members, outsiders, source


def _sample(records: list, limit: int, rng) -> list:
    if len(records) <= limit:
        return records
    return [records[i] for i in sorted(rng.choice(len(records), limit, replace=False))]


def audit(run: str | Path, data: str | Path | None = None, out: str | Path | None = None, max_images: int = 2000,
          seed: int = 0, say: Callable[[str], None] = print) -> dict:
    """Runs the three attacks on a classification or multi-label run and writes audit.json and
    roc.png into `out` (default RUN/audit); returns the figures.

    Members are the run's training images; non-members its validation and test images, or the
    labelled images of `data` (a folder in the layout `visionflow evaluate` takes, none of them
    used in training). At most `max_images` of each, a seeded sample.
    """
    from visionflow import tasks
    from visionflow.config import TrainConfig, load_yaml
    from visionflow.predict import load
    from visionflow.rundir import RunPaths, read_json, write_json

    paths = RunPaths(Path(run))
    if not paths.config.exists() or not paths.model.exists():
        raise ConfigError(f"{run} is not a finished run folder (config.yaml and model.keras); audit takes the folder "
                          f"of a run made by visionflow train.")
    cfg = TrainConfig.from_dict(load_yaml(paths.config), source=str(paths.config), strict=False)  # any version's run
    task = tasks.get(cfg.task)
    if task.outputs != "labels" or task.inputs != "image":
        able = ", ".join(t.name for t in tasks.load_all() if t.outputs == "labels" and t.inputs == "image")
        raise ConfigError(f"audit measures models that label images ({able}); {run} is a {cfg.task} run.")
    predictor = load(paths.root, backend="keras")
    members, outsiders, source = _split_records(paths, cfg, task, str(data) if data else None, predictor, say)
    rng = np.random.default_rng(seed)
    members, outsiders = _sample(members, max_images, rng), _sample(outsiders, max_images, rng)
    if len(members) < MIN_IMAGES or len(outsiders) < MIN_IMAGES:
        raise DataError(f"An audit needs at least {MIN_IMAGES} training and {MIN_IMAGES} held-out images; {run} has "
                        f"{len(members)} and {len(outsiders)} ({source}). Give a folder of held-out images: "
                        f"visionflow audit {run} DIR")
    records = members + outsiders
    truth = task.targets(records, predictor.classes)
    probs, keep = [], []
    for i, pred in enumerate(predictor.iter_predict([r.path for r in records], batch_size=64)):
        if pred.ok:
            probs.append([pred.probabilities[c] for c in predictor.classes])
            keep.append(i)
    keep = np.array(keep)
    labels = np.array([1] * len(members) + [0] * len(outsiders))[keep]
    scores = image_scores(np.array(probs), truth[keep], task.exclusive)
    groups = truth[keep] if task.exclusive else np.zeros(len(keep), int)
    attacks = {"loss": -scores["loss"], "confidence": scores["confidence"],
               "likelihood ratio": likelihood_ratio(scores["phi"], labels, groups, seed)}
    result: dict = {"run": str(paths.root), "members": int(labels.sum()), "non_members": int((labels == 0).sum()),
                    "non_member_source": source,
                    "accuracy": {"members": round(float(scores["correct"][labels == 1].mean()), 4),
                                 "non_members": round(float(scores["correct"][labels == 0].mean()), 4)},
                    "attacks": {}}
    curves = {}
    for name, s in attacks.items():
        roc = _roc(labels, s)
        curves[name] = roc.pop("curve")
        result["attacks"][name] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in roc.items()}
        result["attacks"][name]["auc_95"] = _interval(labels, s, seed)
    meta = read_json(paths.labels)
    if "epsilon" in meta:
        eps, delta = meta["epsilon"], meta["delta"]
        result["dp"] = {"epsilon": eps, "delta": delta,
                        "tpr_bound_at_0.01_fpr": round(min(1.0, math.exp(eps) * 0.01 + delta), 4)}
    out = Path(out) if out else paths.root / "audit"
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "audit.json", result)
    _plot(curves, out / "roc.png", result)
    if out == paths.root / "audit":  # the run's report shows it
        from visionflow.report import run_report

        run_report(paths.root, predictor)
    say(format_table(result))
    say(f"\nwritten: {out / 'audit.json'} and roc.png" + (", report.html updated" if out == paths.root / "audit" else ""))
    result["out"] = str(out)
    return result


def _plot(curves: dict, path: Path, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    for name, c in curves.items():
        ax.plot(np.maximum(c["fpr"], 1e-4), np.maximum(c["tpr"], 1e-4),
                label=f"{name} (AUC {result['attacks'][name]['auc']:.3f})")
    ax.plot([1e-4, 1], [1e-4, 1], "k:", lw=1, label="chance")
    ax.set(xscale="log", yscale="log", xlabel="false positive rate", ylabel="true positive rate",
           title="membership inference", xlim=(1e-3, 1), ylim=(1e-3, 1))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_table(result: dict) -> str:
    """The audit as text: one row per attack."""
    def cell(v):
        return "n/a" if v is None else f"{v:.3f}"

    lines = [f"membership inference on {result['members']} training vs {result['non_members']} held-out images "
             f"({result['non_member_source']})",
             f"accuracy: training images {result['accuracy']['members']:.3f}, held-out {result['accuracy']['non_members']:.3f}",
             f"{'attack':<18}{'AUC':>7}  {'95% interval':<15}{'TPR@1%FPR':>10}{'TPR@0.1%FPR':>12}{'advantage':>10}"]
    for name, a in result["attacks"].items():
        lo, hi = a["auc_95"]
        lines.append(f"{name:<18}{a['auc']:7.3f}  {f'{lo:.3f}-{hi:.3f}':<15}{cell(a['tpr_at_0.01_fpr']):>10}"
                     f"{cell(a['tpr_at_0.001_fpr']):>12}{a['advantage']:10.3f}")
    if "dp" in result:
        d = result["dp"]
        lines.append(f"DP: epsilon {d['epsilon']:g}, delta {d['delta']:.2g} bound TPR at 1% FPR by "
                     f"{d['tpr_bound_at_0.01_fpr']:.3f}")
    lines.append("AUC 0.5: the attack does no better than chance; n/a: too few held-out images to measure that rate.")
    return "\n".join(lines)
