"""`visionflow export` for restoration models: float formats with dynamic height and width, each
checked by PSNR between its output and the .keras model's on images of several sizes.

Quantized formats are refused: an 8-bit restoration network loses the fine detail it exists for.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

import numpy as np

from visionflow.errors import ConfigError, ExportFailed
from visionflow.rundir import locate

MIN_PSNR = 50.0  # dB between an export's output and the .keras model's, on every sample image
MAX_SIDE = 320  # sample images are cropped to at most this side (parity, not speed, is measured)
SAMPLE_SIZES = ((96, 128), (131, 77), (64, 64), (200, 152))  # generated samples: odd and uneven sides too


def sample_inputs(restorer, manifest: Path, count: int) -> tuple[list[np.ndarray], str]:
    """Model inputs for the parity check: the run's validation images (cropped to different sizes,
    so that dynamic height and width are exercised), degraded as the task does, topped up with
    generated ones."""
    from visionflow.data.decode import DecodeError, decode
    from visionflow.export.samples import generated_images

    rows = []
    if manifest.exists():
        with open(manifest, newline="", encoding="utf-8") as fh:
            rows = [r["path"] for r in csv.DictReader(fh) if r.get("split") == "validation" and r.get("status") == "ok"]
    clean = []
    for path in rows:
        try:
            image = decode(locate(path, manifest.parent))
        except DecodeError:
            continue
        k = len(clean)
        clean.append(image[:MAX_SIDE - 17 * k, :MAX_SIDE - 29 * k])
        if len(clean) == count:
            break
    real = len(clean)
    for i in range(count - real):
        clean.append(generated_images(SAMPLE_SIZES[i % len(SAMPLE_SIZES)], 1, seed=i)[0])
    inputs = [restorer.task.degrade_image(c, restorer.meta, (i, 7))[0] for i, c in enumerate(clean)]
    where = (f"{real} validation images of the run" + (f" + {count - real} generated" if count > real else "")
             if real else f"{count} generated images")
    return inputs, where


def export(run: str | Path, names: list[str], out: str | Path | None, samples: int, min_agreement: float,
           unsafe: bool, say: Callable[[str], None]) -> list:
    """Writes each format of a restoration run (see `visionflow.export.export`); parity is the
    lowest PSNR between the format's output and the .keras model's over the sample images."""
    from visionflow.export.exporter import export_folders, psnr_between, sha256, write_formats
    from visionflow.export.formats import FORMATS
    from visionflow.tasks.restoration.restorer import Restorer

    quantized = [n for n in names if FORMATS.get(n).quantized]
    if quantized:
        raise ConfigError(f"{', '.join(quantized)} is for classifiers: an 8-bit restoration model loses the fine "
                          f"detail it is for; export tflite (float32) instead.")
    restorer = Restorer.load(run, unsafe=unsafe)
    paths, out_dir = export_folders(run, restorer.model, out)
    inputs, where = sample_inputs(restorer, paths.manifest, min(samples, 4))
    say(f"parity check on {where} ({', '.join(f'{x.shape[1]}x{x.shape[0]}' for x in inputs)} pixels)")
    padded = [restorer.padded(x)[None] for x in inputs]
    reference = [np.asarray(restorer.runtime(x)) for x in padded]
    source = Path(restorer.source)
    channels, scale = restorer.channels, restorer.scale
    meta_base = {
        **restorer.meta,
        "input": {"name": restorer.model.inputs[0].name, "shape": [None, None, None, channels], "dtype": "float32",
                  "range": [0, 255], "layout": "NHWC", "multiple": restorer.multiple,
                  "color": "RGB" if channels == 3 else "RGB + hole mask (255 in the hole)"},
        "output": {"shape": [None, None, None, int(restorer.model.outputs[0].shape[-1])], "scale": scale, "range": [0, 255], "dtype": "float32"},
        "source": {"path": str(source), "sha256": sha256(source)},
    }
    def check(runtime) -> dict:
        got = [np.asarray(runtime(x)) for x in padded]
        if any(g.shape != r.shape for g, r in zip(got, reference)):
            raise ExportFailed(f"The export returned images of another size than the .keras model "
                               f"({got[0].shape[1:3]} vs {reference[0].shape[1:3]}).")
        worst = min(psnr_between(r, g) for r, g in zip(reference, got))
        return {"max_abs_diff": max(float(np.abs(r - g).max()) for r, g in zip(reference, got)), "agreement": worst,
                "samples": len(padded), "sample_source": where, "passed": worst >= MIN_PSNR,
                "criterion": f"PSNR >= {MIN_PSNR:g} dB", "parity": "PSNR"}

    return write_formats(names, restorer.model, out_dir, meta_base, check, say,
                         f"the exported model's images differ from the .keras model's (below {MIN_PSNR:g} dB PSNR)")
