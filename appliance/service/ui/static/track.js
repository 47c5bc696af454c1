// The track view under the video: a time scale, the waveform, one marker per placed sound and
// a playhead tied to the video both ways. Zoom with pinch, the wheel or the buttons; scroll
// sideways. Markers that would overlap at the current zoom are drawn as one group (tap it to
// zoom in until they come apart), so every marker stays a separate 44 px target. The markers
// are one toolbar for the keyboard: ← → move between them, Enter selects, Shift+← → moves the
// selected sound by one frame, Delete removes it.
import { el } from "./ui.js";
import { loadWaveform, paintWaveform } from "./waveform.js";
import { categoryName, duration as said, kindName, KINDS } from "./words.js";

const $ = (id) => document.getElementById(id);
const scroller = $("timeline"), lane = $("lane"), ruler = $("ruler"), canvas = $("waveform");
const row = $("markers"), playhead = $("playhead");
const MARKER = 44;  // px: the smallest touch target on a phone
const GAP = 4;  // px kept free between two markers
const PAD = 26;  // px before 0 s and after the end, so the first and last markers fit
const MAX_PX_PER_SECOND = 2400;  // a frame of 30 fps video is 80 px wide: room for a marker per frame
const TICK_STEPS = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300];

const view = { events: [], duration: 1, fps: 30, selected: null, pxPerSecond: 0, fitted: true };
let video = null;
let actions = {};  // select(n), move(n, time), nudge(n, frames), remove(n)
let dragging = null;  // { n, button, startX, time, moved }
let following = true;  // the view scrolls along with a playing video until the user scrolls it
let keepView = false;  // the next play starts from a tapped marker: the view stays where it is

const xOf = (time) => PAD + time * view.pxPerSecond;
const timeAt = (clientX) => {
  const x = clientX - scroller.getBoundingClientRect().left + scroller.scrollLeft;
  return Math.min(view.duration, Math.max(0, (x - PAD) / view.pxPerSecond));
};
const fitPxPerSecond = () => Math.max(1, (scroller.clientWidth - 2 * PAD) / view.duration);
const clock = (t) => (view.duration >= 60 ? `${Math.floor(t / 60)}:${(t % 60).toFixed(0).padStart(2, "0")}` : said(t));

// ---- Showing a timeline -------------------------------------------------------------------

export function initTrack(videoElement, callbacks) {
  video = videoElement;
  actions = callbacks;
  $("legend").replaceChildren(...Object.entries(KINDS).map(([kind, { name, explain }]) => el("li", { class: `kind-${kind}` },
    el("span", { class: "swatch", "aria-hidden": "true" }), `${name}: ${explain}`)));
  for (const type of ["timeupdate", "seeked", "loadedmetadata"]) video.addEventListener(type, movePlayhead);
  video.addEventListener("play", () => {
    following = !keepView;
    keepView = false;
    requestAnimationFrame(function tick() {
      movePlayhead();
      if (!video.paused && !video.ended) requestAnimationFrame(tick);
    });
  });
  $("zoom-in").onclick = () => zoomAround(view.pxPerSecond * 2, anchorTime());
  $("zoom-out").onclick = () => zoomAround(view.pxPerSecond / 2, anchorTime());
  $("zoom-fit").onclick = () => zoomAround(0, 0);
  scroller.addEventListener("scroll", () => paintVisible(), { passive: true });
  scroller.addEventListener("wheel", onWheel, { passive: false });
  scroller.addEventListener("touchstart", onPinch, { passive: false });
  scroller.addEventListener("touchmove", onPinch, { passive: false });
  for (const type of ["pointerdown", "wheel", "touchstart"]) {
    scroller.addEventListener(type, () => { following = false; }, { passive: true });
  }
  canvas.addEventListener("click", (event) => seek(timeAt(event.clientX)));
  ruler.addEventListener("pointerdown", onRulerPointer);
  ruler.addEventListener("pointermove", onRulerPointer);
  ruler.addEventListener("keydown", onRulerKey);
  row.addEventListener("keydown", onMarkerKey);
  row.addEventListener("pointerdown", onMarkerPointerDown);
  row.addEventListener("pointermove", onMarkerPointerMove);
  row.addEventListener("pointerup", onMarkerPointerUp);
  row.addEventListener("pointercancel", () => { dragging = null; layoutMarkers(); });
  // The waveform is painted in the text colour of the theme: again when the system switches it.
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => paintVisible());
  new ResizeObserver(() => {
    if (view.fitted) view.pxPerSecond = fitPxPerSecond();
    layout();
  }).observe(scroller);
}

