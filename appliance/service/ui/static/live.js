// The Live switch: while on, the appliance sounds each action in front of its camera as it
// happens, and this page does too — a phone or laptop beside the camera is the speaker. The
// switch is the click that lets the browser start audio; the sounds in use are decoded into
// WebAudio when the stream announces them (before their actions), and each action's message
// starts its sound at once with its gain and pan, and flashes over the camera's picture.
// Every sound started is kept in window.foleyLive.played with the page's timings (the page
// path of the latency figures); an action the service marks late is skipped and counted. "Record while live" keeps the performance — the picture and the
// sound the appliance played — and, when it stops, opens it from the history like a scored clip.
import { getJSON, send } from "./api.js";
import { showError } from "./ui.js";

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const FLASH_MS = 350;
const RECORDING_POLL_MS = 500;
let actions = {};  // follow(job), failed(message)
let context = null;
let stream = null;
let flashTimer;
const buffers = new Map();  // template id → Promise<AudioBuffer>
const record = (window.foleyLive = { played: [], missed: 0, late: 0 });

// The switch is shown only once it works: shown before its handler, a click while the board's
// answer was on its way would tick the box and start nothing.
export async function initLive(callbacks) {
  actions = callbacks;
  $("live-record").onclick = () => toggleRecording().catch(showError);
  $("live-switch").onchange = () => toggle($("live-switch").checked).catch((error) => {
    $("live-switch").checked = false;
    say("");
    showError(error);
  });
  const state = await getJSON("/api/v1/live");  // switched on from elsewhere: the switch joins it
  if (state.on) say("Live is running — turn the switch on to hear it on this device too.");
  $("live-row").hidden = false;
}

async function toggle(on) {
  if (!on) {
    close();
    await send("POST", "/api/v1/live", { on: false });
    say("");
    speakerChanged();
    return;
  }
  context ??= new AudioContext({ latencyHint: "interactive" });
  await context.resume();  // within the click: the browser lets the page sound from now on
  const state = await send("POST", "/api/v1/live", { on: true, description: $("description").value });
  say([state.state === "starting" ? "Live: loading the models…" : "Live: listening for actions…",
    ...state.notices].join(" · "));  // e.g. the result that was playing on the board was stopped
  speakerChanged();
  $("live-record").hidden = false;
  listen();
}

// Live took or gave back the board's speaker: the Play button (board-play.js) looks again.
function speakerChanged() {
  window.dispatchEvent(new Event("foley-speaker"));
}

// Record while live: the appliance records; this page follows the recording until its job.
async function toggleRecording() {
  const button = $("live-record");
  const state = await send("POST", "/api/v1/live/record", { on: !button.dataset.recording });
  if (state.recording) followRecording(state.recording.id).catch(showError);
}

async function followRecording(id) {
  const button = $("live-record");
  button.dataset.recording = id;
  try {
    for (;;) {
      const state = await getJSON("/api/v1/live");
      if (state.recording?.id === id) {
        button.textContent = `■ Stop recording · ${Math.floor(state.recording.elapsed)} s`;
      } else if (state.last_recording?.id === id && state.last_recording.state === "finishing") {  // muxed, filed
        button.textContent = "Finishing the recording…";
        button.disabled = true;
      } else {
        const last = state.last_recording?.id === id ? state.last_recording : {};
        if (last.job_id) await actions.follow(await getJSON(`/api/v1/jobs/${last.job_id}`));
        else actions.failed(`The live recording was not kept: ${last.error || "it was lost"}`);
        return;
      }
      await sleep(RECORDING_POLL_MS);
    }
  } finally {
    delete button.dataset.recording;
    button.textContent = "● Record while live";
    button.disabled = false;
    button.hidden = !stream;
  }
}

function listen() {
  stream = new EventSource("/api/v1/live/events");
  stream.addEventListener("sounds", (message) => {
    for (const sound of JSON.parse(message.data).sounds) load(sound.id, sound.audio_url);
    getJSON("/api/v1/live").then((state) => say(["Live: sounds ready — act in front of the camera.",
      ...state.notices].join(" · "))).catch(showError);  // e.g. the appliance has no sound card
  });
  stream.addEventListener("event", (message) => play(JSON.parse(message.data), performance.now()));
  stream.addEventListener("end", () => {
    close();
    $("live-switch").checked = false;
    speakerChanged();
    getJSON("/api/v1/live").then((state) => say(state.error ? `Live stopped: ${state.error}` : "Live stopped."))
      .catch(showError);
  });
  stream.onerror = () => {
    if (stream?.readyState === EventSource.CLOSED) {  // 204 (live is off) or 503 (too many pages)
      close();
      $("live-switch").checked = false;
      say("Live is off.");
    }
  };
}

function load(id, url) {
  if (!buffers.has(id)) {
    buffers.set(id, fetch(url).then((response) => response.arrayBuffer())
      .then((bytes) => context.decodeAudioData(bytes)));
  }
  return buffers.get(id);
}

async function play(event, received) {
  if (event.late) {  // older than the latency budget already when sent: skipped, as the board does
    record.late += 1;
    return;
  }
  flash(event);
  const pending = load(event.template_id, event.audio_url);
  const ready = await Promise.race([pending, null]);  // decoded already: start within this task
  const buffer = ready || await pending;
  if (!ready) record.missed += 1;  // not preloaded: started late, and counted
  const source = new AudioBufferSourceNode(context, { buffer });
  const gain = new GainNode(context, { gain: 10 ** (event.gain_db / 20) });
  const pan = new StereoPannerNode(context, { pan: event.pan });
  source.connect(gain).connect(pan).connect(context.destination);
  source.start(0, event.offset);
  const started = performance.now();
  const device = (context.baseLatency || 0) + (context.outputLatency || 0);
  record.played.push({
    n: event.n, template_id: event.template_id, preloaded: Boolean(ready), received, started,
    context_time: context.currentTime, page_ms: started - received, device_ms: device * 1000,
    server_ms: event.server_ms, time: event.time, captured_at: event.captured_at, sent_at: event.sent_at,
    // The stream's own delay, by the wall clocks (meaningful when they agree: the same machine).
    transit_ms: performance.timeOrigin + received - event.sent_unix * 1000,
  });
}

function flash(event) {
  const label = $("live-flash");
  label.textContent = `${event.category.replace(/_/g, " ")} · ${event.template_id}`;
  label.style.left = `${Math.round(100 * Math.min(0.85, Math.max(0.15, event.x)))}%`;
  label.hidden = false;
  label.classList.remove("fire");
  void label.offsetWidth;  // restart the flash's animation
  label.classList.add("fire");
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { label.hidden = true; }, FLASH_MS);
}

function close() {
  stream?.close();
  stream = null;
  if (!$("live-record").dataset.recording) $("live-record").hidden = true;  // a recording is followed to its end
}

function say(text) {
  $("live-status").textContent = text;
}
