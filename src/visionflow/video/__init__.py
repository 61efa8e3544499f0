"""Video: image models run over videos' frames (timelines, segments, annotated copies).

Reading is PyAV's (the `[video]` extra): `visionflow.video.reader`. The rest builds on a loaded
image model, so every task that labels an image labels a video's frames too.
"""

from visionflow.video.reader import VIDEO_EXTENSIONS, Sampling, VideoInfo, VideoReader, is_video
from visionflow.video.segments import Segment
from visionflow.video.timeline import FrameResult, Timeline, VideoAnalysis, analyse

__all__ = ["VIDEO_EXTENSIONS", "Sampling", "VideoInfo", "VideoReader", "is_video", "Segment", "FrameResult",
           "Timeline", "VideoAnalysis", "analyse"]
