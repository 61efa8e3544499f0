"""Image-to-image networks for restoration: any input size in, a restored image out.

All take RGB pixels in [0, 255] (denoising and super-resolution: 3 channels; inpainting: 4, the
image with its hole filled grey and the mask, 255 in the hole) and return RGB pixels in
[0, 255]. None uses batch normalization: the models train on small patches and run on whole
images, where patch statistics would not hold, and a BN-free network exports to ONNX and TFLite
with dynamic height and width unchanged. Sides must be a multiple of the spec's `multiple`;
`visionflow.tasks.restoration.Restorer` pads (by reflection) and crops back.
"""

from __future__ import annotations

import keras
from keras import layers

from visionflow.models.layers import (ClipPixels, GaussianBlur, KeepKnown, PixelShuffle, PixelUnshuffle,
                                     PushPullFill, Upscale)
from visionflow.models.registry import register

# He initialisation keeps the signal's scale through a stack of ReLU convolutions; with Keras'
# default (Glorot) the activations of a 12-layer stack shrink ~2x per layer and training stalls.
HE = "he_normal"


def _convs(x, width: int, depth: int, name: str):
    for i in range(depth):
        x = layers.Conv2D(width, 3, padding="same", activation="relu", kernel_initializer=HE,
                          name=f"{name}{i + 1}")(x)
    return x


@register("ffdnet_s", "Denoiser: FFDNet-style residual CNN on 2x2 sub-images, 12 conv layers, 64 wide",
          default_dropout=0.0, min_size=2, tasks=("denoise",), multiple=2)
def ffdnet_s(channels: int = 3, width: int = 64, depth: int = 10, start: float = 1.0, **_) -> keras.Model:
    """Predicts the noise and subtracts it (DnCNN's residual learning, Zhang et al. 2017), working
    on the four 2x2-subsampled sub-images stacked as channels (FFDNet, Zhang et al. 2018): the
    same receptive field as a DnCNN twice as deep at a quarter of the arithmetic, which is what a
    CPU budget needs. No noise-level input map: a model trained on a range of levels is blind.
    DnCNN's batch normalization is left out (see the module docstring); in its place the last
    layer also sees the input pixels, so that "pixel minus its neighbours' consensus" is one
    layer away from the start instead of twelve, which is what made a BN-free stack learn
    slowly (measured: test loss flat for the first epochs without it). And the correction is
    applied to a Gaussian blur of the input (`start`, sigma in pixels; 0: the input itself), a
    classical first estimate: from the input, 1.5 minutes of training on flowers5 photos at
    sigma 25 reached 21.6-23.0 dB (29.4 at a learning rate that diverges once the blur is
    added); from the blur, 32.6 dB, past the tuned blur's 31.4."""
    image = keras.Input((None, None, channels), name="image")
    x = layers.Rescaling(1.0 / 255.0, offset=-0.5, name="scale")(image)
    subs = PixelUnshuffle(2, name="unshuffle")(x)
    x = layers.Conv2D(width, 3, padding="same", activation="relu", kernel_initializer=HE, name="stem")(subs)
    x = _convs(x, width, depth, "body")
    x = layers.Concatenate(name="with_input")([x, subs])  # the last layer sees the pixels too (see above)
    # Zero-initialised: the untrained model returns its input unchanged and learns from there.
    x = layers.Conv2D(channels * 4, 3, padding="same", kernel_initializer="zeros", name="noise")(x)
    noise = layers.Rescaling(255.0, name="to_pixels")(PixelShuffle(2, name="shuffle")(x))
    base = GaussianBlur(start, name="smooth")(image) if start else image
    out = ClipPixels(name="clip")(layers.Subtract(name="denoised")([base, noise]))
    return keras.Model(image, out, name="ffdnet_s")


@register("espcn_s", "Super-resolution: ESPCN-style sub-pixel CNN at low resolution over a bilinear upscale",
          default_dropout=0.0, min_size=1, tasks=("superres",))
def espcn_s(scale: int = 2, channels: int = 3, width: int = 64, depth: int = 6, **_) -> keras.Model:
    """Every convolution runs on the low-resolution input and one sub-pixel layer upsamples at the
    end (ESPCN, Shi et al. 2016), so the cost per output pixel falls with the square of the
    scale; deeper than ESPCN's three layers (6 at 64 wide) with a long skip over a bilinear
    upscale, so the network only learns the missing detail (as VDSR's global residual)."""
    image = keras.Input((None, None, channels), name="image")
    x = layers.Rescaling(1.0 / 255.0, offset=-0.5, name="scale")(image)
    x = layers.Conv2D(width, 5, padding="same", activation="relu", kernel_initializer=HE, name="stem")(x)
    x = _convs(x, width, depth, "body")
    x = layers.Conv2D(channels * scale * scale, 3, padding="same", kernel_initializer="zeros", name="detail")(x)
    detail = layers.Rescaling(255.0, name="to_pixels")(PixelShuffle(scale, name="shuffle")(x))
    base = Upscale(scale, name="upscale")(image)
    out = ClipPixels(name="clip")(layers.Add(name="restored")([base, detail]))
    return keras.Model(image, out, name=f"espcn_s_x{scale}")


