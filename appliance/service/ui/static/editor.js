// The open result: its video, its track view and the editing of its placed sounds (hear,
// change, move, delete, louder/softer, add at the playhead, undo/redo). Every edit goes to the
// API, which re-mixes on the board; the page then shows the timeline it returns and reloads
// the video, the sound track and the downloads. Edits run one after the other, each on the
// result that was open when it was asked for: an answer that comes back after another result
// was opened changes that job, never the view of the one now open. Each edit names the version
// of the result it was worked out from (`based_on`): one changed elsewhere since (another tab,
// another machine) refuses it, and the page shows the result as it is now.
import { api, getJSON, send } from "./api.js";
import { initBoardPlay, showBoardPlay } from "./board-play.js";
import { soundGroups } from "./library.js";
import { openPicker } from "./picker.js";
import { drawWaveform, frameSeconds, initTrack, playFrom, playheadTime, selectMarker, showTrack } from "./track.js";
import { playSound } from "./ui.js";
import { KINDS, categoryName, instant } from "./words.js";

const $ = (id) => document.getElementById(id);
const video = $("result-video");
const GAIN_STEPS_DB = [-18, 12];  // how far the slider goes either way
let current = null;  // { job, timeline, version, selected, steps: { undo, redo } }
let queue = Promise.resolve();
let busy = false;  // an edit is being re-mixed: the edit controls ignore presses until it is shown
let edited = () => {};  // told after every edit (the history shows the count)

const jobUrl = (id) => `/api/v1/jobs/${id}`;
const eventsUrl = (id) => `${jobUrl(id)}/events`;
const find = (n) => current?.timeline.events.find((event) => event.n === n);
const whenIdle = (action) => (...args) => (busy ? null : action(...args));

export function initEditor({ onEdited }) {
  edited = onEdited;
  initBoardPlay();
  initTrack(video, {
    select: (n) => select(n, true),
    move: (n, time) => moveTo(n, time),
    nudge: (n, frames) => nudge(n, frames),
    remove: (n) => removeEvent(n),
  });
  $("undo").onclick = whenIdle(() => current?.steps.undo && undoRedo("undo"));
  $("redo").onclick = whenIdle(() => current?.steps.redo && undoRedo("redo"));
  $("add-sound").onclick = whenIdle(addAtPlayhead);
  $("event-swap").onclick = whenIdle(() => swapSelected());
  $("event-delete").onclick = whenIdle(() => removeEvent(current.selected));
  // Nudges queue and add up, pressed however fast (as Shift+← and Shift+→ do): each is worked out
  // from where the ones before it left the sound. Ignored while busy, quick clicks were lost.
  $("nudge-back").onclick = () => nudge(current.selected, -1);
  $("nudge-ahead").onclick = () => nudge(current.selected, 1);
  const gain = $("event-gain");
  // The slider is the change from the sound's level as it is now (0 when it is selected).
  gain.oninput = () => { $("event-gain-value").textContent = louder(gain.valueAsNumber); };
  gain.onchange = whenIdle(() => change(current.selected, { gain_db: gainAfter(find(current.selected), gain.valueAsNumber) },
                                        louder(gain.valueAsNumber).replace(/^./, (c) => c.toUpperCase())));
  document.addEventListener("keydown", onShortcut);
}

export const openJobId = () => current?.job.id;

export async function openResult(job) {
  // The job asked anew: the history's row may be older than edits made in another tab. Asked
  // before the timeline, so that the version is never newer than the timeline shown (an edit
  // in between is refused, and the page catches up).
  const latest = await getJSON(jobUrl(job.id)).catch(() => job);
  const timeline = await getJSON(`${jobUrl(job.id)}/timeline.json`);
  current = { job, timeline, version: latest.version, selected: null, steps: stepsOf(latest) };
  showUndoRedo();
  window.history.replaceState(null, "", `#job=${job.id}`);
  $("result").hidden = false;
  $("event").hidden = true;
  $("edit-status").textContent = "";
  $("result-title").textContent = job.description || job.filename;
  showBoardPlay(job.id);
  showTrack(timeline, null);
  showNote();
  await reloadMedia(false);
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;  // the user asked for no motion
  $("result").scrollIntoView({ behavior: still ? "auto" : "smooth" });
}

export function closeResult() {
  $("result").hidden = true;
  video.removeAttribute("src");
  showBoardPlay(null);
  window.history.replaceState(null, "", window.location.pathname);
  current = null;
}

// An answer without the counts (an edit that found nothing to do) leaves them as they were.
const stepsOf = (answer, before = { undo: 1, redo: 1 }) => ({ undo: answer.undo_steps ?? before.undo,
                                                            redo: answer.redo_steps ?? before.redo });

