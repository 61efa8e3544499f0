"""Clip classification (`--task video`): one class per video clip.

Data: DIR/train/<class>/*.mp4 + DIR/validation/<class>/ (or DIR/<class>/ with --val-split). Each
clip becomes `--frames` frames taken uniformly over its length at the model's input size
(`visionflow.tasks.video.clips`); the clips are decoded once, before the first epoch, and kept as
tensors. With `--audio` each clip's sound track is heard too (`visionflow.tasks.video.audio`): a
log-mel spectrogram through a small audio network, joined with the clip network's features. Augmentation is the same for every frame of a clip (one crop, one brightness and
contrast change; mirroring only with `--augment strong`, since mirroring turns a movement to the
left into one to the right). Everything after the input is classification's: head, loss,
metrics, calibration, report, predictions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from visionflow.errors import ConfigError
from visionflow.settings import TaskOptions, check, option
from visionflow.tasks.base import TASKS
from visionflow.tasks.classification import Classification, encode_labels

# r2plus1d_s by measurement: 1.000 / 0.988 on the two bench cases against cnn_gru 0.988 / 0.300, in less time
# (bench/README.md "Clip classification").
DEFAULTS = {"model": "r2plus1d_s", "weights": "none", "head_epochs": 0, "image_size": (64, 64), "epochs": 40,
            "time_budget": 15.0, "optimizer": "adam", "learning_rate": 2e-3, "weight_decay": 1e-4,
            "lr_schedule": "cosine", "augment": "light", "mixup": 0.0, "label_smoothing": 0.0, "patience": 0,
            "keep": "last"}


@dataclass(frozen=True)
class VideoOptions(TaskOptions):
    frames: int = option(16, "Frames taken uniformly over each clip.")
    audio: bool = option(False, "Also hear each clip: its sound track as a log-mel spectrogram through a small audio "
                                "network joined with the clip network; clips without sound get silence and a flag "
                                "the model sees.")

    def check(self) -> None:
        check(self.frames >= 2, f"--frames must be at least 2 for a clip model. Received: {self.frames}")


class VideoClassification(Classification):
    name = "video"
    options = VideoOptions
    declines = ("head_epochs", "freeze_epochs", "mixup")
    decline_reason = "is not supported for --task video."
    parts = {**Classification.parts, "finish": "visionflow.tasks.video:finish_run"}
    private = False  # clip models untested under DP-SGD
    scratch_challenger = False  # clip models train from scratch already
    description = "One class per video clip: frames sampled uniformly, a (2+1)D CNN (or CNN + RNN), softmax."
    data_help = "DIR/<class>/*.mp4, or DIR/train + DIR/validation holding class folders of clips"
    monitor = "val_accuracy"
    parity = "top-1 agreement"
    inputs = "clip"
    networks = "visionflow.tasks.video.models"
    distillable = False  # a teacher's answers are per image
    on_features = False  # clip networks of its own (tasks/video/models.py)

    def check_config(self, cfg):
        self.check_declined(cfg)
        if cfg.weights not in (None, "none"):
            raise ConfigError(f"video models train from scratch; drop --weights {cfg.weights}.")
        filled = {k: v for k, v in DEFAULTS.items() if getattr(cfg, k) is None}
        return super().check_config(cfg.replace(**filled))

    # -- data ---------------------------------------------------------------------------------
    def load_data(self, cfg, split_file=None):
        """The scanned clip folder, with every usable clip decoded (`clips`) and the time and
        memory that took in the data report."""
        from visionflow.tasks.video.clips import load_clip_folder

        folder = load_clip_folder(cfg.data, cfg.val_split, cfg.seed, split_file=split_file)
        start = time.perf_counter()
        sizes = [self.clips(cfg, folder, split).nbytes for split in folder.splits]
        folder.report["decoded"] = {"frames": int(cfg.frames), "size": list(cfg.image_size),
                                    "megabytes": round(sum(sizes) / 2**20, 1),
                                    "seconds": round(time.perf_counter() - start, 2)}
        if cfg.audio:
            self._hear(cfg, folder)
        return folder

    def _hear(self, cfg, folder) -> None:
        """Every clip's sound decoded (`audio`), counted in the data report; DataError when no
        training clip has sound."""
        from visionflow.errors import DataError
        from visionflow.tasks.video.audio import MELS

        start = time.perf_counter()
        heard = {split: int((self.sounds(cfg, folder, split)[:, 0, MELS] > 0).sum()) for split in folder.splits}
        if not heard.get("train"):
            raise DataError(f"None of the {len(folder.splits['train'])} training clips in {cfg.data} has sound (no "
                            f"audio track, or only silence), so --audio has nothing to hear; drop --audio.")
        folder.report["sound"] = {"clips_with_sound": heard, "seconds": round(time.perf_counter() - start, 2)}
        folder.report.setdefault("details", []).append(
            "sound: " + ", ".join(f"{split} {n} of {len(folder.splits[split])} clips" for split, n in heard.items())
            + " have it (the others are heard as silence, flagged)")

    def sounds(self, cfg, folder, split: str) -> np.ndarray:
        """What the model hears of each clip of `split`, (n, STEPS, MELS + 1), decoded once per folder."""
        from visionflow.tasks.video.audio import load_sounds

        cache = folder.__dict__.setdefault("decoded_sounds", {})
        if split not in cache:
            cache[split] = load_sounds([r.path for r in folder.splits[split]])
        return cache[split]

    def evaluation_data(self, data, predictor, labels=None):
        from visionflow.errors import DataError
        from visionflow.tasks.base import EvaluationData
        from visionflow.tasks.video.clips import _check_clip, _list_clips

        if labels:
            raise DataError("--labels is for multi-label models; a clip classifier reads the class from each clip's folder.")
        records = [_check_clip(r) for r in _list_clips(data, "evaluation", predictor.classes)]
        good = [r for r in records if r.ok]
        if not good:
            raise DataError(f"No usable clips in {data}; expected {data}/<class>/*.mp4 with the model's classes "
                            f"({', '.join(predictor.classes)}).")
        return EvaluationData(records, good, self.targets(good, predictor.classes))

    def clips(self, cfg, folder, split: str) -> np.ndarray:
        """The decoded clips of `split`, (n, frames, h, w, 3) uint8, decoded once per folder."""
        from visionflow.data.resize import Resize
        from visionflow.video.frames import load_clips

        cache = folder.__dict__.setdefault("decoded_clips", {})
        key = (split, cfg.frames, tuple(cfg.image_size), cfg.resize)
        if key not in cache:
            cache[key] = load_clips([r.path for r in folder.splits[split]], cfg.frames, tuple(cfg.image_size),
                                    Resize(cfg.resize))
        return cache[key]

    def datasets(self, cfg, folder, paths, batch_size: int):
        import tensorflow as tf

        from visionflow.data.pipeline import steady

        train_x, val_x = self.clips(cfg, folder, "train"), self.clips(cfg, folder, "validation")
        train_y = encode_labels(self.targets(folder.splits["train"], folder.classes), len(folder.classes))
        val_y = encode_labels(self.targets(folder.splits["validation"], folder.classes), len(folder.classes))
        heard = {split: self.sounds(cfg, folder, split) if cfg.audio else None for split in ("train", "validation")}
        train = _clip_dataset(train_x, train_y, batch_size, shuffle=cfg.seed, sounds=heard["train"])
        if cfg.augment != "none":
            mirror = cfg.augment == "strong"
            train = train.map(lambda x, y: (_on_clip(x, lambda c: augment_clips(c, mirror)), y),
                              num_parallel_calls=tf.data.AUTOTUNE)
        val = _clip_dataset(val_x, val_y, batch_size, sounds=heard["validation"])
        return steady(train), steady(val)

    def statistics_dataset(self, cfg, folder, batch_size: int):
        from visionflow.training.precise_bn import PRECISE_BN_IMAGES

        clips = self.clips(cfg, folder, "train")  # shuffled once, as for images (see Task.statistics_dataset)
        order = np.random.default_rng(cfg.seed).permutation(len(clips))[:max(1, PRECISE_BN_IMAGES // cfg.frames)]
        targets = np.zeros((len(order), 1), np.float32)
        sounds = self.sounds(cfg, folder, "train")[order] if cfg.audio else None
        return _clip_dataset(clips[order], targets, batch_size, sounds=sounds)

    # -- model --------------------------------------------------------------------------------
    def build(self, cfg, classes):
        import keras

        from visionflow.models import check_model
        from visionflow.models.registry import make_regularizer

        spec = check_model(cfg.model, cfg.image_size, "none", task=self.name)
        regularizer = make_regularizer(cfg.l1, cfg.l2)
        net = spec.build(input_shape=(cfg.frames, *cfg.image_size, 3), regularizer=regularizer)
        rate = spec.default_dropout if cfg.dropout is None else cfg.dropout
        if not cfg.audio:
            return keras.Model(net.inputs[0], self.head(net.outputs[0], classes, rate, regularizer), name=net.name)
        from visionflow.tasks.video.audio import sound_network

        sound, heard = sound_network(regularizer)
        joined = keras.layers.Concatenate(name="fusion_concat")([net.outputs[0], heard])
        x = keras.layers.Dense(128, activation="relu", kernel_regularizer=regularizer, name="fusion")(joined)
        return keras.Model([net.inputs[0], sound], self.head(x, classes, rate, regularizer), name=net.name)

    def meta(self, cfg, classes):
        from visionflow.tasks.video import audio

        heard = {"audio": {"rate": audio.RATE, "mels": audio.MELS, "steps": audio.STEPS}} if cfg.audio else {}
        return {**super().meta(cfg, classes), "frames": int(cfg.frames), **heard}

    # -- the second input of a model that hears ------------------------------------------------
    def sample_second_input(self, predictor, count, seed=0):
        from visionflow.tasks.video.audio import MELS, STEPS

        rng = np.random.default_rng(seed)
        out = rng.uniform(0.0, 1.5, (count, STEPS, MELS + 1)).astype(np.float32)
        out[:, :, MELS] = (rng.random(count) < 0.8)[:, None]  # most clips have sound
        out[out[:, 0, MELS] == 0, :, :MELS] = 0.0  # and those without are silent
        return out

    def second_input(self, item, predictor):
        """What a clip model that hears takes beside the frames: the clip's sound (`audio`), or the
        reason it cannot be had; None for a model of frames alone."""
        if not predictor.audio:
            return None
        from visionflow.tasks.video.audio import sound_input
        from visionflow.video.reader import VideoError

        if isinstance(item, np.ndarray):
            return "a clip given as frames has no sound; give the video file (a path or its bytes)"
        try:
            return sound_input(item)
        except VideoError as exc:
            return str(exc)


def _clip_dataset(clips: np.ndarray, targets: np.ndarray, batch_size: int, shuffle: int | None = None,
                  sounds: np.ndarray | None = None):
    """Batches of (float32 clips, targets), read from the arrays by index (no copy into the graph);
    with `sounds`, of ({"clip": clips, "audio": sounds}, targets)."""
    import tensorflow as tf

    n = len(clips)
    index = tf.data.Dataset.range(n)
    if shuffle is not None:
        index = index.shuffle(n, seed=shuffle, reshuffle_each_iteration=True)

    def fetch(i):
        x, y = tf.numpy_function(lambda k: (clips[k], targets[k]), [i], (tf.uint8, tf.float32))
        x.set_shape((None, *clips.shape[1:]))
        y.set_shape((None, *targets.shape[1:]))
        if sounds is None:
            return tf.cast(x, tf.float32), y
        a = tf.numpy_function(lambda k: sounds[k], [i], tf.float32)
        a.set_shape((None, *sounds.shape[1:]))
        return {"clip": tf.cast(x, tf.float32), "audio": a}, y

    index = index.apply(tf.data.experimental.assert_cardinality(n))
    return index.batch(batch_size).map(fetch, num_parallel_calls=tf.data.AUTOTUNE)


def _on_clip(x, fn):
    """`fn` applied to the clips of a batch (`x`, or its "clip" entry beside the sound)."""
    return {**x, "clip": fn(x["clip"])} if isinstance(x, dict) else fn(x)


def augment_clips(x, mirror: bool = False):
    """The same random change for every frame of a clip, a different one per clip: a crop of
    80-100% of the frame resized back, brightness +-20 levels, contrast x0.8-1.2, and with
    `mirror` a left-right flip. `x`: (batch, frames, h, w, 3) float32 in [0, 255]."""
    import tensorflow as tf

    shape = tf.shape(x)
    b, f, h, w = shape[0], shape[1], shape[2], shape[3]
    scale = tf.random.uniform((b,), 0.8, 1.0)
    top = tf.random.uniform((b,)) * (1.0 - scale)
    left = tf.random.uniform((b,)) * (1.0 - scale)
    boxes = tf.stack([top, left, top + scale, left + scale], axis=1)  # (b, 4), normalised
    frames = tf.reshape(x, (b * f, h, w, 3))
    box_of_frame = tf.repeat(boxes, f, axis=0)
    frames = tf.image.crop_and_resize(frames, box_of_frame, tf.range(b * f), (h, w))  # box i crops frame i
    x = tf.reshape(frames, shape)
    if mirror:
        flip = tf.random.uniform((b, 1, 1, 1, 1)) < 0.5
        x = tf.where(flip, tf.reverse(x, axis=[3]), x)
    brightness = tf.random.uniform((b, 1, 1, 1, 1), -20.0, 20.0)
    contrast = tf.random.uniform((b, 1, 1, 1, 1), 0.8, 1.2)
    mean = tf.reduce_mean(x, axis=[1, 2, 3, 4], keepdims=True)
    return tf.clip_by_value((x - mean) * contrast + mean + brightness, 0.0, 255.0)


def finish_run(task, paths, folder, state, cfg, say):
    """The "finish" part of clip models: labels evaluated as for images; a clip model that hears
    gets the training means of both inputs (the evaluation's video-only and audio-only views) into
    labels.json first."""
    if cfg.audio:
        from visionflow.rundir import read_json, write_json

        clips, sounds = task.clips(cfg, folder, "train"), task.sounds(cfg, folder, "train")
        colour = clips.reshape(-1, 3).mean(axis=0) if clips.size else np.full(3, 127.5)
        write_json(paths.labels, {**read_json(paths.labels), "image_mean": [round(float(v), 3) for v in colour],
                                  "audio_mean": np.round(sounds.mean(axis=0), 5).tolist()})
    from visionflow.workflow import evaluate_labels

    return evaluate_labels(task, paths, folder, state, cfg, say)


TASKS.add("video", VideoClassification())
