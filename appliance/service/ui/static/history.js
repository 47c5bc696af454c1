// History: every job with its thumbnail, clip length, time taken, edits and live state, newest
// first, a page at a time ("Show older clips" adds the next). While a job is waiting or being
// scored the list refreshes itself, as many pages as are shown; otherwise it looks every
// IDLE_CHECK_MS (and when the page is shown again) whether a job was made elsewhere — curl, the
// board's record button — and is drawn again only then, so a focused row keeps its focus.
import { getJSON, send } from "./api.js";
import { el, showError } from "./ui.js";
import { duration, jobState } from "./words.js";

const $ = (id) => document.getElementById(id);
const LIVE_REFRESH_MS = 2000;
const IDLE_CHECK_MS = 15000;
let newest = null;  // the newest job listed
let live = false;  // a job listed is waiting or being scored
let actions = {};  // open(job), watch(job), deleted(job)
let timer = null;
let pages = 1;

export function initHistory(callbacks) {
  actions = callbacks;
  $("history-older").onclick = () => { pages += 1; refreshHistory().catch(showError); };
  document.addEventListener("visibilitychange", () => { if (!document.hidden) checkForNew().catch(() => {}); });
  return refreshHistory();
}

async function listed() {
  // The first `pages` pages of the history, each asked for after the last job of the one before.
  let jobs = [], more = false;
  for (let page = 0; page < pages; page += 1) {
    const after = jobs.length ? `?before=${encodeURIComponent(jobs[jobs.length - 1].id)}` : "";
    const answer = await getJSON(`/api/v1/jobs${after}`);
    jobs = jobs.concat(answer.jobs);
    more = answer.more;
    if (!more) break;
  }
  return { jobs, more };
}

export async function refreshHistory() {
  clearTimeout(timer);
  try {
    const { jobs, more } = await listed();
    $("history-empty").hidden = jobs.length > 0;
    $("history-older").hidden = !more;
    $("history").replaceChildren(...jobs.map(row));
    newest = jobs.length ? jobs[0].id : null;
    live = jobs.some((job) => job.state === "queued" || job.state === "running");
  } finally {
    schedule();  // one timer, whatever happened
  }
}

// The timers' own failures are not shown: with the service gone the page's banner says so, and
// a failed refresh (which plans the next) would otherwise add a message every 2 s while it is.
function schedule() {
  clearTimeout(timer);
  timer = live ? setTimeout(() => refreshHistory().catch(() => {}), LIVE_REFRESH_MS)
    : setTimeout(() => checkForNew().catch(schedule), IDLE_CHECK_MS);
}

// Drawn again when a job was made elsewhere since the list was drawn (or one listed is still
// being scored); otherwise only the next look is planned.
async function checkForNew() {
  if (live) return refreshHistory();
  if (document.hidden) return schedule();
  const { jobs } = await getJSON("/api/v1/jobs");
  return (jobs.length ? jobs[0].id : null) !== newest ? refreshHistory() : schedule();
}

function row(job) {
  const name = job.description || job.filename;
  const facts = [
    job.description ? job.filename : "",
    job.duration != null ? `${duration(job.duration)} long` : "",
    job.state === "done" && job.seconds != null ? `scored in ${duration(job.seconds)}` : "",
    job.edits ? `${job.edits} edit${job.edits === 1 ? "" : "s"}` : "",
    new Date(job.created * 1000).toLocaleString(),
  ];
  const thumbnail = el("img", { class: "thumb", alt: "", loading: "lazy", width: 64, height: 48,
                                src: `/api/v1/jobs/${job.id}/thumbnail.jpg` });
  thumbnail.onerror = () => { thumbnail.classList.add("none"); };  // no picture yet (or any more)
  return el("li", { class: `job ${job.state}` }, thumbnail,
    el("span", { class: "grow" }, name,
      el("small", {}, facts.filter(Boolean).join(" · ")),
      el("small", { class: "state" }, jobState(job))),
    job.state === "done" ? el("button", { type: "button", "aria-label": `Open ${name}`,
                                          onclick: () => actions.open(job) }, "Open")
      : job.state !== "failed" ? el("button", { type: "button", "aria-label": `Watch ${name}`,
                                                onclick: () => actions.watch(job) }, "Watch") : "",
    // A job being scored cannot be deleted (the appliance says so): its row offers Watch only.
    job.state === "running" ? ""
      : el("button", { type: "button", class: "quiet", "aria-label": `Delete ${name}`, onclick: () => remove(job) }, "Delete"));
}

async function remove(job) {
  if (!confirm(`Delete “${job.description || job.filename}” and its result?`)) return;
  try {
    await send("DELETE", `/api/v1/jobs/${job.id}`);
    actions.deleted(job);
  } catch (error) {
    showError(error);
  }
  await refreshHistory();
}
