"""`visionflow export` of a model of a task with its own outputs: the network (with whatever its
predictor runs in the graph) written in each format, and each format kept only where its answers
on sample images (the run's validation images, at their own size) agree with the .keras model's
by the task's parity rule. Int8 formats are written only where they pass the same check.

A task subclasses `ParityExport` with its predictor class, how two answers are compared and what
the exported output holds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np


class ParityExport:
    """Subclasses set `predictor` (a NetworkPredictor class), `max_samples`, `parity` (one word:
    what is compared) and implement `compare`, `output` and `failed`."""

    predictor: type = None
    max_samples = 16
    parity = ""

    def output(self, predictor, model) -> dict:
        """labels.json `output` of the export: shape, layout, postprocess."""
        raise NotImplementedError

    def compare(self, predictor, reference: list, got: list) -> tuple[float, bool, str]:
        """(agreement share, passed, the criterion in words) of an export's answers `got` against
        the .keras model's `reference` on the same images."""
        raise NotImplementedError

    def failed(self) -> str:
        """Why a format that failed was not written, in words (after "Parity check failed for X: ")."""
        raise NotImplementedError

    def raw_difference(self, reference: np.ndarray, got: np.ndarray) -> float:
        """The largest difference between the two networks' raw outputs on one image."""
        return float(np.abs(got - reference).max())

    def __call__(self, run: str | Path, names: list[str], out: str | Path | None, samples: int,
                 min_agreement: float, unsafe: bool, say: Callable[[str], None]) -> list:
        """The task's "exporter" part: ExportResults of the formats `names`; ExportFailed naming those
        that failed parity (the others are written)."""
        from visionflow.export.exporter import all_passed, export_folders, sha256, write_checked
        from visionflow.export.formats import FORMATS
        from visionflow.export.samples import whole_images

        keras_side = self.predictor.load(run, backend="keras", unsafe=unsafe)
        paths, out_dir = export_folders(run, keras_side.keras_model, out)
        images, where = whole_images(paths.manifest, keras_side.image_size, max(1, min(samples, self.max_samples)))
        say(f"parity check on {where}")
        reference = keras_side.answers(images)
        model = self.predictor.graph(keras_side.keras_model)
        prepared = np.stack([keras_side.prepare(im) for im in images])
        reference_raw = np.asarray(model(prepared[:1].astype(np.float32), training=False))  # also builds it for tf2onnx
        source = Path(keras_side.source)
        h, w = keras_side.image_size
        meta = {**keras_side.meta, "input": {"name": model.inputs[0].name, "shape": [None, h, w, 3], "dtype": "float32",
                                             "range": [0, 255], "resize": "stretch"},
                "output": self.output(keras_side, model), "source": {"path": str(source), "sha256": sha256(source)}}
        results = []
        for name in names:
            fmt = FORMATS.get(name)

            def check(run_export, fmt=fmt) -> dict:
                other = self.predictor(run_export, keras_side.meta, fmt.name, "")
                share, passed, criterion = self.compare(keras_side, reference, other.answers(images))
                raw = np.asarray(run_export(prepared[:1].astype(np.float32)))
                return {"max_abs_diff": self.raw_difference(reference_raw, raw), "agreement": share,
                        "samples": len(images), "sample_source": where, "passed": passed, "criterion": criterion,
                        "parity": self.parity}

            result = write_checked(fmt, model, out_dir, meta, check, calibration=prepared if fmt.quantized else None)
            say(result.line())
            results.append(result)
        return all_passed(results, self.failed())
