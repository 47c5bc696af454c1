"""Live Foley: each action in front of the camera gets its sound while it happens (`foley live`).

The camera's frames go through the same streaming motion analysis and causal event model as a
scored clip; each impact's sound is chosen by the same rules (per scene, from the description and
the picture) and started at once by a real-time mixer (fixed voices, the offline mixer's choke,
gain, pan and limiter rules) on an audio output (PortAudio, or the timing seam where no sound
card exists). docs/architecture.md, "The live path".
"""
from appliance.live.mixer import Cue, LiveMixer, Outcome
from appliance.live.output import OUTPUTS, AudioOutput, NoAudioDevice, open_output
from appliance.live.session import LiveOptions, LiveReport, LiveSession

__all__ = ["AudioOutput", "Cue", "LiveMixer", "LiveOptions", "LiveReport", "LiveSession", "NoAudioDevice",
           "OUTPUTS", "Outcome", "open_output"]
