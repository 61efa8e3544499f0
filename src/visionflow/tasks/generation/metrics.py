"""Distances between sets of image features: Fréchet distance, kernel inception distance (KID),
improved precision and recall (Kynkäänniemi et al. 2019) and nearest neighbours.

The formulas are those of FID (Heusel et al. 2017) and KID (Bińkowski et al. 2018); what they
are called depends on the features (see `visionflow.tasks.generation.judge`): on visionflow's own
feature network they are not FID or KID and are never named so.
"""

from __future__ import annotations

import warnings

import numpy as np

CHUNK = 1024


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of two (n, d) feature sets."""
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # fewer images than features: singular, handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():  # singular product: nudge both diagonals, as FID's reference code
            eps = np.eye(len(s1)) * 1e-6
            covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(max(0.0, ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)))


def kernel_distance(a: np.ndarray, b: np.ndarray, subset: int = 1000, subsets: int = 50, seed: int = 0) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel (x.y / d + 1)^3, averaged over random
    subsets of min(subset, len(a), len(b)) features each."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = a.shape[1]
    m = min(subset, len(a), len(b))
    if m < 2:
        raise ValueError(f"kernel_distance needs at least 2 features on each side. Received: {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        total += ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()
    return float(total / subsets)


def pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) Euclidean distances."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def nearest(a: np.ndarray, b: np.ndarray, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each row of `a`'s nearest row of `b` (skipping itself where a is b)."""
    dist = np.empty(len(a)), np.empty(len(a), np.int64)
    for i in range(0, len(a), CHUNK):
        d = pairwise(a[i:i + CHUNK], b)
        if exclude_self:
            rows = np.arange(i, min(i + CHUNK, len(a)))
            d[rows - i, rows] = np.inf
        dist[1][i:i + CHUNK] = d.argmin(1)
        dist[0][i:i + CHUNK] = d[np.arange(len(d)), dist[1][i:i + CHUNK]]
    return dist


def knn_radius(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of x to its k-th nearest other row."""
    radius = np.empty(len(x))
    for i in range(0, len(x), CHUNK):
        d = pairwise(x[i:i + CHUNK], x)
        radius[i:i + CHUNK] = np.sort(d, axis=1)[:, k]  # column 0 is the point itself
    return radius


def _inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Whether each point lies within some centre's radius."""
    out = np.zeros(len(points), bool)
    for i in range(0, len(points), CHUNK):
        out[i:i + CHUNK] = (pairwise(points[i:i + CHUNK], centres) <= radii[None, :]).any(1)
    return out


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision (share of fakes inside the real manifold: the union of k-NN balls of the
    real features) and recall (share of reals inside the fake manifold)."""
    k = max(1, min(k, len(real) - 1, len(fake) - 1))
    precision = _inside(fake, real, knn_radius(real, k)).mean()
    recall = _inside(real, fake, knn_radius(fake, k)).mean()
    return float(precision), float(recall)
