"""Who has the board's speaker: the page's Live switch, "Play on the appliance" and `foley live`
run by hand. The real `foley serve` on the audio seam with the real `foley capture` (file camera),
the real `foley live` command as the other process, the page in Chromium; the speaker's lock file
for real (flock, a child process killed while holding it). The policy (appliance/service/board_audio.py): Live
stops a result playing and Play is refused (409) while Live is on; another process holding the
speaker is named in every refusal, and the service's live mode then runs page-only, said once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from appliance.live.speaker import Holder, SpeakerBusy, claim_speaker, speaker_holder
from appliance.service.board_audio import LIVE_HAS_IT
from tests.conftest import REPO, get_json, run_foley, start_server
from tests.test_capture_daemon import wait_for
from tests.test_capture_service import post, runtime, start_capture, stop  # noqa: F401 (runtime: a fixture)
from tests.test_live_service import messages, open_stream
from tests.test_service_browser import browser, needs_chromium  # noqa: F401 (browser: a fixture)
from tests.test_service_browser import wait_for as page_wait
from tests.test_service_play import tone_job

HOLD = """
import sys, time
from pathlib import Path
from appliance.live.speaker import claim_speaker
claim = claim_speaker("`foley live`", "stop it with Ctrl-C", Path(sys.argv[1]))
print("held", flush=True)
time.sleep(120)
"""


def test_the_lock_names_its_holder_and_dies_with_its_process(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert child.stdout.readline().strip() == "held"
        holder = Holder("`foley live`", child.pid, "stop it with Ctrl-C")
        assert speaker_holder(tmp_path) == holder
        with pytest.raises(SpeakerBusy) as refused:
            claim_speaker("the service playing job 1", folder=tmp_path)
        assert str(refused.value) == f"the speaker is in use by `foley live` (pid {child.pid}); stop it with Ctrl-C"
    finally:
        child.kill()  # no clean exit: the kernel drops the lock with the process
        child.wait()
    with claim_speaker("the service playing job 1", folder=tmp_path) as mine:
        assert speaker_holder(tmp_path) == mine.holder == Holder("the service playing job 1", os.getpid())
        with pytest.raises(SpeakerBusy, match=r"the service playing job 1 \(pid \d+\)$"):
            claim_speaker("the service's live mode", folder=tmp_path)  # one process, two claims: one wins
    assert speaker_holder(tmp_path) is None
    mine.release()  # again: nothing happens


def test_a_sound_card_another_program_holds_is_said_to_be_busy_and_who_has_it(tmp_path):
    """PortAudio's answer for ALSA's EBUSY, and ALSA's own account of who has the card (a
    /proc tree as a Pi shows it: the card's playback opened by pipewire, its capture by arecord)."""
    try:
        import sounddevice
    except OSError:
        pytest.skip("libportaudio2 is not installed")
    from appliance.live.output import DeviceBusy, NoAudioDevice, _open_error, card_users

    unavailable = sounddevice.PortAudioError("Error opening OutputStream: Device unavailable", -9985)
    busy = _open_error("USB", unavailable, proc=tmp_path)
    assert isinstance(busy, DeviceBusy) and str(busy) == (
        "audio device USB is busy: in use by another program (PortAudio: Error opening OutputStream: "
        "Device unavailable)")
    for sub, text in (("card0/pcm0p/sub0", "state: RUNNING\nowner_pid   : 812\ntrigger_time: 1.0\n"),
                      ("card0/pcm0p/sub1", "closed\n"), ("card1/pcm0c/sub0", "state: RUNNING\nowner_pid   : 900\n"),
                      ("card1/pcm0p/sub0", "state: PREPARED\nowner_pid   : 77\n")):
        (tmp_path / "asound" / sub).mkdir(parents=True)
        (tmp_path / "asound" / sub / "status").write_text(text)
    (tmp_path / "812").mkdir()
    (tmp_path / "812" / "comm").write_text("pipewire\n")
    assert card_users(tmp_path) == ["pipewire (pid 812)", "a program (pid 77)"]  # 77 has ended meanwhile
    assert str(_open_error("USB", unavailable, proc=tmp_path)).startswith(
        "audio device USB is busy: in use by pipewire (pid 812), a program (pid 77) (PortAudio:")
    missing = _open_error(None, ValueError("No output device matching 'USB'"))
    assert type(missing) is NoAudioDevice and str(missing) == "audio device default: No output device matching 'USB'"


