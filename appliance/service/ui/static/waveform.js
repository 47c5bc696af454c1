// The sound track's waveform: the WAV decoded once (WebAudio) into min/max peaks per 5 ms,
// painted for whatever part of the clip the track view shows.
import { api } from "./api.js";

const BINS_PER_SECOND = 200;
let peaks = null;  // [min, max] per bin, scaled so the loudest bin fills the height
let asked = 0;  // loads asked for so far: only the last one asked is kept

// Only the load asked for last sets the waveform: one result's WAV that finishes loading after
// another result was opened (and its WAV loaded) would paint the wrong clip's sound under it.
export async function loadWaveform(wavUrl) {
  const load = ++asked;
  const bytes = await (await api(wavUrl)).arrayBuffer();
  // An OfflineAudioContext decodes without needing a user gesture to start audio.
  const audio = await new OfflineAudioContext(1, 1, 48000).decodeAudioData(bytes);
  if (load !== asked) return;
  const channels = Array.from({ length: audio.numberOfChannels }, (_, c) => audio.getChannelData(c));
  const step = Math.max(1, Math.round(audio.sampleRate / BINS_PER_SECOND));
  const found = [];
  let loudest = 1e-6;
  for (let start = 0; start < audio.length; start += step) {
    let low = 0, high = 0;
    const end = Math.min(start + step, audio.length);
    for (const data of channels) {
      for (let i = start; i < end; i++) {
        if (data[i] < low) low = data[i];
        else if (data[i] > high) high = data[i];
      }
    }
    found.push([low, high]);
    loudest = Math.max(loudest, -low, high);
  }
  peaks = found.map(([low, high]) => [low / loudest, high / loudest]);
}

// Paints seconds [start, start + width / pxPerSecond) of the track onto `canvas`.
export function paintWaveform(canvas, start, pxPerSecond) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * ratio);
  canvas.height = Math.round(canvas.clientHeight * ratio);
  const g = canvas.getContext("2d");
  const { width, height } = canvas;
  g.clearRect(0, 0, width, height);
  g.fillStyle = getComputedStyle(canvas).color;
  g.fillRect(0, height / 2, width, Math.max(1, ratio / 2));
  if (!peaks) return;
  const binsPerPixel = BINS_PER_SECOND / (pxPerSecond * ratio);
  for (let x = 0; x < width; x++) {
    const first = Math.floor((start * BINS_PER_SECOND) + x * binsPerPixel);
    const last = Math.max(first + 1, Math.floor((start * BINS_PER_SECOND) + (x + 1) * binsPerPixel));
    let low = 0, high = 0;
    for (let b = first; b < last && b < peaks.length; b++) {
      if (b < 0) continue;
      low = Math.min(low, peaks[b][0]);
      high = Math.max(high, peaks[b][1]);
    }
    if (low === 0 && high === 0) continue;
    const top = (1 - high) * height / 2, bottom = (1 - low) * height / 2;
    g.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
}
