"""The service's one arbiter of the board's speaker, between the page's Live switch and "Play on
the appliance" (docs/board.md, "Who has the speaker").

The policy — live mode wins:
- while Live is on (from the click that starts it until its session has closed the output),
  Play is refused with 409 LIVE_HAS_IT: a performance in front of the camera is not cut into by
  a replay (its actions would be dropped), and the page shows the Play button disabled, saying so;
- switching Live on stops a result that plays, and the switch's answer names it
  (`stopped_playback`): the switch is the newer, deliberate act, and a replay can be started
  again, a performance cannot;
- another Foley process holding the speaker (`foley live` run by hand, appliance/live/speaker.py):
  Play is refused with 409 naming it; Live still starts, page-only (the pages sound the actions,
  the board does not), said once in its notices.

All of it happens under one lock, so two clients toggling Live and Play at once end in one of
the two orders, each answer telling the truth about it.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from flask import current_app

from appliance.live.speaker import Claim, SpeakerBusy, claim_speaker, speaker_holder
from appliance.service.player import Player, PlayStatus

LIVE_HAS_IT = "live mode is using the speaker; switch Live off first"
LIVE = "the service's live mode"
LIVE_FREE = "switch Live off on the page (or POST /api/v1/live {\"on\": false})"


class LiveHasSpeaker(Exception):
    """Play asked for while Live is on."""


@dataclass(frozen=True)
class LiveStart:
    """What switching Live on did to the speaker."""

    speaker: bool
    """Live has the board's speaker (False: another Foley process holds it; live runs page-only)."""
    stopped_playback: str | None = None
    """The job whose playback was stopped to make way."""
    busy: SpeakerBusy | None = None
    """Who holds the speaker instead, when `speaker` is False."""


class BoardAudio:
    """The player, and whether live mode has the speaker (app.extensions["foley-board"])."""

    def __init__(self, player: Player):
        self.player = player
        self._lock = threading.Lock()
        self._live_on = False
        self._live: Claim | None = None

    def play(self, job_id: str, path: Path) -> PlayStatus:
        """Player.play, refused (LiveHasSpeaker) while Live is on."""
        with self._lock:
            if self._live_on:
                raise LiveHasSpeaker(LIVE_HAS_IT)
            return self.player.play(job_id, path)

    def live_starts(self) -> LiveStart:
        """Live is switched on: stop what plays, claim the speaker for live (or say who has it)."""
        with self._lock:
            self._live_on = True
            stopped = self.player.stop()
            try:
                self._live = claim_speaker(LIVE, LIVE_FREE)
            except SpeakerBusy as busy:
                return LiveStart(False, stopped.job if stopped else None, busy)
            return LiveStart(True, stopped.job if stopped else None)

    def live_ends(self) -> None:
        """Live's session has closed its output: the speaker is free for Play again."""
        with self._lock:
            self._live_on = False
            claim, self._live = self._live, None
            if claim is not None:
                claim.release()

    def blocked(self) -> str | None:
        """Why a Play would be refused now; None when it would not."""
        if self._live_on:
            return LIVE_HAS_IT
        holder = speaker_holder()
        if holder is not None and holder.pid != os.getpid():  # our own playback is replaced, not refused
            return str(SpeakerBusy(holder))
        return None

    def status(self) -> PlayStatus:
        return replace(self.player.status(), blocked=self.blocked())


def board_audio() -> BoardAudio:
    return current_app.extensions["foley-board"]
