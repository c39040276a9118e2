"""Video files: probing (``probe``), reading through one decode loop (``read``), writing (``write``), and the
heap setting that keeps a long video's memory flat (``heap``)."""
from .probe import AudioInfo, VideoInfo, probe_video, video_info
from .read import FrameReader, Video, iter_frames, iter_video, read_video
from .write import VideoWriter, write_video

__all__ = ["AudioInfo", "FrameReader", "Video", "VideoInfo", "VideoWriter", "iter_frames", "iter_video",
           "probe_video", "read_video", "video_info", "write_video"]
