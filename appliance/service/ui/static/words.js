// Plain words for what the API says in its own terms: kinds of action, fit, job states (the
// service names the scoring stages in words itself), lengths of time and sizes.

export const KINDS = {
  impact: { name: "hit", explain: "a single hit or knock" },
  periodic: { name: "repeated hit", explain: "one of a regular series of hits, like footsteps" },
  sustained: { name: "continuous", explain: "a continuous movement, like sliding or rubbing" },
};

export const kindName = (kind) => (KINDS[kind] || { name: kind }).name;

// "footsteps_gravel" → "footsteps gravel"
export const categoryName = (category) => String(category || "").replaceAll("_", " ");

export const FIT = { best: "best fit", good: "good fit", other: "other sounds" };

// 0.4 → "0.40 s", 75 → "1 min 15 s"
export function duration(value) {
  if (value == null || !Number.isFinite(value)) return "";
  if (value < 1) return `${value.toFixed(2)} s`;
  if (value < 60) return `${value.toFixed(value < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(value / 60);
  return `${minutes} min ${Math.round(value - 60 * minutes)} s`;
}

// A moment in the clip, fine enough to tell frames apart (a frame at 30 fps is 0.033 s):
// 1.0333 → "1.03 s", 75.5 → "1 min 15.50 s"
export function instant(value) {
  if (value == null || !Number.isFinite(value)) return "";
  if (value < 60) return `${value.toFixed(2)} s`;
  const minutes = Math.floor(value / 60);
  return `${minutes} min ${(value - 60 * minutes).toFixed(2)} s`;
}

// What a job is doing, in a few words: "waiting for its turn", "mixing · 80 %", "done".
export function jobState(job) {
  if (job.state === "queued") return job.stage && job.stage !== "queued" ? job.stage : "waiting for its turn";
  if (job.state === "running") return `${job.stage || "starting"} · ${Math.round(job.progress || 0)} %`;
  if (job.state === "failed") return `failed${job.error ? `: ${job.error}` : ""}`;
  return "done";
}

// 2.5 × 1024³ → "2.5 GB": in units of 1024, as the service states its limits (service/gate.py
// megabytes), so a file shown as 200 MB is one the 200 MB upload limit takes.
export function bytes(value) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 && unit ? 1 : 0)} ${units[unit]}`;
}
