"""The GPIO record button (gpiozero): a short press starts or stops, a long press cancels.

The press acts on release, so that holding the button for the cancel does not first start or
stop a recording; contact bounce is ignored by gpiozero's `bounce_time`. Off the Pi (or without
lgpio) there is no pin factory and the daemon runs without a button, saying why.
"""
from __future__ import annotations

import logging

from appliance.capture.daemon import CaptureDaemon, CommandRefused
from appliance.config import CaptureConfig

log = logging.getLogger("foley.capture")


def attach_button(daemon: CaptureDaemon, config: CaptureConfig, pin_factory=None):
    """The gpiozero Button wired to `daemon`, or None when there is no button or no GPIO."""
    if config.button_pin is None:
        return None
    try:
        from gpiozero import Button
        button = Button(config.button_pin, pull_up=True, bounce_time=config.button_bounce_ms / 1000,
                        hold_time=config.button_hold_seconds, pin_factory=pin_factory)
    except Exception as exc:  # gpiozero missing, no pin factory off the Pi, pin in use
        log.warning("no record button on GPIO %s: %s", config.button_pin, exc)
        return None
    held = {"now": False}

    def on_held() -> None:
        held["now"] = True
        _act(daemon.cancel, "long press")

    def on_released() -> None:
        if held["now"]:
            held["now"] = False
            return
        _act(daemon.toggle, "press")

    button.when_held = on_held
    button.when_released = on_released
    log.info("record button on GPIO %d (press: start/stop, hold %.1f s: cancel)",
             config.button_pin, config.button_hold_seconds)
    return button


def _act(command, what: str) -> None:
    try:
        log.info("button %s: %s", what, command())
    except CommandRefused as exc:
        log.info("button %s ignored: %s", what, exc)
