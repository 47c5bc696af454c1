"""Mixing: place templates on event times, pan, gain, ambience, loudness and true-peak control,
atomic audio output (WAV, FLAC, OGG, MP3); the track is rendered block by block, never held whole."""
from appliance.mixing.loudness import integrated_loudness, true_peak_db
from appliance.mixing.mixer import (DEFAULT_CEILING_DB, DEFAULT_TARGET_LUFS, SAMPLE_RATE, Ambience, Track,
                                    mix_track, render_track)
from appliance.mixing.placement import Placement, pan_gains
from appliance.mixing.wavio import write_audio_atomic, write_wav_atomic

__all__ = ["Ambience", "DEFAULT_CEILING_DB", "DEFAULT_TARGET_LUFS", "Placement", "SAMPLE_RATE", "Track",
           "integrated_loudness", "mix_track", "pan_gains", "render_track", "true_peak_db", "write_audio_atomic",
           "write_wav_atomic"]