// A (new or edited) timeline: keeps the zoom and scroll when it is the same clip.
export function showTrack(timeline, selected) {
  const sameClip = view.duration === timeline.clip.duration && view.pxPerSecond > 0;
  view.events = [...timeline.events].sort((a, b) => a.time - b.time);
  view.duration = Math.max(0.1, timeline.clip.duration);
  view.fps = timeline.clip.fps || 30;
  view.selected = selected;
  if (!sameClip || view.fitted) {
    view.pxPerSecond = fitPxPerSecond();
    view.fitted = true;
  }
  layout();
  revealSelected();
}

// Draws the sound track's waveform (from its WAV) under the markers.
export async function drawWaveform(wavUrl) {
  await loadWaveform(wavUrl);
  paintVisible();
}

export function selectMarker(n) {
  view.selected = n;
  layoutMarkers();
  revealSelected();
}

// The selected sound always has a marker of its own: when an edit (or a group at the deepest
// zoom) leaves it inside a group, zoom in around it until it comes out.
function revealSelected() {
  const event = view.events.find((e) => e.n === view.selected);
  if (!event) return;
  const offset = xOf(event.time) - scroller.scrollLeft;
  const own = () => row.querySelector(`.marker[data-n="${event.n}"]`);
  if (own()) return;
  while (!own() && view.pxPerSecond < MAX_PX_PER_SECOND) {
    view.pxPerSecond = Math.min(MAX_PX_PER_SECOND, view.pxPerSecond * 1.5);
    view.fitted = false;
    layout();
  }
  scroller.scrollLeft = xOf(event.time) - offset;
  paintVisible();
}

// Plays the video from `time` without scrolling the view along (a sound was tapped to hear it).
export function playFrom(time) {
  keepView = true;
  video.currentTime = Math.max(0, time);
  video.play().catch(() => { keepView = false; });
}

export const frameSeconds = () => 1 / view.fps;
export const playheadTime = () => (video ? video.currentTime : 0);

// ---- Layout: lane width, markers, the visible part of the scale and waveform --------------

function layout() {
  if (!view.pxPerSecond) return;
  lane.style.width = `${Math.floor(view.duration * view.pxPerSecond + 2 * PAD)}px`;
  ruler.setAttribute("aria-valuemax", view.duration.toFixed(2));
  $("zoom-out").disabled = view.fitted;
  $("zoom-in").disabled = view.pxPerSecond >= MAX_PX_PER_SECOND;
  layoutMarkers();
  paintVisible();
}

// Markers closer than one target (plus a gap) to the first of a run are drawn as one group.
function groups() {
  const found = [];
  for (const event of view.events) {
    const x = xOf(event.time), last = found[found.length - 1];
    if (last && x < last.x + MARKER + GAP) last.members.push(event);
    else found.push({ x, members: [event] });
  }
  return found;
}

function layoutMarkers() {
  const hadFocus = row.contains(document.activeElement);
  const focusedKey = document.activeElement?.dataset?.key;
  const laneWidth = view.duration * view.pxPerSecond + 2 * PAD;
  const found = groups();
  const buttons = found.map((group, i) => {
    const next = found[i + 1];
    const left = group.x - MARKER / 2;
    const room = (next ? next.x - MARKER / 2 - GAP : laneWidth) - left;
    const width = Math.max(MARKER, Math.min(room, group.members.length === 1 ? 170 : MARKER));
    const button = group.members.length === 1 ? marker(group.members[0], width) : groupButton(group);
    button.style.left = `${left}px`;
    button.style.width = `${width}px`;
    return button;
  });
  const spans = view.events.filter((e) => e.duration).map((event) => {
    const span = document.createElement("div");
    span.className = `span kind-${event.kind}`;
    span.style.left = `${xOf(event.time)}px`;
    span.style.width = `${Math.max(2, event.duration * view.pxPerSecond)}px`;
    return span;
  });
  row.replaceChildren(...spans, ...buttons);
  // One marker is in the tab order (the selected one, else the first); arrows reach the others.
  const current = buttons.find((b) => b.getAttribute("aria-pressed") === "true"
    || b.dataset.members?.split(",").includes(String(view.selected))) || buttons[0];
  if (current) current.tabIndex = 0;
  if (hadFocus) (buttons.find((b) => b.dataset.key === focusedKey) || current)?.focus({ preventScroll: true });
}

// A marker labelled with its sound's category; a narrow one with the category's last word
// ("footsteps wood" → "wood"), the name in full for a screen reader and on hover.
function marker(event, width) {
  const button = document.createElement("button");
  const name = categoryName(event.category);
  button.type = "button";
  button.className = `marker kind-${event.kind}`;
  button.tabIndex = -1;
  button.dataset.n = event.n;
  button.dataset.key = `n${event.n}`;
  button.textContent = width < 110 ? name.split(" ").pop() : name;
  const label = `${name} (${kindName(event.kind)}) at ${clock(event.time)}: ${event.template}`;
  button.title = label;
  button.setAttribute("aria-label", label);
  button.setAttribute("aria-pressed", String(event.n === view.selected));
  button.onclick = () => {
    if (dragging?.moved) return;
    actions.select(event.n);
  };
  return button;
}

