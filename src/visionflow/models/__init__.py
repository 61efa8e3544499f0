"""Model registry: every network visionflow can train, listed by `visionflow models`.

A model is registered with `@register(name, ...)` on a builder
`build(input_shape, regularizer[, weights]) -> keras.Model` that returns features: raw RGB pixels in
[0, 255] (float or uint8) in, one feature vector per image out. The task (`visionflow.tasks`)
attaches the head: `build_model` does both. Every model does its own rescaling, so the saved file
is all that inference needs. Image-to-image models (restoration tasks, `models/restoration.py`)
are registered with the tasks they serve and build whole: pixels in, pixels out.
"""

from visionflow.models.registry import (MODELS, ModelSpec, build_features, build_model, check_model, model_table,
                                       names_for, register)
from visionflow.models import seed_cnn, small_cnn, backbones, efficientnet_lite, restoration, video, gan  # noqa: F401  (registers the models)

__all__ = ["MODELS", "ModelSpec", "build_features", "build_model", "check_model", "model_table", "names_for", "register"]
