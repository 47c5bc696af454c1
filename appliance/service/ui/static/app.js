// The page: score a clip (upload with progress, then the job's stages), open and edit the
// result, history, health, the token for a local user. Each part lives in its own module.
import { getJSON } from "./api.js";
import { closeResult, initEditor, openJobId, openResult } from "./editor.js";
import { initHealth, refreshHealth } from "./health.js";
import { initHistory, refreshHistory } from "./history.js";
import { initLibrary } from "./library.js";
import { initRecord } from "./record.js";
import { el, showError } from "./ui.js";
import { upload } from "./upload.js";
import { bytes, duration, jobState } from "./words.js";

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- Upload: drop zone or file picker, description, the clip's own sound, submit ----------

const form = $("score-form");
const fileInput = $("video-file");
const drop = $("drop");

function showChosenFile() {
  const file = fileInput.files[0];
  if (file) {
    $("drop-text").replaceChildren(el("strong", {}, file.name),
      ` (${bytes(file.size)}) · drop or tap to choose another`);
  }
}

fileInput.onchange = showChosenFile;
window.ondragover = window.ondrop = (event) => event.preventDefault();  // a missed drop must not open the file
drop.ondragover = () => drop.classList.add("over");
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (event) => {
  drop.classList.remove("over");
  if (!event.dataTransfer.files.length) return;  // dropped text or a link: the chosen clip stays
  fileInput.files = event.dataTransfer.files;
  showChosenFile();
};

const keepAudio = $("keep-audio");
const level = $("original-level");
form.elements["audio-choice"].forEach((radio) => {
  radio.onchange = () => { $("level-row").hidden = !keepAudio.checked; };
});
level.oninput = () => { $("original-level-value").textContent = `${level.valueAsNumber > 0 ? "+" : ""}${level.value} dB`; };

// The fields of POST /api/v1/score: the clip, its description and whether to keep its sound.
function scoreFields() {
  const fields = new FormData();
  fields.append("video", fileInput.files[0]);
  fields.append("description", $("description").value);
  if (keepAudio.checked) {
    fields.append("keep_audio", "true");
    fields.append("original_level_db", level.value);
  }
  return fields;
}

form.onsubmit = async (event) => {
  event.preventDefault();
  followed = null;  // the job followed so far goes on unwatched: this one's progress takes the line
  $("score-button").disabled = true;
  $("score-error").hidden = true;  // the last attempt's error must not stand for this one
  $("progress").hidden = false;
  showProgress(0, "Sending the clip…");
  try {
    await follow(await upload("/api/v1/score", scoreFields(), (fraction, left) => showProgress(100 * fraction,
      fraction < 1 ? `Sending the clip · ${Math.floor(100 * fraction)} %`
        + (left != null ? ` · about ${duration(Math.max(1, Math.round(left)))} left` : "")
        : "Sent; checking the clip…")));
  } catch (error) {
    scoreFailed(error.message);
  } finally {
    $("score-button").disabled = false;
  }
};

function unfollow() {
  followed = null;
  $("progress").hidden = true;
  window.history.replaceState(null, "", location.pathname);
}

function showProgress(percent, text) {
  $("progress-bar").value = percent;
  $("progress-text").textContent = text;
}

function scoreFailed(message) {
  $("progress").hidden = true;
  $("score-error").textContent = message;
  $("score-error").hidden = false;
}

// Follows a job until it is done (then opens the result) or failed (then says why). One job is
// followed at a time: following another (a new upload, Watch in the history, a recording) lets
// the earlier one go on on the appliance unwatched, as does deleting the one followed; two
// followers took turns writing the one progress line and opened both results.
let followed = null;

async function follow(job) {
  followed = job.id;
  window.history.replaceState(null, "", `#job=${job.id}`);  // a reload follows it again
  $("score-error").hidden = true;
  $("progress").hidden = false;
  refreshHistory().catch(showError);
  while (job.state === "queued" || job.state === "running") {
    showProgress(job.state === "running" ? job.progress : 0,
      job.state === "queued" ? "Waiting for its turn…" : `Scoring: ${jobState(job)}`);
    await sleep(500);
    if (followed !== job.id) return;
    try {
      job = await getJSON(`/api/v1/jobs/${job.id}`);
    } catch (error) {
      if (followed !== job.id) return;  // deleted meanwhile, from this page's history
      if (error.status !== 404) throw error;
      unfollow();  // deleted meanwhile (elsewhere, or here before its answer came): nothing to wait for
      return;
    }
    if (followed !== job.id) return;
  }
  followed = null;
  $("progress").hidden = true;
  refreshHistory().catch(showError);
  refreshHealth().catch(showError);
  if (job.state === "done") await openResult(job);
  else scoreFailed(job.error || "scoring failed");
}

// ---- The token, for a user on the appliance itself ----------------------------------------

async function showToken() {
  const response = await fetch("/api/v1/token").catch(() => null);  // answers loopback users only
  if (!response?.ok) return;
  const { token } = await response.json();
  // On the box itself the page is on loopback; other machines reach it by its network name.
  const host = ["127.0.0.1", "localhost", "[::1]"].includes(location.hostname)
    ? `foley.local${location.port ? `:${location.port}` : ""}` : location.host;
  $("token-value").textContent = token;
  $("curl-example").textContent = `curl -H "Authorization: Bearer ${token}" -F video=@clip.mp4 `
    + `-F description="door slam" "http://${host}/api/v1/score?wait=1" -o clip.wav`;
  $("token-info").hidden = false;
}

// ---- Start --------------------------------------------------------------------------------

initEditor({ onEdited: () => refreshHistory().catch(showError) });
const starts = [
  () => initHistory({
    open: (job) => openResult(job).catch(showError),
    watch: (job) => follow(job).catch(showError),
    deleted: (job) => {
      if (openJobId() === job.id) closeResult();
      if (followed === job.id) unfollow();
    },
  }),
  initHealth,
  () => initRecord({ follow, failed: scoreFailed }),
  initLibrary,
  showToken,
];
for (const start of starts) start().catch(showError);
const opened = /^#job=([0-9a-f]{16})$/.exec(location.hash);
if (opened) getJSON(`/api/v1/jobs/${opened[1]}`).then((job) => (job.state === "done" ? openResult(job) : follow(job))).catch(showError);
