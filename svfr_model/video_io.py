"""Old name of ``svfr_model.video`` (the README's API before the staged layout); kept for one release."""
import warnings

from .video import read_video, write_video, iter_frames, iter_video, video_info, probe_video, FrameReader, VideoWriter, Video, VideoInfo  # noqa: F401

warnings.warn("svfr_model.video_io is now svfr_model.video; the old name will be removed in the next release",
              DeprecationWarning, stacklevel=2)
