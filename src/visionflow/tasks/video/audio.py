"""A clip's sound track as a model input: decoded with PyAV, mixed to mono and resampled, then a
log-mel spectrogram (tf.signal) spread over a fixed number of steps, as the frames are spread
over the clip.

- `read_sound(source)`: the samples (float32 in [-1, 1], mono, RATE Hz, at most MAX_SECONDS), or
  None for a file without an audio stream;
- `spectrogram(samples)`: (STEPS, MELS) float32 log-mel energies; a clip without sound (no track,
  or a track of digital silence) gives the floor value everywhere, and `has_sound` says which;
- `sound_input(source)`: what the model hears, (STEPS, MELS + 1): the spectrogram above its floor
  (divided by SCALE, so silence is 0) and a last channel that is 1 where the clip has sound and 0
  where it has none, so that the model can tell silence from a missing track's stand-in;
- `sound_network`: the audio branch, 1-D convolutions over time with the bands as channels.

The STFT uses 25 ms windows every 10 ms (the usual speech and sound-event front end, e.g. the
VGGish and YAMNet input); MELS bands from 20 Hz to just under the Nyquist frequency.
"""

from __future__ import annotations

import numpy as np

from visionflow.video.reader import VideoError

RATE = 16_000
MELS = 64
STEPS = 96
MAX_SECONDS = 60.0
WINDOW, HOP, FFT = 400, 160, 512
FLOOR = float(np.log(1e-6))  # the log-mel value of silence
SILENCE = 1e-4  # peak amplitude below which a track counts as silent


def read_sound(source) -> np.ndarray | None:
    """The sound track of a video file (path or bytes) as mono float32 samples at RATE Hz, the
    first MAX_SECONDS of it; None when the file holds no audio stream.

    Raises:
        VideoError: the file cannot be opened, or its audio cannot be decoded.
    """
    import io

    import av

    try:
        container = av.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{source if not isinstance(source, (bytes, bytearray)) else 'the upload'}: cannot be "
                         f"opened as a video ({exc})") from None
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks, total, limit = [], 0, int(MAX_SECONDS * RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    total += chunks[-1].size
                if total >= limit:
                    break
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            if not chunks:
                raise VideoError(f"{source}: its sound track cannot be decoded ({exc})") from None
    samples = np.concatenate(chunks).astype(np.float32)[:limit] if chunks else np.zeros(0, np.float32)
    return np.clip(samples, -1.0, 1.0)


def has_sound(samples: np.ndarray | None) -> bool:
    """Whether there is a track with anything but digital silence in it."""
    return samples is not None and samples.size > 0 and float(np.abs(samples).max()) >= SILENCE


def spectrogram(samples: np.ndarray | None) -> np.ndarray:
    """(STEPS, MELS) float32 log-mel energies of `samples`, the whole track resampled in time to
    STEPS steps; FLOOR everywhere for a clip without sound."""
    import tensorflow as tf

    if not has_sound(samples):
        return np.full((STEPS, MELS), FLOOR, np.float32)
    if samples.size < WINDOW:
        samples = np.pad(samples, (0, WINDOW - samples.size))
    stft = tf.signal.stft(tf.constant(samples), frame_length=WINDOW, frame_step=HOP, fft_length=FFT)
    power = tf.abs(stft) ** 2
    mel = tf.signal.linear_to_mel_weight_matrix(MELS, FFT // 2 + 1, RATE, 20.0, RATE / 2 - 1)
    log_mel = tf.math.log(tf.tensordot(power, mel, 1) + 1e-6)  # (time, MELS)
    resized = tf.image.resize(log_mel[None, :, :, None], (STEPS, MELS), method="area")
    return resized[0, :, :, 0].numpy().astype(np.float32)


SCALE = 10.0  # log-mel units per input unit


def features(samples: np.ndarray | None) -> np.ndarray:
    """(STEPS, MELS + 1) float32: the scaled spectrogram and the has-sound channel."""
    out = np.empty((STEPS, MELS + 1), np.float32)
    out[:, :MELS] = (spectrogram(samples) - FLOOR) / SCALE
    out[:, MELS] = 1.0 if has_sound(samples) else 0.0
    return out


def sound_input(source) -> np.ndarray:
    """What the model hears of one clip (a path or bytes); raises VideoError for an unreadable file."""
    return features(read_sound(source))


def load_sounds(paths: list[str], workers: int = 2) -> np.ndarray:
    """(n, STEPS, MELS + 1) float32: `sound_input` of every clip, in `workers` threads."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return np.stack(list(pool.map(sound_input, paths))) if paths else np.zeros((0, STEPS, MELS + 1), np.float32)


def sound_network(regularizer=None):
    """The audio branch: (STEPS, MELS + 1) -> a 64-long vector (two 1-D convolution blocks over time,
    the bands and the has-sound flag as channels, average-pooled)."""
    import keras

    from visionflow.models.registry import BN_MOMENTUM

    inputs = keras.Input(shape=(STEPS, MELS + 1), dtype="float32", name="audio")
    x = inputs
    for i, filters in enumerate((32, 64)):
        x = keras.layers.Conv1D(filters, 5, padding="same", use_bias=False, kernel_regularizer=regularizer,
                                name=f"audio_conv{i}")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"audio_bn{i}")(x)
        x = keras.layers.ReLU(name=f"audio_relu{i}")(x)
        x = keras.layers.MaxPooling1D(2, name=f"audio_pool{i}")(x)
    return inputs, keras.layers.GlobalAveragePooling1D(name="audio_gap")(x)
