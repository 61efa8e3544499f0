"""Model registry: every network visionflow can train, listed by `visionflow models`.

A model is registered with `@register(name, ...)` on a builder
`build(input_shape, regularizer[, weights]) -> keras.Model` that returns features: raw RGB pixels in
[0, 255] (float or uint8) in, one feature vector per image out. The task (`visionflow.tasks`)
attaches the head: `build_model` does both. Every model does its own rescaling, so the saved file
is all that inference needs. Networks that only one task can train (image-to-image, generators,
clip models) live in that task's folder (`visionflow/tasks/<name>/models.py`) and are registered
when the task is loaded; `visionflow.tasks.load_all()` loads every task for a full listing.
"""

from visionflow.models.registry import (MODELS, ModelSpec, build_features, build_model, check_model, model_table,
                                       names_for, register)
from visionflow.models import seed_cnn, small_cnn, backbones, efficientnet_lite, efficientnet_lite_torch  # noqa: F401  (registers the models)

__all__ = ["MODELS", "ModelSpec", "build_features", "build_model", "check_model", "model_table", "names_for", "register"]
