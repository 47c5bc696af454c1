// The page: score a clip, follow its job, show and edit the result, history, health, token.
import { api, getJSON, send } from "./api.js";
import { initLibrary } from "./library.js";
import { drawTrack, placeMarkers } from "./track.js";
import { el, playSound, seconds, showError } from "./ui.js";

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const video = $("result-video");
let current = null;  // the open result: { job, timeline, selected }

// ---- Upload: drop zone or file picker, description, submit -------------------------------

const form = $("score-form");
const fileInput = $("video-file");
const drop = $("drop");

function showChosenFile() {
  const file = fileInput.files[0];
  if (file) {
    $("drop-text").replaceChildren(el("strong", {}, file.name),
      ` (${(file.size / 1e6).toFixed(1)} MB) · drop or tap to choose another`);
  }
}

fileInput.onchange = showChosenFile;
window.ondragover = window.ondrop = (event) => event.preventDefault();  // a missed drop must not open the file
drop.ondragover = () => drop.classList.add("over");
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (event) => {
  drop.classList.remove("over");
  fileInput.files = event.dataTransfer.files;
  showChosenFile();
};

form.onsubmit = async (event) => {
  event.preventDefault();
  $("score-button").disabled = true;
  $("score-error").hidden = true;  // the last attempt's error must not stand for this one
  try {
    await follow(await send("POST", "/api/v1/score", new FormData(form)));
  } catch (error) {
    scoreFailed(error.message);
  } finally {
    $("score-button").disabled = false;
  }
};

function scoreFailed(message) {
  $("progress").hidden = true;
  $("score-error").textContent = message;
  $("score-error").hidden = false;
}

// Polls a job until it is done (then opens the result) or failed (then says why).
async function follow(job) {
  $("score-error").hidden = true;
  $("progress").hidden = false;
  refreshHistory().catch(showError);
  while (job.state === "queued" || job.state === "running") {
    $("progress-bar").value = job.progress;
    $("progress-text").textContent = job.state === "queued"
      ? "Waiting for the scorer…" : `${job.stage || "working"} · ${Math.round(job.progress)} %`;
    await sleep(500);
    job = await getJSON(`/api/v1/jobs/${job.id}`);
  }
  $("progress").hidden = true;
  refreshHistory().catch(showError);
  refreshHealth().catch(showError);
  if (job.state === "done") await openResult(job);
  else scoreFailed(job.error || "scoring failed");
}

// ---- Record (when a capture daemon is present) --------------------------------------------
// Press Record: the daemon records (with the seconds before the press), the button becomes
// Stop; when the recording ends the daemon hands it to the queue and the page follows that job.

const PREVIEW_RECONNECT_MS = 110_000; // the server ends a preview stream after 120 s

async function initRecord() {
  const record = await getJSON("/api/v1/record");
  $("record-button").disabled = !record.available;
  $("record-reason").textContent = record.available ? "" : `Record is off: ${record.reason}`;
  if (record.available) showPreview();
  $("record-button").onclick = () => toggleRecording().catch((error) => scoreFailed(error.message));
}

