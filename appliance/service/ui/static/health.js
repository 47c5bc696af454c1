// The appliance's state in words under the title (CPU temperature, free disk, clips waiting),
// refreshed every few seconds, which also notices a lost connection while the page is idle;
// the version and start-up notices below.
import { getJSON } from "./api.js";
import { showError } from "./ui.js";
import { bytes } from "./words.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;

const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;

export async function refreshHealth() {
  const status = await getJSON("/api/v1/status");
  const busy = status.jobs_running || 0, waiting = status.jobs_waiting || 0;
  $("health").textContent = [
    busy ? `${count(busy, "clip", "clips")} being scored` : "Ready",
    waiting ? `${count(waiting, "clip", "clips")} waiting` : "no clips waiting",
    status.cpu_temperature_c != null ? `CPU at ${Math.round(status.cpu_temperature_c)} °C` : "",
    status.disk_free_bytes != null ? `${bytes(status.disk_free_bytes)} free for clips` : "",
    // The history is shorter than the user may remember: say why (service/retention.py).
    status.old_jobs_removed ? `${count(status.old_jobs_removed, "old result", "old results")} removed to make room` : "",
  ].filter(Boolean).join(" · ");
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
