"""The web page in real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium)
against the real server: drop a generated clip, wait for the result, play it, change one placed
sound, use the library and the history, log in from another machine; on a phone (390×844) and a
desktop (1366×900) the editor on a dense clip: upload with progress, zoom, tap every marker,
move, delete, add, undo, change a sound to the user's own, keep the clip's sound, credits, the
banner when the server is gone; axe-core finds no serious or critical accessibility problem.
Screenshots go to test-artifacts/. Plus: the page's files are all served, from this appliance only."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from appliance.bench.chromium import CHROMIUM, DRIVER, open_chromium
from appliance.config import Config
from appliance.evaluation.own_clips import with_hit_sounds
from appliance.service.app import create_app
from appliance.service.ui import STATIC
from appliance.video.synthetic import render_scene
from appliance.waiting import poll
from tests.test_capture_service import runtime  # noqa: F401 (fixture)
from tests.conftest import REPO, get_json, start_server

ARTIFACTS = REPO / "test-artifacts"


def lan_address() -> str | None:
    """This machine's address on its network (the route's source address; no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # a documentation address: only the route is looked up
            return probe.getsockname()[0]
        except OSError:
            return None

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and DRIVER.exists()),
    reason="chromium and chromium-driver are not installed (make system-deps installs them as root)")

DROP_FILE = """
const [id, name, data] = arguments;
const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
const transfer = new DataTransfer();
transfer.items.add(new File([bytes], name, { type: "video/mp4" }));
document.getElementById(id).dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
"""


@pytest.fixture
def browser(tmp_path):
    driver = open_chromium(tmp_path / "chromium-profile", tmp_path / "chromedriver.log")
    yield driver
    driver.quit()