function groupButton(group) {
  const { members } = group;
  const first = members[0].time, last = members[members.length - 1].time;
  const button = document.createElement("button");
  button.type = "button";
  const kinds = new Set(members.map((e) => e.kind));
  button.className = `marker group${kinds.size === 1 ? ` kind-${members[0].kind}` : ""}`;
  button.tabIndex = -1;
  button.dataset.key = `g${members[0].n}`;
  button.dataset.members = members.map((e) => e.n).join(",");
  button.textContent = `${members.length}`;
  const label = `${members.length} sounds from ${clock(first)} to ${clock(last)}: zoom in to tell them apart`;
  button.title = label;
  button.setAttribute("aria-label", label);
  if (members.some((e) => e.n === view.selected)) button.classList.add("holds-selected");
  button.onclick = () => openGroup(members);
  return button;
}

// Zooms in until the group's markers come apart; at the deepest zoom (sounds less than a frame
// apart) selects the next one of them instead.
function openGroup(members) {
  if (view.pxPerSecond >= MAX_PX_PER_SECOND) {
    const at = members.findIndex((e) => e.n === view.selected);
    actions.select(members[(at + 1) % members.length].n);
    return;
  }
  let closest = Infinity;
  for (let i = 1; i < members.length; i++) closest = Math.min(closest, members[i].time - members[i - 1].time);
  const needed = (MARKER + GAP + 2) / Math.max(closest, 1e-3);
  const centre = (members[0].time + members[members.length - 1].time) / 2;
  zoomAround(Math.max(view.pxPerSecond * 2, needed), centre, scroller.clientWidth / 2);
}

function paintVisible() {
  if (!view.pxPerSecond) return;
  const left = scroller.scrollLeft;
  canvas.style.left = `${left}px`;  // the canvas covers the visible part only
  canvas.style.width = `${scroller.clientWidth}px`;
  paintWaveform(canvas, (left - PAD) / view.pxPerSecond, view.pxPerSecond);
  const start = Math.max(0, (left - PAD) / view.pxPerSecond);
  const end = Math.min(view.duration, (left + scroller.clientWidth - PAD) / view.pxPerSecond);
  const step = TICK_STEPS.find((s) => s * view.pxPerSecond >= 64) || TICK_STEPS[TICK_STEPS.length - 1];
  const ticks = [];
  for (let t = Math.ceil(start / step) * step; t <= end + 1e-9; t += step) {
    const tick = document.createElement("span");
    tick.className = "tick";
    tick.style.left = `${xOf(t)}px`;
    tick.textContent = view.duration >= 60 && step >= 1 ? clock(t) : `${+t.toFixed(2)} s`;
    ticks.push(tick);
  }
  ruler.replaceChildren(...ticks);
  movePlayhead();
}

// ---- Zoom and scroll ----------------------------------------------------------------------

// The time the zoom buttons keep in place: the playhead when it is in view, else the middle.
function anchorTime() {
  const x = xOf(playheadTime()) - scroller.scrollLeft;
  if (x >= 0 && x <= scroller.clientWidth) return playheadTime();
  return timeAt(scroller.getBoundingClientRect().left + scroller.clientWidth / 2);
}

// Sets the zoom (clamped between the whole clip and the deepest zoom) keeping `time` at
// `offset` px from the view's left edge (by default where it is now).
function zoomAround(pxPerSecond, time, offset = xOf(time) - scroller.scrollLeft) {
  const fit = fitPxPerSecond();
  view.pxPerSecond = Math.min(MAX_PX_PER_SECOND, Math.max(fit, pxPerSecond));
  view.fitted = view.pxPerSecond <= fit * 1.001;
  layout();
  scroller.scrollLeft = xOf(time) - offset;
  paintVisible();
}

function onWheel(event) {
  if (Math.abs(event.deltaY) <= Math.abs(event.deltaX)) return;  // sideways: the browser scrolls
  event.preventDefault();
  const offset = event.clientX - scroller.getBoundingClientRect().left;
  zoomAround(view.pxPerSecond * Math.exp(-event.deltaY * 0.002), timeAt(event.clientX), offset);
}

let pinch = null;  // { distance, pxPerSecond, time, offset } at the start of a two-finger gesture

