"""A clip's sound track as numbers: decoded, mono at 16 kHz, a log-mel spectrogram whose bands
follow the pitch; clips without sound, or with a silent track, say so."""

from __future__ import annotations

import numpy as np
import pytest

from synthetic import colour_frames, write_clip_with_sound, write_video
from visionflow.errors import DataError
from visionflow.tasks.video import audio

FRAMES = colour_frames([(200, 30, 30)] * 20)


@pytest.mark.parametrize("hz", [300.0, 2500.0])
def test_the_spectrogram_follows_the_pitch(tmp_path, hz):
    path = write_clip_with_sound(tmp_path / "tone.mp4", FRAMES, tone_hz=hz)
    samples = audio.read_sound(path)
    assert samples.dtype == np.float32 and abs(samples.size / audio.RATE - 2.0) < 0.2  # 20 frames at 10 fps
    assert audio.has_sound(samples)
    spec = audio.spectrogram(samples)
    assert spec.shape == (audio.STEPS, audio.MELS)
    peak = int(np.argmax(spec[10:-10].mean(axis=0)))  # the band with the most energy, away from the edges
    low, high = (2, 20) if hz < 1000 else (35, 55)  # 300 Hz in the lower mel bands, 2.5 kHz in the upper half
    assert low <= peak <= high
    assert np.array_equal(audio.spectrogram(audio.read_sound(path.read_bytes())), spec)  # bytes read the same


def test_clips_without_sound_or_with_a_silent_track_say_so(tmp_path):
    none = write_video(tmp_path / "mute.mp4", FRAMES)
    assert audio.read_sound(none) is None
    quiet = audio.read_sound(write_clip_with_sound(tmp_path / "quiet.mp4", FRAMES, tone_hz=0.0))
    assert quiet is not None and not audio.has_sound(quiet)
    for samples in (None, quiet):
        assert np.all(audio.spectrogram(samples) == audio.FLOOR)
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all")
    with pytest.raises(DataError, match="cannot be opened as a video"):
        audio.read_sound(tmp_path / "junk.mp4")
