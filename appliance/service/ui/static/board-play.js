// "Play on the appliance": the open result's sound played by the board's own speaker
// (POST /api/v1/jobs/<id>/play), the button turning into Stop while it plays. The board plays
// one result at a time, so the state is asked of it (GET /api/v1/play) while it plays. While
// live mode (or `foley live`) has the speaker, the button is disabled and says why ("blocked"),
// asked again until the speaker is free; this page's Live switch tells it at once ("foley-speaker").
import { getJSON, send } from "./api.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 500;
const BLOCKED_POLL_MS = 2000;
const NO_OUTPUT = "This appliance has no sound output.";
let jobId = null;  // the open result's job
let timer = null;
// Answers can come back out of order (the browser asks on several connections): each ask or
// Play/Stop takes the next number, and an answer is shown only if nothing newer was asked since.
// Else a GET sent before Play, answered after it, turned the button back to Play and ended
// the polling while the board played on.
let latest = 0;

export function initBoardPlay() {
  $("board-play").onclick = toggle;
  window.addEventListener("foley-speaker", refresh);
}

// The open result changed (or closed, with null): the button plays this one.
export function showBoardPlay(id) {
  jobId = id;
  $("board-play-status").textContent = "";
  refresh();
}

async function toggle() {
  const button = $("board-play");
  const stopping = button.dataset.playing === "true";
  clearTimeout(timer);
  button.disabled = true;
  $("board-play-status").textContent = "";
  const asked = ++latest;
  try {
    if (stopping) await send("POST", "/api/v1/play/stop");
    else {
      const state = await send("POST", `/api/v1/jobs/${jobId}/play`);
      if (asked === latest) show(state);
    }
  } catch (error) {
    $("board-play-status").textContent = error.status === 503 ? NO_OUTPUT : error.message;
  } finally {
    button.disabled = false;
  }
  if (stopping) show({ playing: false });
  else refresh();  // refused (live took the speaker meanwhile): the button says why
}

async function refresh() {
  clearTimeout(timer);
  const asked = ++latest;
  let state;
  try {
    state = await getJSON("/api/v1/play");
  } catch {
    state = { playing: false };  // the appliance is unreachable: the connection banner says so
  }
  if (asked === latest) show(state);
}

function show(state) {
  const mine = state.playing && state.job === jobId;
  const button = $("board-play");
  const blocked = !mine && state.blocked;
  button.dataset.playing = String(mine);
  button.textContent = mine ? "■ Stop" : "▶ Play on the appliance";
  button.disabled = Boolean(blocked);
  button.title = blocked ? `Not now: ${state.blocked}` : "";
  if (blocked) $("board-play-status").textContent = `Not now: ${state.blocked}.`;
  else if (button.dataset.blocked === "true") $("board-play-status").textContent = "";
  button.dataset.blocked = String(Boolean(blocked));
  if (state.error && state.job === jobId) $("board-play-status").textContent = `Playing stopped: ${state.error}`;
  clearTimeout(timer);
  if (mine || blocked) timer = setTimeout(refresh, mine ? POLL_MS : BLOCKED_POLL_MS);
}
