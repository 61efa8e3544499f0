"""Videos: reading (sampling, rotation, pixel formats, variable frame rate, broken files), timelines
and segments from an image model, the predict CLI and the annotated copy. Videos are generated."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from synthetic import colour_frames, colour_model_run, write_video
from visionflow.errors import DataError
from visionflow.video import Sampling, VideoReader, analyse
from visionflow.video.segments import exclusive_segments, label_segments, moving_average
from clirun import vf

RED, GREEN, BLUE = (220, 30, 30), (30, 220, 30), (30, 30, 220)


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    return colour_model_run(tmp_path_factory.mktemp("colour") / "run")


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory):
    """4 s at 10 fps: red for 2 s, then blue, with one green frame at 2.5 s."""
    colours = [RED] * 20 + [BLUE] * 5 + [GREEN] + [BLUE] * 14
    return write_video(tmp_path_factory.mktemp("video") / "scene.mp4", colour_frames(colours), fps=10)


# -- reading ------------------------------------------------------------------------------------
def test_reader_facts_and_sampling(scene_video):
    with VideoReader(scene_video) as video:
        info = video.info
        assert (info.width, info.height, info.fps, info.frames, info.codec) == (64, 48, 10.0, 40, "h264")
        assert info.duration == pytest.approx(4.0, abs=0.11)
        frames = list(video.frames(Sampling(fps=2)))
    assert [f.index for f in frames] == [0, 5, 10, 15, 20, 25, 30, 35]
    assert [round(f.time, 2) for f in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    assert frames[0].pixels.shape == (48, 64, 3) and frames[0].pixels.dtype == np.uint8
    assert abs(frames[0].pixels.astype(int).mean(axis=(0, 1)) - RED).max() < 12  # colours survive the codec
    with VideoReader(scene_video) as video:
        assert [f.index for f in video.frames(Sampling(every=7))] == [0, 7, 14, 21, 28, 35]
    with VideoReader(scene_video) as video:
        assert len(list(video.frames())) == 40


def test_rotation_is_applied_as_ffmpeg_shows_it(tmp_path):
    """A phone video stored landscape with a 90-degree display rotation comes out portrait, turned
    the way FFmpeg's own player turns it (the top-left corner goes to the bottom-left)."""
    pixels = np.zeros((32, 64, 3), np.uint8)
    pixels[:8, :8] = 255
    path = write_video(tmp_path / "phone.mp4", [pixels] * 3, rotation=90)
    with VideoReader(path) as video:
        frame = next(iter(video.frames()))
        assert video.info.rotation == 90
    assert frame.pixels.shape == (64, 32, 3)
    ys, xs = np.nonzero(frame.pixels[..., 0] > 128)
    assert ys.min() >= 54 and xs.max() <= 9  # bottom-left


@pytest.mark.parametrize("codec, pix_fmt", [("libx264", "yuvj420p"), ("libx264", "yuv444p"),
                                            ("libx264", "yuv420p10le"), ("mjpeg", "yuvj422p"),
                                            ("mpeg4", "yuv420p")])
def test_odd_pixel_formats_decode_to_rgb(tmp_path, codec, pix_fmt):
    path = write_video(tmp_path / f"clip_{pix_fmt}.mkv", colour_frames([GREEN] * 4), codec=codec, pix_fmt=pix_fmt)
    with VideoReader(path) as video:
        assert video.info.pixel_format == pix_fmt
        frames = list(video.frames())
    assert len(frames) == 4
    assert abs(frames[0].pixels.astype(int).mean(axis=(0, 1)) - GREEN).max() < 12


def test_variable_frame_rate_samples_by_time(tmp_path):
    """Frames bunched in the first second and sparse afterwards: --fps keeps one per time slot."""
    times = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.5, 2.5, 3.5]
    path = write_video(tmp_path / "vfr.mkv", colour_frames([RED] * len(times)), times=times)
    with VideoReader(path) as video:
        frames = list(video.frames(Sampling(fps=1)))
    assert [round(f.time, 2) for f in frames] == [0.0, 1.5, 2.5, 3.5]