def wait_for(page, condition, timeout: float = 60, what: str = "the page"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as exc:  # selenium is imported lazily (the test skips without it)
            if type(exc).__name__ != "StaleElementReferenceException":
                raise
            value = None  # the page re-rendered that element meanwhile: look again
        if value:
            return value
        time.sleep(0.1)
    console = "\n".join(entry["message"] for entry in page.get_log("browser"))
    pytest.fail(f"timed out after {timeout} s waiting for {what}; the browser's console:\n{console}")


def playing(driver, selector: str) -> bool:
    """True once the media element plays: not paused and its clock moves."""
    js = f"const m = document.querySelector({selector!r}); return [m.paused, m.currentTime];"
    paused, start = driver.execute_script(js)
    time.sleep(0.3)
    still_paused, later = driver.execute_script(js)
    return not paused and not still_paused and later > start


def screenshot(driver, name: str, width: int, scale: float) -> Path:
    """The whole page at `width` CSS pixels (a phone: 390 px at 2x)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 800, "deviceScaleFactor": scale, "mobile": width < 600})
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": width < 600})
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(shot["data"]))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path


def test_page_and_its_modules_are_served_from_here_without_a_token(tmp_path):
    """A LAN client without the token gets the page and every file it loads (the page then asks
    for the token); nothing is loaded from anywhere else."""
    client = create_app(Config(), queue=None, service_folder=tmp_path / "service", token="t").test_client()
    lan = {"REMOTE_ADDR": "192.168.1.50"}
    page = client.get("/", environ_base=lan)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    linked = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert linked and all(url.startswith("/static/") or url.startswith("data:") for url in linked), linked
    modules = {path.name for path in STATIC.glob("*.js")}
    for js in STATIC.glob("*.js"):
        imports = re.findall(r'from "([^"]+)"', js.read_text())
        assert all(name.startswith("./") and name[2:] in modules for name in imports), (js.name, imports)
    for url in [u for u in linked if u.startswith("/static/")] + [f"/static/{name}" for name in modules]:
        response = client.get(url, environ_base=lan)
        assert response.status_code == 200, url
        expected = {"text/css"} if url.endswith(".css") else {"text/javascript", "application/javascript"}
        assert response.mimetype in expected, url
    assert client.get("/api/v1/jobs", environ_base=lan).status_code == 401
    assert client.get("/static/../__init__.py", environ_base=lan).status_code == 404


@needs_chromium
def test_score_play_swap_in_chromium(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    page = browser
    find = page.find_element
    clip = render_scene("stick", tmp_path / "clip.mp4", width=320, height=240, seconds=3, seed=8)
    page.get(server + "/")

    # The page is up: library listed, Record disabled with its reason, the token shown to a local user.
    wait_for(page, lambda: len(page.find_elements(By.CSS_SELECTOR, "#library li")) > 5, what="the library")
    assert not find(By.ID, "record-button").is_enabled()
    assert "capture" in find(By.ID, "record-reason").text
    wait_for(page, lambda: find(By.ID, "token-value").text, what="the token")
    wait_for(page, lambda: "waiting" in find(By.ID, "health").text, what="the health figures")

    # Something that is not a video: the page says why, nothing is queued.
    page.execute_script(DROP_FILE, "drop", "notes.mp4", base64.b64encode(b"not a video at all").decode())
    find(By.ID, "score-button").click()
    wait_for(page, lambda: "not a readable video" in find(By.ID, "score-error").text, what="the refusal")
    assert get_json(f"{server}/api/v1/jobs")["jobs"] == []

    # Drop the clip on the drop zone, describe it, score it.
    page.execute_script(DROP_FILE, "drop", "clip.mp4", base64.b64encode(clip.path.read_bytes()).decode())
    size = clip.path.stat().st_size  # in the service's units (1024), as its upload limit is stated
    assert f"clip.mp4 ({size / 1024:.{1 if size < 10 * 1024 else 0}f} KB)" in find(By.ID, "drop-text").text
    find(By.ID, "description").send_keys("a stick hits a wooden table")
    page.execute_script("""window.progressSeen = [];
        new MutationObserver(() => progressSeen.push(document.getElementById('progress-text').textContent))
          .observe(document.getElementById('progress-text'), { childList: true });""")
    find(By.ID, "score-button").click()

    # The result: the video with its new track, the waveform drawn, one marker per placed sound.
    wait_for(page, lambda: find(By.ID, "result").is_displayed() or find(By.ID, "score-error").is_displayed(),
             timeout=240, what="the result")
    assert not find(By.ID, "score-error").is_displayed(), find(By.ID, "score-error").text
    assert any("%" in text or "Waiting" in text for text in page.execute_script("return progressSeen"))
    job_id = page.execute_script("return location.hash.slice(5)")
    timeline = get_json(f"{server}/api/v1/jobs/{job_id}/timeline.json")
    wait_for(page, lambda: page.find_elements(By.CSS_SELECTOR, "#markers .marker"), what="the markers")
    assert marked_events(page) == sorted(e["n"] for e in timeline["events"]) and timeline["events"]
    wait_for(page, lambda: page.execute_script(
        "const c = document.getElementById('waveform'); if (!c.width) return 0;"
        "return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((v, i) => i % 4 == 3 && v).length"
    ) > 500, what="the waveform")
    wait_for(page, lambda: page.execute_script("return document.getElementById('result-video').readyState") >= 2,
             what="the video to load")
    assert abs(page.execute_script("return document.getElementById('result-video').duration") - clip.duration) < 0.2
    page.execute_script("document.getElementById('result-video').play()")
    wait_for(page, lambda: playing(page, "#result-video"), what="the video to play")
    page.execute_script("document.getElementById('result-video').pause()")

    # Click a marker: its sound plays in the video; change it for the picker's first other sound.
    event = timeline["events"][0]
    find(By.CSS_SELECTOR, f"#markers .marker[data-n='{event['n']}']").click()
    wait_for(page, lambda: playing(page, "#result-video"), what="the video to play from the marker")
    find(By.ID, "event-swap").click()
    use = wait_for(page, lambda: page.find_elements(By.CSS_SELECTOR, "#picker-groups button.use"), what="the picker")
    chosen = use[0].get_attribute("value")
    assert chosen and chosen != event["template_id"]
    use[0].click()
    swapped = wait_for(page, lambda: [e for e in get_json(f"{server}/api/v1/jobs/{job_id}/timeline.json")["events"]
                                if e["n"] == event["n"] and e["template_id"] == chosen], what="the swap in the timeline")
    description = swapped[0]["template"]
    wait_for(page, lambda: description in find(By.ID, "event-why").text, what="the page to show the new sound")
    assert not page.execute_script("return document.getElementById('picker').open")
    page.execute_script("document.getElementById('result-video').play()")
    wait_for(page, lambda: playing(page, "#result-video"), what="the re-mixed video to play")
    page.execute_script("document.getElementById('result-video').pause()")

    # The library: search, play a recording.
    find(By.ID, "library-search").send_keys("glass breaking")
    wait_for(page, lambda: "glass" in find(By.CSS_SELECTOR, "#library li").text.lower(), what="the search results")
    find(By.CSS_SELECTOR, "#library li button.icon").click()
    wait_for(page, lambda: playing(page, "#player"), what="a library sound to play")

    # Add your own sound: it is listed with a Remove button, and can be played.
    noise = np.random.default_rng(0).normal(0, 0.2, 72000) * np.exp(-np.arange(72000) / 24000)  # 1.5 s
    sf.write(tmp_path / "knock.wav", np.stack([noise, noise], axis=1), 48000)
    find(By.CSS_SELECTOR, "#library-panel summary").click()
    form = find(By.ID, "sound-form")
    form.find_element(By.NAME, "file").send_keys(str(tmp_path / "knock.wav"))
    Select(form.find_element(By.NAME, "category")).select_by_value("knock")
    form.find_element(By.NAME, "description").send_keys("my knuckles on the desk")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(page, lambda: "Added" in find(By.ID, "sound-status").text, what="the sound to be added")
    mine = wait_for(page, lambda: [row for row in page.find_elements(By.CSS_SELECTOR, "#library li")
                                   if "my knuckles on the desk" in row.text], what="the new sound in the list")
    assert mine[0].find_element(By.XPATH, ".//button[text()='Remove']").is_displayed()
    mine[0].find_element(By.CSS_SELECTOR, "button.icon").click()
    wait_for(page, lambda: playing(page, "#player"), what="the new sound to play")

    wait_for(page, lambda: "Ready" in find(By.ID, "health").text, what="the appliance's state in words")
    desktop = screenshot(page, "browser-desktop.png", 1280, 1)
    phone = screenshot(page, "browser-phone.png", 390, 2)
    assert desktop.stat().st_size > 10_000 and phone.stat().st_size > 10_000

    # History: the job is listed; deleting it removes it from the server and closes the result.
    rows = page.find_elements(By.CSS_SELECTOR, "#history li")
    assert len(rows) == 1 and "a stick hits a wooden table" in rows[0].text
    page.execute_script("window.confirm = () => true")
    rows[0].find_element(By.XPATH, ".//button[text()='Delete']").click()
    wait_for(page, lambda: not find(By.ID, "result").is_displayed(), what="the result to close")
    assert get_json(f"{server}/api/v1/jobs")["jobs"] == []

    errors = [entry["message"] for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert all("the server responded with a status of 415" in message for message in errors), errors


def marked_events(page) -> list[int]:
    """The events the track view shows, as single markers or in groups (their `n`, sorted)."""
    return sorted(int(n) for n in page.execute_script(
        "return [...document.querySelectorAll('#markers .marker')].flatMap("
        "(b) => b.dataset.n !== undefined ? [b.dataset.n] : b.dataset.members.split(','))"))


# The page's first question to the board (GET /api/v1/play, asked when the result opens) is
# answered late: after Play was pressed and answered, and 1 s more (a busy board's threads answer
# out of order). window.staleAnswered turns true once the page has that old answer.
LATE_FIRST_ANSWER = """
const original = window.fetch;
let first = true, release = null;
window.staleAnswered = false;
window.fetch = async (path, options = {}) => {
  const response = await original(path, options);
  const method = options.method || "GET";
  if (first && method === "GET" && path === "/api/v1/play") {
    first = false;
    await new Promise((resolve) => { release = resolve; });
    setTimeout(() => { window.staleAnswered = true; }, 0);
  }
  if (method === "POST" && /^\\/api\\/v1\\/jobs\\/[^/]+\\/play$/.test(path)) setTimeout(() => release?.(), 1000);
  return response;
};
"""


@needs_chromium
@pytest.mark.parametrize("answers", ["in order", "the first one late"])
def test_play_on_the_appliance_button(browser, tmp_path, answers):
    """The result's "Play on the appliance" button (the board's output: the audio seam here)
    turns into Stop while the board plays, and back when stopped. An answer about the board's
    state that was asked before Play but comes after it does not turn the button back to Play."""
    from selenium.webdriver.common.by import By

    from tests.test_service_play import tone_job

    config = tmp_path / "config.yaml"
    config.write_text("live:\n  output: seam\n")
    served = start_server(tmp_path, args=("--config", str(config)))
    try:
        job_id = tone_job(tmp_path / "state" / "service", 30.0)
        if answers != "in order":
            browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": LATE_FIRST_ANSWER})
        browser.get(f"{served.base}/#job={job_id}")
        button = browser.find_element(By.ID, "board-play")
        wait_for(browser, lambda: button.is_displayed() and "Play on the appliance" in button.text, what="the button")
        button.click()
        wait_for(browser, lambda: button.text == "■ Stop", what="the button to say Stop")
        if answers != "in order":
            wait_for(browser, lambda: browser.execute_script("return window.staleAnswered"), what="the late answer")
            time.sleep(0.3)
            assert button.text == "■ Stop"
        assert get_json(f"{served.base}/api/v1/play")["job"] == job_id
        button.click()
        wait_for(browser, lambda: "Play on the appliance" in button.text, what="the button to say Play again")
        assert get_json(f"{served.base}/api/v1/play")["playing"] is False
    finally:
        assert served.stop() == 0


@needs_chromium
@pytest.mark.skipif(lan_address() is None, reason="this machine has no network address besides loopback")
@pytest.mark.parametrize("server", [lan_address()], indirect=True)
def test_token_prompt_from_another_machine(server, browser, tmp_path):
    """Not on loopback: the page asks for the token once, refuses a wrong one, keeps the right one
    in an HttpOnly SameSite=Strict cookie, and does not show the token."""
    from selenium.webdriver.common.by import By

    page = browser
    find = page.find_element
    page.get(server + "/")
    wait_for(page, lambda: page.execute_script("return document.getElementById('login').open"), what="the prompt")
    find(By.ID, "login-token").send_keys("not-the-token\n")
    wait_for(page, lambda: "wrong token" in find(By.ID, "login-error").text, what="the refusal")
    screenshot(page, "browser-token-prompt.png", 390, 2)
    token = (tmp_path / "state" / "api-token").read_text().strip()
    find(By.ID, "login-token").clear()
    find(By.ID, "login-token").send_keys(token + "\n")
    wait_for(page, lambda: len(page.find_elements(By.CSS_SELECTOR, "#library li")) > 5, what="the library")
    assert not page.execute_script("return document.getElementById('login').open")
    assert find(By.ID, "history-empty").is_displayed() and not find(By.ID, "token-info").is_displayed()
    cookie = page.get_cookie("foley_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] == token
    assert page.execute_script("return document.cookie") == ""


@needs_chromium
def test_record_button_with_the_capture_daemon(runtime, server, browser, tmp_path):
    """The camera's live picture on the page; Record → Stop → the recording's result opens."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from tests.test_capture_service import start_capture, stop

    capture = start_capture(tmp_path, int(server.rsplit(":", 1)[1]), seconds=30)
    page, find = browser, browser.find_element
    try:
        page.get(server + "/")
        button = wait_for(page, lambda: find(By.ID, "record-button").is_enabled() and find(By.ID, "record-button"),
                          what="Record to be enabled")
        wait_for(page, lambda: page.execute_script(
            "const p = document.getElementById('preview'); return !p.hidden && p.naturalWidth > 0"),
            what="the live preview")
        assert "no camera attached — demo clip" in find(By.ID, "camera-caption").text.lower()
        find(By.ID, "description").send_keys("knocking on wood")
        record_and_open(page, button, lambda: button.text == "Stop", 2.0, "the recording", reload=True)
        screenshot(page, "record-result-desktop.png", 1280, 1)
        # A double click is one press: the second stopped nothing, and said "ignored: pressed
        # again too quickly" as an error under a recording that went on with its progress hidden.
        button, first_job = find(By.ID, "record-button"), page.execute_script("return location.hash")
        ActionChains(page).double_click(button).perform()
        wait_for(page, lambda: button.text == "Stop", what="the double-clicked recording to start")
        time.sleep(1.0)
        assert button.text == "Stop" and find(By.ID, "progress").is_displayed()
        assert not find(By.ID, "score-error").is_displayed(), find(By.ID, "score-error").text
        button.click()
        wait_for(page, lambda: page.execute_script("return location.hash") not in ("", first_job)
                 or find(By.ID, "score-error").is_displayed(), timeout=120, what="the double-clicked recording's result")
        assert not find(By.ID, "score-error").is_displayed(), find(By.ID, "score-error").text
    finally:
        stop(capture)


