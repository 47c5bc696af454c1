"""The web page: one HTML file, plain CSS and ES modules (no build step), served by the API's app.

The page only talks to API v1, so everything it does can be done with curl too. Its modules,
one job each: app.js (upload, following a job, start-up), upload.js (the upload with progress),
api.js (calls, the token prompt), connection.js (the banner and retry when the board is gone),
editor.js (the open result and its edits), board-play.js (its sound on the
board's speaker), track.js (the track view: scale, zoom, markers,
playhead), waveform.js, picker.js (choosing a sound), history.js, health.js, record.js (the
camera), live.js (the Live switch: the actions' sounds played here), library.js, words.js
(plain words for the API's terms), ui.js (small helpers).
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, send_from_directory

STATIC = Path(__file__).resolve().parent / "static"

ui = Blueprint("ui", __name__, static_folder=str(STATIC), static_url_path="/static")

# Everything the page loads comes from this appliance; results and sounds are same-origin media.
# Set on every HTML answer by app.py (the page is also /static/index.html), with gate.ANSWER_HEADERS.
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@ui.get("/")
def index():
    response = send_from_directory(STATIC, "index.html", max_age=0)  # its CSP: app.py, as every HTML answer's
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
