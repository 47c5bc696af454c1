// The appliance's state in words under the title, refreshed every few seconds (which also
// notices a lost connection while the page is idle); the version and start-up notices below.
import { api, getJSON } from "./api.js";
import { showError } from "./ui.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;

// Prometheus text → the sum of the samples of `name` whose labels include `match` (e.g. 'state="done"').
function metric(text, name, match = "") {
  let sum = 0;
  for (const line of text.split("\n")) {
    const sample = /^([\w:]+)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (sample && sample[1] === name && (sample[2] || "").includes(match)) sum += Number(sample[3]);
  }
  return sum;
}

const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;

export async function refreshHealth() {
  const text = await (await api("/metrics")).text();
  const waiting = metric(text, "foley_queue_depth");
  const scoring = metric(text, "foley_jobs", 'state="running"');
  $("health").textContent = [
    scoring ? `${count(scoring, "clip", "clips")} being scored` : "Ready",
    waiting ? `${count(waiting, "clip", "clips")} waiting` : "no clips waiting",
  ].join(" · ");
}

async function showVersion() {
  const info = await getJSON("/api/v1/version");
  $("version").textContent = `Foley ${info.version} · sound library ${info.library_version}`;
  // What the service found broken at start and repaired (a damaged database moved aside).
  $("notices").textContent = (info.notices || []).join(" ");
  $("notices").hidden = !(info.notices || []).length;
}

export function initHealth() {
  const tick = () => refreshHealth().catch(showError).finally(() => setTimeout(tick, REFRESH_MS));
  tick();
  return showVersion();
}