def _unet(x, width: int, levels: int = 3):
    """The body of a U-Net (Ronneberger et al. 2015): `levels` stride-2 encoder levels (two 3x3
    convolutions each, `width` doubling), two dilated convolutions in the middle, and a decoder
    joined by skip connections at every level; full-resolution features out."""
    skips = []
    for level in range(levels):
        x = layers.Conv2D(width * 2 ** level, 3, padding="same", activation="relu", kernel_initializer=HE,
                          name=f"enc{level}a")(x)
        x = layers.Conv2D(width * 2 ** level, 3, padding="same", activation="relu", kernel_initializer=HE,
                          name=f"enc{level}b")(x)
        skips.append(x)
        x = layers.Conv2D(width * 2 ** (level + 1), 3, strides=2, padding="same", activation="relu",
                          kernel_initializer=HE, name=f"down{level}")(x)
    x = layers.Conv2D(width * 4, 3, padding="same", activation="relu", dilation_rate=2,
                      kernel_initializer=HE, name="middle_a")(x)
    x = layers.Conv2D(width * 4, 3, padding="same", activation="relu", dilation_rate=4,
                      kernel_initializer=HE, name="middle_b")(x)
    for level in reversed(range(levels)):
        x = Upscale(2, "nearest", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"join{level}")([x, skips[level]])
        x = layers.Conv2D(width * 2 ** level, 3, padding="same", activation="relu", kernel_initializer=HE,
                          name=f"dec{level}a")(x)
        x = layers.Conv2D(width * 2 ** level, 3, padding="same", activation="relu", kernel_initializer=HE,
                          name=f"dec{level}b")(x)
    return x


@register("unet_inpaint", "Inpainting: small U-Net (3 levels, 32-128 wide) that corrects a push-pull fill of the holes",
          default_dropout=0.0, min_size=8, tasks=("inpaint",), multiple=8)
def unet_inpaint(width: int = 32, **_) -> keras.Model:
    """A U-Net (Ronneberger et al. 2015) with three stride-2 levels: holes a few dozen pixels wide
    need a receptive field larger than they are, which plain stacked convolutions reach only
    with many more layers. Skip connections carry the known pixels at full resolution; the
    output keeps every known pixel (KeepKnown) and the loss is taken inside the holes.

    The holes are first filled by push-pull interpolation (PushPullFill, no weights) and the
    network learns the correction (zero-initialised, so it starts from that fill), as the
    denoiser starts from a blur. Measured on 30 hymenoptera photos, holes in PSNR: the fill alone
    20.87 dB, OpenCV's Telea 21.56; the U-Net from a grey fill, after 8 epochs, 19.58."""
    given = keras.Input((None, None, 4), name="image")
    fill = PushPullFill(name="prefill")(given)
    x = layers.Concatenate(name="with_fill")([fill, given])
    x = layers.Rescaling(1.0 / 255.0, offset=-0.5, name="scale")(x)
    x = _unet(x, width)
    correction = layers.Conv2D(3, 1, kernel_initializer="zeros", name="fill")(x)
    guess = layers.Add(name="refined")([fill, layers.Rescaling(255.0, name="to_pixels")(correction)])
    out = ClipPixels(name="clip")(KeepKnown(name="keep_known")([given, guess]))
    return keras.Model(given, out, name="unet_inpaint")


@register("unet_deblur", "Deblurring: U-Net (3 levels, 32-128 wide) on 2x2 sub-images adding a learnt correction to the blurred input",
          default_dropout=0.0, min_size=16, tasks=("deblur",), multiple=16)
def unet_deblur(width: int = 32, **_) -> keras.Model:
    """Undoing blur needs context several kernel widths across (a motion streak of 9 pixels, a
    Gaussian of sigma 2 spans 13), which a U-Net's three stride-2 levels reach cheaply. The U-Net
    runs on the four 2x2-subsampled sub-images stacked as channels (as FFDNet, Zhang et al. 2018)
    and a sub-pixel layer returns to full resolution: lossless, at a quarter of the arithmetic, so
    a 10-minute CPU budget sees 3.5x the crops. Measured on 16 hymenoptera validation photos
    after 150 s of training at sigma 2 (96-px crops): 27.54 dB against the full-resolution
    U-Net's 26.91 and unsharp masking's 26.05; 64-px crops 27.89. The output is the blurred input
    plus a zero-initialised correction (the last layer also sees the sub-images), so the
    untrained model returns its input and learns the missing detail."""
    image = keras.Input((None, None, 3), name="image")
    x = layers.Rescaling(1.0 / 255.0, offset=-0.5, name="scale")(image)
    subs = PixelUnshuffle(2, name="unshuffle")(x)
    x = layers.Concatenate(name="with_input")([_unet(subs, width), subs])
    x = layers.Conv2D(12, 3, padding="same", kernel_initializer="zeros", name="detail")(x)
    correction = layers.Rescaling(255.0, name="to_pixels")(PixelShuffle(2, name="shuffle")(x))
    out = ClipPixels(name="clip")(layers.Add(name="restored")([image, correction]))
    return keras.Model(image, out, name="unet_deblur")