@pytest.fixture
def board(runtime, tmp_path):  # noqa: F811
    """`foley serve` (live on the seam) and `foley capture` (file camera); (served, service folder, config)."""
    config = tmp_path / "serve.yaml"
    config.write_text("live:\n  output: seam\n")
    served = start_server(tmp_path, args=("--config", str(config)))
    capture = start_capture(tmp_path, int(served.base.rsplit(":", 1)[1]))
    try:
        yield served, tmp_path / "state" / "service", config
    finally:
        try:
            ended(capture, lambda: stop(capture))
        finally:
            ended(served.process, lambda: served.stop() == 0 or pytest.fail("foley serve ended with an error"))


def ended(process: subprocess.Popen, stop_it) -> None:
    """`stop_it()`; the process killed if it outlives that (a loaded machine): none outlives the test."""
    try:
        stop_it()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def live(base: str, on: bool) -> tuple[int, dict]:
    return post(f"{base}/api/v1/live", {"on": on, "description": "knocking on wood"})


def play(base: str, job: str) -> tuple[int, dict]:
    return post(f"{base}/api/v1/jobs/{job}/play")


def switched_off(base: str) -> None:
    """Live off, and its session over (a switch-off waits 10 s at most; loading the models may take longer)."""
    live(base, False)
    wait_for(lambda: get_json(f"{base}/api/v1/live")["state"] == "off", 60)


def test_live_stops_play_and_play_waits_for_live(board):
    served, folder, config = board
    base = served.base
    tone = tone_job(folder, 60.0)
    assert play(base, tone)[0] == 202
    assert get_json(f"{base}/api/v1/play")["blocked"] is None

    code, state = live(base, True)
    assert code == 200 and state["on"] and state["speaker"] is True and state["stopped_playback"] == tone
    assert state["notices"] == [f"stopped playing job {tone}: live mode takes the speaker"]
    now = get_json(f"{base}/api/v1/play")
    assert now["playing"] is False and now["blocked"] == LIVE_HAS_IT
    assert play(base, tone) == (409, {"error": LIVE_HAS_IT})
    # `foley live` by hand, in another process: refused at once, naming the holder
    done = run_foley("live", "--config", str(config), "--duration", "1", timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        f"the speaker is in use by the service's live mode (pid {served.process.pid}); switch Live off on the page "
        "(or POST /api/v1/live {\"on\": false}); or run `foley live --output seam` to go without the speaker")

    switched_off(base)
    assert get_json(f"{base}/api/v1/play")["blocked"] is None
    assert play(base, tone)[0] == 202
    done = run_foley("live", "--config", str(config), "--duration", "1", timeout=60)
    assert done.returncode == 2 and (f"the speaker is in use by the service playing job {tone} "
                                     f"(pid {served.process.pid}); Stop on the page") in done.stderr
    assert post(f"{base}/api/v1/play/stop") == (200, {"playing": False, "stopped": tone})


def test_two_clients_toggling_live_and_play_at_once_leave_one_truth(board):
    """Play and two Live switches sent together, three times: whichever order the arbiter took
    them in, Live ends with the speaker and every answer says what happened."""
    served, folder, _ = board
    base = served.base
    orders = []
    for _ in range(3):
        tone = tone_job(folder, 60.0)
        start = threading.Barrier(3)
        answers: dict[str, tuple[int, dict]] = {}

        def send(name, call):
            start.wait()
            answers[name] = call()

        clients = [threading.Thread(target=send, args=("play", lambda: play(base, tone))),
                   threading.Thread(target=send, args=("live", lambda: live(base, True))),
                   threading.Thread(target=send, args=("live again", lambda: live(base, True)))]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        played, (_, state) = answers["play"], answers["live"]
        assert answers["live"][0] == answers["live again"][0] == 200 and state["on"] and state["speaker"]
        if played[0] == 202:  # Play first: Live stopped it, and said so
            assert state["stopped_playback"] == tone, (played, state)
            orders.append("play, then live")
        else:  # Live first: Play refused
            assert played == (409, {"error": LIVE_HAS_IT}) and state["stopped_playback"] is None, (played, state)
            orders.append("live, then play")
        now = get_json(f"{base}/api/v1/play")
        assert now["playing"] is False and now["blocked"] == LIVE_HAS_IT
        switched_off(base)
        assert get_json(f"{base}/api/v1/play")["blocked"] is None
    print("orders taken:", orders)