function showPreview() {
  const preview = $("preview");
  preview.hidden = false;
  preview.src = `/api/v1/preview.mjpg?t=${Date.now()}`;
  setTimeout(showPreview, PREVIEW_RECONNECT_MS);
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
        await follow({ id: entry.job_id, state: "queued", progress: 0 });
        return;
      } else if (["discarded", "rejected", "cancelled"].includes(entry.state)) {
        button.textContent = "Record";
        $("progress").hidden = true;
        if (entry.state !== "cancelled") scoreFailed(`The recording was not kept: ${entry.reason}`);
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

// ---- The result: video, track picture with markers, one event and its alternatives -------

const jobUrl = (id) => `/api/v1/jobs/${id}`;

async function openResult(job) {
  current = { job, timeline: await getJSON(`${jobUrl(job.id)}/timeline.json`), selected: null };
  history.replaceState(null, "", `#job=${job.id}`);
  $("result").hidden = false;
  $("event").hidden = true;
  $("result-title").textContent = job.description || job.filename;
  await loadMedia();
  $("result").scrollIntoView({ behavior: "smooth" });
}

// (Re)loads the video and the track picture; a swap replaces the files, so bust the cache.
async function loadMedia() {
  const base = jobUrl(current.job.id);
  const stamp = `?v=${Date.now()}`;
  video.src = `${base}/video.mp4${stamp}`;
  $("dl-mp4").href = `${base}/video.mp4${stamp}`;
  $("dl-wav").href = `${base}/audio.wav${stamp}`;
  $("dl-json").href = `${base}/timeline.json${stamp}`;
  showMarkers();
  await drawTrack(`${base}/audio.wav${stamp}`);
}

function showMarkers() {
  const { timeline, selected } = current;
  placeMarkers(timeline.events, timeline.clip.duration, selected, (event) => selectEvent(event).catch(showError));
}

function explain(event) {
  const name = (category) => category.replaceAll("_", " ");
  const { decision, candidates = [], vision_labels: labels = [] } = event.why || {};
  const parts = [`${/^[aeiou]/.test(event.kind) ? "An" : "A"} ${event.kind} (strength ${event.strength.toFixed(2)}): ${name(event.category)}.`];
  if (decision === "reused") parts.push("Decided like a similar earlier frame.");
  const others = candidates.filter((c) => c.category !== event.category).slice(0, 2).map((c) => name(c.category));
  if (others.length) parts.push(`Runners-up: ${others.join(", ")}.`);
  if (labels.length) parts.push(`The picture looked like: ${labels.slice(0, 2).map(([label]) => label).join(", ")}.`);
  return parts.join(" ");
}

async function selectEvent(event) {
  current.selected = event.n;
  showMarkers();
  video.currentTime = Math.max(0, event.time - 0.3);
  video.play().catch(() => {});
  $("event").hidden = false;
  $("event-title").textContent = `Sound ${event.n + 1} at ${event.time.toFixed(2)} s: ${event.template}`;
  $("event-why").textContent = explain(event);
  $("event-play").onclick = () => playSound(event.template_id);
  $("alternatives").replaceChildren(el("li", { class: "hint" }, "Finding alternatives…"));
  const { candidates } = await getJSON(`${jobUrl(current.job.id)}/events/${event.n}/candidates`);
  $("alternatives").replaceChildren(...candidates.map((sound) => el("li", {},
    el("button", { type: "button", class: "icon", title: "Play", onclick: () => playSound(sound.id) }, "▶"),
    el("span", { class: "grow" }, sound.description || sound.id, el("small", {}, [
      sound.category.replaceAll("_", " "), sound.id.replace(`${sound.category}-`, ""), seconds(sound.duration),
      sound.licence, sound.score == null ? "" : `match ${sound.score.toFixed(2)}`,
    ].filter(Boolean).join(" · "))),
    el("button", { type: "button", class: "use", value: sound.id, onclick: () => swap(event.n, sound.id) }, "Use"))));
}

async function swap(n, templateId) {
  $("alternatives").querySelectorAll("button.use").forEach((button) => { button.disabled = true; });
  try {
    const { timeline } = await send("POST", `${jobUrl(current.job.id)}/events/${n}`, { template_id: templateId });
    current.timeline = timeline;
    await loadMedia();
    await selectEvent(timeline.events.find((event) => event.n === n));
  } catch (error) {
    showError(error);
    $("alternatives").querySelectorAll("button.use").forEach((button) => { button.disabled = false; });
  }
}

// ---- History ------------------------------------------------------------------------------

const STATES = { queued: "waiting", running: "scoring", done: "done", failed: "failed" };

async function refreshHistory() {
  const { jobs } = await getJSON("/api/v1/jobs");
  $("history-empty").hidden = jobs.length > 0;
  $("history").replaceChildren(...jobs.map((job) => el("li", { class: job.state },
    el("span", { class: "grow" }, job.description || job.filename,
      el("small", {}, `${job.filename} · ${new Date(job.created * 1000).toLocaleString()} · ${STATES[job.state]}`
        + (job.error ? `: ${job.error}` : ""))),
    job.state === "done" ? el("button", { type: "button", onclick: () => openResult(job).catch(showError) }, "Open")
      : job.state !== "failed" ? el("button", { type: "button", onclick: () => follow(job).catch(showError) }, "Watch")
        : "",
    el("button", { type: "button", class: "quiet", onclick: () => removeJob(job) }, "Delete"))));
}

async function removeJob(job) {
  if (!confirm(`Delete “${job.description || job.filename}” and its result?`)) return;
  try {
    await send("DELETE", jobUrl(job.id));
    if (current?.job.id === job.id) {
      $("result").hidden = true;
      video.removeAttribute("src");
      history.replaceState(null, "", location.pathname);
      current = null;
    }
  } catch (error) {
    showError(error);
  }
  await refreshHistory();
}

// ---- Health and cache figures, version, the token for a local user ------------------------

// Prometheus text → the sum of the samples of `name` whose labels include `match` (e.g. 'state="done"').
function metric(text, name, match = "") {
  let sum = 0;
  for (const line of text.split("\n")) {
    const sample = /^([\w:]+)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (sample && sample[1] === name && (sample[2] || "").includes(match)) sum += Number(sample[3]);
  }
  return sum;
}

async function refreshHealth() {
  const [info, text] = await Promise.all([getJSON("/api/v1/version"), api("/metrics").then((r) => r.text())]);
  $("version").textContent = `Foley ${info.version} · sound library ${info.library_version}`;
  // What the service found broken at start and repaired (a damaged database moved aside).
  $("notices").textContent = (info.notices || []).join(" ");
  $("notices").hidden = !(info.notices || []).length;
  const hits = metric(text, "foley_cache_total", 'outcome="hit"');
  const lookups = hits + metric(text, "foley_cache_total", 'outcome="miss"');
  const done = metric(text, "foley_jobs", 'state="done"');
  const each = metric(text, "foley_job_seconds_sum") / Math.max(1, metric(text, "foley_job_seconds_count"));
  $("health").textContent = [
    `${metric(text, "foley_queue_depth")} waiting`,
    `${metric(text, "foley_jobs", 'state="running"')} scoring`,
    `${done} done` + (done ? ` (${seconds(each)} each)` : ""),
    lookups ? `cache hits ${Math.round((100 * hits) / lookups)} % of ${lookups}` : "cache empty",
  ].join(" · ");
}

async function showToken() {
  const response = await fetch("/api/v1/token");  // answers loopback users only
  if (!response.ok) return;
  const { token } = await response.json();
  // On the box itself the page is on loopback; other machines reach it by its network name.
  const host = ["127.0.0.1", "localhost", "[::1]"].includes(location.hostname) ? "foley.local" : location.host;
  $("token-value").textContent = token;
  $("curl-example").textContent = `curl -H "Authorization: Bearer ${token}" -F video=@clip.mp4 `
    + `-F description="door slam" "http://${host}/api/v1/score?wait=1" -o clip.wav`;
  $("token-info").hidden = false;
}

// ---- Start --------------------------------------------------------------------------------

for (const start of [refreshHistory, refreshHealth, initRecord, initLibrary, showToken]) {
  start().catch(showError);
}
const opened = /^#job=([0-9a-f]{16})$/.exec(location.hash);
if (opened) getJSON(jobUrl(opened[1])).then((job) => (job.state === "done" ? openResult(job) : follow(job))).catch(showError);
