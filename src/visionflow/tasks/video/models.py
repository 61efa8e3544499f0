"""Clip models for `--task video`: (frames, h, w, 3) pixels in, one feature vector per clip out.

Three families, so that what the recurrent model adds can be measured:
- `frame_pool`: a per-frame CNN whose features are averaged over time: the baseline. It sees
  what is in the frames but not their order, so it cannot tell a movement from its reverse.
- `cnn_gru` / `cnn_lstm`: the same per-frame CNN, then a recurrent layer over the sequence of
  frame features (the tutorial's CNN + RNN): order and change over time are what it reads.
- `r2plus1d_s`: (2+1)D convolutions (Tran et al. 2018): each 3D convolution split into a spatial
  (1x3x3) and a temporal (3x1x1) one, so motion is seen locally, at every layer. The default:
  it learnt both bench cases (a moving object, camera pans and zooms over photos) where the
  recurrent models learnt only the first, in less time.

The per-frame CNN is small_cnn's recipe at a quarter of the width (a clip is 16 images), with
two coordinate channels added to its input (CoordConv, Liu et al. 2018) and its features pooled
over a coarse grid instead of the whole frame: global average pooling throws away where things
are, and where something is, frame after frame, is what a movement is.
"""

from __future__ import annotations

import keras

from visionflow.models.layers import AddCoords
from visionflow.models.registry import BN_MOMENTUM, register

DEFAULT_FRAMES = 16
DEFAULT_SIZE = 64
TASKS = ("video",)


def clip_input(input_shape) -> keras.KerasTensor:
    """The model input: a clip of RGB frames in [0, 255], (frames, h, w, 3)."""
    return keras.Input(shape=tuple(input_shape), dtype="float32", name="clip")


GRID = 4  # the per-frame features keep a GRID x GRID layout of the frame


def frame_encoder(frame_shape, regularizer=None, name: str = "frame_encoder") -> keras.Model:
    """Per-frame CNN: coordinates added, strided stem (16), stages of 32 and 64 with pooling, then
    24 channels averaged over a 4x4 grid of the frame: 384 features per frame that say what is
    where (global pooling alone would say only what)."""
    inputs = keras.Input(shape=tuple(frame_shape), name="frame")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = AddCoords(name="coords")(x)
    for i, (filters, strides, pool) in enumerate([(16, 2, False), (32, 1, True), (64, 1, True)]):
        x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                                kernel_regularizer=regularizer, name=f"f{i}_conv")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"f{i}_bn")(x)
        x = keras.layers.ReLU(name=f"f{i}_relu")(x)
        if pool:
            x = keras.layers.MaxPooling2D(2, name=f"f{i}_pool")(x)
    x = keras.layers.Conv2D(24, 1, kernel_regularizer=regularizer, activation="relu", name="f_reduce")(x)
    fh, fw = x.shape[1], x.shape[2]  # (h/8, w/8)
    x = keras.layers.AveragePooling2D((max(1, fh // GRID), max(1, fw // GRID)), name="f_grid")(x)
    x = keras.layers.Flatten(name="f_flat")(x)
    return keras.Model(inputs, x, name=name)


def _per_frame(input_shape, regularizer):
    inputs = clip_input(input_shape)
    features = keras.layers.TimeDistributed(frame_encoder(input_shape[1:], regularizer), name="frames")(inputs)
    return inputs, features  # (frames, 384)


@register("frame_pool", "Video baseline: a per-frame CNN averaged over time (blind to frame order).",
          default_dropout=0.3, min_size=16, tasks=TASKS)
def build_frame_pool(input_shape=(DEFAULT_FRAMES, DEFAULT_SIZE, DEFAULT_SIZE, 3), regularizer=None) -> keras.Model:
    inputs, features = _per_frame(input_shape, regularizer)
    x = keras.layers.GlobalAveragePooling1D(name="time_pool")(features)
    return keras.Model(inputs, x, name="frame_pool")


def _recurrent(kind: str, input_shape, regularizer) -> keras.Model:
    inputs, features = _per_frame(input_shape, regularizer)
    layer = keras.layers.GRU if kind == "gru" else keras.layers.LSTM
    x = layer(64, kernel_regularizer=regularizer, name=kind)(features)  # the last state: the whole clip read in order
    return keras.Model(inputs, x, name=f"cnn_{kind}")


@register("cnn_gru", "Video: a per-frame CNN, then a GRU over the frames (CNN + RNN).",
          default_dropout=0.3, min_size=16, tasks=TASKS)
def build_cnn_gru(input_shape=(DEFAULT_FRAMES, DEFAULT_SIZE, DEFAULT_SIZE, 3), regularizer=None) -> keras.Model:
    return _recurrent("gru", input_shape, regularizer)


@register("cnn_lstm", "Video: a per-frame CNN, then an LSTM over the frames.",
          default_dropout=0.3, min_size=16, tasks=TASKS)
def build_cnn_lstm(input_shape=(DEFAULT_FRAMES, DEFAULT_SIZE, DEFAULT_SIZE, 3), regularizer=None) -> keras.Model:
    return _recurrent("lstm", input_shape, regularizer)


def _conv2plus1d(x, filters: int, regularizer, name: str, spatial_stride: int = 1):
    x = keras.layers.Conv3D(filters, (1, 3, 3), strides=(1, spatial_stride, spatial_stride), padding="same",
                            use_bias=False, kernel_regularizer=regularizer, name=f"{name}_s")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_s_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_s_relu")(x)
    x = keras.layers.Conv3D(filters, (3, 1, 1), padding="same", use_bias=False, kernel_regularizer=regularizer,
                            name=f"{name}_t")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_t_bn")(x)
    return keras.layers.ReLU(name=f"{name}_t_relu")(x)


@register("r2plus1d_s", "Video default: (2+1)D convolutions, spatial 1x3x3 then temporal 3x1x1, pooled over space and time.",
          default_dropout=0.3, min_size=16, tasks=TASKS)
def build_r2plus1d(input_shape=(DEFAULT_FRAMES, DEFAULT_SIZE, DEFAULT_SIZE, 3), regularizer=None) -> keras.Model:
    inputs = clip_input(input_shape)
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = _conv2plus1d(x, 16, regularizer, "b0", spatial_stride=2)
    x = keras.layers.MaxPooling3D((1, 2, 2), name="b0_pool")(x)
    x = _conv2plus1d(x, 32, regularizer, "b1")
    x = keras.layers.MaxPooling3D((2, 2, 2), name="b1_pool")(x)
    x = _conv2plus1d(x, 64, regularizer, "b2")
    x = keras.layers.GlobalAveragePooling3D(name="gap")(x)
    return keras.Model(inputs, x, name="r2plus1d_s")