@needs_chromium
def test_a_refused_preview_comes_back_by_itself(runtime, server, browser, tmp_path):
    """Every preview stream taken (503): the page's picture is asked for again within seconds once
    one is free, not left a broken image until its 110 s reconnect."""
    import http.client

    from appliance.service.ops_api import MAX_PREVIEWS
    from tests.test_capture_service import start_capture, stop

    port = int(server.rsplit(":", 1)[1])
    capture = start_capture(tmp_path, port, seconds=30)
    watchers = []
    try:
        poll(lambda: get_json(f"{server}/api/v1/record").get("available"), 60)
        for _ in range(MAX_PREVIEWS):  # other viewers hold every stream
            watcher = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            watcher.request("GET", "/api/v1/preview.mjpg")
            response = watcher.getresponse()
            assert response.status == 200 and response.read(64)
            watchers.append(watcher)
        page = browser
        page.get(server + "/")
        preview_shown = "const p = document.getElementById('preview'); return !p.hidden && p.naturalWidth > 0"
        wait_for(page, lambda: page.execute_script(
            "return !document.getElementById('camera').hidden"), what="the camera's panel")
        time.sleep(1.0)
        assert not page.execute_script(preview_shown), "every preview stream was taken"
        for watcher in watchers:
            watcher.close()
        wait_for(page, lambda: page.execute_script(preview_shown), timeout=20, what="the preview, asked again")
    finally:
        for watcher in watchers:
            watcher.close()
        stop(capture)


# The page's first question about live (GET /api/v1/live, asked as the Live switch is set up) is
# answered 2 s late, as a busy board may: the switch must not be clickable before it works.
SLOW_LIVE_ANSWER = """
const original = window.fetch;
let first = true;
window.fetch = async (path, options = {}) => {
  const response = await original(path, options);
  if (first && (options.method || "GET") === "GET" && path === "/api/v1/live") {
    first = false;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  return response;
};
"""


@needs_chromium
def test_live_switch_plays_each_action_on_the_page(runtime, browser, tmp_path):  # noqa: F811
    """Live on from the page: the actions' sounds are decoded ahead and started in WebAudio as
    their messages arrive, each flashed over the preview; Record while live → Stop → the
    performance opens from the history; the page's timings are printed (`foley bench live
    --page` measures them over ≥ 100 events; not asserted: this machine is shared). The switch
    is clicked as soon as it shows, while the board's first answer about live is held back."""
    from selenium.webdriver.common.by import By

    from tests.test_capture_service import start_capture, stop

    config = tmp_path / "serve.yaml"
    config.write_text("live:\n  output: seam\n")
    served = start_server(tmp_path, args=("--config", str(config)))
    capture = start_capture(tmp_path, int(served.base.rsplit(":", 1)[1]))
    page, find = browser, browser.find_element
    try:
        page.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SLOW_LIVE_ANSWER})
        page.get(served.base + "/")
        find(By.ID, "description").send_keys("knocking on wood")
        switch = wait_for(page, lambda: find(By.ID, "live-switch").is_displayed() and find(By.ID, "live-switch"),
                          what="the Live switch")
        switch.click()
        wait_for(page, lambda: get_json(f"{served.base}/api/v1/live")["state"] != "off", timeout=30,
                 what="the switch to start live")
        played = wait_for(page, lambda: (p := page.execute_script("return window.foleyLive.played")) and len(p) >= 8 and p,
                          timeout=120, what="eight sounds started on the page")
        flashed = page.execute_script("return document.getElementById('live-flash').textContent")
        assert flashed, "the live preview shows the actions"
        assert all(p["preloaded"] for p in played[1:]), "the sounds were decoded before their actions"

        # Record while live: the performance lands in the history and opens like a scored clip.
        record = find(By.ID, "live-record")
        assert record.is_displayed() and "Record while live" in record.text
        record_and_open(page, record, lambda: "Stop recording" in record.text, 3.0, "the live recording")
        job_id = page.execute_script("return location.hash.slice(5)")
        assert get_json(f"{served.base}/api/v1/jobs/{job_id}/timeline.json")["request"]["mode"] == "live"
        assert "Record while live" in record.text and get_json(f"{served.base}/api/v1/live")["state"] == "on"
        screenshot(page, "live-record-result-desktop.png", 1280, 1)
        switch.click()
        wait_for(page, lambda: get_json(f"{served.base}/api/v1/live")["state"] == "off", what="live to stop")
        parts = ("server_ms", "transit_ms", "page_ms", "device_ms")
        figures = {name: [round(p[name], 1) for p in played] for name in parts}
        total = sorted(sum(p[name] for name in parts) for p in played)
        figures["frame_to_page_sound_ms"] = {"p50": round(total[len(total) // 2], 1), "max": round(total[-1], 1),
                                             "events": len(total)}
        print("live page path:", json.dumps(figures))
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "live-page-latency.json").write_text(json.dumps(figures, indent=1) + "\n")
    finally:
        stop(capture)
        served.stop()


# ---- The editor on a dense clip, on a phone and on a desktop ---------------------------------

AXE_VERSION = "4"


@pytest.fixture(scope="session")
def axe_script() -> str:
    """axe-core's axe.min.js (the npm package), installed once into a cache folder outside the
    repository; FOLEY_AXE_JS may name a copy instead."""
    if os.environ.get("FOLEY_AXE_JS"):
        return Path(os.environ["FOLEY_AXE_JS"]).read_text()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "foley-tests" / f"axe-core-{AXE_VERSION}"
    script = cache / "node_modules" / "axe-core" / "axe.min.js"
    if not script.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("the accessibility check needs npm to fetch axe-core (make system-deps installs it)")
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache), f"axe-core@{AXE_VERSION}"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and script.is_file(), f"npm install axe-core failed:\n{done.stderr[-2000:]}"
    return script.read_text()


def record_and_open(page, button, started, seconds: float, what: str, reload: bool = False) -> None:
    """Start a recording with `button`, stop it after `seconds`; its result (described "knocking
    on wood") opens on the page with its video loaded. With `reload`, the page is reloaded while
    it records: the reloaded page must follow the recording (it said Record, and its press
    stopped the recording without opening the result)."""
    from selenium.webdriver.common.by import By

    find = page.find_element
    button.click()
    wait_for(page, started, what=f"{what} to start")
    if reload:
        page.refresh()
        button = wait_for(page, lambda: find(By.ID, "record-button").text == "Stop" and find(By.ID, "record-button"),
                          what=f"the reloaded page to follow {what}")
        assert find(By.ID, "progress-text").text.startswith("Recording ·"), find(By.ID, "progress-text").text
    time.sleep(seconds)
    button.click()
    wait_for(page, lambda: find(By.ID, "result").is_displayed() or find(By.ID, "score-error").is_displayed(),
             timeout=120, what=f"{what}'s result")
    assert find(By.ID, "result").is_displayed(), find(By.ID, "score-error").text
    assert find(By.ID, "result-title").text == "knocking on wood"
    wait_for(page, lambda: page.execute_script("return document.getElementById('result-video').readyState") >= 2,
             what="the recorded video to load")


