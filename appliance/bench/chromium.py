"""Debian's headless Chromium, driven by Selenium: the page path of `foley bench live` and the
page's browser tests open it the same way (one set of flags, so both measure the same browser).

Nothing may reach the internet: no sync, no component updates, no QUIC probes, and Selenium
Manager must never download a browser or driver (SE_OFFLINE). Audio is muted but WebAudio runs
(its clock and its reported latencies are real), and the page may start sound without a click.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path("/usr/bin/chromedriver")
# --force-prefers-reduced-motion: the page then scrolls at once (editor.js honours the setting),
# so an element is not still gliding under the driver's click.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required", "--mute-audio",
         "--window-size=1280,1000", "--force-prefers-reduced-motion"]


def missing() -> str | None:
    """Why Chromium cannot be driven here (None: it can)."""
    if not (CHROMIUM.exists() and DRIVER.exists()):
        return f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {DRIVER}; make system-deps installs them)"
    if importlib.util.find_spec("selenium") is None:
        return "needs the selenium package (pip install -e '.[dev]')"
    return None


def open_chromium(profile: Path, log: Path):
    """A Chromium WebDriver with its own profile folder; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(DRIVER), log_output=str(log)), options=options)
    driver.set_script_timeout(60)
    return driver