def test_foley_live_by_hand_holds_the_speaker_and_the_service_says_who(board, tmp_path):
    from appliance.video.synthetic import render_scene

    served, folder, config = board
    base = served.base
    clip = render_scene("steps", tmp_path / "steps.mp4", width=320, height=240, seconds=2.0, seed=2)
    by_hand = subprocess.Popen([sys.executable, "-m", "appliance.cli", "live", "--config", str(config), "--camera",
                                f"file:{clip.path}", "--duration", "120", "--no-history"], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=open(tmp_path / "by-hand.log", "w"))
    try:
        wait_for(lambda: speaker_holder() is not None or by_hand.poll() is not None, 30)
        assert by_hand.poll() is None, (tmp_path / "by-hand.log").read_text()
        named = f"the speaker is in use by `foley live` (pid {by_hand.pid})"
        tone = tone_job(folder, 5.0)
        assert play(base, tone) == (409, {"error": f"{named}; stop it with Ctrl-C"})
        assert get_json(f"{base}/api/v1/play")["blocked"] == f"{named}; stop it with Ctrl-C"

        code, state = live(base, True)  # the page's Live still works: page-only, said once
        assert code == 200 and state["on"] and state["speaker"] is False
        state = wait_for(lambda: (s := get_json(f"{base}/api/v1/live"))["state"] == "on" and s, 90)
        without = [n for n in state["notices"] if n.startswith(named)]
        assert len(without) == 1 and "live mode runs without the board's speaker" in without[0], state["notices"]
        assert play(base, tone) == (409, {"error": LIVE_HAS_IT})
        connection, stream = open_stream(base)  # "on" comes before the first frame: wait for an action
        assert stream.status == 200 and any(data.get("type") == "event" for _, data in messages(stream))
        connection.close()
        switched_off(base)
        last = get_json(f"{base}/api/v1/live")["last_session"]
        assert last["output"].startswith("audio seam") and last["frames"] > 0, last
    finally:
        by_hand.send_signal(signal.SIGINT)  # stops its session cleanly
        by_hand.wait(60)
    assert speaker_holder() is None
    assert play(base, tone)[0] == 202  # free again
    assert post(f"{base}/api/v1/play/stop")[1]["stopped"] == tone


@needs_chromium
def test_the_page_disables_play_while_live_has_the_speaker(board, browser):
    """In Chromium: a result playing on the board, Live switched on in the same page: the board
    stops, the Play button is disabled and says why; Live off: it plays again."""
    from selenium.webdriver.common.by import By

    served, folder, _ = board
    tone = tone_job(folder, 60.0)
    page, find = browser, browser.find_element
    page.get(f"{served.base}/#job={tone}")
    button = find(By.ID, "board-play")
    page_wait(page, lambda: button.is_displayed() and "Play on the appliance" in button.text, what="the Play button")
    button.click()
    page_wait(page, lambda: button.text == "■ Stop", what="the board to play")
    switch = page_wait(page, lambda: find(By.ID, "live-switch").is_displayed() and find(By.ID, "live-switch"),
                       what="the Live switch")
    switch.click()
    page_wait(page, lambda: not button.is_enabled() and "Play on the appliance" in button.text,
              what="Play disabled while live")
    assert find(By.ID, "board-play-status").text == f"Not now: {LIVE_HAS_IT}."
    page_wait(page, lambda: f"stopped playing job {tone}" in find(By.ID, "live-status").text,
              what="the Live status to say the board's playback was stopped")
    assert get_json(f"{served.base}/api/v1/play")["playing"] is False
    switch.click()
    page_wait(page, lambda: button.is_enabled(), timeout=90, what="Play enabled again after live")
    assert find(By.ID, "board-play-status").text == ""
    button.click()
    page_wait(page, lambda: button.text == "■ Stop", what="the board to play again")
    button.click()
