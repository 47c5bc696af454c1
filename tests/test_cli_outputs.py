"""The command line's outputs: --out formats (written for real, staged with the other outputs, under
any name the file system takes, or exit 2 and one line), --credits
(every recording of the timeline, also in the MP4's metadata), the progress bar (on a terminal
only), and foley doctor's new checks (video decoding, state folder, service port)."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import shutil
import socket
import struct
import subprocess
import sys
import termios

import av
import numpy as np
import pytest
import soundfile as sf

from appliance.cli_progress import counted, stage_bar
from appliance.doctor import check_port, check_state_folder, check_video_decoding
from appliance.engine.score_cli import audio_format
from appliance.mixing.wavio import AUDIO_FORMATS, write_audio_atomic
from appliance.service.state import room_for
from appliance.video.synthetic import render_scene
from tests.conftest import REPO, fill_leaving, free_port, run_foley, small_disk, start_server


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return render_scene("stick", tmp_path_factory.mktemp("cli") / "stick.mp4", width=320, height=240, fps=30,
                        seconds=3, seed=3)


@pytest.mark.parametrize("name", ["x.mp3.txt", "x.aiff", "x"])
def test_unsupported_out_is_exit_2_and_one_line(clip, tmp_path, name):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    result = run_foley("score", str(clip.path), "--out", str(tmp_path / name))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and ".wav, .flac, .ogg" in result.stderr
    assert not list(tmp_path.iterdir()), "nothing written"


def test_an_output_that_is_a_pipe_or_device_is_refused_not_replaced(clip, tmp_path):
    """`--mp4 /dev/null`, run as root, replaced the system's /dev/null with a regular file: the
    staged output is renamed over whatever has the name. A pipe or device is refused, untouched."""
    import stat

    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    result = run_foley("score", str(clip.path), "--out", str(tmp_path / "out.wav"), "--mp4", str(fifo))
    assert result.returncode == 2 and "is a device, pipe or socket, not a file" in result.stderr, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode) and not (tmp_path / "out.wav").exists()


def test_flac_out_is_flac_and_credits_list_every_recording(clip, tmp_path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    result = run_foley("score", str(clip.path), "--out", str(tmp_path / "f.flac"), "--mp4", str(tmp_path / "v.mp4"),
                       "--timeline", str(tmp_path / "t.json"), "--credits", str(tmp_path / "credits.txt"),
                       "--no-cache")
    assert result.returncode == 0, result.stderr
    info = sf.info(str(tmp_path / "f.flac"))
    assert info.format == "FLAC" and info.samplerate == 48000 and info.channels == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["credits.txt", "f.flac", "t.json", "v.mp4"], \
        "the engine's WAV beside it is gone"
    timeline = json.loads((tmp_path / "t.json").read_text())
    credits = (tmp_path / "credits.txt").read_text(encoding="utf-8")
    assert timeline["events"]
    for event in timeline["events"]:
        assert event["template_id"] in credits and event["licence"] in credits
    assert "By: " in credits and "Source: Debian package" in credits and "https://" in credits
    with av.open(str(tmp_path / "v.mp4")) as container:
        assert container.metadata["comment"].strip() == credits.strip()


def test_progress_is_silent_when_piped_and_shown_on_a_terminal(clip, tmp_path):
    piped = run_foley("score", str(clip.path), "--out", str(tmp_path / "a.wav"), "--no-cache")
    assert piped.returncode == 0 and "\r" not in piped.stderr and "%" not in piped.stderr
    assert len(piped.stderr.strip().splitlines()) == 1, piped.stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 wide
    process = subprocess.Popen([sys.executable, "-m", "appliance.cli", "score", str(clip.path), "--out",
                                str(tmp_path / "b.wav"), "--no-cache"], cwd=REPO, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=follower, env=os.environ)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert process.wait(120) == 0
    os.close(leader)
    text = seen.decode(errors="replace")
    assert "finding the actions" in text and "%" in text and "\r" in text, text[-500:]


def test_doctor_checks_decoding_and_the_state_folder(tmp_path, monkeypatch):
    assert "decoded" in check_video_decoding()
    monkeypatch.setenv("FOLEY_STATE_DIR", str(tmp_path / "state"))
    assert "writable" in check_state_folder(0)
    with pytest.raises(RuntimeError, match="under service.min_free_mb"):
        check_state_folder(10**9)
    # Where the service refuses uploads, the doctor says so: the same MB (1024², not 10⁶).
    floor_mb = int(shutil.disk_usage(tmp_path).free / 1e6 * 0.98)
    assert not room_for(tmp_path / "state", 0, floor_mb)[0]
    with pytest.raises(RuntimeError, match="under service.min_free_mb"):
        check_state_folder(floor_mb)
    # The page's status line counts the same MB: at the floor it reads the floor.
    from appliance.config import MB
    from appliance.service.status_api import _size
    assert _size(200 * MB) == "200.0 MB" and _size(3 * 1024 * MB) == "3.0 GB"
    (tmp_path / "state").chmod(0o500)
    try:
        if os.geteuid() != 0:  # root writes anywhere
            with pytest.raises(RuntimeError, match="not writable"):
                check_state_folder(0)
    finally:
        (tmp_path / "state").chmod(0o700)


def test_doctor_says_a_state_folder_problem_in_its_own_words(tmp_path, monkeypatch):
    """The FAIL line is the advice itself; it read "UsageError: the state folder …" (the
    exception's class name is for bugs, not for a setting the user can fix)."""
    from appliance.doctor import run_checks

    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("FOLEY_STATE_DIR", str(tmp_path / "a-file"))
    failed = [message for passed, message in run_checks(port=free_port()) if passed is False]
    assert failed and failed[0].startswith(f"the state folder {tmp_path / 'a-file'} cannot be created"), failed


def test_doctor_port_free_ours_or_taken(tmp_path):
    port = free_port()
    assert check_port("127.0.0.1", port) == f"service port {port}: free"
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        with pytest.raises(RuntimeError, match="used by another program"):
            check_port("127.0.0.1", port)
    served = start_server(tmp_path)
    try:
        ours = int(served.base.rsplit(":", 1)[1])
        assert "in use by a running Foley service" in check_port("127.0.0.1", ours)
    finally:
        assert served.stop() == 0


@pytest.mark.parametrize("case", ["port -1", "port 99999", "unknown host", "empty host in the config",
                                  "empty host on the command line", "port taken"])
def test_serve_refuses_an_address_it_cannot_listen_on(tmp_path, case):
    """One line and exit 2 before anything starts (the state folder is not even prepared), not
    waitress's traceback, and never another port than the one printed (99999 used to listen on
    34463), nor another host: `--host ""` was taken as "not given" and listened on the config's
    0.0.0.0, the whole LAN."""
    (tmp_path / "config.yaml").write_text('service:\n  host: ""\n')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        args = {"port -1": ["--port=-1"], "port 99999": ["--port", "99999"],
                "unknown host": ["--host", "no.such.host.invalid"],
                "empty host in the config": ["--config", str(tmp_path / "config.yaml")],
                "empty host on the command line": ["--host", "", "--port", str(free_port())],
                "port taken": ["--host", "127.0.0.1", "--port", str(taken.getsockname()[1])]}[case]
        result = run_foley("serve", "--no-worker", *args, timeout=60)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "port" in result.stderr
    assert not (tmp_path / "state").exists(), "the state folder was prepared: the server was on its way"


@pytest.mark.parametrize("port", ["-1", "0", "99999"])
def test_doctor_refuses_a_port_serve_would_refuse(port):
    """Exit 2 and serve's one line, before any check. It used to check 8080 for 0, call 99999
    free (bound as 34463), and fail -1 as a port it could not listen on."""
    result = run_foley("doctor", f"--port={port}", timeout=120)
    assert result.returncode == 2 and result.stdout == "", result.stdout + result.stderr
    assert result.stderr.strip() == f"foley doctor: --port must be between 1 and 65535, not {port}"


def test_doctor_checks_an_empty_host_as_serve_would_take_it():
    """`--host ""` was "not given" to doctor as to serve: it checked the config's 0.0.0.0 and
    passed. Now the port check fails on it, as serve refuses it."""
    port = free_port()
    result = run_foley("doctor", "--host", "", "--port", str(port), timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"FAIL  service port {port} on '': cannot listen" in result.stdout, result.stdout


def test_doctor_command_prints_the_new_checks(tmp_path):
    result = run_foley("doctor", "--port", str(free_port()))
    assert result.returncode == 0, result.stdout + result.stderr
    for words in ("video decoding", "state folder", "service port"):
        assert words in result.stdout


def test_doctor_warns_when_the_temporary_folder_cannot_hold_the_upload_limit(tmp_path):
    """The service takes uploads only as large as its temporary folder can hold twice, beside
    service.min_free_mb (body_room.upload_limit); doctor said nothing of it. Now, on a 16 MB
    $TMPDIR: a warning naming the service's limit (not a failure) under max_upload_mb 200, ok
    under 5, and a failure when the reserve leaves no room for any upload."""
    config = tmp_path / "config.yaml"
    with small_disk(tmp_path / "tmp", "16m") as temporary:
        def doctor(settings: str):
            config.write_text(f"service: {{{settings}}}\n")
            return run_foley("doctor", "--port", str(free_port()), "--config", str(config),
                             env={"TMPDIR": str(temporary)})

        warned = doctor("min_free_mb: 1")
        assert warned.returncode == 0 and "all checks passed" in warned.stdout, warned.stdout + warned.stderr
        line = next(line for line in warned.stdout.splitlines() if "temporary folder" in line)
        assert line.startswith("warn  temporary folder") and "uploads of at most 6.5 MB" in line, line
        assert "service.max_upload_mb is 200" in line, line
        fits = doctor("min_free_mb: 1, max_upload_mb: 5")
        assert fits.returncode == 0 and f"ok  temporary folder: {temporary} holds an upload" in fits.stdout, fits.stdout
        none = doctor("min_free_mb: 16")
        assert none.returncode == 1 and "FAIL  temporary folder" in none.stdout, none.stdout
        assert "the service can take no upload" in none.stdout, none.stdout


@pytest.mark.parametrize("size, settings, said", [
    ("16m", "service: {min_free_mb: 1}\n", "warn  fleet results: workers' results over"),
    ("64m", "service: {min_free_mb: 1, max_upload_mb: 1}\nengine: {max_seconds: 1}\n",
     "ok  fleet results: the temporary folder holds"),
])
def test_doctor_says_whether_a_fleet_workers_result_fits_the_temporary_folder(tmp_path, size, settings, said):
    """A fleet's results arrive as forms in the temporary folder, held to what it holds (the
    gate's 413 names the limit): doctor warns when a job can return more, with the figures."""
    config = tmp_path / "config.yaml"
    config.write_text("queue: {backend: redis}\n" + settings)
    with small_disk(tmp_path / "tmp", size) as temporary:
        result = run_foley("doctor", "--port", str(free_port()), "--config", str(config),
                           env={"TMPDIR": str(temporary)})
    assert result.returncode == 0 and "all checks passed" in result.stdout, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if "fleet results" in line)
    assert line.strip().startswith(said), line
    if said.startswith("warn"):
        assert "engine.max_seconds (600 s) can return 835.4 MB" in line, line
    assert "fleet results" not in run_foley("doctor", "--port", str(free_port())).stdout, "not without a fleet"


@pytest.mark.parametrize("suffix, kind", [(".ogg", "OGG"), (".mp3", "MP3"), (".flac", "FLAC")])
def test_each_offered_ending_is_written_in_its_format(tmp_path, suffix, kind):
    """In its format, and a FLAC with the WAV's very samples (libsndfile alone scales floats for
    FLAC otherwise than for WAV)."""
    if not sf.check_format(*AUDIO_FORMATS[suffix]):
        pytest.skip(f"this libsndfile cannot write {kind}")
    audio_format(tmp_path / f"out{suffix}", "--out")
    t = np.arange(48000) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    write_audio_atomic(tmp_path / f"out{suffix}", np.stack([tone, tone], 1), 48000)
    info = sf.info(str(tmp_path / f"out{suffix}"))
    assert info.format == kind and info.channels == 2 and abs(info.duration - 1.0) < 0.1
    if kind == "FLAC":
        sf.write(tmp_path / "plain.wav", np.stack([tone, tone], 1), 48000, subtype="PCM_16")
        samples, _ = sf.read(tmp_path / "out.flac", dtype="int16")
        assert np.array_equal(samples, sf.read(tmp_path / "plain.wav", dtype="int16")[0])


def test_a_flac_out_is_replaced_together_with_the_timeline(clip, tmp_path):
    """The FLAC used to be encoded (from a WAV beside it) after the other outputs had been
    renamed into place: a full disk or Ctrl-C at that moment left the new timeline beside the
    previous audio. Here the FLAC's folder has room for the clip's WAV but not for a FLAC beside
    it, and the timeline is on another disk: timeline and audio are of one run, and as the FLAC
    is now written on its own, staged with the timeline, it fits."""
    with small_disk(tmp_path / "audio", "4m") as audio:
        (audio / "f.flac").write_bytes(b"the previous FLAC")
        (tmp_path / "t.json").write_text("{}")
        fill_leaving(audio, round(clip.duration * 48000) * 4 + 64 * 1024)  # the 16-bit stereo WAV, not the FLAC
        result = run_foley("score", str(clip.path), "--out", str(audio / "f.flac"), "--timeline",
                           str(tmp_path / "t.json"), "--no-cache")
        previous_audio = (audio / "f.flac").read_bytes() == b"the previous FLAC"
        assert previous_audio == ((tmp_path / "t.json").read_text() == "{}"), result.stderr[-2000:]
        assert result.returncode == 0, result.stderr[-2000:]
        assert sf.info(str(audio / "f.flac")).format == "FLAC"
        assert sorted(os.listdir(audio)) == ["f.flac", "filler"]


def test_output_names_that_are_not_utf8_are_written(clip, tmp_path):
    """A Linux file name is bytes: b'\\xff.flac' reaches Python surrogate-escaped, and libsndfile
    cannot open it by name (it used to end in a UnicodeEncodeError traceback). Written through
    open files, under exactly those bytes."""
    out = tmp_path / "out"
    out.mkdir()
    foley, mix = out / os.fsdecode(b"\xff.flac"), out / os.fsdecode(b"\xfe.ogg")
    result = run_foley("score", str(clip.path), "--out", str(foley), "--keep-audio", "--mix", str(mix), "--no-cache")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(os.listdir(os.fsencode(out))) == [b"\xfe.ogg", b"\xff.flac"]
    for path, kind in ((foley, "FLAC"), (mix, "OGG")):
        with open(path, "rb") as handle:
            assert sf.info(handle).format == kind


def test_output_names_of_255_bytes_are_written(clip, tmp_path):
    """The file system takes a 255-byte name; the temporary names beside it (`.{name}.XXXXXXXX.tmp`,
    the staged and probe ones) were longer and refused it ("File name too long"). Their name
    part is cut to fit, by whole characters (a 2-byte "é" is not split)."""
    from appliance.atomic import write_json_atomic

    out = tmp_path / "out"
    out.mkdir()
    foley, timeline = out / ("a" * 251 + ".wav"), out / ("é" * 125 + ".json")
    assert len(os.fsencode(foley.name)) == len(os.fsencode(timeline.name)) == 255
    result = run_foley("score", str(clip.path), "-o", str(foley), "--timeline", str(timeline), "--no-cache")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(os.listdir(out)) == sorted([foley.name, timeline.name]), "no temporary file left behind"
    assert sf.info(str(foley)).format == "WAV" and json.loads(timeline.read_text())["events"] is not None
    write_json_atomic(out / ("é" * 125 + ".json"), {"again": 1})
    assert json.loads(timeline.read_text()) == {"again": 1}


def test_bars_write_nothing_when_stderr_is_not_a_terminal(capsys):
    with stage_bar("clip.mp4") as progress:
        for fraction in (0.0, 0.5, 1.0):
            progress("analyse", fraction)
    assert list(counted([1, 2, 3], "clips")) == [1, 2, 3]
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
def test_a_score_stopped_by_a_signal_leaves_no_hidden_files(tmp_path, stop):
    """systemd's stop or a closed terminal (SIGTERM, SIGHUP) killed `foley score` outright while it
    wrote its outputs: megabytes of hidden staged files stayed in the output folder for good. It
    now unwinds as Ctrl-C does (exit 130), its staged files removed. The signal is sent once a
    staged FLAC shows, so it lands while the outputs are being written — mostly inside
    libsndfile's write, where cffi dropped the interrupt and the command went on (exit 0)."""
    import signal
    import time

    long_clip = render_scene("steps", tmp_path / "walk.mp4", width=160, height=120, fps=30, seconds=90, seed=2)
    out = tmp_path / "out"
    out.mkdir()
    child = subprocess.Popen([sys.executable, "-m", "appliance.cli", "score", str(long_clip.path), "-o",
                              str(out / "o.flac"), "--mp4", str(out / "o.mp4"), "--no-cache"], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    # The staged FLAC's own temporary file: libsndfile is encoding into it.
    while not any(".staged.flac." in p.name for p in out.iterdir()) and child.poll() is None:
        assert time.monotonic() < deadline, "no staged output within 4 minutes"
        time.sleep(0.002)
    child.send_signal(getattr(signal, stop))
    _, errors = child.communicate(timeout=60)
    assert child.returncode == 130, (child.returncode, errors)
    assert "Traceback" not in errors, errors
    assert list(out.iterdir()) == [], sorted(p.name for p in out.iterdir())


def test_score_takes_the_engine_settings_of_the_config_file(clip, tmp_path, monkeypatch, capsys):
    """`foley score` read and checked /etc/foley/config.yaml but scored at the built-in loudness
    and length limit whatever its `engine:` said; the command line's own options still win."""
    import appliance.config
    from appliance.cli import main

    config = tmp_path / "config.yaml"
    config.write_text("engine:\n  max_seconds: 2\n  target_lufs: -14\n")
    monkeypatch.setattr(appliance.config, "DEFAULT_PATH", config)  # where the board keeps it
    assert main(["score", str(clip.path), "-o", str(tmp_path / "a.wav")]) == 2
    assert "limit of 2 s" in capsys.readouterr().err
    assert main(["score", str(clip.path), "-o", str(tmp_path / "b.wav"), "--max-seconds", "10",
                 "--timeline", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["output"]["target_lufs"] == -14


def test_an_mp4_output_not_named_mp4_is_refused(clip, tmp_path):
    result = run_foley("score", str(clip.path), "-o", str(tmp_path / "a.wav"), "--mp4", str(tmp_path / "a.webm"))
    assert result.returncode == 2 and "name it .mp4" in result.stderr and not list(tmp_path.iterdir())


def test_a_second_serve_on_the_same_state_is_refused(tmp_path):
    """A second `foley serve` on a state folder already served swept the first's uploads in
    progress as a crash's leftovers and ran a second worker beside its own. It is refused in one
    line naming the first; once the first has stopped, the state can be served again."""
    first = start_server(tmp_path, args=("--no-worker",))
    try:
        second = run_foley("serve", "--no-worker", "--port", str(free_port()), env={"FOLEY_STATE_DIR": str(tmp_path / "state")})
        assert second.returncode == 2, second.stderr
        assert f"another foley serve (pid {first.process.pid}) is running" in second.stderr, second.stderr
    finally:
        assert first.stop() == 0
    again = start_server(tmp_path, args=("--no-worker",))
    assert again.stop() == 0