def axe_problems(page, axe: str) -> list[str]:
    """axe-core run on the page as it is: its serious and critical violations, one line each."""
    if not page.execute_script("return typeof axe !== 'undefined'"):
        page.execute_script(axe)
    found = page.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then((r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact,"
        "  nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary)}))),"
        "  (e) => done([{id: 'axe failed', impact: 'critical', nodes: [String(e)]}]));")
    return [f"{v['id']} ({v['impact']}): {v['nodes'][:3]}" for v in found if v["impact"] in ("serious", "critical")]


def viewport(page, width: int, height: int, dark: bool = False) -> None:
    """A phone (below 600 px: a touch screen) or a desktop window, light or dark."""
    page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                         {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    page.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": width < 600, "maxTouchPoints": 5})
    page.execute_cdp_cmd("Emulation.setEmulatedMedia",
                         {"features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})


def snap(page, name: str) -> None:
    """The visible part of the page, as the user sees it now."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = page.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    (ARTIFACTS / name).write_bytes(base64.b64decode(shot["data"]))


def idle(page) -> bool:
    """No edit is being re-mixed: the edit controls are available again (they stay focusable
    while busy, marked aria-disabled; Undo and Redo stay so when they would do nothing)."""
    from selenium.webdriver.common.by import By

    return page.find_element(By.ID, "result").get_attribute("aria-busy") != "true" \
        and page.find_element(By.ID, "add-sound").get_attribute("aria-disabled") != "true"


def offered(page) -> tuple[bool, bool]:
    """Whether Undo and Redo are offered (not marked unavailable)."""
    from selenium.webdriver.common.by import By

    return tuple(page.find_element(By.ID, which).get_attribute("aria-disabled") != "true" for which in ("undo", "redo"))


def events_of(base: str, job_id: str) -> list[dict]:
    return get_json(f"{base}/api/v1/jobs/{job_id}/timeline.json")["events"]


def add_user_sound(base: str, tmp_path: Path) -> str:
    """A recording of the user's own in the library (as `foley library add` or the page adds it)."""
    noise = np.random.default_rng(1).normal(0, 0.2, 24000) * np.exp(-np.arange(24000) / 4000)
    sf.write(tmp_path / "knuckles.wav", noise, 48000)
    done = subprocess.run(["curl", "-sS", "-f", "-F", f"file=@{tmp_path / 'knuckles.wav'}", "-F", "category=knock",
                           "-F", "description=my knuckles on the desk", f"{base}/api/v1/library"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["id"]


def tap_every_marker(page, count: int, name: str) -> None:
    """Tap each of `count` events on its own marker — a group zooms in when tapped — each a
    ≥ 44×44 px target that receives the click itself (Selenium fails on an intercepted click)."""
    from selenium.webdriver.common.by import By

    page.find_element(By.ID, "zoom-fit").click()
    tapped: set[int] = set()
    shot = False
    for _ in range(4 * count):
        buttons = page.find_elements(By.CSS_SELECTOR, "#markers .marker")
        singles = [b for b in buttons if b.get_attribute("data-n") is not None
                   and int(b.get_attribute("data-n")) not in tapped]
        if singles:
            button = singles[0]
            n = int(button.get_attribute("data-n"))
            size = button.size
            assert size["width"] >= 44 and size["height"] >= 44, size
            # Into the middle of the lane first, as a finger would drag it: Selenium's own scroll
            # brings a marker just inside the edge, where half of it can lie under the card's edge.
            page.execute_script("arguments[0].scrollIntoView({block: 'nearest', inline: 'center'})", button)
            button.click()
            wait_for(page, lambda: page.find_element(By.CSS_SELECTOR, f"#markers .marker[data-n='{n}']")
                     .get_attribute("aria-pressed") == "true", what=f"marker {n} to be selected")
            tapped.add(n)
            if not shot and len(tapped) > count // 2:
                snap(page, f"editor-{name}-zoomed.png")
                shot = True
            if len(tapped) == count:
                return
            continue
        group = next(b for b in buttons if b.get_attribute("data-members")
                     and set(map(int, b.get_attribute("data-members").split(","))) - tapped)
        assert group.size["width"] >= 44 and group.size["height"] >= 44
        group.click()
    pytest.fail(f"tapped {len(tapped)} of {count} markers")


def select_marker(page, n: int) -> None:
    """Tap event n's own marker, zooming in until it is out of its group."""
    from selenium.webdriver.common.by import By

    for _ in range(8):
        found = page.find_elements(By.CSS_SELECTOR, f"#markers .marker[data-n='{n}']")
        if found:
            found[0].click()
            wait_for(page, lambda: page.find_element(By.CSS_SELECTOR, f"#markers .marker[data-n='{n}']")
                     .get_attribute("aria-pressed") == "true", what=f"marker {n} to be selected")
            return
        page.find_element(By.ID, "zoom-in").click()
    pytest.fail(f"marker {n} never came out of its group")


def pinch(page, element, spread: float) -> None:
    """Two fingers on `element` moving apart by `spread` px each (a real touch gesture via CDP)."""
    box = page.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]",
                              element)
    x, y = box

    def touch(kind: str, offset: float) -> None:
        points = [] if kind == "touchEnd" else [{"x": x - offset, "y": y, "id": 0}, {"x": x + offset, "y": y, "id": 1}]
        page.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 20)
    for step in range(1, 6):
        touch("touchMove", 20 + spread * step / 5)
    touch("touchEnd", 0)


def zoom(page) -> float:
    """The track view's scale: px of the lane per second of the clip (26 px margins either side)."""
    return page.execute_script("return document.getElementById('lane').getBoundingClientRect().width") - 52


@needs_chromium
@pytest.mark.parametrize("width, height", [(390, 844), (1366, 900)], ids=["phone", "desktop"])
def test_edit_a_dense_clip(width, height, browser, tmp_path, axe_script):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    name = "phone" if width < 600 else "desktop"
    served = start_server(tmp_path)
    port = int(served.base.rsplit(":", 1)[1])
    base = served.base
    page, find = browser, browser.find_element
    try:
        mine = add_user_sound(base, tmp_path)
        silent = render_scene("steps", tmp_path / "silent-walk.mp4", width=320, height=240, seconds=16, seed=2)
        # With a sound of its own (its steps heard), which the phone keeps under the Foley.
        clip = replace(silent, path=with_hit_sounds(silent.path, silent.duration, silent.impacts, tmp_path / "walk.mp4"))
        viewport(page, width, height)
        page.get(base + "/")
        wait_for(page, lambda: len(page.find_elements(By.CSS_SELECTOR, "#library li")) > 5, what="the library")
        assert not find(By.ID, "offline").is_displayed()

        # Upload over a slow link: percent and time left, then the scoring stages in words. On the
        # phone the clip keeps its own sound, 6 dB down.
        page.execute_script(DROP_FILE, "drop", "walk.mp4", base64.b64encode(clip.path.read_bytes()).decode())
        find(By.ID, "description").send_keys("someone walks across the room")
        if name == "phone":
            find(By.CSS_SELECTOR, "label:has(#keep-audio)").click()
            page.execute_script("const r = document.getElementById('original-level'); r.value = -6;"
                                "r.dispatchEvent(new Event('input'));")
            assert find(By.ID, "original-level-value").text == "-6 dB"
        page.execute_script("""window.progressSeen = [];
            new MutationObserver(() => progressSeen.push(document.getElementById('progress-text').textContent))
              .observe(document.getElementById('progress-text'), { childList: true, characterData: true, subtree: true });""")
        page.execute_cdp_cmd("Network.enable", {})
        page.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 20,
                             "downloadThroughput": -1, "uploadThroughput": 40_000})
        find(By.ID, "score-button").click()
        wait_for(page, lambda: "Sending the clip ·" in find(By.ID, "progress-text").text, what="the upload's progress")
        snap(page, f"editor-{name}-upload.png")
        wait_for(page, lambda: find(By.ID, "result").is_displayed() or find(By.ID, "score-error").is_displayed(),
                 timeout=300, what="the result")
        page.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                             "downloadThroughput": -1, "uploadThroughput": -1})
        assert not find(By.ID, "score-error").is_displayed(), find(By.ID, "score-error").text
        seen = page.execute_script("return progressSeen")
        assert any(re.search(r"Sending the clip · \d+ % · about [\d.]+ s left", text) for text in seen), seen
        assert any(re.search(r"finding the actions|choosing sounds|mixing", text) for text in seen), seen
        assert not any(re.search(r"analyse|choose ·", text) for text in seen), seen
        job_id = page.execute_script("return location.hash.slice(5)")
        job = get_json(f"{base}/api/v1/jobs/{job_id}")
        assert job["options"].get("keep_audio", False) is (name == "phone")
        if name == "phone":
            assert job["options"]["original_level_db"] == -6
        events = events_of(base, job_id)
        assert len(events) >= 25, len(events)
        wait_for(page, lambda: marked_events(page) == sorted(e["n"] for e in events), what="every event on the track")
        wait_for(page, lambda: page.execute_script("return document.getElementById('result-video').readyState") >= 2,
                 what="the video to load")
        page.execute_script("document.getElementById('result').scrollIntoView()")
        snap(page, f"editor-{name}-result.png")
        assert page.find_elements(By.CSS_SELECTOR, "#markers .marker.group"), "a dense clip's markers are grouped"
        assert len(page.find_elements(By.CSS_SELECTOR, "#legend li")) == 3
        assert offered(page) == (False, False), "nothing to undo or redo on a result as scored"
        find(By.ID, "undo").click()  # does nothing: no request, no "nothing to undo"
        assert find(By.ID, "edit-status").text == ""

        # Zoom: the buttons, the wheel, and (on the phone) a pinch; the whole clip again.
        fitted = zoom(page)
        find(By.ID, "zoom-in").click()
        assert zoom(page) > 1.95 * fitted
        page.execute_script("document.getElementById('timeline').dispatchEvent(new WheelEvent('wheel',"
                            "{deltaY: -200, clientX: 100, clientY: 0, bubbles: true, cancelable: true}))")
        wheeled = zoom(page)
        assert wheeled > 2.8 * fitted
        if name == "phone":
            pinch(page, find(By.ID, "timeline"), 60)
            assert zoom(page) > 1.5 * wheeled
        find(By.ID, "zoom-fit").click()
        assert abs(zoom(page) - fitted) < 2

        # The playhead follows the video, and a tap on the time scale moves the video.
        page.execute_script("document.getElementById('result-video').currentTime = 8")
        wait_for(page, lambda: abs(page.execute_script(
            "return parseFloat(document.getElementById('playhead').style.left)") - (26 + 8 * fitted / clip.duration)) < 3,
            what="the playhead at 8 s")
        ruler = find(By.ID, "ruler")
        ActionChains(page).move_to_element_with_offset(ruler, -ruler.size["width"] // 2 + 26 + int(fitted / 4), 0).click().perform()
        wait_for(page, lambda: abs(page.execute_script("return document.getElementById('result-video').currentTime")
                                   - clip.duration / 4) < 0.3, what="the video to follow the time scale")

        # Every marker, tapped.
        tap_every_marker(page, len(events), name)

        # The keyboard: arrows between markers, Enter selects.
        find(By.ID, "zoom-fit").click()
        for _ in range(8):  # zoom in until two single markers stand side by side
            row = [b.get_attribute("data-n") for b in page.find_elements(By.CSS_SELECTOR, "#markers .marker")]
            pair = next((i for i in range(len(row) - 1) if row[i] is not None and row[i + 1] is not None), None)
            if pair is not None:
                break
            find(By.ID, "zoom-in").click()
        first_n = row[pair]
        find(By.CSS_SELECTOR, f"#markers .marker[data-n='{first_n}']").click()
        page.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
        focused = page.switch_to.active_element
        assert focused.get_attribute("data-n") not in (None, first_n)
        target = int(focused.get_attribute("data-n"))
        focused.send_keys(Keys.ENTER)
        wait_for(page, lambda: find(By.CSS_SELECTOR, f"#markers .marker[data-n='{target}']").get_attribute("aria-pressed") == "true",
                 what="Enter to select a marker")

        # Move: one frame later with the button, again with Enter on the button (it keeps the
        # keyboard's focus through its edit), then with Shift+→, then a drag. Nudges land on the
        # clip's frame grid, so three of them are three whole frames, not three roundings.
        before = next(e for e in events_of(base, job_id) if e["n"] == target)["time"]
        frame = 1 / get_json(f"{base}/api/v1/jobs/{job_id}/timeline.json")["clip"]["fps"]
        grid = round(before / frame) * frame
        time_of_target = lambda: next(e for e in events_of(base, job_id) if e["n"] == target)["time"]  # noqa: E731
        find(By.ID, "nudge-ahead").click()
        wait_for(page, lambda: abs(time_of_target() - (grid + frame)) < 2e-4, what="the sound to move by one frame")
        wait_for(page, lambda: find(By.ID, "edit-status").text.startswith("Moved") and idle(page), what="the page to say so")
        assert page.switch_to.active_element.get_attribute("id") == "nudge-ahead", "the button lost the focus"
        page.switch_to.active_element.send_keys(Keys.ENTER)
        wait_for(page, lambda: abs(time_of_target() - (grid + 2 * frame)) < 2e-4, what="Enter to move it by one more frame")
        wait_for(page, lambda: idle(page), what="the edit to finish")
        find(By.CSS_SELECTOR, f"#markers .marker[data-n='{target}']").send_keys(Keys.SHIFT, Keys.ARROW_RIGHT)
        wait_for(page, lambda: abs(time_of_target() - (grid + 3 * frame)) < 2e-4,
                 what="Shift+→ to move the sound by one more frame")
        wait_for(page, lambda: find(By.ID, "edit-status").text.endswith(".") and idle(page),
                 what="the edit to finish")
        # Three quick presses are three frames (each started from the time last shown: one frame),
        # and the page says the time to the hundredth, so a frame's move shows.
        find(By.CSS_SELECTOR, f"#markers .marker[data-n='{target}']").send_keys(
            Keys.SHIFT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
        wait_for(page, lambda: abs(time_of_target() - (grid + 6 * frame)) < 2e-4 and idle(page),
                 what="three quick Shift+→ to move the sound by three frames")
        assert find(By.ID, "edit-status").text == f"Moved to {grid + 6 * frame:.2f} s.", find(By.ID, "edit-status").text
        dragged = find(By.CSS_SELECTOR, f"#markers .marker[data-n='{target}']")
        ActionChains(page).click_and_hold(dragged).move_by_offset(10, 0).move_by_offset(30, 0).release().perform()
        wait_for(page, lambda: time_of_target() > grid + 6.5 * frame, what="the dragged sound to move later")
        wait_for(page, lambda: idle(page), what="the drag's edit to finish")
        snap(page, f"editor-{name}-moved.png")

        # Softer by 6 dB with the slider (the API allows −40 … +12 dB over the recording's own
        # level; how loud the walk's recordings are placed depends on which ones are chosen, so
        # the loudest sound is taken and lowered, which every choice allows).
        loud = max(events_of(base, job_id), key=lambda e: e["gain_db"])
        select_marker(page, loud["n"])
        slider_range = page.execute_script("const g = document.getElementById('event-gain'); return [+g.min, +g.max]")
        low, high = loud["gain_range_db"]  # the slider offers only gains the appliance takes
        assert low - 1 < loud["gain_db"] + slider_range[0] and loud["gain_db"] + slider_range[1] < high + 1
        # Its top is taken (rounded to a tenth, 31.68 + 0 was sent as 31.7 and refused).
        page.execute_script("const g = document.getElementById('event-gain'); g.value = g.max;"
                            "g.dispatchEvent(new Event('input')); g.dispatchEvent(new Event('change'));")
        wait_for(page, lambda: idle(page) and find(By.ID, "edit-status").text.endswith("."), what="the top gain's edit")
        assert "must be between" not in find(By.ID, "edit-status").text, find(By.ID, "edit-status").text
        loud = next(e for e in events_of(base, job_id) if e["n"] == loud["n"])
        assert loud["gain_db"] <= high
        page.execute_script("const g = document.getElementById('event-gain'); g.value = -6;"
                            "g.dispatchEvent(new Event('input')); g.dispatchEvent(new Event('change'));")
        assert find(By.ID, "event-gain-value").text == "6 dB softer"
        wait_for(page, lambda: abs(next(e for e in events_of(base, job_id) if e["n"] == loud["n"])["gain_db"]
                                   - (loud["gain_db"] - 6)) < 0.11, what="the sound to be 6 dB softer")
        wait_for(page, lambda: idle(page), what="the gain's edit to finish")
        assert find(By.ID, "event-gain-value").text == "as it is"
        select_marker(page, target)

        # Delete it; undo (button) brings it back; redo (Ctrl+Shift+Z) and undo (Ctrl+Z) again.
        count = len(events_of(base, job_id))
        find(By.ID, "event-delete").click()
        wait_for(page, lambda: len(events_of(base, job_id)) == count - 1, what="the delete")
        wait_for(page, lambda: not find(By.ID, "event").is_displayed() and marked_events(page) == sorted(
            e["n"] for e in events_of(base, job_id)), what="the page to drop the marker")
        wait_for(page, lambda: idle(page), what="the delete to finish")  # the new mix loaded
        assert offered(page) == (True, False)
        find(By.ID, "undo").click()
        wait_for(page, lambda: len(events_of(base, job_id)) == count and target in marked_events(page), what="undo")
        wait_for(page, lambda: idle(page), what="the undo to finish")
        assert offered(page) == (True, True)  # the earlier edits can still be undone, the delete redone
        ActionChains(page).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys("z").key_up(Keys.SHIFT).key_up(Keys.CONTROL).perform()
        wait_for(page, lambda: len(events_of(base, job_id)) == count - 1, what="Ctrl+Shift+Z to redo the delete")
        wait_for(page, lambda: idle(page), what="the redo to finish")
        assert offered(page) == (True, False)
        ActionChains(page).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()
        wait_for(page, lambda: len(events_of(base, job_id)) == count and target in marked_events(page), what="Ctrl+Z")
        wait_for(page, lambda: idle(page), what="the undo to finish")

        # Change a sound for the user's own recording, found in the picker.
        select_marker(page, target)
        find(By.ID, "event-swap").click()
        wait_for(page, lambda: page.find_elements(By.CSS_SELECTOR, "#picker-groups .picker-group"), what="the picker")
        groups = page.find_elements(By.CSS_SELECTOR, "#picker-groups .picker-group")
        assert "in use" in groups[0].text, "the sound in use comes first"
        assert any(fit in groups[0].text for fit in ("best fit", "good fit", "other sounds"))
        snap(page, f"editor-{name}-picker.png")
        picker_problems = axe_problems(page, axe_script)
        use = wait_for(page, lambda: page.find_elements(By.CSS_SELECTOR, f"#picker-groups button.use[value='{mine}']"),
                       what="the user's own sound in the picker")
        assert "your sound" in use[0].find_element(By.XPATH, "./..").text
        use[0].click()
        wait_for(page, lambda: next(e for e in events_of(base, job_id) if e["n"] == target)["template_id"] == mine,
                 what="the swap to the user's sound")
        wait_for(page, lambda: "my knuckles on the desk" in find(By.ID, "event-why").text, what="the page to show it")

        # Add a sound at the playhead, from a search in the picker.
        wait_for(page, lambda: idle(page), what="the swap to finish")
        page.execute_script("const v = document.getElementById('result-video'); v.pause(); v.currentTime = 3.21;")
        count = len(events_of(base, job_id))
        find(By.ID, "add-sound").click()
        find(By.ID, "picker-search").send_keys("glass breaking")
        wait_for(page, lambda: "glass" in find(By.ID, "picker-groups").text.lower(), what="the search in the picker")
        find(By.CSS_SELECTOR, "#picker-groups button.use").click()
        wait_for(page, lambda: len(events_of(base, job_id)) == count + 1, what="the added sound")
        added = [e for e in events_of(base, job_id) if abs(e["time"] - 3.21) < 0.02]
        assert added and "glass" in added[0]["category"] + added[0]["template"].lower()
        wait_for(page, lambda: find(By.ID, "event").is_displayed() and "3.2" in find(By.ID, "event-title").text,
                 what="the added sound selected")

        wait_for(page, lambda: not page.execute_script("return document.getElementById('picker').open")
                 and find(By.ID, "edit-status").text.endswith("."), what="the picker to close and the mix to load")

        # A choice the service refuses is said in the picker, not under it: the user's sound,
        # listed, is removed from the library before it is used.
        find(By.ID, "add-sound").click()
        find(By.ID, "picker-search").send_keys("my knuckles")
        use = wait_for(page, lambda: page.find_elements(By.CSS_SELECTOR, f"#picker-groups button.use[value='{mine}']"),
                       what="the user's own sound in the picker")
        removed = subprocess.run(["curl", "-sS", "-f", "-X", "DELETE", f"{base}/api/v1/library/{mine}"],
                                 capture_output=True, text=True, timeout=60)
        assert removed.returncode == 0, removed.stderr
        use[0].click()
        wait_for(page, lambda: find(By.ID, "picker-error").is_displayed(), what="the refusal in the picker")
        assert page.execute_script("return document.getElementById('picker').open")
        assert find(By.ID, "picker-error").text and find(By.ID, "picker-error").get_attribute("role") == "alert"
        snap(page, f"editor-{name}-picker-refused.png")
        find(By.ID, "picker-close").click()

        # The downloads, credits among them; the history counts the edits.
        wait_for(page, lambda: find(By.ID, "dl-credits").is_displayed(), what="the credits link")
        assert find(By.ID, "dl-mix").is_displayed() is (name == "phone"), "the mix is offered when the clip's sound is kept"
        if name == "phone":
            with urllib.request.urlopen(find(By.ID, "dl-mix").get_attribute("href"), timeout=30) as mix:
                assert mix.headers["Content-Type"] == "audio/wav" and len(mix.read()) > 100_000
        with urllib.request.urlopen(find(By.ID, "dl-credits").get_attribute("href"), timeout=30) as credits:
            text = credits.read().decode()
        assert text.startswith("Sound credits") and "my knuckles on the desk" in text, text[:500]
        wait_for(page, lambda: re.search(r"\d+ edits", find(By.CSS_SELECTOR, "#history li").text), what="the edits in history")
        page.execute_script("document.getElementById('result').scrollIntoView()")
        snap(page, f"editor-{name}-edited.png")

        # Accessibility, light and dark (and the picker, above).
        problems = picker_problems + axe_problems(page, axe_script)
        viewport(page, width, height, dark=True)
        snap(page, f"editor-{name}-dark.png")
        problems += axe_problems(page, axe_script)
        viewport(page, width, height)
        assert problems == [], "\n".join(problems)

        # The server goes away: a banner, retried on its own; back when the server is.
        assert served.stop() == 0
        wait_for(page, lambda: find(By.ID, "offline").is_displayed() and "cannot be reached" in find(By.ID, "offline").text,
                 timeout=30, what="the banner")
        assert "Failed to fetch" not in page.find_element(By.TAG_NAME, "body").text
        page.execute_script("window.scrollTo(0, 0)")
        snap(page, f"editor-{name}-offline.png")
        served = start_server(tmp_path, port=port)
        wait_for(page, lambda: not find(By.ID, "offline").is_displayed(), timeout=60, what="the banner to go")
        wait_for(page, lambda: "Ready" in find(By.ID, "health").text, what="the page to work again")
    finally:
        assert served.stop() == 0


@needs_chromium
def test_a_reload_follows_the_job_again_and_an_edit_stays_on_its_own_result(browser, tmp_path):
    """Reloaded while its clip waits for a worker, the page follows the job again and opens its
    result when it is done; an edit still being re-mixed when another result is opened changes
    its own job, and the result now open keeps its own sounds."""
    from selenium.webdriver.common.by import By

    served = start_server(tmp_path, args=("--no-worker",))  # the jobs wait until a worker starts
    base, page, find = served.base, browser, browser.find_element
    worker = None
    try:
        walk_clip = render_scene("steps", tmp_path / "walk.mp4", width=320, height=240, seconds=6, seed=3)
        knock_clip = render_scene("stick", tmp_path / "knock.mp4", width=320, height=240, seconds=4, seed=4)
        sent = subprocess.run(["curl", "-sS", "-f", "-F", f"video=@{walk_clip.path}", "-F", "description=someone walks",
                               f"{base}/api/v1/score"], capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        walk = json.loads(sent.stdout)["id"]

        page.get(base + "/")
        page.execute_script(DROP_FILE, "drop", "knock.mp4", base64.b64encode(knock_clip.path.read_bytes()).decode())
        find(By.ID, "description").send_keys("knocking on a door")
        find(By.ID, "score-button").click()
        wait_for(page, lambda: "Waiting for its turn" in find(By.ID, "progress-text").text, what="the job to wait")
        knock = page.execute_script("return location.hash.slice(5)")
        assert re.fullmatch(r"[0-9a-f]{16}", knock) and knock != walk, knock
        page.refresh()
        wait_for(page, lambda: find(By.ID, "progress").is_displayed()
                 and "Waiting for its turn" in find(By.ID, "progress-text").text, what="the reloaded page to follow the job")
        worker = subprocess.Popen([sys.executable, "-m", "appliance.cli", "worker"], cwd=REPO,
                                  env={**os.environ, "FOLEY_STATE_DIR": str(tmp_path / "state")},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(page, lambda: find(By.ID, "result").is_displayed(), timeout=300, what="the result to open by itself")
        assert find(By.ID, "result-title").text == "knocking on a door"
        assert page.execute_script("return location.hash") == f"#job={knock}"

        knock_events, walk_events = events_of(base, knock), events_of(base, walk)
        assert knock_events and walk_events
        select_marker(page, knock_events[0]["n"])
        find(By.ID, "event-delete").click()

        def open_the_walk() -> bool:
            """Clicked within the wait: the history is drawn again after the delete, and a
            button found just before that is stale when clicked (wait_for then looks again)."""
            buttons = page.find_elements(By.CSS_SELECTOR, "button[aria-label='Open someone walks']")
            if buttons:
                buttons[0].click()
            return bool(buttons)
        wait_for(page, open_the_walk, what="the other result in the history")
        wait_for(page, lambda: len(events_of(base, knock)) == len(knock_events) - 1, what="the delete, on its own job")
        wait_for(page, lambda: find(By.ID, "result-title").text == "someone walks" and idle(page),
                 what="the other result open, the edit's answer in")
        assert events_of(base, walk) == walk_events
        assert marked_events(page) == sorted(e["n"] for e in walk_events), "the open result shows another job's sounds"
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        assert served.stop() == 0


@needs_chromium
def test_the_history_shows_older_clips_on_request(browser, tmp_path):
    """51 clips waiting (no worker): the history lists the newest 50 and offers the older ones,
    which one press adds; then nothing more is offered."""
    from selenium.webdriver.common.by import By

    config = tmp_path / "config.yaml"
    config.write_text("queue:\n  max_waiting: 60\n")
    served = start_server(tmp_path, args=("--no-worker", "--config", str(config)))
    page, find = browser, browser.find_element
    try:
        clip = render_scene("stick", tmp_path / "knock.mp4", width=160, height=120, seconds=1, seed=5).path
        for seed in range(51):
            sent = subprocess.run(["curl", "-sS", "-f", "-F", f"video=@{clip}", "-F", f"seed={seed}",
                                   "-F", f"description=clip {seed}", f"{served.base}/api/v1/score"],
                                  capture_output=True, text=True, timeout=60)
            assert sent.returncode == 0, sent.stderr
        page.get(served.base + "/")
        wait_for(page, lambda: len(page.find_elements(By.CSS_SELECTOR, "#history li")) == 50, what="the first 50 clips")
        assert "clip 50" in find(By.CSS_SELECTOR, "#history li").text  # the newest first
        older = find(By.ID, "history-older")
        assert older.is_displayed()
        older.click()
        wait_for(page, lambda: len(page.find_elements(By.CSS_SELECTOR, "#history li")) == 51, what="the oldest clip")
        assert "clip 0" in page.find_elements(By.CSS_SELECTOR, "#history li")[-1].text
        assert not find(By.ID, "history-older").is_displayed()
    finally:
        assert served.stop() == 0


@needs_chromium
def test_page_says_a_damaged_database_was_moved_aside(browser, tmp_path):
    """A garbage jobs.sqlite3: the service starts, and the page shows the notice that it was moved aside."""
    from selenium.webdriver.common.by import By

    from tests.conftest import start_server

    service = tmp_path / "state" / "service"
    service.mkdir(parents=True)
    (service / "jobs.sqlite3").write_bytes(b"\x00garbage" * 500)
    served = start_server(tmp_path, args=("--no-worker",))
    try:
        browser.get(served.base + "/")
        notice = browser.find_element(By.ID, "notices")
        wait_for(browser, notice.is_displayed, what="the notice")
        assert "jobs.sqlite3" in notice.text and "moved aside" in notice.text, notice.text
    finally:
        assert served.stop() == 0


@needs_chromium
def test_a_result_without_sounds_says_why_and_a_kept_sound_that_was_not_there(browser, tmp_path):
    """A still clip opened with an empty track and no word of why; with "keep the clip's sound"
    on a clip without one, the page offered a mix with the clip's sound and did not say that it
    was the Foley alone."""
    from selenium.webdriver.common.by import By

    served = start_server(tmp_path)
    base, page, find = served.base, browser, browser.find_element
    try:
        still = render_scene("still", tmp_path / "room.mp4", width=160, height=120, seconds=2, seed=5)
        sent = subprocess.run(["curl", "-sS", "-f", "-F", f"video=@{still.path}", "-F", "description=a quiet room",
                               "-F", "keep_audio=true", f"{base}/api/v1/score"],
                              capture_output=True, text=True, timeout=300)
        assert sent.returncode == 0, sent.stderr
        job = json.loads(sent.stdout)["id"]
        poll(lambda: get_json(f"{base}/api/v1/jobs/{job}")["state"] == "done", 300)
        timeline = get_json(f"{base}/api/v1/jobs/{job}/timeline.json")
        assert timeline["events"] == [] and timeline["output"]["original_audio"]
        page.get(f"{base}/#job={job}")
        wait_for(page, lambda: find(By.ID, "result").is_displayed() and find(By.ID, "result-note").is_displayed(),
                 what="the result and its note")
        note = find(By.ID, "result-note").text
        assert note.startswith("A bed of ambience room under the clip: the motion holds no action"), note
        assert "The clip has no sound track of its own: the video carries the Foley alone." in note, note

        # A job made elsewhere (curl, the board's button) shows in the open page's history by
        # itself (it showed only after a reload); the token's curl example names this port.
        assert len(page.find_elements(By.CSS_SELECTOR, "#history li")) == 1
        again = subprocess.run(["curl", "-sS", "-f", "-F", f"video=@{still.path}", f"{base}/api/v1/score"],
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stderr
        wait_for(page, lambda: len(page.find_elements(By.CSS_SELECTOR, "#history li")) == 2, timeout=40,
                 what="the job made elsewhere in the history")
        port = base.rsplit(":", 1)[1]
        assert f"http://foley.local:{port}/api/v1/score" in find(By.ID, "curl-example").get_attribute("textContent")
    finally:
        assert served.stop() == 0


@needs_chromium
def test_a_dropped_text_keeps_the_clip_and_a_deleted_waiting_job_is_let_go(browser, tmp_path):
    """Text dropped on the drop zone leaves the chosen clip chosen (it emptied the file field);
    deleting, from the history, the clip the page is waiting on stops following it quietly (the
    page said "no job …" as an error)."""
    from selenium.webdriver.common.by import By

    served = start_server(tmp_path, args=("--no-worker",))  # the job waits: it can be deleted
    page, find = browser, browser.find_element
    try:
        clip = render_scene("stick", tmp_path / "knock.mp4", width=160, height=120, seconds=2, seed=5).path
        page.get(served.base + "/")
        page.execute_script(DROP_FILE, "drop", "knock.mp4", base64.b64encode(clip.read_bytes()).decode())
        page.execute_script("const t = new DataTransfer(); t.setData('text/plain', 'a dragged word');"
                            "document.getElementById('drop').dispatchEvent(new DragEvent('drop', "
                            "{ dataTransfer: t, bubbles: true, cancelable: true }));")
        assert page.execute_script("return document.getElementById('video-file').files.length") == 1
        find(By.ID, "description").send_keys("a knock to delete")
        find(By.ID, "score-button").click()
        wait_for(page, lambda: "Waiting for its turn" in find(By.ID, "progress-text").text, what="the job to wait")
        delete = wait_for(page, lambda: page.find_elements(By.CSS_SELECTOR, "button[aria-label='Delete a knock to delete']"),
                          what="its row in the history")
        delete[0].click()
        page.switch_to.alert.accept()
        wait_for(page, lambda: not find(By.ID, "progress").is_displayed(), what="the progress to go")
        time.sleep(1.5)  # the follower's next look, a 404, comes within a second
        assert not find(By.ID, "score-error").is_displayed(), find(By.ID, "score-error").text
        assert page.execute_script("return location.hash") == ""
    finally:
        assert served.stop() == 0


@needs_chromium
def test_quick_presses_in_the_editor_and_a_result_edited_elsewhere(server, browser, tmp_path):
    """Downloads are named after the clip; Delete pressed twice on a sound deletes it once and
    says so (the second said "no sound number …"); three quick clicks on "1 frame later" move it three frames (two were ignored);
    a delete of a sound another tab already deleted shows the result as the appliance has it;
    "1 frame later" on a sound another tab moved is refused and shows the result as it is now
    (it moved the sound back, from where this page had last seen it); "Add a sound here" at the
    end of a 29.97 fps clip adds one 50 ms before the end (refused, or placed where it is not
    heard)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    clip = render_scene("steps", tmp_path / "walk.mp4", width=320, height=240, fps=30000 / 1001, seconds=6, seed=3).path
    sent = subprocess.run(["curl", "-sS", "-f", "-F", f"video=@{clip}", "-F", "description=someone walks",
                           f"{server}/api/v1/score"], capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stderr
    job_id = json.loads(sent.stdout)["id"]
    poll(lambda: get_json(f"{server}/api/v1/jobs/{job_id}")["state"] == "done", 300)
    page, find = browser, browser.find_element
    page.get(f"{server}/#job={job_id}")
    wait_for(page, lambda: find(By.ID, "result").is_displayed() and marked_events(page), what="the result")
    events = events_of(server, job_id)
    assert len(events) >= 4, events
    saved_as = page.execute_script("return ['dl-mp4', 'dl-wav', 'dl-json'].map((id) => document.getElementById(id).download)")
    assert saved_as == ["walk-foley.mp4", "walk-foley.wav", "walk-timeline.json"]  # were video.mp4 … for every clip

    first = events[0]["n"]
    select_marker(page, first)
    marker = find(By.CSS_SELECTOR, f"#markers .marker[data-n='{first}']")
    marker.send_keys(Keys.DELETE)
    marker.send_keys(Keys.DELETE)
    wait_for(page, lambda: len(events_of(server, job_id)) == len(events) - 1 and idle(page), what="the delete")
    time.sleep(0.5)
    wait_for(page, lambda: idle(page), what="the second press")
    assert find(By.ID, "edit-status").text == "Sound deleted.", find(By.ID, "edit-status").text
    assert len(events_of(server, job_id)) == len(events) - 1

    target = events[2]["n"]
    select_marker(page, target)
    frame = 1 / get_json(f"{server}/api/v1/jobs/{job_id}/timeline.json")["clip"]["fps"]
    before = next(e for e in events_of(server, job_id) if e["n"] == target)["time"]
    page.execute_script("const b = document.getElementById('nudge-ahead'); b.click(); b.click(); b.click();")
    wait_for(page, lambda: abs(next(e for e in events_of(server, job_id) if e["n"] == target)["time"]
                               - (round(before / frame) + 3) * frame) < 2e-4, what="three frames later")

    elsewhere = events[3]["n"]  # deleted by another tab: still shown on this one
    assert subprocess.run(["curl", "-sS", "-f", "-X", "DELETE", f"{server}/api/v1/jobs/{job_id}/events/{elsewhere}"],
                          capture_output=True, timeout=60).returncode == 0
    wait_for(page, lambda: idle(page), what="the nudges to finish")
    select_marker(page, elsewhere)
    find(By.ID, "event-delete").click()
    wait_for(page, lambda: "it has been reloaded" in find(By.ID, "edit-status").text, what="the page to catch up")
    assert marked_events(page) == sorted(e["n"] for e in events_of(server, job_id))

    wait_for(page, lambda: idle(page), what="the page to settle")
    moved = events[1]["n"]
    select_marker(page, moved)
    assert subprocess.run(["curl", "-sS", "-f", "-X", "PATCH", "-H", "Content-Type: application/json", "-d", '{"time": 3.0}',
                           f"{server}/api/v1/jobs/{job_id}/events/{moved}"], capture_output=True, timeout=60).returncode == 0
    time_of_moved = lambda: next(e for e in events_of(server, job_id) if e["n"] == moved)["time"]  # noqa: E731
    find(By.ID, "nudge-ahead").click()
    wait_for(page, lambda: find(By.ID, "edit-status").text
             == "This result was changed elsewhere (in another tab?); it has been reloaded — try again.",
             what="the page to refuse the nudge and catch up")
    wait_for(page, lambda: idle(page), what="the page to settle")
    assert time_of_moved() == 3.0, "the other tab's move was lost"
    find(By.ID, "nudge-ahead").click()  # now from where the sound is
    wait_for(page, lambda: abs(time_of_moved() - (round(3.0 / frame) + 1) * frame) < 2e-4, what="one frame after 3 s")

    wait_for(page, lambda: idle(page), what="the nudge to finish")
    end = get_json(f"{server}/api/v1/jobs/{job_id}/timeline.json")["clip"]["duration"]
    page.execute_script("const v = document.getElementById('result-video'); v.pause(); v.currentTime = v.duration;")
    placed = {e["n"] for e in events_of(server, job_id)}
    find(By.ID, "add-sound").click()
    find(By.ID, "picker-search").send_keys("knock")
    wait_for(page, lambda: "knock" in find(By.ID, "picker-groups").text.lower(), what="the search in the picker")
    find(By.CSS_SELECTOR, "#picker-groups button.use").click()
    wait_for(page, lambda: len(events_of(server, job_id)) > len(placed) or find(By.ID, "picker-error").is_displayed(),
             what="the sound added at the end")
    assert not find(By.ID, "picker-error").is_displayed(), find(By.ID, "picker-error").text
    assert [e["time"] for e in events_of(server, job_id) if e["n"] not in placed] == [round(end - 0.05, 4)]


@needs_chromium
def test_a_waveform_that_loads_late_is_not_painted_over_a_later_one(server, browser):
    """Opening another result while the first one's waveform still loaded showed the first clip's
    waveform under the second: the load that finished last was painted, not the one asked last.
    Two library sounds stand for the two results' tracks, the first one held back."""
    ids = [t["id"] for t in get_json(f"{server}/api/v1/library?q=door+slam&limit=2")["templates"]]
    assert len(ids) == 2
    browser.get(server + "/")
    painted = browser.execute_async_script("""
        const [first, second, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
        (async () => {
          const { loadWaveform, paintWaveform } = await import("/static/waveform.js");
          const canvas = document.createElement("canvas");
          canvas.style.width = "300px"; canvas.style.height = "60px";
          document.body.append(canvas);
          const paint = () => { paintWaveform(canvas, 0, 100); return canvas.toDataURL(); };
          await loadWaveform(first);
          const alone = [paint()];
          await loadWaveform(second);
          alone.push(paint());
          const fetchNow = window.fetch;  // the first sound's answer held back 1.5 s
          window.fetch = (url, options) => (String(url) === first
            ? new Promise((resolve) => setTimeout(resolve, 1500)).then(() => fetchNow(url, options))
            : fetchNow(url, options));
          const late = loadWaveform(first);
          await loadWaveform(second);
          await late;
          window.fetch = fetchNow;
          done([...alone, paint()]);
        })().catch((error) => done(String(error)));
    """, *(f"/api/v1/library/{i}/audio" for i in ids))
    assert isinstance(painted, list), painted
    first, second, after_both = painted
    assert first != second, "the two sounds paint alike: the test cannot tell them apart"
    assert after_both == second, "the waveform that loaded late was painted over the one asked last"