// Undo and Redo are offered only when they would do something (pressed at an end, they said
// "nothing to undo"); both are unavailable while an edit is re-mixed.
function showUndoRedo() {
  for (const which of ["undo", "redo"]) $(which).setAttribute("aria-disabled", String(busy || !current?.steps[which]));
}

// What the track holds besides its markers, in the timeline's own words: why nothing was placed
// (a still scene, an ambient one), the bed under the sounds, and what became of the clip's own
// sound when the request kept it (mixed in, or none to keep: the "mix" is then the Foley alone).
function showNote() {
  const { events, ambience, output } = current.timeline;
  const sentence = (text) => text.replace(/^./, (c) => c.toUpperCase()).replace(/\.?$/, ".");
  const notes = [];
  if (ambience?.category) notes.push(sentence(`a bed of ${categoryName(ambience.category)} under the clip: ${ambience.why}`));
  else if (!events.length && ambience?.why) notes.push(sentence(`no sounds placed: ${ambience.why}`));
  if (output?.original_audio) notes.push(sentence(output.original_audio));
  $("result-note").textContent = notes.join(" ");
  $("result-note").hidden = !notes.length;
}

// (Re)loads the video, the waveform and the download links; an edit replaces the files, so the
// addresses carry a stamp. After an edit the video keeps its place.
async function reloadMedia(keepPlace = true) {
  const base = jobUrl(current.job.id);
  const stamp = `?v=${Date.now()}`;
  const at = keepPlace ? video.currentTime || 0 : 0;
  video.src = `${base}/video.mp4${stamp}`;
  video.addEventListener("loadedmetadata", () => { if (at) video.currentTime = at; }, { once: true });
  const stem = downloadStem(current.job);
  for (const [id, file, saved] of [["dl-mp4", "video.mp4", "foley.mp4"], ["dl-wav", "audio.wav", "foley.wav"],
    ["dl-json", "timeline.json", "timeline.json"], ["dl-mix", "mix.wav", "mix.wav"], ["dl-credits", "credits.txt", "credits.txt"]]) {
    $(id).href = `${base}/${file}${stamp}`;
    $(id).download = `${stem}-${saved}`;
  }
  $("dl-mix-item").hidden = !current.job.options?.keep_audio;  // the clip's own sound kept (the note says how)
  showCredits(`${base}/credits.txt${stamp}`);
  await drawWaveform(`${base}/audio.wav${stamp}`);
}

