"""Bombs: inputs small on the wire and huge once decoded or allocated — a 270 KB FLAC of 30
minutes, a sound file whose header lies about its length, a 33 MB sound upload, a legitimate
long sound, a video whose header says 20000×20000. Each is refused from its header or handled in
bounded memory: the web process's peak RSS grows < 50 MB."""
from __future__ import annotations

import io

import pytest

from tests.test_service_api import make_client, upload
from tests.test_service_hardening import add_sound
from tests.test_video_bad_input import huge_mjpeg_mkv


def _vm(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def test_audio_bomb_is_refused_from_its_header_without_growing_the_process(tmp_path, ledger):
    """A 270 KB FLAC of 30 minutes of silence (86.4 M samples, 345 MB as float32) added to the
    library: refused from its header, and the process's peak RSS grows < 50 MB (it grew 650 MB)."""
    import numpy as np
    import soundfile as sf

    bomb = tmp_path / "bomb.flac"
    with sf.SoundFile(str(bomb), "w", samplerate=48000, channels=1, format="FLAC", subtype="PCM_16") as out:
        silence = np.zeros(48000 * 10, dtype=np.int16)
        for _ in range(180):
            out.write(silence)
    assert bomb.stat().st_size < 400_000
    client, _, folder = make_client(tmp_path)
    client.get("/api/v1/library?limit=1")  # the catalog loaded, as in a running service
    data = bomb.read_bytes()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak (VmHWM) to the current RSS
    before = _vm("VmRSS")
    response = add_sound(client, data, "bomb.flac")
    growth = _vm("VmHWM") - before
    ledger.counted(response)
    ledger.figures["peak_rss_growth_mb"] = round(growth / 1e6, 1)
    assert growth < 50 * 1024 * 1024, f"peak RSS grew {growth / 1e6:.0f} MB"
    assert response.status_code == 400 and "at most 30 s" in response.get_json()["error"], response.get_json()
    assert list((folder / "uploads").iterdir()) == []


def test_a_lying_header_is_caught_by_counting_in_blocks(tmp_path):
    from appliance.errors import UsageError
    from appliance.library import audio_io

    path = tmp_path / "long.wav"
    import numpy as np
    import soundfile as sf

    sf.write(str(path), np.full((48000 * 3, 1), 0.1, dtype=np.float32), 48000)
    audio_io.check_before_decode(path, "long.wav", max_seconds=5)
    with pytest.raises(UsageError, match="lasts 3.0 s"):
        audio_io.check_before_decode(path, "long.wav", max_seconds=1)
    with pytest.raises(UsageError, match="samples"):
        audio_io.check_before_decode(path, "long.wav", max_seconds=5, max_samples=1000)


def test_oversized_sound_upload_is_413_before_parsing(tmp_path, ledger):
    client, _, _ = make_client(tmp_path)
    response = ledger.counted(add_sound(client, b"\0" * (33 * 1024 * 1024), "huge.wav"))
    assert response.status_code == 413 and "sound file too large: the limit is 32 MB" in response.get_json()["error"]


def test_adding_a_long_sound_does_not_grow_the_web_process(tmp_path, ledger):
    """A legitimate 29 s stereo sound is converted in a child process: the web process's peak
    RSS grows < 50 MB (149 MB when it was converted in the web process), and the sound is in
    the library afterwards."""
    import numpy as np
    import soundfile as sf

    client, _, _ = make_client(tmp_path)
    client.get("/api/v1/library?q=rain&limit=1")
    buffer = io.BytesIO()
    noise = (np.random.default_rng(1).standard_normal((48000 * 29, 2)) * 0.1).astype(np.float32)
    sf.write(buffer, noise, 48000, format="FLAC")
    data = buffer.getvalue()
    del noise, buffer
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    before = _vm("VmRSS")
    response = client.post("/api/v1/library", data={"file": (io.BytesIO(data), "rain.flac"), "category": "ambience_rain"},
                           content_type="multipart/form-data")
    growth = _vm("VmHWM") - before
    ledger.counted(response)
    ledger.figures["peak_rss_growth_mb"] = round(growth / 1e6, 1)
    assert response.status_code == 201, response.get_json()
    assert growth < 50 * 1024 * 1024, f"peak RSS grew {growth / 1e6:.0f} MB"
    ids = [t["id"] for t in client.get("/api/v1/library").get_json()["templates"]]
    assert response.get_json()["id"] in ids


def test_a_20000_square_video_is_refused_plainly_at_submit(tmp_path, ledger):
    client, queue, folder = make_client(tmp_path, run=False)
    response = ledger.counted(upload(client, huge_mjpeg_mkv(tmp_path / "huge.mkv").read_bytes(), name="huge.mkv"))
    assert response.status_code == 415 and response.is_json, response.data
    message = response.get_json()["error"]
    assert message.startswith("the upload: frame size 20000×20000 is too large (at most 8192 px a side)"), message
    assert "busy" not in message and str(tmp_path) not in message and queue.submitted == []
    assert list((folder / "uploads").iterdir()) == []



def test_a_200_mb_upload_does_not_grow_the_web_process(tmp_path, ledger):
    """A 199 MB upload to /api/v1/score (within the 200 MB limit; zeros, so not a video): spooled
    to disk while parsed, refused by the probe with 415, and the web process's peak RSS grows
    < 50 MB; nothing is left in the uploads folder."""
    big = tmp_path / "big.mp4"
    with open(big, "wb") as out:
        out.truncate(199 * 1024 * 1024)
    client, queue, folder = make_client(tmp_path, run=False)
    ledger.counted(client.get("/healthz"))
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    before = _vm("VmRSS")
    with open(big, "rb") as handle:
        response = ledger.counted(client.post("/api/v1/score", data={"video": (handle, "big.mp4")},
                                              content_type="multipart/form-data"))
    growth = _vm("VmHWM") - before
    ledger.figures["peak_rss_growth_mb"] = round(growth / 1e6, 1)
    assert response.status_code == 415 and response.is_json, response.data[:300]
    assert growth < 50 * 1024 * 1024, f"peak RSS grew {growth / 1e6:.0f} MB"
    assert queue.submitted == [] and list((folder / "uploads").iterdir()) == []
