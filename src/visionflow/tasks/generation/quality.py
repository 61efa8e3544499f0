"""How good a generator's samples are, against real images and two trivial generators.

Every row of the table is measured the same way, on the same number of images, against the same
reference set of real images:
- real (held out): real images the generator never saw - the floor a perfect generator reaches;
- model: the generator's samples;
- noise: Gaussian noise with the reference images' per-pixel mean and standard deviation - the
  ceiling (a generator that learnt only the average picture);
- copies: training images returned as they are - what memorisation scores, and what the
  memorisation check must flag.
`progress` places the model between noise (0) and held-out real images (1) on the Fréchet
distance. For a conditional model, the feature network's class head labels each sample, and the
share labelled as its conditioned class is reported per class beside the same figure on held-out
real images.
"""

from __future__ import annotations

import numpy as np

from visionflow.tasks.generation.metrics import frechet_distance, kernel_distance, nearest, precision_recall

NEAREST_SHOWN = 8  # samples shown beside their nearest training image in the report
ROUGH_BELOW = 100  # images per row under which the distances are rough (say so)
COPY_PERCENTILE = 1.0  # a sample closer to a training image than 99% of held-out reals are: a likely copy


def noise_like(reference: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n images of Gaussian noise with the per-pixel mean and standard deviation of `reference`."""
    ref = reference.astype(np.float32)
    rng = np.random.default_rng(seed)
    out = ref.mean(0) + rng.standard_normal((n, *ref.shape[1:])).astype(np.float32) * ref.std(0)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def measure(judge, generated: np.ndarray, reference: np.ndarray, heldout: np.ndarray, seed: int = 0,
            generated_labels: np.ndarray | None = None, heldout_labels: np.ndarray | None = None,
            training: np.ndarray | None = None) -> dict:
    """The quality table of `generated` images against `reference` real images.

    Args:
        judge: the feature network (`visionflow.tasks.generation.judge.Judge`).
        generated: (n, s, s, 3) uint8 samples; `generated_labels` their conditioned classes.
        reference: real images the distances are measured against.
        heldout: real images neither the generator nor the reference holds (the floor row), as
            many as `generated`; `heldout_labels` their classes.
        training: the generator's training images, searched for the nearest neighbour of each
            sample (memorisation); default `reference`.
    """
    n = min(len(generated), len(heldout))
    generated, heldout = generated[:n], heldout[:n]
    training = reference if training is None else training
    rng = np.random.default_rng(seed)
    copies = training[rng.choice(len(training), n, replace=len(training) < n)]
    sets = {"real (held out)": heldout, "model": generated, "noise": noise_like(reference, n, seed), "copies": copies}
    ref_f = judge.features(reference)
    train_f = ref_f if training is reference else judge.features(training)
    feats = {name: judge.features(images) for name, images in sets.items()}
    # How close held-out reals come to the training set: below this, a sample is a likely copy.
    real_nn, _ = nearest(feats["real (held out)"], train_f)
    threshold = float(np.percentile(real_nn, COPY_PERCENTILE))
    rows = {}
    for name, f in feats.items():
        precision, recall = precision_recall(ref_f, f)
        nn, idx = nearest(f, train_f)
        rows[name] = {"fd": round(frechet_distance(f, ref_f), 3), "kd": round(kernel_distance(f, ref_f, seed=seed), 5),
                      "precision": round(precision, 4), "recall": round(recall, 4),
                      "copies": round(float((nn < threshold).mean()), 4)}
        if name == "model":
            order = np.argsort(nn)[:NEAREST_SHOWN]
            nearest_pairs = [{"sample": int(i), "training": int(idx[i]), "distance": round(float(nn[i]), 3)}
                             for i in order]
    floor, ceiling, got = rows["real (held out)"]["fd"], rows["noise"]["fd"], rows["model"]["fd"]
    result = {"images": int(n), "reference_images": int(len(reference)), "features": judge.name,
              "rows": rows, "progress": round((ceiling - got) / (ceiling - floor), 4) if ceiling > floor else None,
              "copy_threshold": round(threshold, 3), "nearest": nearest_pairs}
    if n < ROUGH_BELOW:
        result["note"] = (f"only {n} images per row (the held-out real images): the distances are rough; "
                          f"{ROUGH_BELOW} or more give steadier figures")
    if generated_labels is not None and judge.class_head is not None:
        result["conditional"] = class_agreement(judge, generated, generated_labels[:n], heldout,
                                                None if heldout_labels is None else heldout_labels[:n])
    return result


def class_agreement(judge, generated: np.ndarray, labels: np.ndarray, heldout: np.ndarray,
                    heldout_labels: np.ndarray | None) -> dict:
    """Share of samples the feature network labels as their conditioned class, overall and per
    class, beside its accuracy on held-out real images (what 'right' can reach)."""
    said = judge.classify(generated).argmax(1)
    per_class = {}
    for i, name in enumerate(judge.classes):
        mask = labels == i
        if mask.any():
            per_class[name] = round(float((said[mask] == i).mean()), 4)
    out = {"accuracy": round(float((said == labels).mean()), 4), "per_class": per_class}
    if heldout_labels is not None and len(heldout_labels):
        out["real_accuracy"] = round(float((judge.classify(heldout).argmax(1) == heldout_labels).mean()), 4)
    return out


def distance_names(features: str) -> tuple[str, str]:
    """(FD, KD) named as FID and KID only on Inception features."""
    return ("FID", "KID") if features.startswith("Inception") else ("FD", "KD")


def format_table(q: dict) -> str:
    """The quality table as text."""
    fd, kd = distance_names(q["features"])
    lines = [f"quality on {q['features']} ({q['images']} images per row, against {q['reference_images']} real):",
             f"  {'':<16} {fd:>9} {kd:>9} {'precision':>10} {'recall':>8} {'copies':>7}"]
    for name, r in q["rows"].items():
        lines.append(f"  {name:<16} {r['fd']:9.3f} {r['kd']:9.4f} {r['precision']:10.3f} {r['recall']:8.3f} "
                     f"{r['copies']:7.1%}")
    if q.get("note"):
        lines.append(f"  note: {q['note']}")
    if q.get("progress") is not None:
        lines.append(f"  progress from noise (0) to held-out real images (1) on {fd}: {q['progress']:.2f}")
    c = q.get("conditional")
    if c:
        real = f" (held-out real images: {c['real_accuracy']:.1%})" if "real_accuracy" in c else ""
        lines.append(f"  samples labelled as their class by the feature network: {c['accuracy']:.1%}{real}")
        lines.append("  per class: " + ", ".join(f"{k} {v:.0%}" for k, v in c["per_class"].items()))
    return "\n".join(lines)
