// Whether the appliance answers. A request that cannot reach it (the board restarting, Wi-Fi
// gone) shows a banner instead of the browser's raw "Failed to fetch", and /healthz is asked
// again with a growing pause until it answers; requests waiting for it then carry on.

const banner = document.getElementById("offline");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let down = false;
let waiting = [];
const reconnected = [];

// `callback` is called each time the appliance answers again after it could not be reached:
// what does not ask again by itself (the camera preview, whose stream ended with the service).
export function onReconnected(callback) {
  reconnected.push(callback);
}

export const reachable = () => !down;

// Resolves at once when the appliance answers, else once it answers again.
export function whenReachable() {
  return down ? new Promise((resolve) => waiting.push(resolve)) : Promise.resolve();
}

// Called by api.js when a request failed to reach the appliance at all.
export function lostConnection() {
  if (down) return;
  down = true;
  banner.classList.remove("back");
  banner.hidden = false;
  retry();
}

async function retry() {
  for (let pause = 2; down; pause = Math.min(pause * 2, 16)) {
    for (let left = pause; left > 0; left--) {
      banner.textContent = `The appliance cannot be reached (is it switched on and on this network?). `
        + `Trying again in ${left} s…`;
      await sleep(1000);
    }
    banner.textContent = "The appliance cannot be reached. Trying again now…";
    try {
      down = !(await fetch("/healthz", { cache: "no-store" })).ok;
    } catch {
      down = true;
    }
  }
  banner.textContent = "Connected to the appliance again.";
  banner.classList.add("back");
  setTimeout(() => { if (!down) banner.hidden = true; }, 3000);
  const resume = waiting;
  waiting = [];
  resume.forEach((resolve) => resolve());
  reconnected.forEach((callback) => callback());
}