// Downloads are saved under the clip's own name ("walk-foley.mp4", "walk-timeline.json"), not
// as video.mp4 and audio.wav for every clip; the browser makes the name safe for its disk.
function downloadStem(job) {
  const stem = (job.filename || "").replace(/\.[^.]*$/, "").replace(/[\\/:*?"<>|\u0000-\u001f]+/g, "_").slice(0, 80);
  return stem || `clip-${job.id.slice(0, 6)}`;
}

// Results made before credits were written have none: the link shows only when there is one.
async function showCredits(url) {
  const there = await api(url, { method: "HEAD" }).then(() => true, () => false);
  $("dl-credits-item").hidden = !there;
}

// ---- Selecting a sound --------------------------------------------------------------------

function select(n, play) {
  const event = find(n);
  if (!event) return;
  current.selected = n;
  selectMarker(n);
  $("event").hidden = false;
  $("event-title").textContent = `${categoryName(event.category)} at ${instant(event.time)}`;
  $("event-why").textContent = explain(event);
  $("event-time").textContent = instant(event.time);
  $("event-play").onclick = () => playSound(event.template_id);
  showGain(event);
  if (play) playFrom(event.time - 0.3);  // hear it where it is, in the video
}

function explain(event) {
  const { candidates = [], vision_labels: labels = [] } = event.why || {};
  const parts = [`The sound: “${event.template}” (${event.licence}).`];
  if (KINDS[event.kind]) parts.push(`What happens here: ${KINDS[event.kind].explain}.`);
  const others = candidates.filter((c) => c.category !== event.category).slice(0, 2).map((c) => categoryName(c.category));
  if (others.length) parts.push(`Other likely sounds: ${others.join(", ")}.`);
  if (labels.length) parts.push(`The picture looked like: ${labels.slice(0, 2).map(([label]) => label).join(", ")}.`);
  return parts.join(" ");
}

// The slider's range: GAIN_STEPS_DB either way from the sound's gain now, within the gains the
// API allows this sound (its timeline entry's gain_range_db: -40…+12 dB of its recording's own
// level), so every step it offers is one the appliance takes. Older timelines lack the range.
function showGain(event) {
  const slider = $("event-gain");
  const [low, high] = event.gain_range_db || [-Infinity, Infinity];
  slider.min = Math.min(0, Math.max(GAIN_STEPS_DB[0], Math.ceil(low - event.gain_db)));
  slider.max = Math.max(0, Math.min(GAIN_STEPS_DB[1], Math.floor(high - event.gain_db)));
  slider.value = 0;
  $("event-gain-value").textContent = louder(0);
}

// The gain a slider step gives `event`, held within its range: the range's ends have two
// decimals, and a step rounded to a tenth went past the top (31.68 + 0 → 31.7: refused).
function gainAfter(event, step) {
  const [low, high] = event.gain_range_db || [-Infinity, Infinity];
  return Math.min(high, Math.max(low, Math.round((event.gain_db + step) * 100) / 100));
}

const louder = (db) => (db > 0 ? `${db} dB louder` : db < 0 ? `${-db} dB softer` : "as it is");

// ---- Edits --------------------------------------------------------------------------------

// Runs `request(job id, its timeline, { based_on: its version })` on the open result after the
// edits before it and shows the timeline it returns, then reloads the media; `done` says what
// was done (a function: asked once the request has run). The promise settles once the timeline
// is shown (so the picker closes at once), and rejects when the edit failed (said in the status
// line), so the picker stays open. When another result was opened meanwhile, the edit is still made on its own job
// (the user asked for it there) but its answer is not shown on the one now open; it is kept
// with its job, for the edits queued after it there.
function edit(done, request) {
  let shown;
  const result = new Promise((resolve, reject) => { shown = { resolve, reject }; });
  const opened = current;
  const run = async () => {
    setBusy(true);
    try {
      const answer = await request(opened.job.id, opened.timeline, { based_on: opened.version });
      const said = typeof done === "function" ? done() : done;
      opened.timeline = answer.timeline;
      opened.version = answer.version ?? opened.version;
      opened.steps = stepsOf(answer, opened.steps);
      if (current !== opened) {
        shown.resolve();
        return;
      }
      const selected = answer.event ? answer.event.n : current.selected;
      current.selected = find(selected) ? selected : null;
      showTrack(current.timeline, current.selected);
      showNote();
      if (current.selected === null) $("event").hidden = true;
      else select(current.selected, false);
      shown.resolve();
      $("edit-status").textContent = `${said}. Loading the new mix…`;
      await reloadMedia();
      $("edit-status").textContent = `${said}.`;
      edited();
    } catch (error) {
      $("edit-status").textContent = error.message;
      shown.reject(error);
      if ((error.status === 404 || error.status === 409) && current === opened) await showLatest(opened);
    } finally {
      setBusy(false);
      const selected = find(current?.selected);
      if (selected) showGain(selected);  // the slider back at "as it is" for the gain it has now
    }
  };
  queue = queue.then(run);
  return result;
}

const quietly = (promise) => promise.catch(() => {});  // failures are in the status line

// After a refused edit (changed elsewhere since the version the page showed, nothing to undo):
// the result as the appliance has it now, when it was changed elsewhere (another tab, another
// machine) — the page's markers, and the edits worked out from them, no longer matched it. The
// job (its version) is asked before the timeline, as when the result is opened.
async function showLatest(opened) {
  const job = await getJSON(jobUrl(opened.job.id)).catch(() => null);
  if (!job || current !== opened) return;
  current.steps = stepsOf(job);
  showUndoRedo();
  if (job.version === opened.version) return;  // not changed elsewhere: the refusal said why
  const latest = await getJSON(`${jobUrl(opened.job.id)}/timeline.json`).catch(() => null);
  if (!latest || current !== opened) return;
  current.timeline = latest;
  current.version = job.version;
  if (!find(current.selected)) current.selected = null;
  showTrack(current.timeline, current.selected);
  showNote();
  if (current.selected === null) $("event").hidden = true;
  $("edit-status").textContent = "This result was changed elsewhere (in another tab?); it has been reloaded — try again.";
  await reloadMedia();
}

// While an edit is re-mixed the edit controls say they are unavailable (aria-disabled) and ignore
// presses (`whenIdle`), but stay focusable: a disabled control would drop the keyboard focus to
// the page, and the next Tab and Space would land on another control (Delete).
function setBusy(now) {
  busy = now;
  $("result").setAttribute("aria-busy", String(now));
  if (now) $("edit-status").textContent = "Re-mixing the track…";
  for (const id of ["add-sound", "event-swap", "event-delete", "event-gain"]) {
    $(id).setAttribute("aria-disabled", String(now));
  }
  showUndoRedo();
}

function change(n, fields, done) {
  return quietly(edit(done, (id, _, based) => send("PATCH", `${eventsUrl(id)}/${n}`, { ...fields, ...based })));
}

// A sound starts at least END_MARGIN seconds before the clip's end (the API refuses later ones,
// which would not be heard: engine/edits.py END_MARGIN_S): a drag, a nudge or an add there
// lands at that latest time.
const END_MARGIN = 0.05;
const clipTime = (timeline, time) => {
  const latest = Math.max(0, timeline.clip.duration - END_MARGIN);
  return Math.round(Math.min(latest, Math.max(0, time)) * 10000) / 10000;
};

// Where a move of a sound from `from` to `to` lands: clipped, except that a sound the engine
// placed later than the latest start (in the last END_MARGIN) is not pulled earlier by a move
// later ("1 frame later" there moved it back 33 ms): it stays where it is.
const movedTime = (timeline, from, to) =>
  (to > from && from >= clipTime(timeline, to) ? from : clipTime(timeline, to));

function moveTo(n, time) {
  const event = find(n);
  const clipped = event ? movedTime(current.timeline, event.time, time) : clipTime(current.timeline, time);
  return change(n, { time: clipped }, `Moved to ${instant(clipped)}`);
}

// One frame earlier or later, on the clip's frame grid (as a drag lands), so that nudges add up
// to whole frames instead of drifting by their rounding; worked out when its turn comes, from
// the time the edits before it left (Shift+→ pressed three times quickly moved the sound once:
// each press started from the time last shown).
function nudge(n, frames) {
  let target;
  return quietly(edit(() => `Moved to ${instant(target)}`, (id, timeline, based) => {
    const event = timeline.events.find((e) => e.n === n);
    if (!event) return Promise.reject(new Error("That sound is no longer in the track."));
    target = movedTime(timeline, event.time, Math.round(event.time / frameSeconds() + frames) * frameSeconds());
    if (target === event.time) return Promise.resolve({ timeline });  // already at the latest start
    return send("PATCH", `${eventsUrl(id)}/${n}`, { time: target, ...based });
  }));
}

// Checked again when its turn comes: Delete pressed twice on a sound queues two deletes, and
// the second found the sound gone ("no sound number 0 in this result") after the first worked.
function removeEvent(n) {
  if (n === null || !find(n)) return null;
  return quietly(edit("Sound deleted", (id, timeline, based) => (timeline.events.some((e) => e.n === n)
    ? send("DELETE", `${eventsUrl(id)}/${n}`, based) : Promise.resolve({ timeline }))));
}

function undoRedo(which) {
  if (!current) return null;
  return quietly(edit(which === "undo" ? "Undone" : "Redone",
    (id, _, based) => send("POST", `${jobUrl(id)}/${which}`, based)));
}

function swapSelected() {
  const event = find(current.selected);
  const url = `${eventsUrl(current.job.id)}/${event.n}/candidates`;
  openPicker({
    heading: `Change the sound at ${instant(event.time)}`,
    load: async (query) => (await getJSON(query ? `${url}?q=${encodeURIComponent(query)}` : url)).groups,
    onUse: (template) => edit("Sound changed", (id, _, based) => send("PATCH", `${eventsUrl(id)}/${event.n}`,
                                                                      { template_id: template, ...based })),
  });
}

// Held within the times a sound may start, as a move is: at the end of a 29.97 fps clip the
// playhead rounded to a millisecond (2.069 s) lay past the clip's length (2.0687 s), and the add
// was refused.
function addAtPlayhead() {
  const time = clipTime(current.timeline, playheadTime());
  openPicker({
    heading: `Add a sound at ${instant(time)}`,
    load: soundGroups,
    onUse: (template) => edit(`Sound added at ${instant(time)}`,
                              (id, _, based) => send("POST", eventsUrl(id), { template_id: template, time, ...based })),
  });
}

// Ctrl+Z undoes, Ctrl+Shift+Z (or Ctrl+Y) redoes, unless a text field or a dialog has them.
function onShortcut(event) {
  if (!current || $("result").hidden || !(event.ctrlKey || event.metaKey) || document.querySelector("dialog[open]")) return;
  if (event.target.matches?.("input[type=text], input[type=search], input:not([type]), textarea")) return;
  const key = event.key.toLowerCase();
  const which = key === "z" && !event.shiftKey ? "undo" : (key === "z" && event.shiftKey) || key === "y" ? "redo" : null;
  if (!which) return;
  event.preventDefault();
  // At either end the shortcut does nothing, as its button; while an edit is re-mixed it queues
  // (the counts are the edit's answer's, not yet known).
  if (busy || current.steps[which]) undoRedo(which);
}
