// Record (when the camera daemon runs): its live picture, labelled as the demo clip when no
// camera is attached; Record → Stop; the recording is handed to the queue and followed.
import { getJSON, send } from "./api.js";
import { onReconnected } from "./connection.js";
import { initLive } from "./live.js";

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const PREVIEW_RECONNECT_MS = 110_000;  // the server ends a preview stream after 120 s
// A preview the appliance refused (503: its few preview streams all watched, or the camera
// daemon restarting) is asked for again after PREVIEW_RETRY_MS, not left a broken image until the
// reconnect; each further refusal waits twice as long, up to the reconnect's pause (a page left
// open on a board whose camera daemon stopped asks every 110 s, not every 5 s).
const PREVIEW_RETRY_MS = 5_000;
let previewTimer;
let previewRetry = PREVIEW_RETRY_MS;
// The daemon ignores a press within 0.5 s of the last one (capture/daemon.py DOUBLE_PRESS_S: a
// bouncing button) and says so as a refusal; a double click here is not worth an error message.
const PRESS_GAP_MS = 600;
let lastPress = -Infinity;
let actions = {};  // follow(job), failed(message)

// The daemon's file camera loops a clip: there is no camera, and the page says so.
const isDemo = (camera) => camera?.kind === "file" || /^file camera/.test(camera?.name || "");

export async function initRecord(callbacks) {
  actions = callbacks;
  const record = await getJSON("/api/v1/record");
  $("record-button").disabled = !record.available;
  $("record-reason").textContent = record.available ? "" : `Record is off: ${record.reason}`;
  if (record.available) {
    const demo = isDemo(record.camera);
    $("preview").alt = demo ? "The demo clip playing in place of a camera" : "Live picture of the appliance's camera";
    $("camera-caption").textContent = demo
      ? "No camera attached — demo clip. Record scores this looping clip."
      : `Live picture of the ${record.camera?.name || "camera"}.`;
    $("camera").classList.toggle("demo", demo);
    $("camera").hidden = false;
    $("preview").onerror = () => {
      clearTimeout(previewTimer);
      previewTimer = setTimeout(showPreview, previewRetry);
      previewRetry = Math.min(2 * previewRetry, PREVIEW_RECONNECT_MS);
    };
    $("preview").onload = () => { previewRetry = PREVIEW_RETRY_MS; };
    showPreview();
    onReconnected(showPreview);  // the stream ended with the service: its frame stood still
    initLive(actions).catch((error) => actions.failed(error.message));
    if (record.recording) {  // started before this page was (re)loaded: follow it to its result
      followRecording(record.recording.id).catch((error) => actions.failed(error.message));
    }
  }
  $("record-button").onclick = () => {
    if (performance.now() - lastPress < PRESS_GAP_MS) return;
    lastPress = performance.now();
    toggleRecording().catch((error) => actions.failed(error.message));
  };
}

function showPreview() {
  clearTimeout(previewTimer);
  $("preview").src = `/api/v1/preview.mjpg?t=${Date.now()}`;
  previewTimer = setTimeout(showPreview, PREVIEW_RECONNECT_MS);
}

async function toggleRecording() {
  const status = await getJSON("/api/v1/record");
  if (status.state === "recording") {
    await send("POST", "/api/v1/record/stop");
    return;
  }
  const started = await send("POST", "/api/v1/record", { description: $("description").value });
  $("score-error").hidden = true;
  await followRecording(started.id);
}

async function followRecording(id) {
  const button = $("record-button");
  $("progress").hidden = false;
  try {
    for (;;) {
      const status = await getJSON("/api/v1/record");
      const entry = (status.recent || []).find((e) => e.id === id) || {};
      if (status.recording && status.recording.id === id) {
        button.textContent = "Stop";
        const { elapsed, seconds } = status.recording;
        $("progress-bar").value = Math.min(100, (100 * elapsed) / seconds);
        $("progress-text").textContent = `Recording · ${Math.max(0, seconds - elapsed).toFixed(0)} s left`;
      } else if (entry.job_id) {
        button.textContent = "Record";
        await actions.follow({ id: entry.job_id, state: "queued", progress: 0 });
        return;
      } else if (["discarded", "rejected", "cancelled", "kept"].includes(entry.state)) {
        button.textContent = "Record";
        $("progress").hidden = true;
        if (entry.state === "kept") actions.failed(`The recording is on the appliance but was not scored: ${entry.reason}`);
        else if (entry.state !== "cancelled") actions.failed(`The recording was not kept: ${entry.reason}`);
        return;
      } else {
        button.textContent = "Record";
        $("progress-text").textContent =
          status.waiting_for_service ? "Waiting for the scorer…" : "Finishing the recording…";
      }
      await sleep(400);
    }
  } finally {
    button.textContent = "Record";
  }
}
