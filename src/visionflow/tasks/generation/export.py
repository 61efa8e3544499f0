"""`visionflow export` for GAN runs: the EMA generator (latent [+ class] -> RGB pixels in
[0, 255]) in the float formats, each checked by PSNR between its images and the .keras
generator's for the same latent vectors. An 8-bit generator is refused (its images would drift
from the model's visibly).

Exported inputs: `latent` float32 (n, latent_dim) and, for a conditional model, `class_index` int32 (n,);
output float32 (n, h, w, 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.errors import ConfigError, ExportFailed
from visionflow.tasks.generation.runtime import open_generator

MIN_PSNR = 50.0  # dB between an export's images and the .keras generator's, on every sample
PARITY_SEED = 12345


def export(run: str | Path, names: list[str], out: str | Path | None, samples: int, min_agreement: float,
           unsafe: bool, say: Callable[[str], None]) -> list:
    """Writes each format of a GAN run's generator (see `visionflow.export.export`); parity is the
    lowest PSNR between the format's images and the .keras generator's over `samples` latents."""
    from visionflow.export.exporter import export_folders, psnr_between, sha256, write_formats
    from visionflow.export.formats import FORMATS
    from visionflow.tasks.generation.sampler import latents, load_sampler

    quantized = [n for n in names if FORMATS.get(n).quantized]
    if quantized:
        raise ConfigError(f"{', '.join(quantized)} is for classifiers: an 8-bit generator's images drift visibly from "
                          f"the model's; export tflite (float32) instead.")
    sampler = load_sampler(run, unsafe=unsafe)
    paths, out_dir = export_folders(run, sampler.model, out)
    n = max(2, min(samples, 64))
    z = latents(n, sampler.latent_dim, PARITY_SEED)
    y = sampler.labels_for(n)
    y = None if y is None else y.astype(np.int32)
    reference = np.asarray(sampler.call(z, y))
    source = Path(sampler.source) / "model.keras" if Path(sampler.source).is_dir() else Path(sampler.source)
    say(f"parity check on {n} latent vectors (seed {PARITY_SEED})")
    meta_base = {
        **sampler.meta,
        "input": {"latent": {"shape": [None, sampler.latent_dim], "dtype": "float32", "distribution": "N(0, 1)"},
                  **({"class_index": {"shape": [None], "dtype": "int32", "classes": sampler.classes}}
                     if sampler.conditional else {})},
        "output": {"shape": [None, *sampler.image_size, 3], "range": [0, 255], "dtype": "float32", "layout": "NHWC"},
        "source": {"path": str(source), "sha256": sha256(source)},
    }

    def check(run_export) -> dict:
        got = np.asarray(run_export(z, y))
        if got.shape != reference.shape:
            raise ExportFailed(f"The export returned images of shape {got.shape[1:]} instead of {reference.shape[1:]}.")
        worst = min(psnr_between(r, g) for r, g in zip(reference, got))
        return {"max_abs_diff": float(np.abs(reference - got).max()), "agreement": worst, "samples": n,
                "sample_source": f"{n} latent vectors", "passed": worst >= MIN_PSNR,
                "criterion": f"PSNR >= {MIN_PSNR:g} dB", "parity": "PSNR"}

    return write_formats(names, sampler.model, out_dir, meta_base, check, say,
                         f"the exported generator's images differ from the .keras model's (below {MIN_PSNR:g} dB "
                         f"PSNR)", opener=open_generator)
