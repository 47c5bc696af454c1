"""The web page in real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium)
against the real server: drop a generated clip, wait for the result, play it, swap one placed
sound from the ranked list, use the library and the history, log in from another machine;
screenshots go to test-artifacts/. Plus: the page's files are all served, from this appliance only."""
from __future__ import annotations

import base64
import re
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from appliance.config import Config
from appliance.service.app import create_app
from appliance.service.ui import STATIC
from appliance.video.synthetic import render_scene
from tests.test_capture_service import runtime  # noqa: F401 (fixture)
from tests.conftest import REPO, get_json

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path("/usr/bin/chromedriver")
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
    reason="needs Debian's chromium and chromium-driver (make system-deps installs them as root)")

# Nothing may reach the internet: no sync, no component updates, no QUIC probes.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required", "--mute-audio",
         "--window-size=1280,1000"]

DROP_FILE = """
const [id, name, data] = arguments;
const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
const transfer = new DataTransfer();
transfer.items.add(new File([bytes], name, { type: "video/mp4" }));
document.getElementById(id).dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
"""


@pytest.fixture
def browser(tmp_path, monkeypatch):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download a browser or driver
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(DRIVER), log_output=str(tmp_path / "chromedriver.log")),
                              options=options)
    driver.set_script_timeout(60)
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
    assert "clip.mp4" in find(By.ID, "drop-text").text
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
    markers = wait_for(page, lambda: page.find_elements(By.CSS_SELECTOR, "#markers .marker"), what="the markers")
    assert len(markers) == len(timeline["events"]) >= 1
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

    # Click a marker: its sound plays in the video and the ranked alternatives appear; use the first.
    event = timeline["events"][0]
    markers[0].click()
    wait_for(page, lambda: playing(page, "#result-video"), what="the video to play from the marker")
    use = wait_for(page, lambda: page.find_elements(By.CSS_SELECTOR, "#alternatives button.use"), what="alternatives")
    chosen = use[0].get_attribute("value")
    assert chosen and chosen != event["template_id"]
    use[0].click()
    swapped = wait_for(page, lambda: [e for e in get_json(f"{server}/api/v1/jobs/{job_id}/timeline.json")["events"]
                                if e["n"] == event["n"] and e["template_id"] == chosen], what="the swap in the timeline")
    description = swapped[0]["template"]
    wait_for(page, lambda: description in find(By.ID, "event-title").text, what="the page to show the new sound")
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

    wait_for(page, lambda: "1 done" in find(By.ID, "health").text, what="the figures to count the job")
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
        find(By.ID, "description").send_keys("knocking on wood")
        button.click()
        wait_for(page, lambda: button.text == "Stop", what="the recording to start")
        time.sleep(2.0)
        button.click()
        wait_for(page, lambda: find(By.ID, "result").is_displayed() or find(By.ID, "score-error").is_displayed(),
                 timeout=120, what="the recording's result")
        assert find(By.ID, "result").is_displayed(), find(By.ID, "score-error").text
        assert find(By.ID, "result-title").text == "knocking on wood"
        wait_for(page, lambda: page.execute_script("return document.getElementById('result-video').readyState") >= 2,
                 what="the recorded video to load")
        screenshot(page, "record-result-desktop.png", 1280, 1)
    finally:
        stop(capture)


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