def test_truncated_video_yields_the_readable_frames_and_says_where(tmp_path):
    rng = np.random.default_rng(0)  # noisy frames: packets big enough to cut one in the middle
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(30)]
    whole = write_video(tmp_path / "whole.mkv", frames, codec="mjpeg", pix_fmt="yuvj420p")
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    with VideoReader(cut) as video:
        got = list(video.frames())
        stopped = video.stopped
    assert 5 <= len(got) < 30 and stopped is not None
    assert stopped.frame == got[-1].index and stopped.time == pytest.approx(got[-1].time)
    assert "cut short" in stopped.reason and "could not be read past" in stopped.sentence("cut.mkv")
    with VideoReader(whole) as video:  # the whole file reads to its end without a stop
        assert len(list(video.frames())) == 30 and video.stopped is None


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"hello, this is not a video\n" * 20, "not a video FFmpeg can read"),
])
def test_unreadable_files_are_refused_in_one_sentence(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        VideoReader(path)
    with pytest.raises(DataError, match="file not found"):
        VideoReader(tmp_path / "missing.mp4")


def test_audio_only_and_frameless_files_are_refused(tmp_path):
    import av

    audio = tmp_path / "sound.mp4"
    with av.open(str(audio), "w") as out:
        stream = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for _ in range(4):
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(DataError, match=r"no video stream \(the file holds audio\)"):
        VideoReader(audio)
    clip = write_video(tmp_path / "clip.mkv", colour_frames([RED] * 3), codec="mjpeg", pix_fmt="yuvj420p").read_bytes()
    header = clip[:clip.find(b"\xff\xd8")]  # everything before the first frame's JPEG data
    empty = tmp_path / "frameless.mkv"
    empty.write_bytes(header)
    with pytest.raises(DataError, match="holds no decodable frame"):
        with VideoReader(empty) as video:
            list(video.frames())
    empty.write_bytes(header + bytes(len(clip) - len(header)))  # frames overwritten with zeros
    with pytest.raises(DataError, match=r"holds no decodable frame \(Invalid data"):
        with VideoReader(empty) as video:
            list(video.frames())


def test_sampling_settings_are_checked():
    from visionflow.errors import ConfigError

    with pytest.raises(ConfigError, match="--fps or --every, not both"):
        Sampling(fps=2, every=3)
    with pytest.raises(ConfigError, match="--fps must be a positive"):
        Sampling(fps=0)
    with pytest.raises(ConfigError, match="--every must be at least 1"):
        Sampling(every=0)


# -- segments -----------------------------------------------------------------------------------
def test_segments_merge_short_flickers_into_their_neighbours():
    classes = ["red", "green", "blue"]
    labels = ["red"] * 4 + ["green"] + ["red"] * 3 + ["blue"] * 6
    times = np.arange(len(labels)) * 0.5
    probs = np.eye(3)[[classes.index(l) for l in labels]]
    raw = exclusive_segments(labels, probs, classes, times, end_time=7.0)
    assert [(s.label, s.start, s.end) for s in raw] == [("red", 0, 2), ("green", 2, 2.5), ("red", 2.5, 4),
                                                        ("blue", 4, 7)]
    merged = exclusive_segments(labels, probs, classes, times, end_time=7.0, min_seconds=1.0)
    assert [(s.label, s.start, s.end, s.frames) for s in merged] == [("red", 0, 4, 8), ("blue", 4, 7, 6)]
    assert merged[0].confidence == pytest.approx(7 / 8)  # the green frame's red probability is 0


def test_multilabel_segments_close_gaps_and_drop_blips_per_label():
    times = np.arange(10) * 1.0
    present = np.zeros((10, 2), bool)
    present[0:4, 0] = present[5:9, 0] = True  # label a with a one-second gap
    present[6, 1] = True  # label b for one frame
    probs = present.astype(float) * 0.9
    raw = label_segments(present, probs, ["a", "b"], times, end_time=10.0)
    assert [(s.label, s.start, s.end) for s in raw] == [("a", 0, 4), ("a", 5, 9), ("b", 6, 7)]
    smooth = label_segments(present, probs, ["a", "b"], times, end_time=10.0, min_seconds=2.0)
    assert [(s.label, s.start, s.end) for s in smooth] == [("a", 0, 9)]


def test_moving_average_is_a_centred_window_in_seconds():
    probs = np.array([[1.0], [0.0], [1.0], [0.0]])
    times = np.array([0.0, 1.0, 2.0, 3.0])
    assert moving_average(probs, times, 0).tolist() == probs.tolist()
    assert moving_average(probs, times, 2.0)[:, 0].tolist() == pytest.approx([0.5, 2 / 3, 1 / 3, 0.5])


# -- timelines ----------------------------------------------------------------------------------
def test_timeline_labels_every_sampled_frame_and_segments_the_scenes(colour_run, scene_video):
    timeline = analyse(str(colour_run), scene_video, fps=10)
    labels = [f.prediction.label for f in timeline.frames]
    assert labels == ["red"] * 20 + ["blue"] * 5 + ["green"] + ["blue"] * 14
    assert [round(t, 1) for t in timeline.times[:3]] == [0.0, 0.1, 0.2]
    segments = timeline.segments()  # 1 s smoothing and 1 s minimum: the green frame disappears
    assert [(s.label, round(s.start, 1), round(s.end, 1)) for s in segments] == [("red", 0.0, 2.0), ("blue", 2.0, 4.0)]
    raw = timeline.segments(smooth=0, min_seconds=0)
    assert [s.label for s in raw] == ["red", "blue", "green", "blue"]
    assert raw[2].start == pytest.approx(2.5) and raw[2].end == pytest.approx(2.6)
    data = timeline.to_dict()
    assert data["frames_used"] == 40 and data["video"]["frames"] == 40 and data["stopped"] is None
    assert data["frames"][0]["label"] == "red" and set(data["frames"][0]["probabilities"]) == {"red", "green", "blue"}


def test_timeline_memory_stays_flat_without_kept_frames(colour_run, scene_video):
    """Streaming: results come out one by one and only the probabilities are kept."""
    import visionflow
    from visionflow.video import VideoAnalysis

    analysis = VideoAnalysis(visionflow.load(colour_run, backend="keras"), scene_video, Sampling(every=4), batch_size=3)
    seen = [r.frame for r in analysis.results()]
    timeline = analysis.timeline()
    assert seen == list(range(0, 40, 4)) and timeline.frames == [] and timeline.probs.shape == (10, 3)
    api = visionflow.timeline(colour_run, scene_video, every=10)  # the top-level API
    assert [f.frame for f in api.frames] == [0, 10, 20, 30] and [f.prediction.label for f in api.frames][0] == "red"


# -- the command line ---------------------------------------------------------------------------
def test_predict_video_csv_rows_per_sampled_frame(colour_run, scene_video, tmp_path):
    out = vf("predict", colour_run, scene_video, "--fps", "2", "--format", "csv", "--backend", "keras", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0] == ["source", "time", "frame", "label", "confidence", "p_red", "p_green", "p_blue"] or \
        rows[0][:5] == ["source", "time", "frame", "label", "confidence"]
    assert [(r[1], r[2], r[3]) for r in rows[1:]] == [
        ("0.000", "0", "red"), ("0.500", "5", "red"), ("1.000", "10", "red"), ("1.500", "15", "red"),
        ("2.000", "20", "blue"), ("2.500", "25", "green"), ("3.000", "30", "blue"), ("3.500", "35", "blue")]
    assert "8 frame(s) labelled (2 frame(s) per second)" in out.stderr


def test_predict_video_segments_json_and_annotated_copy(colour_run, scene_video, tmp_path):
    copy = tmp_path / "annotated.mp4"
    out = vf("predict", colour_run, scene_video, "--segments", "--format", "json", "--annotate", copy,
             "--backend", "keras", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    [result] = json.loads(out.stdout)
    assert [(s["label"], s["start"], s["end"]) for s in result["segments"]] == [("red", 0.0, 2.0), ("blue", 2.0, 4.0)]
    assert result["sampling"] == "every frame" and result["frames_used"] == 40
    with VideoReader(copy) as video:
        frames = list(video.frames())
    assert len(frames) == 40 and frames[0].pixels.shape == (48, 64, 3)
    top, body = frames[0].pixels[:4].astype(int), frames[0].pixels[-10:].astype(int)
    assert top.mean() < body.mean() - 20  # the dark caption band is drawn over the red frame
    assert not list(tmp_path.glob(".*.part*"))  # no temporary file left behind


def test_predict_video_errors_are_one_line(colour_run, scene_video, tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(b"not a video at all" * 10)
    out = vf("predict", colour_run, cut, "--backend", "keras", cwd=tmp_path)
    assert out.returncode == 1 and "ERROR" in out.stdout and "not a video FFmpeg can read" in out.stdout
    assert "Traceback" not in out.stderr
    img = tmp_path / "red.png"
    from PIL import Image

    Image.new("RGB", (20, 20), RED).save(img)
    out = vf("predict", colour_run, img, "--fps", "2", cwd=tmp_path)
    assert out.returncode == 2 and "--fps apply to videos" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "short.mkv").write_bytes(write_video(tmp_path / "whole.mkv", colour_frames([RED] * 20 + [BLUE] * 20),
                                                     codec="mjpeg", pix_fmt="yuvj420p").read_bytes()[:1500])
    out = vf("predict", colour_run, tmp_path / "short.mkv", "--segments", "--backend", "keras", cwd=tmp_path)
    assert out.returncode == 1 and "red" in out.stdout, out.stderr[-2000:]  # the readable frames are used
    assert "could not be read past" in out.stderr and "cut short" in out.stderr and "Traceback" not in out.stderr
    out = vf("predict", colour_run, scene_video, "--annotate", tmp_path / "copy.gif", cwd=tmp_path)
    assert out.returncode == 2 and "give a file ending in .mp4" in out.stderr
    out = vf("predict", colour_run, scene_video, img, "--format", "csv", "--backend", "keras", cwd=tmp_path)
    assert out.returncode == 2 and "CSV output holds either images or videos" in out.stderr


def test_predict_mixes_images_and_videos_in_json(colour_run, scene_video, tmp_path):
    from PIL import Image

    folder = tmp_path / "inputs"
    folder.mkdir()
    Image.new("RGB", (20, 20), BLUE).save(folder / "a.png")
    (folder / "clip.mp4").write_bytes(Path(scene_video).read_bytes())
    out = vf("predict", colour_run, folder, "--format", "json", "--every", "10", "--backend", "keras", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    image, video = json.loads(out.stdout)
    assert image["label"] == "blue" and image["source"].endswith("a.png")
    assert video["source"].endswith("clip.mp4") and [f["frame"] for f in video["frames"]] == [0, 10, 20, 30]


# -- the service --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def video_client(colour_run):
    from service import service

    from visionflow.serve.settings import ServeConfig

    cfg = ServeConfig(backend="keras", max_video_mb=0.2, max_video_seconds=3.5, max_body_mb=0.05)
    with service(colour_run, cfg) as client:
        yield client


def _short_video(tmp_path) -> bytes:
    path = write_video(tmp_path / "short.mp4", colour_frames([RED] * 10 + [BLUE] * 20), fps=10)
    return path.read_bytes()


def test_service_returns_the_timeline_of_an_uploaded_video(video_client, tmp_path):
    data = _short_video(tmp_path)
    response = video_client.post("/v1/video", files={"file": ("short.mp4", data, "video/mp4")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sampling"] == "2 frame(s) per second" and body["frames_used"] == 6
    assert [f["label"] for f in body["frames"]] == ["red", "red", "blue", "blue", "blue", "blue"]
    assert [(s["label"], s["start"], s["end"]) for s in body["segments"]] == [("red", 0.0, 1.0), ("blue", 1.0, 3.0)]
    raw = video_client.post("/v1/video?every=10&frames=false", content=data, headers={"content-type": "video/mp4"})
    assert raw.status_code == 200, raw.text
    assert raw.json()["frames_used"] == 3 and "frames" not in raw.json()


def test_service_refuses_bad_videos_with_4xx(video_client, tmp_path):
    import httpx  # noqa: F401  (the test client is httpx's: it reads a 413 sent while the upload is refused)

    def error(response, status, code):
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
        return response.json()["error"]["message"]

    error(video_client.post("/v1/video", content=b"just text, no video" * 5, headers={"content-type": "video/mp4"}),
          415, "not_a_video")
    error(video_client.post("/v1/video", content=b"", headers={"content-type": "video/mp4"}), 400, "empty_video")
    error(video_client.post("/v1/video", content=b"x" * 300_000, headers={"content-type": "video/mp4"}),
          413, "body_too_large")
    error(video_client.post("/v1/video", content=b"{}", headers={"content-type": "application/json"}),
          415, "unsupported_media_type")
    long = write_video(tmp_path / "long.mp4", colour_frames([RED] * 40), fps=10).read_bytes()  # 4 s > 3.5 s
    assert "limit is 3.5 s" in error(video_client.post("/v1/video", content=long, headers={"content-type": "video/mp4"}),
                                     413, "video_too_long")
    error(video_client.post("/v1/video?fps=2&every=3", content=_short_video(tmp_path),
                            headers={"content-type": "video/mp4"}), 400, "bad_request")
    # images keep their own, smaller cap
    error(video_client.post("/v1/predict", files={"file": ("big.png", b"x" * 100_000, "image/png")}),
          413, "body_too_large")
    ok = video_client.post("/v1/video", content=_short_video(tmp_path), headers={"content-type": "video/mp4"})
    assert ok.status_code == 200  # still serving after every refusal
