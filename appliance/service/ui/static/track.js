// The sound track as a picture: the WAV's waveform on a canvas (decoded with WebAudio) and one
// marker button per placed sound at its time.
import { api } from "./api.js";

const canvas = document.getElementById("waveform");
const markers = document.getElementById("markers");
let peaks = null;  // per-column [min, max] of the current track (peak = 1), kept to redraw on resize

export async function drawTrack(wavUrl) {
  const bytes = await (await api(wavUrl)).arrayBuffer();
  // An OfflineAudioContext decodes without needing a user gesture to start audio.
  const audio = await new OfflineAudioContext(1, 1, 48000).decodeAudioData(bytes);
  const channels = Array.from({ length: audio.numberOfChannels }, (_, c) => audio.getChannelData(c));
  const columns = 1200;
  const step = Math.max(1, Math.floor(audio.length / columns));
  const found = [];
  for (let start = 0; start < audio.length; start += step) {
    let low = 0, high = 0;
    for (const data of channels) {
      for (let i = start; i < Math.min(start + step, audio.length); i++) {
        low = Math.min(low, data[i]);
        high = Math.max(high, data[i]);
      }
    }
    found.push([low, high]);
  }
  const loudest = Math.max(1e-6, ...found.map(([low, high]) => Math.max(-low, high)));
  peaks = found.map(([low, high]) => [low / loudest, high / loudest]);  // the picture uses the full height
  paint();
  return audio.duration;
}

function paint() {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * ratio);
  canvas.height = Math.round(canvas.clientHeight * ratio);
  const g = canvas.getContext("2d");
  const { width, height } = canvas;
  g.clearRect(0, 0, width, height);
  g.fillStyle = getComputedStyle(canvas).color;
  g.fillRect(0, height / 2, width, Math.max(1, ratio / 2));
  if (!peaks) return;
  for (let x = 0; x < width; x++) {
    const [low, high] = peaks[Math.floor((x / width) * peaks.length)];
    const top = (1 - high) * height / 2, bottom = (1 - low) * height / 2;
    g.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
}

new ResizeObserver(paint).observe(canvas);

// One button per event; `onPick(event)` is called when one is chosen.
export function placeMarkers(events, duration, selected, onPick) {
  markers.replaceChildren(...events.map((event) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `marker ${event.kind}`;
    button.style.left = `${(100 * event.time) / duration}%`;
    button.dataset.n = event.n;
    button.title = `${event.time.toFixed(2)} s: ${event.template}`;
    button.setAttribute("aria-label", `Sound ${event.n + 1} at ${event.time.toFixed(2)} s`);
    button.setAttribute("aria-pressed", String(event.n === selected));
    button.onclick = () => onPick(event);
    return button;
  }));
}