function onPinch(event) {
  if (event.touches.length !== 2) {
    pinch = null;
    return;
  }
  event.preventDefault();
  const [a, b] = event.touches;
  const distance = Math.hypot(a.clientX - b.clientX, a.clientY - b.clientY);
  const middle = (a.clientX + b.clientX) / 2;
  if (event.type === "touchstart" || !pinch) {
    pinch = { distance, pxPerSecond: view.pxPerSecond, time: timeAt(middle),
              offset: middle - scroller.getBoundingClientRect().left };
    return;
  }
  zoomAround(pinch.pxPerSecond * (distance / Math.max(1, pinch.distance)), pinch.time, pinch.offset);
}

// ---- Playhead and seeking ----------------------------------------------------------------

function movePlayhead() {
  const t = playheadTime();
  const x = xOf(t);
  playhead.style.left = `${x}px`;
  ruler.setAttribute("aria-valuenow", t.toFixed(2));
  ruler.setAttribute("aria-valuetext", clock(t));
  if (following && video && !video.paused) {
    const inView = x - scroller.scrollLeft;
    if (inView < 0 || inView > scroller.clientWidth - PAD) scroller.scrollLeft = x - PAD;
  }
}

function seek(time) {
  if (!video) return;
  video.currentTime = Math.min(view.duration, Math.max(0, time));
  movePlayhead();
}

function onRulerPointer(event) {
  if (event.type === "pointerdown") ruler.setPointerCapture(event.pointerId);
  else if (!ruler.hasPointerCapture(event.pointerId)) return;
  seek(timeAt(event.clientX));
}

function onRulerKey(event) {
  const frame = frameSeconds();
  const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowDown: -1, ArrowUp: 1, PageDown: -10, PageUp: 10 };
  if (event.key === "Home") seek(0);
  else if (event.key === "End") seek(view.duration);
  else if (event.key in moves) seek(playheadTime() + moves[event.key] * (event.shiftKey ? frame : 1));
  else return;
  event.preventDefault();
}

// ---- Markers: keyboard and dragging ------------------------------------------------------

function onMarkerKey(event) {
  const buttons = [...row.querySelectorAll("button")];
  const at = buttons.indexOf(document.activeElement);
  if (at < 0) return;
  const n = Number(buttons[at].dataset.n);
  const single = buttons[at].dataset.n !== undefined;
  const step = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
  if (step && event.shiftKey && single && n === view.selected) actions.nudge(n, step);
  else if (step) focusMarker(buttons[Math.min(buttons.length - 1, Math.max(0, at + step))]);
  else if (event.key === "Home") focusMarker(buttons[0]);
  else if (event.key === "End") focusMarker(buttons[buttons.length - 1]);
  else if ((event.key === "Delete" || event.key === "Backspace") && single && n === view.selected) actions.remove(n);
  else return;
  event.preventDefault();
}

function focusMarker(button) {
  row.querySelectorAll("button").forEach((b) => { b.tabIndex = -1; });
  button.tabIndex = 0;
  button.focus();
  const left = parseFloat(button.style.left);
  if (left < scroller.scrollLeft || left + MARKER > scroller.scrollLeft + scroller.clientWidth) {
    scroller.scrollLeft = left - scroller.clientWidth / 2;
  }
}

// Any single marker can be dragged with a mouse or pen; on a touch screen the selected one (the
// others let a finger scroll the track).
function onMarkerPointerDown(event) {
  const button = event.target.closest("button.marker");
  if (!button || button.dataset.n === undefined || event.button !== 0) return;
  const n = Number(button.dataset.n);
  dragging = { n, button, startX: event.clientX, time: view.events.find((e) => e.n === n).time, moved: false };
  button.setPointerCapture(event.pointerId);
}

function onMarkerPointerMove(event) {
  if (!dragging) return;
  const dx = event.clientX - dragging.startX;
  if (!dragging.moved && Math.abs(dx) < 6) return;
  dragging.moved = true;
  const time = dropTime(dx);
  dragging.button.style.left = `${xOf(time) - MARKER / 2}px`;
  dragging.button.classList.add("dragging");
  dragging.button.dataset.drop = clock(time);
}

function onMarkerPointerUp(event) {
  if (!dragging) return;
  const { n, moved, startX } = dragging;
  if (moved) {
    actions.move(n, dropTime(event.clientX - startX));
    setTimeout(() => { dragging = null; }, 0);  // after the click that ends the drag
  } else {
    dragging = null;
  }
}

// Where a drag of dx px puts the sound: on a whole frame, inside the clip.
function dropTime(dx) {
  const frame = frameSeconds();
  const time = dragging.time + dx / view.pxPerSecond;
  return Math.min(view.duration, Math.max(0, Math.round(time / frame) * frame));
}
