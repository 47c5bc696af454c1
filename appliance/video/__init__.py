"""Video input: header checks (`probe`), streaming decode to small analysis frames
(`iter_frames`), the bare-decode floor for benchmarks, and the clip's own audio (`read_audio`)."""
from appliance.video.audio import audio_blocks, read_audio
from appliance.video.decode import AnalysisFrame, bare_decode_seconds, iter_frames
from appliance.video.probe import DEFAULT_MAX_SECONDS, VideoInfo, probe

__all__ = ["AnalysisFrame", "audio_blocks", "DEFAULT_MAX_SECONDS", "VideoInfo", "bare_decode_seconds", "iter_frames",
           "probe", "read_audio"]
